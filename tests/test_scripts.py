"""The programs in scripts/ run from top to bottom at their --quick size and do what they say."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / script), "--quick", *args],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_compare_bandits(tmp_path: Path) -> None:
    out = _run("compare_bandits.py", "--out", str(tmp_path))
    assert out.count("regret at T = 500") == 4
    assert (tmp_path / "regret.png").read_bytes()[:4] == b"\x89PNG"


def test_q_learning_maze(tmp_path: Path) -> None:
    out = _run("q_learning_maze.py", "--out", str(tmp_path))
    assert "regret against the optimum" in out
    assert (tmp_path / "maze_values.png").read_bytes()[:4] == b"\x89PNG"


def test_train_dqn_cartpole(tmp_path: Path) -> None:
    out = _run("train_dqn_cartpole.py", "--out", str(tmp_path))
    assert "greedy evaluation return" in out
    assert (tmp_path / "progress.csv").exists()


def test_sb3_beside_ours() -> None:
    out = _run("sb3_beside_ours.py")
    assert "SB3 PPO" in out and "our DQN" in out
    # The hand-written rule balances the pole far longer than a random policy (about 20).
    rule = float(out.split("pole-angle rule: mean episode return")[1].split()[0])
    assert rule > 100


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_ray_sweep(tmp_path: Path) -> None:
    out = _run("ray_sweep.py", "--out", str(tmp_path / "sweep"))
    assert "12 cells computed, 0 already stored" in out
    # Run again: everything is stored, nothing is recomputed.
    assert "0 cells computed, 12 already stored" in _run("ray_sweep.py", "--out",
                                                         str(tmp_path / "sweep"))
