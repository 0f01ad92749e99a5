"""Regret bounds and learning rates for adversarial bandits (Dobriban, *Notes for Stat 991: Topics
in Deep Learning*, 2019, section 5.2.3).

Regret against an oblivious adversary (Dobriban (2019), section 5.2.3, item 1):
r_T = max_k sum_t R_t(k) - E sum_t R_t(A_t), rewards R_t in [0, 1]^K fixed before the game.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from decisiongym.validation import check_int


def _check(name: str, n_arms: int, horizon: ArrayLike) -> NDArray[np.float64]:
    check_int(name, "n_arms", n_arms, low=2)
    t = np.asarray(horizon, dtype=np.float64)
    if np.any(~np.isfinite(t)) or np.any(t < 1):
        raise ValueError(f"{name}: horizon must be >= 1, got {horizon!r}")
    return t


def exp3_regret_bound(n_arms: int, horizon: ArrayLike) -> NDArray[np.float64]:
    """sqrt(2 T K log K): the bound on the regret of Exp3 with loss-based estimates stated in
    Dobriban (2019), section 5.2.3, item 7 (Lattimore & Szepesvari 2020, Theorem 11.2; Bubeck &
    Cesa-Bianchi 2012, Theorem 3.1), for the learning rate :func:`exp3_learning_rate` tuned to the
    horizon T."""
    t = _check("exp3_regret_bound", n_arms, horizon)
    return np.asarray(np.sqrt(2.0 * t * n_arms * math.log(n_arms)))


def exp3_learning_rate(n_arms: int, horizon: int) -> float:
    """eta = sqrt(2 log K / (T K)), the rate of the theorem behind :func:`exp3_regret_bound`.

    With P_t(k) proportional to exp(eta * S_hat_{t-1}(k)) (S_hat the sum of the reward estimates)
    the regret is at most log K / eta + eta T K / 2, which this eta minimises to
    sqrt(2 T K log K) (Lattimore & Szepesvari 2020, Theorem 11.2). Dobriban (2019), section 5.2.3,
    writes the rule with a temperature, P ~ exp(mu_hat / tau): on the sum of the estimates,
    tau = 1 / eta. (The notes' tau = sqrt(K / (T log K)) on a running average is not this rate;
    see ``exp3``.)
    """
    t = float(_check("exp3_learning_rate", n_arms, horizon))
    return math.sqrt(2.0 * math.log(n_arms) / (t * n_arms))


def exp3_anytime_learning_rate(n_arms: int, t: ArrayLike) -> NDArray[np.float64]:
    """eta_t = sqrt(log K / (t K)) at round t (1-based), for when the horizon is unknown; the
    regret is then at most 2 sqrt(T K log K) (Bubeck & Cesa-Bianchi 2012, Theorem 3.1)."""
    steps = _check("exp3_anytime_learning_rate", n_arms, t)
    return np.asarray(np.sqrt(math.log(n_arms) / (steps * n_arms)))


def exp3_anytime_regret_bound(n_arms: int, horizon: ArrayLike) -> NDArray[np.float64]:
    """2 sqrt(T K log K): the bound for :func:`exp3_anytime_learning_rate`."""
    t = _check("exp3_anytime_regret_bound", n_arms, horizon)
    return np.asarray(2.0 * np.sqrt(t * n_arms * math.log(n_arms)))


def tsallis_inf_regret_bound(n_arms: int, horizon: ArrayLike) -> NDArray[np.float64]:
    """4 sqrt(K T) + 1: the adversarial regret bound of Tsallis-INF (alpha = 1/2, learning rate
    eta_t = 2 / sqrt(t), importance-weighted losses; Zimmert & Seldin 2019, Theorem 1)."""
    t = _check("tsallis_inf_regret_bound", n_arms, horizon)
    return np.asarray(4.0 * np.sqrt(n_arms * t) + 1.0)


def hedge_learning_rate(n_arms: int, horizon: int) -> float:
    """eta = sqrt(8 log K / T), the rate of the theorem behind :func:`hedge_regret_bound`.

    Hedge / exponential weights with full information (Freund & Schapire 1997; Littlestone &
    Warmuth 1994; the exponential-weights special case of mirror descent in Dobriban (2019),
    section 5.2.3, item 11, with the reward vector observed): P_t(k) proportional to
    exp(eta S_{t-1}(k)), S_{t-1} the sum of the reward vectors R_1, ..., R_{t-1}. For rewards in
    [0, 1] its regret is at most log K / eta + eta T / 8 (Hoeffding's lemma; Cesa-Bianchi &
    Lugosi 2006, Theorem 2.2), which this eta minimises."""
    t = float(_check("hedge_learning_rate", n_arms, horizon))
    return math.sqrt(8.0 * math.log(n_arms) / t)


def hedge_regret_bound(n_arms: int, horizon: ArrayLike) -> NDArray[np.float64]:
    """sqrt(T log K / 2): the regret bound of Hedge with :func:`hedge_learning_rate`.

    For every reward table in [0, 1]^{T x K}, max_k sum_t R_t(k) - sum_t P_t' R_t <= log K / eta
    + eta T / 8 = sqrt(T log K / 2) at eta = sqrt(8 log K / T) (Cesa-Bianchi & Lugosi 2006,
    Theorem 2.2, stated there for losses in [0, 1]; rewards R are losses 1 - R, which leave P_t
    unchanged). The left side is the expected regret of the arms drawn from the P_t, so the
    bound holds in expectation for a learner that samples A_t ~ P_t, against oblivious and
    adaptive adversaries alike (the adversary fixes R_t before A_t is drawn). The course notes
    (Dobriban (2019), section 5.2.3) state the bandit bound sqrt(2 T K log K) of Exp3, not this
    one: the constants here are Cesa-Bianchi & Lugosi's. Full information removes the factor K
    and a factor 2 under the root.
    """
    t = _check("hedge_regret_bound", n_arms, horizon)
    return np.asarray(np.sqrt(t * math.log(n_arms) / 2.0))


def hedge_anytime_learning_rate(n_arms: int, t: ArrayLike) -> NDArray[np.float64]:
    """eta_t = sqrt(8 log K / t) at round t (1-based), for when the horizon is unknown; the regret
    is then at most :func:`hedge_anytime_regret_bound` (Cesa-Bianchi & Lugosi 2006, Theorem
    2.3)."""
    steps = _check("hedge_anytime_learning_rate", n_arms, t)
    return np.asarray(np.sqrt(8.0 * math.log(n_arms) / steps))


def hedge_anytime_regret_bound(n_arms: int, horizon: ArrayLike) -> NDArray[np.float64]:
    """2 sqrt(T log K / 2) + sqrt(log K / 8) = sqrt(2 T log K) + sqrt(log K / 8): the bound for
    :func:`hedge_anytime_learning_rate` (Cesa-Bianchi & Lugosi 2006, Theorem 2.3)."""
    t = _check("hedge_anytime_regret_bound", n_arms, horizon)
    log_k = math.log(n_arms)
    return np.asarray(np.sqrt(2.0 * t * log_k) + math.sqrt(log_k / 8.0))


def uniform_play_regret(rewards: ArrayLike) -> float:
    """Regret of the uniformly random policy on a reward table (T, K): max_k sum_t R_t(k) minus
    the mean over arms of sum_t R_t(k) (Dobriban (2019), section 5.2.3, item 4: at most T/2 for two
    arms in [0, 1])."""
    table = np.asarray(rewards, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] < 2:
        raise ValueError(f"uniform_play_regret: rewards must have shape (T, K >= 2), "
                         f"got {table.shape}")
    sums = table.sum(axis=0)
    return float(sums.max() - sums.mean())
