"""Deep RL agents (DQN, REINFORCE, actor-critic, ES, RND, count bonus), linear VFA, the SB3
agents in the harness's cells, checkpoints and ``decisiongym train``. All on CPU, one torch
thread. Training runs go through the harness's one rollout loop (``decisiongym.harness.run``)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import decisiongym  # noqa: F401
from decisiongym import agents
from decisiongym.agents.deep import DQN, CheckpointMismatch, centered_ranks
from decisiongym.cli import main
from decisiongym.harness import RunResult, run
from decisiongym.harness.experiment import AgentSetting, Cell, EnvSetting
from decisiongym.harness.runners import run_cell
from decisiongym.harness.training import evaluate

torch.set_num_threads(1)

CARTPOLE = "CartPole-v1"
SMALL_DQN: dict[str, Any] = {"hidden": [64], "learning_starts": 200, "train_freq": 4,
                             "gradient_steps": 1, "target_update": 100, "buffer_size": 5000,
                             "learning_rate": 1e-3, "exploration_steps": 1000}
FAST: dict[str, dict[str, Any]] = {
    "dqn": SMALL_DQN,
    "reinforce": {"hidden": [32], "update_every": 100},
    "actor-critic": {"hidden": [32], "envs_per_learner": 4},
    "evolution-strategies": {"population": 8},
    "rnd": {"base": "dqn", "base_params": SMALL_DQN},
    "count-bonus": {"base": "actor-critic", "base_params": {"hidden": [32]}},
}


def _train(env_id: str, name: str, *, replicates: int, steps: int, seed: int = 0,
           env_kwargs: dict[str, Any] | None = None,
           agent_params: dict[str, Any] | None = None) -> tuple[RunResult, Any]:
    """Train ``replicates`` learners through ``run`` with an agent object built here, so that
    the trained agent can be evaluated afterwards."""
    kwargs = dict(env_kwargs or {})
    probe = gym.make(env_id, **kwargs)
    agent = agents.make(name, observation_space=probe.observation_space,
                        action_space=probe.action_space, **(agent_params or {}))
    probe.close()
    result = run(env_id, agent, replicates=replicates, horizon=steps, seed=seed,
                 env_kwargs=kwargs)
    return result, agent


def _random_return(env_id: str, episodes: int = 200, **kwargs: Any) -> float:
    from decisiongym.reproductions.deep_rl import random_policy_return

    return random_policy_return(EnvSetting(env_id, kwargs), episodes=episodes)


# ----- reproducibility -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FAST))
def test_same_seed_same_curve_bit_for_bit(name: str) -> None:
    env_id, kwargs = ((CARTPOLE, {}) if name not in ("rnd", "count-bonus")
                      else ("decisiongym/SparseMaze-v0", {"length": 8}))
    steps = 600 if name == "rnd" else 1200
    runs = [run(env_id, name, replicates=2, horizon=steps, seed=3, env_kwargs=kwargs,
                agent_params=FAST[name]) for _ in range(2)]
    a, b = (r["episode_return"] for r in runs)
    assert a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    assert np.isfinite(a).sum() >= 4
    other = run(env_id, name, replicates=2, horizon=steps, seed=4, env_kwargs=kwargs,
                agent_params=FAST[name])
    if name != "evolution-strategies":  # (ES may finish the same few episodes alike)
        assert not np.array_equal(a, other["episode_return"][:a.shape[0]], equal_nan=True)


def test_device_auto_is_cpu_here_and_parameters_are_checked() -> None:
    box = spaces.Box(-1.0, 1.0, (4,), dtype=np.float32)
    agent = agents.make("dqn", observation_space=box, action_space=spaces.Discrete(2))
    assert agent.device.type == ("cuda" if torch.cuda.is_available() else "cpu")  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="Discrete action space"):
        agents.make("actor-critic", observation_space=box, action_space=box)
    with pytest.raises(ValueError, match="even integer"):
        agents.make("evolution-strategies", observation_space=box,
                    action_space=spaces.Discrete(2), population=7)
    with pytest.raises(ValueError, match="hidden"):
        agents.make("reinforce", observation_space=box, action_space=spaces.Discrete(2),
                    hidden=[0])
    agent = agents.make("actor-critic", observation_space=box, action_space=spaces.Discrete(2))
    with pytest.raises(ValueError, match="multiple of envs_per_learner"):
        agent.reset(3, seed=0)


def test_centered_ranks() -> None:
    np.testing.assert_allclose(centered_ranks(np.array([[3.0, 1.0, 2.0]])),
                               [[0.5, -0.5, 0.0]])


def test_dqn_never_learns_from_a_reset_step() -> None:
    env = gym.make_vec("decisiongym/SparseMaze-v0", num_envs=2,
                       vectorization_mode="vector_entry_point", length=3, observation="index")
    agent = agents.make("dqn", observation_space=env.single_observation_space,
                        action_space=env.single_action_space, **SMALL_DQN)
    agent.reset(2, seed=0)
    obs, _ = env.reset(seed=0)
    ended_before = np.zeros(2, dtype=bool)
    for t in range(60):
        actions = np.array([1, 3])  # copy 0 walks to the goal (2 steps), copy 1 never does
        nxt, r, term, trunc, _ = env.step(actions)
        agent.update(obs, actions, r, nxt, term, trunc)
        assert agent.buf_valid[0, t] == (0.0 if ended_before[0] else 1.0)  # type: ignore[attr-defined]
        ended_before = term | trunc
        obs = nxt
    assert agent.buf_valid[1].sum() == 60  # type: ignore[attr-defined]


# ----- learning --------------------------------------------------------------------------------


def test_dqn_solves_a_small_image_maze_in_3000_steps() -> None:
    kwargs = {"layout": "small", "observation": "image", "max_episode_steps": 100}
    params = {**SMALL_DQN, "learning_starts": 500, "exploration_steps": 1500}
    result, agent = _train("decisiongym/Maze-v0", "dqn", replicates=2, steps=3000, seed=0,
                           env_kwargs=kwargs, agent_params=params)
    # Shortest path 5 steps at -1 each: the greedy policy is optimal in both learners.
    np.testing.assert_array_equal(evaluate(agent, "decisiongym/Maze-v0", episodes=2,
                                           env_kwargs=kwargs).returns, [-5.0, -5.0])
    assert result["final_return"].min() >= -8.0  # epsilon-greedy training, near optimal


def test_cnn_torso_is_independent_conv_nets_run_as_one() -> None:
    """The grouped convolution of BatchedConvMLP equals each learner's own conv net."""
    import torch.nn.functional as F

    from decisiongym.agents.deep import BatchedConvMLP

    net = BatchedConvMLP((7, 10, 3), [4, 8], [16, 5], 3, np.random.default_rng(0),
                         torch.device("cpu"))
    x = torch.rand(3, 6, 7 * 10 * 3, generator=torch.Generator().manual_seed(0))
    y = net(x)
    assert y.shape == (3, 6, 5)
    for lv in range(3):
        z = x[lv].reshape(6, 7, 10, 3).permute(0, 3, 1, 2)  # HWC rows -> NCHW
        for j in range(2):
            z = torch.relu(F.conv2d(z, net.params[2 * j][lv], net.params[2 * j + 1][lv],
                                    padding=1))
        w1, b1, w2, b2 = (q[lv] for q in net.params[4:])
        ref = torch.relu(z.reshape(6, -1) @ w1 + b1) @ w2 + b2
        torch.testing.assert_close(y[lv], ref, rtol=1e-5, atol=1e-6)
    # Learner 1's output depends on learner 1's weights only.
    params = net.copy_params()
    params[0][0] += 1.0
    torch.testing.assert_close(net(x, params)[1:], y[1:])


