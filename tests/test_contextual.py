"""Contextual bandits: the environments (``decisiongym.envs.contextual``) and the agents
(``decisiongym.agents.contextual``), seed section 5.2.4."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env

import decisiongym
from decisiongym import agents
from decisiongym.agents.contextual import forced_sampling_arm, sherman_morrison_update
from decisiongym.harness.recorders import RegretRecorder
from decisiongym.harness.rollout import run

LINEAR = "decisiongym/LinearContextualBandit-v0"
NONPARAMETRIC = "decisiongym/NonparametricContextualBandit-v0"
ADVERSARIAL = "decisiongym/AdversarialContextBandit-v0"
CLASSIFICATION = "decisiongym/ClassificationBandit-v0"
CONTEXTUAL_IDS = [LINEAR, NONPARAMETRIC, ADVERSARIAL, CLASSIFICATION]
CONTEXTUAL_AGENTS = ["greedy", "linucb", "linear-thompson", "goldenshluger-zeevi",
                     "epsilon-greedy-knn", "exp4", "neural-epsilon-greedy", "neural-linear"]
# Agents whose rewards must lie in [0, 1] run on the adversarial (Bernoulli) env.
ENV_FOR_AGENT = {"exp4": ADVERSARIAL}


def make_vec(env_id: str, n: int, **kwargs: Any) -> Any:
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)


def make_contextual_agent(name: str, env: Any, **params: Any) -> agents.BaseAgent:
    obs_space = getattr(env, "single_observation_space", env.observation_space)
    act_space = getattr(env, "single_action_space", env.action_space)
    return agents.make(name, observation_space=obs_space, action_space=act_space, **params)


# --------------------------------------------------------------------------------------------
# Environments
# --------------------------------------------------------------------------------------------


def test_contextual_envs_are_registered() -> None:
    for env_id in CONTEXTUAL_IDS:
        assert env_id in gym.registry
    listed = dict(decisiongym.list_environments())
    assert all(listed[i] for i in CONTEXTUAL_IDS)


@pytest.mark.parametrize("env_id", CONTEXTUAL_IDS)
def test_gymnasium_check_env_passes(env_id: str) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(env_id, horizon=20, render_mode="ansi")
    gym_check_env(env.unwrapped, skip_render_check=False)
    sb3_check_env(gym.make(env_id, horizon=20))
    env.reset(seed=0)
    env.step(0)
    text = env.render()
    assert isinstance(text, str) and "eta_a(x)" in text


def _rollout_single(env_id: str, seed: int, actions: np.ndarray, **kw: Any
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    env = gym.make(env_id, **kw)
    x, _ = env.reset(seed=seed)
    xs, rs, etas = [x], [], []
    for a in actions:
        x, r, _term, trunc, info = env.step(int(a))
        xs.append(x)
        rs.append(r)
        etas.append(info["expected_rewards"])
        if trunc:
            x, _ = env.reset()
            xs.append(x)
    return np.array(xs), np.array(rs), np.array(etas)


@pytest.mark.parametrize("env_id", CONTEXTUAL_IDS)
def test_same_seed_same_run_bit_for_bit(env_id: str) -> None:
    actions = np.random.default_rng(3).integers(3, size=300)
    first = _rollout_single(env_id, 42, actions, horizon=100)
    second = _rollout_single(env_id, 42, actions, horizon=100)
    other = _rollout_single(env_id, 43, actions, horizon=100)
    for u, v in zip(first, second, strict=True):
        assert np.array_equal(u, v)
    assert not np.array_equal(first[1], other[1])


@pytest.mark.parametrize("env_id", CONTEXTUAL_IDS)
def test_vector_replicate_matches_single_env_with_seed_plus_i(env_id: str) -> None:
    n, horizon, seed, steps = 3, 7, 99, 600  # 600 steps cross several context blocks
    vec = make_vec(env_id, n, horizon=horizon)
    singles = [gym.make(env_id, horizon=horizon) for _ in range(n)]
    obs, vinfo = vec.reset(seed=seed)
    single_obs = []
    for i, env in enumerate(singles):
        x, info = env.reset(seed=seed + i)
        single_obs.append(x)
        assert np.array_equal(vinfo["expected_rewards"][i], info["expected_rewards"])
    assert np.array_equal(obs, np.array(single_obs))
    actions = np.random.default_rng(0).integers(2, size=(steps, n))
    pending = np.zeros(n, dtype=bool)
    resets = 0
    for t in range(steps):
        obs, r, term, trunc, info = vec.step(actions[t])
        for i, env in enumerate(singles):
            if pending[i]:  # NEXT_STEP autoreset: action ignored, reward 0, info masked
                assert r[i] == 0.0 and not info["_expected_reward"][i]
                assert not info["_expected_rewards"][i]
                x, _ = env.reset()
                resets += 1
            else:
                x, sr, sterm, strunc, sinfo = env.step(int(actions[t, i]))
                assert r[i] == sr and trunc[i] == strunc and term[i] == sterm
                assert info["_expected_reward"][i]
                assert info["expected_reward"][i] == sinfo["expected_reward"]
                assert info["optimal_expected_reward"][i] == sinfo["optimal_expected_reward"]
                assert info["optimal_action"][i] == sinfo["optimal_action"]
                assert np.array_equal(info["expected_rewards"][i], sinfo["expected_rewards"])
            assert np.array_equal(obs[i], x)
        pending = trunc.copy()
    assert resets > 0


@pytest.mark.parametrize("env_id", CONTEXTUAL_IDS)
def test_info_is_consistent_and_truncates_at_horizon(env_id: str) -> None:
    env = make_vec(env_id, 4, horizon=30)
    obs, _ = env.reset(seed=1)
    assert obs.shape == (4, env.single_observation_space.shape[0])
    for t in range(30):
        a = np.full(4, t % 2, dtype=np.int64)
        obs, _r, term, trunc, info = env.step(a)
        eta = info["expected_rewards"]
        assert eta.shape == (4, env.single_action_space.n)
        assert np.array_equal(info["expected_reward"], eta[np.arange(4), a])
        assert np.array_equal(info["optimal_expected_reward"], eta.max(axis=1))
        assert np.array_equal(info["optimal_action"], eta.argmax(axis=1))
        assert not term.any()
        assert trunc.all() == (t == 29)
        assert env.single_observation_space.contains(obs[0])


def test_linear_rewards_are_beta_x_plus_noise() -> None:
    beta = np.array([[1.0, 0.5, -1.0], [0.0, -0.5, 1.0]])
    env = gym.make(LINEAR, k=2, d=3, beta=beta, noise_sigma=0.0, horizon=50)
    x, _ = env.reset(seed=0)
    assert x[0] == 1.0  # the intercept feature
    for _ in range(20):
        x_prev = x
        x, r, _, _, info = env.step(1)
        assert np.allclose(info["expected_rewards"], beta @ x_prev)
        assert r == pytest.approx(beta[1] @ x_prev)
    env = make_vec(LINEAR, 50, k=2, d=3, beta=beta, noise_sigma=0.7, horizon=400,
                   intercept=False, context_distribution="uniform")
    env.reset(seed=0)
    noise = []
    for _ in range(400):
        _, r, _, _, info = env.step(np.zeros(50, dtype=np.int64))
        noise.append(r - info["expected_reward"])
    z = np.array(noise)
    assert abs(z.mean()) < 0.02 and z.std() == pytest.approx(0.7, rel=0.03)


def test_classification_bandit_pays_one_for_the_right_label() -> None:
    env = gym.make(CLASSIFICATION, dataset="digits", horizon=200)
    x, info = env.reset(seed=0)
    assert x.shape == (64,) and env.action_space.n == 10
    eta = info["expected_rewards"]
    for t in range(200):
        assert eta.sum() == 1.0 and set(np.unique(eta)) == {0.0, 1.0}
        label = int(np.argmax(eta))
        a = label if t % 2 else (label + 1) % 10
        x, r, _, _, step_info = env.step(a)
        assert r == (1.0 if t % 2 else 0.0) == step_info["expected_reward"]
        eta = _peek_eta(env)


def _peek_eta(env: Any) -> np.ndarray:
    core = env.unwrapped._core
    return np.asarray(core.expected_rewards(np.array([0]))[0])


@pytest.mark.parametrize("dataset", ["wine", "iris", "breast_cancer"])
def test_other_bundled_datasets_load(dataset: str) -> None:
    env = gym.make(CLASSIFICATION, dataset=dataset, horizon=5)
    x, info = env.reset(seed=0)
    assert info["expected_rewards"].sum() == 1.0
    assert x.shape == env.observation_space.shape


def test_classification_user_arrays_and_cost_matrix() -> None:
    X = np.arange(12.0).reshape(6, 2)
    y = np.array([0, 1, 2, 0, 1, 2])
    cost = np.array([[1.0, 0.2], [0.0, 1.0], [0.5, 0.5]])  # 3 classes, 2 actions
    env = gym.make(CLASSIFICATION, X=X, y=y, reward_matrix=cost, standardize=False, horizon=40)
    x, info = env.reset(seed=0)
    assert env.action_space.n == 2
    for _ in range(30):
        row = int(np.flatnonzero((X == x).all(axis=1))[0])
        assert np.array_equal(info["expected_rewards"], cost[y[row]])
        x, r, _, _, info = env.step(0)
        assert r == cost[y[row], 0]
        info = {"expected_rewards": _peek_eta(env)}


def test_adversarial_contexts_are_a_fixed_sequence() -> None:
    a = make_vec(ADVERSARIAL, 2, sequence="drifting", horizon=300)
    b = make_vec(ADVERSARIAL, 2, sequence="drifting", horizon=300)
    xa, _ = a.reset(seed=0)
    xb, _ = b.reset(seed=100)
    assert np.array_equal(xa, xb)  # contexts do not depend on the seed
    for _ in range(200):
        xa, *_ = a.step(np.zeros(2, dtype=np.int64))
        xb, *_ = b.step(np.ones(2, dtype=np.int64))
        assert np.array_equal(xa, xb) and np.all(xa[:, 0] == 1.0)
        assert np.all(np.linalg.norm(xa[:, 1:], axis=1) <= 1.0 + 1e-12)
    given = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    env = gym.make(ADVERSARIAL, k=2, contexts=given, theta=[[0.5, 0.0], [0.0, 0.5]], horizon=10)
    x, _ = env.reset(seed=0)
    seen = [x]
    for _ in range(5):
        x, r, _, _, _info = env.step(0)
        seen.append(x)
        assert r in (0.0, 1.0)
    assert np.array_equal(np.array(seen), given[np.arange(6) % 3])
    clustered = make_vec(ADVERSARIAL, 1, sequence="clustered", segment=5, n_clusters=2,
                         horizon=100)
    x0, _ = clustered.reset(seed=0)
    xs = [x0[0]] + [clustered.step(np.zeros(1, dtype=np.int64))[0][0] for _ in range(19)]
    assert all(np.array_equal(xs[i], xs[0]) for i in range(5))
    assert np.array_equal(xs[10], xs[0]) and not np.array_equal(xs[5], xs[0])


def test_pickle_round_trip_mid_episode() -> None:
    env = make_vec(LINEAR, 2, horizon=500)
    env.reset(seed=0)
    for _ in range(300):
        env.step(np.zeros(2, dtype=np.int64))
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(50):
        a = np.ones(2, dtype=np.int64)
        o1, r1, *_ = env.step(a)
        o2, r2, *_ = clone.step(a)
        assert np.array_equal(o1, o2) and np.array_equal(r1, r2)


@pytest.mark.parametrize(
    ("env_id", "kwargs", "match"),
    [
        (LINEAR, {"beta": np.zeros((4, 3))}, r"LinearContextualBandit-v0: beta must have shape "
                                             r"\(4x5\), got shape \(4, 3\)"),
        (LINEAR, {"k": 1}, r"LinearContextualBandit-v0: k .* got 1"),
        (LINEAR, {"d": 0}, r"LinearContextualBandit-v0: d .* got 0"),
        (LINEAR, {"noise_sigma": -1.0}, r"noise_sigma .* got -1\.0"),
        (LINEAR, {"context_distribution": "cauchy"}, r"context_distribution .* 'cauchy'"),
        (NONPARAMETRIC, {"bandwidth": 0.0}, r"bandwidth must be > 0"),
        (ADVERSARIAL, {"sequence": "random"}, r"sequence must be one of"),
        (ADVERSARIAL, {"contexts": np.zeros((3, 2)), "d": 4}, r"d = 4 does not match"),
        (CLASSIFICATION, {"dataset": "mnist"}, r"dataset must be one of"),
        (CLASSIFICATION, {"X": np.zeros((3, 2)), "y": [0, 1, 5], "k": 3},
         r"labels must lie in \[0, 3\).*y\[2\] = 5 is out of range"),
        (CLASSIFICATION, {"X": np.zeros((3, 2)), "y": [0, -1, 1]},
         r"y\[1\] = -1 is out of range"),
        (CLASSIFICATION, {"X": np.zeros((3, 2)), "y": [0, 1]}, r"one label per row of X \(3\)"),
        (CLASSIFICATION, {"X": np.zeros((3, 2)), "y": [0.5, 1, 0]}, r"labels must be integers"),
        (CLASSIFICATION, {"X": np.zeros((3, 2)), "y": [0, 1, 2],
                          "reward_matrix": np.eye(2)}, r"y\[2\] = 2 is out of range"),
        (CLASSIFICATION, {"X": np.zeros((3, 2))}, r"give both X and y"),
        (CLASSIFICATION, {"standardize": "yes"}, r"standardize must be True or False"),
    ],
)
def test_bad_construction_args_raise_value_error(env_id: str, kwargs: dict[str, Any],
                                                 match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gym.make(env_id, **kwargs)


@pytest.mark.parametrize("env_id", CONTEXTUAL_IDS)
def test_bad_actions_raise_value_error(env_id: str) -> None:
    env = gym.make(env_id, horizon=5)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        env.step(99)
    with pytest.raises(ValueError, match="must be an integer"):
        env.step(0.5)
    vec = make_vec(env_id, 2, horizon=5)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        vec.step(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"actions\[1\] = -1 is out of range"):
        vec.step(np.array([0, -1]))


# --------------------------------------------------------------------------------------------
# Agents: protocol and validation
# --------------------------------------------------------------------------------------------


def test_registry_lists_the_contextual_agents() -> None:
    listed = dict(agents.list_agents())
    for name in CONTEXTUAL_AGENTS:
        assert listed[name] and "\n" not in listed[name]


@pytest.mark.parametrize("name", CONTEXTUAL_AGENTS)
def test_context_dimension_mismatch_is_an_error(name: str) -> None:
    env = make_vec(ENV_FOR_AGENT.get(name, LINEAR), 2, horizon=10)
    agent = make_contextual_agent(name, env)
    agent.reset(2, seed=0)
    d = env.single_observation_space.shape[0]
    with pytest.raises(ValueError, match=rf"{name}: context dimension mismatch: expected "
                                         rf"contexts of shape \(num_envs, {d}\), got {d + 1}"):
        agent.act(np.zeros((2, d + 1)))
    with pytest.raises(ValueError, match=f"{name}: needs a 1-D Box"):
        agents.make(name, observation_space=gym.spaces.Discrete(1),
                    action_space=gym.spaces.Discrete(3))
    with pytest.raises(ValueError, match=f"{name}: needs a Discrete"):
        agents.make(name, observation_space=env.single_observation_space,
                    action_space=gym.spaces.Box(0, 1, (3,)))


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("linucb", {"alpha": -1.0}, r"linucb: alpha .* got -1\.0"),
        ("linucb", {"regularization": 0.0}, r"linucb: regularization .* got 0\.0"),
        ("linear-thompson", {"sigma2": 0.0}, r"linear-thompson: sigma2 .* got 0\.0"),
        ("goldenshluger-zeevi", {"h": 0.0}, r"goldenshluger-zeevi: h .* got 0\.0"),
        ("goldenshluger-zeevi", {"q": 0}, r"goldenshluger-zeevi: q .* got 0"),
        ("epsilon-greedy-knn", {"n_neighbors": 0}, r"n_neighbors .* got 0"),
        ("epsilon-greedy-knn", {"decay": 1.5}, r"decay .* got 1\.5"),
        ("exp4", {"gamma": 2.0}, r"exp4: gamma .* got 2\.0"),
        ("exp4", {"experts": np.zeros((2, 3, 3))}, r"exp4: experts must be"),
        ("neural-linear", {"a0": 0.0}, r"neural-linear: a0 .* got 0\.0"),
        ("neural-linear", {"device": 3}, r"neural-linear: device must be"),
        ("neural-epsilon-greedy", {"hidden": 0}, r"neural-epsilon-greedy: hidden .* got 0"),
    ],
)
def test_bad_parameters_raise_value_error(name: str, params: dict[str, Any], match: str) -> None:
    env = gym.make(LINEAR, horizon=5)
    with pytest.raises(ValueError, match=match):
        make_contextual_agent(name, env, **params)


@pytest.mark.parametrize("name", CONTEXTUAL_AGENTS)
def test_same_seed_same_run(name: str) -> None:
    env_id = ENV_FOR_AGENT.get(name, LINEAR)
    a, b, c = (run(env_id, name, replicates=4, horizon=150, seed=seed,
                   recorders=[RegretRecorder(keep_steps=True)]) for seed in (3, 3, 4))
    assert np.array_equal(a["actions"], b["actions"])
    assert np.array_equal(a["rewards"], b["rewards"])
    assert not np.array_equal(a["actions"], c["actions"])


@pytest.mark.parametrize("name", CONTEXTUAL_AGENTS)
def test_reset_steps_are_never_learned_from(name: str) -> None:
    """Two copies see the same transitions except on the NEXT_STEP reset step; they must then
    act identically (same generator state, same statistics)."""
    env = make_vec(ENV_FOR_AGENT.get(name, LINEAR), 3, horizon=6)
    base = make_contextual_agent(name, env)
    base.reset(3, seed=1)
    obs, _ = env.reset(seed=0)
    no = np.zeros(3, dtype=bool)
    rng = np.random.default_rng(0)
    for t in range(6):
        a = base.act(obs)
        base.update(obs, a, rng.random(3).round(), obs, no, no | (t == 5))
    one, two = base, copy.deepcopy(base)
    one.update(obs, np.zeros(3, dtype=np.int64), np.zeros(3), obs, no, no)
    two.update(obs, np.ones(3, dtype=np.int64), np.ones(3), obs, no, no)
    for _ in range(10):
        a1, a2 = one.act(obs), two.act(obs)
        assert np.array_equal(a1, a2)
        r = rng.random(3).round()
        one.update(obs, a1, r, obs, no, no)
        two.update(obs, a2, r, obs, no, no)
        obs = obs + 0.1


# --------------------------------------------------------------------------------------------
# Agents: the rules
# --------------------------------------------------------------------------------------------


def test_sherman_morrison_update_is_the_inverse() -> None:
    rng = np.random.default_rng(0)
    m, d = 5, 4
    a = np.eye(d) * 2.0 + np.zeros((m, d, d))
    a_inv = np.linalg.inv(a)
    for _ in range(30):
        x = rng.standard_normal((m, d))
        a = a + x[:, :, None] * x[:, None, :]
        a_inv = sherman_morrison_update(a_inv, x)
    assert np.allclose(a_inv, np.linalg.inv(a), atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", ["linucb", "linear-thompson", "greedy"])
def test_incremental_estimates_equal_a_fresh_least_squares_solve(name: str) -> None:
    """The batched Sherman-Morrison updates give the ridge solution (lambda I + X'X)^-1 X'r of
    each replicate's and arm's data, to 1e-8."""
    n, horizon, lam = 5, 400, 0.7
    result = run(LINEAR, name, replicates=n, horizon=horizon, seed=0,
                 agent_params={"regularization": lam},
                 recorders=[RegretRecorder(keep_steps=True)])
    # Replay the run to collect the contexts the agent saw (the env is deterministic by seed).
    env = make_vec(LINEAR, n, horizon=horizon + 1)
    x, _ = env.reset(seed=0)
    agent = make_contextual_agent(name, env, regularization=lam)
    agent.reset(n, seed=0)
    xs, acts, rews = [], [], []
    for _ in range(horizon):
        a = agent.act(x)
        nx, r, term, trunc, _ = env.step(a)
        agent.update(x, a, r, nx, term, trunc)
        xs.append(x)
        acts.append(a)
        rews.append(r)
        x = nx
    assert np.array_equal(np.array(acts), result["actions"])
    xs_arr, acts_arr, rews_arr = np.array(xs), np.array(acts), np.array(rews)
    model = agent.model  # type: ignore[attr-defined]
    d = xs_arr.shape[2]
    for i in range(n):
        for arm in range(4):
            sel = acts_arr[:, i] == arm
            design = xs_arr[sel, i]
            gram = lam * np.eye(d) + design.T @ design
            beta = np.linalg.solve(gram, design.T @ rews_arr[sel, i])
            assert np.allclose(model.beta[i, arm], beta, atol=1e-8, rtol=0)
            assert np.allclose(model.a_inv[i, arm], np.linalg.inv(gram), atol=1e-8, rtol=0)


def test_goldenshluger_zeevi_schedule_and_both_estimators() -> None:
    # K = 2, n0 = 1, q = 1: steps 1-2 in turn, then t' = t - 2 forced when ceil(t'/2) is 2^m.
    arms = forced_sampling_arm(np.arange(1, 21), 2, 1, 1)
    expected = [0, 1, 0, 1, 0, 1, -1, -1, 0, 1, -1, -1, -1, -1, -1, -1, 0, 1, -1, -1]
    assert arms.tolist() == expected
    # The forced rounds are O(log T) per arm.
    assert (forced_sampling_arm(np.arange(1, 100_001), 4, 2, 1) >= 0).sum() <= 4 * (2 + 18)
    env = make_vec(LINEAR, 3, horizon=301)  # no episode end: it would clear the estimates
    agent = make_contextual_agent("goldenshluger-zeevi", env)
    agent.reset(3, seed=0)
    x, _ = env.reset(seed=0)
    rows = []
    for t in range(300):
        a = agent.act(x)
        forced = forced_sampling_arm(np.full(3, t + 1), 4, 3, 3)  # the defaults n0 = q = 3
        assert np.all((forced < 0) | (a == forced))
        nx, r, te, tr, _ = env.step(a)
        agent.update(x, a, r, nx, te, tr)
        rows.append((x, a, r, forced))
        x = nx
    for i in range(3):
        for arm in range(4):
            for model, use_forced in ((agent.forced, True),  # type: ignore[attr-defined]
                                      (agent.all_samples, False)):  # type: ignore[attr-defined]
                sel = [k for k, (_, a, _, f) in enumerate(rows)
                       if a[i] == arm and (not use_forced or f[i] == arm)]
                design = np.array([rows[k][0][i] for k in sel]).reshape(-1, 5)
                target = np.array([rows[k][2][i] for k in sel])
                beta = np.linalg.solve(np.eye(5) + design.T @ design, design.T @ target)
                assert np.allclose(model.beta[i, arm], beta, atol=1e-8, rtol=0)


def test_linucb_index_matches_the_formula() -> None:
    env = make_vec(LINEAR, 2, horizon=50)
    agent = make_contextual_agent("linucb", env, alpha=1.5)
    agent.reset(2, seed=0)
    x, _ = env.reset(seed=0)
    for _ in range(20):
        a = agent.act(x)
        nx, r, te, tr, _ = env.step(a)
        agent.update(x, a, r, nx, te, tr)
        x = nx
    u = agent.ucb_index(x)  # type: ignore[attr-defined]
    model = agent.model  # type: ignore[attr-defined]
    for i in range(2):
        for arm in range(4):
            want = model.beta[i, arm] @ x[i] + 1.5 * np.sqrt(x[i] @ model.a_inv[i, arm] @ x[i])
            assert u[i, arm] == pytest.approx(want, rel=1e-12)


# --------------------------------------------------------------------------------------------
# Agents: what they achieve
# --------------------------------------------------------------------------------------------


def _final_regret(env_id: str, agent: str, horizon: int, replicates: int,
                  **params: Any) -> float:
    result = run(env_id, agent, replicates=replicates, horizon=horizon, seed=0,
                 agent_params=params)
    return float(result["final_regret"].mean())


def test_linear_agents_have_sublinear_regret_and_beat_greedy_and_ucb1() -> None:
    """Linear env, d = 5, K = 4: regret(4T)/regret(T) well below 4 for LinUCB and linear TS, and
    both below greedy (which gets stuck) and non-contextual UCB1 (linear regret)."""
    t, n = 1000, 100
    regrets = {name: (_final_regret(LINEAR, name, t, n), _final_regret(LINEAR, name, 4 * t, n))
               for name in ("linucb", "linear-thompson", "greedy", "ucb1")}
    for name in ("linucb", "linear-thompson"):
        short, long = regrets[name]
        assert long / short < 2.0, (name, regrets[name])
        assert long < regrets["greedy"][1], regrets
        assert long < 0.2 * regrets["ucb1"][1], regrets
    assert regrets["ucb1"][1] / regrets["ucb1"][0] > 3.5  # linear: ucb1 ignores the context


def test_knn_beats_the_linear_agents_on_the_nonparametric_env() -> None:
    t, n = 1500, 30
    knn = _final_regret(NONPARAMETRIC, "epsilon-greedy-knn", t, n)
    for name in ("linucb", "linear-thompson"):
        assert knn < 0.75 * _final_regret(NONPARAMETRIC, name, t, n)


def test_neural_agents_beat_the_linear_agents_on_the_nonparametric_env() -> None:
    t, n = 600, 10
    linear = min(_final_regret(NONPARAMETRIC, name, t, n)
                 for name in ("linucb", "linear-thompson"))
    for name in ("neural-epsilon-greedy", "neural-linear"):
        assert _final_regret(NONPARAMETRIC, name, t, n) < 0.75 * linear, name


def test_neural_linear_posterior_matches_a_fresh_solve_on_its_features() -> None:
    """Between retrainings the Sherman-Morrison updates keep Lambda_a^-1 and mu_a equal to a
    fresh Bayesian linear regression on the current features z(x) of the arm's history."""
    env = make_vec(NONPARAMETRIC, 3, horizon=100)
    agent = make_contextual_agent("neural-linear", env, train_every=25)
    agent.reset(3, seed=0)
    x, _ = env.reset(seed=0)
    for _ in range(37):  # last retraining at step 25, then 12 incremental updates
        a = agent.act(x)
        nx, r, te, tr, _ = env.step(a)
        agent.update(x, a, r, nx, te, tr)
        x = nx
    ag: Any = agent
    length = 37
    import torch

    with torch.no_grad():
        _, h = ag._forward(torch.as_tensor(ag.hist_x[:, :length], dtype=torch.float32))
    z_all = h.double().numpy()
    for i in range(3):
        for arm in range(4):
            sel = ag.hist_a[i, :length] == arm
            z, r = z_all[i, sel], ag.hist_r[i, :length][sel]
            precision = 0.25 * np.eye(ag.hidden) + z.T @ z
            # z(x) is a float32 network output: one context at a time (as the agent computes it)
            # and a batch of contexts differ in the last float32 digits.
            assert np.allclose(ag.precision_inv[i, arm], np.linalg.inv(precision), rtol=1e-4,
                               atol=1e-5)
            assert np.allclose(ag.mu[i, arm], np.linalg.solve(precision, z.T @ r), rtol=1e-4,
                               atol=1e-5)


def _digits_accuracy(agent: str, horizon: int, replicates: int, **params: Any) -> float:
    result = run(CLASSIFICATION, agent, replicates=replicates, horizon=horizon, seed=0,
                 env_kwargs={"dataset": "digits"}, agent_params=params)
    return float(result["mean_reward"].mean())  # the online accuracy: rewards are 0/1


def test_digits_online_accuracy_well_above_chance() -> None:
    from decisiongym.reproductions.contextual import full_feedback_accuracy

    horizon, n = 1500, 4
    supervised = float(np.mean(full_feedback_accuracy("digits", horizon, n, seed=0)))
    assert supervised > 0.85
    # Exploration scaled to 0/1 rewards in d = 64 (the defaults suit unit-variance noise).
    tuned = {"linucb": {"alpha": 0.3}, "linear-thompson": {"sigma2": 0.01}}
    for name, params in tuned.items():
        acc = _digits_accuracy(name, horizon, n, **params)
        assert acc > 0.6, (name, acc)  # chance is 0.1
        assert acc <= supervised + 0.02, (name, acc, supervised)


def test_exp4_follows_the_best_expert_on_adversarial_contexts() -> None:
    """Expert class: the oracle's linear policy hidden among random ones; Exp4's regret against
    the oracle is far below uniform play's."""
    theta = np.array([[0.5, 0.4, 0.0], [0.5, -0.4, 0.0], [0.5, 0.0, 0.4]])
    rng = np.random.default_rng(0)
    experts = np.concatenate([theta[None], rng.standard_normal((7, 3, 3))])
    env_kwargs = {"k": 3, "theta": theta, "sequence": "clustered", "segment": 50}
    exp4, uniform = (run(ADVERSARIAL, "exp4", replicates=20, horizon=2000, seed=0,
                         env_kwargs=env_kwargs, agent_params={"experts": experts, **params})
                     for params in ({"horizon": 2000}, {"gamma": 1.0}))
    assert exp4["final_regret"].mean() < 0.45 * uniform["final_regret"].mean()


# --------------------------------------------------------------------------------------------
# The reproduction
# --------------------------------------------------------------------------------------------


def test_contextual_reproduction_is_registered_and_valid() -> None:
    from decisiongym.reproductions import get_reproduction, list_reproductions

    assert "contextual" in dict(list_reproductions())
    repro = get_reproduction("contextual")
    for quick in (True, False):
        exp = repro.experiment(quick)
        exp.validate()
        assert {e.label for e in exp.envs} == {"linear", "nonparametric", "digits"}
    assert repro.experiment(True).horizon < repro.experiment(False).horizon


@pytest.mark.slow
def test_reproduce_contextual_quick(tmp_path: Any) -> None:
    """About a minute on 2 cores: every check of the quick reproduction passes."""
    import json

    from decisiongym.cli import main

    out = tmp_path / "contextual"
    code = main(["reproduce", "contextual", "--quick", "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    failed = [c["name"] for c in summary["checks"] if not c["passed"]]
    assert code == 0 and not failed, failed
    assert summary["supervised_accuracy"] > 0.8
    for name in ("linear", "nonparametric", "digits"):
        assert (out / "plots" / f"contextual_{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_docstring_examples_run() -> None:
    import doctest

    import decisiongym.envs.contextual as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
