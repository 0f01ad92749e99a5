"""Finite MDPs, gridworld mazes and the random walk (Dobriban, *Notes for Stat 991: Topics in Deep
Learning*, 2019, sections 5.3.5-5.3.8).

Capability probed: sequential decisions with delayed reward in a known-size state space, where
the optimum is computable by dynamic programming; the measures of success are the return per
episode, the episodes until the greedy policy is optimal, and ||V - V*|| for prediction.

The dynamics are written once, as array code with a leading replicate axis
(:class:`TabularCore`), serving both ``gym.make(id)`` (a batch of one) and
``gym.make_vec(id, num_envs=n, vectorization_mode="vector_entry_point")`` (a native vector env
with Gymnasium's NEXT_STEP autoreset and no Python loop over replicates per step).

Every environment exposes its model, Gymnasium-style as ``P[s][a] -> [(prob, next_state,
reward, terminated)]`` and as arrays ``transitions`` (S, A, S) and ``rewards`` (S, A) in the
convention of :mod:`decisiongym.theory.mdp` (terminal states have all-zero rows), so that
``decisiongym.theory.value_iteration(env.transitions, env.rewards, env.gamma)`` gives the optimum.

Random numbers. Each replicate owns one generator and consumes exactly one uniform number per
call that can be random (each ``reset`` and each ``step``, an autoreset step included), drawn in
blocks; so replicate ``i`` of a vector env reset with seed ``s`` follows exactly the single env
reset with seed ``s + i``. A fully deterministic model (a maze without slip and a single start)
draws nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike, NDArray

from decisiongym.arrays import BoolArray, FloatArray, IntArray
from decisiongym.envs.vector import NextStepVectorEnv
from decisiongym.validation import (
    check_choice,
    check_float,
    check_int,
    check_optional_int,
    check_render_mode,
    is_integer,
)

__all__ = [
    "LAYOUTS",
    "MAZE_MAX_EPISODE_STEPS",
    "Maze",
    "MazeVector",
    "RandomWalk",
    "RandomWalkVector",
    "TabularCore",
    "TabularEnv",
    "TabularMDP",
    "TabularMDPVector",
    "TabularModel",
    "TabularVectorEnv",
    "garnet",
    "generate_maze",
    "maze_is_solvable",
    "shortest_path_length",
]


_BLOCK = 128  # uniforms drawn per replicate at a time


# --------------------------------------------------------------------------------------------
# The model: outcome tables (sparse) and the dense arrays planners use.
# --------------------------------------------------------------------------------------------


@dataclass
class TabularModel:
    """A finite MDP as outcome tables: ``next_state[s, a, k]`` happens with ``prob[s, a, k]`` and
    pays ``reward[s, a, k]``. ``terminal[s]`` marks absorbing terminal states (the episode ends
    on entering them). ``initial`` is the start-state distribution."""

    next_state: IntArray
    prob: FloatArray
    reward: FloatArray
    terminal: BoolArray
    initial: FloatArray
    gamma: float = 1.0
    cum: FloatArray = field(init=False)
    initial_cum: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        s, a, k = self.next_state.shape
        self.n_states, self.n_actions, self.branching = s, a, k
        self.cum = np.cumsum(self.prob, axis=2).reshape(s * a, k)
        self.cum[:, -1] = np.inf  # rounding never sends a draw past the last outcome
        self.initial_cum = np.cumsum(self.initial)
        self.initial_cum[-1] = np.inf
        self.next_flat = self.next_state.reshape(-1).astype(np.int64)
        self.reward_flat = self.reward.reshape(-1).astype(np.float64)
        self.deterministic_steps = k == 1 or bool((self.prob.max(axis=2) == 1.0).all())
        if self.deterministic_steps and k > 1:
            best = self.prob.argmax(axis=2)[..., None]
            self.next_flat = np.take_along_axis(self.next_state, best, 2).reshape(-1)
            self.reward_flat = np.take_along_axis(self.reward, best, 2).reshape(-1)
        self.fixed_start = int(np.argmax(self.initial)) if self.initial.max() == 1.0 else -1
        self.deterministic = self.deterministic_steps and self.fixed_start >= 0

    @classmethod
    def from_arrays(cls, transitions: ArrayLike, rewards: ArrayLike,
                    initial_state_distribution: ArrayLike | None = None,
                    terminal_states: Sequence[int] | ArrayLike = (), gamma: float = 1.0,
                    name: str = "TabularMDP-v0") -> TabularModel:
        """From dense ``transitions`` (S, A, S) and ``rewards`` (S, A) or (S, A, S)."""
        p = np.asarray(transitions, dtype=np.float64)
        if p.ndim != 3 or p.shape[0] != p.shape[2] or p.shape[0] < 1 or p.shape[1] < 1:
            raise ValueError(f"{name}: transitions must have shape (S, A, S), got {p.shape}")
        n_s, n_a, _ = p.shape
        if not np.isfinite(p).all() or (p < 0).any():
            raise ValueError(f"{name}: transitions must be finite and non-negative")
        term = np.zeros(n_s, dtype=bool)
        t_idx = np.asarray(terminal_states, dtype=np.int64).reshape(-1)
        if t_idx.size and (t_idx.min() < 0 or t_idx.max() >= n_s):
            raise ValueError(f"{name}: terminal_states must be in [0, {n_s}), got {t_idx}")
        term[t_idx] = True
        sums = p.sum(axis=2)
        if not np.allclose(sums[~term], 1.0, atol=1e-9):
            bad = np.argwhere(~np.isclose(sums, 1.0) & ~term[:, None])[0]
            raise ValueError(f"{name}: transitions[{bad[0]}, {bad[1]}] sums to "
                             f"{sums[bad[0], bad[1]]:.6g}, expected 1")
        r = np.asarray(rewards, dtype=np.float64)
        if r.shape == (n_s, n_a):
            r3 = np.broadcast_to(r[:, :, None], p.shape)
        elif r.shape == p.shape:
            r3 = r
        else:
            raise ValueError(f"{name}: rewards must have shape {(n_s, n_a)} or {p.shape}, "
                             f"got {r.shape}")
        if not np.isfinite(r3).all():
            raise ValueError(f"{name}: rewards must be finite")
        init = _initial(name, n_s, initial_state_distribution, term)
        k = max(1, int((p > 0).sum(axis=2).max()))
        nxt = np.zeros((n_s, n_a, k), dtype=np.int64)
        prob = np.zeros((n_s, n_a, k))
        rew = np.zeros((n_s, n_a, k))
        order = np.argsort(-p, axis=2, kind="stable")[:, :, :k]
        nxt[:] = order
        prob[:] = np.take_along_axis(p, order, 2)
        rew[:] = np.take_along_axis(r3, order, 2)
        nxt[term] = np.arange(n_s)[term][:, None, None]  # terminal: absorbing, never stepped
        prob[term] = 0.0
        prob[term, :, 0] = 1.0
        rew[term] = 0.0
        return cls(nxt, prob, rew, term, init, gamma)

    # ----- views for planners ----------------------------------------------------------------

    @property
    def transitions(self) -> FloatArray:
        """P(s' | s, a), shape (S, A, S); terminal states' rows are zero."""
        n_s, n_a, k = self.next_state.shape
        p = np.zeros((n_s, n_a, n_s))
        s_idx = np.repeat(np.arange(n_s), n_a * k)
        a_idx = np.tile(np.repeat(np.arange(n_a), k), n_s)
        np.add.at(p, (s_idx, a_idx, self.next_state.reshape(-1)), self.prob.reshape(-1))
        p[self.terminal] = 0.0
        return p

    @property
    def rewards(self) -> FloatArray:
        """Expected reward R(s, a), shape (S, A); zero in terminal states."""
        r = (self.prob * self.reward).sum(axis=2)
        r[self.terminal] = 0.0
        return np.asarray(r, dtype=np.float64)

    def P(self) -> dict[int, dict[int, list[tuple[float, int, float, bool]]]]:
        """Gymnasium's ``P[s][a] -> [(prob, next_state, reward, terminated)]``."""
        out: dict[int, dict[int, list[tuple[float, int, float, bool]]]] = {}
        for s in range(self.n_states):
            out[s] = {}
            for a in range(self.n_actions):
                if self.terminal[s]:
                    out[s][a] = [(1.0, s, 0.0, True)]
                    continue
                merged: dict[tuple[int, float], float] = {}
                for k in range(self.branching):
                    pk = float(self.prob[s, a, k])
                    if pk > 0:
                        key = (int(self.next_state[s, a, k]), float(self.reward[s, a, k]))
                        merged[key] = merged.get(key, 0.0) + pk
                out[s][a] = [(pk, ns, r, bool(self.terminal[ns]))
                             for (ns, r), pk in merged.items()]
        return out


def _initial(name: str, n_s: int, dist: ArrayLike | None, term: BoolArray) -> FloatArray:
    if dist is None:
        if term.all():
            raise ValueError(f"{name}: every state is terminal")
        init = (~term).astype(np.float64)
        return np.asarray(init / init.sum(), dtype=np.float64)
    init = np.asarray(dist, dtype=np.float64)
    if init.shape != (n_s,) or not np.isfinite(init).all() or (init < 0).any() \
            or not np.isclose(init.sum(), 1.0):
        raise ValueError(f"{name}: initial_state_distribution must be {n_s} non-negative "
                         f"probabilities summing to 1, got {dist!r}")
    if (init[term] > 0).any():
        raise ValueError(f"{name}: initial_state_distribution puts mass on a terminal state")
    return init


# --------------------------------------------------------------------------------------------
# The batched core.
# --------------------------------------------------------------------------------------------


class TabularCore:
    """States, step counts and random streams of ``num_envs`` replicates of one model."""

    def __init__(self, model: TabularModel, num_envs: int) -> None:
        self.model = model
        self.num_envs = num_envs
        self.states = np.zeros(num_envs, dtype=np.int64)
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.rngs: list[np.random.Generator] = []
        self._block = np.zeros((num_envs, _BLOCK))
        self._pos = _BLOCK

    def set_rngs(self, rngs: list[np.random.Generator]) -> None:
        self.rngs = rngs
        self._pos = _BLOCK  # a new stream: drop the rest of the old block

    def uniforms(self) -> FloatArray:
        """One uniform per replicate (the next number of each replicate's stream)."""
        if self._pos == _BLOCK:
            for i, rng in enumerate(self.rngs):
                self._block[i] = rng.random(_BLOCK)
            self._pos = 0
        u = self._block[:, self._pos]
        self._pos += 1
        return u

    def start_states(self, u: FloatArray | None, rows: IntArray) -> IntArray:
        m = self.model
        if m.fixed_start >= 0:
            return np.full(rows.size, m.fixed_start, dtype=np.int64)
        assert u is not None
        return np.asarray(np.searchsorted(m.initial_cum, u[rows], side="right"), dtype=np.int64)

    def reset_all(self) -> None:
        u = None if self.model.deterministic else self.uniforms()
        rows = np.arange(self.num_envs)
        self.states[:] = self.start_states(u, rows)
        self.steps[:] = 0

    def step(self, actions: IntArray, reset_rows: IntArray | None
             ) -> tuple[IntArray, FloatArray, BoolArray]:
        """Move every replicate (those in ``reset_rows`` are reset instead and get reward 0).
        Returns (states, rewards, terminated)."""
        m = self.model
        u = None if m.deterministic else self.uniforms()
        sa = self.states * m.n_actions + actions
        if m.deterministic_steps:
            nxt = m.next_flat[sa]
            rew = m.reward_flat[sa]
        else:
            assert u is not None
            k = (m.cum[sa] <= u[:, None]).sum(axis=1)
            idx = sa * m.branching + k
            nxt = m.next_flat[idx]
            rew = m.reward_flat[idx]
        term = m.terminal[nxt]
        self.steps += 1
        if reset_rows is not None:
            nxt[reset_rows] = self.start_states(u, reset_rows)
            rew[reset_rows] = 0.0
            term[reset_rows] = False
            self.steps[reset_rows] = 0
        self.states = nxt
        return nxt, rew, term


# --------------------------------------------------------------------------------------------
# Observations and rendering: what differs between the tabular MDP, the maze and the walk.
# --------------------------------------------------------------------------------------------


class _View:
    """Observation encoding and rendering of the plain tabular MDP (state index)."""

    def __init__(self, model: TabularModel) -> None:
        self.model = model
        self.single_observation_space: spaces.Space[Any] = spaces.Discrete(model.n_states)

    def encode(self, states: IntArray) -> NDArray[Any]:
        return states

    def encode_one(self, state: int) -> Any:
        return np.int64(state)

    def ansi(self, state: int) -> str:
        cells = "".join("@" if s == state else ("T" if self.model.terminal[s] else ".")
                        for s in range(self.model.n_states))
        return f"state {state}: {cells}\n"

    def rgb(self, state: int) -> NDArray[np.uint8]:
        n, px = self.model.n_states, 16
        img = np.full((px, n * px, 3), 255, dtype=np.uint8)
        for s in range(n):
            color = (60, 60, 60) if self.model.terminal[s] else (230, 230, 230)
            if s == state:
                color = (40, 90, 220)
            img[2:-2, s * px + 2:(s + 1) * px - 2] = color
        return img


# --------------------------------------------------------------------------------------------
# Environments.
# --------------------------------------------------------------------------------------------


def _episode_limit(name: str, max_episode_steps: Any, horizon: Any) -> int | None:
    """``horizon`` is the harness's name for the same limit; with both, the smaller wins."""
    limits = [x for x in (check_optional_int(name, "max_episode_steps", value)
                          for value in (max_episode_steps, horizon)) if x is not None]
    return min(limits) if limits else None


class _ModelAccess:
    """The model views every tabular env (single or vector) offers."""

    _core: TabularCore

    @property
    def model(self) -> TabularModel:
        return self._core.model

    @property
    def transitions(self) -> FloatArray:
        """P(s' | s, a), shape (S, A, S), terminal rows zero (decisiongym.theory convention)."""
        return self._core.model.transitions

    @property
    def rewards(self) -> FloatArray:
        """Expected reward R(s, a), shape (S, A)."""
        return self._core.model.rewards

    @property
    def gamma(self) -> float:
        """The discount the task is defined with (1 for episodic tasks unless stated)."""
        return self._core.model.gamma

    @property
    def terminal_states(self) -> IntArray:
        return np.flatnonzero(self._core.model.terminal)

    @property
    def initial_state_distribution(self) -> FloatArray:
        return self._core.model.initial.copy()

    @property
    def P(self) -> dict[int, dict[int, list[tuple[float, int, float, bool]]]]:
        return self._core.model.P()


class TabularEnv(_ModelAccess, gym.Env[Any, np.int64]):
    """A finite MDP as a Gymnasium env (a batch of one of :class:`TabularCore`)."""

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}  # noqa: RUF012
    env_name = "TabularMDP-v0"

    def _setup(self, model: TabularModel, view: _View, max_episode_steps: int | None,
               render_mode: str | None, horizon: int | None = None) -> None:
        self.render_mode = check_render_mode(self.env_name, self.metadata["render_modes"],
                                             render_mode)
        self.max_episode_steps = _episode_limit(self.env_name, max_episode_steps, horizon)
        self._view = view
        self._core = TabularCore(model, 1)
        self.action_space = spaces.Discrete(model.n_actions)
        self.observation_space = view.single_observation_space
        self._ready = False

    @property
    def state(self) -> int:
        return int(self._core.states[0])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None or not self._ready:
            self._core.set_rngs([self.np_random])
        self._core.reset_all()
        self._ready = True
        s = self.state
        return self._view.encode_one(s), {"state": s}

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if not self._ready:
            raise gym.error.ResetNeeded(f"{self.env_name}: call reset() before step()")
        a = _single_action(self.env_name, self._core.model.n_actions, action)
        nxt, rew, term = self._core.step(np.array([a], dtype=np.int64), None)
        s = int(nxt[0])
        terminated = bool(term[0])
        # Gymnasium's TimeLimit rule: the step that reaches the limit is truncated, also when it
        # terminates (so gym.make's TimeLimit and the native vector env agree).
        truncated = (self.max_episode_steps is not None
                     and int(self._core.steps[0]) >= self.max_episode_steps)
        return self._view.encode_one(s), float(rew[0]), terminated, bool(truncated), {"state": s}

    def render(self) -> str | NDArray[np.uint8] | None:
        if self.render_mode is None:
            gym.logger.warn(f"{self.env_name}: render() called without a render_mode; pass "
                            "render_mode='ansi' or 'rgb_array' to gym.make")
            return None
        if self.render_mode == "ansi":
            return self._view.ansi(self.state)
        return self._view.rgb(self.state)


