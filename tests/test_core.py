"""The evaluation core: any env (ours, Gymnasium's, a user's), any agent, one rollout loop,
recorders checked on hand-computed rollouts, mismatched agents refused before anything runs,
the budget kept out of envs that do not declare it, and a user's module imported by every
runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import tests.userpkg.chain  # noqa: F401  (registers user/Chain-v0 and user-always-right)
from decisiongym.cli import main
from decisiongym.harness import AgentMismatch, run
from decisiongym.harness.experiment import (
    AgentSetting,
    EnvSetting,
    Experiment,
    ExperimentError,
    load_experiment,
)
from decisiongym.harness.recorders import (
    AccuracyRecorder,
    EpisodeRecorder,
    ModelRecorder,
    RegretRecorder,
    RolloutSetup,
    StepBatch,
    default_recorders,
)
from decisiongym.harness.rollout import budget_kwarg, make_vector_env
from decisiongym.harness.runners import run_experiment

# --------------------------------------------------------------------------------------------
# Recorders on hand-made rollouts.
# --------------------------------------------------------------------------------------------


class _Env:
    def __init__(self, n: int) -> None:
        self.num_envs = n
        self.metadata: dict[str, Any] = {}


def _setup(n: int, budget: int, agent: Any = None, env: Any = None,
           reset_info: dict[str, Any] | None = None) -> RolloutSetup:
    return RolloutSetup(env=env or _Env(n), agent=agent, learners=n, envs_per_learner=1,
                        budget=budget, budget_unit="steps", seed=0,
                        reset_info=reset_info or {}, learner_of=np.arange(n))


def _batch(t: int, actions: list[int], rewards: list[float], info: dict[str, Any],
           terminated: list[bool] | None = None, live: list[bool] | None = None) -> StepBatch:
    n = len(actions)
    live_arr = np.ones(n, dtype=bool) if live is None else np.array(live)
    return StepBatch(t=t, env_steps=t, actions=np.array(actions),
                     rewards=np.array(rewards, dtype=np.float64),
                     terminated=np.array(terminated or [False] * n),
                     truncated=np.zeros(n, dtype=bool), info=info, live=live_arr,
                     all_live=bool(live_arr.all()), agent_seconds=0.0)


def test_regret_recorder_pseudo_regret_by_hand() -> None:
    # Two replicates, arms with means (0.2, 0.5, 0.9); replicate 0 pulls 0, 2, 2, replicate 1
    # pulls 1, 1, 0. Pseudo-regret of 0: 0.7, 0.7 + 0, 0.7 + 0 + 0; of 1: 0.4, 0.8, 1.5.
    means = np.array([0.2, 0.5, 0.9])
    rec = RegretRecorder(grid=[1, 2, 3])
    rec.start(_setup(2, 3, reset_info={"lai_robbins_constant": np.array([1.0, 1.0])}))
    pulls = [(0, 1), (2, 1), (2, 0)]
    for t, (a0, a1) in enumerate(pulls, start=1):
        a = np.array([a0, a1])
        rec.step(_batch(t, [a0, a1], [1.0, 0.0], {
            "expected_reward": means[a], "optimal_expected_reward": np.full(2, 0.9)}))
    arrays, record = rec.finish()
    assert record["regret_kind"] == "pseudo"
    np.testing.assert_allclose(arrays["regret"][:, 0], [0.7, 0.7, 0.7], rtol=1e-6)
    np.testing.assert_allclose(arrays["regret"][:, 1], [0.4, 0.8, 1.5], rtol=1e-6)
    np.testing.assert_allclose(arrays["final_regret"], [0.7, 1.5])
    np.testing.assert_allclose(arrays["best_arm_fraction"], [2 / 3, 0.0])
    np.testing.assert_allclose(arrays["mean_reward"], [1.0, 0.0])
    np.testing.assert_allclose(arrays["lai_robbins_constant"], [1.0, 1.0])


def test_regret_recorder_best_fixed_arm_by_hand() -> None:
    # One replicate, reward vectors (1, 0), (1, 0), (0, 1); it plays 1, 0, 1: it gets 0+1+1 =
    # 2, the best fixed arm (0) gets 2, so the regret is 1, 1, 0.
    rec = RegretRecorder(grid=[1, 2, 3])
    rec.start(_setup(1, 3))
    table = [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    for t, (a, row) in enumerate(zip([1, 0, 1], table, strict=True), start=1):
        rec.step(_batch(t, [a], [row[a]], {"rewards": np.array([row])}))
    arrays, record = rec.finish()
    assert record["regret_kind"] == "best-fixed-arm"
    np.testing.assert_allclose(arrays["regret"][:, 0], [1.0, 1.0, 0.0])


def test_regret_recorder_from_expected_rewards_of_every_arm() -> None:
    rec = RegretRecorder(grid=[1, 2])
    rec.start(_setup(1, 2))
    for t, a in ((1, 0), (2, 1)):
        rec.step(_batch(t, [a], [0.0], {"expected_rewards": np.array([[0.1, 0.6]])}))
    arrays, _ = rec.finish()
    np.testing.assert_allclose(arrays["regret"][:, 0], [0.5, 0.5])


def test_episode_recorder_by_hand_skips_the_reset_step() -> None:
    # Replicate 0: an episode of 2 steps (rewards 1, 2), a reset step (reward 0, not live),
    # then 1 step that ends with reward 5. Replicate 1 never finishes.
    rec = EpisodeRecorder(window=2)
    rec.start(_setup(2, 4))
    rec.step(_batch(1, [0, 0], [1.0, 1.0], {}))
    rec.step(_batch(2, [0, 0], [2.0, 1.0], {}, terminated=[True, False]))
    rec.step(_batch(3, [0, 0], [9.0, 1.0], {}, live=[False, True]))
    rec.step(_batch(4, [0, 0], [5.0, 1.0], {}, terminated=[True, False]))
    arrays, _ = rec.finish()
    np.testing.assert_array_equal(arrays["episodes"], [2, 0])
    np.testing.assert_allclose(arrays["episode_return"][:, 0], [3.0, 5.0])
    np.testing.assert_allclose(arrays["episode_length"][:, 0], [2.0, 1.0])
    np.testing.assert_allclose(arrays["episode_end_step"][:, 0], [2.0, 4.0])
    assert np.isnan(arrays["episode_return"][:, 1]).all()
    assert arrays["final_return"][0] == pytest.approx(4.0)  # mean of the last 2 episodes
    assert np.isnan(arrays["final_return"][1])
    np.testing.assert_allclose(arrays["mean_reward"], [8.0 / 4, 4.0 / 4])


def test_model_recorder_by_hand_on_a_two_state_chain() -> None:
    # State 0 --a0--> terminal 1 with reward -1 (optimal); a1 stays at 0 with reward -1.
    env = gym.make_vec("decisiongym/TabularMDP-v0", num_envs=1,
                       vectorization_mode="vector_entry_point",
                       transitions=[[[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]],
                       rewards=[[-1.0, -1.0], [0.0, 0.0]], terminal_states=[1], gamma=1.0)
    rec = ModelRecorder()
    rec.start(_setup(1, 3, env=env))
    # Episode 1: a1 then a0 (return -2, regret 1); episode 2: a0 (return -1, regret 0).
    rec.step(_batch(1, [1], [-1.0], {}))
    rec.step(_batch(2, [0], [-1.0], {}, terminated=[True]))
    rec.step(_batch(3, [0], [0.0], {}, live=[False]))
    arrays, record = rec.finish()
    assert record["optimal_start_value"] == pytest.approx(-1.0)
    np.testing.assert_allclose(arrays["final_regret"], [1.0])
    env.close()


def test_accuracy_recorder_by_hand() -> None:
    rec = AccuracyRecorder()
    rec.start(_setup(1, 4))
    answers = [(0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 1.0)]  # (right, asked)
    for t, (right, asked) in enumerate(answers, start=1):
        rec.step(_batch(t, [0], [right], {"expected_reward": np.array([right]),
                                          "optimal_expected_reward": np.array([asked])}))
    arrays, _ = rec.finish()
    assert arrays["questions"][0] == 3 and arrays["correct"][0] == 2
    assert arrays["final_accuracy"][0] == pytest.approx(2 / 3)


class CountLiveSteps:
    """A user's recorder: live steps per replicate (the protocol, nothing else)."""

    def start(self, setup: RolloutSetup) -> None:
        self.count = np.zeros(setup.learners, dtype=np.int64)

    def step(self, batch: StepBatch) -> None:
        self.count += batch.live

    def new_phase(self, env: Any) -> None:
        pass

    def finish(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"live_steps": self.count}, {"user": True}


