"""A goal-conditioned maze: the goal is part of the observation (Dobriban, *Notes for Stat 991:
Topics in Deep Learning*, 2019, section 5.3.12, item 7).

Goal-conditioned value functions go back to Kaelbling (1993, "Learning to achieve goals"); Schaul
et al. (2015) learn one approximator V(s, g) / Q(s, a, g) for all goals (UVFA), and Andrychowicz
et al. (2017) relabel the goals of failed episodes with goals that were achieved later in them
(hindsight experience replay, HER; see ``her_k`` of :class:`decisiongym.agents.deep.DQN`).

The grid is a ``Maze-v0`` layout (:mod:`decisiongym.envs.mdp`: named layouts or a random perfect
maze); its S is the start and its G is ignored: the goal is drawn at every reset, uniformly from
the free cells reachable from the start other than the start itself (or fixed with ``goal``).
The observation is by default Gymnasium's GoalEnv ``Dict`` of ``observation``, ``achieved_goal``
(both the one-hot agent cell) and ``desired_goal`` (the one-hot goal cell), the form SB3's
checker and its ``HerReplayBuffer`` expect of an env with ``compute_reward``; with
``observation="flat"`` it is the Box ``one_hot(agent cell) ++ one_hot(goal cell)`` (achieved goal
then desired goal), the form any agent that reads a Box can use (``dqn`` with ``her_k``).
:meth:`GoalMaze.compute_reward` recomputes the reward of any (achieved, desired) pair, as
relabelling needs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from decisiongym.envs.mdp import _MOVES, _maze, _MazeGrid
from decisiongym.envs.vector import NextStepVectorEnv
from decisiongym.validation import (
    check_discrete_actions,
    check_float,
    check_int,
    check_optional_int,
    check_render_mode,
    is_integer,
)

NAME = "GoalMaze-v0"

_DOC = """A maze whose goal, drawn at each reset, is given in the observation.

    ## Description
    The agent starts at the layout's start cell and moves N, E, S, W (walls block); the goal is
    a free cell drawn uniformly at reset from those reachable from the start (not the start), or
    fixed with ``goal=(row, col)``. Reaching it ends the episode. The reward is sparse: only
    whether the goal was reached, so an agent that rarely reaches random goals learns little,
    unless it relabels its episodes with the goals it did reach (HER, ``dqn`` with ``her_k``).

    ## Action Space
    ``Discrete(4)``: 0 N, 1 E, 2 S, 3 W.

    ## Observation Space
    ``observation="dict"`` (default): Gymnasium's GoalEnv convention (what SB3's ``check_env``
    and ``HerReplayBuffer`` expect of an env with ``compute_reward``), a ``Dict`` of
    ``observation``, ``achieved_goal`` (both the agent's one-hot cell) and ``desired_goal`` (the
    goal's), each ``Box(0, 1, (S,), float32)``, S the number of free cells (row-major).
    ``"flat"``: ``Box(0, 1, (2 S,), float32)``, the one-hot cell of the agent (the achieved goal)
    followed by the one-hot cell of the goal (the desired goal): for agents that read a Box
    (``dqn`` with ``her_k``). :meth:`compute_reward` takes arrays of such halves (any leading
    batch shape).

    ## Rewards
    ``goal_reward`` (0) on reaching the goal, ``step_reward`` (-1) on every other step.

    ## Starting State
    The start cell ``S`` of the layout; the goal as above.

    ## Episode End
    - Termination: on reaching the goal.
    - Truncation: after ``max_episode_steps`` steps (default 50, also the registered
      ``max_episode_steps``). As with Gymnasium's ``TimeLimit``, a step that reaches the goal
      at the limit is both terminated and truncated.

    ## Info
    ``state`` (the agent's cell index), ``position`` and ``goal`` ((row, col)), ``is_success``;
    the vector env gives the same keys as arrays (``position`` and ``goal`` of shape (n, 2)),
    plus ``goal_state``.

    ## Arguments
    ``layout`` ("random"; any ``Maze-v0`` layout, or ``room(n)`` rows for an open room), ``size``
    ((9, 9), random layouts), ``maze_seed`` (0), ``goal`` (None:
    random each reset; or (row, col)), ``max_episode_steps`` (50), ``step_reward`` (-1),
    ``goal_reward`` (0), ``observation`` ("dict" or "flat"), ``render_mode`` ("ansi").

    ## Version History
    - v0: initial version.

    >>> import gymnasium as gym, decisiongym
    >>> env = gym.make("decisiongym/GoalMaze-v0", layout="small", goal=(2, 0),
    ...                render_mode="ansi")
    >>> obs, info = env.reset(seed=0)
    >>> print(env.render(), end="")
    @..#
    .#..
    *...
    >>> obs["desired_goal"].shape, info["goal"]
    ((10,), (2, 0))
    """


def room(size: int) -> tuple[str, ...]:
    """An open ``size`` x ``size`` room (a ``Maze-v0`` layout, no inner walls), start top left
    (the layout's G, bottom right, is ignored by ``GoalMaze-v0``)."""
    check_int(NAME, "room size", size, low=2)
    return ("S" + "." * (size - 1), *(["." * size] * (size - 2)), "." * (size - 1) + "G")


class _GoalCore:
    """Deterministic moves on a maze's free cells plus a goal per replicate."""

    def __init__(self, layout: str | Sequence[str], size: tuple[int, int], maze_seed: int,
                 goal: Any, max_episode_steps: Any, step_reward: Any, goal_reward: Any,
                 observation: str, num_envs: int) -> None:
        if observation not in ("flat", "dict"):
            raise ValueError(f"{NAME}: observation must be 'dict' or 'flat', got {observation!r}")
        self.kind = observation
        self.maze: _MazeGrid = _maze(layout, size, maze_seed, 0.0, 0.0, 0.0, 0.0, 0.0, None,
                                     1.0, NAME)
        m = self.maze
        n_s = len(m.cells)
        self.n_states = n_s
        nxt = np.zeros((n_s, 4), dtype=np.int64)
        for s, (r, c) in enumerate(m.cells):
            for a in range(4):
                nr, nc = int(r + _MOVES[a, 0]), int(c + _MOVES[a, 1])
                ok = 0 <= nr < m.n_rows and 0 <= nc < m.n_cols and m.state_of[nr, nc] >= 0
                nxt[s, a] = m.state_of[nr, nc] if ok else s
        self.next = nxt
        start_rc = np.argwhere(m.grid == "S")[0]
        self.start = int(m.state_of[start_rc[0], start_rc[1]])
        seen = {self.start}
        frontier = deque([self.start])
        while frontier:
            s = frontier.popleft()
            for t in nxt[s]:
                if int(t) not in seen:
                    seen.add(int(t))
                    frontier.append(int(t))
        seen.discard(self.start)
        self.goal_cells = np.array(sorted(seen), dtype=np.int64)
        if goal is None:
            self.fixed_goal: int | None = None
        else:
            try:
                r, c = goal
                ok = (is_integer(r) and is_integer(c) and 0 <= r < m.n_rows
                      and 0 <= c < m.n_cols and int(m.state_of[r, c]) in seen)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"{NAME}: goal must be (row, col) of a free cell reachable "
                                 f"from the start, other than the start, got {goal!r}")
            self.fixed_goal = int(m.state_of[int(r), int(c)])
        self.max_episode_steps = check_optional_int(NAME, "max_episode_steps", max_episode_steps)
        self.step_reward, self.goal_reward = (
            check_float(NAME, pname, v, expected="a finite number")
            for pname, v in (("step_reward", step_reward), ("goal_reward", goal_reward)))
        self.num_envs = num_envs
        self.rngs: list[np.random.Generator] = []
        self.states = np.full(num_envs, self.start, dtype=np.int64)
        self.goals = np.zeros(num_envs, dtype=np.int64)
        self.steps = np.zeros(num_envs, dtype=np.int64)
        half = spaces.Box(0.0, 1.0, (n_s,), dtype=np.float32)
        self.space: spaces.Space[Any] = (
            spaces.Box(0.0, 1.0, (2 * n_s,), dtype=np.float32) if observation == "flat" else
            spaces.Dict({"observation": half, "achieved_goal": half, "desired_goal": half}))

    def draw_goals(self, rows: NDArray[np.int64]) -> None:
        for i in rows:
            self.states[i] = self.start
            self.steps[i] = 0
            self.goals[i] = (self.fixed_goal if self.fixed_goal is not None else
                             int(self.goal_cells[int(self.rngs[i].integers(
                                 len(self.goal_cells)))]))

    def encode(self) -> Any:
        n = self.num_envs
        obs = np.zeros((n, 2 * self.n_states), dtype=np.float32)
        obs[np.arange(n), self.states] = 1.0
        obs[np.arange(n), self.n_states + self.goals] = 1.0
        if self.kind == "flat":
            return obs
        pos, goal = obs[:, :self.n_states], obs[:, self.n_states:]
        return {"observation": pos.copy(), "achieved_goal": pos, "desired_goal": goal}

    def encode_one(self) -> Any:
        obs = self.encode()
        return obs[0] if self.kind == "flat" else {k: v[0] for k, v in obs.items()}

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any = None) -> Any:
        a, d = np.asarray(achieved_goal), np.asarray(desired_goal)
        if a.shape != d.shape or a.shape[-1:] != (self.n_states,):
            raise ValueError(f"{NAME}: compute_reward needs achieved and desired goals of the "
                             f"same shape (..., {self.n_states}), got {a.shape} and {d.shape}")
        hit = (a.argmax(axis=-1) == d.argmax(axis=-1))
        return np.where(hit, self.goal_reward, self.step_reward)

    def ansi(self, i: int) -> str:
        m = self.maze
        lines = []
        for r, row in enumerate(m.layout):
            chars = ["." if ch in "SG" else ch for ch in row]
            gr, gc = m.cells[self.goals[i]]
            if r == gr:
                chars[gc] = "*"
            ar, ac = m.cells[self.states[i]]
            if r == ar:
                chars[ac] = "@"
            lines.append("".join(chars))
        return "\n".join(lines) + "\n"

    def info(self) -> dict[str, Any]:
        """The single env's info keys as arrays over the replicates (and ``goal_state``)."""
        return {"state": self.states.copy(), "goal_state": self.goals.copy(),
                "position": self.maze.cells[self.states], "goal": self.maze.cells[self.goals],
                "is_success": self.states == self.goals}


class GoalMaze(gym.Env[Any, np.int64]):
    __doc__ = _DOC
    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012

    def __init__(self, layout: str | Sequence[str] = "random", size: tuple[int, int] = (9, 9),
                 maze_seed: int = 0, goal: tuple[int, int] | None = None,
                 max_episode_steps: int | None = 50, step_reward: float = -1.0,
                 goal_reward: float = 0.0, observation: str = "dict",
                 render_mode: str | None = None) -> None:
        self.render_mode = check_render_mode(NAME, self.metadata["render_modes"], render_mode)
        self._core = _GoalCore(layout, size, maze_seed, goal, max_episode_steps, step_reward,
                               goal_reward, observation, 1)
        self.maze = self._core.maze
        self.observation_space = self._core.space
        self.action_space = spaces.Discrete(4)
        self._ready = False

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any = None) -> Any:
        """The reward for reaching ``achieved_goal`` when ``desired_goal`` was asked (one-hot
        halves of the observation, any leading shape)."""
        return self._core.compute_reward(achieved_goal, desired_goal, info)

    def _info(self) -> dict[str, Any]:
        c = self._core
        cell = self.maze.cells[c.states[0]]
        goal = self.maze.cells[c.goals[0]]
        return {"state": int(c.states[0]), "position": (int(cell[0]), int(cell[1])),
                "goal": (int(goal[0]), int(goal[1])),
                "is_success": bool(c.states[0] == c.goals[0])}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None or not self._ready:
            self._core.rngs = [self.np_random]
        self._core.draw_goals(np.zeros(1, dtype=np.int64))
        self._ready = True
        return self._core.encode_one(), self._info()

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool,
                                         dict[str, Any]]:
        if not self._ready:
            raise gym.error.ResetNeeded(f"{NAME}: call reset() before step()")
        a = int(check_discrete_actions(NAME, np.asarray(action).reshape(1)
                                       if np.ndim(action) == 0 else action, 1, 4)[0])
        c = self._core
        c.states[0] = c.next[c.states[0], a]
        c.steps[0] += 1
        terminated = bool(c.states[0] == c.goals[0])
        reward = c.goal_reward if terminated else c.step_reward
        # Gymnasium's TimeLimit rule: truncated at the limit, also when the goal is reached.
        truncated = (c.max_episode_steps is not None
                     and int(c.steps[0]) >= c.max_episode_steps)
        if terminated or truncated:
            self._ready = False
        return c.encode_one(), reward, terminated, bool(truncated), self._info()

    def render(self) -> str | None:
        if self.render_mode is None:
            gym.logger.warn(f"{NAME}: render() called without a render_mode; pass "
                            "render_mode='ansi' to gym.make")
            return None
        return self._core.ansi(0)


