"""The NEXT_STEP vector base class (``decisiongym.envs.vector``) and the budget metadata key,
checked on a toy subclass and on every registered environment."""

from __future__ import annotations

import inspect
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.envs.registration import load_env_creator
from gymnasium.vector import AutoresetMode
from torch import nn

import decisiongym
from decisiongym.envs.vector import BUDGET_KWARG, NextStepVectorEnv

IDS = [env_id for env_id, _ in decisiongym.list_environments()]


def _victim() -> nn.Module:
    torch.manual_seed(0)  # a random linear classifier: right on about a tenth of the inputs
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


def small_kwargs(env_id: str) -> dict[str, Any] | None:
    """Cheap settings with short episodes (None: too slow to step in a fast test)."""
    name = env_id.split("/", 1)[1]
    if name == "NASChain-v0":
        return None  # trains a child network per episode
    if name == "NASCell-v0":
        return {"tabular": True}
    if name == "AdversarialAttack-v0":
        return {"victim": _victim(), "horizon": 4, "eps": 0.5, "terminate_on_success": True}
    if name == "SequenceTask-v0":
        return {"gap": 2}
    if name in ("Maze-v0", "GoalMaze-v0"):
        return {"layout": "small", "max_episode_steps": 8}
    if name == "SparseMaze-v0":
        return {"length": 4, "max_episode_steps": 6}
    if name == "FeudalMaze-v0":
        return {"levels": 2, "max_episode_steps": 8}
    if name in ("TabularMDP-v0", "FourRooms-v0"):
        return {"max_episode_steps": 8}
    entry = load_env_creator(gym.spec(env_id).entry_point)
    if "horizon" in inspect.signature(entry).parameters and BUDGET_KWARG in entry.metadata:
        return {"horizon": 5}
    return {}


def _vector_class(env_id: str) -> Any:
    return load_env_creator(gym.spec(env_id).vector_entry_point)


def _single_class(env_id: str) -> Any:
    return load_env_creator(gym.spec(env_id).entry_point)


# --------------------------------------------------------------------------------------------
# A toy subclass: the base's bookkeeping on its own.
# --------------------------------------------------------------------------------------------


class Countdown(NextStepVectorEnv[Any, Any, Any]):
    """Replicate i's episodes last i + 1 steps; the reward is the step's number. Records the
    hooks' calls."""

    metadata = {"render_modes": []}  # noqa: RUF012
    env_name = "Countdown"

    def __init__(self, num_envs: int = 3) -> None:
        self._init_vector(num_envs)
        self._set_spaces(spaces.Discrete(100), spaces.Discrete(2))
        self.t = np.zeros(self.num_envs, dtype=np.int64)
        self.calls: list[tuple[str, Any]] = []

    def _set_rngs(self, rngs: list[np.random.Generator]) -> None:
        self.calls.append(("rngs", [int(r.integers(1 << 30)) for r in rngs]))

    def _reset_all(self) -> tuple[Any, dict[str, Any]]:
        self.t[:] = 0
        return self.t.copy(), {}

    def _reset_rows(self, rows: Any) -> None:
        self.calls.append(("reset_rows", rows.tolist()))
        self.t[rows] = 0

    def _step_batch(self, actions: Any, stepped: Any) -> Any:
        self.calls.append(("step_batch", stepped.tolist()))
        self.t[stepped] += 1
        rewards = np.where(stepped, self.t, 0).astype(np.float64)
        terminated = stepped & (self.t >= np.arange(self.num_envs) + 1)
        return self.t.copy(), rewards, terminated, np.zeros(self.num_envs, dtype=bool), {}


def test_base_declares_next_step_and_resets_exactly_the_ended_rows() -> None:
    env = Countdown(3)
    assert env.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert env.observation_space.shape == (3,) and env.action_space.shape == (3,)
    with pytest.raises(gym.error.ResetNeeded, match="Countdown: call reset"):
        env.step(np.zeros(3, dtype=np.int64))
    env.reset(seed=0)
    zeros = np.zeros(3, dtype=np.int64)
    _, r, te, _, _ = env.step(zeros)  # replicate 0's one-step episode ends
    assert r.tolist() == [1, 1, 1] and te.tolist() == [True, False, False]
    assert env.calls[-1] == ("step_batch", [True, True, True])  # the fast path, all stepped
    _, r, te, tr, _ = env.step(zeros)  # replicate 0 resets; 1 ends
    assert env.calls[-2:] == [("reset_rows", [0]), ("step_batch", [False, True, True])]
    assert r.tolist() == [0, 2, 2] and te.tolist() == [False, True, False] and not tr.any()
    _, r, te, _, _ = env.step(zeros)  # 0 steps again, 1 resets, 2 ends
    assert env.calls[-2:] == [("reset_rows", [1]), ("step_batch", [True, False, True])]
    assert r.tolist() == [1, 0, 3] and te.tolist() == [True, False, True]
    env.reset()  # a reset clears the pending autoresets
    env.step(zeros)
    assert env.calls[-1] == ("step_batch", [True, True, True])


def test_base_seeds_replicate_i_with_seed_plus_i() -> None:
    env = Countdown(3)
    env.reset(seed=10)
    expected = [int(np.random.Generator(np.random.PCG64(np.random.SeedSequence(10 + i)))
                    .integers(1 << 30)) for i in range(3)]
    assert env.calls[-1] == ("rngs", expected)
    env.reset()  # no seed: the generators go on, none handed over
    assert len([c for c in env.calls if c[0] == "rngs"]) == 1
    env.reset(seed=[10, 11, 12])
    assert env.calls[-1] == ("rngs", expected)
    with pytest.raises(ValueError, match="Countdown: got 2 seeds for 3 replicates"):
        env.reset(seed=[1, 2])


