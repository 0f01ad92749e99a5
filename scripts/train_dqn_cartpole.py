"""Train DQN on CartPole-v1 and evaluate its greedy policy.

Several independent learners train at once (one network per learner, stacked along a learner
axis), each for the same number of env steps; then each learner's greedy policy plays fresh
episodes. The log goes to DIR/progress.csv, one column per learner.

    python scripts/train_dqn_cartpole.py                  # 3 learners x 30,000 steps
    python scripts/train_dqn_cartpole.py --quick --out /tmp/dqn
"""

import argparse

import numpy as np

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym.harness.training import train

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="a tiny size, for tests")
parser.add_argument("--out", default="runs/dqn-cartpole", help="log directory")
args = parser.parse_args()

learners, steps = (2, 1_000) if args.quick else (3, 30_000)

# DQN with its defaults (rl-zoo's tuned CartPole values); learner i is seeded with seed + i.
result = train("CartPole-v1", "dqn", seeds=learners, steps=steps, seed=0, log_dir=args.out,
               eval_episodes=5 if args.quick else 20)

print(f"{learners} learners x {result.steps} env steps in {result.seconds:.1f} s")
print("mean return of the last 20 training episodes, per learner:",
      np.round(result.final_return, 1))
print("greedy evaluation return, per learner:           ", np.round(result.evaluation, 1))
print(f"log: {result.log_path}")

# The trained agent keeps acting: result.agent.act(observations) for a batch of
# observations, one row per env copy of its learners.