@pytest.mark.parametrize("name", ["dqn", "actor-critic", "evolution-strategies"])
def test_cnn_torso_learners_on_the_image_maze(name: str) -> None:
    kwargs = {"layout": "small", "observation": "image", "max_episode_steps": 100}
    params: dict[str, Any] = {**FAST[name], "torso": "cnn", "conv_channels": [8, 8]}
    steps = 1600 if name == "evolution-strategies" else 600  # ES: 8 episodes of <= 100 steps
    runs = [_train("decisiongym/Maze-v0", name, replicates=2, steps=steps, seed=1,
                   env_kwargs=kwargs, agent_params=params) for _ in range(2)]
    a, b = (r["episode_return"] for r, _ in runs)
    assert np.array_equal(a, b, equal_nan=True) and np.isfinite(a).sum() >= 2
    arch = runs[0][1].architecture()
    assert arch["torso"] == "cnn" and arch["conv_channels"] == [8, 8]


def test_dqn_with_a_cnn_torso_solves_a_small_image_maze_in_5000_steps() -> None:
    """About 6 s. (With 3000 steps, as the MLP above, one learner of seed 0 is not there yet:
    the conv net has more to fit on a 3 x 4 image.)"""
    kwargs = {"layout": "small", "observation": "image", "max_episode_steps": 100}
    params = {**SMALL_DQN, "learning_starts": 500, "exploration_steps": 1500, "torso": "cnn"}
    _, agent = _train("decisiongym/Maze-v0", "dqn", replicates=2, steps=5000, seed=0,
                      env_kwargs=kwargs, agent_params=params)
    np.testing.assert_array_equal(evaluate(agent, "decisiongym/Maze-v0", episodes=2,
                                           env_kwargs=kwargs).returns, [-5.0, -5.0])


