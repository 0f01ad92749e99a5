"""Linear methods and average reward (issue 24): the linear TD fixed point and LSTD, episodic
semi-gradient SARSA on MountainCar, differential semi-gradient SARSA on the access-control queue.

Each is checked against a hand computation (the random walk's aggregated fixed points, one-step
updates, a two-state chain's gain) or a published number (Sutton & Barto 2018, Figures 10.2 and
10.5), at a small size.
"""

from __future__ import annotations

import itertools
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import decisiongym  # noqa: F401  (registers the envs)
from decisiongym import agents, theory
from decisiongym.agents.linear import (
    BOOK_FIGURE_10_2,
    MOUNTAIN_CAR_HIGH,
    MOUNTAIN_CAR_LOW,
    TableFeatures,
    mountain_car_steps,
)
from decisiongym.envs.access_control import access_control_model, policy_summary
from decisiongym.harness import run
from decisiongym.theory.mdp import policy_matrix

VEC = {"vectorization_mode": "vector_entry_point"}

#: The 5-state walk (states 0..6, 0 and 6 terminal) aggregated as {A, B}, {C}, {D, E}; the
#: terminal rows never count (mu = 0 there, and TD bootstraps 0 from them).
WALK_GROUPS = np.eye(3)[[0, 0, 0, 1, 2, 2, 2]]
#: By hand (mu = (1, 2, 3, 2, 1) / 9 on A..E, true values 1/6 .. 5/6): the TD fixed point
#: solves, group by group, mu_A (w_L - w_L / 2) + mu_B (w_L - w_L / 2 - w_C / 2) = 0,
#: w_C = (w_L + w_R) / 2 and mu_D (w_R - w_C / 2 - w_R / 2) + mu_E (w_R - 1 / 2 - w_R / 2) = 0:
#: w = (1/3, 1/2, 2/3); the value-error minimum is the mu-weighted mean of the true values in
#: each group: ((1/9)(1/6) + (2/9)(2/6)) / (3/9) = 5/18, 1/2, 13/18.
WALK_TD = np.array([1 / 3, 1 / 2, 2 / 3])
WALK_MC = np.array([5 / 18, 1 / 2, 13 / 18])


def _walk(n_states: int = 5) -> tuple[Any, Any, Any, Any]:
    u: Any = gym.make("decisiongym/RandomWalk-v0", n_states=n_states).unwrapped
    return u.transitions, u.rewards, np.ones((n_states + 2, 1)), u.initial_state_distribution


def _drive(env: Any, agent: Any, steps: int, seed: int = 0, record: bool = False
           ) -> list[tuple[Any, ...]]:
    agent.reset(env.num_envs, seed=seed)
    obs, _ = env.reset(seed=seed)
    seen = []
    fresh = np.zeros(env.num_envs, dtype=bool)
    for _ in range(steps):
        a = agent.act(obs)
        nxt, r, te, tr, _ = env.step(a)
        agent.update(obs, a, r, nxt, te, tr)
        if record:
            seen.append((obs.copy(), r.copy(), nxt.copy(), te.copy(), fresh.copy()))
        fresh = te | tr
        obs = nxt
    return seen


# ----- theory: the linear TD fixed point ---------------------------------------------------------


def test_on_policy_distribution_of_the_walk_by_hand() -> None:
    p, _, pi, h = _walk()
    mu = theory.on_policy_distribution(p, pi, h)
    np.testing.assert_allclose(mu, np.array([0, 1, 2, 3, 2, 1, 0]) / 9, atol=1e-12)


