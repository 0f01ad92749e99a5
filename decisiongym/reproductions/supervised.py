"""Supervised deep learning as agents (seed 1-3, 7.10): ``decisiongym reproduce supervised``.

Four studies, each with a table, a plot and checks:

1. Full against bandit feedback on digits: the same network learned from the label
   (cross-entropy) and from the 0/1 reward only (REINFORCE with a baseline, Williams 1992;
   epsilon-greedy on a per-class reward model), test accuracy against samples seen. Checked:
   the full-feedback learner reaches 95%; each bandit learner beats chance (10%) by 20 points
   and stays below the full-feedback learner at equal samples. The harness sweep run first is
   the bandit side through the ordinary runner: mistakes (pseudo-regret) of the two bandit
   learners on ``ImageClassification-v0``.
2. Gradients through time (seed 3.3.2, Pascanu et al. 2013): ||dL_T / dh_{T-lag}|| against the
   lag for the simple RNN, GRU and LSTM (Cho et al. 2014; Hochreiter & Schmidhuber 1997) at the
   default recurrent scale and at 4x; and the gradient norms of training an RNN at 4x with
   plain SGD, without and with clipping by norm. Checked: the simple RNN's gradient vanishes
   geometrically at 1x and grows with the lag at 4x; clipping bounds every update.
3. Long dependency: LSTM (forget bias 3) against simple RNN on the long-dependency task (lag
   41), equal budget (Adam, lr 3e-3), 3 independent runs each at --quick (400 updates), 5 at
   full size (800). Checked by a count: the LSTM reaches test accuracy >= 0.9 in at least 2 of
   3 (4 of 5) runs; ``interval`` is the bootstrap 95% interval of its mean accuracy, and the
   table gives the interval of the LSTM - RNN difference. Margins seen at quick size over base
   seeds 0, 1, 2 (run seeds 10 b + i), under 1 and under 2 torch threads (identical results):
   LSTM 3 of 3 at 1.000 in all nine runs; simple RNN >= 0.9 in 2, 2 and 1 of 3 (accuracies
   [0.265, 1, 1], [1, 0.498, 1], [0.482, 0.484, 1]). The seed's "the simple RNN cannot" does
   not hold in this setup (with Adam it learns lag 41 in about half the runs, and did so at
   gaps 50, 60 and 80 too), so it is not checked; only the LSTM's side is.
4. Optimisers (seed 1.2.3, 6.5) on one task (MLP on digits) and the Advani & Saxe (2020)
   generalisation curve of gradient descent on linear regression (seed 7.10): the formula of
   :mod:`decisiongym.theory.advani_saxe` against simulation, with the optimal early-stopping
   time. Checked: the formula is within 3 standard errors of the simulated mean at every
   recorded time, and the stopping times agree.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment
from decisiongym.harness.report import Check, format_table, load_results
from decisiongym.harness.report import pyplot as _plt
from decisiongym.harness.report import save_figure as _save
from decisiongym.reproductions import Analysis, Reproduction

ENV_ID = "decisiongym/ImageClassification-v0"
LAGS = (1, 10, 30, 59)
#: (feedback steps, replicates, sequence-training steps, optimiser epochs, Advani-Saxe reps)
SIZES = {False: (6000, 4, 800, 20, 200), True: (4000, 2, 400, 8, 60)}
LONG_GAP = 40
#: Independent runs (seeds LONG_SEED, LONG_SEED + 1, ...) per network of the long-dependency
#: study, and its Adam learning rate.
LONG_RUNS = {False: 5, True: 3}
LONG_SEED = 0
LONG_LR = 3e-3


def experiment(quick: bool = False) -> Experiment:
    env = EnvSetting(ENV_ID, {"dataset": "digits", "feedback": "bandit"}, label="digits-bandit")
    agents = [AgentSetting("net-reinforce", {"device": "cpu"}),
              AgentSetting("net-epsilon-greedy", {"device": "cpu"})]
    return Experiment(name="supervised" + ("-quick" if quick else ""), envs=[env],
                      agents=agents, horizon=1000 if quick else 3000, seeds=2 if quick else 4,
                      seed=1998)


# ----- the studies -----------------------------------------------------------------------------


#: The learners compared, with the feedback each needs.
FEEDBACK_LEARNERS = (("net-full", "full"), ("net-reinforce", "bandit"),
                     ("net-epsilon-greedy", "bandit"))


def feedback_comparison(*, dataset: str = "digits", model: str = "mlp", steps: int = 5000,
                        replicates: int = 2, eval_every: int = 500, seed: int = 0,
                        device: str = "cpu", learner_params: dict[str, Any] | None = None
                        ) -> dict[str, dict[str, Any]]:
    """Each learner of :data:`FEEDBACK_LEARNERS` on ``ImageClassification-v0`` (its feedback),
    ``replicates`` independent runs of ``steps`` samples through the harness's rollout loop;
    test accuracy every ``eval_every`` samples (a
    :class:`~decisiongym.supervised.recorders.HeldoutAccuracyRecorder`). Returns per learner
    {"samples": (G,), "accuracy": (G, R)}."""
    from decisiongym.harness.rollout import run
    from decisiongym.supervised.data import load_dataset
    from decisiongym.supervised.recorders import HeldoutAccuracyRecorder

    ds = load_dataset(dataset)
    out: dict[str, dict[str, Any]] = {}
    for name, feedback in FEEDBACK_LEARNERS:
        params = {"model": model, "device": device, **(learner_params or {}).get(name, {})}
        result = run(ENV_ID, name, replicates=replicates, horizon=steps, seed=seed,
                     env_kwargs={"dataset": dataset, "feedback": feedback}, agent_params=params,
                     recorders=[HeldoutAccuracyRecorder(ds.X_test, ds.y_test, every=eval_every)])
        out[name] = {"samples": result["samples"], "accuracy": result["heldout_accuracy"]}
    return out


def _feedback_study(quick: bool) -> tuple[dict[str, Any], list[Check], str, Any]:
    steps, reps = SIZES[quick][0], SIZES[quick][1]
    res = feedback_comparison(model="cnn", steps=steps, replicates=reps,
                              eval_every=steps // 6, seed=0)
    samples = res["net-full"]["samples"]
    rows = [{"samples": int(s), **{name: float(r["accuracy"][g].mean())
                                   for name, r in res.items()}}
            for g, s in enumerate(samples)]
    final = {name: float(r["accuracy"][-1].mean()) for name, r in res.items()}
    checks = [Check("full feedback reaches 95% test accuracy on digits", ">= 0.95",
                    round(final["net-full"], 4), final["net-full"] >= 0.95)]
    for name in ("net-reinforce", "net-epsilon-greedy"):
        checks.append(Check(f"{name} (bandit feedback) clearly beats chance", "> 0.30",
                            round(final[name], 4), final[name] > 0.30))
        below = all(row[name] < row["net-full"] for row in rows)
        checks.append(Check(f"{name} stays below full feedback at equal samples",
                            "below at every checkpoint", below, below))
    table = format_table(rows, [("samples", "samples")] + [(n, n) for n in res])
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, r in res.items():
        acc = r["accuracy"]
        ax.plot(r["samples"], acc.mean(1), "o-", label=name)
        ax.fill_between(r["samples"], acc.min(1), acc.max(1), alpha=0.2)
    ax.axhline(0.1, color="gray", ls=":", label="chance")
    ax.set_xlabel("samples seen")
    ax.set_ylabel("test accuracy (digits)")
    ax.set_title("Full against bandit feedback, same CNN")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    data = {k: {"samples": v["samples"], "accuracy": v["accuracy"]} for k, v in res.items()}
    return data, [replace(c, runs=reps) for c in checks], table, fig


def _gradient_study(quick: bool) -> tuple[dict[str, Any], list[Check], str, Any]:
    from decisiongym.supervised.dynamics import gradient_norm_vs_lag, train_sequence_model

    configs = [("rnn", 1.0, 1.0), ("gru", 1.0, 1.0), ("lstm", 1.0, 1.0), ("lstm", 1.0, 3.0),
               ("rnn", 4.0, 1.0), ("gru", 4.0, 1.0), ("lstm", 4.0, 1.0)]
    curves = {}
    rows = []
    for kind, scale, fb in configs:
        label = f"{kind} U x{scale:g}" + (f" forget bias {fb:g}" if kind == "lstm" else "")
        g = gradient_norm_vs_lag(kind, recurrent_scale=scale, forget_bias=fb, seed=0)
        curves[label] = g
        rows.append({"network": label, **{f"lag {lag}": f"{g[lag]:.2e}" for lag in LAGS}})
    rnn1, rnn4 = curves["rnn U x1"], curves["rnn U x4"]
    checks = [Check("simple RNN gradient vanishes with the lag (U x1)",
                    "||dL/dh|| at lag 30 < 1e-3 x lag 1",
                    f"{rnn1[30]:.2e} vs {rnn1[1]:.2e}", rnn1[30] < 1e-3 * rnn1[1]),
              Check("simple RNN gradient explodes with the lag (U x4)",
                    "||dL/dh|| at lag 30 > 10 x lag 1",
                    f"{rnn4[30]:.2e} vs {rnn4[1]:.2e}", rnn4[30] > 10 * rnn4[1])]
    steps = SIZES[quick][2]
    clip_rows = []
    clip_runs = {}
    for clip in (None, 1.0):
        r = train_sequence_model("rnn", gap=30, steps=steps, recurrent_scale=4.0, clip=clip,
                                 optimizer="sgd", lr=0.05, seed=0)
        name = "no clipping" if clip is None else f"clip at {clip:g}"
        clip_runs[name] = r
        norms = r["grad_norm"][np.isfinite(r["grad_norm"])]
        clip_rows.append({"run": name, "max_norm": float(norms.max()),
                          "median_norm": float(np.median(norms)),
                          "update_bound": float(min(norms.max(), clip or np.inf)),
                          "diverged": r["diverged"], "accuracy": r["test_accuracy"]})
    checks.append(Check("clipping bounds every update (Pascanu et al. 2013)",
                        "clipped gradient norm <= 1", clip_rows[1]["update_bound"],
                        clip_rows[1]["update_bound"] <= 1.0 + 1e-9))
    table = format_table(rows, [("network", "network")] + [(f"lag {lag}", f"lag {lag}")
                                                            for lag in LAGS])
    table += "\n\nRNN, U x4, plain SGD (lr 0.05) on the long-dependency task (gap 30):\n"
    table += format_table(clip_rows, [("run", "run"), ("max_norm", "max ||g||"),
                                      ("median_norm", "median ||g||"),
                                      ("diverged", "diverged"), ("accuracy", "test acc")])
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, g in curves.items():
        axes[0].semilogy(np.arange(len(g)), np.maximum(g, 1e-30), label=label)
    axes[0].set_xlabel("time lag T - k")
    axes[0].set_ylabel("||dL_T / dh_k||")
    axes[0].set_ylim(1e-20, None)
    axes[0].legend(fontsize=7)
    axes[0].grid(alpha=0.3)
    for name, r in clip_runs.items():
        axes[1].semilogy(r["grad_norm"], label=name)
    axes[1].axhline(1.0, color="gray", ls=":", label="threshold")
    axes[1].set_xlabel("update")
    axes[1].set_ylabel("gradient norm before clipping")
    axes[1].legend(fontsize=8)
    axes[1].grid(alpha=0.3)
    data = {"curves": curves, "clipping": clip_rows}
    return data, [replace(c, runs=1) for c in checks], table, fig


def _long_dependency_study(quick: bool) -> tuple[dict[str, Any], list[Check], str, Any]:
    from decisiongym.harness import metrics
    from decisiongym.supervised.dynamics import train_sequence_model

    steps, n_runs = SIZES[quick][2], LONG_RUNS[quick]
    need = n_runs - n_runs // 3  # 2 of 3, 4 of 5
    seeds = [LONG_SEED + i for i in range(n_runs)]
    runs = {kind: [train_sequence_model(kind, gap=LONG_GAP, steps=steps, lr=LONG_LR, seed=s,
                                        forget_bias=3.0 if kind == "lstm" else 1.0)
                   for s in seeds] for kind in ("lstm", "rnn")}
    acc = {k: np.array([r["test_accuracy"] for r in rs]) for k, rs in runs.items()}
    lstm_ok = int((acc["lstm"] >= 0.9).sum())
    rnn_ok = int((acc["rnn"] >= 0.9).sum())
    low, high = metrics.bootstrap_mean_ci(acc["lstm"], random_state=0)
    d_low, d_high = metrics.bootstrap_mean_ci(acc["lstm"] - acc["rnn"], random_state=0)
    checks = [Check(f"LSTM learns a lag-{LONG_GAP + 1} dependency ({steps} updates, "
                    f"{n_runs} runs)", f"test accuracy >= 0.9 in at least {need} of {n_runs}",
                    f"{lstm_ok} of {n_runs} (LSTM {np.round(acc['lstm'], 3).tolist()}; simple "
                    f"RNN >= 0.9 in {rnn_ok} of {n_runs}: {np.round(acc['rnn'], 3).tolist()})",
                    lstm_ok >= need, runs=n_runs, interval=[float(low), float(high)])]
    rows = [{"network": k, "seed": s, "accuracy": r["test_accuracy"],
             "final_loss": float(np.nanmean(r["loss"][-20:]))}
            for k, rs in runs.items() for s, r in zip(seeds, rs, strict=True)]
    table = format_table(rows, [("network", "network"), ("seed", "seed"),
                                ("accuracy", "test accuracy"), ("final_loss", "final loss")])
    table += (f"\nmean accuracy LSTM - RNN: {float((acc['lstm'] - acc['rnn']).mean()):.3f}, "
              f"95% bootstrap interval [{float(d_low):.3f}, {float(d_high):.3f}]")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for k, rs in runs.items():
        for i, r in enumerate(rs):
            ax.plot(r["loss"], color="C0" if k == "lstm" else "C1", lw=0.8,
                    label=k if i == 0 else None)
    ax.axhline(math.log(4), color="gray", ls=":", label="chance loss log 4")
    ax.set_xlabel("update")
    ax.set_ylabel("training loss")
    ax.set_title(f"Long dependency, lag {LONG_GAP + 1}, equal budget, {n_runs} runs each")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return {"rows": rows, "difference_interval": [float(d_low), float(d_high)]}, checks, \
        table, fig


def _optimizer_study(quick: bool) -> tuple[dict[str, Any], list[Check], str, Any]:
    from decisiongym.supervised.dynamics import compare_optimizers

    res = compare_optimizers(epochs=SIZES[quick][3], seed=0)
    rows = [{"optimizer": k, "lr": f"{v['lr']:g}", "final_train_loss": float(v["train_loss"][-1]),
             "test_accuracy": v["test_accuracy"]} for k, v in res.items()]
    best = min(rows, key=lambda r: r["final_train_loss"])
    checks = [Check("every optimiser trains the MLP on digits", "test accuracy > 0.85",
                    {r["optimizer"]: round(r["test_accuracy"], 3) for r in rows},
                    all(r["test_accuracy"] > 0.85 for r in rows))]
    table = format_table(rows, [("optimizer", "optimizer"), ("lr", "lr"),
                                ("final_train_loss", "train loss"),
                                ("test_accuracy", "test acc")])
    table += f"\nlowest training loss: {best['optimizer']}"
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for k, v in res.items():
        ax.semilogy(np.arange(1, len(v["train_loss"]) + 1), v["train_loss"], "o-",
                    label=f"{k} (lr {v['lr']:g})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_title("Optimisers, MLP on digits")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return {"rows": rows}, [replace(c, runs=1) for c in checks], table, fig


def _advani_saxe_study(quick: bool) -> tuple[dict[str, Any], list[Check], str, Any]:
    from decisiongym.supervised.dynamics import simulate_advani_saxe
    from decisiongym.theory.advani_saxe import (
        generalization_error_asymptotic,
        optimal_stopping_time,
    )

    reps = SIZES[quick][4]
    kw: dict[str, Any] = {"sigma_w": 1.0, "sigma_0": 0.0, "sigma_noise": 0.5}
    alpha, eta, steps = 1.0, 0.02, 2500
    sim = simulate_advani_saxe(n_features=100, alpha=alpha, learning_rate=eta, steps=steps,
                               reps=reps, record_every=25, seed=0, **kw)
    mean_sim = sim["simulated"].mean(axis=1)
    diff = sim["simulated"] - sim["formula_discrete"]
    se = diff.std(axis=1, ddof=1) / math.sqrt(reps)
    z = np.abs(diff.mean(axis=1)) / np.maximum(se, 1e-12)
    t = sim["time"]
    asym = generalization_error_asymptotic(t, alpha, **kw)
    t_star, e_star = optimal_stopping_time(
        lambda s: generalization_error_asymptotic(s, alpha, **kw), float(t[-1]))
    g_sim = int(mean_sim.argmin())
    se_sim = sim["simulated"].std(axis=1, ddof=1) / math.sqrt(reps)
    checks = [Check("Advani & Saxe formula matches simulated GD (same X)",
                    "|mean difference| < 3 SE at every recorded time",
                    f"max z = {z[1:].max():.2f}", bool(z[1:].max() < 3.0)),
              Check("asymptotic (Marchenko-Pastur) curve within sampling error + finite-N "
                    "slack", "|sim - asym| < 3 SE + 0.03",
                    f"max |diff| {np.abs(mean_sim - asym).max():.4f}",
                    bool(np.all(np.abs(mean_sim - asym) < 3 * se_sim + 0.03))),
              Check("optimal early-stopping time: simulation against the formula",
                    f"t* = {t_star:.2f} (E_g {e_star:.3f})",
                    f"simulated argmin t = {t[g_sim]:.2f} (E_g {mean_sim[g_sim]:.3f})",
                    abs(mean_sim[g_sim] - e_star) < 3 * se_sim[g_sim] + 0.02)]
    pick = [int(np.argmin(np.abs(t - v))) for v in (0.0, 1.0, t_star, 10.0, 25.0, 50.0)]
    rows = [{"t": float(t[g]), "simulated": float(mean_sim[g]), "se": float(se_sim[g]),
             "formula_gd": float(sim["formula_discrete"][g].mean()),
             "formula_flow": float(sim["formula_flow"][g].mean()),
             "asymptotic": float(asym[g])} for g in pick]
    table = format_table(rows, [("t", "t = k eta"), ("simulated", "E_g simulated"),
                                ("se", "SE"), ("formula_gd", "formula (GD)"),
                                ("formula_flow", "formula (flow)"),
                                ("asymptotic", "asymptotic MP")])
    table += (f"\nN = 100, P = {sim['n_samples']}, sigma_w = 1, sigma_0 = 0, sigma_eps = 0.5, "
              f"eta = {eta}, {reps} draws; optimal stopping t* = {t_star:.2f} "
              f"(asymptotic E_g {e_star:.3f}); simulated argmin at t = {t[g_sim]:.2f}")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(t, mean_sim, label="simulated GD (mean)")
    ax.fill_between(t, mean_sim - 2 * se_sim, mean_sim + 2 * se_sim, alpha=0.3)
    ax.plot(t, sim["formula_discrete"].mean(1), "--", label="formula, same X (GD)")
    ax.plot(t, asym, ":", label="formula, Marchenko-Pastur limit")
    ax.axvline(t_star, color="gray", ls="-.", label=f"optimal stopping t* = {t_star:.2f}")
    ax.set_xscale("symlog", linthresh=0.5)
    ax.set_xlim(0.0, float(t[-1]))
    ax.set_xlabel("time t (steps x eta)")
    ax.set_ylabel("generalisation error E_g(t)")
    ax.set_title("Advani & Saxe, alpha = P / N = 1")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return {"rows": rows, "t_star": t_star}, [replace(c, runs=reps) for c in checks], table, fig


def analyse(exp: Experiment, out: Path, quick: bool) -> Analysis:
    import torch

    # The networks are small: one thread avoids OpenMP spin-waiting on a shared machine
    # (two threads ran these studies many times slower on a loaded 2-core machine).
    torch.set_num_threads(1)
    checks: list[Check] = []
    texts: list[str] = []
    extra: dict[str, Any] = {}
    studies = (("feedback", "Full against bandit feedback on digits (test accuracy)",
                _feedback_study, "supervised_feedback.png"),
               ("gradients", "Gradient norm against time lag, and clipping", _gradient_study,
                "supervised_gradients.png"),
               ("long_dependency", f"Long dependency (gap {LONG_GAP})", _long_dependency_study,
                "supervised_long_dependency.png"),
               ("optimizers", "Optimisers on one task", _optimizer_study,
                "supervised_optimizers.png"),
               ("advani_saxe", "Advani & Saxe generalisation curve", _advani_saxe_study,
                "supervised_advani_saxe.png"))
    for key, title, study, plot_name in studies:
        data, study_checks, table, fig = study(quick)
        _save(fig, out / "plots" / plot_name)
        checks += study_checks
        texts.append(f"{title}:\n{table}")
        extra[key] = data
    online = load_results(exp, out)
    online_rows = [{"agent": d.cell.agent.display, "mistakes": d.final_regret_mean}
                   for d in online]
    texts.append(f"Bandit feedback through the harness (mistakes = pseudo-regret after "
                 f"T = {exp.horizon}, {exp.seeds} runs):\n"
                 + format_table(online_rows, [("agent", "agent"), ("mistakes", "mistakes")]))
    return Analysis(checks, "\n\n".join(texts), extra)


REPRODUCTION = Reproduction(
    name="supervised",
    summary="Supervised learning as agents: full vs bandit feedback, RNN/GRU/LSTM gradients, "
            "optimisers, Advani & Saxe (2020)",
    experiment=experiment,
    analyse=analyse,
)
