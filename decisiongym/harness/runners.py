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

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol

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


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL_S = 0.5  # how often a pool worker's watchdog looks for its parent


def _die_with_parent(parent: int, poll: float = PARENT_POLL_S) -> None:
    """End this process (a pool worker) when ``parent`` (the sweep's driver) ends, however it
    ends (``kill -9`` included), so that no worker outlives its command and holds the
    command's output pipes open.

    - Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` through ctypes: the kernel kills the worker
      the moment its parent dies. (The kernel ties this to the parent *thread* that started
      the worker: the pool is started, used and stopped inside one ``map_cells``, in the
      thread that iterates it.)
    - Everywhere, and as a second line on Linux: a daemon thread that polls ``os.getppid()``
      and ends the process once the parent is no longer ``parent`` (an orphan is re-parented
      to init or a subreaper).

    ``parent`` is the driver's pid, taken in the driver before the worker was started: a
    worker whose parent died before this ran ends at once. It runs in the worker's
    initializer, after a ``fork`` too (a forked child has no thread but the one that forked,
    so the watchdog is started here, in the child, never inherited).
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl: the watchdog alone
            pass
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent, poll), daemon=True,
                     name="decisiongym-parent-watchdog").start()


def _watch_parent(parent: int, poll: float) -> None:
    while os.getppid() == parent:
        time.sleep(poll)
    os._exit(1)  # the driver is gone: nobody reads this worker's results any more


# In a pool worker: the shared table of which process runs which cell (the pid at the cell's
# position in the runner's list of cells; see ProcessPoolRunner).
_RUNNING: Any = None


def _init_worker(parent: int, running: Any) -> None:
    """A pool worker's initializer."""
    global _RUNNING
    # Ctrl-C goes to the whole process group; the driver alone decides how the sweep stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    _RUNNING = running


def _tracked_call(fn: CellFunction, cell: Cell,
                  position: int) -> tuple[CellResult | None, CellFailure | None]:
    """:func:`guarded_call` in a pool worker, once this worker's pid is written at the cell's
    position in the shared table: if the pool breaks, the driver reads there which worker
    had started the cell. (The driver clears the entry; a cell whose result did not reach
    the driver stays charged to the worker that ran it.)"""
    if _RUNNING is not None:
        _RUNNING[position] = os.getpid()
    return guarded_call(fn, cell)


def _stop_pool(pool: ProcessPoolExecutor,
               known: Iterable[BaseProcess] = ()) -> list[BaseProcess]:
    """Stop a pool now: cancel what has not started, terminate the workers (kill those that
    outlast a SIGTERM by 5 s) and wait for them. Returns the workers, with their exit codes."""
    processes = {p.pid: p for p in known}
    processes.update(getattr(pool, "_processes", None) or {})  # no public handle on them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes.values():
        if process.is_alive():
            process.terminate()
    for process in processes.values():
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
    return list(processes.values())


def _exit_code(process: BaseProcess, patience: float = 2.0) -> int | None:
    """A stopped worker's exit code, waiting for it where another thread reaped the process.

    ``concurrent.futures``' manager thread joins the workers of a broken pool while
    :func:`_stop_pool` joins them too: when it wins the race, its ``waitpid`` reaps the
    process and our own ``waitpid`` fails (``ECHILD``), so ``exitcode`` reads ``None`` until
    that thread stores the code a moment later. Reading ``None`` there once made a killed
    worker look alive, and a cell beside it was charged an attempt."""
    deadline = time.monotonic() + patience
    code = process.exitcode
    while code is None and time.monotonic() < deadline:
        time.sleep(0.005)
        code = process.exitcode
    return code


def _blame(lost: Sequence[Cell], running: Any, position: dict[str, int],
           processes: Sequence[BaseProcess]) -> tuple[list[Cell], list[Cell]]:
    """Split the cells lost when a pool broke into those charged with an attempt and those
    re-run free.

    The worker that broke the pool ended on its own (killed by a signal other than SIGTERM,
    a crash in native code, an exit); ``concurrent.futures`` then terminates the others
    with SIGTERM. A lost cell is charged when the worker that started it (the shared table)
    is one that ended on its own. Cells still queued, or running in a worker that the pool
    terminated, are not. When no worker ended on its own (the first to go was sent SIGTERM
    from outside, or a cell sent it to itself), there is no telling which: every lost cell
    that had started is charged, so a cell that ends its worker every time still runs out
    of retries.
    """
    codes = {p.pid: _exit_code(p) for p in processes}
    died = {pid for pid, code in codes.items() if code is not None and code != -signal.SIGTERM}
    charged: list[Cell] = []
    spared: list[Cell] = []
    for cell in lost:
        pid = running[position[cell.key]]
        (charged if pid and (pid in died or not died) else spared).append(cell)
    return charged, spared


