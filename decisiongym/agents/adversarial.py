"""Agents for adversarial bandits (Dobriban (2019), section 5.2.3).

Every agent here plays a distribution P_t on the simplex and learns from an unbiased estimate
R_hat_t of the whole reward vector, built from the one reward it sees (Dobriban, *Notes for
Stat 991: Topics in Deep Learning*, 2019, section 5.2.3, item 6):

- importance-weighted: R_hat_t(k) = 1{A_t = k} R_t(k) / P_t(k);
- loss-based: R_hat_t(k) = 1 - 1{A_t = k} (1 - R_t(k)) / P_t(k), with values in (-inf, 1].

Both satisfy E[R_hat_t(k) | past] = R_t(k) (:func:`estimate_rewards`). The agents:

- ``exp3``: exponential weights, P_t(k) proportional to exp(eta S_hat_{t-1}(k)) with
  S_hat the sum of the estimates (Auer, Cesa-Bianchi, Freund & Schapire 2002; Dobriban (2019),
  section 5.2.3, items 5-7; Lattimore & Szepesvari 2020, ch. 11).
- ``ftrl``: follow the regularised leader, P_t = argmax_p eta p' S_hat_{t-1} + F(p)
  (Dobriban (2019), section 5.2.3, item 10; Lattimore & Szepesvari 2020, ch. 28) with F the entropy
  (then P_t is exactly Exp3's) or the 1/2-Tsallis entropy (Tsallis-INF, Zimmert & Seldin 2019).
- ``online-mirror-descent``: P_{t+1} = the Bregman projection on the simplex of the step grad
  F*(grad F(P_t) + eta R_hat_t) (Dobriban (2019), section 5.2.3, item 11; Lattimore & Szepesvari
  2020, ch. 28), with the negative entropy (exponential weights once more) or the 1/2-Tsallis
  potential (the INF of Audibert & Bubeck 2009).
- ``hedge``: full information (the env made with ``feedback="full"``, whose observation is the
  whole reward vector R_t): exponential weights on the true sums, P_t(k) proportional to
  exp(eta S_{t-1}(k)) (Freund & Schapire 1997; Littlestone & Warmuth 1994; Cesa-Bianchi &
  Lugosi 2006, section 2.1), with no estimate at all.

State is (num_envs, K) arrays; a replicate's state is cleared when its episode ends. All agents
sample A_t ~ P_t the same way (:func:`sample_from_simplex`: one uniform per replicate, inverse
CDF), so two agents that compute the same P_t from the same generator choose the same arms.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from gymnasium import spaces

from decisiongym.agents.base import BaseAgent, register
from decisiongym.arrays import BoolArray, FloatArray, IntArray
from decisiongym.theory import (
    exp3_anytime_learning_rate,
    exp3_learning_rate,
    hedge_anytime_learning_rate,
    hedge_learning_rate,
)

Estimator = Literal["loss", "importance"]
ESTIMATORS = ("loss", "importance")


def estimate_rewards(actions: IntArray, rewards: FloatArray, probs: FloatArray,
                     estimator: Estimator = "loss") -> FloatArray:
    """The estimate R_hat_t (n, K) of every arm's reward from A_t, R_t(A_t) and P_t
    (Dobriban (2019), section 5.2.3, item 6).

    ``"importance"``: 1{A_t = k} R_t(k) / P_t(k), zero for the arms not taken.
    ``"loss"``: 1 - 1{A_t = k} (1 - R_t(k)) / P_t(k), in (-inf, 1] for rewards in [0, 1]: the
    importance-weighted estimate of the loss 1 - R, which keeps exponential weights stable
    (Lattimore & Szepesvari 2020, section 11.4).
    """
    n, k = probs.shape
    rows = np.arange(n)
    p = probs[rows, actions]
    if estimator == "importance":
        out = np.zeros((n, k))
        out[rows, actions] = rewards / p
    elif estimator == "loss":
        out = np.ones((n, k))
        out[rows, actions] -= (1.0 - rewards) / p
    else:
        raise ValueError(f"estimate_rewards: estimator must be one of {ESTIMATORS}, "
                         f"got {estimator!r}")
    return out


def sample_from_simplex(probs: FloatArray, rng: np.random.Generator) -> IntArray:
    """One arm per row of ``probs`` (n, K), rows summing to 1: one uniform per row from ``rng``,
    inverted through the row's cumulative distribution."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random((probs.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=1), probs.shape[1] - 1).astype(np.int64)


