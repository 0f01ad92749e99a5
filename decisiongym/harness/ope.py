"""Off-policy evaluation of contextual bandit policies (Dobriban, *Notes for Stat 991: Topics in
Deep Learning*, 2019, section 5.2.5: "how do we find the reward for the actions not taken?").

A behaviour policy pi_b logs n rounds (X_i, A_i, R_i, p_i) with p_i = pi_b(A_i | X_i) > 0. The
value V(pi) = E[sum_a pi(a | X) eta_a(X)] of a target policy pi is estimated from the log alone:

- inverse propensity scoring (Horvitz & Thompson 1952): V_IPS = 1/n sum_i w_i R_i with
  w_i = pi(A_i | X_i) / p_i; unbiased when pi_b covers pi (pi(a|x) > 0 implies pi_b(a|x) > 0).
- self-normalised IPS (Swaminathan & Joachims 2015): sum_i w_i R_i / sum_i w_i; biased,
  consistent, often less variable.
- the direct method: V_DM = 1/n sum_i sum_a pi(a | X_i) q(X_i, a) with a reward model q.
- doubly robust (Dudik, Langford & Li 2011, "Doubly robust policy evaluation and learning"):
  V_DR = V_DM + 1/n sum_i w_i (R_i - q(X_i, A_i)); unbiased if the propensities are right,
  whatever q, and of lower variance than IPS when q is close to eta.

Each estimate is a mean of per-round terms (SNIPS a ratio of two means), so the bootstrap
resamples the terms: :func:`evaluate` gives every estimate with a percentile bootstrap interval.
Policies are given as probability tables ``target_probs`` (n, K), pi(a | X_i).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from decisiongym.arrays import FloatArray, IntArray
from decisiongym.validation import check_float, check_int

__all__ = [
    "ESTIMATORS",
    "Estimate",
    "LinearLoggingProblem",
    "LoggedBandit",
    "cross_fit_ridge",
    "direct_method",
    "doubly_robust",
    "evaluate",
    "ips",
    "snips",
]


ESTIMATORS = ("ips", "snips", "dm", "dr")


@dataclass(frozen=True)
class LoggedBandit:
    """n logged rounds: ``contexts`` (n, d), ``actions`` (n,) in [0, K), ``rewards`` (n,) and
    ``propensities`` (n,), pi_b(A_i | X_i) in (0, 1]. Checked on construction: a propensity of
    zero (an action the behaviour policy could not have taken) is an error."""

    contexts: FloatArray
    actions: IntArray
    rewards: FloatArray
    propensities: FloatArray
    n_actions: int

    def __post_init__(self) -> None:
        x = np.asarray(self.contexts, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        a = np.asarray(self.actions)
        r = np.asarray(self.rewards, dtype=np.float64)
        p = np.asarray(self.propensities, dtype=np.float64)
        n = x.shape[0]
        if x.ndim != 2 or n == 0:
            raise ValueError(f"LoggedBandit: contexts must be a non-empty (n, d) array, got "
                             f"shape {x.shape}")
        for name, arr in (("actions", a), ("rewards", r), ("propensities", p)):
            if arr.shape != (n,):
                raise ValueError(f"LoggedBandit: {name} must have shape ({n},) like the "
                                 f"contexts, got {arr.shape}")
        check_int("LoggedBandit", "n_actions", self.n_actions)
        if a.dtype.kind not in "iu" or a.min() < 0 or a.max() >= self.n_actions:
            raise ValueError(f"LoggedBandit: actions must be integers in [0, {self.n_actions})")
        if not np.all(np.isfinite(r)):
            raise ValueError("LoggedBandit: rewards contain NaN or infinite values")
        bad = np.flatnonzero(~(p > 0) | ~(p <= 1))
        if bad.size:
            i = int(bad[0])
            why = ("zero: the behaviour policy could not have taken the logged action, so the "
                   "importance weight is undefined" if p[i] == 0 else "outside (0, 1]")
            raise ValueError(f"LoggedBandit: propensities[{i}] = {float(p[i])!r} is {why}")
        object.__setattr__(self, "contexts", x)
        object.__setattr__(self, "actions", a.astype(np.int64))
        object.__setattr__(self, "rewards", r)
        object.__setattr__(self, "propensities", p)
        object.__setattr__(self, "n_actions", int(self.n_actions))

    @property
    def n(self) -> int:
        return int(self.actions.shape[0])


def _target(data: LoggedBandit, target_probs: ArrayLike) -> FloatArray:
    pi = np.asarray(target_probs, dtype=np.float64)
    if pi.shape != (data.n, data.n_actions):
        raise ValueError(f"target_probs must have shape ({data.n}, {data.n_actions}) (rounds x "
                         f"actions), got {pi.shape}")
    if np.any(pi < 0) or not np.allclose(pi.sum(axis=1), 1.0, atol=1e-8):
        raise ValueError("target_probs: every row must be a probability distribution over the "
                         "actions (non-negative, summing to 1)")
    return pi


def _predictions(data: LoggedBandit, predicted_rewards: ArrayLike) -> FloatArray:
    q = np.asarray(predicted_rewards, dtype=np.float64)
    if q.shape != (data.n, data.n_actions):
        raise ValueError(f"predicted_rewards must have shape ({data.n}, {data.n_actions}), got "
                         f"{q.shape}")
    return q


def _weights(data: LoggedBandit, pi: FloatArray) -> FloatArray:
    return np.asarray(pi[np.arange(data.n), data.actions] / data.propensities)


def _terms(data: LoggedBandit, target_probs: ArrayLike, predicted_rewards: ArrayLike | None
           ) -> dict[str, FloatArray]:
    """Per-round terms whose means are the estimates (SNIPS: ``snips_num`` / ``weights``)."""
    pi = _target(data, target_probs)
    w = _weights(data, pi)
    out = {"ips": w * data.rewards, "weights": w}
    if predicted_rewards is not None:
        q = _predictions(data, predicted_rewards)
        dm = (pi * q).sum(axis=1)
        out["dm"] = dm
        out["dr"] = dm + w * (data.rewards - q[np.arange(data.n), data.actions])
    return out


def ips(data: LoggedBandit, target_probs: ArrayLike) -> float:
    """Inverse propensity scoring: 1/n sum_i pi(A_i|X_i) / p_i R_i."""
    return float(_terms(data, target_probs, None)["ips"].mean())


def snips(data: LoggedBandit, target_probs: ArrayLike) -> float:
    """Self-normalised IPS: sum_i w_i R_i / sum_i w_i (0 if every weight is 0)."""
    t = _terms(data, target_probs, None)
    total = float(t["weights"].sum())
    return float(t["ips"].sum() / total) if total > 0 else 0.0


def direct_method(data: LoggedBandit, target_probs: ArrayLike,
                  predicted_rewards: ArrayLike) -> float:
    """1/n sum_i sum_a pi(a|X_i) q(X_i, a)."""
    return float(_terms(data, target_probs, predicted_rewards)["dm"].mean())


def doubly_robust(data: LoggedBandit, target_probs: ArrayLike,
                  predicted_rewards: ArrayLike) -> float:
    """Dudik, Langford & Li (2011): DM + 1/n sum_i w_i (R_i - q(X_i, A_i))."""
    return float(_terms(data, target_probs, predicted_rewards)["dr"].mean())


@dataclass(frozen=True)
class Estimate:
    """An estimate of V(pi) with a percentile bootstrap interval at ``level``."""

    name: str
    value: float
    ci_low: float
    ci_high: float
    level: float


def evaluate(data: LoggedBandit, target_probs: ArrayLike,
             predicted_rewards: ArrayLike | None = None, *, n_boot: int = 1000,
             level: float = 0.95, random_state: int | np.random.Generator | None = 0
             ) -> dict[str, Estimate]:
    """Every estimator (IPS, SNIPS; DM and DR when ``predicted_rewards`` (n, K) is given) with a
    percentile bootstrap interval over the rounds (the reward model held fixed)."""
    check_float("evaluate", "level", level, low=0.0, high=1.0, low_open=True, high_open=True,
                expected="in (0, 1)")
    check_int("evaluate", "n_boot", n_boot)
    terms = _terms(data, target_probs, predicted_rewards)
    rng = random_state if isinstance(random_state, np.random.Generator) \
        else np.random.default_rng(random_state)
    idx = rng.integers(data.n, size=(int(n_boot), data.n))
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2

    def interval(samples: FloatArray) -> tuple[float, float]:
        lo, hi = np.quantile(samples, [lo_q, hi_q])
        return float(lo), float(hi)

    out: dict[str, Estimate] = {}
    w = terms["weights"]
    for name in ("ips", "dm", "dr"):
        if name in terms:
            boot = terms[name][idx].mean(axis=1)
            out[name] = Estimate(name, float(terms[name].mean()), *interval(boot), level)
    wb = w[idx].sum(axis=1)
    snips_boot = np.where(wb > 0, terms["ips"][idx].sum(axis=1) / np.where(wb > 0, wb, 1), 0.0)
    total = float(w.sum())
    value = float(terms["ips"].sum() / total) if total > 0 else 0.0
    out["snips"] = Estimate("snips", value, *interval(snips_boot), level)
    return {k: out[k] for k in ESTIMATORS if k in out}


def cross_fit_ridge(data: LoggedBandit, *, folds: int = 2, regularization: float = 1.0,
                    random_state: int | None = 0) -> FloatArray:
    """Reward-model predictions q(X_i, a) (n, K) by per-action ridge regression of R on X,
    cross-fitted: the rounds are split into ``folds`` and each fold is predicted by a model fit
    on the others, so a round's own reward never enters its prediction (DR stays unbiased)."""
    if folds < 2:
        raise ValueError(f"cross_fit_ridge: folds must be >= 2, got {folds!r}")
    rng = np.random.default_rng(random_state)
    fold = rng.permutation(data.n) % folds
    x, d = data.contexts, data.contexts.shape[1]
    q = np.zeros((data.n, data.n_actions))
    for f in range(folds):
        train, test = fold != f, fold == f
        for a in range(data.n_actions):
            sel = train & (data.actions == a)
            xa = x[sel]
            beta = np.linalg.solve(regularization * np.eye(d) + xa.T @ xa,
                                   xa.T @ data.rewards[sel])
            q[test, a] = x[test] @ beta
    return q


