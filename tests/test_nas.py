"""Architecture search (decisiongym.supervised.nas): environments, cache, tabular benchmark,
search agents."""

from __future__ import annotations

import itertools
import multiprocessing
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import decisiongym  # noqa: F401
from decisiongym import agents
from decisiongym.harness import run
from decisiongym.harness.metrics import bootstrap_mean_ci
from decisiongym.supervised.nas.cache import EvaluationCache
from decisiongym.supervised.nas.controller import BatchedController
from decisiongym.supervised.nas.envs import NASCore
from decisiongym.supervised.nas.oneshot import MixedOp, SuperNet
from decisiongym.supervised.nas.space import CELL_OPS, CellNet, CellSpace, ChainNet, ChainSpace
from decisiongym.supervised.nas.tabular import TABLE_PATH, TABLE_SPACE, load_table

torch.set_num_threads(1)
CELL_ID, CHAIN_ID = "decisiongym/NASCell-v0", "decisiongym/NASChain-v0"
SMALL_CHAIN = {"n_layers": 2, "filter_heights": (1, 3), "filter_widths": (1, 3),
               "strides": (1, 3, 5), "n_filters": (2, 4)}


def _digits_batch() -> torch.Tensor:
    from decisiongym.supervised.data import load_dataset

    return torch.as_tensor(load_dataset("digits", seed=0).X_val[:2])


def test_every_chain_architecture_builds_or_gets_the_penalty(tmp_path: Path) -> None:
    env = gym.make(CHAIN_ID, cache_dir=str(tmp_path), penalty=-0.5, **SMALL_CHAIN)
    core: NASCore = env.unwrapped.core  # type: ignore[attr-defined]
    space = ChainSpace(**SMALL_CHAIN)  # type: ignore[arg-type]
    x = _digits_batch()
    malformed = 0
    for tokens in itertools.product(*(range(c) for c in space.choices_per_token)):
        if core.malformed(tokens):
            malformed += 1
            continue
        with torch.no_grad():
            assert ChainNet(space, tokens, 1, 10)(x).shape == (2, 10)
    assert 0 < malformed < 576
    # Through the env: stride 5 takes the 8 x 8 map to 2 x 2, a second stride 5 would skip it
    # whole: the episode ends at that token (the 8th) with the penalty, no exception.
    env.reset(seed=0)
    steps = 0
    for a in [0, 0, 2, 0] * 2:
        _, reward, terminated, _, info = env.step(a)
        steps += 1
        if terminated:
            break
    assert terminated and info["malformed"] and reward == -0.5 and steps == 7
    assert np.isnan(info["val_accuracy"])


def test_every_cell_builds_and_forwards() -> None:
    x = _digits_batch()
    for tokens in TABLE_SPACE.all_tokens():
        with torch.no_grad():
            assert CellNet(TABLE_SPACE, tokens, 1, 10, channels=4)(x).shape == (2, 10)
    full = CellSpace(4, CELL_OPS)
    rng = np.random.default_rng(0)
    for _ in range(100):
        tokens = rng.integers(0, len(CELL_OPS), size=len(full.edges))
        with torch.no_grad():
            assert CellNet(full, tokens, 1, 10)(x).shape == (2, 10)
    assert full.tokens(full.index((4, 3, 2, 1, 0, 4))) == (4, 3, 2, 1, 0, 4)


def test_cell_env_api_and_vector_twin_agree() -> None:
    from gymnasium.utils.env_checker import check_env

    env = gym.make(CELL_ID, tabular=True)
    check_env(env.unwrapped, skip_render_check=True)
    venv = gym.make_vec(CELL_ID, num_envs=3, vectorization_mode="vector_entry_point",
                        tabular=True)
    venv.reset(seed=0)
    archs = np.array([[0, 1, 2, 2, 1, 0], [2, 2, 2, 2, 2, 2], [1, 1, 1, 1, 1, 1]])
    for t in range(6):
        _, rewards, terminated, _, info = venv.step(archs[:, t])
    assert terminated.all()
    for r in range(3):
        env.reset(seed=0)
        for a in archs[r]:
            _, reward, terminated_one, _, one = env.step(int(a))
        assert terminated_one and reward == rewards[r] and one["regret"] == info["regret"][r]
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside"):
        env.step(7)


def test_env_checkers_pass(tmp_path: Path) -> None:
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    sb3_check_env(gym.make(CELL_ID, tabular=True).unwrapped)
    chain = gym.make(CHAIN_ID, cache_dir=str(tmp_path), epochs=1, max_train=64, **SMALL_CHAIN)
    check_env(chain.unwrapped, skip_render_check=True)


