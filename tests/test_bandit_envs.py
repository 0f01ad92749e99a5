"""Tests of the stochastic bandit environments (``decisiongym.envs.bandits``).

Every test is parametrized over every registered bandit id in ``decisiongym.envs.ENVIRONMENTS``
(single env through ``gym.make``, native vector env through ``gym.make_vec`` with
``vectorization_mode="vector_entry_point"``).
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.vector import AutoresetMode

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym.envs import ENVIRONMENTS
from decisiongym.envs.bandits import block_length

BANDIT_IDS = [e.id for e in ENVIRONMENTS if e.entry_point.startswith("decisiongym.envs.bandits:")]
EXPECTED_IDS = {
    "decisiongym/BernoulliBandit-v0",
    "decisiongym/GaussianBandit-v0",
    "decisiongym/BetaBandit-v0",
    "decisiongym/KuleshovPrecup-v0",
    "decisiongym/ChapelleLi-v0",
}
FIXED_MEAN_IDS = [
    "decisiongym/BernoulliBandit-v0",
    "decisiongym/GaussianBandit-v0",
    "decisiongym/BetaBandit-v0",
]
KULESHOV = "decisiongym/KuleshovPrecup-v0"
CHAPELLE = "decisiongym/ChapelleLi-v0"
GAUSSIAN = "decisiongym/GaussianBandit-v0"
BETA = "decisiongym/BetaBandit-v0"
BERNOULLI = "decisiongym/BernoulliBandit-v0"

CHAPELLE_EPSILON = 0.1
KULESHOV_VARIANCE = 0.04
BETA_CONCENTRATION = 3.0


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def env_name(env_id: str) -> str:
    """The name the env uses in its error messages, e.g. ``BernoulliBandit-v0``."""
    return env_id.split("/", 1)[1]


def gaussian_sigma(k: int) -> list[float]:
    """Per-arm standard deviations, including an exactly deterministic arm (sigma 0)."""
    return [0.0, *np.linspace(0.25, 2.0, k - 1).tolist()]


_KWARGS: dict[str, Callable[[int], dict[str, Any]]] = {
    BERNOULLI: lambda k: {"means": np.linspace(0.05, 0.95, k).tolist()},
    GAUSSIAN: lambda k: {"means": np.linspace(-1.0, 2.0, k).tolist(), "sigma": gaussian_sigma(k)},
    BETA: lambda k: {"means": np.linspace(0.1, 0.9, k).tolist(),
                     "concentration": BETA_CONCENTRATION},
    KULESHOV: lambda k: {"k": k, "variance": KULESHOV_VARIANCE},
    CHAPELLE: lambda k: {"k": k, "epsilon": CHAPELLE_EPSILON},
}


def make_kwargs(env_id: str, k: int = 5, horizon: int | None = None) -> dict[str, Any]:
    """Constructor kwargs giving ``k`` arms (and the given horizon) for any bandit id."""
    assert env_id in _KWARGS, f"no test kwargs for {env_id}: add it to _KWARGS"
    kw = _KWARGS[env_id](k)
    if horizon is not None:
        kw["horizon"] = horizon
    return kw


def make_vec(env_id: str, num_envs: int, **kwargs: Any) -> gym.vector.VectorEnv:
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                        **kwargs)


def run_single(env: gym.Env, actions: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Step ``env`` with ``actions``, resetting (no seed) after each truncation."""
    rewards, infos = [], []
    for a in actions:
        _, r, terminated, truncated, info = env.step(int(a))
        assert not terminated
        rewards.append(r)
        infos.append(info)
        if truncated:
            _, reset_info = env.reset()
            infos.append({"reset": reset_info})
    return np.array(rewards, dtype=np.float64), infos


def run_vector(env: gym.vector.VectorEnv, actions: np.ndarray
               ) -> tuple[np.ndarray, list[dict[str, Any]], np.ndarray]:
    rewards, infos, truncs = [], [], []
    for a in actions:
        _, r, terminated, truncated, info = env.step(a)
        assert not terminated.any()
        rewards.append(r)
        infos.append(info)
        truncs.append(truncated)
    return np.array(rewards), infos, np.array(truncs)


