"""Tabular model-free prediction and control (Dobriban, *Notes for Stat 991: Topics in
Deep Learning*, 2019, sections 5.3.7-5.3.8; Sutton & Barto 2018, chapters 5-7 and 12).

Every agent keeps per-replicate tables with the replicate first: state values ``V`` (n, S) or
action values ``Q`` (n, S, A). Observations are state indices (a ``Discrete`` observation space,
e.g. ``Maze-v0`` with ``observation="index"``). The Python loop is over time steps only: one
``update`` call touches one (state, action) entry per replicate with array indexing, and episode
ends are handled for the finished replicates at once.

Conventions: ``terminated`` ends the episode with value 0 after it; ``truncated`` ends it but the
update bootstraps from the value of the last state. Prediction agents follow a fixed ``policy``
(an (S, A) matrix, uniform by default) and learn ``V``; control agents act epsilon-greedily on
``Q`` (ties broken at random) and expose ``greedy_policy()``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike

from decisiongym.agents.base import BaseAgent, argmax_random_ties, register
from decisiongym.arrays import BoolArray, FloatArray, IntArray

__all__ = [
    "TD0",
    "DoubleQLearning",
    "ExpectedSarsa",
    "GLIEMonteCarloControl",
    "MonteCarloPrediction",
    "NStepTD",
    "QLearning",
    "Sarsa",
    "SarsaLambda",
    "TDLambda",
    "TDLambdaForward",
    "TabularAgent",
    "TrueOnlineTDLambda",
    "online_lambda_return",
]


class TabularAgent(BaseAgent):
    """Discrete states and actions, a discount ``gamma`` and a step size ``alpha``."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 gamma: float = 1.0, alpha: float | None = 0.1) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        if not isinstance(observation_space, spaces.Discrete) or int(observation_space.start):
            raise ValueError(f"{self.name}: needs a Discrete(S) observation space starting at 0 "
                             f"(state indices), got {observation_space!r}")
        if not isinstance(action_space, spaces.Discrete) or int(action_space.start):
            raise ValueError(f"{self.name}: needs a Discrete(A) action space starting at 0, "
                             f"got {action_space!r}")
        self.n_states = int(observation_space.n)
        self.n_actions = int(action_space.n)
        self.gamma = self._check_float("gamma", gamma, low=0.0, high=1.0)
        self.alpha = None if alpha is None else self._check_float(
            "alpha", alpha, low=0.0, high=1.0, low_open=True)

    @staticmethod
    def _states(obs: Any) -> IntArray:
        return np.asarray(obs, dtype=np.int64).reshape(-1)

    def _bootstrap(self, terminated: BoolArray) -> FloatArray:
        """gamma where the next state's value counts, 0 where the episode terminated."""
        return np.where(terminated, 0.0, self.gamma)


class _EpisodeBuffer:
    """The states, actions and rewards of every replicate's current episode, (n, L) arrays that
    double in length when full."""

    def __init__(self, n: int) -> None:
        self.states = np.zeros((n, 16), dtype=np.int64)
        self.actions = np.zeros((n, 16), dtype=np.int64)
        self.rewards = np.zeros((n, 16))
        self.length = np.zeros(n, dtype=np.int64)

    def append(self, rows: IntArray, s: IntArray, a: IntArray, r: FloatArray) -> None:
        t = self.length[rows]
        if t.size and t.max() >= self.states.shape[1]:
            for name in ("states", "actions", "rewards"):
                old = getattr(self, name)
                new = np.zeros((old.shape[0], 2 * old.shape[1]), dtype=old.dtype)
                new[:, :old.shape[1]] = old
                setattr(self, name, new)
        self.states[rows, t] = s
        self.actions[rows, t] = a
        self.rewards[rows, t] = r
        self.length[rows] = t + 1

    def clear(self, rows: IntArray) -> None:
        self.length[rows] = 0


# --------------------------------------------------------------------------------------------
# Prediction: learn v_pi of a fixed policy.
# --------------------------------------------------------------------------------------------


