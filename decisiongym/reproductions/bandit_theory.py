"""The regret bounds of Dobriban, *Notes for Stat 991: Topics in Deep Learning* (2019), section
5.2.1, measured: explore-then-commit's worst case over the gap, and the notes' UCB index under
its bound.

**Explore-then-commit (ETC).** The notes' theorem: with K = 2 arms and gap Delta, ETC (each arm
m times, then the better sample mean) has regret r_T <= m Delta + T Delta exp(-m Delta^2 / 4);
with m = ceil(4 / Delta^2 log(T Delta^2 / 4)) (:func:`decisiongym.theory.etc_optimal_m`, m = 1
when T Delta^2 / 4 <= 1) it achieves r_T <= 4 / Delta (log(T Delta^2 / 4) + 1) + Delta
(:func:`decisiongym.theory.etc_regret_bound`, capped at T Delta), and "worst case
Delta ~ T^(-1/2), worst case regret r_T = O(T^(1/2))". The bound is for 1-sub-Gaussian rewards;
the study uses the case where it is tightest, two Gaussian arms N(Delta, 1) and N(0, 1), and
runs ETC with the notes' m for each gap (``etc`` with ``gap`` and ``horizon``) over a grid of
gaps at several horizons T. The exact expected regret of this rule on Gaussian arms,
m Delta + (T - 2m) Delta Phi(-Delta sqrt(m / 2)) (:func:`decisiongym.theory.etc_expected_regret`),
is drawn beside the measured regret and the bound.

Checks, per horizon T (runs per cell: 1000, ``--quick`` 200; intervals: percentile bootstrap of
the mean over runs, 2000 resamples):

- *the bound holds for every gap*: the mean regret at every gap of the grid is at most the
  notes' bound at that gap (the observed value is the largest ratio mean / bound over the grid,
  with the interval of the mean at that gap). The bound is on the expected regret, so the mean
  is compared, not its interval: at large gaps a wrong commitment is rare and costly, and one
  such run among hundreds moves the upper end of the interval, not the expectation;
- *the worst case is within the worst-case bound*: the largest mean regret over the grid is at
  most the largest value of the bound over all gaps in (0, 1],
  :func:`decisiongym.theory.etc_worst_case_bound` (about 4 sqrt(T / e) = 2.43 sqrt(T));
- *the worst case is the exact one*: the largest mean regret over the grid is within 10% of
  the largest exact expected regret over the same grid (the interval is that of the measured
  worst case; where the worst case sits a wrong commitment has probability 3-15%, so the mean
  is not at the mercy of rare runs);

and across horizons:

- *the worst case grows like T^(1/2)*: the exponent b of the worst case over the grid, fitted
  as max_Delta r_T ~ T^b by least squares over the horizons in log-log, lies in [0.4, 0.6]
  (the notes' T^(1/2); the T^(2/3) of ETC with an m fixed without knowing the gap would fall
  outside); its interval resamples the runs of every cell.

The grid of gaps is the same at every horizon (not scaled with T^(-1/2)), so that the growth
of the worst case is measured, not built in: at the full size 14 gaps from 0.01 to 0.5,
horizons 1000, 4000 and 16000 (the worst gap, 2 sqrt(e / T) for the bound, moves from 0.1 to
0.026); at ``--quick`` 8 gaps from 0.02 to 0.5, horizons 400 and 1600.

**The notes' UCB index.** gamma_k(t) = mu_hat_k + sqrt(2 log(t^3) / T_k) (``ucb1`` with
``alpha=6``), whose regret the notes give as O(sum_i Delta_i + log T / Delta_i) (section 5.2.1,
item 5). :func:`decisiongym.theory.ucb_notes_regret_bound` makes the constants explicit,
sum_i 24 log T / Delta_i + (1 + pi^2 / 3) Delta_i, for 1-sub-Gaussian rewards (the argument of
Auer, Cesa-Bianchi & Fischer 2002, Theorem 1, with this index). Check on three problems (two
Bernoulli, one Gaussian with sigma = 1, chosen with gaps large enough that the bound is below
the trivial T max_i Delta_i; T = 10,000, ``--quick`` 2,000; 200 runs): the upper end
of the 95% interval of the mean regret is below the bound at every recorded step t <= T (the
index does not use T, so the bound holds at every t).

**Margins** at ``--quick`` over the base seeds 2019 (the default), 3019 and 4019: ETC's largest
mean / bound 0.78-0.85 (at the largest gaps, where the regret is almost only the exploration,
m Delta, a share log x / (log x + 1) of the bound, x = T Delta^2 / 4); worst case over the grid
within 1.7% of the exact one; exponent 0.493-0.499 (intervals within [0.459, 0.549]); UCB's
largest upper end / bound 0.20. At full size (seed 2019, about a minute): 0.87, 1.0%, 0.499
[0.491, 0.506] and 0.23.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment
from decisiongym.harness.metrics import bootstrap_mean_ci
from decisiongym.harness.report import (
    CellData,
    Check,
    format_table,
    load_results,
    plot_regret,
    pyplot,
    save_figure,
)
from decisiongym.reproductions import Analysis, Part, Reproduction, StudyExperiment
from decisiongym.theory import (
    etc_expected_regret,
    etc_optimal_m,
    etc_regret_bound,
    etc_worst_case_bound,
    ucb_notes_regret_bound,
)

GAUSSIAN = "decisiongym/GaussianBandit-v0"
BERNOULLI = "decisiongym/BernoulliBandit-v0"
SEED = 2019

FULL_HORIZONS = (1_000, 4_000, 16_000)
QUICK_HORIZONS = (400, 1_600)
FULL_GAPS = tuple(float(g) for g in np.round(np.geomspace(0.01, 0.5, 14), 4))
QUICK_GAPS = tuple(float(g) for g in np.round(np.geomspace(0.02, 0.5, 8), 4))
ETC_SEEDS = {False: 1_000, True: 200}
#: The measured worst case over the grid against the exact one: within this relative error.
EXACT_TOLERANCE = 0.10
#: The notes' T^(1/2): the fitted exponent of the worst case must lie in this range.
EXPONENT_RANGE = (0.4, 0.6)

ETC_LABEL = "etc (notes' m)"
UCB_LABEL = "ucb (notes, log t^3)"
#: (label, env id, kwargs) of the UCB problems.
#: The bound is below the trivial T max_i Delta_i at both sizes on each of them.
UCB_PROBLEMS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("Bernoulli (0.9, 0.1)", BERNOULLI, {"means": [0.9, 0.1]}),
    ("Bernoulli (0.9, 0.5, 0.1)", BERNOULLI, {"means": [0.9, 0.5, 0.1]}),
    ("Gaussian sigma=1 (1, 0, -0.5)", GAUSSIAN, {"means": [1.0, 0.0, -0.5], "sigma": 1.0}),
)
UCB_SEEDS = 200


def _etc_label(horizon: int, gap: float) -> str:
    return f"ETC T={horizon} gap={gap:g}"


def experiment(quick: bool = False) -> Experiment:
    horizons = QUICK_HORIZONS if quick else FULL_HORIZONS
    gaps = QUICK_GAPS if quick else FULL_GAPS
    parts = []
    for horizon in horizons:
        for gap in gaps:
            env = EnvSetting(GAUSSIAN, {"means": [gap, 0.0], "sigma": 1.0},
                             label=_etc_label(horizon, gap))
            agent = AgentSetting("etc", {"gap": gap, "horizon": horizon}, label=ETC_LABEL)
            parts.append(Part(env, (agent,), horizon, ETC_SEEDS[quick]))
    ucb_horizon = 2_000 if quick else 10_000
    for label, env_id, kwargs in UCB_PROBLEMS:
        parts.append(Part(EnvSetting(env_id, kwargs, label=label),
                          (AgentSetting("ucb1", {"alpha": 6.0}, label=UCB_LABEL),),
                          ucb_horizon, UCB_SEEDS))
    return StudyExperiment.from_parts("bandit-theory" + ("-quick" if quick else ""),
                                      tuple(parts), seed=SEED)


def _worst_case(finals: list[np.ndarray]) -> tuple[float, int]:
    """The largest mean over the gaps, and the gap index where it is reached."""
    means = [float(f.mean()) for f in finals]
    i = int(np.argmax(means))
    return means[i], i


def _bootstrap_worst_cases(finals_by_t: list[list[np.ndarray]], n_boot: int = 2000,
                           seed: int = 0) -> np.ndarray:
    """(n_boot, horizons): the worst case over the grid of each horizon, the runs of every
    cell resampled with replacement (independently across cells)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, len(finals_by_t)))
    for j, finals in enumerate(finals_by_t):
        boot = np.stack([f[rng.integers(0, f.size, size=(n_boot, f.size))].mean(axis=1)
                         for f in finals])
        out[:, j] = boot.max(axis=0)
    return out


