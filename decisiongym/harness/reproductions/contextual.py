"""Contextual bandits compared (seed 5.2.4): the full-feedback reference learner."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym.agents.contextual import RidgeArms

CLASSIFICATION_ID = "decisiongym/ClassificationBandit-v0"


def full_feedback_accuracy(dataset: str, horizon: int, replicates: int, seed: int = 0,
                           regularization: float = 1.0) -> NDArray[np.float64]:
    """Online accuracy (per replicate) of the full-feedback (supervised) learner on the same
    stream of examples as the bandit agents: one-vs-rest ridge regression of the one-hot label
    on the features, which predicts argmax_a beta_a' x and then learns the reward of *every*
    action (the label), where a bandit agent learns only the reward of the action it took.
    The upper reference for the bandit agents on a classification bandit."""
    env = gym.make_vec(CLASSIFICATION_ID, num_envs=replicates,
                       vectorization_mode="vector_entry_point", dataset=dataset, horizon=horizon)
    assert isinstance(env.single_action_space, gym.spaces.Discrete)
    k = int(env.single_action_space.n)
    d = int(np.prod(env.single_observation_space.shape or (1,)))
    model = RidgeArms(replicates, k, d, regularization)
    rows = np.arange(replicates)
    x, _ = env.reset(seed=seed)
    correct = np.zeros(replicates)
    for _ in range(horizon):
        a = model.predict(x).argmax(axis=1)
        next_x, r, _, _, info = env.step(a.astype(np.int64))
        correct += r
        labels_onehot = info["expected_rewards"]
        for arm in range(k):  # full feedback: every action's reward is known
            model.update(rows, np.full(replicates, arm), x, labels_onehot[:, arm])
        x = next_x
    env.close()
    return correct / horizon
