"""A user's chain env and agent, registered on import (no vector entry point, no decisiongym
metadata): the harness must run them through Gymnasium's SyncVectorEnv and its own recorders.

The chain: states 0..n-1, start at 0; action 1 moves right, action 0 back to 0; reaching the
last state pays 1 and ends the episode; every other step pays 0.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from decisiongym import agents


class Chain(gym.Env[np.int64, np.int64]):
    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self, n: int = 5) -> None:
        self.n = int(n)
        self.observation_space = spaces.Discrete(self.n)
        self.action_space = spaces.Discrete(2)
        self.state = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.int64, dict[str, Any]]:
        super().reset(seed=seed)
        self.state = 0
        return np.int64(self.state), {}

    def step(self, action: np.int64) -> tuple[np.int64, float, bool, bool, dict[str, Any]]:
        self.state = self.state + 1 if int(action) == 1 else 0
        done = self.state == self.n - 1
        return np.int64(self.state), float(done), done, False, {}


@agents.register("user-always-right", "a user's agent: always action 1")
class AlwaysRight(agents.BaseAgent):
    def _reset_state(self, num_envs: int) -> None:
        pass

    def _act(self, obs: Any) -> Any:
        return np.ones(self.num_envs, dtype=np.int64)

    def _learn(self, rows: Any, obs: Any, actions: Any, rewards: Any, next_obs: Any,
               terminated: Any, truncated: Any) -> None:
        pass


if "user/Chain-v0" not in gym.registry:
    gym.register("user/Chain-v0", entry_point=Chain, max_episode_steps=50)
