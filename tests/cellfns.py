"""Cell functions for the fault-tolerance tests, in an importable module of their own so that
process-pool and Ray workers can unpickle them (not collected by pytest)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from decisiongym.harness.experiment import Cell
from decisiongym.harness.runners import run_cell
from decisiongym.harness.store import CellResult


def pid_file(folder: Path, cell: Cell) -> Path:
    return Path(folder) / f"{cell.key}.pid"


def hang_once(cell: Cell, *, folder: str, victim: str) -> CellResult:
    """The victim cell, on its first attempt, writes its pid and hangs until the test kills
    its process; every other cell, and the victim's retry, run normally."""
    if cell.key == victim:
        marker = pid_file(Path(folder), cell)
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            time.sleep(120)
            raise AssertionError("the test should have killed this worker")
    return run_cell(cell)


def always_die(cell: Cell, *, victim: str, folder: str) -> CellResult:
    """The victim cell kills its own worker process on every attempt (counted in files)."""
    if cell.key == victim:
        count = len(list(Path(folder).glob("attempt-*")))
        (Path(folder) / f"attempt-{count}-{os.getpid()}").touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return run_cell(cell)


def flaky(cell: Cell, *, folder: str) -> CellResult:
    """Raises on each cell's first attempt, succeeds on the second."""
    marker = Path(folder) / f"{cell.key}.tried"
    if not marker.exists():
        marker.touch()
        raise RuntimeError(f"transient failure of {cell.key}")
    return run_cell(cell)


def log_span(cell: Cell, *, folder: str) -> CellResult:
    """Records when the cell ran (start, end) and which GPUs Ray gave it, then runs it."""
    start = time.time()
    result = run_cell(cell)
    time.sleep(0.2)
    gpus: list[object] = []
    try:
        import ray

        if ray.is_initialized():
            gpus = list(ray.get_gpu_ids())
    except ImportError:
        pass
    (Path(folder) / f"{cell.key}.span").write_text(f"{start} {time.time()} {gpus}")
    return result


def paced(cell: Cell, *, folder: str, delay: float, victim: str = "") -> CellResult:
    """Every cell takes ``delay`` seconds more; while it runs, ``running/<pid>`` names it
    (written at the start, removed at the end). The victim, on its first attempt, writes its
    pid and hangs until the test kills its process."""
    running = Path(folder) / "running"
    running.mkdir(exist_ok=True)
    mine = running / str(os.getpid())
    tmp = running / f".{os.getpid()}.tmp"
    tmp.write_text(f"{cell.key} {time.time()}")
    os.replace(tmp, mine)
    if cell.key == victim:
        marker = pid_file(Path(folder), cell)
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            time.sleep(120)
            raise AssertionError("the test should have killed this worker")
    time.sleep(delay)
    result = run_cell(cell)
    mine.unlink()
    return result
