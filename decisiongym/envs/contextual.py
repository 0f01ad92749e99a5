"""Contextual bandits (Dobriban, *Notes for Stat 991: Topics in Deep Learning*, 2019, section
5.2.4).

Capability probed: mapping a context X_t to one of K actions when only the reward of the action
taken is seen. With eta_a(x) = E[R^a | X = x] the oracle policy is pi*(x) = argmax_a eta_a(x)
(Dobriban (2019), section 5.2.4, item 4) and the regret over T steps is
sum_t eta_{pi*(X_t)}(X_t) - eta_{A_t}(X_t) (items 6 and 10). Every step's ``info`` carries
``expected_rewards`` (eta_a of every arm at the context just acted on), ``expected_reward`` (the arm
taken) and ``optimal_expected_reward``, so the harness's pseudo-regret against the oracle policy is
exact.

Four problems share one batched core (:class:`ContextualCore`):

- :class:`LinearContextualBandit`: R_t^a = beta_a' X_t + noise (section 5.2.4, item 6).
- :class:`NonparametricContextualBandit`: R_t^a = f_a(X_t) + noise with smooth f_a, sums of
  Gaussian bumps (section 5.2.4, item 9, the setting of Yang & Zhu 2002).
- :class:`AdversarialContextBandit`: contexts from a fixed, non-i.i.d. sequence (drifting,
  clustered or given), stochastic Bernoulli rewards linear in the context (section 5.2.4,
  item 10).
- :class:`ClassificationBandit`: a labelled dataset as a bandit: the action is a predicted class
  and the reward 1 if it is right (or an entry of a cost-sensitive reward matrix).

Random numbers. Each replicate owns one ``numpy.random.Generator``. At reset it draws the
problem (for example beta), then the contexts and rewards of *every* arm for the next ``block``
steps, and a new block every ``block`` steps. A vector env reset with seed ``s`` therefore gives
replicate ``i`` exactly what a single env reset with seed ``s + i`` gives.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from functools import lru_cache
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike, NDArray

from decisiongym.arrays import FloatArray, IntArray
from decisiongym.envs.bandits import _as_single_action
from decisiongym.envs.vector import BUDGET_KWARG, NextStepVectorEnv
from decisiongym.validation import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_render_mode,
)

__all__ = [
    "DATASETS",
    "AdversarialContextBandit",
    "AdversarialContextBanditVector",
    "AdversarialProblem",
    "ClassificationBandit",
    "ClassificationBanditVector",
    "ClassificationProblem",
    "ContextualBanditEnv",
    "ContextualBanditVectorEnv",
    "ContextualCore",
    "ContextualProblem",
    "LinearContextualBandit",
    "LinearContextualBanditVector",
    "LinearProblem",
    "NonparametricContextualBandit",
    "NonparametricContextualBanditVector",
    "NonparametricProblem",
    "load_dataset",
]


#: The offline datasets shipped with scikit-learn that ``ClassificationBandit`` accepts by name.
DATASETS = ("digits", "wine", "iris", "breast_cancer")


def _as_matrix(env_name: str, name: str, value: Any, shape: tuple[int | None, int | None]
               ) -> FloatArray:
    """A finite 2-D float array whose shape matches ``shape`` (None: any length)."""
    try:
        m = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{env_name}: {name} must be a 2-D array of numbers, got {value!r}"
                         ) from exc
    want = "x".join("?" if s is None else str(s) for s in shape)
    if m.ndim != 2 or any(s is not None and m.shape[j] != s for j, s in enumerate(shape)):
        raise ValueError(f"{env_name}: {name} must have shape ({want}), got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{env_name}: {name} contains NaN or infinite entries")
    return m


# --------------------------------------------------------------------------------------------
# Problems: what a replicate draws at reset, and its contexts and rewards block by block.
# --------------------------------------------------------------------------------------------


class ContextualProblem(ABC):
    """A contextual bandit problem; draws only from the generator it is given."""

    env_name: str
    n_arms: int
    dim: int
    #: Bounds of the context (for the observation space).
    low: float = -np.inf
    high: float = np.inf

    @abstractmethod
    def draw_params(self, rng: np.random.Generator) -> dict[str, Any]:
        """The problem of a new episode (for example ``{"beta": (K, d) array}``)."""

    @abstractmethod
    def draw_block(self, rng: np.random.Generator, params: dict[str, Any], t0: int, rows: int
                   ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Contexts (rows, d), expected rewards eta_a(x) (rows, K) and realised rewards of every
        arm (rows, K) for steps t0, ..., t0 + rows - 1 of the episode."""


_CONTEXT_DISTRIBUTIONS = ("gaussian", "uniform", "sphere")


