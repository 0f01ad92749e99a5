"""Ends the processes of a local Ray when the driver that started it dies, ``kill -9`` included.

When its driver dies, a local Ray's GCS server and raylet go at once (Ray ties them to the
driver) and the task workers within seconds, but Ray's agents (``ray::DashboardAgent``,
``ray::RuntimeEnvAgent``) stay for about a minute: they notice that the raylet is gone, then
wait up to 60 s on the dead GCS to report it. :class:`~decisiongym.harness.ray_runner.
RayRunner` therefore starts this watchdog, a separate process of the standard library alone,
when it starts a local Ray (never for a cluster it joins):

    python ray_watchdog.py PID...      # the Ray processes the driver started (its children)

Every ``POLL_S`` it records the named processes and all their descendants (pid and start
time, so that a reused pid is never taken for one of them). Its stdin is a pipe from the
driver: ``stop`` on it (the driver shut Ray down itself) ends the watchdog; the end of the
pipe, or a new parent, without ``stop`` means that the driver died: it kills every recorded
process still alive, then ends. Linux only (it reads ``/proc``); elsewhere the runner does not
start it and Ray's own clean-up is all there is.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from pathlib import Path

POLL_S = 0.5


def proc_stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) from ``/proc``, or None if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[0], int(fields[19])


def _all() -> dict[int, tuple[int, str, int]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))) is not None:
            found[int(entry.name)] = stat
    return found


def children(pid: int) -> set[int]:
    """The live (not zombie) children of ``pid``."""
    return {child for child, (parent, state, _) in _all().items()
            if parent == pid and state != "Z"}


def _tree(known: dict[int, int]) -> dict[int, int]:
    """``known`` (pid -> start time) still alive, and all their live descendants."""
    table = _all()
    alive = {pid: start for pid, start in known.items()
             if pid in table and table[pid][2] == start and table[pid][1] != "Z"}
    grew = True
    while grew:
        grew = False
        for pid, (parent, state, start) in table.items():
            if parent in alive and pid not in alive and state != "Z":
                alive[pid] = start
                grew = True
    return alive


def _kill(known: dict[int, int]) -> None:
    for _ in range(3):  # what a killed process started meanwhile goes too
        alive = _tree(known)
        if not alive:
            return
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        known = alive
        time.sleep(0.1)


def main(argv: list[str]) -> int:
    driver = os.getppid()
    roots = {}
    for arg in argv:
        stat = proc_stat(int(arg))
        if stat is not None:
            roots[int(arg)] = stat[2]
    known = _tree(roots)
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], POLL_S)
        if ready:
            data = os.read(sys.stdin.fileno(), 64)
            if b"stop" in data:
                return 0
            if not data:
                break
        if os.getppid() != driver:
            break
        known.update(_tree(known))
    _kill(known)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
