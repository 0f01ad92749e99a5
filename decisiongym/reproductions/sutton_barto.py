"""Sutton & Barto (2018), *Reinforcement Learning: An Introduction*, 2nd ed. (Dobriban, *Notes
for Stat 991: Topics in Deep Learning*, 2019, sections 5.3.7-5.3.8 and 5.3.11):
``decisiongym reproduce sutton-barto [--quick]``.

Three of the book's experiments, each run as harness cells (the env's own step budget):

- **Example 6.2** (random walk, 5 states, V initialised to 0.5, true values 1/6 .. 5/6): the RMS
  error of TD(0) (alpha 0.05, 0.1, 0.15) and constant-alpha MC (every-visit, the book's eq.
  6.1; alpha 0.01 .. 0.04) over the first 100 episodes, averaged over 100 runs (Figure 6.2,
  right).
- **Example 6.6** (cliff walking, epsilon = 0.1, alpha = 0.5): Q-learning learns the optimal
  path along the cliff (return -13) but, exploring, falls off now and then; SARSA learns the
  safer path and gets the higher online return (Figure 6.4).
- **Example 8.1** (Dyna maze, 6 x 9, reward +1 at the goal, gamma 0.95, alpha 0.1, epsilon 0.1,
  30 runs): steps per episode for n = 0, 5, 50 planning steps (Figure 8.2).

The whole grid would pair every agent with every task; this experiment keeps only the book's
pairs (:class:`StudyExperiment`), each with its own step budget.

**The book's numbers beside ours.** The book prints no table for these examples, so its numbers
come from two places. (a) Read off a figure, approximately: Figure 6.2 (right), the RMS error
at the right end (episode 100) of each curve (:data:`BOOK_6_2`; the axis runs 0-0.25 and the
curves, means of 100 runs, wobble; the tolerance +-0.03, an eighth of the axis, allows for the
reading and the wobble); Figure 6.4, the plateau of the online sum of rewards per episode, SARSA
about -25 and Q-learning about -50 (:data:`BOOK_6_6`; ticks 25 apart, the curves wobble by a
few units; tolerance +-5). (b) Stated in the text of Example 8.1: the
agent without planning takes about 25 episodes to reach (epsilon-)optimal performance, n = 5
about 5, n = 50 about 3 (:data:`BOOK_8_1`; tolerance a factor 1.5 either way, since "about" and
"optimal performance" are not defined further: ours is the first episode whose steps, averaged
over the runs, are at most :data:`DYNA_NEAR_OPTIMAL`); the shortest path is 14 steps (exact).
Each goes in the printed table (columns "book", "source", "tolerance") with a check.

**Checks and the statistic that decides each** (runs: 100 / 50 / 10 at ``--quick``, 100 / 50 /
30 at full size; the cells of one example share their seeds, so differences are paired by run;
intervals are percentile bootstraps over the runs, 2000 resamples, 1000 for Example 8.1):

- 6.2 "TD consistently better than MC": each run's RMS error averaged over episodes 1-100; the
  95% interval of (best MC alpha - worst TD alpha) lies above 0. (At episode 100 alone the worst
  TD alpha, 0.15, and the best MC alpha, 0.02, differ by about 0.01 and the paired interval of
  100 runs touches 0 on one of the three base seeds below: the table shows those numbers, the
  check is on the curve.)
- 6.2 each of the seven curves at episode 100 within 0.03 of the book's reading (mean over the
  runs; its interval reported).
- 6.6 SARSA's online return above Q-learning's over the plateau (:data:`PLATEAU`: episodes
  201-500, or as many as every run finished): the interval of the paired difference lies above
  0; each within 5 of the book's plateau (mean over runs, interval reported).
- 6.6 greedy policies at the end (count rules): Q-learning's optimal in at least 80% of the runs,
  SARSA's not optimal (the safe path) in at least half.
- 8.1 more planning is faster: the bootstrap interval (runs resampled together for the three n)
  of the difference of the episodes reaching near-optimal steps lies above 0, for n = 0 against
  n = 5 and for n = 5 against n = 50; each within a factor 1.5 of the book's; the maze's shortest
  path is 14 steps (runs = 1, exact).

**Margins** at ``--quick`` over the base seeds 2018 (the default), 3018 and 4018:
6.2 the low end of the (best MC - worst TD) interval 0.042 / 0.041 / 0.042 (needs > 0); at
episode 100 the closest readings are MC alpha 0.01 (book 0.12, ours 0.099 / 0.097 / 0.097:
0.009 / 0.007 / 0.007 inside the tolerance) and MC alpha 0.02 (book 0.10, ours 0.082 / 0.079 /
0.079: 0.012 / 0.009 / 0.009 inside), the other five 0.015 or more inside. Ours lie below the
readings for every MC alpha and for TD alpha 0.05 (0.035-0.038 against 0.05): our every-visit MC
matches a 1000-run simulation of the book's eq. 6.1 (alpha 0.01: 0.097), so either the readings
are high or the book's curves (100 runs) are; first-visit MC would give 0.128 for alpha 0.01.
6.6 the low end of the (SARSA - Q) interval 22.4 / 21.3 / 20.9; SARSA's plateau -26.1 / -27.2 /
-27.5 (2.5 or more inside the +-5), Q-learning's -50.1 / -50.6 / -50.3; greedy policies 50 of
50 runs (Q-learning optimal, SARSA not) on every seed. 8.1 first episode with mean steps <= 20:
n = 0: 28 / 28 / 29 (book 25, tolerance 16.7-37.5), n = 5: 6 / 5 / 6 (book 5, 3.3-7.5), n =
50: 3 / 3 / 3 (book 3, 2-4.5); the low ends of the difference intervals: n = 0 - n = 5:
17 / 19 / 17, n = 5 - n = 50: 2 / 2 / 1. At full size (base seed 2018) every check passes: the
random walk is the same 100 runs; SARSA -26.1 [-26.9, -25.3], Q-learning -50.4 [-51.7, -49.2]
over episodes 201-500; Dyna n = 0, 5, 50: episodes 29 [26, 30], 6 [6, 6], 3 [3, 3].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from decisiongym.envs.mdp import LAYOUTS, shortest_path_length
from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment
from decisiongym.harness.metrics import bootstrap_mean_ci, difference_interval, nan_mean_band
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
#: epsilon = 0.1 exploration adds two to four steps on average (episodes 40-50: 16-18).
DYNA_NEAR_OPTIMAL = 20.0

#: Figure 6.2 (right): RMS error after 100 episodes, read off the figure; by (agent, alpha).
BOOK_6_2: dict[tuple[str, float], float] = {
    ("td0", 0.05): 0.05, ("td0", 0.1): 0.06, ("td0", 0.15): 0.08,
    ("mc-prediction", 0.01): 0.12, ("mc-prediction", 0.02): 0.10,
    ("mc-prediction", 0.03): 0.10, ("mc-prediction", 0.04): 0.11,
}
BOOK_6_2_TOLERANCE = 0.03
#: Figure 6.4: the plateau of the online sum of rewards per episode, read off the figure.
BOOK_6_6 = {"sarsa": -25.0, "q-learning": -50.0}
BOOK_6_6_TOLERANCE = 5.0
#: The episodes over which the online returns are compared: Figure 6.4 runs to episode 500; our
#: SARSA still improves up to about episode 250 (about -32 over episodes 101-150, -27 over
#: 151-250, -26 after), so the plateau is taken from episode 201 on.
PLATEAU = (201, 500)
#: Example 8.1's text: episodes to reach (epsilon-)optimal performance, by planning steps.
BOOK_8_1 = {0: 25, 5: 5, 50: 3}
BOOK_8_1_FACTOR = 1.5
#: Example 8.1 / Figure 8.2: the shortest path through the Dyna maze.
BOOK_DYNA_SHORTEST = 14
#: Bootstrap resamples of the Dyna runs.
N_BOOT = 1000


def parts(quick: bool) -> tuple[Part, ...]:
    walk = (*[AgentSetting("td0", {"alpha": a, "initial_value": 0.5}) for a in TD_ALPHAS],
            *[AgentSetting("mc-prediction", {"alpha": a, "initial_value": 0.5,
                                             "first_visit": False}) for a in MC_ALPHAS])
    cliff = tuple(AgentSetting(name, {"alpha": 0.5, "epsilon": 0.1})
                  for name in ("sarsa", "q-learning"))
    dyna = {n: AgentSetting("dyna-q", {"n_planning": n, "alpha": 0.1, "epsilon": 0.1,
                                       "gamma": 0.95}) for n in PLANNING}
    # Planning is what costs: n = 0 and n = 5 get a budget long enough for every run to finish
    # 50 episodes (the first episode alone takes 50-3,600 steps; n = 0 then needs 3,000-6,500
    # more), n = 50 a shorter one (1,000-4,000 steps for 50 episodes).
    if quick:
        return (Part(WALK, walk, 1500, 100), Part(CLIFF, cliff, 15000, 50),
                Part(DYNA, (dyna[0], dyna[5]), 8000, 10), Part(DYNA, (dyna[50],), 4000, 10))
    return (Part(WALK, walk, 2000, 100), Part(CLIFF, cliff, 20000, 50),
            Part(DYNA, (dyna[0], dyna[5]), 20000, 30), Part(DYNA, (dyna[50],), 8000, 30))


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
          first_episode: int = 1, log_y: bool = False, smooth: int = 1) -> Path:
    """Each curve (episodes, runs): the mean over runs with its bootstrap 95% band; ``smooth``
    averages each run over that many consecutive episodes first."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label, values in curves.items():
        runs = np.asarray(values, dtype=np.float64)
        if smooth > 1 and runs.shape[0] >= smooth:
            # The moving average of each run (column) over ``smooth`` episodes.
            totals = np.cumsum(np.vstack([np.zeros((1, runs.shape[1])), runs]), axis=0)
            runs = (totals[smooth:] - totals[:-smooth]) / smooth
        mean, low, high = nan_mean_band(runs)
        x = np.arange(first_episode, first_episode + mean.size) + (smooth - 1 if smooth > 1
                                                                   else 0)
        (line,) = ax.plot(x, mean, label=label, lw=1.2)
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return path


