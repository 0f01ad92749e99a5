"""Deep RL on CPU and CUDA: env steps per second of ``dqn`` and ``actor-critic`` on CartPole-v1.

    python scripts/gpu_check_deep_rl.py [--steps 20000] [--learners 1 8]

For each device present (CPU always, CUDA when ``torch.cuda.is_available()``), each agent and
each learner count, trains from scratch for ``--steps`` env steps per learner and prints the
aggregate env steps per second and the final training return (mean of the last 20 episodes).
DQN uses rl-zoo's CartPole hyperparameters (one gradient step per two env steps); actor-critic
its defaults (8 env copies per learner, an update every 8 steps). Meant to be run once on a
machine with a GPU; the figures go in the issue's closing note. Exits 0 without a GPU too.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import decisiongym  # noqa: F401
from decisiongym.harness import run
from decisiongym.reproductions.deep_rl import ZOO_DQN_OURS


def measure(agent: str, device: str, learners: int, steps: int) -> dict[str, float | str]:
    params: dict[str, object] = {"device": device}
    if agent == "dqn":
        params.update(ZOO_DQN_OURS, exploration_steps=int(0.16 * steps))
    start = time.perf_counter()
    result = run("CartPole-v1", agent, replicates=learners, horizon=steps, seed=0,
                 agent_params=params)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"agent": agent, "device": device, "learners": learners, "steps": steps,
            "seconds": seconds, "env_steps_per_s": learners * steps / seconds,
            "final_return": float(np.nanmean(result["final_return"]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--learners", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--agents", nargs="+", default=["dqn", "actor-critic"])
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if len(devices) == 1:
        print("no CUDA device: CPU figures only")
    else:
        print(f"CUDA: {torch.cuda.get_device_name(0)}")
    rows = []
    for agent in args.agents:
        for learners in args.learners:
            for device in devices:
                row = measure(agent, device, learners, args.steps)
                rows.append(row)
                print(f"{agent:<13} {device:<5} learners {learners:>3}: "
                      f"{row['env_steps_per_s']:9.0f} env steps/s, "
                      f"final return {row['final_return']:6.1f} ({row['seconds']:.1f} s)",
                      flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
