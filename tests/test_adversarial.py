"""Adversarial bandits (Dobriban, *Notes for Stat 991: Topics in Deep Learning*, 2019, section
5.2.3): environments, Exp3 / FTRL / mirror descent, the regret against the best fixed arm, the Exp3
bound, full-information feedback and Hedge with its bound, and the reproduction at its quick
size."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.vector import AutoresetMode

import decisiongym
from decisiongym import theory
from decisiongym.agents.adversarial import (
    estimate_rewards,
    inverse_square_weights,
    sample_from_simplex,
    softmax_rows,
)
from decisiongym.envs.adversarial import ADVERSARIES, REACTIVE_STRATEGIES, anti_index_table
from decisiongym.harness.recorders import RegretRecorder
from decisiongym.harness.rollout import AgentMismatch, run
from tests.conftest import make_agent

OBLIVIOUS = "decisiongym/AdversarialBandit-v0"
REACTIVE = "decisiongym/ReactiveAdversaryBandit-v0"

#: (env id, kwargs) of every built-in adversary.
BUILT_IN: list[tuple[str, dict[str, Any]]] = [
    *[(OBLIVIOUS, {"adversary": name}) for name in ADVERSARIES],
    *[(REACTIVE, {"strategy": name}) for name in REACTIVE_STRATEGIES],
]
BUILT_IN_IDS = [f"{e.split('/')[1]}:{next(iter(kw.values()))}" for e, kw in BUILT_IN]


def make_vec(env_id: str, n: int, **kwargs: Any) -> gym.vector.VectorEnv:
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)


def random_table(seed: int, horizon: int, k: int, kind: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.random((horizon, k))
    if kind == "bernoulli":  # secret per-arm biases, as the friend, but one table for all runs
        return (rng.random((horizon, k)) < rng.random(k)).astype(np.float64)
    # blocks: the best arm changes every horizon / 8 rounds
    table = np.full((horizon, k), 0.4)
    for start in range(0, horizon, horizon // 8):
        table[start:start + horizon // 8, rng.integers(k)] = 0.9
    return table


# --------------------------------------------------------------------------------------------
# Environments
# --------------------------------------------------------------------------------------------


def test_both_environments_are_registered_with_a_vector_entry_point() -> None:
    for env_id in (OBLIVIOUS, REACTIVE):
        spec = gym.spec(env_id)
        assert spec.vector_entry_point is not None
        assert env_id in dict(decisiongym.list_environments())


@pytest.mark.parametrize(("env_id", "kwargs"), BUILT_IN, ids=BUILT_IN_IDS)
@pytest.mark.parametrize("k", [2, 5])
def test_gymnasium_check_env_passes_without_warnings(env_id: str, kwargs: dict[str, Any],
                                                      k: int) -> None:
    env = gym.make(env_id, k=k, horizon=40, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []
    env.close()


def test_gymnasium_check_env_on_a_user_table_and_sb3_checker() -> None:
    table = random_table(0, 30, 3, "uniform")
    env = gym.make(OBLIVIOUS, rewards=table)
    gym_check_env(env.unwrapped)
    sb3_env_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    sb3_env_checker.check_env(gym.make(OBLIVIOUS, adversary="drift", k=3, horizon=20), warn=True)


@pytest.mark.parametrize(("env_id", "kwargs"), BUILT_IN, ids=BUILT_IN_IDS)
def test_info_carries_the_reward_vector_and_the_reward_is_its_entry(
        env_id: str, kwargs: dict[str, Any]) -> None:
    k = 3
    env = gym.make(env_id, k=k, horizon=50, **kwargs)
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = int(rng.integers(k))
        _, r, terminated, truncated, info = env.step(a)
        vector = info["rewards"]
        assert vector.shape == (k,) and vector.dtype == np.float64
        assert np.all((vector >= 0) & (vector <= 1))
        assert r == vector[a]
        assert terminated is False
    assert truncated is True


def test_a_user_table_is_paid_exactly_and_fixes_the_horizon() -> None:
    table = random_table(1, 12, 4, "uniform")
    env = gym.make(OBLIVIOUS, rewards=table)
    env.reset(seed=0)
    for t in range(12):
        _, r, _, truncated, info = env.step(t % 4)
        assert r == table[t, t % 4]
        np.testing.assert_array_equal(info["rewards"], table[t])
        assert truncated == (t == 11)
    shorter = gym.make(OBLIVIOUS, rewards=table, horizon=5).unwrapped
    assert shorter.horizon == 5  # type: ignore[attr-defined]


@pytest.mark.parametrize(("env_id", "kwargs"), BUILT_IN, ids=BUILT_IN_IDS)
def test_same_seed_same_rewards_bit_for_bit(env_id: str, kwargs: dict[str, Any]) -> None:
    def play(seed: int) -> np.ndarray:
        env = make_vec(env_id, 4, k=3, horizon=300, **kwargs)
        env.reset(seed=seed)
        rng = np.random.default_rng(5)
        out = [env.step(rng.integers(3, size=4))[4]["rewards"] for _ in range(300)]
        return np.array(out)

    first, again, other = play(7), play(7), play(8)
    assert np.array_equal(first, again)
    if kwargs.get("adversary") in ("friend", "switch", "drift"):
        assert not np.array_equal(first, other)  # the secrets depend on the seed


@pytest.mark.parametrize(("env_id", "kwargs"), BUILT_IN, ids=BUILT_IN_IDS)
def test_vector_replicate_matches_single_env_with_seed_plus_i(env_id: str,
                                                              kwargs: dict[str, Any]) -> None:
    n, k, horizon = 3, 4, 300  # past one 256-row block of the friend's table
    rng = np.random.default_rng(11)
    actions = rng.integers(k, size=(horizon, n))
    vec = make_vec(env_id, n, k=k, horizon=horizon, **kwargs)
    vec.reset(seed=20)
    vec_rewards, vec_vectors = [], []
    for a in actions:
        _, r, _, _, info = vec.step(a)
        vec_rewards.append(r)
        vec_vectors.append(info["rewards"])
    for i in range(n):
        env = gym.make(env_id, k=k, horizon=horizon, **kwargs)
        env.reset(seed=20 + i)
        for t in range(horizon):
            _, r, _, truncated, info = env.step(int(actions[t, i]))
            assert r == vec_rewards[t][i]
            assert np.array_equal(info["rewards"], vec_vectors[t][i])
        assert truncated


def test_vector_env_autoresets_next_step_and_masks_the_reset_step() -> None:
    env = make_vec(OBLIVIOUS, 2, adversary="drift", k=3, horizon=3)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert env.single_action_space == spaces.Discrete(3)
    env.reset(seed=0)
    truncs = []
    for _ in range(3):
        _, _, terminated, truncated, info = env.step(np.array([0, 1]))
        truncs.append(truncated.copy())
        assert not terminated.any() and info["_rewards"].all()
    assert [t.tolist() for t in truncs] == [[False, False], [False, False], [True, True]]
    _, r, _, truncated, info = env.step(np.array([2, 2]))  # the reset step
    assert r.tolist() == [0.0, 0.0] and not info["_rewards"].any() and not truncated.any()
    _, r, _, _, info = env.step(np.array([2, 2]))  # a new episode: round 1 again
    assert info["_rewards"].all()


def test_anti_index_table_is_the_one_ucb1_loses_every_round_on() -> None:
    k, horizon = 3, 400
    table = anti_index_table(k, horizon)
    assert table.shape == (horizon, k) and not table.flags.writeable
    assert np.all(table[k:].sum(axis=1) == k - 1)  # one zero per round after the first K
    result = run(OBLIVIOUS, "ucb1", replicates=8, horizon=horizon, seed=0,
                 env_kwargs={"adversary": "anti-index", "k": k},
                 recorders=[RegretRecorder(keep_steps=True)])
    assert np.all(result["rewards"][k:] == 0.0)  # UCB1 earns nothing after its first K pulls


def test_reactive_anti_ucb_leaves_ucb1_nothing_and_anti_frequent_pays_by_share() -> None:
    result = run(REACTIVE, "ucb1", replicates=6, horizon=300, seed=1,
                 env_kwargs={"strategy": "anti-ucb", "k": 3},
                 recorders=[RegretRecorder(keep_steps=True)])
    assert np.all(result["rewards"] == 0.0)
    env = gym.make(REACTIVE, strategy="anti-frequent", k=2, horizon=10)
    env.reset(seed=0)
    _, r, _, _, info = env.step(0)
    assert r == 1.0 and info["rewards"].tolist() == [1.0, 1.0]
    _, r, _, _, info = env.step(0)  # arm 0 took all of the one past pull
    assert info["rewards"].tolist() == [0.0, 1.0]
    _, r, _, _, info = env.step(1)
    assert info["rewards"].tolist() == [0.0, 1.0]
    _, r, _, _, info = env.step(1)  # arm 0: 2 of 3 past pulls
    np.testing.assert_allclose(info["rewards"], [1 / 3, 2 / 3])


def test_docstring_example_runs() -> None:
    import doctest

    import decisiongym.envs.adversarial as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_render_ansi() -> None:
    env = gym.make(OBLIVIOUS, adversary="switch", k=3, horizon=5, render_mode="ansi")
    env.reset(seed=0)
    env.step(1)
    text = env.render()
    assert isinstance(text, str) and "AdversarialBandit-v0" in text and "t=1/5" in text
    vec = make_vec(REACTIVE, 2, horizon=5, render_mode="ansi")
    vec.reset(seed=0)
    assert len(vec.render()) == 2


@pytest.mark.parametrize(
    ("action", "match"),
    [(2, r"AdversarialBandit-v0: action 2 is out of range"),
     (-1, r"AdversarialBandit-v0: action -1 is out of range"),
     (0.5, r"AdversarialBandit-v0: action must be an integer.*0\.5"),
     (float("nan"), r"AdversarialBandit-v0: action is NaN"),
     (np.array([0, 1]), r"AdversarialBandit-v0: action must be a scalar")],
)
def test_bad_single_action_raises_value_error(action: Any, match: str) -> None:
    env = gym.make(OBLIVIOUS, horizon=5).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)


@pytest.mark.parametrize(
    ("actions", "match"),
    [(np.array([0, 2]), r"ReactiveAdversaryBandit-v0: actions\[1\] = 2 is out of range"),
     (np.array([0]), r"ReactiveAdversaryBandit-v0: actions must have shape \(2,\)"),
     (np.array([0.0, 1.0]), r"ReactiveAdversaryBandit-v0: actions must be integers"),
     (np.array([0.0, np.nan]), r"ReactiveAdversaryBandit-v0: actions contain NaN")],
)
def test_bad_vector_actions_raise_value_error(actions: Any, match: str) -> None:
    env = make_vec(REACTIVE, 2, horizon=5)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(actions)


@pytest.mark.parametrize(
    ("env_id", "kwargs", "match"),
    [(OBLIVIOUS, {"adversary": "nasty"}, r"AdversarialBandit-v0: unknown adversary 'nasty'"),
     (OBLIVIOUS, {"k": 1}, r"AdversarialBandit-v0: k \(number of arms\) must be an integer >= 2"),
     (OBLIVIOUS, {"horizon": 0}, r"AdversarialBandit-v0: horizon must be a positive integer"),
     (OBLIVIOUS, {"adversary": "anti-index", "alpha": 0.0}, r"alpha must be a number > 0"),
     (OBLIVIOUS, {"rewards": [[0.0, 1.5]]}, r"rewards\[0, 1\] = 1\.5 is outside \[0, 1\]"),
     (OBLIVIOUS, {"rewards": [[0.0, np.nan]]}, r"rewards\[0, 1\] = nan is outside"),
     (OBLIVIOUS, {"rewards": [0.0, 1.0]}, r"rewards must have shape \(T, K\)"),
     (OBLIVIOUS, {"rewards": [[0.0, 1.0]], "horizon": 2}, r"horizon 2 is longer than the reward"),
     (OBLIVIOUS, {"rewards": [[0.0, 1.0]], "adversary": "drift"}, r"either adversary or rewards"),
     (OBLIVIOUS, {"rewards": [[0.0, 1.0]], "k": 3}, r"k = 3 does not match"),
     (REACTIVE, {"strategy": "mean"}, r"ReactiveAdversaryBandit-v0: unknown strategy 'mean'"),
     (REACTIVE, {"render_mode": "human"}, r"render_mode must be one of")],
)
@pytest.mark.filterwarnings("ignore:.*render_mode")
def test_bad_construction_args_raise_value_error(env_id: str, kwargs: dict[str, Any],
                                                 match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gym.make(env_id, **kwargs)


def test_step_before_reset_and_bad_vector_arguments() -> None:
    env = gym.make(OBLIVIOUS).unwrapped
    with pytest.raises(gym.error.ResetNeeded, match="AdversarialBandit-v0: call reset"):
        env.step(0)
    with pytest.raises(ValueError, match="num_envs must be a positive integer"):
        make_vec(OBLIVIOUS, 0)
    vec = make_vec(OBLIVIOUS, 2)
    with pytest.raises(ValueError, match="got 3 seeds for 2 replicates"):
        vec.reset(seed=[1, 2, 3])


# --------------------------------------------------------------------------------------------
# Estimators and agents
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["loss", "importance"])
def test_estimators_are_unbiased(estimator: str) -> None:
    rng = np.random.default_rng(2)
    reward_vector = np.array([0.9, 0.2, 0.55, 0.0])
    probs = np.array([0.1, 0.4, 0.3, 0.2])
    draws = 400_000
    actions = sample_from_simplex(np.tile(probs, (draws, 1)), rng)
    estimates = estimate_rewards(actions, reward_vector[actions], np.tile(probs, (draws, 1)),
                                 estimator)  # type: ignore[arg-type]
    mean = estimates.mean(axis=0)
    se = estimates.std(axis=0, ddof=1) / math.sqrt(draws)
    assert np.all(np.abs(mean - reward_vector) <= 4.5 * se + 1e-12), (mean, se)
    if estimator == "loss":
        assert estimates.max() <= 1.0  # values in (-inf, 1]
        assert estimates.min() < 0.0
    else:
        assert estimates.min() >= 0.0


def test_sampling_follows_the_distribution() -> None:
    rng = np.random.default_rng(0)
    probs = np.tile([0.5, 0.0, 0.25, 0.25], (200_000, 1))
    counts = np.bincount(sample_from_simplex(probs, rng), minlength=4) / 200_000
    assert counts[1] == 0.0
    np.testing.assert_allclose(counts, probs[0], atol=0.005)


def test_inverse_square_weights_solve_the_tsallis_normalisation() -> None:
    rng = np.random.default_rng(4)
    c = rng.normal(size=(50, 6)) * np.array([[0.01], [1.0], [30.0], *[[1.0]] * 47])
    p = inverse_square_weights(c)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # Stationarity: 1 / sqrt(p_k) - c_k is the same normaliser s for every arm.
    s = 1.0 / np.sqrt(p) - c
    np.testing.assert_allclose(s, s[:, :1] * np.ones_like(s), rtol=1e-8)
    assert np.all(s + c > 0)


@pytest.mark.parametrize(("estimator", "horizon"), [("loss", 600), ("importance", 600),
                                                     ("loss", None)])
def test_ftrl_with_negative_entropy_chooses_exactly_exp3s_actions(estimator: str,
                                                                    horizon: int | None) -> None:
    params: dict[str, Any] = {"estimator": estimator}
    if horizon is not None:
        params["horizon"] = horizon
    runs = [run(OBLIVIOUS, name, replicates=20, horizon=600, seed=9,
                env_kwargs={"adversary": "drift", "k": 4}, agent_params={**params, **extra},
                recorders=[RegretRecorder(keep_steps=True)])
            for name, extra in (("exp3", {}), ("ftrl", {"regulariser": "negentropy"}))]
    assert np.array_equal(runs[0]["actions"], runs[1]["actions"])
    assert np.array_equal(runs[0]["regret_per_step"], runs[1]["regret_per_step"])
    assert len(np.unique(runs[0]["actions"])) == 4  # it explored: the equality is not vacuous


def test_mirror_descent_with_negative_entropy_is_exponential_weights() -> None:
    """Exp3 is OMD with the negentropy (Dobriban (2019), section 5.2.3, item 11): same distributions
    up to rounding."""
    k, n, horizon = 3, 10, 300
    env = make_vec(OBLIVIOUS, n, adversary="friend", k=k, horizon=horizon)
    exp3 = make_agent("exp3", k, horizon=horizon)
    omd = make_agent("online-mirror-descent", k, horizon=horizon)
    obs, _ = env.reset(seed=0)
    exp3.reset(n, seed=1)
    omd.reset(n, seed=1)
    for _ in range(horizon):
        a = exp3.act(obs)
        omd.act(obs)
        np.testing.assert_allclose(omd.probs, exp3.probs, rtol=1e-9)  # type: ignore[attr-defined]
        next_obs, r, term, trunc, _ = env.step(a)
        exp3.update(obs, a, r, next_obs, term, trunc)
        omd.update(obs, a, r, next_obs, term, trunc)
        obs = next_obs


def test_tsallis_agents_play_distributions_and_learn() -> None:
    for name, params in (("ftrl", {"regulariser": "tsallis"}),
                         ("online-mirror-descent", {"mirror_map": "tsallis"})):
        result = run(OBLIVIOUS, name, replicates=40, horizon=2000, seed=3,
                     env_kwargs={"rewards": np.tile([0.2, 0.8, 0.5], (2000, 1))},
                     agent_params=params, recorders=[RegretRecorder(keep_steps=True)])
        assert np.mean(result["actions"][-500:] == 1) > 0.9, name  # the constant best arm
        assert result["final_regret"].mean() < theory.tsallis_inf_regret_bound(3, 2000)


def test_agents_forget_at_the_end_of_an_episode() -> None:
    env = make_vec(OBLIVIOUS, 2, adversary="drift", k=3, horizon=4)
    for name in ("exp3", "ftrl", "online-mirror-descent"):
        agent = make_agent(name, 3)
        obs, _ = env.reset(seed=0)
        agent.reset(2, seed=0)
        for step in range(6):  # 4 rounds, the reset step, 1 round of the next episode
            a = agent.act(obs)
            next_obs, r, term, trunc, _ = env.step(a)
            agent.update(obs, a, r, next_obs, term, trunc)
            obs = next_obs
            if step == 3:
                assert np.all(agent.t == 0)  # type: ignore[attr-defined]
        assert np.all(agent.t == 1)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [("exp3", {"learning_rate": 0.0}, r"exp3: learning_rate .* got 0\.0"),
     ("exp3", {"horizon": 0}, r"exp3: horizon must be an integer >= 1, got 0"),
     ("exp3", {"estimator": "doubly-robust"}, r"exp3: estimator .* 'doubly-robust'"),
     ("ftrl", {"regulariser": "l2"}, r"ftrl: regulariser must be 'negentropy' or 'tsallis'"),
     ("online-mirror-descent", {"mirror_map": "euclid"}, r"online-mirror-descent: mirror_map"),
     ("exp3", {"temperature": 0.1}, r"exp3: unknown parameter")],
)
def test_bad_agent_parameters_raise(name: str, params: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_agent(name, 3, **params)


def test_rewards_outside_the_unit_interval_are_rejected() -> None:
    agent = make_agent("exp3", 2)
    agent.reset(1, seed=0)
    a = agent.act(np.zeros(1, dtype=np.int64))
    with pytest.raises(ValueError, match=r"exp3: rewards must lie in \[0, 1\] \(got 2\.0\)"):
        agent.update(np.zeros(1), a, np.array([2.0]), np.zeros(1), np.zeros(1, bool),
                     np.zeros(1, bool))


def test_softmax_rows_is_stable() -> None:
    p = softmax_rows(np.array([[1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(p, [[0.5, 0.5, 0.0]])


# --------------------------------------------------------------------------------------------
# Regret against the best fixed arm, and the Exp3 bound
# --------------------------------------------------------------------------------------------


def test_run_records_the_regret_against_the_best_fixed_arm() -> None:
    table = random_table(3, 50, 3, "uniform")
    result = run(OBLIVIOUS, "exp3", replicates=5, horizon=50, seed=2,
                 env_kwargs={"rewards": table}, agent_params={"horizon": 50},
                 recorders=[RegretRecorder(grid=np.arange(1, 51), keep_steps=True)])
    assert result.record["regret_kind"] == "best-fixed-arm"
    actions, regret_per_step = result["actions"], result["regret_per_step"]
    for i in range(5):
        got = np.cumsum(table[np.arange(50), actions[:, i]])
        best = np.cumsum(table, axis=0).max(axis=1)
        np.testing.assert_allclose(regret_per_step[:, i], best - got, atol=1e-12)
        np.testing.assert_allclose(result["rewards"][:, i], table[np.arange(50), actions[:, i]])
    # on a grid of every step the recorded curve is the per-step regret (stored as float32)
    np.testing.assert_array_equal(result["regret"], regret_per_step.astype(np.float32))
    np.testing.assert_array_equal(result["final_regret"], regret_per_step[-1])
    # On a stochastic bandit the per-step regret is the pseudo-regret sum_s (mu* - mu_{A_s}).
    stochastic = run("decisiongym/BernoulliBandit-v0", "ucb1", replicates=2, horizon=20,
                     env_kwargs={"means": [0.3, 0.6]},
                     recorders=[RegretRecorder(keep_steps=True)])
    assert stochastic.record["regret_kind"] == "pseudo"
    gaps = np.array([0.3, 0.0])[stochastic["actions"]]
    np.testing.assert_allclose(stochastic["regret_per_step"], np.cumsum(gaps, axis=0),
                               atol=1e-12)
    plain = run("decisiongym/BernoulliBandit-v0", "ucb1", replicates=2, horizon=20)
    assert "regret_per_step" not in plain.arrays  # per-step arrays only when asked for


def test_theory_bounds_and_rates() -> None:
    assert theory.exp3_regret_bound(2, 1000) == pytest.approx(math.sqrt(2 * 1000 * 2 * math.log(2)))
    eta = theory.exp3_learning_rate(5, 1000)
    assert eta == pytest.approx(math.sqrt(2 * math.log(5) / 5000))
    # The rate minimises log K / eta + eta T K / 2, whose minimum is the bound.
    assert math.log(5) / eta + eta * 1000 * 5 / 2 == pytest.approx(
        float(theory.exp3_regret_bound(5, 1000)))
    assert theory.exp3_anytime_learning_rate(2, [1, 4]).tolist() == pytest.approx(
        [math.sqrt(math.log(2) / 2), math.sqrt(math.log(2) / 8)])
    assert theory.uniform_play_regret([[1.0, 0.0], [1.0, 0.0]]) == 1.0
    with pytest.raises(ValueError, match="n_arms must be an integer >= 2"):
        theory.exp3_regret_bound(1, 10)
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        theory.exp3_learning_rate(2, 0)


BOUND_CASES = [(env_id, {**kw, "k": k}) for env_id, kw in BUILT_IN for k in (2, 5)]


@pytest.mark.parametrize(("env_id", "kwargs"), BOUND_CASES,
                         ids=[f"{i}-k{k}" for i in BUILT_IN_IDS for k in (2, 5)])
def test_exp3_stays_under_its_bound_on_every_built_in_adversary(env_id: str,
                                                                 kwargs: dict[str, Any]) -> None:
    horizon, n = 2000, 40
    result = run(env_id, "exp3", replicates=n, horizon=horizon, seed=17, env_kwargs=kwargs,
                 agent_params={"horizon": horizon}, recorders=[RegretRecorder(grid=[horizon])])
    final = result["final_regret"]
    upper = final.mean() + 3.0 * final.std(ddof=1) / math.sqrt(n)  # the interval's margin
    assert upper < theory.exp3_regret_bound(kwargs["k"], horizon)


@pytest.mark.parametrize("kind", ["uniform", "bernoulli", "blocks"])
@pytest.mark.parametrize("k", [2, 6])
def test_exp3_stays_under_its_bound_on_random_tables(kind: str, k: int) -> None:
    horizon, n = 2000, 40
    table = random_table(100 + k, horizon, k, kind)
    result = run(OBLIVIOUS, "exp3", replicates=n, horizon=horizon, seed=5,
                 env_kwargs={"rewards": table}, agent_params={"horizon": horizon},
                 recorders=[RegretRecorder(grid=[horizon])])
    final = result["final_regret"]
    upper = final.mean() + 3.0 * final.std(ddof=1) / math.sqrt(n)
    assert upper < theory.exp3_regret_bound(k, horizon)


def _final_mean(env_kwargs: dict[str, Any], agent: str, horizon: int, n: int,
                params: dict[str, Any] | None = None) -> float:
    result = run(OBLIVIOUS, agent, replicates=n, horizon=horizon, seed=23,
                 env_kwargs=env_kwargs, agent_params=params or {},
                 recorders=[RegretRecorder(grid=[horizon])])
    return float(result["final_regret"].mean())


def test_exp3_regret_grows_like_sqrt_t_ratio_near_2_between_t_and_4t() -> None:
    kwargs = {"adversary": "friend", "k": 5}
    small = _final_mean(kwargs, "exp3", 500, 150, {"horizon": 500})
    large = _final_mean(kwargs, "exp3", 2000, 150, {"horizon": 2000})
    assert 1.5 < large / small < 2.7, (small, large)


def test_ucb1_regret_is_linear_on_the_adversary_built_against_it() -> None:
    kwargs = {"adversary": "anti-index", "k": 3}
    small = _final_mean(kwargs, "ucb1", 500, 10)
    large = _final_mean(kwargs, "ucb1", 2000, 10)
    assert large / small == pytest.approx(4.0, rel=0.05)
    assert large >= 0.6 * 2000  # about T (K - 1) / K
    exp3 = _final_mean(kwargs, "exp3", 2000, 10, {"horizon": 2000})
    assert exp3 < theory.exp3_regret_bound(3, 2000) < large


# --------------------------------------------------------------------------------------------
# Full information: the env's feedback="full" and Hedge
# --------------------------------------------------------------------------------------------


def full_agent(name: str, k: int, **params: object) -> Any:
    from decisiongym import agents

    return agents.make(name, observation_space=spaces.Box(0.0, 1.0, shape=(k,),
                                                          dtype=np.float64),
                       action_space=spaces.Discrete(k), **params)


@pytest.mark.parametrize("env_id", [OBLIVIOUS, REACTIVE])
def test_full_feedback_passes_the_checkers_without_warnings(env_id: str) -> None:
    env = gym.make(env_id, k=3, horizon=30, feedback="full")
    assert env.observation_space == spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []
    sb3_env_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    sb3_env_checker.check_env(gym.make(env_id, k=3, horizon=20, feedback="full"), warn=True)


@pytest.mark.parametrize(("env_id", "kwargs"), BUILT_IN, ids=BUILT_IN_IDS)
def test_full_feedback_observes_the_round_vector_and_changes_nothing_else(
        env_id: str, kwargs: dict[str, Any]) -> None:
    """The observation after round t is R_t (zeros at reset); the rewards and info are those of
    the default bandit feedback, bit for bit, for the same seed and actions."""
    k, horizon = 3, 300  # past one 256-row block of the friend's table
    actions = np.random.default_rng(4).integers(k, size=horizon)
    bandit = gym.make(env_id, k=k, horizon=horizon, **kwargs)
    full = gym.make(env_id, k=k, horizon=horizon, feedback="full", **kwargs)
    obs_b, _ = bandit.reset(seed=9)
    obs_f, _ = full.reset(seed=9)
    assert obs_b == 0 and obs_f.tolist() == [0.0] * k
    for a in actions:
        obs_b, r_b, term_b, trunc_b, info_b = bandit.step(int(a))
        obs_f, r_f, term_f, trunc_f, info_f = full.step(int(a))
        assert obs_b == 0 and r_b == r_f and (term_b, trunc_b) == (term_f, trunc_f)
        assert np.array_equal(info_b["rewards"], info_f["rewards"])
        assert np.array_equal(obs_f, info_f["rewards"]) and obs_f.dtype == np.float64
        assert full.observation_space.contains(obs_f)
    assert trunc_f


@pytest.mark.parametrize("env_id", [OBLIVIOUS, REACTIVE])
def test_full_feedback_vector_env_matches_single_envs(env_id: str) -> None:
    n, k, horizon = 3, 4, 5
    rng = np.random.default_rng(2)
    vec = make_vec(env_id, n, k=k, horizon=horizon, feedback="full")
    assert vec.single_observation_space == spaces.Box(0.0, 1.0, shape=(k,), dtype=np.float64)
    obs, _ = vec.reset(seed=30)
    assert obs.shape == (n, k) and not obs.any()
    actions = rng.integers(k, size=(horizon + 2, n))
    vec_obs = [vec.step(a)[0] for a in actions]
    # the step after the horizon is the NEXT_STEP reset: the first observation, zeros
    assert not vec_obs[horizon].any()
    for i in range(n):
        env = gym.make(env_id, k=k, horizon=horizon, feedback="full")
        env.reset(seed=30 + i)
        for t in range(horizon):
            got = env.step(int(actions[t, i]))[0]
            assert np.array_equal(got, vec_obs[t][i])


@pytest.mark.parametrize("env_id", [OBLIVIOUS, REACTIVE])
@pytest.mark.parametrize("feedback", ["partial", None, 1])
def test_bad_feedback_is_refused_naming_the_env(env_id: str, feedback: Any) -> None:
    name = env_id.split("/")[1]
    with pytest.raises(ValueError, match=rf"{name}: feedback must be one of 'bandit', 'full'"):
        gym.make(env_id, feedback=feedback)
    with pytest.raises(ValueError, match=rf"{name}: feedback must be one of"):
        make_vec(env_id, 2, feedback=feedback)


def test_hedge_plays_exponential_weights_of_the_observed_sums_by_hand() -> None:
    """P_1 uniform; P_2 = softmax(eta R_1); P_3 = softmax(eta (R_1 + R_2)), computed by hand."""
    table = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0], [1.0, 0.25, 0.5]])
    eta = 0.7
    env = make_vec(OBLIVIOUS, 2, rewards=table, feedback="full")
    agent = full_agent("hedge", 3, learning_rate=eta)
    obs, _ = env.reset(seed=0)
    agent.reset(2, seed=0)
    expected = [np.full(3, 1 / 3),
                np.exp([0.7, 0.0, 0.35]) / np.exp([0.7, 0.0, 0.35]).sum(),
                np.exp([0.7, 0.7, 0.35]) / np.exp([0.7, 0.7, 0.35]).sum()]
    for t in range(3):
        a = agent.act(obs)
        np.testing.assert_allclose(agent.probs, [expected[t]] * 2, rtol=1e-12)  # type: ignore[attr-defined]
        next_obs, r, term, trunc, _ = env.step(a)
        agent.update(obs, a, r, next_obs, term, trunc)
        obs = next_obs
    assert np.all(agent.t == 0)  # type: ignore[attr-defined]  # the episode ended: forgotten


def test_hedge_rates_are_the_theorems() -> None:
    agent = full_agent("hedge", 4, horizon=1000)
    agent.reset(2, seed=0)
    assert agent.eta().tolist() == [math.sqrt(8 * math.log(4) / 1000)] * 2  # type: ignore[attr-defined]
    anytime = full_agent("hedge", 4)
    anytime.reset(1, seed=0)
    assert anytime.eta().tolist() == [math.sqrt(8 * math.log(4))]  # type: ignore[attr-defined]
    fixed = full_agent("hedge", 4, horizon=10, learning_rate=0.3)  # the rate overrides
    fixed.reset(1, seed=0)
    assert fixed.eta().tolist() == [0.3]  # type: ignore[attr-defined]


def test_hedge_needs_full_information_and_valid_parameters() -> None:
    with pytest.raises(ValueError, match=r"hedge: needs full-information feedback.*"
                                         r"feedback='full'"):
        make_agent("hedge", 3)
    with pytest.raises(AgentMismatch, match=r"agent 'hedge' does not fit env"):
        run(OBLIVIOUS, "hedge", replicates=2, horizon=5, env_kwargs={"k": 3})
    with pytest.raises(ValueError, match=r"hedge: learning_rate .* got 0\.0"):
        full_agent("hedge", 3, learning_rate=0.0)
    with pytest.raises(ValueError, match=r"hedge: horizon must be an integer >= 1, got 0"):
        full_agent("hedge", 3, horizon=0)
    agent = full_agent("hedge", 2)
    agent.reset(1, seed=0)
    a = agent.act(np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"hedge: rewards must lie in \[0, 1\] \(got 2\.0\)"):
        agent.update(np.zeros((1, 2)), a, np.zeros(1), np.array([[2.0, 0.0]]),
                     np.zeros(1, bool), np.zeros(1, bool))


def test_theory_hedge_bound_and_rates_by_hand() -> None:
    # K = 2, T = 8: sqrt(8 log 2 / 2) = sqrt(4 log 2); eta = sqrt(8 log 2 / 8) = sqrt(log 2).
    assert theory.hedge_regret_bound(2, 8) == pytest.approx(math.sqrt(4 * math.log(2)))
    assert theory.hedge_learning_rate(2, 8) == pytest.approx(math.sqrt(math.log(2)))
    # The rate minimises log K / eta + eta T / 8, whose minimum is the bound.
    k, horizon = 7, 5000
    eta = theory.hedge_learning_rate(k, horizon)
    assert math.log(k) / eta + eta * horizon / 8 == pytest.approx(
        float(theory.hedge_regret_bound(k, horizon)))
    for other in (0.5 * eta, 2 * eta):
        assert math.log(k) / other + other * horizon / 8 > float(
            theory.hedge_regret_bound(k, horizon))
    assert theory.hedge_anytime_learning_rate(2, [1, 8]).tolist() == pytest.approx(
        [math.sqrt(8 * math.log(2)), math.sqrt(math.log(2))])
    assert theory.hedge_anytime_regret_bound(2, 8) == pytest.approx(
        math.sqrt(16 * math.log(2)) + math.sqrt(math.log(2) / 8))
    with pytest.raises(ValueError, match="n_arms must be an integer >= 2"):
        theory.hedge_regret_bound(1, 10)


def _mixture_regret(env_id: str, kwargs: dict[str, Any], horizon: int, n: int,
                    params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Hedge run by hand: max_k sum_t R_t(k) - sum_t P_t' R_t (the quantity the theorem bounds
    for every table) and the realised regret, per replicate."""
    env = make_vec(env_id, n, horizon=horizon, feedback="full", **kwargs)
    agent = full_agent("hedge", kwargs["k"], **params)
    obs, _ = env.reset(seed=7)
    agent.reset(n, seed=7)
    sums, mixture, got = np.zeros((n, kwargs["k"])), np.zeros(n), np.zeros(n)
    for _ in range(horizon):
        a = agent.act(obs)
        next_obs, r, term, trunc, info = env.step(a)
        mixture += (agent.probs * info["rewards"]).sum(axis=1)  # type: ignore[attr-defined]
        sums += info["rewards"]
        got += r
        agent.update(obs, a, r, next_obs, term, trunc)
        obs = next_obs
    return sums.max(axis=1) - mixture, sums.max(axis=1) - got


