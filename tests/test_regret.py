"""Regret behaves as the theory of Dobriban, *Notes for Stat 991: Topics in Deep Learning* (2019),
sections 5.2.1-5.2.2, says.

These runs are the suite's learning tests: fixed seeds, many replicates, thresholds with margin.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from decisiongym import theory
from decisiongym.arrays import FloatArray
from decisiongym.harness.metrics import difference_interval, mean_confidence_interval
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


# ----- the notes' UCB index and its bound ----------------------------------------------------


@pytest.mark.parametrize(("env_id", "kwargs"), [
    ("decisiongym/BernoulliBandit-v0", {"means": [0.6, 0.4]}),
    ("decisiongym/BernoulliBandit-v0", {"means": [0.9, 0.5, 0.1]}),
    ("decisiongym/GaussianBandit-v0", {"means": [1.0, 0.0, -0.5], "sigma": 1.0}),
])
def test_notes_ucb_stays_below_its_bound(env_id: str, kwargs: dict[str, Any]) -> None:
    """``ucb1`` with ``alpha=6`` is the index of Dobriban (2019), section 5.2.1; its regret
    stays below sum_i 24 log t / Delta_i + (1 + pi^2 / 3) Delta_i at every t (the upper end of
    the 95% interval of the mean over 200 runs), on Bernoulli and 1-sub-Gaussian arms."""
    regret = _pseudo_regret(env_id, "ucb1", seed=5, env_kwargs=kwargs,
                            agent_params={"alpha": 6.0})
    t = np.arange(1, regret.shape[0] + 1)[1:]
    mean = regret[1:].mean(axis=1)
    half = 2 * regret[1:].std(axis=1, ddof=1) / math.sqrt(regret.shape[1])
    bound = theory.ucb_notes_regret_bound(kwargs["means"], t)
    assert np.all(mean + half < bound)
    # and it grows like log t: from t = 10^3 to 10^4 by far less than the factor 10 of linear
    # growth
    assert mean[9_998] / mean[998] < 4.0


# ----- the peers' index policies -------------------------------------------------------------


@pytest.fixture(scope="module")
def peer_runs() -> dict[str, FloatArray]:
    """Chapelle & Li's K = 10, epsilon = 0.1 problem, T = 10^4, 100 replicates."""
    runs = {}
    for agent, params in (("kl-ucb++", {"horizon": 10_000}), ("imed", {})):
        runs[agent] = run("decisiongym/ChapelleLi-v0", agent, replicates=100, horizon=10_000,
                          seed=2011, env_kwargs={"k": 10, "epsilon": 0.1}, agent_params=params,
                          recorders=[RegretRecorder(keep_steps=True)])["regret_per_step"]
    return runs


@pytest.mark.parametrize("agent", ["kl-ucb++", "imed"])
def test_peer_policies_grow_like_lai_robbins(agent: str, peer_runs: dict[str, FloatArray]
                                             ) -> None:
    """KL-UCB++ (Menard & Garivier 2017) and IMED (Honda & Takemura 2015) are asymptotically
    optimal on Bernoulli arms: the regret's growth per unit of log t over the last decade,
    (R(10^4) - R(10^3)) / log 10, is the Lai & Robbins constant C (within a factor 1.5; its
    interval over runs must overlap [C / 1.5, 1.5 C]); the regret itself is below the bound
    C log T there (an asymptotic bound, approached from below) and below UCB1's."""
    constant = theory.lai_robbins_constant([0.5] + [0.4] * 9)
    regret = peer_runs[agent]
    slopes = (regret[9_999] - regret[999]) / math.log(10)
    slope, low, high = mean_confidence_interval(slopes)
    assert constant / 1.5 < slope < 1.5 * constant, (agent, slope, constant)
    assert high > constant / 1.5 and low < 1.5 * constant
    _, _, final_high = mean_confidence_interval(regret[-1])
    assert final_high < constant * math.log(10_000)


def test_moss_worst_case_below_ucb1() -> None:
    """MOSS's regret is of the minimax order sqrt(K T) where UCB1's is sqrt(K T log T)
    (Audibert & Bubeck 2009): over gaps around the hardest scale sqrt(K / T) on K = 5 arms,
    the largest mean regret of MOSS is below UCB1's, and on each gap MOSS is below UCB1 (95%
    interval of the paired difference below 0: same seeds, same reward tables)."""
    k, horizon = 5, 2_000
    worst = {}
    for agent, params in (("moss", {"horizon": horizon}), ("ucb1", {})):
        finals = []
        for scale in (0.5, 1.0, 2.0):
            gap = scale * math.sqrt(k / horizon)
            finals.append(run("decisiongym/BernoulliBandit-v0", agent, replicates=200,
                              horizon=horizon, seed=9, agent_params=params,
                              env_kwargs={"means": [0.5 + gap] + [0.5] * (k - 1)}
                              )["final_regret"])
        worst[agent] = finals
    for moss, ucb in zip(worst["moss"], worst["ucb1"], strict=True):
        assert difference_interval(moss, ucb)[1] < 0
    moss_worst = max(worst["moss"], key=lambda f: f.mean())
    ucb_worst = max(worst["ucb1"], key=lambda f: f.mean())
    assert difference_interval(moss_worst, ucb_worst, paired=False)[1] < 0
    assert moss_worst.mean() < float(theory.moss_regret_bound(k, horizon))


def test_bandit_theory_reproduction_quick(tmp_path: Path) -> None:
    """``decisiongym reproduce bandit-theory --quick``: ETC's worst case over the gap and the
    notes' UCB index against their bounds (a few seconds)."""
    from decisiongym.cli import main
    from decisiongym.reproductions import get_reproduction
    from tests.test_reproductions import _check_outputs

    out = tmp_path / "bt"
    assert main(["reproduce", "bandit-theory", "--quick", "--out", str(out)]) == 0
    summary = _check_outputs(out, len(get_reproduction("bandit-theory").experiment(True)
                                      .cells()))
    names = [c["name"] for c in summary["checks"]]  # type: ignore[index]
    assert all(c["passed"] for c in summary["checks"]), names  # type: ignore[index]
    assert "ETC worst case over the gap grows like T^(1/2)" in names
    assert sum("UCB with log t^3 below its bound" in n for n in names) == 3
    assert (out / "plots" / "etc_regret_vs_gap.png").exists()
