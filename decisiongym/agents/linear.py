"""Linear value-function approximation (Dobriban (2019), section 5.3.9; Sutton & Barto 2018,
chapters 9-10).

v_hat(s, w) = x(s)' w on a feature map x: tile coding (Sutton & Barto 2018, section 9.5.4:
``n_tilings`` grids of ``tiles`` cells per dimension, each offset by a fraction of a cell), random
Fourier features (Rahimi & Recht 2007: x(s) = sqrt(2 / D) cos(W s + b), W ~ N(0, 1 / bandwidth^2),
b ~ U[0, 2 pi], on inputs scaled to [0, 1]), or, on a finite (``Discrete``) state space, a table:
one-hot (``features="onehot"``, the tabular case), state aggregation (``"aggregate"``,
``n_groups`` runs of consecutive states, Sutton & Barto 2018, section 9.3) or a matrix of your own
(``"matrix"``, ``feature_matrix`` (S, d), row s is x(s)). The SGD update of Dobriban (2019),
section 5.3.9, with grad v_hat = x(s):

    w <- w + alpha (U_t - v_hat(S_t, w)) x(S_t)

Prediction of a fixed ``policy`` (uniform over the actions by default):

- ``linear-td0``: U_t = R_{t+1} + gamma v_hat(S_{t+1}, w), the semi-gradient TD(0) target
  (0 after termination; a truncated episode bootstraps); it converges to the TD fixed point
  (Tsitsiklis & Van Roy 1997; :func:`decisiongym.theory.linear_td_fixed_point`) under a step
  size that decays (``decay_steps``: alpha_t = alpha d / (d + t));
- ``linear-mc``: U_t = G_t, gradient Monte Carlo, applied for every step of an episode when it
  ends (item 3: the S_i, G_i become the training data);
- ``lstd``: least-squares TD (Bradtke & Barto 1996; Sutton & Barto 2018, section 9.8), which
  solves for the TD fixed point from the data directly: w = A^-1 b with
  A = ridge I + sum_t x_t (x_t - gamma x_{t+1})' and b = sum_t R_{t+1} x_t.

Control, with action values q_hat(s, a, w) = x(s)' w_a (one weight vector per action):

- ``semi-gradient-sarsa``: episodic semi-gradient one-step SARSA (Sutton & Barto 2018, section
  10.1), w_A <- w_A + alpha [R + gamma q_hat(S', A') - q_hat(S, A)] x(S), epsilon-greedy;
  with 8 tilings of 8 x 8 tiles, alpha = 0.5 / 8, epsilon = 0 and q = 0 at the start it is the
  book's Example 10.1 on MountainCar (Figure 10.2);
- ``differential-sarsa``: differential semi-gradient SARSA for the average-reward criterion
  (Dobriban (2019), section 5.3.10; Sutton & Barto 2018, section 10.3),
  delta = R - R_bar + q_hat(S', A') - q_hat(S, A), R_bar <- R_bar + beta delta,
  w_A <- w_A + alpha delta x(S); one-hot features by default (the book's Example 10.2).

Weights are (n, d) arrays for prediction and (n, A, d) for control, one row per replicate; the
Python loop is over time steps. Binary features with a fixed number of ones (tiles, one-hot,
aggregation) are read and updated through the indices of the active features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from decisiongym.agents.base import BaseAgent, argmax_random_ties, register
from decisiongym.arrays import BoolArray, FloatArray, IntArray
from decisiongym.validation import check_int

__all__ = ["BOOK_FIGURE_10_2", "BOOK_FIGURE_10_5_R_BAR", "LSTD", "MOUNTAIN_CAR_HIGH",
           "MOUNTAIN_CAR_LOW", "MOUNTAIN_CAR_MAX_EPISODE_STEPS", "DifferentialSarsa",
           "LinearMC", "LinearTD0", "RandomFourierFeatures", "SemiGradientSarsa",
           "TableFeatures", "TileCoding", "access_control_study", "figure_10_2",
           "mountain_car_steps"]

FEATURES = ("tile", "rff", "onehot", "aggregate", "matrix")
_TABLE = ("onehot", "aggregate", "matrix")

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


class TableFeatures:
    """x(s) = ``matrix[s]`` for the states 0..S-1 of a finite state space (S, d).

    ``active`` (the index of the one 1 of each row) exists when every row is one-hot: the
    tabular and state-aggregation cases."""

    def __init__(self, matrix: FloatArray) -> None:
        self.matrix = np.asarray(matrix, dtype=np.float64)
        self.dim = self.matrix.shape[1]
        one_hot = ((self.matrix == 0) | (self.matrix == 1)).all() \
            and (self.matrix.sum(axis=1) == 1).all()
        self.n_active = 1 if one_hot else 0
        self._index = self.matrix.argmax(axis=1).astype(np.int64)

    @classmethod
    def onehot(cls, n_states: int) -> TableFeatures:
        return cls(np.eye(n_states))

    @classmethod
    def aggregate(cls, n_states: int, n_groups: int) -> TableFeatures:
        """``n_groups`` runs of consecutive states, as equal as they can be: state s is in group
        floor(s n_groups / S)."""
        groups = np.arange(n_states) * n_groups // n_states
        return cls(np.eye(n_groups)[groups])

    def active(self, s: IntArray) -> IntArray:
        """Index of the active feature, (n, 1) (one-hot tables only)."""
        return np.asarray(self._index[s][:, None])

    def __call__(self, s: IntArray) -> FloatArray:
        return np.asarray(self.matrix[s])


class _FeatureAgent(BaseAgent):
    """The feature map x(s) every linear agent shares, built from its parameters."""

    def _init_features(self, observation_space: spaces.Space[Any], features: Any,
                       n_tilings: Any, tiles: Any, n_features: Any, bandwidth: Any, low: Any,
                       high: Any, n_groups: Any, feature_matrix: Any) -> None:
        if features not in FEATURES:
            raise self._param_error("features", features, " or ".join(f'"{f}"' for f in
                                                                        FEATURES))
        self.features = str(features)
        self.n_tilings = self._check_int("n_tilings", n_tilings)
        self.tiles = self._check_int("tiles", tiles)
        self.n_features = self._check_int("n_features", n_features)
        self.bandwidth = self._check_float("bandwidth", bandwidth, low=0.0, low_open=True)
        self._table: TableFeatures | None = None
        self._start = 0
        if self.features in _TABLE:
            if not isinstance(observation_space, spaces.Discrete):
                raise ValueError(f"{self.name}: features={self.features!r} needs a Discrete "
                                 f"observation space (state indices), got {observation_space!r}")
            n_states = int(observation_space.n)
            self._start = int(observation_space.start)
            if self.features == "onehot":
                self._table = TableFeatures.onehot(n_states)
            elif self.features == "aggregate":
                groups = check_int(self.name, "n_groups", n_groups, low=1, high=n_states)
                self._table = TableFeatures.aggregate(n_states, groups)
            else:
                self._table = TableFeatures(self._matrix(feature_matrix, n_states))
        if feature_matrix is not None and self.features != "matrix":
            raise self._param_error("feature_matrix", "an array", 'given only with '
                                    'features="matrix"')
        if n_groups is not None and self.features != "aggregate":
            raise self._param_error("n_groups", n_groups, 'given only with features="aggregate"')
        self.n_groups = n_groups
        self.low: Any = None
        self.high: Any = None
        if self._table is None:
            self.low, self.high = self._bounds(observation_space, low, high)

    def _matrix(self, value: Any, n_states: int) -> FloatArray:
        expected = f"a ({n_states}, d) array of finite numbers, row s the features of state s"
        if value is None:
            raise self._param_error("feature_matrix", value, expected)
        try:
            m = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise self._param_error("feature_matrix", value, expected) from None
        if m.ndim != 2 or m.shape[0] != n_states or m.shape[1] < 1 or not np.isfinite(m).all():
            raise self._param_error("feature_matrix", value, expected)
        return m

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

    def _binary_ones(self) -> int:
        """How many features are 1 in every x(s) of binary features (n_tilings for tile
        coding, 1 for a one-hot or aggregating table); 0 for dense features."""
        if self.features == "tile":
            return self.n_tilings
        return self._table.n_active if self._table is not None else 0

    def _default_alpha(self, scale: float) -> float:
        """``scale`` / (number of active features): / n_tilings for tile coding (Sutton & Barto
        2018, section 9.5.4), / 1 for a one-hot table, / 10 for dense features."""
        ones = self._binary_ones()
        return scale / ones if ones else scale / 10

    def _build_features(self) -> None:
        """The feature map (random Fourier features draw from the agent's generator)."""
        if self._table is not None:
            self.phi: Any = self._table
        elif self.features == "tile":
            self.phi = TileCoding(self.low, self.high, self.n_tilings, self.tiles)
        else:
            self.phi = RandomFourierFeatures(self.low, self.high, self.n_features,
                                             self.bandwidth, self.rng)
        #: Active features per state for binary features (their indices), else 0 (dense).
        self.n_active = self._binary_ones()

    def _inputs(self, obs: Any, n: int) -> Any:
        if self._table is not None:
            return np.asarray(obs, dtype=np.int64).reshape(n) - self._start
        return np.asarray(obs, dtype=float).reshape(n, -1)

    def _x(self, obs: Any) -> FloatArray:
        """Dense features of every replicate's observation, (n, d)."""
        return np.asarray(self.phi(self._inputs(obs, self.num_envs)))

    def _x_at(self, states: Any) -> FloatArray:
        """Dense features of given observations (m, ...), (m, d)."""
        return np.asarray(self.phi(self._inputs(states, len(states))))

    def _active(self, obs: Any, n: int) -> IntArray:
        """Indices of the active binary features of ``n`` observations, (n, n_active)."""
        return np.asarray(self.phi.active(self._inputs(obs, n)))

    def feature_matrix(self) -> FloatArray:
        """Phi (S, d), row s = x(s), for every state of a Discrete observation space (to hand to
        :func:`decisiongym.theory.linear_td_fixed_point`); call after ``reset`` (random Fourier
        features are drawn there)."""
        if not isinstance(self.observation_space, spaces.Discrete):
            raise ValueError(f"{self.name}: feature_matrix() needs a Discrete observation space, "
                             f"got {self.observation_space!r}")
        if not hasattr(self, "phi"):
            raise RuntimeError(f"{self.name}: call reset(num_envs, seed) before "
                               "feature_matrix()")
        space = self.observation_space
        states = np.arange(int(space.start), int(space.start) + int(space.n))
        return self._x_at(states)


def _policy_probs(agent: BaseAgent, policy: Any, n_actions: int) -> FloatArray:
    probs = np.full(n_actions, 1.0 / n_actions) if policy is None \
        else np.asarray(policy, dtype=float)
    if probs.shape != (n_actions,) or (probs < 0).any() or not np.isclose(probs.sum(), 1.0):
        raise agent._param_error("policy", policy, f"{n_actions} action probabilities summing "
                                 "to 1")
    return probs


# --------------------------------------------------------------------------------------------
# Prediction.
# --------------------------------------------------------------------------------------------


class _LinearPrediction(_FeatureAgent):
    """v_hat(s, w) = x(s)' w per replicate, following a fixed policy."""

    step_scale = 0.1  # the default alpha's scale

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 features: str = "tile", alpha: float | None = None, gamma: float = 1.0,
                 n_tilings: int = 8, tiles: int = 8, n_features: int = 100,
                 bandwidth: float = 0.2, low: Any = None, high: Any = None,
                 policy: Any = None, decay_steps: int | None = None, n_groups: int | None = None,
                 feature_matrix: Any = None) -> None:
        self._init_prediction(observation_space, action_space, features, gamma, n_tilings,
                              tiles, n_features, bandwidth, low, high, policy, n_groups,
                              feature_matrix)
        # alpha: step_scale / n_tilings for tile coding (S&B 9.5.4), else step_scale / 10
        # (step_scale for a one-hot table).
        self.alpha = self._default_alpha(self.step_scale) if alpha is None \
            else self._check_float("alpha", alpha, low=0.0, low_open=True)
        self.decay_steps = None if decay_steps is None \
            else self._check_int("decay_steps", decay_steps)

    def _init_prediction(self, observation_space: spaces.Space[Any],
                         action_space: spaces.Space[Any], features: Any, gamma: Any,
                         n_tilings: Any, tiles: Any, n_features: Any, bandwidth: Any, low: Any,
                         high: Any, policy: Any, n_groups: Any, feature_matrix: Any) -> None:
        BaseAgent.__init__(self, observation_space=observation_space, action_space=action_space)
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"{self.name}: needs a Discrete action space, got {action_space!r}")
        self.n_actions = int(action_space.n)
        self.gamma = self._check_float("gamma", gamma, low=0.0, high=1.0)
        self._init_features(observation_space, features, n_tilings, tiles, n_features,
                            bandwidth, low, high, n_groups, feature_matrix)
        self.policy = _policy_probs(self, policy, self.n_actions)
        self._cdf = np.cumsum(self.policy)

    def _reset_state(self, num_envs: int) -> None:
        self._build_features()
        self.w = np.zeros((num_envs, self.phi.dim))
        self.steps = np.zeros(num_envs)

    def _step_sizes(self, rows: IntArray) -> Any:
        """alpha, or alpha d / (d + t) per replicate with ``decay_steps`` d (t: its updates so
        far), which meets Robbins-Monro's conditions (sum alpha_t = inf, sum alpha_t^2 < inf)."""
        if self.decay_steps is None:
            return self.alpha
        d = float(self.decay_steps)
        return (self.alpha * d / (d + self.steps[rows]))[:, None]

    def _sync_weights(self) -> None:
        """Bring ``w`` up to date before it is read (LSTD solves for it lazily)."""

    @property
    def weights(self) -> FloatArray:
        """w of every replicate, (n, d)."""
        self._sync_weights()
        return np.asarray(self.w.copy())

    def value(self, obs: Any) -> FloatArray:
        """v_hat(s, w) of every replicate at its observation, (n,)."""
        self._sync_weights()
        return np.asarray((self._x(obs) * self.w).sum(axis=1))

    def values_at(self, states: Any) -> FloatArray:
        """v_hat at the given observations (m, ...) for every replicate, (n, m)."""
        self._sync_weights()
        return np.asarray(self.w @ self._x_at(np.asarray(states)).T)

    def _act(self, obs: Any) -> IntArray:
        u = self.rng.random(self.num_envs)
        return np.minimum(np.searchsorted(self._cdf, u, side="right"),
                          self.n_actions - 1).astype(np.int64)