@pytest.mark.parametrize(("env_id", "kwargs"), BOUND_CASES,
                         ids=[f"{i}-k{k}" for i in BUILT_IN_IDS for k in (2, 5)])
def test_hedge_is_under_sqrt_t_log_k_over_2_on_every_built_in_adversary(
        env_id: str, kwargs: dict[str, Any]) -> None:
    """Freund & Schapire 1997; Cesa-Bianchi & Lugosi 2006, Theorem 2.2: the mixture's regret is
    at most sqrt(T log K / 2) on every table (checked run by run), and the realised regret of
    the sampled arms (its expectation) is under the bound with a 3-standard-error margin."""
    horizon, n = 2000, 40
    bound = float(theory.hedge_regret_bound(kwargs["k"], horizon))
    mixture, realised = _mixture_regret(env_id, kwargs, horizon, n, {"horizon": horizon})
    assert mixture.max() <= bound
    assert realised.mean() + 3.0 * realised.std(ddof=1) / math.sqrt(n) < bound
    # the anytime rate under its own bound
    mixture, _ = _mixture_regret(env_id, kwargs, horizon, 4, {})
    assert mixture.max() <= float(theory.hedge_anytime_regret_bound(kwargs["k"], horizon))


@pytest.mark.parametrize("kind", ["uniform", "bernoulli", "blocks"])
def test_hedge_mixture_is_under_its_bound_on_random_tables(kind: str) -> None:
    horizon, k = 1000, 6
    table = random_table(200, horizon, k, kind)
    mixture, _ = _mixture_regret(OBLIVIOUS, {"rewards": table, "k": k}, horizon, 2,
                                 {"horizon": horizon})
    assert mixture.max() <= float(theory.hedge_regret_bound(k, horizon))


