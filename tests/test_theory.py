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


def test_etc_expected_regret_by_hand() -> None:
    # Two Gaussian arms, gap 0.2, T = 1000, m = 50: exploration 50 * 0.2 = 10; a wrong commitment
    # has probability Phi(-0.2 sqrt(50 / 2)) = Phi(-1) and costs 0.2 on each of 900 rounds.
    phi_minus_1 = 0.15865525393145707
    assert theory.etc_expected_regret(0.2, 1000, 50) == pytest.approx(10 + 180 * phi_minus_1,
                                                                        rel=1e-12)
    # sigma scales the noise: sigma = 2 is Phi(-0.5)
    assert theory.etc_expected_regret(0.2, 1000, 50, sigma=2.0) == pytest.approx(
        10 + 180 * 0.3085375387259869, rel=1e-12)
    with pytest.raises(ValueError, match="m <= T / 2"):
        theory.etc_expected_regret(0.2, 100, 60)
    with pytest.raises(ValueError, match="gap"):
        theory.etc_expected_regret(0.0, 100, 10)


def test_etc_expected_regret_is_below_the_notes_bound() -> None:
    """The notes' theorem (Dobriban (2019), section 5.2.1) holds for 1-sub-Gaussian arms, so
    the exact regret on N(mu, 1) arms is below it at every m and gap."""
    for horizon in (100, 1000, 10_000):
        for gap in (0.01, 0.05, 0.1, 0.3, 1.0):
            for m in (m for m in (1, 5, 20, 100, horizon // 2) if 2 * m <= horizon):
                exact = theory.etc_expected_regret(gap, horizon, m)
                assert exact <= theory.etc_regret_bound(gap, horizon, m) + 1e-9
            m_star = theory.etc_optimal_m(gap, horizon)
            if 2 * m_star <= horizon:
                assert theory.etc_expected_regret(gap, horizon, m_star) <= \
                    theory.etc_regret_bound(gap, horizon)


def test_etc_worst_case_bound_is_the_maximum_over_the_gap() -> None:
    for horizon in (10, 100, 1000, 16_000, 10**6):
        gaps = np.geomspace(1e-4, 1.0, 200_001)
        brute = max(theory.etc_regret_bound(float(g), horizon) for g in gaps[::50])
        fine = theory.etc_worst_case_bound(horizon)
        assert fine >= brute - 1e-9
        assert fine == pytest.approx(brute, rel=1e-4)
    # the notes' order T^(1/2): the maximum sits at T Delta^2 / 4 ~ e, where the bound is
    # 4 / Delta * 2 = 4 sqrt(T / e), plus Delta = 2 sqrt(e / T)
    t = 10**6
    assert theory.etc_worst_case_bound(t) == pytest.approx(
        4 * math.sqrt(t / math.e) + 2 * math.sqrt(math.e / t), rel=1e-5)
    with pytest.raises(ValueError, match="horizon"):
        theory.etc_worst_case_bound(0)


def test_ucb_notes_regret_bound_by_hand() -> None:
    # means (0.9, 0.8, 0.5): gaps 0.1 and 0.4
    expected = 24 * math.log(1000) * (1 / 0.1 + 1 / 0.4) + (1 + math.pi**2 / 3) * 0.5
    assert float(theory.ucb_notes_regret_bound([0.9, 0.8, 0.5], 1000)) == pytest.approx(
        expected, rel=1e-12)
    # three times UCB1's log term (the index's 6 log t against Auer et al.'s 2 log t)
    b = theory.ucb_notes_regret_bound([0.9, 0.8], [10, 100])
    a = theory.ucb1_regret_bound([0.9, 0.8], [10, 100])
    np.testing.assert_allclose(np.diff(b), 3 * np.diff(a))
    # arms tied with the best cost nothing
    assert float(theory.ucb_notes_regret_bound([0.5, 0.5, 0.4], 100)) == pytest.approx(
        24 * math.log(100) / 0.1 + (1 + math.pi**2 / 3) * 0.1)


def test_ucb_notes_worst_case_bound_covers_every_gap() -> None:
    k, t = 3, 10_000
    worst = float(theory.ucb_notes_worst_case_bound(k, t))
    assert worst == pytest.approx(2 * math.sqrt(24 * 2 * t * math.log(t))
                                  + (1 + math.pi**2 / 3) * 2)
    for gap in np.geomspace(1e-3, 1.0, 50):
        means = [gap, 0.0, 0.0]
        assert min(t * gap, float(theory.ucb_notes_regret_bound(means, t))) <= worst


def test_moss_bound_and_kl_ucb_plus_plus_exploration_by_hand() -> None:
    assert float(theory.moss_regret_bound(4, 10_000)) == pytest.approx(49 * 200)
    # y = T / (K n) = 1000 / (2 * 10) = 50: g = log(50 (1 + log(50)^2))
    g = theory.kl_ucb_plus_plus_exploration([10, 500, 1000], 2, 1000)
    assert g[0] == pytest.approx(math.log(50 * (1 + math.log(50) ** 2)), rel=1e-12)
    assert g[1] == 0.0  # y = 1: log(1 * (1 + 0)) = 0
    assert g[2] == 0.0  # y = 1/2: log+ clips at 0
