"""Shared fixtures. Every test runs on CPU with fixed seeds."""

from __future__ import annotations

import os
import tempfile

import gymnasium as gym
import numpy as np
import pytest

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym import agents

# Caches (trained victims, NAS evaluations) go to a fresh directory per test process, so a test
# never reads what an earlier run or the user left in ~/.cache/decisiongym.
os.environ["DECISIONGYM_CACHE"] = tempfile.mkdtemp(prefix="decisiongym-test-cache-")


def make_agent(name: str, n_arms: int, **params: object) -> agents.BaseAgent:
    return agents.make(name, observation_space=gym.spaces.Discrete(1),
                       action_space=gym.spaces.Discrete(n_arms), **params)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
