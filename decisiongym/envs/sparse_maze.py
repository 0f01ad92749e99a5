"""A sparse-reward maze where exploration matters (Dobriban, *Notes for Stat 991: Topics in Deep
Learning*, 2019, section 5.4, items 8-9: intrinsic motivation).

The capability probed: finding a single distant reward with no signal on the way. A long
corridor (a chain MDP in maze form) gives reward 0 on every step and +1 only at the far end,
within a step limit that a dithering random walk rarely covers; counts or a novelty bonus
(``count-bonus``, ``rnd``) drive an agent along it. The dynamics are those of ``Maze-v0``
(:mod:`decisiongym.envs.mdp`), so the MDP is exposed and the optimum known.
"""

from __future__ import annotations

from collections.abc import Sequence

from decisiongym.envs.mdp import Maze, MazeVector
from decisiongym.validation import check_int


def corridor(length: int) -> tuple[str, ...]:
    """A one-cell-wide corridor of ``length`` free cells, start at the west end, goal east."""
    length = check_int("SparseMaze-v0", "length", length, low=2)
    inner = "S" + "." * (length - 2) + "G"
    wall = "#" * (length + 2)
    return (wall, f"#{inner}#", wall)


_DOC = """A long corridor with one reward at its end: ``Maze-v0`` made sparse.

    ## Description
    The agent starts at the west end of a one-cell-wide corridor of ``length`` cells and moves
    N, E, S, W (N and S bump into the walls). The goal at the east end is the only reward.
    Under a uniformly random policy the chance of reaching it within the step limit is small
    (about 1% for the defaults), so an epsilon-greedy learner rarely sees a reward; exploration
    bonuses make the difference. Any ``Maze-v0`` layout may be given instead (``layout``).

    ## Action Space
    ``Discrete(4)``: 0 N, 1 E, 2 S, 3 W.

    ## Observation Space
    As ``Maze-v0``; here ``observation="image"`` by default:

    | observation | space |
    |---|---|
    | ``"image"`` (default) | ``Box(0, 255, (3, length + 2, 3), uint8)``: walls / agent / goal |
    | ``"coords"`` | ``MultiDiscrete([3, length + 2])`` |
    | ``"index"`` | ``Discrete(length)`` |

    ## Rewards
    +1 on entering the goal, 0 otherwise (``step_reward``, ``goal_reward`` to change).

    ## Starting State
    The west end of the corridor.

    ## Episode End
    - Termination: on reaching the goal (optimal return 1, in ``length - 1`` steps).
    - Truncation: after ``max_episode_steps`` steps (default 100, also the registered limit; a
      step that terminates at the limit is also truncated, as with Gymnasium's ``TimeLimit``).

    ## Arguments
    ``length`` (20), ``max_episode_steps`` (100), ``observation`` ("image"), ``gamma`` (0.99),
    ``layout`` (None: the corridor), ``step_reward`` (0), ``goal_reward`` (1), ``slip`` (0),
    ``render_mode`` ("ansi" or "rgb_array").

    ## Version History
    - v0: initial version.

    >>> import gymnasium as gym, decisiongym
    >>> env = gym.make("decisiongym/SparseMaze-v0", length=6, observation="index",
    ...                render_mode="ansi")
    >>> _ = env.reset(seed=0)
    >>> print(env.render(), end="")
    ########
    #@....G#
    ########
    """


class SparseMaze(Maze):
    __doc__ = _DOC
    env_name = "SparseMaze-v0"

    def __init__(self, length: int = 20, max_episode_steps: int | None = 100,
                 observation: str = "image", gamma: float = 0.99,
                 layout: str | Sequence[str] | None = None, step_reward: float = 0.0,
                 goal_reward: float = 1.0, slip: float = 0.0, render_mode: str | None = None,
                 horizon: int | None = None) -> None:
        super().__init__(layout=corridor(length) if layout is None else layout, slip=slip,
                         observation=observation, step_reward=step_reward,
                         goal_reward=goal_reward, gamma=gamma,
                         max_episode_steps=max_episode_steps, render_mode=render_mode,
                         horizon=horizon)


class SparseMazeVector(MazeVector):
    __doc__ = _DOC
    env_name = "SparseMaze-v0"

    def __init__(self, num_envs: int = 1, length: int = 20,
                 max_episode_steps: int | None = 100, observation: str = "image",
                 gamma: float = 0.99, layout: str | Sequence[str] | None = None,
                 step_reward: float = 0.0, goal_reward: float = 1.0, slip: float = 0.0,
                 render_mode: str | None = None, horizon: int | None = None) -> None:
        super().__init__(num_envs=num_envs,
                         layout=corridor(length) if layout is None else layout, slip=slip,
                         observation=observation, step_reward=step_reward,
                         goal_reward=goal_reward, gamma=gamma,
                         max_episode_steps=max_episode_steps, render_mode=render_mode,
                         horizon=horizon)


__all__ = ["SparseMaze", "SparseMazeVector", "corridor"]
