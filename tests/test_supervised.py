"""decisiongym.supervised: data, models, environments, learners, training dynamics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from decisiongym.supervised.data import DATASETS, load_dataset
from decisiongym.supervised.models import (
    CELLS,
    MLP,
    LeNet,
    RecurrentNet,
    clip_grad_norm,
    conv_output_size,
    grad_norm,
)

torch.set_num_threads(1)


# ----- data ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATASETS)
def test_loader_splits_are_disjoint_and_seeded(name: str) -> None:
    kw = {"n": 300} if name in ("adding", "copy", "long_dependency") else {}
    if name == "mnist1d":
        kw = {"mnist1d_samples": 400}
    a = load_dataset(name, seed=3, **kw)
    b = load_dataset(name, seed=3, **kw)
    c = load_dataset(name, seed=4, **kw)
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.X_train, c.X_train)
    total = len(a.y_train) + len(a.y_val) + len(a.y_test)
    assert abs(len(a.y_test) - 0.2 * total) <= 1 and abs(len(a.y_val) - 0.15 * total) <= 1
    assert a.X_train.dtype == np.float32
    flat = [x.reshape(-1).tobytes() for x in (*a.X_train, *a.X_val, *a.X_test)]
    if name not in ("copy",):  # distinct examples may repeat in a tiny symbol alphabet
        assert len(set(flat)) >= 0.95 * total


def test_image_datasets_have_the_documented_shapes() -> None:
    digits = load_dataset("digits")
    assert digits.input_shape == (1, 8, 8) and digits.X_train.max() <= 1.0
    mnist = load_dataset("mnist")
    n = len(mnist.y_train) + len(mnist.y_val) + len(mnist.y_test)
    assert mnist.input_shape == (1, 28, 28) and n == 5000
    counts = np.bincount(np.concatenate([mnist.y_train, mnist.y_val, mnist.y_test]))
    assert counts.tolist() == [500] * 10
    m1 = load_dataset("mnist1d", mnist1d_samples=500)
    assert m1.input_shape == (1, 40) and m1.n_classes == 10


def test_mnist1d_leaves_the_global_rng_alone() -> None:
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    load_dataset("mnist1d", mnist1d_samples=100)
    assert np.array_equal(state, np.random.get_state()[1])  # noqa: NPY002


def test_sequence_tasks_follow_their_definition() -> None:
    add = load_dataset("adding", n=50, length=10)
    X, y = add.X_train, add.y_train
    assert X.shape[1:] == (10, 2) and np.all(X[:, :, 1].sum(axis=1) == 2)
    np.testing.assert_allclose((X[:, :, 0] * X[:, :, 1]).sum(axis=1), y, rtol=1e-6)
    cp = load_dataset("copy", n=50, length=3, gap=4, n_symbols=5)
    assert cp.X_train.shape[1:] == (2 * 3 + 4 + 1, 7) and cp.y_train.shape[1] == 3
    np.testing.assert_array_equal(cp.X_train[:, :3, :5].argmax(-1), cp.y_train)
    assert np.all(cp.X_train[:, 3 + 4, 6] == 1)  # the delimiter
    ld = load_dataset("long_dependency", n=50, gap=7, n_classes=3, n_distractors=2)
    assert ld.X_train.shape[1:] == (9, 6)
    np.testing.assert_array_equal(ld.X_train[:, 0].argmax(-1), ld.y_train)
    assert np.all(ld.X_train[:, 1:-1, :3] == 0) and np.all(ld.X_train[:, -1, 5] == 1)


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "cifar"}, "unknown dataset"),
    ({"name": "digits", "seed": -1}, "seed"),
    ({"name": "digits", "val_fraction": 0.0}, "val_fraction"),
    ({"name": "digits", "val_fraction": 0.5, "test_fraction": 0.6}, "< 1"),
    ({"name": "long_dependency", "gap": -2}, "gap"),
    ({"name": "adding", "length": 1}, "length"),
])
def test_loader_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_dataset(**kwargs)


# ----- models ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_hand_written_cells_equal_torch_cells(kind: str) -> None:
    torch.manual_seed(0)
    cell = CELLS[kind](6, 9)
    ref = cell.torch_cell()
    x = torch.randn(5, 6)
    if kind == "lstm":
        state = (torch.randn(5, 9), torch.randn(5, 9))
        h, c = cell(x, state)
        h_ref, c_ref = ref(x, state)
        assert torch.allclose(h, h_ref, atol=1e-6) and torch.allclose(c, c_ref, atol=1e-6)
    else:
        h0 = torch.randn(5, 9)
        assert torch.allclose(cell(x, h0), ref(x, h0), atol=1e-6)
    # and the other way round: torch's weights loaded into ours, over a whole sequence
    other = CELLS[kind](6, 9)
    other.load_from_torch(ref)
    seq = torch.randn(4, 12, 6)
    state_a, state_b = other.initial_state(4), cell.initial_state(4)
    for t in range(12):
        state_a, state_b = other(seq[:, t], state_a), ref(seq[:, t], state_b)
    out_a = other.output(state_a)
    out_b = state_b[0] if kind == "lstm" else state_b
    assert torch.allclose(out_a, out_b, atol=1e-6)
    with pytest.raises(TypeError):
        other.load_from_torch(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("n, f, p, s", [(28, 5, 2, 1), (28, 5, 0, 1), (28, 3, 1, 2),
                                        (32, 5, 0, 2), (8, 3, 1, 1), (13, 4, 0, 3),
                                        (40, 5, 2, 1), (7, 7, 0, 1)])
def test_cnn_output_size_follows_the_seed_rule(n: int, f: int, p: int, s: int) -> None:
    expected = (n + 2 * p - f) // s + 1
    assert conv_output_size(n, f, p, s) == expected
    conv = torch.nn.Conv2d(1, 2, f, stride=s, padding=p)
    assert conv(torch.zeros(1, 1, n, n)).shape[-2:] == (expected, expected)
    net = LeNet((1, n, n), 10, conv=((4, f, p, s, 0),), hidden=(8,))
    assert net.features(torch.zeros(2, 1, n, n)).shape[1:] == net.feature_shape
    assert net(torch.zeros(2, 1, n, n)).shape == (2, 10)


def test_lenet_on_mnist_and_mnist1d_shapes() -> None:
    net = LeNet((1, 28, 28), 10)
    assert net.feature_shape == (16, 5, 5)  # LeNet-5: 28 -> 28 -> 14 -> 10 -> 5
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    net1 = LeNet((1, 40), 10, conv=((8, 5, 2, 1, 2), (16, 3, 0, 1, 2)))
    assert net1.feature_shape == (16, 9)
    assert net1(torch.zeros(3, 1, 40)).shape == (3, 10)
    with pytest.raises(ValueError, match="larger than"):
        conv_output_size(3, 5, 0, 1)


@pytest.mark.parametrize("init, factor", [("xavier", 1.0), ("he", 2.0)])
def test_mlp_initialisation_variance(init: str, factor: float) -> None:
    torch.manual_seed(0)
    net = MLP(400, 10, hidden=(300,), activation="relu", init=init)
    w = net.net[0].weight
    assert abs(float(w.detach().var()) * 400 / factor - 1.0) < 0.05
    assert float(net.net[0].bias.detach().abs().max()) == 0.0
    with pytest.raises(ValueError, match="init"):
        MLP(4, 2, init="orthogonal")


def test_gradient_clipping_rescales_to_the_threshold() -> None:
    torch.manual_seed(0)
    net = RecurrentNet("rnn", 3, 5, 2)
    net(torch.randn(4, 6, 3)).pow(2).sum().mul(100).backward()
    before = grad_norm(net.parameters())
    assert clip_grad_norm(net.parameters(), 0.5) == pytest.approx(before)
    assert grad_norm(net.parameters()) == pytest.approx(0.5, rel=1e-5)
    assert clip_grad_norm(net.parameters(), 10.0) == pytest.approx(0.5, rel=1e-5)
    assert grad_norm(net.parameters()) == pytest.approx(0.5, rel=1e-5)  # below: unchanged
    with pytest.raises(ValueError, match="threshold"):
        clip_grad_norm(net.parameters(), 0.0)


# ----- environments ----------------------------------------------------------------------------

import gymnasium as gym  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402

import decisiongym  # noqa: E402, F401
from decisiongym import agents  # noqa: E402
from decisiongym.harness import run  # noqa: E402
from decisiongym.harness.recorders import RegretRecorder  # noqa: E402
from decisiongym.supervised.recorders import HeldoutAccuracyRecorder  # noqa: E402

IMG = "decisiongym/ImageClassification-v0"
SEQ = "decisiongym/SequenceTask-v0"


@pytest.mark.parametrize("env_id, kwargs", [
    (IMG, {"feedback": "full"}), (IMG, {"feedback": "bandit"}),
    (IMG, {"dataset": "mnist1d", "feedback": "full"}), (IMG, {"dataset": "mnist", "split": "test"}),
    (SEQ, {"feedback": "full"}), (SEQ, {"task": "copy", "feedback": "bandit", "gap": 2}),
])
def test_supervised_envs_pass_the_checkers(env_id: str, kwargs: dict) -> None:
    import warnings

    env = gym.make(env_id, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        check_env(env.unwrapped, skip_render_check=True)
    from stable_baselines3.common.env_checker import check_env as sb3_check

    if kwargs.get("feedback") == "bandit" and env_id == SEQ:
        sb3_check(env.unwrapped, warn=False)


def test_full_feedback_puts_the_label_in_the_observation_and_info() -> None:
    env = gym.make(IMG, feedback="full", horizon=50)
    obs, _ = env.reset(seed=1)
    assert int(obs["label"]) == 10
    for _ in range(20):
        shown = obs["x"]
        obs, r, _, _, info = env.step(0)
        assert int(obs["label"]) == info["label"]
        assert r == float(info["label"] == 0) == info["expected_reward"]
        assert shown.shape == (1, 8, 8)
    bandit = gym.make(IMG, feedback="bandit", horizon=50)
    bandit.reset(seed=1)
    _, _, _, _, info = bandit.step(0)
    assert "label" not in info and info["optimal_expected_reward"] == 1.0


def test_sequence_task_rewards_only_the_answer() -> None:
    env = gym.make(SEQ, gap=4, feedback="full")
    obs, _ = env.reset(seed=3)
    cue = int(np.argmax(obs["x"][:4]))
    rewards, labels = [], []
    term = False
    while not term:
        obs, r, term, _, _ = env.step(cue)
        rewards.append(r)
        labels.append(int(obs["label"]))
    assert rewards == [0.0] * 5 + [1.0] and labels == [4] * 5 + [cue]
    copy = gym.make(SEQ, task="copy", length=3, gap=2, n_classes=5)
    copy.reset(seed=0)
    answers = [copy.step(0)[4]["answer_step"] for _ in range(2 * 3 + 2 + 1)]
    assert answers == [False] * 6 + [True] * 3


@pytest.mark.parametrize("env_id, kwargs", [(IMG, {"feedback": "full", "horizon": 3}),
                                            (SEQ, {"gap": 1, "feedback": "bandit"})])
def test_vector_replicate_i_matches_single_env_seed_plus_i(env_id: str, kwargs: dict) -> None:
    vec = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", **kwargs)
    singles = [gym.make(env_id, **kwargs) for _ in range(3)]
    vobs, _ = vec.reset(seed=10)
    sobs = [s.reset(seed=10 + i)[0] for i, s in enumerate(singles)]
    rng = np.random.default_rng(0)
    for _ in range(8):  # crosses episode ends: NEXT_STEP autoreset
        a = rng.integers(0, vec.single_action_space.n, 3)
        vobs, vr, vterm, vtrunc, _ = vec.step(a)
        for i, s in enumerate(singles):
            if sobs[i] is None:  # the single env's episode ended: the vector env reset it
                sobs[i] = s.reset()[0]
                continue
            o, r, te, tr, _ = s.step(int(a[i]))
            assert r == vr[i] and te == vterm[i] and tr == vtrunc[i]
            x = o["x"] if isinstance(o, dict) else o
            vx = vobs["x"][i] if isinstance(vobs, dict) else vobs[i]
            np.testing.assert_array_equal(x, vx)
            sobs[i] = None if (te or tr) else o


@pytest.mark.parametrize("kwargs, match", [
    ({"feedback": "partial"}, "feedback"), ({"dataset": "cifar"}, "dataset"),
    ({"split": "all"}, "split"), ({"horizon": 0}, "horizon"),
])
def test_image_env_bad_config(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=f"ImageClassification-v0.*{match}"):
        gym.make(IMG, **kwargs)


def test_bad_actions_name_the_env() -> None:
    env = gym.make(IMG)
    env.reset(seed=0)
    for bad in (10, -1, 1.5, float("nan"), np.array([1, 2])):
        with pytest.raises(ValueError, match="ImageClassification-v0"):
            env.step(bad)
    vec = gym.make_vec(SEQ, num_envs=2, vectorization_mode="vector_entry_point")
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="SequenceTask-v0.*out of range"):
        vec.step(np.array([0, 4]))
    with pytest.raises(ValueError, match="SequenceTask-v0.*shape"):
        vec.step(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="SequenceTask-v0.*gap"):
        gym.make(SEQ, gap=-1)


# ----- learners --------------------------------------------------------------------------------


def _learner(name: str, feedback: str, n: int, **params: object) -> tuple:
    env = gym.make_vec(IMG, num_envs=n, vectorization_mode="vector_entry_point",
                       feedback=feedback, horizon=100_000)
    agent = agents.make(name, observation_space=env.single_observation_space,
                        action_space=env.single_action_space, device="cpu", **params)
    return env, agent


def _train(agent: object, replicates: int, steps: int, seed: int, env_id: str = IMG,
           recorders: tuple = (), **env_kwargs: object) -> tuple:
    """Train the agent object through the harness's rollout loop (agent and env reset with
    ``seed``); returns the per-step rewards (steps, replicates) and the run's result."""
    out = run(env_id, agent, replicates=replicates, horizon=steps, seed=seed,
              env_kwargs=env_kwargs, recorders=[RegretRecorder(keep_steps=True), *recorders])
    return out["rewards"], out