class LinearProblem(ContextualProblem):
    """eta_a(x) = beta_a' x, contexts i.i.d., Gaussian noise (Dobriban (2019), section 5.2.4,
    item 6)."""

    def __init__(self, k: int, d: int, noise_sigma: float, beta: ArrayLike | None,
                 context_distribution: str, intercept: bool = True,
                 env_name: str = "LinearContextualBandit-v0") -> None:
        self.env_name = env_name
        self.n_arms = check_int(env_name, "k (number of arms)", k, low=2)
        self.dim = check_int(env_name, "d (context dimension)", d)
        self.noise_sigma = check_float(env_name, "noise_sigma", noise_sigma, low=0.0,
                                       expected="a finite number >= 0")
        self.beta = None if beta is None else _as_matrix(env_name, "beta", beta,
                                                          (self.n_arms, self.dim))
        check_choice(env_name, "context_distribution", context_distribution,
                     _CONTEXT_DISTRIBUTIONS)
        self.context_distribution = context_distribution
        self.intercept = check_bool(env_name, "intercept", intercept)

    def draw_params(self, rng: np.random.Generator) -> dict[str, Any]:
        if self.beta is not None:
            return {"beta": self.beta.copy()}
        # beta_a ~ N(0, I/d): with unit-variance contexts, eta_a(X) has variance about 1.
        return {"beta": rng.standard_normal((self.n_arms, self.dim)) / math.sqrt(self.dim)}

    def draw_contexts(self, rng: np.random.Generator, rows: int) -> FloatArray:
        """Unit-variance coordinates (gaussian, uniform) or the sphere of radius sqrt(m), m the
        number of random coordinates; with ``intercept`` the first coordinate is 1."""
        m = self.dim - 1 if self.intercept else self.dim
        if self.context_distribution == "uniform":
            z = rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), (rows, m))
        else:
            z = rng.standard_normal((rows, m))
        if self.context_distribution == "sphere" and m > 0:
            z *= math.sqrt(m) / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-300)
        if not self.intercept:
            return z
        return np.concatenate([np.ones((rows, 1)), z], axis=1)

    def draw_block(self, rng: np.random.Generator, params: dict[str, Any], t0: int, rows: int
                   ) -> tuple[FloatArray, FloatArray, FloatArray]:
        x = self.draw_contexts(rng, rows)
        eta = x @ params["beta"].T
        noise = rng.standard_normal((rows, self.n_arms))
        return x, eta, eta + self.noise_sigma * noise


class NonparametricProblem(ContextualProblem):
    """eta_a(x) = sum_j w_aj exp(-|x - c_aj|^2 / (2 h^2)): smooth, far from linear.

    Contexts uniform on [-1, 1]^d; centres c_aj uniform on [-1, 1]^d and weights w_aj ~ N(0, 1)
    drawn at reset (Dobriban (2019), section 5.2.4, item 9, R_t^a = f_a(X_t) + noise).
    """

    low, high = -1.0, 1.0

    def __init__(self, k: int, d: int, noise_sigma: float, n_bumps: int, bandwidth: float,
                 env_name: str = "NonparametricContextualBandit-v0") -> None:
        self.env_name = env_name
        self.n_arms = check_int(env_name, "k (number of arms)", k, low=2)
        self.dim = check_int(env_name, "d (context dimension)", d)
        self.noise_sigma = check_float(env_name, "noise_sigma", noise_sigma, low=0.0,
                                       expected="a finite number >= 0")
        self.n_bumps = check_int(env_name, "n_bumps", n_bumps)
        self.bandwidth = check_float(env_name, "bandwidth", bandwidth, low=0.0,
                                     expected="a finite number >= 0")
        if self.bandwidth == 0:
            raise ValueError(f"{env_name}: bandwidth must be > 0, got {bandwidth!r}")

    def draw_params(self, rng: np.random.Generator) -> dict[str, Any]:
        centres = rng.uniform(-1.0, 1.0, (self.n_arms, self.n_bumps, self.dim))
        weights = rng.standard_normal((self.n_arms, self.n_bumps))
        return {"centres": centres, "weights": weights}

    def eta(self, params: dict[str, Any], x: FloatArray) -> FloatArray:
        """f_a(x) for contexts x (rows, d): shape (rows, K)."""
        diff = x[:, None, None, :] - params["centres"][None]
        bumps = np.exp(-np.einsum("rkjd,rkjd->rkj", diff, diff) / (2 * self.bandwidth ** 2))
        return np.asarray(np.einsum("rkj,kj->rk", bumps, params["weights"]))

    def draw_block(self, rng: np.random.Generator, params: dict[str, Any], t0: int, rows: int
                   ) -> tuple[FloatArray, FloatArray, FloatArray]:
        x = rng.uniform(-1.0, 1.0, (rows, self.dim))
        eta = self.eta(params, x)
        return x, eta, eta + self.noise_sigma * rng.standard_normal((rows, self.n_arms))


_SEQUENCES = ("drifting", "clustered")