@register("linear-td0", "semi-gradient TD(0) with a linear value function on tile coding, "
          "random Fourier, one-hot, aggregated or given features (features, alpha, decay_steps)")
class LinearTD0(_LinearPrediction):
    """w <- w + alpha (R + gamma v_hat(S', w) - v_hat(S, w)) x(S) (Dobriban (2019), section 5.3.9,
    items 2-3; Sutton & Barto 2018, section 9.3)."""

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        x = self._x(obs)[rows]
        x_next = self._x(next_obs)[rows]
        w = self.w[rows]
        v = (x * w).sum(axis=1)
        v_next = np.where(terminated[rows], 0.0, (x_next * w).sum(axis=1))
        td_error = rewards[rows] + self.gamma * v_next - v
        self.w[rows] = w + self._step_sizes(rows) * td_error[:, None] * x
        self.steps[rows] += 1


@register("linear-mc", "gradient Monte Carlo with a linear value function on tile coding, "
          "random Fourier, one-hot, aggregated or given features (features, alpha, decay_steps)")
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
            self.w[rows] += self._step_sizes(rows) * err[:, None] * x
            self.steps[rows] += inside
        self.ep_len[rows] = 0


@register("lstd", "least-squares TD (Bradtke & Barto 1996): the linear TD fixed point solved "
          "from the data (features, gamma, ridge)")
