"""Crash-safe checkpoints, unreadable ``--resume`` files, and the step cap of evaluations.

- Checkpoints (ours with ``torch.save``, SB3's zips) are written atomically: a failure or a
  ``kill -9`` in the middle of a save leaves the previous checkpoint, complete.
- Every unreadable ``--resume`` file is exit 2 with one line naming it and what is wrong.
- Every greedy evaluation has a step cap per episode and reports the episodes it cut.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import decisiongym  # noqa: F401
from decisiongym import agents
from decisiongym.agents.deep import CheckpointError, CheckpointMismatch, atomic_write
from decisiongym.agents.policy import PolicyAgent
from decisiongym.cli import main
from decisiongym.files import HOST_TAG
from decisiongym.harness.training import DEFAULT_EVAL_STEP_CAP, env_step_limit, evaluate, train

CARTPOLE = "CartPole-v1"
CLIFF = "CliffWalking-v1"  # registered by Gymnasium without a step limit
LEFT = 3  # CliffWalking: from the start (bottom left corner) left is a wall


def _dqn(hidden: list[int] | None = None, seeds: int = 1) -> Any:
    env = gym.make(CARTPOLE)
    agent = agents.make("dqn", observation_space=env.observation_space,
                        action_space=env.action_space, hidden=hidden or [32])
    agent.reset(seeds, seed=0)
    return agent


# ----- atomic writes ---------------------------------------------------------------------------


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    agent = _dqn()
    path = agent.save(tmp_path / "ks.pt")
    before = path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    agent.steps = 123  # a new state that does not get written
    with pytest.raises(OSError, match="No space left"):
        agent.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before  # the previous checkpoint, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ks.pt"]  # no temporary left
    _dqn().load(path)


def test_atomic_write_replaces_and_cleans_temporaries_of_dead_writers(tmp_path: Path) -> None:
    target = tmp_path / "ks.pt"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f".ks.pt.{HOST_TAG}-{int(dead.stdout)}.abcd1234.tmp"  # left by kill -9
    live = tmp_path / f".ks.pt.{HOST_TAG}-{os.getpid()}.abcd1234.tmp"  # a live writer's: kept
    other = tmp_path / f".other.pt.{HOST_TAG}-1.abcd1234.tmp"  # another file's: kept
    for p in (stale, live, other):
        p.write_bytes(b"partial")
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert not stale.exists() and live.exists() and other.exists()


def test_sb3_checkpoints_are_written_atomically(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from stable_baselines3 import PPO

    from decisiongym.agents.sb3 import save_model

    model = PPO("MlpPolicy", gym.make(CARTPOLE), n_steps=64, seed=0, device="cpu")
    path = save_model(model, tmp_path / "ppo.zip")
    assert zipfile.is_zipfile(path)
    before = path.read_bytes()

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated"):
        save_model(model, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ppo.zip"]
    PPO.load(path, device="cpu")


def _kill_trials(tmp_path: Path, agent: str, extra: list[str], trials: int,
                 seed: int) -> tuple[int, int, list[str]]:
    """Start ``decisiongym train ... --checkpoint`` and SIGKILL it at a random moment after
    its first checkpoint, ``trials`` times; then resume from every checkpoint left.
    Returns (trials killed while running, checkpoints that failed to load, failures)."""
    rng = random.Random(seed)
    killed = 0
    failures: list[str] = []
    for trial in range(trials):
        work = tmp_path / f"{agent}-{trial}"
        work.mkdir()
        ckpt = work / ("ks.zip" if agent.startswith("sb3-") else "ks.pt")
        args = ["train", "--env", CARTPOLE, "--agent", agent, "--steps", "10000000",
                "--log-every", "8", "--checkpoint", str(ckpt), "--eval-episodes", "0", *extra]
        proc = subprocess.Popen([sys.executable, "-m", "decisiongym.cli", *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            if not ckpt.exists():
                proc.kill()
                assert proc.stderr is not None
                pytest.fail(f"no checkpoint written: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(rng.uniform(0.0, 1.0))  # somewhere in the middle of the saves
            killed += proc.poll() is None
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stderr is not None
            proc.stderr.close()
        resume = ["train", "--env", CARTPOLE, "--agent", agent, "--steps", "16",
                  "--resume", str(ckpt), "--eval-episodes", "0", *extra]
        if main(resume) != 0:
            failures.append(f"trial {trial}: {ckpt} ({ckpt.stat().st_size} bytes)")
    return killed, len(failures), failures


@pytest.mark.slow
def test_kill_9_during_checkpointing_never_leaves_an_unloadable_checkpoint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 10 SIGKILLs of a DQN run saving a ~1 MB checkpoint every 8 env steps: before atomic
    # writes, 3 of 10 checkpoints were unloadable (EOFError, OSError, PytorchStreamReader).
    killed, lost, failures = _kill_trials(tmp_path, "dqn", ["--param", "hidden=[256,256]"],
                                          trials=10, seed=20)
    with capsys.disabled():
        print(f"\nkill -9 of `decisiongym train --agent dqn --checkpoint`: {killed} kills "
              f"while saving every 8 steps, {lost} unloadable checkpoints")
    assert killed == 10 and lost == 0, failures


@pytest.mark.slow
def test_kill_9_during_sb3_checkpointing_never_leaves_an_unloadable_zip(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    killed, lost, failures = _kill_trials(tmp_path, "sb3-dqn",
                                          ["--param", "hyperparams={'learning_starts': 10}"],
                                          trials=5, seed=21)
    with capsys.disabled():
        print(f"\nkill -9 of `decisiongym train --agent sb3-dqn --checkpoint`: {killed} kills, "
              f"{lost} unloadable checkpoints")
    assert killed == 5 and lost == 0, failures


# ----- unreadable --resume files: exit 2, one line -------------------------------------------


def _bad_file(kind: str, tmp_path: Path, good: Path) -> Path:
    path = tmp_path / f"bad-{kind}.pt"
    if kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "text":
        path.write_text("hello, this is not a checkpoint\n")
    elif kind == "zip of something else":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("notes.txt", "hello")
    elif kind == "directory":
        path.mkdir()
    elif kind == "missing":
        pass
    return path


BAD_KINDS = ["random bytes", "empty", "truncated", "text", "zip of something else",
             "directory", "missing"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_an_unreadable_resume_file_is_exit_2_with_one_line(
        kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _dqn().save(tmp_path / "good.pt")
    bad = _bad_file(kind, tmp_path, good)
    code = main(["train", "--env", CARTPOLE, "--agent", "dqn", "--steps", "16",
                 "--param", "hidden=[32]", "--resume", str(bad), "--eval-episodes", "0"])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured
    assert len(lines) == 1 and str(bad) in lines[0], lines
    assert lines[0].startswith("decisiongym: error: dqn: checkpoint")
    with pytest.raises(CheckpointError, match="checkpoint"):
        _dqn().load(bad)


def test_a_checkpoint_of_another_architecture_is_still_refused_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _dqn(hidden=[32]).save(tmp_path / "good.pt")
    code = main(["train", "--env", CARTPOLE, "--agent", "dqn", "--steps", "16",
                 "--param", "hidden=[16]", "--resume", str(good), "--eval-episodes", "0"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and str(good) in lines[0]
    assert "another architecture" in lines[0] and "hidden" in lines[0]
    with pytest.raises(CheckpointMismatch):
        _dqn(hidden=[16]).load(good)


def test_a_damaged_checkpoint_leaves_the_agent_unchanged(tmp_path: Path) -> None:
    import torch

    agent = _dqn()
    state = agent.state_dict()
    del state["tensors"]["q"]
    torch.save(state, tmp_path / "partial.pt")
    before = [t.clone() for t in agent._tensors()["q"]]
    with pytest.raises(CheckpointError, match="damaged or incomplete"):
        agent.load(tmp_path / "partial.pt")
    for a, b in zip(before, agent._tensors()["q"], strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kind", ["random bytes", "empty", "truncated", "text", "missing"])
def test_an_unreadable_sb3_resume_file_is_exit_2_with_one_line(
        kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stable_baselines3 import PPO

    from decisiongym.agents.sb3 import save_model

    good = save_model(PPO("MlpPolicy", gym.make(CARTPOLE), n_steps=64, device="cpu"),
                      tmp_path / "good.zip")
    bad = _bad_file(kind, tmp_path, good).with_suffix(".zip")
    if kind != "missing":
        _bad_file(kind, tmp_path, good).rename(bad)
    code = main(["train", "--env", CARTPOLE, "--agent", "sb3-ppo", "--steps", "64",
                 "--resume", str(bad), "--eval-episodes", "0"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and str(bad) in lines[0], lines


# ----- the step cap of evaluations ------------------------------------------------------------


def _wall_walker(copies: int = 2) -> PolicyAgent:
    """Always walks into the wall at CliffWalking's start: an episode that never ends."""
    agent = PolicyAgent(lambda obs: LEFT, name="wall-walker")
    agent.reset(copies)
    return agent


