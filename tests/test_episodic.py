"""The episodic harness (``decisiongym.harness.episodic``), the MDP cells through ``run_cell``,
and the Sutton & Barto reproduction."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym.cli import main
from decisiongym.harness.episodic import (
    _deterministic_greedy_check,
    episodes_to_optimal,
    greedy_policy_is_optimal,
    run_episodic,
)
from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment
from decisiongym.harness.reproductions import get_reproduction
from decisiongym.harness.runners import run_cell, run_experiment
from decisiongym.theory import value_iteration


def test_run_episodic_records_episodes_and_optimality() -> None:
    run = run_episodic("decisiongym/Maze-v0", "q-learning", replicates=4, steps=1500, seed=0,
                       env_kwargs={"layout": "small"}, agent_params={"alpha": 0.5})
    assert run.optimal_start_value == -5.0
    finished = np.isfinite(run.episode_return)
    # Returns are minus the lengths (reward -1 per step) and episodes end where they say.
    np.testing.assert_array_equal(run.episode_return[finished], -run.episode_length[finished])
    ends = run.episode_end_step[:, 0][finished[:, 0]]
    lengths = run.episode_length[:, 0][finished[:, 0]]
    # Each episode after the first starts one (reset) step after the previous one ended.
    np.testing.assert_array_equal(np.diff(ends), lengths[1:] + 1)
    reached = episodes_to_optimal(run.greedy_optimal)
    assert np.isfinite(reached).all()
    assert np.all(np.isnan(run.value_error))


def test_run_episodic_value_error_for_prediction() -> None:
    run = run_episodic("decisiongym/RandomWalk-v0", "td0", replicates=20, steps=600, seed=1,
                       agent_params={"alpha": 0.1, "initial_value": 0.5})
    first = float(np.sqrt(np.mean((0.5 - np.arange(1, 6) / 6) ** 2)))
    # After the first episode only states of that episode moved: the error is near the initial
    # one, and it falls with learning.
    assert abs(np.nanmean(run.value_error[0]) - first) < 0.1
    assert np.nanmean(run.value_error[40]) < 0.6 * first


def test_greedy_checks_agree() -> None:
    env = gym.make("decisiongym/Maze-v0", layout="dyna").unwrapped
    v, pi = value_iteration(env.transitions, env.rewards, env.gamma)
    start = env.initial_state_distribution
    optimal = float(start @ v)
    rng = np.random.default_rng(0)
    policies = np.repeat(pi[None], 60, axis=0)
    for i in range(1, 60):
        policies[i, rng.integers(0, pi.size, 3)] = rng.integers(0, 4, 3)
    model = env.model
    fast = _deterministic_greedy_check(model.next_flat.reshape(-1, 4),
                                       model.reward_flat.reshape(-1, 4), env.gamma,
                                       model.fixed_start, optimal, policies)
    slow = greedy_policy_is_optimal(env.transitions, env.rewards, env.gamma, start, optimal,
                                    policies)
    np.testing.assert_array_equal(fast, slow)
    assert fast[0] and not fast.all()


def test_run_cell_dispatches_mdp_envs(tmp_path: Path) -> None:
    exp = Experiment(name="mdp", envs=[EnvSetting("decisiongym/Maze-v0", {"layout": "small"})],
                     agents=[AgentSetting("sarsa", {"alpha": 0.5}),
                             AgentSetting("dyna-q", {"n_planning": 5, "gamma": 1.0})],
                     horizon=400, seeds=3, seed=7)
    exp.validate()
    cell = exp.cells()[0]
    result = run_cell(cell)
    assert {"episode_return", "episodes_to_optimal", "final_regret", "regret", "grid",
            "best_arm_fraction", "mean_reward"} <= set(result.arrays)
    assert result.arrays["final_regret"].shape == (3,)
    again = run_cell(cell)  # a cell is a function of its spec
    for key, value in result.arrays.items():
        np.testing.assert_array_equal(value, again.arrays[key])
    summary = run_experiment(exp, tmp_path / "out", progress=None)
    assert not summary.failed and len(summary.computed) == 2


@pytest.mark.slow
def test_sutton_barto_quick(tmp_path: Path) -> None:
    out = tmp_path / "sb"
    code = main(["reproduce", "sutton-barto", "--quick", "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    failed = [c["name"] for c in summary["checks"] if not c["passed"]]
    assert code == 0 and not failed, failed
    assert len(summary["rows"]) == len(get_reproduction("sutton-barto").experiment(True).cells())
    assert len(list((out / "plots").glob("sutton_barto_*.png"))) == 3
