"""Regret bounds for stochastic bandits (Dobriban, *Notes for Stat 991: Topics in Deep Learning*,
2019, sections 5.2.1-5.2.2).

Every function is pure and vectorised over numpy arrays where that makes sense.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

_EPS = 1e-15


def kl_bernoulli(p: ArrayLike, q: ArrayLike) -> NDArray[np.float64]:
    """KL divergence KL(Bernoulli(p) || Bernoulli(q)), elementwise, in nats.

    Arguments are clipped to [1e-15, 1 - 1e-15] so that the divergence is finite at the
    boundary (KL(p || 1) is +inf in exact arithmetic; here it is large but finite).
    """
    p_arr = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    q_arr = np.clip(np.asarray(q, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.asarray(
        p_arr * np.log(p_arr / q_arr) + (1.0 - p_arr) * np.log((1.0 - p_arr) / (1.0 - q_arr))
    )


def kl_gaussian(mu1: ArrayLike, mu2: ArrayLike, sigma: ArrayLike = 1.0) -> NDArray[np.float64]:
    """KL(N(mu1, sigma^2) || N(mu2, sigma^2)) = (mu1 - mu2)^2 / (2 sigma^2), elementwise."""
    mu1_arr = np.asarray(mu1, dtype=np.float64)
    mu2_arr = np.asarray(mu2, dtype=np.float64)
    sigma_arr = np.asarray(sigma, dtype=np.float64)
    return np.asarray((mu1_arr - mu2_arr) ** 2 / (2.0 * sigma_arr**2))


def lai_robbins_constant(
    means: ArrayLike,
    family: Literal["bernoulli", "gaussian"] = "bernoulli",
    sigma: ArrayLike = 1.0,
) -> float:
    """The constant C in the Lai & Robbins (1985) lower bound r_T >= (C + o(1)) log T.

    C = sum over suboptimal arms i of Delta_i / KL(mu_i || mu*) (Dobriban (2019), section 5.2.2,
    item 8). For Gaussian arms with known standard deviation ``sigma`` (scalar or per arm) the KL is
    Delta_i^2 / (2 sigma_i^2), so C = sum 2 sigma_i^2 / Delta_i. Arms tied with the best
    contribute nothing.
    """
    mu = np.asarray(means, dtype=np.float64)
    if mu.ndim != 1 or mu.size < 2:
        raise ValueError(
            f"lai_robbins_constant: means must be a 1-D array of >= 2 arms, got {mu!r}")
    best = mu.max()
    sub = mu < best
    gaps = best - mu[sub]
    if family == "bernoulli":
        kl = kl_bernoulli(mu[sub], best)
    elif family == "gaussian":
        sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64), mu.shape)
        kl = kl_gaussian(mu[sub], best, sig[sub])
    else:
        raise ValueError(f"lai_robbins_constant: unknown family {family!r}; "
                         "use 'bernoulli' or 'gaussian'")
    return float(np.sum(gaps / kl))


def lai_robbins_bound(
    means: ArrayLike,
    horizon: ArrayLike,
    family: Literal["bernoulli", "gaussian"] = "bernoulli",
    sigma: ArrayLike = 1.0,
) -> NDArray[np.float64]:
    """Asymptotic Lai-Robbins lower bound C * log(T) on the pseudo-regret at horizon(s) T."""
    t = np.asarray(horizon, dtype=np.float64)
    return np.asarray(lai_robbins_constant(means, family, sigma) * np.log(t))


def etc_optimal_m(gap: float, horizon: int) -> int:
    """Exploration length of explore-then-commit for two arms (Dobriban (2019), section 5.2.1):

    m = ceil(4 / Delta^2 * log(T Delta^2 / 4)), at least 1.
    """
    if not (0.0 < gap <= 1.0):
        raise ValueError(f"etc_optimal_m: gap must be in (0, 1], got {gap!r}")
    if horizon < 1:
        raise ValueError(f"etc_optimal_m: horizon must be >= 1, got {horizon!r}")
    arg = horizon * gap**2 / 4.0
    if arg <= 1.0:
        return 1
    return max(1, math.ceil(4.0 / gap**2 * math.log(arg)))


def etc_regret_bound(gap: float, horizon: int, m: int | None = None) -> float:
    """Upper bound on the regret of ETC with K = 2 (Dobriban (2019), section 5.2.1, after Lattimore
    & Szepesvari).

    With m given: m Delta + T Delta exp(-m Delta^2 / 4). With m None the optimal m is used and
    the bound is 4/Delta (log(T Delta^2 / 4) + 1) + Delta (capped by T Delta, the regret of
    always pulling the bad arm).
    """
    if m is None:
        arg = max(horizon * gap**2 / 4.0, 1.0)
        return min(horizon * gap, 4.0 / gap * (math.log(arg) + 1.0) + gap)
    return min(horizon * gap, m * gap + horizon * gap * math.exp(-m * gap**2 / 4.0))


def ucb1_regret_bound(means: ArrayLike, horizon: ArrayLike) -> NDArray[np.float64]:
    """Finite-time upper bound of Auer, Cesa-Bianchi & Fischer (2002, Theorem 1) for UCB1:

    sum_i 8 log(T) / Delta_i + (1 + pi^2 / 3) sum_i Delta_i, over suboptimal arms.
    """
    mu = np.asarray(means, dtype=np.float64)
    gaps = mu.max() - mu
    gaps = gaps[gaps > 0]
    t = np.asarray(horizon, dtype=np.float64)
    return np.asarray(np.sum(8.0 / gaps) * np.log(t) + (1.0 + math.pi**2 / 3.0) * gaps.sum())


def ucb_worst_case_bound(n_arms: int, horizon: ArrayLike) -> NDArray[np.float64]:
    """Order of UCB's problem-independent regret, sqrt(K T log T) (Dobriban (2019), section 5.2.1,
    item 5).

    An order of growth (constant 1), for plotting against measured regret, not a proven bound.
    """
    t = np.asarray(horizon, dtype=np.float64)
    return np.asarray(np.sqrt(n_arms * t * np.log(t)))


def minimax_reference(n_arms: int, horizon: ArrayLike) -> NDArray[np.float64]:
    """The minimax rate sqrt(K T): no policy beats it by more than a constant on every problem
    (Auer et al. 2002b lower bound 1/20 sqrt(KT); Lattimore & Szepesvari 2020, ch. 15)."""
    t = np.asarray(horizon, dtype=np.float64)
    return np.asarray(np.sqrt(n_arms * t))


def linucb_alpha(delta: float) -> float:
    """alpha = 1 + sqrt(ln(2 / delta) / 2): LinUCB's confidence width for level 1 - delta (Li,
    Chu, Langford & Schapire 2010, section 3.1; Dobriban (2019), section 5.2.4): with probability
    at least 1 - delta, |beta_hat_a' x - beta_a' x| <= alpha sqrt(x' (A^a)^{-1} x).

    >>> round(linucb_alpha(0.05), 6)
    2.358102
    """
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) \
            or not 0.0 < float(delta) < 1.0:
        raise ValueError(f"linucb_alpha: delta must be a number in (0, 1), got {delta!r}")
    return 1.0 + math.sqrt(math.log(2.0 / float(delta)) / 2.0)


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def etc_expected_regret(gap: float, horizon: int, m: int, sigma: float = 1.0) -> float:
    """The exact expected regret of explore-then-commit on two Gaussian arms N(mu_k, sigma^2)
    with gap Delta (the rule of Dobriban (2019), section 5.2.1: each arm m times, round robin,
    then the arm of the better sample mean).

    The exploration costs m Delta (the bad arm's m pulls); the commitment is wrong when the bad
    arm's sample mean is the larger one, which happens with probability
    P(N(Delta, 2 sigma^2 / m) < 0) = Phi(-Delta sqrt(m / 2) / sigma), and costs Delta on each of
    the T - 2m remaining rounds:

        E r_T = m Delta + (T - 2m) Delta Phi(-Delta sqrt(m / 2) / sigma).

    Needs 2m <= T (the exploration fits in the horizon).
    """
    if not (gap > 0.0 and math.isfinite(gap)):
        raise ValueError(f"etc_expected_regret: gap must be > 0, got {gap!r}")
    if not (sigma > 0.0 and math.isfinite(sigma)):
        raise ValueError(f"etc_expected_regret: sigma must be > 0, got {sigma!r}")
    if m < 1 or 2 * m > horizon:
        raise ValueError(f"etc_expected_regret: needs 1 <= m <= T / 2, got m={m!r}, "
                         f"T={horizon!r}")
    wrong = _normal_cdf(-gap * math.sqrt(m / 2.0) / sigma)
    return m * gap + (horizon - 2 * m) * gap * wrong


def etc_worst_case_bound(horizon: int) -> float:
    """The largest value over the gap Delta in (0, 1] of the notes' ETC bound with the optimal m,
    ``etc_regret_bound(Delta, T)`` (Dobriban (2019), section 5.2.1: "worst case Delta ~ T^(-1/2),
    worst case regret O(T^(1/2))").

    With x = T Delta^2 / 4 the bound 4 / Delta (log x + 1) + Delta is
    2 sqrt(T / x) (log x + 1) + 2 sqrt(x / T), whose derivative in x has the sign of
    1 + x / T - log x: it rises to the root x* of log x = 1 + x / T (x* = e (1 + O(1 / T))),
    then falls (the second root lies beyond Delta = 1 once T >= 14). Below x = 1 the bound is
    T Delta < 2 sqrt(T). So the maximum is the larger of the value at x* (about 4 sqrt(T / e) =
    2.43 sqrt(T)) and the value at Delta = 1.
    """
    if horizon < 1:
        raise ValueError(f"etc_worst_case_bound: horizon must be >= 1, got {horizon!r}")
    t = float(horizon)
    candidates = [etc_regret_bound(1.0, horizon), min(t * 2.0 / math.sqrt(t), t)]
    x = math.e
    for _ in range(100):  # fixed point x = exp(1 + x / T): a contraction where x / T is small
        x_new = math.exp(1.0 + x / t)
        if abs(x_new - x) < 1e-13 * x or x_new > t / 4.0:
            x = x_new
            break
        x = x_new
    gap = 2.0 * math.sqrt(x / t)
    if gap <= 1.0:
        candidates.append(etc_regret_bound(gap, horizon))
    return max(candidates)


def ucb_notes_regret_bound(means: ArrayLike, horizon: ArrayLike) -> NDArray[np.float64]:
    """A finite-time bound for the UCB index of Dobriban (2019), section 5.2.1,
    gamma_k(t) = mu_hat_k + sqrt(2 log(t^3) / T_k) (``ucb1`` with ``alpha=6``):

        r_T <= sum over suboptimal arms i of ( 24 log(T) / Delta_i + (1 + pi^2 / 3) Delta_i ).

    The notes state the order, r_T = O(sum_i Delta_i + log T / Delta_i) (section 5.2.1, item 5).
    The constants are those of the argument of Auer, Cesa-Bianchi & Fischer (2002, Theorem 1)
    run with this index: a suboptimal arm i with
    T_i >= 24 log T / Delta_i^2 pulls is only chosen at step t if the optimal arm's index falls
    below mu* or arm i's mean exceeds mu_i by its width sqrt(6 log t / T_i). For 1-sub-Gaussian
    rewards (any rewards in [0, 1], Gaussian rewards with sigma <= 1) each of these has
    probability at most exp(-3 log t) = t^-3 for a given pull count, t^-2 over the t possible
    counts, so E T_i(T) <= 24 log T / Delta_i^2 + 1 + sum_t 2 t^-2, and
    sum_t 2 t^-2 = pi^2 / 3. (log t^3 is what makes the union bound converge for sub-Gaussian
    rewards; Auer et al.'s UCB1 index, 2 log t, needs rewards in [0, 1].)
    """
    mu = np.asarray(means, dtype=np.float64)
    gaps = mu.max() - mu
    gaps = gaps[gaps > 0]
    t = np.asarray(horizon, dtype=np.float64)
    return np.asarray(np.sum(24.0 / gaps) * np.log(t) + (1.0 + math.pi**2 / 3.0) * gaps.sum())


def ucb_notes_worst_case_bound(n_arms: int, horizon: ArrayLike) -> NDArray[np.float64]:
    """The problem-independent form of :func:`ucb_notes_regret_bound`, for means in [0, 1]:

        r_T <= 2 sqrt(24 (K - 1) T log T) + (1 + pi^2 / 3) (K - 1),

    the order sqrt(K T log T) of Dobriban (2019), section 5.2.1, item 5. (Arms with gap below
    Delta_0 cost at most T Delta_0 together, the others at most 24 log T / Delta_0 + (1 + pi^2 /
    3) Delta_i each; Delta_0 = sqrt(24 (K - 1) log T / T) balances the two.)
    """
    if n_arms < 2:
        raise ValueError(f"ucb_notes_worst_case_bound: n_arms must be >= 2, got {n_arms!r}")
    t = np.asarray(horizon, dtype=np.float64)
    k1 = n_arms - 1
    return np.asarray(2.0 * np.sqrt(24.0 * k1 * t * np.log(t)) + (1.0 + math.pi**2 / 3.0) * k1)


def moss_regret_bound(n_arms: int, horizon: ArrayLike) -> NDArray[np.float64]:
    """The problem-independent bound of MOSS (Audibert & Bubeck 2009) for rewards in [0, 1]:
    sup over problems of E r_T <= 49 sqrt(K T), the minimax order sqrt(K T) that UCB1 misses
    by sqrt(log T)."""
    if n_arms < 2:
        raise ValueError(f"moss_regret_bound: n_arms must be >= 2, got {n_arms!r}")
    t = np.asarray(horizon, dtype=np.float64)
    return np.asarray(49.0 * np.sqrt(n_arms * t))


def kl_ucb_plus_plus_exploration(pulls: ArrayLike, n_arms: int, horizon: int
                                 ) -> NDArray[np.float64]:
    """The exploration function of KL-UCB++ (Menard & Garivier 2017):

        g(n) = log+( y (1 + log+(y)^2) ),  y = T / (K n),  log+(x) = max(0, log x),

    an arm pulled n times gets the budget g(n) / n on the KL divergence of its index.
    """
    n = np.asarray(pulls, dtype=np.float64)
    y = horizon / (n_arms * n)
    log_plus = np.maximum(np.log(y), 0.0)
    return np.asarray(np.maximum(np.log(y * (1.0 + log_plus**2)), 0.0))