def softmax_rows(x: FloatArray) -> FloatArray:
    """Row-wise softmax exp(x) / sum exp(x), computed stably."""
    z = x - x.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def inverse_square_weights(c: FloatArray, tol: float = 1e-12, max_steps: int = 100
                           ) -> FloatArray:
    """The point of the simplex p_k = 1 / (c_k + s)^2, with the one s such that sum_k p_k = 1 and
    every c_k + s > 0, found row by row (all rows at once) by Newton's method.

    This is the form of the 1/2-Tsallis FTRL and OMD solutions (Zimmert & Seldin 2019, Algorithm
    1; Audibert & Bubeck 2009). f(s) = sum_k (c_k + s)^-2 - 1 is convex and decreasing on
    s > -min c; started at s_0 = 1 - min c (where f >= 0), Newton's iterates increase
    monotonically to the root. The result is renormalised to sum to 1 exactly.
    """
    s = 1.0 - c.min(axis=1, keepdims=True)
    for _ in range(max_steps):
        inv = 1.0 / (c + s)
        sq = inv * inv
        f = sq.sum(axis=1, keepdims=True) - 1.0
        slope = -2.0 * (sq * inv).sum(axis=1, keepdims=True)
        s = s - f / slope
        if np.abs(f).max() < tol:
            break
    p = 1.0 / (c + s) ** 2
    p /= p.sum(axis=1, keepdims=True)
    return p


