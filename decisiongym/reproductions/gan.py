"""GANs as a two-player game (seed 4.3-4.5): ``decisiongym reproduce gan [--quick]``.

Three studies, all run through the ordinary harness as cells: the GAN variants are agents
(``gan``, ``wgan``, ``wgan-gp``) with a training loop of their own,
:func:`~decisiongym.supervised.gans.training.train` (the plain loop, which the PettingZoo
game reproduces bit for bit), on :data:`~decisiongym.supervised.gans.training.GAN_ENV_ID` with
the data set as its kwarg:

1. **Mode collapse** (seed 4.3 item 9, Figure 60; 4.4.1 item 7): the original GAN
   (non-saturating, Goodfellow et al. 2014), WGAN with weight clipping (Arjovsky et al. 2017,
   RMSProp 5e-5, c = 0.01, n_critic = 5) and WGAN-GP (Gulrajani et al. 2017, lambda = 10, Adam
   1e-4 with betas (0, 0.9), n_critic = 5) on 8 Gaussians on a ring and 25 on a grid: samples
   over the true modes at several points of training, and a table over seeds of modes covered
   (strict rule: a mode counts when it receives at least a quarter of its fair share of
   high-quality samples, :data:`decisiongym.supervised.gans.metrics.STRICT_SHARE`; the lenient
   one-sample rule beside it), the fraction of high-quality samples (within 3 standard
   deviations of a mode) and the exact W1 between 1,000 samples and 1,000 real points.
   Checked: WGAN-GP covers at least 7 of the 8 ring modes in most runs.
2. **Critic gradient norms** (seed 4.4.2 item 2, Figure 64; Gulrajani et al. Figure 1b): a deep
   critic on the swiss roll trained with weight clipping at c = 0.1, 0.01, 0.001 and with the
   gradient penalty; the norm of the critic loss's gradient with respect to each layer's
   weights, averaged over the second half of training. Checked: with clipping the norms change
   from layer to layer by a far larger factor than with the penalty (they vanish towards the
   input for small c and explode for large c).
3. **Digits**: GAN and WGAN-GP on the 8x8 digits (64-D MLPs, pixels in [-1, 1]); sample
   grids and the digits score (classes covered, strict rule, and mean confidence of a logistic
   regression trained on the real digits, :func:`decisiongym.supervised.gans.metrics.digits_score`).

The quick size is one run per cell on budgets of about a hundred iterations (about 30 s): it
checks the pipeline, that WGAN-GP's samples move towards the data, and the gradient-norm
finding (which shows within a few dozen iterations), not the mode counts.

Finding at full size (seed 2017, 3 runs, 1,000 samples at the end; about 18 min on 2 shared
cores): 8 Gaussians, modes covered under the strict rule per run: GAN 6, 1, 3 (sharp samples,
dropped modes), WGAN (clipping, RMSProp 5e-5) 0, 0, 0 (still a diffuse cloud), WGAN-GP 7, 8, 8
(W1 0.18 against 0.70 and 0.79). 25 Gaussians: no method gets any mode to a quarter of its
share in 3,000 iterations of these small networks (reported, not checked). Gradient norms,
max / min of ||dV/dh_l|| over the 9 layers: clipping c = 0.1: 98 (exploding towards the
input), c = 0.01: 1.4e10, c = 0.001: 1.1e18 (vanishing), penalty: 3.4. Digits: WGAN-GP covers
all 10 classes in both runs (confidence 0.81; real digits 0.93), the GAN 8 and 9 (0.70).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment
from decisiongym.harness.metrics import bootstrap_mean_ci
from decisiongym.harness.report import CellData, Check, format_table, load_results
from decisiongym.harness.report import pyplot as _plt
from decisiongym.harness.report import save_figure as _save
from decisiongym.reproductions import Analysis, Part, Reproduction, StudyExperiment
from decisiongym.supervised.gans.training import GAN_ENV_ID

KIND_LABELS = {"gan": "GAN", "wgan": "WGAN (clipping)", "wgan-gp": "WGAN-GP"}
#: The toy players: 3 hidden ReLU layers of 64 (Gulrajani et al.'s toy code used 512; this is
#: what a CPU affords), batch 256, 2-D noise, every learning rate decaying linearly to 0 over
#: the run (as in Gulrajani et al.'s CIFAR-10 code).
TOY = {"hidden": [64, 64, 64], "batch_size": 256, "lr_schedule": "linear"}
#: Per-variant settings beside :meth:`GANConfig.for_kind`'s published ones: WGAN-GP's learning
#: rate is raised from 1e-4 to 1e-3 for the CPU budget (at 1e-4, 3,000 iterations leave the
#: samples far from the modes: no high-quality samples at all in our runs); the GAN keeps
#: Adam 1e-3 betas (0.5, 0.999), WGAN RMSProp 5e-5 and c = 0.01 (Arjovsky et al.'s values).
FAST = {"gan": {}, "wgan": {}, "wgan-gp": {"lr": 1e-3}}
#: The gradient-norm study's deep critic (Gulrajani et al. used deep MLP critics).
DEEP_LAYERS = 9
DEEP = {"hidden": [64] * (DEEP_LAYERS - 1), "batch_size": 256}
CLIPS = (0.1, 0.01, 0.001)
DIGITS = {"hidden": [256, 256], "batch_size": 64, "latent_dim": 16, "lr_schedule": "linear"}
#: quick -> (mixture iterations, mixture runs, gradient-study iterations, digits iterations,
#: digits runs)
SIZES = {False: (3000, 3, 400, 2000, 2), True: (100, 1, 60, 80, 1)}
#: quick -> evaluation settings of the mixture and digits cells (full size: the cell defaults,
#: 5 checkpoints of 1,000 samples)
EVAL: dict[bool, dict[str, int]] = {False: {}, True: {"checkpoints": 3, "n_eval": 500}}


def _env(data: str) -> EnvSetting:
    return EnvSetting(GAN_ENV_ID, {"data": data}, label=data)


def parts(quick: bool) -> tuple[Part, ...]:
    mix_its, mix_runs, grad_its, dig_its, dig_runs = SIZES[quick]
    toy = tuple(AgentSetting(kind, {**TOY, **FAST[kind], **EVAL[quick]}, label=KIND_LABELS[kind])
                for kind in KIND_LABELS)
    grad = (*(AgentSetting("wgan", {**DEEP, "clip": c, "checkpoints": 2},
                           label=f"clipping c={c:g}") for c in CLIPS),
            AgentSetting("wgan-gp", {**DEEP, "checkpoints": 2}, label="gradient penalty"))
    digits = tuple(AgentSetting(kind, {**DIGITS, **FAST[kind], **EVAL[quick]},
                                label=KIND_LABELS[kind])
                   for kind in ("gan", "wgan-gp"))
    return (Part(_env("8gaussians"), toy, mix_its, mix_runs),
            Part(_env("25gaussians"), toy, mix_its, mix_runs),
            Part(_env("swissroll"), grad, grad_its, 1),
            Part(_env("digits"), digits, dig_its, dig_runs))


def experiment(quick: bool = False) -> Experiment:
    return StudyExperiment.from_parts("gan" + ("-quick" if quick else ""), parts(quick),
                                      seed=2017)


# ----- plots ---------------------------------------------------------------------------------


def _sample_grid(cells: list[CellData], data: str, path: Path) -> None:
    from decisiongym.supervised.gans.data import modes

    centres, _ = modes(data)
    checkpoints = cells[0].arrays["checkpoints"]
    plt = _plt()
    fig, axes = plt.subplots(len(cells), len(checkpoints),
                             figsize=(2.4 * len(checkpoints), 2.4 * len(cells)), squeeze=False)
    lim = np.abs(centres).max() + 1.0
    for i, d in enumerate(cells):
        for j, t in enumerate(checkpoints):
            ax = axes[i, j]
            x = d.arrays["samples"][j, 0]
            ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.5, color="C0")
            ax.scatter(centres[:, 0], centres[:, 1], s=25, marker="x", color="C3")
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"iteration {int(t)}", fontsize=9)
            if j == 0:
                ax.set_ylabel(d.cell.agent.display, fontsize=9)
    fig.suptitle(f"{data}: samples of run 1 (blue) over the true modes (red x)")
    _save(fig, path)


def _layer_norms(d: CellData, which: str = "activation_grad_norm") -> np.ndarray:
    """Mean per-layer gradient norm over the second half of training (first run)."""
    g = d.arrays[which].astype(np.float64)  # (T, L, n)
    return g[g.shape[0] // 2:, :, 0].mean(axis=0)


def _gradient_plot(cells: list[CellData], path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, which, ylabel in (
            (axes[0], "activation_grad_norm", "||dV/dh_l|| at layer l's output"),
            (axes[1], "layer_grad_norm", "||dL/dW_l|| of the critic loss")):
        for d in cells:
            norms = _layer_norms(d, which)
            ax.plot(np.arange(len(norms)), np.maximum(norms, 1e-30), "o-",
                    label=d.cell.agent.display)
        ax.set_yscale("log")
        ax.set_xlabel("critic layer (0 = input)")
        ax.set_ylabel(ylabel + " (log scale)")
        ax.legend()
    fig.suptitle(f"{DEEP_LAYERS}-layer critics on the swiss roll, mean over the second half of "
                 "training (seed Figure 64)")
    _save(fig, path)


def _digit_grid(cells: list[CellData], path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, len(cells) + 1, figsize=(3.2 * (len(cells) + 1), 3.4))
    from decisiongym.supervised.gans.data import digits_split

    real = digits_split("test")[0][:100]
    panels = [("real digits", real)] + [(d.cell.agent.display, d.arrays["samples"][-1, 0])
                                        for d in cells]
    for ax, (title, x) in zip(axes, panels, strict=True):
        tiles = np.full((10, 10, 9, 9), -1.0)  # one blank pixel between digits
        tiles[:, :, :8, :8] = np.clip(x[:100], -1, 1).reshape(10, 10, 8, 8)
        ax.imshow(tiles.transpose(0, 2, 1, 3).reshape(90, 90), cmap="gray_r", vmin=-1, vmax=1)
        ax.set_title(title)
        ax.axis("off")
    fig.suptitle("Digits: 100 samples at the end of run 1")
    _save(fig, path)


# ----- analysis ------------------------------------------------------------------------------


def _runs(x: np.ndarray, fmt: str = "{:.0f}") -> str:
    return ", ".join(fmt.format(v) for v in x)


def analyse(exp: Experiment, out: Path, quick: bool) -> Analysis:
    n_eval = EVAL[quick].get("n_eval", 1000)
    results = load_results(exp, out)
    by_data: dict[str, list[CellData]] = {}
    for d in results:
        by_data.setdefault(str(d.cell.env.kwargs["data"]), []).append(d)
    plots = out / "plots"
    checks: list[Check] = []
    text: list[str] = []
    extra: dict[str, Any] = {}

    # --- 1. mode collapse on the mixtures ----------------------------------------------------
    rows = []
    for data in ("8gaussians", "25gaussians"):
        cells = by_data[data]
        _sample_grid(cells, data, plots / f"gan_samples_{data}.png")
        for d in cells:
            a = d.arrays
            rows.append({"data": data, "method": d.cell.agent.display,
                         "iterations": d.cell.horizon,
                         "modes (strict) per run": _runs(a["modes_covered"][-1]),
                         "modes (1 sample)": _runs(a["modes_covered_lenient"][-1]),
                         "high quality": f"{a['high_quality'][-1].mean():.3f}",
                         "W1": f"{a['w1'][-1].mean():.3f}",
                         "s per run": f"{a['seconds'].mean():.0f}"})
    text.append("Mode collapse (final checkpoint; strict rule: a mode needs a quarter of its "
                f"fair share of\nhigh-quality samples; W1 between {n_eval:,} samples and "
                f"{n_eval:,} real points, mean over runs)\n"
                + format_table(rows, [(k, k) for k in rows[0]]))
    extra["mixtures"] = rows
    gp = next(d for d in by_data["8gaussians"] if d.cell.agent.name == "wgan-gp")
    w1 = gp.arrays["w1"]
    checks.append(Check("8 Gaussians: WGAN-GP's samples move towards the data (W1 at the end "
                        "below W1 at the start, every run)", "W1(end) < W1(0)",
                        f"{_runs(w1[-1], '{:.3f}')} vs {_runs(w1[0], '{:.3f}')}",
                        bool((w1[-1] < w1[0]).all()), runs=int(np.size(w1[-1]))))
    if not quick:  # the quick budget is far too short to cover modes
        covered = gp.arrays["modes_covered"][-1]
        good = int((covered >= 7).sum())
        checks.append(Check("8 Gaussians: WGAN-GP covers at least 7 of 8 modes (strict rule) "
                            "in most runs", f">= 7 modes in more than half of {len(covered)} "
                            "runs", f"modes per run {_runs(covered)}",
                            good * 2 > len(covered), runs=len(covered)))
        plain = next(d for d in by_data["8gaussians"] if d.cell.agent.name == "gan")
        gan_modes = plain.arrays["modes_covered"][-1]
        mode_runs = min(len(gan_modes), len(covered))
        m_lo, m_hi = bootstrap_mean_ci(np.asarray(gan_modes[:mode_runs], dtype=np.float64)
                                       - np.asarray(covered[:mode_runs], dtype=np.float64))
        checks.append(Check("8 Gaussians: the original GAN covers fewer modes than WGAN-GP "
                            "(mode collapse; mean over runs, strict rule)", "GAN < WGAN-GP",
                            f"GAN {gan_modes.mean():.1f} (runs {_runs(gan_modes)}), WGAN-GP "
                            f"{covered.mean():.1f}", gan_modes.mean() < covered.mean(),
                            runs=mode_runs, interval=[float(m_lo), float(m_hi)]))

    # --- 2. gradient norms per layer (Figure 64) -----------------------------------------------
    cells = by_data["swissroll"]
    _gradient_plot(cells, plots / "gan_gradient_norms.png")
    grow = []
    spread = {}
    for d in cells:
        norms = _layer_norms(d)
        spread[d.cell.agent.display] = float(norms.max() / max(norms.min(), 1e-30))
        weights = _layer_norms(d, "layer_grad_norm")
        grow.append({"critic": d.cell.agent.display,
                     "||dV/dh_l|| per layer (input first)": " ".join(f"{v:.0e}" for v in norms),
                     "max / min": f"{spread[d.cell.agent.display]:.2g}",
                     "||dL/dW_l|| max / min": f"{weights.max() / max(weights.min(), 1e-30):.2g}"})
    text.append(f"Critic gradient norms per layer, swiss roll, {DEEP_LAYERS}-layer "
                "critic (mean over the second half of training)\n"
                + format_table(grow, [(k, k) for k in grow[0]]))
    extra["gradient_norms"] = grow
    gp_spread = spread["gradient penalty"]
    for c in CLIPS[1:]:
        clip_spread = spread[f"clipping c={c:g}"]
        checks.append(Check(f"weight clipping (c = {c:g}): the critic's gradient norms vary "
                            "across layers by a far larger factor than with the penalty "
                            "(Figure 64)", "max/min over layers > 1000 x the penalty's",
                            f"{clip_spread:.2g} vs {gp_spread:.2g}",
                            clip_spread > 1000 * gp_spread, runs=1))  # first run of each

    # --- 3. digits ---------------------------------------------------------------------------
    cells = by_data["digits"]
    _digit_grid(cells, plots / "gan_digits.png")
    drows = []
    for d in cells:
        a = d.arrays
        drows.append({"method": d.cell.agent.display, "iterations": d.cell.horizon,
                      "classes (strict) per run": _runs(a["classes_covered"][-1]),
                      "confidence": f"{a['confidence'][-1].mean():.3f}",
                      "W1 (64-D)": f"{a['w1'][-1].mean():.2f}",
                      "s per run": f"{a['seconds'].mean():.0f}"})
    text.append(f"Digits (digits score of {n_eval:,} samples at the end; real test digits score "
                + _real_digits_reference() + ")\n"
                + format_table(drows, [(k, k) for k in drows[0]]))
    extra["digits"] = drows
    if not quick:
        classes = next(d for d in cells if d.cell.agent.name == "wgan-gp").arrays[
            "classes_covered"][-1]
        checks.append(Check("digits: WGAN-GP's samples are classified into at least 8 of the 10 "
                            "digits (strict rule) in every run", ">= 8 classes",
                            f"classes per run {_runs(classes)}", bool((classes >= 8).all()),
                            runs=int(np.size(classes))))
    return Analysis(checks, "\n\n".join(text), extra)


def _real_digits_reference() -> str:
    from decisiongym.supervised.gans.data import digits_split
    from decisiongym.supervised.gans.metrics import STRICT_SHARE, digits_score

    s = digits_score(digits_split("test")[0], min_share=STRICT_SHARE)
    return f"{s.classes_covered} classes, confidence {s.confidence:.3f}"


REPRODUCTION = Reproduction(
    name="gan",
    summary="GAN vs WGAN vs WGAN-GP (Goodfellow et al. 2014; Arjovsky et al. 2017; Gulrajani et "
            "al. 2017): mode collapse on 8 and 25 Gaussians, critic gradient norms per layer "
            "(clipping vs penalty), digits",
    experiment=experiment,
    analyse=analyse,
    aggregate=False,
)
