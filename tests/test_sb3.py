"""Stable-Baselines3 runs on decisiongym bandits."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

import decisiongym  # noqa: F401


def test_ppo_learns_the_better_arm_of_a_bernoulli_bandit() -> None:
    torch.set_num_threads(1)
    env = gym.make("decisiongym/BernoulliBandit-v0", means=[0.1, 0.9], horizon=32)
    model = PPO("MlpPolicy", env, n_steps=128, batch_size=64, learning_rate=3e-3, seed=0,
                device="cpu", verbose=0)
    obs = np.zeros((1,), dtype=np.int64)

    def p_best_arm() -> float:
        with torch.no_grad():
            dist = model.policy.get_distribution(model.policy.obs_to_tensor(obs)[0])
            return float(dist.distribution.probs[0, 1])  # type: ignore[attr-defined]

    p_before = p_best_arm()
    model.learn(total_timesteps=2048)
    assert p_best_arm() > max(0.8, p_before)
    mean_return, _ = evaluate_policy(model, Monitor(env), n_eval_episodes=5, deterministic=True)
    assert mean_return > 0.7 * 32
