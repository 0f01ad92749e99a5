"""Maze stepping speed: decisiongym's native vector maze against Gymnasium's SyncVectorEnv.

    python benchmarks/bench_mazes.py [--replicates 1000] [--steps 200] [--repeats 3] [--quick]

Contestants, all with ``--replicates`` copies stepped ``--steps`` times with random actions (drawn
before timing, the same for every contestant):

- decisiongym native: ``gym.make_vec("decisiongym/Maze-v0", num_envs=n,
  vectorization_mode="vector_entry_point")``, one array step for all replicates;
- decisiongym in SyncVectorEnv: ``gym.make_vec(..., vectorization_mode="sync")``, n single
  ``Maze-v0`` envs stepped one after another by Gymnasium;
- FrozenLake in SyncVectorEnv: ``gym.make_vec("FrozenLake-v1", num_envs=n,
  vectorization_mode="sync", is_slippery=False)``, Gymnasium's own 4x4 gridworld as a yardstick.

The maze is the example of Dobriban, *Notes for Stat 991: Topics in Deep Learning* (2019),
section 5.3.5 (``layout="seed"``, 29 free cells, deterministic). Reported:
environment steps per second (replicates x steps / seconds, best of ``--repeats``) and the
ratio of the native env's rate over each SyncVectorEnv (the issue's target: at least 50x).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

import decisiongym  # noqa: F401  (registers the environments)


def _time(make: Callable[[], Any], actions: np.ndarray, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        env = make()
        env.reset(seed=0)
        start = time.perf_counter()
        for a in actions:
            env.step(a)
        best = min(best, time.perf_counter() - start)
        env.close()
    return best


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layout", default="seed")
    parser.add_argument("--quick", action="store_true", help="100 replicates, 50 steps, 1 repeat")
    parser.add_argument("--output", default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)
    if args.quick:
        args.replicates, args.steps, args.repeats = 100, 50, 1
    n = args.replicates
    actions = np.random.default_rng(0).integers(0, 4, (args.steps, n)).astype(np.int64)

    def native() -> Any:
        return gym.make_vec("decisiongym/Maze-v0", num_envs=n,
                            vectorization_mode="vector_entry_point", layout=args.layout)

    def sync_maze() -> Any:
        return gym.make_vec("decisiongym/Maze-v0", num_envs=n, vectorization_mode="sync",
                            layout=args.layout)

    def sync_frozenlake() -> Any:
        return gym.make_vec("FrozenLake-v1", num_envs=n, vectorization_mode="sync",
                            is_slippery=False)

    total = n * args.steps
    seconds = {
        "decisiongym native vector": _time(native, actions, args.repeats),
        "decisiongym Maze-v0 x SyncVectorEnv": _time(sync_maze, actions, args.repeats),
        "FrozenLake-v1 x SyncVectorEnv": _time(sync_frozenlake, actions, args.repeats),
    }
    rates = {k: total / v for k, v in seconds.items()}
    base = rates["decisiongym native vector"]
    print(f"{n} replicates x {args.steps} steps (layout {args.layout!r}), best of "
          f"{args.repeats}:")
    print(f"{'contestant':40s} {'seconds':>9s} {'steps/s':>14s} {'native speed-up':>16s}")
    for k in seconds:
        print(f"{k:40s} {seconds[k]:9.4f} {rates[k]:14,.0f} {base / rates[k]:15.1f}x")
    ratios = {"over sync maze": base / rates["decisiongym Maze-v0 x SyncVectorEnv"],
              "over sync FrozenLake": base / rates["FrozenLake-v1 x SyncVectorEnv"]}
    print(f"target >= 50x: over SyncVectorEnv of single mazes {ratios['over sync maze']:.0f}x "
          f"({'met' if ratios['over sync maze'] >= 50 else 'NOT met'}); over FrozenLake "
          f"{ratios['over sync FrozenLake']:.0f}x")
    result = {"replicates": n, "steps": args.steps, "seconds": seconds, "steps_per_second": rates,
              "ratios": ratios}
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main()
