"""Tests of the finite-MDP environments (``decisiongym.envs.mdp``): TabularMDP-v0, Maze-v0,
RandomWalk-v0, single and native vector."""

from __future__ import annotations

import pickle
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.vector import AutoresetMode

import decisiongym
from decisiongym.envs.mdp import (
    LAYOUTS,
    generate_maze,
    maze_is_solvable,
    shortest_path_length,
)
from decisiongym.theory import value_iteration

MAZE = "decisiongym/Maze-v0"
TABULAR = "decisiongym/TabularMDP-v0"
WALK = "decisiongym/RandomWalk-v0"

CASES: list[tuple[str, dict[str, Any]]] = [
    (TABULAR, {}),
    (TABULAR, {"n_states": 6, "n_actions": 3, "branching": 2, "mdp_seed": 4}),
    (MAZE, {}),
    (MAZE, {"layout": "dyna"}),
    (MAZE, {"layout": "windy", "observation": "coords"}),
    (MAZE, {"layout": "cliff", "slip": 0.1}),
    (MAZE, {"layout": "random", "size": (9, 11), "maze_seed": 3, "observation": "image"}),
    (MAZE, {"layout": "small", "max_episode_steps": 5}),
    (WALK, {}),
    (WALK, {"n_states": 19}),
]
IDS = [f"{i.split('/')[1]}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for i, kw in CASES]


def test_registered() -> None:
    listed = dict(decisiongym.list_environments())
    for env_id in (MAZE, TABULAR, WALK):
        assert env_id in listed


@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=IDS)
def test_env_checkers(env_id: str, kwargs: dict[str, Any]) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(env_id, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped, warn=False)


def _rollout_single(env_id: str, kwargs: dict[str, Any], seed: int, actions: np.ndarray
                    ) -> list[tuple[Any, ...]]:
    env = gym.make(env_id, **kwargs)
    obs, _ = env.reset(seed=seed)
    out: list[tuple[Any, ...]] = []
    ended = False
    for a in actions:
        if ended:  # what a NEXT_STEP vector env does on the step after an episode ends
            obs, _ = env.reset()
            out.append((np.asarray(obs).tolist(), 0.0, False, False))
            ended = False
            continue
        obs, r, term, trunc, _ = env.step(int(a))
        out.append((np.asarray(obs).tolist(), float(r), bool(term), bool(trunc)))
        ended = term or trunc
    return out


@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=IDS)
def test_vector_equals_single_and_determinism(env_id: str, kwargs: dict[str, Any]) -> None:
    n, steps = 3, 120
    vec = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    rng = np.random.default_rng(0)
    actions = rng.integers(0, vec.single_action_space.n, (steps, n))
    obs0, _ = vec.reset(seed=10)
    got: list[list[tuple[Any, ...]]] = [[] for _ in range(n)]
    for t in range(steps):
        obs, r, term, trunc, _info = vec.step(actions[t])
        assert vec.observation_space.contains(obs)
        for i in range(n):
            got[i].append((np.asarray(obs[i]).tolist(), float(r[i]), bool(term[i]),
                           bool(trunc[i])))
    for i in range(n):
        assert got[i] == _rollout_single(env_id, kwargs, 10 + i, actions[:, i])
    # Same seed, same run; pickling keeps the state.
    again = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    obs1, _ = again.reset(seed=10)
    np.testing.assert_array_equal(obs0, obs1)


@pytest.mark.parametrize(("env_id", "kwargs"), CASES[:4], ids=IDS[:4])
def test_pickle_round_trip(env_id: str, kwargs: dict[str, Any]) -> None:
    env = gym.make(env_id, **kwargs).unwrapped
    env.reset(seed=3)
    clone = pickle.loads(pickle.dumps(env))
    for a in [0, 1, 0, 1, 1]:
        a = a % env.action_space.n
        x, y = env.step(a), clone.step(a)
        assert np.array_equal(np.asarray(x[0]), np.asarray(y[0])) and x[1:4] == y[1:4]
        if x[2] or x[3]:
            break