class TabularVectorEnv(_ModelAccess, NextStepVectorEnv[Any, IntArray, NDArray[Any]]):
    """``num_envs`` replicates of a finite MDP stepped as arrays, NEXT_STEP autoreset.

    The step after a replicate's episode ends resets it: its action is ignored, its reward is 0
    and it reports neither termination nor truncation. ``info["state"]`` is the true state of
    every replicate (agents must not read it)."""

    metadata = {  # noqa: RUF012
        "render_modes": ["ansi", "rgb_array"],
        "render_fps": 4,
    }
    env_name = "TabularMDP-v0"

    def _setup(self, model: TabularModel, view: _View, num_envs: int,
               max_episode_steps: int | None, render_mode: str | None,
               horizon: int | None = None) -> None:
        self._init_vector(num_envs, render_mode)
        self.max_episode_steps = _episode_limit(self.env_name, max_episode_steps, horizon)
        self._view = view
        self._core = TabularCore(model, self.num_envs)
        self._set_spaces(view.single_observation_space, spaces.Discrete(model.n_actions))
        self._no = np.zeros(self.num_envs, dtype=bool)
        self._no.flags.writeable = False
        self._ones = np.ones(self.num_envs, dtype=bool)
        self._ones.flags.writeable = False
        self._pending_rows = np.zeros(0, dtype=np.int64)

    def _set_rngs(self, rngs: list[np.random.Generator]) -> None:
        self._core.set_rngs(rngs)

    def _reset_all(self) -> tuple[NDArray[Any], dict[str, Any]]:
        self._core.reset_all()
        states = self._core.states.copy()
        return self._view.encode(states), {"state": states, "_state": self._ones}

    def _reset_rows(self, rows: IntArray) -> None:
        # Done by the step that follows: TabularCore.step resets these rows from the one uniform
        # every replicate draws per step (replicate i stays on the stream of seed s + i).
        self._pending_rows = rows

    def _step_all(self, actions: IntArray) -> tuple[NDArray[Any], FloatArray, BoolArray,
                                                    BoolArray, dict[str, Any]]:
        return self._finish(*self._core.step(actions, None))

    def _step_batch(self, actions: IntArray, stepped: BoolArray
                    ) -> tuple[NDArray[Any], FloatArray, BoolArray, BoolArray, dict[str, Any]]:
        return self._finish(*self._core.step(actions, self._pending_rows))

    def _finish(self, states: IntArray, rewards: FloatArray, terminated: BoolArray
                ) -> tuple[NDArray[Any], FloatArray, BoolArray, BoolArray, dict[str, Any]]:
        if self.max_episode_steps is not None:
            # As Gymnasium's TimeLimit: truncated at the limit, also when terminated there.
            truncated = self._core.steps >= self.max_episode_steps
        else:
            truncated = self._no
        return (self._view.encode(states), rewards, terminated, truncated,
                {"state": states, "_state": self._ones})

    def render(self) -> tuple[Any, ...] | None:
        if self.render_mode is None:
            gym.logger.warn(f"{self.env_name}: render() called without a render_mode")
            return None
        f = self._view.ansi if self.render_mode == "ansi" else self._view.rgb
        return tuple(f(int(s)) for s in self._core.states)