class _PredictionAgent(TabularAgent):
    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 gamma: float = 1.0, alpha: float | None = 0.1,
                 policy: ArrayLike | None = None, initial_value: float = 0.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         gamma=gamma, alpha=alpha)
        if policy is None:
            pi = np.full((self.n_states, self.n_actions), 1.0 / self.n_actions)
        else:
            pi = np.asarray(policy, dtype=np.float64)
            if pi.shape != (self.n_states, self.n_actions) or (pi < 0).any() \
                    or not np.allclose(pi.sum(axis=1), 1.0):
                raise self._param_error("policy", policy, f"a ({self.n_states}, "
                                        f"{self.n_actions}) matrix of action probabilities")
        self.policy = pi
        self._policy_cum = np.cumsum(pi, axis=1)
        self._policy_cum[:, -1] = np.inf
        self.initial_value = self._check_float("initial_value", initial_value)

    def _reset_state(self, num_envs: int) -> None:
        self.V = np.full((num_envs, self.n_states), self.initial_value)

    @property
    def values(self) -> FloatArray:
        """The value estimates, shape (num_envs, S)."""
        return self.V

    def _act(self, obs: Any) -> IntArray:
        s = self._states(obs)
        if self.n_actions == 1:
            return np.zeros(s.size, dtype=np.int64)
        u = self.rng.random(s.size)
        return np.asarray((self._policy_cum[s] <= u[:, None]).sum(axis=1), dtype=np.int64)


