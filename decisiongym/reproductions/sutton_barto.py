"""Sutton & Barto (2018), *Reinforcement Learning: An Introduction*, 2nd ed. (Dobriban, *Notes
for Stat 991: Topics in Deep Learning*, 2019, sections 5.3.7-5.3.8 and 5.3.11):
``decisiongym reproduce sutton-barto [--quick]``.

Six of the book's experiments; all but Example 6.3 run as harness cells (the env's own step
budget):

- **Example 6.2** (random walk, 5 states, V initialised to 0.5, true values 1/6 .. 5/6): the RMS
  error of TD(0) (alpha 0.05, 0.1, 0.15) and constant-alpha MC (every-visit, the book's eq.
  6.1; alpha 0.01 .. 0.04) over the first 100 episodes, averaged over 100 runs (Figure 6.2,
  right).
- **Example 6.6** (cliff walking, epsilon = 0.1, alpha = 0.5): Q-learning learns the optimal
  path along the cliff (return -13) but, exploring, falls off now and then; SARSA learns the
  safer path and gets the higher online return (Figure 6.4).
- **Example 8.1** (Dyna maze, 6 x 9, reward +1 at the goal, gamma 0.95, alpha 0.1, epsilon 0.1,
  30 runs): steps per episode for n = 0, 5, 50 planning steps (Figure 8.2).
- **Example 6.3** (batch updating, Figure 6.2 batch panel; Dobriban (2019), section 5.3.7): on
  the same random walk, after each new episode batch TD(0) and batch constant-alpha MC (every
  visit, alpha 0.001, V initialised to 0.5) are run on all the episodes seen so far until the
  values converge; RMS error over episodes 1-100, 100 runs at both sizes. A prediction study on
  stored episodes, not harness cells: :func:`random_walk_episodes` generates them from the env
  itself (``decisiongym/RandomWalk-v0``'s native vector env, replicate i seeded base seed + i),
  and :func:`batch_updating` presents them pass after pass (each pass sums every stored step's
  increment, then moves V; the passes are composed by repeated squaring of their affine map, so
  "until convergence" costs a few dozen matrix products: under a second in all).
- **Example 10.1** (mountain car, Gymnasium's ``MountainCar-v0`` with its step limit raised to
  100,000; episodic semi-gradient SARSA, 8 tilings of 8 x 8, epsilon 0; Figure 10.2): steps per
  episode for alpha = 0.5/8, 0.2/8, 0.1/8 (10 runs x 50,000 steps: 100 episodes or more in every
  run); at ``--quick`` 0.5/8 and 0.1/8, 3 runs x 10,000 steps (about 25 and 5 episodes).
- **Example 10.2** (access control, ``decisiongym/AccessControl-v0``, differential semi-gradient
  SARSA, alpha = beta = 0.01, epsilon 0.1; Figure 10.5; Dobriban (2019), section 5.3.10): 4 runs
  x 2 million steps (the book's), at ``--quick`` 3 runs x 200,000 (100,000 was too few: on
  base seed 3018 one run's greedy policy earned 0.9698 x the optimum and missed Figure 10.5's
  shape); the greedy policy's exact gain against the optimum of relative value iteration
  (2.7476).

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
30 at full size for Examples 6.2 / 6.6 / 8.1; 100 for 6.3, 3 and 3 at ``--quick`` and 10 and
4 at full size for 10.1 and 10.2; the cells of one example share their seeds, so differences
are paired by run; intervals are percentile bootstraps over the runs, 2000 resamples, 1000
for Example 8.1):

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
- 6.3 batch TD below batch MC: each run's RMS error averaged over episodes 2-100 (after one
  episode the two are equal); the 95% paired interval of (batch MC - batch TD) above 0 (100
  runs). The limits (section 6.3's explanation): after 100 episodes batch TD equals the
  certainty-equivalence estimate (the values of the maximum-likelihood model of the episodes)
  and batch MC the average returns, in every run, within 1e-6 (runs = 100, no interval).
  The book's figure is not read off; the table gives ours at episodes 10 and 100.
- 10.1 larger alpha learns faster early: the sum of the steps of the first 5 episodes per run;
  the paired interval of (alpha 0.1/8 - alpha 0.5/8) above 0 (runs share seeds). At full size
  only, alpha 0.5/8's mean steps in episodes 1 and 100 inside the bands of
  :data:`~decisiongym.agents.linear.BOOK_FIGURE_10_2` (700-2,500 and 100-250: approximate
  readings of Figure 10.2's log axis, which averages 100 runs; interval reported).
- 10.2 count rules over the runs: every run's greedy policy earns at least 0.98 x the optimal
  average reward (0.97 at ``--quick``), and every run's greedy policy has Figure 10.5's shape
  (priorities 8 and 4 accepted with 1-5 free servers, priority 1 rejected with 1-3 free). R-bar
  (about 2.31 in the caption) goes in the table beside ours without a check: even the
  epsilon-greedy version of the optimal policy earns 2.647 (docs/mdps.md).
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

The added examples at ``--quick`` over the same base seeds 2018 / 3018 / 4018: 6.3 batch TD's
RMS error over episodes 2-100 0.067 / 0.070 / 0.063 against batch MC's 0.099 / 0.103 / 0.099,
the low end of the (MC - TD) interval 0.026 / 0.028 / 0.031 (needs > 0); at episode 100 TD
0.038 / 0.041 / 0.037, MC 0.058 / 0.060 / 0.055; the limits agree to 1e-14. 10.1 the first
episodes that every run of alpha 0.1/8 finished in 10,000 steps: 5 / 4 / 4; the low end of the
(0.1/8 - 0.5/8) interval of their steps 4236 / 4375 / 4797 (needs > 0). 10.2 (200,000 steps)
the greedy policies' gains 0.9899-0.9901 / 0.9749-0.9899 / 0.9899 x the optimum (needs 0.97;
the slimmest margin of the study), Figure 10.5's shape in 3 of 3 runs on every seed.
At full size (base seed 2018) every check passes: 6.3 as at ``--quick`` (the same 100 runs);
10.1 alpha 0.5/8 takes 1541 [1342, 1777] steps in episode 1 (band 700-2500) and 141 [131, 150]
in episode 100 (band 100-250), and the (0.1/8 - 0.5/8) steps over the first 5 episodes are
5174 [4839, 5510]; 10.2 the greedy policies earn 0.9945-0.9995 x the optimum, Figure 10.5's
shape in 4 of 4 runs, R-bar 2.75 (2.62-2.92) against the caption's about 2.31.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from decisiongym.agents.linear import (
    BOOK_FIGURE_10_2,
    BOOK_FIGURE_10_5_R_BAR,
    MOUNTAIN_CAR_HIGH,
    MOUNTAIN_CAR_LOW,
    MOUNTAIN_CAR_MAX_EPISODE_STEPS,
)
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
MOUNTAIN_CAR = EnvSetting("MountainCar-v0", {"max_episode_steps": MOUNTAIN_CAR_MAX_EPISODE_STEPS},
                          label="mountain-car")
ACCESS_CONTROL = EnvSetting("decisiongym/AccessControl-v0", {}, label="access-control")

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

#: Example 6.3 (batch updating): the step size of each pass over the stored episodes, the
#: episodes per run, and the convergence tolerance (largest change of any state's value between
#: 2m and m passes).
BATCH_ALPHA = 0.001
BATCH_EPISODES = 100
BATCH_TOLERANCE = 1e-10
#: Example 6.3: batch TD is compared with batch MC over episodes BATCH_WINDOW (1-based, both
#: ends included): after one episode the two estimates are the same (each visited state's value
#: is that episode's return), so the comparison starts at episode 2.
BATCH_WINDOW = (2, 100)

#: Example 10.1: alpha (per tiling, / 8) of each curve of Figure 10.2 we run, full and quick.
MC_ALPHAS_FULL = (0.5 / 8, 0.2 / 8, 0.1 / 8)
MC_ALPHAS_QUICK = (0.5 / 8, 0.1 / 8)
#: Example 10.1: the fast and slow step sizes compared over the first episodes (the first
#: MC_EARLY episodes, or as many as every run of the slow one finished).
MC_FAST, MC_SLOW = 0.5 / 8, 0.1 / 8
MC_EARLY = 5

#: Example 10.2: the greedy policy's exact average reward as a share of the optimum, required of
#: every run (full, quick).
ACCESS_SHARE = {False: 0.98, True: 0.97}
#: Example 10.2 at ``--quick``: steps per run.
ACCESS_QUICK = 200_000


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
    car = tuple(AgentSetting("semi-gradient-sarsa", {"alpha": a, "low": list(MOUNTAIN_CAR_LOW),
                                                     "high": list(MOUNTAIN_CAR_HIGH)})
                for a in (MC_ALPHAS_QUICK if quick else MC_ALPHAS_FULL))
    access = (AgentSetting("differential-sarsa", {}),)
    # Mountain car: 10,000 steps give alpha = 0.5/8 about 25 episodes and 0.1/8 about 5;
    # 50,000 give every run of every alpha 100 episodes or more. Access control: the book's 2
    # million steps at full size.
    if quick:
        return (Part(WALK, walk, 1500, 100), Part(CLIFF, cliff, 15000, 50),
                Part(DYNA, (dyna[0], dyna[5]), 8000, 10), Part(DYNA, (dyna[50],), 4000, 10),
                Part(MOUNTAIN_CAR, car, 10000, 3), Part(ACCESS_CONTROL, access, ACCESS_QUICK, 3))
    return (Part(WALK, walk, 2000, 100), Part(CLIFF, cliff, 20000, 50),
            Part(DYNA, (dyna[0], dyna[5]), 20000, 30), Part(DYNA, (dyna[50],), 8000, 30),
            Part(MOUNTAIN_CAR, car, 50000, 10), Part(ACCESS_CONTROL, access, 2_000_000, 4))


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
    if "alpha" not in agent.params:
        return agent.name
    if agent.name == "semi-gradient-sarsa":
        return f"alpha={8 * agent.params['alpha']:g}/8"
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
    _example_6_3(exp.seed, out, checks, rows, extra)
    _example_10_1(_by_env(results, MOUNTAIN_CAR), out, checks, rows, extra, quick)
    _example_10_2(_by_env(results, ACCESS_CONTROL), checks, rows, extra, quick)
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


# --------------------------------------------------------------------------------------------
# Example 6.3: batch updating (a prediction study on stored episodes, not harness cells).
# --------------------------------------------------------------------------------------------


def random_walk_episodes(runs: int, episodes: int, seed: int, n_states: int = 5
                         ) -> tuple[np.ndarray, np.ndarray]:
    """``episodes`` episodes of each of ``runs`` runs of the random walk, generated by the env
    itself (``decisiongym/RandomWalk-v0``'s native vector env, replicate i seeded ``seed + i``,
    the one action every step). Per (run, episode): ``counts`` (runs, episodes, n + 2, n + 2),
    the number of transitions s -> s'; ``rewards`` (runs, episodes, n + 2), the sum of the
    rewards of the transitions out of s."""
    import gymnasium as gym

    total = n_states + 2
    counts = np.zeros((runs, episodes, total, total))
    rewards = np.zeros((runs, episodes, total))
    env = gym.make_vec("decisiongym/RandomWalk-v0", num_envs=runs,
                       vectorization_mode="vector_entry_point", n_states=n_states)
    try:
        obs, _ = env.reset(seed=seed)
        done = np.zeros(runs, dtype=np.int64)
        fresh = np.zeros(runs, dtype=bool)  # the step after an end resets (NEXT_STEP)
        rows = np.arange(runs)
        while (done < episodes).any():
            next_obs, reward, terminated, truncated, _ = env.step(np.zeros(runs, dtype=np.int64))
            live = ~fresh & (done < episodes)
            r, e = rows[live], done[live]
            s, s2 = np.asarray(obs)[live], np.asarray(next_obs)[live]
            np.add.at(counts, (r, e, s, s2), 1.0)
            np.add.at(rewards, (r, e, s), np.asarray(reward, dtype=np.float64)[live])
            ended = (np.asarray(terminated) | np.asarray(truncated)) & ~fresh
            done += ended & (done < episodes)
            fresh = ended
            obs = next_obs
    finally:
        env.close()
    return counts, rewards


def _batch_values(a: np.ndarray, b: np.ndarray, v0: float, alpha: float) -> np.ndarray:
    """The values after presenting the stored episodes until convergence: each pass sums the
    increments of every stored step and then moves V by ``alpha`` times that sum (Sutton & Barto
    2018, section 6.3), V <- V + alpha (b - A V), an affine map T. T is composed with itself
    (T^{2m} from T^m), so 2^k passes cost k products; stop once 2m passes change no value by
    more than :data:`BATCH_TOLERANCE` against m (or after 2^40 passes). a (runs, n, n), b
    (runs, n); returns (runs, n)."""
    n = a.shape[-1]
    m = np.eye(n) - alpha * a
    c = alpha * b
    v = np.full(b.shape, v0)
    current = np.einsum("rij,rj->ri", m, v) + c
    for _ in range(40):
        m, c = m @ m, np.einsum("rij,rj->ri", m, c) + c
        following = np.einsum("rij,rj->ri", m, v) + c
        change = float(np.max(np.abs(following - current)))
        current = following
        if change < BATCH_TOLERANCE:
            break
    return current


def batch_updating(runs: int = 100, episodes: int = BATCH_EPISODES, seed: int = 0,
                   alpha: float = BATCH_ALPHA, initial_value: float = 0.5
                   ) -> dict[str, np.ndarray]:
    """Sutton & Barto (2018), Example 6.3 / Figure 6.2 (batch updating; Dobriban (2019),
    section 5.3.7): after each new episode of the 5-state random walk, batch TD(0) and batch
    constant-alpha MC (every visit) are run on all the episodes seen so far until the values
    converge. Returns ``td`` and ``mc``, the RMS error over the states (true values s / 6) after
    each episode, (episodes, runs); ``td_values`` and ``mc_values`` (episodes, runs, 5). Batch
    TD converges to the certainty-equivalence estimate (the values of the maximum-likelihood
    model of the episodes), batch MC to each state's average return; states not yet visited keep
    ``initial_value``."""
    counts, rewards = random_walk_episodes(runs, episodes, seed)
    inner = slice(1, counts.shape[-1] - 1)
    true = np.arange(1, counts.shape[-1] - 1) / (counts.shape[-1] - 1)
    # Every-visit MC (gamma = 1, the only reward at the end): the increment at s sums G - V(s)
    # over its visits, and G of every visit is its episode's return; so per episode the sum of
    # G over the visits of s is (visits to s) x (the episode's return).
    episode_visits = counts.sum(axis=3)[:, :, inner]
    mc_returns = np.cumsum(episode_visits * rewards.sum(axis=2, keepdims=True), axis=1)
    counts, rewards = np.cumsum(counts, axis=1), np.cumsum(rewards, axis=1)
    out: dict[str, np.ndarray] = {k: np.zeros((episodes, runs, true.size))
                                  for k in ("td_values", "mc_values")}
    for e in range(episodes):
        n_sa = counts[:, e]
        visits = n_sa.sum(axis=2)[:, inner]  # transitions out of each state: its visits
        # TD: the increment at s sums r + V(s') - V(s) over the steps out of s (V = 0 at the
        # ends): b - A V with A = diag(visits) - N (inner block), b = rewards out of s.
        a_td = visits[:, :, None] * np.eye(true.size) - n_sa[:, inner, inner]
        out["td_values"][e] = _batch_values(a_td, rewards[:, e, inner], initial_value, alpha)
        a_mc = visits[:, :, None] * np.eye(true.size)
        out["mc_values"][e] = _batch_values(a_mc, mc_returns[:, e], initial_value, alpha)
    out["td"] = np.sqrt(((out["td_values"] - true) ** 2).mean(axis=2))
    out["mc"] = np.sqrt(((out["mc_values"] - true) ** 2).mean(axis=2))
    return out


def _example_6_3(seed: int, out: Path, checks: list[Check], rows: list[dict[str, Any]],
                 extra: dict[str, Any]) -> None:
    """Batch TD(0) against batch constant-alpha MC on the random walk (Figure 6.2, the batch
    panel): the same 100 runs of 100 episodes at both sizes (under a second)."""
    runs = 100
    study = batch_updating(runs, BATCH_EPISODES, seed)
    td, mc = study["td"], study["mc"]
    _plot({"batch TD(0)": td, "batch MC (constant alpha)": mc},
          out / "plots" / "sutton_barto_example_6_3_batch_updating.png", xlabel="episodes",
          ylabel="RMS error (over states; mean over runs, 95% band)",
          title=f"Example 6.3: batch updating, random walk (alpha = {BATCH_ALPHA:g})")
    first, last = BATCH_WINDOW
    td_area, mc_area = td[first - 1:last].mean(axis=0), mc[first - 1:last].mean(axis=0)
    gap = difference_interval(mc_area, td_area)
    checks.append(Check(
        f"Example 6.3: batch TD(0) below batch constant-alpha MC (RMS error averaged over "
        f"episodes {first}-{last})", "95% interval of (batch MC - batch TD) above 0",
        f"TD {td_area.mean():.3f}, MC {mc_area.mean():.3f}", gap[0] > 0, runs=runs,
        interval=gap))
    for episode in (10, BATCH_EPISODES):
        diff = difference_interval(mc[episode - 1], td[episode - 1])
        rows.append({"experiment": "6.3 batch updating",
                     "measure": f"RMS error at episode {episode}: batch TD, batch MC "
                                f"(MC - TD)",
                     "book": "TD below MC", "source": "Figure 6.2 (batch), Example 6.3 text",
                     "tolerance": "interval > 0",
                     "ours": f"{td[episode - 1].mean():.3f}, {mc[episode - 1].mean():.3f} "
                             f"({_ours(float((mc - td)[episode - 1].mean()), diff, 3)})"})
    # What each converges to (Sutton & Barto 2018, section 6.3): batch TD to the
    # certainty-equivalence estimate, batch MC to the average returns, per run, after all
    # the episodes.
    counts, rewards = random_walk_episodes(runs, BATCH_EPISODES, seed)
    inner = slice(1, counts.shape[-1] - 1)
    n_sa, r_s = counts.sum(axis=1), rewards.sum(axis=1)
    visits = n_sa.sum(axis=2)[:, inner]
    model = visits[:, :, None] * np.eye(visits.shape[1]) - n_sa[:, inner, inner]
    certainty = np.linalg.solve(model, r_s[:, inner][..., None])[..., 0]
    averages = ((counts.sum(axis=3)[:, :, inner] * rewards.sum(axis=2, keepdims=True))
                .sum(axis=1) / visits)
    td_gap = float(np.max(np.abs(study["td_values"][-1] - certainty)))
    mc_gap = float(np.max(np.abs(study["mc_values"][-1] - averages)))
    checks.append(Check(
        f"Example 6.3: after {BATCH_EPISODES} episodes batch TD(0) is the certainty-equivalence "
        "estimate and batch MC the average returns, in every run",
        "largest difference below 1e-6", f"TD {td_gap:.1e}, MC {mc_gap:.1e}",
        max(td_gap, mc_gap) < 1e-6, runs=runs))
    rows.append({"experiment": "6.3 batch updating",
                 "measure": f"limits after {BATCH_EPISODES} episodes (largest difference)",
                 "book": "TD: certainty equivalence, MC: average returns",
                 "source": "section 6.3 text", "tolerance": "1e-6",
                 "ours": f"TD {td_gap:.1e}, MC {mc_gap:.1e}"})
    extra["example_6_3_rms_error"] = {"td": td.mean(axis=1).tolist(),
                                      "mc": mc.mean(axis=1).tolist()}


def _car_alpha(d: CellData) -> float:
    return float(d.cell.agent.params["alpha"])


def _example_10_1(cells: list[CellData], out: Path, checks: list[Check],
                  rows: list[dict[str, Any]], extra: dict[str, Any], quick: bool) -> None:
    """Episodic semi-gradient SARSA on the mountain car, steps per episode (Figure 10.2)."""
    car = {_car_alpha(d): d for d in cells}
    runs = min(d.cell.seeds for d in car.values())
    lengths = {a: _complete(d.arrays["episode_length"])[:, :runs] for a, d in car.items()}
    _plot({f"alpha = {8 * a:g}/8": v for a, v in sorted(lengths.items(), reverse=True)},
          out / "plots" / "sutton_barto_example_10_1_mountain_car.png", xlabel="episodes",
          ylabel="steps per episode (mean over runs, 95% band)", log_y=True,
          title="Example 10.1: mountain car, semi-gradient SARSA (8 tilings)")
    early = min(MC_EARLY, lengths[MC_FAST].shape[0], lengths[MC_SLOW].shape[0])
    slow = lengths[MC_SLOW][:early].sum(axis=0)
    fast = lengths[MC_FAST][:early].sum(axis=0)
    gap = difference_interval(slow, fast)
    checks.append(Check(
        f"Example 10.1: alpha = 0.5/8 learns faster than 0.1/8 (steps over the first {early} "
        "episodes)", "95% interval of (steps alpha 0.1/8 - steps alpha 0.5/8) above 0",
        f"0.1/8: {slow.mean():.0f}, 0.5/8: {fast.mean():.0f}", gap[0] > 0, runs=runs,
        interval=gap))
    rows.append({"experiment": "10.1 mountain car",
                 "measure": f"steps over episodes 1-{early}: alpha 0.1/8 - 0.5/8",
                 "book": "larger alpha faster early", "source": "Figure 10.2",
                 "tolerance": "interval > 0", "ours": _ours(float((slow - fast).mean()), gap, 0)})
    fast_lengths = lengths[MC_FAST]
    for episode, (low, high) in BOOK_FIGURE_10_2.items():
        if episode > fast_lengths.shape[0]:
            continue
        values = fast_lengths[episode - 1]
        mean, interval = float(values.mean()), _ci(values)
        rows.append({"experiment": "10.1 mountain car",
                     "measure": f"alpha 0.5/8: steps in episode {episode}",
                     "book": f"{low:g}-{high:g}", "source": "Figure 10.2 (read off, approx.)",
                     "tolerance": "band", "ours": _ours(mean, interval, 0)})
        if not quick:
            checks.append(Check(
                f"Example 10.1: alpha = 0.5/8, steps in episode {episode} beside Figure 10.2",
                f"{low:g}-{high:g} (approximate reading of the figure)", f"{mean:.0f}",
                low <= mean <= high, runs=runs, interval=interval))
    extra["example_10_1_mean_steps"] = {f"{8 * a:g}/8": np.mean(v, axis=1).tolist()
                                        for a, v in lengths.items()}


def _example_10_2(cells: list[CellData], checks: list[Check], rows: list[dict[str, Any]],
                  extra: dict[str, Any], quick: bool) -> None:
    """Differential semi-gradient SARSA on the access-control queue (Figure 10.5)."""
    (d,) = cells
    runs = d.cell.seeds
    arrays = d.arrays
    optimum = float(arrays["optimal_average_reward"][0])
    share = np.asarray(arrays["greedy_average_reward"][:runs]) / optimum
    need = ACCESS_SHARE[quick]
    checks.append(Check(
        "Example 10.2: the greedy policy earns nearly the optimal average reward "
        f"(exact gain, optimum {optimum:.4f} by relative value iteration)",
        f"at least {need:g} x the optimum in every run",
        f"{share.min():.4f}-{share.max():.4f} x the optimum",
        bool((share >= need).all()), runs=runs))
    # Figure 10.5's policy: rows priorities 1, 2, 4, 8, columns 0..10 free servers.
    policies = np.asarray(arrays["greedy_policy"][:, :runs]).T.reshape(runs, 4, -1)
    high_ok = policies[:, 2:, 1:6].all(axis=(1, 2))
    low_ok = (policies[:, 0, 1:4] == 0).all(axis=1)
    shape_ok = int((high_ok & low_ok).sum())
    checks.append(Check(
        "Example 10.2: the learned policy has Figure 10.5's shape",
        "every run: priorities 8 and 4 accepted with 1-5 free servers, priority 1 rejected "
        "with 1-3 free", f"{shape_ok} of {runs} runs", shape_ok == runs, runs=runs))
    r_bar = np.asarray(arrays["learned_average_reward"][:runs])
    rows.append({"experiment": "10.2 access control",
                 "measure": "greedy policy's gain / optimum (min-max over runs)",
                 "book": "near optimal (Figure 10.5)", "source": "Figure 10.5",
                 "tolerance": f">= {need:g}", "ours": f"{share.min():.4f}-{share.max():.4f}"})
    rows.append({"experiment": "10.2 access control", "measure": "R-bar at the end (range)",
                 "book": f"about {BOOK_FIGURE_10_5_R_BAR:g}", "source": "Figure 10.5 caption",
                 "tolerance": "none (not checked)",
                 "ours": f"{r_bar.mean():.2f} ({r_bar.min():.2f}-{r_bar.max():.2f})"})
    extra["example_10_2_greedy_share_of_optimum"] = share.tolist()
    extra["example_10_2_r_bar"] = r_bar.tolist()


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