def _single_action(name: str, n_actions: int, action: Any) -> int:
    if isinstance(action, (bool, np.bool_)):
        raise ValueError(f"{name}: action must be an integer in [0, {n_actions}), got {action!r}")
    if isinstance(action, (int, np.integer)):
        a = int(action)
    elif isinstance(action, np.ndarray) and action.shape == () \
            and np.issubdtype(action.dtype, np.integer):
        a = int(action)
    else:
        if isinstance(action, (float, np.floating)) and np.isnan(action):
            raise ValueError(f"{name}: action is NaN")
        raise ValueError(f"{name}: action must be an integer in [0, {n_actions}), got {action!r}")
    if not 0 <= a < n_actions:
        raise ValueError(f"{name}: action {a} is out of range; expected an integer in "
                         f"[0, {n_actions})")
    return a


# --------------------------------------------------------------------------------------------
# TabularMDP-v0: any finite MDP, or a random Garnet one.
# --------------------------------------------------------------------------------------------


def garnet(n_states: int, n_actions: int, branching: int, seed: int
           ) -> tuple[FloatArray, FloatArray]:
    """A random Garnet MDP (Archibald, McKinnon & Thomas 1995; Bhatnagar et al. 2009): each
    (s, a) reaches ``branching`` distinct next states with probabilities from uniform cuts of
    [0, 1]; rewards uniform in [0, 1]. Returns (transitions (S, A, S), rewards (S, A))."""
    for pname, value, low in (("n_states", n_states, 1), ("n_actions", n_actions, 1),
                              ("branching", branching, 1)):
        check_int("TabularMDP-v0", pname, value, low=low, expected=f"an integer >= {low}")
    if branching > n_states:
        raise ValueError(f"TabularMDP-v0: branching must be at most n_states = {n_states}, "
                         f"got {branching}")
    rng = np.random.default_rng(seed)
    p = np.zeros((n_states, n_actions, n_states))
    for s in range(n_states):
        for a in range(n_actions):
            nxt = rng.choice(n_states, size=branching, replace=False)
            cuts = np.sort(rng.random(branching - 1))
            p[s, a, nxt] = np.diff(np.concatenate([[0.0], cuts, [1.0]]))
    return p, rng.random((n_states, n_actions))