class LSTD(_LinearPrediction):
    """LSTD(0) (Bradtke & Barto 1996; Sutton & Barto 2018, section 9.8): per replicate

        A = ridge I + sum_t x_t (x_t - gamma x_{t+1})',   b = sum_t R_{t+1} x_t,   w = A^-1 b,

    with x_{t+1} = 0 after termination (a truncated episode bootstraps). As the data grow, A / t
    and b / t tend to Phi' D (I - gamma P_pi) Phi and Phi' D r_pi, so w tends to the TD fixed
    point (:func:`decisiongym.theory.linear_td_fixed_point`) with no step size to tune. ``ridge``
    is the book's epsilon (A^-1 starts at I / epsilon); w is solved for when it is read
    (``weights``, ``value``, ``values_at``), O(d^3) then, O(d^2) memory and time per step."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 features: str = "tile", gamma: float = 1.0, ridge: float = 1e-3,
                 n_tilings: int = 8, tiles: int = 8, n_features: int = 100,
                 bandwidth: float = 0.2, low: Any = None, high: Any = None,
                 policy: Any = None, n_groups: int | None = None,
                 feature_matrix: Any = None) -> None:
        self._init_prediction(observation_space, action_space, features, gamma, n_tilings,
                              tiles, n_features, bandwidth, low, high, policy, n_groups,
                              feature_matrix)
        self.ridge = self._check_float("ridge", ridge, low=0.0, low_open=True)

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        d = self.phi.dim
        self.A = np.broadcast_to(self.ridge * np.eye(d), (num_envs, d, d)).copy()
        self.b = np.zeros((num_envs, d))
        self._dirty = False

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        x = self._x(obs)[rows]
        x_next = self._x(next_obs)[rows] * (~terminated[rows])[:, None]
        self.A[rows] += x[:, :, None] * (x - self.gamma * x_next)[:, None, :]
        self.b[rows] += rewards[rows, None] * x
        self.steps[rows] += 1
        self._dirty = True

    def _sync_weights(self) -> None:
        if self._dirty:
            self.w = np.linalg.solve(self.A, self.b[..., None])[..., 0]
            self._dirty = False


# --------------------------------------------------------------------------------------------
# Control.
# --------------------------------------------------------------------------------------------


class _LinearControl(_FeatureAgent):
    """q_hat(s, a, w) = x(s)' w_a, acting epsilon-greedily (ties broken at random); SARSA-style:
    the next action is chosen when learning from (S, A, R, S') and played next."""

    def _init_control(self, observation_space: spaces.Space[Any],
                      action_space: spaces.Space[Any], features: Any, epsilon: Any,
                      initial_value: Any, n_tilings: Any, tiles: Any, n_features: Any,
                      bandwidth: Any, low: Any, high: Any, n_groups: Any,
                      feature_matrix: Any) -> None:
        BaseAgent.__init__(self, observation_space=observation_space, action_space=action_space)
        if not isinstance(action_space, spaces.Discrete) or int(action_space.start):
            raise ValueError(f"{self.name}: needs a Discrete(A) action space starting at 0, "
                             f"got {action_space!r}")
        self.n_actions = int(action_space.n)
        self._init_features(observation_space, features, n_tilings, tiles, n_features,
                            bandwidth, low, high, n_groups, feature_matrix)
        self.epsilon = self._check_float("epsilon", epsilon, low=0.0, high=1.0)
        self.initial_value = self._check_float("initial_value", initial_value)
        if self.initial_value != 0.0 and self.features == "matrix":
            raise self._param_error("initial_value", initial_value,
                                    '0 with features="matrix" (no constant feature to hold it)')

    def _reset_state(self, num_envs: int) -> None:
        self._build_features()
        self.W = np.zeros((num_envs, self.n_actions, self.phi.dim))
        if self.initial_value:
            if self.n_active:  # q = initial_value: spread over the active features
                self.W[:] = self.initial_value / self.n_active
            else:  # random Fourier features: the constant feature (last) holds it
                self.W[:, :, -1] = self.initial_value
        self._ar = np.arange(num_envs)
        self._next_action = np.zeros(num_envs, dtype=np.int64)
        self._has_next = np.zeros(num_envs, dtype=bool)

    # ----- q_hat ------------------------------------------------------------------------------

    def _features_of(self, obs: Any, n: int) -> Any:
        """Active indices (n, k) for binary features, dense x (n, d) otherwise."""
        if self.n_active:
            return self._active(obs, n)
        return np.asarray(self.phi(self._inputs(obs, n)))

    def _q(self, rows: IntArray, feats: Any) -> FloatArray:
        """q_hat(s, ., w) of replicates ``rows`` at features ``feats`` (from _features_of),
        (m, A)."""
        if self.n_active == 1:  # one-hot, aggregation: a table lookup
            return np.asarray(self.W[rows, :, feats[:, 0]])
        if self.n_active:
            return np.asarray(self.W[rows[:, None], :, feats].sum(axis=1))
        return np.asarray(np.einsum("mad,md->ma", self.W[rows], feats))

    def _step(self, rows: IntArray, actions: IntArray, feats: Any, step: FloatArray) -> None:
        """w_A += step x(S) for replicates ``rows``."""
        if self.n_active == 1:
            self.W[rows, actions, feats[:, 0]] += step
        elif self.n_active:
            self.W[rows[:, None], actions[:, None], feats] += step[:, None]
        else:
            self.W[rows, actions] += step[:, None] * feats

    def action_values(self, states: Any) -> FloatArray:
        """q_hat at the given observations (m, ...) for every replicate, (n, m, A)."""
        x = self._x_at(np.asarray(states))  # (m, d)
        return np.asarray(np.einsum("nad,md->nma", self.W, x))

    def greedy_policy(self) -> IntArray:
        """argmax_a q_hat(s, a) per replicate and state of a Discrete observation space (lowest
        index among ties), (n, S)."""
        if not isinstance(self.observation_space, spaces.Discrete):
            raise ValueError(f"{self.name}: greedy_policy() needs a Discrete observation space, "
                             f"got {self.observation_space!r}")
        space = self.observation_space
        states = np.arange(int(space.start), int(space.start) + int(space.n))
        return np.asarray(self.action_values(states).argmax(axis=2), dtype=np.int64)

    # ----- acting -----------------------------------------------------------------------------

    def _epsilon_greedy(self, rows: IntArray, q: FloatArray) -> IntArray:
        actions = argmax_random_ties(q, self.rng)
        if self.epsilon > 0:
            explore = self.rng.random(rows.size) < self.epsilon
            if explore.any():
                actions[explore] = self.rng.integers(0, self.n_actions, int(explore.sum()))
        return actions

    def _act(self, obs: Any) -> IntArray:
        fresh = np.flatnonzero(~self._has_next)
        actions = self._next_action.copy()
        if fresh.size:
            o = np.asarray(obs)
            feats = self._features_of(o[fresh], fresh.size)
            actions[fresh] = self._epsilon_greedy(fresh, self._q(fresh, feats))
        return actions

    def _end_episode(self, rows: IntArray) -> None:
        self._has_next[rows] = False

    def _sarsa_terms(self, rows: IntArray, obs: Any, actions: Any, next_obs: Any,
                     terminated: BoolArray, truncated: BoolArray
                     ) -> tuple[IntArray, Any, FloatArray, FloatArray]:
        """(A, features of S, q_hat(S, A), q_hat(S', A') (0 after termination)) for ``rows``,
        choosing A' epsilon-greedily and keeping it to play next."""
        o, o2 = np.asarray(obs), np.asarray(next_obs)
        a = np.asarray(actions, dtype=np.int64)[rows]
        feats = self._features_of(o[rows], rows.size)
        m = np.arange(rows.size)
        q_sa = self._q(rows, feats)[m, a]
        q_next = self._q(rows, self._features_of(o2[rows], rows.size))
        a_next = self._epsilon_greedy(rows, q_next)
        self._next_action[rows] = a_next
        ended = terminated[rows]
        self._has_next[rows] = ~(ended | truncated[rows])
        value_next = q_next[m, a_next]
        if ended.any():
            value_next = np.where(ended, 0.0, value_next)
        return a, feats, q_sa, value_next


@register("semi-gradient-sarsa", "episodic semi-gradient SARSA with linear action values on "
          "tile coding (S&B 10.1; features, alpha, epsilon, n_tilings, tiles, initial_value)")
class SemiGradientSarsa(_LinearControl):
    """Episodic semi-gradient one-step SARSA (Sutton & Barto 2018, section 10.1; Dobriban (2019),
    section 5.3.9, item 4: "Q-function approximation ... use in control"):

        w_A <- w_A + alpha [R + gamma q_hat(S', A', w) - q_hat(S, A, w)] x(S),

    A' epsilon-greedy on q_hat (0 after termination; a truncated episode bootstraps). Defaults:
    the book's Example 10.1 (8 tilings of 8 x 8 tiles, alpha = 0.5 / 8, epsilon = 0, q = 0 at the
    start, optimistic for -1 per step); ``alpha`` defaults to 0.5 / n_tilings for tile coding,
    0.5 for a one-hot table, 0.05 for dense features."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 features: str = "tile", alpha: float | None = None, gamma: float = 1.0,
                 epsilon: float = 0.0, initial_value: float = 0.0, n_tilings: int = 8,
                 tiles: int = 8, n_features: int = 100, bandwidth: float = 0.2,
                 low: Any = None, high: Any = None, n_groups: int | None = None,
                 feature_matrix: Any = None) -> None:
        self._init_control(observation_space, action_space, features, epsilon, initial_value,
                           n_tilings, tiles, n_features, bandwidth, low, high, n_groups,
                           feature_matrix)
        self.gamma = self._check_float("gamma", gamma, low=0.0, high=1.0)
        if alpha is None:  # 0.5 / n_tilings (tiles), 0.5 (one-hot table), 0.05 (dense)
            self.alpha = self._default_alpha(0.5)
        else:
            self.alpha = self._check_float("alpha", alpha, low=0.0, low_open=True)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        a, feats, q_sa, value_next = self._sarsa_terms(rows, obs, actions, next_obs,
                                                       terminated, truncated)
        delta = rewards[rows] + self.gamma * value_next - q_sa
        self._step(rows, a, feats, self.alpha * delta)


@register("differential-sarsa", "differential semi-gradient SARSA for average reward (S&B "
          "10.3; features, alpha, beta, epsilon): learns q_hat and R_bar")
class DifferentialSarsa(_LinearControl):
    """Differential semi-gradient SARSA (Sutton & Barto 2018, section 10.3, the box; the
    average-reward objective J_avR of Dobriban (2019), section 5.3.10):

        delta = R - R_bar + q_hat(S', A', w) - q_hat(S, A, w)
        R_bar <- R_bar + beta delta
        w_A  <- w_A + alpha delta x(S)

    A' epsilon-greedy on q_hat. For continuing tasks (a truncation bootstraps; a termination,
    should an env have one, counts q_hat(S', A') as 0). Defaults: the book's Example 10.2, tabular
    (one-hot features), alpha = beta = 0.01, epsilon = 0.1, q = 0 and R_bar = 0 at the start.
    ``average_reward`` is R_bar per replicate."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 features: str = "onehot", alpha: float = 0.01, beta: float = 0.01,
                 epsilon: float = 0.1, initial_value: float = 0.0,
                 initial_average_reward: float = 0.0, n_tilings: int = 8, tiles: int = 8,
                 n_features: int = 100, bandwidth: float = 0.2, low: Any = None,
                 high: Any = None, n_groups: int | None = None,
                 feature_matrix: Any = None) -> None:
        self._init_control(observation_space, action_space, features, epsilon, initial_value,
                           n_tilings, tiles, n_features, bandwidth, low, high, n_groups,
                           feature_matrix)
        self.alpha = self._check_float("alpha", alpha, low=0.0, low_open=True)
        self.beta = self._check_float("beta", beta, low=0.0, high=1.0, low_open=True)
        self.initial_average_reward = self._check_float("initial_average_reward",
                                                        initial_average_reward)

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self.r_bar = np.full(num_envs, self.initial_average_reward)

    @property
    def average_reward(self) -> FloatArray:
        """R_bar, the running estimate of the average reward, (n,)."""
        return np.asarray(self.r_bar.copy())

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        a, feats, q_sa, value_next = self._sarsa_terms(rows, obs, actions, next_obs,
                                                       terminated, truncated)
        delta = rewards[rows] - self.r_bar[rows] + value_next - q_sa
        self.r_bar[rows] += self.beta * delta
        self._step(rows, a, feats, self.alpha * delta)


