"""One conformance test over every registered decisiongym environment (issue 20).

For every id of :func:`decisiongym.list_environments`, with small settings (``SMALL``):

- Gymnasium's ``check_env`` on the unwrapped env (every render mode it declares), no warnings;
- SB3's ``check_env`` where SB3 takes the spaces (all of ours do);
- two rollouts with the same seed are identical (observations, rewards, flags, infos);
- the env pickles, and the copy goes on exactly as the original;
- the native vector env (``gym.make_vec(..., vectorization_mode="vector_entry_point")``) equals
  ``gym.make`` singles, replicate i the single env seeded s + i, under NEXT_STEP autoreset:
  observations, rewards, terminated, truncated (the registered / given ``max_episode_steps`` as
  gym.make's TimeLimit applies it), and the single env's info keys and values;
- a table of bad settings per env (``BAD``), each refused by ``gym.make`` and by
  ``gym.make_vec`` with ValueError or TypeError naming the env id; and on every vector env, a bad
  ``num_envs`` and an action batch of the wrong length.

Env-specific behaviour stays in each env's own test file.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.envs.registration import load_env_creator
from gymnasium.utils.env_checker import check_env
from torch import nn

import decisiongym
from decisiongym.envs.goal_maze import room

torch.set_num_threads(1)

IDS = [env_id for env_id, _ in decisiongym.list_environments()]
VEC = {"vectorization_mode": "vector_entry_point"}


def _victim() -> nn.Module:
    torch.manual_seed(0)  # a random linear classifier on 8 x 8 digits
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


#: Small settings per env (short episodes; NAS on the table or a one-layer child on 64 rows).
SMALL: dict[str, Callable[[], dict[str, Any]]] = {
    "BernoulliBandit-v0": lambda: {"horizon": 6},
    "GaussianBandit-v0": lambda: {"horizon": 6},
    "BetaBandit-v0": lambda: {"horizon": 6},
    "KuleshovPrecup-v0": lambda: {"horizon": 6},
    "ChapelleLi-v0": lambda: {"horizon": 6},
    "LinearContextualBandit-v0": lambda: {"horizon": 6},
    "NonparametricContextualBandit-v0": lambda: {"horizon": 6},
    "AdversarialContextBandit-v0": lambda: {"horizon": 6},
    "ClassificationBandit-v0": lambda: {"horizon": 6, "dataset": "iris"},
    "AdversarialBandit-v0": lambda: {"horizon": 6},
    "ReactiveAdversaryBandit-v0": lambda: {"horizon": 6},
    "ImageClassification-v0": lambda: {"horizon": 6},
    "SequenceTask-v0": lambda: {"gap": 2},
    "AdversarialAttack-v0": lambda: {"victim": _victim(), "horizon": 4, "eps": 0.5,
                                     "terminate_on_success": True},
    "TabularMDP-v0": lambda: {"n_states": 4, "terminal_states": [0], "max_episode_steps": 5},
    "Maze-v0": lambda: {"layout": "small", "slip": 0.2, "max_episode_steps": 6},
    "RandomWalk-v0": lambda: {"max_episode_steps": 4},
    "SparseMaze-v0": lambda: {"length": 4, "max_episode_steps": 5},
    "GoalMaze-v0": lambda: {"layout": room(3), "max_episode_steps": 3},
    "FeudalMaze-v0": lambda: {"levels": 2, "max_episode_steps": 5},
    "FourRooms-v0": lambda: {"goal": (3, 6), "start": (2, 5), "max_episode_steps": 4},
    "AccessControl-v0": lambda: {"n_servers": 3, "max_episode_steps": 6},
    "NASChain-v0": lambda: {"n_layers": 1, "epochs": 1, "max_train": 64, "batch_size": 32,
                            "cache": False},
    "NASCell-v0": lambda: {"tabular": True},
}

#: Bad settings per env: each must raise ValueError / TypeError naming the env id.
BAD: dict[str, list[dict[str, Any]]] = {
    "BernoulliBandit-v0": [{"horizon": 0}, {"horizon": 2.5}, {"means": [0.2, 1.5]}],
    "GaussianBandit-v0": [{"sigma": -1.0}, {"horizon": "10"}],
    "BetaBandit-v0": [{"concentration": 0.0}],
    "KuleshovPrecup-v0": [{"k": 0}, {"variance": -1.0}],
    "ChapelleLi-v0": [{"epsilon": 2.0}, {"k": 1}],
    "LinearContextualBandit-v0": [{"d": 0}, {"noise_sigma": float("nan")}],
    "NonparametricContextualBandit-v0": [{"n_bumps": 0}],
    "AdversarialContextBandit-v0": [{"sequence": "nope"}],
    "ClassificationBandit-v0": [{"dataset": "nope"}],
    "AdversarialBandit-v0": [{"adversary": "nope"}, {"k": 0}],
    "ReactiveAdversaryBandit-v0": [{"strategy": "nope"}],
    "ImageClassification-v0": [{"feedback": "nope"}, {"horizon": 0}],
    "SequenceTask-v0": [{"task": "nope"}, {"gap": -1}],
    "AdversarialAttack-v0": [{"victim": "x"}, {"eps": 0.0}, {"norm": "l7"},
                             {"horizon": 0}, {"victim_method": "nope"}],
    "TabularMDP-v0": [{"gamma": 2.0}, {"n_states": 0}, {"mdp_seed": -1}],
    "Maze-v0": [{"gamma": 2}, {"slip": 1.0}, {"layout": "nope"}, {"observation": "nope"},
                {"step_reward": float("nan")}],
    "RandomWalk-v0": [{"n_states": 4}, {"left_reward": "1"}],
    "SparseMaze-v0": [{"gamma": 1.5}, {"length": 1}, {"observation": "nope"}],
    "GoalMaze-v0": [{"layout": "nope"}, {"goal": ("1", "1")}, {"observation": "nope"},
                    {"step_reward": "-1"}],
    "FeudalMaze-v0": [{"levels": 0}, {"levels": 7}, {"goal": (99, 0)}, {"start": (1.5, 0)}],
    "FourRooms-v0": [{"gamma": -1}, {"success": 0.0}, {"goal": (0, 0)}],
    "AccessControl-v0": [{"n_servers": 0}, {"n_servers": 2.5}, {"free_probability": 0.0},
                         {"free_probability": "0.1"}, {"priorities": []},
                         {"priorities": ["a"]}, {"observation": "nope"}],
    "NASChain-v0": [{"max_train": -5}, {"max_train": 0}, {"epochs": 0}, {"lr": -1},
                    {"device": "bogus"}, {"batch_size": 0}, {"penalty": float("nan")},
                    {"n_layers": 0}, {"strides": ()}, {"nope": 1}],
    "NASCell-v0": [{"tabular": False, "channels": 0}, {"n_nodes": 1}, {"ops": ("x",)},
                   {"tabular": "yes"}, {"penalty": float("nan")}],
}


def _short(env_id: str) -> str:
    return env_id.split("/", 1)[1]


def _kwargs(env_id: str) -> dict[str, Any]:
    return SMALL[_short(env_id)]()


def _make(env_id: str, **extra: Any) -> gym.Env[Any, Any]:
    """``gym.make`` with the small settings: ``max_episode_steps`` goes to gym.make (its
    TimeLimit), as a user passes it."""
    kw = {**_kwargs(env_id), **extra}
    return gym.make(env_id, **kw)


#: Info keys that measure time (NAS's training seconds): never compared.
TIMING = ("evaluation_seconds", "train_seconds")
#: Info keys only the single env gives (known, left as they are): the bandits' problem constant
#: ``lai_robbins_constant`` (also an attribute of the env) and NAS's ``cached``.
SINGLE_ONLY = ("lai_robbins_constant", "cached")


def _same(a: Any, b: Any) -> bool:
    """Exact equality of observations / infos (dicts, tuples, arrays; NaN equals NaN; timing
    keys skipped)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(
            k in TIMING or _same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)) and not isinstance(b, np.ndarray):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(
            _same(x, y) for x, y in zip(a, b, strict=True))
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape:
        return False
    if x.dtype.kind in "fc" or y.dtype.kind in "fc":
        return bool(np.array_equal(x, y, equal_nan=True))
    return bool(np.array_equal(x, y))