def _tabular_model(transitions: ArrayLike | None, rewards: ArrayLike | None,
                   initial_state_distribution: ArrayLike | None,
                   terminal_states: Sequence[int] | ArrayLike, n_states: int, n_actions: int,
                   branching: int, mdp_seed: int, gamma: float) -> TabularModel:
    if (transitions is None) != (rewards is None):
        raise ValueError("TabularMDP-v0: give both transitions and rewards, or neither "
                         "(for a random Garnet MDP)")
    gamma = check_float("TabularMDP-v0", "gamma", gamma, low=0.0, high=1.0)
    check_int("TabularMDP-v0", "mdp_seed", mdp_seed, low=0)
    if transitions is None:
        transitions, rewards = garnet(n_states, n_actions, branching, mdp_seed)
    assert rewards is not None
    return TabularModel.from_arrays(transitions, rewards, initial_state_distribution,
                                    terminal_states, float(gamma))


_TABULAR_DOC = """A finite MDP given by arrays, or a random Garnet MDP.

    ## Description
    Any finite Markov decision process <S, A, P, R, gamma> (Dobriban (2019), section 5.3.5,
    Definition 5.13). Give ``transitions`` (S, A, S) and ``rewards`` (S, A) or (S, A, S) (reward of
    each outcome); or leave them out for a Garnet MDP with ``n_states``, ``n_actions``,
    ``branching`` drawn from ``mdp_seed``.

    ## Action Space
    ``Discrete(A)``. Anything else raises ``ValueError`` naming the environment and the value.

    ## Observation Space
    | Num | Observation | Min | Max |
    |-----|-------------|-----|-----|
    | 0   | state index | 0   | S-1 |

    ## Rewards
    ``rewards[s, a]`` (or ``rewards[s, a, s']``).

    ## Starting State
    Drawn from ``initial_state_distribution`` (default uniform over non-terminal states).

    ## Episode End
    - Termination: on entering a state of ``terminal_states``.
    - Truncation: after ``max_episode_steps`` steps (default 100; None for none; ``horizon``,
      the harness's name, is an alias).

    ## Arguments
    ``transitions``, ``rewards``, ``initial_state_distribution``, ``terminal_states``,
    ``n_states`` (10), ``n_actions`` (2), ``branching`` (3), ``mdp_seed`` (0), ``gamma`` (0.9, the
    discount the task is scored with), ``max_episode_steps``, ``render_mode``.

    ## Model
    ``env.unwrapped.P``, ``.transitions``, ``.rewards``, ``.gamma``: see the module docstring.

    ## Version History
    - v0: initial version.

    >>> import gymnasium as gym, decisiongym
    >>> env = gym.make("decisiongym/TabularMDP-v0", n_states=4, n_actions=2)
    >>> env.unwrapped.transitions.shape
    (4, 2, 4)
    """


