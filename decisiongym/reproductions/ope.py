"""Off-policy evaluation as the logging policy's overlap shrinks (Dobriban (2019), section 5.2.5:
"how do we find the reward for the actions not taken?"): ``decisiongym reproduce ope``.

Problem: :class:`decisiongym.harness.ope.LinearLoggingProblem` (K = 4, d = 5, linear rewards with
Gaussian noise), whose target policy (the oracle) has a value known to Monte Carlo precision.
A behaviour policy epsilon-uniform around the *worst* action logs n rounds; the target's action
has probability epsilon / K under it, so the importance weights are K / epsilon and the overlap
shrinks with epsilon. For each epsilon, ``reps`` independent logs; on each, IPS, SNIPS, the
direct method and doubly robust (Dudik, Langford & Li 2011) with a cross-fitted per-action ridge
reward model, and DR's percentile bootstrap interval; with the same model, the refinements of DR
that Open Bandit Pipeline offers: switch-DR (Wang, Agarwal & Dudik 2017) with threshold tau = 20
on the importance weight, DR with optimistic shrinkage (Su, Dimakopoulou, Krishnamurthy & Dudik
2020) with lambda = tau^2 = 400 (weights well below 20 nearly kept, those above shrunk), and
self-normalised DR. Here every non-zero weight of a log is K / epsilon, so switch-DR is DR for
epsilon >= 0.2 (w <= 20) and the direct method below.

Findings checked: IPS and DR are unbiased at every overlap (|bias| below 3 standard errors);
DR's standard deviation is below IPS's at every overlap; IPS's RMSE grows as the overlap
shrinks; the DM's bias grows as the overlap shrinks (its model sees few of the target's
actions); DR's bootstrap 95% interval covers the true value in at least 80% of the logs where
the log holds at least 20 target actions in expectation (n epsilon / K >= 20; below that the
percentile bootstrap under-covers, which the table shows). At the smallest overlap, switch-DR's
and shrinkage DR's RMSE are no worse than DR's (what they were designed for: trading a little
bias for much less variance when the weights are large); self-normalised DR is unbiased
within 3 standard errors at full overlap (epsilon = 1), where its normaliser is nearly 1.

Replay (Li, Chu, Langford & Wang 2011): LinUCB and greedy evaluated offline, each from its own
log of uniformly random actions on the same problem (epsilon = 1), over T accepted rounds (the
online horizon), ``REPLAYS`` logs per agent; the mean reward per round they estimate is checked
against the online runs' (|difference| below 3 standard errors of the difference).

The OPE study is computed in :func:`analyse` (it is not a grid of online runs). The sweep the
CLI runs first is the online side of the same problem: LinUCB and greedy learning online on
``LinearContextualBandit-v0`` with the same beta, reported beside the OPE table.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment
from decisiongym.harness.ope import (
    ESTIMATORS,
    LinearLoggingProblem,
    cross_fit_ridge,
    doubly_robust_shrinkage,
    evaluate,
    replay_evaluation,
    self_normalized_doubly_robust,
    switch_doubly_robust,
)
from decisiongym.harness.report import Check, format_table, load_results, pyplot
from decisiongym.reproductions import Analysis, Reproduction

ENV_ID = "decisiongym/LinearContextualBandit-v0"
EPSILONS = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02)
PROBLEM_SEED = 2011
#: (rounds logged, independent logs, bootstrap resamples) at full and quick size.
SIZES = {False: (1000, 500, 1000), True: (500, 100, 200)}
#: Switch-DR's threshold on the importance weight, and the shrinkage's lambda (= tau^2).
SWITCH_TAU = 20.0
SHRINKAGE_LAMBDA = SWITCH_TAU ** 2
#: The refinements of DR in the study (row keys and table names).
DR_VARIANTS = {"switch_dr": "switch-DR", "dr_os": "DR-os", "sndr": "SNDR"}
#: Uniform logs replayed per agent (full, quick), and the replay study's seed.
REPLAYS = {False: 30, True: 10}
REPLAY_SEED = 2011


def _problem() -> LinearLoggingProblem:
    return LinearLoggingProblem(k=4, d=5, noise_sigma=0.5, seed=PROBLEM_SEED)


def experiment(quick: bool = False) -> Experiment:
    prob = _problem()
    env = EnvSetting(ENV_ID, {"k": 4, "d": 5, "noise_sigma": 0.5,
                              "beta": prob.beta.round(12).tolist()}, label="ope-problem")
    return Experiment(name="ope" + ("-quick" if quick else ""), envs=[env],
                      agents=[AgentSetting("linucb"), AgentSetting("greedy")],
                      horizon=500 if quick else 2000, seeds=20 if quick else 100, seed=2011)


def ope_study(quick: bool, seed: int = 0) -> dict[str, Any]:
    """For each epsilon: every estimator's bias, standard deviation and RMSE over independent
    logs, and DR's bootstrap coverage. Pure function of (size, seed)."""
    n, reps, n_boot = SIZES[quick]
    prob = _problem()
    true_value = prob.true_value()
    rng = np.random.default_rng(seed)
    rows = []
    for eps in EPSILONS:
        values: dict[str, list[float]] = {k: [] for k in (*ESTIMATORS, *DR_VARIANTS)}
        covered = 0
        for _ in range(reps):
            data, pi, _ = prob.log(rng, n, eps)
            q = cross_fit_ridge(data, random_state=int(rng.integers(2**31)))
            est = evaluate(data, pi, q, n_boot=n_boot, random_state=rng)
            for k in ESTIMATORS:
                values[k].append(est[k].value)
            # The refinements of DR draw nothing: the classic estimators' numbers are unchanged.
            values["switch_dr"].append(switch_doubly_robust(data, pi, q, tau=SWITCH_TAU))
            values["dr_os"].append(doubly_robust_shrinkage(data, pi, q,
                                                           lambda_=SHRINKAGE_LAMBDA))
            values["sndr"].append(self_normalized_doubly_robust(data, pi, q))
            covered += est["dr"].ci_low <= true_value <= est["dr"].ci_high
        row: dict[str, Any] = {"epsilon": eps, "overlap": eps / prob.k,
                               "dr_coverage": covered / reps}
        for k in (*ESTIMATORS, *DR_VARIANTS):
            v = np.asarray(values[k])
            row[f"{k}_bias"] = float(v.mean() - true_value)
            row[f"{k}_sd"] = float(v.std(ddof=1))
            row[f"{k}_rmse"] = float(math.sqrt(np.mean((v - true_value) ** 2)))
        rows.append(row)
    return {"true_value": true_value, "rounds": n, "reps": reps, "n_boot": n_boot, "rows": rows,
            "switch_tau": SWITCH_TAU, "shrinkage_lambda": SHRINKAGE_LAMBDA}