def _exponent(horizons: np.ndarray, worst: np.ndarray) -> np.ndarray:
    """Least-squares slope of log worst against log T (worst: (..., horizons))."""
    x = np.log(horizons) - np.log(horizons).mean()
    y = np.log(worst)
    y = y - y.mean(axis=-1, keepdims=True)
    return np.asarray((y * x).sum(axis=-1) / (x * x).sum())


def _analyse_etc(results: list[CellData], quick: bool, out: Path
                 ) -> tuple[list[Check], list[dict[str, Any]], str]:
    horizons = QUICK_HORIZONS if quick else FULL_HORIZONS
    gaps = QUICK_GAPS if quick else FULL_GAPS
    by_label = {d.cell.env.name: d for d in results}
    checks: list[Check] = []
    rows: list[dict[str, Any]] = []
    finals_by_t: list[list[np.ndarray]] = []
    worst_measured: list[float] = []
    plt = pyplot()
    fig, axes = plt.subplots(1, len(horizons), figsize=(5.2 * len(horizons), 4.2), sharey=False)
    for ax, horizon in zip(np.atleast_1d(axes), horizons, strict=True):
        cells = [by_label[_etc_label(horizon, gap)] for gap in gaps]
        finals = [d.final("regret") for d in cells]
        finals_by_t.append(finals)
        runs = int(finals[0].size)
        means = np.array([float(f.mean()) for f in finals])
        intervals = [tuple(float(v) for v in bootstrap_mean_ci(f)) for f in finals]
        bounds = np.array([etc_regret_bound(gap, horizon) for gap in gaps])
        ms = [etc_optimal_m(gap, horizon) for gap in gaps]
        exact = np.array([etc_expected_regret(gap, horizon, m) for gap, m in zip(gaps, ms,
                                                                                 strict=True)])
        for gap, m, mean, ci, b, e in zip(gaps, ms, means, intervals, bounds, exact,
                                          strict=True):
            rows.append({"T": horizon, "gap": f"{gap:g}", "m": m,
                         "measured": f"{mean:.1f} [{ci[0]:.1f}, {ci[1]:.1f}]",
                         "exact": e, "bound": b, "ratio": mean / b})
        ratios = means / bounds
        i = int(np.argmax(ratios))
        checks.append(Check(
            f"ETC regret below the notes' bound at every gap (T={horizon})",
            "mean regret <= m Delta + T Delta exp(-m Delta^2 / 4) with the notes' m, i.e. "
            "4 / Delta (log(T Delta^2 / 4) + 1) + Delta (Dobriban (2019), section 5.2.1), at "
            f"each of {len(gaps)} gaps",
            f"largest mean / bound {ratios[i]:.3f} (gap {gaps[i]:g}: mean {means[i]:.1f}, "
            f"bound {bounds[i]:.1f})", bool((ratios <= 1.0).all()), runs=runs,
            interval=list(intervals[i])))
        worst, w = _worst_case(finals)
        worst_measured.append(worst)
        sup_bound = etc_worst_case_bound(horizon)
        checks.append(Check(
            f"ETC worst case over the gap within the worst-case bound (T={horizon})",
            f"max over the grid of the mean regret <= sup over Delta of the bound = "
            f"{sup_bound:.1f} (= {sup_bound / math.sqrt(horizon):.2f} sqrt(T))",
            f"{worst:.1f} at gap {gaps[w]:g} (= {worst / math.sqrt(horizon):.2f} sqrt(T))",
            worst <= sup_bound, runs=runs, interval=list(intervals[w])))
        exact_worst = float(exact.max())
        checks.append(Check(
            f"ETC worst case over the gap is the exact one (T={horizon})",
            f"within {EXACT_TOLERANCE:.0%} of the exact worst case over the grid, "
            f"{exact_worst:.1f} (m Delta + (T - 2m) Delta Phi(-Delta sqrt(m/2)))",
            f"{worst:.1f} ({worst / exact_worst - 1.0:+.1%})",
            abs(worst / exact_worst - 1.0) <= EXACT_TOLERANCE, runs=runs,
            interval=list(intervals[w])))
        ax.fill_between(gaps, [c[0] for c in intervals], [c[1] for c in intervals], alpha=0.25)
        ax.plot(gaps, means, "o-", label="measured mean (95% band)")
        fine = np.geomspace(gaps[0], gaps[-1], 200)
        ax.plot(fine, [etc_expected_regret(g, horizon, etc_optimal_m(g, horizon))
                       for g in fine], "-", color="k", lw=0.8, label="exact expected regret")
        ax.plot(fine, [etc_regret_bound(g, horizon) for g in fine], "--", color="r",
                label="notes' bound")
        ax.axhline(sup_bound, color="r", ls=":", lw=0.8, label="worst-case bound")
        ax.set_xscale("log")
        ax.set_xlabel("gap Delta")
        ax.set_ylabel(f"regret at T = {horizon}")
        ax.set_title(f"ETC with the notes' m, T = {horizon}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(fig, out / "plots" / "etc_regret_vs_gap.png")

    t = np.asarray(horizons, dtype=np.float64)
    exponent = float(_exponent(t, np.asarray(worst_measured)))
    boot = _exponent(t, _bootstrap_worst_cases(finals_by_t))
    low, high = (float(v) for v in np.quantile(boot, [0.025, 0.975]))
    lo_ok, hi_ok = EXPONENT_RANGE
    checks.append(Check(
        "ETC worst case over the gap grows like T^(1/2)",
        f"exponent b of max_Delta r_T ~ T^b over T = {', '.join(map(str, horizons))} in "
        f"[{lo_ok}, {hi_ok}] (Dobriban (2019), section 5.2.1: worst case O(T^(1/2)))",
        round(exponent, 3), lo_ok <= exponent <= hi_ok,
        runs=int(finals_by_t[0][0].size), interval=[low, high]))
    table = format_table(rows, [("T", "T"), ("gap", "gap"), ("m", "m (notes)"),
                                ("measured", "regret [95%]"), ("exact", "exact E r_T"),
                                ("bound", "notes' bound"), ("ratio", "mean / bound")])
    worst_text = ", ".join(f"T={h}: {w:.1f} = {w / math.sqrt(h):.2f} sqrt(T)"
                           for h, w in zip(horizons, worst_measured, strict=True))
    text = (f"Explore-then-commit on two Gaussian arms (sigma = 1), the notes' m for each gap:\n"
            f"{table}\nWorst case over the grid: {worst_text}; fitted exponent {exponent:.3f} "
            f"[{low:.3f}, {high:.3f}] (notes: 1/2).")
    return checks, rows, text


def _analyse_ucb(results: list[CellData], out: Path
                 ) -> tuple[list[Check], list[dict[str, Any]], str]:
    checks: list[Check] = []
    rows: list[dict[str, Any]] = []
    by_label = {d.cell.env.name: d for d in results}
    for label, _, kwargs in UCB_PROBLEMS:
        data = by_label[label]
        grid = data.arrays["grid"].astype(np.float64)
        regret = data.arrays["regret"].astype(np.float64)
        keep = grid >= 2
        low, high = bootstrap_mean_ci(regret[keep])
        bound = np.asarray(ucb_notes_regret_bound(kwargs["means"], grid[keep]))
        worst = int(np.argmax(high / bound))
        final = data.final("regret")
        horizon = data.cell.horizon
        final_bound = float(ucb_notes_regret_bound(kwargs["means"], horizon))
        means = np.asarray(kwargs["means"], dtype=np.float64)
        rows.append({"problem": label, "T": horizon,
                     "regret": f"{final.mean():.1f} [{low[-1]:.1f}, {high[-1]:.1f}]",
                     "bound": final_bound, "trivial": horizon * float(means.max() - means.min()),
                     "ratio": float(high[-1]) / final_bound})
        checks.append(Check(
            f"UCB with log t^3 below its bound ({label})",
            "upper end of the 95% interval of the mean regret < sum_i 24 log t / Delta_i + "
            "(1 + pi^2/3) Delta_i at every recorded t <= T (Dobriban (2019), section 5.2.1, "
            "item 5, constants after Auer et al. 2002)",
            f"largest upper end / bound {float(high[worst] / bound[worst]):.3f} "
            f"(t = {int(grid[keep][worst])})", bool((high < bound).all()),
            runs=int(final.size), interval=[float(low[-1]), float(high[-1])]))
        plot_regret(data.arrays["grid"], {UCB_LABEL: data.arrays["regret"]},
                    out / "plots" / f"ucb_notes_{label.split()[0].lower()}_k"
                                    f"{len(kwargs['means'])}.png",
                    title=f"UCB with log t^3: {label}",
                    references={"bound 24 log t / Delta + (1 + pi^2/3) Delta": np.asarray(
                        ucb_notes_regret_bound(kwargs["means"], np.maximum(grid, 2.0)))})
    table = format_table(rows, [("problem", "problem"), ("T", "T"), ("regret", "regret [95%]"),
                                ("bound", "bound at T"), ("trivial", "T max Delta"),
                                ("ratio", "upper end / bound")])
    return checks, rows, f"The notes' UCB index (log t^3) against its bound:\n{table}"


def analyse(exp: Experiment, out: Path, quick: bool) -> Analysis:
    results = load_results(exp, out)
    etc_cells = [d for d in results if d.cell.agent.display == ETC_LABEL]
    ucb_cells = [d for d in results if d.cell.agent.display == UCB_LABEL]
    etc_checks, etc_rows, etc_text = _analyse_etc(etc_cells, quick, out)
    ucb_checks, ucb_rows, ucb_text = _analyse_ucb(ucb_cells, out)
    return Analysis(etc_checks + ucb_checks, f"{etc_text}\n\n{ucb_text}",
                    {"etc": etc_rows, "ucb": ucb_rows})


REPRODUCTION = Reproduction(
    name="bandit-theory",
    summary="Dobriban (2019), section 5.2.1: ETC's worst case over the gap against its bound "
            "(order T^(1/2)); the notes' UCB index (log t^3) under its bound",
    experiment=experiment,
    analyse=analyse,
    aggregate=False,
)
