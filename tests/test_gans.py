"""GANs (issue 13): toy data, metrics, players and the two-player game."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import torch

from decisiongym.supervised.gans.data import modes, sample_data
from decisiongym.supervised.gans.metrics import mode_coverage, wasserstein1

torch.set_num_threads(1)


@pytest.mark.parametrize("module", [f"decisiongym.supervised.gans.{name}"
                                    for name in ("data", "metrics", "players", "game")])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", ["8gaussians", "25gaussians"])
def test_mixtures_are_seeded_and_every_sample_is_near_a_mode(name: str) -> None:
    a = sample_data(name, 2000, np.random.default_rng(1))
    assert np.array_equal(a, sample_data(name, 2000, np.random.default_rng(1)))
    assert not np.array_equal(a, sample_data(name, 2000, np.random.default_rng(2)))
    centres, std = modes(name)
    r = mode_coverage(a, centres, std)
    assert r.modes_covered == len(centres)
    assert r.high_quality > 0.98  # P(chi_2 <= 9) = 1 - exp(-4.5) = 0.989
    assert abs(r.counts.sum() / 2000 - r.high_quality) < 1e-12


def test_swiss_roll_shape_and_range() -> None:
    x = sample_data("swissroll", 500, np.random.default_rng(0))
    assert x.shape == (500, 2) and x.dtype == np.float32
    assert np.abs(x).max() < 2.5
    with pytest.raises(ValueError):
        sample_data("moons", 3, np.random.default_rng(0))
    with pytest.raises(ValueError):
        modes("swissroll")


def test_mode_coverage_by_hand() -> None:
    centres = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 5.0]])
    # distances to the nearest centre: 0.25 (mode 0), 0.35 (mode 1), 0.29 (mode 1), 2.0 (mode 2)
    s = np.array([[0.0, 0.25], [1.35, 0.0], [1.0, 0.29], [0.0, 3.0]])
    r = mode_coverage(s, centres, std=0.1)
    assert r.counts.tolist() == [1, 1, 0] and r.modes_covered == 2 and r.high_quality == 0.5
    assert mode_coverage(s, centres, std=0.1, min_count=2).modes_covered == 0
    assert mode_coverage(s, centres, std=1.0).modes_covered == 3


def test_wasserstein1_by_hand_and_against_1d_formula() -> None:
    # two points each: the best matching pairs (0,0)-(0,1) and (3,0)-(4,0): W1 = (1 + 1) / 2
    a = np.array([[0.0, 0.0], [3.0, 0.0]])
    b = np.array([[4.0, 0.0], [0.0, 1.0]])
    assert wasserstein1(a, b) == 1.0
    assert wasserstein1(a, a) == 0.0
    # in 1-D the optimal plan matches sorted samples
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(1.0, 2.0, size=50)
    assert wasserstein1(x, y) == pytest.approx(np.abs(np.sort(x) - np.sort(y)).mean())
    with pytest.raises(ValueError):
        wasserstein1(a, b[:1])


# --------------------------------------------------------------------------------------------
# Players and the plain loop.
# --------------------------------------------------------------------------------------------

from decisiongym.supervised.gans.players import (  # noqa: E402
    GANConfig,
    build_critic,
    critic_step,
    flat_weights,
    gradient_penalty,
    layer_grad_norm_matrix,
    layer_grad_norms,
    make_optimizer,
    scores,
    train_gan,
)


def test_configs_follow_the_papers() -> None:
    w = GANConfig.for_kind("wgan")
    assert (w.optimizer, w.lr, w.clip, w.n_critic) == ("rmsprop", 5e-5, 0.01, 5)
    gp = GANConfig.for_kind("wgan-gp")
    assert (gp.optimizer, gp.lr, gp.betas, gp.gp_lambda, gp.n_critic) == (
        "adam", 1e-4, (0.0, 0.9), 10.0, 5)
    assert GANConfig.for_kind("gan", gen_loss="minimax").n_critic == 1
    with pytest.raises(ValueError):
        GANConfig.for_kind("lsgan")


def test_optimal_discriminator_for_two_known_densities() -> None:
    # p_data = N(0, 1), p_G = N(1, 1) held fixed: D* = p_data / (p_data + p_G) = sigmoid(0.5 - x)
    cfg = GANConfig(kind="gan", data_dim=1, hidden=(16,), lr=1e-2, batch_size=512)
    D = build_critic(cfg, 0)
    opt = make_optimizer(cfg, D.parameters())
    rng = np.random.default_rng(0)
    tg = torch.Generator().manual_seed(0)
    for _ in range(400):
        real = torch.as_tensor(rng.normal(0.0, 1.0, (512, 1)), dtype=torch.float32)
        fake = torch.as_tensor(rng.normal(1.0, 1.0, (512, 1)), dtype=torch.float32)
        critic_step(cfg, D, opt, real, fake, tg)
    x = torch.linspace(-1.5, 2.5, 41)[:, None]
    with torch.no_grad():
        d = torch.sigmoid(scores(D, x)).numpy()
    optimal = 1 / (1 + np.exp(x.numpy()[:, 0] - 0.5))
    assert np.abs(d - optimal).max() < 0.05


def test_gradient_penalty_at_interpolates_flows_to_the_critic_only() -> None:
    cfg = GANConfig.for_kind("wgan-gp", hidden=(8,))
    D = build_critic(cfg, 0)
    real = torch.randn(16, 2, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    fake = torch.randn(16, 2, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    gp, x_hat = gradient_penalty(D, real, fake, torch.Generator().manual_seed(3))
    # x_hat lies on the segment from fake to real: the same eps in both coordinates, in [0, 1]
    eps = ((x_hat - fake) / (real - fake)).detach()
    assert torch.allclose(eps[:, 0], eps[:, 1], atol=1e-4)
    assert bool(((eps >= -1e-6) & (eps <= 1 + 1e-6)).all())
    gp.backward()
    assert real.grad is None and fake.grad is None
    # every weight matrix gets a gradient (the last bias cannot: grad_x f does not depend on it)
    assert all(m.weight.grad is not None for m in D if isinstance(m, torch.nn.Linear))
    assert any(float(p.grad.abs().sum()) > 0 for p in D.parameters() if p.grad is not None)
    # a linear critic f(x) = w.x + b has grad w everywhere: penalty (||w|| - 1)^2
    lin = torch.nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[3.0, 4.0]]))
    gp_lin, _ = gradient_penalty(lin, real, fake, torch.Generator().manual_seed(3))
    assert float(gp_lin.detach()) == pytest.approx(16.0)


def test_wgan_clips_the_critic_weights() -> None:
    cfg = GANConfig.for_kind("wgan", batch_size=16, hidden=(8,))
    run = train_gan(cfg, "8gaussians", iterations=3, seed=0)
    w = flat_weights(run.critic)
    assert np.abs(w).max() <= 0.01 + 1e-9
    assert len(run.history["critic_value"]) == 15 and len(run.history["input_grad_norm"]) == 3


@pytest.mark.parametrize("kind", ["gan", "wgan", "wgan-gp"])
def test_train_gan_is_seeded(kind: str) -> None:
    cfg = GANConfig.for_kind(kind, batch_size=16, hidden=(8,))
    a = train_gan(cfg, "25gaussians", iterations=3, seed=1)
    b = train_gan(cfg, "25gaussians", iterations=3, seed=1)
    c = train_gan(cfg, "25gaussians", iterations=3, seed=2)
    assert np.array_equal(flat_weights(a.generator), flat_weights(b.generator))
    assert np.array_equal(flat_weights(a.critic), flat_weights(b.critic))
    assert not np.array_equal(flat_weights(a.generator), flat_weights(c.generator))


# --------------------------------------------------------------------------------------------
# The two-player game.
# --------------------------------------------------------------------------------------------

from decisiongym.supervised.gans.game import GANGame, play_gan  # noqa: E402


@pytest.mark.parametrize("kind", ["gan", "wgan-gp"])
def test_game_passes_pettingzoo_api_tests(kind: str) -> None:
    from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test
    from pettingzoo.utils.conversions import parallel_to_aec

    def make() -> GANGame:
        return GANGame(GANConfig.for_kind(kind, batch_size=4, hidden=(8,)), rounds=2)

    assert make().possible_agents == ["generator", "discriminator" if kind == "gan" else "critic"]
    parallel_api_test(make(), num_cycles=30)
    parallel_seed_test(make)
    api_test(parallel_to_aec(make()), num_cycles=30)


@pytest.mark.parametrize(("kind", "gen_loss", "schedule"),
                         [("gan", "nonsaturating", "constant"), ("gan", "minimax", "constant"),
                          ("wgan", "nonsaturating", "constant"),
                          ("wgan-gp", "nonsaturating", "constant"),
                          ("wgan-gp", "nonsaturating", "linear")])
def test_game_reproduces_train_gan_bit_for_bit(kind: str, gen_loss: str, schedule: str) -> None:
    cfg = GANConfig.for_kind(kind, gen_loss=gen_loss, batch_size=16, hidden=(16, 16),
                             lr_schedule=schedule)
    game = GANGame(cfg, data="8gaussians", rounds=4)
    played = play_gan(game, seed=3, model_seed=1, gp_seed=5)
    plain = train_gan(cfg, "8gaussians", iterations=4, seed=3, model_seed=1, gp_seed=5)
    assert np.array_equal(flat_weights(played["generator"].net), flat_weights(plain.generator))
    assert np.array_equal(flat_weights(played["critic"].net), flat_weights(plain.critic))
    # the critic player's record of its steps, per-layer gradient norms included, is the loop's
    history = played["critic"].history
    assert set(history) == set(plain.history) - {"input_grad_norm"}
    assert all(history[k] == plain.history[k] for k in history)
    assert layer_grad_norm_matrix(history).shape == (4 * cfg.n_critic, 3)
    assert layer_grad_norm_matrix(history, "activation_grad_norm").shape == (4 * cfg.n_critic, 3)
    assert len(played["rewards"]) == 2 * 4 * (cfg.n_critic + 1)
    assert all(sum(r.values()) == 0 for r in played["rewards"])
    # the critic's rewards in critic rounds are the values of its training steps
    critic = game.critic
    scored = [r[critic] for r in played["rewards"][1::2]]
    in_critic_rounds = [v for i, v in enumerate(scored) if i % (cfg.n_critic + 1) < cfg.n_critic]
    assert np.allclose(in_critic_rounds, plain.history["critic_value"], atol=1e-6)
    if schedule == "linear":  # the rates reached 0 after the last of the 4 rounds
        assert played["generator"].opt.param_groups[0]["lr"] == 0.0
        assert played["critic"].opt.param_groups[0]["lr"] == 0.0
    other = play_gan(game, seed=4, model_seed=1, gp_seed=5)
    assert not np.array_equal(flat_weights(other["generator"].net),
                              flat_weights(plain.generator))


# --------------------------------------------------------------------------------------------
# Critic gradient norms per layer (seed Figure 64).
# --------------------------------------------------------------------------------------------


def test_layer_grad_norms_by_hand() -> None:
    cfg = GANConfig.for_kind("wgan", hidden=(4,), batch_size=8)
    D = build_critic(cfg, 0)
    assert layer_grad_norms(D) == [0.0, 0.0]  # no backward yet
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    scores(D, x).mean().backward()
    first, last = D[0].weight.grad, D[2].weight.grad
    assert first is not None and last is not None
    assert layer_grad_norms(D) == pytest.approx([float(first.norm()), float(last.norm())])
    # the last layer's weight gradient is the mean hidden activation
    with torch.no_grad():
        h = torch.relu(D[0](x)).mean(dim=0)
    assert float(last.norm()) == pytest.approx(float(h.norm()), rel=1e-5)


def _layer_spread(kind: str, which: str) -> float:
    cfg = GANConfig.for_kind(kind, hidden=(32,) * 6, batch_size=64)
    run = train_gan(cfg, "swissroll", iterations=12, seed=0)
    norms = layer_grad_norm_matrix(run.history, which)[-20:].mean(axis=0)
    assert norms.shape == (7,) and bool((norms > 0).all())
    return float(norms.max() / norms.min())


def test_clipping_makes_the_backward_signal_vanish_across_layers() -> None:
    # Gulrajani et al. (2017) Figure 1b: with c = 0.01 every layer scales the backward signal
    # by about (width x c) < 1, so dV/dh_l vanishes geometrically towards the input
    clipped = _layer_spread("wgan", "activation_grad_norm")
    penalised = _layer_spread("wgan-gp", "activation_grad_norm")
    assert clipped > 1e6 and clipped > 1000 * penalised
    # the weights' gradients are recorded for both (all layers get one)
    assert _layer_spread("wgan-gp", "layer_grad_norm") > 1


def test_train_gan_callback_sees_every_iteration() -> None:
    cfg = GANConfig.for_kind("gan", batch_size=8, hidden=(8,))
    seen: list[int] = []
    train_gan(cfg, "8gaussians", iterations=3, seed=0,
              callback=lambda t, G, D: seen.append(t))
    assert seen == [0, 1, 2, 3]


# --------------------------------------------------------------------------------------------
# Digits: data, score, the game in 64-D.
# --------------------------------------------------------------------------------------------

from decisiongym.supervised.gans.data import data_dim, digits_split  # noqa: E402
from decisiongym.supervised.gans.metrics import STRICT_SHARE, digits_score  # noqa: E402


def test_digits_data_are_training_digits_in_minus_one_to_one() -> None:
    x = sample_data("digits", 50, np.random.default_rng(0))
    assert x.shape == (50, 64) == (50, data_dim("digits")) and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 1.0 and data_dim("8gaussians") == 2
    train, _ = digits_split("train")
    rows = {r.tobytes() for r in train}
    assert all(r.tobytes() in rows for r in x)
    test, _ = digits_split("test")
    assert len(train) + len(test) + len(digits_split("val")[0]) == 1797
    # pixel 0 of every digit is blank: 0 of 16 grey levels -> -1
    assert bool((train[:, 0] == -1.0).all())


def test_digits_score_on_hand_made_sets() -> None:
    test, labels = digits_split("test")
    real = digits_score(test, min_share=STRICT_SHARE)
    assert real.classes_covered == 10 and real.confidence > 0.8
    assert real.counts.sum() == len(test)
    # the classifier is right on most held-out digits
    assert np.abs(real.counts - np.bincount(labels, minlength=10)).sum() < 0.2 * len(test)
    # one digit repeated: one class, at any share
    one = np.repeat(test[labels == 3][:1], 200, axis=0)
    s = digits_score(one)
    assert s.classes_covered == 1 and s.counts[3] == 200
    # three classes, and a fourth with only 2 of 302 samples: the strict rule drops it
    mix = np.concatenate([test[labels == c][:100] for c in (0, 1)] + [test[labels == 7][:2],
                                                                      test[labels == 6][:100]])
    pred = digits_score(mix).counts
    assert digits_score(mix).classes_covered == int((pred > 0).sum()) >= 4
    assert digits_score(mix, min_share=STRICT_SHARE).classes_covered == int(
        (pred >= 0.25 * len(mix) / 10).sum()) <= 3
    # values outside the pixel range are clipped: blank (-1) below -1
    assert digits_score(np.full((5, 64), -7.0)).confidence == pytest.approx(
        digits_score(np.full((5, 64), -1.0)).confidence)
    with pytest.raises(ValueError):
        digits_score(np.zeros((3, 2)))


def test_mode_coverage_strict_share_by_hand() -> None:
    centres = np.array([[0.0, 0.0], [10.0, 0.0]])
    # 10 samples at mode 0, 2 at mode 1: fair share 6, a quarter of it 1.5 -> both count;
    # at min_share 0.5 (3 samples) mode 1 does not
    s = np.array([[0.0, 0.0]] * 10 + [[10.0, 0.0]] * 2)
    assert mode_coverage(s, centres, 0.1, min_share=0.25).modes_covered == 2
    assert mode_coverage(s, centres, 0.1, min_share=0.5).modes_covered == 1
    assert mode_coverage(s, centres, 0.1, min_share=0.0).modes_covered == 2


def test_game_on_digits_reproduces_train_gan() -> None:
    cfg = GANConfig.for_kind("wgan-gp", data_dim=64, latent_dim=8, batch_size=8, hidden=(16,))
    game = GANGame(cfg, data="digits", rounds=2)
    played = play_gan(game, seed=1)
    plain = train_gan(cfg, "digits", iterations=2, seed=1)
    assert np.array_equal(flat_weights(played["generator"].net), flat_weights(plain.generator))
    assert np.array_equal(flat_weights(played["critic"].net), flat_weights(plain.critic))
    with pytest.raises(ValueError, match="64-D"):
        GANGame(GANConfig.for_kind("gan"), data="digits")


# --------------------------------------------------------------------------------------------
# The variants as agents with a training loop of their own, run by the harness.
# --------------------------------------------------------------------------------------------

from decisiongym.supervised.gans.training import GAN_ENV_ID  # noqa: E402

TINY = {"batch_size": 16, "hidden": [8], "checkpoints": 2, "n_eval": 20}


def test_gan_agents_run_through_the_harness_as_train_gan_does() -> None:
    from decisiongym.harness import run
    from decisiongym.supervised.gans.players import generate, layer_grad_norm_matrix
    from decisiongym.supervised.gans.training import EVAL_SEED

    out = run(GAN_ENV_ID, "wgan-gp", replicates=2, horizon=3, seed=5,
              env_kwargs={"data": "25gaussians"}, agent_params=TINY)
    assert out.record["training_loop"] and out.metric == ""
    assert out.record["resolved_params"]["gp_lambda"] == 10.0
    assert out["checkpoints"].tolist() == [0, 3]
    assert out["samples"].shape == (2, 2, 20, 2) and out["w1"].shape == (2, 2)
    assert {"modes_covered", "modes_covered_lenient", "high_quality"} <= set(out.arrays)
    assert not {"final_regret", "best_arm_fraction", "lai_robbins_constant"} & set(out.arrays)
    for i in range(2):  # run i: data, noise and network seed 5 + i
        cfg = GANConfig.for_kind("wgan-gp", batch_size=16, hidden=(8,))
        direct = train_gan(cfg, "25gaussians", iterations=3, seed=5 + i, model_seed=5 + i)
        critic = np.asarray(direct.history["critic_value"]).reshape(3, 5).mean(axis=1)
        assert np.array_equal(out["critic_value"][:, i], critic.astype(np.float32))
        norms = layer_grad_norm_matrix(direct.history).reshape(3, 5, -1).mean(axis=1)
        assert np.array_equal(out["layer_grad_norm"][:, :, i], norms.astype(np.float32))
        x = generate(direct.generator, 20, cfg.latent_dim, EVAL_SEED + 5 + i)
        assert np.array_equal(out["samples"][-1, i], x)


def test_gan_agents_validate_params_and_env() -> None:
    from decisiongym import agents
    from decisiongym.harness import run

    assert {"gan", "wgan", "wgan-gp"} <= {name for name, _ in agents.list_agents()}
    assert agents.make("wgan", observation_space=None,  # type: ignore[arg-type]
                       action_space=None).config.clip == 0.01  # type: ignore[attr-defined]
    for params, match in (({"kind": "gan"}, "unknown parameter"),
                          ({"optimizer": "sgd"}, "optimizer"), ({"lr": 0}, "lr > 0"),
                          ({"checkpoints": 1}, "checkpoints"), ({"n_eval": 5}, "n_eval")):
        with pytest.raises(ValueError, match=match):
            run(GAN_ENV_ID, "gan", replicates=1, horizon=2, agent_params=params)
    with pytest.raises(ValueError, match="data must be one of"):
        run(GAN_ENV_ID, "gan", replicates=1, horizon=2, env_kwargs={"data": "mnist"},
            agent_params=TINY)
    with pytest.raises(ValueError, match="unknown env kwarg"):
        run(GAN_ENV_ID, "gan", replicates=1, horizon=2, env_kwargs={"rounds": 3},
            agent_params=TINY)
    with pytest.raises(ValueError, match="trains on 'decisiongym/GANGame'"):
        run("CartPole-v1", "gan", replicates=1, horizon=2, agent_params=TINY)
    # An agent that the rollout loop steps needs a Gymnasium id.
    with pytest.raises(ValueError, match="unknown environment"):
        run(GAN_ENV_ID, "ucb1", replicates=1, horizon=2)
    with pytest.raises(NotImplementedError, match="loop of its own"):
        agents.make("gan", observation_space=None,  # type: ignore[arg-type]
                    action_space=None).reset(1, seed=0)


def test_gan_experiment_validates_without_a_gymnasium_id() -> None:
    from decisiongym.harness.experiment import (
        AgentSetting,
        EnvSetting,
        Experiment,
        ExperimentError,
    )

    env = EnvSetting(GAN_ENV_ID, {"data": "swissroll"})
    Experiment("gans", [env], [AgentSetting("wgan", TINY)], horizon=2, seeds=1).validate()
    with pytest.raises(ExperimentError, match="agents\\[0\\].params"):
        Experiment("gans", [env], [AgentSetting("wgan", {"clip": "x", "lr": -1})], horizon=2,
                   seeds=1).validate()
    with pytest.raises(ExperimentError, match="unknown environment"):
        Experiment("gans", [env], [AgentSetting("wgan"), AgentSetting("ucb1")], horizon=2,
                   seeds=1).validate()


# --------------------------------------------------------------------------------------------
# Slow: WGAN-GP covers the ring (issue 13).
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_wgan_gp_covers_at_least_7_of_8_modes_in_most_seeds() -> None:
    """WGAN-GP (lambda 10, n_critic 5, Adam betas (0, 0.9)) on 8 Gaussians: at least 7 modes
    covered under the strict rule (each needs a quarter of its fair share of high-quality
    samples, within 3 std of the mode) in at least 2 of 3 seeds. The CPU budget: 3 x 64 ReLU
    layers, batch 256, 3,000 generator iterations at learning rate 1e-3 (the paper's 1e-4 is
    too slow for this budget) decaying linearly to 0. About a minute per seed on one thread."""
    from decisiongym.supervised.gans.players import generate

    centres, std = modes("8gaussians")
    covered = []
    for seed in range(3):
        cfg = GANConfig.for_kind("wgan-gp", hidden=(64, 64, 64), batch_size=256, lr=1e-3,
                                 lr_schedule="linear")
        run = train_gan(cfg, "8gaussians", iterations=3000, seed=seed, model_seed=seed)
        x = generate(run.generator, 2000, cfg.latent_dim, 100 + seed)
        r = mode_coverage(x, centres, std, min_share=STRICT_SHARE)
        covered.append(r.modes_covered)
    print(f"WGAN-GP, 8 Gaussians: modes covered (strict rule) per seed {covered}")
    assert sum(c >= 7 for c in covered) >= 2, covered