def test_cnn_torso_needs_an_image_and_is_part_of_the_architecture(tmp_path: Path) -> None:
    box = gym.make(CARTPOLE).observation_space
    with pytest.raises(ValueError, match="torso.*image"):
        agents.make("dqn", observation_space=box, action_space=spaces.Discrete(2),
                    torso="cnn")
    with pytest.raises(ValueError, match="torso"):
        agents.make("dqn", observation_space=box, action_space=spaces.Discrete(2),
                    torso="resnet")
    image = gym.make("decisiongym/Maze-v0", layout="small", observation="image")
    with pytest.raises(ValueError, match="conv_channels"):
        agents.make("dqn", observation_space=image.observation_space,
                    action_space=image.action_space, torso="cnn", conv_channels=[0])
    made = {t: agents.make("dqn", observation_space=image.observation_space,
                           action_space=image.action_space, torso=t, hidden=[16])
            for t in ("mlp", "cnn")}
    for agent in made.values():
        agent.reset(1, seed=0)
    path = made["mlp"].save(tmp_path / "mlp.pt")  # type: ignore[attr-defined]
    with pytest.raises(CheckpointMismatch, match="torso: checkpoint 'mlp', this agent 'cnn'"):
        made["cnn"].load(path)  # type: ignore[attr-defined]


def test_actor_critic_reaches_195_on_cartpole_within_100k_steps() -> None:
    """Budget: 100,000 env steps (8 copies x 12,500), n_steps 8, Adam 1e-3."""
    result, agent = _train(CARTPOLE, "actor-critic", replicates=1, steps=100_000, seed=0)
    assert result["final_return"][0] >= 195.0
    assert evaluate(agent, CARTPOLE, episodes=2).returns[0] >= 195.0


def test_reinforce_clearly_beats_the_random_policy() -> None:
    random_return = _random_return(CARTPOLE)  # about 21
    for baseline in (True, False):
        result, agent = _train(CARTPOLE, "reinforce", replicates=1, steps=30_000, seed=0,
                               agent_params={"baseline": baseline})
        assert result["final_return"][0] > 1.8 * random_return, baseline
        assert evaluate(agent, CARTPOLE, episodes=2).returns[0] > 2.5 * random_return, baseline


def test_evolution_strategies_improve_on_cartpole() -> None:
    result, agent = _train(CARTPOLE, "evolution-strategies", replicates=2, steps=60_000, seed=0)
    first_generation = np.nanmean(result["episode_return"][:16])
    final = evaluate(agent, CARTPOLE, episodes=3).returns
    assert final.min() > 2 * first_generation, (first_generation, final)


@pytest.mark.slow
def test_dqn_reaches_195_on_cartpole_within_50k_steps() -> None:
    """rl-zoo's tuned SB3 DQN budget and hyperparameters for CartPole-v1: 50,000 env steps
    (train_freq 256, 128 gradient steps, target every 10 steps, lr 2.3e-3, 256 x 256).

    Two learners (seed 0): both greedy policies score 500. DQN's greedy return oscillates
    late in training: a single learner with seed 0 ended at 93 after the same budget."""
    _, agent = _train(CARTPOLE, "dqn", replicates=2, steps=50_000, seed=0,
                      agent_params={"exploration_steps": 8000})
    assert evaluate(agent, CARTPOLE, episodes=5).returns.min() >= 195.0


@pytest.mark.slow
def test_count_bonus_finds_the_end_of_a_long_corridor_where_dqn_does_not() -> None:
    kwargs = {"length": 30}
    params = {**SMALL_DQN, "learning_starts": 500, "target_update": 250,
              "buffer_size": 20_000, "exploration_steps": 9000}
    plain = run("decisiongym/SparseMaze-v0", "dqn", replicates=2, horizon=30_000, seed=0,
                env_kwargs=kwargs, agent_params=params)
    bonus = run("decisiongym/SparseMaze-v0", "count-bonus", replicates=2, horizon=30_000,
                seed=0, env_kwargs=kwargs,
                agent_params={"base": "dqn", "base_params": params, "coef": 0.05})
    assert np.nanmean(bonus["final_return"]) > np.nanmean(plain["final_return"]) + 0.3


