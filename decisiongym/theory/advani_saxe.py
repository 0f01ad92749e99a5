"""Generalisation dynamics of gradient descent on linear regression (Advani & Saxe 2017/2020,
"High-dimensional dynamics of generalization error in neural networks"; Dobriban, *Notes for
Stat 991: Topics in Deep Learning*, 2019, section 7.10).

Model (Dobriban (2019), section 7.10, items 3-4): y = X w_bar + eps, X (P x N) with i.i.d.
N(0, 1/N) entries, w_bar ~ N(0, sigma_w^2 I), eps ~ N(0, sigma_eps^2 I), w(0) ~ N(0, sigma_0^2 I);
gradient flow tau dw/dt = X'y - X'X w. With X'X = V diag(lambda) V', every mode decouples and

    E_g(t) = (1/N) sum_i [ (sigma_w^2 + sigma_0^2) exp(-2 lambda_i t / tau)
                           + sigma_eps^2 / lambda_i (1 - exp(-lambda_i t / tau))^2 ] + sigma_eps^2

where E_g = E_{x, eps} (y - y_hat)^2 for a fresh x ~ N(0, I/N); modes with lambda_i = 0 keep
their initial error (the noise term tends to 0 with lambda_i). For discrete gradient descent
with step eta (w <- w + eta (X'y - X'X w)) the same holds with exp(-lambda_i t / tau) replaced
by (1 - eta lambda_i)^k at step k (``learning_rate``).

In the high-dimensional limit (N, P -> infinity, P / N -> alpha) the eigenvalues follow the
Marchenko-Pastur law with edges (1 +- sqrt(alpha))^2 and, when alpha < 1, a mass 1 - alpha at 0
(:func:`marchenko_pastur_density`, :func:`generalization_error_asymptotic`).

Overtraining: the noise term grows with t, so E_g has an interior minimum when sigma_eps > 0;
:func:`optimal_stopping_time` finds it (early stopping; Advani & Saxe section 2.3).

>>> import numpy as np
>>> lam = np.array([0.5, 1.0, 2.0])
>>> float(generalization_error(0.0, lam, sigma_w=1.0, sigma_0=0.0, sigma_noise=0.5))
1.25
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from decisiongym.validation import check_float


def _check_sigmas(sigma_w: float, sigma_0: float, sigma_noise: float) -> None:
    for name, v in (("sigma_w", sigma_w), ("sigma_0", sigma_0), ("sigma_noise", sigma_noise)):
        check_float("advani_saxe", name, v, low=0.0, expected="a finite number >= 0")


def _mode_errors(t: NDArray[np.float64], lam: NDArray[np.float64], signal: float,
                 noise_var: float, tau: float, learning_rate: float | None
                 ) -> NDArray[np.float64]:
    """E (z_bar_i - z_i(t))^2 for every (t, mode): shape (T, M)."""
    t = t[:, None]
    lam = lam[None, :]
    if learning_rate is None:
        decay = np.exp(-lam * t / tau)
    else:  # discrete gradient descent: t counts steps
        decay = (1.0 - learning_rate * lam) ** t
    with np.errstate(divide="ignore", invalid="ignore"):
        noise = np.where(lam > 0, noise_var / np.where(lam > 0, lam, 1.0) * (1.0 - decay) ** 2,
                         0.0)
    return np.asarray(signal * decay**2 + noise)


def generalization_error(t: ArrayLike, eigenvalues: ArrayLike, *, sigma_w: float,
                         sigma_0: float, sigma_noise: float, tau: float = 1.0,
                         learning_rate: float | None = None) -> NDArray[np.float64]:
    """E_g(t) for the eigenvalues of X'X (all N of them, zeros included), the formula of
    Dobriban (2019), section 7.10. ``t``: times (gradient flow, in units of tau) or, with
    ``learning_rate``, numbers of gradient-descent steps. Returns an array shaped like ``t``."""
    _check_sigmas(sigma_w, sigma_0, sigma_noise)
    lam = np.asarray(eigenvalues, dtype=np.float64).reshape(-1)
    if lam.size == 0 or np.any(lam < -1e-9) or not np.all(np.isfinite(lam)):
        raise ValueError(f"advani_saxe: eigenvalues must be finite and >= 0, got {lam!r}")
    lam = np.clip(lam, 0.0, None)
    tt = np.asarray(t, dtype=np.float64)
    if np.any(tt < 0):
        raise ValueError(f"advani_saxe: times must be >= 0, got {t!r}")
    if learning_rate is not None and not 0 < learning_rate * lam.max() < 2:
        raise ValueError(f"advani_saxe: learning_rate {learning_rate!r} makes gradient descent "
                         f"diverge (needs 0 < eta lambda_max < 2, lambda_max = {lam.max():.3g})")
    errs = _mode_errors(tt.reshape(-1), lam, sigma_w**2 + sigma_0**2, sigma_noise**2, tau,
                        learning_rate)
    return np.asarray(errs.mean(axis=1) + sigma_noise**2).reshape(tt.shape)


def marchenko_pastur_edges(alpha: float) -> tuple[float, float]:
    """Support [(1 - sqrt(alpha))^2, (1 + sqrt(alpha))^2] of the nonzero eigenvalues of X'X."""
    if not alpha > 0:
        raise ValueError(f"advani_saxe: alpha = P / N must be > 0, got {alpha!r}")
    r = math.sqrt(alpha)
    return (1.0 - r) ** 2, (1.0 + r) ** 2