def test_hedge_through_the_harness_learns_the_best_arm() -> None:
    table = np.tile([0.2, 0.8, 0.5], (2000, 1))
    result = run(OBLIVIOUS, "hedge", replicates=20, horizon=2000, seed=3,
                 env_kwargs={"rewards": table, "feedback": "full"},
                 agent_params={"horizon": 2000}, recorders=[RegretRecorder(keep_steps=True)])
    assert result.record["regret_kind"] == "best-fixed-arm"
    assert np.mean(result["actions"][-500:] == 1) > 0.99
    assert result["final_regret"].mean() < theory.hedge_regret_bound(3, 2000)


# --------------------------------------------------------------------------------------------
# The reproduction
# --------------------------------------------------------------------------------------------


def test_adversarial_reproduction_quick(tmp_path: Path) -> None:
    from decisiongym.cli import main

    out = tmp_path / "adv"
    assert main(["reproduce", "adversarial", "--quick", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    failed = [c["name"] for c in summary["checks"] if not c["passed"]]
    assert not failed, failed
    names = " ".join(c["name"] for c in summary["checks"])
    assert "sqrt(2 T K log K)" in names and "linear" in names
    hedge = [c for c in summary["checks"] if c["name"].startswith("Hedge (full information)")]
    assert len(hedge) == 7 and all(c["runs"] == 100 for c in hedge)
    assert all("hedge (full info)" in row for row in summary["table"])
    pngs = list((out / "plots").glob("*.png"))
    assert pngs and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)


@pytest.mark.slow
def test_adversarial_reproduction_full_size(tmp_path: Path) -> None:
    """T = 10^4, 100 runs on 7 adversaries x 5 agents (a few minutes)."""
    from decisiongym.cli import main

    out = tmp_path / "adv-full"
    assert main(["reproduce", "adversarial", "--out", str(out)]) == 0
