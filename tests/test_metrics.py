"""Evaluation metrics and bandit bounds against values worked out by hand on tiny inputs.

Each expected number is derived in the comment next to it; nothing here re-implements a metric.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from decisiongym import theory
from decisiongym.harness import metrics

# --------------------------------------------------------------------------------------------
# time_grid
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("horizon", [1, 2, 3, 10, 57, 1000, 123_457])
def test_time_grid_contract(horizon: int) -> None:
    grid = metrics.time_grid(horizon)
    assert np.issubdtype(grid.dtype, np.integer)
    assert grid[0] == 1
    assert grid[-1] == horizon
    assert np.all(np.diff(grid) > 0)  # sorted and unique
    assert grid.min() >= 1 and grid.max() <= horizon


def test_time_grid_small_horizons_by_hand() -> None:
    # T = 1: geomspace(1, 1) and linspace(1, 1) are all ones -> [1].
    np.testing.assert_array_equal(metrics.time_grid(1), [1])
    # T = 10: linspace(1, 10, 20) has step 9/19 < 1, so after rounding every integer 1..10 occurs.
    np.testing.assert_array_equal(metrics.time_grid(10), np.arange(1, 11))


def test_time_grid_has_log_and_linear_parts() -> None:
    grid = metrics.time_grid(10_000, log_points=40, linear_points=20)
    # Log part: geomspace(1, 1e4, 40) has ratio 1e4 ** (1/39) ~ 1.266, so 1, 1.27, 1.60, 2.03 ...
    # round to 1, 1, 2, 2, 3, ... : small integers 1, 2, 3 are present.
    assert {1, 2, 3} <= set(grid.tolist())
    # Linear part: linspace(1, 1e4, 20) has step 9999/19 ~ 526.3; its 10th point is
    # 1 + 9 * 526.263 = 4737.37 -> 4737.
    assert 4737 in set(grid.tolist())
    assert len(grid) <= 60


@pytest.mark.parametrize("horizon", [0, -1, -100])
def test_time_grid_rejects_non_positive_horizon(horizon: int) -> None:
    with pytest.raises(ValueError, match="horizon"):
        metrics.time_grid(horizon)


# --------------------------------------------------------------------------------------------
# mean_and_standard_error
# --------------------------------------------------------------------------------------------


def test_mean_and_standard_error_of_1_to_4() -> None:
    # mean = 10 / 4 = 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5; sample variance
    # (ddof = 1) = 5 / 3; se = sqrt(5 / 3) / sqrt(4) = sqrt(5 / 12) ~ 0.6455.
    mean, se = metrics.mean_and_standard_error([1.0, 2.0, 3.0, 4.0])
    assert mean == pytest.approx(2.5, rel=1e-15)
    assert se == pytest.approx(math.sqrt(5.0 / 12.0), rel=1e-14)


def test_mean_and_standard_error_per_row_and_axis() -> None:
    x = np.array([[1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0]])
    mean, se = metrics.mean_and_standard_error(x)  # along the last axis (runs)
    np.testing.assert_allclose(mean, [2.5, 2.0], rtol=1e-15)
    np.testing.assert_allclose(se, [math.sqrt(5.0 / 12.0), 0.0], rtol=1e-14, atol=0)
    # axis = 0, columns (1, 2), (2, 2), (3, 2), (4, 2): means 1.5, 2, 2.5, 3;
    # sample variance of (a, b) is (a - b)^2 / 2, se = |a - b| / sqrt(2) / sqrt(2) = |a - b| / 2.
    mean0, se0 = metrics.mean_and_standard_error(x, axis=0)
    np.testing.assert_allclose(mean0, [1.5, 2.0, 2.5, 3.0], rtol=1e-15)
    np.testing.assert_allclose(se0, [0.5, 0.0, 0.5, 1.0], rtol=1e-14, atol=0)


def test_mean_and_standard_error_single_run_has_zero_se() -> None:
    mean, se = metrics.mean_and_standard_error([[3.0], [5.0]])
    np.testing.assert_array_equal(mean, [3.0, 5.0])
    np.testing.assert_array_equal(se, [0.0, 0.0])


# --------------------------------------------------------------------------------------------
# regret_over_log_t
# --------------------------------------------------------------------------------------------


def test_regret_over_log_t_1d_nan_at_t_equal_1() -> None:
    # grid (1, 2, 4), regret (5, 2, 4): t = 1 -> NaN (log 1 = 0), 2 / log 2,
    # 4 / log 4 = 4 / (2 log 2) = 2 / log 2.
    out = metrics.regret_over_log_t([1, 2, 4], [5.0, 2.0, 4.0])
    assert out.shape == (3,)
    assert math.isnan(out[0])
    np.testing.assert_allclose(out[1:], [2.0 / math.log(2.0)] * 2, rtol=1e-15)


def test_regret_over_log_t_2d_divides_each_row_by_its_log_t() -> None:
    e = math.e
    # grid (1, e, e^2) gives log t = (0, 1, 2); rows are divided by 0 (-> NaN), 1 and 2.
    curves = np.array([[0.0, 7.0], [3.0, 4.0], [6.0, 10.0]])
    out = metrics.regret_over_log_t([1.0, e, e * e], curves)
    assert out.shape == (3, 2)
    assert np.all(np.isnan(out[0]))
    np.testing.assert_allclose(out[1:], [[3.0, 4.0], [3.0, 5.0]], rtol=1e-14)
    assert not np.any(np.isnan(out[1:]))


# --------------------------------------------------------------------------------------------
# area_under_curve
# --------------------------------------------------------------------------------------------


def test_area_under_curve_1d_trapezoids() -> None:
    # x = (0, 1, 3), y = (0, 2, 2): trapezoid 1 is 1 * (0 + 2) / 2 = 1, trapezoid 2 is
    # 2 * (2 + 2) / 2 = 4; total 5.
    assert metrics.area_under_curve([0.0, 1.0, 3.0], [0.0, 2.0, 2.0]) == pytest.approx(5.0)
    # A straight line y = x on [0, 4] with uneven knots is integrated exactly: 4^2 / 2 = 8.
    xs = [0.0, 0.5, 3.0, 4.0]
    assert metrics.area_under_curve(xs, xs) == pytest.approx(8.0, rel=1e-15)


def test_area_under_curve_2d_per_column() -> None:
    # Columns: (0, 2, 2) -> 5 as above; (1, 1, 1) -> width 3 * height 1 = 3;
    # (4, 0, 0) -> 1 * (4 + 0) / 2 = 2.
    y = np.array([[0.0, 1.0, 4.0], [2.0, 1.0, 0.0], [2.0, 1.0, 0.0]])
    out = metrics.area_under_curve([0.0, 1.0, 3.0], y)
    assert out.shape == (3,)
    np.testing.assert_allclose(out, [5.0, 3.0, 2.0], rtol=1e-15)


def test_area_under_curve_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError, match="points"):
        metrics.area_under_curve([0.0, 1.0, 2.0], [1.0, 2.0])


# --------------------------------------------------------------------------------------------
# steps_to_threshold
# --------------------------------------------------------------------------------------------


def test_steps_to_threshold_1d() -> None:
    steps = [10, 20, 30, 40]
    returns = [0.0, 0.5, 1.0, 0.8]
    # First index with return >= threshold: 0.9 -> index 2 (step 30); >= is inclusive, so 1.0
    # also gives step 30; 0.5 gives step 20; -1 is met at once (step 10).
    assert metrics.steps_to_threshold(steps, returns, 0.9) == 30.0
    assert metrics.steps_to_threshold(steps, returns, 1.0) == 30.0
    assert metrics.steps_to_threshold(steps, returns, 0.5) == 20.0
    assert metrics.steps_to_threshold(steps, returns, -1.0) == 10.0
    # The return falls back to 0.8 after step 30, but the first crossing is what counts.
    assert metrics.steps_to_threshold(steps, returns, 0.7) == 30.0


def test_steps_to_threshold_never_reached_is_nan() -> None:
    out = metrics.steps_to_threshold([10, 20, 30], [0.0, 1.0, 2.0], 5.0)
    assert np.ndim(out) == 0
    assert math.isnan(float(out))


def test_steps_to_threshold_per_column() -> None:
    steps = [10, 20, 30, 40]
    returns = np.array([
        [0.0, 5.0, 0.0],
        [1.0, 5.0, 0.0],
        [2.0, 5.0, 0.0],
        [3.0, 5.0, 0.0],
    ])
    # Threshold 2: column 0 reaches 2 at index 2 (step 30); column 1 at index 0 (step 10);
    # column 2 never -> NaN.
    out = metrics.steps_to_threshold(steps, returns, 2.0)
    assert out.shape == (3,)
    np.testing.assert_array_equal(out[:2], [30.0, 10.0])
    assert math.isnan(out[2])


# --------------------------------------------------------------------------------------------
# interquartile_mean and aggregate_mean
# --------------------------------------------------------------------------------------------


def test_iqm_of_0_to_7_pooled() -> None:
    # 8 values, 25% cut each side = int(0.25 * 8) = 2 values: keep 2, 3, 4, 5 -> mean 3.5.
    scores = np.arange(8.0).reshape(2, 4)  # (runs, tasks)
    assert metrics.interquartile_mean(scores) == pytest.approx(3.5, rel=1e-15)
    # Pooling ignores layout and order.
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(np.arange(8.0)).reshape(4, 2)
    assert metrics.interquartile_mean(shuffled) == pytest.approx(3.5, rel=1e-15)


def test_iqm_ignores_outliers() -> None:
    # Sorted: -100, 1, 2, 3, 4, 5, 6, 100; drop 2 each side -> 2, 3, 4, 5 -> 3.5.
    x = np.array([[1.0, 2.0, 3.0, 4.0], [100.0, -100.0, 5.0, 6.0]])
    assert metrics.interquartile_mean(x) == pytest.approx(3.5, rel=1e-15)
    # 0..9: cut int(0.25 * 10) = 2 each side, keep 2..7 -> mean 4.5.
    assert metrics.interquartile_mean(np.arange(10.0)) == pytest.approx(4.5, rel=1e-15)


def test_iqm_along_axis_per_task() -> None:
    # 4 runs per task: cut int(0.25 * 4) = 1 each side.
    # Task 0 (0, 1, 2, 3) -> mean(1, 2) = 1.5; task 1 (10, 11, 12, 13) -> mean(11, 12) = 11.5.
    scores = np.array([[0.0, 10.0], [3.0, 13.0], [1.0, 11.0], [2.0, 12.0]])
    np.testing.assert_allclose(metrics.interquartile_mean(scores, axis=0), [1.5, 11.5])


def test_aggregate_mean() -> None:
    # Task means: (1 + 3) / 2 = 2 and (2 + 6) / 2 = 4; mean over tasks 3.
    assert metrics.aggregate_mean([[1.0, 2.0], [3.0, 6.0]]) == pytest.approx(3.0, rel=1e-15)
    # Three runs, one task: (1 + 2 + 6) / 3 = 3.
    assert metrics.aggregate_mean([[1.0], [2.0], [6.0]]) == pytest.approx(3.0, rel=1e-15)


# --------------------------------------------------------------------------------------------
# bootstrap_mean_ci
# --------------------------------------------------------------------------------------------


def _normal_sample(n: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc=1.0, scale=2.0, size=n)


def test_bootstrap_mean_ci_reproducible_bit_for_bit() -> None:
    x = _normal_sample(40)
    first = metrics.bootstrap_mean_ci(x, n_boot=500, random_state=11)
    second = metrics.bootstrap_mean_ci(x, n_boot=500, random_state=11)
    assert first[0].tobytes() == second[0].tobytes()
    assert first[1].tobytes() == second[1].tobytes()
    # An int seed and a fresh Generator from that seed are the same stream.
    third = metrics.bootstrap_mean_ci(x, n_boot=500, random_state=np.random.default_rng(11))
    assert first[0] == third[0] and first[1] == third[1]
    other = metrics.bootstrap_mean_ci(x, n_boot=500, random_state=12)
    assert (first[0], first[1]) != (other[0], other[1])


def test_bootstrap_mean_ci_contains_the_mean() -> None:
    for seed in range(5):
        x = _normal_sample(25, seed)
        low, high = metrics.bootstrap_mean_ci(x, n_boot=1000, random_state=seed)
        assert low < x.mean() < high


def test_bootstrap_mean_ci_constant_data_is_degenerate_up_to_rounding() -> None:
    for c, n in [(0.7, 10), (2.0, 10), (-3.25, 7), (1.0, 100)]:
        low, high = metrics.bootstrap_mean_ci(np.full(n, c), n_boot=500, random_state=0)
        assert low == pytest.approx(c, rel=1e-12)
        assert high == pytest.approx(c, rel=1e-12)


@pytest.mark.parametrize(("c", "n"), [(0.5, 4), (3.0, 8), (2.0, 10), (1.0, 10)])
def test_bootstrap_mean_ci_constant_data_is_exactly_degenerate(c: float, n: int) -> None:
    # Every resample of n copies of c is n copies of c, whose mean is c exactly (c * n is exact
    # and so is the division by n for these values): the interval must be [c, c] bit for bit.
    # Known to fail for n = 10: the resampled means are formed as sums of weights 1/n (0.1 is
    # not exact), e.g. (2.0, 10) gives (2.0, 2.0000000000000004), and (1.0, 10) gives
    # (1.0, 1.0000000000000002); on many (c, n) the interval excludes np.mean(x) by an ulp.
    x = np.full(n, c)
    assert x.mean() == c
    low, high = metrics.bootstrap_mean_ci(x, random_state=0)
    assert float(low) == c
    assert float(high) == c


def test_bootstrap_mean_ci_width_shrinks_with_n() -> None:
    # Width ~ 2 * 1.96 * sigma / sqrt(n): 10x more runs -> about sqrt(10) ~ 3.2x narrower.
    widths = []
    for n in (10, 100, 1000):
        low, high = metrics.bootstrap_mean_ci(_normal_sample(n), n_boot=1000, random_state=1)
        widths.append(float(high - low))
    assert widths[0] > 2.0 * widths[1] > 4.0 * widths[2]
    # n = 1000, sigma = 2: 2 * 1.96 * 2 / sqrt(1000) ~ 0.248.
    assert widths[2] == pytest.approx(2 * 1.96 * 2.0 / math.sqrt(1000), rel=0.15)


def test_bootstrap_mean_ci_higher_level_is_wider() -> None:
    x = _normal_sample(50)
    lo90, hi90 = metrics.bootstrap_mean_ci(x, level=0.90, random_state=3)
    lo99, hi99 = metrics.bootstrap_mean_ci(x, level=0.99, random_state=3)
    assert lo99 < lo90 and hi90 < hi99


def test_bootstrap_mean_ci_vectorised_rows_match_single_rows() -> None:
    # The (n_boot, n) resampling indices are drawn once per call and shared by all rows, and the
    # draw does not depend on the number of rows. So row i of a (G, n) call uses the same
    # resamples as a call on row i alone with the same random_state: equal up to rounding of
    # the matrix product (BLAS sums in another order; differences of ~1e-16 are seen, so this
    # is not bit for bit).
    x = np.random.default_rng(1).normal(size=(6, 25))
    low, high = metrics.bootstrap_mean_ci(x, n_boot=800, random_state=3)
    assert low.shape == high.shape == (6,)
    for i in range(6):
        low_i, high_i = metrics.bootstrap_mean_ci(x[i], n_boot=800, random_state=3)
        assert low_i.shape == high_i.shape == ()
        assert float(low_i) == pytest.approx(float(low[i]), rel=0, abs=1e-12)
        assert float(high_i) == pytest.approx(float(high[i]), rel=0, abs=1e-12)


def test_bootstrap_mean_ci_rows_share_resamples() -> None:
    # Because all rows see the same resamples, an affine copy of a row (2 x + 1, with a positive
    # slope so quantiles map onto quantiles) gets the affine image of that row's interval.
    x = _normal_sample(30)
    low, high = metrics.bootstrap_mean_ci(np.stack([x, 2.0 * x + 1.0]), random_state=5)
    assert low[1] == pytest.approx(2.0 * low[0] + 1.0, rel=1e-12)
    assert high[1] == pytest.approx(2.0 * high[0] + 1.0, rel=1e-12)


def test_bootstrap_mean_ci_keeps_leading_shape() -> None:
    x = np.random.default_rng(2).normal(size=(2, 3, 9))
    low, high = metrics.bootstrap_mean_ci(x, n_boot=100, random_state=0)
    assert low.shape == high.shape == (2, 3)
    assert np.all(low <= high)


def test_bootstrap_mean_ci_coverage_of_known_mean() -> None:
    # 200 independent N(3, 2^2) samples of 30 runs; a 95% interval should cover 3 in ~95% of
    # them (the percentile bootstrap under-covers a little at n = 30, ~93%). Binomial sd of the
    # rate at 200 trials is ~0.015, so [0.90, 0.99] is a wide margin.
    true_mean = 3.0
    rng = np.random.default_rng(2024)
    covered = 0
    trials = 200
    for k in range(trials):
        x = rng.normal(true_mean, 2.0, size=30)
        low, high = metrics.bootstrap_mean_ci(x, level=0.95, n_boot=1000, random_state=k)
        covered += bool(low <= true_mean <= high)
    assert 0.90 <= covered / trials <= 0.99


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5, 1.5])
def test_bootstrap_mean_ci_rejects_bad_level(level: float) -> None:
    with pytest.raises(ValueError, match="level"):
        metrics.bootstrap_mean_ci([1.0, 2.0, 3.0], level=level)


@pytest.mark.parametrize("values", [[], np.empty((3, 0))])
def test_bootstrap_mean_ci_rejects_empty(values: object) -> None:
    with pytest.raises(ValueError, match="runs on the last axis"):
        metrics.bootstrap_mean_ci(values)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# stratified_bootstrap_ci
# --------------------------------------------------------------------------------------------


def _scores(n_runs: int = 10, n_tasks: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(loc=np.arange(n_tasks), scale=1.0, size=(n_runs, n_tasks))


def test_stratified_bootstrap_reproducible_bit_for_bit() -> None:
    s = _scores()
    a = metrics.stratified_bootstrap_ci(s, metrics.interquartile_mean, n_boot=300,
                                        random_state=4)
    b = metrics.stratified_bootstrap_ci(s, metrics.interquartile_mean, n_boot=300,
                                        random_state=4)
    assert a == b
    c = metrics.stratified_bootstrap_ci(s, metrics.interquartile_mean, n_boot=300,
                                        random_state=5)
    assert c[0] == a[0]  # the point estimate does not depend on the seed
    assert c[1:] != a[1:]


@pytest.mark.parametrize("statistic", [metrics.interquartile_mean, metrics.aggregate_mean])
def test_stratified_bootstrap_point_and_interval(statistic) -> None:  # type: ignore[no-untyped-def]
    s = _scores()
    point, low, high = metrics.stratified_bootstrap_ci(s, statistic, n_boot=500, random_state=0)
    assert point == float(statistic(s))
    assert low < point < high


def test_stratified_bootstrap_constant_scores_are_degenerate() -> None:
    # Every resample of a constant matrix is that matrix, so the statistic never changes.
    s = np.full((6, 3), 0.7)
    point, low, high = metrics.stratified_bootstrap_ci(s, metrics.aggregate_mean, n_boot=200,
                                                       random_state=0)
    assert low == high == point
    assert point == pytest.approx(0.7, rel=1e-15)


def test_stratified_bootstrap_constant_task_contributes_a_constant() -> None:
    # Task 0: all runs 2.0. Task 1: runs 0..7. Resampling within task 0 always gives 2.0, so the
    # bootstrap distribution of task 0's mean is the single value 2.0; task 1's is not.
    s = np.column_stack([np.full(8, 2.0), np.arange(8.0)])
    task0 = metrics.stratified_bootstrap_ci(s, lambda m: np.mean(m[:, 0]), n_boot=300,
                                            random_state=1)
    assert task0 == (2.0, 2.0, 2.0)
    point1, low1, high1 = metrics.stratified_bootstrap_ci(s, lambda m: np.mean(m[:, 1]),
                                                          n_boot=300, random_state=1)
    assert point1 == 3.5  # (0 + ... + 7) / 8
    assert low1 < 3.5 < high1


def test_stratified_bootstrap_resamples_runs_within_each_task() -> None:
    # Task 0 takes values in {0, 1, 2}, task 1 in {10, 11, 12}: every resampled column must keep
    # to its own task's values and keep the number of runs.
    s = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0]])
    seen: list[np.ndarray] = []

    def record(m: np.ndarray) -> float:
        seen.append(np.array(m, copy=True))
        return float(np.mean(m))

    metrics.stratified_bootstrap_ci(s, record, n_boot=100, random_state=0)
    assert len(seen) == 101  # the point estimate plus n_boot resamples
    for m in seen:
        assert m.shape == (3, 2)
        assert set(m[:, 0].tolist()) <= {0.0, 1.0, 2.0}
        assert set(m[:, 1].tolist()) <= {10.0, 11.0, 12.0}
    # Runs are drawn with replacement: some resample repeats a run.
    assert any(len(set(m[:, 0].tolist())) < 3 for m in seen[1:])


def test_stratified_bootstrap_draws_tasks_independently() -> None:
    # Two identical tasks. Resampling whole rows (one run index for all tasks) would keep the
    # columns equal, so mean(col 0 - col 1) would always be 0. Independent per-task resampling
    # breaks the pairing, so the bootstrap spread of that difference is not zero.
    col = np.arange(6.0)
    s = np.column_stack([col, col])
    point, low, high = metrics.stratified_bootstrap_ci(
        s, lambda m: np.mean(m[:, 0] - m[:, 1]), n_boot=300, random_state=0)
    assert point == 0.0
    assert low < 0.0 < high


def test_stratified_bootstrap_width_shrinks_with_runs() -> None:
    widths = []
    for n_runs in (5, 80):
        _, low, high = metrics.stratified_bootstrap_ci(_scores(n_runs), metrics.aggregate_mean,
                                                       n_boot=300, random_state=0)
        widths.append(high - low)
    # sqrt(80 / 5) = 4x narrower in expectation.
    assert widths[1] < widths[0] / 2.0


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), ()])
def test_stratified_bootstrap_rejects_non_2d(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="runs, tasks"):
        metrics.stratified_bootstrap_ci(np.zeros(shape), metrics.aggregate_mean, n_boot=10)


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5, 1.5])
def test_stratified_bootstrap_rejects_bad_level(level: float) -> None:
    # Known to fail for 0.0, 1.0 and -0.5: only bootstrap_mean_ci checks the level. Level 1
    # returns (min, max), level 0 the median twice, level -0.5 an inverted interval
    # (low > high). 1.5 passes, but only because np.quantile raises ("Quantiles must be in the
    # range [0, 1]") after all resamples are done.
    with pytest.raises(ValueError):
        metrics.stratified_bootstrap_ci(_scores(), metrics.aggregate_mean, level=level,
                                        n_boot=20)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0)])
def test_stratified_bootstrap_rejects_empty(shape: tuple[int, int]) -> None:
    # Known to fail: empty scores return (nan, nan, nan) with a RuntimeWarning.
    with pytest.raises(ValueError):
        metrics.stratified_bootstrap_ci(np.empty(shape), metrics.aggregate_mean, n_boot=10)


# --------------------------------------------------------------------------------------------
# Cross-check against rliable (skipped when it is not importable)
# --------------------------------------------------------------------------------------------


def _rliable():  # type: ignore[no-untyped-def]
    try:
        from rliable import library
        from rliable import metrics as rly_metrics
    except Exception as exc:  # rliable's arch dependency fails to import with pandas 3
        pytest.skip(f"rliable not importable: {exc!r}")
    return library, rly_metrics


def test_iqm_and_mean_agree_with_rliable() -> None:
    _, rly = _rliable()
    for n_runs, n_tasks in [(2, 4), (5, 3), (10, 7)]:
        s = _scores(n_runs, n_tasks, seed=n_runs)
        assert metrics.interquartile_mean(s) == pytest.approx(rly.aggregate_iqm(s), rel=1e-14)
        assert metrics.aggregate_mean(s) == pytest.approx(rly.aggregate_mean(s), rel=1e-14)


def test_stratified_bootstrap_agrees_with_rliable() -> None:
    library, rly = _rliable()
    s = _scores(12, 5, seed=3)
    point, low, high = metrics.stratified_bootstrap_ci(s, metrics.interquartile_mean,
                                                       n_boot=3000, random_state=0)
    points, intervals = library.get_interval_estimates(
        {"a": s}, lambda m: np.array([rly.aggregate_iqm(m)]), reps=3000,
        random_state=np.random.RandomState(0))
    assert point == pytest.approx(float(points["a"][0]), rel=1e-14)
    # Different random streams: the percentile endpoints agree to Monte Carlo error only.
    width = high - low
    assert low == pytest.approx(float(intervals["a"][0, 0]), abs=0.1 * width)
    assert high == pytest.approx(float(intervals["a"][1, 0]), abs=0.1 * width)


# --------------------------------------------------------------------------------------------
# theory.bandits reference curves
# --------------------------------------------------------------------------------------------


def test_ucb_worst_case_bound_by_hand() -> None:
    # sqrt(K T log T): K = 2, T = 1 -> 0; K = 4, T = e^2 -> sqrt(4 e^2 * 2) = 2 e sqrt(2);
    # K = 10, T = 100 -> sqrt(1000 log 100) ~ 67.86.
    assert theory.ucb_worst_case_bound(2, 1) == pytest.approx(0.0, abs=1e-15)
    assert theory.ucb_worst_case_bound(4, math.e**2) == pytest.approx(
        2 * math.e * math.sqrt(2), rel=1e-14)
    assert theory.ucb_worst_case_bound(10, 100) == pytest.approx(67.86, abs=0.01)
    np.testing.assert_allclose(
        theory.ucb_worst_case_bound(10, [1, 100]), [0.0, math.sqrt(1000 * math.log(100))],
        rtol=1e-14)


def test_minimax_reference_by_hand() -> None:
    # sqrt(K T): sqrt(4 * 25) = 10, sqrt(10 * 1000) = 100, sqrt(2 * 8) = 4.
    assert theory.minimax_reference(4, 25) == pytest.approx(10.0, rel=1e-15)
    assert theory.minimax_reference(10, 1000) == pytest.approx(100.0, rel=1e-15)
    np.testing.assert_allclose(theory.minimax_reference(2, [8, 50]), [4.0, 10.0], rtol=1e-15)
    # The UCB order exceeds the minimax rate by sqrt(log T) exactly.
    t = np.array([10.0, 1e3, 1e6])
    np.testing.assert_allclose(theory.ucb_worst_case_bound(3, t) / theory.minimax_reference(3, t),
                               np.sqrt(np.log(t)), rtol=1e-14)


def test_lai_robbins_gaussian_constant_is_sum_of_two_sigma_squared_over_gap() -> None:
    # Gaussian KL = Delta^2 / (2 sigma^2), so Delta / KL = 2 sigma^2 / Delta per arm.
    # means (1, 0.5, 0, 1), sigma = 2: the tied arm adds nothing; gaps 0.5 and 1 give
    # 2 * 4 / 0.5 + 2 * 4 / 1 = 16 + 8 = 24.
    assert theory.lai_robbins_constant([1.0, 0.5, 0.0, 1.0], "gaussian", sigma=2.0) == (
        pytest.approx(24.0, rel=1e-14))
    # sigma = 0.5, gaps 0.25, 0.5, 1: 2 * 0.25 * (4 + 2 + 1) = 3.5.
    assert theory.lai_robbins_constant([1.0, 0.75, 0.5, 0.0], "gaussian", sigma=0.5) == (
        pytest.approx(3.5, rel=1e-14))
    # Bound = C log T: C = 4 (one arm, gap 0.5, sigma 1) at T = e^3 -> 12.
    assert theory.lai_robbins_bound([1.0, 0.5], math.e**3, "gaussian") == pytest.approx(12.0)


def test_bootstrap_mean_ci_rejects_a_scalar() -> None:
    with pytest.raises(ValueError, match="runs on the last axis"):
        metrics.bootstrap_mean_ci(5.0)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 13, 100])
def test_interquartile_mean_equals_scipy_trim_mean(n: int) -> None:
    from scipy import stats

    x = np.random.default_rng(n).normal(size=(n, 3))
    np.testing.assert_allclose(metrics.interquartile_mean(x, axis=0),
                               stats.trim_mean(x, 0.25, axis=0), rtol=1e-12)
    assert metrics.interquartile_mean(x) == pytest.approx(stats.trim_mean(x.ravel(), 0.25))


def test_shared_value() -> None:
    assert metrics.shared_value([2.5, 2.5, 2.5]) == 2.5
    assert metrics.shared_value([2.5, 2.6]) is None
    assert metrics.shared_value([np.nan, np.nan]) is None
    assert metrics.shared_value([]) is None


# --------------------------------------------------------------------------------------------
# aggregate_median, optimality_gap, performance_profile, probability_of_improvement
# (rliable's remaining estimators; Agarwal et al. 2021)
# --------------------------------------------------------------------------------------------

# (runs, tasks) = (2, 2), dyadic values so every expected number below is exact in binary.
# Task 0 has runs 0.25 and 0.5 (mean 0.375), task 1 has runs 1.0 and 1.5 (mean 1.25).
_TINY = np.array([[0.25, 1.0], [0.5, 1.5]])


def test_aggregate_median_by_hand() -> None:
    # Task means 0.375 and 1.25; the median of two values is their midpoint 0.8125.
    assert metrics.aggregate_median(_TINY) == 0.8125
    # Three tasks with means 1, 5, 2 -> median 2 (the outlying task 1 does not move it).
    assert metrics.aggregate_median([[0.0, 4.0, 2.0], [2.0, 6.0, 2.0]]) == 2.0


def test_optimality_gap_by_hand() -> None:
    # gamma = 1: shortfalls max(1 - s, 0) = 0.75, 0, 0.5, 0 -> 1.25 / 4 = 0.3125 (the 1.5 above
    # gamma earns nothing extra).
    assert metrics.optimality_gap(_TINY) == 0.3125
    assert metrics.optimality_gap(_TINY, gamma=1.0) == 0.3125
    # gamma = 0.5: only 0.25 falls short, by 0.25 -> 0.25 / 4 = 0.0625.
    assert metrics.optimality_gap(_TINY, 0.5) == 0.0625
    # gamma = 2: 1.75 + 1.5 + 1 + 0.5 = 4.75 -> 1.1875.
    assert metrics.optimality_gap(_TINY, 2.0) == 1.1875
    # gamma at or below every score: no gap at all.
    assert metrics.optimality_gap(_TINY, 0.25) == 0.0
    assert metrics.optimality_gap(_TINY, -3.0) == 0.0


def test_optimality_gap_of_negated_regret() -> None:
    # Regret is lower-is-better: pass -regret and gamma = 0 (zero regret). Regrets 0, 2, 4, 6
    # -> shortfalls 0, 2, 4, 6 -> mean 3, the mean regret.
    regret = np.array([[0.0, 2.0], [4.0, 6.0]])
    assert metrics.optimality_gap(-regret, gamma=0.0) == 3.0


def test_optimality_gap_interval_via_stratified_bootstrap() -> None:
    s = _scores(10, 4, seed=1)
    point, low, high = metrics.stratified_bootstrap_ci(s, metrics.optimality_gap, n_boot=300,
                                                       random_state=0)
    assert point == float(metrics.optimality_gap(s))
    assert 0.0 <= low < point < high
    # Scores all above gamma: every resample has gap 0.
    assert metrics.stratified_bootstrap_ci(s + 10.0, metrics.optimality_gap, n_boot=50) == (
        0.0, 0.0, 0.0)


def test_performance_profile_run_score_by_hand() -> None:
    # Scores 0.25, 0.5, 1.0, 1.5; fraction strictly above tau:
    # tau 0 -> 4/4; 0.25 -> 3/4 (0.25 itself does not count); 0.5 -> 2/4; 1.0 -> 1/4;
    # 1.5 -> 0; 0.75 -> 2/4.
    taus = [0.0, 0.25, 0.5, 1.0, 1.5, 0.75]
    out = metrics.performance_profile(_TINY, taus)
    assert out.shape == (6,)
    np.testing.assert_array_equal(out, [1.0, 0.75, 0.5, 0.25, 0.0, 0.5])
    np.testing.assert_array_equal(metrics.performance_profile(_TINY, taus, method="run"), out)
    # A scalar tau gives one value.
    np.testing.assert_array_equal(metrics.performance_profile(_TINY, 0.25), [0.75])


def test_performance_profile_average_score_by_hand() -> None:
    # Task means 0.375 and 1.25: tau 0 -> 2/2; 0.375 -> 1/2 (equal does not count);
    # 1.0 -> 1/2; 1.25 -> 0; 2 -> 0.
    out = metrics.performance_profile(_TINY, [0.0, 0.375, 1.0, 1.25, 2.0], method="average")
    np.testing.assert_array_equal(out, [1.0, 0.5, 0.5, 0.0, 0.0])


def test_performance_profile_ci_bands() -> None:
    s = _scores(10, 4, seed=2)
    taus = np.linspace(-2.0, 5.0, 15)
    profile, low, high = metrics.performance_profile_ci(s, taus, n_boot=300, random_state=0)
    assert profile.shape == low.shape == high.shape == (15,)
    np.testing.assert_array_equal(profile, metrics.performance_profile(s, taus))
    assert np.all(low <= profile) and np.all(profile <= high)
    assert np.all((0.0 <= low) & (high <= 1.0))
    # Reproducible, and a Generator from the same seed is the same stream.
    again = metrics.performance_profile_ci(s, taus, n_boot=300,
                                           random_state=np.random.default_rng(0))
    for a, b in zip((profile, low, high), again, strict=True):
        assert a.tobytes() == b.tobytes()
    # Where every score is above (or below) tau, every resample agrees: a zero-width band.
    assert low[0] == high[0] == 1.0 and low[-1] == high[-1] == 0.0
    avg, avg_low, avg_high = metrics.performance_profile_ci(s, taus, method="average",
                                                            n_boot=300, random_state=0)
    np.testing.assert_array_equal(avg, metrics.performance_profile(s, taus, method="average"))
    assert np.all(avg_low <= avg) and np.all(avg <= avg_high)


def test_performance_profile_ci_constant_scores_are_degenerate() -> None:
    profile, low, high = metrics.performance_profile_ci(np.full((5, 3), 0.5), [0.0, 0.5, 1.0],
                                                        n_boot=100)
    np.testing.assert_array_equal(profile, [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(low, profile)
    np.testing.assert_array_equal(high, profile)


def test_probability_of_improvement_by_hand() -> None:
    # Task 0: X runs {1, 3}, Y runs {1, 2}. Pairs (x, y): (1, 1) tie -> 1/2, (1, 2) -> 0,
    # (3, 1) -> 1, (3, 2) -> 1: 2.5 / 4 = 0.625.
    # Task 1: X and Y both {0, 0}: all four pairs tie -> 0.5. Mean over tasks 0.5625.
    x = np.array([[1.0, 0.0], [3.0, 0.0]])
    y = np.array([[1.0, 0.0], [2.0, 0.0]])
    assert metrics.probability_of_improvement(x, y) == 0.5625
    # P(Y > X): task 0 (1,1) 1/2, (2,1) 1, (1,3) 0, (2,3) 0 -> 1.5 / 4 = 0.375; task 1 0.5;
    # mean 0.4375 = 1 - 0.5625.
    assert metrics.probability_of_improvement(y, x) == 0.4375


def test_probability_of_improvement_different_run_counts() -> None:
    # One task, X runs {1, 2, 3} (3 runs) and Y runs {0, 2} (2 runs): 6 pairs.
    # x = 1: beats 0 (1), loses to 2 (0); x = 2: beats 0 (1), ties 2 (1/2); x = 3: 1, 1.
    # Total 4.5 / 6 = 0.75.
    x = np.array([[1.0], [2.0], [3.0]])
    y = np.array([[0.0], [2.0]])
    assert metrics.probability_of_improvement(x, y) == 0.75
    assert metrics.probability_of_improvement(y, x) == 0.25
    # An algorithm against itself: 1/2 by symmetry, ties or not.
    assert metrics.probability_of_improvement(x, x) == 0.5
    # Dominance: every X run above every Y run.
    assert metrics.probability_of_improvement(x + 10.0, x) == 1.0


def test_probability_of_improvement_is_antisymmetric_and_matches_mannwhitneyu() -> None:
    from scipy import stats

    rng = np.random.default_rng(5)
    # Integer scores so that ties are common.
    x = rng.integers(0, 4, size=(7, 5)).astype(float)
    y = rng.integers(0, 4, size=(4, 5)).astype(float)
    p_xy = float(metrics.probability_of_improvement(x, y))
    p_yx = float(metrics.probability_of_improvement(y, x))
    assert p_xy + p_yx == pytest.approx(1.0, abs=1e-15)
    u = [stats.mannwhitneyu(x[:, m], y[:, m]).statistic / (7 * 4) for m in range(5)]
    assert p_xy == pytest.approx(float(np.mean(u)), abs=1e-15)


def test_probability_of_improvement_of_negated_regret() -> None:
    # Lower regret is better: X has regrets {1, 2}, Y {3, 4}, so X is better in every pair;
    # P(X > Y) on -regret is 1, on the raw regrets 0.
    rx = np.array([[1.0], [2.0]])
    ry = np.array([[3.0], [4.0]])
    assert metrics.probability_of_improvement(-rx, -ry) == 1.0
    assert metrics.probability_of_improvement(rx, ry) == 0.0


def test_probability_of_improvement_ci() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0.5, 1.0, size=(10, 4))
    y = rng.normal(0.0, 1.0, size=(8, 4))
    point, low, high = metrics.probability_of_improvement_ci(x, y, n_boot=300, random_state=0)
    assert point == float(metrics.probability_of_improvement(x, y))
    assert 0.0 <= low < point < high <= 1.0
    assert metrics.probability_of_improvement_ci(x, y, n_boot=300, random_state=0) == (
        point, low, high)
    # Complete dominance survives every resample.
    assert metrics.probability_of_improvement_ci(x + 100.0, y, n_boot=50) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("shape", [(4,), (2, 2, 2), (), (0, 3), (3, 0)])
def test_new_estimators_reject_non_matrix_scores(shape: tuple[int, ...]) -> None:
    bad = np.zeros(shape)
    good = np.zeros((3, 2))  # the shape checks come before the task-count check
    with pytest.raises(ValueError, match=r"scores must be a non-empty \(runs, tasks\)"):
        metrics.optimality_gap(bad)
    with pytest.raises(ValueError, match=r"scores must be a non-empty \(runs, tasks\)"):
        metrics.aggregate_median(bad)
    with pytest.raises(ValueError, match=r"scores must be a non-empty \(runs, tasks\)"):
        metrics.performance_profile(bad, [0.0])
    with pytest.raises(ValueError, match=r"scores must be a non-empty \(runs, tasks\)"):
        metrics.performance_profile_ci(bad, [0.0], n_boot=10)
    with pytest.raises(ValueError, match=r"scores_x must be a non-empty"):
        metrics.probability_of_improvement(bad, good)
    with pytest.raises(ValueError, match=r"scores_y must be a non-empty"):
        metrics.probability_of_improvement(good, bad)
    with pytest.raises(ValueError, match=r"scores_x must be a non-empty"):
        metrics.probability_of_improvement_ci(bad, good, n_boot=10)


def test_new_estimators_reject_nan_scores() -> None:
    s = _TINY.copy()
    s[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN \(at \(run, task\) \(1, 0\)\)"):
        metrics.optimality_gap(s)
    with pytest.raises(ValueError, match="NaN"):
        metrics.performance_profile(s, [0.0])
    with pytest.raises(ValueError, match="scores_y contain NaN"):
        metrics.probability_of_improvement(_TINY, s)


def test_new_estimators_reject_bad_options() -> None:
    with pytest.raises(ValueError, match="'median'"):
        metrics.performance_profile(_TINY, [0.0], method="median")
    with pytest.raises(ValueError, match="'median'"):
        metrics.performance_profile_ci(_TINY, [0.0], method="median")
    with pytest.raises(ValueError, match=r"taus .* got shape \(2, 1\)"):
        metrics.performance_profile(_TINY, [[0.0], [1.0]])
    with pytest.raises(ValueError, match=r"taus .* got shape \(0,\)"):
        metrics.performance_profile(_TINY, [])
    with pytest.raises(ValueError, match="taus contain NaN"):
        metrics.performance_profile(_TINY, [0.0, np.nan])
    with pytest.raises(ValueError, match="gamma must be finite, got nan"):
        metrics.optimality_gap(_TINY, gamma=float("nan"))
    with pytest.raises(ValueError, match="gamma must be finite, got inf"):
        metrics.optimality_gap(_TINY, gamma=float("inf"))
    with pytest.raises(ValueError, match="scores_x has 2 tasks, scores_y has 3"):
        metrics.probability_of_improvement(_TINY, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="scores_x has 2 tasks, scores_y has 3"):
        metrics.probability_of_improvement_ci(_TINY, np.zeros((2, 3)))
    for level in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=f"level must be in \\(0, 1\\), got {level}"):
            metrics.performance_profile_ci(_TINY, [0.0], level=level)
        with pytest.raises(ValueError, match=f"level must be in \\(0, 1\\), got {level}"):
            metrics.probability_of_improvement_ci(_TINY, _TINY, level=level)
    for ci in (lambda: metrics.performance_profile_ci(_TINY, [0.0], n_boot=0),
               lambda: metrics.probability_of_improvement_ci(_TINY, _TINY, n_boot=0),
               lambda: metrics.stratified_bootstrap_ci(_TINY, metrics.aggregate_mean,
                                                       n_boot=0)):
        with pytest.raises(ValueError, match="n_boot must be >= 1, got 0"):
            ci()


# --------------------------------------------------------------------------------------------
# Cross-check of the estimators above against rliable (skipped when it is not installed)
# --------------------------------------------------------------------------------------------


def _cross_check_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    cases = [(_TINY, _TINY[::-1] + 0.25)]
    for n_x, n_y, n_tasks in [(3, 3, 1), (5, 8, 4), (10, 10, 7)]:
        cases.append((rng.normal(0.6, 0.5, size=(n_x, n_tasks)),
                      rng.normal(0.5, 0.5, size=(n_y, n_tasks))))
        # Integer-valued scores: many ties within and across algorithms.
        cases.append((rng.integers(0, 3, size=(n_x, n_tasks)).astype(float),
                      rng.integers(0, 3, size=(n_y, n_tasks)).astype(float)))
    return cases


def test_new_estimators_agree_with_rliable_metrics() -> None:
    rly = pytest.importorskip("rliable.metrics")
    for x, y in _cross_check_cases():
        assert metrics.aggregate_median(x) == pytest.approx(rly.aggregate_median(x), rel=1e-14)
        for gamma in (0.0, 0.5, 1.0, 2.0):
            assert metrics.optimality_gap(x, gamma) == pytest.approx(
                rly.aggregate_optimality_gap(x, gamma), rel=1e-12, abs=1e-15)
        assert metrics.probability_of_improvement(x, y) == pytest.approx(
            rly.probability_of_improvement(x, y), rel=1e-14, abs=1e-15)
        assert metrics.probability_of_improvement(x, x) == pytest.approx(
            rly.probability_of_improvement(x, x), rel=1e-14)


def test_performance_profile_agrees_with_rliable() -> None:
    library, _ = _rliable()  # rliable.library: skipped when arch fails to import (pandas 3)
    for x, _y in _cross_check_cases():
        taus = np.concatenate([np.linspace(-1.0, 3.0, 17), np.unique(x)])  # ties with scores
        np.testing.assert_array_equal(metrics.performance_profile(x, taus),
                                      library.score_distributions(x, taus))
        np.testing.assert_array_equal(metrics.performance_profile(x, taus, method="average"),
                                      library.average_score_distributions(x, taus))


def test_profile_and_improvement_intervals_agree_with_rliable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    library, rly = _rliable()
    rng = np.random.default_rng(4)
    x = rng.normal(0.6, 0.5, size=(12, 5))
    y = rng.normal(0.4, 0.5, size=(9, 5))
    taus = np.linspace(-0.5, 1.5, 9)
    profile, low, high = metrics.performance_profile_ci(x, taus, n_boot=2000, random_state=0)
    points, intervals = library.get_interval_estimates(
        {"x": x}, lambda m: library.score_distributions(m, taus), reps=2000,
        random_state=np.random.RandomState(0))
    np.testing.assert_array_equal(profile, points["x"])
    # Different random streams: percentile endpoints agree to Monte Carlo error. The profile
    # takes values k / 60 (60 scores), so allow one step of 1/60 plus a little.
    np.testing.assert_allclose(low, intervals["x"][0], atol=1.5 / 60)
    np.testing.assert_allclose(high, intervals["x"][1], atol=1.5 / 60)

    point, p_low, p_high = metrics.probability_of_improvement_ci(x, y, n_boot=2000,
                                                                 random_state=0)
    # rliable's StratifiedIndependentBootstrap draws its indices with np.random.choice (the
    # global stream, ignoring random_state): give it a seeded one for this test only.
    monkeypatch.setattr(np.random, "choice", np.random.RandomState(0).choice)
    points, intervals = library.get_interval_estimates(
        {"xy": [x, y]}, rly.probability_of_improvement, reps=2000,
        random_state=np.random.RandomState(0))
    assert point == pytest.approx(float(points["xy"]), rel=1e-14)
    width = p_high - p_low
    assert p_low == pytest.approx(float(np.ravel(intervals["xy"])[0]), abs=0.1 * width)
    assert p_high == pytest.approx(float(np.ravel(intervals["xy"])[1]), abs=0.1 * width)


def test_difference_interval_paired_and_independent() -> None:
    from decisiongym.harness.metrics import difference_interval

    rng = np.random.default_rng(3)
    base = rng.normal(size=40)
    # Paired: a common offset of 1 with tiny noise sits inside a tight interval around 1.
    low, high = difference_interval(base + 1 + 0.01 * rng.normal(size=40), base)
    assert 0.99 < low < 1 < high < 1.01
    # Independent samples of different sizes: the interval covers the true gap of -2.
    low, high = difference_interval(rng.normal(-2, 1, 200), rng.normal(0, 1, 50),
                                    paired=False)
    assert low < -2 < high and high < 0
    with pytest.raises(ValueError, match="equal lengths"):
        difference_interval([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="non-finite"):
        difference_interval([1, np.nan], [1, 2])


def test_nan_mean_band_stays_inside_the_data_and_skips_missing_runs() -> None:
    from decisiongym.harness.metrics import nan_mean_band

    rng = np.random.default_rng(0)
    runs = rng.exponential(5.0, size=(30, 4)) + 1.0  # positive and skewed: steps per trial
    runs[20:, 3] = np.nan  # run 3 stopped early
    mean, low, high = nan_mean_band(runs)
    np.testing.assert_allclose(mean, np.nanmean(runs, axis=1))
    assert np.all(low <= mean + 1e-12) and np.all(mean <= high + 1e-12)
    # Percentile bootstrap of the mean: never below the smallest run (no clipping on log axes),
    # where a normal band (mean - 1.96 se) often goes below zero with 4 runs.
    assert np.all(low >= np.nanmin(runs, axis=1) - 1e-12)
    normal = mean - 1.96 * np.nanstd(runs, axis=1, ddof=1) / 2
    assert np.any(normal < 1.0) and np.all(low >= 1.0)
    one = nan_mean_band(runs[:, :1])
    np.testing.assert_array_equal(one[1], one[0])