class AdversarialProblem(ContextualProblem):
    """A fixed context sequence, Bernoulli rewards with eta_a(x) = clip(theta_a' x, 0, 1).

    Built-in sequences have x_t[0] = 1 (a bias feature) and |x_t[1:]| <= 1; the default theta_a
    is (1/2, u_a / 2) with u_a uniform in the unit ball, so eta lies in [0, 1] and the clip
    binds only for user-given contexts or theta.
    """

    low, high = -1.0, 1.0

    def __init__(self, k: int, d: int | None, sequence: str, contexts: ArrayLike | None,
                 theta: ArrayLike | None, period: int, n_clusters: int, segment: int,
                 env_name: str = "AdversarialContextBandit-v0") -> None:
        self.env_name = env_name
        self.n_arms = check_int(env_name, "k (number of arms)", k, low=2)
        if contexts is not None:
            self.contexts: FloatArray | None = _as_matrix(env_name, "contexts", contexts,
                                                          (None, None))
            if self.contexts.shape[0] == 0:
                raise ValueError(f"{env_name}: contexts must have at least one row")
            self.dim = self.contexts.shape[1]
            self.low, self.high = float(self.contexts.min()), float(self.contexts.max())
            if d is not None and d != self.dim:
                raise ValueError(f"{env_name}: d = {d!r} does not match the given contexts of "
                                 f"dimension {self.dim}")
        else:
            self.contexts = None
            self.dim = check_int(env_name, "d (context dimension)", d)
            if self.dim < 2:
                raise ValueError(f"{env_name}: d must be >= 2 (a bias feature and at least one "
                                 f"more), got {d!r}")
        check_choice(env_name, "sequence", sequence, _SEQUENCES)
        self.sequence = sequence
        self.theta = None if theta is None else _as_matrix(env_name, "theta", theta,
                                                            (self.n_arms, self.dim))
        self.period = check_int(env_name, "period", period)
        self.n_clusters = check_int(env_name, "n_clusters", n_clusters)
        self.segment = check_int(env_name, "segment", segment)

    def draw_params(self, rng: np.random.Generator) -> dict[str, Any]:
        if self.theta is not None:
            theta = self.theta.copy()
        else:
            theta = np.empty((self.n_arms, self.dim))
            theta[:, 0] = 0.5
            theta[:, 1:] = 0.5 * _unit_ball(rng, self.n_arms, self.dim - 1)
        centres = _unit_ball(rng, self.n_clusters, max(self.dim - 1, 1))
        return {"theta": theta, "centres": centres}

    def contexts_at(self, params: dict[str, Any], t: IntArray) -> FloatArray:
        """The contexts of steps t (0-based), shape (len(t), d): a function of t alone."""
        if self.contexts is not None:
            return self.contexts[t % self.contexts.shape[0]]
        x = np.ones((t.size, self.dim))
        m = self.dim - 1
        if self.sequence == "drifting":
            phase = 2 * math.pi * t[:, None] / self.period + math.pi * np.arange(m) / m
            x[:, 1:] = np.cos(phase) / math.sqrt(m)
        else:
            x[:, 1:] = params["centres"][(t // self.segment) % self.n_clusters]
        return x

    def draw_block(self, rng: np.random.Generator, params: dict[str, Any], t0: int, rows: int
                   ) -> tuple[FloatArray, FloatArray, FloatArray]:
        x = self.contexts_at(params, np.arange(t0, t0 + rows))
        eta = np.clip(x @ params["theta"].T, 0.0, 1.0)
        rewards = (rng.random((rows, self.n_arms)) < eta).astype(np.float64)
        return x, eta, rewards


def _unit_ball(rng: np.random.Generator, n: int, m: int) -> FloatArray:
    z = rng.standard_normal((n, m))
    z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-300)
    return np.asarray(z * rng.random((n, 1)) ** (1.0 / m))


@lru_cache(maxsize=8)
def _sklearn_dataset(name: str) -> tuple[FloatArray, IntArray]:
    from sklearn import datasets  # imported on first use: only this env needs scikit-learn

    loader = getattr(datasets, f"load_{name}")
    bunch = loader()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def load_dataset(name: str) -> tuple[FloatArray, IntArray]:
    """Features (N, d) and labels (N,) of a dataset bundled with scikit-learn (no download):
    one of :data:`DATASETS`."""
    if name not in DATASETS:
        raise ValueError(f"ClassificationBandit-v0: dataset must be one of {DATASETS} (or pass X "
                         f"and y), got {name!r}")
    return _sklearn_dataset(name)


class ClassificationProblem(ContextualProblem):
    """Supervised data as a one-step bandit: context X[i] with i uniform, action a predicted
    class, reward ``reward_matrix[y[i], a]`` (the identity by default: 1 if right, else 0)."""

    def __init__(self, dataset: str | None, x: ArrayLike | None, y: ArrayLike | None,
                 k: int | None, reward_matrix: ArrayLike | None, standardize: bool,
                 env_name: str = "ClassificationBandit-v0") -> None:
        self.env_name = env_name
        if (x is None) != (y is None):
            raise ValueError(f"{env_name}: give both X and y (user arrays) or neither")
        if x is None:
            if dataset is None:
                raise ValueError(f"{env_name}: give a dataset name from {DATASETS} or X and y")
            features, labels_raw = load_dataset(dataset)
            labels: Any = labels_raw
        else:
            features = _as_matrix(env_name, "X", x, (None, None))
            labels = y
        self.dataset = dataset if x is None else "user"
        n = features.shape[0]
        if n == 0:
            raise ValueError(f"{env_name}: X has no rows")
        lab = np.asarray(labels)
        if lab.shape != (n,):
            raise ValueError(f"{env_name}: y must be a 1-D array with one label per row of X "
                             f"({n}), got shape {lab.shape}")
        if lab.dtype.kind == "f" and np.all(np.isfinite(lab)) and np.all(lab == np.round(lab)):
            lab = lab.astype(np.int64)
        if lab.dtype.kind not in "iu":
            raise ValueError(f"{env_name}: labels must be integers, got dtype {lab.dtype}")
        lab = lab.astype(np.int64)
        if reward_matrix is not None:
            rm = np.array(reward_matrix, dtype=np.float64)
            if rm.ndim != 2 or rm.shape[0] < 1 or rm.shape[1] < 2 or not np.all(np.isfinite(rm)):
                raise ValueError(f"{env_name}: reward_matrix must be a finite 2-D array (classes "
                                 f"x actions) with at least 2 actions, got shape {rm.shape}")
            n_classes = rm.shape[0]
            if k is not None and k != rm.shape[1]:
                raise ValueError(f"{env_name}: k = {k!r} does not match reward_matrix's "
                                 f"{rm.shape[1]} actions")
        else:
            n_classes = (int(lab.max()) + 1 if k is None
                         else check_int(env_name, "k (number of arms)", k, low=2))
            if n_classes < 2:
                raise ValueError(f"{env_name}: need at least 2 classes, labels are all "
                                 f"{int(lab.max())}")
            rm = np.eye(n_classes)
        bad = np.flatnonzero((lab < 0) | (lab >= n_classes))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{env_name}: labels must lie in [0, {n_classes}) (the rows of the "
                             f"reward matrix); y[{i}] = {int(lab[i])} is out of range")
        self.reward_matrix = rm
        self.n_arms = rm.shape[1]
        check_bool(env_name, "standardize", standardize)
        if standardize:
            mu = features.mean(axis=0)
            sd = features.std(axis=0)
            features = (features - mu) / np.where(sd > 0, sd, 1.0)
        self.features = np.ascontiguousarray(features, dtype=np.float64)
        self.labels = lab
        self.dim = self.features.shape[1]
        self.low, self.high = float(self.features.min()), float(self.features.max())
        self.n_classes = n_classes
        # eta(x_i) = reward_matrix[y_i]: the expected reward of every action for each example.
        self._eta = self.reward_matrix[self.labels]

    def draw_params(self, rng: np.random.Generator) -> dict[str, Any]:
        return {}

    def draw_block(self, rng: np.random.Generator, params: dict[str, Any], t0: int, rows: int
                   ) -> tuple[FloatArray, FloatArray, FloatArray]:
        idx = rng.integers(self.features.shape[0], size=rows)
        eta = self._eta[idx]
        return self.features[idx], eta, eta.copy()


# --------------------------------------------------------------------------------------------
# The batched core.
# --------------------------------------------------------------------------------------------


def context_block_length(dim: int, n_arms: int) -> int:
    """Steps drawn at once: about 4096 numbers per replicate, between 16 and 256 steps."""
    return int(min(256, max(16, 4096 // (dim + 2 * n_arms))))


class ContextualCore:
    """``n`` replicates of a contextual bandit as arrays with a leading replicate axis.

    Per replicate: its generator, its problem ``params``, and the current block of contexts
    (n, B, d), expected rewards (n, B, K) and realised rewards (n, B, K); ``t`` (n,) counts the
    steps of the episode, and the context shown now is row ``t % B`` of the block.
    """

    def __init__(self, problem: ContextualProblem, num_envs: int, horizon: int) -> None:
        self.problem = problem
        self.n = num_envs
        self.k = problem.n_arms
        self.d = problem.dim
        self.horizon = horizon
        self.block = context_block_length(self.d, self.k)
        self.rngs: list[np.random.Generator] = []
        self.params: list[dict[str, Any]] = [{} for _ in range(self.n)]
        self.contexts = np.zeros((self.n, self.block, self.d))
        self.eta = np.zeros((self.n, self.block, self.k))
        self.rewards = np.zeros((self.n, self.block, self.k))
        self.t = np.zeros(self.n, dtype=np.int64)
        self.last_action = np.full(self.n, -1, dtype=np.int64)
        self._rows = np.arange(self.n)

    def _fill(self, i: int) -> None:
        x, eta, r = self.problem.draw_block(self.rngs[i], self.params[i], int(self.t[i]),
                                            self.block)
        self.contexts[i], self.eta[i], self.rewards[i] = x, eta, r

    def reset_rows(self, rows: IntArray) -> None:
        """Start a new episode for the given replicates (each draws from its own generator)."""
        for i in rows:
            self.params[i] = self.problem.draw_params(self.rngs[i])
            self.t[i] = 0
            self._fill(int(i))
        self.last_action[rows] = -1

    def observe(self, rows: IntArray | None = None) -> FloatArray:
        """The current contexts of ``rows`` (all by default), a fresh array."""
        rows = self._rows if rows is None else rows
        return self.contexts[rows, self.t[rows] % self.block]

    def expected_rewards(self, rows: IntArray | None = None) -> FloatArray:
        """eta_a(x) of every arm at the current contexts, shape (len(rows), K)."""
        rows = self._rows if rows is None else rows
        return self.eta[rows, self.t[rows] % self.block]

    def pull(self, actions: IntArray, rows: IntArray | None = None
             ) -> tuple[FloatArray, FloatArray]:
        """Act on the current contexts; returns rewards (m,) and eta of every arm (m, K)."""
        rows = self._rows if rows is None else rows
        pos = self.t[rows] % self.block
        rewards = self.rewards[rows, pos, actions]
        eta = self.eta[rows, pos]
        self.last_action[rows] = actions
        self.t[rows] += 1
        for i in rows[self.t[rows] % self.block == 0]:
            self._fill(int(i))
        return rewards, eta


# --------------------------------------------------------------------------------------------
# Single and vector environments.
# --------------------------------------------------------------------------------------------


def _render_ansi(name: str, core: ContextualCore, i: int) -> str:
    eta = core.expected_rewards(np.array([i]))[0]
    x = core.observe(np.array([i]))[0]
    head = ", ".join(f"{v:.3f}" for v in x[:8]) + (", ..." if x.size > 8 else "")
    lines = [f"{name}  t={int(core.t[i])}/{core.horizon}  last action={int(core.last_action[i])}",
             f"context: [{head}]", " arm   eta_a(x)"]
    best = int(eta.argmax())
    lines += [f"{'*' if a == best else ' '}{a:3d}  {eta[a]:8.4f}" for a in range(core.k)]
    return "\n".join(lines) + "\n"


class ContextualBanditEnv(gym.Env[FloatArray, np.int64]):
    """A contextual bandit as a Gymnasium env (a batch of one of :class:`ContextualCore`)."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4,  # noqa: RUF012
                BUDGET_KWARG: "horizon"}
    env_name: str = "ContextualBandit"

    def __init__(self, problem: ContextualProblem, horizon: int,
                 render_mode: str | None = None) -> None:
        self.horizon = check_int(self.env_name, "horizon", horizon)
        self.render_mode = check_render_mode(self.env_name, self.metadata["render_modes"],
                                             render_mode)
        self.problem = problem
        self.n_arms = problem.n_arms
        self.action_space = spaces.Discrete(self.n_arms)
        self.observation_space = spaces.Box(problem.low, problem.high, (problem.dim,),
                                            dtype=np.float64)
        self._core = ContextualCore(problem, 1, self.horizon)
        self._zero = np.zeros(1, dtype=np.int64)

    @property
    def params(self) -> dict[str, Any]:
        """The problem of the current episode (for evaluation; agents must not read this)."""
        return self._core.params[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[FloatArray, dict[str, Any]]:
        super().reset(seed=seed)
        self._core.rngs = [self.np_random]
        self._core.reset_rows(self._zero)
        eta = self._core.expected_rewards(self._zero)[0]
        return self._core.observe(self._zero)[0], {
            "expected_rewards": eta, "optimal_expected_reward": float(eta.max())}

    def step(self, action: Any) -> tuple[FloatArray, SupportsFloat, bool, bool, dict[str, Any]]:
        if not self._core.rngs:
            raise gym.error.ResetNeeded(f"{self.env_name}: call reset() before step()")
        a = _as_single_action(self.env_name, self.n_arms, action)
        rewards, eta = self._core.pull(np.array([a], dtype=np.int64), self._zero)
        truncated = bool(self._core.t[0] >= self.horizon)
        e = eta[0]
        info = {"expected_reward": float(e[a]), "optimal_expected_reward": float(e.max()),
                "optimal_action": int(e.argmax()), "expected_rewards": e}
        return self._core.observe(self._zero)[0], float(rewards[0]), False, truncated, info

    def render(self) -> str | None:
        if self.render_mode is None:
            gym.logger.warn(f"{self.env_name}: render() called without a render_mode; "
                            "pass render_mode='ansi' to gym.make")
            return None
        return _render_ansi(self.env_name, self._core, 0)


class ContextualBanditVectorEnv(NextStepVectorEnv[FloatArray, IntArray, NDArray[Any]]):
    """``num_envs`` independent replicates of a contextual bandit, stepped as arrays.

    Autoreset is Gymnasium's NEXT_STEP (:class:`~decisiongym.envs.vector.NextStepVectorEnv`):
    the step after a replicate's episode is truncated resets it, ignores its action and returns
    reward 0 and the new episode's first context; its ``info`` entries are masked out
    (``info["_expected_reward"][i]`` is False).
    """

    metadata = {  # noqa: RUF012
        "render_modes": ["ansi"],
        "render_fps": 4,
        BUDGET_KWARG: "horizon",
    }
    env_name: str = "ContextualBandit"
    _only_truncates = True  # a bandit never terminates

    def __init__(self, problem: ContextualProblem, horizon: int, num_envs: int = 1,
                 render_mode: str | None = None, max_episode_steps: int | None = None) -> None:
        self._init_vector(num_envs, render_mode)
        self.horizon = self._episode_budget(horizon, max_episode_steps)
        self.problem = problem
        self.n_arms = problem.n_arms
        self._set_spaces(spaces.Box(problem.low, problem.high, (problem.dim,), dtype=np.float64),
                         spaces.Discrete(self.n_arms))
        self._core = ContextualCore(problem, self.num_envs, self.horizon)
        self._all = np.arange(self.num_envs)

    @property
    def params(self) -> list[dict[str, Any]]:
        """The problem of every replicate's current episode."""
        return list(self._core.params)

    def _set_rngs(self, rngs: list[np.random.Generator]) -> None:
        self._core.rngs = rngs

    def _reset_all(self) -> tuple[FloatArray, dict[str, Any]]:
        self._core.reset_rows(self._all)
        eta = self._core.expected_rewards()
        return self._core.observe(), {"expected_rewards": eta,
                                      "optimal_expected_reward": eta.max(axis=1)}

    def _reset_rows(self, rows: IntArray) -> None:
        self._core.reset_rows(rows)

    def _step_batch(self, a: IntArray, stepped: NDArray[np.bool_]
                    ) -> tuple[FloatArray, FloatArray, NDArray[np.bool_], NDArray[np.bool_],
                               dict[str, Any]]:
        n = self.num_envs
        rewards = np.zeros(n)
        eta = np.zeros((n, self.n_arms))
        if not stepped.all():
            rows = np.flatnonzero(stepped)
            rewards[rows], eta[rows] = self._core.pull(a[rows], rows)
        else:
            rewards, eta = self._core.pull(a)
        truncated = stepped & (self._core.t >= self.horizon)
        terminated = np.zeros(n, dtype=bool)
        expected = eta[self._all, a]
        info: dict[str, Any] = {
            "expected_reward": np.where(stepped, expected, 0.0),
            "_expected_reward": stepped,
            "optimal_expected_reward": eta.max(axis=1),
            "_optimal_expected_reward": stepped.copy(),
            "optimal_action": np.where(stepped, eta.argmax(axis=1), 0),
            "_optimal_action": stepped.copy(),
            "expected_rewards": eta,
            "_expected_rewards": stepped.copy(),
        }
        return self._core.observe(), rewards, terminated, truncated, info

    def render(self) -> tuple[Any, ...] | None:
        if self.render_mode is None:
            gym.logger.warn(f"{self.env_name}: render() called without a render_mode")
            return None
        return tuple(_render_ansi(self.env_name, self._core, i) for i in range(self.num_envs))


# --------------------------------------------------------------------------------------------
# The registered environments. Their docstrings are their specification.
# --------------------------------------------------------------------------------------------

_COMMON_DOC = """
    ## Action Space
    ``Discrete(K)``: the arm (action) to take. Anything else (out of range, non-integer, NaN, an
    array with a shape) raises ``ValueError`` naming the environment and the value.

    ## Observation Space
    | Num | Observation | Min | Max |
    |-----|-------------|-----|-----|
    | 0..d-1 | the context X_t | see the description | |

    ``Box(low, high, (d,), float64)``.

    ## Starting State
    ``reset`` draws the episode's problem from ``self.np_random`` and returns the first context;
    ``info`` holds ``expected_rewards`` (eta_a(X_1) of every arm) and
    ``optimal_expected_reward``.

    ## Episode End
    - Termination: never.
    - Truncation: after ``horizon`` steps.

    ## Info
    ``expected_rewards`` (eta_a(x) of every arm at the context acted on; (n, K) in the vector
    env), ``expected_reward`` (of the arm taken), ``optimal_expected_reward`` (max_a eta_a(x)) and
    ``optimal_action``, so that the regret against the oracle policy pi*(x) = argmax_a eta_a(x)
    is exact. Agents must not read ``info``.
"""


class LinearContextualBandit(ContextualBanditEnv):
    __doc__ = """Linear contextual bandit: R_t^a = beta_a' X_t + noise (Dobriban (2019), section
    5.2.4, item 6).

    ## Description
    Contexts X_t i.i.d.: with ``intercept`` (the default) the first coordinate is the constant 1,
    so that the arms differ in their mean reward as well as in their slopes; the other m
    coordinates come from ``context_distribution``: "gaussian" N(0, I_m), "uniform" on
    [-sqrt 3, sqrt 3]^m (both unit variance per coordinate) or "sphere" (uniform on the sphere
    of radius sqrt m). beta is given, or drawn at every reset with beta_a ~ N(0, I_d / d).
    (Without the intercept, centred contexts explore for free and the greedy policy does well:
    the covariate diversity of Bastani, Bayati & Khosravi 2021.)

    ## Rewards
    ``beta[a] @ x + noise_sigma * z``, z standard normal.
""" + _COMMON_DOC + """
    ## Arguments
    - ``k``: number of arms, >= 2; default 4.
    - ``d``: context dimension, >= 1; default 5.
    - ``noise_sigma``: noise standard deviation, >= 0; default 0.5.
    - ``beta``: optional (k, d) array; default None (drawn at reset).
    - ``context_distribution``: "gaussian" (default), "uniform" or "sphere".
    - ``intercept``: bool, default True (x[0] = 1).
    - ``horizon``: positive int, default 1000.
    - ``render_mode``: None or "ansi".

    ## Version History
    - v0: initial version.

    >>> import gymnasium as gym, decisiongym
    >>> env = gym.make("decisiongym/LinearContextualBandit-v0", k=2, d=2, horizon=3,
    ...                beta=[[1.0, 0.0], [0.0, 1.0]], noise_sigma=0.0)
    >>> x, info = env.reset(seed=0)
    >>> x.shape, bool(info["optimal_expected_reward"] == max(x))
    ((2,), True)
    """
    env_name = "LinearContextualBandit-v0"

    def __init__(self, k: int = 4, d: int = 5, noise_sigma: float = 0.5,
                 beta: ArrayLike | None = None, context_distribution: str = "gaussian",
                 intercept: bool = True, horizon: int = 1000,
                 render_mode: str | None = None) -> None:
        super().__init__(LinearProblem(k, d, noise_sigma, beta, context_distribution, intercept,
                                       self.env_name), horizon, render_mode)


class LinearContextualBanditVector(ContextualBanditVectorEnv):
    """Native vector twin of :class:`LinearContextualBandit`."""

    env_name = "LinearContextualBandit-v0"

    def __init__(self, num_envs: int = 1, k: int = 4, d: int = 5, noise_sigma: float = 0.5,
                 beta: ArrayLike | None = None, context_distribution: str = "gaussian",
                 intercept: bool = True, horizon: int = 1000, render_mode: str | None = None,
                 max_episode_steps: int | None = None) -> None:
        super().__init__(LinearProblem(k, d, noise_sigma, beta, context_distribution, intercept,
                                       self.env_name), horizon, num_envs, render_mode,
                         max_episode_steps)


class NonparametricContextualBandit(ContextualBanditEnv):
    __doc__ = """Nonparametric contextual bandit: R_t^a = f_a(X_t) + noise (Dobriban (2019),
    section 5.2.4, item 9).

    ## Description
    Contexts uniform on [-1, 1]^d. Each f_a is a sum of ``n_bumps`` Gaussian bumps,
    f_a(x) = sum_j w_aj exp(-|x - c_aj|^2 / (2 bandwidth^2)), with centres c_aj uniform on
    [-1, 1]^d and weights w_aj ~ N(0, 1) drawn at every reset: smooth, and far from linear, the
    setting of Yang & Zhu (2002).

    ## Rewards
    ``f_a(x) + noise_sigma * z``, z standard normal.
""" + _COMMON_DOC + """
    ## Arguments
    - ``k``: number of arms, >= 2; default 4.
    - ``d``: context dimension, >= 1; default 2.
    - ``noise_sigma``: noise standard deviation, >= 0; default 0.1.
    - ``n_bumps``: bumps per arm, >= 1; default 5.
    - ``bandwidth``: bump width, > 0; default 0.3.
    - ``horizon``: positive int, default 1000.
    - ``render_mode``: None or "ansi".

    ## Version History
    - v0: initial version.
    """
    env_name = "NonparametricContextualBandit-v0"

    def __init__(self, k: int = 4, d: int = 2, noise_sigma: float = 0.1, n_bumps: int = 5,
                 bandwidth: float = 0.3, horizon: int = 1000,
                 render_mode: str | None = None) -> None:
        super().__init__(NonparametricProblem(k, d, noise_sigma, n_bumps, bandwidth,
                                              self.env_name), horizon, render_mode)


class NonparametricContextualBanditVector(ContextualBanditVectorEnv):
    """Native vector twin of :class:`NonparametricContextualBandit`."""

    env_name = "NonparametricContextualBandit-v0"

    def __init__(self, num_envs: int = 1, k: int = 4, d: int = 2, noise_sigma: float = 0.1,
                 n_bumps: int = 5, bandwidth: float = 0.3, horizon: int = 1000,
                 render_mode: str | None = None, max_episode_steps: int | None = None) -> None:
        super().__init__(NonparametricProblem(k, d, noise_sigma, n_bumps, bandwidth,
                                              self.env_name), horizon, num_envs, render_mode,
                         max_episode_steps)


class AdversarialContextBandit(ContextualBanditEnv):
    __doc__ = """Adversarial contexts with stochastic rewards (Dobriban (2019), section 5.2.4,
    item 10).

    ## Description
    The contexts are a fixed sequence, not i.i.d.: "drifting" (x_t = (1, z_t) with z_t turning
    slowly on a circle, one turn every ``period`` steps), "clustered" (runs of ``segment`` steps
    at one of ``n_clusters`` fixed points, cycling), or the rows of a user array ``contexts``
    (cycled). Rewards are Bernoulli with eta_a(x) = clip(theta_a' x, 0, 1); theta is given, or
    theta_a = (1/2, u_a / 2) with u_a uniform in the unit ball, drawn at reset (with the cluster
    points). Regret is against the oracle policy at each x_t, uniformly over the sequence.

    ## Rewards
    1 with probability eta_a(x_t), else 0.
""" + _COMMON_DOC + """
    ## Arguments
    - ``k``: number of arms, >= 2; default 4.
    - ``d``: context dimension, >= 2 (x_t[0] = 1 is a bias feature); default 3. Taken from
      ``contexts`` when given.
    - ``sequence``: "drifting" (default) or "clustered"; ignored when ``contexts`` is given.
    - ``contexts``: optional (L, d) array of contexts, used in order and cycled.
    - ``theta``: optional (k, d) array; default None (drawn at reset).
    - ``period``, ``n_clusters``, ``segment``: see above; defaults 500, 4, 100.
    - ``horizon``: positive int, default 1000.
    - ``render_mode``: None or "ansi".

    ## Version History
    - v0: initial version.
    """
    env_name = "AdversarialContextBandit-v0"

    def __init__(self, k: int = 4, d: int | None = None, sequence: str = "drifting",
                 contexts: ArrayLike | None = None, theta: ArrayLike | None = None,
                 period: int = 500, n_clusters: int = 4, segment: int = 100,
                 horizon: int = 1000, render_mode: str | None = None) -> None:
        d = d if d is not None or contexts is not None else 3
        super().__init__(AdversarialProblem(k, d, sequence, contexts, theta, period,
                                            n_clusters, segment, self.env_name),
                         horizon, render_mode)


class AdversarialContextBanditVector(ContextualBanditVectorEnv):
    """Native vector twin of :class:`AdversarialContextBandit`."""

    env_name = "AdversarialContextBandit-v0"

    def __init__(self, num_envs: int = 1, k: int = 4, d: int | None = None,
                 sequence: str = "drifting", contexts: ArrayLike | None = None,
                 theta: ArrayLike | None = None, period: int = 500, n_clusters: int = 4,
                 segment: int = 100, horizon: int = 1000, render_mode: str | None = None,
                 max_episode_steps: int | None = None) -> None:
        d = d if d is not None or contexts is not None else 3
        super().__init__(AdversarialProblem(k, d, sequence, contexts, theta, period,
                                            n_clusters, segment, self.env_name),
                         horizon, num_envs, render_mode, max_episode_steps)


class ClassificationBandit(ContextualBanditEnv):
    __doc__ = """A labelled dataset as a contextual bandit (bsuite's MNIST bandit, generalised).

    ## Description
    Each step shows the features of an example drawn uniformly (with replacement) from the
    dataset; the action is a predicted class. Datasets: scikit-learn's bundled "digits" (8x8
    images, 10 classes, d = 64), "wine", "iris", "breast_cancer" (no download), or user arrays
    ``X`` (N, d) and ``y`` (N,). Features are standardised per column unless
    ``standardize=False``.

    ## Rewards
    ``reward_matrix[y, a]``: by default the identity (1 if the predicted class is right, else
    0), or a cost-sensitive (classes x actions) matrix. The reward is a function of the example,
    so eta_a(x) = reward_matrix[y(x), a] and the oracle is the perfect classifier.
""" + _COMMON_DOC + """
    ## Arguments
    - ``dataset``: one of "digits" (default), "wine", "iris", "breast_cancer"; ignored when X
      and y are given.
    - ``X``, ``y``: optional user arrays; labels are integers in [0, classes).
    - ``k``: optional number of classes (default max(y) + 1); labels outside [0, k) are an error.
    - ``reward_matrix``: optional (classes, actions) array.
    - ``standardize``: default True.
    - ``horizon``: positive int, default 1000.
    - ``render_mode``: None or "ansi".

    ## Version History
    - v0: initial version.
    """
    env_name = "ClassificationBandit-v0"

    def __init__(self, dataset: str | None = "digits", X: ArrayLike | None = None,
                 y: ArrayLike | None = None, k: int | None = None,
                 reward_matrix: ArrayLike | None = None, standardize: bool = True,
                 horizon: int = 1000, render_mode: str | None = None) -> None:
        super().__init__(ClassificationProblem(dataset, X, y, k, reward_matrix, standardize,
                                               self.env_name), horizon, render_mode)


class ClassificationBanditVector(ContextualBanditVectorEnv):
    """Native vector twin of :class:`ClassificationBandit`."""

    env_name = "ClassificationBandit-v0"

    def __init__(self, num_envs: int = 1, dataset: str | None = "digits",
                 X: ArrayLike | None = None, y: ArrayLike | None = None,
                 k: int | None = None, reward_matrix: ArrayLike | None = None,
                 standardize: bool = True, horizon: int = 1000, render_mode: str | None = None,
                 max_episode_steps: int | None = None) -> None:
        super().__init__(ClassificationProblem(dataset, X, y, k, reward_matrix, standardize,
                                               self.env_name), horizon, num_envs, render_mode,
                         max_episode_steps)
