"""The black-box attacker of ``decisiongym/AdversarialAttack-v0`` as an agent (Dobriban, *Notes for
Stat 991: Topics in Deep Learning*, 2019, section 6.1).

NumPy only, so that ``import decisiongym`` registers it without importing torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from decisiongym.agents.base import BaseAgent, register
from decisiongym.arrays import BoolArray, FloatArray, IntArray


@register("nes-attacker", "black-box L-inf attacker: NES gradient estimates from rewards "
          "(Ilyas et al. 2018), signed steps; one query per step")
class NESAttacker(BaseAgent):
    """NES (Ilyas et al. 2018) on the reward: with the perturbation's centre c, it plays
    c + sigma u_k and c - sigma u_k for ``n_samples`` Gaussian directions u_k (2 n_samples
    steps), estimates g = sum_k [r(c + sigma u_k) - r(c - sigma u_k)] u_k / (2 n sigma), then
    sets c <- clip(c + step_size sign(g), -eps, eps). It reads only the reward and the action
    space (eps = its bound); the observation is used for nothing but its batch size.

    - ``sigma`` (default 0.01): the search radius; ``n_samples`` (default 10) antithetic pairs
      per gradient estimate; ``step_size`` (default 0.02).
    """

    name = "nes-attacker"

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 sigma: float = 0.01, n_samples: int = 10, step_size: float = 0.02) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        if not isinstance(action_space, spaces.Box):
            raise ValueError(f"{self.name}: needs a Box action space, got {action_space}")
        self.sigma = self._check_float("sigma", sigma, low=0.0, low_open=True)
        self.n_samples = self._check_int("n_samples", n_samples)
        self.step_size = self._check_float("step_size", step_size, low=0.0, low_open=True)
        self._params = {"sigma": self.sigma, "n_samples": self.n_samples,
                        "step_size": self.step_size}
        self.shape = tuple(action_space.shape)
        self.eps = float(np.max(action_space.high))

    def _reset_state(self, num_envs: int) -> None:
        d = int(np.prod(self.shape))
        self.centre = np.zeros((num_envs, d))
        self.directions = np.zeros((num_envs, self.n_samples, d))
        self.returns = np.zeros((num_envs, 2 * self.n_samples))
        self.k = np.zeros(num_envs, dtype=np.int64)  # query index within the estimate
        self._new_directions(np.arange(num_envs))

    def _new_directions(self, rows: IntArray) -> None:
        self.directions[rows] = self.rng.standard_normal((len(rows), *self.directions.shape[1:]))

    def act(self, obs: Any) -> NDArray[Any]:
        """One perturbation per replicate (the observation, a dict of batches, is not read)."""
        if self.num_envs == 0:
            raise RuntimeError(f"{self.name}: call reset(num_envs, seed) before act()")
        return self._act(obs)

    def _act(self, obs: Any) -> NDArray[Any]:
        rows = np.arange(self.num_envs)
        u = self.directions[rows, self.k // 2]
        sign = np.where(self.k % 2 == 0, 1.0, -1.0)[:, None]
        a = np.clip(self.centre + sign * self.sigma * u, -self.eps, self.eps)
        return a.reshape(self.num_envs, *self.shape).astype(np.float32)

    def _learn(self, rows: IntArray, obs: Any, actions: NDArray[Any], rewards: FloatArray,
               next_obs: Any, terminated: BoolArray, truncated: BoolArray) -> None:
        self.returns[rows, self.k[rows]] = rewards[rows]
        self.k[rows] += 1
        full = rows[self.k[rows] == 2 * self.n_samples]
        if full.size:
            diff = self.returns[full, 0::2] - self.returns[full, 1::2]  # (m, n)
            g = np.einsum("mn,mnd->md", diff, self.directions[full])
            g /= 2 * self.n_samples * self.sigma
            self.centre[full] = np.clip(self.centre[full] + self.step_size * np.sign(g),
                                        -self.eps, self.eps)
            self.k[full] = 0
            self._new_directions(full)

    def _end_episode(self, rows: IntArray) -> None:
        self.centre[rows] = 0.0
        self.k[rows] = 0
        self._new_directions(rows)


__all__ = ["NESAttacker"]
