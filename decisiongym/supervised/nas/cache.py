"""On-disk cache of architecture evaluations, keyed by the architecture and the training seed.

One JSON file per evaluation, named by the SHA-256 of a canonical description of what was
trained (space, tokens, child settings, training budget, data seed, training seed). A writer
writes a uniquely named temporary file in the same directory and renames it over the target:
``os.replace`` is atomic on POSIX and Windows, so a reader sees either nothing or a whole file,
and two processes writing the same key at once both succeed (the last rename wins, and both
wrote the same evaluation). Nothing is locked.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def default_cache_dir() -> Path:
    """``$DECISIONGYM_CACHE/nas`` if set, else ``~/.cache/decisiongym/nas``."""
    root = os.environ.get("DECISIONGYM_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "decisiongym") / "nas"


def cache_key(description: dict[str, Any]) -> str:
    text = json.dumps(description, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class EvaluationCache:
    """get/put of evaluation records (JSON-serialisable dicts) in ``directory``."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, description: dict[str, Any]) -> dict[str, Any] | None:
        path = self._path(cache_key(description))
        try:
            with open(path) as fh:
                record: dict[str, Any] = json.load(fh)
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return record

    def put(self, description: dict[str, Any], record: dict[str, Any]) -> None:
        path = self._path(cache_key(description))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump({**record, "description": description}, fh, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


__all__ = ["EvaluationCache", "cache_key", "default_cache_dir"]