# --------------------------------------------------------------------------------------------
# Studies: the book's Examples 10.1 and 10.2, run with the batched protocol and the harness's
# seeding contract (env replicate i seeded seed + i, the agent seeded seed), so that
# ``decisiongym.harness.run`` on the same settings gives the same episodes.
# --------------------------------------------------------------------------------------------

#: Example 10.1's state bounds: position in [-1.2, 0.5], velocity in [-0.07, 0.07] (Gymnasium's
#: MountainCar-v0 lets the position reach 0.6, past the goal at 0.5).
MOUNTAIN_CAR_LOW = (-1.2, -0.07)
MOUNTAIN_CAR_HIGH = (0.5, 0.07)
#: Gymnasium's MountainCar-v0 registers a 200-step TimeLimit; the book's episodes run to the
#: goal, so the studies raise the limit to this (never reached by the book's settings).
MOUNTAIN_CAR_MAX_EPISODE_STEPS = 100_000
#: Sutton & Barto (2018), Figure 10.2 (semi-gradient SARSA, 8 tilings of 8 x 8, steps per
#: episode on a log axis from 100 to 1,000, averaged over 100 runs), read off the figure, so
#: approximate: the curve of alpha = 0.5 / 8 starts near or above the top of the axis (about
#: 1,000 steps) and falls to about 150-200 steps by episode 100. As bands (low, high) at an
#: episode, wide enough for the reading: {episode: (low, high)}.
BOOK_FIGURE_10_2 = {1: (700.0, 2500.0), 100: (100.0, 250.0)}


