"""Linear value-function approximation and the average-reward criterion for finite MDPs, in
closed form (Dobriban (2019), sections 5.3.9-5.3.10; Sutton & Barto 2018, sections 9.2, 9.4, 9.8,
10.3, 11.4).

Model convention as in :mod:`decisiongym.theory.mdp`: ``transitions[s, a, s']`` is P(s' | s, a),
rows of terminal states are zero (a row may sum to less than one: the episode ends), and
``rewards[s, a]`` is the expected reward. ``policy[s, a] = pi(a | s)``. Features are a matrix
``features[s] = x(s)``, shape (S, d), so that v_hat = features @ w.

Linear prediction.

- :func:`on_policy_distribution`: mu, the fraction of time spent in each state under pi: the
  normalised expected visits eta = h' (I - P_pi)^-1 from the start distribution h of an episodic
  task (Sutton & Barto 2018, section 9.2, eqs. 9.2-9.3), or the stationary distribution d_pi of
  a continuing one (Dobriban (2019), section 5.3.10).
- :func:`linear_td_fixed_point`: the TD fixed point w_TD of Tsitsiklis & Van Roy (1997),
  solving Phi' D (Phi - gamma P_pi Phi) w = Phi' D r_pi with D = diag(mu) (Sutton & Barto 2018,
  section 9.4, eq. 9.12). Linear TD(0) converges to it (Tsitsiklis & Van Roy 1997), and LSTD
  estimates it directly (Bradtke & Barto 1996; Sutton & Barto 2018, section 9.8).
- :func:`linear_mc_fixed_point`: the minimum of the mean squared value error
  VE(w) = ||Phi w - v_pi||^2_mu (Sutton & Barto 2018, eq. 9.1), where gradient Monte Carlo
  converges (Dobriban (2019), section 5.3.9, item 1).
- :func:`projected_bellman_error`: PBE(w) = ||Pi delta_w||^2_mu, Pi the mu-weighted projection
  onto the span of the features and delta_w = r_pi + gamma P_pi Phi w - Phi w the Bellman error
  vector (Sutton & Barto 2018, section 11.4). It is zero exactly at w_TD.

Average reward (Dobriban (2019), section 5.3.10, J_avR = sum_s d_pi(s) sum_a pi(a|s) R(s, a);
Sutton & Barto 2018, section 10.3). For a unichain model (rows summing to one):

- :func:`average_reward_evaluation`: the gain rho_pi = d_pi' r_pi and the differential (bias)
  values h_pi with h = r_pi - rho + P_pi h and d_pi' h = 0.
- :func:`relative_value_iteration`: the optimal gain rho_*, differential values h_* and a
  gain-optimal policy (White 1963; Puterman 1994, section 8.5.5).
- :func:`differential_action_values`: q(s, a) = R(s, a) - rho + sum_s' P(s'|s, a) h(s').
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from decisiongym.arrays import FloatArray, IntArray
from decisiongym.theory.mdp import policy_evaluation

__all__ = [
    "average_reward_evaluation",
    "differential_action_values",
    "linear_mc_fixed_point",
    "linear_td_fixed_point",
    "mean_squared_value_error",
    "on_policy_distribution",
    "projected_bellman_error",
    "relative_value_iteration",
    "stationary_distribution",
]


def _model(transitions: ArrayLike, rewards: ArrayLike, policy: ArrayLike | None = None
           ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
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
    if policy is None:
        return p, r, None
    pi = np.asarray(policy, dtype=np.float64)
    if pi.shape != r.shape:
        raise ValueError(f"policy must have shape {r.shape} (S, A), got {pi.shape}")
    if (pi < 0).any() or not np.allclose(pi.sum(axis=1), 1.0):
        raise ValueError("policy rows must be probability distributions over actions")
    return p, r, pi


def _policy_chain(transitions: ArrayLike, rewards: ArrayLike, policy: ArrayLike
                  ) -> tuple[FloatArray, FloatArray]:
    """P_pi (S, S) and r_pi (S,)."""
    p, r, pi = _model(transitions, rewards, policy)
    assert pi is not None
    return (np.asarray(np.einsum("sa,sat->st", pi, p)),
            np.asarray((pi * r).sum(axis=1)))


def _features(features: ArrayLike, n_states: int) -> FloatArray:
    phi = np.asarray(features, dtype=np.float64)
    if phi.ndim == 1:
        phi = phi[:, None]
    if phi.ndim != 2 or phi.shape[0] != n_states:
        raise ValueError(f"features must have shape ({n_states}, d), one row x(s) per state, "
                         f"got {np.shape(features)}")
    if not np.isfinite(phi).all():
        raise ValueError("features must be finite")
    return phi


def _bootstrap(phi: FloatArray, transitions: ArrayLike) -> FloatArray:
    """The features TD bootstraps from: x(s') = 0 for a terminal s' (all-zero rows of P), whose
    value is 0 whatever the weights (a TD target after termination is the reward alone)."""
    terminal = (np.asarray(transitions).sum(axis=2) == 0).all(axis=1)
    return np.asarray(np.where(terminal[:, None], 0.0, phi))


def _gamma(gamma: Any) -> float:
    g = float(gamma)
    if not 0.0 <= g <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    return g


def stationary_distribution(transitions: ArrayLike, policy: ArrayLike) -> FloatArray:
    """d_pi with d_pi' P_pi = d_pi' and sum d_pi = 1, for a continuing task (rows of P summing
    to one) whose chain under pi has a single recurrent class (Dobriban (2019), section 5.3.10:
    the distribution that J_avV and J_avR weigh states by).

    ValueError when the chain ends episodes (a row sums to less than one) or has several
    recurrent classes (no unique d_pi).
    """
    p = np.asarray(transitions, dtype=np.float64)
    p_pi, _ = _policy_chain(p, np.zeros(p.shape[:2]), policy)
    n = p_pi.shape[0]
    if not np.allclose(p_pi.sum(axis=1), 1.0, atol=1e-9):
        raise ValueError("stationary_distribution: the chain ends episodes (a row of P_pi sums "
                         "to less than one); give initial_state_distribution for the on-policy "
                         "distribution of an episodic task")
    a = np.vstack([p_pi.T - np.eye(n), np.ones((1, n))])
    b = np.zeros(n + 1)
    b[-1] = 1.0
    d, *_ = np.linalg.lstsq(a, b, rcond=None)
    if np.linalg.matrix_rank(a) < n or np.abs(a @ d - b).max() > 1e-8:
        raise ValueError("stationary_distribution: the chain under this policy has several "
                         "recurrent classes, so no unique stationary distribution")
    d = np.clip(d, 0.0, None)
    return np.asarray(d / d.sum(), dtype=np.float64)


def on_policy_distribution(transitions: ArrayLike, policy: ArrayLike,
                           initial_state_distribution: ArrayLike | None = None) -> FloatArray:
    """mu(s), the fraction of time steps spent in s under ``policy``.

    Episodic task (``initial_state_distribution`` h given): eta = h + P_pi' eta, the expected
    number of visits per episode, normalised, mu = eta / sum eta (Sutton & Barto 2018, section
    9.2, eqs. 9.2-9.3). Terminal states (all-zero rows of ``transitions``, the convention of
    :mod:`decisiongym.theory.mdp`) are never the state of a time step: mu = 0 there. The policy
    must end episodes (proper).
    Continuing task (None): the stationary distribution (:func:`stationary_distribution`).
    """
    if initial_state_distribution is None:
        return stationary_distribution(transitions, policy)
    p = np.asarray(transitions, dtype=np.float64)
    p_pi, _ = _policy_chain(p, np.zeros(p.shape[:2]), policy)
    n = p_pi.shape[0]
    h = np.asarray(initial_state_distribution, dtype=np.float64)
    if h.shape != (n,) or (h < 0).any() or not np.isclose(h.sum(), 1.0):
        raise ValueError(f"initial_state_distribution must be {n} probabilities summing to 1, "
                         f"got shape {h.shape}")
    a = np.eye(n) - p_pi.T
    if np.linalg.cond(a) > 1e12:
        raise ValueError("on_policy_distribution: the policy never ends an episode from some "
                         "reachable state; give no initial_state_distribution for a continuing "
                         "task")
    eta = np.linalg.solve(a, h)
    eta[(p.sum(axis=2) == 0).all(axis=1)] = 0.0  # entered, never left: no time step there
    eta = np.clip(eta, 0.0, None)
    return np.asarray(eta / eta.sum(), dtype=np.float64)


def _weighting(transitions: ArrayLike, policy: ArrayLike, distribution: ArrayLike | None,
               initial_state_distribution: ArrayLike | None, n: int) -> FloatArray:
    if distribution is not None:
        mu = np.asarray(distribution, dtype=np.float64)
        if mu.shape != (n,) or (mu < 0).any() or not np.isfinite(mu).all() or mu.sum() <= 0:
            raise ValueError(f"distribution must be {n} non-negative weights, got "
                             f"{np.shape(distribution)}")
        return mu / mu.sum()
    return on_policy_distribution(transitions, policy, initial_state_distribution)


def linear_td_fixed_point(transitions: ArrayLike, rewards: ArrayLike, policy: ArrayLike,
                          features: ArrayLike, gamma: float, *,
                          distribution: ArrayLike | None = None,
                          initial_state_distribution: ArrayLike | None = None) -> FloatArray:
    """w_TD, the fixed point of linear TD(0) (Tsitsiklis & Van Roy 1997; Sutton & Barto 2018,
    section 9.4, eq. 9.12):

        Phi' D (Phi - gamma P_pi Phi) w = Phi' D r_pi,   D = diag(mu),

    where P_pi Phi bootstraps from x(s') = 0 for terminal states s' (all-zero rows), as TD does;
    mu is the on-policy distribution (:func:`on_policy_distribution`; pass
    ``initial_state_distribution`` for an episodic task, or ``distribution`` to weigh states
    yourself). LSTD estimates the same w from samples (Bradtke & Barto 1996). Where the system
    is singular (features of states mu never weighs, such as one-hot columns of terminal states,
    or features dependent on the states it weighs) the minimum-norm solution, the limit of
    LSTD's ridge -> 0; ValueError when there is no solution at all.

    >>> import numpy as np
    >>> p = np.array([[[0.0, 1.0]], [[0.0, 0.0]]])  # state 0 -> terminal state 1, reward 1
    >>> linear_td_fixed_point(p, [[1.0], [0.0]], [[1.0], [1.0]], [[2.0], [1.0]], 1.0,
    ...                       initial_state_distribution=[1.0, 0.0]).round(6).tolist()
    [0.5]
    """
    p_pi, r_pi = _policy_chain(transitions, rewards, policy)
    n = p_pi.shape[0]
    phi = _features(features, n)
    g = _gamma(gamma)
    mu = _weighting(transitions, policy, distribution, initial_state_distribution, n)
    a = phi.T @ (mu[:, None] * (phi - g * (p_pi @ _bootstrap(phi, transitions))))
    b = phi.T @ (mu * r_pi)
    return _min_norm_solution(a, b, "linear_td_fixed_point", "Phi' D (I - gamma P_pi) Phi")


def _min_norm_solution(a: FloatArray, b: FloatArray, owner: str, what: str) -> FloatArray:
    w, *_ = np.linalg.lstsq(a, b, rcond=None)
    scale = max(1.0, float(np.abs(b).max(initial=0.0)))
    if np.abs(a @ w - b).max(initial=0.0) > 1e-8 * scale:
        raise ValueError(f"{owner}: {what} w = b has no solution")
    return np.asarray(w, dtype=np.float64)


def linear_mc_fixed_point(transitions: ArrayLike, rewards: ArrayLike, policy: ArrayLike,
                          features: ArrayLike, gamma: float, *,
                          distribution: ArrayLike | None = None,
                          initial_state_distribution: ArrayLike | None = None) -> FloatArray:
    """argmin_w VE(w) = ||Phi w - v_pi||^2_mu = (Phi' D Phi)^-1 Phi' D v_pi: where gradient
    Monte Carlo converges (Sutton & Barto 2018, sections 9.2-9.3). Equals
    :func:`linear_td_fixed_point` when the features are tabular (one-hot). The minimum-norm
    solution where Phi' D Phi is singular."""
    p, r, pi = _model(transitions, rewards, policy)
    assert pi is not None
    n = p.shape[0]
    phi = _features(features, n)
    mu = _weighting(p, pi, distribution, initial_state_distribution, n)
    v = policy_evaluation(p, r, pi, _gamma(gamma))
    gram = phi.T @ (mu[:, None] * phi)
    return _min_norm_solution(gram, phi.T @ (mu * v), "linear_mc_fixed_point", "Phi' D Phi")


def mean_squared_value_error(w: ArrayLike, transitions: ArrayLike, rewards: ArrayLike,
                             policy: ArrayLike, features: ArrayLike, gamma: float, *,
                             distribution: ArrayLike | None = None,
                             initial_state_distribution: ArrayLike | None = None) -> float:
    """VE(w) = sum_s mu(s) (x(s)' w - v_pi(s))^2 (Sutton & Barto 2018, eq. 9.1)."""
    p, r, pi = _model(transitions, rewards, policy)
    assert pi is not None
    n = p.shape[0]
    phi = _features(features, n)
    mu = _weighting(p, pi, distribution, initial_state_distribution, n)
    v = policy_evaluation(p, r, pi, _gamma(gamma))
    err = phi @ np.asarray(w, dtype=np.float64) - v
    return float(mu @ err ** 2)


def projected_bellman_error(w: ArrayLike, transitions: ArrayLike, rewards: ArrayLike,
                            policy: ArrayLike, features: ArrayLike, gamma: float, *,
                            distribution: ArrayLike | None = None,
                            initial_state_distribution: ArrayLike | None = None) -> float:
    """PBE(w) = ||Pi delta_w||^2_mu (Sutton & Barto 2018, section 11.4), the mean squared
    projected Bellman error: delta_w = r_pi + gamma P_pi Phi w - Phi w, Pi = Phi (Phi' D Phi)^-1
    Phi' D. Computed as (Phi' D delta)' (Phi' D Phi)^-1 (Phi' D delta); zero exactly at the TD
    fixed point (:func:`linear_td_fixed_point`)."""
    p_pi, r_pi = _policy_chain(transitions, rewards, policy)
    n = p_pi.shape[0]
    phi = _features(features, n)
    g = _gamma(gamma)
    mu = _weighting(transitions, policy, distribution, initial_state_distribution, n)
    v = phi @ np.asarray(w, dtype=np.float64)
    delta = r_pi + g * (p_pi @ (_bootstrap(phi, transitions) @ np.asarray(w, float))) - v
    u = phi.T @ (mu * delta)
    gram = phi.T @ (mu[:, None] * phi)
    return float(u @ np.linalg.lstsq(gram, u, rcond=None)[0])


# --------------------------------------------------------------------------------------------
# Average reward.
# --------------------------------------------------------------------------------------------


def average_reward_evaluation(transitions: ArrayLike, rewards: ArrayLike, policy: ArrayLike
                              ) -> tuple[float, FloatArray]:
    """(rho_pi, h_pi): the gain rho = sum_s d_pi(s) r_pi(s) (Dobriban (2019), section 5.3.10,
    J_avR; Sutton & Barto 2018, eq. 10.6) and the differential values h with
    h = r_pi - rho + P_pi h, normalised by d_pi' h = 0 (Sutton & Barto 2018, section 10.3)."""
    p_pi, r_pi = _policy_chain(transitions, rewards, policy)
    n = p_pi.shape[0]
    d = stationary_distribution(transitions, policy)
    rho = float(d @ r_pi)
    a = np.vstack([np.eye(n) - p_pi, d[None, :]])
    b = np.concatenate([r_pi - rho, [0.0]])
    h, *_ = np.linalg.lstsq(a, b, rcond=None)
    return rho, np.asarray(h, dtype=np.float64)


def differential_action_values(transitions: ArrayLike, rewards: ArrayLike, h: ArrayLike,
                               gain: float) -> FloatArray:
    """q(s, a) = R(s, a) - rho + sum_s' P(s'|s, a) h(s') (Sutton & Barto 2018, eq. 10.7 with
    the expectation written out)."""
    p, r, _ = _model(transitions, rewards)
    return np.asarray(r - float(gain) + p @ np.asarray(h, dtype=np.float64))


def relative_value_iteration(transitions: ArrayLike, rewards: ArrayLike, *,
                             reference_state: int = 0, tol: float = 1e-12,
                             max_iterations: int = 1_000_000
                             ) -> tuple[float, FloatArray, IntArray]:
    """The optimal average reward of a unichain model by relative value iteration (White 1963;
    Puterman 1994, section 8.5.5): h <- T h - (T h)(s_ref), T h = max_a [R + P h], until the
    span of T h - h is below ``tol`` (times the reward scale). The bounds
    min (T h - h) <= rho_* <= max (T h - h) then pin the gain.

    Returns ``(gain, h, policy)``: rho_*, the differential values with h(s_ref) = 0, and a greedy
    gain-optimal policy, one action per state (the lowest index among actions within 1e-9 of
    the best, so an accept that cannot be served reads as a reject).
    """
    p, r, _ = _model(transitions, rewards)
    if not np.allclose(p.sum(axis=2), 1.0, atol=1e-9):
        raise ValueError("relative_value_iteration: a continuing task's rows of P must sum to "
                         "one (no terminal states)")
    n = p.shape[0]
    if not 0 <= int(reference_state) < n:
        raise ValueError(f"reference_state must be in [0, {n}), got {reference_state!r}")
    # The aperiodicity transform (Puterman 1994, section 8.5.4): P <- (P + I) / 2, R <- R / 2
    # keeps the optimal policies and the differential values and halves the gain; it makes
    # every chain aperiodic so that the iteration converges.
    eye = np.eye(n)[:, None, :]
    p_t = 0.5 * (p + eye)
    r_t = 0.5 * r
    scale = max(1.0, float(np.abs(r).max(initial=0.0)))
    h = np.zeros(n)
    for _ in range(max_iterations):
        th = (r_t + p_t @ h).max(axis=1)
        diff = th - h
        lo, hi = float(diff.min()), float(diff.max())
        h = th - th[int(reference_state)]
        if hi - lo < tol * scale:
            break
    else:  # pragma: no cover - multichain models
        raise RuntimeError("relative value iteration did not converge (is the model unichain?)")
    # The transformed model's gain is (lo + hi) / 2 = rho_* / 2; its differential values solve
    # h = R / 2 - rho_* / 2 + (P h + h) / 2, i.e. h = R - rho_* + P h: the original ones.
    gain = lo + hi
    q = r - gain + p @ h
    best = q >= q.max(axis=1, keepdims=True) - 1e-9 * max(1.0, float(np.abs(q).max(initial=0)))
    return gain, np.asarray(h, dtype=np.float64), np.asarray(best.argmax(axis=1), dtype=np.int64)
