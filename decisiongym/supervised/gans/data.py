"""Data sets for GANs (seed 4.3-4.5): 8 Gaussians on a ring, 25 on a grid, the swiss roll (2-D),
and the 8x8 digits (64-D).

Every sampler draws from a ``numpy.random.Generator`` and returns float32 arrays of shape
(n, :func:`data_dim`):

>>> import numpy as np
>>> x = sample_data("8gaussians", 4, np.random.default_rng(0))
>>> x.shape, x.dtype
((4, 2), dtype('float32'))
>>> modes("25gaussians")[0].shape
(25, 2)
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

DATASETS = ("8gaussians", "25gaussians", "swissroll", "digits")
#: The split of scikit-learn's digits the GAN learns from (and the digits score's classifier is
#: trained on): the training split of ``load_dataset("digits", seed=DIGITS_SPLIT_SEED)``.
DIGITS_SPLIT_SEED = 0

# Ring of radius 2 with std 0.02 (Metz et al. 2017, Gulrajani et al. 2017); grid {-4,...,4}^2
# with std 0.05 (Gulrajani et al. 2017, scaled as in their toy code).
RING_RADIUS, RING_STD = 2.0, 0.02
GRID_STEP, GRID_STD = 2.0, 0.05


def modes(name: str) -> tuple[NDArray[np.float64], float]:
    """The centres (k, 2) and the common standard deviation of a Gaussian mixture."""
    if name == "8gaussians":
        angles = 2 * np.pi * np.arange(8) / 8
        return RING_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1), RING_STD
    if name == "25gaussians":
        g = GRID_STEP * np.arange(-2, 3, dtype=np.float64)
        xx, yy = np.meshgrid(g, g, indexing="ij")
        return np.stack([xx.ravel(), yy.ravel()], axis=1), GRID_STD
    raise ValueError(f"modes: {name!r} is not a mixture; use '8gaussians' or '25gaussians'")


def data_dim(name: str) -> int:
    """64 for the digits (8x8 pixels), 2 for the toy sets."""
    if name not in DATASETS:
        raise ValueError(f"data_dim: unknown data set {name!r}; choose from {DATASETS}")
    return 64 if name == "digits" else 2


@lru_cache(maxsize=3)  # read-only: callers index (copy) it
def digits_split(which: str = "train") -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """The digits of split ``which`` ("train", "val" or "test") as (n, 64) float32 images scaled
    from [0, 16] to [-1, 1], and their labels."""
    from decisiongym.supervised.data import load_dataset

    X, y = load_dataset("digits", seed=DIGITS_SPLIT_SEED).split(which)
    return (2.0 * X.reshape(len(X), 64) - 1.0).astype(np.float32), y.astype(np.int64)


def sample_data(name: str, n: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """``n`` samples of data set ``name`` (one of :data:`DATASETS`) drawn from ``rng``.

    Mixtures: a uniformly chosen centre plus isotropic Gaussian noise. Swiss roll: t = 1.5 pi
    (1 + 2u), the point (t cos t, t sin t) + N(0, 0.25^2) noise, divided by 7.5 (as
    sklearn's ``make_swiss_roll`` in the WGAN-GP toy code, but with our random numbers).
    Digits: rows of the training split (:func:`digits_split`) drawn uniformly with replacement.
    """
    if n < 0:
        raise ValueError(f"sample_data: n must be >= 0, got {n}")
    if name in ("8gaussians", "25gaussians"):
        centres, std = modes(name)
        idx = rng.integers(0, len(centres), size=n)
        out = centres[idx] + std * rng.standard_normal((n, 2))
        return out.astype(np.float32)
    if name == "swissroll":
        t = 1.5 * np.pi * (1 + 2 * rng.random(n))
        pts = np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
        pts += 0.25 * rng.standard_normal((n, 2))
        return (pts / 7.5).astype(np.float32)
    if name == "digits":
        X, _ = digits_split("train")
        return X[rng.integers(0, len(X), size=n)]
    raise ValueError(f"sample_data: unknown data set {name!r}; choose from {DATASETS}")


def sample_noise(n: int, dim: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """The generator's input: ``n`` standard normal vectors of size ``dim``."""
    return rng.standard_normal((n, dim)).astype(np.float32)


__all__ = ["DATASETS", "DIGITS_SPLIT_SEED", "data_dim", "digits_split", "modes", "sample_data",
           "sample_noise"]
