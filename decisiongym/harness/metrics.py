"""Evaluation metrics as pure functions with stated shape contracts.

Conventions: ``curves`` are (G, n): G time points of a log-spaced grid, n independent runs
(replicates). ``scores`` are (n_runs, n_tasks), as in rliable (Agarwal et al. 2021). Every
bootstrap takes an explicit ``random_state`` (an int seed or a numpy Generator), so intervals are
reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
RandomState = int | np.random.Generator | None


def _generator(random_state: RandomState) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def shared_value(values: ArrayLike, rtol: float = 1e-9) -> float | None:
    """The value every entry of ``values`` shares (to ``rtol``), or None when they differ, are
    not finite, or there are none. Used for the Lai-Robbins constant C of a set of replicates:
    a C log t line is meaningful only when all replicates face the same C."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size == 0 or not np.all(np.isfinite(x)) or np.ptp(x) > rtol * max(1.0, abs(x[0])):
        return None
    return float(x[0])


def time_grid(horizon: int, log_points: int = 40, linear_points: int = 20) -> NDArray[np.int64]:
    """Time steps 1..horizon at which curves are recorded: log-spaced plus evenly spaced.

    Always contains 1 and ``horizon``; sorted, unique. The log part serves log-time plots and
    regret / log t, the linear part linear-time plots.
    """
    if horizon < 1:
        raise ValueError(f"time_grid: horizon must be >= 1, got {horizon!r}")
    log_part = np.geomspace(1, horizon, num=max(2, log_points))
    lin_part = np.linspace(1, horizon, num=max(2, linear_points))
    grid = np.unique(np.round(np.concatenate([log_part, lin_part])).astype(np.int64))
    return grid[(grid >= 1) & (grid <= horizon)]


def mean_and_standard_error(values: ArrayLike, axis: int = -1) -> tuple[FloatArray, FloatArray]:
    """Mean and standard error (sample std / sqrt(n), ddof = 1) along ``axis``."""
    x = np.asarray(values, dtype=np.float64)
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    if n < 2:
        return np.asarray(mean), np.asarray(np.zeros_like(mean))
    return np.asarray(mean), np.asarray(x.std(axis=axis, ddof=1) / math.sqrt(n))


def mean_confidence_interval(values: NDArray[np.float64], level: float = 0.95
                             ) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of i.i.d. values (scipy.stats); NaN bounds for a
    single value."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if x.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return mean, mean - half, mean + half


def bootstrap_mean_ci(values: ArrayLike, *, level: float = 0.95, n_boot: int = 2000,
                      random_state: RandomState = 0) -> tuple[FloatArray, FloatArray]:
    """Percentile bootstrap interval of the mean of ``values`` along the last axis.

    ``values``: (..., n). Returns (low, high), each of shape (...). The n runs are resampled with
    replacement ``n_boot`` times; the same resampling indices serve every row, so row i of a
    (G, n) call equals a call on row i alone with the same ``random_state`` (to rounding). The
    resampled means of all rows are one matrix product of the values with the resampling counts
    (one BLAS call for a whole (G, n) matrix of curves); a constant row gets exactly
    low == high == its mean.
    """
    x = np.asarray(values, dtype=np.float64)
    if not 0 < level < 1:
        raise ValueError(f"bootstrap_mean_ci: level must be in (0, 1), got {level!r}")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"bootstrap_mean_ci: values must have runs on the last axis, "
                         f"got shape {x.shape}")
    n = x.shape[-1]
    rng = _generator(random_state)
    picks = rng.integers(0, n, size=(n_boot, n))
    flat = x.reshape(-1, n)
    if flat.shape[0] <= 8:
        # A few rows: plain means of the resampled values.
        boot_means = np.stack([row[picks].mean(axis=1) for row in flat])
    else:
        # Many rows (curves): counts[b, i] = how often run i was drawn in resample b, and all
        # resampled means in one matrix product.
        offsets = (np.arange(n_boot) * n)[:, None]
        counts = np.bincount((picks + offsets).ravel(), minlength=n_boot * n)
        boot_means = flat @ counts.reshape(n_boot, n).T.astype(np.float64) / n
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boot_means, [alpha, 1.0 - alpha], axis=1)
    constant = flat.min(axis=1) == flat.max(axis=1)
    if constant.any():
        exact = flat[constant].mean(axis=1)
        low[constant] = exact
        high[constant] = exact
    shape = x.shape[:-1]
    return np.asarray(low.reshape(shape)), np.asarray(high.reshape(shape))