class LinearLoggingProblem:
    """A simulated problem whose true policy values are known, for studying the estimators.

    Contexts X = (1, Z), Z ~ N(0, I_{d-1}); eta_a(x) = beta_a' x with beta_a ~ N(0, I_d / d)
    drawn from ``seed``; rewards eta + N(0, noise_sigma^2). The target policy is the oracle
    pi*(x) = argmax_a eta_a(x). The behaviour policy with overlap ``epsilon`` in (0, 1] is
    epsilon-uniform around the worst action: pi_b = epsilon / K + (1 - epsilon) 1[a = argmin_a
    eta_a(x)], so the target's action has probability epsilon / K under pi_b and the importance
    weights are K / epsilon: the smaller epsilon, the less overlap.
    """

    def __init__(self, k: int = 4, d: int = 5, noise_sigma: float = 0.5, seed: int = 0) -> None:
        self.k, self.d, self.noise_sigma = k, d, noise_sigma
        self.beta = np.random.default_rng(seed).standard_normal((k, d)) / np.sqrt(d)

    def contexts(self, rng: np.random.Generator, n: int) -> FloatArray:
        x = rng.standard_normal((n, self.d))
        x[:, 0] = 1.0
        return x

    def eta(self, x: FloatArray) -> FloatArray:
        return np.asarray(x @ self.beta.T)

    def target_probs(self, x: FloatArray) -> FloatArray:
        return np.asarray(np.eye(self.k)[self.eta(x).argmax(axis=1)])

    def behaviour_probs(self, x: FloatArray, epsilon: float) -> FloatArray:
        if not 0 < epsilon <= 1:
            raise ValueError(f"behaviour_probs: epsilon must be in (0, 1], got {epsilon!r}")
        worst = np.eye(self.k)[self.eta(x).argmin(axis=1)]
        return np.asarray(epsilon / self.k + (1 - epsilon) * worst)

    def true_value(self, n: int = 1_000_000, seed: int = 12345) -> float:
        """V(pi*) = E[max_a eta_a(X)] by Monte Carlo over ``n`` contexts (standard error about
        1e-3 at the default n)."""
        x = self.contexts(np.random.default_rng(seed), n)
        return float(self.eta(x).max(axis=1).mean())

    def log(self, rng: np.random.Generator, n: int, epsilon: float
            ) -> tuple[LoggedBandit, FloatArray, FloatArray]:
        """n rounds logged by the behaviour policy: the log, the target's probabilities at the
        logged contexts (n, K), and the true eta at them (n, K) (the right reward model)."""
        x = self.contexts(rng, n)
        pb = self.behaviour_probs(x, epsilon)
        u = rng.random((n, 1))
        a = np.minimum((pb.cumsum(axis=1) < u).sum(axis=1), self.k - 1)
        eta = self.eta(x)
        r = eta[np.arange(n), a] + self.noise_sigma * rng.standard_normal(n)
        data = LoggedBandit(x, a.astype(np.int64), r, pb[np.arange(n), a], self.k)
        return data, self.target_probs(x), eta
