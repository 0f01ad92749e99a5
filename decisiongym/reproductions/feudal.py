"""Dayan & Hinton (1993), "Feudal reinforcement learning" (Dobriban, *Notes for Stat 991: Topics
in Deep Learning*, 2019, section 5.3.12, item 4, Figure 89): ``decisiongym reproduce feudal
[--quick]``.

Feudal Q-learning (``feudal-q``) against flat Q-learning with the same softmax exploration
(``softmax-q``) on ``FeudalMaze-v0`` (8 x 8, U-shaped barrier, goal unknown to the agent,
random starts): steps to the goal per trial, mean over runs with a 95% interval. The finding
in Dobriban (2019), section 5.3.12: the feudal system is slower at first and faster later.
Second part: after learning, the goal moves (to (1, 6)) and both go on learning with what they
have learnt; the feudal managers' sub-task skills (move to the region north, ...) do not depend
on the goal, the top managers' choices do. The notes state no finding for this case; the numbers
are reported and the check is that feudal Q-learning relearns the new goal. The notes and Dayan
& Hinton give their finding as curves, without numbers to put beside ours.

**Checks and the statistic that decides each** (4 runs at ``--quick``, 40 at full size; the
learners share their seeds, so feudal-minus-flat differences are paired by run; intervals are
percentile bootstraps over the runs, 2000 resamples):

- slower at first: each run's mean steps over the first 10 trials; the 95% interval of
  (feudal - flat) lies above 0;
- faster later: the same over trials 41-150 (fewer if a run finished fewer); the interval lies
  below 0;
- relearns after the move: per run, half its mean steps over the first 10 trials after the move
  minus its mean over its last 10 trials; the interval of the mean lies above 0 (last < first /
  2 on average, decided over the runs).

**Margins** at ``--quick`` over the base seeds 0 (the default), 1000 and 2000 (the interval end
that decides): slower at first, low end 111 / 22 / 145 steps; faster later, high end -3.2 /
-3.6 / -3.5; relearns, low end 5.7 / 30.1 / 8.7. The quick budget leaves 30-300 trials after the
move, so a run's last 10 trials may still be learning; at full size 5 of 40 runs stay above 20
steps (below). At full size (base seed 0) the intervals are [126, 163], [-5.0, -4.0] and
[39.3, 52.2].

The text also reports later windows (trials 151-300, 301-600 and each run's last 100 trials
with the first goal).

Settings: both learners use softmax temperature 0.1, learning rate 0.5, gamma 1 and zero
(optimistic) initial values with -1 per step; feudal Q-learning is the strict obey rule with
failures bootstrapped (``decisiongym/agents/feudal.py``). A third learner, the ablation
"obey-below only" (``strict=False``), lets a manager learn from transitions its own command did
not order.

Finding at full size (40 runs, seed 0, 44 s): feudal is slower at first (247 vs 102 steps, first
10 trials; 90 vs 40 in trials 11-40) and faster later (trials 41-150: 10.4 +- 0.5 vs 14.9 +- 0.3;
151-300: 7.7 vs 7.8). Asymptotically flat Q-learning is better (last 100 trials 7.3 vs 6.3,
optimum 6.3): information hiding costs some path length, each level choosing its own shortest path
rather than the joint one (Dobriban (2019), section 5.3.12: "information hiding may introduce
inefficiencies"). After the goal moves, feudal relearns more slowly than flat (first 10 trials 115
vs 72; last 10 trials 11.7 vs 5.7, median run 7.7; 5 of 40 runs stay above 20 steps, where the top
manager's command in the goal's new quarter keeps the value it was given while the goal was
elsewhere and softmax at 0.1 rarely tries it again). The ablation is faster than flat in trials
41-150 too (11.6) but worse later (last 100 trials 8.3) and after the move (17.5, 14 of 40 runs
above 20).

What decided the finding (measured with 20 runs, trials 41-150, feudal vs flat):
- Temperature, the same for both: 0.1: 10.6 vs 15.1; 0.15: 11.7 vs 15.8; 0.2: 13.1 vs 16.1;
  0.3: 18.6 vs 16.7; 0.5: 25.2 vs 19.1; 1.0: 58.8 vs 24.3 (with the earlier rules). Exploring
  at every level costs feudal more: a wrong top-level command costs up to its 32-step time-out.
- The failure rule: a failure valued at a fixed ``-1 - failure_cost`` became cheaper than
  searching once a task's values had fallen (gamma 1), so sub-managers told * left their
  region instead of searching it, and after the goal moved 12 of 40 runs stayed above 200
  steps per trial. Failures now bootstrap from where the task was given, as time-outs do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment, Phase
from decisiongym.harness.metrics import bootstrap_mean_ci, nan_mean_band
from decisiongym.harness.report import (
    CellData,
    Check,
    format_table,
    load_results,
    pyplot,
    save_figure,
)
from decisiongym.reproductions import Analysis, Reproduction

MOVED_GOAL = (1, 6)
FEUDAL = AgentSetting("feudal-q", {"temperature": 0.1}, label="feudal Q-learning")
FLAT = AgentSetting("softmax-q", {"temperature": 0.1}, label="flat Q-learning")
#: The ablation: a manager also learns from transitions its own command did not order.
PERMISSIVE = AgentSetting("feudal-q", {"temperature": 0.1, "strict": False},
                          label="feudal Q-learning, obey-below only")
EARLY = 10  # trials
LATE = (40, 150)  # trials counted as "later" (fewer if a run finished fewer)


#: quick -> (steps per run, runs, steps before the goal moves)
SIZES = {True: (9000, 4, 6000), False: (30_000, 40, 20_000)}


def envs(move_after: int) -> list[EnvSetting]:
    """The maze, and the maze whose goal moves to :data:`MOVED_GOAL` after ``move_after``
    steps (a second phase of the task: the agents keep what they learnt; the harness resets
    the moved maze with seed + 10,000)."""
    return [EnvSetting("decisiongym/FeudalMaze-v0", {}, label="feudal-maze"),
            EnvSetting("decisiongym/FeudalMaze-v0", {}, label="feudal-maze, goal moved",
                       phases=(Phase(after=move_after, kwargs={"goal": MOVED_GOAL}),))]


def experiment(quick: bool) -> Experiment:
    horizon, seeds, move_after = SIZES[quick]
    return Experiment("feudal" + ("-quick" if quick else ""), envs(move_after),
                      [FEUDAL, FLAT, PERMISSIVE], horizon=horizon, seeds=seeds, seed=0)


def _plot_trials(first: dict[str, np.ndarray], moved: dict[str, np.ndarray], path: Path) -> None:
    """Steps per trial, mean over runs with 95% bands: the first goal, then after it moves."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, curves, title in ((axes[0], first, "goal at (3, 3), from scratch"),
                              (axes[1], moved, f"after the goal moves to {MOVED_GOAL}")):
        for label, length in curves.items():
            # The bootstrap band of the mean lies within the runs' range: on the log axis it
            # is never clipped (a normal band, mean +- 1.96 se, crossed zero with 4 runs).
            mean, low, high = nan_mean_band(length)
            x = np.arange(1, mean.size + 1)
            (line,) = ax.plot(x, mean, label=label, lw=1.2)
            ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, lw=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("trial" if curves is first else "trial after the move")
        ax.set_ylabel("steps to the goal (mean over runs, 95% band)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle("Feudal maze (Dayan & Hinton 1993): feudal vs flat Q-learning")
    save_figure(fig, path)


def _mean_ci(x: np.ndarray) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    if x.size < 2:
        return float(x.mean()) if x.size else float("nan"), 0.0
    return float(x.mean()), float(1.96 * x.std(ddof=1) / np.sqrt(x.size))


def _trials(d: CellData, lo: int, hi: int) -> np.ndarray:
    return np.nanmean(d.arrays["episode_length"].astype(np.float64)[lo:hi], axis=0)


def _ci(values: np.ndarray) -> list[float]:
    low, high = bootstrap_mean_ci(values)
    return [float(low), float(high)]


def _half_first_minus_last(d: CellData) -> np.ndarray:
    """Per run of a moved-goal cell: half the mean steps over the first :data:`EARLY` trials
    after the move minus the mean over its last :data:`EARLY` trials."""
    split = d.arrays["phase_split"]
    length = d.arrays["episode_length"].astype(np.float64)
    first = np.array([np.nanmean(length[s:s + EARLY, i]) for i, s in enumerate(split)])
    last = np.array([np.nanmean(col[np.isfinite(col)][-EARLY:]) for col in length.T])
    return np.asarray(first / 2.0 - last)


def analyse(exp: Experiment, out: Path, quick: bool) -> Analysis:
    results = load_results(exp, out)
    fixed = {d.cell.agent.display: d for d in results if not d.cell.env.phases}
    moved = {d.cell.agent.display: d for d in results if d.cell.env.phases}
    curves = {}
    n_common = min(int(d.arrays["episodes"].min()) for d in fixed.values())
    late = (min(LATE[0], n_common // 2), min(LATE[1], n_common))
    stats: dict[str, Any] = {}
    for label, d in fixed.items():
        length = d.arrays["episode_length"].astype(np.float64)
        curves[label] = np.nanmean(length[:n_common], axis=1)
        stats[label] = {"early": _mean_ci(_trials(d, 0, EARLY)),
                        "late": _mean_ci(_trials(d, *late))}
    after: dict[str, Any] = {}
    after_last: dict[str, Any] = {}
    for label, d in moved.items():
        split = d.arrays["phase_split"]
        length = d.arrays["episode_length"].astype(np.float64)
        first = np.array([np.nanmean(length[s:s + EARLY, i]) for i, s in enumerate(split)])
        last = np.array([np.nanmean(col[np.isfinite(col)][-EARLY:]) for col in length.T])
        after[label] = _mean_ci(first)
        after_last[label] = _mean_ci(last)
    moved_curves = {}
    for label, d in moved.items():
        split = d.arrays["phase_split"]
        length = d.arrays["episode_length"].astype(np.float64)
        n_after = int(min(np.isfinite(length[s:, i]).sum() for i, s in enumerate(split)))
        moved_curves[label] = np.stack([length[s:s + n_after, i] for i, s in enumerate(split)],
                                       axis=1)
    _plot_trials({k: d.arrays["episode_length"].astype(np.float64)[:n_common]
                  for k, d in fixed.items()}, moved_curves,
                 out / "plots" / "feudal_steps_per_trial.png")
    f, q = FEUDAL.display, FLAT.display
    fixed_runs = min(fixed[f].cell.seeds, fixed[q].cell.seeds)

    def diff_ci(lo: int, hi: int) -> list[float]:
        # Bootstrap interval of the mean per-run difference feudal - flat (runs with finite means).
        diff = _trials(fixed[f], lo, hi)[:fixed_runs] - _trials(fixed[q], lo, hi)[:fixed_runs]
        return _ci(diff[np.isfinite(diff)])

    early_gap, late_gap = diff_ci(0, EARLY), diff_ci(*late)
    moved_runs = moved[f].cell.seeds
    relearn = _half_first_minus_last(moved[f])[:moved_runs]
    relearn_ci = _ci(relearn[np.isfinite(relearn)])
    checks = [
        Check(f"feudal Q-learning is slower at first (mean steps, first {EARLY} trials)",
              "95% interval of (feudal - flat) above 0",
              f"feudal {stats[f]['early'][0]:.0f}, flat {stats[q]['early'][0]:.0f}",
              early_gap[0] > 0, runs=fixed_runs, interval=early_gap),
        Check(f"feudal Q-learning is faster later (mean steps, trials {late[0] + 1}-{late[1]})",
              "95% interval of (feudal - flat) below 0",
              f"feudal {stats[f]['late'][0]:.1f}, flat {stats[q]['late'][0]:.1f}",
              late_gap[1] < 0, runs=fixed_runs, interval=late_gap),
        Check("after the goal moves, feudal Q-learning relearns it (mean steps, first vs "
              f"last {EARLY} trials after the move)",
              "last < first / 2: 95% interval of (first / 2 - last) above 0",
              f"{after[f][0]:.0f} -> {after_last[f][0]:.1f} (flat: {after[q][0]:.0f} -> "
              f"{after_last[q][0]:.1f})", relearn_ci[0] > 0, runs=int(relearn.size),
              interval=relearn_ci),
    ]
    rows = [{"learner": k, "early": f"{v['early'][0]:.1f} +- {v['early'][1]:.1f}",
             "late": f"{v['late'][0]:.1f} +- {v['late'][1]:.1f}",
             "moved": f"{after[k][0]:.1f} +- {after[k][1]:.1f}",
             "moved_last": f"{after_last[k][0]:.1f} +- {after_last[k][1]:.1f}"}
            for k, v in stats.items()]
    table = format_table(rows, [("learner", "learner"), ("early", f"first {EARLY} trials"),
                                ("late", f"trials {late[0] + 1}-{late[1]}"),
                                ("moved", f"first {EARLY} trials after the goal moved"),
                                ("moved_last", f"last {EARLY} trials")])
    later = []
    for label, d in fixed.items():
        length = d.arrays["episode_length"].astype(np.float64)
        last100 = np.array([np.nanmean(col[np.isfinite(col)][-100:]) for col in length.T])
        parts = [f"trials {lo + 1}-{hi} {m:.2f} +- {h:.2f}"
                 for lo, hi in ((150, 300), (300, 600)) if hi <= n_common
                 for m, h in [_mean_ci(_trials(d, lo, hi))]]
        parts.append("last 100 trials {:.2f} +- {:.2f}".format(*_mean_ci(last100)))
        later.append(f"  {label}: " + ", ".join(parts))
    text = (f"Dayan & Hinton (1993), feudal maze ({exp.name}): mean steps to the goal per "
            f"trial (95% CI over {exp.seeds} runs)\n{table}\nLater (first goal):\n"
            + "\n".join(later))
    return Analysis(checks, text, {"stats": stats, "after_move": after,
                                   "after_move_last": after_last,
                                   "curves": {k: v.tolist() for k, v in curves.items()}})


REPRODUCTION = Reproduction(
    name="feudal",
    summary="Dayan & Hinton (1993): feudal vs flat Q-learning on the feudal maze, goal moved",
    experiment=experiment,
    analyse=analyse,
    # The two settings are one maze, before and after its goal moves, not two tasks: no
    # across-environments aggregate.
    aggregate=False,
)