def test_evaluation_of_a_policy_that_never_ends_an_episode_is_capped() -> None:
    assert env_step_limit(CLIFF) is None
    result = evaluate(_wall_walker(), CLIFF, episodes=3)  # returns: no hang
    assert result.step_cap == DEFAULT_EVAL_STEP_CAP == 1000
    assert result.cap_source == "default"
    np.testing.assert_array_equal(result.capped, [3, 3])
    np.testing.assert_array_equal(result.returns, [-1000.0, -1000.0])
    assert result.total_capped == result.total_episodes == 6
    assert result.describe_cap().startswith("6 of 6 evaluation episodes hit the 1000-step cap")
    small = evaluate(_wall_walker(), CLIFF, episodes=2, max_episode_steps=25)
    assert (small.step_cap, small.cap_source, small.total_capped) == (25, "argument", 4)
    np.testing.assert_array_equal(small.returns, [-25.0, -25.0])


def test_the_cap_is_the_envs_own_limit_where_it_has_one() -> None:
    agent = PolicyAgent(lambda obs: 0, name="always-left")
    agent.reset(2)
    result = evaluate(agent, CARTPOLE, episodes=2)  # falls over long before 500 steps
    assert (result.step_cap, result.cap_source, result.total_capped) == (500, "env", 0)
    assert env_step_limit("decisiongym/TabularMDP-v0") == 100  # decisiongym's own truncation
    cut = evaluate(agent, CARTPOLE, episodes=2, max_episode_steps=3)  # below the env's own
    assert (cut.step_cap, cut.total_capped) == (3, 4)
    np.testing.assert_array_equal(cut.returns, [3.0, 3.0])


def test_train_reports_the_capped_evaluation_episodes(
        capsys: pytest.CaptureFixture[str]) -> None:
    # An untrained DQN's greedy policy on CliffWalking-v1 walks into a wall or the cliff
    # forever: before the cap, `decisiongym train` hung here.
    code = main(["train", "--env", CLIFF, "--agent", "dqn", "--steps", "200",
                 "--param", "hidden=[16]", "--eval-episodes", "2", "--eval-max-steps", "200"])
    out = capsys.readouterr().out
    assert code == 0
    assert "2 of 2 evaluation episodes hit the 200-step cap" in out, out
    result = train(CLIFF, "dqn", seeds=2, steps=200, agent_params={"hidden": [16]},
                   eval_episodes=1, eval_max_episode_steps=50)
    assert result.evaluation_report is not None
    assert result.evaluation_report.step_cap == 50
    assert result.evaluation_report.total_capped == 2
    with pytest.raises(ValueError, match="eval_max_episode_steps"):
        train(CLIFF, "dqn", seeds=1, steps=10, eval_max_episode_steps=0)
