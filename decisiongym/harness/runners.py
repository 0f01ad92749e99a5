"""Running an experiment's cells: the cell function, the runners, and the sweep driver.

A cell's result is a function of the cell alone (its spec fixes every seed), so it does not
depend on which runner ran it, on how many workers there were, or on the order of completion:
the files are identical bit for bit.

Runners share one small interface, :class:`Runner` (``map_cells``), so that a distributed runner
(Ray, in its own issue) plugs in beside the two here:

- ``inprocess`` (default): the cells one after another in this process; nothing to start.
- ``process``: a local process pool (``concurrent.futures``) of ``workers`` processes.

The driver writes every result as it arrives, so an interrupted sweep keeps its finished cells,
and a re-run computes only the missing ones (``force`` recomputes all).
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from decisiongym.harness.experiment import Cell, Experiment
from decisiongym.harness.metrics import time_grid
from decisiongym.harness.rollout import run_bandit
from decisiongym.harness.store import CellResult, ResultsStore, make_record

CellFunction = Callable[[Cell], CellResult]


def run_cell(cell: Cell) -> CellResult:
    """Run one cell: all its seeds at once in one native vector env; return metric arrays.

    Arrays (G grid points, n = cell.seeds replicates):
    ``grid`` (G,) steps; ``regret`` (G, n) float32 cumulative pseudo-regret per replicate;
    ``final_regret`` (n,) float64; ``best_arm_fraction`` (n,) share of pulls that went to a best
    arm; ``best_arm_fraction_curve`` (G,) its mean over replicates up to each t;
    ``mean_reward`` (n,) average reward per step; ``lai_robbins_constant`` (n,) C(mu) per
    replicate (NaN where undefined).
    """
    grid = time_grid(cell.horizon)
    run = run_bandit(cell.env.id, cell.agent.name, replicates=cell.seeds, horizon=cell.horizon,
                     seed=cell.seed, env_kwargs=dict(cell.env.kwargs),
                     agent_params=dict(cell.agent.params), grid=grid, keep_steps=False,
                     progress=False)
    t = grid.astype(np.float64)
    arrays: dict[str, Any] = {
        "grid": grid,
        "regret": run.regret.astype(np.float32),
        "final_regret": run.regret[-1].copy(),
        "best_arm_fraction": run.best_arm_pulls[-1] / float(cell.horizon),
        "best_arm_fraction_curve": (run.best_arm_pulls / t[:, None]).mean(axis=1),
        "mean_reward": run.reward_sum[-1] / float(cell.horizon),
        "lai_robbins_constant": run.lai_robbins_constant,
    }
    record = make_record(cell, {"arrays": sorted(arrays), "resolved_params": run.params})
    return CellResult(arrays, record)


class Runner(Protocol):
    """Runs a cell function over cells and hands each result back as soon as it is ready."""

    name: str

    def map_cells(self, fn: CellFunction, cells: Sequence[Cell]
                  ) -> Iterator[tuple[Cell, CellResult]]: ...


class InProcessRunner:
    """The cells one after another, in this process."""

    name = "inprocess"

    def map_cells(self, fn: CellFunction, cells: Sequence[Cell]
                  ) -> Iterator[tuple[Cell, CellResult]]:
        for cell in cells:
            yield cell, fn(cell)


class ProcessPoolRunner:
    """A local pool of ``workers`` processes."""

    name = "process"

    def __init__(self, workers: int = 2) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"process runner: workers must be a positive integer, "
                             f"got {workers!r}")
        self.workers = workers

    def map_cells(self, fn: CellFunction, cells: Sequence[Cell]
                  ) -> Iterator[tuple[Cell, CellResult]]:
        if not cells:
            return
        # fork where the platform has it: nothing to re-import, and no `if __name__ ==
        # "__main__"` guard needed in user scripts; the bandit cells use no threads or torch.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=context) as pool:
            pending: dict[Future[CellResult], Cell] = {}
            queue = list(cells)
            # Cap the cells in flight at twice the workers: results stream back in order of
            # completion and a Ctrl-C loses only those in flight.
            while queue or pending:
                while queue and len(pending) < 2 * self.workers:
                    cell = queue.pop(0)
                    pending[pool.submit(fn, cell)] = cell
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    cell = pending.pop(future)
                    yield cell, future.result()


def make_runner(name: str = "inprocess", workers: int | None = None) -> Runner:
    """A runner by name: ``inprocess`` or ``process`` (``workers`` processes, default 2)."""
    if name == "inprocess":
        return InProcessRunner()
    if name == "process":
        return ProcessPoolRunner(2 if workers is None else workers)
    raise ValueError(f"unknown runner {name!r}; use 'inprocess' or 'process' "
                     "(Ray comes with the distributed extra)")


@dataclass
class SweepSummary:
    """What a sweep did."""

    computed: list[Cell] = field(default_factory=list)
    skipped: list[Cell] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.computed) + len(self.skipped)


def run_experiment(experiment: Experiment, out: str | Path, *, runner: Runner | None = None,
                   force: bool = False, progress: bool | None = None,
                   cell_fn: CellFunction = run_cell) -> SweepSummary:
    """Validate, then run every cell whose result is not stored yet; store each as it ends."""
    experiment.validate()
    store = ResultsStore(out)
    store.clean_temporaries()
    runner = runner or InProcessRunner()
    cells = experiment.cells()
    summary = SweepSummary()
    todo = []
    for cell in cells:
        if not force and store.has(cell):
            summary.skipped.append(cell)
        else:
            todo.append(cell)
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(cells), initial=len(summary.skipped), desc=experiment.name,
              unit="cell", disable=not show, leave=False) as bar:
        for cell, result in runner.map_cells(cell_fn, todo):
            store.write(cell, result)
            summary.computed.append(cell)
            bar.update(1)
    return summary