# ----- linear value-function approximation ----------------------------------------------------


@pytest.mark.parametrize(("name", "features", "bound"), [
    ("linear-td0", "tile", 0.12), ("linear-td0", "rff", 0.3), ("linear-mc", "tile", 0.35)])
def test_linear_prediction_on_the_19_state_random_walk(name: str, features: str,
                                                       bound: float) -> None:
    from decisiongym.theory import policy_evaluation

    env = gym.make_vec("decisiongym/RandomWalk-v0", num_envs=4,
                       vectorization_mode="vector_entry_point", n_states=19)
    single = gym.make("decisiongym/RandomWalk-v0", n_states=19).unwrapped
    v_true = policy_evaluation(single.transitions, single.rewards,  # type: ignore[attr-defined]
                               np.ones((21, 1)), 1.0)[1:-1]
    agent = agents.make(name, observation_space=env.single_observation_space,
                        action_space=env.single_action_space, features=features)
    agent.reset(4, seed=0)
    obs, _ = env.reset(seed=0)
    for _ in range(15_000):
        a = agent.act(obs)
        nxt, r, term, trunc, _ = env.step(a)
        agent.update(obs, a, r, nxt, term, trunc)
        obs = nxt
    estimate = agent.values_at(np.arange(1, 20))  # type: ignore[attr-defined]
    rms = np.sqrt(((estimate - v_true) ** 2).mean(axis=1))
    assert rms.mean() < bound, rms
    assert rms.mean() < 0.6 * np.sqrt((v_true ** 2).mean())  # far better than v = 0


def test_linear_features_need_finite_bounds() -> None:
    box = spaces.Box(-np.inf, np.inf, (4,), dtype=np.float32)
    with pytest.raises(ValueError, match="finite bounds"):
        agents.make("linear-td0", observation_space=box, action_space=spaces.Discrete(2))
    agent = agents.make("linear-td0", observation_space=box, action_space=spaces.Discrete(2),
                        low=[-2.4, -3, -0.21, -3], high=[2.4, 3, 0.21, 3])
    agent.reset(2, seed=0)
    assert agent.value(np.zeros((2, 4))).shape == (2,)  # type: ignore[attr-defined]


# ----- checkpoints -----------------------------------------------------------------------------


def _trained_dqn(hidden: list[int]) -> DQN:
    box = gym.make(CARTPOLE).observation_space
    agent = agents.make("dqn", observation_space=box, action_space=spaces.Discrete(2),
                        **{**SMALL_DQN, "hidden": hidden})
    run(CARTPOLE, agent, replicates=2, horizon=400, seed=0)  # resets it for 2 learners
    assert isinstance(agent, DQN)
    return agent


def test_checkpoint_round_trip_and_refusal(tmp_path: Path) -> None:
    agent = _trained_dqn([64])
    path = agent.save(tmp_path / "dqn.pt")
    fresh = _trained_dqn([64])  # same architecture, other weights after reset
    fresh.reset(2, seed=99)
    obs = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    assert not np.array_equal(fresh.q_values(obs), agent.q_values(obs))
    fresh.load(path)
    np.testing.assert_array_equal(fresh.q_values(obs), agent.q_values(obs))
    assert fresh.steps == agent.steps
    # torch.load(weights_only=True) reads it: only tensors and plain values inside.
    state = torch.load(path, weights_only=True)
    assert state["architecture"]["agent"] == "dqn"

    other = _trained_dqn([32])
    with pytest.raises(CheckpointMismatch, match=r"another architecture.*hidden: checkpoint "
                                                 r"\[64\], this agent \[32\]"):
        other.load(path)
    box = gym.make(CARTPOLE).observation_space
    ac = agents.make("actor-critic", observation_space=box, action_space=spaces.Discrete(2),
                     envs_per_learner=1)
    ac.reset(2, seed=0)
    with pytest.raises(CheckpointMismatch, match="agent: checkpoint 'dqn', this agent "
                                                 "'actor-critic'"):
        ac.load(path)  # type: ignore[attr-defined]


