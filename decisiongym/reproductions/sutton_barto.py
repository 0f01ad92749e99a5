"""Sutton & Barto (2018), *Reinforcement Learning: An Introduction*, 2nd ed. (seed 5.3.7-5.3.8
and 5.3.11): ``decisiongym reproduce sutton-barto [--quick]``.

Three of the book's experiments, each run as harness cells (the env's own step budget):

- **Example 6.2** (random walk, 5 states, V initialised to 0.5, true values 1/6 .. 5/6): the RMS
  error of TD(0) (alpha 0.05, 0.1, 0.15) and constant-alpha MC (every-visit, the book's eq.
  6.1; alpha 0.01 .. 0.04) over the
  first 100 episodes, averaged over 100 runs. The book: TD is consistently better than MC;
  TD's error at 100 episodes is about 0.05-0.1, MC's about 0.1-0.15 (Figure 6.2, right).
- **Example 6.6** (cliff walking, epsilon = 0.1, alpha = 0.5): Q-learning learns the optimal
  path along the cliff (return -13) but, exploring, falls off now and then; SARSA learns the
  safer path and gets the higher online return (Figure 6.4: about -25 for SARSA and -50 for
  Q-learning per episode).
- **Example 8.1** (Dyna maze, 6 x 9, reward +1 at the goal, gamma 0.95, alpha 0.1, epsilon 0.1,
  30 runs): steps per episode for n = 0, 5, 50 planning steps. The book: n = 0 needs about 25
  episodes to reach (epsilon-)optimal performance, n = 5 about 5, n = 50 about 3 (Figure 8.2).

The whole grid would pair every agent with every task; this experiment keeps only the book's
pairs (:class:`StudyExperiment`), each with its own step budget.
"""

from __future__ import annotations

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
    pyplot,
    save_figure,
)
from decisiongym.reproductions import Analysis, Part, Reproduction, StudyExperiment

WALK = EnvSetting("decisiongym/RandomWalk-v0", {"n_states": 5}, label="random-walk")
CLIFF = EnvSetting("decisiongym/Maze-v0", {"layout": "cliff"}, label="cliff-walking")
DYNA = EnvSetting("decisiongym/Maze-v0", {"layout": "dyna"}, label="dyna-maze")

TD_ALPHAS = (0.05, 0.1, 0.15)
MC_ALPHAS = (0.01, 0.02, 0.03, 0.04)
PLANNING = (0, 5, 50)
#: Steps per episode counted as (epsilon-)optimal on the Dyna maze: the shortest path is 14;
#: epsilon = 0.1 exploration adds a few steps on average.
DYNA_NEAR_OPTIMAL = 20.0


def parts(quick: bool) -> tuple[Part, ...]:
    walk = (*[AgentSetting("td0", {"alpha": a, "initial_value": 0.5}) for a in TD_ALPHAS],
            *[AgentSetting("mc-prediction", {"alpha": a, "initial_value": 0.5,
                                             "first_visit": False}) for a in MC_ALPHAS])
    cliff = tuple(AgentSetting(name, {"alpha": 0.5, "epsilon": 0.1})
                  for name in ("sarsa", "q-learning"))
    dyna = tuple(AgentSetting("dyna-q", {"n_planning": n, "alpha": 0.1, "epsilon": 0.1,
                                         "gamma": 0.95}) for n in PLANNING)
    if quick:
        return (Part(WALK, walk, 1500, 30), Part(CLIFF, cliff, 6000, 10),
                Part(DYNA, dyna, 5000, 10))
    return (Part(WALK, walk, 2000, 100), Part(CLIFF, cliff, 20000, 50),
            Part(DYNA, dyna, 8000, 30))


def experiment(quick: bool = False) -> Experiment:
    return StudyExperiment.from_parts("sutton-barto" + ("-quick" if quick else ""), parts(quick),
                                      seed=2018)


def _by_env(results: list[CellData], env: EnvSetting) -> list[CellData]:
    return [d for d in results if d.cell.env == env]


def _complete(values: np.ndarray, share: float = 1.0) -> np.ndarray:
    """The leading episodes that at least ``share`` of the runs finished, (E, n) (NaN for the
    runs that did not)."""
    finished = np.isfinite(values).mean(axis=1) >= share
    stop = int(np.argmin(finished)) if not finished.all() else finished.size
    return np.asarray(values[:stop], dtype=np.float64)


