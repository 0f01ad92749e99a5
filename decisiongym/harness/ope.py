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

The refinements of DR that Open Bandit Pipeline (Saito et al. 2021) users reach for, each DM plus
a reshaped correction, with w_i = pi(A_i | X_i) / p_i, q_i = q(X_i, A_i) and DM_i =
sum_a pi(a | X_i) q(X_i, a):

- switch-DR (Wang, Agarwal & Dudik 2017, "Optimal and adaptive off-policy evaluation in
  contextual bandits"): 1/n sum_i [DM_i + 1{w_i <= tau} w_i (R_i - q_i)]: DR where the weight is
  at most the threshold tau, the model alone where it is larger. tau = inf is DR, tau = 0 is DM.
- DR with optimistic shrinkage (Su, Dimakopoulou, Krishnamurthy & Dudik 2020, "Doubly robust
  off-policy evaluation with shrinkage"): the weight w replaced by lambda w / (w^2 + lambda),
  which is about w for w^2 << lambda and about lambda / w for the large weights. lambda = inf is
  DR, lambda = 0 is DM.
- self-normalised DR (as SNIPS is to IPS; Open Bandit Pipeline's ``SelfNormalizedDR``):
  1/n sum_i DM_i + sum_i w_i (R_i - q_i) / sum_i w_i.

And one for a bandit *algorithm* rather than a fixed policy: the replay method (Li, Chu, Langford
& Wang 2011, "Unbiased offline evaluation of contextual-bandit-based news article recommendation
algorithms", Algorithm 1). From a log of uniformly random actions, the algorithm (any agent of
decisiongym) is run on the logged contexts in order; a round counts, and the algorithm learns
from it, only where its choice equals the logged action. The accepted rounds are distributed as
rounds of the algorithm run online (their Theorem 1), so their mean reward estimates the
algorithm's online mean reward per round (:func:`replay_evaluation`).

Each estimate is a mean of per-round terms (SNIPS a ratio of two means), so the bootstrap
resamples the terms: :func:`evaluate` gives every estimate with a percentile bootstrap interval.
Policies are given as probability tables ``target_probs`` (n, K), pi(a | X_i).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike

from decisiongym import agents
from decisiongym.arrays import FloatArray, IntArray
from decisiongym.validation import check_float, check_int, check_optional_int, is_number

__all__ = [
    "ESTIMATORS",
    "Estimate",
    "LinearLoggingProblem",
    "LoggedBandit",
    "ReplayResult",
    "cross_fit_ridge",
    "direct_method",
    "doubly_robust",
    "doubly_robust_shrinkage",
    "evaluate",
    "ips",
    "replay_evaluation",
    "self_normalized_doubly_robust",
    "snips",
    "switch_doubly_robust",
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


def _residual_terms(data: LoggedBandit, target_probs: ArrayLike, predicted_rewards: ArrayLike
                    ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """DM_i, w_i and the residuals R_i - q(X_i, A_i), each (n,)."""
    pi = _target(data, target_probs)
    q = _predictions(data, predicted_rewards)
    rows = np.arange(data.n)
    return (np.asarray((pi * q).sum(axis=1)), _weights(data, pi),
            np.asarray(data.rewards - q[rows, data.actions]))


def _nonnegative(owner: str, name: str, value: Any) -> float:
    """A number in [0, inf] (infinity allowed: the limit that gives DR)."""
    if not is_number(value) or math.isnan(float(value)) or float(value) < 0:
        raise ValueError(f"{owner}: {name} must be a number in [0, inf] (inf allowed), got "
                         f"{value!r}")
    return float(value)


def switch_doubly_robust(data: LoggedBandit, target_probs: ArrayLike,
                         predicted_rewards: ArrayLike, *, tau: float) -> float:
    """Switch-DR (Wang, Agarwal & Dudik 2017): 1/n sum_i [DM_i + 1{w_i <= tau} w_i (R_i - q_i)].

    The rounds whose importance weight w_i = pi(A_i|X_i) / p_i exceeds the threshold ``tau``
    drop their correction and keep the model's estimate: DR where the weights are small, the
    direct method where they would blow up the variance. ``tau`` in [0, inf]: inf gives
    :func:`doubly_robust`, 0 gives :func:`direct_method` (a round with w_i = 0 has no
    correction either way). Open Bandit Pipeline's ``SwitchDoublyRobust(lambda_=tau)``.
    """
    threshold = _nonnegative("switch_doubly_robust", "tau", tau)
    dm, w, residual = _residual_terms(data, target_probs, predicted_rewards)
    kept = np.where(w <= threshold, w, 0.0)
    return float((dm + kept * residual).mean())


def shrunk_weights(weights: ArrayLike, lambda_: float) -> FloatArray:
    """Optimistic shrinkage of importance weights (Su et al. 2020): w -> lambda w / (w^2 + lambda);
    lambda = inf leaves w unchanged, lambda = 0 sends every weight to 0."""
    lam = _nonnegative("shrunk_weights", "lambda_", lambda_)
    w = np.asarray(weights, dtype=np.float64)
    if math.isinf(lam):
        return w.copy()
    if lam == 0.0:
        return np.zeros_like(w)
    return np.asarray(lam * w / (w * w + lam))


def doubly_robust_shrinkage(data: LoggedBandit, target_probs: ArrayLike,
                            predicted_rewards: ArrayLike, *, lambda_: float) -> float:
    """DR with optimistic shrinkage (Su, Dimakopoulou, Krishnamurthy & Dudik 2020):
    1/n sum_i [DM_i + w~_i (R_i - q_i)] with w~_i = lambda w_i / (w_i^2 + lambda).

    The shrunk weight is within a factor 1 / (1 + w^2 / lambda) of w: small weights stay, large
    ones shrink towards 0 (largest shrunk weight sqrt(lambda) / 2, at w = sqrt(lambda)).
    ``lambda_`` in [0, inf]: inf gives :func:`doubly_robust`, 0 gives :func:`direct_method`.
    Open Bandit Pipeline's ``DoublyRobustWithShrinkage(lambda_=lambda_)``.
    """
    dm, w, residual = _residual_terms(data, target_probs, predicted_rewards)
    return float((dm + shrunk_weights(w, lambda_) * residual).mean())


def self_normalized_doubly_robust(data: LoggedBandit, target_probs: ArrayLike,
                                  predicted_rewards: ArrayLike) -> float:
    """Self-normalised DR: 1/n sum_i DM_i + sum_i w_i (R_i - q_i) / sum_i w_i (the correction
    divided by the mean weight instead of 1, as SNIPS divides IPS; Open Bandit Pipeline's
    ``SelfNormalizedDR``). The direct method alone if every weight is 0. Biased, consistent, and
    bounded by the range of the residuals."""
    dm, w, residual = _residual_terms(data, target_probs, predicted_rewards)
    total = float(w.sum())
    correction = float((w * residual).sum() / total) if total > 0 else 0.0
    return float(dm.mean()) + correction


@dataclass(frozen=True)
class ReplayResult:
    """What the replay method found: ``value``, the mean reward per accepted round (the estimate
    of the algorithm's online mean reward per round); ``rounds``, the accepted rounds;
    ``events``, the logged rounds read; ``rewards`` and ``actions`` (rounds,) of the accepted
    rounds, in order; ``positions``, their indices in the log."""

    value: float
    rounds: int
    events: int
    rewards: FloatArray
    actions: IntArray
    positions: IntArray


def replay_evaluation(agent: Any, data: LoggedBandit, *, rounds: int | None = None,
                      seed: int | None = None, agent_params: Mapping[str, Any] | None = None,
                      observations: ArrayLike | None = None, uniform_atol: float = 1e-9
                      ) -> ReplayResult:
    """The replay method (Li, Chu, Langford & Wang 2011, Algorithm 1): evaluate a bandit
    *algorithm* offline from rounds logged by the uniformly random policy.

    The algorithm (``agent``: an agent object built for the env's single spaces, or a
    registered name built with ``agent_params`` for a ``Box`` of the contexts' dimension and
    ``Discrete(K)``) is reset for one replicate with ``seed`` and read the log in order: at each
    logged round it acts on the context (``observations[i]`` instead, if given, e.g. zeros for
    a multi-armed bandit agent); where its action equals the logged action A_i the round is
    accepted, the agent is updated with (context, A_i, R_i) and R_i counts; elsewhere the round is
    skipped and the agent learns nothing. It stops after ``rounds`` accepted rounds (the last
    one flagged truncated, as the env's horizon would) or at the end of the log.

    With uniform logging (every propensity 1/K, checked), the accepted rounds are distributed
    as the algorithm's first rounds run online (Li et al. 2011, Theorem 1), so ``value`` is an
    unbiased estimate of its online mean reward per round over ``rounds`` rounds; about K logged
    rounds are read per accepted one. The agent sees the context of the accepted
    round as its next observation too (the next context online): the bandit agents ignore it.
    ValueError if the log is not uniform or runs out before ``rounds`` accepted rounds.
    """
    k = data.n_actions
    if not np.allclose(data.propensities, 1.0 / k, rtol=0.0, atol=uniform_atol):
        i = int(np.flatnonzero(~np.isclose(data.propensities, 1.0 / k, rtol=0.0,
                                           atol=uniform_atol))[0])
        raise ValueError(f"replay_evaluation: the replay method needs a log of uniformly random "
                         f"actions (every propensity 1/K = {1.0 / k:g}); propensities[{i}] = "
                         f"{float(data.propensities[i])!r} (Li et al. 2011)")
    target = None if rounds is None else check_int("replay_evaluation", "rounds", rounds)
    check_optional_int("replay_evaluation", "seed", seed, low=0)
    obs_all = data.contexts if observations is None else np.asarray(observations)
    if obs_all.shape[:1] != (data.n,):
        raise ValueError(f"replay_evaluation: observations must have one row per logged round "
                         f"({data.n}), got shape {obs_all.shape}")
    if isinstance(agent, str):
        learner = agents.make(agent, observation_space=spaces.Box(
            -np.inf, np.inf, shape=obs_all.shape[1:], dtype=np.float64),
            action_space=spaces.Discrete(k), **dict(agent_params or {}))
    else:
        if agent_params:
            raise ValueError("replay_evaluation: agent_params are for an agent given by name")
        learner = agent
    learner.reset(1, seed)
    accepted_rewards: list[float] = []
    accepted_actions: list[int] = []
    positions: list[int] = []
    no = np.zeros(1, dtype=bool)
    events = 0
    for i in range(data.n):
        if target is not None and len(positions) == target:
            break
        events += 1
        obs = obs_all[i:i + 1]
        action = np.asarray(learner.act(obs)).reshape(-1)
        logged = int(data.actions[i])
        if int(action[0]) != logged:
            continue
        reward = float(data.rewards[i])
        last = target is not None and len(positions) + 1 == target
        learner.update(obs, np.array([logged]), np.array([reward]), obs, no,
                       np.array([last]))
        accepted_rewards.append(reward)
        accepted_actions.append(logged)
        positions.append(i)
    if target is not None and len(positions) < target:
        raise ValueError(f"replay_evaluation: the log ran out after {data.n} rounds with "
                         f"{len(positions)} of the {target} rounds asked for accepted (about "
                         f"{k} logged rounds per accepted one); log more rounds or ask for fewer")
    if not positions:
        raise ValueError("replay_evaluation: no logged round matched the algorithm's choice")
    r = np.asarray(accepted_rewards)
    return ReplayResult(float(r.mean()), len(positions), events, r,
                        np.asarray(accepted_actions, dtype=np.int64),
                        np.asarray(positions, dtype=np.int64))


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
