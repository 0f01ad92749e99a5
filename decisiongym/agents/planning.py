"""Model-based agents: Dyna-Q, Dyna-Q+ and Monte Carlo tree search (Dobriban,
*Notes for Stat 991: Topics in Deep Learning*, 2019, section 5.3.11; Sutton & Barto 2018,
chapter 8).

Dyna integrates learning and planning: every real transition updates Q and a learned model, then
``n_planning`` simulated transitions from the model update Q again (Dobriban (2019), section
5.3.11, item 4). MCTS (UCT, Kocsis & Szepesvari 2006) searches forward from the current state with
the environment's model or a learned one before each real action (Dobriban (2019), section
5.3.11, items 5-7).

All state is batched over replicates: Q (n, S, A); the learned deterministic Dyna model
(n, S, A); MCTS statistics (n, depth, S, A) with nodes keyed by (depth, state), which for a
Markov state is the search tree with equal subtrees merged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike

from decisiongym.agents.base import argmax_random_ties, register
from decisiongym.agents.tabular import TabularAgent, _ControlAgent
from decisiongym.arrays import BoolArray, FloatArray, IntArray

__all__ = ["MCTS", "DynaQ", "DynaQPlus"]


@register("dyna-q", "Dyna-Q: Q-learning plus n planning updates from a learned model")
class DynaQ(_ControlAgent):
    """Tabular Dyna-Q (Sutton 1990; S&B 2018, sec. 8.2, steps (a)-(f)): after each real
    Q-learning update, Model(S, A) <- (R, S') (deterministic model), then ``n_planning`` times:
    S a random previously observed state, A a random action previously taken in S,
    (R, S') <- Model(S, A), Q(S, A) += alpha [R + gamma max_a Q(S', a) - Q(S, A)].

    Parameters: ``n_planning`` (5; 0 is plain Q-learning), ``alpha`` (0.1), ``gamma`` (0.95),
    ``epsilon`` (0.1), as in S&B Example 8.1.
    """

    bonus = 0.0

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 n_planning: int = 5, gamma: float = 0.95, alpha: float = 0.1,
                 epsilon: float = 0.1, initial_value: float = 0.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         gamma=gamma, alpha=alpha, epsilon=epsilon, initial_value=initial_value)
        self.n_planning = self._check_int("n_planning", n_planning, low=0)

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        shape = (num_envs, self.n_states, self.n_actions)
        self.model_next = np.zeros(shape, dtype=np.int64)
        self.model_reward = np.zeros(shape)
        self.model_terminal = np.zeros(shape, dtype=bool)
        self.tried = np.zeros(shape, dtype=bool)
        # Lists of observed states and, per state, of the actions tried there (for sampling).
        self.seen_states = np.zeros((num_envs, self.n_states), dtype=np.int64)
        self.n_seen = np.zeros(num_envs, dtype=np.int64)
        self.state_seen = np.zeros((num_envs, self.n_states), dtype=bool)
        self.tried_actions = np.zeros(shape, dtype=np.int64)
        self.n_tried = np.zeros((num_envs, self.n_states), dtype=np.int64)
        self.time = np.zeros(num_envs)
        self.last_tried = np.zeros(shape)

    def _q_update(self, rows: IntArray, s: IntArray, a: IntArray, r: FloatArray,
                  nxt: IntArray, terminal: BoolArray) -> None:
        target = r + np.where(terminal, 0.0, self.gamma) * self.Q[rows, nxt].max(axis=1)
        assert self.alpha is not None
        self.Q[rows, s, a] += self.alpha * (target - self.Q[rows, s, a])

    def _remember(self, rows: IntArray, s: IntArray, a: IntArray, r: FloatArray,
                  nxt: IntArray, terminal: BoolArray) -> None:
        new_state = ~self.state_seen[rows, s]
        if new_state.any():
            rn, sn = rows[new_state], s[new_state]
            self.seen_states[rn, self.n_seen[rn]] = sn
            self.n_seen[rn] += 1
            self.state_seen[rn, sn] = True
        new_pair = ~self.tried[rows, s, a]
        if new_pair.any():
            rp, sp, ap = rows[new_pair], s[new_pair], a[new_pair]
            self.tried_actions[rp, sp, self.n_tried[rp, sp]] = ap
            self.n_tried[rp, sp] += 1
            self.tried[rp, sp, ap] = True
        self.model_next[rows, s, a] = nxt
        self.model_reward[rows, s, a] = r
        self.model_terminal[rows, s, a] = terminal
        self.time[rows] += 1
        self.last_tried[rows, s, a] = self.time[rows]

    def _sample_planning(self, rows: IntArray) -> tuple[IntArray, IntArray]:
        """A previously observed state, then an action previously taken there."""
        i = (self.rng.random(rows.size) * self.n_seen[rows]).astype(np.int64)
        s = self.seen_states[rows, i]
        j = (self.rng.random(rows.size) * self.n_tried[rows, s]).astype(np.int64)
        return s, self.tried_actions[rows, s, j]

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        s, a = self._states(obs)[rows], np.asarray(actions, dtype=np.int64)[rows]
        nxt, r, term = self._states(next_obs)[rows], rewards[rows], terminated[rows]
        self._q_update(rows, s, a, r, nxt, term)  # (d) direct RL
        self._remember(rows, s, a, r, nxt, term)  # (e) model learning
        for _ in range(self.n_planning):  # (f) planning
            ps, pa = self._sample_planning(rows)
            reward = self.model_reward[rows, ps, pa]
            if self.bonus:
                reward = reward + self.bonus * np.sqrt(self.time[rows]
                                                       - self.last_tried[rows, ps, pa])
            self._q_update(rows, ps, pa, reward, self.model_next[rows, ps, pa],
                           self.model_terminal[rows, ps, pa])


@register("dyna-q-plus", "Dyna-Q+: Dyna-Q with an exploration bonus kappa sqrt(tau) in planning")
class DynaQPlus(DynaQ):
    """Dyna-Q+ (S&B 2018, sec. 8.3): planning rewards get the bonus kappa sqrt(tau), tau the
    real steps since (S, A) was last tried; as in the book's footnote, planning may also pick
    actions never tried in an observed state, modelled as staying put with reward 0."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 n_planning: int = 5, kappa: float = 1e-3, gamma: float = 0.95,
                 alpha: float = 0.1, epsilon: float = 0.1, initial_value: float = 0.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         n_planning=n_planning, gamma=gamma, alpha=alpha, epsilon=epsilon,
                         initial_value=initial_value)
        self.bonus = self._check_float("kappa", kappa, low=0.0)

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self.model_next[:] = np.arange(self.n_states)[None, :, None]  # untried: stay put

    def _sample_planning(self, rows: IntArray) -> tuple[IntArray, IntArray]:
        i = (self.rng.random(rows.size) * self.n_seen[rows]).astype(np.int64)
        s = self.seen_states[rows, i]
        return s, self.rng.integers(0, self.n_actions, rows.size)


