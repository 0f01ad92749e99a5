"""Files written safely: atomic replacement, writer-tagged temporaries, live-writer checks.

One place for what the results store (:mod:`decisiongym.harness.store`) and the agents'
checkpoints (:mod:`decisiongym.agents.deep`, :mod:`decisiongym.agents.sb3`) both need. A
temporary file is named ``.<target>.<host tag>-<pid>.<random>.tmp`` so that no other process
takes it for a killed writer's leftover while it is being written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import tempfile
import time
from pathlib import Path

HOST = socket.gethostname()
#: Short, filename-safe tag of this host, in the names of temporary files.
HOST_TAG = hashlib.sha256(HOST.encode()).hexdigest()[:8]
#: ``.<target name>.<host tag>-<pid>.<random>.tmp`` (what :func:`atomic_write` writes).
TEMPORARY = re.compile(r"\..+\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.[^.]+\.tmp")
#: A temporary file older than this (seconds) is a killed run's, whoever wrote it.
TEMPORARY_MAX_AGE = 3600.0


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (when unsure: yes, so that no live
    writer's work is ever deleted)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by someone else
        return True
    return True


def is_stale_temporary(path: Path, *, now: float | None = None,
                       max_age: float = TEMPORARY_MAX_AGE) -> bool:
    """A temporary file left by a killed writer: its writer's process of this host is gone,
    it is older than ``max_age``, or its name carries no writer (an older version's)."""
    match = TEMPORARY.fullmatch(path.name)
    if match is None:
        return True
    try:
        old = (time.time() if now is None else now) - path.stat().st_mtime > max_age
    except OSError:
        return False  # renamed or removed by its writer meanwhile
    return old or (match["host"] == HOST_TAG and not pid_alive(int(match["pid"])))


def remove_stale_temporaries(folder: Path, pattern: str = ".*.tmp") -> int:
    """Remove the stale temporary files matching ``pattern`` in ``folder``; how many."""
    removed = 0
    if not folder.is_dir():
        return 0
    now = time.time()
    for path in folder.glob(pattern):
        if is_stale_temporary(path, now=now):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a temporary file in the same directory, flushed
    and fsynced, ``os.replace``-d over ``path``, and the directory fsynced (POSIX). A crash at
    any moment leaves the old file or the new one, complete, never a torn one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{HOST_TAG}-{os.getpid()}.",
                               suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        with contextlib.suppress(OSError):
            dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    return target


__all__ = ["HOST", "HOST_TAG", "TEMPORARY", "TEMPORARY_MAX_AGE", "atomic_write",
           "is_stale_temporary", "pid_alive", "remove_stale_temporaries"]
