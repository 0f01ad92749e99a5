"""Evaluate a Stable-Baselines3 model beside our agents, on the same seeds.

A model trained with SB3's own API is wrapped as a batched agent (PolicyAgent) and measured by
the same harness, with the same episodes, as our DQN trained for the same budget.

    python scripts/sb3_beside_ours.py
    python scripts/sb3_beside_ours.py --quick
"""

import argparse

from stable_baselines3 import PPO

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym.agents import PolicyAgent
from decisiongym.harness import run
from decisiongym.harness.training import evaluate, train

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="a tiny size, for tests")
args = parser.parse_args()

env_id, steps = "CartPole-v1", (1_000 if args.quick else 30_000)
episodes = 3 if args.quick else 10

# 1. SB3's way: a PPO model trained by SB3 itself.
model = PPO("MlpPolicy", env_id, seed=0, verbose=0, n_steps=256 if args.quick else 2048)
model.learn(total_timesteps=steps)

# 2. Ours: DQN trained by the harness for the same budget.
ours = train(env_id, "dqn", seeds=1, steps=steps, seed=0, eval_episodes=0)

# 3. Both evaluated greedily on the same episode seeds.
sb3_agent = PolicyAgent(model, name="sb3-ppo (trained by SB3)")
sb3_agent.reset(1, seed=0)
sb3_eval = evaluate(sb3_agent, env_id, episodes=episodes)
our_eval = evaluate(ours.agent, env_id, episodes=episodes)
print(f"greedy return over {episodes} episodes after {steps} steps: "
      f"SB3 PPO {sb3_eval.returns[0]:.1f}, our DQN {our_eval.returns[0]:.1f}")

# Any callable obs -> action works the same way, e.g. a hand-written CartPole rule, and the
# harness's run() measures it like any agent (here: return against env steps).
rule = PolicyAgent(lambda obs: int(obs[2] + obs[3] > 0), name="pole-angle rule")
result = run(env_id, rule, replicates=4, horizon=2_000, seed=0)
print(f"pole-angle rule: mean episode return {result['final_return'].mean():.1f}")