def replay_study(quick: bool, horizon: int, agent_names: tuple[str, ...] = ("linucb", "greedy"),
                 seed: int = REPLAY_SEED) -> dict[str, Any]:
    """The replay method (Li et al. 2011) for each agent: ``REPLAYS[quick]`` logs of uniformly
    random actions on the study's problem (epsilon = 1), each replayed until ``horizon`` rounds
    are accepted; the estimates of the mean reward per round. Pure function of its arguments."""
    prob = _problem()
    rng = np.random.default_rng(seed)
    events = int(2 * prob.k * horizon)  # twice the K T expected: running out is very unlikely
    out: dict[str, Any] = {"horizon": horizon, "logs": REPLAYS[quick], "agents": {}}
    for name in agent_names:
        values, read = [], []
        for i in range(REPLAYS[quick]):
            data, _, _ = prob.log(rng, events, 1.0)
            result = replay_evaluation(name, data, rounds=horizon, seed=i)
            values.append(result.value)
            read.append(result.events)
        out["agents"][name] = {"values": values, "events_mean": float(np.mean(read))}
    return out


def _plot(study: dict[str, Any], path: Path) -> None:
    plt = pyplot()

    rows = study["rows"]
    eps = np.array([r["epsilon"] for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    names = {**{k: k.upper() for k in ESTIMATORS}, **DR_VARIANTS}
    for k, label in names.items():
        style = "o-" if k in ESTIMATORS else "s--"
        axes[0].plot(eps, [r[f"{k}_rmse"] for r in rows], style, label=label)
        axes[1].plot(eps, [abs(r[f"{k}_bias"]) for r in rows], style, label=label)
    for ax, ylabel in zip(axes, ("RMSE of V(pi) estimate", "|bias|"), strict=True):
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("epsilon (behaviour overlap = epsilon / K), shrinking to the right")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Off-policy evaluation, n = {study['rounds']} logged rounds, "
                 f"{study['reps']} logs per point")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def analyse(exp: Experiment, out: Path, quick: bool) -> Analysis:
    study = ope_study(quick)
    rows = study["rows"]
    reps = study["reps"]
    checks = []
    for r in rows:
        for k in ("ips", "dr"):
            se = r[f"{k}_sd"] / math.sqrt(reps)
            checks.append(Check(f"{k.upper()} is unbiased (epsilon={r['epsilon']:g})",
                                "|bias| < 3 standard errors",
                                f"bias {r[f'{k}_bias']:+.4f}, SE {se:.4f}",
                                abs(r[f"{k}_bias"]) < 3 * se, runs=reps))
        checks.append(Check(f"DR varies less than IPS (epsilon={r['epsilon']:g})",
                            "sd(DR) < sd(IPS)", f"DR {r['dr_sd']:.4f}, IPS {r['ips_sd']:.4f}",
                            r["dr_sd"] < r["ips_sd"], runs=reps))
        # The percentile bootstrap needs the target's actions in the log: with fewer than
        # about 20 of them expected (n epsilon / K) it under-covers, reported but not checked.
        if study["rounds"] * r["overlap"] >= 20:
            checks.append(Check(f"DR bootstrap interval covers V (epsilon={r['epsilon']:g})",
                                ">= 80% of logs", round(r["dr_coverage"], 3),
                                r["dr_coverage"] >= 0.8, runs=reps))
    first, last = rows[0], rows[-1]
    for k in ("switch_dr", "dr_os"):
        checks.append(Check(f"{DR_VARIANTS[k]} is no worse than DR at the smallest overlap "
                            f"(epsilon={last['epsilon']:g})",
                            f"RMSE({DR_VARIANTS[k]}) <= RMSE(DR)",
                            f"{last[f'{k}_rmse']:.3f} vs {last['dr_rmse']:.3f}",
                            last[f"{k}_rmse"] <= last["dr_rmse"], runs=reps))
    se = first["sndr_sd"] / math.sqrt(reps)
    checks.append(Check(f"SNDR is unbiased at full overlap (epsilon={first['epsilon']:g})",
                        "|bias| < 3 standard errors",
                        f"bias {first['sndr_bias']:+.4f}, SE {se:.4f}",
                        abs(first["sndr_bias"]) < 3 * se, runs=reps))
    checks.append(Check("IPS error grows as the overlap shrinks",
                        "RMSE(IPS) at the smallest epsilon > 3x at epsilon = 1",
                        f"{last['ips_rmse']:.3f} vs {first['ips_rmse']:.3f}",
                        last["ips_rmse"] > 3 * first["ips_rmse"], runs=reps))
    checks.append(Check("DM's bias grows as the overlap shrinks",
                        "|bias(DM)| at the smallest epsilon > at epsilon = 1",
                        f"{abs(last['dm_bias']):.4f} vs {abs(first['dm_bias']):.4f}",
                        abs(last["dm_bias"]) > abs(first["dm_bias"]), runs=reps))
    _plot(study, out / "plots" / "ope_error_vs_overlap.png")
    columns = [("epsilon", "epsilon")] + [(f"{k}_rmse", f"RMSE {k.upper()}") for k in ESTIMATORS]
    columns += [(f"{k}_bias", f"bias {k.upper()}") for k in ("ips", "dm", "dr")]
    columns += [("dr_coverage", "DR CI cover")]
    table = format_table(rows, columns)
    variant_columns = [("epsilon", "epsilon")]
    variant_columns += [(f"{k}_rmse", f"RMSE {name}") for k, name in DR_VARIANTS.items()]
    variant_columns += [(f"{k}_bias", f"bias {name}") for k, name in DR_VARIANTS.items()]
    variant_table = format_table(rows, variant_columns)
    online = load_results(exp, out)
    replay = replay_study(quick, exp.horizon, tuple(d.cell.agent.name for d in online))
    online_rows = []
    for d in online:
        live = d.arrays["mean_reward"].astype(np.float64)
        offline = np.asarray(replay["agents"][d.cell.agent.name]["values"])
        diff = float(offline.mean() - live.mean())
        se_diff = math.sqrt(offline.var(ddof=1) / offline.size + live.var(ddof=1) / live.size)
        online_rows.append({"agent": d.cell.agent.display, "regret": d.final_regret_mean,
                            "online_reward": float(live.mean()),
                            "replay_reward": float(offline.mean()), "difference": diff,
                            "se": se_diff})
        checks.append(Check(f"Replay estimates {d.cell.agent.display}'s online mean reward",
                            "|replay - online| < 3 standard errors of the difference",
                            f"replay {offline.mean():.4f} ({offline.size} logs), online "
                            f"{live.mean():.4f} ({live.size} runs), SE {se_diff:.4f}",
                            abs(diff) < 3 * se_diff, runs=int(offline.size),
                            interval=[diff - 1.96 * se_diff, diff + 1.96 * se_diff]))
    online_table = format_table(online_rows, [
        ("agent", "agent"), ("regret", "regret at T"), ("online_reward", "reward/round online"),
        ("replay_reward", "reward/round by replay"), ("difference", "replay - online"),
        ("se", "SE")])
    text = (f"Off-policy evaluation of the oracle policy (true value "
            f"{study['true_value']:.4f}) from {study['rounds']} rounds logged by an "
            f"epsilon-uniform policy around the worst action; {reps} logs per epsilon:\n{table}\n\n"
            f"The refinements of DR on the same logs and model (switch-DR tau = {SWITCH_TAU:g}, "
            f"DR-os lambda = {SHRINKAGE_LAMBDA:g}, SNDR):\n{variant_table}\n\n"
            f"Online learning on the same problem (T = {exp.horizon}, {exp.seeds} runs), and its "
            f"mean reward per round estimated offline by replay (Li et al. 2011; {replay['logs']} "
            f"uniform logs per agent):\n{online_table}")
    return Analysis(checks, text, {"ope": study, "replay": replay, "online": online_rows})


REPRODUCTION = Reproduction(
    name="ope",
    summary="Off-policy evaluation: IPS, SNIPS, DM, DR (Dudik et al. 2011), switch-DR, DR-os, "
            "SNDR as overlap shrinks; replay of bandit algorithms (Li et al. 2011)",
    experiment=experiment,
    analyse=analyse,
)