def mountain_car_steps(alpha: float = 0.5 / 8, *, runs: int = 10, episodes: int = 100,
                       seed: int = 0, n_tilings: int = 8, tiles: int = 8,
                       max_episode_steps: int = MOUNTAIN_CAR_MAX_EPISODE_STEPS) -> FloatArray:
    """Steps per episode of episodic semi-gradient SARSA on Gymnasium's ``MountainCar-v0``
    (Sutton & Barto 2018, Example 10.1: ``n_tilings`` tilings of ``tiles`` x ``tiles`` over the
    book's bounds, epsilon = 0, q = 0 at the start), ``runs`` independent runs of ``episodes``
    episodes each, as an (episodes, runs) array; its mean over axis 1 is a curve of Figure 10.2.
    ``max_episode_steps`` replaces Gymnasium's 200-step limit (the book's episodes run to the
    goal)."""
    import gymnasium as gym

    env = gym.make_vec("MountainCar-v0", num_envs=runs, vectorization_mode="sync",
                       max_episode_steps=max_episode_steps)
    try:
        agent = SemiGradientSarsa(observation_space=env.single_observation_space,
                                  action_space=env.single_action_space, alpha=alpha,
                                  n_tilings=n_tilings, tiles=tiles, low=MOUNTAIN_CAR_LOW,
                                  high=MOUNTAIN_CAR_HIGH)
        return _episode_lengths(env, agent, runs, episodes, seed)
    finally:
        env.close()


