"""Linear value-function approximation (Dobriban (2019), section 5.3.9; Sutton & Barto 2018,
chapter 9).

v_hat(s, w) = x(s)' w on a feature map x: tile coding (Sutton & Barto 9.5.4: ``n_tilings`` grids of
``tiles`` cells per dimension, each offset by a fraction of a cell) or random Fourier features
(Rahimi & Recht 2007: x(s) = sqrt(2 / D) cos(W s + b), W ~ N(0, 1 / bandwidth^2), b ~ U[0, 2 pi], on
inputs scaled to [0, 1]). The SGD update of Dobriban (2019), section 5.3.9, with grad v_hat = x(s):

    w <- w + alpha (U_t - v_hat(S_t, w)) x(S_t)

- ``linear-td0``: U_t = R_{t+1} + gamma v_hat(S_{t+1}, w), the semi-gradient TD(0) target
  (0 after termination; a truncated episode bootstraps);
- ``linear-mc``: U_t = G_t, gradient Monte Carlo, applied for every step of an episode when it
  ends (item 3: the S_i, G_i become the training data).

Both predict the value of a fixed ``policy``: uniform over the actions by default. Weights are
(n, d) arrays, one row per replicate; the Python loop is over time steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from decisiongym.agents.base import BaseAgent, register
from decisiongym.arrays import BoolArray, FloatArray, IntArray

__all__ = ["LinearMC", "LinearTD0", "RandomFourierFeatures", "TileCoding"]


class TileCoding:
    """Binary features: in each of ``n_tilings`` offset grids, the one tile that holds s.

    Inputs are scaled to [0, 1] by ``low`` and ``high``; tiling j is shifted by
    j / n_tilings of a tile along dimension i times (1, 3, 5, ...)[i] (the asymmetric offsets of
    Sutton & Barto 9.5.4). Each value of ``x`` has exactly ``n_tilings`` ones.
    """

    def __init__(self, low: FloatArray, high: FloatArray, n_tilings: int = 8, tiles: int = 8
                 ) -> None:
        self.low, self.high = np.asarray(low, float), np.asarray(high, float)
        self.dims = self.low.size
        self.n_tilings, self.tiles = n_tilings, tiles
        per = (tiles + 1) ** self.dims  # one extra tile absorbs the offset
        self.dim = n_tilings * per
        odd = 2 * np.arange(self.dims) + 1
        self.offsets = (np.arange(n_tilings)[:, None] * odd[None, :] / n_tilings) % 1.0
        self.strides = (tiles + 1) ** np.arange(self.dims)

    def active(self, s: FloatArray) -> IntArray:
        """Indices of the active features, (n, n_tilings)."""
        u = np.clip((s - self.low) / (self.high - self.low), 0.0, 1.0) * self.tiles  # (n, k)
        cells = np.floor(u[:, None, :] + self.offsets[None]).astype(np.int64)  # (n, T, k)
        flat = (cells * self.strides).sum(axis=2)
        return np.asarray(flat + np.arange(self.n_tilings) * (self.tiles + 1) ** self.dims)

    def __call__(self, s: FloatArray) -> FloatArray:
        idx = self.active(s)
        x = np.zeros((s.shape[0], self.dim))
        x[np.arange(s.shape[0])[:, None], idx] = 1.0
        return x


class RandomFourierFeatures:
    """x(s) = sqrt(2 / D) cos(W u + b), u = s scaled to [0, 1]; approximates a Gaussian kernel
    of width ``bandwidth`` (Rahimi & Recht 2007). A constant feature is appended."""

    def __init__(self, low: FloatArray, high: FloatArray, n_features: int, bandwidth: float,
                 rng: np.random.Generator) -> None:
        self.low, self.high = np.asarray(low, float), np.asarray(high, float)
        self.w = rng.standard_normal((self.low.size, n_features)) / bandwidth
        self.b = rng.uniform(0.0, 2.0 * np.pi, n_features)
        self.scale = np.sqrt(2.0 / n_features)
        self.dim = n_features + 1

    def __call__(self, s: FloatArray) -> FloatArray:
        u = np.clip((s - self.low) / (self.high - self.low), 0.0, 1.0)
        phi = self.scale * np.cos(u @ self.w + self.b)
        return np.asarray(np.concatenate([phi, np.ones((s.shape[0], 1))], axis=1))


class _LinearPrediction(BaseAgent):
    """v_hat(s, w) = x(s)' w per replicate, following a fixed policy."""

    step_scale = 0.1  # the default alpha's scale

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 features: str = "tile", alpha: float | None = None, gamma: float = 1.0,
                 n_tilings: int = 8, tiles: int = 8, n_features: int = 100,
                 bandwidth: float = 0.2, low: Any = None, high: Any = None,
                 policy: Any = None) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"{self.name}: needs a Discrete action space, got {action_space!r}")
        self.n_actions = int(action_space.n)
        if features not in ("tile", "rff"):
            raise self._param_error("features", features, '"tile" or "rff"')
        self.features = features
        self.gamma = self._check_float("gamma", gamma, low=0.0, high=1.0)
        self.n_tilings = self._check_int("n_tilings", n_tilings)
        self.tiles = self._check_int("tiles", tiles)
        self.n_features = self._check_int("n_features", n_features)
        self.bandwidth = self._check_float("bandwidth", bandwidth, low=0.0, low_open=True)
        self.low, self.high = self._bounds(observation_space, low, high)
        # alpha: step_scale / n_tilings for tile coding (S&B 9.5.4), else step_scale / 10.
        default = self.step_scale / (self.n_tilings if features == "tile" else 10)
        self.alpha = default if alpha is None else self._check_float(
            "alpha", alpha, low=0.0, low_open=True)
        probs = np.full(self.n_actions, 1.0 / self.n_actions) if policy is None \
            else np.asarray(policy, dtype=float)
        if probs.shape != (self.n_actions,) or (probs < 0).any() \
                or not np.isclose(probs.sum(), 1.0):
            raise self._param_error("policy", policy, f"{self.n_actions} action probabilities "
                                    "summing to 1")
        self.policy = probs
        self._cdf = np.cumsum(probs)

    def _bound(self, param: str, value: Any, shape: tuple[int, ...]) -> FloatArray:
        """``low`` or ``high``: a number or one per observation dimension (numbers, not
        strings), or ValueError naming the agent and the value."""
        a = np.asarray(value)
        if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer)
                                       or np.issubdtype(a.dtype, np.floating)):
            raise self._param_error(param, value, f"a number or {shape[0]} numbers")
        try:
            return np.broadcast_to(a.astype(float), shape).copy()
        except ValueError:
            raise self._param_error(param, value, f"a number or {shape[0]} numbers") from None

    def _bounds(self, space: spaces.Space[Any], low: Any, high: Any) -> tuple[Any, Any]:
        if isinstance(space, spaces.Discrete):
            lo, hi = np.array([float(space.start)]), np.array([float(space.start + space.n - 1)])
        elif isinstance(space, spaces.MultiDiscrete):
            lo = np.zeros(space.nvec.size)
            hi = np.asarray(space.nvec, float).reshape(-1) - 1.0
        elif isinstance(space, spaces.Box):
            lo, hi = space.low.reshape(-1).astype(float), space.high.reshape(-1).astype(float)
        else:
            raise ValueError(f"{self.name}: needs a Box, Discrete or MultiDiscrete observation "
                             f"space, got {space!r}")
        lo = lo if low is None else self._bound("low", low, lo.shape)
        hi = hi if high is None else self._bound("high", high, hi.shape)
        if not (np.isfinite(lo).all() and np.isfinite(hi).all() and (hi > lo).all()):
            raise ValueError(f"{self.name}: the feature map needs finite bounds low < high; the "
                             "observation space has infinite ones: give low=[...] and high=[...]")
        return lo, hi

    def _reset_state(self, num_envs: int) -> None:
        if self.features == "tile":
            self.phi: Any = TileCoding(self.low, self.high, self.n_tilings, self.tiles)
        else:
            self.phi = RandomFourierFeatures(self.low, self.high, self.n_features,
                                             self.bandwidth, self.rng)
        self.w = np.zeros((num_envs, self.phi.dim))

    def _x(self, obs: Any) -> FloatArray:
        s = np.asarray(obs, dtype=float).reshape(self.num_envs, -1)
        return np.asarray(self.phi(s))

    def value(self, obs: Any) -> FloatArray:
        """v_hat(s, w) of every replicate at its observation, (n,)."""
        return np.asarray((self._x(obs) * self.w).sum(axis=1))

    def values_at(self, states: Any) -> FloatArray:
        """v_hat at the given observations (m, ...) for every replicate, (n, m)."""
        s = np.asarray(states, dtype=float).reshape(len(states), -1)
        return np.asarray(self.w @ self.phi(s).T)

    def _act(self, obs: Any) -> IntArray:
        u = self.rng.random(self.num_envs)
        return np.minimum(np.searchsorted(self._cdf, u, side="right"),
                          self.n_actions - 1).astype(np.int64)


