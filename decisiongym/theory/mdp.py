"""Dynamic programming for finite MDPs (Dobriban, *Notes for Stat 991: Topics in Deep Learning*,
2019, sections 5.3.5-5.3.6; Sutton & Barto 2018, ch. 4).

Model convention. ``transitions[s, a, s']`` is P(s' | s, a) and ``rewards[s, a]`` the expected
reward of taking ``a`` in ``s``. A row ``transitions[s, a]`` may sum to *less* than one: the
missing mass is the probability that the episode ends after that step. Terminal states therefore
have all-zero rows (and zero rewards), and every formula below needs no terminal mask. With this
convention ``I - gamma P_pi`` is invertible for gamma = 1 whenever the policy ends episodes with
probability one (a proper policy).

Policies passed to :func:`policy_evaluation` are stochastic matrices ``policy[s, a] = pi(a|s)``;
:func:`value_iteration` and :func:`policy_iteration` return deterministic policies as an integer
action per state (use :func:`policy_matrix` to turn one into a matrix).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from decisiongym.arrays import FloatArray, IntArray

__all__ = [
    "async_value_iteration",
    "bellman_optimality_residual",
    "greedy_policy",
    "iterative_policy_evaluation",
    "optimal_action_mask",
    "policy_evaluation",
    "policy_iteration",
    "policy_matrix",
    "q_from_v",
    "value_iteration",
]


def _check_model(transitions: ArrayLike, rewards: ArrayLike, gamma: Any
                 ) -> tuple[FloatArray, FloatArray, float]:
    p = np.asarray(transitions, dtype=np.float64)
    r = np.asarray(rewards, dtype=np.float64)
    if p.ndim != 3 or p.shape[0] != p.shape[2]:
        raise ValueError(f"transitions must have shape (S, A, S), got {p.shape}")
    if r.shape != p.shape[:2]:
        raise ValueError(f"rewards must have shape {p.shape[:2]} (S, A), got {r.shape}")
    if not (np.isfinite(p).all() and np.isfinite(r).all()):
        raise ValueError("transitions and rewards must be finite")
    if (p < 0).any() or (p.sum(axis=2) > 1 + 1e-9).any():
        raise ValueError("transitions[s, a] must be non-negative and sum to at most 1")
    g = float(gamma)
    if not 0.0 <= g <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    return p, r, g


def q_from_v(transitions: ArrayLike, rewards: ArrayLike, v: ArrayLike, gamma: float
             ) -> FloatArray:
    """q(s, a) = R(s, a) + gamma sum_s' P(s'|s, a) v(s') (Dobriban (2019), section 5.3.5, the Q-V
    equation)."""
    p = np.asarray(transitions, dtype=np.float64)
    return np.asarray(rewards, dtype=np.float64) + gamma * (p @ np.asarray(v, dtype=np.float64))


def greedy_policy(q: ArrayLike) -> IntArray:
    """argmax_a q(s, a), the lowest action index among ties."""
    return np.asarray(np.argmax(np.asarray(q), axis=1), dtype=np.int64)


def policy_matrix(actions: ArrayLike, n_actions: int) -> FloatArray:
    """The (S, A) matrix of a deterministic policy given as one action per state."""
    a = np.asarray(actions, dtype=np.int64)
    pi = np.zeros((a.size, n_actions))
    pi[np.arange(a.size), a] = 1.0
    return pi


def optimal_action_mask(q: ArrayLike, atol: float = 1e-6) -> NDArray[np.bool_]:
    """(S, A) mask of the actions within ``atol`` of the best in each state."""
    qa = np.asarray(q, dtype=np.float64)
    return np.asarray(qa >= qa.max(axis=1, keepdims=True) - atol)


def policy_evaluation(transitions: ArrayLike, rewards: ArrayLike, policy: ArrayLike,
                      gamma: float) -> FloatArray:
    """v_pi in closed form: v = (I - gamma P_pi)^-1 R_pi (Dobriban (2019), section 5.3.5, item 4;
    S&B eq. 4.4).

    ``policy`` has shape (S, A), rows summing to one. Raises ``ValueError`` when the system is
    singular (gamma = 1 and a policy that can run forever).
    """
    p, r, g = _check_model(transitions, rewards, gamma)
    pi = np.asarray(policy, dtype=np.float64)
    if pi.shape != r.shape:
        raise ValueError(f"policy must have shape {r.shape} (S, A), got {pi.shape}")
    if (pi < 0).any() or not np.allclose(pi.sum(axis=1), 1.0):
        raise ValueError("policy rows must be probability distributions over actions")
    p_pi = np.einsum("sa,sat->st", pi, p)
    r_pi = (pi * r).sum(axis=1)
    a = np.eye(p.shape[0]) - g * p_pi
    try:
        v = np.linalg.solve(a, r_pi)
    except np.linalg.LinAlgError:
        raise ValueError("I - gamma P_pi is singular: with gamma = 1 the policy must end every "
                         "episode with probability one") from None
    if not np.isfinite(v).all() or np.linalg.cond(a) > 1e12:
        raise ValueError("I - gamma P_pi is singular: with gamma = 1 the policy must end every "
                         "episode with probability one")
    return np.asarray(v, dtype=np.float64)


def iterative_policy_evaluation(transitions: ArrayLike, rewards: ArrayLike, policy: ArrayLike,
                                gamma: float, *, tol: float = 1e-12,
                                max_iterations: int = 1_000_000) -> FloatArray:
    """v^{k+1} = R_pi + gamma P_pi v^k until the largest change is below ``tol`` (Dobriban (2019),
    section 5.3.6)."""
    p, r, g = _check_model(transitions, rewards, gamma)
    pi = np.asarray(policy, dtype=np.float64)
    p_pi = np.einsum("sa,sat->st", pi, p)
    r_pi = (pi * r).sum(axis=1)
    v = np.zeros(p.shape[0])
    for _ in range(max_iterations):
        new = r_pi + g * (p_pi @ v)
        if np.max(np.abs(new - v)) < tol:
            return new
        v = new
    raise RuntimeError(f"iterative policy evaluation did not converge in {max_iterations} sweeps")


def value_iteration(transitions: ArrayLike, rewards: ArrayLike, gamma: float
                    ) -> tuple[FloatArray, IntArray]:
    """v_* and a greedy optimal policy by synchronous value iteration (Dobriban (2019), section
    5.3.6, item 5).

    v^{k+1}(s) = max_a [R(s, a) + gamma sum_s' P(s'|s, a) v^k(s')], iterated until the largest
    change is below 1e-13 (times the reward scale), then the greedy policy's actions (lowest index
    among ties within 1e-9). Returns ``(v, policy)`` with ``policy`` one action per state.
    """
    p, r, g = _check_model(transitions, rewards, gamma)
    scale = max(1.0, float(np.abs(r).max(initial=0.0)))
    v = np.zeros(p.shape[0])
    for _ in range(10_000_000):
        new = (r + g * (p @ v)).max(axis=1)
        done = np.max(np.abs(new - v), initial=0.0) < 1e-13 * scale
        v = new
        if done:
            break
    else:  # pragma: no cover - only for improper models
        raise RuntimeError("value iteration did not converge")
    q = r + g * (p @ v)
    return v, _greedy_with_tolerance(q)


def _greedy_with_tolerance(q: FloatArray) -> IntArray:
    best = q >= q.max(axis=1, keepdims=True) - 1e-9 * max(1.0, float(np.abs(q).max(initial=0)))
    return np.asarray(best.argmax(axis=1), dtype=np.int64)


def async_value_iteration(transitions: ArrayLike, rewards: ArrayLike, gamma: float, *,
                          tol: float = 1e-13, max_sweeps: int = 10_000_000
                          ) -> tuple[FloatArray, IntArray]:
    """In-place (Gauss-Seidel) value iteration: each state's backup uses the values already
    updated in the same sweep (S&B 2018, sec. 4.5). Same fixed point as :func:`value_iteration`."""
    p, r, g = _check_model(transitions, rewards, gamma)
    scale = max(1.0, float(np.abs(r).max(initial=0.0)))
    v = np.zeros(p.shape[0])
    for _ in range(max_sweeps):
        delta = 0.0
        for s in range(p.shape[0]):
            new = float((r[s] + g * (p[s] @ v)).max())
            delta = max(delta, abs(new - v[s]))
            v[s] = new
        if delta < tol * scale:
            break
    else:  # pragma: no cover
        raise RuntimeError("asynchronous value iteration did not converge")
    return v, _greedy_with_tolerance(r + g * (p @ v))


def policy_iteration(transitions: ArrayLike, rewards: ArrayLike, gamma: float,
                     initial_policy: ArrayLike | None = None) -> tuple[FloatArray, IntArray]:
    """Policy iteration: exact evaluation, then greedy improvement, until the policy is stable
    (Dobriban (2019), section 5.3.6, items 3-4; S&B 2018, sec. 4.3).

    With gamma = 1 the initial policy must be proper (end episodes); by default it is the greedy
    policy of value iteration's first sweep from the immediate rewards' best response to a
    uniform random policy, which is proper whenever the uniform policy is.
    """
    p, r, g = _check_model(transitions, rewards, gamma)
    n_s, n_a = r.shape
    if initial_policy is None:
        uniform = np.full((n_s, n_a), 1.0 / n_a)
        v = policy_evaluation(p, r, uniform, g)
        actions = _greedy_with_tolerance(r + g * (p @ v))
    else:
        actions = np.asarray(initial_policy, dtype=np.int64)
    for _ in range(10_000):
        v = policy_evaluation(p, r, policy_matrix(actions, n_a), g)
        q = r + g * (p @ v)
        # Keep the current action unless another is strictly better (no cycling among ties).
        current = q[np.arange(n_s), actions]
        better = q.max(axis=1) > current + 1e-10 * max(1.0, float(np.abs(q).max(initial=0)))
        if not better.any():
            return v, actions
        actions = np.where(better, q.argmax(axis=1), actions).astype(np.int64)
    raise RuntimeError("policy iteration did not converge")  # pragma: no cover


def bellman_optimality_residual(transitions: ArrayLike, rewards: ArrayLike, v: ArrayLike,
                                gamma: float) -> float:
    """max_s |max_a [R(s, a) + gamma P v](s) - v(s)|: zero exactly at v_* (Dobriban (2019), section
    5.3.5, item 8)."""
    q = q_from_v(transitions, rewards, v, gamma)
    return float(np.max(np.abs(q.max(axis=1) - np.asarray(v)), initial=0.0))
