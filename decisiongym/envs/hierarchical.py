"""Gridworlds for hierarchical RL (Dobriban, *Notes for Stat 991: Topics in Deep Learning*, 2019,
section 5.3.12).

Capability probed: temporal and spatial abstraction. ``FeudalMaze-v0`` is the maze of Dayan & Hinton
(1993), "Feudal reinforcement learning" (Dobriban (2019), section 5.3.12, Figure 89): a 2^n x 2^n
grid with a U-shaped barrier and a goal the agent is not told, divided into quarters at every level,
the level structure exposed (:meth:`FeudalMaze.region`). ``FourRooms-v0`` is the gridworld of
Sutton, Precup & Singh (1999), "Between MDPs and semi-MDPs" (their Figure 2): four rooms joined by
four hallways, moves that go the intended way with probability 2/3 and each other way with
probability 1/9.

Both are :class:`~decisiongym.envs.mdp.TabularEnv` s: one batched core serves ``gym.make`` and
the native vector env, and the model is exposed as ``P``, ``transitions`` and ``rewards``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from decisiongym.arrays import IntArray
from decisiongym.envs.mdp import TabularEnv, TabularModel, TabularVectorEnv, _View
from decisiongym.validation import check_float, check_int, is_integer

__all__ = [
    "FOUR_ROOMS_LAYOUT",
    "FeudalMaze",
    "FeudalMazeVector",
    "FourRooms",
    "FourRoomsVector",
    "feudal_maze_model",
    "four_rooms_model",
]


#: N, S, E, W as (row, column) steps: Dayan & Hinton's order (index 4 is their '*').
FEUDAL_MOVES = np.array([(-1, 0), (1, 0), (0, 1), (0, -1)], dtype=np.int64)


class _GridView(_View):
    """Observation = cell index; ansi and rgb renderings of a rectangular grid of cells."""

    def __init__(self, model: TabularModel, cells: IntArray, shape: tuple[int, int],
                 goal_cells: Sequence[int], walls: NDArray[np.bool_] | None = None) -> None:
        super().__init__(model)
        self.cells, self.shape = cells, shape
        self.goal_cells = set(int(g) for g in goal_cells)
        self.walls = walls

    def ansi(self, state: int) -> str:
        rows, cols = self.shape
        grid = [["." for _ in range(cols)] for _ in range(rows)]
        if self.walls is not None:
            for r, c in np.argwhere(self.walls):
                grid[r][c] = "#"
        for g in self.goal_cells:
            r, c = self.cells[g]
            grid[r][c] = "G"
        r, c = self.cells[state]
        grid[r][c] = "@"
        return "\n".join("".join(row) for row in grid) + "\n"

    def rgb(self, state: int) -> NDArray[np.uint8]:
        px = 12
        rows, cols = self.shape
        img = np.full((rows * px, cols * px, 3), 235, dtype=np.uint8)
        if self.walls is not None:
            for r, c in np.argwhere(self.walls):
                img[r * px:(r + 1) * px, c * px:(c + 1) * px] = 40
        for g in self.goal_cells:
            r, c = self.cells[g]
            img[r * px:(r + 1) * px, c * px:(c + 1) * px] = (80, 200, 80)
        r, c = self.cells[state]
        img[r * px + 2:(r + 1) * px - 2, c * px + 2:(c + 1) * px - 2] = (40, 90, 220)
        return img


# --------------------------------------------------------------------------------------------
# FeudalMaze-v0 (Dayan & Hinton 1993).
# --------------------------------------------------------------------------------------------


def _feudal_blocked(side: int) -> NDArray[np.bool_]:
    """blocked[r, c, a]: the move a (N, S, E, W) from (r, c) crosses the U-shaped barrier.

    The U opens north: two walls down the sides of the centre quarter-band and one along its
    bottom (scaled with the maze: on 8 x 8, columns 2-5, rows 2-5)."""
    blocked = np.zeros((side, side, 4), dtype=bool)
    lo, hi = side // 4, side - side // 4 - 1  # 2 and 5 on 8 x 8
    for r in range(lo, hi + 1):
        blocked[r, lo - 1, 2] = blocked[r, lo, 3] = True  # west arm
        blocked[r, hi, 2] = blocked[r, hi + 1, 3] = True  # east arm
    for c in range(lo, hi + 1):
        blocked[hi, c, 1] = blocked[hi + 1, c, 0] = True  # bottom of the U
    return blocked


def _check_cell(name: str, what: str, cell: Any, side: int) -> tuple[int, int]:
    try:
        r, c = cell
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {what} must be a (row, column) pair, got {cell!r}") from None
    if not (is_integer(r) and is_integer(c)):
        raise ValueError(f"{name}: {what} must be a (row, column) pair of integers, "
                         f"got {cell!r}")
    r, c = int(r), int(c)
    if not (0 <= r < side and 0 <= c < side):
        raise ValueError(f"{name}: {what} {cell!r} is outside the {side} x {side} grid")
    return r, c


def feudal_maze_model(levels: int = 3, goal: Sequence[int] | None = None,
                      start: Sequence[int] | None = None, gamma: float = 1.0
                      ) -> tuple[TabularModel, NDArray[np.bool_], int]:
    """The maze model: -1 per move, the goal terminal; moves into the barrier or the edge stay.

    Returns the model, the ``blocked[r, c, a]`` table and the goal's state index."""
    name = "FeudalMaze-v0"
    levels = check_int(name, "levels", levels, low=1, high=6,
                       expected="an integer in [1, 6] (a 2^levels square maze)")
    gamma = check_float(name, "gamma", gamma, low=0.0, high=1.0)
    side = 2 ** levels
    gr, gc = _check_cell(name, "goal", (side // 2 - 1, side // 2 - 1) if goal is None else goal,
                         side)
    blocked = _feudal_blocked(side) if side >= 4 else np.zeros((side, side, 4), dtype=bool)
    n_s = side * side
    nxt = np.zeros((n_s, 4, 1), dtype=np.int64)
    for r in range(side):
        for c in range(side):
            for a in range(4):
                nr, nc = r + int(FEUDAL_MOVES[a, 0]), c + int(FEUDAL_MOVES[a, 1])
                if blocked[r, c, a] or not (0 <= nr < side and 0 <= nc < side):
                    nr, nc = r, c
                nxt[r * side + c, a, 0] = nr * side + nc
    goal_state = gr * side + gc
    terminal = np.zeros(n_s, dtype=bool)
    terminal[goal_state] = True
    nxt[goal_state] = goal_state
    reward = np.full((n_s, 4, 1), -1.0)
    reward[goal_state] = 0.0
    init = np.zeros(n_s)
    if start is None:
        init[~terminal] = 1.0 / (n_s - 1)
    else:
        sr, sc = _check_cell(name, "start", start, side)
        if sr * side + sc == goal_state:
            raise ValueError(f"{name}: start {start!r} is the goal")
        init[sr * side + sc] = 1.0
    return (TabularModel(nxt, np.ones((n_s, 4, 1)), reward, terminal, init, float(gamma)),
            blocked, goal_state)


_FEUDAL_DOC = """The feudal maze of Dayan & Hinton (1993) (Dobriban (2019), section 5.3.12,
    Figure 89).

    ## Description
    A 2^n x 2^n grid (``levels`` = n = 3: 8 x 8) with a U-shaped barrier open to the north and a
    goal whose location the agent is not told. The maze is divided into quarters at every level:
    level 0 is the whole maze, level l has 2^l x 2^l regions of 2^(n-l) x 2^(n-l) cells, level n
    is the cells. ``env.unwrapped.region(state, level)`` gives the (row, column) of the level-l
    region that contains a cell, ``region_index`` its row-major index; every cell belongs to
    exactly one region per level. Feudal Q-learning (``feudal-q``) uses this structure.

    ## Action Space
    ``Discrete(4)``: 0 N, 1 S, 2 E, 3 W (Dayan & Hinton's order). A move into the barrier or
    the edge leaves the agent where it is.

    ## Observation Space
    | Num | Observation | Min | Max |
    |-----|-------------|-----|-----|
    | 0   | cell index row * 2^n + column | 0 | 4^n - 1 |

    ## Rewards
    -1 per move (the return is minus the path length).

    ## Starting State
    Uniform over the cells other than the goal, or ``start``.

    ## Episode End
    - Termination: on reaching the goal.
    - Truncation: after ``max_episode_steps`` (default 1000, also the registered limit; a step
      that terminates at the limit is also truncated, as with Gymnasium's ``TimeLimit``).

    ## Arguments
    ``levels`` (3), ``goal`` ((row, column), default (2^(n-1) - 1, 2^(n-1) - 1), inside the U:
    (3, 3) on 8 x 8), ``start`` (None: uniform), ``max_episode_steps``, ``render_mode``.

    ## Version History
    - v0: initial version.

    >>> import gymnasium as gym, decisiongym
    >>> env = gym.make("decisiongym/FeudalMaze-v0")
    >>> env.unwrapped.region(63, 1), env.unwrapped.region(63, 3)
    ((1, 1), (7, 7))
    """


class _FeudalAccess:
    levels: int
    side: int
    goal_state: int
    blocked: NDArray[np.bool_]

    def _build(self, levels: int, goal: Sequence[int] | None, start: Sequence[int] | None
               ) -> tuple[TabularModel, _GridView]:
        model, blocked, goal_state = feudal_maze_model(levels, goal, start)
        self.levels, self.side = int(levels), 2 ** int(levels)
        self.goal_state, self.blocked = goal_state, blocked
        cells = np.array([(r, c) for r in range(self.side) for c in range(self.side)],
                         dtype=np.int64)
        return model, _GridView(model, cells, (self.side, self.side), [goal_state])

    def region(self, state: int, level: int) -> tuple[int, int]:
        """(row, column) of the level-``level`` region containing cell ``state``."""
        if not 0 <= level <= self.levels:
            raise ValueError(f"FeudalMaze-v0: level must be in [0, {self.levels}], got {level!r}")
        shift = self.levels - level
        r, c = divmod(int(state), self.side)
        return r >> shift, c >> shift

    def region_index(self, states: Any, level: int) -> IntArray:
        """Row-major index of the level-``level`` region of each cell (vectorised)."""
        s = np.asarray(states, dtype=np.int64)
        shift = self.levels - level
        return np.asarray(((s // self.side) >> shift) * (1 << level) + ((s % self.side) >> shift))


class FeudalMaze(_FeudalAccess, TabularEnv):
    __doc__ = _FEUDAL_DOC
    env_name = "FeudalMaze-v0"

    def __init__(self, levels: int = 3, goal: Sequence[int] | None = None,
                 start: Sequence[int] | None = None, max_episode_steps: int | None = 1000,
                 render_mode: str | None = None, horizon: int | None = None) -> None:
        model, view = self._build(levels, goal, start)
        self._setup(model, view, max_episode_steps, render_mode, horizon)


class FeudalMazeVector(_FeudalAccess, TabularVectorEnv):
    __doc__ = _FEUDAL_DOC
    env_name = "FeudalMaze-v0"

    def __init__(self, num_envs: int = 1, levels: int = 3, goal: Sequence[int] | None = None,
                 start: Sequence[int] | None = None, max_episode_steps: int | None = 1000,
                 render_mode: str | None = None, horizon: int | None = None) -> None:
        model, view = self._build(levels, goal, start)
        self._setup(model, view, num_envs, max_episode_steps, render_mode, horizon)


# --------------------------------------------------------------------------------------------
# FourRooms-v0 (Sutton, Precup & Singh 1999).
# --------------------------------------------------------------------------------------------

#: Their Figure 2: 11 x 11 interior, 104 cells, hallways at (3, 6) [W-E upper], (6, 2)
#: [N-S left], (7, 9) [N-S right], (10, 6) [W-E lower] in this 13 x 13 frame.
FOUR_ROOMS_LAYOUT = (
    "#############",
    "#.....#.....#",
    "#.....#.....#",
    "#...........#",
    "#.....#.....#",
    "#.....#.....#",
    "##.####.....#",
    "#.....###.###",
    "#.....#.....#",
    "#.....#.....#",
    "#...........#",
    "#.....#.....#",
    "#############",
)
#: The four hallways; the default goal is the right-hand one, (7, 9) (their G1 is a hallway).
FOUR_ROOMS_HALLWAYS = ((3, 6), (6, 2), (7, 9), (10, 6))
#: N, E, S, W.
FOUR_ROOMS_MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)], dtype=np.int64)


def four_rooms_model(goal: Sequence[int] = (7, 9), success: float = 2.0 / 3.0,
                     gamma: float = 0.9, start: Sequence[int] | None = None
                     ) -> tuple[TabularModel, IntArray, NDArray[np.int64]]:
    """Their model: reward 0 everywhere, +1 on entering the goal (terminal), gamma 0.9; each
    move goes the intended way with ``success`` and each other way with (1 - success) / 3.

    Returns the model, the (row, col) of each state, and ``state_of`` (13 x 13, -1 on walls)."""
    name = "FourRooms-v0"
    success = check_float(name, "success", success, low=0.0, high=1.0, low_open=True)
    gamma = check_float(name, "gamma", gamma, low=0.0, high=1.0)
    grid = np.array([list(r) for r in FOUR_ROOMS_LAYOUT])
    free = grid != "#"
    cells = np.argwhere(free).astype(np.int64)
    state_of = np.full(grid.shape, -1, dtype=np.int64)
    state_of[free] = np.arange(len(cells))
    gr, gc = _check_cell(name, "goal", goal, 13)
    if not free[gr, gc]:
        raise ValueError(f"{name}: goal {goal!r} is a wall")
    goal_state = int(state_of[gr, gc])
    n_s = len(cells)
    nxt = np.zeros((n_s, 4, 4), dtype=np.int64)
    prob = np.zeros((n_s, 4, 4))
    rew = np.zeros((n_s, 4, 4))
    other = (1.0 - float(success)) / 3.0
    for s, (r, c) in enumerate(cells):
        for a in range(4):
            for j in range(4):
                nr, nc = int(r + FOUR_ROOMS_MOVES[j, 0]), int(c + FOUR_ROOMS_MOVES[j, 1])
                if not free[nr, nc]:
                    nr, nc = int(r), int(c)
                nxt[s, a, j] = state_of[nr, nc]
                prob[s, a, j] = float(success) if j == a else other
                rew[s, a, j] = 1.0 if nxt[s, a, j] == goal_state else 0.0
    terminal = np.zeros(n_s, dtype=bool)
    terminal[goal_state] = True
    nxt[goal_state] = goal_state
    prob[goal_state] = 0.0
    prob[goal_state, :, 0] = 1.0
    rew[goal_state] = 0.0
    init = np.zeros(n_s)
    if start is None:
        init[~terminal] = 1.0 / (n_s - 1)
    else:
        sr, sc = _check_cell(name, "start", start, 13)
        if not free[sr, sc] or state_of[sr, sc] == goal_state:
            raise ValueError(f"{name}: start {start!r} must be a free cell other than the goal")
        init[state_of[sr, sc]] = 1.0
    return TabularModel(nxt, prob, rew, terminal, init, float(gamma)), cells, state_of


_FOUR_ROOMS_DOC = """The four-room gridworld of Sutton, Precup & Singh (1999), Figure 2.

    ## Description
    Four rooms joined by four one-cell hallways (104 free cells in a 13 x 13 frame). Moves are
    stochastic: the intended direction with probability 2/3, each of the other three with 1/9;
    a move into a wall leaves the agent in place. The hallways are
    ``FOUR_ROOMS_HALLWAYS`` ((3, 6), (6, 2), (7, 9), (10, 6)); ``env.unwrapped.state_of[r, c]``
    maps a cell to its state index and ``env.unwrapped.cells`` back. Options, SMDP
    Q-learning, intra-option learning and SMDP value iteration live in
    :mod:`decisiongym.agents.options`.

    ## Action Space
    ``Discrete(4)``: 0 N, 1 E, 2 S, 3 W.

    ## Observation Space
    | Num | Observation | Min | Max |
    |-----|-------------|-----|-----|
    | 0   | state index (row-major over free cells) | 0 | 103 |

    ## Rewards
    +1 on entering the goal, 0 otherwise; gamma 0.9 (their experiments).

    ## Starting State
    Uniform over non-goal cells, or ``start``.

    ## Episode End
    - Termination: on entering the goal.
    - Truncation: after ``max_episode_steps`` (default 1000, also the registered limit; a step
      that terminates at the limit is also truncated, as with Gymnasium's ``TimeLimit``).

    ## Arguments
    ``goal`` ((7, 9), the right hallway, as in their Figure 7), ``success`` (2/3),
    ``gamma`` (0.9), ``start``, ``max_episode_steps``, ``render_mode``.

    ## Version History
    - v0: initial version.

    >>> import gymnasium as gym, decisiongym
    >>> env = gym.make("decisiongym/FourRooms-v0")
    >>> env.unwrapped.transitions.shape
    (104, 4, 104)
    """


class _RoomsAccess:
    cells: IntArray
    state_of: IntArray

    def _build(self, goal: Sequence[int], success: float, gamma: float,
               start: Sequence[int] | None) -> tuple[TabularModel, _GridView]:
        model, cells, state_of = four_rooms_model(goal, success, gamma, start)
        self.cells, self.state_of = cells, state_of
        walls = np.array([list(r) for r in FOUR_ROOMS_LAYOUT]) == "#"
        goal_state = int(np.flatnonzero(model.terminal)[0])
        return model, _GridView(model, cells, (13, 13), [goal_state], walls)


class FourRooms(_RoomsAccess, TabularEnv):
    __doc__ = _FOUR_ROOMS_DOC
    env_name = "FourRooms-v0"

    def __init__(self, goal: Sequence[int] = (7, 9), success: float = 2.0 / 3.0,
                 gamma: float = 0.9, start: Sequence[int] | None = None,
                 max_episode_steps: int | None = 1000, render_mode: str | None = None,
                 horizon: int | None = None) -> None:
        model, view = self._build(goal, success, gamma, start)
        self._setup(model, view, max_episode_steps, render_mode, horizon)


class FourRoomsVector(_RoomsAccess, TabularVectorEnv):
    __doc__ = _FOUR_ROOMS_DOC
    env_name = "FourRooms-v0"

    def __init__(self, num_envs: int = 1, goal: Sequence[int] = (7, 9),
                 success: float = 2.0 / 3.0, gamma: float = 0.9,
                 start: Sequence[int] | None = None, max_episode_steps: int | None = 1000,
                 render_mode: str | None = None, horizon: int | None = None) -> None:
        model, view = self._build(goal, success, gamma, start)
        self._setup(model, view, num_envs, max_episode_steps, render_mode, horizon)