@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=IDS)
def test_model_arrays_agree_with_P(env_id: str, kwargs: dict[str, Any]) -> None:
    env = gym.make(env_id, **kwargs).unwrapped
    p, r, big_p = env.transitions, env.rewards, env.P
    n_s, n_a = r.shape
    for s in range(n_s):
        for a in range(n_a):
            outcomes = big_p[s][a]
            if s in env.terminal_states:
                assert outcomes == [(1.0, s, 0.0, True)]
                assert p[s, a].sum() == 0.0
                continue
            assert sum(o[0] for o in outcomes) == pytest.approx(1.0)
            dense = np.zeros(n_s)
            for prob, nxt, _, term in outcomes:
                dense[nxt] += prob
                assert term == (nxt in env.terminal_states)
            np.testing.assert_allclose(dense, p[s, a])
            assert sum(o[0] * o[2] for o in outcomes) == pytest.approx(r[s, a])


def test_empirical_transitions_match_model() -> None:
    vec = gym.make_vec(MAZE, num_envs=2000, vectorization_mode="vector_entry_point",
                       layout="small", slip=0.4)
    vec.reset(seed=0)
    model = vec.unwrapped.transitions if hasattr(vec, "unwrapped") else vec.transitions
    start = int(np.argmax(vec.initial_state_distribution))
    obs, *_ = vec.step(np.full(2000, 1, dtype=np.int64))  # E from the start
    freq = np.bincount(obs, minlength=model.shape[0]) / 2000
    np.testing.assert_allclose(freq, model[start, 1], atol=0.04)


def test_named_layouts_have_the_books_optimum() -> None:
    expected_steps = {"dyna": 14, "windy": 15, "cliff": 13}  # S&B Examples 8.1, 6.5, 6.6
    for layout, steps in expected_steps.items():
        env = gym.make(MAZE, layout=layout).unwrapped
        v, _ = value_iteration(env.transitions, env.rewards, env.gamma)
        start = int(np.argmax(env.initial_state_distribution))
        if layout == "dyna":
            assert v[start] == pytest.approx(0.95 ** (steps - 1))
        else:
            assert v[start] == pytest.approx(-steps)
    assert set(LAYOUTS) >= {"seed", "dyna", "windy", "cliff"}


def test_cliff_sends_back_to_start_with_minus_100() -> None:
    env = gym.make(MAZE, layout="cliff")
    obs, _ = env.reset(seed=0)
    obs2, r, term, trunc, _ = env.step(1)  # E from the start is the cliff
    assert (obs2, r, term, trunc) == (obs, -100.0, False, False)


def test_windy_pushes_up() -> None:
    env = gym.make(MAZE, layout="windy", observation="coords")
    env.reset(seed=0)
    for _ in range(3):
        obs, *_ = env.step(1)  # columns 0-2 have no wind
    assert obs.tolist() == [3, 3]
    obs, *_ = env.step(1)  # leaving column 3 (wind 1): one row up
    assert obs.tolist() == [2, 4]