def test_a_user_recorder_plugs_in_through_the_same_interface() -> None:
    # Chain of 5: episodes of 4 steps, each followed by a reset step: in 20 steps 4 episodes
    # (16 live steps) and 4 reset steps (the last one is step 20).
    result = run("user/Chain-v0", "user-always-right", replicates=2, horizon=20,
                 recorders=[CountLiveSteps(), EpisodeRecorder()])
    assert result.record["user"] is True
    np.testing.assert_array_equal(result["live_steps"], [16, 16])
    np.testing.assert_array_equal(result["episodes"], [4, 4])


def test_recorders_are_chosen_by_what_the_env_declares() -> None:
    bandit = make_vector_env("decisiongym/BernoulliBandit-v0", 2, horizon=5)
    assert [type(r).__name__ for r in default_recorders(
        bandit, {"expected_reward": 0, "optimal_expected_reward": 0})] == ["RegretRecorder"]
    maze = make_vector_env("decisiongym/Maze-v0", 2)
    assert [type(r).__name__ for r in default_recorders(maze, {})] == [
        "EpisodeRecorder", "ModelRecorder"]
    cart = make_vector_env("CartPole-v1", 2)
    assert [type(r).__name__ for r in default_recorders(cart, {})] == ["EpisodeRecorder"]
    for env in (bandit, maze, cart):
        env.close()


