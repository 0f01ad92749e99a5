"""The results store: one file per cell, written atomically, read back with validation.

A cell file ``DIR/cells/<key>.npz`` is an uncompressed-header zip of numpy arrays plus a
``record`` entry, a JSON document with everything needed to reproduce the cell (environment id
and kwargs, agent and parameters, seeds, horizon, package versions, git revision). The zip is
written with fixed timestamps and in a fixed order, so the same result gives the same bytes
whichever runner, worker or session wrote it. Writing goes to a temporary file in the same
directory, flushed and fsynced, then renamed over the target (atomic on POSIX): a run killed
mid-write leaves either no file or a complete one, never a corrupt result. A file that fails to
load or validate is treated as missing and recomputed.

At scale (tens of thousands of cells) nothing scans the directory or decodes every file to
learn what is stored: ``DIR/index.jsonl`` is an append-only log, one JSON line per write
(key, status, file size, modification time and the SHA-256 of the file's bytes). A cell counts
as stored without decoding its file when the file's bytes hash to its index line's checksum
(reading and hashing a small file costs far less than decoding it); a file the index does not
know, whose bytes changed (whatever its size and mtime say), or whose line has no checksum
(written by an older version) is decoded and validated once, then indexed again. A lost index
line costs one validation, never a wrong result.

Any number of sweeps (commands, on one host or several sharing the directory) may write one
results directory at once; results of Ray or pool workers stream back to their driver, which
alone writes the store.

- Lines are appended with one ``write`` on a file opened ``O_APPEND`` (atomic on POSIX), and
  a reader picks up other writers' lines as they come (:meth:`ResultsStore.refresh_index`); a
  line torn by a crash is skipped.
- A temporary file is named after its writer (``.<target>.<host tag>-<pid>.<random>.tmp``):
  :meth:`ResultsStore.clean_temporaries` removes only those of dead processes on this host and
  those older than an hour, never one another live process is writing.
- A cell being computed is claimed: ``DIR/claims/<key>.claim``, created with ``O_EXCL`` and
  holding the claimant's pid, host, process start time and a token; released when the cell is
  stored or recorded as failed (or the sweep stops). A claim whose process is dead (same host,
  pid gone or reused) is taken over under a short-lived ``.lock`` file, so two sweeps cannot
  both take it; a claim from another host counts as live until it has not been refreshed for
  :attr:`ResultsStore.CLAIM_STALE_AFTER` seconds (a sweep refreshes its claims as results
  arrive).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import subprocess
import time
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from decisiongym.files import (
    HOST,
    TEMPORARY_MAX_AGE,
    atomic_write,
    pid_alive,
    remove_stale_temporaries,
)
from decisiongym.harness.experiment import Cell, canonical_json

FORMAT_VERSION = 1
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class CellResult:
    """Metric arrays of one cell and its record."""

    arrays: dict[str, NDArray[Any]]
    record: dict[str, Any]


@lru_cache(maxsize=1)
def environment_versions() -> dict[str, str]:
    """Versions of the packages a result depends on, and the git revision when there is one."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in ("decisiongym", "gymnasium", "numpy", "scipy", "torch",
                    "stable-baselines3"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    try:
        here = Path(__file__).resolve().parent
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5, check=False)
        if rev.returncode == 0:
            versions["git_revision"] = rev.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return versions


def make_record(cell: Cell, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"format": FORMAT_VERSION, "key": cell.key, **cell.spec(),
            "env_label": cell.env.name, "agent_label": cell.agent.display,
            "versions": environment_versions(), **(extra or {})}


def _encode(arrays: dict[str, NDArray[Any]], record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            payload = io.BytesIO()
            np.lib.format.write_array(payload, np.ascontiguousarray(arrays[name]),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, payload.getvalue())
        info = zipfile.ZipInfo("record.json", date_time=_FIXED_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, canonical_json(record).encode())
    return buffer.getvalue()


# The header numpy writes for a plain array: {'descr': '<f8', 'fortran_order': False,
# 'shape': (101, 4), }. Parsing it with a regular expression instead of numpy's literal_eval
# makes reading a small result about twice as fast; anything else goes to numpy's reader.
_NPY_HEADER = re.compile(rb"\{'descr': '([<>|][a-zA-Z]\d+)', 'fortran_order': False, "
                         rb"'shape': \(((?:\d+, ?)*\d*)\), \}\s*\n")


def _read_npy(data: bytes) -> NDArray[Any]:
    """An array from .npy bytes (format 1.0, what np.lib.format.write_array writes here)."""
    if data[:8] == b"\x93NUMPY\x01\x00":
        header_len = int.from_bytes(data[8:10], "little")
        match = _NPY_HEADER.fullmatch(data[10:10 + header_len])
        if match is not None:
            dtype = np.dtype(match.group(1).decode())
            shape = tuple(int(x) for x in match.group(2).split(b",") if x.strip())
            count = int(np.prod(shape)) if shape else 1
            body = data[10 + header_len:]
            if len(body) != count * dtype.itemsize:
                raise ValueError("truncated array")
            return np.frombuffer(bytearray(body), dtype=dtype).reshape(shape)
    return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)