def test_learners_are_registered_and_validate_parameters() -> None:
    names = [n for n, _ in agents.list_agents()]
    assert {"net-full", "net-reinforce", "net-epsilon-greedy"} <= set(names)
    env = gym.make_vec(IMG, num_envs=2, vectorization_mode="vector_entry_point",
                       feedback="bandit")
    space, act = env.single_observation_space, env.single_action_space
    with pytest.raises(ValueError, match="net-full.*feedback='full'"):
        agents.make("net-full", observation_space=space, action_space=act)
    with pytest.raises(ValueError, match="net-reinforce: lr"):
        agents.make("net-reinforce", observation_space=space, action_space=act, lr=-1.0)
    with pytest.raises(ValueError, match="net-epsilon-greedy: epsilon"):
        agents.make("net-epsilon-greedy", observation_space=space, action_space=act,
                    epsilon=1.5)
    with pytest.raises(ValueError, match="model"):
        agents.make("net-reinforce", observation_space=space, action_space=act, model="vit")
    agent = agents.make("net-reinforce", observation_space=space, action_space=act,
                        device="cpu")
    agent.reset(2, seed=0)
    with pytest.raises(ValueError, match="shape"):
        agent.act(np.zeros((3, 1, 8, 8), dtype=np.float32))


def test_same_seed_same_run_on_cpu() -> None:
    runs = []
    for _ in range(2):
        _, agent = _learner("net-reinforce", "bandit", 2, batch_size=8)
        rewards, _ = _train(agent, 2, 64, seed=7, feedback="bandit")
        runs.append((rewards, agent.weights["net.0.weight"].detach().clone()))
    assert np.array_equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])


