"""Running an experiment's cells: the cell function, the runners, and the sweep driver.

A cell's result is a function of the cell alone (its spec fixes every seed), so it does not
depend on which runner ran it, on how many workers there were, or on the order of completion:
the files are identical bit for bit.

Runners share one small interface, :class:`Runner` (``map_cells``, which yields a
:class:`CellOutcome` per cell as each one ends):

- ``inprocess`` (default): the cells one after another in this process; nothing to start.
- ``process``: a local process pool (``concurrent.futures``) of ``workers`` processes.
- ``ray``: Ray tasks on a local Ray or a cluster (:mod:`decisiongym.harness.ray_runner`, with
  the ``distributed`` extra; imported only when asked for).

Fault tolerance is the same on every runner:

- A cell that raises is recorded with its traceback (``DIR/failures/<key>.json``) and the sweep
  goes on; the summary counts it as failed, and the next sweep runs it again. Exceptions are not
  retried unless ``retry_exceptions`` is set: a cell is deterministic, so it would raise again.
- A cell whose worker process dies (killed, out of memory, a crash in native code) is retried up
  to ``max_retries`` times, then recorded as failed with error ``WorkerLost``.
- Ctrl-C stops the sweep at once: workers are stopped, finished cells stay stored, and the same
  command resumes, computing only the cells that are missing (``force`` recomputes all).
  :func:`run_experiment` then raises :class:`SweepInterrupted`, a ``KeyboardInterrupt`` that
  carries the summary.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import traceback
from collections import deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tqdm.auto import tqdm

from decisiongym.harness.experiment import Cell, Experiment
from decisiongym.harness.rollout import run
from decisiongym.harness.store import CellFailure, CellResult, ResultsStore, make_record
from decisiongym.validation import check_int

CellFunction = Callable[[Cell], CellResult]


def import_modules(modules: Sequence[str]) -> None:
    """Import the user modules that register envs or agents (a cell's ``imports``), in
    whichever process runs the cell."""
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ImportError(f"cannot import {module!r} (named in the experiment's imports): "
                              f"{exc}") from exc


def run_cell(cell: Cell) -> CellResult:
    """Run one cell: its ``seeds`` replicates at once through the harness's rollout loop
    (:func:`decisiongym.harness.rollout.run`); store what the recorders measured."""
    import_modules(cell.imports)
    result = run(cell.env.id, cell.agent.name, replicates=cell.seeds, horizon=cell.horizon,
                 seed=cell.seed, env_kwargs=dict(cell.env.kwargs),
                 agent_params=dict(cell.agent.params), phases=cell.env.phases,
                 vectorization=cell.env.vectorization)
    arrays = result.arrays
    record = make_record(cell, {"arrays": sorted(arrays), **result.record})
    return CellResult(arrays, record)


@dataclass(frozen=True)
class CellOutcome:
    """How one cell ended: a result, or a failure; and how many times it was started."""

    cell: Cell
    result: CellResult | None
    failure: CellFailure | None
    attempts: int


def guarded_call(fn: CellFunction, cell: Cell) -> tuple[CellResult | None, CellFailure | None]:
    """Run ``fn(cell)`` in a worker; an exception comes back as a failure with its traceback.

    ``KeyboardInterrupt`` and ``SystemExit`` are not caught: they stop the sweep.
    """
    try:
        return fn(cell), None
    except Exception as exc:
        return None, CellFailure(cell.key, type(exc).__name__, str(exc),
                                 traceback.format_exc(), 1)


def worker_lost(cell: Cell, attempts: int, detail: str) -> CellFailure:
    return CellFailure(cell.key, "WorkerLost",
                       f"the worker process running this cell died, {attempts} time(s); "
                       f"{detail}", "", attempts)


Outcomes = Generator["CellOutcome", None, None]


class Runner(Protocol):
    """Runs a cell function over cells and hands back each outcome as soon as it is ready."""

    name: str

    def map_cells(self, fn: CellFunction, cells: Sequence[Cell]) -> Outcomes: ...


class InProcessRunner:
    """The cells one after another, in this process."""

    name = "inprocess"

    def __init__(self, *, max_retries: int = 2, retry_exceptions: bool = False) -> None:
        self.max_retries = check_int(f"{self.name} runner", "max_retries", max_retries, low=0)
        self.retry_exceptions = retry_exceptions

    def map_cells(self, fn: CellFunction, cells: Sequence[Cell]) -> Outcomes:
        for cell in cells:
            attempts = 0
            while True:
                attempts += 1
                result, failure = guarded_call(fn, cell)
                if failure is None or not self.retry_exceptions \
                        or attempts > self.max_retries:
                    break
            if failure is not None:
                failure = _with_attempts(failure, attempts)
            yield CellOutcome(cell, result, failure, attempts)


def _with_attempts(failure: CellFailure, attempts: int) -> CellFailure:
    return CellFailure(failure.key, failure.error, failure.message, failure.traceback, attempts)


def _ignore_sigint() -> None:
    # Ctrl-C goes to the whole process group; the driver alone decides how the sweep stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: cancel what has not started and terminate the workers."""
    processes = list(getattr(pool, "_processes", {}).values())  # no public handle on them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


class ProcessPoolRunner:
    """A local pool of ``workers`` processes.

    When a worker dies, ``concurrent.futures`` breaks the whole pool and cannot say which cell
    killed it: every cell in flight is lost. The runner starts a new pool and re-runs the lost
    cells one at a time, so a crash is then blamed on the one cell running; a cell lost more than
    ``max_retries`` times is recorded as failed (``WorkerLost``) and the sweep goes on.
    """

    name = "process"

    def __init__(self, workers: int = 2, *, max_retries: int = 2,
                 retry_exceptions: bool = False, max_in_flight: int | None = None) -> None:
        self.workers = check_int("process runner", "workers", workers)
        self.max_retries = check_int(f"{self.name} runner", "max_retries", max_retries, low=0)
        self.retry_exceptions = retry_exceptions
        # Cells in flight, capped so that results stream back in order of completion and a
        # Ctrl-C or a crash loses only those in flight.
        self.max_in_flight = max_in_flight or 2 * workers

    def _pool(self) -> ProcessPoolExecutor:
        # fork where the platform has it: nothing to re-import, and no `if __name__ ==
        # "__main__"` guard needed in user scripts; the bandit cells use no threads or torch.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                   initializer=_ignore_sigint)

    def map_cells(self, fn: CellFunction, cells: Sequence[Cell]) -> Outcomes:
        if not cells:
            return
        queue: deque[Cell] = deque(cells)
        suspects: deque[Cell] = deque()  # lost in a crash: re-run alone, one at a time
        attempts: dict[str, int] = {}
        pending: dict[Future[tuple[CellResult | None, CellFailure | None]], Cell] = {}
        pool = self._pool()

        def submit(cell: Cell) -> bool:
            """Submit; False (and nothing charged) if the pool has broken meanwhile."""
            try:
                future = pool.submit(guarded_call, fn, cell)
            except BrokenProcessPool:
                return False
            attempts[cell.key] = attempts.get(cell.key, 0) + 1
            pending[future] = cell
            return True

        try:
            while queue or suspects or pending:
                broken = False
                if suspects:
                    if not pending:
                        if submit(suspects[0]):
                            suspects.popleft()
                        else:
                            broken = True
                else:
                    while queue and len(pending) < self.max_in_flight:
                        if not submit(queue[0]):
                            broken = True
                            break
                        queue.popleft()
                if pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                else:
                    done = set()
                if broken or any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                    # The pool is broken: every future still pending fails too, at once.
                    broken = True
                    wait(pending)
                    done = set(pending)
                lost = []
                for future in done:
                    cell = pending.pop(future)
                    error = future.exception()
                    if isinstance(error, BrokenProcessPool):
                        lost.append(cell)
                        continue
                    n = attempts[cell.key]
                    if error is not None:  # e.g. the cell function could not be pickled
                        yield CellOutcome(cell, None, CellFailure(
                            cell.key, type(error).__name__, str(error),
                            "".join(traceback.format_exception(error)), n), n)
                        continue
                    result, failure = future.result()
                    if failure is not None and self.retry_exceptions and n <= self.max_retries:
                        queue.appendleft(cell)
                        continue
                    yield CellOutcome(cell, result, failure and _with_attempts(failure, n), n)
                if broken:
                    _stop_pool(pool)
                    pool = self._pool()
                    for cell in sorted(lost, key=cells.index):
                        n = attempts[cell.key]
                        if n <= self.max_retries:
                            suspects.append(cell)
                        else:
                            yield CellOutcome(cell, None, worker_lost(
                                cell, n, "the process pool broke while it ran"), n)
        finally:
            _stop_pool(pool)


def make_runner(name: str = "inprocess", workers: int | None = None, *,
                address: str | None = None, max_retries: int = 2,
                retry_exceptions: bool = False, max_in_flight: int | None = None) -> Runner:
    """A runner by name.

    ``inprocess``; ``process`` (``workers`` processes, default 2); ``ray`` (a local Ray with
    ``workers`` CPUs, default all, or the cluster at ``address``; needs the ``distributed``
    extra). ``max_retries``: how often a cell whose worker died is re-run. ``max_in_flight``:
    cells submitted at once (default twice the workers or the cluster's CPUs).
    """
    if name == "inprocess":
        return InProcessRunner(max_retries=max_retries, retry_exceptions=retry_exceptions)
    if name == "process":
        return ProcessPoolRunner(2 if workers is None else workers, max_retries=max_retries,
                                 retry_exceptions=retry_exceptions, max_in_flight=max_in_flight)
    if name == "ray":
        from decisiongym.harness.ray_runner import RayRunner

        return RayRunner(address=address, num_cpus=workers, max_retries=max_retries,
                         retry_exceptions=retry_exceptions, max_in_flight=max_in_flight)
    raise ValueError(f"unknown runner {name!r}; use 'inprocess', 'process' or 'ray'")


@dataclass
class SweepSummary:
    """What a sweep did: cells computed now, already stored (skipped), failed; and which cells
    needed more than one attempt (retried, whether they ended done or failed)."""

    computed: list[Cell] = field(default_factory=list)
    skipped: list[Cell] = field(default_factory=list)
    failed: list[tuple[Cell, CellFailure]] = field(default_factory=list)
    retried: list[Cell] = field(default_factory=list)
    remaining: int = 0  # cells not run because the sweep was interrupted
    interrupted: bool = False

    @property
    def total(self) -> int:
        return len(self.computed) + len(self.skipped) + len(self.failed) + self.remaining

    @property
    def done(self) -> int:
        """Cells with a stored result at the end: computed now or before."""
        return len(self.computed) + len(self.skipped)

    def describe(self) -> str:
        text = (f"{len(self.computed)} cells computed, {len(self.skipped)} already stored, "
                f"{len(self.failed)} failed, {len(self.retried)} retried")
        if self.interrupted:
            text += f"; interrupted with {self.remaining} cells left (run again to resume)"
        return text


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_experiment`; ``summary`` says what was finished and stored."""

    def __init__(self, summary: SweepSummary) -> None:
        super().__init__(summary.describe())
        self.summary = summary


def run_experiment(experiment: Experiment, out: str | Path, *, runner: Runner | None = None,
                   force: bool = False, progress: bool | None = None,
                   cell_fn: CellFunction = run_cell) -> SweepSummary:
    """Validate, then run every cell whose result is not stored yet; store each as it ends.

    A cell that fails is recorded (``DIR/failures``) and counted in ``summary.failed``; the
    sweep goes on. Ctrl-C raises :class:`SweepInterrupted` once the workers are stopped.
    """
    experiment.validate()
    store = ResultsStore(out)
    store.clean_temporaries()
    runner = runner or InProcessRunner()
    cells = experiment.cells()
    summary = SweepSummary()
    todo = []
    for cell in cells:
        if not force and store.is_stored(cell):
            summary.skipped.append(cell)
        else:
            todo.append(cell)
    show = sys.stderr.isatty() if progress is None else progress
    outcomes = runner.map_cells(cell_fn, todo)
    with tqdm(total=len(cells), initial=len(summary.skipped), desc=experiment.name,
              unit="cell", disable=not show, leave=False) as bar:
        try:
            for outcome in outcomes:
                cell = outcome.cell
                if outcome.result is not None:
                    store.write(cell, outcome.result)
                    summary.computed.append(cell)
                else:
                    assert outcome.failure is not None
                    store.write_failure(cell, outcome.failure)
                    summary.failed.append((cell, outcome.failure))
                    bar.set_postfix(failed=len(summary.failed))
                if outcome.attempts > 1:
                    summary.retried.append(cell)
                bar.update(1)
        except KeyboardInterrupt:
            outcomes.close()  # stops the workers (the runner's finally)
            summary.interrupted = True
            summary.remaining = len(cells) - summary.done - len(summary.failed)
            raise SweepInterrupted(summary) from None
    return summary
