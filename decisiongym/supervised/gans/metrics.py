"""Metrics for GAN samples: on the toy mixtures, modes covered and the fraction of high-quality
samples; the exact Wasserstein-1 distance between two equal-size sample sets; on the digits, a
score from a digits classifier (classes covered, confidence).

>>> import numpy as np
>>> centres = np.array([[0.0, 0.0], [10.0, 0.0]])
>>> s = np.array([[0.1, 0.0], [0.0, 0.2], [5.0, 5.0]])
>>> r = mode_coverage(s, centres, std=0.1)
>>> r.modes_covered, round(r.high_quality, 4)
(1, 0.6667)
>>> wasserstein1(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 3.0]]))
1.5
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

#: The strict rule's share of the fair share n / K a mode must receive (see
#: :func:`mode_coverage`).
STRICT_SHARE = 0.25


@dataclass(frozen=True)
class ModeCoverage:
    """``modes_covered``: modes with at least ``min_count`` high-quality samples;
    ``high_quality``: fraction of samples within ``k`` std of their nearest mode;
    ``counts``: high-quality samples per mode (a sample goes to its nearest mode only)."""

    modes_covered: int
    high_quality: float
    counts: NDArray[np.int64]


def mode_coverage(samples: ArrayLike, centres: ArrayLike, std: float, *, k: float = 3.0,
                  min_count: int = 1, min_share: float = 0.0) -> ModeCoverage:
    """Assign each sample to its nearest centre; it is high quality when its Euclidean distance
    to that centre is at most ``k * std`` (Srivastava et al. 2017; Metz et al. 2017).

    A mode is covered when it has at least ``max(min_count, min_share * n / K)`` high-quality
    samples (n samples, K modes): ``min_share`` is the fraction of a mode's fair share n / K
    it must receive. The default (one sample) is the usual, lenient rule; the ``reproduce gan``
    tables use :data:`STRICT_SHARE` (a quarter of the fair share: with 2,000 samples on
    8 modes, 63 samples), so a mode visited by a few stray samples of a collapsed generator
    does not count."""
    x = np.asarray(samples, dtype=np.float64)
    c = np.asarray(centres, dtype=np.float64)
    if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1]:
        raise ValueError(f"mode_coverage: need samples (n, d) and centres (k, d), got "
                         f"{x.shape} and {c.shape}")
    if len(x) == 0:
        return ModeCoverage(0, 0.0, np.zeros(len(c), dtype=np.int64))
    d = cdist(x, c)
    nearest = d.argmin(axis=1)
    good = d[np.arange(len(x)), nearest] <= k * std
    counts = np.bincount(nearest[good], minlength=len(c)).astype(np.int64)
    need = max(float(min_count), min_share * len(x) / len(c))
    return ModeCoverage(int((counts >= need).sum()), float(good.mean()), counts)


@dataclass(frozen=True)
class DigitsScore:
    """``classes_covered``: digit classes the classifier assigns to at least
    ``max(1, min_share * n / 10)`` of the n samples; ``confidence``: the classifier's mean
    maximum class probability; ``counts``: samples per predicted class."""

    classes_covered: int
    confidence: float
    counts: NDArray[np.int64]


@lru_cache(maxsize=1)
def digits_classifier() -> Any:
    """A multinomial logistic regression trained on the GAN's real digits (the training split of
    :func:`.data.digits_split`, pixels in [-1, 1]); about a second, once per
    process. 96% accuracy on the test split."""
    from sklearn.linear_model import LogisticRegression

    from decisiongym.supervised.gans.data import digits_split

    X, y = digits_split("train")
    return LogisticRegression(max_iter=2000).fit(X, y)


def digits_score(samples: ArrayLike, *, min_share: float = 0.0) -> DigitsScore:
    """The digits score of (n, 64) samples (the GAN analogue of modes covered and sample
    quality): each sample, clipped to the data's range [-1, 1], is classified by
    :func:`digits_classifier`; class coverage counts the classes predicted for at least
    ``max(1, min_share * n / 10)`` samples (``min_share`` as in :func:`mode_coverage`), and
    confidence is the mean maximum class probability (high for digit-like samples, near 0.1
    for samples the classifier cannot place)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 64 or len(x) == 0:
        raise ValueError(f"digits_score: need samples of shape (n, 64) with n >= 1, got "
                         f"{x.shape}")
    proba = digits_classifier().predict_proba(np.clip(x, -1.0, 1.0))
    counts = np.bincount(proba.argmax(axis=1), minlength=10).astype(np.int64)
    need = max(1.0, min_share * len(x) / 10)
    return DigitsScore(int((counts >= need).sum()), float(proba.max(axis=1).mean()), counts)


def wasserstein1(a: ArrayLike, b: ArrayLike) -> float:
    """Exact W1 between the empirical measures of two equal-size sample sets (Euclidean cost):
    with equal weights the optimal plan is a permutation (Birkhoff), found by
    ``scipy.optimize.linear_sum_assignment``. Cubic in n: keep n in the low thousands."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if y.ndim == 1:
        y = y[:, None]
    if x.shape != y.shape or len(x) == 0:
        raise ValueError(f"wasserstein1: need two non-empty sets of equal shape, got {x.shape} "
                         f"and {y.shape}")
    cost = cdist(x, y)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


__all__ = ["STRICT_SHARE", "DigitsScore", "ModeCoverage", "digits_classifier", "digits_score",
           "mode_coverage", "wasserstein1"]