def test_td_and_mc_fixed_points_of_the_aggregated_walk_by_hand() -> None:
    p, r, pi, h = _walk()
    kw = {"initial_state_distribution": h}
    w_td = theory.linear_td_fixed_point(p, r, pi, WALK_GROUPS, 1.0, **kw)
    w_mc = theory.linear_mc_fixed_point(p, r, pi, WALK_GROUPS, 1.0, **kw)
    np.testing.assert_allclose(w_td, WALK_TD, atol=1e-12)
    np.testing.assert_allclose(w_mc, WALK_MC, atol=1e-12)
    # The projected Bellman error is zero exactly at the TD fixed point; the value error is
    # smallest at the MC solution (Sutton & Barto 2018, sections 9.4 and 11.4).
    assert theory.projected_bellman_error(w_td, p, r, pi, WALK_GROUPS, 1.0, **kw) < 1e-25
    # At w_MC by hand: delta_A = -w_L / 2 = -5/36, delta_B = (w_C - w_L) / 2 = 1/9, delta_C = 0;
    # projected, the group means (mu-weighted) 1/36, 0, -1/36, so PBE = (2/3)(1/36)^2 = 1/1944.
    assert theory.projected_bellman_error(w_mc, p, r, pi, WALK_GROUPS, 1.0, **kw) == \
        pytest.approx(1 / 1944, rel=1e-12)
    ve_td = theory.mean_squared_value_error(w_td, p, r, pi, WALK_GROUPS, 1.0, **kw)
    ve_mc = theory.mean_squared_value_error(w_mc, p, r, pi, WALK_GROUPS, 1.0, **kw)
    assert ve_mc < ve_td
    # PBE by its definition ||Pi delta||^2_mu, with the projection written out.
    mu = theory.on_policy_distribution(p, pi, h)
    x = WALK_GROUPS
    boot = np.where((p.sum(axis=2) == 0).all(axis=1)[:, None], 0.0, x)
    delta = r[:, 0] + p[:, 0] @ boot @ w_mc - x @ w_mc
    proj = x @ np.linalg.solve(x.T @ (mu[:, None] * x), x.T @ (mu * delta))
    assert theory.projected_bellman_error(w_mc, p, r, pi, x, 1.0, **kw) == pytest.approx(
        float(mu @ proj ** 2), rel=1e-12)


@pytest.mark.parametrize("n_states", [5, 19])
def test_tabular_features_give_the_true_values_for_td_and_mc(n_states: int) -> None:
    p, r, pi, h = _walk(n_states)
    phi = np.eye(n_states + 2)
    v = theory.policy_evaluation(p, r, pi, 1.0)
    w_td = theory.linear_td_fixed_point(p, r, pi, phi, 1.0, initial_state_distribution=h)
    w_mc = theory.linear_mc_fixed_point(p, r, pi, phi, 1.0, initial_state_distribution=h)
    np.testing.assert_allclose(w_td, v, atol=1e-10)
    np.testing.assert_allclose(w_mc, v, atol=1e-10)
    # The 19-state walk's values lie on a line: the features (1, s) hold them exactly.
    if n_states == 19:
        line = np.stack([np.ones(21), np.arange(21)], axis=1)
        w = theory.linear_td_fixed_point(p, r, pi, line, 1.0, initial_state_distribution=h)
        np.testing.assert_allclose(w, [-1.0, 0.1], atol=1e-10)


def test_td_fixed_point_bound_on_a_continuing_discounted_chain() -> None:
    """VE(w_TD) <= VE(w_MC) / (1 - gamma) (Tsitsiklis & Van Roy 1997; Sutton & Barto 2018,
    eq. 9.14) under the stationary distribution, and d_pi' P_pi = d_pi'."""
    from decisiongym.envs.mdp import garnet

    p, r = garnet(12, 2, 3, seed=3)
    pi = np.full((12, 2), 0.5)
    phi = np.random.default_rng(0).standard_normal((12, 4))
    d = theory.stationary_distribution(p, pi)
    np.testing.assert_allclose(d @ np.einsum("sa,sat->st", pi, p), d, atol=1e-12)
    for gamma in (0.5, 0.9):
        w_td = theory.linear_td_fixed_point(p, r, pi, phi, gamma)
        w_mc = theory.linear_mc_fixed_point(p, r, pi, phi, gamma)
        assert theory.projected_bellman_error(w_td, p, r, pi, phi, gamma) < 1e-20
        ve_td = theory.mean_squared_value_error(w_td, p, r, pi, phi, gamma)
        ve_mc = theory.mean_squared_value_error(w_mc, p, r, pi, phi, gamma)
        assert ve_mc <= ve_td <= ve_mc / (1 - gamma)


