"""The README and the docs stay true: every Python snippet runs, every relative link resolves,
and the MkDocs site builds in strict mode (a broken link or a page missing from the nav fails).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPET = re.compile(r"```python\n(.*?)```", re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _snippets() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in SNIPPET.finditer(text):
            line = text[:match.start()].count("\n") + 1
            found.append((f"{page.relative_to(ROOT)}:{line}", match.group(1)))
    return found


def test_the_readme_has_its_quick_start() -> None:
    assert any(name.startswith("README.md") for name, _ in _snippets())


@pytest.mark.parametrize("where,code", _snippets(), ids=[n for n, _ in _snippets()])
def test_python_snippet_runs(where: str, code: str, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # snippets that write files write them here
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, where, "exec"), {"__name__": "__snippet__"})


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        if not (page.parent / target).exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


def test_docs_build_strict(tmp_path: Path) -> None:
    if shutil.which("mkdocs") is None and not _has_module("mkdocs"):
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "index.html").exists()


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _toml_blocks() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"```toml\n(.*?)```", text, re.S):
            line = text[:match.start()].count("\n") + 1
            found.append((f"{page.relative_to(ROOT)}:{line}", match.group(1)))
    return found


def test_the_docs_show_an_experiment_file() -> None:
    assert _toml_blocks(), "docs/harness.md should show a TOML experiment"


@pytest.mark.parametrize("where,text", _toml_blocks(), ids=[n for n, _ in _toml_blocks()])
def test_toml_experiment_examples_are_valid(where: str, text: str) -> None:
    from decisiongym.harness.experiment import experiment_from_dict, tomllib

    experiment = experiment_from_dict(tomllib.loads(text), source=where)
    experiment.validate()
    assert experiment.agents and experiment.envs
