"""Stable-Baselines3: on decisiongym bandits directly; through the harness (trained by SB3's own
loop, evaluated as batched agents with PolicyAgent); ``decisiongym train`` with SB3."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

import decisiongym  # noqa: F401
from decisiongym import agents
from decisiongym.agents import PolicyAgent
from decisiongym.agents.base import TrainingTask
from decisiongym.agents.sb3 import train_sb3_models
from decisiongym.cli import main
from decisiongym.harness import AgentMismatch, run


def test_ppo_learns_the_better_arm_of_a_bernoulli_bandit() -> None:
    torch.set_num_threads(1)
    env = gym.make("decisiongym/BernoulliBandit-v0", means=[0.1, 0.9], horizon=32)
    model = PPO("MlpPolicy", env, n_steps=128, batch_size=64, learning_rate=3e-3, seed=0,
                device="cpu", verbose=0)
    obs = np.zeros((1,), dtype=np.int64)

    def p_best_arm() -> float:
        with torch.no_grad():
            dist = model.policy.get_distribution(model.policy.obs_to_tensor(obs)[0])
            return float(dist.distribution.probs[0, 1])  # type: ignore[union-attr]

    p_before = p_best_arm()
    model.learn(total_timesteps=2048)
    assert p_best_arm() > max(0.8, p_before)
    mean_return, _ = evaluate_policy(model, Monitor(env), n_eval_episodes=5, deterministic=True)
    assert isinstance(mean_return, float) and mean_return > 0.7 * 32


# ----- SB3 through the harness: trained by SB3's own loop, evaluated as a batched agent -------

CARTPOLE = "CartPole-v1"
SMALL_PPO: dict[str, Any] = {"hyperparams": {"n_steps": 256, "batch_size": 64, "n_epochs": 4}}


def _first_episode_returns(model: Any, seeds: list[int]) -> list[float]:
    """By hand: the greedy model on single CartPole envs reset with each seed."""
    out = []
    for s in seeds:
        env = gym.make(CARTPOLE)
        obs, _ = env.reset(seed=s)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total += float(reward)
            done = terminated or truncated
        out.append(total)
    return out


def test_sb3_ppo_through_run_gives_final_returns_reproducibly() -> None:
    torch.set_num_threads(1)
    runs = [run(CARTPOLE, "sb3-ppo", replicates=2, horizon=1200, seed=5, agent_params=SMALL_PPO)
            for _ in range(2)]
    a, b = runs
    assert a.metric == "return" and a["final_return"].shape == (2,)
    assert np.isfinite(a["final_return"]).all() and (a["episodes"] >= 10).all()
    assert a["return_curve"].shape == (a["grid"].size, 2) and a["grid"][-1] == 1200
    # Episodes end within the budget, counted in the learner's env steps; lengths add up.
    ends, lengths = a["episode_end_step"], a["episode_length"]
    assert np.nanmax(ends) <= 1200
    for i in range(2):
        ok = np.isfinite(ends[:, i])
        np.testing.assert_array_equal(np.cumsum(lengths[ok, i]), ends[ok, i])
        np.testing.assert_array_equal(lengths[ok, i], a["episode_return"][ok, i])  # +1 a step
    # The same seed gives the same records bit for bit; another seed others.
    for key in ("episode_return", "episode_end_step", "final_return", "return_curve"):
        np.testing.assert_array_equal(a[key], b[key])
    other = run(CARTPOLE, "sb3-ppo", replicates=2, horizon=1200, seed=6, agent_params=SMALL_PPO)
    assert not np.array_equal(other["episode_return"][:5], a["episode_return"][:5],
                              equal_nan=True)
    # PPO collects whole rollouts of 256 steps: it trained to 1280, recorded to 1200.
    assert a.record["trained_steps"] == [1280, 1280]


def test_a_trained_sb3_model_evaluated_through_run_and_policy_agent() -> None:
    torch.set_num_threads(1)
    task = TrainingTask(env_id=CARTPOLE, env_kwargs={}, agent="sb3-ppo", params=SMALL_PPO,
                        replicates=2, budget=1024, seed=0)
    models, arrays, _ = train_sb3_models(task)
    assert len(models) == 2 and arrays["episode_return"].shape[1] == 2
    model = models[0]
    # One model for every replicate: greedy by default.
    result = run(CARTPOLE, PolicyAgent(model), replicates=3, horizon=600, seed=20,
                 vectorization="sync")
    returns = result["episode_return"]
    assert np.isfinite(returns[0]).all() and (result["episodes"] >= 1).all()
    np.testing.assert_array_equal(returns[0], _first_episode_returns(model, [20, 21, 22]))
    assert result.record["resolved_params"] == {"policy": "policy:PPO", "deterministic": True}
    # One model per learner: the registered agent built from the trained models.
    env = gym.make(CARTPOLE)
    agent = _sb3_agent_from(models, env)
    both = run(CARTPOLE, agent, replicates=2, horizon=600, seed=20, vectorization="sync")
    np.testing.assert_array_equal(both["episode_return"][0, 0], returns[0, 0])
    np.testing.assert_array_equal(both["episode_return"][0, 1],
                                  _first_episode_returns(models[1], [21])[0])
    # A model made for other spaces is refused before anything runs.
    with pytest.raises(AgentMismatch, match="Acrobot-v1"):
        run("Acrobot-v1", PolicyAgent(model), replicates=1, horizon=10)


def _sb3_agent_from(models: list[Any], env: gym.Env[Any, Any]) -> Any:
    from decisiongym.agents.sb3 import SB3PPO

    return SB3PPO.from_models(models, observation_space=env.observation_space,
                              action_space=env.action_space, **SMALL_PPO)


def _always_left_lengths(seed: int, episodes: int) -> list[int]:
    """By hand: push the cart left (action 0) on a CartPole reset with ``seed``, then reset
    without a seed after each episode (what Gymnasium's autoreset does)."""
    env = gym.make(CARTPOLE)
    env.reset(seed=seed)
    lengths = []
    for _ in range(episodes):
        n, done = 0, False
        while not done:
            _, _, terminated, truncated, _ = env.step(0)
            n += 1
            done = terminated or truncated
        lengths.append(n)
        env.reset()
    return lengths


@pytest.mark.parametrize("batched", [False, True])
def test_a_plain_callable_through_policy_agent(batched: bool) -> None:
    policy = (lambda obs: np.zeros(len(obs), dtype=np.int64)) if batched else (lambda obs: 0)
    agent = PolicyAgent(policy, batched=batched)
    result = run(CARTPOLE, agent, replicates=3, horizon=100, seed=7, vectorization="sync")
    lengths = result["episode_length"]
    for i in range(3):
        done = lengths[np.isfinite(lengths[:, i]), i]
        assert done.size >= 8  # about 10 steps each
        np.testing.assert_array_equal(done, _always_left_lengths(7 + i, done.size))
    np.testing.assert_array_equal(result["episode_return"], lengths)  # +1 per step
    assert (np.nan_to_num(lengths) <= 12).all()  # always pushing left ends fast
    with pytest.raises(TypeError, match="callable"):
        PolicyAgent(42)
    agent.reset(2)
    with pytest.raises(ValueError, match="2"):
        agent.act(np.zeros((3, 4), dtype=np.float32))


def test_sb3_dqn_refuses_a_box_action_space() -> None:
    box = gym.make("Pendulum-v1")
    with pytest.raises(ValueError, match=r"SB3's DQN needs a Discrete action space, got Box"):
        agents.make("sb3-dqn", observation_space=box.observation_space,
                    action_space=box.action_space)
    with pytest.raises(ValueError, match=r"sb3-dqn.*Pendulum-v1.*SB3's DQN needs a Discrete "
                                         r"action space, got Box"):
        run("Pendulum-v1", "sb3-dqn", replicates=1, horizon=100)
    # Parameters are checked against SB3's constructor before anything trains.
    cart = gym.make(CARTPOLE)
    with pytest.raises(ValueError, match="unknown hyperparameter.*n_step"):
        agents.make("sb3-ppo", observation_space=cart.observation_space,
                    action_space=cart.action_space, hyperparams={"n_step": 64})
    with pytest.raises(ValueError, match="must not set seed"):
        agents.make("sb3-a2c", observation_space=cart.observation_space,
                    action_space=cart.action_space, hyperparams={"seed": 1})
    with pytest.raises(ValueError, match="policy"):
        agents.make("sb3-a2c", observation_space=cart.observation_space,
                    action_space=cart.action_space, policy="LstmPolicy")
    with pytest.raises(ValueError, match="n_envs"):
        agents.make("sb3-a2c", observation_space=cart.observation_space,
                    action_space=cart.action_space, n_envs=0)


def test_train_command_with_sb3_logs_checkpoints_and_resumes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    ckpt = tmp_path / "ppo.zip"
    args = ["train", "--env", CARTPOLE, "--agent", "sb3-ppo", "--steps", "600", "--seeds", "2",
            "--log-dir", str(tmp_path / "log"), "--log-every", "250", "--checkpoint", str(ckpt),
            "--param", "hyperparams={'n_steps': 128, 'batch_size': 64, 'n_epochs': 2}",
            "--eval-episodes", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "greedy evaluation" in out and "env steps/s" in out and "ppo-learner1.zip" in out
    with open(tmp_path / "log" / "progress.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["env_steps", "seconds", "learner", "episodes",
                             "mean_return_last_20", "loss"]
    # One learner after another: rows at 250, 500 and the end of the budget (600).
    assert [(r["learner"], int(r["env_steps"])) for r in rows] == [
        ("0", 250), ("0", 500), ("0", 600), ("1", 250), ("1", 500), ("1", 600)]
    paths = [tmp_path / f"ppo-learner{i}.zip" for i in range(2)]
    assert all(p.exists() for p in paths)
    # --resume loads them (SB3's load) and trains on; another architecture is refused.
    assert main([*args[:-2], "--resume", str(ckpt), "--eval-episodes", "1"]) == 0
    capsys.readouterr()
    code = main(["train", "--env", CARTPOLE, "--agent", "sb3-ppo", "--steps", "100", "--seeds",
                 "2", "--resume", str(ckpt), "--param",
                 "hyperparams={'policy_kwargs': {'net_arch': [8]}}"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot be loaded" in err and "policy kwargs" in err
    # The saved models act through the registered agent.
    cart = gym.make(CARTPOLE)
    agent = agents.make("sb3-ppo", observation_space=cart.observation_space,
                        action_space=cart.action_space)
    agent.reset(2, seed=0)
    agent.load(ckpt)  # type: ignore[attr-defined]
    assert agent.act(np.zeros((2, 4), dtype=np.float32)).shape == (2,)
