"""Regret behaves as the theory of Dobriban, *Notes for Stat 991: Topics in Deep Learning* (2019),
sections 5.2.1-5.2.2, says.

These runs are the suite's learning tests: fixed seeds, many replicates, thresholds with margin.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from decisiongym import theory
from decisiongym.arrays import FloatArray
from decisiongym.harness.metrics import mean_confidence_interval
from decisiongym.harness.recorders import RegretRecorder
from decisiongym.harness.rollout import run

TWO_ARMS = {"means": [0.6, 0.4]}  # gap 0.2


def _pseudo_regret(env_id: str, agent: str, *, seed: int, env_kwargs: dict[str, Any],
                   agent_params: dict[str, Any] | None = None) -> FloatArray:
    """The cumulative pseudo-regret at every step, (horizon, replicates): 200 replicates,
    T = 10^4."""
    result = run(env_id, agent, replicates=200, horizon=10_000, seed=seed,
                 env_kwargs=env_kwargs, agent_params=agent_params,
                 recorders=[RegretRecorder(keep_steps=True)])
    assert result.record["regret_kind"] == "pseudo"
    return result["regret_per_step"]


def _two_arm_run(agent: str, **params: float) -> FloatArray:
    return _pseudo_regret("decisiongym/BernoulliBandit-v0", agent, seed=0, env_kwargs=TWO_ARMS,
                          agent_params=params)


@pytest.mark.parametrize("agent", ["ucb1", "kl-ucb", "thompson-beta"])
def test_logarithmic_regret_on_two_arms(agent: str) -> None:
    regret = _two_arm_run(agent).mean(axis=1)
    ratio = regret[9_999] / regret[999]
    # Linear growth would give 10; log growth gives about log(1e4) / log(1e3) = 1.33 plus the
    # early constant: anything below 4 is "well below 10".
    assert ratio < 4.0, f"{agent}: regret(1e4) / regret(1e3) = {ratio:.2f}"
    # and the regret stays within the UCB1 bound of Auer et al. (2002)
    assert regret[-1] < theory.ucb1_regret_bound(TWO_ARMS["means"], 10_000)


def test_constant_epsilon_greedy_regret_is_linear() -> None:
    regret = _two_arm_run("epsilon-greedy", epsilon=0.1).mean(axis=1)
    ratio = regret[9_999] / regret[999]
    # (the first 1000 steps also pay for early greedy mistakes, so the ratio is below 10)
    assert ratio > 5.0, f"epsilon-greedy: regret(1e4) / regret(1e3) = {ratio:.2f}"
    # Once the greedy arm is right, exploration costs epsilon / 2 * gap per step, forever:
    # the regret grows by the same amount per step early and late.
    early = (regret[4_999] - regret[999]) / 4_000
    late = (regret[9_999] - regret[4_999]) / 5_000
    assert late == pytest.approx(0.1 / 2 * 0.2, rel=0.15)
    assert late == pytest.approx(early, rel=0.15)


def test_random_agent_regret_is_exactly_linear_in_expectation() -> None:
    regret = _two_arm_run("random")
    _, lo, hi = mean_confidence_interval(regret[-1])
    assert lo - 5 < 10_000 * 0.1 < hi + 5


def test_explore_then_commit_stays_below_its_bound() -> None:
    regret = _two_arm_run("etc", gap=0.2, horizon=10_000)
    mean, _, _ = mean_confidence_interval(regret[-1])
    assert mean <= theory.etc_regret_bound(0.2, 10_000)
    m = theory.etc_optimal_m(0.2, 10_000)
    # exploration alone costs m * gap (the bad arm is pulled m times)
    assert mean >= m * 0.2 - 1e-9


@pytest.fixture(scope="module")
def chapelle_li_runs() -> dict[str, FloatArray]:
    """Chapelle & Li (2011): K = 10, epsilon = 0.1, T = 10^4, 200 replicates."""
    return {
        agent: _pseudo_regret("decisiongym/ChapelleLi-v0", agent, seed=2011,
                              env_kwargs={"k": 10, "epsilon": 0.1})
        for agent in ("thompson-beta", "kl-ucb", "ucb1")
    }


@pytest.mark.parametrize("agent", ["thompson-beta", "kl-ucb"])
def test_chapelle_li_near_lai_robbins(agent: str, chapelle_li_runs: dict[str, FloatArray]) -> None:
    means = [0.5] + [0.4] * 9
    constant = theory.lai_robbins_constant(means)
    bound = constant * math.log(10_000)
    regret = chapelle_li_runs[agent].mean(axis=1)
    final = regret[-1]
    # Within a factor 2.5 of the bound from above (the bound is asymptotic: at finite T these
    # algorithms may sit a little below it, not far below).
    assert bound / 2.7 < final < 2.5 * bound, f"{agent}: {final:.1f} vs bound {bound:.1f}"
    # The asymptotic claim itself: the regret grows like C log t, C the Lai-Robbins constant.
    slope = (regret[9_999] - regret[999]) / math.log(10)
    assert constant / 2.5 < slope < 2.5 * constant, f"{agent}: slope {slope:.1f}, C {constant:.1f}"


@pytest.mark.parametrize("agent", ["thompson-beta", "kl-ucb"])
def test_chapelle_li_beats_ucb1(agent: str, chapelle_li_runs: dict[str, FloatArray]) -> None:
    _, _, hi = mean_confidence_interval(chapelle_li_runs[agent][-1])
    _, lo_ucb, _ = mean_confidence_interval(chapelle_li_runs["ucb1"][-1])
    assert hi < lo_ucb
    # UCB1's growth rate is far from optimal: its slope exceeds 2.5 C.
    regret = chapelle_li_runs["ucb1"].mean(axis=1)
    constant = theory.lai_robbins_constant([0.5] + [0.4] * 9)
    assert (regret[9_999] - regret[999]) / math.log(10) > 2.5 * constant
