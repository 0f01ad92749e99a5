"""Closed forms of the GAN game and of the distances between distributions it minimises.

Dobriban (2019), section 4.3 (after Goodfellow et al. 2014, Proposition 1 and Theorem 1): for
a fixed generator with density p_G, the discriminator maximising
V(D, G) = E_{p_n} log D(X) + E_{p_G} log(1 - D(X)) is D*(x) = p_n(x) / (p_n(x) + p_G(x)), and
the value of the game at it is C(G) = V(D*, G) = 2 JS(p_n || p_G) - log 4, minimised (at -log 4)
exactly when p_G = p_n.

Dobriban (2019), section 4.4 (after Arjovsky, Chintala & Bottou 2017, Example 1): for
Z ~ U[0, 1], P_0 the law of (0, Z) and P_theta the law of (theta, Z), the total variation is 1,
both KLs are infinite and JS is log 2 whenever theta != 0, while the Wasserstein-1 (earth-mover)
distance is |theta|: only W is continuous in theta and gives a useful gradient.

The divergences here use natural logarithms and the Jensen-Shannon divergence
JS(P || Q) = KL(P || M) / 2 + KL(Q || M) / 2 with M = (P + Q) / 2 (the form of section 4.3;
section 4.4 writes it without the halves, which would double every JS value, including the
log 2 of the parallel-lines example).

The density functions work on densities tabulated on a grid of one dimension
(``x`` increasing; integrals by the trapezoid rule), enough to check the identities numerically.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from decisiongym.arrays import FloatArray

__all__ = ["equilibrium_value", "gan_value", "js_divergence", "kl_divergence",
           "optimal_discriminator", "parallel_lines_distances",
           "parallel_lines_wasserstein_estimate", "total_variation"]


def _densities(p: ArrayLike, q: ArrayLike, x: ArrayLike | None = None, *, name: str
               ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    pa = np.asarray(p, dtype=np.float64)
    qa = np.asarray(q, dtype=np.float64)
    if pa.shape != qa.shape or pa.ndim != 1:
        raise ValueError(f"{name}: p and q must be 1-D densities on the same grid, got shapes "
                         f"{pa.shape} and {qa.shape}")
    if np.any(pa < 0) or np.any(qa < 0) or not (np.isfinite(pa).all() and np.isfinite(qa).all()):
        raise ValueError(f"{name}: densities must be finite and non-negative")
    xa = None
    if x is not None:
        xa = np.asarray(x, dtype=np.float64)
        if xa.shape != pa.shape or np.any(np.diff(xa) <= 0):
            raise ValueError(f"{name}: x must be an increasing grid of the densities' length")
    return pa, qa, xa


def _integrate(values: FloatArray, x: FloatArray) -> float:
    return float(np.trapezoid(values, x))


def optimal_discriminator(p_data: ArrayLike, p_generator: ArrayLike) -> FloatArray:
    """D*(x) = p_n(x) / (p_n(x) + p_G(x)), pointwise; 1/2 where both densities vanish (outside
    both supports D* may be anything; 1/2 is the choice that leaves V unchanged)."""
    p, q, _ = _densities(p_data, p_generator, name="optimal_discriminator")
    total = p + q
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, p / np.where(total > 0, total, 1.0), 0.5)


def _xlogy(a: FloatArray, b: FloatArray) -> FloatArray:
    """a log b with 0 log 0 = 0 (and 0 log anything = 0)."""
    out = np.zeros_like(a)
    mask = a > 0
    with np.errstate(divide="ignore"):
        out[mask] = a[mask] * np.log(b[mask])
    return out


def gan_value(discriminator: ArrayLike, p_data: ArrayLike, p_generator: ArrayLike,
              x: ArrayLike) -> float:
    """V(D, G) = int p_n log D + p_G log(1 - D) dx for D tabulated on the grid ``x``."""
    p, q, xa = _densities(p_data, p_generator, x, name="gan_value")
    d = np.asarray(discriminator, dtype=np.float64)
    if d.shape != p.shape or np.any(d < 0) or np.any(d > 1):
        raise ValueError("gan_value: the discriminator must take values in [0, 1] on the grid")
    assert xa is not None
    return _integrate(_xlogy(p, d) + _xlogy(q, 1.0 - d), xa)


def kl_divergence(p: ArrayLike, q: ArrayLike, x: ArrayLike) -> float:
    """KL(P || Q) = int p log(p / q) dx; infinite where P puts mass where Q has none."""
    pa, qa, xa = _densities(p, q, x, name="kl_divergence")
    assert xa is not None
    if np.any((pa > 0) & (qa == 0)):
        return float("inf")
    ratio = np.divide(pa, qa, out=np.ones_like(pa), where=qa > 0)
    return _integrate(_xlogy(pa, ratio), xa)


def js_divergence(p: ArrayLike, q: ArrayLike, x: ArrayLike) -> float:
    """JS(P || Q) = KL(P || M) / 2 + KL(Q || M) / 2, M = (P + Q) / 2; between 0 and log 2."""
    pa, qa, xa = _densities(p, q, x, name="js_divergence")
    assert xa is not None
    m = (pa + qa) / 2.0
    return 0.5 * kl_divergence(pa, m, xa) + 0.5 * kl_divergence(qa, m, xa)


def total_variation(p: ArrayLike, q: ArrayLike, x: ArrayLike) -> float:
    """delta(P, Q) = sup_A |P(A) - Q(A)| = int |p - q| dx / 2."""
    pa, qa, xa = _densities(p, q, x, name="total_variation")
    assert xa is not None
    return 0.5 * _integrate(np.abs(pa - qa), xa)


def equilibrium_value(p_data: ArrayLike, p_generator: ArrayLike, x: ArrayLike) -> float:
    """C(G) = V(D*, G), computed by integrating with the optimal discriminator (Goodfellow et
    al.'s Theorem 1 says it equals 2 JS(p_n || p_G) - log 4): int p_n log(p_n / (p_n + p_G))
    + p_G log(p_G / (p_n + p_G)) dx, written with the densities rather than with D* itself so
    that 1 - D* is not lost to rounding where p_G is tiny beside p_n."""
    p, q, xa = _densities(p_data, p_generator, x, name="equilibrium_value")
    assert xa is not None
    total = np.where(p + q > 0, p + q, 1.0)
    return _integrate(_xlogy(p, p / total) + _xlogy(q, q / total), xa)


def parallel_lines_distances(theta: ArrayLike) -> dict[str, Any]:
    """The parallel-lines example: total variation, KL (both directions), JS and W1 between
    P_0 = law of (0, Z) and P_theta = law of (theta, Z), Z ~ U[0, 1], for each theta."""
    t = np.asarray(theta, dtype=np.float64)
    apart = t != 0
    return {"theta": t,
            "total_variation": np.where(apart, 1.0, 0.0),
            "kl": np.where(apart, np.inf, 0.0),
            "js": np.where(apart, np.log(2.0), 0.0),
            "wasserstein": np.abs(t)}


def parallel_lines_wasserstein_estimate(theta: float, n: int = 400, seed: int = 0) -> float:
    """W1 between ``n`` samples of P_0 and ``n`` of P_theta: the optimal assignment (an exact
    transport problem between equal-size empirical measures, scipy's
    ``linear_sum_assignment``); it tends to |theta| as n grows (the vertical parts of the
    transport, between two uniform samples, shrink like n^(-1/2))."""
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(seed)
    a = np.column_stack([np.zeros(n), rng.uniform(size=n)])
    b = np.column_stack([np.full(n, float(theta)), rng.uniform(size=n)])
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())