@register("mc-prediction", "Monte Carlo prediction of v_pi, first-visit or every-visit")
class MonteCarloPrediction(_PredictionAgent):
    """First-visit or every-visit Monte Carlo prediction (Dobriban (2019), section 5.3.7, items 2-4;
    S&B 2018, sec. 5.1). At an episode's end the returns G_t are computed backwards and each visit
    (or each first visit) of S_t moves V(S_t) towards G_t: by 1/N(S_t) (sample averages,
    ``alpha=None``, the notes' S(s)/N(s)) or by a constant ``alpha`` (constant-alpha MC, S&B eq.
    6.1).

    Parameters: ``first_visit`` (True), ``alpha`` (None or in (0, 1]), ``gamma``, ``policy``.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 first_visit: bool = True, gamma: float = 1.0, alpha: float | None = None,
                 policy: ArrayLike | None = None, initial_value: float = 0.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         gamma=gamma, alpha=alpha, policy=policy, initial_value=initial_value)
        self.first_visit = bool(first_visit)

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self.N = np.zeros((num_envs, self.n_states))
        self._buffer = _EpisodeBuffer(num_envs)
        self._last_value = np.zeros(num_envs)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        s = self._states(obs)[rows]
        self._buffer.append(rows, s, np.asarray(actions)[rows], rewards[rows])
        # A truncated episode's return is completed with the value of the state it stopped in.
        nxt = self._states(next_obs)[rows]
        self._last_value[rows] = np.where(truncated[rows] & ~terminated[rows],
                                          self.V[rows, nxt], 0.0)

    def _end_episode(self, rows: IntArray) -> None:
        b = self._buffer
        length = b.length[rows]
        horizon = int(length.max(initial=0))
        states = b.states[rows, :horizon]
        first = np.ones((rows.size, horizon), dtype=bool)
        if self.first_visit:
            seen = np.zeros((rows.size, self.n_states), dtype=bool)
            ar = np.arange(rows.size)
            for t in range(horizon):
                first[:, t] = ~seen[ar, states[:, t]]
                seen[ar, states[:, t]] |= t < length
        g = self._last_value[rows].copy()
        for t in range(horizon - 1, -1, -1):  # backwards: G_t = R_{t+1} + gamma G_{t+1}
            live = t < length
            g = np.where(live, b.rewards[rows, t] + self.gamma * g, g)
            upd = live & first[:, t]
            r, st = rows[upd], states[upd, t]
            self.N[r, st] += 1.0
            step = 1.0 / self.N[r, st] if self.alpha is None else self.alpha
            self.V[r, st] += step * (g[upd] - self.V[r, st])
        b.clear(rows)


@register("td0", "TD(0) prediction of v_pi")
class TD0(_PredictionAgent):
    """TD(0): V(S_t) <- V(S_t) + alpha [R_{t+1} + gamma V(S_{t+1}) - V(S_t)] (Dobriban (2019),
    section 5.3.7, item 5; S&B 2018, sec. 6.1). ``alpha=None`` uses 1/N(S_t)."""

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self.N = np.zeros((num_envs, self.n_states))

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        s, nxt = self._states(obs)[rows], self._states(next_obs)[rows]
        td_error = rewards[rows] + self._bootstrap(terminated[rows]) * self.V[rows, nxt] \
            - self.V[rows, s]
        self.N[rows, s] += 1.0
        step = 1.0 / self.N[rows, s] if self.alpha is None else self.alpha
        self.V[rows, s] += step * td_error


@register("n-step-td", "n-step TD prediction of v_pi")
class NStepTD(_PredictionAgent):
    """n-step TD (S&B 2018, sec. 7.1; Dobriban (2019), section 5.3.7, item 8): V(S_tau) moves
    towards G_{tau:tau+n} = R_{tau+1} + ... + gamma^{n-1} R_{tau+n} + gamma^n V(S_{tau+n}) once
    R_{tau+n} is known; at the episode's end the last n-1 states are updated with the shorter
    returns."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 n: int = 4, gamma: float = 1.0, alpha: float = 0.1,
                 policy: ArrayLike | None = None, initial_value: float = 0.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         gamma=gamma, alpha=alpha, policy=policy, initial_value=initial_value)
        self.n = self._check_int("n", n)

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self._buffer = _EpisodeBuffer(num_envs)

    def _n_step_update(self, rows: IntArray, tau: IntArray, end: IntArray,
                       bootstrap: FloatArray) -> None:
        """V(S_tau) += alpha (sum_{i=tau}^{end-1} gamma^{i-tau} R_{i+1} + bootstrap - V(S_tau))
        + gamma^{end-tau} V(S_end), ``bootstrap`` being V(S_end) (0 after termination)."""
        b = self._buffer
        g = bootstrap.copy()
        for i in range(self.n - 1, -1, -1):
            idx = tau + i
            live = idx < end
            g = np.where(live, b.rewards[rows, np.minimum(idx, b.rewards.shape[1] - 1)]
                         + self.gamma * g, g)
        s = b.states[rows, tau]
        assert self.alpha is not None
        self.V[rows, s] += self.alpha * (g - self.V[rows, s])

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        b = self._buffer
        b.append(rows, self._states(obs)[rows], np.asarray(actions)[rows], rewards[rows])
        t_end = b.length[rows]  # time index of S_{t+1}
        nxt = self._states(next_obs)[rows]
        v_next = np.where(terminated[rows], 0.0, self.V[rows, nxt])
        ready = t_end >= self.n
        if ready.any():  # the full n-step return of S_{t+1-n}
            r = rows[ready]
            tau = t_end[ready] - self.n
            self._n_step_update(r, tau, t_end[ready], v_next[ready])
        ended = terminated[rows] | truncated[rows]
        if ended.any():  # shorter returns for the last min(n, T) - 1 states
            r, t_fin, vf = rows[ended], t_end[ended], v_next[ended]
            for k in range(1, self.n):
                tau = t_fin - self.n + k
                ok = tau >= 0
                if ok.any():
                    self._n_step_update(r[ok], tau[ok], t_fin[ok], vf[ok])

    def _end_episode(self, rows: IntArray) -> None:
        self._buffer.clear(rows)


