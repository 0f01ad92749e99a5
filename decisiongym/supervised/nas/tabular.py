"""The shipped tabular benchmark: every cell of a reduced cell space, trained on digits.

NAS-Bench-201 (Dong & Yang 2020) trains every cell of a 15,625-cell space and publishes the
accuracies, so that a search strategy is compared on table look-ups with the optimum known. Its
files run to gigabytes and cannot be downloaded here, so decisiongym ships a small offline one:

- space: :data:`TABLE_SPACE`, a 4-node DAG cell (6 edges) with operations {zero, skip, conv3x3}:
  3^6 = 729 cells;
- child: 3x3 stem to :data:`TABLE_CHANNELS` channels, one cell, 2 x 2 average pooling, linear head;
- data: ``load_dataset("digits", seed=0)`` (1168 train / 270 validation / 359 test images);
- training: :data:`TABLE_BUDGET` (Adam, one epoch of minibatches of 32) with each seed of
  :data:`TABLE_SEEDS` (initial weights and batch order); one torch thread.

The table stores, per cell and seed, the number of correct validation and test answers
(``uint16``), in ``decisiongym/supervised/nas/data/nas_cell_digits.npz``. Regenerate it with
``python scripts/make_nas_table.py`` (see the README for the time it took).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from decisiongym.supervised.nas.space import CellNet, CellSpace, TrainBudget, train_and_evaluate

TABLE_SPACE = CellSpace(n_nodes=4, ops=("zero", "skip", "conv3x3"))
TABLE_CHANNELS = 4
TABLE_BUDGET = TrainBudget(epochs=1, batch_size=32, lr=0.01)
TABLE_SEEDS = (0, 1)
TABLE_DATA_SEED = 0
TABLE_PATH = Path(__file__).parent / "data" / "nas_cell_digits.npz"


@dataclass(frozen=True)
class Table:
    """Accuracies of every cell of :data:`TABLE_SPACE`: arrays are (cells, seeds)."""

    val_accuracy: NDArray[np.float64]
    test_accuracy: NDArray[np.float64]
    seeds: tuple[int, ...]
    seconds: float

    @property
    def mean_val(self) -> NDArray[np.float64]:
        return self.val_accuracy.mean(axis=1)

    @property
    def best_index(self) -> int:
        """The cell with the highest validation accuracy averaged over the seeds."""
        return int(np.argmax(self.mean_val))

    @property
    def optimum(self) -> float:
        return float(self.mean_val.max())


def generate_table(path: Path = TABLE_PATH, progress: bool = True) -> Table:
    """Train every cell with every seed and write the compressed table (minutes on one core)."""
    import torch

    from decisiongym.supervised.data import load_dataset

    torch.set_num_threads(1)
    ds = load_dataset("digits", seed=TABLE_DATA_SEED)
    channels_in, height, width = ds.input_shape
    cells = TABLE_SPACE.all_tokens()
    val = np.zeros((len(cells), len(TABLE_SEEDS)), dtype=np.uint16)
    test = np.zeros_like(val)
    start = time.perf_counter()
    for c, tokens in enumerate(cells):
        for s, seed in enumerate(TABLE_SEEDS):
            net = CellNet(TABLE_SPACE, tokens, channels_in, ds.n_classes,
                          channels=TABLE_CHANNELS, input_hw=(height, width))
            val[c, s], test[c, s] = train_and_evaluate(
                net, ds.X_train, ds.y_train, [(ds.X_val, ds.y_val), (ds.X_test, ds.y_test)],
                TABLE_BUDGET, seed=seed)
        if progress and (c + 1) % 50 == 0:
            print(f"{c + 1}/{len(cells)} cells, {time.perf_counter() - start:.0f} s", flush=True)
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, val_correct=val, test_correct=test, n_val=len(ds.y_val),
                        n_test=len(ds.y_test), seeds=np.array(TABLE_SEEDS), seconds=seconds,
                        ops=np.array(TABLE_SPACE.ops), n_nodes=TABLE_SPACE.n_nodes)
    tmp.replace(path)
    load_table.cache_clear()
    return load_table(path)


@lru_cache(maxsize=4)
def load_table(path: Path = TABLE_PATH) -> Table:
    """Read the shipped table (cached)."""
    if not path.exists():
        raise FileNotFoundError(f"NAS tabular benchmark {path} is missing; regenerate it with "
                                "`python scripts/make_nas_table.py`")
    with np.load(path) as z:
        if tuple(str(o) for o in z["ops"]) != TABLE_SPACE.ops:
            raise ValueError(f"{path}: table ops {list(z['ops'])} differ from {TABLE_SPACE.ops}")
        return Table(z["val_correct"] / float(z["n_val"]), z["test_correct"] / float(z["n_test"]),
                     tuple(int(s) for s in z["seeds"]), float(z["seconds"]))


__all__ = ["TABLE_BUDGET", "TABLE_CHANNELS", "TABLE_PATH", "TABLE_SEEDS", "TABLE_SPACE", "Table",
           "generate_table", "load_table"]
