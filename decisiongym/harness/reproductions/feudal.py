"""Dayan & Hinton (1993), "Feudal reinforcement learning" (seed 5.3.12, item 4, Figure 89):
``decisiongym reproduce feudal [--quick]``.

Feudal Q-learning (``feudal-q``) against flat Q-learning with the same softmax exploration
(``softmax-q``) on ``FeudalMaze-v0`` (8 x 8, U-shaped barrier, goal unknown to the agent,
random starts): steps to the goal per trial, mean over runs with a 95% interval. The seed's
finding: the feudal system is slower at first and faster later. Second part: after learning,
the goal moves (to (1, 6)) and both go on learning with what they have learnt; the feudal
managers' sub-task skills (move to the region north, ...) do not depend on the goal, the top
managers' choices do. The seed states no finding for this case; the numbers are reported and
the check is that feudal Q-learning relearns the new goal.

The checks compare the mean steps per trial over the first trials and over late trials; the
quick size is a few runs on a short budget (the pipeline, not the finding). The text also
reports later windows (trials 151-300, 301-600 and each run's last 100 trials with the first
goal).

Finding at full size (40 runs, seed 0): feudal is slower at first (249 vs 110 steps, first 10
trials) but not faster later: trials 41-150 feudal 17.5 +- 2.8 vs flat 17.2 +- 0.5 (the feudal
median run is faster, 15.0 vs 16.8, but a few runs still pay for top-level exploration: an
exploratory level-1 command such as '*' in the wrong quarter costs up to its 32-step time-out);
151-300 8.7 vs 8.6; last 100 trials 7.8 vs 6.5 (optimum 6.3). The flat baseline is plain
Watkins Q-learning with the same fixed softmax temperature (0.3), learning rate and zero
(optimistic) initial values as every feudal manager; its optimistic start explores
systematically and it converges near the optimum, while feudal keeps the cost of information
hiding (each level picks its own shortest path, not the joint one). Checked and not the cause:
time-outs and the obey-below rule (the stricter reading, in which a manager also learns only
when its own command was the direction moved, is worse: 20.2 steps in trials 41-150 and 9.2 in
trials 1001-2000 on 8 runs). After the goal moves, feudal relearns it in most runs (median of
the last 10 trials 6.8) but in 4 of 40 runs the top managers' values, pulled down together by
time-outs bootstrapped at gamma = 1, are nearly level and trials stay long (mean 31.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from decisiongym.harness.experiment import AgentSetting, Cell, EnvSetting, Experiment
from decisiongym.harness.report import CellData, Check, format_table, load_results
from decisiongym.harness.reproductions import Analysis, Reproduction
from decisiongym.harness.reproductions.sutton_barto import _plot

MOVED_GOAL = (1, 6)
FEUDAL = AgentSetting("feudal-q", {"temperature": 0.3}, label="feudal Q-learning")
FLAT = AgentSetting("softmax-q", {"temperature": 0.3}, label="flat Q-learning")
EARLY = 10  # trials
LATE = (40, 150)  # trials counted as "later" (fewer if a run finished fewer)


@dataclass(frozen=True)
class FeudalExperiment(Experiment):
    """Cells: each agent on the maze, and each agent on the maze whose goal moves."""

    move_after: int = 0

    def cells(self) -> list[Cell]:
        envs = [EnvSetting("decisiongym/FeudalMaze-v0", {}, label="feudal-maze"),
                EnvSetting("decisiongym/FeudalMaze-v0",
                           {"moved_goal": MOVED_GOAL, "move_after": self.move_after},
                           label="feudal-maze, goal moved")]
        return [Cell(env, agent, self.seeds, self.seed, self.horizon, self.resources)
                for env in envs for agent in self.agents]

    def validate(self) -> None:
        from decisiongym.harness.experiment import ExperimentError

        if self.seeds < 1 or not 0 < self.move_after < self.horizon:
            raise ExperimentError(f"{self.name}: seeds >= 1 and 0 < move_after < horizon")


def experiment(quick: bool) -> Experiment:
    if quick:
        return FeudalExperiment("feudal-quick", [], [FEUDAL, FLAT], horizon=9000, seeds=4,
                                seed=0, move_after=6000)
    return FeudalExperiment("feudal", [], [FEUDAL, FLAT], horizon=30_000, seeds=40, seed=0,
                            move_after=20_000)


def _mean_ci(x: np.ndarray) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    if x.size < 2:
        return float(x.mean()) if x.size else float("nan"), 0.0
    return float(x.mean()), float(1.96 * x.std(ddof=1) / np.sqrt(x.size))


def _trials(d: CellData, lo: int, hi: int) -> np.ndarray:
    return np.nanmean(d.arrays["episode_length"].astype(np.float64)[lo:hi], axis=0)


def analyse(exp: Experiment, out: Path) -> Analysis:
    results = load_results(exp, out)
    fixed = {d.cell.agent.display: d for d in results if "moved_goal" not in d.cell.env.kwargs}
    moved = {d.cell.agent.display: d for d in results if "moved_goal" in d.cell.env.kwargs}
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
    _plot(curves, out / "plots" / "feudal_steps_per_trial.png", xlabel="trial",
          ylabel="steps to the goal (mean over runs)", log_y=True,
          title="Feudal maze: feudal vs flat Q-learning")
    f, q = FEUDAL.display, FLAT.display
    checks = [
        Check(f"feudal Q-learning is slower at first (mean steps, first {EARLY} trials)",
              "feudal > flat", f"feudal {stats[f]['early'][0]:.0f}, flat "
              f"{stats[q]['early'][0]:.0f}", stats[f]["early"][0] > stats[q]["early"][0]),
        Check(f"feudal Q-learning is faster later (mean steps, trials {late[0] + 1}-{late[1]})",
              "feudal < flat", f"feudal {stats[f]['late'][0]:.1f}, flat "
              f"{stats[q]['late'][0]:.1f}", stats[f]["late"][0] < stats[q]["late"][0]),
        Check("after the goal moves, feudal Q-learning relearns it (mean steps, first vs "
              f"last {EARLY} trials after the move)", "last < first / 2",
              f"{after[f][0]:.0f} -> {after_last[f][0]:.1f} (flat: {after[q][0]:.0f} -> "
              f"{after_last[q][0]:.1f})", after_last[f][0] < after[f][0] / 2),
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
)