def _plot(curves: dict[str, np.ndarray], path: Path, *, xlabel: str, ylabel: str, title: str,
          first_episode: int = 1, log_y: bool = False) -> Path:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label, values in curves.items():
        x = np.arange(first_episode, first_episode + values.size)
        ax.plot(x, values, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
    return path


def _smooth(values: np.ndarray, width: int = 10) -> np.ndarray:
    if values.size < width:
        return values
    kernel = np.ones(width) / width
    return np.convolve(values, kernel, mode="valid")


def analyse(exp: Experiment, out: Path, quick: bool) -> Analysis:
    results = load_results(exp, out)
    checks: list[Check] = []
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}

    # --- Example 6.2: TD(0) against constant-alpha MC on the random walk --------------------
    walk = _by_env(results, WALK)
    errors = {f"{'TD(0)' if d.cell.agent.name == 'td0' else 'MC'} alpha="
              f"{d.cell.agent.params['alpha']:g}": _complete(d.arrays["value_error"])
              for d in walk}
    episodes = min(100, *(e.shape[0] for e in errors.values()))
    at_end = {label: float(e[episodes - 1].mean()) for label, e in errors.items()}
    td = {k: v for k, v in at_end.items() if k.startswith("TD")}
    mc = {k: v for k, v in at_end.items() if k.startswith("MC")}
    _plot({k: e[:episodes].mean(axis=1) for k, e in errors.items()},
          out / "plots" / "sutton_barto_example_6_2_random_walk.png", xlabel="episodes",
          ylabel="RMS error (averaged over states and runs)",
          title="Example 6.2: random walk, TD(0) vs constant-alpha MC")
    checks.append(Check(
        f"Example 6.2: after {episodes} episodes every TD(0) alpha has lower RMS error than "
        "every MC alpha", "TD consistently better than MC",
        f"TD worst {max(td.values()):.3f}, MC best {min(mc.values()):.3f}",
        max(td.values()) < min(mc.values()), runs=min(d.cell.seeds for d in walk)))
    checks.append(Check(
        f"Example 6.2: TD(0) RMS errors after {episodes} episodes in the book's range",
        "about 0.05-0.1 (read off Figure 6.2; our best alpha may go lower)",
        f"{min(td.values()):.3f} to {max(td.values()):.3f}",
        0.02 <= min(td.values()) and max(td.values()) <= 0.11,
        runs=min(d.cell.seeds for d in walk)))
    rows.append({"experiment": "6.2 random walk", "measure": f"RMS error, episode {episodes}",
                 "book": "TD 0.05-0.1 < MC 0.1-0.15",
                 "ours": ", ".join(f"{k.replace(' alpha=', ' ')} {v:.3f}"
                                   for k, v in at_end.items())})
    extra["example_6_2_rms_error"] = at_end

    # --- Example 6.6: SARSA against Q-learning on cliff walking --------------------------------
    cliff = {d.cell.agent.name: d for d in _by_env(results, CLIFF)}
    returns = {name: _complete(d.arrays["episode_return"]) for name, d in cliff.items()}
    n_ep = min(500, *(r.shape[0] for r in returns.values()))
    skip = min(100, n_ep // 5)
    online = {name: float(r[skip:n_ep].mean()) for name, r in returns.items()}
    final_greedy = {name: float(np.nanmean(_last_finite(d.arrays["greedy_optimal"])))
                    for name, d in cliff.items()}
    cliff_runs = min(d.cell.seeds for d in cliff.values())
    # Per-run online return, SARSA minus Q-learning (same seeds), and its bootstrap interval.
    online_low, online_high = bootstrap_mean_ci(
        returns["sarsa"][skip:n_ep].mean(axis=0)[:cliff_runs]
        - returns["q-learning"][skip:n_ep].mean(axis=0)[:cliff_runs])
    _plot({name: _smooth(r[:n_ep].mean(axis=1)) for name, r in returns.items()},
          out / "plots" / "sutton_barto_example_6_6_cliff_walking.png", xlabel="episodes",
          ylabel="sum of rewards during episode (mean over runs, 10-episode average)",
          title="Example 6.6: cliff walking, SARSA vs Q-learning (epsilon = 0.1)")
    checks.append(Check(
        f"Example 6.6: SARSA's online return beats Q-learning's (episodes {skip + 1}-{n_ep})",
        "SARSA about -25, Q-learning about -50",
        f"SARSA {online['sarsa']:.1f}, Q-learning {online['q-learning']:.1f}",
        online["sarsa"] > online["q-learning"], runs=cliff_runs,
        interval=[float(online_low), float(online_high)]))
    checks.append(Check(
        "Example 6.6: Q-learning's greedy policy is the optimal path (return -13)",
        "optimal in (nearly) every run", f"{final_greedy['q-learning']:.0%} of runs",
        final_greedy["q-learning"] >= 0.8, runs=cliff["q-learning"].cell.seeds))
    checks.append(Check(
        "Example 6.6: SARSA's greedy policy is the safer, longer path (not the optimal one)",
        "safe path in most runs", f"optimal in {final_greedy['sarsa']:.0%} of runs",
        final_greedy["sarsa"] <= 0.5, runs=cliff["sarsa"].cell.seeds))
    rows.append({"experiment": "6.6 cliff walking",
                 "measure": f"online return per episode, episodes {skip + 1}-{n_ep}",
                 "book": "SARSA ~ -25, Q-learning ~ -50",
                 "ours": f"SARSA {online['sarsa']:.1f}, Q-learning {online['q-learning']:.1f}"})
    rows.append({"experiment": "6.6 cliff walking", "measure": "greedy policy optimal at end",
                 "book": "Q-learning yes, SARSA no (safe path)",
                 "ours": f"Q-learning {final_greedy['q-learning']:.0%}, "
                         f"SARSA {final_greedy['sarsa']:.0%} of runs"})
    reached = np.nanmedian(cliff["q-learning"].arrays["episodes_to_optimal"])
    rows.append({"experiment": "6.6 cliff walking",
                 "measure": "episodes until Q-learning's greedy policy is optimal (median)",
                 "book": "-", "ours": f"{reached:.0f}"})
    extra["example_6_6_online_return"] = online
    extra["example_6_6_q_learning_episodes_to_optimal"] = float(reached)
    extra["example_6_6_greedy_optimal_share"] = final_greedy

    # --- Example 8.1: Dyna-Q with 0, 5, 50 planning steps on the Dyna maze -------------------
    dyna = {int(d.cell.agent.params["n_planning"]): d for d in _by_env(results, DYNA)}
    # A run without planning may still be in an early long episode: average the finished ones.
    lengths = {n: _complete(d.arrays["episode_length"], 0.8) for n, d in dyna.items()}
    n_dyna = min(50, *(v.shape[0] for v in lengths.values()))
    mean_steps = {n: np.nanmean(v[:n_dyna], axis=1) for n, v in lengths.items()}
    _plot({f"{n} planning steps": m[1:] for n, m in mean_steps.items()},
          out / "plots" / "sutton_barto_example_8_1_dyna_maze.png", xlabel="episodes",
          ylabel="steps per episode (mean over runs)", first_episode=2, log_y=True,
          title="Example 8.1: Dyna maze, Dyna-Q with n planning steps")
    reach = {n: _first_at_most(m, DYNA_NEAR_OPTIMAL) for n, m in mean_steps.items()}
    book_reach = {0: 25, 5: 5, 50: 3}
    ordered = reach[50] <= reach[5] < reach[0]
    checks.append(Check(
        "Example 8.1: more planning reaches near-optimal episodes sooner (n = 50, 5, 0)",
        "about 3, 5 and 25 episodes", "; ".join(f"n={n}: {_episode_text(reach[n], n_dyna)}"
                                                for n in PLANNING), ordered,
        runs=min(d.cell.seeds for d in dyna.values())))
    checks.append(Check(
        "Example 8.1: with 50 planning steps the path is found within about three episodes",
        f"<= {DYNA_NEAR_OPTIMAL:g} steps by episode 3-4", _episode_text(reach[50], n_dyna),
        reach[50] <= 4, runs=dyna[50].cell.seeds))
    second = {n: float(m[1]) for n, m in mean_steps.items()}
    for n in PLANNING:
        rows.append({"experiment": "8.1 Dyna maze", "measure": f"n = {n}: episode reaching "
                     f"<= {DYNA_NEAR_OPTIMAL:g} steps; steps in episode 2",
                     "book": f"about {book_reach[n]}",
                     "ours": f"{_episode_text(reach[n], n_dyna)}; {second[n]:.0f}"})
    extra["example_8_1_mean_steps"] = {str(n): m.tolist() for n, m in mean_steps.items()}

    table = format_table(rows, [("experiment", "experiment"), ("measure", "measure"),
                                ("book", "book (2nd ed.)"), ("ours", "ours")])
    text = (f"Sutton & Barto (2018), reproduced ({exp.name}):\n{table}\n"
            "Runs per part: " + ", ".join(f"{p.env.name} {p.seeds} runs x {p.horizon} steps"
                                          for p in getattr(exp, "parts", ())))
    return Analysis(checks, text, extra)


def _last_finite(values: np.ndarray) -> np.ndarray:
    """Per run, the last finished episode's entry."""
    finite = np.isfinite(values)
    last = values.shape[0] - 1 - np.argmax(finite[::-1], axis=0)
    return np.asarray(values[last, np.arange(values.shape[1])])


def _first_at_most(curve: np.ndarray, threshold: float) -> float:
    """The first episode (1-based) from which the curve stays at or below ``threshold``."""
    above = np.flatnonzero(curve > threshold)
    if above.size == 0:
        return 1.0
    if above[-1] == curve.size - 1:
        return float("inf")
    return float(above[-1] + 2)


def _episode_text(episode: float, available: int) -> str:
    return f"after > {available} episodes" if np.isinf(episode) else f"episode {episode:.0f}"


REPRODUCTION = Reproduction(
    name="sutton-barto",
    summary="Sutton & Barto (2018): Examples 6.2 (TD vs MC), 6.6 (SARSA vs Q-learning), "
            "8.1 (Dyna-Q)",
    experiment=experiment,
    analyse=analyse,
    aggregate=False,
)