def marchenko_pastur_density(lam: ArrayLike, alpha: float) -> NDArray[np.float64]:
    """Continuous part of the eigenvalue density of X'X (entries N(0, 1/N), P = alpha N rows):
    sqrt((l+ - l)(l - l-)) / (2 pi l) on [l-, l+]; it integrates to min(alpha, 1)."""
    lo, hi = marchenko_pastur_edges(alpha)
    x = np.asarray(lam, dtype=np.float64)
    inside = (x > lo) & (x < hi)
    out = np.zeros_like(x)
    out[inside] = np.sqrt((hi - x[inside]) * (x[inside] - lo)) / (2 * math.pi * x[inside])
    return out


def generalization_error_asymptotic(t: ArrayLike, alpha: float, *, sigma_w: float,
                                    sigma_0: float, sigma_noise: float, tau: float = 1.0,
                                    n_grid: int = 4001) -> NDArray[np.float64]:
    """E_g(t) in the limit N, P -> infinity with P / N = alpha: the formula averaged over the
    Marchenko-Pastur law (Advani & Saxe 2020, eq. 11), by quadrature on ``n_grid`` points
    (Chebyshev nodes, which absorb the square-root edges)."""
    _check_sigmas(sigma_w, sigma_0, sigma_noise)
    lo, hi = marchenko_pastur_edges(alpha)
    k = np.arange(n_grid)
    theta = (k + 0.5) * math.pi / n_grid
    lam = 0.5 * (lo + hi) - 0.5 * (hi - lo) * np.cos(theta)
    # integral of sqrt((hi-l)(l-lo)) g(l) dl = ((hi-lo)/2)^2 * integral_0^pi sin^2 g dtheta
    weights = ((hi - lo) / 2) ** 2 * np.sin(theta) ** 2 * (math.pi / n_grid) / (2 * math.pi * lam)
    tt = np.asarray(t, dtype=np.float64)
    errs = _mode_errors(tt.reshape(-1), lam, sigma_w**2 + sigma_0**2, sigma_noise**2, tau, None)
    value = errs @ weights
    value += max(0.0, 1.0 - alpha) * (sigma_w**2 + sigma_0**2)  # the zero modes never learn
    return np.asarray(value + sigma_noise**2).reshape(tt.shape)


def optimal_stopping_time(error_fn: Any, t_max: float, n_grid: int = 2000
                          ) -> tuple[float, float]:
    """(t*, E_g(t*)) minimising ``error_fn(t)`` over [0, t_max]: a log-spaced grid search,
    refined by golden-section search (scipy) around the best grid point."""
    from scipy.optimize import minimize_scalar

    grid = np.concatenate([[0.0], np.geomspace(t_max * 1e-4, t_max, n_grid)])
    values = np.asarray(error_fn(grid), dtype=np.float64)
    i = int(values.argmin())
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    if hi <= lo:
        return float(grid[i]), float(values[i])
    res = minimize_scalar(lambda s: float(np.asarray(error_fn(np.array([s])))[0]),
                          bounds=(lo, hi), method="bounded")
    if res.fun <= values[i]:
        return float(res.x), float(res.fun)
    return float(grid[i]), float(values[i])


__all__ = ["generalization_error", "generalization_error_asymptotic", "marchenko_pastur_density",
           "marchenko_pastur_edges", "optimal_stopping_time"]