class TabularMDP(TabularEnv):
    __doc__ = _TABULAR_DOC
    env_name = "TabularMDP-v0"

    def __init__(self, transitions: ArrayLike | None = None, rewards: ArrayLike | None = None,
                 initial_state_distribution: ArrayLike | None = None,
                 terminal_states: Sequence[int] | ArrayLike = (), n_states: int = 10,
                 n_actions: int = 2, branching: int = 3, mdp_seed: int = 0, gamma: float = 0.9,
                 max_episode_steps: int | None = 100, render_mode: str | None = None,
                 horizon: int | None = None) -> None:
        model = _tabular_model(transitions, rewards, initial_state_distribution, terminal_states,
                               n_states, n_actions, branching, mdp_seed, gamma)
        self._setup(model, _View(model), max_episode_steps, render_mode, horizon)


class TabularMDPVector(TabularVectorEnv):
    __doc__ = _TABULAR_DOC
    env_name = "TabularMDP-v0"

    def __init__(self, num_envs: int = 1, transitions: ArrayLike | None = None,
                 rewards: ArrayLike | None = None,
                 initial_state_distribution: ArrayLike | None = None,
                 terminal_states: Sequence[int] | ArrayLike = (), n_states: int = 10,
                 n_actions: int = 2, branching: int = 3, mdp_seed: int = 0, gamma: float = 0.9,
                 max_episode_steps: int | None = 100, render_mode: str | None = None,
                 horizon: int | None = None) -> None:
        model = _tabular_model(transitions, rewards, initial_state_distribution, terminal_states,
                               n_states, n_actions, branching, mdp_seed, gamma)
        self._setup(model, _View(model), num_envs, max_episode_steps, render_mode, horizon)


# --------------------------------------------------------------------------------------------
# RandomWalk-v0 (Sutton & Barto 2018, Example 6.2 and Figure 7.2).
# --------------------------------------------------------------------------------------------


def _random_walk_model(n_states: int, left_reward: float | None) -> TabularModel:
    if not is_integer(n_states) or n_states < 1 or n_states % 2 == 0:
        raise ValueError(f"RandomWalk-v0: n_states must be a positive odd integer, "
                         f"got {n_states!r}")
    left = ((0.0 if n_states == 5 else -1.0) if left_reward is None
            else check_float("RandomWalk-v0", "left_reward", left_reward))
    total = n_states + 2  # 0 and n+1 are the terminal ends
    p = np.zeros((total, 1, total))
    r = np.zeros((total, 1, total))
    for s in range(1, n_states + 1):
        p[s, 0, s - 1] = p[s, 0, s + 1] = 0.5
    r[1, 0, 0] = left
    r[n_states, 0, n_states + 1] = 1.0
    init = np.zeros(total)
    init[(total - 1) // 2] = 1.0
    return TabularModel.from_arrays(p, r, init, [0, total - 1], 1.0, "RandomWalk-v0")


class _WalkView(_View):
    def ansi(self, state: int) -> str:
        n = self.model.n_states
        cells = "".join("@" if s == state else ("|" if s in (0, n - 1) else
                        chr(ord("A") + s - 1) if n <= 28 else ".") for s in range(n))
        return cells + "\n"


_WALK_DOC = """The random walk of Sutton & Barto (2018), Example 6.2 (5 states) and Figure 7.2 (19).

    ## Description
    A Markov reward process for prediction: states 1..n in a row (A..E for n = 5), start in the
    centre, move left or right with probability 1/2 whatever the action. The true values are
    v(s) = s / (n + 1) for n = 5 (1/6 .. 5/6) and v(s) = 2 s / (n + 1) - 1 for 19 states with
    reward -1 on the left.

    ## Action Space
    ``Discrete(1)``: the walk has nothing to choose.

    ## Observation Space
    | Num | Observation | Min | Max |
    |-----|-------------|-----|-----|
    | 0   | state index (0 and n+1 are the terminal ends) | 0 | n+1 |

    ## Rewards
    +1 on leaving to the right; ``left_reward`` on leaving to the left (default 0 for n = 5,
    -1 otherwise); 0 elsewhere.

    ## Starting State
    The centre state (n + 1) / 2.

    ## Episode End
    - Termination: on reaching either end.
    - Truncation: after ``max_episode_steps`` (default None: none).

    ## Arguments
    ``n_states`` (5, odd), ``left_reward``, ``max_episode_steps``, ``render_mode``.

    ## Version History
    - v0: initial version.

    >>> import gymnasium as gym, decisiongym
    >>> env = gym.make("decisiongym/RandomWalk-v0")
    >>> env.reset(seed=0)[0]
    np.int64(3)
    """


class RandomWalk(TabularEnv):
    __doc__ = _WALK_DOC
    env_name = "RandomWalk-v0"

    def __init__(self, n_states: int = 5, left_reward: float | None = None,
                 max_episode_steps: int | None = None, render_mode: str | None = None,
                 horizon: int | None = None) -> None:
        model = _random_walk_model(n_states, left_reward)
        self._setup(model, _WalkView(model), max_episode_steps, render_mode, horizon)


class RandomWalkVector(TabularVectorEnv):
    __doc__ = _WALK_DOC
    env_name = "RandomWalk-v0"

    def __init__(self, num_envs: int = 1, n_states: int = 5, left_reward: float | None = None,
                 max_episode_steps: int | None = None, render_mode: str | None = None,
                 horizon: int | None = None) -> None:
        model = _random_walk_model(n_states, left_reward)
        self._setup(model, _WalkView(model), num_envs, max_episode_steps, render_mode, horizon)


# --------------------------------------------------------------------------------------------
# Maze-v0.
# --------------------------------------------------------------------------------------------

#: Maze-v0's default step limit (registered as its max_episode_steps): far above the longest
#: first episodes of the classic tabular runs on its layouts, so it only stops runaway episodes.
MAZE_MAX_EPISODE_STEPS = 10_000

# Actions N, E, S, W as in the maze example of Dobriban (2019), section 5.3.5, item 6.
_MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)], dtype=np.int64)


@dataclass(frozen=True)
class _LayoutSpec:
    rows: tuple[str, ...]
    step_reward: float = -1.0
    goal_reward: float = -1.0
    gamma: float = 1.0
    wind: tuple[int, ...] | None = None
    note: str = ""


