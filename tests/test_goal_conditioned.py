"""Goal-conditioned RL (Dobriban, *Notes for Stat 991: Topics in Deep Learning*, 2019, section
5.3.12, item 7): ``GoalMaze-v0`` (goal in the observation, Kaelbling 1993; one Q(s, a, g) for all
goals, Schaul et al. 2015) and hindsight experience replay for ``dqn`` (``her_k``, Andrychowicz et
al. 2017). CPU, one torch thread."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import decisiongym
from decisiongym.agents import make
from decisiongym.agents.deep import DQN
from decisiongym.envs.goal_maze import GoalMaze, GoalMazeVector, room

torch.set_num_threads(1)

ID = "decisiongym/GoalMaze-v0"


def _vec(n: int, **kwargs: Any) -> Any:
    return gym.make_vec(ID, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)


# ----- the environment -------------------------------------------------------------------------


def test_gymnasium_checker_on_the_flat_form() -> None:
    # The default (dict) form: tests/test_conformance.py (Gymnasium's and SB3's checkers).
    check_env(gym.make(ID, observation="flat").unwrapped)


def test_default_observation_is_the_goal_env_dict() -> None:
    env = GoalMaze()
    assert isinstance(env.observation_space, gym.spaces.Dict)
    assert set(env.observation_space.spaces) == {"observation", "achieved_goal", "desired_goal"}


def test_goal_in_the_observation_and_compute_reward() -> None:
    env = GoalMaze(layout="small", goal=(2, 0), observation="flat")
    s = len(env.maze.cells)
    obs, info = env.reset(seed=0)
    assert obs.shape == (2 * s,) and obs.sum() == 2
    assert info["goal"] == (2, 0) and info["position"] == (0, 0)
    goal_idx = int(env.maze.state_of[2, 0])
    assert obs[s + goal_idx] == 1 and obs[int(env.maze.state_of[0, 0])] == 1
    # S (1) twice: (0,0) -> (1,0) -> (2,0), the goal: reward 0 and termination.
    obs, r, term, trunc, info = env.step(2)
    assert (r, term, trunc) == (-1.0, False, False)
    assert env.compute_reward(obs[:s], obs[s:], info) == -1.0
    obs, r, term, trunc, info = env.step(2)
    assert (r, term, trunc, info["is_success"]) == (0.0, True, False, True)
    assert env.compute_reward(obs[:s], obs[s:], info) == r
    # Batched: any leading shape.
    batch = np.stack([np.eye(s, dtype=np.float32)[:3], np.eye(s, dtype=np.float32)[[0, 5, 2]]])
    np.testing.assert_array_equal(env.compute_reward(batch[0], batch[1], None), [0, -1, 0])
    with pytest.raises(ValueError, match="same shape"):
        env.compute_reward(batch[0], batch[1][:, :3], None)


def test_dict_form_agrees_with_flat() -> None:
    flat, _ = GoalMaze(observation="flat").reset(seed=5)
    d, _ = GoalMaze().reset(seed=5)
    s = flat.size // 2
    np.testing.assert_array_equal(d["achieved_goal"], flat[:s])
    np.testing.assert_array_equal(d["desired_goal"], flat[s:])
    np.testing.assert_array_equal(d["observation"], flat[:s])


def test_seeding_goals_vary_and_vector_matches_single() -> None:
    goals = [GoalMaze().reset(seed=i)[1]["goal"] for i in range(10)]
    assert len(set(goals)) > 3
    assert GoalMaze().reset(seed=3)[1]["goal"] == GoalMaze().reset(seed=3)[1]["goal"]
    vec = _vec(3, observation="flat")
    obs, _ = vec.reset(seed=7)
    for i in range(3):
        np.testing.assert_array_equal(obs[i], GoalMaze(observation="flat").reset(seed=7 + i)[0])
    rng = np.random.default_rng(0)
    singles = [GoalMaze(observation="flat") for _ in range(3)]
    outs = [e.reset(seed=7 + i)[0] for i, e in enumerate(singles)]
    for _ in range(200):  # NEXT_STEP autoreset: the step after an end resets the copy
        a = rng.integers(4, size=3)
        o, r, te, tr, _ = vec.step(a)
        for i, e in enumerate(singles):
            if getattr(e, "_done", False):
                outs[i] = e.reset()[0]
                e._done = False  # type: ignore[attr-defined]
                assert r[i] == 0 and not te[i] and not tr[i]
            else:
                outs[i], ri, tei, tri, _ = e.step(int(a[i]))
                assert (r[i], te[i], tr[i]) == (ri, tei, tri)
                e._done = tei or tri  # type: ignore[attr-defined]
            np.testing.assert_array_equal(o[i], outs[i])


def test_goals_are_free_reachable_cells_other_than_the_start() -> None:
    env = GoalMaze(layout="seed")
    for i in range(50):
        _, info = env.reset(seed=i)
        r, c = info["goal"]
        assert env.maze.grid[r, c] != "#" and info["goal"] != info["position"]


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="goal must be"):
        GoalMaze(layout="small", goal=(0, 3))  # a wall
    with pytest.raises(ValueError, match="goal must be"):
        GoalMaze(layout="small", goal=(0, 0))  # the start
    with pytest.raises(ValueError, match="goal must be"):
        GoalMaze(goal="here")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="observation"):
        GoalMaze(observation="image")
    with pytest.raises(ValueError, match="max_episode_steps"):
        GoalMaze(max_episode_steps=0)
    with pytest.raises(ValueError, match="step_reward"):
        GoalMaze(step_reward=float("nan"))
    with pytest.raises(ValueError, match="num_envs"):
        GoalMazeVector(num_envs=0)
    with pytest.raises(ValueError, match="room size"):
        room(1)
    env = GoalMaze()
    with pytest.raises(gym.error.ResetNeeded):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="GoalMaze-v0"):
        env.step(4)
    vec = _vec(2)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="GoalMaze-v0"):
        vec.step(np.array([0, 7]))


# ----- hindsight relabelling -------------------------------------------------------------------


def _agent(env: Any, **kwargs: Any) -> DQN:
    agent = make("dqn", observation_space=env.single_observation_space
                 if hasattr(env, "single_observation_space") else env.observation_space,
                 action_space=env.single_action_space
                 if hasattr(env, "single_action_space") else env.action_space, **kwargs)
    assert isinstance(agent, DQN)
    return agent


def test_relabelled_transitions_have_future_goals_and_recomputed_rewards() -> None:
    env = GoalMaze(layout="small", observation="flat")
    s = len(env.maze.cells)
    agent = _agent(env, her_k=3, hidden=[8])
    agent.reset(1, seed=0)
    eye = np.eye(s, dtype=np.float32)
    path, goal = [0, 1, 2, 5], 9  # cells visited; the episode's (never reached) goal
    states = np.stack([np.concatenate([eye[p], eye[goal]]) for p in path[:-1]])
    nexts = np.stack([np.concatenate([eye[p], eye[goal]]) for p in path[1:]])
    actions = np.array([1, 1, 2])
    s0, s1, a, r, cont = agent.relabel(states, actions, nexts)
    assert len(a) == 3 * 3
    t = np.repeat(np.arange(3), 3)
    new_goal = s0[:, s:].argmax(axis=1)
    np.testing.assert_array_equal(s1[:, s:], s0[:, s:])  # the same goal in s and s'
    np.testing.assert_array_equal(s0[:, :s].argmax(axis=1), np.array(path)[t])
    np.testing.assert_array_equal(s1[:, :s].argmax(axis=1), np.array(path)[t + 1])
    np.testing.assert_array_equal(a, actions[t])
    # "future": the goal is the cell reached after some step j >= t of the episode.
    for i in range(len(a)):
        assert new_goal[i] in path[t[i] + 1:]
    # The reward is the environment's, recomputed for the new goal; terminated where reached.
    np.testing.assert_array_equal(r, env.compute_reward(s1[:, :s], s1[:, s:], None))
    np.testing.assert_array_equal(cont, (r != 0).astype(float))
    assert (r == 0).any() and (r == -1).any()


def test_her_fills_its_buffer_at_episode_ends_only() -> None:
    env = _vec(2, layout=room(4), max_episode_steps=5, observation="flat")
    agent = _agent(env, her_k=2, hidden=[8], learning_starts=10_000)
    agent.reset(2, seed=0)
    obs, _ = env.reset(seed=0)
    for _ in range(30):
        a = agent.act(obs)
        nxt, r, te, tr, _ = env.step(a)
        agent.update(obs, a, r, nxt, te, tr)
        obs = nxt
    open_steps = sum(len(e) for e in agent._episodes)  # of episodes still running
    stored = int((agent.buf_valid[:, :30] == 1).sum())  # real transitions (no reset steps)
    assert agent.her_filled.sum() == 2 * (stored - open_steps)
    assert (agent.her_filled > 0).all()


def test_her_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="her_k"):
        _agent(gym.make("CartPole-v1"), her_k=-1)
    odd = gym.spaces.Box(0, 1, (3,))
    with pytest.raises(ValueError, match="her_k"):
        make("dqn", observation_space=odd, action_space=gym.spaces.Discrete(2), her_k=4)
    with pytest.raises(ValueError, match="her_k"):
        make("dqn", observation_space=gym.spaces.Discrete(4),
             action_space=gym.spaces.Discrete(2), her_k=4)


# ----- learning --------------------------------------------------------------------------------

ROOM: dict[str, Any] = {"layout": room(6), "max_episode_steps": 12, "observation": "flat"}
SMALL: dict[str, Any] = {"hidden": [64], "learning_starts": 200, "train_freq": 4,
                         "gradient_steps": 1, "target_update": 100, "buffer_size": 20_000,
                         "learning_rate": 1e-3, "exploration_steps": 3000}


def train(her_k: int, steps: int, seed: int, learners: int = 2) -> DQN:
    env = _vec(learners, **ROOM)
    agent = _agent(env, her_k=her_k, **SMALL)
    agent.reset(learners, seed=seed)
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        a = agent.act(obs)
        nxt, r, te, tr, _ = env.step(a)
        agent.update(obs, a, r, nxt, te, tr)
        obs = nxt
    return agent


def success_rate(agent: DQN, episodes: int = 50, seed: int = 1000) -> np.ndarray:
    """Greedy success rate per learner over ``episodes`` random goals."""
    n = agent.num_envs
    env = _vec(n, **ROOM)
    agent.deterministic = True
    obs, _ = env.reset(seed=seed)
    hits, done = np.zeros(n), np.zeros(n, dtype=np.int64)
    fresh = np.zeros(n, dtype=bool)
    while (done < episodes).any():
        obs, _, te, tr, _ = env.step(agent.act(obs))
        live = ~fresh & (done < episodes)
        hits += te & live
        done += (te | tr) & live
        fresh = te | tr
    agent.deterministic = False
    return hits / episodes


def test_her_reaches_random_goals_far_more_often_than_plain_dqn() -> None:
    """6 x 6 open room, 12 steps per episode, 6000 env steps, two learners, seed 0: plain DQN
    reaches 30% and 8% of 50 random goals, DQN + HER (k = 4, future) 66% and 56%."""
    plain = success_rate(train(0, 6000, seed=0))
    her = success_rate(train(4, 6000, seed=0))
    assert her.min() > plain.max() and her.mean() >= plain.mean() + 0.2, (plain, her)


def test_registered_and_docstring_example_runs() -> None:
    import doctest

    import decisiongym.envs.goal_maze as module

    assert ID in dict(decisiongym.list_environments())
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_her_run_is_reproducible_bit_for_bit() -> None:
    a, b = train(4, 600, seed=1), train(4, 600, seed=1)
    assert a.her_filled.sum() > 0
    for p, q in zip(a.q.params, b.q.params, strict=True):
        assert torch.equal(p, q)
    np.testing.assert_array_equal(a.her_scalars, b.her_scalars)