def test_theory_refuses_bad_input() -> None:
    p, r, pi, h = _walk()
    with pytest.raises(ValueError, match="features"):
        theory.linear_td_fixed_point(p, r, pi, np.eye(3), 1.0, initial_state_distribution=h)
    with pytest.raises(ValueError, match="gamma"):
        theory.linear_td_fixed_point(p, r, pi, WALK_GROUPS, 1.5, initial_state_distribution=h)
    with pytest.raises(ValueError, match="ends episodes"):
        theory.stationary_distribution(p, pi)
    with pytest.raises(ValueError, match="sum to one"):
        theory.relative_value_iteration(p, r)


# ----- LSTD and linear TD(0) converge to it ------------------------------------------------------


def _walk_agent(name: str, n: int, **params: Any) -> tuple[Any, Any]:
    env = gym.make_vec("decisiongym/RandomWalk-v0", num_envs=n, **VEC)
    agent = agents.make(name, observation_space=env.single_observation_space,
                        action_space=env.single_action_space, **params)
    return env, agent


def test_lstd_converges_to_the_td_fixed_point_of_the_aggregated_walk() -> None:
    env, agent = _walk_agent("lstd", 6, features="matrix", feature_matrix=WALK_GROUPS)
    _drive(env, agent, 12_000)
    w = agent.weights
    assert np.abs(w - WALK_TD).max() < 0.04, w
    assert np.abs(w.mean(axis=0) - WALK_TD).max() < 0.015, w.mean(axis=0)
    # ... and not to the Monte Carlo solution (0.056 away in the outer groups).
    assert np.abs(w.mean(axis=0) - WALK_MC).max() > 0.04


def test_linear_td0_with_a_decaying_step_converges_to_the_td_fixed_point() -> None:
    env, agent = _walk_agent("linear-td0", 6, features="matrix", feature_matrix=WALK_GROUPS,
                             alpha=0.1, decay_steps=1000)
    _drive(env, agent, 12_000)
    w = agent.weights
    assert np.abs(w - WALK_TD).max() < 0.06, w
    mean = w.mean(axis=0)
    assert np.abs(mean - WALK_TD).max() < 0.03, mean
    assert np.abs(mean - WALK_TD).sum() < np.abs(mean - WALK_MC).sum()


def test_one_hot_lstd_is_the_certainty_equivalence_estimate_and_near_the_true_values() -> None:
    """With one-hot features LSTD solves the empirical model's Bellman equation exactly
    (batch TD(0): Sutton & Barto 2018, section 6.3): v = (N - N') ^-1 R summed over the same
    transitions; as the data grow it equals the tabular (and Monte Carlo) solution v_pi."""
    env, agent = _walk_agent("lstd", 3, features="onehot", ridge=1e-10)
    seen = _drive(env, agent, 6000, record=True)
    n_s = 7
    for i in range(3):
        counts = np.zeros((n_s, n_s))
        visits = np.zeros(n_s)
        reward = np.zeros(n_s)
        for obs, r, nxt, te, fresh in seen:
            if fresh[i]:
                continue  # a NEXT_STEP reset step: no transition
            visits[obs[i]] += 1
            reward[obs[i]] += r[i]
            if not te[i]:
                counts[obs[i], nxt[i]] += 1
        seen_states = visits > 0
        a = np.diag(visits) - counts
        v_ce = np.zeros(n_s)
        idx = np.flatnonzero(seen_states)
        v_ce[idx] = np.linalg.solve(a[np.ix_(idx, idx)], reward[idx])
        np.testing.assert_allclose(agent.weights[i], v_ce, atol=1e-6)
    np.testing.assert_allclose(agent.weights[:, 1:6].mean(axis=0), np.arange(1, 6) / 6,
                               atol=0.03)
    assert np.array_equal(agent.feature_matrix(), np.eye(7))


def test_lstd_runs_through_the_harness_and_is_deterministic() -> None:
    out = [run("decisiongym/RandomWalk-v0", "lstd", replicates=2, horizon=300, seed=4,
               agent_params={"features": "aggregate", "n_groups": 3}) for _ in range(2)]
    assert np.array_equal(out[0].arrays["episode_length"], out[1].arrays["episode_length"],
                          equal_nan=True)
    assert out[0].record["resolved_params"]["n_groups"] == 3


