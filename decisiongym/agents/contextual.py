"""Contextual bandit agents (Dobriban (2019), section 5.2.4).

The observation is the context X_t; each agent estimates eta_a(x) = E[R^a | X = x] or a
policy directly. Per-replicate state has a leading replicate axis; the incremental least-squares
updates are Sherman-Morrison rank-one updates of the inverse Gram matrix of the arm taken,
batched over replicates (never a fresh inverse per step).

The algorithm numbers below are those of Dobriban, *Notes for Stat 991: Topics in Deep
Learning* (2019), section 5.2.4.

- ``greedy``: the notes' GREEDY(eta_hat) with ridge estimates (section 5.2.4, item 5), the
  baseline.
- ``linucb``: Li, Chu, Langford & Schapire (2010), Dobriban (2019), Algorithm 4.
- ``linear-thompson``: Agrawal & Goyal (2013), Dobriban (2019), Algorithm 5 (one Gaussian
  posterior per arm).
- ``goldenshluger-zeevi``: Goldenshluger & Zeevi (2013), Dobriban (2019), Algorithm 1 (forced
  sampling).
- ``epsilon-greedy-knn``: Yang & Zhu (2002), Dobriban (2019), Algorithm 2 (nearest-neighbour
  regression).
- ``exp4``: Auer, Cesa-Bianchi, Freund & Schapire (2002), the fully adversarial protocol with a
  finite policy class given as experts (Dobriban (2019), section 5.2.4, item 14).
- ``neural-epsilon-greedy`` and ``neural-linear``: Riquelme, Tucker & Snoek (2018); see
  :mod:`decisiongym.agents.neural`.

An episode is one bandit problem (the envs draw a new problem at reset), so a replicate's
statistics are cleared when its episode ends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from decisiongym.agents.base import BaseAgent, argmax_random_ties, register
from decisiongym.arrays import BoolArray, FloatArray, IntArray
from decisiongym.theory import linucb_alpha

__all__ = [
    "ContextualAgent",
    "EpsilonGreedyKNN",
    "Exp4",
    "GoldenshlugerZeevi",
    "Greedy",
    "LinUCB",
    "LinearThompson",
    "RidgeArms",
    "forced_sampling_arm",
    "sherman_morrison_update",
]


def sherman_morrison_update(a_inv: FloatArray, x: FloatArray) -> FloatArray:
    """(A + x x')^{-1} from A^{-1}, batched: ``a_inv`` (m, d, d) symmetric, ``x`` (m, d).

    (A + x x')^{-1} = A^{-1} - (A^{-1} x)(A^{-1} x)' / (1 + x' A^{-1} x).
    """
    u = np.matmul(a_inv, x[:, :, None])[:, :, 0]
    denom = 1.0 + np.einsum("md,md->m", x, u)
    return np.asarray(a_inv - u[:, :, None] * u[:, None, :] / denom[:, None, None])


class RidgeArms:
    """Per-replicate, per-arm ridge regression of the reward on the context.

    A^a = lambda I + sum x x' (over the steps arm a was taken), b^a = sum R x, beta^a =
    (A^a)^{-1} b^a; ``a_inv`` (n, K, d, d), ``b`` and ``beta`` (n, K, d), ``counts`` (n, K).
    """

    def __init__(self, n: int, k: int, d: int, regularization: float) -> None:
        self.lam = regularization
        self.d = d
        self.a_inv = np.broadcast_to(np.eye(d) / regularization, (n, k, d, d)).copy()
        self.b = np.zeros((n, k, d))
        self.beta = np.zeros((n, k, d))
        self.counts = np.zeros((n, k))

    def reset_rows(self, rows: IntArray) -> None:
        self.a_inv[rows] = np.eye(self.d) / self.lam
        self.b[rows] = 0.0
        self.beta[rows] = 0.0
        self.counts[rows] = 0.0

    def update(self, rows: IntArray, a: IntArray, x: FloatArray, r: FloatArray) -> None:
        """Add (x, r) to arm a of each replicate in ``rows`` (Sherman-Morrison)."""
        a_inv = sherman_morrison_update(self.a_inv[rows, a], x)
        b = self.b[rows, a] + r[:, None] * x
        self.a_inv[rows, a] = a_inv
        self.b[rows, a] = b
        self.beta[rows, a] = np.matmul(a_inv, b[:, :, None])[:, :, 0]
        self.counts[rows, a] += 1.0

    def predict(self, x: FloatArray) -> FloatArray:
        """beta_a' x for every replicate and arm: (n, K)."""
        return np.asarray(np.einsum("nkd,nd->nk", self.beta, x))

    def width(self, x: FloatArray) -> FloatArray:
        """x' (A^a)^{-1} x for every replicate and arm: (n, K)."""
        u = np.matmul(self.a_inv, x[:, None, :, None])[..., 0]
        return np.maximum(np.einsum("nkd,nd->nk", u, x), 0.0)


class ContextualAgent(BaseAgent):
    """Shared plumbing: a Discrete(K) action space, a 1-D Box context, context validation."""

    def __init__(self, *, observation_space: spaces.Space[Any],
                 action_space: spaces.Space[Any]) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        if not isinstance(action_space, spaces.Discrete) or int(action_space.start) != 0:
            raise ValueError(f"{self.name}: needs a Discrete(K) action space starting at 0 (the "
                             f"single space of a vector env), got {action_space!r}")
        self.n_arms = int(action_space.n)
        if self.n_arms < 2:
            raise ValueError(f"{self.name}: needs at least 2 arms, got {self.n_arms}")
        shape = getattr(observation_space, "shape", None)
        if not isinstance(observation_space, spaces.Box) or shape is None or len(shape) != 1:
            raise ValueError(f"{self.name}: needs a 1-D Box observation space (the context; the "
                             f"single space of a vector env), got {observation_space!r}")
        self.dim = int(shape[0])

    def _contexts(self, obs: Any, rows: IntArray | None = None) -> FloatArray:
        """The contexts (n, d) as float64; a context of another dimension is an error."""
        x = np.asarray(obs, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            got = x.shape[1] if x.ndim == 2 else f"an array of shape {x.shape}"
            raise ValueError(f"{self.name}: context dimension mismatch: expected contexts of "
                             f"shape (num_envs, {self.dim}), got {got} (shape {x.shape})")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{self.name}: contexts contain NaN or infinite values")
        return x if rows is None or rows is self._all_rows else x[rows]

    def _reset_state(self, num_envs: int) -> None:
        self.t = np.zeros(num_envs)
        self._reset_model(num_envs)

    def _reset_model(self, num_envs: int) -> None:
        """Allocate the model state."""

    def _end_episode(self, rows: IntArray) -> None:
        self.t[rows] = 0.0
        self._clear_rows(rows)

    def _clear_rows(self, rows: IntArray) -> None:
        """Forget what replicates ``rows`` learned (their episode ended)."""

    def _gather(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray
                ) -> tuple[FloatArray, IntArray, FloatArray]:
        x = self._contexts(obs, rows)
        a = np.asarray(actions, dtype=np.int64)
        if rows is not self._all_rows:
            a, rewards = a[rows], rewards[rows]
        if not np.all(np.isfinite(rewards)):
            raise ValueError(f"{self.name}: rewards contain NaN or infinite values")
        return x, a, rewards


class _RidgeAgent(ContextualAgent):
    """An agent built on one :class:`RidgeArms` model."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 regularization: float = 1.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        self.regularization = self._check_float("regularization", regularization, low=0.0,
                                                low_open=True)

    def _reset_model(self, num_envs: int) -> None:
        self.model = RidgeArms(num_envs, self.n_arms, self.dim, self.regularization)

    def _clear_rows(self, rows: IntArray) -> None:
        self.model.reset_rows(rows)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        x, a, r = self._gather(rows, obs, actions, rewards)
        self.model.update(rows, a, x, r)
        self.t[rows] += 1.0


@register("greedy", "contextual greedy: argmax of per-arm ridge estimates, no exploration "
          "(regularization)")
class Greedy(_RidgeAgent):
    """GREEDY(eta_hat)(x) = argmax_a eta_hat_a(x) (Dobriban (2019), section 5.2.4, item 5) with
    ridge estimates eta_hat_a(x) = beta_hat_a' x; ties (e.g. before any data) broken at random.

    The baseline that shows why exploration matters: an arm whose early estimate is low at every
    context may never be taken again.

    Parameters: ``regularization`` lambda > 0 of the ridge A^a = lambda I + D_a' D_a; default 1.
    """

    def _act(self, obs: Any) -> IntArray:
        x = self._contexts(obs)
        return argmax_random_ties(self.model.predict(x), self.rng)


@register("linucb", "LinUCB, Li et al. (2010): ridge estimate + alpha sqrt(x' A^-1 x) "
          "(alpha, or the confidence level delta; regularization)")
class LinUCB(_RidgeAgent):
    """LinUCB with disjoint linear models, Li, Chu, Langford & Schapire (2010), "A
    contextual-bandit approach to personalized news article recommendation"; Dobriban (2019),
    section 5.2.4, Algorithm 4.

    A^a = I, b^a = 0; each step beta_hat^a = (A^a)^{-1} b^a, U^a = beta_hat^a' x +
    alpha sqrt(x' (A^a)^{-1} x), A_t = argmax_a U^a; then A^a += x x', b^a += R x for the arm
    taken (here a Sherman-Morrison update of (A^a)^{-1}).

    Parameters: ``alpha`` >= 0 the width of the confidence bound; default 1 when neither
    ``alpha`` nor ``delta`` is given. ``delta`` in (0, 1): the confidence level instead, giving
    alpha = 1 + sqrt(ln(2 / delta) / 2) (``decisiongym.theory.linucb_alpha``; Li et al. 2010,
    section 3.1, and Dobriban (2019), section 5.2.4: the estimate is within
    alpha sqrt(x' (A^a)^{-1} x) of the true mean reward with probability at least 1 - delta).
    Give one of the two, not both. ``regularization`` lambda > 0 (A^a starts at lambda I);
    default 1.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 alpha: float | None = None, delta: float | None = None,
                 regularization: float = 1.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         regularization=regularization)
        if alpha is not None and delta is not None:
            raise ValueError(f"{self.name}: give either alpha (the width of the confidence "
                             f"bound) or delta (the confidence level, alpha = 1 + "
                             f"sqrt(ln(2/delta)/2)), not both (got alpha={alpha!r}, "
                             f"delta={delta!r})")
        if delta is not None:
            self.delta: float | None = self._check_float("delta", delta, low=0.0, high=1.0,
                                                         low_open=True, high_open=True)
            self.alpha = linucb_alpha(self.delta)
        else:
            self.delta = None
            self.alpha = self._check_float("alpha", 1.0 if alpha is None else alpha, low=0.0)

    def ucb_index(self, x: FloatArray) -> FloatArray:
        """U^a = beta_hat^a' x + alpha sqrt(x' (A^a)^{-1} x), shape (n, K)."""
        return self.model.predict(x) + self.alpha * np.sqrt(self.model.width(x))

    def _act(self, obs: Any) -> IntArray:
        return argmax_random_ties(self.ucb_index(self._contexts(obs)), self.rng)


@register("linear-thompson", "linear Thompson sampling, Agrawal & Goyal (2013): sample "
          "beta_a ~ N(beta_hat_a, sigma2 A_a^-1) (sigma2, regularization)")
class LinearThompson(_RidgeAgent):
    """Thompson sampling for linear payoffs, Agrawal & Goyal (2013), "Thompson sampling for
    contextual bandits with linear payoffs"; Dobriban (2019), section 5.2.4, Algorithm 5 (one
    posterior per arm).

    A^a = I, b^a = 0; each step sample beta~^a ~ N(beta_hat^a, sigma^2 (A^a)^{-1}) for every arm,
    A_t = argmax_a beta~^a' x; then A^a += x x', b^a += R x for the arm taken.

    Only beta~^a' x enters the choice, and beta~^a' x ~ N(beta_hat^a' x, sigma^2 x' (A^a)^{-1} x)
    exactly, independently across arms; the agent samples that scalar (the same distribution of
    actions as sampling the d-vector, without a Cholesky factor per arm per step).

    Parameters: ``sigma2`` > 0, the variance in the prior and the reward model (Agrawal & Goyal's
    v^2); default 0.25. ``regularization`` lambda > 0 (A^a starts at lambda I); default 1.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 sigma2: float = 0.25, regularization: float = 1.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         regularization=regularization)
        self.sigma2 = self._check_float("sigma2", sigma2, low=0.0, low_open=True)

    def _act(self, obs: Any) -> IntArray:
        x = self._contexts(obs)
        mean = self.model.predict(x)
        sd = np.sqrt(self.sigma2 * self.model.width(x))
        return argmax_random_ties(mean + sd * self.rng.standard_normal(mean.shape), self.rng)


def forced_sampling_arm(t: NDArray[Any], n_arms: int, n0: int, q: int) -> IntArray:
    """The arm forced at step t (1-based) by Goldenshluger & Zeevi's schedule, -1 if none.

    Steps 1..K n0 take the arms in turn (the initial exploration of Dobriban (2019), section 5.2.4,
    Algorithm 1). After them, with t' = t - K n0 and c = K q, arm a is forced at t' in
    {(2^m - 1) c + j : m = 0, 1, ...; j = q a + 1, ..., q (a + 1)}, i.e. exactly when ceil(t' / c)
    is a power of two: O(log T) forced rounds per arm.
    """
    t = np.asarray(t, dtype=np.int64)
    out = np.full(t.shape, -1, dtype=np.int64)
    initial = t <= n_arms * n0
    out[initial] = (t[initial] - 1) % n_arms
    tp = t - n_arms * n0
    c = n_arms * q
    block = (tp + c - 1) // c  # ceil(t' / c)
    forced = (~initial) & (block > 0) & ((block & (block - 1)) == 0)
    out[forced] = ((tp[forced] - 1) % c) // q
    return out


@register("goldenshluger-zeevi", "Goldenshluger & Zeevi (2013): forced-sampling and all-sample "
          "least squares, localisation h (h, q, n0, regularization)")
class GoldenshlugerZeevi(ContextualAgent):
    """The linear response bandit algorithm of Goldenshluger & Zeevi (2013), "A linear response
    bandit problem"; Dobriban (2019), section 5.2.4, Algorithm 1, extended from 2 to K arms as
    Bastani & Bayati (2020).

    Exploration rounds follow a fixed schedule (:func:`forced_sampling_arm`): K n0 initial rounds
    in turn, then O(log T) forced rounds per arm. Two least-squares estimators per arm: beta~_a on
    the forced rounds of a, beta^_a on every round a was taken. At an exploitation round the arms
    whose forced-sample estimate is within h/2 of the best, {a : beta~_a' x >= max_b beta~_b' x -
    h/2}, are kept, and the kept arm with the largest all-sample estimate beta^_a' x is taken. For
    K = 2 this is the notes' box: if |(beta~_1 - beta~_0)' x| > h/2 take argmax_a beta~_a' x,
    else argmax_a beta^_a' x.

    Parameters: ``h`` > 0 the localisation parameter, default 1; ``q`` >= 1 forced rounds per
    arm per block of the schedule, default 3; ``n0`` >= 0 initial rounds per arm, default 3;
    ``regularization`` lambda > 0 of both estimators, default 1 (ridge; a small value gives
    the least squares of the paper but unstable estimates from the few forced rounds). Defaults
    chosen on LinearContextualBandit-v0 (K = 4, d = 5): regret 108 at T = 1000 and 141 at 4000,
    against 148 and 321 with h = 0.5, q = 1, n0 = 2, lambda = 1e-3.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 h: float = 1.0, q: int = 3, n0: int = 3, regularization: float = 1.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        self.h = self._check_float("h", h, low=0.0, low_open=True)
        self.q = self._check_int("q", q, low=1)
        self.n0 = self._check_int("n0", n0, low=0)
        self.regularization = self._check_float("regularization", regularization, low=0.0,
                                                low_open=True)

    def _reset_model(self, num_envs: int) -> None:
        self.forced = RidgeArms(num_envs, self.n_arms, self.dim, self.regularization)
        self.all_samples = RidgeArms(num_envs, self.n_arms, self.dim, self.regularization)

    def _clear_rows(self, rows: IntArray) -> None:
        self.forced.reset_rows(rows)
        self.all_samples.reset_rows(rows)

    def _act(self, obs: Any) -> IntArray:
        x = self._contexts(obs)
        forced_arm = forced_sampling_arm(self.t + 1, self.n_arms, self.n0, self.q)
        tilde = self.forced.predict(x)
        keep = tilde >= tilde.max(axis=1, keepdims=True) - self.h / 2.0
        hat = np.where(keep, self.all_samples.predict(x), -np.inf)
        actions = argmax_random_ties(hat, self.rng)
        return np.where(forced_arm >= 0, forced_arm, actions)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        x, a, r = self._gather(rows, obs, actions, rewards)
        forced = forced_sampling_arm(self.t[rows] + 1, self.n_arms, self.n0, self.q) == a
        if forced.any():
            self.forced.update(rows[forced], a[forced], x[forced], r[forced])
        self.all_samples.update(rows, a, x, r)
        self.t[rows] += 1.0


@register("epsilon-greedy-knn", "Yang & Zhu (2002): epsilon-greedy on k-nearest-neighbour "
          "regression, epsilon_t = min(1, epsilon t^-decay) (n_neighbors, epsilon, decay, n0)")
class EpsilonGreedyKNN(ContextualAgent):
    """Randomized allocation with nonparametric estimation, Yang & Zhu (2002), "Randomized
    allocation with nonparametric estimation for a multi-armed bandit problem with covariates";
    Dobriban (2019), section 5.2.4, Algorithm 2 with nearest-neighbour regression as the NPR.

    K n0 initial rounds take the arms in turn; then with probability 1 - epsilon_t the greedy
    action argmax_a f^_a(X_t), else an action uniformly at random, with epsilon_t =
    min(1, epsilon t^{-decay}) (decreasing to 0 with sum_t epsilon_t infinite when decay <= 1, as
    Yang & Zhu require). f^_a(x) is the mean reward of the ``n_neighbors`` past contexts nearest
    to x (Euclidean) at which a was taken.

    Parameters: ``n_neighbors`` >= 1, default 10; ``epsilon`` in (0, inf), default 1;
    ``decay`` in (0, 1], default 0.5; ``n0`` >= 1 initial rounds per arm, default 1.

    Memory and time grow with t (every past context is kept): O(n t d) per step.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 n_neighbors: int = 10, epsilon: float = 1.0, decay: float = 0.5,
                 n0: int = 1) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        self.n_neighbors = self._check_int("n_neighbors", n_neighbors, low=1)
        self.epsilon = self._check_float("epsilon", epsilon, low=0.0, low_open=True)
        self.decay = self._check_float("decay", decay, low=0.0, high=1.0, low_open=True)
        self.n0 = self._check_int("n0", n0, low=1)

    def _reset_model(self, num_envs: int) -> None:
        cap = 256
        self.hist_x = np.zeros((num_envs, cap, self.dim))
        self.hist_sq = np.zeros((num_envs, cap))
        self.hist_a = np.full((num_envs, cap), -1, dtype=np.int64)
        self.hist_r = np.zeros((num_envs, cap))

    def _clear_rows(self, rows: IntArray) -> None:
        self.hist_a[rows] = -1

    def knn_estimates(self, x: FloatArray) -> FloatArray:
        """f^_a(x) for every replicate and arm, (n, K); 0 for an arm with no data."""
        n = x.shape[0]
        length = max(int(self.t.max()), 1)
        hx, ha = self.hist_x[:, :length], self.hist_a[:, :length]
        # Squared distances |x|^2 - 2 x.X + |X|^2 (the common |x|^2 does not change the order).
        dist = self.hist_sq[:, :length] - 2.0 * np.matmul(hx, x[:, :, None])[:, :, 0]
        masked = np.where(ha[:, None, :] == np.arange(self.n_arms)[None, :, None],
                          dist[:, None, :], np.inf)  # (n, K, L)
        kk = min(self.n_neighbors, length)
        if kk < length:
            idx = np.argpartition(masked, kk - 1, axis=2)[:, :, :kk]
        else:
            idx = np.broadcast_to(np.arange(length), (n, self.n_arms, length))
        valid = np.isfinite(np.take_along_axis(masked, idx, axis=2))
        r = self.hist_r[np.arange(n)[:, None, None], idx]
        count = valid.sum(axis=2)
        return np.asarray(np.where(valid, r, 0.0).sum(axis=2) / np.maximum(count, 1))

    def _act(self, obs: Any) -> IntArray:
        x = self._contexts(obs)
        n = x.shape[0]
        t = self.t + 1
        greedy = argmax_random_ties(self.knn_estimates(x), self.rng)
        eps = np.minimum(1.0, self.epsilon * t ** (-self.decay))
        explore = self.rng.random(n) < eps
        random_arm = self.rng.integers(self.n_arms, size=n)
        actions = np.where(explore, random_arm, greedy)
        initial = t <= self.n_arms * self.n0
        return np.where(initial, (t.astype(np.int64) - 1) % self.n_arms, actions)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        x, a, r = self._gather(rows, obs, actions, rewards)
        pos = self.t[rows].astype(np.int64)
        if pos.max() >= self.hist_x.shape[1]:
            self._grow()
        self.hist_x[rows, pos] = x
        self.hist_sq[rows, pos] = np.einsum("md,md->m", x, x)
        self.hist_a[rows, pos] = a
        self.hist_r[rows, pos] = r
        self.t[rows] += 1.0

    def _grow(self) -> None:
        n, cap = self.hist_a.shape
        self.hist_x = np.concatenate([self.hist_x, np.zeros((n, cap, self.dim))], axis=1)
        self.hist_sq = np.concatenate([self.hist_sq, np.zeros((n, cap))], axis=1)
        self.hist_a = np.concatenate([self.hist_a, np.full((n, cap), -1, dtype=np.int64)], axis=1)
        self.hist_r = np.concatenate([self.hist_r, np.zeros((n, cap))], axis=1)


ExpertAdvice = Callable[[FloatArray], NDArray[Any]]


@register("exp4", "Exp4, Auer et al. (2002): exponential weights over a finite class of expert "
          "policies (experts, n_random_experts, gamma, horizon)")
class Exp4(ContextualAgent):
    """Exp4 of Auer, Cesa-Bianchi, Freund & Schapire (2002), "The nonstochastic multiarmed bandit
    problem", for the fully adversarial protocol of Dobriban (2019), section 5.2.4, item 14:
    regret against the best policy of a finite class Pi, rewards in [0, 1].

    With experts' advice xi_i(t) (a distribution over the K arms) and weights w_i (w_i(1) = 1):
    p_j = (1 - gamma) sum_i w_i xi_ij / sum_i w_i + gamma / K; draw A_t ~ p; x^_j = R_t / p_j for
    j = A_t, else 0; y^_i = xi_i . x^; w_i <- w_i exp(gamma y^_i / K). Weights are kept as logs.

    Parameters:
    - ``experts``: the policy class. None (default): the K constant policies and
      ``n_random_experts`` linear policies pi(x) = argmax_a (W x)_a with W drawn at reset from the
      agent's generator. An array (M, K, d): M linear policies argmax_a W_m[a] . x. A callable
      mapping contexts (n, d) to advice (n, M, K) (rows are distributions over the arms).
    - ``n_random_experts`` >= 0, default 16.
    - ``gamma`` in (0, 1], or None (default) for Auer et al.'s tuning
      min(1, sqrt(K ln M / ((e - 1) T))) with T = ``horizon`` (default 1000).
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 experts: NDArray[Any] | ExpertAdvice | None = None, n_random_experts: int = 16,
                 gamma: float | None = None, horizon: int = 1000) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        self.n_random_experts = self._check_int("n_random_experts", n_random_experts, low=0)
        self.horizon = self._check_int("horizon", horizon, low=1)
        self._advice_fn: ExpertAdvice | None = None
        self._weights: FloatArray | None = None
        if experts is None:
            self.n_experts = self.n_arms + self.n_random_experts
        elif callable(experts):
            self._advice_fn = experts
            self.n_experts = -1  # known at the first act
        else:
            w = np.asarray(experts, dtype=np.float64)
            if w.ndim != 3 or w.shape[1:] != (self.n_arms, self.dim) or w.shape[0] < 1:
                raise self._param_error("experts", experts, f"None, a callable, or an array of "
                                        f"shape (M, {self.n_arms}, {self.dim})")
            self._weights = w
            self.n_experts = w.shape[0]
        self.gamma_param = None if gamma is None else self._check_float(
            "gamma", gamma, low=0.0, high=1.0, low_open=True)

    def _gamma(self, m: int) -> float:
        if self.gamma_param is not None:
            return self.gamma_param
        k = self.n_arms
        return min(1.0, math.sqrt(k * math.log(max(m, 2)) / ((math.e - 1) * self.horizon)))

    def _reset_model(self, num_envs: int) -> None:
        self._linear = self._weights
        if self._weights is None and self._advice_fn is None:
            self._linear = self.rng.standard_normal((self.n_random_experts, self.n_arms,
                                                     self.dim))
        self.log_w = np.zeros((num_envs, max(self.n_experts, 0)))
        self._p = np.full((num_envs, self.n_arms), 1.0 / self.n_arms)
        self._advice = np.zeros((num_envs, 0, self.n_arms))

    def _clear_rows(self, rows: IntArray) -> None:
        self.log_w[rows] = 0.0

    def advice(self, x: FloatArray) -> FloatArray:
        """xi (n, M, K): each expert's distribution over the arms at each context."""
        n = x.shape[0]
        if self._advice_fn is not None:
            xi = np.asarray(self._advice_fn(x), dtype=np.float64)
            if xi.ndim != 3 or xi.shape[0] != n or xi.shape[2] != self.n_arms:
                raise ValueError(f"{self.name}: the experts callable must return advice of shape "
                                 f"(n, M, {self.n_arms}), got {xi.shape}")
            return xi
        parts = []
        if self._weights is None:
            parts.append(np.broadcast_to(np.eye(self.n_arms), (n, self.n_arms, self.n_arms)))
        if self._linear is not None and self._linear.shape[0]:
            scores = np.einsum("mkd,nd->nmk", self._linear, x)
            parts.append(np.eye(self.n_arms)[scores.argmax(axis=2)])
        return np.concatenate(parts, axis=1)

    def _act(self, obs: Any) -> IntArray:
        x = self._contexts(obs)
        xi = self.advice(x)
        m = xi.shape[1]
        if self.log_w.shape[1] != m:  # a callable's class size is known only now
            self.log_w = np.zeros((x.shape[0], m))
            self.n_experts = m
        gamma = self._gamma(m)
        w = np.exp(self.log_w - self.log_w.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        p = (1.0 - gamma) * np.einsum("nm,nmk->nk", w, xi) + gamma / self.n_arms
        p /= p.sum(axis=1, keepdims=True)
        self._p, self._advice = p, xi
        u = self.rng.random((x.shape[0], 1))
        return np.minimum((p.cumsum(axis=1) < u).sum(axis=1), self.n_arms - 1).astype(np.int64)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        _, a, r = self._gather(rows, obs, actions, rewards)
        if r.size and (r.min() < 0.0 or r.max() > 1.0):
            raise ValueError(f"{self.name}: rewards must lie in [0, 1] (Exp4's assumption), got "
                             f"{float(r[(r < 0) | (r > 1)][0])!r}; rescale the rewards")
        p = self._p[rows]
        xhat = np.zeros_like(p)
        xhat[np.arange(rows.size), a] = r / p[np.arange(rows.size), a]
        yhat = np.einsum("nmk,nk->nm", self._advice[rows], xhat)
        self.log_w[rows] += self._gamma(self.log_w.shape[1]) * yhat / self.n_arms
        self.t[rows] += 1.0
