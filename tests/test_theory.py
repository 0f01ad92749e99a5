"""Closed forms checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from decisiongym import theory


def test_kl_bernoulli_known_values() -> None:
    # KL(0.4 || 0.5) = 0.4 log 0.8 + 0.6 log 1.2
    expected = 0.4 * math.log(0.8) + 0.6 * math.log(1.2)
    assert theory.kl_bernoulli(0.4, 0.5) == pytest.approx(expected, rel=1e-12)
    assert theory.kl_bernoulli(0.3, 0.3) == pytest.approx(0.0, abs=1e-15)
    assert theory.kl_bernoulli(0.0, 0.5) == pytest.approx(math.log(2), rel=1e-9)
    # Pinsker: KL >= 2 (p - q)^2
    p, q = np.meshgrid(np.linspace(0.01, 0.99, 30), np.linspace(0.01, 0.99, 30))
    assert np.all(theory.kl_bernoulli(p, q) >= 2 * (p - q) ** 2 - 1e-12)


def test_kl_gaussian() -> None:
    assert theory.kl_gaussian(0.0, 1.0, 2.0) == pytest.approx(1.0 / 8.0)


def test_lai_robbins_chapelle_li_constant() -> None:
    means = [0.5] + [0.4] * 9
    per_arm = 0.1 / (0.4 * math.log(0.8) + 0.6 * math.log(1.2))
    assert theory.lai_robbins_constant(means) == pytest.approx(9 * per_arm, rel=1e-12)
    assert theory.lai_robbins_bound(means, 10_000) == pytest.approx(
        9 * per_arm * math.log(10_000), rel=1e-12)
    # Gaussian: Delta / (Delta^2 / (2 sigma^2)) = 2 sigma^2 / Delta per arm.
    assert theory.lai_robbins_constant([1.0, 0.5], "gaussian", sigma=1.0) == pytest.approx(4.0)


def test_lai_robbins_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="means"):
        theory.lai_robbins_constant([0.5])
    with pytest.raises(ValueError, match="poisson"):
        theory.lai_robbins_constant([0.5, 0.4], family="poisson")  # type: ignore[arg-type]


def test_etc_optimal_m_is_the_notes_formula() -> None:
    gap, horizon = 0.2, 10_000
    expected = math.ceil(4 / gap**2 * math.log(horizon * gap**2 / 4))
    assert theory.etc_optimal_m(gap, horizon) == expected
    assert theory.etc_optimal_m(0.1, 10) == 1  # T Delta^2 / 4 < 1: explore once
    with pytest.raises(ValueError, match="gap"):
        theory.etc_optimal_m(0.0, 100)
    with pytest.raises(ValueError, match="horizon"):
        theory.etc_optimal_m(0.1, 0)


def test_etc_bound_optimal_m_not_worse_than_fixed_m() -> None:
    gap, horizon = 0.2, 10_000
    best = theory.etc_regret_bound(gap, horizon)
    for m in (1, 10, 100, 1000):
        assert best <= theory.etc_regret_bound(gap, horizon, m) + 1e-9
    assert best == pytest.approx(4 / gap * (math.log(horizon * gap**2 / 4) + 1) + gap)


def test_ucb1_bound_grows_like_log_t() -> None:
    b = theory.ucb1_regret_bound([0.9, 0.8], [10, 100, 1000])
    np.testing.assert_allclose(np.diff(b), 8 / 0.1 * math.log(10))