def _ci(values: np.ndarray) -> list[float]:
    low, high = bootstrap_mean_ci(values)
    return [float(low), float(high)]


def _ours(mean: float, interval: list[float], digits: int) -> str:
    return f"{mean:.{digits}f} [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"


def _short(agent: AgentSetting) -> str:
    if agent.name == "dyna-q":
        return f"n={agent.params['n_planning']}"
    return f"{agent.name} {agent.params['alpha']:g}"


def _walk_label(d: CellData) -> str:
    name = "TD(0)" if d.cell.agent.name == "td0" else "MC"
    return f"{name} alpha={d.cell.agent.params['alpha']:g}"


def analyse(exp: Experiment, out: Path, quick: bool) -> Analysis:
    results = load_results(exp, out)
    checks: list[Check] = []
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    _example_6_2(_by_env(results, WALK), out, checks, rows, extra)
    _example_6_6(_by_env(results, CLIFF), out, checks, rows, extra)
    _example_8_1(_by_env(results, DYNA), out, checks, rows, extra)
    table = format_table(rows, [("experiment", "experiment"), ("measure", "measure"),
                                ("book", "book (2nd ed.)"), ("source", "source"),
                                ("tolerance", "tolerance"),
                                ("ours", "ours [95% interval]")])
    text = (f"Sutton & Barto (2018), reproduced ({exp.name}):\n{table}\n"
            "Runs per part: " + ", ".join(
                f"{p.env.name} ({', '.join(_short(a) for a in p.agents)}) {p.seeds} runs x "
                f"{p.horizon} steps" for p in getattr(exp, "parts", ())))
    return Analysis(checks, text, extra)