def test_same_seed_same_search() -> None:
    runs = [run(CELL_ID, name, replicates=2, horizon=3, seed=3,
                env_kwargs={"tabular": True}, agent_params=params)["best_val"]
            for name, params in (("nas-reinforce", {}), ("nas-reinforce", {}),
                                 ("darts", {"steps_per_episode": 2}),
                                 ("darts", {"steps_per_episode": 2}))]
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[2], runs[3])


def test_cache_returns_identical_rewards(tmp_path: Path) -> None:
    kwargs = {"n_nodes": 3, "ops": ("skip", "conv3x3"), "channels": 2, "epochs": 1,
              "max_train": 128, "cache_dir": str(tmp_path)}
    rewards, cached = [], []
    for _ in range(2):
        env = gym.make(CELL_ID, **kwargs)
        env.reset(seed=0)
        for a in (1, 0, 1):
            _, reward, _, _, info = env.step(a)
        rewards.append(reward)
        cached.append(info["cached"])
    assert rewards[0] == rewards[1] and cached == [False, True]
    assert info["evaluation_seconds"] == 0.0 and info["train_seconds"] > 0.0
    # Another training seed is another key.
    env = gym.make(CELL_ID, **kwargs, training_seed=1)
    env.reset(seed=0)
    for a in (1, 0, 1):
        _, _, _, _, info = env.step(a)
    assert not info["cached"]


def _writer(directory: str, worker: int) -> None:
    cache = EvaluationCache(directory)
    for k in range(200):
        cache.put({"arch": [k % 40], "training_seed": 0},
                  {"val_accuracy": (k % 40) / 40.0, "test_accuracy": 0.5, "writer": worker,
                   "padding": "x" * 2000})


def test_cache_is_safe_with_two_processes_writing_at_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = EvaluationCache(tmp_path)
    for k in range(40):
        record = cache.get({"arch": [k], "training_seed": 0})
        assert record is not None and record["val_accuracy"] == k / 40.0
    assert len(list(tmp_path.rglob("*.json"))) == 40
    assert not list(tmp_path.rglob(".tmp-*"))


def test_reinforce_gradient_matches_finite_differences() -> None:
    ctrl = BatchedController(2, (3, 2, 3), hidden=3, seed=1, dtype=torch.float64,
                             init_scale=0.5)
    tokens = torch.tensor([[2, 1, 0], [0, 0, 2]])
    adv = torch.tensor([0.7, -1.3], dtype=torch.float64)
    loss = ctrl.reinforce_loss(tokens, adv)
    grads = torch.autograd.grad(loss, list(ctrl.params.values()))
    eps = 1e-6
    for (name, p), g in zip(ctrl.params.items(), grads, strict=True):
        flat = p.detach().view(-1)
        for i in range(flat.numel()):
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + eps
                up = float(ctrl.reinforce_loss(tokens, adv))
                flat[i] = old - eps
                down = float(ctrl.reinforce_loss(tokens, adv))
                flat[i] = old
            assert abs((up - down) / (2 * eps) - float(g.view(-1)[i])) < 1e-6, (name, i)
    # The probabilities of each token sum to one over its own choices only.
    probs = torch.softmax(ctrl.logits(tokens), dim=-1)
    assert torch.allclose(probs.sum(-1), torch.ones(2, 3, dtype=torch.float64))
    assert float(probs[:, 1, 2].detach().abs().max()) == 0.0


def test_regularized_evolution_removes_the_oldest_not_the_worst() -> None:
    env = gym.make(CELL_ID, tabular=True)
    evo = agents.make("regularized-evolution", observation_space=env.observation_space,
                      action_space=env.action_space, population=3, sample=2)
    evo.reset(1, seed=0)
    archs = np.array([[[0] * 6], [[1] * 6], [[2] * 6]])
    for arch, fit in zip(archs, (0.9, 0.1, 0.5), strict=True):  # the oldest is the best
        evo.add(np.array([0]), arch, np.array([fit]))  # type: ignore[attr-defined]
    evo.add(np.array([0]), np.array([[0, 1, 2, 0, 1, 2]]), np.array([0.2]))  # type: ignore[attr-defined]
    fitness = sorted(evo.pop_fitness[0].tolist())  # type: ignore[attr-defined]
    assert fitness == [0.1, 0.2, 0.5]
    # Mutation changes exactly one token to another valid choice.
    parents = np.tile(np.array([0, 1, 2, 0, 1, 2]), (50, 1))
    children = evo.mutate(parents)  # type: ignore[attr-defined]
    assert ((children != parents).sum(axis=1) == 1).all() and children.max() <= 2


