"""The results store: one file per cell, written atomically, read back with validation.

A cell file ``DIR/cells/<key>.npz`` is an uncompressed-header zip of numpy arrays plus a
``record`` entry, a JSON document with everything needed to reproduce the cell (environment id
and kwargs, agent and parameters, seeds, horizon, package versions, git revision). The zip is
written with fixed timestamps and in a fixed order, so the same result gives the same bytes
whichever runner, worker or session wrote it. Writing goes to a temporary file in the same
directory, flushed and fsynced, then renamed over the target (atomic on POSIX): a run killed
mid-write leaves either no file or a complete one, never a corrupt result. A file that fails to
load or validate is treated as missing and recomputed.
"""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import tempfile
import zipfile
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


def _decode(data: bytes) -> CellResult:
    arrays: dict[str, NDArray[Any]] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        bad = zf.testzip()
        if bad is not None:
            raise ValueError(f"corrupt member {bad}")
        record = json.loads(zf.read("record.json"))
        for name in zf.namelist():
            if name.endswith(".npy"):
                arrays[name[:-4]] = np.lib.format.read_array(io.BytesIO(zf.read(name)),
                                                             allow_pickle=False)
    return CellResult(arrays, record)


class ResultsStore:
    """``DIR/cells/<cell key>.npz``, one per cell."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.cells_dir = self.root / "cells"

    def path(self, cell: Cell) -> Path:
        return self.cells_dir / f"{cell.key}.npz"

    def write(self, cell: Cell, result: CellResult) -> Path:
        """Write atomically: temporary file in the same directory, fsync, rename."""
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        target = self.path(cell)
        data = _encode(result.arrays, result.record)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=self.cells_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def read(self, cell: Cell) -> CellResult | None:
        """The cell's stored result, or None if absent, unreadable, or not this cell's."""
        target = self.path(cell)
        if not target.exists():
            return None
        try:
            result = _decode(target.read_bytes())
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
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
        return self.read(cell) is not None

    def clean_temporaries(self) -> int:
        """Remove temporary files left by a killed run; returns how many."""
        if not self.cells_dir.exists():
            return 0
        stale = list(self.cells_dir.glob(".*.tmp"))
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)
