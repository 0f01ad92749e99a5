"""The `decisiongym` command, run as a user would."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from decisiongym.cli import family_of, main, parse_assignment, split_params


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


# ----- the CLI as users expect it ------------------------------------------------------------


def test_version_is_the_installed_one(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import metadata

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"decisiongym {metadata.version('decisiongym')}"


def test_list_groups_by_the_family_of_the_registering_module(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert family_of("decisiongym.agents.tabular") == "tabular"
    assert family_of("decisiongym.supervised.nas.agents") == "nas"
    assert family_of("decisiongym.envs.hierarchical") == "hierarchical"
    assert family_of("tests.userpkg.chain") == "other"
    assert main(["list", "--import", "tests.userpkg.chain"]) == 0
    out = capsys.readouterr().out
    agents_part = out[out.index("Agents (decisiongym.agents.make)"):]

    def family_before(name: str) -> str:
        head = agents_part[:agents_part.index(f"    {name} ")]
        return [line.strip() for line in head.splitlines() if line.startswith("  ")
                and not line.startswith("    ")][-1]

    assert family_before("ucb1") == "stochastic bandits"
    assert family_before("linucb") == "contextual bandits"
    assert family_before("exp3") == "adversarial bandits"
    assert family_before("q-learning") == "tabular and linear RL (MDPs, mazes)"
    assert family_before("dqn") == family_before("sb3-ppo") == "deep RL"
    assert family_before("maxq-q") == "hierarchical RL"
    assert family_before("net-full") == "supervised learning as decisions"
    assert family_before("user-always-right") == "other (registered outside decisiongym)"
    envs_part = out[:out.index("Agents (decisiongym.agents.make)")]
    assert envs_part.index("contextual bandits") < envs_part.index(
        "decisiongym/LinearContextualBandit-v0") < envs_part.index("adversarial bandits")


def test_list_env_shows_the_agents_that_fit_its_spaces(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--env", "decisiongym/Maze-v0"]) == 0
    out = capsys.readouterr().out
    fit = out[:out.index("Refused with their default parameters")]
    assert out.startswith("Agents that fit decisiongym/Maze-v0 (observations Discrete(29), "
                          "actions Discrete(4))")
    assert "    q-learning " in fit and "    dqn " in fit and "    linucb " not in fit
    (mismatch,) = [line for line in out.splitlines() if line.startswith("Do not fit")]
    assert "linucb" in mismatch and "q-learning" not in mismatch
    assert "  etc  " in out and "give m (pulls per arm)" in out  # needs a parameter
    assert "Train on a game of their own, not on an env: gan, wgan, wgan-gp" in out
    assert main(["list", "--env", "CartPole-v1"]) == 0
    out = capsys.readouterr().out
    assert "    dqn " in out and "    q-learning " not in out


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--env", "decisiongym/BernoulliBandit-v0", "--agent", "ucb"],
     "unknown agent 'ucb'; did you mean 'ucb1'"),
    (["train", "--env", "CartPole-v1", "--agent", "dqm"],
     "unknown agent 'dqm'; did you mean 'dqn'"),
    (["run", "--env", "BernoulliBandit-v0", "--agent", "ucb1"],
     "unknown environment 'BernoulliBandit-v0'; did you mean 'decisiongym/BernoulliBandit-v0'"),
    (["list", "--env", "Cartpole-v1"], "unknown environment 'Cartpole-v1'; did you mean "
     "'CartPole-v1'"),
    (["reproduce", "kuleshov"], "unknown reproduction 'kuleshov'; did you mean "
     "'kuleshov-precup'"),
    (["run", "--env", "decisiongym/BernoulliBandit-v0", "--agent", "ucb1", "--agent",
      "thompson-beta", "--param", "thompson.a=2"],
     "'thompson' is not one of the agents (ucb1, thompson-beta); did you mean 'thompson-beta'"),
])
def test_a_misspelt_name_gets_one_line_with_a_did_you_mean(
        argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--seeds", "2"] if argv[0] == "run" else argv) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("decisiongym: error: ") and message in line, line


def test_reproduce_list_is_a_table_of_sizes_and_times_that_runs_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from decisiongym.reproductions import get_reproduction, list_reproductions

    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # nothing run, nothing written
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("name "))
    assert header.split() == ["name", "cells", "--quick", "cells", "full", "time", "--quick",
                              "time", "full"]
    for name, summary in list_reproductions():
        (row,) = [line for line in lines if line.startswith(f"{name} ")]
        reproduction = get_reproduction(name)
        quick = len(reproduction.experiment(True).cells())
        full = len(reproduction.experiment(False).cells())
        assert row.split()[1:3] == [str(quick), str(full)], row
        assert summary[:40] in out
    assert "1.5 min" in next(line for line in lines if line.startswith("adversarial "))
    assert main(["reproduce"]) == 2
    assert "decisiongym reproduce --list" in capsys.readouterr().err


def test_list_into_a_closed_pipe_exits_quietly() -> None:
    # `decisiongym list | head`: the reader goes away before the output is written.
    proc = subprocess.Popen([sys.executable, "-m", "decisiongym.cli", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and err == ""


# ----- run compares ----------------------------------------------------------------------------


def test_split_params_routes_each_parameter_to_its_agents() -> None:
    assert split_params([("alpha", 3)], ["ucb1"]) == {"ucb1": {"alpha": 3}}
    # A single agent gets an unknown key too: its own error names it, as before.
    assert split_params([("zz", 1)], ["ucb1"]) == {"ucb1": {"zz": 1}}
    both = split_params([("thompson-beta.a", 2), ("alpha", 3)], ["ucb1", "thompson-beta"])
    assert both == {"ucb1": {"alpha": 3}, "thompson-beta": {"a": 2}}
    shared = split_params([("epsilon", 0.1), ("sarsa.epsilon", 0.3)],
                          ["q-learning", "sarsa"])
    assert shared == {"q-learning": {"epsilon": 0.1}, "sarsa": {"epsilon": 0.3}}
    with pytest.raises(ValueError, match="none of the agents ucb1, thompson-beta takes 'zz'"):
        split_params([("zz", 1)], ["ucb1", "thompson-beta"])


def test_run_compares_several_agents_on_common_random_numbers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = ["--env", "decisiongym/BernoulliBandit-v0", "--seeds", "10", "--horizon", "200",
           "--quiet"]
    out, record = tmp_path / "out", tmp_path / "run.json"
    assert main(["run", *env, "--agent", "ucb1", "--agent", "thompson-beta", "--param",
                 "thompson-beta.a=2", "--out", str(out), "--json", str(record)]) == 0
    text = capsys.readouterr().out
    assert "the same seeds for every agent (common random numbers)" in text
    assert "agent    ucb1 (alpha=2.0)" in text and "agent    thompson-beta (a=2," in text
    table = text[text.index("regret(T)"):]
    assert "ucb1 " in table and "thompson-beta(a=2) " in table and "ci95 low" in table
    assert "Difference of the final regret from ucb1 (paired over the common seeds" in text
    with open(out / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["agent"] for r in rows] == ["ucb1", "thompson-beta"]
    assert (out / "regret.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads(record.read_text())
    (difference,) = data["differences"]
    assert difference["ci_low"] <= difference["difference"] <= difference["ci_high"]
    # Common random numbers: each agent's runs are those it makes alone on the same seeds.
    assert main(["run", *env, "--agent", "ucb1", "--json", str(tmp_path / "alone.json")]) == 0
    capsys.readouterr()
    alone = json.loads((tmp_path / "alone.json").read_text())
    assert alone["final_regret_mean"] == pytest.approx(data["rows"][0]["final_regret_mean"])
    # The same agent twice is refused (its settings are compared with an experiment file).
    assert main(["run", *env, "--agent", "ucb1", "--agent", "ucb1"]) == 2
    assert "--agent ucb1 is given twice" in capsys.readouterr().err