def test_replicates_are_independent_learners() -> None:
    """Replicate i of a 2-replicate run equals a 1-replicate run given the same network and
    data: the stacked networks share no gradient."""
    env, agent = _learner("net-full", "full", 2, batch_size=4)
    agent.reset(2, seed=0)
    w0 = {k: v.detach().clone() for k, v in agent.weights.items()}
    obs, _ = env.reset(seed=0)
    for _ in range(8):
        a = agent.act(obs)
        nxt, r, te, tr, _ = env.step(a)
        agent.update(obs, a, r, nxt, te, tr)
        obs = nxt
    changed = {k: (v.detach() - w0[k]).abs().flatten(1).sum(1) for k, v in agent.weights.items()}
    assert all(float(c.min()) > 0 for c in changed.values())
    # zeroing replicate 1's examples leaves replicate 0's update unchanged
    env2, agent2 = _learner("net-full", "full", 2, batch_size=4)
    agent2.reset(2, seed=0)
    obs, _ = env2.reset(seed=0)
    for _ in range(8):
        a = agent2.act(obs)
        nxt, r, te, tr, _ = env2.step(a)
        garbled = {"x": nxt["x"].copy(), "label": nxt["label"].copy()}
        o = {"x": obs["x"].copy(), "label": obs["label"].copy()}
        o["x"][1] = 0.0
        garbled["label"][1] = 0
        agent2.update(o, a, r, garbled, te, tr)
        obs = nxt
    assert torch.equal(agent.weights["net.0.weight"][0], agent2.weights["net.0.weight"][0])
    assert not torch.equal(agent.weights["net.0.weight"][1], agent2.weights["net.0.weight"][1])


