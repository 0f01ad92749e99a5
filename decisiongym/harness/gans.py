"""GAN training runs as harness cells (``decisiongym reproduce gan``).

A cell is one data set (``cell.env.kwargs["data"]``, one of
:data:`decisiongym.gans.data.DATASETS`; the env id is :data:`GAN_ENV_ID`, the two-player game
:class:`decisiongym.gans.game.GANGame`) x one GAN variant (``cell.agent.name``: ``gan``,
``wgan`` or ``wgan-gp``; ``cell.agent.params`` override :meth:`GANConfig.for_kind`'s defaults,
plus ``checkpoints`` (how many evaluation points, default 5, evenly spaced from 0 to the
horizon) and ``n_eval`` (samples per evaluation, default 1000)). ``cell.horizon`` is the
number of generator iterations and ``cell.seeds`` the number of training runs; run i uses data
and noise seed ``cell.seed + i`` and network seed ``cell.seed + i``
(:func:`decisiongym.gans.players.train_gan`, which the game reproduces bit for bit).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from decisiongym.harness.experiment import Cell
from decisiongym.harness.store import CellResult, make_record

GAN_ENV_ID = "decisiongym/GANGame"
#: Samples kept per checkpoint for the plots (2-D sets) and the image grids (digits).
KEEP_SAMPLES = {"digits": 100}
KEEP_SAMPLES_2D = 500
EVAL_SEED = 10_000  # noise seed of the evaluation samples (+ the run index)


def _metrics(data: str, samples: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """Every metric of one set of samples against a real set of the same size."""
    from decisiongym.gans.data import modes
    from decisiongym.gans.metrics import (
        STRICT_SHARE,
        digits_score,
        mode_coverage,
        wasserstein1,
    )

    out = {"w1": wasserstein1(samples, real)}
    if data in ("8gaussians", "25gaussians"):
        centres, std = modes(data)
        strict = mode_coverage(samples, centres, std, min_share=STRICT_SHARE)
        out.update(modes_covered=strict.modes_covered, high_quality=strict.high_quality,
                   modes_covered_lenient=mode_coverage(samples, centres, std).modes_covered)
    elif data == "digits":
        score = digits_score(samples, min_share=STRICT_SHARE)
        out.update(classes_covered=score.classes_covered, confidence=score.confidence)
    return out


def run_gan_cell(cell: Cell) -> CellResult:
    """Train ``cell.seeds`` GANs and evaluate them at the checkpoints.

    Arrays (S checkpoints, n runs, L critic layers, T = horizon):
    ``checkpoints`` (S,) generator iterations; ``samples`` (S, n, m, d) generated samples
    (m = :data:`KEEP_SAMPLES_2D` or 100 digits); ``w1`` (S, n) exact W1 between ``n_eval``
    samples and as many fresh real points; on the mixtures ``modes_covered`` (S, n) under the
    strict rule (:data:`decisiongym.gans.metrics.STRICT_SHARE`), ``modes_covered_lenient``
    (one sample is enough) and ``high_quality`` (S, n); on digits ``classes_covered`` (strict
    rule) and ``confidence`` (S, n); ``layer_grad_norm`` (T, L, n) the critic's per-layer
    weight-gradient norms and ``activation_grad_norm`` (T, L, n) the norms of dV/dh_l at each
    layer's output (:func:`decisiongym.gans.players.activation_grad_norms`), averaged over each
    iteration's critic steps; ``critic_value`` (T, n) likewise; ``seconds`` (n,);
    ``final_regret`` (n,): modes (or digit classes) not covered at
    the end under the strict rule, or the final W1 on the swiss roll.
    """
    import torch

    from decisiongym.gans.data import DATASETS, data_dim, modes, sample_data
    from decisiongym.gans.players import (
        GANConfig,
        generate,
        layer_grad_norm_matrix,
        train_gan,
    )

    torch.set_num_threads(1)  # small networks: one thread avoids spin-waiting on shared CPUs
    data = str(cell.env.kwargs.get("data", "8gaussians"))
    if data not in DATASETS:
        raise ValueError(f"{GAN_ENV_ID}: data must be one of {DATASETS}, got {data!r}")
    params = dict(cell.agent.params)
    n_points = int(params.pop("checkpoints", 5))
    n_eval = int(params.pop("n_eval", 1000))
    if n_points < 2 or n_eval < 10:
        raise ValueError(f"{cell.agent.name}: need checkpoints >= 2 and n_eval >= 10, got "
                         f"{n_points} and {n_eval}")
    params.setdefault("data_dim", data_dim(data))
    cfg = GANConfig.for_kind(cell.agent.name, **params)
    checkpoints = np.unique(np.linspace(0, cell.horizon, n_points).round().astype(np.int64))
    keep = KEEP_SAMPLES.get(data, KEEP_SAMPLES_2D)
    per_run: list[dict[str, Any]] = []
    for i in range(cell.seeds):
        seed = cell.seed + i
        real = sample_data(data, n_eval, np.random.default_rng([seed, 1]))
        evals: list[dict[str, float]] = []
        snaps: list[np.ndarray] = []

        def evaluate(t: int, gen: Any, critic: Any, seed: int = seed,
                     real: np.ndarray = real, evals: list[dict[str, float]] = evals,
                     snaps: list[np.ndarray] = snaps) -> None:
            if t in checkpoints:
                x = generate(gen, n_eval, cfg.latent_dim, EVAL_SEED + seed)
                evals.append(_metrics(data, x, real))
                snaps.append(x[:keep])

        start = time.perf_counter()
        run = train_gan(cfg, data, iterations=cell.horizon, seed=seed, model_seed=seed,
                        callback=evaluate)
        seconds = time.perf_counter() - start
        k = cfg.n_critic
        per_run.append({
            "evals": evals, "samples": np.stack(snaps), "seconds": seconds,
            **{which: layer_grad_norm_matrix(run.history, which)  # (T n_critic, L)
               .reshape(cell.horizon, k, -1).mean(axis=1)
               for which in ("layer_grad_norm", "activation_grad_norm")},
            "critic_value": np.asarray(run.history["critic_value"]).reshape(
                cell.horizon, k).mean(axis=1)})
    arrays: dict[str, Any] = {
        "checkpoints": checkpoints,
        "samples": np.stack([r["samples"] for r in per_run], axis=1).astype(np.float32),
        **{which: np.stack([r[which] for r in per_run], axis=2).astype(np.float32)
           for which in ("layer_grad_norm", "activation_grad_norm")},
        "critic_value": np.stack([r["critic_value"] for r in per_run], axis=1)
        .astype(np.float32),
        "seconds": np.array([r["seconds"] for r in per_run]),
    }
    for key in per_run[0]["evals"][0]:
        arrays[key] = np.array([[e[key] for e in r["evals"]] for r in per_run]).T
    if "modes_covered" in arrays:
        final = len(modes(data)[0]) - arrays["modes_covered"][-1]
        kind = "modes not covered (strict rule)"
    elif "classes_covered" in arrays:
        final = 10 - arrays["classes_covered"][-1]
        kind = "digit classes not covered (strict rule)"
    else:
        final = arrays["w1"][-1]
        kind = "W1 to the data"
    arrays["final_regret"] = np.asarray(final, dtype=np.float64)
    arrays["mean_reward"] = -arrays["w1"][-1].astype(np.float64)
    arrays["best_arm_fraction"] = np.full(cell.seeds, np.nan)
    arrays["lai_robbins_constant"] = np.full(cell.seeds, np.nan)
    record = make_record(cell, {"arrays": sorted(arrays), "regret_kind": kind,
                                "resolved_params": {k: (list(v) if isinstance(v, tuple) else v)
                                                    for k, v in vars(cfg).items()}})
    return CellResult(arrays, record)


__all__ = ["GAN_ENV_ID", "run_gan_cell"]