def _episode_lengths(env: Any, agent: BaseAgent, runs: int, episodes: int, seed: int
                     ) -> FloatArray:
    """Step ``agent`` on the vector ``env`` until every run has finished ``episodes``
    episodes; their lengths (episodes, runs) (NEXT_STEP reset steps not counted)."""
    agent.reset(runs, seed=seed)
    obs, _ = env.reset(seed=seed)
    lengths = np.full((episodes, runs), np.nan)
    done = np.zeros(runs, dtype=np.int64)
    steps = np.zeros(runs)
    fresh = np.zeros(runs, dtype=bool)
    while (done < episodes).any():
        actions = agent.act(obs)
        next_obs, rewards, terminated, truncated, _ = env.step(actions)
        agent.update(obs, actions, rewards, next_obs, terminated, truncated)
        steps += ~fresh
        ended = (np.asarray(terminated) | np.asarray(truncated)) & ~fresh
        for i in np.flatnonzero(ended & (done < episodes)):
            lengths[done[i], i] = steps[i]
            done[i] += 1
        steps[ended] = 0
        fresh = ended
        obs = next_obs
    return lengths


def figure_10_2(alphas: tuple[float, ...] = (0.1 / 8, 0.2 / 8, 0.5 / 8), *, runs: int = 10,
                episodes: int = 100, seed: int = 0) -> dict[float, FloatArray]:
    """Sutton & Barto (2018), Figure 10.2: steps per episode averaged over ``runs`` runs, (one
    curve (episodes,) per alpha). The book averages 100 runs over 500 episodes."""
    return {a: np.asarray(mountain_car_steps(a, runs=runs, episodes=episodes, seed=seed)
                          .mean(axis=1)) for a in alphas}


