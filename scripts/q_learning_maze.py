"""Q-learning on a maze, with the learned value function drawn on the grid.

The maze exposes its model, so the harness also measures the regret against value iteration's
optimum; here we look at the greedy value max_a Q(s, a) that the agent learned, beside the
optimal value that value iteration computes from the same model.

    python scripts/q_learning_maze.py
    python scripts/q_learning_maze.py --quick --out /tmp
"""

import argparse
from pathlib import Path

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym import agents
from decisiongym.harness import run
from decisiongym.theory import value_iteration

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="a tiny size, for tests")
parser.add_argument("--out", default=".", help="where to write maze_values.png")
args = parser.parse_args()

env_id = "decisiongym/Maze-v0"          # the maze of Dobriban (2019), section 5.3.5
steps = 2_000 if args.quick else 20_000

# An agent object (not a name) so that we can read its Q table after the run.
maze = gym.make(env_id).unwrapped
agent = agents.make("q-learning", observation_space=maze.observation_space,
                    action_space=maze.action_space, alpha=0.5, epsilon=0.1)
result = run(env_id, agent, replicates=1, horizon=steps, seed=0)
print(f"episodes: {int(result['episodes'][0])}, regret against the optimum: "
      f"{result['final_regret'][0]:.0f}, greedy policy optimal: "
      f"{bool(result['greedy_optimal'][-1, 0])}")

# The learned greedy value and the optimal one, state by state, drawn on the grid.
learned = agent.Q[0].max(axis=1)
optimal, _ = value_iteration(maze.transitions, maze.rewards, maze.gamma)
grid = maze.maze
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for ax, values, title in [(axes[0], learned, f"Q-learning, {steps} steps"),
                          (axes[1], optimal, "value iteration")]:
    image = np.full((grid.n_rows, grid.n_cols), np.nan)
    for state, (row, col) in enumerate(grid.cells):
        image[row, col] = values[state]
    shown = ax.imshow(image, cmap="viridis")
    ax.set_title(f"max_a Q(s, a): {title}" if values is learned else f"v*(s): {title}")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(shown, ax=ax, fraction=0.03)
fig.tight_layout()
path = Path(args.out) / "maze_values.png"
fig.savefig(path, dpi=120)
print(f"plot: {path}")