def test_train_command_logs_checkpoints_and_refuses_another_architecture(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tmp_path / "agent.pt"
    args = ["train", "--env", CARTPOLE, "--agent", "actor-critic", "--steps", "2000",
            "--seeds", "2", "--log-dir", str(tmp_path / "log"), "--log-every", "500",
            "--checkpoint", str(ckpt), "--param", "hidden=[32]", "--eval-episodes", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "greedy evaluation" in out and "env steps/s" in out
    with open(tmp_path / "log" / "progress.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # 8 copies per learner: a row every 62 vector steps (496 env steps) and one at the end.
    assert [int(r["env_steps"]) for r in rows[::2]] == [496, 992, 1488, 1984, 2000]
    assert {r["learner"] for r in rows} == {"0", "1"}
    assert ckpt.exists()
    # Resume with the same architecture works; another one is refused with a clear error.
    assert main([*args[:-4], "--resume", str(ckpt), "--param", "hidden=[32]",
                 "--eval-episodes", "1"]) == 0
    capsys.readouterr()
    code = main(["train", "--env", CARTPOLE, "--agent", "actor-critic", "--steps", "100",
                 "--seeds", "2", "--resume", str(ckpt), "--param", "hidden=[16]"])
    err = capsys.readouterr().err
    assert code == 2 and "another architecture" in err and "hidden" in err


# ----- SB3's agents in the harness's cells -----------------------------------------------------

EPISODE_ARRAYS = {"episode_return", "episode_length", "episode_end_step", "episodes", "grid",
                  "return_curve", "final_return", "mean_reward"}


def test_sb3_cells_give_the_episode_recorders_arrays_on_our_maze() -> None:
    env = EnvSetting("decisiongym/SparseMaze-v0", {"length": 5, "observation": "coords",
                                                   "max_episode_steps": 30})
    cells = [Cell(env, AgentSetting("sb3-a2c", {"hyperparams": {"n_steps": 8}}), 2, 0, 600),
             Cell(env, AgentSetting("actor-critic", {"hidden": [16]}), 2, 0, 600)]
    sb3, ours = (run_cell(c) for c in cells)
    assert set(sb3.arrays) == EPISODE_ARRAYS and EPISODE_ARRAYS <= set(ours.arrays)
    for key in EPISODE_ARRAYS:
        assert sb3.arrays[key].shape[-1:] == ours.arrays[key].shape[-1:] \
            or key.startswith("episode") or key == "grid"
    np.testing.assert_array_equal(sb3.arrays["grid"], ours.arrays["grid"])
    assert sb3.arrays["return_curve"].shape == (sb3.arrays["grid"].size, 2)
    assert np.isfinite(sb3.arrays["final_return"]).all()
    assert np.nanmax(sb3.arrays["episode_end_step"]) <= 600  # nothing past the budget
    assert sb3.record["agent"] == "sb3-a2c" and sb3.record["training_loop"]
    assert sb3.record["resolved_params"]["hyperparams"] == {"n_steps": 8}
    # SB3's seeds fix its curve too.
    again = run_cell(cells[0])
    np.testing.assert_array_equal(again.arrays["episode_return"], sb3.arrays["episode_return"])


def test_untrained_sb3_agents_refuse_act() -> None:
    agent = agents.make("sb3-ppo", observation_space=spaces.Discrete(3),
                        action_space=spaces.Discrete(2))
    agent.reset(1, seed=0)
    with pytest.raises(RuntimeError, match="SB3's own loop"):
        agent.act(np.zeros(1, dtype=np.int64))


def test_acrobot_runs_through_a_sync_vector_env() -> None:
    """Acrobot-v1 has no native vector env: the harness falls back to SyncVectorEnv."""
    runs = [run("Acrobot-v1", "actor-critic", replicates=1, horizon=1100, seed=0,
                agent_params={"hidden": [16], "envs_per_learner": 2}) for _ in range(2)]
    assert np.isfinite(runs[0]["episode_return"]).sum() >= 2
    np.testing.assert_array_equal(runs[0]["episode_return"], runs[1]["episode_return"])


@pytest.mark.slow
def test_reproduce_deep_rl_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The quick size end to end: 5 learners per cell, IQM table, plots, checks pass."""
    import json

    from decisiongym.reproductions import get_reproduction

    out = tmp_path / "deep-rl"
    code = main(["reproduce", "deep-rl", "--quick", "--out", str(out)])
    text = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    failed = [c["name"] for c in summary["checks"] if not c["passed"]]
    assert code == 0 and not failed, failed
    assert len(summary["rows"]) == len(get_reproduction("deep-rl").experiment(True).cells())
    assert "IQM return" in text and "sb3-ppo" in text and "rnd+dqn" in text
    # Returns of CartPole, the maze and the corridor are not averaged across environments.
    assert "Across environments" not in text and summary["aggregate"] == []
    assert len(list((out / "plots").glob("deep_rl_*.png"))) == 3
    assert len(summary["iqm"]) == len(summary["rows"])
