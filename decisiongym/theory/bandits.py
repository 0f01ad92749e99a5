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