def assert_info_equal(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Exact equality of two info dicts, recursing into dicts, arrays compared bit for bit."""
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, dict):
            assert_info_equal(x, y)
        else:
            assert type(x) is type(y), key
            xa, ya = np.asarray(x), np.asarray(y)
            nan_ok = xa.dtype.kind == "f"  # NaN (e.g. an undefined Lai-Robbins C) equals NaN
            assert np.array_equal(xa, ya, equal_nan=nan_ok), (key, x, y)


def bandit_ids(*ids: str) -> list[str]:
    return [i for i in BANDIT_IDS if i in ids]


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------


def test_every_expected_bandit_is_registered() -> None:
    assert EXPECTED_IDS <= set(BANDIT_IDS)
    for env_id in BANDIT_IDS:
        spec = gym.spec(env_id)
        assert spec.vector_entry_point is not None
        assert spec.max_episode_steps is None  # the bandit's own horizon truncates


# --------------------------------------------------------------------------------------------
# 1. Environment checkers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_gymnasium_check_env_passes_without_warnings(env_id: str) -> None:
    env = gym.make(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []
    env.close()


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_stable_baselines3_check_env_passes(env_id: str) -> None:
    sb3_env_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    env = gym.make(env_id, **make_kwargs(env_id, horizon=20))
    sb3_env_checker.check_env(env, warn=True)
    env.close()


# --------------------------------------------------------------------------------------------
# 2. make / make_vec and spaces
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", BANDIT_IDS)
@pytest.mark.parametrize("k", [2, 7])
def test_make_single_env_spaces(env_id: str, k: int) -> None:
    env = gym.make(env_id, **make_kwargs(env_id, k=k, horizon=3))
    assert env.action_space == spaces.Discrete(k)
    assert env.observation_space == spaces.Discrete(1)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert info["arm_means"].shape == (k,)
    obs, reward, terminated, truncated, _ = env.step(k - 1)
    assert env.observation_space.contains(obs)
    assert isinstance(reward, float)
    assert terminated is False
    assert truncated is False
    env.close()


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_make_vec_spaces_and_autoreset_mode(env_id: str) -> None:
    n, k = 3, 4
    env = make_vec(env_id, n, **make_kwargs(env_id, k=k, horizon=3))
    assert env.num_envs == n
    assert env.single_action_space == spaces.Discrete(k)
    assert env.single_observation_space == spaces.Discrete(1)
    assert env.action_space == spaces.MultiDiscrete([k] * n)
    assert env.observation_space == spaces.MultiDiscrete([1] * n)
    assert env.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert info["arm_means"].shape == (n, k)
    assert info["optimal_expected_reward"].shape == (n,)
    obs, rewards, terminated, truncated, info = env.step(np.arange(n) % k)
    assert env.observation_space.contains(obs)
    assert rewards.shape == (n,) and rewards.dtype == np.float64
    assert terminated.shape == (n,) and terminated.dtype == np.bool_
    assert truncated.shape == (n,) and truncated.dtype == np.bool_
    assert info["expected_reward"].shape == (n,)
    assert info["_expected_reward"].all()
    env.close()


# --------------------------------------------------------------------------------------------
# 3. Seeding
# --------------------------------------------------------------------------------------------


def _seeded_rewards(env_id: str, seed: int, actions: np.ndarray) -> np.ndarray:
    env = gym.make(env_id, **make_kwargs(env_id, horizon=len(actions)))
    env.reset(seed=seed)
    rewards, _ = run_single(env, actions)
    env.close()
    return rewards


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_same_seed_same_rewards_bit_for_bit(env_id: str) -> None:
    actions = np.random.default_rng(11).integers(5, size=80)
    first = _seeded_rewards(env_id, 42, actions)
    second = _seeded_rewards(env_id, 42, actions)
    assert np.array_equal(first, second)
    other = _seeded_rewards(env_id, 43, actions)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_same_seed_same_rewards_vector(env_id: str) -> None:
    actions = np.random.default_rng(12).integers(5, size=(60, 3))
    runs = []
    for seed in (5, 5, 6):
        env = make_vec(env_id, 3, **make_kwargs(env_id, horizon=25))
        env.reset(seed=seed)
        runs.append(run_vector(env, actions)[0])
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


# --------------------------------------------------------------------------------------------
# 4. Vector env replicate i == single env seeded s + i
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_vector_replicate_matches_single_env_with_seed_plus_i(env_id: str) -> None:
    n, k, horizon, seed, steps = 4, 5, 7, 1234, 30
    kw = make_kwargs(env_id, k=k, horizon=horizon)
    vec = make_vec(env_id, n, **kw)
    singles = [gym.make(env_id, **kw) for _ in range(n)]

    _, vec_info = vec.reset(seed=seed)
    for i, env in enumerate(singles):
        _, info = env.reset(seed=seed + i)
        assert np.array_equal(vec_info["arm_means"][i], info["arm_means"])
        assert vec_info["optimal_expected_reward"][i] == info["optimal_expected_reward"]

    actions = np.random.default_rng(99).integers(k, size=(steps, n))
    pending_reset = np.zeros(n, dtype=bool)
    vec_rewards: list[list[float]] = [[] for _ in range(n)]
    single_rewards: list[list[float]] = [[] for _ in range(n)]
    autoreset_steps = 0
    for t in range(steps):
        _, rewards, terminated, truncated, info = vec.step(actions[t])
        assert not terminated.any()
        for i, env in enumerate(singles):
            if pending_reset[i]:
                # NEXT_STEP autoreset: the action is ignored, reward 0, info entries masked out.
                assert rewards[i] == 0.0
                assert not truncated[i]
                assert not info["_expected_reward"][i]
                assert not info["_optimal_expected_reward"][i]
                _, reset_info = env.reset()
                assert info["_arm_means"][i]
                assert np.array_equal(info["arm_means"][i], reset_info["arm_means"])
                autoreset_steps += 1
                continue
            _, r, s_term, s_trunc, s_info = env.step(int(actions[t, i]))
            assert info["_expected_reward"][i] and info["_optimal_expected_reward"][i]
            vec_rewards[i].append(rewards[i])
            single_rewards[i].append(r)
            assert info["expected_reward"][i] == s_info["expected_reward"]
            assert info["optimal_expected_reward"][i] == s_info["optimal_expected_reward"]
            assert info["optimal_action"][i] == s_info["optimal_action"]
            assert truncated[i] == s_trunc
            assert terminated[i] == s_term
        pending_reset = truncated.copy()
    # 30 steps of horizon 7 + 1 autoreset step: three boundaries per replicate.
    assert autoreset_steps == 3 * n
    for i in range(n):
        assert len(vec_rewards[i]) == steps - 3
        assert np.array_equal(np.array(vec_rewards[i]), np.array(single_rewards[i]))


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_vector_seed_sequence_and_unseeded_reset_continue_the_generators(env_id: str) -> None:
    kw = make_kwargs(env_id, horizon=4)
    vec = make_vec(env_id, 2, **kw)
    vec.reset(seed=[10, 20])
    singles = [gym.make(env_id, **kw), gym.make(env_id, **kw)]
    singles[0].reset(seed=10)
    singles[1].reset(seed=20)
    actions = np.random.default_rng(1).integers(5, size=(3, 2))
    vec_rewards = run_vector(vec, actions)[0]
    # An explicit reset without a seed continues each replicate's generator.
    _, vec_info = vec.reset()
    vec_rewards_2 = run_vector(vec, actions)[0]
    for i, env in enumerate(singles):
        assert np.array_equal(run_single(env, actions[:, i])[0], vec_rewards[:, i])
        _, info = env.reset()
        assert np.array_equal(info["arm_means"], vec_info["arm_means"][i])
        assert np.array_equal(run_single(env, actions[:, i])[0], vec_rewards_2[:, i])


# --------------------------------------------------------------------------------------------
# 5. Common random numbers: reward_table
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_reward_table_is_what_the_env_pays(env_id: str) -> None:
    k, horizon, seed = 10, 600, 2024
    assert block_length(k) == 204
    assert horizon > 2 * block_length(k)  # at least two refills of the block
    env = gym.make(env_id, **make_kwargs(env_id, k=k, horizon=horizon))
    bandit = env.unwrapped
    table = bandit.reward_table(seed=seed, horizon=horizon)
    assert table.shape == (horizon, k)
    assert np.array_equal(table, bandit.reward_table(seed=seed, horizon=horizon))
    assert not np.array_equal(table, bandit.reward_table(seed=seed + 1, horizon=horizon))
    # The block length does not depend on the horizon: a shorter table is a prefix.
    assert np.array_equal(bandit.reward_table(seed=seed, horizon=50), table[:50])

    env.reset(seed=seed)
    # Calling reward_table right after reset and mid-episode leaves the env's own state alone.
    assert np.array_equal(bandit.reward_table(seed=seed, horizon=horizon), table)
    actions = np.random.default_rng(3).integers(k, size=horizon)
    received = np.empty(horizon)
    for t, a in enumerate(actions):
        if t in (1, 203, 204, 300):
            bandit.reward_table(seed=seed + 7, horizon=horizon)
        _, received[t], _, truncated, _ = env.step(int(a))
        assert truncated == (t == horizon - 1)
    assert np.array_equal(received, table[np.arange(horizon), actions])


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_reward_table_every_column_via_vector_replicates(env_id: str) -> None:
    """k replicates all seeded with s, replicate a always pulling arm a, see table[:, a]."""
    k, horizon, seed = 10, 500, 77
    kw = make_kwargs(env_id, k=k, horizon=horizon)
    table = gym.make(env_id, **kw).unwrapped.reward_table(seed=seed, horizon=horizon)
    vec = make_vec(env_id, k, **kw)
    vec.reset(seed=[seed] * k)
    rewards, _, truncs = run_vector(vec, np.tile(np.arange(k), (horizon, 1)))
    assert np.array_equal(rewards, table)
    assert truncs[-1].all() and not truncs[:-1].any()


# --------------------------------------------------------------------------------------------
# 6. Pickle round-trip
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_pickle_single_env_mid_episode(env_id: str) -> None:
    env = gym.make(env_id, **make_kwargs(env_id, horizon=7))
    env.reset(seed=3)
    run_single(env, np.random.default_rng(0).integers(5, size=10))  # mid second episode
    clone = pickle.loads(pickle.dumps(env))
    actions = np.random.default_rng(1).integers(5, size=25)
    rewards, infos = run_single(env, actions)
    clone_rewards, clone_infos = run_single(clone, actions)
    assert np.array_equal(rewards, clone_rewards)
    assert len(infos) == len(clone_infos)
    for a, b in zip(infos, clone_infos, strict=True):
        assert_info_equal(a, b)


@pytest.mark.parametrize("env_id", BANDIT_IDS)
@pytest.mark.parametrize("pre_steps", [5, 7])  # 7: pickled with an autoreset pending
def test_pickle_vector_env(env_id: str, pre_steps: int) -> None:
    env = make_vec(env_id, 3, **make_kwargs(env_id, horizon=7))
    env.reset(seed=8)
    run_vector(env, np.random.default_rng(0).integers(5, size=(pre_steps, 3)))
    clone = pickle.loads(pickle.dumps(env))
    actions = np.random.default_rng(1).integers(5, size=(20, 3))
    rewards, infos, truncs = run_vector(env, actions)
    clone_rewards, clone_infos, clone_truncs = run_vector(clone, actions)
    assert np.array_equal(rewards, clone_rewards)
    assert np.array_equal(truncs, clone_truncs)
    for a, b in zip(infos, clone_infos, strict=True):
        assert_info_equal(a, b)


# --------------------------------------------------------------------------------------------
# 7. info: expected and optimal rewards, arm means
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_info_expected_reward_is_mean_of_arm_pulled(env_id: str) -> None:
    k = 6
    env = gym.make(env_id, **make_kwargs(env_id, k=k, horizon=30))
    actions = np.random.default_rng(4).integers(k, size=30)
    for seed in (0, 1, 2):
        _, reset_info = env.reset(seed=seed)
        means = reset_info["arm_means"]
        assert means.shape == (k,)
        assert reset_info["optimal_expected_reward"] == means.max()
        for a in actions:
            _, _, _, _, info = env.step(int(a))
            assert info["expected_reward"] == means[a]
            assert info["optimal_expected_reward"] == means.max()
            assert info["optimal_action"] == int(np.argmax(means))
        assert np.array_equal(env.unwrapped.arm_means, means)


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_vector_info_expected_reward_is_mean_of_arm_pulled(env_id: str) -> None:
    n, k = 5, 4
    env = make_vec(env_id, n, **make_kwargs(env_id, k=k, horizon=50))
    _, reset_info = env.reset(seed=21)
    means = reset_info["arm_means"]
    assert np.array_equal(reset_info["optimal_expected_reward"], means.max(axis=1))
    rows = np.arange(n)
    for a in np.random.default_rng(5).integers(k, size=(20, n)):
        _, _, _, _, info = env.step(a)
        assert np.array_equal(info["expected_reward"], means[rows, a])
        assert np.array_equal(info["optimal_expected_reward"], means.max(axis=1))
        assert np.array_equal(info["optimal_action"], means.argmax(axis=1))


@pytest.mark.parametrize("env_id", bandit_ids(*FIXED_MEAN_IDS))
def test_fixed_mean_families_report_the_configured_means(env_id: str) -> None:
    kw = make_kwargs(env_id, k=5)
    env = gym.make(env_id, **kw)
    for seed in (0, 1):
        _, info = env.reset(seed=seed)
        assert np.array_equal(info["arm_means"], np.asarray(kw["means"], dtype=np.float64))


@pytest.mark.parametrize("env_id", bandit_ids(KULESHOV))
def test_kuleshov_precup_means_redrawn_in_unit_interval_each_reset(env_id: str) -> None:
    k = 10
    env = gym.make(env_id, k=k, variance=0.1)
    _, info = env.reset(seed=0)
    drawn = [info["arm_means"]]
    for _ in range(15):
        drawn.append(env.reset()[1]["arm_means"])
    all_means = np.array(drawn)
    assert all_means.shape == (16, k)
    assert np.all((all_means >= 0.0) & (all_means <= 1.0))
    assert len({m.tobytes() for m in all_means}) == len(drawn)  # new means at every reset
    # And across vector replicates, and across autoresets.
    vec = make_vec(env_id, 4, k=k, variance=0.1, horizon=2)
    _, vinfo = vec.reset(seed=0)
    assert len({m.tobytes() for m in vinfo["arm_means"]}) == 4
    run_vector(vec, np.zeros((2, 4), dtype=np.int64))
    _, _, _, _, info = vec.step(np.zeros(4, dtype=np.int64))
    assert info["_arm_means"].all()
    assert not np.array_equal(info["arm_means"], vinfo["arm_means"])
    assert np.all((info["arm_means"] >= 0.0) & (info["arm_means"] <= 1.0))


@pytest.mark.parametrize("env_id", bandit_ids(CHAPELLE))
@pytest.mark.parametrize(("k", "epsilon"), [(10, 0.1), (3, 0.02), (2, 0.5)])
def test_chapelle_li_one_arm_at_half_best_position_varies(env_id: str, k: int,
                                                          epsilon: float) -> None:
    env = gym.make(env_id, k=k, epsilon=epsilon)
    best_positions = set()
    env.reset(seed=0)
    for _ in range(150):
        means = env.reset()[1]["arm_means"]
        assert means.shape == (k,)
        assert np.count_nonzero(means == 0.5) == 1
        assert np.count_nonzero(means == 0.5 - epsilon) == k - 1
        best_positions.add(int(np.argmax(means)))
    assert len(best_positions) == k  # 150 uniform draws miss one of 10 w.p. < 1e-5


# --------------------------------------------------------------------------------------------
# 8. Truncation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", BANDIT_IDS)
@pytest.mark.parametrize("horizon", [1, 5, 300])
def test_truncation_exactly_at_horizon_never_terminated(env_id: str, horizon: int) -> None:
    env = gym.make(env_id, **make_kwargs(env_id, horizon=horizon))
    for seed in (0, None):
        env.reset(seed=seed)
        for t in range(horizon):
            _, _, terminated, truncated, _ = env.step(t % 5)
            assert terminated is False
            assert truncated is (t == horizon - 1)

    vec = make_vec(env_id, 2, **make_kwargs(env_id, horizon=horizon))
    vec.reset(seed=0)
    for _ in range(2):  # two episodes, the autoreset step in between
        for t in range(horizon):
            _, _, terminated, truncated, _ = vec.step(np.array([0, 1]))
            assert not terminated.any()
            assert np.array_equal(truncated, np.full(2, t == horizon - 1))
        _, rewards, terminated, truncated, info = vec.step(np.array([0, 1]))
        assert not terminated.any() and not truncated.any()
        assert np.array_equal(rewards, np.zeros(2)) and not info["_expected_reward"].any()


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_default_horizon_truncates(env_id: str) -> None:
    env = gym.make(env_id).unwrapped
    horizon = env.horizon
    assert horizon == (10_000 if env_id == CHAPELLE else 1000)
    env.reset(seed=0)
    truncs = [env.step(0)[3] for _ in range(horizon)]
    assert truncs[-1] is True and not any(truncs[:-1])


# --------------------------------------------------------------------------------------------
# 9. Statistical sanity
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_reward_table_column_means_match_arm_means(env_id: str) -> None:
    k, n_samples, seed = 5, 20_000, 31
    env = gym.make(env_id, **make_kwargs(env_id, k=k))
    _, info = env.reset(seed=seed)
    means = info["arm_means"]
    table = env.unwrapped.reward_table(seed=seed, horizon=n_samples)
    col_mean = table.mean(axis=0)
    col_sd = table.std(axis=0)
    tolerance = 5.0 * col_sd / np.sqrt(n_samples) + 1e-12
    assert np.all(np.abs(col_mean - means) <= tolerance), (col_mean, means)

    if env_id in (BERNOULLI, CHAPELLE):
        assert set(np.unique(table)) <= {0.0, 1.0}
        expected_sd = np.sqrt(means * (1 - means))
        assert np.allclose(col_sd, expected_sd, rtol=0.05)
    elif env_id == GAUSSIAN:
        sigma = np.array(gaussian_sigma(k))
        assert np.all(table[:, 0] == means[0])  # sigma 0: the mean, exactly
        assert np.allclose(col_sd[1:], sigma[1:], rtol=0.05)
    elif env_id == BETA:
        assert table.min() >= 0.0 and table.max() <= 1.0
        assert len(np.unique(table)) > n_samples  # not binary
        expected_var = means * (1 - means) / (BETA_CONCENTRATION + 1)
        assert np.allclose(col_sd**2, expected_var, rtol=0.08)
    elif env_id == KULESHOV:
        assert np.allclose(col_sd, np.sqrt(KULESHOV_VARIANCE), rtol=0.05)
    else:  # pragma: no cover - a new bandit must get its distribution checked here
        pytest.fail(f"no distribution check for {env_id}")


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_vector_env_empirical_means_match_arm_means(env_id: str) -> None:
    n, k, steps = 1000, 5, 20
    env = make_vec(env_id, n, **make_kwargs(env_id, k=k, horizon=steps))
    _, info = env.reset(seed=4)
    arms = np.arange(n) % k
    rewards, step_infos, _ = run_vector(env, np.tile(arms, (steps, 1)))
    residual = rewards - info["arm_means"][np.arange(n), arms]
    for a in range(k):
        res = residual[:, arms == a].ravel()
        assert abs(res.mean()) <= 5.0 * res.std() / np.sqrt(res.size) + 1e-12, (a, res.mean())
    if env_id == BETA:
        assert rewards.min() >= 0.0 and rewards.max() <= 1.0
    if env_id == GAUSSIAN:
        assert np.allclose(residual[:, arms == 0], 0.0, atol=0)
        for a, s in enumerate(gaussian_sigma(k)[1:], start=1):
            assert residual[:, arms == a].std() == pytest.approx(s, rel=0.05)
    assert all(i["_expected_reward"].all() for i in step_infos)


@pytest.mark.parametrize("env_id", bandit_ids(GAUSSIAN))
def test_gaussian_scalar_sigma_applies_to_every_arm(env_id: str) -> None:
    env = gym.make(env_id, means=[0.0, 5.0, -3.0], sigma=0.5)
    table = env.unwrapped.reward_table(seed=0, horizon=20_000)
    assert np.allclose(table.std(axis=0), 0.5, rtol=0.05)
    assert np.allclose(table.mean(axis=0), [0.0, 5.0, -3.0], atol=0.02)


# --------------------------------------------------------------------------------------------
# 10. Rendering
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_render_ansi_and_rgb_array(env_id: str) -> None:
    ansi = gym.make(env_id, render_mode="ansi", **make_kwargs(env_id, horizon=5))
    rgb = gym.make(env_id, render_mode="rgb_array", **make_kwargs(env_id, horizon=5))
    for env in (ansi, rgb):
        env.reset(seed=0)
    frames = [(ansi.render(), rgb.render())]
    for env in (ansi, rgb):
        env.step(3)
    frames.append((ansi.render(), rgb.render()))
    for text, img in frames:
        assert isinstance(text, str) and text.strip()
        assert isinstance(img, np.ndarray)
        assert img.ndim == 3 and img.shape[2] == 3 and img.shape[0] > 0 and img.shape[1] > 0
        assert img.dtype == np.uint8
    assert frames[0][0] != frames[1][0]  # the text shows the step


@pytest.mark.parametrize("env_id", BANDIT_IDS)
@pytest.mark.parametrize("mode", ["ansi", "rgb_array"])
def test_vector_render(env_id: str, mode: str) -> None:
    env = make_vec(env_id, 2, render_mode=mode, **make_kwargs(env_id, horizon=5))
    env.reset(seed=0)
    env.step(np.array([1, 2]))
    frames = env.render()
    assert len(frames) == 2
    for frame in frames:
        if mode == "ansi":
            assert isinstance(frame, str) and frame.strip()
        else:
            assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8


# --------------------------------------------------------------------------------------------
# 11. Bad input
# --------------------------------------------------------------------------------------------

K_BAD = 5
BAD_SINGLE_ACTIONS = [
    pytest.param(K_BAD, rf"\b{K_BAD}\b", id="K"),
    pytest.param(-1, r"-1\b", id="minus-one"),
    pytest.param(1.5, r"1\.5", id="float"),
    pytest.param("a", r"'a'", id="str"),
    pytest.param(float("nan"), r"(?i)nan", id="nan"),
    pytest.param(np.array([0, 1]), r"\(2,\)", id="shape"),
]


@pytest.mark.parametrize("env_id", BANDIT_IDS)
@pytest.mark.parametrize(("action", "value_pattern"), BAD_SINGLE_ACTIONS)
def test_bad_single_action_raises_value_error(env_id: str, action: Any,
                                              value_pattern: str) -> None:
    env = gym.make(env_id, **make_kwargs(env_id, k=K_BAD, horizon=50))
    env.reset(seed=0)
    # Through gym.make's wrappers: some error is raised (ValueError or a gymnasium error).
    with pytest.raises((ValueError, gym.error.Error)):
        env.step(action)
    # On the env itself: a ValueError naming the environment and the value.
    with pytest.raises(ValueError, match=re.escape(env_name(env_id))) as excinfo:
        env.unwrapped.step(action)
    assert re.search(value_pattern, str(excinfo.value)), str(excinfo.value)
    # A rejected action consumes nothing: the env still pays its reward table.
    table = env.unwrapped.reward_table(seed=0, horizon=50)
    _, r, _, _, _ = env.step(2)
    assert r == table[0, 2]


BAD_VECTOR_ACTIONS = [
    pytest.param(np.zeros(4, dtype=np.int64), r"\(4,\)", id="n+1-actions"),
    pytest.param(np.array([0.0, 1.0, 2.0]), r"float", id="float-dtype"),
    pytest.param(np.array([0.0, np.nan, 1.0]), r"(?i)nan", id="nan"),
    pytest.param(np.array([0, K_BAD, 1]), rf"= {K_BAD}\b", id="K"),
    pytest.param(np.array([0, -1, 1]), r"= -1\b", id="minus-one"),
    pytest.param(0, r"\(\)", id="scalar"),
]


@pytest.mark.parametrize("env_id", BANDIT_IDS)
@pytest.mark.parametrize(("actions", "value_pattern"), BAD_VECTOR_ACTIONS)
def test_bad_vector_actions_raise_value_error(env_id: str, actions: Any,
                                              value_pattern: str) -> None:
    env = make_vec(env_id, 3, **make_kwargs(env_id, k=K_BAD, horizon=50))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=re.escape(env_name(env_id))) as excinfo:
        env.step(actions)
    assert re.search(value_pattern, str(excinfo.value)), str(excinfo.value)
    # Nothing was consumed: the next valid step pays what a fresh twin pays.
    twin = make_vec(env_id, 3, **make_kwargs(env_id, k=K_BAD, horizon=50))
    twin.reset(seed=0)
    good = np.array([1, 2, 3])
    assert np.array_equal(env.step(good)[1], twin.step(good)[1])


def _bad_construction_cases() -> list[Any]:
    cases: list[Any] = []
    for env_id in BANDIT_IDS:
        name = env_name(env_id)
        for horizon in (0, -5):
            cases.append(pytest.param(env_id, {"horizon": horizon},
                                      rf"horizon.*got {horizon}\b",
                                      id=f"{name}-horizon{horizon}"))
        if env_id in (KULESHOV, CHAPELLE):
            cases.append(pytest.param(env_id, {"k": 1}, r"\bk\b.*got 1\b", id=f"{name}-k1"))
        else:
            cases.append(pytest.param(env_id, {"means": [0.5]}, r"2 arms.*\(1,\)",
                                      id=f"{name}-one-arm"))
    cases += [
        pytest.param(BERNOULLI, {"means": [0.5, 1.5]}, r"means\[1\].*1\.5", id="bern-1.5"),
        pytest.param(BERNOULLI, {"means": [-0.1, 0.5]}, r"means\[0\].*-0\.1", id="bern-neg"),
        pytest.param(GAUSSIAN, {"sigma": -1.0}, r"sigma.*-1\.0", id="gauss-sigma-neg"),
        pytest.param(GAUSSIAN, {"sigma": [1.0, 1.0, -0.5, 1.0, 1.0]}, r"sigma.*-0\.5",
                     id="gauss-sigma-arm-neg"),
        pytest.param(GAUSSIAN, {"sigma": [1.0, 2.0]}, r"sigma.*\(2,\)", id="gauss-sigma-len2"),
        pytest.param(GAUSSIAN, {"means": [0.0, 1.0, 2.0], "sigma": [1.0, 1.0, 1.0, 1.0]},
                     r"sigma.*\(4,\)", id="gauss-sigma-len4"),
        pytest.param(BETA, {"means": [0.0, 0.5]}, r"means\[0\].*\b0\.0\b", id="beta-mean0"),
        pytest.param(BETA, {"means": [0.5, 1.0]}, r"means\[1\].*\b1\.0\b", id="beta-mean1"),
        pytest.param(BETA, {"concentration": 0.0}, r"concentration.*got 0\.0",
                     id="beta-concentration0"),
        pytest.param(KULESHOV, {"variance": 0.0}, r"variance.*got 0\.0\b", id="kp-var0"),
        pytest.param(KULESHOV, {"variance": -0.1}, r"variance.*got -0\.1", id="kp-var-neg"),
        pytest.param(CHAPELLE, {"epsilon": 0.0}, r"epsilon.*got 0\.0\b", id="cl-eps0"),
        pytest.param(CHAPELLE, {"epsilon": 0.6}, r"epsilon.*got 0\.6", id="cl-eps0.6"),
        pytest.param(CHAPELLE, {"epsilon": -0.1}, r"epsilon.*got -0\.1", id="cl-eps-neg"),
    ]
    return [c for c in cases if c.values[0] in BANDIT_IDS]


@pytest.mark.parametrize(("env_id", "kwargs", "value_pattern"), _bad_construction_cases())
def test_bad_construction_args_raise_value_error(env_id: str, kwargs: dict[str, Any],
                                                 value_pattern: str) -> None:
    pattern = re.escape(env_name(env_id)) + r".*" + value_pattern
    with pytest.raises(ValueError, match=pattern):
        gym.make(env_id, **kwargs)
    with pytest.raises(ValueError, match=pattern):
        make_vec(env_id, 2, **kwargs)


def test_chapelle_li_epsilon_half_is_allowed() -> None:
    env = gym.make(CHAPELLE, k=3, epsilon=0.5)
    means = env.reset(seed=0)[1]["arm_means"]
    assert sorted(means.tolist()) == [0.0, 0.0, 0.5]


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_vector_bad_num_envs_and_seed_count(env_id: str) -> None:
    with pytest.raises(ValueError, match=re.escape(env_name(env_id)) + r".*num_envs.*got 0"):
        make_vec(env_id, 0)
    env = make_vec(env_id, 3)
    with pytest.raises(ValueError, match=re.escape(env_name(env_id)) + r".*2 seeds"):
        env.reset(seed=[1, 2])


# --------------------------------------------------------------------------------------------
# 12. step before reset
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_step_before_reset_raises(env_id: str) -> None:
    with pytest.raises(gym.error.ResetNeeded):
        gym.make(env_id).step(0)
    with pytest.raises(gym.error.ResetNeeded, match=re.escape(env_name(env_id))):
        gym.make(env_id).unwrapped.step(0)
    with pytest.raises(gym.error.ResetNeeded, match=re.escape(env_name(env_id))):
        make_vec(env_id, 2).step(np.zeros(2, dtype=np.int64))


def test_reward_table_rejects_a_bad_horizon() -> None:
    env = gym.make("decisiongym/BernoulliBandit-v0").unwrapped
    for bad in (0, -3):
        with pytest.raises(ValueError, match=rf"BernoulliBandit-v0: horizon .* got {bad}"):
            env.reward_table(seed=0, horizon=bad)  # type: ignore[attr-defined]


def test_reset_info_carries_the_lai_robbins_constant() -> None:
    from decisiongym import theory

    _, info = gym.make("decisiongym/ChapelleLi-v0", k=10, epsilon=0.1).reset(seed=0)
    assert info["lai_robbins_constant"] == pytest.approx(
        theory.lai_robbins_constant([0.5] + [0.4] * 9))
    _, info = gym.make("decisiongym/GaussianBandit-v0", means=[1.0, 0.5, 0.0],
                       sigma=[1.0, 2.0, 0.5]).reset(seed=0)
    # sum 2 sigma_i^2 / Delta_i over the suboptimal arms
    assert info["lai_robbins_constant"] == pytest.approx(2 * 4.0 / 0.5 + 2 * 0.25 / 1.0)
    _, info = gym.make("decisiongym/BetaBandit-v0").reset(seed=0)
    assert np.isnan(info["lai_robbins_constant"])
