"""The Ray runner: an experiment's cells as Ray tasks, on a local Ray or on a cluster.

Install with ``pip install 'decisiongym[distributed]'``. This module is imported only when a
user asks for ``--runner ray`` (or :class:`RayRunner`), so the rest of the suite never needs Ray.

- Without an address it starts a local Ray (``num_cpus`` CPUs, default all) for the sweep and
  shuts it down at the end; with one (``"auto"``, ``"HOST:6379"`` or ``"ray://HOST:10001"``) it
  joins that cluster. When Ray is already initialised in this process, it uses that session and
  leaves it running.
- Each cell is one task that asks for the cell's :class:`~decisiongym.harness.experiment.
  Resources` (``num_cpus``, ``num_gpus``: torch cells ask for a GPU when the experiment says
  so). At most ``max_in_flight`` tasks are submitted at once (default twice the cluster's
  CPUs); results come back in order of completion and the driver writes them to the results
  store as they arrive, so a cluster's workers never touch the results directory.
- Retries are the driver's, the same as on the other runners: a task whose worker or node dies
  is re-submitted up to ``max_retries`` times (Ray's own retries are off, so every retry is
  counted in the summary); a cell that raises comes back as a failure with the worker's
  traceback.
- Ctrl-C cancels the tasks in flight (forcefully: their workers are killed).
- A local Ray dies with its driver, ``kill -9`` included: Ray ends its GCS server, raylet and
  task workers itself, and on Linux a watchdog process
  (:mod:`decisiongym.harness.ray_watchdog`) ends the agents that Ray would leave for a minute.

Results are identical bit for bit to the other runners': a cell's result depends on its spec
alone, and the same code runs in the Ray worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from decisiongym.harness import ray_watchdog
from decisiongym.harness.experiment import Cell
from decisiongym.harness.runners import (
    CellFunction,
    CellOutcome,
    Outcomes,
    _with_attempts,
    guarded_call,
    worker_lost,
)
from decisiongym.harness.store import CellFailure
from decisiongym.validation import check_int, check_optional_int

INSTALL_HINT = ("the Ray runner needs Ray: pip install 'decisiongym[distributed]' "
                "(or pip install ray)")


def import_ray() -> Any:
    """The ``ray`` module, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return ray