def regret_over_log_t(grid: ArrayLike, curves: ArrayLike) -> FloatArray:
    """Regret normalised by log t: curves (G, n) / log(grid) (G,); NaN where t = 1."""
    t = np.asarray(grid, dtype=np.float64)
    r = np.asarray(curves, dtype=np.float64)
    log_t = np.log(t) if r.ndim == 1 else np.log(t)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = r / log_t
    out[t <= 1] = np.nan
    return np.asarray(out)


def area_under_curve(x: ArrayLike, y: ArrayLike) -> FloatArray:
    """Trapezoidal area under y(x) along the first axis of ``y``; y is (G,) or (G, n)."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.shape[0] != ys.shape[0]:
        raise ValueError(f"area_under_curve: x has {xs.shape[0]} points, y has {ys.shape[0]}")
    dx = np.diff(xs)
    mid = 0.5 * (ys[1:] + ys[:-1])
    return np.asarray(np.tensordot(dx, mid, axes=(0, 0)))


def steps_to_threshold(steps: ArrayLike, returns: ArrayLike, threshold: float) -> FloatArray:
    """First step at which a return curve reaches ``threshold``; NaN if it never does.

    ``steps`` (G,), ``returns`` (G,) or (G, n). Returns a scalar array or (n,).
    """
    s = np.asarray(steps, dtype=np.float64)
    r = np.asarray(returns, dtype=np.float64)
    reached = r >= threshold
    first = reached.argmax(axis=0)
    out = s[first].astype(np.float64)
    never = ~reached.any(axis=0)
    out = np.where(never, np.nan, out)
    return np.asarray(out)


def interquartile_mean(scores: ArrayLike, axis: int | None = None) -> FloatArray:
    """IQM: mean of the middle 50% of the values, rliable's definition.

    As ``scipy.stats.trim_mean(x, 0.25)``: sort, drop floor(n / 4) values at each end, average
    the rest. With ``axis=None`` all values are pooled (scores of shape (runs, tasks) give one
    number).
    """
    x = np.asarray(scores, dtype=np.float64)
    if axis is None:
        x = x.reshape(-1)
        axis = 0
    n = x.shape[axis]
    if n == 0:
        raise ValueError("interquartile_mean: no values")
    cut = int(0.25 * n)
    ordered = np.sort(x, axis=axis)
    kept = np.take(ordered, np.arange(cut, n - cut), axis=axis)
    return np.asarray(kept.mean(axis=axis))


def aggregate_mean(scores: ArrayLike) -> FloatArray:
    """Mean over runs of the mean over tasks (rliable's aggregate mean)."""
    return np.asarray(np.mean(np.asarray(scores, dtype=np.float64)))


def stratified_bootstrap_ci(scores: ArrayLike, statistic: Callable[[FloatArray], FloatArray],
                            *, level: float = 0.95, n_boot: int = 2000,
                            random_state: RandomState = 0) -> tuple[float, float, float]:
    """Point estimate and percentile interval of ``statistic(scores)`` by stratified bootstrap.

    ``scores``: (n_runs, n_tasks). Each task's runs are resampled with replacement independently
    (the strata are the tasks), as in rliable; ``statistic`` maps a (n_runs, n_tasks) matrix to a
    number (e.g. :func:`interquartile_mean` or :func:`aggregate_mean`).
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"stratified_bootstrap_ci: scores must be a non-empty (runs, tasks) "
                         f"matrix, got shape {x.shape}")
    if not 0 < level < 1:
        raise ValueError(f"stratified_bootstrap_ci: level must be in (0, 1), got {level!r}")
    rng = _generator(random_state)
    n_runs, n_tasks = x.shape
    point = float(statistic(x))
    stats_boot = np.empty(n_boot)
    cols = np.arange(n_tasks)
    for b in range(n_boot):
        rows = rng.integers(0, n_runs, size=(n_runs, n_tasks))
        stats_boot[b] = float(statistic(x[rows, cols]))
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats_boot, [alpha, 1.0 - alpha])
    return point, float(low), float(high)
