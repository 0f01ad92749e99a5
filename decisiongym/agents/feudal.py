"""Feudal Q-learning (Dayan & Hinton 1993, "Feudal reinforcement learning", NIPS 5; Dobriban, *Notes
for Stat 991: Topics in Deep Learning*, 2019, section 5.3.12, item 4) and the flat softmax
Q-learning it is compared with.

The maze is divided into quarters at every level (``FeudalMaze-v0``): level 0 is the whole maze,
level l has 2^l x 2^l regions, level n is the cells. There is a manager at every level
l = 0..n. Manager l gives a command about level-l regions: N, S, E, W ("move the agent to the
adjacent level-l region in that direction") or * ("search for the goal within the current
level-l region"); level 0 can only say *, level n only moves (its commands are the primitive
actions). Manager l's state is the agent's level-l region and the command it received from
manager l-1 (information hiding: it knows nothing else of its superiors' goals); its
Q-values estimate minus the path length to carry out that command.

Reward hiding. Manager l's task is its manager's command c: for c = N it is done when the
agent's level-(l-1) region changes northwards, for c = * when the goal is found (inside that
region). It is rewarded for that alone, whatever manager l-1's own goal is. Leaving the
level-(l-1) region any other way (or the goal turning up under a move command, which manager l
was not asked to find) is a failure: it costs the step and ``failure_cost`` and leaves the task
undone from where it was given (the target bootstraps from the state the command was received
in, as a time-out does). A failure valued at a fixed cost instead becomes a cheap way out once
a task's values have fallen below it (at gamma = 1 the values of a task that cannot be done
keep falling), and the sub-managers then stop searching their region.

Updates. Q-values are updated at every level at which a step causes a transition (the level-l
region changed; at level n every step is one), and only if the transition is what was ordered at
all lower levels: "super-managers should only learn from the fruits of the honest labour of
sub-managers". With ``strict=True`` (the default) manager l's own command must have been carried
out too (the direction moved, or * when the goal was found); with ``strict=False`` only the
levels below count, and a manager's * that ends in its sub-managers leaving the region is
credited with that move, which keeps * in the wrong quarter looking good (``reproduce feudal``
documents both). A manager whose command has produced no transition at its level for
``timeout`` x (cells of a level-l region) steps has its command timed out: it is updated as a
self-transition costing ``timeout_cost`` (bootstrapped from its own region) and decides again
(impossible commands, such as crossing the barrier, become expensive).

Action selection at every level is softmax (Boltzmann) over the Q-values, temperature
``temperature``; Q-values start at 0 (optimistic, costs are negative).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from decisiongym.agents.base import BaseAgent, register
from decisiongym.arrays import BoolArray, FloatArray, IntArray

__all__ = ["STAR", "FeudalQ", "SoftmaxQLearning", "softmax_choice"]

#: Command codes: 0 N, 1 S, 2 E, 3 W (the maze's primitive moves), 4 '*'.
STAR = 4
_DR = np.array([-1, 1, 0, 0], dtype=np.int64)
_DC = np.array([0, 0, 1, -1], dtype=np.int64)


def softmax_choice(q: FloatArray, temperature: float, rng: np.random.Generator) -> IntArray:
    """One Boltzmann draw per row of ``q`` (R, A): P(a) proportional to exp(q_a / temperature)."""
    z = (q - q.max(axis=1, keepdims=True)) / temperature
    p = np.exp(z)
    cum = np.cumsum(p, axis=1)
    u = rng.random(q.shape[0]) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), q.shape[1] - 1).astype(np.int64)


def _levels_of(name: str, observation_space: spaces.Space[Any]) -> int:
    if not isinstance(observation_space, spaces.Discrete):
        raise ValueError(f"{name}: needs a Discrete observation space (FeudalMaze-v0's cell "
                         f"index), got {observation_space}")
    n = int(observation_space.n)
    levels = round(np.log(n) / np.log(4)) if n > 1 else 0
    if levels < 1 or 4 ** levels != n:
        raise ValueError(f"{name}: the observation space must have 4^n cells (a 2^n x 2^n "
                         f"FeudalMaze-v0), got Discrete({n})")
    return int(levels)


@register("feudal-q", "feudal Q-learning (Dayan & Hinton 1993): a manager per level of "
          "FeudalMaze-v0, reward and information hiding")
class FeudalQ(BaseAgent):
    """Feudal Q-learning on ``FeudalMaze-v0`` (see the module docstring).

    Parameters: ``alpha`` learning rate in (0, 1] (0.5); ``gamma`` discount in [0, 1] (1.0: the
    Q-values are path lengths, as in the paper); ``temperature`` softmax temperature > 0
    (0.1, in units of steps at the manager's level); ``strict`` (True): a manager learns from a
    transition only if its own command was carried out as well as those below it; ``timeout``
    factor >= 1 of the time-out (2.0: a command gets twice as many steps as its region has
    cells); ``failure_cost`` >= 0 added to the path length when a sub-manager leaves its
    manager's region the wrong way (4.0), on top of the task's value where it was given;
    ``timeout_cost`` >= 0, the cost of a timed-out command (4.0). Path lengths are counted at
    each manager's own level: one per transition between its regions.

    ``q[l]`` (for l = 1..n) has shape (R, 4^l regions, 5 commands received, actions), with 5
    actions at levels 1..n-1 and the 4 moves at level n.
    """

    def __init__(self, *, observation_space: spaces.Space[Any],
                 action_space: spaces.Space[Any], alpha: float = 0.5, gamma: float = 1.0,
                 temperature: float = 0.1, timeout: float = 2.0,
                 failure_cost: float = 4.0, timeout_cost: float = 4.0,
                 strict: bool = True) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        self.levels = _levels_of(self.name, observation_space)
        if not isinstance(action_space, spaces.Discrete) or int(action_space.n) != 4:
            raise ValueError(f"{self.name}: needs Discrete(4) actions N, S, E, W, got "
                             f"{action_space}")
        self.alpha = self._check_float("alpha", alpha, low=0.0, high=1.0, low_open=True)
        self.gamma = self._check_float("gamma", gamma, low=0.0, high=1.0)
        self.temperature = self._check_float("temperature", temperature, low=0.0, low_open=True)
        self.timeout = self._check_float("timeout", timeout, low=1.0)
        self.failure_cost = self._check_float("failure_cost", failure_cost, low=0.0)
        self.timeout_cost = self._check_float("timeout_cost", timeout_cost, low=0.0)
        self.strict = self._check_bool("strict", strict)
        self._params = {"alpha": self.alpha, "gamma": self.gamma,
                        "temperature": self.temperature, "timeout": self.timeout,
                        "failure_cost": self.failure_cost, "timeout_cost": self.timeout_cost,
                        "strict": self.strict}
        self.side = 2 ** self.levels
        n = self.levels
        #: steps before manager l's command times out
        self.timeouts = [int(self.timeout * 4 ** (n - lv)) for lv in range(n + 1)]
        self.n_commands = [1] + [5] * (n - 1) + [4]

    # ----- level structure ---------------------------------------------------------------------
    def region(self, cells: IntArray, level: int) -> IntArray:
        """Row-major index of the level-``level`` region of each cell."""
        shift = self.levels - level
        return ((cells // self.side) >> shift) * (1 << level) + ((cells % self.side) >> shift)

    def _rc(self, cells: IntArray, level: int) -> tuple[IntArray, IntArray]:
        shift = self.levels - level
        return (cells // self.side) >> shift, (cells % self.side) >> shift

    # ----- protocol ----------------------------------------------------------------------------
    def _reset_state(self, num_envs: int) -> None:
        n, r = self.levels, num_envs
        self.q: list[FloatArray] = [np.zeros((r, 1, 1, 1))]
        for lv in range(1, n + 1):
            self.q.append(np.zeros((r, 4 ** lv, 5, self.n_commands[lv])))
        # Per level: the command in force, the state it was chosen in, steps since then.
        self.command = np.full((n + 1, r), STAR, dtype=np.int64)
        self.x = np.zeros((n + 1, r), dtype=np.int64)
        self.c = np.full((n + 1, r), STAR, dtype=np.int64)
        self.k = np.zeros((n + 1, r), dtype=np.int64)
        self.need = np.ones((n + 1, r), dtype=bool)  # must (re)decide at the next act
        self._rows = np.arange(r)

    def _decide(self, cells: IntArray) -> None:
        """Managers that must decide do so, top down; a new command from above makes every
        level below decide again."""
        n = self.levels
        for lv in range(1, n + 1):
            self.need[lv] |= self.need[lv - 1]
            rows = np.flatnonzero(self.need[lv])
            if rows.size == 0:
                continue
            x = self.region(cells[rows], lv)
            c = self.command[lv - 1, rows]
            qv = self.q[lv][rows, x, c]
            self.command[lv, rows] = softmax_choice(qv, self.temperature, self.rng)
            self.x[lv, rows], self.c[lv, rows], self.k[lv, rows] = x, c, 0

    def _act(self, obs: Any) -> IntArray:
        cells = np.asarray(obs, dtype=np.int64).reshape(self.num_envs)
        if self._any_episode_ended:  # a reset step: decide afresh from the next start
            self.need[:, self._episode_ended] = True
        self._decide(cells)
        self.need[:] = False
        if self._any_episode_ended:
            self.need[:, self._episode_ended] = True
        return self.command[self.levels].copy()

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray,
               next_obs: Any, terminated: BoolArray, truncated: BoolArray) -> None:
        n = self.levels
        before = np.asarray(obs, dtype=np.int64).reshape(self.num_envs)[rows]
        after = np.asarray(next_obs, dtype=np.int64).reshape(self.num_envs)[rows]
        term = terminated[rows]
        self.k[:, rows] += 1
        # The direction of the primitive move (-1 if the agent did not move).
        dr = after // self.side - before // self.side
        dc = after % self.side - before % self.side
        moved_dir = np.full(rows.size, -1, dtype=np.int64)
        for d in range(4):
            moved_dir[(dr == _DR[d]) & (dc == _DC[d])] = d
        obeyed_below = np.ones(rows.size, dtype=bool)  # levels > l ordered this move
        for lv in range(n, 0, -1):
            q = self.q[lv]
            x, c, a, k = self.x[lv, rows], self.c[lv, rows], self.command[lv, rows], \
                self.k[lv, rows]
            x_new = self.region(after, lv)
            moved = (x_new != x) | (lv == n)  # at level n every step is a transition
            # Did the level-(l-1) region change, and which way? (the command c's outcome)
            p_old, p_new = self._rc(before, lv - 1), self._rc(after, lv - 1)
            parent_moved = (p_old[0] != p_new[0]) | (p_old[1] != p_new[1])
            achieved = parent_moved & (c < STAR) & (moved_dir == c)
            failed = parent_moved & ~achieved
            found = term & ~parent_moved  # the goal, inside the region
            success_star = found & (c == STAR)
            failed |= found & (c < STAR)
            # Path length at this level: one per level-l transition; finding the goal
            # without leaving the region costs nothing more at this level.
            cost = np.where(moved, 1.0, 0.0)
            best_next = q[rows, x_new, c].max(axis=1)
            best_here = q[rows, x, c].max(axis=1)  # the task undone, from where it was given
            target = np.where(achieved | success_star, -cost,
                              np.where(failed, -cost - self.failure_cost
                                       + self.gamma * best_here,
                                       -cost + self.gamma * best_next))
            learn = (moved | term) & obeyed_below
            if self.strict and lv < n:  # this manager's own command was carried out too
                learn &= (a == moved_dir) | ((a == STAR) & term)
            # Time-outs: no transition at this level for too long.
            timed_out = ~moved & ~term & (k >= self.timeouts[lv])
            target = np.where(timed_out, -self.timeout_cost + self.gamma * best_here, target)
            learn |= timed_out
            sel = np.flatnonzero(learn)
            if sel.size:
                r_, x_, c_, a_ = rows[sel], x[sel], c[sel], a[sel]
                q[r_, x_, c_, a_] += self.alpha * (target[sel] - q[r_, x_, c_, a_])
            self.need[lv, rows] |= moved | timed_out
            # Obedience for the levels above: this level's command was the direction moved
            # (or * when the goal was found).
            if lv < n:
                obeyed_below &= (a == moved_dir) | ((a == STAR) & term)
            else:
                obeyed_below &= (moved_dir >= 0) | term

    def _end_episode(self, rows: IntArray) -> None:
        self.need[:, rows] = True

    def greedy_commands(self, level: int, command: int = STAR) -> IntArray:
        """(R, 4^level): each replicate's greedy command per level-``level`` region."""
        return np.asarray(self.q[level][:, :, command].argmax(axis=2), dtype=np.int64)


@register("softmax-q", "flat Q-learning with softmax (Boltzmann) exploration")
class SoftmaxQLearning(BaseAgent):
    """Watkins' Q-learning with softmax action selection: the flat baseline of Dayan & Hinton.

    Parameters: ``alpha`` (0.5), ``gamma`` (1.0), ``temperature`` (1.0), ``initial_value``
    (0.0: optimistic when rewards are costs)."""

    def __init__(self, *, observation_space: spaces.Space[Any],
                 action_space: spaces.Space[Any], alpha: float = 0.5, gamma: float = 1.0,
                 temperature: float = 1.0, initial_value: float = 0.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        if not isinstance(observation_space, spaces.Discrete) \
                or not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"{self.name}: needs Discrete observations and actions, got "
                             f"{observation_space} and {action_space}")
        self.n_states, self.n_actions = int(observation_space.n), int(action_space.n)
        self.alpha = self._check_float("alpha", alpha, low=0.0, high=1.0, low_open=True)
        self.gamma = self._check_float("gamma", gamma, low=0.0, high=1.0)
        self.temperature = self._check_float("temperature", temperature, low=0.0, low_open=True)
        self.initial_value = self._check_float("initial_value", initial_value)
        self._params = {"alpha": self.alpha, "gamma": self.gamma,
                        "temperature": self.temperature, "initial_value": self.initial_value}

    def _reset_state(self, num_envs: int) -> None:
        self.q = np.full((num_envs, self.n_states, self.n_actions), self.initial_value)

    def _act(self, obs: Any) -> IntArray:
        s = np.asarray(obs, dtype=np.int64).reshape(self.num_envs)
        return softmax_choice(self.q[np.arange(self.num_envs), s], self.temperature, self.rng)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray,
               next_obs: Any, terminated: BoolArray, truncated: BoolArray) -> None:
        s = np.asarray(obs, dtype=np.int64).reshape(self.num_envs)[rows]
        s2 = np.asarray(next_obs, dtype=np.int64).reshape(self.num_envs)[rows]
        a = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)[rows]
        bootstrap = np.where(terminated[rows], 0.0, self.q[rows, s2].max(axis=1))
        target = rewards[rows] + self.gamma * bootstrap
        self.q[rows, s, a] += self.alpha * (target - self.q[rows, s, a])

    def greedy_policy(self) -> IntArray:
        return np.asarray(self.q.argmax(axis=2), dtype=np.int64)
