"""GANs (issue 13): toy data, metrics, players and the two-player game."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import torch

from decisiongym.gans.data import modes, sample_data
from decisiongym.gans.metrics import mode_coverage, wasserstein1

torch.set_num_threads(1)


@pytest.mark.parametrize("module", ["decisiongym.gans.data", "decisiongym.gans.metrics"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", ["8gaussians", "25gaussians"])
def test_mixtures_are_seeded_and_every_sample_is_near_a_mode(name: str) -> None:
    a = sample_data(name, 2000, np.random.default_rng(1))
    assert np.array_equal(a, sample_data(name, 2000, np.random.default_rng(1)))
    assert not np.array_equal(a, sample_data(name, 2000, np.random.default_rng(2)))
    centres, std = modes(name)
    r = mode_coverage(a, centres, std)
    assert r.modes_covered == len(centres)
    assert r.high_quality > 0.98  # P(chi_2 <= 9) = 1 - exp(-4.5) = 0.989
    assert abs(r.counts.sum() / 2000 - r.high_quality) < 1e-12


def test_swiss_roll_shape_and_range() -> None:
    x = sample_data("swissroll", 500, np.random.default_rng(0))
    assert x.shape == (500, 2) and x.dtype == np.float32
    assert np.abs(x).max() < 2.5
    with pytest.raises(ValueError):
        sample_data("moons", 3, np.random.default_rng(0))
    with pytest.raises(ValueError):
        modes("swissroll")


def test_mode_coverage_by_hand() -> None:
    centres = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 5.0]])
    # distances to the nearest centre: 0.25 (mode 0), 0.35 (mode 1), 0.29 (mode 1), 2.0 (mode 2)
    s = np.array([[0.0, 0.25], [1.35, 0.0], [1.0, 0.29], [0.0, 3.0]])
    r = mode_coverage(s, centres, std=0.1)
    assert r.counts.tolist() == [1, 1, 0] and r.modes_covered == 2 and r.high_quality == 0.5
    assert mode_coverage(s, centres, std=0.1, min_count=2).modes_covered == 0
    assert mode_coverage(s, centres, std=1.0).modes_covered == 3


def test_wasserstein1_by_hand_and_against_1d_formula() -> None:
    # two points each: the best matching pairs (0,0)-(0,1) and (3,0)-(4,0): W1 = (1 + 1) / 2
    a = np.array([[0.0, 0.0], [3.0, 0.0]])
    b = np.array([[4.0, 0.0], [0.0, 1.0]])
    assert wasserstein1(a, b) == 1.0
    assert wasserstein1(a, a) == 0.0
    # in 1-D the optimal plan matches sorted samples
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(1.0, 2.0, size=50)
    assert wasserstein1(x, y) == pytest.approx(np.abs(np.sort(x) - np.sort(y)).mean())
    with pytest.raises(ValueError):
        wasserstein1(a, b[:1])