@register("td-lambda", "TD(lambda), backward view, accumulating or replacing traces")
class TDLambda(_PredictionAgent):
    """TD(lambda), backward view (Dobriban (2019), section 5.3.7, item 8; S&B 2018, sec. 12.2):
    E_t(s) = gamma lambda E_{t-1}(s) + 1(S_t = s) (accumulating; replacing sets E(S_t) = 1),
    delta_t = R_{t+1} + gamma V(S_{t+1}) - V(S_t), V(s) += alpha delta_t E_t(s) for all s.

    ``offline=True`` sums the increments over the episode and applies them at its end (then it
    equals the offline lambda-return, :class:`TDLambdaForward`, for accumulating traces)."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 lam: float = 0.8, trace: Literal["accumulating", "replacing"] = "accumulating",
                 offline: bool = False, gamma: float = 1.0, alpha: float = 0.1,
                 policy: ArrayLike | None = None, initial_value: float = 0.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         gamma=gamma, alpha=alpha, policy=policy, initial_value=initial_value)
        self.lam = self._check_float("lam", lam, low=0.0, high=1.0)
        if trace not in ("accumulating", "replacing"):
            raise self._param_error("trace", trace, "'accumulating' or 'replacing'")
        self.trace = trace
        self.offline = bool(offline)

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self.E = np.zeros((num_envs, self.n_states))
        self._pending = np.zeros((num_envs, self.n_states))

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        s, nxt = self._states(obs)[rows], self._states(next_obs)[rows]
        td_error = rewards[rows] + self._bootstrap(terminated[rows]) * self.V[rows, nxt] \
            - self.V[rows, s]
        self.E[rows] *= self.gamma * self.lam
        if self.trace == "accumulating":
            self.E[rows, s] += 1.0
        else:
            self.E[rows, s] = 1.0
        assert self.alpha is not None
        increment = self.alpha * td_error[:, None] * self.E[rows]
        if self.offline:
            self._pending[rows] += increment
        else:
            self.V[rows] += increment

    def _end_episode(self, rows: IntArray) -> None:
        if self.offline:
            self.V[rows] += self._pending[rows]
            self._pending[rows] = 0.0
        self.E[rows] = 0.0


@register("td-lambda-forward", "offline lambda-return algorithm (TD(lambda), forward view)")
class TDLambdaForward(_PredictionAgent):
    """The offline lambda-return algorithm (Dobriban (2019), section 5.3.7, item 8, the forward
    view; S&B 2018, sec. 12.1): at the episode's end, with V held fixed, G^lambda_t = R_{t+1} +
    gamma [(1 - lambda) V(S_{t+1}) + lambda G^lambda_{t+1}] and V(S_t) += alpha (G^lambda_t -
    V(S_t)), the increments summed over the episode."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 lam: float = 0.8, gamma: float = 1.0, alpha: float = 0.1,
                 policy: ArrayLike | None = None, initial_value: float = 0.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         gamma=gamma, alpha=alpha, policy=policy, initial_value=initial_value)
        self.lam = self._check_float("lam", lam, low=0.0, high=1.0)

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self._buffer = _EpisodeBuffer(num_envs)
        self._final_value = np.zeros(num_envs)
        self._final_state = np.zeros(num_envs, dtype=np.int64)
        self._final_terminal = np.zeros(num_envs, dtype=bool)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        self._buffer.append(rows, self._states(obs)[rows], np.asarray(actions)[rows],
                            rewards[rows])
        self._final_state[rows] = self._states(next_obs)[rows]
        self._final_terminal[rows] = terminated[rows]

    def _end_episode(self, rows: IntArray) -> None:
        b = self._buffer
        length = b.length[rows]
        horizon = int(length.max(initial=0))
        v_old = self.V[rows].copy()
        ar = np.arange(rows.size)
        g = np.where(self._final_terminal[rows], 0.0, v_old[ar, self._final_state[rows]])
        v_next = g.copy()  # V(S_{t+1}); G^lambda_T is V(S_T) (0 at a terminal)
        increments = np.zeros_like(v_old)
        for t in range(horizon - 1, -1, -1):
            live = t < length
            g_new = b.rewards[rows, t] + self.gamma * ((1 - self.lam) * v_next + self.lam * g)
            g = np.where(live, g_new, g)
            s_t = b.states[rows, t]
            assert self.alpha is not None
            np.add.at(increments, (ar[live], s_t[live]),
                      self.alpha * (g[live] - v_old[ar[live], s_t[live]]))
            v_next = np.where(live, v_old[ar, s_t], v_next)
        self.V[rows] += increments
        b.clear(rows)