@register("linear-td0", "semi-gradient TD(0) with a linear value function on tile coding or "
          "random Fourier features (features, alpha, n_tilings, tiles, n_features)")
class LinearTD0(_LinearPrediction):
    """w <- w + alpha (R + gamma v_hat(S', w) - v_hat(S, w)) x(S) (Dobriban (2019), section 5.3.9,
    items 2-3)."""

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        x = self._x(obs)[rows]
        x_next = self._x(next_obs)[rows]
        w = self.w[rows]
        v = (x * w).sum(axis=1)
        v_next = np.where(terminated[rows], 0.0, (x_next * w).sum(axis=1))
        td_error = rewards[rows] + self.gamma * v_next - v
        self.w[rows] = w + self.alpha * td_error[:, None] * x


@register("linear-mc", "gradient Monte Carlo with a linear value function on tile coding or "
          "random Fourier features (features, alpha, n_tilings, tiles, n_features)")
class LinearMC(_LinearPrediction):
    """w <- w + alpha (G_t - v_hat(S_t, w)) x(S_t) for every step of a finished episode.

    Every visit of a long episode moves w towards the same noisy return: the default alpha is
    ten times smaller than TD(0)'s."""

    step_scale = 0.01

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self.cap = 256
        self.ep_x = np.zeros((num_envs, self.cap, self.phi.dim))
        self.ep_r = np.zeros((num_envs, self.cap))
        self.ep_len = np.zeros(num_envs, dtype=np.int64)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        pos = self.ep_len[rows]
        if pos.max(initial=0) >= self.cap:
            self.ep_x = np.concatenate([self.ep_x, np.zeros_like(self.ep_x)], axis=1)
            self.ep_r = np.concatenate([self.ep_r, np.zeros_like(self.ep_r)], axis=1)
            self.cap *= 2
        self.ep_x[rows, pos] = self._x(obs)[rows]
        self.ep_r[rows, pos] = rewards[rows]
        self.ep_len[rows] += 1
        done = rows[terminated[rows]]
        if done.size:
            self._update_episodes(done)
        self.ep_len[rows[truncated[rows] & ~terminated[rows]]] = 0  # no MC return: dropped

    def _update_episodes(self, rows: IntArray) -> None:
        length = self.ep_len[rows]
        g = np.zeros(rows.size)
        returns = np.zeros((rows.size, int(length.max())))
        for t in range(int(length.max()) - 1, -1, -1):
            inside = t < length
            g = np.where(inside, self.ep_r[rows, t] + self.gamma * g, 0.0)
            returns[:, t] = g
        for t in range(int(length.max())):  # the SGD steps in time order
            inside = t < length
            x = self.ep_x[rows, t]
            err = np.where(inside, returns[:, t] - (x * self.w[rows]).sum(axis=1), 0.0)
            self.w[rows] += self.alpha * err[:, None] * x
        self.ep_len[rows] = 0
