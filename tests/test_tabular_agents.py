"""Tabular prediction and control agents and the planners (``decisiongym.agents.tabular`` and
``decisiongym.agents.planning``)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym import agents
from decisiongym.agents.tabular import online_lambda_return
from decisiongym.theory import value_iteration

WALK = "decisiongym/RandomWalk-v0"
MAZE = "decisiongym/Maze-v0"
TRUE_WALK = np.arange(1, 6) / 6  # S&B Example 6.2


def run(env_id: str, name: str, steps: int, num_envs: int = 8, seed: int = 0,
        env_kwargs: dict[str, Any] | None = None, **params: Any) -> tuple[Any, Any]:
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                       **(env_kwargs or {}))
    agent = agents.make(name, observation_space=env.single_observation_space,
                        action_space=env.single_action_space, **params)
    agent.reset(num_envs, seed=seed)
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        actions = agent.act(obs)
        nxt, r, term, trunc, _ = env.step(actions)
        agent.update(obs, actions, r, nxt, term, trunc)
        obs = nxt
    return env, agent


def greedy_path_length(env: Any, policy: np.ndarray, limit: int = 200) -> int:
    """Steps the deterministic maze takes under ``policy`` from the start (limit if it loops)."""
    model = env.model
    nxt = model.next_flat.reshape(model.n_states, model.n_actions)
    s, k = int(np.argmax(model.initial)), 0
    while not model.terminal[s] and k < limit:
        s, k = int(nxt[s, policy[s]]), k + 1
    return k


@pytest.mark.parametrize(("name", "params"), [
    ("td0", {"alpha": 0.05}),
    ("mc-prediction", {}),
    ("mc-prediction", {"first_visit": False}),
    ("mc-prediction", {"alpha": 0.02}),
    ("n-step-td", {"n": 3, "alpha": 0.05}),
    ("td-lambda", {"lam": 0.8, "alpha": 0.05}),
    ("td-lambda", {"lam": 0.5, "alpha": 0.05, "trace": "replacing"}),
    ("td-lambda-forward", {"lam": 0.8, "alpha": 0.05}),
    ("true-online-td-lambda", {"lam": 0.8, "alpha": 0.05}),
])
def test_prediction_converges_to_v_pi_on_the_random_walk(name: str, params: dict[str, Any]
                                                         ) -> None:
    _, agent = run(WALK, name, 4000, **params)
    values = agent.values[:, 1:6].mean(axis=0)  # averaged over 8 replicates
    np.testing.assert_allclose(values, TRUE_WALK, atol=0.08)
    assert np.all(agent.values[:, [0, 6]] == 0.0)  # terminal states are never updated


def _episodes(n_episodes: int, seed: int) -> list[tuple[list[int], list[float]]]:
    """Episodes of the 19-state walk (rewards -1 / +1), drawn from the env."""
    env = gym.make(WALK, n_states=19)
    out = []
    obs, _ = env.reset(seed=seed)
    for _ in range(n_episodes):
        states, rewards = [int(obs)], []
        done = False
        while not done:
            obs, r, term, trunc, _ = env.step(0)
            states.append(int(obs))
            rewards.append(float(r))
            done = term or trunc
        out.append((states, rewards))
        obs, _ = env.reset()
    return out


def _feed(agent: Any, episodes: list[tuple[list[int], list[float]]]) -> None:
    """Feed whole episodes as a NEXT_STEP vector env of one would, reset steps included."""
    for k, (states, rewards) in enumerate(episodes):
        if k:  # the reset step after the previous episode: masked by the agent
            agent.update(np.array([episodes[k - 1][0][-1]]), np.array([0]), np.array([0.0]),
                         np.array([states[0]]), np.array([False]), np.array([False]))
        for t, r in enumerate(rewards):
            last = t == len(rewards) - 1
            agent.update(np.array([states[t]]), np.array([0]), np.array([r]),
                         np.array([states[t + 1]]), np.array([last]), np.array([False]))


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.8, 1.0])
def test_offline_backward_view_equals_offline_forward_view(lam: float) -> None:
    space_s, space_a = gym.spaces.Discrete(21), gym.spaces.Discrete(1)
    episodes = _episodes(5, seed=lam.__hash__() % 100)
    backward = agents.make("td-lambda", observation_space=space_s, action_space=space_a,
                           lam=lam, alpha=0.1, offline=True, initial_value=0.3)
    forward = agents.make("td-lambda-forward", observation_space=space_s,
                          action_space=space_a, lam=lam, alpha=0.1, initial_value=0.3)
    for agent in (backward, forward):
        agent.reset(1, seed=0)
        _feed(agent, episodes)
    np.testing.assert_allclose(backward.values, forward.values, atol=1e-12, rtol=0)


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.9, 1.0])
def test_true_online_td_lambda_equals_online_forward_view(lam: float) -> None:
    space_s, space_a = gym.spaces.Discrete(21), gym.spaces.Discrete(1)
    (states, rewards), = _episodes(1, seed=7)
    states, rewards = states[:30], rewards[:29]  # keep the O(T^3) reference small
    terminated = len(rewards) == len(states) - 1 and states[-1] in (0, 20)
    v0 = np.linspace(-0.5, 0.5, 21)
    v0[[0, 20]] = 0.0
    reference = online_lambda_return(states, rewards, terminated, v0, 0.2, 0.95, lam)
    agent = agents.make("true-online-td-lambda", observation_space=space_s,
                        action_space=space_a, lam=lam, alpha=0.2, gamma=0.95)
    agent.reset(1, seed=0)
    agent.V[0] = v0
    for t, r in enumerate(rewards):
        agent.update(np.array([states[t]]), np.array([0]), np.array([r]),
                     np.array([states[t + 1]]), np.array([terminated and t == len(rewards) - 1]),
                     np.array([False]))
        np.testing.assert_allclose(agent.V[0], reference[t + 1], atol=1e-12, rtol=0)


def test_td_lambda_one_offline_equals_every_visit_mc() -> None:
    space_s, space_a = gym.spaces.Discrete(21), gym.spaces.Discrete(1)
    episodes = _episodes(1, seed=3)
    td = agents.make("td-lambda", observation_space=space_s, action_space=space_a, lam=1.0,
                     alpha=0.1, offline=True)
    fwd = agents.make("td-lambda-forward", observation_space=space_s, action_space=space_a,
                      lam=1.0, alpha=0.1)
    for a in (td, fwd):
        a.reset(1, seed=0)
        _feed(a, episodes)
    states, rewards = episodes[0]
    returns = np.cumsum(rewards[::-1])[::-1]
    expected = np.zeros(21)
    np.add.at(expected, states[:-1], 0.1 * returns)
    np.testing.assert_allclose(td.values[0], expected, atol=1e-12)


def _n_step_reference(episodes: list[tuple[list[int], list[float]]], n: int, alpha: float,
                      gamma: float, n_states: int) -> np.ndarray:
    """S&B 2018, sec. 7.1 pseudocode, one episode after another."""
    v = np.zeros(n_states)
    for states, rewards in episodes:
        horizon, t = len(rewards), 0
        while True:
            tau = t - n + 1
            if tau >= 0:
                g = sum(gamma ** (i - tau) * rewards[i] for i in range(tau, min(tau + n, horizon)))
                if tau + n < horizon:
                    g += gamma ** n * v[states[tau + n]]
                v[states[tau]] += alpha * (g - v[states[tau]])
            if tau == horizon - 1:
                return_now = True
                break
            t += 1
        assert return_now
    return v


@pytest.mark.parametrize("n", [1, 2, 3, 8])
def test_n_step_td_matches_the_books_pseudocode(n: int) -> None:
    episodes = _episodes(10, seed=n)
    agent = agents.make("n-step-td", observation_space=gym.spaces.Discrete(21),
                        action_space=gym.spaces.Discrete(1), n=n, alpha=0.1, gamma=0.9)
    agent.reset(1, seed=0)
    _feed(agent, episodes)
    np.testing.assert_allclose(agent.values[0], _n_step_reference(episodes, n, 0.1, 0.9, 21),
                               atol=1e-12)


def test_n_step_td_with_n_one_is_td0() -> None:
    _, a = run(WALK, "n-step-td", 500, n=4, seed=2, alpha=0.1)
    _, b = run(WALK, "n-step-td", 500, n=4, seed=2, alpha=0.1)
    np.testing.assert_array_equal(a.values, b.values)  # same seed, same values
    _, one = run(WALK, "n-step-td", 500, seed=5, alpha=0.1, n=1)
    _, td0 = run(WALK, "td0", 500, seed=5, alpha=0.1)
    np.testing.assert_allclose(one.values, td0.values, atol=1e-12)


@pytest.mark.parametrize(("name", "params", "steps"), [
    ("q-learning", {"alpha": 0.5}, 3000),
    ("sarsa", {"alpha": 0.5}, 3000),
    ("expected-sarsa", {"alpha": 0.5}, 3000),
    ("double-q-learning", {"alpha": 0.5}, 3000),
    ("sarsa-lambda", {"alpha": 0.2, "lam": 0.5}, 4000),
    ("glie-mc-control", {"c": 10.0}, 6000),
    ("dyna-q", {"gamma": 1.0, "n_planning": 10}, 800),
    ("dyna-q-plus", {"gamma": 1.0, "n_planning": 10}, 800),
])
def test_control_reaches_the_optimal_greedy_policy(name: str, params: dict[str, Any],
                                                   steps: int) -> None:
    env, agent = run(MAZE, name, steps, env_kwargs={"layout": "small"}, **params)
    v, _ = value_iteration(env.transitions, env.rewards, 1.0)
    optimum = -v[int(np.argmax(env.initial_state_distribution))]
    lengths = [greedy_path_length(env, p) for p in agent.greedy_policy()]
    assert np.mean(np.array(lengths) == optimum) >= 0.75, lengths


@pytest.mark.slow
@pytest.mark.parametrize("name", ["q-learning", "sarsa", "expected-sarsa", "double-q-learning"])
def test_control_on_the_notes_maze(name: str) -> None:
    env, agent = run(MAZE, name, 30000, env_kwargs={"layout": "seed"}, alpha=0.5)
    lengths = [greedy_path_length(env, p) for p in agent.greedy_policy()]
    assert sum(length == 17 for length in lengths) >= 7, lengths


def test_sarsa_plays_the_action_it_learned_from() -> None:
    env = gym.make_vec(MAZE, num_envs=4, vectorization_mode="vector_entry_point",
                       layout="small")
    agent = agents.make("sarsa", observation_space=env.single_observation_space,
                        action_space=env.single_action_space, epsilon=0.5)
    agent.reset(4, seed=0)
    obs, _ = env.reset(seed=0)
    for _ in range(50):
        actions = agent.act(obs)
        nxt, r, term, trunc, _ = env.step(actions)
        agent.update(obs, actions, r, nxt, term, trunc)
        planned = agent._next_action.copy()
        pending = agent._has_next.copy()
        following = agent.act(nxt)
        np.testing.assert_array_equal(following[pending], planned[pending])
        obs = nxt


@pytest.mark.parametrize(("layout", "n_simulations"), [
    ("small", 1000),
    (["G...S......"], 1000),  # W, towards the nearer end
])
def test_mcts_picks_the_optimal_first_action(layout: Any, n_simulations: int) -> None:
    env = gym.make(MAZE, layout=layout).unwrapped
    v, _ = value_iteration(env.transitions, env.rewards, 1.0)
    q = env.rewards + env.transitions @ v
    start = int(np.argmax(env.initial_state_distribution))
    optimal = set(np.flatnonzero(q[start] >= q[start].max() - 1e-9).tolist())
    # c about the range of returns (rewards -1 over a horizon of 12), as UCT's scale asks.
    agent = agents.make("mcts", observation_space=env.observation_space,
                        action_space=env.action_space, n_simulations=n_simulations,
                        horizon=12, c=20.0, transitions=env.transitions, rewards=env.rewards)
    agent.reset(4, seed=1)
    actions = agent.act(np.full(4, start))
    assert set(actions.tolist()) <= optimal


def test_mcts_with_a_learned_model_solves_a_small_maze() -> None:
    env, agent = run(MAZE, "mcts", 40, num_envs=2, env_kwargs={"layout": "small"},
                     n_simulations=20, horizon=8, c=10.0)
    obs = np.full(2, int(np.argmax(env.initial_state_distribution)))
    assert agent.search(obs).shape == (2, 4)


@pytest.mark.parametrize("name", ["q-learning", "sarsa", "td0", "dyna-q", "mc-prediction"])
def test_reset_step_is_not_learned(name: str) -> None:
    # Terminal state values never change: no update treats the NEXT_STEP reset as a transition.
    _, agent = run(MAZE, name, 400, env_kwargs={"layout": "small"})
    terminal = 9  # the goal of "small" is the last free cell
    table = agent.values if hasattr(agent, "values") else agent.action_values()
    assert np.all(table[:, terminal] == 0.0)


@pytest.mark.parametrize(("name", "params", "match"), [
    ("q-learning", {"alpha": 0.0}, "alpha"),
    ("sarsa", {"epsilon": 1.5}, "epsilon"),
    ("td-lambda", {"lam": 2.0}, "lam"),
    ("td-lambda", {"trace": "dutch"}, "trace"),
    ("n-step-td", {"n": 0}, "n"),
    ("dyna-q", {"n_planning": -1}, "n_planning"),
    ("mcts", {"transitions": np.zeros((10, 4, 10))}, "transitions"),
    ("td0", {"policy": np.ones((3, 4))}, "policy"),
])
def test_bad_parameters(name: str, params: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        agents.make(name, observation_space=gym.spaces.Discrete(10),
                    action_space=gym.spaces.Discrete(4), **params)


def test_needs_discrete_states() -> None:
    with pytest.raises(ValueError, match="Discrete"):
        agents.make("q-learning", observation_space=gym.spaces.Box(0, 1, (2,)),
                    action_space=gym.spaces.Discrete(4))