def _example_6_2(walk: list[CellData], out: Path, checks: list[Check],
                 rows: list[dict[str, Any]], extra: dict[str, Any]) -> None:
    """TD(0) against constant-alpha MC on the random walk."""
    errors = {_walk_label(d): _complete(d.arrays["value_error"]) for d in walk}
    keys = {_walk_label(d): (d.cell.agent.name, float(d.cell.agent.params["alpha"]))
            for d in walk}
    runs = min(d.cell.seeds for d in walk)
    episodes = min(100, *(e.shape[0] for e in errors.values()))
    at_end = {label: e[episodes - 1, :runs] for label, e in errors.items()}
    area = {label: e[:episodes, :runs].mean(axis=0) for label, e in errors.items()}
    _plot({k: e[:episodes, :runs] for k, e in errors.items()},
          out / "plots" / "sutton_barto_example_6_2_random_walk.png", xlabel="episodes",
          ylabel="RMS error (over states; mean over runs, 95% band)",
          title="Example 6.2: random walk, TD(0) vs constant-alpha MC")
    td = [k for k in errors if k.startswith("TD")]
    mc = [k for k in errors if k.startswith("MC")]
    worst_td = max(td, key=lambda k: float(area[k].mean()))
    best_mc = min(mc, key=lambda k: float(area[k].mean()))
    # The same seeds give the same walks to every agent: the difference is paired by run.
    gap = difference_interval(area[best_mc], area[worst_td])
    checks.append(Check(
        f"Example 6.2: TD(0) consistently better than MC (RMS error averaged over episodes "
        f"1-{episodes}, every TD alpha below every MC alpha)",
        "95% interval of (best MC - worst TD) above 0",
        f"worst TD ({worst_td}) {area[worst_td].mean():.3f}, best MC ({best_mc}) "
        f"{area[best_mc].mean():.3f}", gap[0] > 0, runs=runs, interval=gap))
    for label in errors:
        book = BOOK_6_2[keys[label]]
        mean = float(at_end[label].mean())
        interval = _ci(at_end[label])
        checks.append(Check(
            f"Example 6.2: {label}, RMS error at episode {episodes} beside Figure 6.2 (right)",
            f"{book:.2f} +- {BOOK_6_2_TOLERANCE:g} (read off the figure)", f"{mean:.3f}",
            abs(mean - book) <= BOOK_6_2_TOLERANCE, runs=runs, interval=interval))
        rows.append({"experiment": "6.2 random walk",
                     "measure": f"{label}: RMS error, episode {episodes}",
                     "book": f"{book:.2f}", "source": "Figure 6.2 right (read off)",
                     "tolerance": f"+-{BOOK_6_2_TOLERANCE:g}",
                     "ours": _ours(mean, interval, 3)})
    extra["example_6_2_rms_error"] = {k: float(v.mean()) for k, v in at_end.items()}
    extra["example_6_2_mean_rms_error_over_episodes"] = {k: float(v.mean())
                                                         for k, v in area.items()}