def test_table_features_and_their_validation() -> None:
    agg = TableFeatures.aggregate(7, 3)
    assert agg.matrix.argmax(axis=1).tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert agg.n_active == 1 and TableFeatures(np.ones((3, 2))).n_active == 0
    disc, box = spaces.Discrete(7), spaces.Box(-1.0, 1.0, (2,))
    act = spaces.Discrete(1)
    for name in ("lstd", "linear-td0", "semi-gradient-sarsa", "differential-sarsa"):
        with pytest.raises(ValueError, match=f"{name}.*Discrete"):
            agents.make(name, observation_space=box, action_space=act, features="onehot")
        with pytest.raises(ValueError, match=f"{name}: n_groups"):
            agents.make(name, observation_space=disc, action_space=act, features="onehot",
                        n_groups=2)
        with pytest.raises(ValueError, match=f"{name}: feature_matrix"):
            agents.make(name, observation_space=disc, action_space=act, features="matrix",
                        feature_matrix=np.ones((6, 2)))
        with pytest.raises(ValueError, match=f"{name}: features"):
            agents.make(name, observation_space=disc, action_space=act, features="poly")
    with pytest.raises(ValueError, match="n_groups"):
        agents.make("lstd", observation_space=disc, action_space=act, features="aggregate",
                    n_groups=9)
    with pytest.raises(ValueError, match="ridge"):
        agents.make("lstd", observation_space=disc, action_space=act, ridge=0.0)
    with pytest.raises(ValueError, match="initial_value"):
        agents.make("semi-gradient-sarsa", observation_space=disc, action_space=act,
                    features="matrix", feature_matrix=np.ones((7, 2)), initial_value=1.0)
    with pytest.raises(ValueError, match="beta"):
        agents.make("differential-sarsa", observation_space=disc, action_space=act, beta=0.0)


# ----- episodic semi-gradient SARSA --------------------------------------------------------------


def test_semi_gradient_sarsa_one_update_by_hand() -> None:
    """From q = 0, one transition with R = -1 moves w_A by alpha delta on each of the 8 active
    tiles: q_hat(S, A) = 8 (0.5 / 8)(-1) = -0.5; other actions and far states stay 0."""
    box = spaces.Box(np.array(MOUNTAIN_CAR_LOW, np.float32),
                     np.array(MOUNTAIN_CAR_HIGH, np.float32))
    agent: Any = agents.make("semi-gradient-sarsa", observation_space=box,
                             action_space=spaces.Discrete(3))
    assert agent.alpha == pytest.approx(0.5 / 8) and agent.epsilon == 0.0
    agent.reset(1, seed=0)
    s = np.array([[-0.5, 0.0]])
    s2 = np.array([[-0.49, 0.001]])
    agent.update(s, np.array([2]), np.array([-1.0]), s2, np.array([False]), np.array([False]))
    q = agent.action_values(np.array([[-0.5, 0.0], [0.4, -0.06]]))[0]
    np.testing.assert_allclose(q, [[0.0, 0.0, -0.5], [0.0, 0.0, 0.0]], atol=1e-12)
    # The next action was chosen greedily at S' (actions 0 and 1 tie at 0 > q(S', 2)) and is
    # played next.
    assert int(agent.act(s2)[0]) in (0, 1)
    # Terminated: the target is R alone, delta = -1 - (-0.5) = -0.5, and q_hat(S, A) moves by
    # 8 (0.5 / 8)(-0.5) = -0.25.
    agent.update(s, np.array([2]), np.array([-1.0]), s2, np.array([True]), np.array([False]))
    assert agent.action_values(s)[0, 0, 2] == pytest.approx(-0.75)


def test_semi_gradient_sarsa_on_mountain_car_beside_figure_10_2() -> None:
    """Example 10.1 at a small size (4 runs, 12 episodes): the first episode takes the
    hundreds-to-thousands of steps of Figure 10.2's alpha = 0.5 / 8 curve, and learning cuts the
    steps per episode by more than half within 12 episodes."""
    steps = mountain_car_steps(0.5 / 8, runs=4, episodes=12, seed=0)
    assert steps.shape == (12, 4) and np.isfinite(steps).all()
    mean = steps.mean(axis=1)
    low, high = BOOK_FIGURE_10_2[1]
    assert low <= mean[0] <= high, mean[0]
    assert mean[-3:].mean() < 0.5 * mean[0], mean


