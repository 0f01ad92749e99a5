"""DQN training speed: decisiongym's ``dqn`` against Stable-Baselines3's DQN on CartPole-v1.

    python benchmarks/bench_dqn.py [--steps 20000] [--repeats 1] [--learners 1] [--quick]

Both train from scratch for ``--steps`` environment steps with the same hyperparameters,
rl-zoo's tuned CartPole-v1 DQN (lr 2.3e-3, batch 64, buffer 100,000, learning_starts 1000,
gamma 0.99, target update every 10 env steps, train_freq 256 with 128 gradient steps, epsilon
1 -> 0.04 over the first 16% of the budget, an MLP of 256 x 256), on CPU with one torch thread.
That is one gradient step per two env steps: the rate measures acting, storing and learning
together, as in a real run.

Reported: environment steps per second (``--steps`` / seconds, best of ``--repeats``; the two
contestants alternate, so both see the same load) and the ratio ours / SB3 (the issue's target:
at least 1). With ``--learners n`` ours also trains n
independent learners at once (one batched network, ``n x --steps`` env steps in all); its
aggregate rate is shown beside (SB3 trains one model at a time).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym.harness import run
from decisiongym.reproductions.deep_rl import ZOO_DQN_OURS, ZOO_DQN_SB3


def ours(steps: int, learners: int = 1) -> float:
    params = {**ZOO_DQN_OURS, "exploration_steps": int(0.16 * steps), "device": "cpu"}
    start = time.perf_counter()
    run("CartPole-v1", "dqn", replicates=learners, horizon=steps, seed=0, agent_params=params)
    return learners * steps / (time.perf_counter() - start)


def sb3(steps: int) -> float:
    import gymnasium as gym
    from stable_baselines3 import DQN

    model = DQN("MlpPolicy", gym.make("CartPole-v1"), seed=0, device="cpu", verbose=0,
                **ZOO_DQN_SB3)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--learners", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="3,000 steps, one repeat")
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()
    steps = 3000 if args.quick else args.steps
    torch.set_num_threads(1)
    # Alternate the contestants so that both see the same machine load.
    pairs = [(ours(steps), sb3(steps)) for _ in range(args.repeats)]
    rates = {"decisiongym dqn": max(p[0] for p in pairs),
             "SB3 DQN": max(p[1] for p in pairs)}
    if args.learners > 1:
        rates[f"decisiongym dqn, {args.learners} learners at once"] = max(
            ours(steps, args.learners) for _ in range(args.repeats))
    print(f"CartPole-v1, {steps} env steps per learner, rl-zoo DQN hyperparameters, CPU, "
          "1 torch thread")
    for name, rate in rates.items():
        print(f"  {name:<40} {rate:10.0f} env steps/s")
    ratio = rates["decisiongym dqn"] / rates["SB3 DQN"]
    print(f"ratio decisiongym / SB3 (one learner each): {ratio:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"steps": steps, "rates": rates, "ratio": ratio,
                       "numpy": np.__version__, "torch": torch.__version__}, fh, indent=2)


if __name__ == "__main__":
    main()