class ProcessPoolRunner:
    """A local pool of ``workers`` processes.

    When a worker dies, ``concurrent.futures`` breaks the whole pool: every cell in flight is
    lost. Each worker writes its pid into a shared table when it starts a cell, so the runner
    knows which cell each dead worker was running (:func:`_blame`): only those cells are
    charged an attempt; the others (queued, or running in workers the pool then terminated)
    are re-run free. A new pool is started; charged cells are re-run one at a time, so a
    repeated crash is blamed on the one cell running; a cell charged more than
    ``max_retries`` times is recorded as failed (``WorkerLost``) and the sweep goes on.

    Workers die with their driver (:func:`_die_with_parent`), whatever kills it.
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

    @staticmethod
    def _context() -> BaseContext:
        # fork where the platform has it: nothing to re-import, and no `if __name__ ==
        # "__main__"` guard needed in user scripts; the bandit cells use no threads or torch.
        methods = multiprocessing.get_all_start_methods()
        return multiprocessing.get_context("fork" if "fork" in methods else "spawn")

    def _pool(self, running: Any) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=self._context(),
                                   initializer=_init_worker, initargs=(os.getpid(), running))

    def map_cells(self, fn: CellFunction, cells: Sequence[Cell]) -> Outcomes:
        if not cells:
            return
        position = {cell.key: i for i, cell in enumerate(cells)}
        # Which worker started each cell (0: none since the last break); shared memory,
        # handed to the workers when they start (fork or spawn), no manager process.
        running = self._context().RawArray("q", len(cells))
        queue: deque[Cell] = deque(cells)
        suspects: deque[Cell] = deque()  # charged with a crash: re-run alone, one at a time
        suspected: set[str] = set()
        attempts: dict[str, int] = {}
        pending: dict[Future[tuple[CellResult | None, CellFailure | None]], Cell] = {}
        pool = self._pool(running)
        workers: dict[int, BaseProcess] = {}  # this pool's processes, by pid

        def submit(cell: Cell) -> bool:
            """Submit; False (and nothing charged) if the pool has broken meanwhile."""
            try:
                future = pool.submit(_tracked_call, fn, cell, position[cell.key])
            except BrokenProcessPool:
                return False
            workers.update(getattr(pool, "_processes", None) or {})
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
                    processes = _stop_pool(pool, workers.values())
                    charged, spared = _blame(lost, running, position, processes)
                    for cell in lost:
                        running[position[cell.key]] = 0
                    pool = self._pool(running)
                    workers = {}
                    for cell in sorted(spared, key=lambda c: position[c.key], reverse=True):
                        attempts[cell.key] -= 1  # it did nothing wrong: run it again free
                        (suspects if cell.key in suspected else queue).appendleft(cell)
                    for cell in sorted(charged, key=lambda c: position[c.key]):
                        n = attempts[cell.key]
                        if n <= self.max_retries:
                            suspected.add(cell.key)
                            suspects.append(cell)
                        else:
                            yield CellOutcome(cell, None, worker_lost(
                                cell, n, "the process pool broke while it ran"), n)
        finally:
            _stop_pool(pool, workers.values())


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
    """What a sweep did: cells computed now, already stored (skipped), computed by another
    sweep on the same directory meanwhile (``elsewhere``), failed; which cells needed more than
    one attempt (retried, whether they ended done or failed); and the cells another live sweep
    was still computing when this one stopped waiting (``claimed_elsewhere``)."""

    computed: list[Cell] = field(default_factory=list)
    skipped: list[Cell] = field(default_factory=list)
    failed: list[tuple[Cell, CellFailure]] = field(default_factory=list)
    retried: list[Cell] = field(default_factory=list)
    elsewhere: list[Cell] = field(default_factory=list)
    claimed_elsewhere: list[Cell] = field(default_factory=list)
    remaining: int = 0  # cells not run because the sweep was interrupted
    interrupted: bool = False

    @property
    def total(self) -> int:
        return (len(self.computed) + len(self.skipped) + len(self.elsewhere)
                + len(self.claimed_elsewhere) + len(self.failed) + self.remaining)

    @property
    def done(self) -> int:
        """Cells with a stored result at the end: computed now (here or by another sweep)
        or before."""
        return len(self.computed) + len(self.skipped) + len(self.elsewhere)

    def describe(self) -> str:
        text = (f"{len(self.computed)} cells computed, {len(self.skipped)} already stored, "
                f"{len(self.failed)} failed, {len(self.retried)} retried")
        if self.elsewhere:
            text += f", {len(self.elsewhere)} computed by another sweep meanwhile"
        if self.claimed_elsewhere:
            text += (f"; {len(self.claimed_elsewhere)} still being computed by another sweep "
                     "(run again once it ends)")
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
                   cell_fn: CellFunction = run_cell, wait: float | None = None,
                   claim_batch: int | None = None, poll: float = 0.25) -> SweepSummary:
    """Validate, then run every cell whose result is not stored yet; store each as it ends.

    A cell that fails is recorded (``DIR/failures``) and counted in ``summary.failed``; the
    sweep goes on. Ctrl-C raises :class:`SweepInterrupted` once the workers are stopped.

    Several sweeps may run on one ``out`` at once (see :mod:`decisiongym.harness.store`): a
    cell is claimed before it runs, and a cell claimed by another live sweep is left to it.
    Once its own cells are done, the sweep waits (polling every ``poll`` seconds, with the
    count in the progress bar) for the other sweeps to store theirs; these count as
    ``summary.elsewhere``. A cell whose claimant dies, or lets go of it unstored (Ctrl-C), is
    taken over and run here. ``wait``: at most this many seconds of waiting (default: as long
    as the other sweeps are alive); cells still claimed then are ``summary.claimed_elsewhere``.
    ``claim_batch``: cells claimed at a time; by default one for the in-process runner (so
    sweeps on one directory share the work cell by cell) and all missing cells for a runner
    with workers (which are started once per batch).
    """
    experiment.validate()
    if wait is not None and not wait >= 0:
        raise ValueError(f"run_experiment: wait must be None or >= 0 seconds, got {wait!r}")
    store = ResultsStore(out)
    store.clean_temporaries()
    runner = runner or InProcessRunner()
    cells = experiment.cells()
    summary = SweepSummary()
    todo: deque[Cell] = deque()
    store.index()  # what is stored before this sweep; lines read later are this sweep's
    for cell in cells:
        if not force and store.is_stored(cell):
            summary.skipped.append(cell)
        else:
            todo.append(cell)
    if claim_batch is None:
        claim_batch = 1 if runner.name == "inprocess" else max(1, len(todo))
    claim_batch = check_int("run_experiment", "claim_batch", claim_batch)
    fresh: dict[str, dict[str, object]] = {}  # index entries written during this sweep
    busy: dict[str, Cell] = {}  # claimed by another live sweep
    show = sys.stderr.isatty() if progress is None else progress

    def claim_next() -> list[Cell]:
        """Claim up to ``claim_batch`` cells; cells another sweep stored or failed meanwhile
        are counted as such, cells it holds are set aside in ``busy``."""
        batch: list[Cell] = []
        while todo and len(batch) < claim_batch:
            cell = todo.popleft()
            if not store.claim(cell):
                busy[cell.key] = cell
                continue
            fresh.update((entry["key"], entry) for entry in store.refresh_index())
            entry = fresh.get(cell.key, {})
            if (entry.get("status") == "done" or not force) and store.is_stored(cell):
                store.release(cell)
                summary.elsewhere.append(cell)
                bar.update(1)
            elif entry.get("status") == "failed" and \
                    (failure := store.read_failure(cell)) is not None:
                store.release(cell)
                summary.failed.append((cell, failure))
                bar.update(1)
            else:
                batch.append(cell)
        return batch

    with tqdm(total=len(cells), initial=len(summary.skipped), desc=experiment.name,
              unit="cell", disable=not show, leave=False) as bar:
        waiting_since: float | None = None
        try:
            while todo:
                batch = claim_next()
                if batch:
                    outcomes = runner.map_cells(cell_fn, batch)
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
                            store.release(cell)
                            if outcome.attempts > 1:
                                summary.retried.append(cell)
                            bar.update(1)
                            store.refresh_claims()
                    except KeyboardInterrupt:
                        outcomes.close()  # stops the workers (the runner's finally)
                        raise
                if todo or not busy:
                    continue
                # Only cells that other sweeps hold are left: wait for them, then look again
                # (stored: counted; claim let go of or its sweep dead: run here).
                now = time.monotonic()
                waiting_since = now if waiting_since is None else waiting_since
                if wait is not None and now - waiting_since >= wait:
                    break
                bar.set_postfix(computing_elsewhere=len(busy))
                time.sleep(poll)
                todo.extend(busy[key] for key in sorted(busy, key=_order(cells)))
                busy.clear()
        except KeyboardInterrupt:
            summary.interrupted = True
            summary.claimed_elsewhere = list(busy.values())
            summary.remaining = (len(cells) - summary.done - len(summary.failed)
                                 - len(summary.claimed_elsewhere))
            raise SweepInterrupted(summary) from None
        finally:
            store.release_all()
    summary.claimed_elsewhere = sorted(busy.values(), key=cells.index)
    return summary


def _order(cells: Sequence[Cell]) -> Callable[[str], int]:
    position = {cell.key: i for i, cell in enumerate(cells)}
    return position.__getitem__