class RayRunner:
    """Cells as Ray tasks; see the module docstring."""

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 max_retries: int = 2, retry_exceptions: bool = False,
                 max_in_flight: int | None = None,
                 init_kwargs: dict[str, Any] | None = None) -> None:
        self.ray = import_ray()
        num_cpus = check_optional_int("ray runner", "num_cpus (--workers)", num_cpus,
                                      expected="a positive integer")
        if address is not None and num_cpus is not None:
            raise ValueError("ray runner: --workers sets the CPUs of a local Ray; a cluster "
                             "given by --address has its own")
        if max_in_flight is not None and (isinstance(max_in_flight, bool)
                                          or not isinstance(max_in_flight, int)
                                          or max_in_flight < 1):
            raise ValueError(f"ray runner: max_in_flight must be a positive integer, "
                             f"got {max_in_flight!r}")
        self.address = address
        self.num_cpus = num_cpus
        self.max_retries = check_int("ray runner", "max_retries", max_retries, low=0)
        self.retry_exceptions = retry_exceptions
        self.max_in_flight = max_in_flight
        self.init_kwargs = dict(init_kwargs or {})
        self._watchdog: subprocess.Popen[bytes] | None = None

    def _connect(self) -> bool:
        """Initialise Ray unless it already is; True when this call started it."""
        ray = self.ray
        if ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True,
                                  "configure_logging": False, **self.init_kwargs}
        if self.address is None:
            kwargs["num_cpus"] = self.num_cpus
        linux = sys.platform.startswith("linux")
        before = ray_watchdog.children(os.getpid()) if linux else set()
        try:
            ray.init(address=self.address, **kwargs)
        except (ConnectionError, RuntimeError) as exc:
            raise ConnectionError(
                f"ray runner: cannot join the Ray cluster at {self.address!r}: {exc}. Is one "
                "running there (`ray start --head` on the head node)? Ray >= 2.52 enables "
                "token authentication: set RAY_AUTH_MODE=token and give this machine the "
                "cluster's token (~/.ray/auth_token or RAY_AUTH_TOKEN); see the README") from exc
        started = ray_watchdog.children(os.getpid()) - before if linux else set()
        if started:  # a local Ray, started here: it must not outlive this process
            self._watchdog = subprocess.Popen(
                [sys.executable, "-I", str(Path(ray_watchdog.__file__)),
                 *map(str, sorted(started))],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)  # Ctrl-C to the command's group does not reach it
        return True

    def _stop_watchdog(self) -> None:
        """Ray was shut down here: tell the watchdog that nothing is left to clean up."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        try:
            assert watchdog.stdin is not None
            watchdog.stdin.write(b"stop\n")
            watchdog.stdin.close()
            watchdog.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            watchdog.kill()
            watchdog.wait()

    @staticmethod
    def _check_feasible(cells: Sequence[Cell], total: dict[str, float]) -> None:
        """Refuse cells that ask more than the whole cluster has (Ray would wait forever)."""
        for cell in cells:
            for resource, asked in (("CPU", cell.resources.cpus), ("GPU", cell.resources.gpus)):
                if asked > total.get(resource, 0.0):
                    raise ValueError(
                        f"ray runner: cell {cell.env.name} x {cell.agent.display} asks for "
                        f"{asked:g} {resource}(s) but the Ray cluster has "
                        f"{total.get(resource, 0.0):g} in all; lower the experiment's "
                        "resources or add nodes")

    def map_cells(self, fn: CellFunction, cells: Sequence[Cell]) -> Outcomes:
        if not cells:
            return
        ray = self.ray
        started = self._connect()
        pending: dict[Any, Cell] = {}
        try:
            total = ray.cluster_resources()
            self._check_feasible(cells, total)
            cap = self.max_in_flight or max(2, 2 * int(total.get("CPU", 1)))
            task = ray.remote(guarded_call)
            fn_ref = ray.put(fn)
            queue: deque[Cell] = deque(cells)
            attempts: dict[str, int] = {}

            def submit(cell: Cell) -> None:
                attempts[cell.key] = attempts.get(cell.key, 0) + 1
                ref = task.options(num_cpus=cell.resources.cpus, num_gpus=cell.resources.gpus,
                                   max_retries=0, retry_exceptions=False,
                                   name=f"decisiongym-cell:{cell.key}").remote(fn_ref, cell)
                pending[ref] = cell

            while queue or pending:
                while queue and len(pending) < cap:
                    submit(queue.popleft())
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    cell = pending.pop(ref)
                    n = attempts[cell.key]
                    try:
                        result, failure = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        # Raised outside the cell function (guarded_call catches the rest),
                        # e.g. the function could not be unpickled on the worker.
                        cause = getattr(exc, "cause", None) or exc
                        result, failure = None, CellFailure(
                            cell.key, type(cause).__name__, str(cause), str(exc), n)
                    except ray.exceptions.RayError as exc:
                        # The worker or its node died, Ray killed it for memory, an object
                        # was lost: the cell itself did nothing wrong, so run it again.
                        if n <= self.max_retries:
                            queue.appendleft(cell)
                        else:
                            yield CellOutcome(cell, None, worker_lost(
                                cell, n, f"Ray said: {type(exc).__name__}"), n)
                        continue
                    if failure is not None and self.retry_exceptions and n <= self.max_retries:
                        queue.appendleft(cell)
                        continue
                    yield CellOutcome(cell, result, failure and _with_attempts(failure, n), n)
        finally:
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:
                    pass
            if started:
                ray.shutdown()
                self._stop_watchdog()