def test_full_feedback_beats_95_percent_and_bandit_learns_less_at_equal_samples() -> None:
    from decisiongym.supervised.data import load_dataset

    ds = load_dataset("digits")
    steps = 4000
    _, full = _learner("net-full", "full", 1, model="cnn")
    heldout = HeldoutAccuracyRecorder(ds.X_test, ds.y_test, every=1500)
    rewards, out = _train(full, 1, steps, 0, recorders=(heldout,), feedback="full")
    acc_full = float(full.accuracy(ds.X_test, ds.y_test)[0])
    assert acc_full >= 0.95
    assert rewards.shape == (steps, 1)
    assert out["samples"].tolist() == [1500, 3000, 4000]
    assert out["heldout_accuracy"].shape == (3, 1) and out["final_heldout_accuracy"][0] == acc_full
    _, bandit = _learner("net-epsilon-greedy", "bandit", 1, model="cnn")
    _train(bandit, 1, steps, 0, feedback="bandit")
    acc_bandit = float(bandit.accuracy(ds.X_test, ds.y_test)[0])
    assert 0.3 < acc_bandit < acc_full  # chance is 0.1
    _, reinforce = _learner("net-reinforce", "bandit", 2, lr=3e-3)
    _train(reinforce, 2, 3000, 0, feedback="bandit")
    acc_pg = reinforce.accuracy(ds.X_test, ds.y_test)
    assert np.all(acc_pg > 0.3) and np.all(acc_pg < acc_full)