@pytest.mark.parametrize("seed", range(25))
def test_generated_mazes_are_solvable(seed: int) -> None:
    rows, cols = 5 + 2 * (seed % 5), 5 + 2 * ((seed // 5) % 5)
    layout = generate_maze(rows, cols, seed)
    assert maze_is_solvable(layout)
    assert shortest_path_length(layout) is not None
    env = gym.make(MAZE, layout="random", size=(rows, cols), maze_seed=seed).unwrapped
    v, _ = value_iteration(env.transitions, env.rewards, 1.0)
    start = int(np.argmax(env.initial_state_distribution))
    assert v[start] == -shortest_path_length(layout)


def test_unsolvable_layout_rejected() -> None:
    with pytest.raises(ValueError, match="no path"):
        gym.make(MAZE, layout=["S#G"])


@pytest.mark.parametrize(("kwargs", "shape"), [
    ({"layout": "small"}, (3 * 16, 4 * 16, 3)),
    ({"layout": "cliff"}, (4 * 16, 12 * 16, 3)),
])
def test_render_shapes(kwargs: dict[str, Any], shape: tuple[int, ...]) -> None:
    env = gym.make(MAZE, render_mode="rgb_array", **kwargs)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == shape and frame.dtype == np.uint8
    text = gym.make(MAZE, render_mode="ansi", **kwargs)
    text.reset(seed=0)
    lines = text.render().splitlines()
    assert len(lines) == shape[0] // 16 and all(len(x) == shape[1] // 16 for x in lines)
    assert sum(x.count("@") for x in lines) == 1
    vec = gym.make_vec(MAZE, num_envs=2, vectorization_mode="vector_entry_point",
                       render_mode="rgb_array", **kwargs)
    vec.reset(seed=0)
    assert [f.shape for f in vec.render()] == [shape, shape]
    walk = gym.make(WALK, render_mode="rgb_array")
    walk.reset(seed=0)
    assert walk.render().shape == (16, 7 * 16, 3)


def test_image_observation_marks_agent() -> None:
    env = gym.make(MAZE, layout="small", observation="image")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, 4, 3) and obs[0, 0, 1] == 255 and obs[..., 1].sum() == 255


@pytest.mark.parametrize(("env_id", "kwargs", "match"), [
    (MAZE, {"layout": "nope"}, "unknown layout"),
    (MAZE, {"layout": ["S.X", "..G"]}, "unknown layout characters"),
    (MAZE, {"slip": 1.5}, "slip"),
    (MAZE, {"observation": "pixels"}, "observation"),
    (MAZE, {"layout": "random", "size": (4, 7)}, "odd"),
    (MAZE, {"render_mode": "video"}, "render_mode"),
    (MAZE, {"max_episode_steps": 0}, "max_episode_steps"),
    (TABULAR, {"transitions": np.ones((2, 1, 2))}, "both"),
    (TABULAR, {"transitions": np.ones((2, 1, 2)), "rewards": np.zeros((2, 1))}, "sums to"),
    (TABULAR, {"transitions": np.full((2, 1, 2), 0.5), "rewards": np.zeros((3, 1))},
     "rewards must have shape"),
    (TABULAR, {"n_states": 2, "branching": 3}, "branching"),
    (WALK, {"n_states": 4}, "odd"),
])
def test_bad_configuration(env_id: str, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gym.make(env_id, **kwargs)


@pytest.mark.parametrize("action", [4, -1, 1.0, np.nan, True, np.array([1])])
def test_bad_actions(action: Any) -> None:
    env = gym.make(MAZE)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="Maze-v0"):
        env.unwrapped.step(action)
    vec = gym.make_vec(MAZE, num_envs=2, vectorization_mode="vector_entry_point")
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="Maze-v0"):
        vec.step(np.array([action, action]) if np.ndim(action) == 0 else action)


def test_step_before_reset() -> None:
    with pytest.raises(gym.error.ResetNeeded):
        gym.make(MAZE).unwrapped.step(0)
    with pytest.raises(gym.error.ResetNeeded):
        gym.make_vec(MAZE, num_envs=2, vectorization_mode="vector_entry_point").step(
            np.zeros(2, dtype=np.int64))


def test_truncation_and_autoreset() -> None:
    vec = gym.make_vec(MAZE, num_envs=2, vectorization_mode="vector_entry_point",
                       layout="small", max_episode_steps=3)
    obs, _ = vec.reset(seed=0)
    start = obs.copy()
    for _ in range(2):
        _, _, term, trunc, _ = vec.step(np.zeros(2, dtype=np.int64))  # N: into the wall
        assert not trunc.any() and not term.any()
    _, _, term, trunc, _ = vec.step(np.zeros(2, dtype=np.int64))
    assert trunc.all() and not term.any()
    obs, r, term, trunc, _ = vec.step(np.ones(2, dtype=np.int64))  # the reset step
    np.testing.assert_array_equal(obs, start)
    assert (r == 0).all() and not term.any() and not trunc.any()


def test_random_walk_true_values() -> None:
    from decisiongym.theory import policy_evaluation

    for n, expected in [(5, np.arange(1, 6) / 6), (19, np.arange(-18, 20, 2) / 20)]:
        env = gym.make(WALK, n_states=n).unwrapped
        v = policy_evaluation(env.transitions, env.rewards, np.ones((n + 2, 1)), 1.0)
        np.testing.assert_allclose(v[1:-1], expected, atol=1e-12)


def test_docstring_examples() -> None:
    import doctest

    import decisiongym.envs.mdp as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
