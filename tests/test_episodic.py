"""Episodic tasks through the harness's one rollout loop (``decisiongym.harness.run`` with the
MDP envs' default recorders, EpisodeRecorder and ModelRecorder), the MDP cells through
``run_cell``, and the Sutton & Barto reproduction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym.cli import main
from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment
from decisiongym.harness.recorders import (
    EpisodeRecorder,
    ModelRecorder,
    _deterministic_greedy_check,
    episodes_to_optimal,
    greedy_policy_is_optimal,
)
from decisiongym.harness.rollout import run
from decisiongym.harness.runners import run_cell, run_experiment
from decisiongym.reproductions import get_reproduction
from decisiongym.theory import value_iteration


def test_run_on_a_maze_records_episodes_and_optimality() -> None:
    result = run("decisiongym/Maze-v0", "q-learning", replicates=4, horizon=1500, seed=0,
                 env_kwargs={"layout": "small"}, agent_params={"alpha": 0.5})
    # An MDP env's default recorders: every episode, and the model's optimum.
    assert result.record["recorders"] == [EpisodeRecorder.__name__, ModelRecorder.__name__]
    assert result.record["regret_kind"] == "episodic"
    assert result.record["optimal_start_value"] == -5.0
    ret, length = result["episode_return"], result["episode_length"]
    finished = np.isfinite(ret)
    # Returns are minus the lengths (reward -1 per step) and episodes end where they say.
    np.testing.assert_array_equal(ret[finished], -length[finished])
    # gamma = 1: the model recorder's discounted return is the same return.
    np.testing.assert_array_equal(result["discounted_return"], ret)
    ends = result["episode_end_step"][:, 0][finished[:, 0]]
    lengths = length[:, 0][finished[:, 0]]
    # Each episode after the first starts one (reset) step after the previous one ended.
    np.testing.assert_array_equal(np.diff(ends), lengths[1:] + 1)
    np.testing.assert_array_equal(result["episodes"], finished.sum(axis=0))
    reached = episodes_to_optimal(result["greedy_optimal"])
    assert np.isfinite(reached).all()
    np.testing.assert_array_equal(result["episodes_to_optimal"], reached)
    assert np.all(np.isnan(result["value_error"]))


def test_run_value_error_for_prediction() -> None:
    result = run("decisiongym/RandomWalk-v0", "td0", replicates=20, horizon=600, seed=1,
                 agent_params={"alpha": 0.1, "initial_value": 0.5})
    value_error = result["value_error"]
    first = float(np.sqrt(np.mean((0.5 - np.arange(1, 6) / 6) ** 2)))
    # After the first episode only states of that episode moved: the error is near the initial
    # one, and it falls with learning.
    assert abs(np.nanmean(value_error[0]) - first) < 0.1
    assert np.nanmean(value_error[40]) < 0.6 * first
    assert np.all(np.isnan(result["greedy_optimal"]))  # a prediction agent has no policy


def test_run_on_a_tabular_mdp_discounts_and_checks_the_greedy_policy() -> None:
    """gamma = 0.9, stochastic transitions: the model recorder discounts each episode's return
    and checks greedy optimality against value iteration (the general, not the deterministic,
    check)."""
    kwargs = {"n_states": 6, "n_actions": 2}
    result = run("decisiongym/TabularMDP-v0", "q-learning", replicates=3, horizon=3000, seed=2,
                 env_kwargs=kwargs, agent_params={"alpha": 0.2})
    env: Any = gym.make("decisiongym/TabularMDP-v0", n_states=6, n_actions=2).unwrapped
    v_star, _ = value_iteration(env.transitions, env.rewards, env.gamma)
    assert result.record["optimal_start_value"] == pytest.approx(
        float(env.initial_state_distribution @ v_star))
    ret, discounted = result["episode_return"], result["discounted_return"]
    finished = np.isfinite(ret)
    np.testing.assert_array_equal(finished, np.isfinite(discounted))
    assert result["episodes"].min() > 10
    gopt = result["greedy_optimal"][finished]
    assert set(np.unique(gopt).tolist()) <= {0.0, 1.0}
    # The episodic regret is the sum over finished episodes of V*(s_0) - G_e (discounted).
    v0 = result.record["optimal_start_value"]
    np.testing.assert_allclose(result["final_regret"],
                               np.nansum(v0 - discounted.astype(np.float64), axis=0), rtol=1e-5,
                               atol=1e-3)


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
            "optimal_episode_fraction", "mean_reward", "final_return"} <= set(result.arrays)
    assert "best_arm_fraction" not in result.arrays  # no column under another's name
    assert result.arrays["final_regret"].shape == (3,)
    again = run_cell(cell)  # a cell is a function of its spec
    for key, value in result.arrays.items():
        np.testing.assert_array_equal(value, again.arrays[key])
    summary = run_experiment(exp, tmp_path / "out", progress=None)
    assert not summary.failed and len(summary.computed) == 2


def test_sutton_barto_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """About 35 s: the six examples at quick size (6.2, 6.3, 6.6, 8.1, 10.1, 10.2), every check
    passing, each resting on its runs (1 only for the exact one), and the book's numbers printed
    beside ours."""
    out = tmp_path / "sb"
    code = main(["reproduce", "sutton-barto", "--quick", "--out", str(out)])
    text = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    failed = [c["name"] for c in summary["checks"] if not c["passed"]]
    assert code == 0 and not failed, failed
    assert len(summary["rows"]) == len(get_reproduction("sutton-barto").experiment(True).cells())
    plots = {p.name for p in (out / "plots").glob("sutton_barto_*.png")}
    assert len(plots) == 5 and "sutton_barto_example_6_3_batch_updating.png" in plots
    assert "sutton_barto_example_10_1_mountain_car.png" in plots
    checks = summary["checks"]
    # Seven RMS errors read off Figure 6.2, two plateaus off Figure 6.4, three episode counts
    # from Example 8.1's text and the 14-step shortest path, each with its own check.
    assert sum("beside Figure 6.2" in c["name"] for c in checks) == 7
    assert sum("beside Figure 6.4" in c["name"] for c in checks) == 2
    assert sum("beside the book's text" in c["name"] for c in checks) == 3
    # Examples 6.3 and 10.2: two checks each; 10.1 one at quick size (its Figure 10.2 bands
    # are checked at full size only).
    for example in ("6.3", "10.1", "10.2"):
        assert sum(c["name"].startswith(f"Example {example}:") for c in checks) == (
            1 if example == "10.1" else 2), example
    for check in checks:
        exact = "shortest path" in check["name"]
        assert check["runs"] == 1 if exact else check["runs"] >= 3, check
        # Count rules (and the closed-form limits of Example 6.3) compare no mean: no interval.
        counts = ("greedy policy", "in every run", "Figure 10.5's shape")
        if not exact and not any(word in check["name"] for word in counts):
            low, high = check["interval"]
            assert low <= high, check
    # The learned comparisons are decided by intervals that exclude zero.
    for check in checks:
        if check["name"].startswith(("Example 6.2: TD(0) consistently", "Example 6.6: SARSA's "
                                     "online return beats", "Example 8.1: n = 5 planning steps "
                                     "reaches", "Example 8.1: n = 50 planning steps reaches",
                                     "Example 6.3: batch TD(0) below", "Example 10.1: alpha")):
            assert check["interval"][0] > 0, check
    assert "Figure 6.2 right (read off)" in text and "Example 8.1 text" in text
    assert "Figure 10.5 caption" in text and "Figure 10.2 (read off, approx.)" in text


def test_batch_updating_limits() -> None:
    """Example 6.3: batch TD(0) and batch MC reach their closed forms (certainty equivalence,
    average returns), and batch TD's error is the lower one after a few episodes."""
    from decisiongym.reproductions.sutton_barto import batch_updating, random_walk_episodes

    study = batch_updating(runs=20, episodes=30, seed=5)
    counts, rewards = random_walk_episodes(20, 30, seed=5)
    n_sa, r_s = counts.sum(axis=1), rewards.sum(axis=1)
    visits = n_sa.sum(axis=2)[:, 1:6]
    model = visits[:, :, None] * np.eye(5) - n_sa[:, 1:6, 1:6]
    certainty = np.linalg.solve(model, r_s[:, 1:6][..., None])[..., 0]
    np.testing.assert_allclose(study["td_values"][-1], certainty, atol=1e-8)
    per_episode = counts.sum(axis=3)[:, :, 1:6] * rewards.sum(axis=2, keepdims=True)
    np.testing.assert_allclose(study["mc_values"][-1], per_episode.sum(axis=1) / visits,
                               atol=1e-8)
    # One episode: both are that episode's return at the states it visited, 0.5 elsewhere.
    np.testing.assert_allclose(study["td_values"][0], study["mc_values"][0], atol=1e-8)
    assert study["td"][10:].mean() < study["mc"][10:].mean()
