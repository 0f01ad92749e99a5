"""Dynamic programming (``decisiongym.theory.mdp``): value iteration, policy iteration,
asynchronous value iteration and the closed-form policy evaluation agree."""

from __future__ import annotations

import inspect

import gymnasium as gym
import numpy as np
import pytest

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym import theory
from decisiongym.envs.mdp import garnet
from decisiongym.theory.mdp import policy_matrix, q_from_v


def test_public_signatures() -> None:
    assert list(inspect.signature(theory.value_iteration).parameters) == [
        "transitions", "rewards", "gamma"]
    assert list(inspect.signature(theory.policy_evaluation).parameters) == [
        "transitions", "rewards", "policy", "gamma"]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
def test_vi_pi_closed_form_agree_on_random_mdps(seed: int, gamma: float) -> None:
    rng = np.random.default_rng(seed)
    n_s, n_a = int(rng.integers(2, 15)), int(rng.integers(1, 5))
    p, r = garnet(n_s, n_a, int(rng.integers(1, n_s + 1)), seed)
    r = r * 10 - 5
    v_vi, pi_vi = theory.value_iteration(p, r, gamma)
    v_pi, pi_pi = theory.policy_iteration(p, r, gamma)
    v_async, _ = theory.async_value_iteration(p, r, gamma)
    v_closed = theory.policy_evaluation(p, r, policy_matrix(pi_vi, n_a), gamma)
    np.testing.assert_allclose(v_vi, v_pi, atol=1e-8, rtol=0)
    np.testing.assert_allclose(v_vi, v_closed, atol=1e-8, rtol=0)
    np.testing.assert_allclose(v_async, v_closed, atol=1e-8, rtol=0)
    assert theory.bellman_optimality_residual(p, r, v_vi, gamma) < 1e-9
    assert theory.bellman_optimality_residual(p, r, v_pi, gamma) < 1e-9
    # The two policies may differ only among tied actions.
    q = q_from_v(p, r, v_vi, gamma)
    idx = np.arange(n_s)
    np.testing.assert_allclose(q[idx, pi_vi], q[idx, pi_pi], atol=1e-8)


@pytest.mark.parametrize("seed", range(4))
def test_iterative_policy_evaluation_matches_closed_form(seed: int) -> None:
    p, r = garnet(12, 3, 4, seed)
    pi = np.random.default_rng(seed).dirichlet(np.ones(3), size=12)
    np.testing.assert_allclose(theory.iterative_policy_evaluation(p, r, pi, 0.9),
                               theory.policy_evaluation(p, r, pi, 0.9), atol=1e-9)


@pytest.mark.parametrize("layout", ["seed", "dyna", "windy", "cliff", "small"])
def test_episodic_mazes_gamma_one(layout: str) -> None:
    env = gym.make("decisiongym/Maze-v0", layout=layout).unwrapped
    p, r, g = env.transitions, env.rewards, env.gamma
    v, pi = theory.value_iteration(p, r, g)
    v2, _ = theory.policy_iteration(p, r, g)
    v3, _ = theory.async_value_iteration(p, r, g)
    v4 = theory.policy_evaluation(p, r, policy_matrix(pi, 4), g)
    for other in (v2, v3, v4):
        np.testing.assert_allclose(v, other, atol=1e-8, rtol=0)
    assert theory.bellman_optimality_residual(p, r, v, g) < 1e-9


def test_slippery_maze() -> None:
    env = gym.make("decisiongym/Maze-v0", layout="seed", slip=0.2).unwrapped
    v, _pi = theory.value_iteration(env.transitions, env.rewards, 1.0)
    v2, _pi2 = theory.policy_iteration(env.transitions, env.rewards, 1.0)
    np.testing.assert_allclose(v, v2, atol=1e-8, rtol=0)


def test_known_two_state_answer() -> None:
    # State 0: action 0 pays 1 and stays; action 1 pays 0 and moves to 1, which pays 2 forever.
    p = np.zeros((2, 2, 2))
    p[0, 0, 0] = p[0, 1, 1] = p[1, :, 1] = 1.0
    r = np.array([[1.0, 0.0], [2.0, 2.0]])
    v, pi = theory.value_iteration(p, r, 0.9)
    np.testing.assert_allclose(v, [0.9 * 20, 20], atol=1e-9)
    assert pi[0] == 1


def test_improper_policy_rejected() -> None:
    p = np.zeros((1, 1, 1))
    p[0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="singular"):
        theory.policy_evaluation(p, np.zeros((1, 1)), np.ones((1, 1)), 1.0)


@pytest.mark.parametrize(("args", "match"), [
    ((np.ones((2, 2)), np.zeros((2, 2)), 0.9), "shape"),
    ((np.full((2, 1, 2), 0.5), np.zeros((3, 1)), 0.9), "rewards"),
    ((np.full((2, 1, 2), 0.9), np.zeros((2, 1)), 0.9), "sum to at most 1"),
    ((np.full((2, 1, 2), 0.5), np.zeros((2, 1)), 1.5), "gamma"),
])
def test_bad_models(args: tuple[object, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        theory.value_iteration(*args)  # type: ignore[arg-type]