def test_base_validates_num_envs_and_actions() -> None:
    with pytest.raises(ValueError, match="Countdown: num_envs must be a positive integer"):
        Countdown(0)
    env = Countdown(2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"Countdown: actions\[1\] = 2 is out of range"):
        env.step(np.array([0, 2]))
    with pytest.raises(ValueError, match="Countdown: actions must have shape"):
        env.step(np.zeros(3, dtype=np.int64))
    env.step([1, 0])  # a list of ints is fine


def test_base_refuses_another_autoreset_mode() -> None:
    with pytest.raises(TypeError, match="NEXT_STEP"):
        class SameStep(Countdown):  # the class statement itself must fail
            metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}  # noqa: RUF012


# --------------------------------------------------------------------------------------------
# Every registered environment.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", IDS)
def test_every_native_vector_env_derives_from_the_base(env_id: str) -> None:
    cls = _vector_class(env_id)
    assert inspect.isclass(cls) and issubclass(cls, NextStepVectorEnv), cls
    assert cls.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP


BUDGETED = {"BernoulliBandit-v0", "GaussianBandit-v0", "BetaBandit-v0", "KuleshovPrecup-v0",
            "ChapelleLi-v0", "LinearContextualBandit-v0", "NonparametricContextualBandit-v0",
            "AdversarialContextBandit-v0", "ClassificationBandit-v0", "AdversarialBandit-v0",
            "ReactiveAdversaryBandit-v0", "ImageClassification-v0", "AdversarialAttack-v0",
            "AccessControl-v0"}


@pytest.mark.parametrize("env_id", IDS)
def test_budget_kwarg_is_declared_by_exactly_the_envs_that_take_one(env_id: str) -> None:
    assert BUDGET_KWARG == "decisiongym.budget_kwarg"
    name = env_id.split("/", 1)[1]
    for cls in (_single_class(env_id), _vector_class(env_id)):
        kwarg = cls.metadata.get(BUDGET_KWARG)
        if name in BUDGETED:
            assert kwarg == "horizon", cls
            assert kwarg in inspect.signature(cls).parameters, cls
        else:
            assert kwarg is None, cls


@pytest.mark.parametrize("env_id", sorted(f"decisiongym/{n}" for n in BUDGETED))
def test_the_declared_budget_kwarg_sets_the_episode_length(env_id: str) -> None:
    kwargs = small_kwargs(env_id) or {}
    kwargs.pop("terminate_on_success", None)
    key = _single_class(env_id).metadata[BUDGET_KWARG]
    env = gym.make(env_id, **{**kwargs, key: 3})
    env.reset(seed=0)
    env.action_space.seed(0)
    ends = [any(env.step(env.action_space.sample())[2:4]) for _ in range(3)]
    assert ends == [False, False, True]


def _runnable() -> list[str]:
    return [i for i in IDS if small_kwargs(i) is not None]


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(np.array_equal(np.asarray(a), np.asarray(b)))


@pytest.mark.parametrize("env_id", _runnable())
def test_replicate_i_is_the_single_env_seeded_s_plus_i_under_next_step(env_id: str) -> None:
    """The seeding contract and NEXT_STEP autoreset, against single envs stepped by hand."""
    kwargs = small_kwargs(env_id)
    assert kwargs is not None
    n, seed = 3, 11
    vec = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    # The classes themselves: gym.make would take max_episode_steps for its own TimeLimit.
    singles = [_single_class(env_id)(**kwargs) for _ in range(n)]
    obs, _ = vec.reset(seed=seed)
    for i, env in enumerate(singles):
        assert _equal({k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i],
                      env.reset(seed=seed + i)[0])
    vec.action_space.seed(0)
    ended = np.zeros(n, dtype=bool)
    resets = 0
    for _ in range(25):
        actions = vec.action_space.sample()
        obs, rewards, terminated, truncated, _ = vec.step(actions)
        for i, env in enumerate(singles):
            o_i = {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]
            if ended[i]:  # the reset step: action ignored, reward 0, not done
                resets += 1
                assert rewards[i] == 0 and not terminated[i] and not truncated[i]
                assert _equal(o_i, env.reset()[0])
            else:
                o, r, te, tr, _ = env.step(actions[i])
                assert (float(r), bool(te), bool(tr)) == (rewards[i], terminated[i],
                                                          truncated[i])
                assert _equal(o_i, o)
        ended = terminated | truncated
    assert resets > 0, "no episode ended: the autoreset went untested"
    vec.close()


@pytest.mark.parametrize("env_id", _runnable())
def test_every_vector_env_needs_a_reset_and_checks_its_seeds(env_id: str) -> None:
    kwargs = small_kwargs(env_id)
    assert kwargs is not None
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", **kwargs)
    with pytest.raises(gym.error.ResetNeeded):
        vec.step(vec.action_space.sample())
    with pytest.raises(ValueError, match="got 3 seeds for 2 replicates"):
        vec.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match="num_envs"):
        gym.make_vec(env_id, num_envs=0, vectorization_mode="vector_entry_point", **kwargs)
