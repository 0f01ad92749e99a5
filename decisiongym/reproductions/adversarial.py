"""Adversarial bandits (Dobriban, *Notes for Stat 991: Topics in Deep Learning*, 2019, section
5.2.3): Exp3 under its bound, deterministic index policies fooled, Hedge with full information
under its bound.

Protocol: the oblivious adversaries of ``AdversarialBandit-v0`` (the friend of Dobriban (2019),
section 5.2.3, with secret 0/1 rewards, a best arm that changes half way, a slowly drifting table,
and the table built against UCB1) and the reactive adversaries of ``ReactiveAdversaryBandit-v0``;
T = 10,000 rounds, 100 runs each (``--quick``: T = 2,000, 20 runs). Agents: Exp3 with the
loss-based estimator and the theorem's rate eta = sqrt(2 log K / (T K)) (Auer et al. 2002;
Lattimore & Szepesvari 2020, Theorem 11.2), FTRL with the entropy (the same algorithm) and with
the 1/2-Tsallis entropy (Tsallis-INF, Zimmert & Seldin 2019), UCB1 (Auer et al. 2002) and
Thompson sampling with a Beta(1, 1) prior. The regret is against the best fixed arm in hindsight,
max_k sum_t R_t(k) - sum_t R_t(A_t) (on the realised rewards for the reactive adversaries).

Full information: on the same adversaries made with ``feedback="full"`` (the observation is the
whole reward vector R_t; the same seeds give the same tables), Hedge / exponential weights
(Freund & Schapire 1997; Littlestone & Warmuth 1994) with eta = sqrt(8 log K / T), 100 runs at
both sizes (its bound is small beside the spread of a realised regret, so it gets more runs than
the bandit agents; its first runs meet the bandit agents' tables). Its cells carry the adversary's
label and the agent label "hedge (full info)".

Findings checked (Dobriban (2019), section 5.2.3, items 4 and 7): Exp3's mean regret, with the
upper end of its 95% interval, stays under sqrt(2 T K log K) on every adversary; FTRL with the
entropy makes exactly Exp3's choices; "if we consider a deterministic strategy, there is always an
adversarial example that has maximal regret": UCB1's regret is linear in T on the adversaries
built against it (at least T/4, and doubling from T/2 to T), while Exp3's is sublinear there
(under its bound, a vanishing share of T). Hedge's mean regret, with the upper end of its 95%
interval, stays under sqrt(T log K / 2) on every adversary (Cesa-Bianchi & Lugosi 2006, Theorem
2.2; the notes state only the bandit bound).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from decisiongym.harness import metrics
from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment
from decisiongym.harness.report import (
    CellData,
    Check,
    cells_by_env,
    format_table,
    load_results,
    plot_regret_curves,
)
from decisiongym.reproductions import Analysis, Part, Reproduction, StudyExperiment
from decisiongym.theory import exp3_regret_bound, hedge_regret_bound

OBLIVIOUS = "decisiongym/AdversarialBandit-v0"
REACTIVE = "decisiongym/ReactiveAdversaryBandit-v0"

#: (label, env id, kwargs); the labels name the environments in tables and plots.
ADVERSARY_SETTINGS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("friend K=2", OBLIVIOUS, {"adversary": "friend", "k": 2}),
    ("friend K=10", OBLIVIOUS, {"adversary": "friend", "k": 10}),
    ("switch K=5", OBLIVIOUS, {"adversary": "switch", "k": 5}),
    ("drift K=5", OBLIVIOUS, {"adversary": "drift", "k": 5}),
    ("anti-index K=3", OBLIVIOUS, {"adversary": "anti-index", "k": 3}),
    ("reactive anti-ucb K=3", REACTIVE, {"strategy": "anti-ucb", "k": 3}),
    ("reactive anti-frequent K=3", REACTIVE, {"strategy": "anti-frequent", "k": 3}),
)
#: The adversaries built against UCB1 (deterministic index policy).
AGAINST_UCB1 = ("anti-index K=3", "reactive anti-ucb K=3")
AGENT_LABELS = ("exp3", "ftrl (entropy)", "ftrl (Tsallis-INF)", "ucb1", "thompson-beta")
#: Hedge's label (full information: its cells are the adversaries made with feedback="full").
HEDGE = "hedge (full info)"
#: Hedge's runs per adversary at both sizes.
HEDGE_SEEDS = 100


def agent_settings(horizon: int) -> list[AgentSetting]:
    return [
        AgentSetting("exp3", {"horizon": horizon, "estimator": "loss"}, label="exp3"),
        AgentSetting("ftrl", {"regulariser": "negentropy", "horizon": horizon},
                     label="ftrl (entropy)"),
        AgentSetting("ftrl", {"regulariser": "tsallis"}, label="ftrl (Tsallis-INF)"),
        AgentSetting("ucb1", {"alpha": 2.0}, label="ucb1"),
        AgentSetting("thompson-beta", {"a": 1.0, "b": 1.0}, label="thompson-beta"),
    ]


def hedge_setting(horizon: int) -> AgentSetting:
    return AgentSetting("hedge", {"horizon": horizon}, label=HEDGE)


def experiment(quick: bool = False) -> Experiment:
    """The bandit agents on every adversary (the grid of the study), and Hedge on each adversary
    made with full-information feedback (same label, same seeds, hence the same tables)."""
    horizon = 2_000 if quick else 10_000
    seeds = 20 if quick else 100
    agents = tuple(agent_settings(horizon))
    parts = []
    for label, env_id, kwargs in ADVERSARY_SETTINGS:
        parts.append(Part(EnvSetting(env_id, kwargs, label=label), agents, horizon, seeds))
    for label, env_id, kwargs in ADVERSARY_SETTINGS:
        full = EnvSetting(env_id, {**kwargs, "feedback": "full"}, label=label)
        parts.append(Part(full, (hedge_setting(horizon),), horizon, HEDGE_SEEDS))
    return StudyExperiment.from_parts("adversarial" + ("-quick" if quick else ""), tuple(parts),
                                      seed=2002)


def _regret_at(data: CellData, t: float) -> float:
    """Mean regret at the grid point nearest to step t."""
    grid = data.arrays["grid"].astype(np.float64)
    g = int(np.abs(grid - t).argmin())
    return float(data.arrays["regret"][g].astype(np.float64).mean())


def analyse(exp: Experiment, out: Path, quick: bool) -> Analysis:
    results = load_results(exp, out)
    by_env = cells_by_env(results)
    horizon = exp.horizon
    rows: list[dict[str, Any]] = []
    checks: list[Check] = []
    bound_rows = []
    hedge_rows = []
    for label, _, kwargs in ADVERSARY_SETTINGS:
        if label not in by_env:
            continue
        cells = by_env[label]
        k = int(kwargs["k"])
        bound = float(exp3_regret_bound(k, horizon))
        hedge_bound = float(hedge_regret_bound(k, horizon))
        rows.append({"adversary": label, **{a: cells[a].final_regret_mean for a in AGENT_LABELS},
                     "bound": bound,
                     **({HEDGE: cells[HEDGE].final_regret_mean, "hedge_bound": hedge_bound}
                        if HEDGE in cells else {})})
        exp3 = cells["exp3"].arrays["final_regret"]
        mean, low, high = metrics.mean_confidence_interval(exp3)
        bound_rows.append({"adversary": label, "mean": mean, "ci_high": float(high),
                           "bound": bound})
        checks.append(Check(
            f"Exp3 under sqrt(2 T K log K) ({label})",
            f"mean regret and the upper end of its 95% interval < {bound:.1f}",
            f"mean {mean:.1f}, upper {float(high):.1f}", bool(high < bound),
            runs=int(exp3.size), interval=[float(low), float(high)]))
        same = np.array_equal(cells["exp3"].arrays["final_regret"],
                              cells["ftrl (entropy)"].arrays["final_regret"])
        checks.append(Check(f"FTRL with the entropy is Exp3 ({label})",
                            "identical regret in every run", "identical" if same else "differs",
                            same, runs=cells["exp3"].cell.seeds))
        references = {"Exp3 bound sqrt(2 t K log K)": exp3_regret_bound(k, cells["exp3"].arrays[
            "grid"])}
        if HEDGE in cells:
            hedge = cells[HEDGE].arrays["final_regret"]
            h_mean, h_low, h_high = metrics.mean_confidence_interval(hedge)
            hedge_rows.append({"adversary": label, "mean": h_mean, "ci_high": float(h_high),
                               "bound": hedge_bound})
            checks.append(Check(
                f"Hedge (full information) under sqrt(T log K / 2) ({label})",
                f"mean regret and the upper end of its 95% interval < {hedge_bound:.1f}",
                f"mean {h_mean:.1f}, upper {float(h_high):.1f}", bool(h_high < hedge_bound),
                runs=int(hedge.size), interval=[float(h_low), float(h_high)]))
            references["Hedge bound sqrt(t log K / 2)"] = hedge_regret_bound(
                k, cells[HEDGE].arrays["grid"])
        shown = [*AGENT_LABELS, HEDGE] if HEDGE in cells else list(AGENT_LABELS)
        plot_regret_curves(
            [cells[a] for a in shown], out / "plots" / f"adversarial_{_slug(label)}.png",
            title=f"{label}: regret against the best fixed arm (T = {horizon})",
            references=references, ylabel="regret vs best fixed arm")
    for label in AGAINST_UCB1:
        if label not in by_env:
            continue
        cells = by_env[label]
        ucb = cells["ucb1"]
        final = ucb.final_regret_mean
        doubling = final / max(_regret_at(ucb, horizon / 2), 1e-12)
        linear_floor = horizon / 4.0
        checks.append(Check(
            f"UCB1's regret is linear in T ({label})",
            f"regret(T) >= T / 4 = {linear_floor:.0f} and regret(T) / regret(T/2) in [1.8, 2.2]",
            f"regret(T) = {final:.1f}, ratio {doubling:.2f}",
            bool(final >= linear_floor and 1.8 <= doubling <= 2.2), runs=ucb.cell.seeds))
        exp3_final = cells["exp3"].final_regret_mean
        share = exp3_final / horizon
        n_runs = min(ucb.cell.seeds, cells["exp3"].cell.seeds)
        # Every agent meets the same adversary seeds: the difference is paired.
        d_low, d_high = metrics.bootstrap_mean_ci(cells["exp3"].final("regret")[:n_runs]
                                                  - ucb.final("regret")[:n_runs])
        checks.append(Check(
            f"Exp3's regret is sublinear where UCB1's is linear ({label})",
            "Exp3 regret / T < 0.05 and below UCB1's", f"Exp3 {exp3_final:.1f} ({share:.3f} T), "
            f"UCB1 {final:.1f}", bool(share < 0.05 and exp3_final < final), runs=n_runs,
            interval=[float(d_low), float(d_high)]))
    columns = [("adversary", "adversary"), *[(a, a) for a in AGENT_LABELS],
               ("bound", "sqrt(2TK log K)")]
    if hedge_rows:
        columns += [(HEDGE, HEDGE), ("hedge_bound", "sqrt(T log K / 2)")]
    table = format_table(rows, columns)
    seeds = next((by_env[label]["exp3"].cell.seeds for label, _, _ in ADVERSARY_SETTINGS
                  if label in by_env), exp.seeds)
    text = (f"Regret against the best fixed arm at T = {horizon} (mean over {seeds} runs), "
            "with Exp3's bound" + (f"; Hedge with full information ({HEDGE_SEEDS} runs) beside its "
                                   "bound" if hedge_rows else "") + ":\n" + table)
    return Analysis(checks, text, {"table": rows, "exp3_vs_bound": bound_rows,
                                   "hedge_vs_bound": hedge_rows})


def _slug(label: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in label).strip("_")


REPRODUCTION = Reproduction(
    name="adversarial",
    summary="adversarial bandits: Exp3 under sqrt(2TK log K), UCB1 linear on adversaries "
            "built against it",
    experiment=experiment,
    analyse=analyse,
)