def test_tabular_benchmark_ships_small_with_known_optimum() -> None:
    assert TABLE_PATH.exists() and TABLE_PATH.stat().st_size < 1_000_000
    table = load_table()
    assert table.val_accuracy.shape == (TABLE_SPACE.size, len(table.seeds))
    assert 0.5 < table.optimum <= 1.0
    env = gym.make(CELL_ID, tabular=True)
    env.reset(seed=0)
    for a in TABLE_SPACE.tokens(table.best_index):
        _, reward, _, _, info = env.step(a)
    assert reward == table.optimum and info["regret"] == 0.0


def test_reinforce_and_evolution_beat_random_search_on_the_table() -> None:
    budget, seeds = 60, 128
    final = {}
    for name, params in (("random-search", {}), ("nas-reinforce", {}),
                         ("regularized-evolution", {"population": 10, "sample": 3})):
        out = run(CELL_ID, name, replicates=seeds, horizon=budget, seed=7,
                  env_kwargs={"tabular": True}, agent_params=params)
        final[name] = out["final_regret"]
    for name in ("nas-reinforce", "regularized-evolution"):
        # Replicate i of each strategy is an independent search; the difference of the means
        # gets a bootstrap interval over the replicate pairs.
        diff = final["random-search"] - final[name]
        lo, hi = bootstrap_mean_ci(diff, random_state=0)
        assert lo > 0.0, (name, final[name].mean(), final["random-search"].mean(), lo, hi)


def test_darts_mixed_op_equals_the_single_op_with_one_hot_weights() -> None:
    torch.manual_seed(0)
    mixed = MixedOp(CELL_OPS, 3)
    x = torch.randn(2, 3, 5, 5)
    for k in range(len(CELL_OPS)):
        w = torch.zeros(len(CELL_OPS))
        w[k] = 1.0
        assert torch.allclose(mixed(x, w), mixed.single(x, k))
    net = SuperNet(TABLE_SPACE, 1, 10, channels=3)
    arch = (2, 1, 0, 2, 2, 1)
    one_hot = torch.nn.functional.one_hot(torch.tensor(arch), 3).double().float()
    assert torch.allclose(net(x[:, :1, :, :].repeat(1, 1, 2, 2)[:, :, :8, :8], arch=arch),
                          net(x[:, :1, :, :].repeat(1, 1, 2, 2)[:, :, :8, :8], weights=one_hot))


def test_one_shot_references_propose_cells(tmp_path: Path) -> None:
    for name, params in (("enas", {"shared_steps": 3, "controller_steps": 2, "candidates": 2}),
                         ("darts", {"steps_per_episode": 3})):
        out = run(CELL_ID, name, replicates=1, horizon=2, seed=0,
                  env_kwargs={"tabular": True}, agent_params=params)
        assert out["best_val"].shape == (2, 1) and (out["final_arch"] >= 0).all()
        assert np.all(np.diff(out["wall_clock"][:, 0]) > 0)


def test_nas_envs_declare_an_episode_budget_and_the_search_recorder() -> None:
    from decisiongym.harness.recorders import RECORDERS_KEY
    from decisiongym.harness.rollout import budget_unit, env_metadata

    for env_id in (CELL_ID, CHAIN_ID):
        assert budget_unit(env_id) == "episodes"
        assert env_metadata(env_id)[RECORDERS_KEY] == (
            "decisiongym.supervised.nas.recorders:SearchRecorder",)
        vec = gym.make_vec(env_id, num_envs=1, vectorization_mode="vector_entry_point",
                           **({"tabular": True} if env_id == CELL_ID else {}))
        assert vec.metadata[RECORDERS_KEY] == env_metadata(env_id)[RECORDERS_KEY]
        assert vec.metadata["decisiongym.budget_unit"] == "episodes"


