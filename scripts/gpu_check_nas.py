"""Architectures evaluated per minute, children trained on CUDA and on CPU.

    python scripts/gpu_check_nas.py [--seconds 60] [--dataset digits|mnist] [--epochs 1]
                                    [--threads 1] [--out results.json]

For each device, REINFORCE (``nas-reinforce``) searches ``NASChain-v0`` and ``NASCell-v0`` with
the evaluation cache off, for ``--seconds`` each after one warm-up architecture (not timed;
CUDA initialises and kernels load); every child is trained from scratch on the training split
and scored on the validation split. Prints architectures per minute and the best validation
accuracy. CUDA is skipped, with a line saying so, when torch sees no GPU. On digits (8 x 8) the
children are tiny and a GPU mostly adds launch latency; ``--dataset mnist`` (28 x 28) is the
fairer comparison.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import decisiongym  # noqa: F401  (registers the environments and agents)
from decisiongym import agents


def _search(env_id: str, device: str, seconds: float, dataset: str, epochs: int,
            extra: dict[str, Any]) -> dict[str, Any]:
    env: Any = gym.make_vec(env_id, num_envs=1, vectorization_mode="vector_entry_point",
                            dataset=dataset, epochs=epochs, cache=False, device=device, **extra)
    agent = agents.make("nas-reinforce", observation_space=env.single_observation_space,
                        action_space=env.single_action_space, num_threads=None)
    agent.reset(1, seed=0)
    obs, _ = env.reset(seed=0)
    done, best, start, warm = 0, 0.0, 0.0, False
    while True:
        actions = agent.act(obs)
        next_obs, r, term, trunc, info = env.step(actions)
        agent.update(obs, actions, r, next_obs, term, trunc)
        obs = next_obs
        if term[0]:
            if not warm:
                warm, start = True, time.perf_counter()
                continue
            done += 1
            if not info["malformed"][0]:
                best = max(best, float(info["val_accuracy"][0]))
            if time.perf_counter() - start >= seconds:
                break
    elapsed = time.perf_counter() - start
    return {"env": env_id, "device": device, "architectures": done, "seconds": elapsed,
            "per_minute": 60.0 * done / elapsed, "best_val_accuracy": best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--dataset", choices=["digits", "mnist"], default="digits")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if "cuda" not in devices:
        print("CUDA: torch sees no GPU; CPU only")
    else:
        print(f"CUDA: {torch.cuda.get_device_name(0)}")
    rows = []
    for env_id, extra in (("decisiongym/NASChain-v0", {}),
                          ("decisiongym/NASCell-v0", {"channels": 16})):
        for device in devices:
            row = _search(env_id, device, args.seconds, args.dataset, args.epochs, extra)
            rows.append(row)
            print(f"{env_id:26s} {device:5s} {row['per_minute']:8.1f} architectures/min "
                  f"({row['architectures']} in {row['seconds']:.0f} s), best val "
                  f"{row['best_val_accuracy']:.3f}", flush=True)
    by = {(r["env"], r["device"]): r["per_minute"] for r in rows}
    for env_id in sorted({r["env"] for r in rows}):
        if (env_id, "cuda") in by:
            print(f"{env_id}: CUDA / CPU = {by[(env_id, 'cuda')] / by[(env_id, 'cpu')]:.2f}x")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"dataset": args.dataset, "epochs": args.epochs, "threads": args.threads,
                       "rows": rows, "numpy": np.__version__, "torch": torch.__version__},
                      fh, indent=2)


if __name__ == "__main__":
    main()
