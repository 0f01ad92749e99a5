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
(key, status, file size and modification time). A cell counts as stored without opening its
file when its index line matches the file's size and mtime; a file the index does not know, or
whose size or mtime changed (copied in, edited, written by an older version), is decoded and
validated once, then indexed. Only the sweep's driver writes the store: results stream to it
from the workers. A lost index line costs one validation, never a wrong result.

A cell that failed is recorded in ``DIR/failures/<key>.json`` (error, traceback, attempts) and
in the index; it is not a result, so the next sweep runs it again, and a success removes the
failure record.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import subprocess
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

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


def _atomic_write(target: Path, data: bytes) -> None:
    """Temporary file in the target's directory, flush, fsync, rename over the target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultsStore:
    """``DIR/cells/<cell key>.npz``, one per cell, with ``DIR/index.jsonl`` to find them fast."""

    INDEX = "index.jsonl"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.cells_dir = self.root / "cells"
        self.failures_dir = self.root / "failures"
        self.index_path = self.root / self.INDEX
        self._index: dict[str, dict[str, Any]] | None = None
        self._index_lines = 0

    def path(self, cell: Cell) -> Path:
        return self.cells_dir / f"{cell.key}.npz"

    # -- the index ---------------------------------------------------------------------------

    def index(self) -> dict[str, dict[str, Any]]:
        """Key -> last index entry (``status`` "done" or "failed"), read once and kept."""
        if self._index is None:
            entries: dict[str, dict[str, Any]] = {}
            lines = 0
            try:
                with open(self.index_path, encoding="utf-8") as fh:
                    for line in fh:
                        lines += 1
                        try:
                            entry = json.loads(line)
                        except ValueError:
                            continue  # a line cut short by a crash
                        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                            entries[entry["key"]] = entry
            except FileNotFoundError:
                pass
            self._index, self._index_lines = entries, lines
        return self._index

    def _append(self, entry: dict[str, Any]) -> None:
        index = self.index()
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.index_path, "a", encoding="utf-8") as fh:
            fh.write(canonical_json(entry) + "\n")
        index[entry["key"]] = entry
        self._index_lines += 1
        if self._index_lines > 1000 and self._index_lines > 4 * len(index):
            self.compact_index()

    def compact_index(self) -> None:
        """Rewrite the index with one line per key (atomically)."""
        index = self.index()
        text = "".join(canonical_json(index[k]) + "\n" for k in sorted(index))
        _atomic_write(self.index_path, text.encode())
        self._index_lines = len(index)

    def _indexed(self, cell: Cell, target: Path) -> None:
        st = target.stat()
        self._append({"key": cell.key, "status": "done", "size": st.st_size,
                      "mtime_ns": st.st_mtime_ns, "env": cell.env.spec_name,
                      "agent": cell.agent.spec_name})

    # -- results -----------------------------------------------------------------------------

    def write(self, cell: Cell, result: CellResult) -> Path:
        """Write atomically (temporary file, fsync, rename), then index it."""
        target = self.path(cell)
        _atomic_write(target, _encode(result.arrays, result.record))
        self._indexed(cell, target)
        failure = self.failures_dir / f"{cell.key}.json"
        if failure.exists():
            failure.unlink(missing_ok=True)
        return target

    def read(self, cell: Cell) -> CellResult | None:
        """The cell's stored result, or None if absent, unreadable, or not this cell's."""
        target = self.path(cell)
        if not target.exists():
            return None
        try:
            result = _decode(target.read_bytes())
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

        The index vouches when its entry for the key says "done" with the file's current size
        and mtime; otherwise the file is read and validated once and, if good, indexed.
        """
        entry = self.index().get(cell.key)
        target = self.path(cell)
        if entry is not None and entry.get("status") == "done":
            try:
                st = target.stat()
            except OSError:
                return False
            if st.st_size == entry.get("size") and st.st_mtime_ns == entry.get("mtime_ns"):
                return True
        if self.read(cell) is None:
            return False
        self._indexed(cell, target)
        return True

    # -- failures ----------------------------------------------------------------------------

    def write_failure(self, cell: Cell, failure: CellFailure) -> Path:
        """Record why a cell failed (``DIR/failures/<key>.json``), and index it."""
        target = self.failures_dir / f"{cell.key}.json"
        document = {**failure.to_dict(), "spec": cell.spec(), "env_label": cell.env.name,
                    "agent_label": cell.agent.display, "versions": environment_versions()}
        _atomic_write(target, (json.dumps(document, indent=2, default=str) + "\n").encode())
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
        """Remove temporary files left by a killed run; returns how many."""
        stale = [path for folder in (self.cells_dir, self.failures_dir, self.root)
                 if folder.is_dir() for path in folder.glob(".*.tmp")]
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)