@register("true-online-td-lambda", "true online TD(lambda) with dutch traces")
class TrueOnlineTDLambda(_PredictionAgent):
    """True online TD(lambda) (van Seijen & Sutton 2014; S&B 2018, sec. 12.5), tabular features:
    z <- gamma lambda z + (1 - alpha gamma lambda z(S)) e_S,
    V <- V + alpha (delta + V(S) - V_old) z - alpha (V(S) - V_old) e_S, V_old <- V(S').
    Its values after every step equal those of the online lambda-return algorithm exactly
    (:func:`online_lambda_return`)."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 lam: float = 0.8, gamma: float = 1.0, alpha: float = 0.1,
                 policy: ArrayLike | None = None, initial_value: float = 0.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         gamma=gamma, alpha=alpha, policy=policy, initial_value=initial_value)
        self.lam = self._check_float("lam", lam, low=0.0, high=1.0)

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self.z = np.zeros((num_envs, self.n_states))
        self.v_old = np.zeros(num_envs)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        assert self.alpha is not None
        s, nxt = self._states(obs)[rows], self._states(next_obs)[rows]
        v = self.V[rows, s]
        v_next = np.where(terminated[rows], 0.0, self.V[rows, nxt])
        td_error = rewards[rows] + self.gamma * v_next - v
        gl = self.gamma * self.lam
        z_s = self.z[rows, s]
        self.z[rows] *= gl
        self.z[rows, s] += 1.0 - self.alpha * gl * z_s
        self.V[rows] += (self.alpha * (td_error + v - self.v_old[rows]))[:, None] * self.z[rows]
        self.V[rows, s] -= self.alpha * (v - self.v_old[rows])
        self.v_old[rows] = v_next

    def _end_episode(self, rows: IntArray) -> None:
        self.z[rows] = 0.0
        self.v_old[rows] = 0.0


def online_lambda_return(states: ArrayLike, rewards: ArrayLike, terminated: bool,
                         v0: ArrayLike, alpha: float, gamma: float, lam: float
                         ) -> list[FloatArray]:
    """The online lambda-return algorithm (van Seijen & Sutton 2014; S&B 2018, sec. 12.4) on one
    episode, as a reference: at each horizon h = 1..T the weights are recomputed from the
    episode's start with the truncated lambda-returns G^lambda_{t:h}, whose n-step returns
    bootstrap from the weights w_{t+n-1} of earlier horizons. ``states`` holds S_0..S_T and
    ``rewards`` R_1..R_T; ``terminated`` says whether S_T is terminal (value 0). Returns
    [w_0, w_1, ..., w_T]. Cost O(T^3): for tests."""
    s = np.asarray(states, dtype=np.int64)
    r = np.asarray(rewards, dtype=np.float64)
    horizon = r.size
    start = np.asarray(v0, dtype=np.float64).copy()
    weights = [start.copy()]

    def value(k: int, w: FloatArray) -> float:
        return 0.0 if (terminated and k == horizon) else float(w[s[k]])

    for h in range(1, horizon + 1):
        w = start.copy()
        for t in range(h):
            def n_step(n: int, t: int = t) -> float:
                g = sum(gamma ** i * r[t + i] for i in range(n))
                return float(g + gamma ** n * value(t + n, weights[t + n - 1]))
            g_lam = (1 - lam) * sum(lam ** (n - 1) * n_step(n) for n in range(1, h - t)) \
                + lam ** (h - t - 1) * n_step(h - t)
            w[s[t]] += alpha * (g_lam - w[s[t]])
        weights.append(w)
    return weights


# --------------------------------------------------------------------------------------------
# Control: learn q_* (or q_pi of the behaviour) and act epsilon-greedily.
# --------------------------------------------------------------------------------------------


class _ControlAgent(TabularAgent):
    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 gamma: float = 1.0, alpha: float | None = 0.1, epsilon: float = 0.1,
                 initial_value: float = 0.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         gamma=gamma, alpha=alpha)
        self.epsilon = self._check_float("epsilon", epsilon, low=0.0, high=1.0)
        self.initial_value = self._check_float("initial_value", initial_value)

    def _reset_state(self, num_envs: int) -> None:
        self.Q = np.full((num_envs, self.n_states, self.n_actions), self.initial_value)
        self._ar = np.arange(num_envs)

    def action_values(self) -> FloatArray:
        """The estimates greedy actions come from, shape (num_envs, S, A)."""
        return self.Q

    def greedy_policy(self) -> IntArray:
        """argmax_a Q(s, a) per replicate and state (lowest index among ties), (num_envs, S)."""
        return np.asarray(self.action_values().argmax(axis=2), dtype=np.int64)

    def current_epsilon(self, rows: IntArray) -> FloatArray:
        return np.full(rows.size, self.epsilon)

    def _epsilon_greedy(self, rows: IntArray, s: IntArray) -> IntArray:
        q = self.action_values()[rows, s]
        actions = argmax_random_ties(q, self.rng)
        explore = self.rng.random(rows.size) < self.current_epsilon(rows)
        if explore.any():
            actions[explore] = self.rng.integers(0, self.n_actions, int(explore.sum()))
        return actions

    def _act(self, obs: Any) -> IntArray:
        return self._epsilon_greedy(self._ar, self._states(obs))

    def _target_policy_probs(self, q: FloatArray, eps: FloatArray) -> FloatArray:
        """epsilon-greedy probabilities over actions for rows of q (greedy mass split among
        tied maxima)."""
        best = q == q.max(axis=1, keepdims=True)
        greedy = best / best.sum(axis=1, keepdims=True)
        return np.asarray((1 - eps)[:, None] * greedy + (eps / self.n_actions)[:, None])


@register("q-learning", "Q-learning (SARSAMAX), epsilon-greedy behaviour")
class QLearning(_ControlAgent):
    """Q-learning, the notes' SARSAMAX (Dobriban (2019), section 5.3.8, item 6; Watkins 1989; S&B
    2018, sec. 6.5): Q(S, A) += alpha [R + gamma max_a' Q(S', a') - Q(S, A)]."""

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        s, a = self._states(obs)[rows], np.asarray(actions, dtype=np.int64)[rows]
        nxt = self._states(next_obs)[rows]
        target = rewards[rows] + self._bootstrap(terminated[rows]) * self.Q[rows, nxt].max(axis=1)
        assert self.alpha is not None
        self.Q[rows, s, a] += self.alpha * (target - self.Q[rows, s, a])


@register("expected-sarsa", "expected SARSA under the epsilon-greedy policy")
class ExpectedSarsa(_ControlAgent):
    """Expected SARSA (S&B 2018, sec. 6.6): the target averages Q(S', .) over the epsilon-greedy
    policy, R + gamma sum_a' pi(a'|S') Q(S', a')."""

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        s, a = self._states(obs)[rows], np.asarray(actions, dtype=np.int64)[rows]
        q_next = self.Q[rows, self._states(next_obs)[rows]]
        expected = (self._target_policy_probs(q_next, self.current_epsilon(rows)) * q_next).sum(1)
        target = rewards[rows] + self._bootstrap(terminated[rows]) * expected
        assert self.alpha is not None
        self.Q[rows, s, a] += self.alpha * (target - self.Q[rows, s, a])


@register("double-q-learning", "double Q-learning (van Hasselt 2010)")
class DoubleQLearning(_ControlAgent):
    """Double Q-learning (van Hasselt 2010; S&B 2018, sec. 6.7): two tables; a fair coin picks
    the one to update, and its greedy next action is valued by the other:
    Q1(S, A) += alpha [R + gamma Q2(S', argmax_a Q1(S', a)) - Q1(S, A)]. Acts epsilon-greedily on
    Q1 + Q2."""

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self.Q1 = self.Q.copy()
        self.Q2 = self.Q.copy()

    def action_values(self) -> FloatArray:
        return np.asarray(self.Q1 + self.Q2)

    def _epsilon_greedy(self, rows: IntArray, s: IntArray) -> IntArray:
        q = self.Q1[rows, s] + self.Q2[rows, s]
        actions = argmax_random_ties(q, self.rng)
        explore = self.rng.random(rows.size) < self.epsilon
        if explore.any():
            actions[explore] = self.rng.integers(0, self.n_actions, int(explore.sum()))
        return actions

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        s, a = self._states(obs)[rows], np.asarray(actions, dtype=np.int64)[rows]
        nxt = self._states(next_obs)[rows]
        first = self.rng.random(rows.size) < 0.5
        assert self.alpha is not None
        for pick, (upd, other) in ((first, (self.Q1, self.Q2)), (~first, (self.Q2, self.Q1))):
            r, st, at, nx = rows[pick], s[pick], a[pick], nxt[pick]
            best = argmax_random_ties(upd[r, nx], self.rng)
            target = rewards[r] + self._bootstrap(terminated[r]) * other[r, nx, best]
            upd[r, st, at] += self.alpha * (target - upd[r, st, at])
        self.Q = self.Q1  # for code that reads Q; greedy actions use Q1 + Q2


class _OnPolicyControl(_ControlAgent):
    """SARSA-style agents choose A' when they learn from (S, A, R, S'), and play it next."""

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self._next_action = np.zeros(num_envs, dtype=np.int64)
        self._has_next = np.zeros(num_envs, dtype=bool)

    def _act(self, obs: Any) -> IntArray:
        actions = self._epsilon_greedy(self._ar, self._states(obs))
        return np.where(self._has_next, self._next_action, actions)

    def _choose_next(self, rows: IntArray, nxt: IntArray, ended: BoolArray) -> IntArray:
        a_next = self._epsilon_greedy(rows, nxt)
        self._next_action[rows] = a_next
        self._has_next[rows] = ~ended
        return a_next

    def _end_episode(self, rows: IntArray) -> None:
        self._has_next[rows] = False


@register("sarsa", "SARSA, on-policy TD control")
class Sarsa(_OnPolicyControl):
    """SARSA (Dobriban (2019), section 5.3.8, item 4; Rummery & Niranjan 1994; S&B 2018, sec. 6.4):
    Q(S, A) += alpha [R + gamma Q(S', A') - Q(S, A)], A' the epsilon-greedy action it then takes.
    """

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        s, a = self._states(obs)[rows], np.asarray(actions, dtype=np.int64)[rows]
        nxt = self._states(next_obs)[rows]
        a_next = self._choose_next(rows, nxt, terminated[rows] | truncated[rows])
        target = rewards[rows] + self._bootstrap(terminated[rows]) * self.Q[rows, nxt, a_next]
        assert self.alpha is not None
        self.Q[rows, s, a] += self.alpha * (target - self.Q[rows, s, a])


@register("sarsa-lambda", "SARSA(lambda), accumulating or replacing traces")
class SarsaLambda(_OnPolicyControl):
    """SARSA(lambda) (S&B 2018, sec. 12.7): traces E(s, a) over state-action pairs,
    delta = R + gamma Q(S', A') - Q(S, A), E(S, A) += 1 (replacing: = 1), Q += alpha delta E,
    E *= gamma lambda; traces cleared when an episode ends."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 lam: float = 0.9, trace: Literal["accumulating", "replacing"] = "replacing",
                 gamma: float = 1.0, alpha: float = 0.1, epsilon: float = 0.1,
                 initial_value: float = 0.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         gamma=gamma, alpha=alpha, epsilon=epsilon, initial_value=initial_value)
        self.lam = self._check_float("lam", lam, low=0.0, high=1.0)
        if trace not in ("accumulating", "replacing"):
            raise self._param_error("trace", trace, "'accumulating' or 'replacing'")
        self.trace = trace

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self.E = np.zeros_like(self.Q)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        s, a = self._states(obs)[rows], np.asarray(actions, dtype=np.int64)[rows]
        nxt = self._states(next_obs)[rows]
        a_next = self._choose_next(rows, nxt, terminated[rows] | truncated[rows])
        td_error = rewards[rows] + self._bootstrap(terminated[rows]) * self.Q[rows, nxt, a_next] \
            - self.Q[rows, s, a]
        if self.trace == "accumulating":
            self.E[rows, s, a] += 1.0
        else:
            self.E[rows, s, a] = 1.0
        assert self.alpha is not None
        self.Q[rows] += self.alpha * td_error[:, None, None] * self.E[rows]
        self.E[rows] *= self.gamma * self.lam

    def _end_episode(self, rows: IntArray) -> None:
        super()._end_episode(rows)
        self.E[rows] = 0.0


@register("glie-mc-control", "GLIE Monte Carlo control, epsilon_k = c / k")
class GLIEMonteCarloControl(_ControlAgent):
    """GLIE Monte Carlo control (Dobriban (2019), section 5.3.8, items 1-3; S&B 2018, sec. 5.4):
    every-visit (or first-visit) MC evaluation of Q with 1/N(S, A) step sizes at each episode's end,
    and epsilon-greedy improvement with epsilon_k = min(1, c / k) in the k-th episode (greedy in the
    limit with infinite exploration). ``alpha`` may fix a constant step size instead."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 c: float = 1.0, first_visit: bool = False, gamma: float = 1.0,
                 alpha: float | None = None, initial_value: float = 0.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         gamma=gamma, alpha=alpha, epsilon=1.0, initial_value=initial_value)
        self.c = self._check_float("c", c, low=0.0, low_open=True)
        self.first_visit = bool(first_visit)

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self.N = np.zeros_like(self.Q)
        self.episode = np.ones(num_envs)
        self._buffer = _EpisodeBuffer(num_envs)
        self._last_value = np.zeros(num_envs)

    def current_epsilon(self, rows: IntArray) -> FloatArray:
        return np.asarray(np.minimum(1.0, self.c / self.episode[rows]))

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        a = np.asarray(actions, dtype=np.int64)[rows]
        self._buffer.append(rows, self._states(obs)[rows], a, rewards[rows])
        nxt = self._states(next_obs)[rows]
        self._last_value[rows] = np.where(truncated[rows] & ~terminated[rows],
                                          self.Q[rows, nxt].max(axis=1), 0.0)

    def _end_episode(self, rows: IntArray) -> None:
        b = self._buffer
        length = b.length[rows]
        horizon = int(length.max(initial=0))
        pairs = b.states[rows, :horizon] * self.n_actions + b.actions[rows, :horizon]
        first = np.ones((rows.size, horizon), dtype=bool)
        if self.first_visit:
            seen = np.zeros((rows.size, self.n_states * self.n_actions), dtype=bool)
            ar = np.arange(rows.size)
            for t in range(horizon):
                first[:, t] = ~seen[ar, pairs[:, t]]
                seen[ar, pairs[:, t]] |= t < length
        g = self._last_value[rows].copy()
        for t in range(horizon - 1, -1, -1):
            live = t < length
            g = np.where(live, b.rewards[rows, t] + self.gamma * g, g)
            upd = live & first[:, t]
            r = rows[upd]
            st, at = b.states[r, t], b.actions[r, t]
            self.N[r, st, at] += 1.0
            step = 1.0 / self.N[r, st, at] if self.alpha is None else self.alpha
            self.Q[r, st, at] += step * (g[upd] - self.Q[r, st, at])
        b.clear(rows)
        self.episode[rows] += 1.0
