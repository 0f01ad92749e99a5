"""Compare bandit algorithms on one problem and plot their regret.

Every agent faces the same reward draws (common random numbers: replicate i is seeded with
seed + i for every agent), so the differences are the agents', not the luck of the draw.

    python scripts/compare_bandits.py                     # 200 replicates, T = 5,000
    python scripts/compare_bandits.py --quick --out /tmp  # a few seconds
"""

import argparse
from pathlib import Path

import numpy as np

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym.harness import run
from decisiongym.harness.metrics import bootstrap_mean_ci
from decisiongym.harness.report import plot_regret

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="a tiny size, for tests")
parser.add_argument("--out", default=".", help="where to write regret.png")
args = parser.parse_args()

# The problem: 5 Bernoulli arms, the best one 0.05 above the next.
env_id = "decisiongym/BernoulliBandit-v0"
env_kwargs = {"means": [0.30, 0.40, 0.45, 0.50, 0.55]}
replicates, horizon = (20, 500) if args.quick else (200, 5_000)

# The agents: registered names, with parameters where we want other than the default.
agents = {
    "UCB1": ("ucb1", {}),
    "KL-UCB": ("kl-ucb", {}),
    "Thompson (Beta(1, 1))": ("thompson-beta", {}),
    "epsilon-greedy (0.1)": ("epsilon-greedy", {"epsilon": 0.1}),
}

curves, grid = {}, None
for label, (name, params) in agents.items():
    # One call runs all replicates at once in one vector env, through the harness's loop.
    result = run(env_id, name, replicates=replicates, horizon=horizon, seed=0,
                 env_kwargs=env_kwargs, agent_params=params)
    grid, curves[label] = result["grid"], result["regret"]  # regret: (grid points, replicates)
    low, high = bootstrap_mean_ci(result["final_regret"])
    print(f"{label:24s} regret at T = {horizon}: {result['final_regret'].mean():7.1f} "
          f"[{float(low):.1f}, {float(high):.1f}]")

# Linear and log time side by side, each curve with its bootstrap 95% band.
path = plot_regret(np.asarray(grid), curves, Path(args.out) / "regret.png",
                   title=f"{len(env_kwargs['means'])} Bernoulli arms, {replicates} replicates")
print(f"plot: {path}")
