"""GANs (issue 13): toy data, metrics, players and the two-player game."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import torch

from decisiongym.gans.data import modes, sample_data
from decisiongym.gans.metrics import mode_coverage, wasserstein1

torch.set_num_threads(1)


@pytest.mark.parametrize("module", ["decisiongym.gans.data", "decisiongym.gans.metrics",
                                    "decisiongym.gans.players", "decisiongym.gans.game"])
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

from decisiongym.gans.players import (  # noqa: E402
    GANConfig,
    build_critic,
    critic_step,
    flat_weights,
    gradient_penalty,
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

from decisiongym.gans.game import GANGame, play_gan  # noqa: E402


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


@pytest.mark.parametrize(("kind", "gen_loss"), [("gan", "nonsaturating"), ("gan", "minimax"),
                                                ("wgan", "nonsaturating"),
                                                ("wgan-gp", "nonsaturating")])
def test_game_reproduces_train_gan_bit_for_bit(kind: str, gen_loss: str) -> None:
    cfg = GANConfig.for_kind(kind, gen_loss=gen_loss, batch_size=16, hidden=(16, 16))
    game = GANGame(cfg, data="8gaussians", rounds=4)
    played = play_gan(game, seed=3, model_seed=1, gp_seed=5)
    plain = train_gan(cfg, "8gaussians", iterations=4, seed=3, model_seed=1, gp_seed=5)
    assert np.array_equal(flat_weights(played["generator"].net), flat_weights(plain.generator))
    assert np.array_equal(flat_weights(played["critic"].net), flat_weights(plain.critic))
    assert len(played["rewards"]) == 2 * 4 * (cfg.n_critic + 1)
    assert all(sum(r.values()) == 0 for r in played["rewards"])
    # the critic's rewards in critic rounds are the values of its training steps
    critic = game.critic
    scored = [r[critic] for r in played["rewards"][1::2]]
    in_critic_rounds = [v for i, v in enumerate(scored) if i % (cfg.n_critic + 1) < cfg.n_critic]
    assert np.allclose(in_critic_rounds, plain.history["critic_value"], atol=1e-6)
    other = play_gan(game, seed=4, model_seed=1, gp_seed=5)
    assert not np.array_equal(flat_weights(other["generator"].net),
                              flat_weights(plain.generator))
