"""GAN closed forms (Dobriban (2019), sections 4.3-4.4), checked by numerical integration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from decisiongym.theory import gans

X = np.linspace(-12, 12, 24_001)


@pytest.mark.parametrize("shift,scale", [(0.0, 1.0), (1.0, 1.0), (2.5, 0.5), (4.0, 1.5)])
def test_equilibrium_value_is_twice_js_minus_log_4(shift: float, scale: float) -> None:
    p, q = norm.pdf(X), norm.pdf(X, loc=shift, scale=scale)
    c = gans.equilibrium_value(p, q, X)
    assert c == pytest.approx(2 * gans.js_divergence(p, q, X) - np.log(4), abs=1e-6)
    assert -np.log(4) - 1e-9 <= c <= 1e-9  # between its minimum and 0 (disjoint supports)


def test_the_optimal_discriminator_maximises_v() -> None:
    p, q = norm.pdf(X), norm.pdf(X, loc=1.5)
    best = gans.optimal_discriminator(p, q)
    v_best = gans.gan_value(best, p, q, X)
    rng = np.random.default_rng(0)
    for _ in range(20):  # any other discriminator does worse
        other = np.clip(best + rng.normal(0, 0.1, size=best.shape), 1e-9, 1 - 1e-9)
        assert gans.gan_value(other, p, q, X) < v_best
    # At p_G = p_n the discriminator cannot tell: D* = 1/2 and C = -log 4.
    np.testing.assert_allclose(gans.optimal_discriminator(p, p), 0.5)
    assert gans.equilibrium_value(p, p, X) == pytest.approx(-np.log(4), abs=1e-6)


def test_divergences_against_closed_forms() -> None:
    # KL between N(0, 1) and N(1, 2^2): log 2 + (1 + 1) / 8 - 1/2.
    p, q = norm.pdf(X), norm.pdf(X, loc=1, scale=2)
    assert gans.kl_divergence(p, q, X) == pytest.approx(np.log(2) + 2 / 8 - 0.5, abs=1e-6)
    # Total variation between N(0, 1) and N(1, 1): 2 Phi(1/2) - 1.
    assert gans.total_variation(p, norm.pdf(X, loc=1), X) == pytest.approx(
        2 * norm.cdf(0.5) - 1, abs=1e-6)
    # Disjoint supports: JS = log 2, KL infinite.
    u0 = ((X >= 0) & (X <= 1)).astype(float)
    u5 = ((X >= 5) & (X <= 6)).astype(float)
    assert gans.js_divergence(u0, u5, X) == pytest.approx(np.log(2), abs=2e-3)  # grid edges
    assert gans.kl_divergence(u0, u5, X) == np.inf


def test_parallel_lines() -> None:
    theta = np.array([-1.0, -0.1, 0.0, 0.2, 1.0])
    d = gans.parallel_lines_distances(theta)
    np.testing.assert_array_equal(d["total_variation"], [1, 1, 0, 1, 1])
    np.testing.assert_array_equal(d["js"], [np.log(2)] * 2 + [0] + [np.log(2)] * 2)
    assert np.isinf(d["kl"][[0, 1, 3, 4]]).all() and d["kl"][2] == 0
    np.testing.assert_array_equal(d["wasserstein"], np.abs(theta))
    # W1 from samples (an exact transport between empirical measures) approaches |theta|.
    for t in (0.5, 1.0, 2.0):
        estimate = gans.parallel_lines_wasserstein_estimate(t, n=300)
        assert abs(estimate) - t < 0.02 and estimate >= t


def test_bad_densities_are_refused() -> None:
    with pytest.raises(ValueError, match="same grid"):
        gans.js_divergence([1, 2], [1, 2, 3], [0, 1])
    with pytest.raises(ValueError, match="non-negative"):
        gans.kl_divergence([1, -1], [1, 1], [0, 1])
    with pytest.raises(ValueError, match="increasing"):
        gans.total_variation([1, 1], [1, 1], [1, 0])
