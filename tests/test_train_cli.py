"""`decisiongym train` as a user watches it: the header first, progress while it runs (a bar
on a terminal, plain lines otherwise), a loss per learner in progress.csv, every flag honoured
or refused in one line naming it and the agent, and several agents compared on the same seeds.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from pathlib import Path

import pytest

from decisiongym.cli import _progress_mode, main
from decisiongym.harness.training import TrainProgress, learner_losses

CARTPOLE = "CartPole-v1"
MAZE = "decisiongym/Maze-v0"
LAKE = "FrozenLake-v1"  # short episodes: returns and a quick greedy evaluation
# A DQN that takes gradient steps within 200 env steps.
SMALL_DQN = ["--param", "hidden=[8]", "--param", "learning_starts=32", "--param",
             "train_freq=16", "--param", "gradient_steps=1", "--param", "batch_size=8"]


def _one_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdout and stderr into one captured stream, so that their order shows."""
    monkeypatch.setattr(sys, "stderr", sys.stdout)


def test_train_prints_its_header_before_the_progress_lines(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _one_stream(monkeypatch)
    assert main(["train", "--env", CARTPOLE, "--agent", "dqn", "--steps", "200", "--seeds",
                 "2", *SMALL_DQN, "--eval-episodes", "0", "--progress", "lines"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"env      {CARTPOLE}" and lines[1].startswith("agent    dqn (")
    assert lines[2].startswith("budget   200 env steps per learner, 2 learner(s)")
    progress = [line for line in lines if line.startswith("train dqn on CartPole-v1:")]
    assert lines.index(progress[0]) > 2  # the header came first
    # A line per tenth of the budget (400 env steps over 2 learners), the last at 100%.
    assert len(progress) == 10 and " 10% 40/400 env steps" in progress[0]
    assert "100% 400/400 env steps" in progress[-1]
    for line in progress:
        assert "episodes, return (last 20) " in line and "steps/s" in line and "left" in line
    assert lines.index(progress[-1]) < lines.index(next(
        line for line in lines if line.startswith("time ")))


def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    args = argparse.Namespace(quiet=False, progress="auto")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert _progress_mode(args) == "bar"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert _progress_mode(args) == "lines"
    assert _progress_mode(argparse.Namespace(quiet=True, progress="bar")) == "off"
    stream = io.StringIO()
    bar = TrainProgress(1000, 2, mode="bar", description="dqn on CartPole-v1", stream=stream)
    bar.show(500, [3, 4], [21.5, math.nan])
    bar.close()
    text = stream.getvalue()
    # tqdm: done/total, steps per second and the time left (elapsed<left), and our postfix.
    assert "500/1" in text and "step/s" in text and "<" in text
    assert "episodes 7, return 21.5 -" in text
    quiet = io.StringIO()
    off = TrainProgress(1000, 1, mode="off", stream=quiet)
    assert not off.due(1000)
    off.close()
    assert quiet.getvalue() == ""


def test_progress_lines_come_every_tenth_and_every_few_seconds() -> None:
    stream = io.StringIO()
    lines = TrainProgress(1000, 1, mode="lines", stream=stream, line_seconds=0.0)
    assert lines.due(1)  # line_seconds=0: a line whenever asked
    slow = TrainProgress(1000, 1, mode="lines", stream=stream, line_seconds=3600.0)
    assert not slow.due(99) and slow.due(100)
    slow.show(100, [2], [5.0])
    assert not slow.due(150) and slow.due(200)
    assert stream.getvalue().startswith("train:  10% 100/1,000 env steps, 2 episodes, return "
                                        "(last 20) 5.0, ")


@pytest.mark.xfail(strict=True, reason="per-learner losses need DQN's last_losses "
                   "(agents/deep.py), not merged yet: the log falls back to the shared loss")
def test_progress_csv_has_each_learners_own_loss(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--env", CARTPOLE, "--agent", "dqn", "--steps", "200", "--seeds",
                 "2", *SMALL_DQN, "--log-dir", str(tmp_path), "--log-every", "100",
                 "--eval-episodes", "0", "--quiet"]) == 0
    capsys.readouterr()
    with open(tmp_path / "progress.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["env_steps"], r["learner"]) for r in rows] == [
        ("100", "0"), ("100", "1"), ("200", "0"), ("200", "1")]
    last = [float(r["loss"]) for r in rows[2:]]
    assert all(math.isfinite(x) for x in last) and last[0] != last[1]


def test_learner_losses() -> None:
    class PerLearner:
        last_losses = (0.5, 0.25)
        last_loss = 0.375

    class Shared:
        last_loss = 0.375

    assert learner_losses(PerLearner(), 2) == [0.5, 0.25]
    assert learner_losses(Shared(), 1) == [0.375]
    assert all(math.isnan(x) for x in learner_losses(Shared(), 2))  # not any learner's


def test_sb3_honours_log_dir_and_eval_episodes_and_shows_progress(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _one_stream(monkeypatch)
    log = tmp_path / "runs" / "ppo"
    assert main(["train", "--env", CARTPOLE, "--agent", "sb3-ppo", "--steps", "64",
                 "--param", "hyperparams={'n_steps': 32, 'batch_size': 32, 'n_epochs': 1}",
                 "--log-dir", str(log), "--log-every", "32", "--eval-episodes", "1",
                 "--progress", "lines"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"env      {CARTPOLE}" and lines[1].startswith("agent    sb3-ppo (")
    progress = [line for line in lines if line.startswith("train sb3-ppo on CartPole-v1:")]
    assert progress and lines.index(progress[0]) > 2 and "100% 64/64" in progress[-1]
    assert "greedy evaluation (1 episodes per env copy)" in "\n".join(lines)
    with open(log / "progress.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["env_steps"]) for r in rows] == [32, 64]
    assert all(math.isfinite(float(r["loss"])) for r in rows[1:])


def test_tensorboard_is_honoured_or_refused_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--env", CARTPOLE, "--agent", "dqn", "--steps", "20", "--param",
                 "hidden=[8]", "--tensorboard", "--log-dir", str(tmp_path), "--quiet",
                 "--eval-episodes", "0"])
    captured = capsys.readouterr()
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        assert code == 2 and captured.out == ""  # refused before anything runs
        assert captured.err.strip().splitlines() == [
            "decisiongym: error: train: --tensorboard needs the tensorboard package (pip "
            "install tensorboard); CSV logs need nothing"]
    else:
        assert code == 0 and (tmp_path / "tensorboard").is_dir()
    assert main(["train", "--env", CARTPOLE, "--agent", "dqn", "--steps", "20",
                 "--tensorboard"]) == 2
    assert "--tensorboard needs a --log-dir" in capsys.readouterr().err


@pytest.mark.parametrize(("agent", "env", "flag"), [
    ("q-learning", MAZE, ["--checkpoint", "x.pt"]),
    ("q-learning", MAZE, ["--resume", "x.pt"]),
    ("smdp-q", "decisiongym/FourRooms-v0", ["--log-dir", "logs"]),
    ("smdp-q", "decisiongym/FourRooms-v0", ["--eval-episodes", "3"]),
])
def test_a_flag_an_agent_cannot_honour_is_refused_in_one_line_naming_both(
        agent: str, env: str, flag: list[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--env", env, "--agent", agent, "--steps", "50", *flag]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert f"train: {flag[0]} is not available for agent {agent!r}" in line
    assert captured.out == "" and not (tmp_path / "logs").exists()


def test_an_agent_with_a_loop_of_its_own_trains_without_those_flags(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--env", "decisiongym/FourRooms-v0", "--agent", "smdp-q",
                 "--steps", "200", "--quiet"]) == 0
    assert "training return" in capsys.readouterr().out


def test_train_compares_several_agents_on_the_same_seeds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["train", "--env", LAKE, "--agent", "q-learning", "--agent", "sarsa",
                 "--param", "alpha=0.5", "--param", "sarsa.epsilon=0.2", "--steps", "400",
                 "--seeds", "3", "--log-dir", str(tmp_path / "logs"), "--out", str(out),
                 "--plot", str(tmp_path / "curves.png"), "--eval-episodes", "2",
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert text.count(f"env      {LAKE}") == 2
    (sarsa,) = [line for line in text.splitlines() if line.startswith("agent    sarsa (")]
    assert "alpha=0.5" in sarsa and "epsilon=0.2" in sarsa  # shared, then its own
    assert f"Comparison on {LAKE} (3 learner(s) each, the same seeds)" in text
    assert "q-learning(alpha=0.5)" in text and "sarsa(alpha=0.5,epsilon=0.2)" in text
    assert "greedy evaluation, mean over learners  95% CI" in text
    assert "Difference of the final return from q-learning(alpha=0.5)" in text
    for name in ("q-learning", "sarsa"):
        assert (tmp_path / "logs" / name / "progress.csv").exists()
    with open(out / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["agent"] for r in rows] == ["q-learning", "sarsa"]
    assert all(float(r["final_return_ci_low"]) <= float(r["final_return_mean"])
               <= float(r["final_return_ci_high"]) for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 0 and len(summary["differences"]) == 1
    assert len(summary["greedy_evaluation"]["sarsa"]) == 3
    assert (out / "return.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    # One agent's checkpoint file cannot hold several.
    assert main(["train", "--env", LAKE, "--agent", "q-learning", "--agent", "sarsa",
                 "--checkpoint", str(tmp_path / "x.pt")]) == 2
    assert "--checkpoint names one agent's file" in capsys.readouterr().err