def test_the_mountain_car_study_is_what_the_harness_records() -> None:
    """``mountain_car_steps`` follows the harness's seeding contract: ``harness.run`` on
    Gymnasium's MountainCar-v0 (with the book's bounds and no 200-step limit) records the same
    episodes."""
    study = mountain_car_steps(0.5 / 8, runs=2, episodes=4, seed=7)
    res = run("MountainCar-v0", "semi-gradient-sarsa", replicates=2, horizon=3000, seed=7,
              env_kwargs={"max_episode_steps": 100_000},
              agent_params={"alpha": 0.5 / 8, "low": list(MOUNTAIN_CAR_LOW),
                            "high": list(MOUNTAIN_CAR_HIGH)})
    recorded = res.arrays["episode_length"][:4]
    done = np.isfinite(recorded)
    assert done[0].all() and np.array_equal(recorded[done], study[:recorded.shape[0]][done])


# ----- average reward: the access-control queue ------------------------------------------------


def test_access_control_model_by_hand() -> None:
    m = access_control_model(n_servers=2, priorities=(1, 4), free_probability=0.5)
    p, r = m.transitions, m.rewards
    assert p.shape == (6, 2, 6)
    np.testing.assert_allclose(p.sum(axis=2), 1.0)
    # State s = k * 3 + f. Priority 4 (k = 1) with 1 free: accept pays 4, leaves 0 free and
    # both busy servers free w.p. 1/2 each: f' = 0, 1, 2 w.p. 1/4, 1/2, 1/4, split over the
    # next priority.
    s = 1 * 3 + 1
    assert r[s].tolist() == [0.0, 4.0]
    np.testing.assert_allclose(p[s, 1], np.array([0.25, 0.5, 0.25] * 2) / 2)
    # Rejecting keeps the free server: one busy, f' = 1, 2 w.p. 1/2.
    np.testing.assert_allclose(p[s, 0], np.array([0, 0.5, 0.5] * 2) / 2)
    # No free server: accepting is rejecting.
    assert r[3].tolist() == [0.0, 0.0] and np.array_equal(p[3, 0], p[3, 1])


def test_average_reward_of_a_two_state_chain_by_hand() -> None:
    """P = [[1/2, 1/2], [1, 0]], r = (1, 0): d = (2/3, 1/3), rho = 2/3, h = (2/9, -4/9)."""
    p = np.array([[[0.5, 0.5]], [[1.0, 0.0]]])
    r = np.array([[1.0], [0.0]])
    rho, h = theory.average_reward_evaluation(p, r, np.ones((2, 1)))
    assert rho == pytest.approx(2 / 3)
    np.testing.assert_allclose(h, [2 / 9, -4 / 9], atol=1e-12)
    gain, h_star, policy = theory.relative_value_iteration(p, r)
    assert gain == pytest.approx(2 / 3) and policy.tolist() == [0, 0]
    np.testing.assert_allclose(h_star - h_star[0], h - h[0], atol=1e-10)


def test_relative_value_iteration_finds_the_best_of_all_policies() -> None:
    """On a small queue (2 servers, priorities 1 and 4: 64 deterministic policies) the gain of
    relative value iteration is the best gain of them all, and its h solves the average-reward
    Bellman optimality equation."""
    m = access_control_model(n_servers=2, priorities=(1, 4), free_probability=0.3)
    p, r = m.transitions, m.rewards
    gain, h, best = theory.relative_value_iteration(p, r)
    gains = [theory.average_reward_evaluation(p, r, policy_matrix(np.array(a), 2))[0]
             for a in itertools.product((0, 1), repeat=6)]
    assert gain == pytest.approx(max(gains), abs=1e-9)
    assert theory.average_reward_evaluation(p, r, policy_matrix(best, 2))[0] == pytest.approx(
        gain, abs=1e-9)
    q = theory.differential_action_values(p, r, h, gain)
    np.testing.assert_allclose(q.max(axis=1), h, atol=1e-9)