LAYOUTS: dict[str, _LayoutSpec] = {
    # The maze example of Dobriban (2019), section 5.3.5, item 6 (after David Silver's lecture 1):
    # -1 per step, N/E/S/W, start on the left edge, goal on the right. The key "seed" is the
    # layout's historical name, kept for compatibility.
    "seed": _LayoutSpec((
        "##########",
        "S..#.....#",
        "#.##.##.##",
        "#....#...#",
        "##.#.#.#.#",
        "#..#...#.G",
        "##########",
    ), note="the maze example of Dobriban (2019), section 5.3.5 (-1 per step)"),
    # Sutton & Barto (2018), Figure 8.2 / Example 8.1: 6 x 9, reward 0 except +1 on reaching
    # the goal, gamma = 0.95. Shortest path: 14 steps.
    "dyna": _LayoutSpec((
        ".......#G",
        "..#....#.",
        "S.#....#.",
        "..#......",
        ".....#...",
        ".........",
    ), step_reward=0.0, goal_reward=1.0, gamma=0.95, note="S&B Example 8.1 Dyna maze"),
    # Sutton & Barto (2018), Example 6.5: 7 x 10, crosswind pushing up. Shortest path: 15 steps.
    "windy": _LayoutSpec((
        "..........",
        "..........",
        "..........",
        "S......G..",
        "..........",
        "..........",
        "..........",
    ), wind=(0, 0, 0, 1, 1, 1, 2, 2, 1, 0), note="S&B Example 6.5 windy gridworld"),
    # Sutton & Barto (2018), Example 6.6: 4 x 12, stepping into the cliff costs -100 and sends
    # the agent back to the start. Optimal return -13.
    "cliff": _LayoutSpec((
        "............",
        "............",
        "............",
        "SCCCCCCCCCCG",
    ), note="S&B Example 6.6 cliff walking"),
    "small": _LayoutSpec((
        "S..#",
        ".#..",
        "...G",
    ), note="a 3 x 4 maze for tests"),
}


def generate_maze(rows: int, cols: int, seed: int, name: str = "Maze-v0") -> tuple[str, ...]:
    """A perfect maze (one path between any two cells) by randomised depth-first search
    ("recursive backtracker"), start top left, goal bottom right. ``rows`` and ``cols`` are the
    outer size including walls and must be odd, at least 5 and 5."""
    for pname, value in (("rows", rows), ("cols", cols)):
        if not is_integer(value) or value < 5 or value % 2 == 0:
            raise ValueError(f"{name}: random maze {pname} must be an odd integer >= 5, "
                             f"got {value!r}")
    check_int(name, "maze_seed", seed, low=0)
    rng = np.random.default_rng(seed)
    grid = np.full((rows, cols), "#")
    start = (1, 1)
    grid[start] = "."
    stack = [start]
    while stack:
        r, c = stack[-1]
        options = [(r + 2 * dr, c + 2 * dc, r + dr, c + dc) for dr, dc in _MOVES
                   if 0 < r + 2 * dr < rows - 1 and 0 < c + 2 * dc < cols - 1
                   and grid[r + 2 * dr, c + 2 * dc] == "#"]
        if not options:
            stack.pop()
            continue
        nr, nc, wr, wc = options[int(rng.integers(len(options)))]
        grid[wr, wc] = grid[nr, nc] = "."
        stack.append((nr, nc))
    grid[1, 1] = "S"
    grid[rows - 2, cols - 2] = "G"
    return tuple("".join(row) for row in grid)


def shortest_path_length(layout: Sequence[str]) -> int | None:
    """Fewest moves from any start 'S' to any goal 'G' avoiding walls, cliffs and pits (no
    wind); None when no goal is reachable."""
    grid = [list(row) for row in layout]
    n_r, n_c = len(grid), len(grid[0])
    frontier = deque((r, c, 0) for r in range(n_r) for c in range(n_c) if grid[r][c] == "S")
    seen = {(r, c) for r, c, _ in frontier}
    while frontier:
        r, c, d = frontier.popleft()
        if grid[r][c] == "G":
            return d
        for dr, dc in _MOVES:
            nr, nc = r + int(dr), c + int(dc)
            if 0 <= nr < n_r and 0 <= nc < n_c and (nr, nc) not in seen \
                    and grid[nr][nc] not in "#CP":
                seen.add((nr, nc))
                frontier.append((nr, nc, d + 1))
    return None


def maze_is_solvable(layout: Sequence[str]) -> bool:
    """Whether a goal is reachable from every start (checked by breadth-first search)."""
    starts = [(r, c) for r, row in enumerate(layout) for c, ch in enumerate(row) if ch == "S"]
    return bool(starts) and all(
        shortest_path_length(_only_start(layout, s)) is not None for s in starts)


def _only_start(layout: Sequence[str], start: tuple[int, int]) -> list[str]:
    out = [row.replace("S", ".") for row in layout]
    r, c = start
    out[r] = out[r][:c] + "S" + out[r][c + 1:]
    return out


