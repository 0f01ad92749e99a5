"""Sutton, Precup & Singh (1999), "Between MDPs and semi-MDPs" (seed 5.3.12, item 5):
``decisiongym reproduce options [--quick]``.

On their four-room gridworld (``FourRooms-v0``: moves succeed with probability 2/3, +1 on
reaching the goal hallway (7, 9), gamma 0.9):

- **Planning** (their Figure 5): synchronous SMDP value iteration from v = 0 with the primitive
  actions alone and with the eight hallway options added; the measure is how many iterations
  the value needs to reach every state (v > 0 everywhere) and to come within 1% of v*. With the
  hallway options the value crosses a room per iteration.
- **Learning** (their section 3 / Figure 8 setting: alpha = 1/8, epsilon = 0.1): steps per
  episode for flat Q-learning (SMDP Q-learning over the primitive actions), SMDP Q-learning with
  the primitives and hallway options, and intra-option Q-learning with the same options, mean
  over runs with a 95% interval (normal approximation).

The quick size runs a handful of seeds on a short budget (seconds); it checks the pipeline and
the planning findings, which are exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment
from decisiongym.harness.report import Check, format_table, load_results
from decisiongym.reproductions import Analysis, Reproduction
from decisiongym.reproductions.sutton_barto import _plot

ROOMS = EnvSetting("decisiongym/FourRooms-v0", {}, label="four-rooms")
LEARNERS = (
    AgentSetting("smdp-q", {"options": "primitive"}, label="flat Q-learning"),
    AgentSetting("smdp-q", {"options": "primitive+hallway"}, label="SMDP Q-learning, options"),
    AgentSetting("intra-option-q", {"options": "primitive+hallway"},
                 label="intra-option Q-learning, options"),
)
EARLY = 20  # episodes averaged for "early learning"


def experiment(quick: bool) -> Experiment:
    if quick:
        return Experiment("options-quick", [ROOMS], list(LEARNERS), horizon=6000, seeds=6,
                          seed=0)
    return Experiment("options", [ROOMS], list(LEARNERS), horizon=40_000, seeds=30, seed=0)


def planning() -> dict[str, Any]:
    """Value iteration with primitives, and with primitives plus hallway options."""
    import gymnasium as gym

    import decisiongym  # noqa: F401
    from decisiongym.agents.options import (
        hallway_options,
        primitive_options,
        smdp_value_iteration,
    )
    from decisiongym.theory import value_iteration

    env = gym.make("decisiongym/FourRooms-v0")
    u: Any = env.unwrapped
    p, r, g = u.transitions, u.rewards, float(u.gamma)
    v_star, _ = value_iteration(p, r, g)
    prim = primitive_options(p.shape[0], p.shape[1])
    out: dict[str, Any] = {"vi_difference_primitive_options": 0.0}
    nonterminal = ~u.model.terminal
    for label, opts in (("primitive", prim), ("hallway", prim + hallway_options(env))):
        v, _, iters, hist = smdp_value_iteration(p, r, g, opts, history=True)
        reach = next(i + 1 for i, h in enumerate(hist) if (h[nonterminal] > 0).all())
        close = next(i + 1 for i, h in enumerate(hist)
                     if (np.abs(h - v_star) <= 0.01 * np.abs(v_star) + 1e-12).all())
        out[f"{label}_iterations_to_reach_all"] = reach
        out[f"{label}_iterations_to_1pct"] = close
        out[f"{label}_iterations_to_converge"] = iters
        out[f"{label}_max_error"] = float(np.abs(v - v_star).max())
        out[f"{label}_reached_after"] = [int((h[nonterminal] > 0).sum()) for h in hist[:12]]
    return out


def analyse(exp: Experiment, out: Path, quick: bool) -> Analysis:
    results = load_results(exp, out)
    plan = planning()
    curves, early, late = {}, {}, {}
    for d in results:
        label = d.cell.agent.display
        length = d.arrays["episode_length"].astype(np.float64)
        n_ep = int(np.isfinite(length).sum(axis=0).min())
        curves[label] = np.nanmean(length[:n_ep], axis=1)
        first = np.nanmean(length[:EARLY], axis=0)
        early[label] = (float(first.mean()), float(1.96 * first.std(ddof=1) / np.sqrt(
            first.size)) if first.size > 1 else 0.0)
        last = np.array([np.nanmean(c[np.isfinite(c)][-EARLY:]) for c in length.T])
        late[label] = float(last.mean())
    _plot({k: np.asarray(v) for k, v in curves.items()},
          out / "plots" / "options_learning_curves.png", xlabel="episode",
          ylabel="steps per episode (mean over runs)", log_y=True,
          title="Four rooms: flat Q vs SMDP and intra-option Q-learning")
    flat, smdp, intra = (lab.display for lab in LEARNERS)
    checks = [
        Check("SMDP value iteration with the primitive options equals value iteration",
              "max |v - v*| < 1e-6", f"{plan['primitive_max_error']:.2e}",
              float(plan["primitive_max_error"]) < 1e-6, runs=1),
        Check("with the hallway options added the optimum is unchanged", "max |v - v*| < 1e-6",
              f"{plan['hallway_max_error']:.2e}",
              float(plan["hallway_max_error"]) < 1e-6, runs=1),
        Check("hallway options carry the value across the rooms in fewer iterations",
              "fewer iterations until v > 0 everywhere than with primitives",
              f"{plan['hallway_iterations_to_reach_all']} vs "
              f"{plan['primitive_iterations_to_reach_all']}",
              int(plan["hallway_iterations_to_reach_all"])
              < int(plan["primitive_iterations_to_reach_all"]), runs=1),
        Check(f"options speed up early learning (steps per episode, first {EARLY} episodes)",
              "SMDP and intra-option Q with options below flat Q",
              f"flat {early[flat][0]:.0f}, SMDP {early[smdp][0]:.0f}, "
              f"intra-option {early[intra][0]:.0f}",
              early[smdp][0] < early[flat][0] and early[intra][0] < early[flat][0],
              runs=min(d.cell.seeds for d in results)),
    ]
    rows = [{"method": k, "early": f"{v[0]:.1f} +- {v[1]:.1f}", "late": f"{late[k]:.1f}"}
            for k, v in early.items()]
    table = format_table(rows, [("method", "learner"),
                                ("early", f"steps/episode, first {EARLY} episodes (95% CI)"),
                                ("late", f"last {EARLY} episodes")])
    text = (f"Sutton, Precup & Singh (1999), four rooms ({exp.name}):\n"
            f"value iteration: iterations until every state has v > 0: primitives "
            f"{plan['primitive_iterations_to_reach_all']}, with hallway options "
            f"{plan['hallway_iterations_to_reach_all']}; until within 1% of v*: "
            f"{plan['primitive_iterations_to_1pct']} vs {plan['hallway_iterations_to_1pct']}\n"
            f"{table}")
    extra = {"planning": plan, "early": early, "late": late}
    return Analysis(checks, text, extra)


REPRODUCTION = Reproduction(
    name="options",
    summary="Sutton, Precup & Singh (1999): four rooms, SMDP value iteration with hallway "
            "options, SMDP and intra-option Q-learning vs flat Q",
    experiment=experiment,
    analyse=analyse,
)