class SimplexAgent(BaseAgent):
    """Shared plumbing: K arms, the sum of estimates S_hat, the round t and P_t of the round."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 estimator: Estimator = "loss") -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        if not isinstance(action_space, spaces.Discrete) or int(action_space.start) != 0:
            raise ValueError(f"{self.name}: needs a Discrete(K) action space starting at 0 (the "
                             f"single space of a vector env), got {action_space!r}")
        self.n_arms = int(action_space.n)
        if self.n_arms < 2:
            raise ValueError(f"{self.name}: needs at least 2 arms, got {self.n_arms}")
        if estimator not in ESTIMATORS:
            raise self._param_error("estimator", estimator, "'loss' or 'importance'")
        self.estimator: Estimator = estimator

    def _reset_state(self, num_envs: int) -> None:
        self.estimated_sums = np.zeros((num_envs, self.n_arms))  # S_hat_{t-1}
        self.t = np.zeros(num_envs)  # rounds played in the episode
        self.probs = np.full((num_envs, self.n_arms), 1.0 / self.n_arms)  # P_t of the round
        self._reset_extra(num_envs)

    def _reset_extra(self, num_envs: int) -> None:
        """Hook for agents with more state."""

    def distribution(self) -> FloatArray:
        """P_t (num_envs, K) for the coming round."""
        raise NotImplementedError

    def _act(self, obs: Any) -> IntArray:
        self.probs = self.distribution()
        return sample_from_simplex(self.probs, self.rng)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray,
               next_obs: Any, terminated: BoolArray, truncated: BoolArray) -> None:
        a = np.asarray(actions, dtype=np.int64)[rows]
        r = rewards[rows]
        if r.size and (r.min() < 0.0 or r.max() > 1.0 or np.isnan(r).any()):
            bad = r[(r < 0) | (r > 1) | np.isnan(r)][0]
            raise ValueError(f"{self.name}: rewards must lie in [0, 1] (got {float(bad)!r}); the "
                             "estimators and the bound assume it")
        estimate = estimate_rewards(a, r, self.probs[rows], self.estimator)
        self.estimated_sums[rows] += estimate
        self.t[rows] += 1.0
        self._learn_extra(rows, estimate)

    def _learn_extra(self, rows: IntArray, estimate: FloatArray) -> None:
        """Hook: the estimate R_hat_t of replicates ``rows``."""

    def _end_episode(self, rows: IntArray) -> None:
        self.estimated_sums[rows] = 0.0
        self.t[rows] = 0.0
        self.probs[rows] = 1.0 / self.n_arms


def _rate_parameters(agent: BaseAgent, learning_rate: float | None, horizon: int | None
                     ) -> tuple[float | None, int | None]:
    eta = None if learning_rate is None else agent._check_float(
        "learning_rate", learning_rate, low=0.0, low_open=True)
    t = None if horizon is None else agent._check_int("horizon", horizon)
    return eta, t


@register("exp3", "Exp3: exponential weights on loss-based or importance-weighted estimates")
class Exp3(SimplexAgent):
    """Exp3 (Auer, Cesa-Bianchi, Freund & Schapire 2002; Dobriban (2019), section 5.2.3, items 5-7).

    Round t: P_t(k) proportional to exp(eta S_hat_{t-1}(k)) (softmax), A_t ~ P_t, then
    S_hat_t = S_hat_{t-1} + R_hat_t with the chosen estimator.

    The notes write the rule as P(A_t = k) ~ exp(mu_hat_k(t) / tau), a temperature tau over
    an estimate mu_hat built from the R_hat_t. Its theorem, "with the loss-based weights,
    r_T <= sqrt(2 T K log K)", is Lattimore & Szepesvari (2020), Theorem 11.2, whose algorithm is
    the one above, tau = 1 / eta applied to the *sum* of the estimates, with
    eta = sqrt(2 log K / (T K)) (``decisiongym.theory.exp3_learning_rate``). The notes'
    tau = sqrt(K / (T log K)) applied to a running average (1 / (t tau) on the sum) equals a rate
    that starts at sqrt(T log K / K) and is not the theorem's; we implement the theorem's
    algorithm and rate: the default when ``horizon`` is given. Without a horizon the anytime rate
    eta_t = sqrt(log K / (t K)) is used (bound 2 sqrt(T K log K); Bubeck & Cesa-Bianchi 2012,
    Theorem 3.1).

    Parameters
    ----------
    horizon : int >= 1, optional
        T, for the theorem's rate. Give it: the bound sqrt(2 T K log K) holds at this T.
    learning_rate : float > 0, optional
        A fixed eta instead (overrides ``horizon``). Typical values 0.001-0.1.
    estimator : "loss" or "importance"
        The reward estimate; default "loss" (the theorem's).
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 horizon: int | None = None, learning_rate: float | None = None,
                 estimator: Estimator = "loss") -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         estimator=estimator)
        self.learning_rate, self.horizon = _rate_parameters(self, learning_rate, horizon)

    def eta(self) -> FloatArray:
        """The learning rate of the coming round, per replicate."""
        if self.learning_rate is not None:
            return np.full(self.num_envs, self.learning_rate)
        if self.horizon is not None:
            return np.full(self.num_envs, exp3_learning_rate(self.n_arms, self.horizon))
        return exp3_anytime_learning_rate(self.n_arms, self.t + 1.0)

    def distribution(self) -> FloatArray:
        return softmax_rows(self.eta()[:, None] * self.estimated_sums)


