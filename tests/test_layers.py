"""Imports run one way: (arrays, validation) -> theory -> envs -> agents -> supervised -> harness
-> reproductions -> cli (ARCHITECTURE.md). A module never imports one of a higher layer, not even
inside a function; the package's ``__init__`` (which registers everything) is the only exception.
``arrays`` (the array type aliases) and ``validation`` (the argument checks) share the lowest
layer: they import nothing of decisiongym above them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "decisiongym"
LAYERS = ["arrays", "validation", "files", "theory", "envs", "agents", "supervised", "harness",
          "ope", "reproductions", "cli"]
#: The rank of each layer: the modules of the lowest layer (arrays, validation, files) share
#: rank 0.
RANK = {name: max(0, i - 2) for i, name in enumerate(LAYERS)}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "decisiongym" or len(parts) < 2:
        return None
    return RANK.get(parts[1])


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


MODULES = sorted(p for p in ROOT.rglob("*.py") if p != ROOT / "__init__.py")


def test_every_module_belongs_to_a_layer() -> None:
    for path in MODULES:
        module = "decisiongym." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
        assert layer_of(module) is not None, f"{path} is in no layer of {LAYERS}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    module = "decisiongym." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
    own = layer_of(module)
    assert own is not None
    upward = [f"line {line}: {name}" for line, name in imported_modules(path)
              if (layer_of(name) or 0) > own]
    layer = module.split(".")[1]
    assert not upward, f"{module} ({layer}) imports a higher layer: {upward}"
