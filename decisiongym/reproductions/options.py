"""Sutton, Precup & Singh (1999), "Between MDPs and semi-MDPs" (Dobriban, *Notes for Stat 991:
Topics in Deep Learning*, 2019, section 5.3.12, item 5): ``decisiongym reproduce options
[--quick]``.

On their four-room gridworld (``FourRooms-v0``: 104 cells, moves succeed with probability 2/3,
+1 on reaching the goal hallway (7, 9), their G1, gamma 0.9):

- **Planning** (their figure of the value functions over the iterations of synchronous value
  iteration, primitive options above, hallway options below, section 3): SMDP value iteration
  from v = 0 with the primitive actions alone and with the eight hallway options added; the
  measure is how many iterations the value needs to reach every state (v > 0 everywhere) and to
  come within 1% of v*.
- **Learning** (their SMDP Q-learning setting on the rooms: alpha = 1/8, epsilon = 0.1): steps
  per episode for flat Q-learning (SMDP Q-learning over the primitive actions), SMDP Q-learning
  with the primitives and hallway options, and intra-option Q-learning with the same options,
  mean over runs with a 95% interval (normal approximation).

**Their numbers beside ours.** The planning figure shows, with the primitive options, the value
spreading one cell per iteration from the goal ("cell-by-cell"), and with the hallway options
one room per iteration, every cell having a value after the second iteration ("room-by-room").
Both are checked exactly (runs = 1): after k iterations with the primitives the states with
v > 0 are exactly those within k moves of the goal (k = 1..12), and with the hallway options
every state has v > 0 after 2 iterations (the goal hallway borders two rooms: iteration 1 gives
those two rooms a value, iteration 2 the other two). Their learning curves (steps per episode on
a log scale, averaged over runs and over groups of 10 episodes) show the options ahead of the
primitives in the early episodes; the figure's values are not compared (its axes are
logarithmic and our runs are not averaged over their groups of episodes), its ordering is.

**Checks and the statistic that decides each**: the planning checks are exact (runs = 1); the
learning checks compare each learner with options against flat Q-learning on each run's mean
steps over the first 20 episodes (6 runs at ``--quick``, 30 at full size; the learners share
their seeds, so the differences are paired by run): the 95% bootstrap interval of (options -
flat) lies below 0.

**Margins** at ``--quick`` over the base seeds 0 (the default), 1000 and 2000: the high end of
the interval of (SMDP with options - flat) -205 / -156 / -165 steps per episode, of
(intra-option - flat) -178 / -152 / -162 (flat Q-learning takes 220-260 steps per episode over
its first 20 episodes, the learners with options 30-50); at full size (base seed 0) the
intervals are [-229, -180] and [-215, -163]. The planning numbers are the same on every seed: 14
iterations with the primitives, 2 with the hallway options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment
from decisiongym.harness.metrics import difference_interval
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
#: Their planning figure: with the hallway options every cell has a value after two iterations.
PUBLISHED_HALLWAY_ITERATIONS = 2


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
    moves = _moves_to_goal(p, u.model.terminal)
    out["cells_within_moves"] = [int((moves[nonterminal] <= k).sum()) for k in range(1, 13)]
    out["farthest_cell_moves"] = int(moves[nonterminal].max())
    out["nonterminal_cells"] = int(nonterminal.sum())
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


def _moves_to_goal(p: np.ndarray, terminal: np.ndarray) -> np.ndarray:
    """Fewest moves from each state to a terminal one along transitions of positive
    probability (breadth-first search backwards from the goal)."""
    reach = np.asarray((p > 0).any(axis=1))  # (S, S): s can move to s'
    moves = np.full(p.shape[0], np.inf)
    moves[terminal] = 0
    frontier = terminal.copy()
    k = 0
    while frontier.any():
        k += 1
        new = reach[:, frontier].any(axis=1) & ~np.isfinite(moves)
        moves[new] = k
        frontier = new
    return moves


def analyse(exp: Experiment, out: Path, quick: bool) -> Analysis:
    results = load_results(exp, out)
    plan = planning()
    curves, early, late, first = {}, {}, {}, {}
    for d in results:
        label = d.cell.agent.display
        length = d.arrays["episode_length"].astype(np.float64)
        n_ep = int(np.isfinite(length).sum(axis=0).min())
        curves[label] = length[:n_ep]  # (episodes, runs): the plot draws mean and band
        first[label] = np.nanmean(length[:EARLY], axis=0)
        early[label] = (float(first[label].mean()), float(
            1.96 * first[label].std(ddof=1) / np.sqrt(first[label].size))
            if first[label].size > 1 else 0.0)
        last = np.array([np.nanmean(c[np.isfinite(c)][-EARLY:]) for c in length.T])
        late[label] = float(last.mean())
    _plot({k: np.asarray(v) for k, v in curves.items()},
          out / "plots" / "options_learning_curves.png", xlabel="episode",
          ylabel="steps per episode (mean over runs, 95% band)", log_y=True,
          title="Four rooms: flat Q vs SMDP and intra-option Q-learning")
    flat, smdp, intra = (lab.display for lab in LEARNERS)
    runs = min(d.cell.seeds for d in results)
    reached, within = plan["primitive_reached_after"], plan["cells_within_moves"]
    checks = [
        Check("SMDP value iteration with the primitive options equals value iteration",
              "max |v - v*| < 1e-6", f"{plan['primitive_max_error']:.2e}",
              float(plan["primitive_max_error"]) < 1e-6, runs=1),
        Check("with the hallway options added the optimum is unchanged", "max |v - v*| < 1e-6",
              f"{plan['hallway_max_error']:.2e}",
              float(plan["hallway_max_error"]) < 1e-6, runs=1),
        Check("value iteration with the primitive options spreads the value cell by cell "
              "(their planning figure, above)",
              "after k iterations, v > 0 exactly on the cells within k moves of the goal "
              f"(k = 1..{len(within)}): {within}", f"{reached}", reached == within, runs=1),
        Check("with the hallway options the value reaches every cell in two iterations, room "
              "by room (their planning figure, below)",
              f"{PUBLISHED_HALLWAY_ITERATIONS} iterations",
              f"{plan['hallway_iterations_to_reach_all']} iterations (cells with v > 0 after "
              f"iterations 1, 2: {plan['hallway_reached_after'][:2]} of "
              f"{plan['nonterminal_cells']} cells)",
              int(plan["hallway_iterations_to_reach_all"]) == PUBLISHED_HALLWAY_ITERATIONS,
              runs=1),
        Check("hallway options carry the value across the rooms in fewer iterations",
              "fewer iterations until v > 0 everywhere than with primitives",
              f"{plan['hallway_iterations_to_reach_all']} vs "
              f"{plan['primitive_iterations_to_reach_all']}",
              int(plan["hallway_iterations_to_reach_all"])
              < int(plan["primitive_iterations_to_reach_all"]), runs=1),
    ]
    gaps = {}
    for label in (smdp, intra):
        gaps[label] = difference_interval(first[label][:runs], first[flat][:runs])
        checks.append(Check(
            f"options speed up early learning: {label} below flat Q-learning (steps per "
            f"episode, first {EARLY} episodes)", "95% interval of (options - flat) below 0",
            f"{label} {early[label][0]:.0f}, flat {early[flat][0]:.0f}", gaps[label][1] < 0,
            runs=runs, interval=gaps[label]))
    planning_rows = [
        {"what": "value iteration, primitives: iterations until every cell has v > 0",
         "published": "one cell per iteration (figure, above)",
         "ours": f"{plan['primitive_iterations_to_reach_all']} (the farthest cell is "
                 f"{plan['farthest_cell_moves']} moves away)"},
        {"what": "value iteration, hallway options: iterations until every cell has v > 0",
         "published": f"{PUBLISHED_HALLWAY_ITERATIONS}, room by room (figure, below)",
         "ours": f"{plan['hallway_iterations_to_reach_all']}"},
        {"what": "value iteration: iterations until within 1% of v* (primitives, hallway)",
         "published": "-", "ours": f"{plan['primitive_iterations_to_1pct']}, "
                                   f"{plan['hallway_iterations_to_1pct']}"},
        {"what": f"learning: steps per episode over the first {EARLY} episodes",
         "published": "options ahead of primitives early (learning figure)",
         "ours": "; ".join(f"{k} {v[0]:.0f}" for k, v in early.items())},
    ]
    rows = [{"method": k, "early": f"{v[0]:.1f} +- {v[1]:.1f}", "late": f"{late[k]:.1f}"}
            for k, v in early.items()]
    table = format_table(rows, [("method", "learner"),
                                ("early", f"steps/episode, first {EARLY} episodes (95% CI)"),
                                ("late", f"last {EARLY} episodes")])
    published = format_table(planning_rows, [("what", "measure"),
                                             ("published", "Sutton, Precup & Singh (1999)"),
                                             ("ours", "ours")])
    text = (f"Sutton, Precup & Singh (1999), four rooms ({exp.name}):\n{published}\n\n"
            f"{table}")
    extra = {"planning": plan, "early": early, "late": late,
             "early_difference_interval": gaps}
    return Analysis(checks, text, extra)


REPRODUCTION = Reproduction(
    name="options",
    summary="Sutton, Precup & Singh (1999): four rooms, SMDP value iteration with hallway "
            "options, SMDP and intra-option Q-learning vs flat Q",
    experiment=experiment,
    analyse=analyse,
)
