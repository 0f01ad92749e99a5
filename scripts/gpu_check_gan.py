"""Train WGAN-GP on the 8x8 digits briefly on CUDA and on CPU; report generator iterations per
second on each (and the digits score of the samples at the end).

    python scripts/gpu_check_gan.py [--seconds 20] [--batch 64] [--hidden 256,256]
                                    [--threads N] [--out results.json]

CUDA is skipped, with a line saying so, when torch sees no GPU. The loop is
:func:`decisiongym.supervised.gans.players.train_gan`'s, written out with the networks on the
device: each
iteration is n_critic = 5 critic steps (gradient penalty at interpolates, lambda = 10) and one
generator step from the critic's feedback. The data and noise are drawn on the CPU (numpy) and
copied to the device, as the game does; the critic's per-step statistics (values, per-layer
gradient norms) are read back every step, so this measures the library's loop, not a tuned one.
A few warm-up iterations run first (not timed).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch

from decisiongym.supervised.gans.data import sample_data, sample_noise
from decisiongym.supervised.gans.metrics import STRICT_SHARE, digits_score
from decisiongym.supervised.gans.players import (
    GANConfig,
    build_critic,
    build_generator,
    critic_feedback,
    critic_step,
    generator_step,
    make_optimizer,
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train(cfg: GANConfig, device: torch.device, seconds: float, warmup: int = 3
           ) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    tgen = torch.Generator().manual_seed(0)
    G, D = build_generator(cfg, 0).to(device), build_critic(cfg, 0).to(device)
    opt_g, opt_d = make_optimizer(cfg, G.parameters()), make_optimizer(cfg, D.parameters())

    def iteration() -> None:
        for r in range(cfg.n_critic + 1):
            real = torch.as_tensor(sample_data("digits", cfg.batch_size, rng)).to(device)
            z = torch.as_tensor(sample_noise(cfg.batch_size, cfg.latent_dim, rng)).to(device)
            with torch.no_grad():
                fake = G(z)
            if r < cfg.n_critic:
                critic_step(cfg, D, opt_d, real, fake, tgen)
            else:
                s, g = critic_feedback(D, fake)
                generator_step(cfg, G, opt_g, z, s, g)

    for _ in range(warmup):
        iteration()
    _sync(device)
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        iteration()
        steps += 1
    _sync(device)
    elapsed = time.perf_counter() - start
    z = torch.as_tensor(sample_noise(1000, cfg.latent_dim, np.random.default_rng(1))).to(device)
    with torch.no_grad():
        samples = G(z).cpu().numpy()
    score = digits_score(samples, min_share=STRICT_SHARE)
    return {"iterations": steps, "seconds": elapsed, "iterations_per_s": steps / elapsed,
            "classes_covered": score.classes_covered, "confidence": score.confidence}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="training budget per run")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", default="256,256", help="hidden widths of G and the critic")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    cfg = GANConfig.for_kind("wgan-gp", hidden=hidden, batch_size=args.batch, latent_dim=16,
                             data_dim=64, lr=1e-3)
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
        print(f"CUDA: {torch.cuda.get_device_name(0)}")
    else:
        print("CUDA: not available, skipped (CPU only)")
    results: dict[str, Any] = {"torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
                               "batch": args.batch, "hidden": list(hidden),
                               "seconds": args.seconds, "runs": []}
    for device in devices:
        r = _train(cfg, device, args.seconds)
        r.update(device=device.type)
        results["runs"].append(r)
        print(f"wgan-gp digits {device.type:5s} {r['iterations_per_s']:8.1f} iterations/s "
              f"({r['iterations']} iterations of 5 critic + 1 generator steps in "
              f"{r['seconds']:.1f} s; digits score: {r['classes_covered']} classes, "
              f"confidence {r['confidence']:.3f})", flush=True)
    by = {r["device"]: r["iterations_per_s"] for r in results["runs"]}
    if "cuda" in by:
        print(f"CUDA / CPU = {by['cuda'] / by['cpu']:.1f}x")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
