"""Architecture-search runs: best validation accuracy against architectures and wall-clock.

A cell on ``NASChain-v0`` or ``NASCell-v0`` runs ``cell.seeds`` independent searches (one
vector env, one batched agent) until each has evaluated ``cell.horizon`` architectures (a
malformed one counts: it was proposed and scored with the penalty).

Arrays (B = horizon, n = seeds):

- ``best_val`` (B, n): the best validation accuracy among the first k architectures;
- ``regret_curve`` (B, n): optimum - ``best_val`` where the optimum is known (tabular mode),
  else 1 - ``best_val`` (the best validation error); ``final_regret`` (n,) its last row;
- ``wall_clock`` (B, n): seconds after k architectures: the agent's own time (measured) plus
  the training time of each child (measured when trained; a cache hit is charged the time its
  training took, and a table look-up the table's mean training time per cell), so a cached
  rerun reports the cost of the search, not of the look-ups. Measured, so not bit-for-bit;
- ``final_val``, ``final_test`` (n,): validation and test accuracy of each search's final pick
  (its best architecture by validation accuracy); ``final_arch`` (n, T);
- ``mean_reward`` (n,), ``best_arm_fraction`` (n,) share of architectures that were optimal
  (tabular; NaN otherwise), ``lai_robbins_constant`` (NaN), for the shared summary table.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym import agents
from decisiongym.harness.experiment import Cell
from decisiongym.harness.store import CellResult, make_record


def run_search(env_id: str, agent_name: str, *, replicates: int, budget: int, seed: int,
               env_kwargs: dict[str, Any] | None = None,
               agent_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``replicates`` searches of ``budget`` architectures; return the arrays above."""
    env: Any = gym.make_vec(env_id, num_envs=replicates, vectorization_mode="vector_entry_point",
                            **dict(env_kwargs or {}))
    agent = agents.make(agent_name, observation_space=env.single_observation_space,
                        action_space=env.single_action_space, **dict(agent_params or {}))
    agent.reset(replicates, seed=seed)
    core = env.core
    optimum = float(core.optimum)
    n, T = replicates, core.n_tokens
    val = np.full((budget, n), np.nan)
    test = np.full((budget, n), np.nan)
    cost = np.zeros((budget, n))
    archs = np.full((budget, n, T), -1, dtype=np.int64)
    rewards = np.zeros((budget, n))
    count = np.zeros(n, dtype=np.int64)
    agent_seconds = np.zeros(n)
    obs, _ = env.reset(seed=seed)
    while (count < budget).any():
        start = time.perf_counter()
        actions = agent.act(obs)
        next_obs, r, term, trunc, info = env.step(actions)
        agent.update(obs, actions, r, next_obs, term, trunc)
        agent_seconds += time.perf_counter() - start - float(np.nansum(
            np.where(term, info["evaluation_seconds"], 0.0)))
        for i in np.flatnonzero(term & (count < budget)):
            k = count[i]
            val[k, i], test[k, i] = info["val_accuracy"][i], info["test_accuracy"][i]
            rewards[k, i] = r[i]
            archs[k, i] = info["architecture"][i]
            if not info["malformed"][i]:
                cost[k, i] = info["train_seconds"][i]
            cost[k, i] += agent_seconds[i]
            agent_seconds[i] = 0.0
            count[i] += 1
        obs = next_obs
    score = np.where(np.isnan(val), -np.inf, val)
    best_val = np.maximum.accumulate(score, axis=0)
    best_val = np.where(np.isinf(best_val), 0.0, best_val)
    pick = score.argmax(axis=0)
    cols = np.arange(n)
    reference = optimum if np.isfinite(optimum) else 1.0
    regret = reference - best_val
    optimal_share = (np.isclose(val, optimum).mean(axis=0) if np.isfinite(optimum)
                     else np.full(n, np.nan))
    return {
        "best_val": best_val, "regret_curve": regret, "final_regret": regret[-1].copy(),
        "wall_clock": np.cumsum(cost, axis=0), "final_val": val[pick, cols],
        "final_test": test[pick, cols], "final_arch": archs[pick, cols],
        "mean_reward": rewards.mean(axis=0), "best_arm_fraction": optimal_share,
        "lai_robbins_constant": np.full(n, np.nan), "optimum": optimum,
        "resolved_params": dict(getattr(agent, "params", {})),
    }


def run_nas_cell(cell: Cell) -> CellResult:
    """A harness cell on an architecture env: ``cell.horizon`` architectures per search."""
    out = run_search(cell.env.id, cell.agent.name, replicates=cell.seeds, budget=cell.horizon,
                     seed=cell.seed, env_kwargs=dict(cell.env.kwargs),
                     agent_params=dict(cell.agent.params))
    optimum = out.pop("optimum")
    params = out.pop("resolved_params")
    arrays = {k: np.asarray(v) for k, v in out.items()}
    record = make_record(cell, {"arrays": sorted(arrays), "resolved_params": params,
                                "regret_kind": "nas-optimum" if np.isfinite(optimum)
                                else "nas-best-error",
                                "optimum": optimum if np.isfinite(optimum) else None})
    return CellResult(arrays, record)


__all__ = ["run_nas_cell", "run_search"]