def _example_6_6(cells: list[CellData], out: Path, checks: list[Check],
                 rows: list[dict[str, Any]], extra: dict[str, Any]) -> None:
    """SARSA against Q-learning on cliff walking."""
    cliff = {d.cell.agent.name: d for d in cells}
    runs = min(d.cell.seeds for d in cliff.values())
    returns = {name: _complete(d.arrays["episode_return"])[:, :runs]
               for name, d in cliff.items()}
    n_ep = min(PLATEAU[1], *(r.shape[0] for r in returns.values()))
    skip = min(PLATEAU[0] - 1, n_ep // 2)
    per_run = {name: r[skip:n_ep].mean(axis=0) for name, r in returns.items()}
    online = {name: float(v.mean()) for name, v in per_run.items()}
    final_greedy = {name: _last_finite(d.arrays["greedy_optimal"])[:runs] > 0
                    for name, d in cliff.items()}
    gap = difference_interval(per_run["sarsa"], per_run["q-learning"])
    _plot({name: r[:n_ep] for name, r in returns.items()},
          out / "plots" / "sutton_barto_example_6_6_cliff_walking.png", smooth=10,
          xlabel="episodes (each point: the mean of 10 consecutive episodes)",
          ylabel="sum of rewards per episode",
          title="Example 6.6: cliff walking, SARSA vs Q-learning (epsilon = 0.1)")
    window = f"episodes {skip + 1}-{n_ep}"
    checks.append(Check(
        f"Example 6.6: SARSA's online return beats Q-learning's ({window})",
        "95% interval of (SARSA - Q-learning) above 0",
        f"SARSA {online['sarsa']:.1f}, Q-learning {online['q-learning']:.1f}",
        gap[0] > 0, runs=runs, interval=gap))
    for name, label in (("sarsa", "SARSA"), ("q-learning", "Q-learning")):
        book = BOOK_6_6[name]
        interval = _ci(per_run[name])
        checks.append(Check(
            f"Example 6.6: {label}'s online return per episode ({window}) beside Figure 6.4",
            f"{book:g} +- {BOOK_6_6_TOLERANCE:g} (read off the figure)",
            f"{online[name]:.1f}", abs(online[name] - book) <= BOOK_6_6_TOLERANCE, runs=runs,
            interval=interval))
        rows.append({"experiment": "6.6 cliff walking",
                     "measure": f"{label}: online return per episode, {window}",
                     "book": f"about {book:g}", "source": "Figure 6.4 (read off)",
                     "tolerance": f"+-{BOOK_6_6_TOLERANCE:g}",
                     "ours": _ours(online[name], interval, 1)})
    q_optimal = int(final_greedy["q-learning"].sum())
    sarsa_safe = int((~final_greedy["sarsa"]).sum())
    checks.append(Check(
        "Example 6.6: Q-learning's greedy policy is the optimal path (return -13)",
        "optimal in at least 80% of the runs", f"{q_optimal} of {runs} runs",
        q_optimal >= 0.8 * runs, runs=runs))
    checks.append(Check(
        "Example 6.6: SARSA's greedy policy is the safer, longer path (not the optimal one)",
        "not optimal in at least half of the runs", f"{sarsa_safe} of {runs} runs",
        sarsa_safe >= 0.5 * runs, runs=runs))
    rows.append({"experiment": "6.6 cliff walking", "measure": "greedy policy optimal at end",
                 "book": "Q-learning yes, SARSA no (safe path)", "source": "Example 6.6 text",
                 "tolerance": "count rule",
                 "ours": f"Q-learning {q_optimal} of {runs}, SARSA "
                         f"{runs - sarsa_safe} of {runs} runs"})
    reached = np.nanmedian(cliff["q-learning"].arrays["episodes_to_optimal"])
    rows.append({"experiment": "6.6 cliff walking",
                 "measure": "episodes until Q-learning's greedy policy is optimal (median)",
                 "book": "-", "source": "", "tolerance": "", "ours": f"{reached:.0f}"})
    extra["example_6_6_online_return"] = online
    extra["example_6_6_window"] = [skip + 1, n_ep]
    extra["example_6_6_q_learning_episodes_to_optimal"] = float(reached)
    extra["example_6_6_greedy_optimal_share"] = {k: float(v.mean())
                                                 for k, v in final_greedy.items()}


def _example_8_1(cells: list[CellData], out: Path, checks: list[Check],
                 rows: list[dict[str, Any]], extra: dict[str, Any]) -> None:
    """Dyna-Q with 0, 5 and 50 planning steps on the Dyna maze."""
    dyna = {int(d.cell.agent.params["n_planning"]): d for d in cells}
    runs = min(d.cell.seeds for d in dyna.values())
    # A run without planning may still be in an early long episode: average the finished ones.
    lengths = {n: _complete(d.arrays["episode_length"], 0.8)[:, :runs] for n, d in dyna.items()}
    n_dyna = min(50, *(v.shape[0] for v in lengths.values()))
    lengths = {n: v[:n_dyna] for n, v in lengths.items()}
    mean_steps = {n: np.nanmean(v, axis=1) for n, v in lengths.items()}
    _plot({f"{n} planning steps": v[1:] for n, v in lengths.items()},
          out / "plots" / "sutton_barto_example_8_1_dyna_maze.png", xlabel="episodes",
          ylabel="steps per episode (mean over runs, 95% band)", first_episode=2, log_y=True,
          title="Example 8.1: Dyna maze, Dyna-Q with n planning steps")
    reach = {n: _first_at_most(m, DYNA_NEAR_OPTIMAL, n_dyna) for n, m in mean_steps.items()}
    # Runs resampled together for the three n (they share seeds): the reach of each resample.
    picks = np.random.default_rng(0).integers(0, runs, size=(N_BOOT, runs))
    boot = {n: np.array([_first_at_most(np.nanmean(v[:, p], axis=1), DYNA_NEAR_OPTIMAL, n_dyna)
                         for p in picks]) for n, v in lengths.items()}

    def interval(values: np.ndarray) -> list[float]:
        low, high = np.quantile(values, [0.025, 0.975], method="inverted_cdf")
        return [float(low), float(high)]

    for slow, fast in ((0, 5), (5, 50)):
        gap = interval(boot[slow] - boot[fast])
        checks.append(Check(
            f"Example 8.1: n = {fast} planning steps reaches near-optimal episodes (<= "
            f"{DYNA_NEAR_OPTIMAL:g} steps) sooner than n = {slow}",
            f"95% interval of (episodes n = {slow} - episodes n = {fast}) above 0",
            f"n={slow}: {_episode_text(reach[slow], n_dyna)}; n={fast}: "
            f"{_episode_text(reach[fast], n_dyna)}", gap[0] > 0, runs=runs, interval=gap))
    for n in PLANNING:
        book = BOOK_8_1[n]
        low, high = book / BOOK_8_1_FACTOR, book * BOOK_8_1_FACTOR
        ci = interval(boot[n])
        checks.append(Check(
            f"Example 8.1: n = {n} planning steps, episodes to reach (epsilon-)optimal "
            "performance beside the book's text",
            f"about {book} (within a factor {BOOK_8_1_FACTOR:g}: {low:.1f}-{high:.1f})",
            _episode_text(reach[n], n_dyna), low <= reach[n] <= high, runs=runs, interval=ci))
        rows.append({"experiment": "8.1 Dyna maze",
                     "measure": f"n = {n}: first episode with mean steps <= "
                                f"{DYNA_NEAR_OPTIMAL:g} (steps in episode 2)",
                     "book": f"about {book}", "source": "Example 8.1 text",
                     "tolerance": f"x/ {BOOK_8_1_FACTOR:g}",
                     "ours": f"{reach[n]:.0f} [{ci[0]:.0f}, {ci[1]:.0f}] "
                             f"({mean_steps[n][1]:.0f})"})
    shortest = shortest_path_length(LAYOUTS["dyna"].rows)
    checks.append(Check("Example 8.1: the shortest path through the Dyna maze",
                        f"{BOOK_DYNA_SHORTEST} steps (Figure 8.2)", f"{shortest} steps",
                        shortest == BOOK_DYNA_SHORTEST, runs=1))
    late = float(np.nanmean(lengths[50][max(0, n_dyna - 10):]))
    rows.append({"experiment": "8.1 Dyna maze",
                 "measure": f"shortest path (n = 50: mean steps, episodes "
                            f"{max(1, n_dyna - 9)}-{n_dyna})",
                 "book": f"{BOOK_DYNA_SHORTEST}", "source": "Figure 8.2", "tolerance": "exact",
                 "ours": f"{shortest} ({late:.1f} with epsilon = 0.1)"})
    extra["example_8_1_mean_steps"] = {str(n): m.tolist() for n, m in mean_steps.items()}
    extra["example_8_1_episodes_to_near_optimal"] = {str(n): v for n, v in reach.items()}


def _last_finite(values: np.ndarray) -> np.ndarray:
    """Per run, the last finished episode's entry."""
    finite = np.isfinite(values)
    last = values.shape[0] - 1 - np.argmax(finite[::-1], axis=0)
    return np.asarray(values[last, np.arange(values.shape[1])])


def _first_at_most(curve: np.ndarray, threshold: float, available: int) -> float:
    """The first episode (1-based) whose value is at most ``threshold``; ``available + 1`` if
    none of the first ``available`` is."""
    below = np.flatnonzero(curve[:available] <= threshold)
    return float(below[0] + 1) if below.size else float(available + 1)


def _episode_text(episode: float, available: int) -> str:
    return f"after > {available} episodes" if episode > available else f"episode {episode:.0f}"


REPRODUCTION = Reproduction(
    name="sutton-barto",
    summary="Sutton & Barto (2018): Examples 6.2 (TD vs MC), 6.6 (SARSA vs Q-learning), "
            "8.1 (Dyna-Q), beside the book's numbers",
    experiment=experiment,
    analyse=analyse,
    aggregate=False,
)