def test_the_optimal_access_control_policy_has_the_shape_of_figure_10_5() -> None:
    """The book's task (10 servers, p = 0.06): accept priorities 4 and 8 whenever a server is
    free, priority 2 only with several free, never priority 1 (the book's learned policy, Figure
    10.5, rejects it unless many servers are free, states the queue almost never reaches)."""
    env: Any = gym.make("decisiongym/AccessControl-v0").unwrapped
    gain, _, best = theory.relative_value_iteration(env.transitions, env.rewards)
    table = best.reshape(4, 11)  # rows: priorities 1, 2, 4, 8; columns: free servers 0..10
    assert (table[:, 0] == 0).all()  # no free server: reject
    assert (table[2:, 1:] == 1).all()
    assert (table[0] == 0).all()
    threshold = int(np.argmax(table[1]))
    assert 2 <= threshold <= 6 and (table[1, threshold:] == 1).all()
    assert 2.6 < gain < 2.9


def test_differential_sarsa_one_update_by_hand() -> None:
    """delta = R - R_bar + q(S', A') - q(S, A) = 8 from zero: R_bar = beta 8, q(S, A) = alpha 8."""
    agent: Any = agents.make("differential-sarsa", observation_space=spaces.Discrete(44),
                             action_space=spaces.Discrete(2), epsilon=0.0)
    agent.reset(2, seed=0)
    agent.update(np.array([43, 43]), np.array([1, 0]), np.array([8.0, 0.0]),
                 np.array([40, 43]), np.array([False, False]), np.array([False, False]))
    np.testing.assert_allclose(agent.average_reward, [0.08, 0.0])
    q = agent.action_values(np.array([43]))
    np.testing.assert_allclose(q[:, 0], [[0.0, 0.08], [0.0, 0.0]])
    assert agent.greedy_policy()[0, 43] == 1


def test_differential_sarsa_on_access_control_through_the_harness() -> None:
    """Example 10.2 at a small size (4 runs x 60,000 steps): the learned greedy policy earns
    more than 95% of the optimal average reward, accepts priority 8 wherever the queue spends
    its time with a server free, and R_bar tracks the reward the epsilon-greedy behaviour
    earns."""
    res = run("decisiongym/AccessControl-v0", "differential-sarsa", replicates=4,
              horizon=60_000, seed=0)
    a = res.arrays
    optimal = float(a["optimal_average_reward"][0])
    assert a["greedy_policy"].shape == (44, 4)
    assert (a["greedy_average_reward"] > 0.95 * optimal).all(), a["greedy_average_reward"]
    assert (a["greedy_optimal_share"] > 0.8).all(), a["greedy_optimal_share"]
    policies = a["greedy_policy"].T.reshape(4, 4, 11)
    assert (policies[:, 3, 1:5] == 1).all()  # priority 8, 1-4 free servers
    # R_bar moves by beta delta every step: a noisy estimate (its spread over runs is about
    # 0.2 at beta = 0.01), so its mean over the runs is checked.
    assert abs(np.mean(a["learned_average_reward"] - a["behaviour_average_reward"])) < 0.3
    assert np.abs(a["late_mean_reward"] - a["behaviour_average_reward"]).max() < 0.1
    assert res.record["optimal_average_reward"] == pytest.approx(optimal)


def test_access_control_observations_and_policy_summary() -> None:
    single = gym.make("decisiongym/AccessControl-v0", observation="pair")
    obs, info = single.reset(seed=1)
    assert single.observation_space == spaces.MultiDiscrete([11, 4])
    free, k = single.unwrapped.decode(info["state"])  # type: ignore[attr-defined]
    assert obs.tolist() == [int(free), int(k)] and int(free) == 10
    vec = gym.make_vec("decisiongym/AccessControl-v0", num_envs=3, observation="pair", **VEC)
    vobs, _ = vec.reset(seed=1)
    assert vobs[0].tolist() == obs.tolist()
    env: Any = single.unwrapped
    accept_all = np.ones((1, 44), dtype=np.int64)
    out = policy_summary(env.transitions, env.rewards, accept_all, 0.1)
    assert out["greedy_average_reward"][0] < out["optimal_average_reward"]
    assert out["behaviour_average_reward"][0] < out["greedy_average_reward"][0]
    assert 0.0 < out["greedy_optimal_share"][0] < 1.0


def test_docstring_examples_of_the_theory_module() -> None:
    import doctest

    import decisiongym.theory.linear as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