#: Sutton & Barto (2018), Figure 10.5's caption: R_bar after 2 million steps of differential
#: semi-gradient SARSA (alpha = beta = 0.01, epsilon = 0.1) on the access-control task.
BOOK_FIGURE_10_5_R_BAR = 2.31


def access_control_study(*, steps: int = 2_000_000, runs: int = 4, seed: int = 0,
                         alpha: float = 0.01, beta: float = 0.01, epsilon: float = 0.1
                         ) -> dict[str, Any]:
    """Sutton & Barto (2018), Example 10.2 / Figure 10.5: differential semi-gradient SARSA
    (tabular) on ``decisiongym/AccessControl-v0`` for ``steps`` steps, ``runs`` runs, beside the
    exact optimum of relative value iteration.

    Returns (arrays over runs): ``greedy_policy`` (runs, 4, 11), the learned accept (1) /
    reject (0) per priority (rows 1, 2, 4, 8) and free servers (columns 0..10), as the book's
    figure; ``optimal_policy`` (4, 11); ``learned_average_reward`` (R_bar), ``late_mean_reward``
    (reward per step over the second half), ``greedy_average_reward`` and
    ``behaviour_average_reward`` (exact gains of the greedy policy and of its epsilon-greedy
    version), ``greedy_optimal_share`` (see :func:`decisiongym.envs.access_control.
    policy_summary`); ``optimal_average_reward`` rho_*.
    """
    import gymnasium as gym

    from decisiongym.envs.access_control import policy_summary

    env = gym.make_vec("decisiongym/AccessControl-v0", num_envs=runs,
                       vectorization_mode="vector_entry_point", horizon=steps)
    try:
        agent = DifferentialSarsa(observation_space=env.single_observation_space,
                                  action_space=env.single_action_space, alpha=alpha, beta=beta,
                                  epsilon=epsilon)
        agent.reset(runs, seed=seed)
        obs, _ = env.reset(seed=seed)
        late = np.zeros(runs)
        for t in range(steps):
            actions = agent.act(obs)
            next_obs, rewards, terminated, truncated, _ = env.step(actions)
            agent.update(obs, actions, rewards, next_obs, terminated, truncated)
            if t >= steps // 2:
                late += rewards
            obs = next_obs
        u: Any = env.unwrapped
        policies = agent.greedy_policy()
        summary = policy_summary(u.transitions, u.rewards, policies, epsilon)
        shape = (int(u.priorities.size), int(u.n_servers) + 1)
    finally:
        env.close()
    return {"greedy_policy": policies.reshape(runs, *shape),
            "optimal_policy": summary["optimal_policy"].reshape(shape),
            "learned_average_reward": agent.average_reward,
            "late_mean_reward": late / (steps - steps // 2),
            "greedy_average_reward": summary["greedy_average_reward"],
            "behaviour_average_reward": summary["behaviour_average_reward"],
            "greedy_optimal_share": summary["greedy_optimal_share"],
            "optimal_average_reward": summary["optimal_average_reward"]}