def _decode(data: bytes) -> CellResult:
    arrays: dict[str, NDArray[Any]] = {}
    # Every member is read whole, and zipfile checks its CRC-32 as it reads, so a damaged file
    # raises here (BadZipFile) without a separate testzip() pass over the data.
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        record = json.loads(zf.read("record.json"))
        for name in zf.namelist():
            if name.endswith(".npy"):
                arrays[name[:-4]] = _read_npy(zf.read(name))
    return CellResult(arrays, record)


@dataclass(frozen=True)
class CellFailure:
    """A cell that did not produce a result: what was raised (or that its worker died)."""

    key: str
    error: str  # exception type, or "WorkerLost" when the process running it died
    message: str
    traceback: str
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "error": self.error, "message": self.message,
                "traceback": self.traceback, "attempts": self.attempts}

    def headline(self) -> str:
        return f"{self.error}: {self.message}" if self.message else self.error


def checksum(data: bytes) -> str:
    """The content checksum kept in the index: SHA-256 of the file's bytes, in hex."""
    return hashlib.sha256(data).hexdigest()


def process_start(pid: int) -> str | None:
    """When the process started (Linux: clock ticks since boot), to tell a reused pid; None
    where /proc does not say."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return stat[stat.rindex(b")") + 2:].split()[19].decode()
    except (OSError, ValueError, IndexError):
        return None


class ResultsStore:
    """``DIR/cells/<cell key>.npz``, one per cell, with ``DIR/index.jsonl`` to find them fast
    and ``DIR/claims/<cell key>.claim`` for the cells a live sweep is computing."""

    INDEX = "index.jsonl"
    # A claim from another host, not refreshed for this long, is taken for a dead sweep's.
    CLAIM_STALE_AFTER = 3600.0
    # A temporary file older than this is a killed run's, whoever wrote it.
    TEMPORARY_MAX_AGE = TEMPORARY_MAX_AGE
    # A claim file still empty (or a takeover lock) this old was left by a crash.
    _LOCK_MAX_AGE = 60.0

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.cells_dir = self.root / "cells"
        self.failures_dir = self.root / "failures"
        self.claims_dir = self.root / "claims"
        self.index_path = self.root / self.INDEX
        self._index: dict[str, dict[str, Any]] | None = None
        self._index_lines = 0
        self._index_offset = 0  # bytes of the index file read so far (whole lines only)
        self._index_inode: int | None = None
        self._token = uuid.uuid4().hex  # tells this store's claims from any other's
        self._claims: dict[str, Path] = {}
        self._claims_touched = time.monotonic()

    def path(self, cell: Cell) -> Path:
        return self.cells_dir / f"{cell.key}.npz"

    # -- the index ---------------------------------------------------------------------------

    def index(self) -> dict[str, dict[str, Any]]:
        """Key -> last index entry (``status`` "done" or "failed"), read once and kept (call
        :meth:`refresh_index` for lines other writers appended since)."""
        if self._index is None:
            self._index = {}
            self.refresh_index()
        return self._index

    def refresh_index(self) -> list[dict[str, Any]]:
        """Read the index lines appended since the last read (by this or any other writer);
        returns their entries. A compacted (replaced) index is read again from the start."""
        if self._index is None:
            self._index = {}
        try:
            fh = open(self.index_path, "rb")
        except FileNotFoundError:
            return []
        with fh:
            st = os.fstat(fh.fileno())
            if st.st_ino != self._index_inode or st.st_size < self._index_offset:
                self._index_inode, self._index_offset, self._index_lines = st.st_ino, 0, 0
            if st.st_size == self._index_offset:
                return []
            fh.seek(self._index_offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a last line without its newline is still being written
        entries = []
        for line in data[:end].splitlines():
            self._index_lines += 1
            entry = _parse_index_line(line)
            if entry is not None:
                entries.append(entry)
                self._index[entry["key"]] = entry
        self._index_offset += end
        return entries

    def _append(self, entry: dict[str, Any]) -> None:
        index = self.index()
        self.root.mkdir(parents=True, exist_ok=True)
        # One write() on an O_APPEND descriptor: lines of concurrent writers never interleave.
        fd = os.open(self.index_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (canonical_json(entry) + "\n").encode())
        finally:
            os.close(fd)
        index[entry["key"]] = entry
        self._index_lines += 1
        if self._index_lines > 1000 and self._index_lines > 4 * len(index):
            self.compact_index()

    def compact_index(self) -> None:
        """Rewrite the index with one line per key (atomically).

        A line another sweep appends while this runs may be lost: that costs one validation of
        its file, never a wrong result.
        """
        self.refresh_index()
        index = self.index()
        text = "".join(canonical_json(index[k]) + "\n" for k in sorted(index))
        atomic_write(self.index_path, text.encode())
        self._index_lines = len(index)
        try:
            st = self.index_path.stat()
            self._index_inode, self._index_offset = st.st_ino, st.st_size
        except OSError:
            self._index_inode = None

    def _indexed(self, cell: Cell, target: Path, data: bytes) -> None:
        st = target.stat()
        self._append({"key": cell.key, "status": "done", "size": st.st_size,
                      "mtime_ns": st.st_mtime_ns, "sha256": checksum(data),
                      "env": cell.env.spec_name, "agent": cell.agent.spec_name})

    # -- results -----------------------------------------------------------------------------

    def write(self, cell: Cell, result: CellResult) -> Path:
        """Write atomically (temporary file, fsync, rename), then index it."""
        target = self.path(cell)
        data = _encode(result.arrays, result.record)
        atomic_write(target, data)
        self._indexed(cell, target, data)
        failure = self.failures_dir / f"{cell.key}.json"
        if failure.exists():
            failure.unlink(missing_ok=True)
        return target

    def read(self, cell: Cell) -> CellResult | None:
        """The cell's stored result, or None if absent, unreadable, or not this cell's."""
        try:
            data = self.path(cell).read_bytes()
        except OSError:
            return None
        return self._validate(cell, data)

    def _validate(self, cell: Cell, data: bytes) -> CellResult | None:
        try:
            result = _decode(data)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, zlib.error):
            return None
        record = result.record
        if not isinstance(record, dict):
            return None
        if record.get("format") != FORMAT_VERSION or record.get("key") != cell.key:
            return None
        if canonical_json({k: record.get(k) for k in cell.spec()}) != canonical_json(cell.spec()):
            return None
        required = record.get("arrays", [])
        if sorted(result.arrays) != sorted(required):
            return None
        return result

    def has(self, cell: Cell) -> bool:
        """Whether the cell's result is stored (decodes and validates the file)."""
        return self.read(cell) is not None

    def is_stored(self, cell: Cell) -> bool:
        """Whether the cell's result is stored, from the index when it vouches for the file.

        The index vouches when its entry for the key says "done" and the file's bytes have the
        entry's size and checksum (the file is read and hashed, not decoded); otherwise (no
        entry, no checksum in it, other bytes) the file is decoded and validated once and, if
        good, indexed again.
        """
        entry = self.index().get(cell.key)
        target = self.path(cell)
        try:
            data = target.read_bytes()
        except OSError:
            return False
        if entry is not None and entry.get("status") == "done" \
                and len(data) == entry.get("size") and entry.get("sha256") == checksum(data):
            return True
        if self._validate(cell, data) is None:
            return False
        self._indexed(cell, target, data)
        return True

    # -- failures ----------------------------------------------------------------------------

    def write_failure(self, cell: Cell, failure: CellFailure) -> Path:
        """Record why a cell failed (``DIR/failures/<key>.json``), and index it."""
        target = self.failures_dir / f"{cell.key}.json"
        document = {**failure.to_dict(), "spec": cell.spec(), "env_label": cell.env.name,
                    "agent_label": cell.agent.display, "versions": environment_versions()}
        atomic_write(target, (json.dumps(document, indent=2, default=str) + "\n").encode())
        self._append({"key": cell.key, "status": "failed", "error": failure.error,
                      "attempts": failure.attempts, "env": cell.env.spec_name,
                      "agent": cell.agent.spec_name})
        return target

    def read_failure(self, cell: Cell) -> CellFailure | None:
        """The recorded failure of a cell that has no result, or None."""
        target = self.failures_dir / f"{cell.key}.json"
        try:
            doc = json.loads(target.read_text(encoding="utf-8"))
            return CellFailure(doc["key"], doc["error"], doc["message"], doc["traceback"],
                               int(doc["attempts"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def clean_temporaries(self) -> int:
        """Remove temporary files left by killed runs; returns how many.

        Removed: those of a process of this host that is no longer alive, those older than
        :attr:`TEMPORARY_MAX_AGE`, and those without a writer's pid in their name (written by
        a version before writers were named). Kept: any other, which a live process may be
        writing right now.
        """
        return sum(remove_stale_temporaries(folder)
                   for folder in (self.cells_dir, self.failures_dir, self.root))

    # -- claims ------------------------------------------------------------------------------

    def claim_path(self, cell: Cell) -> Path:
        return self.claims_dir / f"{cell.key}.claim"

    def _identity(self) -> bytes:
        pid = os.getpid()
        return (canonical_json({"pid": pid, "host": HOST, "start": process_start(pid),
                                "time": time.time(), "token": self._token}) + "\n").encode()

    def _create_exclusive(self, path: Path, data: bytes) -> bool:
        """Create ``path`` holding ``data`` unless it exists (O_CREAT | O_EXCL)."""
        for _ in range(3):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            except FileNotFoundError:  # no claims folder (yet, or removed by a sweep's end)
                path.parent.mkdir(parents=True, exist_ok=True)
                continue
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            return True
        return False

    def claim(self, cell: Cell) -> bool:
        """Claim the cell for this sweep; False when a live sweep holds it.

        A claim of a dead process is taken over (see the module's docstring).
        """
        if cell.key in self._claims:
            return True
        path = self.claim_path(cell)
        for _ in range(3):
            if self._create_exclusive(path, self._identity()):
                self._claims[cell.key] = path
                return True
            try:
                held = path.read_bytes()
                age = time.time() - path.stat().st_mtime
            except FileNotFoundError:
                continue  # released meanwhile: try again
            if self.claim_is_live(held, age):
                return False
            if not self._take_over(path, held):
                return False  # another sweep is taking it over
            self._claims[cell.key] = path
            return True
        return False

    def claim_is_live(self, held: bytes, age: float) -> bool:
        """Whether a claim (its bytes, and seconds since it was written or refreshed) belongs
        to a sweep that may still be running."""
        try:
            owner = json.loads(held)
            pid, host = int(owner["pid"]), str(owner["host"])
        except (ValueError, KeyError, TypeError):
            return age < self._LOCK_MAX_AGE  # being written right now, or left by a crash
        if owner.get("token") == self._token:
            return True
        if host != HOST:
            return age < self.CLAIM_STALE_AFTER
        if not pid_alive(pid):
            return False
        started = owner.get("start")
        now = process_start(pid)
        return started is None or now is None or started == now  # else the pid was reused

    def _take_over(self, path: Path, stale: bytes) -> bool:
        """Replace a stale claim by this store's, under an exclusive lock file so that of two
        sweeps taking it over at once, one does."""
        lock = path.with_name(path.name + ".lock")
        if not self._create_exclusive(lock, self._identity()):
            try:  # a lock left by a sweep killed in the microseconds it holds one
                if time.time() - lock.stat().st_mtime > self._LOCK_MAX_AGE:
                    lock.unlink()
            except OSError:
                pass
            return False
        try:
            try:
                if path.read_bytes() != stale:
                    return False  # released, or taken over, meanwhile
            except FileNotFoundError:
                pass
            path.unlink(missing_ok=True)
            return self._create_exclusive(path, self._identity())
        finally:
            lock.unlink(missing_ok=True)

    def claim_owner(self, cell: Cell) -> dict[str, Any] | None:
        """Who holds the cell's claim (pid, host, ...), or None."""
        try:
            owner = json.loads(self.claim_path(cell).read_bytes())
        except (OSError, ValueError):
            return None
        return owner if isinstance(owner, dict) else None

    def release(self, cell: Cell) -> None:
        """Release this store's claim on the cell (nothing if it holds none)."""
        self._release(cell.key)

    def _release(self, key: str) -> None:
        path = self._claims.pop(key, None)
        if path is None:
            return
        try:  # only if it is still this store's (never one that another sweep took over)
            if json.loads(path.read_bytes()).get("token") == self._token:
                path.unlink()
        except (OSError, ValueError, AttributeError):
            pass

    def release_all(self) -> None:
        """Release every claim this store holds, and remove the claims folder if empty."""
        for key in list(self._claims):
            self._release(key)
        try:
            self.claims_dir.rmdir()
        except OSError:
            pass  # another sweep's claims are in it, or there is none

    @property
    def claimed(self) -> list[str]:
        """Keys of the cells this store holds a claim on."""
        return list(self._claims)

    def refresh_claims(self, every: float = 60.0) -> None:
        """Touch this store's claims (at most once per ``every`` seconds), so that sweeps on
        other hosts see them as live."""
        now = time.monotonic()
        if now - self._claims_touched < every:
            return
        self._claims_touched = now
        for path in self._claims.values():
            try:
                os.utime(path)
            except OSError:
                pass


def _parse_index_line(line: bytes) -> dict[str, Any] | None:
    """An index entry, or None for a line that is not one. A line torn by a crash and then
    continued by another writer's complete line yields that complete line."""
    for text in (line, line[max(line.rfind(b'{"'), 0):]):
        try:
            entry = json.loads(text)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            return entry
        return None
    return None