def _rollout(env: gym.Env[Any, Any], seed: int, steps: int) -> list[Any]:
    env.action_space.seed(seed)
    out: list[Any] = [env.reset(seed=seed)]
    for _ in range(steps):
        step = env.step(env.action_space.sample())
        out.append(step)
        if step[2] or step[3]:
            out.append(env.reset())
    return out


def test_every_registered_id_has_settings_and_bad_inputs() -> None:
    assert sorted(_short(i) for i in IDS) == sorted(SMALL) == sorted(BAD)


# ----- checkers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_checker(env_id: str) -> None:
    env = _make(env_id)
    render_modes = env.unwrapped.metadata.get("render_modes", [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
        for mode in render_modes:  # every declared mode renders after reset and step
            e = _make(env_id, render_mode=mode)
            e.reset(seed=0)
            e.step(e.action_space.sample())
            frame = e.render()
            if mode == "ansi":
                assert isinstance(frame, str) and frame
            else:
                assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8
                assert frame.ndim == 3 and frame.shape[2] == 3
    # Gymnasium's advice on unbounded Boxes (the contextual bandits' Gaussian contexts) is no
    # failure; anything else is.
    assert [str(w.message) for w in caught if "infinity" not in str(w.message)] == []


@pytest.mark.parametrize("env_id", IDS)
def test_stable_baselines3_checker(env_id: str) -> None:
    sb3 = pytest.importorskip("stable_baselines3.common.env_checker")
    env = _make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SB3's advice (e.g. on unnormalised Boxes) is no failure
        # Unwrapped: SB3 calls a goal env's compute_reward on the object it is given, and
        # Gymnasium 1.x wrappers no longer pass attributes through.
        sb3.check_env(env.unwrapped, warn=True)


def test_goal_maze_passes_sb3_checker_with_its_defaults() -> None:
    sb3 = pytest.importorskip("stable_baselines3.common.env_checker")
    sb3.check_env(gym.make("decisiongym/GoalMaze-v0").unwrapped, warn=True)


# ----- determinism and pickling ----------------------------------------------------------------


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_rollout(env_id: str) -> None:
    a = _rollout(_make(env_id), seed=3, steps=25)
    b = _rollout(_make(env_id), seed=3, steps=25)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert _same(x, y)


@pytest.mark.parametrize("env_id", IDS)
def test_pickling_round_trip_goes_on_identically(env_id: str) -> None:
    env = _make(env_id)
    env.reset(seed=1)
    env.step(env.action_space.sample())
    copy = pickle.loads(pickle.dumps(env))
    env.action_space.seed(5)
    for _ in range(6):
        action = env.action_space.sample()
        out, out2 = env.step(action), copy.step(action)
        assert _same(out, out2)
        if out[2] or out[3]:
            assert _same(env.reset(seed=9), copy.reset(seed=9))


# ----- the native vector env equals gym.make singles -------------------------------------------


def _vector_info_row(info: dict[str, Any], key: str, i: int) -> Any:
    value = info[key]
    if isinstance(value, dict):
        return {k: _vector_info_row(value, k, i) for k in value if not k.startswith("_")}
    return value[i]


@pytest.mark.parametrize("env_id", IDS)
def test_vector_env_matches_single_envs_seeded_s_plus_i(env_id: str) -> None:
    n, seed, steps = 3, 11, 40 if "NASChain" not in env_id else 8
    kw = _kwargs(env_id)
    vec = gym.make_vec(env_id, num_envs=n, **VEC, **kw)
    singles = [gym.make(env_id, **_kwargs(env_id)) for _ in range(n)]
    obs, vinfo = vec.reset(seed=seed)
    outs = [e.reset(seed=seed + i) for i, e in enumerate(singles)]
    for i, (o, info) in enumerate(outs):
        assert _same(_row(obs, i), o)
        _check_info(vinfo, info, i, env_id)
    vec.action_space.seed(0)
    done = [False] * n
    for _ in range(steps):
        actions = vec.action_space.sample()
        obs, r, te, tr, vinfo = vec.step(actions)
        for i, e in enumerate(singles):
            if done[i]:  # NEXT_STEP: this step reset the replicate
                o, info = e.reset()
                assert (r[i], te[i], tr[i]) == (0.0, False, False)
                done[i] = False
            else:
                o, ri, tei, tri, info = e.step(_row(actions, i))
                assert (float(r[i]), bool(te[i]), bool(tr[i])) == (float(ri), tei, tri), (
                    env_id, i)
                done[i] = tei or tri
            assert _same(_row(obs, i), o), (env_id, i)
            _check_info(vinfo, info, i, env_id)
    vec.close()


def _row(batch: Any, i: int) -> Any:
    if isinstance(batch, dict):
        return {k: v[i] for k, v in batch.items()}
    return batch[i]


def _check_info(vinfo: dict[str, Any], info: dict[str, Any], i: int, env_id: str) -> None:
    """Every key of the single env's info is in the vector env's, with the same value in row i
    (where the vector env's ``_key`` mask, if any, marks the row)."""
    for key, value in info.items():
        if key in SINGLE_ONLY or (key in TIMING and key in vinfo):
            continue
        assert key in vinfo, (env_id, key, sorted(vinfo))
        mask = vinfo.get(f"_{key}")
        if mask is not None and not mask[i]:
            continue
        got = _vector_info_row(vinfo, key, i)
        assert _same(np.asarray(got), np.asarray(value)), (env_id, key, got, value)


@pytest.mark.parametrize("env_id", ["decisiongym/GoalMaze-v0", "decisiongym/FourRooms-v0"])
def test_a_goal_reached_at_the_limit_ends_alike_in_single_and_vector(env_id: str) -> None:
    """Gymnasium's TimeLimit truncates at the limit also when the step terminates; the native
    vector env (and the env's own limit) do the same."""
    if "GoalMaze" in env_id:
        kw: dict[str, Any] = {"layout": room(3), "goal": (0, 2)}
        path = [1, 1]  # E, E: the goal on the second step
    else:
        kw = {"goal": (3, 6), "start": (3, 4), "success": 1.0}
        path = [1, 1]  # E, E: into the hallway (the goal) on the second step
    single = gym.make(env_id, max_episode_steps=2, **kw)  # the env's default limit + TimeLimit
    vec = gym.make_vec(env_id, num_envs=1, max_episode_steps=2, **VEC, **kw)
    own = load_env_creator(gym.spec(env_id).entry_point)(max_episode_steps=2, **kw)
    single.reset(seed=0)
    vec.reset(seed=0)
    own.reset(seed=0)
    for a in path:
        _, _, te, tr, _ = single.step(a)
        _, _, vte, vtr, _ = vec.step(np.array([a]))
        _, _, ote, otr, _ = own.step(a)
    assert (te, tr) == (True, True)
    assert (bool(vte[0]), bool(vtr[0])) == (te, tr) == (ote, otr)


# ----- bad inputs --------------------------------------------------------------------------------


def _bad_cases() -> list[tuple[str, dict[str, Any]]]:
    return [(f"decisiongym/{name}", kw) for name, cases in BAD.items() for kw in cases]


@pytest.mark.parametrize(("env_id", "bad"), _bad_cases(),
                         ids=[f"{i.split('/')[1]}-{sorted(k)}" for i, k in _bad_cases()])
def test_bad_settings_are_refused_naming_the_env(env_id: str, bad: dict[str, Any]) -> None:
    kw = {**_kwargs(env_id), **bad}
    name = _short(env_id)
    with pytest.raises((ValueError, TypeError), match=name):
        gym.make(env_id, disable_env_checker=True, **kw)
    with pytest.raises((ValueError, TypeError), match=name):
        gym.make_vec(env_id, num_envs=2, **VEC, **kw)


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("num_envs", [0, -1, 2.5, True, "2"])
def test_bad_num_envs_is_refused_naming_the_env(env_id: str, num_envs: Any) -> None:
    with pytest.raises((ValueError, TypeError), match=_short(env_id)):
        gym.make_vec(env_id, num_envs=num_envs, **VEC, **_kwargs(env_id))


@pytest.mark.parametrize("env_id", IDS)
def test_an_action_batch_of_the_wrong_length_is_refused_naming_the_env(env_id: str) -> None:
    vec = gym.make_vec(env_id, num_envs=4, **VEC, **_kwargs(env_id))
    vec.reset(seed=0)
    actions = vec.action_space.sample()
    with pytest.raises((ValueError, TypeError), match=_short(env_id)):
        vec.step(actions[:3])


def test_agents_refuse_numeric_strings() -> None:
    from gymnasium import spaces

    from decisiongym import agents

    with pytest.raises(ValueError, match="epsilon-greedy"):
        agents.make("epsilon-greedy", observation_space=spaces.Discrete(1),
                    action_space=spaces.Discrete(3), epsilon="0.1")
    with pytest.raises(ValueError, match="ucb1"):
        agents.make("ucb1", observation_space=spaces.Discrete(1),
                    action_space=spaces.Discrete(3), alpha=True)