@register("ftrl", "follow the regularised leader on the simplex: entropy (= Exp3) or Tsallis-INF")
class FTRL(SimplexAgent):
    """Follow the regularised leader (Dobriban (2019), section 5.2.3, item 10; Lattimore &
    Szepesvari 2020, ch. 28).

    P_t = argmax_{p in simplex} eta_t p' S_hat_{t-1} + F(p), with S_hat the sum of the reward
    estimates and the regulariser F:

    - ``"negentropy"``: F(p) = -sum_k p_k log p_k (the notes' choice; minus the negative
      entropy, a concave bonus). The maximiser is softmax(eta S_hat), so FTRL here *is* Exp3:
      same default rate (eta = sqrt(2 log K / (T K)) with ``horizon``; the anytime rate without),
      same estimator, same sampling, hence the same arms from the same seed; the theorem of
      Dobriban (2019), section 5.2.3, item 7, r_T <= sqrt(2 T K log K) applies.
    - ``"tsallis"``: Tsallis-INF (Zimmert & Seldin 2019, Algorithm 1 with alpha = 1/2),
      F(p) = 4 sum_k sqrt(p_k), eta_t = 2 / sqrt(t) (their rate; ``learning_rate`` fixes it
      instead). The maximiser is p_k = 4 / (eta_t (x - S_hat_k))^2 with x > max_k S_hat_k the
      normaliser, found by Newton's method (:func:`inverse_square_weights`). With the loss-based
      estimator (the importance-weighted loss estimate of the paper) the adversarial regret is
      at most 4 sqrt(K T) + 1 (their Theorem 1).

    Parameters
    ----------
    regulariser : "negentropy" or "tsallis"
        Default "negentropy".
    horizon : int >= 1, optional
        T, for the entropic rate of the theorem (ignored by "tsallis", which is anytime).
    learning_rate : float > 0, optional
        A fixed eta instead of the defaults.
    estimator : "loss" or "importance"
        Default "loss".
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 regulariser: Literal["negentropy", "tsallis"] = "negentropy",
                 horizon: int | None = None, learning_rate: float | None = None,
                 estimator: Estimator = "loss") -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         estimator=estimator)
        if regulariser not in ("negentropy", "tsallis"):
            raise self._param_error("regulariser", regulariser, "'negentropy' or 'tsallis'")
        self.regulariser = regulariser
        self.learning_rate, self.horizon = _rate_parameters(self, learning_rate, horizon)

    def eta(self) -> FloatArray:
        if self.learning_rate is not None:
            return np.full(self.num_envs, self.learning_rate)
        if self.regulariser == "tsallis":
            return 2.0 / np.sqrt(self.t + 1.0)
        if self.horizon is not None:
            return np.full(self.num_envs, exp3_learning_rate(self.n_arms, self.horizon))
        return exp3_anytime_learning_rate(self.n_arms, self.t + 1.0)

    def distribution(self) -> FloatArray:
        eta = self.eta()[:, None]
        if self.regulariser == "negentropy":
            return softmax_rows(eta * self.estimated_sums)
        # p_k = 4 / (eta (x - S_k))^2 = 1 / (c_k + s)^2 with c_k = -eta S_k / 2, s = eta x / 2.
        return inverse_square_weights(-0.5 * eta * self.estimated_sums)


@register("online-mirror-descent",
          "online mirror descent on the simplex: negentropy (exp. weights) or Tsallis (INF)")
class OnlineMirrorDescent(SimplexAgent):
    """Online mirror descent on the simplex (Dobriban (2019), section 5.2.3, item 11; Lattimore
    & Szepesvari 2020, ch. 28; Audibert & Bubeck 2009 for the Tsallis potential).

    P_1 uniform; after round t, the mirror step grad F(Q) = grad F(P_t) + eta R_hat_t, then the
    Bregman projection of Q on the simplex:

    - ``"negentropy"``, F(p) = sum_k p_k log p_k: P_{t+1}(k) proportional to P_t(k) exp(eta
      R_hat_t(k)), exponential weights (Dobriban (2019), section 5.2.3: "Exponential weights
      algorithm is a special case of mirror descent"); with a fixed eta its P_t equals Exp3's up to
      rounding. Default eta as Exp3's.
    - ``"tsallis"``, F(p) = -2 sum_k sqrt(p_k): 1 / sqrt(P_{t+1}(k)) =
      1 / sqrt(P_t(k)) - eta_t R_hat_t(k) + lambda, lambda normalising (Newton's method,
      :func:`inverse_square_weights`). Default eta_t = 1 / sqrt(t): half Tsallis-INF's 2 / sqrt(t),
      because Zimmert & Seldin's potential 4 sum sqrt(p) / eta is twice this one over eta.

    Parameters
    ----------
    mirror_map : "negentropy" or "tsallis"
        Default "negentropy".
    horizon : int >= 1, optional
        T, for the default fixed rate.
    learning_rate : float > 0, optional
        A fixed eta instead of the defaults.
    estimator : "loss" or "importance"
        Default "loss".
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 mirror_map: Literal["negentropy", "tsallis"] = "negentropy",
                 horizon: int | None = None, learning_rate: float | None = None,
                 estimator: Estimator = "loss") -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         estimator=estimator)
        if mirror_map not in ("negentropy", "tsallis"):
            raise self._param_error("mirror_map", mirror_map, "'negentropy' or 'tsallis'")
        self.mirror_map = mirror_map
        self.learning_rate, self.horizon = _rate_parameters(self, learning_rate, horizon)

    def _reset_extra(self, num_envs: int) -> None:
        self.log_weights = np.zeros((num_envs, self.n_arms))  # negentropy: log P_t + const
        self.current = np.full((num_envs, self.n_arms), 1.0 / self.n_arms)  # P_t

    def eta(self, rows: IntArray) -> FloatArray:
        """The rate of the update after the round just played, per replicate in ``rows``."""
        if self.learning_rate is not None:
            return np.full(rows.size, self.learning_rate)
        if self.mirror_map == "tsallis":
            # The rate of Zimmert & Seldin's Tsallis-INF, eta_t = 2 / sqrt(t), for the same
            # potential 4 sum sqrt(p) (the potential -2 sum sqrt(p) / eta' has eta' = eta / 2).
            return 1.0 / np.sqrt(self.t[rows])
        if self.horizon is not None:
            return np.full(rows.size, exp3_learning_rate(self.n_arms, self.horizon))
        return exp3_anytime_learning_rate(self.n_arms, self.t[rows] + 1.0)

    def distribution(self) -> FloatArray:
        return self.current.copy()

    def _learn_extra(self, rows: IntArray, estimate: FloatArray) -> None:
        eta = self.eta(rows)[:, None]
        if self.mirror_map == "negentropy":
            logw = self.log_weights[rows] + eta * estimate
            logw -= logw.max(axis=1, keepdims=True)
            self.log_weights[rows] = logw
            self.current[rows] = softmax_rows(logw)
        else:
            c = 1.0 / np.sqrt(self.current[rows]) - eta * estimate
            self.current[rows] = inverse_square_weights(c)

    def _end_episode(self, rows: IntArray) -> None:
        super()._end_episode(rows)
        self.log_weights[rows] = 0.0
        self.current[rows] = 1.0 / self.n_arms