# --------------------------------------------------------------------------------------------
# Any env, any agent; the budget belongs to the harness.
# --------------------------------------------------------------------------------------------


def test_a_user_env_without_a_vector_entry_point_runs_as_sync_vector_env() -> None:
    result = run("user/Chain-v0", "user-always-right", replicates=3, horizon=20)
    assert result.metric == "return"
    np.testing.assert_array_equal(result["episodes"], [4, 4, 4])  # 4 x (4 steps) + 3 resets
    np.testing.assert_allclose(result["episode_length"][:4], 4.0)
    np.testing.assert_allclose(result["final_return"], 1.0)


@pytest.mark.parametrize(("env_id", "agent", "horizon"), [
    ("FrozenLake-v1", "q-learning", 300), ("CliffWalking-v1", "sarsa", 3000),
    ("Taxi-v4", "q-learning", 400), ("CartPole-v1", "reinforce", 300),
    ("Acrobot-v1", "random", 600)])
def test_gymnasium_envs_run_through_the_core(env_id: str, agent: str, horizon: int) -> None:
    result = run(env_id, agent, replicates=2, horizon=horizon, seed=1)
    assert result.metric == "return"
    assert (result["episodes"] >= 1).all() and result["grid"][-1] == horizon
    assert np.isfinite(result["final_return"]).all()


def test_replicate_i_of_seed_s_is_the_single_env_reset_with_seed_s_plus_i() -> None:
    vec = make_vector_env("FrozenLake-v1", 3)
    obs, _ = vec.reset(seed=10)
    actions = np.array([1, 2, 1])
    for _ in range(5):
        obs, *_ = vec.step(actions)
    for i in range(3):
        single = gym.make("FrozenLake-v1")
        o, _ = single.reset(seed=10 + i)
        for _ in range(5):
            o, _, term, trunc, _ = single.step(int(actions[i]))
            if term or trunc:
                break
        else:
            assert o == obs[i]
        single.close()
    vec.close()


