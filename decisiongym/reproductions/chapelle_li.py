"""Chapelle & Li (2011), "An empirical evaluation of Thompson sampling", Figure 1 (seed 5.2.2).

Protocol: K Bernoulli arms, one at 1/2 and K - 1 at 1/2 - epsilon, K in {10, 100}, epsilon in
{0.1, 0.02}; Thompson sampling with a Beta(1, 1) prior against UCB1 and KL-UCB; regret on a log
time axis with the Lai & Robbins (1985) bound C log t. The full run goes to T = 10^7 (hours on
2 cores); ``--quick`` to T = 10^4, without the K = 100, epsilon = 0.02 problem (nothing is
learned there by 10^4 steps).

Findings checked: Thompson sampling's regret is below UCB1's on every problem; on the problems
where the Lai-Robbins bound is informative at the horizon (C log T below the regret of never
finding the best arm, epsilon T), Thompson sampling grows like the bound: its regret per unit of
log t over the last decade of the run is within a factor 2.5 of C.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment
from decisiongym.harness.metrics import bootstrap_mean_ci
from decisiongym.harness.report import (
    CellData,
    Check,
    format_table,
    lai_robbins_constant_of,
    load_results,
    plot_regret_curves,
)
from decisiongym.reproductions import Analysis, Reproduction

ENV_ID = "decisiongym/ChapelleLi-v0"
PROBLEMS = ((10, 0.1), (10, 0.02), (100, 0.1), (100, 0.02))
#: At T = 10^4 nothing is learned yet on K = 100, epsilon = 0.02 (every policy is still at the
#: regret epsilon T of uniform play), so the quick run leaves it out.
QUICK_PROBLEMS = ((10, 0.1), (10, 0.02), (100, 0.1))
AGENTS = (AgentSetting("thompson-beta", {"a": 1.0, "b": 1.0}), AgentSetting("ucb1"),
          AgentSetting("kl-ucb"))


def experiment(quick: bool = False) -> Experiment:
    problems = QUICK_PROBLEMS if quick else PROBLEMS
    envs = [EnvSetting(ENV_ID, {"k": k, "epsilon": eps}) for k, eps in problems]
    return Experiment(name="chapelle-li" + ("-quick" if quick else ""), envs=envs,
                      agents=list(AGENTS), horizon=10_000 if quick else 10_000_000,
                      seeds=100, seed=2011)


def _growth_per_log_t(data: CellData) -> float:
    """Slope of the mean regret against log t over the last decade of the run."""
    grid = data.arrays["grid"].astype(np.float64)
    mean = data.arrays["regret"].astype(np.float64).mean(axis=1)
    start = int(np.searchsorted(grid, grid[-1] / 10.0))
    return float((mean[-1] - mean[start]) / math.log(grid[-1] / grid[start]))


def analyse(exp: Experiment, out: Path, quick: bool) -> Analysis:
    results = load_results(exp, out)
    by_problem: dict[tuple[int, float], dict[str, CellData]] = {}
    for d in results:
        key = (int(d.cell.env.kwargs["k"]), float(d.cell.env.kwargs["epsilon"]))
        by_problem.setdefault(key, {})[d.cell.agent.name] = d
    rows, checks = [], []
    horizon = exp.horizon
    for key in sorted(by_problem):
        k, eps = key
        cells = by_problem[key]
        c = lai_robbins_constant_of(cells["thompson-beta"])
        bound = None if c is None else c * math.log(horizon)
        rows.append({"problem": f"K={k}, eps={eps:g}", **{n: d.final_regret_mean
                                                          for n, d in cells.items()},
                     "lai_robbins": bound})
        ts, ucb = cells["thompson-beta"].final_regret_mean, cells["ucb1"].final_regret_mean
        n_runs = min(cells["thompson-beta"].cell.seeds, cells["ucb1"].cell.seeds)
        # Same seeds, hence the same problems, for every agent: the difference is paired.
        d_low, d_high = bootstrap_mean_ci(cells["thompson-beta"].final("regret")[:n_runs]
                                          - cells["ucb1"].final("regret")[:n_runs])
        checks.append(Check(f"Thompson sampling below UCB1 (K={k}, epsilon={eps:g})",
                            "TS regret < UCB1 regret", f"TS {ts:.1f}, UCB1 {ucb:.1f}", ts < ucb,
                            runs=n_runs, interval=[float(d_low), float(d_high)]))
        if c is not None and bound is not None and bound < eps * horizon:
            slope = _growth_per_log_t(cells["thompson-beta"])
            checks.append(Check(
                f"Thompson sampling grows like the Lai-Robbins bound (K={k}, epsilon={eps:g})",
                f"regret per log t over the last decade within a factor 2.5 of C = {c:.1f}",
                round(slope, 2), c / 2.5 <= slope <= 2.5 * c,
                runs=cells["thompson-beta"].cell.seeds))
        plot_regret_curves(list(cells.values()), out / "plots" / f"chapelle_li_k{k}_eps{eps:g}.png",
                           title=f"Chapelle & Li: K={k}, epsilon={eps:g}")
    table = format_table(rows, [("problem", "problem"), ("thompson-beta", "TS"),
                                ("ucb1", "UCB1"), ("kl-ucb", "KL-UCB"),
                                ("lai_robbins", "C log T")])
    text = f"Regret at T = {horizon} (mean over {exp.seeds} runs):\n{table}"
    return Analysis(checks, text, {"table": rows})


REPRODUCTION = Reproduction(
    name="chapelle-li",
    summary="Chapelle & Li (2011): Thompson sampling vs UCB1 and KL-UCB, log time, Lai-Robbins",
    experiment=experiment,
    analyse=analyse,
)