@register("mcts", "Monte Carlo tree search (UCT) with the env's model or a learned one")
class MCTS(TabularAgent):
    """UCT (Kocsis & Szepesvari 2006), the simulation-based search of Dobriban (2019),
    section 5.3.11, items 5-7.

    Before each real action, ``n_simulations`` episodes of at most ``horizon`` steps are
    simulated from the current state with the model. In the tree (nodes (depth, state)) the tree
    policy plays an untried action if any, else argmax_a Q(s, a) + c sqrt(ln N(s) / N(s, a));
    one node is added per simulation; below the tree the default policy is uniformly random.
    Q(s, a) is the mean discounted return of the simulations through (s, a) (Dobriban (2019),
    section 5.3.11, item 5d). The real action is the most visited at the root, which UCT makes the
    action of largest Q(root, a) in the limit (item 5e); ties go to the larger Q.

    The model is ``transitions`` (S, A, S) and ``rewards`` (S, A) in the convention of
    :mod:`decisiongym.theory.mdp` (terminal states have zero rows), e.g. ``env.transitions`` and
    ``env.rewards``; without them the agent learns one from its real transitions (empirical
    next-state counts and mean rewards; untried actions stay put with reward 0).
    ``c`` scales with the returns: use about the return range.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 n_simulations: int = 200, horizon: int = 30, c: float = 1.4,
                 gamma: float = 1.0, transitions: ArrayLike | None = None,
                 rewards: ArrayLike | None = None) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         gamma=gamma, alpha=None)
        self.n_simulations = self._check_int("n_simulations", n_simulations)
        self.horizon = self._check_int("horizon", horizon)
        self.c = self._check_float("c", c, low=0.0)
        if (transitions is None) != (rewards is None):
            raise self._param_error("transitions", transitions,
                                    "given together with rewards (or both None)")
        self.known_model = transitions is not None
        if transitions is not None:
            p = np.asarray(transitions, dtype=np.float64)
            r = np.asarray(rewards, dtype=np.float64)
            shape = (self.n_states, self.n_actions)
            if p.shape != (*shape, self.n_states) or r.shape != shape:
                raise self._param_error("transitions", p.shape,
                                        f"shape {(*shape, self.n_states)} with rewards {shape}")
            self._p, self._r = p, r
            self._terminal = p.sum(axis=(1, 2)) == 0.0

    def _reset_state(self, num_envs: int) -> None:
        self._ar = np.arange(num_envs)
        if not self.known_model:
            self.counts = np.zeros((num_envs, self.n_states, self.n_actions, self.n_states))
            self.reward_sums = np.zeros((num_envs, self.n_states, self.n_actions))
            self.learned_terminal = np.zeros((num_envs, self.n_states), dtype=bool)

    def _model_step(self, s: IntArray, a: IntArray) -> tuple[IntArray, FloatArray, BoolArray]:
        n = s.size
        u = self.rng.random(n)
        if self.known_model:
            probs = self._p[s, a]
            mass = probs.sum(axis=1)
            nxt = (np.cumsum(probs, axis=1) <= (u * mass)[:, None]).sum(axis=1)
            nxt = np.minimum(nxt, self.n_states - 1)
            reward = self._r[s, a]
            return nxt, reward, self._terminal[nxt]
        counts = self.counts[self._ar, s, a]
        total = counts.sum(axis=1)
        nxt = (np.cumsum(counts, axis=1) <= (u * total)[:, None]).sum(axis=1)
        nxt = np.where(total > 0, np.minimum(nxt, self.n_states - 1), s)
        reward = np.where(total > 0, self.reward_sums[self._ar, s, a] / np.maximum(total, 1), 0.0)
        return nxt, reward, self.learned_terminal[self._ar, nxt]

    def search(self, root: IntArray) -> FloatArray:
        """Run the simulations from ``root`` (one state per replicate); Q(root, .) (n, A)."""
        n, depth, n_s, n_a = self.num_envs, self.horizon, self.n_states, self.n_actions
        visits = np.zeros((n, depth, n_s, n_a))
        value_sums = np.zeros((n, depth, n_s, n_a))
        in_tree = np.zeros((n, depth, n_s), dtype=bool)
        ar = self._ar
        for _ in range(self.n_simulations):
            s = root.copy()
            alive = np.ones(n, dtype=bool)
            growing = np.ones(n, dtype=bool)  # still in the tree (or at its new leaf)
            path_s = np.zeros((n, depth), dtype=np.int64)
            path_a = np.zeros((n, depth), dtype=np.int64)
            path_r = np.zeros((n, depth))
            path_tree = np.zeros((n, depth), dtype=bool)
            for d in range(depth):
                node = alive & growing
                known = node & in_tree[ar, d, s]
                new = node & ~known
                in_tree[ar[new], d, s[new]] = True  # expansion: one node per simulation
                growing &= known
                a = self.rng.integers(0, n_a, n)  # default policy
                if node.any():
                    rows = np.flatnonzero(node)
                    nsa = visits[rows, d, s[rows]]
                    ns = nsa.sum(axis=1, keepdims=True)
                    with np.errstate(divide="ignore", invalid="ignore"):
                        ucb = value_sums[rows, d, s[rows]] / nsa \
                            + self.c * np.sqrt(np.log(np.maximum(ns, 1.0)) / nsa)
                    ucb[nsa == 0] = np.inf  # untried actions first, ties at random
                    a[rows] = argmax_random_ties(np.where(np.isinf(ucb), 1e300, ucb), self.rng)
                nxt, r, term = self._model_step(s, a)
                path_s[:, d], path_a[:, d] = s, a
                path_r[:, d] = np.where(alive, r, 0.0)
                path_tree[:, d] = node
                alive &= ~term
                s = np.where(alive, nxt, s)
                if not alive.any():
                    break
            g = np.zeros(n)
            for d in range(depth - 1, -1, -1):  # back up discounted returns into the tree
                g = path_r[:, d] + self.gamma * g
                rows = np.flatnonzero(path_tree[:, d])
                visits[rows, d, path_s[rows, d], path_a[rows, d]] += 1.0
                value_sums[rows, d, path_s[rows, d], path_a[rows, d]] += g[rows]
        root_visits = visits[ar, 0, root]
        self.root_visits = root_visits
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(root_visits > 0, value_sums[ar, 0, root] / root_visits, -np.inf)
        return np.asarray(q)

    def _act(self, obs: Any) -> IntArray:
        q = self.search(self._states(obs))
        # The most visited root action (the "robust child"), ties broken by the mean return.
        span = np.abs(q[np.isfinite(q)]).max(initial=1.0)
        score = self.root_visits + 0.5 * np.where(np.isinf(q), -span, q) / (2 * span + 1.0)
        return argmax_random_ties(score, self.rng)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        if self.known_model:
            return
        s, a = self._states(obs)[rows], np.asarray(actions, dtype=np.int64)[rows]
        nxt = self._states(next_obs)[rows]
        self.counts[rows, s, a, nxt] += 1.0
        self.reward_sums[rows, s, a] += rewards[rows]
        self.learned_terminal[rows[terminated[rows]], nxt[terminated[rows]]] = True