def test_search_recorder_by_hand() -> None:
    """Two searches, a budget of 2 architectures, optimum 0.9: search 0 writes a malformed
    architecture, then one of 0.8; search 1 scores 0.9 (the optimum) at once, then 0.7, and a
    third architecture past its budget is not counted."""
    from types import SimpleNamespace

    from decisiongym.harness.recorders import Recorder, RolloutSetup, StepBatch
    from decisiongym.supervised.nas.recorders import SearchRecorder

    recorder = SearchRecorder()
    assert isinstance(recorder, Recorder)
    env = SimpleNamespace(num_envs=2, single_observation_space=gym.spaces.MultiDiscrete([4] * 3))
    recorder.start(RolloutSetup(env=env, agent=None, learners=2, envs_per_learner=1, budget=2,
                                budget_unit="episodes", seed=0, reset_info={},
                                learner_of=np.arange(2)))

    def step(t: int, done: list[bool], val: list[float], malformed: list[bool],
             archs: list[list[int]], live: list[bool] | None = None) -> None:
        n = len(done)
        live_ = np.array(live if live is not None else [True] * n)
        info = {"val_accuracy": np.array(val), "test_accuracy": np.array(val) - 0.05,
                "malformed": np.array(malformed), "train_seconds": np.full(n, 2.0),
                "architecture": np.array(archs), "optimal_val_accuracy": np.full(n, 0.9)}
        recorder.step(StepBatch(t=t, env_steps=t, actions=np.zeros(n, dtype=np.int64),
                                rewards=np.where(np.array(malformed), -0.5, np.array(val)),
                                terminated=np.array(done), truncated=np.zeros(n, dtype=bool),
                                info=info, live=live_, all_live=bool(live_.all()),
                                agent_seconds=0.5))

    nan = float("nan")
    step(1, [False, False], [nan, nan], [False, False], [[-1] * 3] * 2)
    step(2, [True, True], [nan, 0.9], [True, False], [[3, 1, -1], [0, 1, 2]])
    step(3, [False, True], [nan, 0.7], [False, False], [[-1] * 3, [2, 2, 2]])
    step(4, [True, True], [0.8, 0.6], [False, False], [[1, 1, 1], [0, 0, 0]], [True, False])
    arrays, record = recorder.finish()
    assert np.allclose(arrays["best_val"], [[0.0, 0.9], [0.8, 0.9]])
    assert np.allclose(arrays["regret_curve"], [[0.9, 0.0], [0.1, 0.0]])
    assert np.allclose(arrays["final_regret"], [0.1, 0.0])
    assert np.allclose(arrays["final_accuracy"], [0.8, 0.9])
    assert np.allclose(arrays["final_val"], [0.8, 0.9])
    assert np.allclose(arrays["final_test"], [0.75, 0.85])
    assert arrays["final_arch"].tolist() == [[1, 1, 1], [0, 1, 2]]
    assert np.allclose(arrays["best_arm_fraction"], [0.0, 0.5])
    assert np.allclose(arrays["mean_reward"], [(-0.5 + 0.8) / 2, (0.9 + 0.7) / 2])
    # Agent time (0.5 s a step) since the search's last architecture, plus training (2 s, none
    # for a malformed one).
    assert np.allclose(arrays["wall_clock"], [[1.0, 3.0], [1.0 + 1.0 + 2.0, 3.0 + 2.5]])
    assert record["optimum"] == 0.9 and record["regret_kind"] == "nas-optimum"


def test_trained_search_reports_the_best_error_not_a_regret(tmp_path: Path) -> None:
    out = run(CHAIN_ID, "random-search", replicates=2, horizon=2, seed=0,
              env_kwargs={"cache_dir": str(tmp_path), "epochs": 1, "max_train": 64,
                          **SMALL_CHAIN})
    assert "final_regret" not in out.arrays and "regret_curve" not in out.arrays
    assert "best_arm_fraction" not in out.arrays
    assert np.allclose(out["final_best_error"], 1.0 - out["best_val"][-1])
    assert np.allclose(out["best_error_curve"], 1.0 - out["best_val"])
    assert np.array_equal(out["final_accuracy"], out["final_val"])
    assert out.metric == "accuracy" and out.record["optimum"] is None


def test_reproduce_nas_quick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from decisiongym.cli import main

    monkeypatch.setenv("DECISIONGYM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "nas"
    assert main(["reproduce", "nas", "--quick", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["checks"] and all(c["passed"] for c in summary["checks"])
    assert len(summary["rows"]) == 3
    assert {p.name for p in (out / "plots").glob("nas_*.png")} >= {
        "nas_tabular_regret.png", "nas_chain_trained.png", "nas_cell_trained.png"}


def test_env_docstring_example_runs() -> None:
    import doctest

    import decisiongym.supervised.nas.envs as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