class _MazeGrid:
    """A parsed layout: which cells are states, and the model its moves define."""

    def __init__(self, layout: Sequence[str], slip: float, step_reward: float,
                 goal_reward: float, pit_reward: float, cliff_reward: float,
                 wind: Sequence[int] | None, gamma: float, name: str = "Maze-v0") -> None:
        if isinstance(layout, str) or not all(isinstance(r, str) for r in layout):
            raise ValueError(f"{name}: layout must be a name or a list of row strings, "
                             f"got {layout!r}")
        rows = [str(r) for r in layout]
        if not rows or any(len(r) != len(rows[0]) for r in rows) or not rows[0]:
            raise ValueError(f"{name}: layout rows must be non-empty and of equal length, "
                             f"got {layout!r}")
        bad = {ch for r in rows for ch in r} - set("#.SGPC")
        if bad:
            raise ValueError(f"{name}: unknown layout characters {sorted(bad)}; use # (wall), "
                             ". (free), S (start), G (goal), P (pit), C (cliff)")
        if not any("S" in r for r in rows) or not any("G" in r for r in rows):
            raise ValueError(f"{name}: the layout needs at least one start S and one goal G")
        if not maze_is_solvable(rows):
            raise ValueError(f"{name}: no path from a start to a goal in layout {rows!r}")
        slip = check_float(name, "slip", slip, low=0.0, high=1.0, high_open=True)
        step_reward, goal_reward, pit_reward, cliff_reward = (
            check_float(name, pname, value) for pname, value in (
                ("step_reward", step_reward), ("goal_reward", goal_reward),
                ("pit_reward", pit_reward), ("cliff_reward", cliff_reward)))
        gamma = check_float(name, "gamma", gamma, low=0.0, high=1.0)
        self.layout = rows
        self.n_rows, self.n_cols = len(rows), len(rows[0])
        grid = np.array([list(r) for r in rows])
        self.grid = grid
        is_state = (grid != "#") & (grid != "C")
        self.cells = np.argwhere(is_state).astype(np.int64)  # row-major
        self.state_of = np.full(grid.shape, -1, dtype=np.int64)
        self.state_of[is_state] = np.arange(len(self.cells))
        n_s = len(self.cells)
        if wind is not None:
            w = np.asarray(wind)
            if w.shape != (self.n_cols,) or not np.issubdtype(w.dtype, np.integer) \
                    or (w < 0).any():
                raise ValueError(f"{name}: wind must be {self.n_cols} non-negative integers, "
                                 f"got {wind!r}")
        else:
            w = np.zeros(self.n_cols, dtype=np.int64)
        starts = [self.state_of[r, c] for r, c in np.argwhere(grid == "S")]
        start_cell = np.argwhere(grid == "S")[0]
        first_start = int(self.state_of[start_cell[0], start_cell[1]])
        terminal = np.isin(grid[is_state], ["G", "P"])

        def move(r: int, c: int, a: int) -> tuple[int, float]:
            nr, nc = r + int(_MOVES[a, 0]), c + int(_MOVES[a, 1])
            if not (0 <= nr < self.n_rows and 0 <= nc < self.n_cols) or grid[nr, nc] == "#":
                nr, nc = r, c
            for _ in range(int(w[c])):  # the wind of the column left, as in S&B Example 6.5
                if nr - 1 >= 0 and grid[nr - 1, nc] not in "#":
                    nr -= 1
            ch = grid[nr, nc]
            if ch == "C":
                return first_start, float(cliff_reward)
            if ch == "G":
                return int(self.state_of[nr, nc]), float(goal_reward)
            if ch == "P":
                return int(self.state_of[nr, nc]), float(pit_reward)
            return int(self.state_of[nr, nc]), float(step_reward)

        k = 1 if slip == 0 else 4
        nxt = np.zeros((n_s, 4, k), dtype=np.int64)
        prob = np.zeros((n_s, 4, k))
        rew = np.zeros((n_s, 4, k))
        for s, (r, c) in enumerate(self.cells):
            for a in range(4):
                if k == 1:
                    nxt[s, a, 0], rew[s, a, 0] = move(int(r), int(c), a)
                    prob[s, a, 0] = 1.0
                    continue
                for j in range(4):  # with probability slip the move is uniformly random
                    nxt[s, a, j], rew[s, a, j] = move(int(r), int(c), j)
                    prob[s, a, j] = slip / 4 + (1.0 - slip if j == a else 0.0)
        nxt[terminal] = np.flatnonzero(terminal)[:, None, None]
        prob[terminal] = 0.0
        prob[terminal, :, 0] = 1.0
        rew[terminal] = 0.0
        init = np.zeros(n_s)
        init[starts] = 1.0 / len(starts)
        self.model = TabularModel(nxt, prob, rew, terminal, init, float(gamma))
        self.static = np.zeros((self.n_rows, self.n_cols, 3), dtype=np.uint8)
        self.static[..., 0] = np.where(grid == "#", 255, 0)
        self.static[..., 2] = np.where(np.isin(grid, ["G"]), 255,
                                       np.where(np.isin(grid, ["P", "C"]), 128, 0))


class _MazeView(_View):
    def __init__(self, maze: _MazeGrid, observation: str, name: str = "Maze-v0") -> None:
        self.model = maze.model
        self.maze = maze
        check_choice(name, "observation", observation, ("index", "coords", "image"),
                     expected="'index', 'coords' or 'image'")
        self.kind = observation
        if observation == "index":
            self.single_observation_space = spaces.Discrete(len(maze.cells))
        elif observation == "coords":
            self.single_observation_space = spaces.MultiDiscrete([maze.n_rows, maze.n_cols])
        else:
            self.single_observation_space = spaces.Box(0, 255, (maze.n_rows, maze.n_cols, 3),
                                                       dtype=np.uint8)

    def encode(self, states: IntArray) -> NDArray[Any]:
        if self.kind == "index":
            return states
        cells = self.maze.cells[states]
        if self.kind == "coords":
            return cells
        img = np.repeat(self.maze.static[None], states.size, axis=0)
        img[np.arange(states.size), cells[:, 0], cells[:, 1], 1] = 255
        return img

    def encode_one(self, state: int) -> Any:
        if self.kind == "index":
            return np.int64(state)
        return self.encode(np.array([state], dtype=np.int64))[0]

    def ansi(self, state: int) -> str:
        r0, c0 = self.maze.cells[state]
        lines = []
        for r, row in enumerate(self.maze.layout):
            chars = list(row)
            if r == r0:
                chars[c0] = "@"
            lines.append("".join(chars))
        return "\n".join(lines) + "\n"

    def rgb(self, state: int) -> NDArray[np.uint8]:
        px = 16
        colors = {"#": (40, 40, 40), ".": (235, 235, 235), "S": (200, 220, 255),
                  "G": (80, 200, 80), "P": (200, 60, 60), "C": (150, 70, 70)}
        g = self.maze.grid
        img = np.zeros((self.maze.n_rows * px, self.maze.n_cols * px, 3), dtype=np.uint8)
        for r in range(self.maze.n_rows):
            for c in range(self.maze.n_cols):
                img[r * px:(r + 1) * px, c * px:(c + 1) * px] = colors[str(g[r, c])]
        r0, c0 = self.maze.cells[state]
        img[r0 * px + 3:(r0 + 1) * px - 3, c0 * px + 3:(c0 + 1) * px - 3] = (40, 90, 220)
        return img