@register("hedge", "Hedge / exponential weights with full information (env feedback='full'): "
          "regret <= sqrt(T log K / 2)")
class Hedge(BaseAgent):
    """Hedge, exponential weights with full information (Freund & Schapire 1997, "A
    decision-theoretic generalization of on-line learning and an application to boosting";
    Littlestone & Warmuth 1994, "The weighted majority algorithm"; the exponential-weights special
    case of online mirror descent on the simplex of Dobriban (2019), section 5.2.3, items 9-11,
    when R_t is observed).

    Round t: P_t(k) proportional to exp(eta S_{t-1}(k)), S_{t-1} = R_1 + ... + R_{t-1} the sum of
    the observed reward vectors (the softmax, computed stably), A_t ~ P_t; then S_t = S_{t-1} +
    R_t. The learner needs R_t whole: it reads it from the observation of an env made with
    ``feedback="full"`` (``AdversarialBandit-v0`` or ``ReactiveAdversaryBandit-v0``), never
    from ``info``. Written with rewards; with losses 1 - R (Freund & Schapire's weights
    w_k beta^{loss}, beta = exp(-eta)) P_t is the same.

    With ``horizon`` T the rate is eta = sqrt(8 log K / T) and the regret against the best fixed
    arm is at most sqrt(T log K / 2) (``decisiongym.theory.hedge_regret_bound``; Cesa-Bianchi &
    Lugosi 2006, Theorem 2.2). Without it the anytime rate eta_t = sqrt(8 log K / t), bound
    sqrt(2 T log K) + sqrt(log K / 8) (their Theorem 2.3).

    Parameters
    ----------
    horizon : int >= 1, optional
        T, for the theorem's rate. Give it: the bound sqrt(T log K / 2) holds at this T.
    learning_rate : float > 0, optional
        A fixed eta instead (overrides ``horizon``).
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 horizon: int | None = None, learning_rate: float | None = None) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        if not isinstance(action_space, spaces.Discrete) or int(action_space.start) != 0:
            raise ValueError(f"{self.name}: needs a Discrete(K) action space starting at 0 (the "
                             f"single space of a vector env), got {action_space!r}")
        self.n_arms = int(action_space.n)
        if self.n_arms < 2:
            raise ValueError(f"{self.name}: needs at least 2 arms, got {self.n_arms}")
        if not isinstance(observation_space, spaces.Box) \
                or observation_space.shape != (self.n_arms,):
            raise ValueError(f"{self.name}: needs full-information feedback, the whole reward "
                             f"vector as the observation: a Box observation space of shape "
                             f"({self.n_arms},); make the env with feedback='full' (e.g. "
                             f"decisiongym/AdversarialBandit-v0), got observation space "
                             f"{observation_space!r}")
        self.learning_rate, self.horizon = _rate_parameters(self, learning_rate, horizon)

    def _reset_state(self, num_envs: int) -> None:
        self.sums = np.zeros((num_envs, self.n_arms))  # S_{t-1}
        self.t = np.zeros(num_envs)  # rounds played in the episode
        self.probs = np.full((num_envs, self.n_arms), 1.0 / self.n_arms)  # P_t of the round

    def eta(self) -> FloatArray:
        """The learning rate of the coming round, per replicate."""
        if self.learning_rate is not None:
            return np.full(self.num_envs, self.learning_rate)
        if self.horizon is not None:
            return np.full(self.num_envs, hedge_learning_rate(self.n_arms, self.horizon))
        return hedge_anytime_learning_rate(self.n_arms, self.t + 1.0)

    def distribution(self) -> FloatArray:
        """P_t (num_envs, K) for the coming round."""
        return softmax_rows(self.eta()[:, None] * self.sums)

    def _act(self, obs: Any) -> IntArray:
        self.probs = self.distribution()
        return sample_from_simplex(self.probs, self.rng)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray,
               next_obs: Any, terminated: BoolArray, truncated: BoolArray) -> None:
        vectors = np.asarray(next_obs, dtype=np.float64)
        if vectors.shape != (self.num_envs, self.n_arms):
            raise ValueError(f"{self.name}: the observation must be the reward vectors of the "
                             f"round, shape ({self.num_envs}, {self.n_arms}), got shape "
                             f"{vectors.shape} (make the env with feedback='full')")
        r = vectors[rows]
        if r.size and (r.min() < 0.0 or r.max() > 1.0 or np.isnan(r).any()):
            bad = r[(r < 0) | (r > 1) | np.isnan(r)][0]
            raise ValueError(f"{self.name}: rewards must lie in [0, 1] (got {float(bad)!r}); the "
                             "bound assumes it")
        self.sums[rows] += r
        self.t[rows] += 1.0

    def _end_episode(self, rows: IntArray) -> None:
        self.sums[rows] = 0.0
        self.t[rows] = 0.0
        self.probs[rows] = 1.0 / self.n_arms


__all__ = [
    "ESTIMATORS",
    "FTRL",
    "Exp3",
    "Hedge",
    "OnlineMirrorDescent",
    "SimplexAgent",
    "estimate_rewards",
    "inverse_square_weights",
    "sample_from_simplex",
    "softmax_rows",
]
