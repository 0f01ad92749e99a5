"""The `decisiongym` command, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from decisiongym.cli import main, parse_assignment


def test_list_names_every_environment_and_agent(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for env_id in ("BernoulliBandit-v0", "GaussianBandit-v0", "KuleshovPrecup-v0",
                   "ChapelleLi-v0", "BetaBandit-v0"):
        assert f"decisiongym/{env_id}" in out
    for agent in ("ucb1", "kl-ucb", "thompson-beta", "softmax", "pursuit", "etc"):
        assert f"  {agent} " in out


def test_run_prints_regret_with_interval_and_writes_plot_and_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png, record = tmp_path / "regret.png", tmp_path / "run.json"
    code = main(["run", "--env", "decisiongym/ChapelleLi-v0", "--agent", "thompson-beta",
                 "--seeds", "20", "--horizon", "500", "--env-kwarg", "k=5",
                 "--param", "a=1", "--plot", str(png), "--json", str(record), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "pseudo-regret at the end:" in out and "95% CI [" in out
    assert "Lai-Robbins" in out
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    data = json.loads(record.read_text())
    lo, hi = data["final_regret_ci95"]
    assert lo <= data["final_regret_mean"] <= hi
    assert data["metric"] == "regret" and data["regret_kind"] == "pseudo"
    assert data["params"] == {"a": 1, "b": 1.0, "pull_each_arm_first": False}


def test_run_is_reproducible(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "--env", "decisiongym/KuleshovPrecup-v0", "--agent", "softmax",
            "--seeds", "5", "--horizon", "200", "--seed", "3", "--quiet"]
    main(args)
    first = capsys.readouterr().out
    main(args)
    assert capsys.readouterr().out == first


def test_bad_parameter_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--env", "decisiongym/BernoulliBandit-v0", "--agent", "ucb1",
                 "--param", "alpha=-1", "--quiet"]) == 2
    assert "ucb1: alpha must be" in capsys.readouterr().err
    assert main(["run", "--env", "decisiongym/BernoulliBandit-v0", "--agent", "ucb1",
                 "--env-kwarg", "means=[0.5, 1.5]", "--quiet"]) == 2
    assert "BernoulliBandit-v0: means[1] = 1.5" in capsys.readouterr().err


def test_parse_assignment() -> None:
    assert parse_assignment("alpha=2") == ("alpha", 2)
    assert parse_assignment("means=[0.1, 0.2]") == ("means", [0.1, 0.2])
    assert parse_assignment("schedule=decay") == ("schedule", "decay")
    assert parse_assignment("flag=true") == ("flag", True)


def test_console_script_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "decisiongym.cli", "run", "--env",
                             "decisiongym/BernoulliBandit-v0", "--agent", "ucb1", "--seeds", "3",
                             "--horizon", "50", "--quiet"],
                            capture_output=True, text=True, check=True, timeout=120)
    assert "pseudo-regret at the end:" in result.stdout
