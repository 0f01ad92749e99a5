"""Evaluation metrics as pure functions with stated shape contracts.

Conventions: ``curves`` are (G, n): G time points of a log-spaced grid, n independent runs
(replicates). ``scores`` are (n_runs, n_tasks), as in rliable (Agarwal et al. 2021). Every
bootstrap takes an explicit ``random_state`` (an int seed or a numpy Generator), so intervals are
reproducible.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from decisiongym.arrays import FloatArray
from decisiongym.validation import check_choice, check_float, check_int

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
    _check_level("bootstrap_mean_ci", level)
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


def nan_mean_band(runs: ArrayLike, *, level: float = 0.95, n_boot: int = 400,
                  random_state: RandomState = 0) -> tuple[FloatArray, FloatArray, FloatArray]:
    """For a curve over runs, ``runs`` (points, runs) with NaN where a run has no value (an
    episode it did not reach): the mean over the runs that have one, and the percentile
    bootstrap band of that mean (runs resampled together for every point). The band lies
    within the data's range, so it never crosses zero for positive data (log axes)."""
    x = np.asarray(runs, dtype=np.float64)
    _check_level("nan_mean_band", level)
    if x.ndim != 2:
        raise ValueError(f"nan_mean_band: runs must be (points, runs), got shape {x.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a point no run reached: NaN
        mean = np.nanmean(x, axis=1)
        if x.shape[1] < 2:
            return mean, mean.copy(), mean.copy()
        rng = _generator(random_state)
        picks = rng.integers(0, x.shape[1], size=(n_boot, x.shape[1]))
        boot = np.stack([np.nanmean(x[:, p], axis=1) for p in picks], axis=1)
        alpha = (1.0 - level) / 2.0
        low, high = np.nanquantile(boot, [alpha, 1.0 - alpha], axis=1)
    return mean, np.asarray(low), np.asarray(high)


def difference_interval(a: ArrayLike, b: ArrayLike, *, paired: bool = True,
                        level: float = 0.95, n_boot: int = 2000,
                        random_state: RandomState = 0) -> list[float]:
    """Percentile bootstrap interval of ``mean(a) - mean(b)``, as ``[low, high]`` floats (the
    form of :class:`decisiongym.harness.report.Check`'s ``interval``).

    ``paired=True`` (runs i of ``a`` and ``b`` share a seed, as on common random numbers):
    the interval of the mean of ``a - b``; both must have the same length. ``paired=False``:
    ``a`` and ``b`` are resampled independently (lengths may differ). A check that claims
    ``a`` below ``b`` passes when ``high < 0``. Non-finite runs are refused."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    _check_level("difference_interval", level)
    if x.size == 0 or y.size == 0:
        raise ValueError("difference_interval: both samples need at least one run")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("difference_interval: the samples hold non-finite values")
    if paired:
        if x.size != y.size:
            raise ValueError(f"difference_interval: paired samples need equal lengths, got "
                             f"{x.size} and {y.size}")
        low, high = bootstrap_mean_ci(x - y, level=level, n_boot=n_boot,
                                      random_state=random_state)
        return [float(low), float(high)]
    rng = _generator(random_state)
    boot = (x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
            - y[rng.integers(0, y.size, size=(n_boot, y.size))].mean(axis=1))
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return [float(low), float(high)]


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


def aggregate_median(scores: ArrayLike) -> FloatArray:
    """Median over tasks of each task's mean score over runs (rliable's aggregate median).

    ``scores``: (n_runs, n_tasks). Agarwal et al. (2021), "Deep Reinforcement Learning at the
    Edge of the Statistical Precipice", NeurIPS: the median of the per-task means.
    """
    x = _score_matrix("aggregate_median", scores)
    return np.asarray(np.median(x.mean(axis=0)))


# --------------------------------------------------------------------------------------------
# rliable's other estimators (Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of
# the Statistical Precipice", NeurIPS). Like rliable they assume higher scores are better: for a
# lower-is-better quantity such as regret, pass its negation (and thresholds on that scale).
# --------------------------------------------------------------------------------------------

_PROFILE_METHODS = ("run", "average")


def _score_matrix(name: str, scores: ArrayLike, what: str = "scores") -> FloatArray:
    """``scores`` as a float (n_runs, n_tasks) matrix; ValueError when it is not one or has NaN."""
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"{name}: {what} must be a non-empty (runs, tasks) matrix, "
                         f"got shape {x.shape}")
    if np.isnan(x).any():
        raise ValueError(f"{name}: {what} contain NaN (at (run, task) "
                         f"{tuple(int(i) for i in np.argwhere(np.isnan(x))[0])})")
    return x


def _check_level(name: str, level: float) -> float:
    return check_float(name, "level", level, low=0.0, high=1.0, low_open=True, high_open=True,
                       expected="in (0, 1)")


def _check_bootstrap(name: str, level: float, n_boot: int) -> None:
    _check_level(name, level)
    check_int(name, "n_boot", n_boot, expected=">= 1")


def _stratified_resample(x: FloatArray, rng: np.random.Generator) -> FloatArray:
    """One stratified resample of a (n_runs, n_tasks) matrix: each task's runs are drawn with
    replacement, independently of the other tasks (rliable's StratifiedBootstrap)."""
    n_runs, n_tasks = x.shape
    rows = rng.integers(0, n_runs, size=(n_runs, n_tasks))
    return x[rows, np.arange(n_tasks)]


def _percentile_interval(boot: FloatArray, level: float) -> tuple[FloatArray, FloatArray]:
    """Percentile interval along axis 0 of the bootstrap replicates ``boot`` (n_boot, ...)."""
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
    return np.asarray(low), np.asarray(high)


def optimality_gap(scores: ArrayLike, gamma: float = 1.0) -> FloatArray:
    """Optimality gap: how far scores fall short of ``gamma`` on average (lower is better).

    ``scores``: (n_runs, n_tasks); returns a scalar array. The mean over all runs and tasks of
    max(gamma - score, 0), which equals rliable's ``gamma - mean(min(scores, gamma))``: scores
    above ``gamma`` count as ``gamma`` and earn nothing extra (Agarwal et al. 2021, Sec. 4.3).
    It is an aggregate like :func:`aggregate_mean`, so
    ``stratified_bootstrap_ci(scores, optimality_gap)`` gives its interval (another gamma via
    ``functools.partial(optimality_gap, gamma=...)``). Scores are higher-is-better; for regret
    pass ``-regret`` and ``gamma`` on that scale (e.g. ``gamma=0`` for zero regret).
    """
    x = _score_matrix("optimality_gap", scores)
    if not math.isfinite(gamma):
        raise ValueError(f"optimality_gap: gamma must be finite, got {gamma!r}")
    return np.asarray(np.mean(np.maximum(gamma - x, 0.0)))


def performance_profile(scores: ArrayLike, taus: ArrayLike, *, method: str = "run"
                        ) -> FloatArray:
    """Performance profile: the fraction of scores above each threshold tau.

    ``scores``: (n_runs, n_tasks); ``taus``: a scalar or (k,) thresholds; returns (k,) (a
    scalar tau gives (1,)). Agarwal et al. (2021), Sec. 4.1, as rliable's
    ``create_performance_profile``:

    * ``method="run"`` (the run-score distribution, rliable's default): the fraction of all
      n_runs * n_tasks scores with score > tau;
    * ``method="average"`` (the average-score distribution): the fraction of tasks whose mean
      score over runs is > tau.

    The comparison is strict, so a score equal to tau does not count. Scores are
    higher-is-better; for regret pass ``-regret`` with ``taus`` on that scale. Bands for plots:
    :func:`performance_profile_ci`.
    """
    x = _score_matrix("performance_profile", scores)
    check_choice("performance_profile", "method", method, _PROFILE_METHODS)
    t = _taus("performance_profile", taus)
    return _profile(x, t, method)


def _taus(name: str, taus: ArrayLike) -> FloatArray:
    t = np.asarray(taus, dtype=np.float64)
    if t.ndim > 1 or t.size == 0:
        raise ValueError(f"{name}: taus must be a scalar or a non-empty 1-D array, "
                         f"got shape {t.shape}")
    if np.isnan(t).any():
        raise ValueError(f"{name}: taus contain NaN: {t.tolist()!r}")
    return np.atleast_1d(t)


def _profile(x: FloatArray, t: FloatArray, method: str) -> FloatArray:
    values = np.sort(x.reshape(-1) if method == "run" else x.mean(axis=0))
    # Values <= tau are the first searchsorted(..., side="right") of the sorted values.
    above = values.size - np.searchsorted(values, t, side="right")
    return np.asarray(above / values.size)


def performance_profile_ci(scores: ArrayLike, taus: ArrayLike, *, method: str = "run",
                           level: float = 0.95, n_boot: int = 2000,
                           random_state: RandomState = 0
                           ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Performance profile with pointwise stratified-bootstrap bands.

    Returns (profile, low, high), each of shape (k,) for k thresholds: :func:`performance_profile`
    of ``scores`` (n_runs, n_tasks) and, at each tau separately, the percentile interval of the
    profile over ``n_boot`` stratified resamples (runs redrawn within each task, as
    :func:`stratified_bootstrap_ci` and rliable's ``create_performance_profile``). Every tau
    uses the same resamples.
    """
    x = _score_matrix("performance_profile_ci", scores)
    check_choice("performance_profile_ci", "method", method, _PROFILE_METHODS)
    t = _taus("performance_profile_ci", taus)
    _check_bootstrap("performance_profile_ci", level, n_boot)
    rng = _generator(random_state)
    boot = np.stack([_profile(_stratified_resample(x, rng), t, method) for _ in range(n_boot)])
    low, high = _percentile_interval(boot, level)
    return _profile(x, t, method), low, high


def probability_of_improvement(scores_x: ArrayLike, scores_y: ArrayLike) -> FloatArray:
    """Average probability of improvement P(X > Y) of algorithm X over algorithm Y.

    ``scores_x``: (n_x, n_tasks), ``scores_y``: (n_y, n_tasks), the same tasks in the same
    order; the run counts may differ. Returns a scalar array in [0, 1]. Agarwal et al. (2021),
    Sec. 4.3: per task m, P(X_m > Y_m) = U / (n_x n_y) with U the Mann-Whitney U statistic of
    X_m against Y_m, i.e. the fraction of the n_x n_y run pairs (x, y) with x > y, a tie counting
    1/2; the result is the mean over tasks. U is counted directly (sorted ``searchsorted``,
    exact integer counts), not with ``scipy.stats.mannwhitneyu``; it equals rliable's value,
    which calls ``mannwhitneyu``. P(X > Y) + P(Y > X) = 1. Scores are higher-is-better; for
    regret pass ``-regret`` of both. Interval: :func:`probability_of_improvement_ci`.
    """
    x = _score_matrix("probability_of_improvement", scores_x, "scores_x")
    y = _score_matrix("probability_of_improvement", scores_y, "scores_y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"probability_of_improvement: scores_x has {x.shape[1]} tasks, "
                         f"scores_y has {y.shape[1]}")
    return _probability_of_improvement(x, y)


def _probability_of_improvement(x: FloatArray, y: FloatArray) -> FloatArray:
    n_x, n_y = x.shape[0], y.shape[0]
    sorted_y = np.sort(y, axis=0)
    twice_u = np.empty(x.shape[1])
    for m in range(x.shape[1]):
        below = np.searchsorted(sorted_y[:, m], x[:, m], side="left")  # y < x
        at_or_below = np.searchsorted(sorted_y[:, m], x[:, m], side="right")  # y <= x
        # 2U = 2 #(y < x) + #(y == x): ties count 1/2.
        twice_u[m] = float(np.sum(below) + np.sum(at_or_below))
    return np.asarray(np.mean(twice_u / (2.0 * n_x * n_y)))


def probability_of_improvement_ci(scores_x: ArrayLike, scores_y: ArrayLike, *,
                                  level: float = 0.95, n_boot: int = 2000,
                                  random_state: RandomState = 0) -> tuple[float, float, float]:
    """Point estimate and percentile interval of :func:`probability_of_improvement`.

    ``scores_x`` (n_x, n_tasks), ``scores_y`` (n_y, n_tasks). Each resample redraws the runs of
    X within each task and, independently, the runs of Y within each task (rliable's
    ``StratifiedIndependentBootstrap``, used for its probability-of-improvement intervals);
    otherwise as :func:`stratified_bootstrap_ci`.
    """
    x = _score_matrix("probability_of_improvement_ci", scores_x, "scores_x")
    y = _score_matrix("probability_of_improvement_ci", scores_y, "scores_y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"probability_of_improvement_ci: scores_x has {x.shape[1]} tasks, "
                         f"scores_y has {y.shape[1]}")
    _check_bootstrap("probability_of_improvement_ci", level, n_boot)
    rng = _generator(random_state)
    boot = np.empty(n_boot)
    for b in range(n_boot):
        x_b = _stratified_resample(x, rng)
        boot[b] = float(_probability_of_improvement(x_b, _stratified_resample(y, rng)))
    low, high = _percentile_interval(boot, level)
    return float(_probability_of_improvement(x, y)), float(low), float(high)


def stratified_bootstrap_ci(scores: ArrayLike, statistic: Callable[[FloatArray], FloatArray],
                            *, level: float = 0.95, n_boot: int = 2000,
                            random_state: RandomState = 0) -> tuple[float, float, float]:
    """Point estimate and percentile interval of ``statistic(scores)`` by stratified bootstrap.

    ``scores``: (n_runs, n_tasks). Each task's runs are resampled with replacement independently
    (the strata are the tasks), as in rliable; ``statistic`` maps a (n_runs, n_tasks) matrix to a
    number (e.g. :func:`interquartile_mean`, :func:`aggregate_mean`, :func:`aggregate_median` or
    :func:`optimality_gap`).
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"stratified_bootstrap_ci: scores must be a non-empty (runs, tasks) "
                         f"matrix, got shape {x.shape}")
    _check_bootstrap("stratified_bootstrap_ci", level, n_boot)
    rng = _generator(random_state)
    point = float(statistic(x))
    stats_boot = np.empty(n_boot)
    for b in range(n_boot):
        stats_boot[b] = float(statistic(_stratified_resample(x, rng)))
    low, high = _percentile_interval(stats_boot, level)
    return point, float(low), float(high)