def _maze(layout: str | Sequence[str], size: tuple[int, int], maze_seed: int, slip: float,
          step_reward: float | None, goal_reward: float | None, pit_reward: float,
          cliff_reward: float, wind: Sequence[int] | None, gamma: float | None,
          name: str = "Maze-v0") -> _MazeGrid:
    if isinstance(layout, str):
        if layout == "random":
            if not isinstance(size, (tuple, list)) or len(size) != 2:
                raise ValueError(f"{name}: size must be (rows, cols), got {size!r}")
            spec = _LayoutSpec(generate_maze(size[0], size[1], maze_seed, name))
        elif layout in LAYOUTS:
            spec = LAYOUTS[layout]
        else:
            raise ValueError(f"{name}: unknown layout {layout!r}; named layouts: "
                             f"{', '.join([*LAYOUTS, 'random'])}, or give a list of rows")
    else:
        try:
            rows = tuple(layout)
        except TypeError:
            raise ValueError(f"{name}: layout must be a name or a list of row strings, "
                             f"got {layout!r}") from None
        spec = _LayoutSpec(rows)
    check_int(name, "maze_seed", maze_seed, low=0)
    return _MazeGrid(
        spec.rows, slip,
        spec.step_reward if step_reward is None else step_reward,
        spec.goal_reward if goal_reward is None else goal_reward,
        pit_reward, cliff_reward, spec.wind if wind is None else wind,
        spec.gamma if gamma is None else gamma, name)


_MAZE_DOC = """A gridworld maze from an ASCII layout (Dobriban (2019), section 5.3.5, item 6: the
    maze example).

    ## Description
    The agent moves N, E, S, W between free cells of a grid; walls ``#`` and the edge block a
    move (the agent stays). Layout characters: ``.`` free, ``S`` start (several: uniform), ``G``
    goal (terminal), ``P`` pit (terminal, ``pit_reward``), ``C`` cliff (entering costs
    ``cliff_reward`` and returns the agent to the first start, Sutton & Barto Example 6.6). With
    ``slip`` > 0 each move goes in a uniformly random direction with probability ``slip``. Named
    layouts (``layout=``): ``"seed"`` (the maze example of Dobriban (2019), section 5.3.5),
    ``"dyna"`` (S&B Example 8.1: reward 0, +1 at the goal, gamma 0.95), ``"windy"`` (S&B Example
    6.5, crosswind per column), ``"cliff"`` (S&B Example 6.6), ``"small"``, and ``"random"`` (a
    perfect maze of ``size`` from ``maze_seed`` by randomised depth-first search, always solvable).
    Every layout is checked for a path from each start to a goal.

    ## Action Space
    ``Discrete(4)``: 0 N, 1 E, 2 S, 3 W.

    ## Observation Space
    ``observation="index"``: ``Discrete(S)``, the index of the free cell in row-major order;
    ``"coords"``: ``MultiDiscrete([rows, cols])``, (row, column); ``"image"``:
    ``Box(0, 255, (rows, cols, 3), uint8)``, channels walls / agent / goal (pits and cliff 128).

    ## Rewards
    ``step_reward`` per move (-1), ``goal_reward`` on entering the goal (-1, so every step costs -1
    as in the notes' example), ``pit_reward`` (-100), ``cliff_reward`` (-100); the dyna layout uses
    0 and +1.

    ## Starting State
    A start cell ``S``.

    ## Episode End
    - Termination: on entering a goal or a pit.
    - Truncation: after ``max_episode_steps`` (default 10,000, also the registered
      ``max_episode_steps``: a policy that walks into a wall cannot run forever; None for no
      limit). As with Gymnasium's ``TimeLimit``, a step that terminates at the limit is also
      truncated.

    ## Arguments
    ``layout`` ("seed", a name or a list of rows), ``size`` ((11, 11), random mazes),
    ``maze_seed`` (0), ``slip`` (0.0), ``observation`` ("index"), ``step_reward``,
    ``goal_reward``, ``pit_reward``, ``cliff_reward``, ``wind``, ``gamma``,
    ``max_episode_steps``, ``render_mode`` ("ansi" or "rgb_array").

    ## Version History
    - v0: initial version.

    >>> import gymnasium as gym, decisiongym
    >>> env = gym.make("decisiongym/Maze-v0", layout="small", render_mode="ansi")
    >>> _ = env.reset(seed=0)
    >>> print(env.render(), end="")
    @..#
    .#..
    ...G
    """


class Maze(TabularEnv):
    __doc__ = _MAZE_DOC
    env_name = "Maze-v0"

    def __init__(self, layout: str | Sequence[str] = "seed", size: tuple[int, int] = (11, 11),
                 maze_seed: int = 0, slip: float = 0.0, observation: str = "index",
                 step_reward: float | None = None, goal_reward: float | None = None,
                 pit_reward: float = -100.0, cliff_reward: float = -100.0,
                 wind: Sequence[int] | None = None, gamma: float | None = None,
                 max_episode_steps: int | None = MAZE_MAX_EPISODE_STEPS,
                 render_mode: str | None = None, horizon: int | None = None) -> None:
        self.maze = _maze(layout, size, maze_seed, slip, step_reward, goal_reward, pit_reward,
                          cliff_reward, wind, gamma, self.env_name)
        self._setup(self.maze.model, _MazeView(self.maze, observation, self.env_name),
                    max_episode_steps, render_mode, horizon)


class MazeVector(TabularVectorEnv):
    __doc__ = _MAZE_DOC
    env_name = "Maze-v0"

    def __init__(self, num_envs: int = 1, layout: str | Sequence[str] = "seed",
                 size: tuple[int, int] = (11, 11), maze_seed: int = 0, slip: float = 0.0,
                 observation: str = "index", step_reward: float | None = None,
                 goal_reward: float | None = None, pit_reward: float = -100.0,
                 cliff_reward: float = -100.0, wind: Sequence[int] | None = None,
                 gamma: float | None = None, max_episode_steps: int | None = MAZE_MAX_EPISODE_STEPS,
                 render_mode: str | None = None, horizon: int | None = None) -> None:
        self.maze = _maze(layout, size, maze_seed, slip, step_reward, goal_reward, pit_reward,
                          cliff_reward, wind, gamma, self.env_name)
        self._setup(self.maze.model, _MazeView(self.maze, observation, self.env_name),
                    num_envs, max_episode_steps, render_mode, horizon)