class GoalMazeVector(NextStepVectorEnv[Any, NDArray[np.int64], NDArray[Any]]):
    """``num_envs`` goal mazes stepped as arrays, NEXT_STEP autoreset (the step after an
    episode ends resets the copy, with a new goal: action ignored, reward 0, not done)."""

    __doc__ = _DOC
    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012
    env_name = NAME

    def __init__(self, num_envs: int = 1, layout: str | Sequence[str] = "random",
                 size: tuple[int, int] = (9, 9), maze_seed: int = 0,
                 goal: tuple[int, int] | None = None, max_episode_steps: int | None = 50,
                 step_reward: float = -1.0, goal_reward: float = 0.0,
                 observation: str = "dict", render_mode: str | None = None) -> None:
        self._init_vector(num_envs, render_mode)
        self._core = _GoalCore(layout, size, maze_seed, goal, max_episode_steps, step_reward,
                               goal_reward, observation, self.num_envs)
        self.maze = self._core.maze
        self._set_spaces(self._core.space, spaces.Discrete(4))

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any = None) -> Any:
        return self._core.compute_reward(achieved_goal, desired_goal, info)

    def _set_rngs(self, rngs: list[np.random.Generator]) -> None:
        self._core.rngs = rngs

    def _reset_all(self) -> tuple[Any, dict[str, Any]]:
        self._core.draw_goals(np.arange(self.num_envs))
        return self._core.encode(), self._core.info()

    def _reset_rows(self, rows: NDArray[np.int64]) -> None:
        self._core.draw_goals(rows)

    def _step_batch(self, a: NDArray[np.int64], moving: NDArray[np.bool_]
                    ) -> tuple[Any, NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_],
                               dict[str, Any]]:
        c = self._core
        c.states = np.where(moving, c.next[c.states, a], c.states)
        c.steps += moving
        terminated = moving & (c.states == c.goals)
        rewards = np.where(terminated, c.goal_reward, c.step_reward) * moving
        if c.max_episode_steps is not None:
            truncated = moving & (c.steps >= c.max_episode_steps)
        else:
            truncated = np.zeros(self.num_envs, dtype=bool)
        return c.encode(), rewards.astype(np.float64), terminated, truncated, c.info()

    def render(self) -> tuple[str, ...] | None:
        if self.render_mode is None:
            gym.logger.warn(f"{NAME}: render() called without a render_mode")
            return None
        return tuple(self._core.ansi(i) for i in range(self.num_envs))


__all__ = ["GoalMaze", "GoalMazeVector", "room"]