def test_heldout_accuracy_recorder_measures_every_learner_on_its_schedule() -> None:
    from types import SimpleNamespace

    class Counter:  # accuracy = the number of times asked, per learner
        name = "counter"

        def __init__(self) -> None:
            self.calls = 0

        def accuracy(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
            self.calls += 1
            return np.array([self.calls, 10.0 * self.calls])

    X, y = np.zeros((3, 2)), np.array([0, 1, 0])
    agent = Counter()
    rec = HeldoutAccuracyRecorder(X, y, every=4)
    rec.start(SimpleNamespace(envs_per_learner=1, budget_unit="steps", agent=agent, budget=10))
    for t in range(1, 11):
        rec.step(SimpleNamespace(t=t, env_steps=t))
    arrays, record = rec.finish()
    assert arrays["samples"].tolist() == [4, 8, 10]
    assert arrays["heldout_accuracy"].tolist() == [[1, 10], [2, 20], [3, 30]]
    assert arrays["final_heldout_accuracy"].tolist() == [3, 30] and record["heldout_examples"] == 3
    with pytest.raises(ValueError, match="accuracy"):
        rec.start(SimpleNamespace(envs_per_learner=1, budget_unit="steps", agent=object(),
                                  budget=10))
    with pytest.raises(ValueError, match="every"):
        HeldoutAccuracyRecorder(X, y, every=0)
    with pytest.raises(ValueError, match="same number"):
        HeldoutAccuracyRecorder(X, y[:2])


@pytest.mark.parametrize("module", ["decisiongym.supervised.data", "decisiongym.supervised.models",
                                    "decisiongym.supervised.envs",
                                    "decisiongym.theory.advani_saxe"])
def test_supervised_doctests(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# ----- training dynamics -----------------------------------------------------------------------

from decisiongym.supervised import dynamics  # noqa: E402
from decisiongym.theory import advani_saxe as asx  # noqa: E402


def test_simple_rnn_gradient_vanishes_or_explodes_with_the_recurrent_scale() -> None:
    small = dynamics.gradient_norm_vs_lag("rnn", recurrent_scale=1.0)
    large = dynamics.gradient_norm_vs_lag("rnn", recurrent_scale=4.0)
    assert small[30] < 1e-3 * small[1]
    assert large[30] > 10 * large[1]
    lstm = dynamics.gradient_norm_vs_lag("lstm", recurrent_scale=1.0, forget_bias=3.0)
    assert lstm[30] / lstm[1] > small[30] / small[1]  # the cell path carries the error further


def test_sequence_training_is_seeded_and_clipping_is_recorded() -> None:
    a = dynamics.train_sequence_model("rnn", gap=5, steps=20, clip=0.5, seed=1)
    b = dynamics.train_sequence_model("rnn", gap=5, steps=20, clip=0.5, seed=1)
    np.testing.assert_array_equal(a["loss"], b["loss"])
    assert np.all(np.isfinite(a["grad_norm"])) and not a["diverged"]
    with pytest.raises(ValueError, match="optimizer"):
        dynamics.train_sequence_model("rnn", gap=5, steps=2, optimizer="lbfgs")


@pytest.mark.slow
def test_lstm_learns_a_lag_41_dependency_in_most_runs() -> None:
    # The reproduction's rule (decisiongym/reproductions/supervised.py): over independent runs,
    # not one seed. The simple RNN's failure is not asserted: with Adam it learns this task in
    # about half the seeds (measured; see the reproduction's docstring).
    accuracies = [dynamics.train_sequence_model("lstm", gap=40, steps=400, lr=3e-3,
                                                forget_bias=3.0, seed=s)["test_accuracy"]
                  for s in range(3)]
    assert sum(a >= 0.9 for a in accuracies) >= 2, accuracies


def test_optimizers_on_one_task() -> None:
    res = dynamics.compare_optimizers(epochs=2, hidden=32)
    assert set(res) == {"sgd", "momentum", "adagrad", "rmsprop", "adam"}
    for r in res.values():
        assert r["train_loss"][-1] < r["train_loss"][0] < np.log(10)
        assert r["test_accuracy"] > 0.7


def test_marchenko_pastur_and_closed_form_limits() -> None:
    from scipy.integrate import quad

    for alpha in (0.5, 2.0):
        lo, hi = asx.marchenko_pastur_edges(alpha)
        mass = quad(lambda x, a=alpha: float(asx.marchenko_pastur_density(np.array([x]), a)[0]),
                    lo, hi)[0]
        assert mass == pytest.approx(min(alpha, 1.0), abs=1e-6)
    kw = {"sigma_w": 1.0, "sigma_0": 0.3, "sigma_noise": 0.5}
    assert float(asx.generalization_error_asymptotic(0.0, 2.0, **kw)) == pytest.approx(
        1.0 + 0.09 + 0.25)
    # alpha > 1, t -> inf: least squares, E_g = sigma^2 alpha / (alpha - 1)
    assert float(asx.generalization_error_asymptotic(1e4, 2.0, **kw)) == pytest.approx(
        0.25 * 2.0, rel=1e-3)
    t_star, e_star = asx.optimal_stopping_time(
        lambda t: asx.generalization_error_asymptotic(t, 1.0, **kw), 200.0)
    assert 0 < t_star < 200 and e_star < float(asx.generalization_error_asymptotic(200.0, 1.0,
                                                                                  **kw))
    with pytest.raises(ValueError, match="sigma_noise"):
        asx.generalization_error(1.0, [1.0], sigma_w=1.0, sigma_0=0.0, sigma_noise=-1.0)
    with pytest.raises(ValueError, match="diverge"):
        asx.generalization_error(1.0, [1.0, 4.0], sigma_w=1.0, sigma_0=0.0, sigma_noise=0.1,
                                 learning_rate=0.6)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_advani_saxe_formula_within_sampling_error_of_simulation(alpha: float) -> None:
    sim = dynamics.simulate_advani_saxe(n_features=50, alpha=alpha, reps=80, steps=1000,
                                        learning_rate=0.02, record_every=50, seed=1)
    diff = sim["simulated"] - sim["formula_discrete"]
    se = diff.std(axis=1, ddof=1) / np.sqrt(diff.shape[1])
    z = np.abs(diff.mean(axis=1))[1:] / se[1:]
    assert z.max() < 3.5
    # gradient flow at t = k eta differs from discrete GD by O(eta): close, not equal
    assert np.abs(sim["formula_flow"] - sim["formula_discrete"]).max() < 0.02


def test_recurrent_learner_reads_the_sequence_task_step_by_step() -> None:
    env = gym.make_vec(SEQ, num_envs=2, vectorization_mode="vector_entry_point",
                       feedback="full", gap=2)
    agent = agents.make("rnn-full", observation_space=env.single_observation_space,
                        action_space=env.single_action_space, batch_size=4, device="cpu")
    # 5 steps per episode (4 + the reset step)
    rewards, _ = _train(agent, 2, 2000, 0, SEQ, feedback="full", gap=2)
    answers = rewards.reshape(-1, 5, 2)[:, 3]  # the answer step of each episode
    assert agent.updates > 90
    assert answers[-40:].mean() > 0.8 > answers[:20].mean()
    with pytest.raises(ValueError, match="rnn-full: cell"):
        agents.make("rnn-full", observation_space=env.single_observation_space,
                    action_space=env.single_action_space, cell="transformer")
    bandit = gym.make_vec(SEQ, num_envs=2, vectorization_mode="vector_entry_point", gap=2)
    pg = agents.make("rnn-reinforce", observation_space=bandit.single_observation_space,
                     action_space=bandit.single_action_space, batch_size=4, device="cpu")
    rewards, _ = _train(pg, 2, 100, 0, SEQ, gap=2)
    assert rewards.shape == (100, 2) and pg.updates >= 4


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
def test_supervised_reproduction_quick(tmp_path, monkeypatch, threads) -> None:  # type: ignore[no-untyped-def]
    """Every check passes at quick size under 1 and 2 torch threads (the analysis pins one
    thread itself; that call is made a no-op here so the chosen count holds)."""
    import json

    from decisiongym.cli import main

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    try:
        out = tmp_path / "supervised"
        code = main(["reproduce", "supervised", "--quick", "--out", str(out)])
        assert torch.get_num_threads() == threads
    finally:
        monkeypatch.undo()
        torch.set_num_threads(before)
    checks = json.loads((out / "summary.json").read_text())["checks"]
    failed = [c["name"] for c in checks if not c["passed"]]
    assert code == 0 and not failed, failed
    assert all(c["runs"] is not None for c in checks)
    long = [c for c in checks if "dependency" in c["name"]]
    assert len(long) == 1 and long[0]["runs"] >= 3 and len(long[0]["interval"]) == 2
    for name in ("feedback", "gradients", "long_dependency", "optimizers", "advani_saxe"):
        assert (out / "plots" / f"supervised_{name}.png").exists()