def test_the_budget_enters_only_envs_that_declare_it() -> None:
    assert budget_kwarg("decisiongym/BernoulliBandit-v0") == "horizon"
    assert budget_kwarg("FrozenLake-v1") is None
    assert budget_kwarg("user/Chain-v0") is None
    result = run("decisiongym/BernoulliBandit-v0", "ucb1", replicates=2, horizon=37,
                 env_kwargs={"means": [0.2, 0.8]})
    assert int(result["grid"][-1]) == 37 and result.metric == "regret"
    run("FrozenLake-v1", "q-learning", replicates=2, horizon=40)  # no horizon kwarg pushed


def test_same_seed_same_result_bit_for_bit() -> None:
    a = run("CliffWalking-v1", "q-learning", replicates=2, horizon=300, seed=3)
    b = run("CliffWalking-v1", "q-learning", replicates=2, horizon=300, seed=3)
    for name in a.arrays:
        np.testing.assert_array_equal(a[name], b[name])


def test_async_vector_env_gives_the_same_result_as_sync() -> None:
    sync = run("user/Chain-v0", "q-learning", replicates=2, horizon=60, vectorization="sync")
    asyn = run("user/Chain-v0", "q-learning", replicates=2, horizon=60, vectorization="async")
    for name in sync.arrays:
        np.testing.assert_array_equal(sync[name], asyn[name])


# --------------------------------------------------------------------------------------------
# Mismatched agents are refused before anything runs.
# --------------------------------------------------------------------------------------------


def test_an_agent_that_does_not_fit_the_env_is_refused_naming_both() -> None:
    with pytest.raises(AgentMismatch, match=r"q-learning.*CartPole-v1.*Box"):
        run("CartPole-v1", "q-learning", replicates=1, horizon=10)


def test_a_mismatched_agent_fails_validation_before_any_cell_runs(tmp_path: Path) -> None:
    exp = Experiment(name="bad", horizon=10, seeds=1,
                     envs=[EnvSetting("FrozenLake-v1"), EnvSetting("CartPole-v1")],
                     agents=[AgentSetting("q-learning")])
    with pytest.raises(ExperimentError,
                       match=r"agents\[0\].*on envs\[1\].*does not fit env 'CartPole-v1'"):
        run_experiment(exp, tmp_path, progress=False)
    assert not (tmp_path / "cells").exists()


def test_the_cli_refuses_a_mismatched_agent_with_exit_2(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    assert main(["run", "--env", "CartPole-v1", "--agent", "q-learning", "--seeds", "1",
                 "--horizon", "5", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not fit env 'CartPole-v1'" in err


def test_an_unknown_env_names_the_imports_way_out() -> None:
    with pytest.raises(ValueError, match="unknown environment 'nobody/Nothing-v0'"):
        run("nobody/Nothing-v0", "random", replicates=1, horizon=5)


# --------------------------------------------------------------------------------------------
# A user's module in an experiment, on every runner.
# --------------------------------------------------------------------------------------------

USER_TOML = """
name = "user-chain"
horizon = 400
seeds = 2
imports = ["tests.userpkg.chain"]

[[envs]]
id = "user/Chain-v0"

[[envs]]
id = "FrozenLake-v1"

[[envs]]
id = "CliffWalking-v1"

[[agents]]
name = "q-learning"

[[agents]]
name = "dqn"
params = { learning_starts = 100, hidden = [16], buffer_size = 500, batch_size = 16 }
"""


def _cell_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "cells").glob("*.npz"))}


@pytest.fixture(scope="module")
def user_experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("user") / "user.toml"
    path.write_text(USER_TOML, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def inprocess_files(user_experiment: Path, tmp_path_factory: pytest.TempPathFactory
                    ) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("inprocess")
    assert main(["compare", str(user_experiment), "--out", str(out), "--no-plots"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {r["metric"] for r in summary["rows"]} == {"return"}
    assert all("final_regret_mean" not in r for r in summary["rows"])
    return _cell_files(out)


def test_user_env_and_gymnasium_envs_through_compare_in_process(
        inprocess_files: dict[str, bytes]) -> None:
    assert len(inprocess_files) == 6


def test_user_module_is_imported_by_process_pool_workers(
        user_experiment: Path, inprocess_files: dict[str, bytes], tmp_path: Path) -> None:
    out = tmp_path / "process"
    assert main(["compare", str(user_experiment), "--out", str(out), "--no-plots",
                 "--runner", "process", "--workers", "2"]) == 0
    assert _cell_files(out) == inprocess_files


def test_the_import_option_names_a_user_module(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--import", "tests.userpkg.chain", "--env", "user/Chain-v0",
                 "--agent", "user-always-right", "--seeds", "2", "--horizon", "20",
                 "--quiet"]) == 0
    assert "return (mean of the last 20 episodes): 1.00" in capsys.readouterr().out


def test_a_missing_user_module_is_an_experiment_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(USER_TOML.replace("tests.userpkg.chain", "tests.userpkg.nothing"),
                    encoding="utf-8")
    with pytest.raises(ExperimentError, match=r"imports: cannot import 'tests.userpkg.nothing"):
        load_experiment(path)


@pytest.mark.xdist_group("ray")
def test_user_module_is_imported_by_ray_workers(user_experiment: Path,
                                                inprocess_files: dict[str, bytes],
                                                tmp_path: Path) -> None:
    ray_module = pytest.importorskip("ray")
    if ray_module.is_initialized():
        ray_module.shutdown()
    try:
        out = tmp_path / "ray"
        assert main(["compare", str(user_experiment), "--out", str(out), "--no-plots",
                     "--runner", "ray", "--workers", "2"]) == 0
        assert _cell_files(out) == inprocess_files
    finally:
        ray_module.shutdown()


def test_async_vectorization_in_an_experiment_stores_the_same_files(tmp_path: Path) -> None:
    def experiment(vectorization: str) -> Experiment:
        return Experiment(name="v", horizon=60, seeds=2,
                          envs=[EnvSetting("user/Chain-v0", vectorization=vectorization)],
                          agents=[AgentSetting("q-learning")], imports=("tests.userpkg.chain",))

    for mode in ("auto", "async"):
        assert run_experiment(experiment(mode), tmp_path / mode, progress=False).failed == []
    assert _cell_files(tmp_path / "auto") == _cell_files(tmp_path / "async")


@pytest.mark.parametrize(("env", "agent", "horizon", "shown", "absent"), [
    ("decisiongym/BernoulliBandit-v0", "ucb1", 200, ["pseudo-regret at the end", "Lai-Robbins"],
     ["return (mean"]),
    ("decisiongym/Maze-v0", "q-learning", 2000,
     ["regret against the optimal start value", "return (mean of the last 20 episodes)"],
     ["pseudo-regret"]),
    ("CartPole-v1", "random", 500, ["return (mean of the last 20 episodes)"], ["regret"]),
    ("decisiongym/ImageClassification-v0", "net-epsilon-greedy", 100, ["accuracy: "], []),
])
def test_run_prints_the_metric_that_fits_the_env(
        capsys: pytest.CaptureFixture[str], env: str, agent: str, horizon: int,
        shown: list[str], absent: list[str]) -> None:
    assert main(["run", "--env", env, "--agent", agent, "--seeds", "3", "--horizon",
                 str(horizon), "--quiet"]) == 0
    out = capsys.readouterr().out
    for text in shown:
        assert text in out
    for text in absent:
        assert text not in out
