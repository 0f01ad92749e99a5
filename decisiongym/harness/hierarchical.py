"""Harness cells for the hierarchical-RL environments (seed 5.3.12).

:func:`run_trials` runs a batched agent on a native vector env for a number of env steps and
records the length and return of every episode ("trial", in Dayan & Hinton's words) of every
replicate. A cell on ``FeudalMaze-v0`` may move the goal part-way: env kwargs ``moved_goal``
(a cell) and ``move_after`` (steps) are the harness's, not the env's: the same agent (its
Q-values kept) goes on learning on the maze with the goal at ``moved_goal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym import agents
from decisiongym.agents.base import BaseAgent
from decisiongym.harness.episodic import EpisodeTable
from decisiongym.harness.experiment import Cell
from decisiongym.harness.store import CellResult, make_record
from decisiongym.theory import value_iteration

FloatArray = NDArray[np.float64]


@dataclass
class TrialRecord:
    """Per-episode records (E, n), NaN past a replicate's last finished episode."""

    length: FloatArray
    ret: FloatArray
    end_step: FloatArray


def run_trials(env: Any, agent: BaseAgent, steps: int, seed: int) -> TrialRecord:
    """Step ``agent`` on the native vector ``env`` (already built) for ``steps`` steps."""
    n = env.num_envs
    table = EpisodeTable(n, ("length", "ret", "end"), capacity=256)
    ep_len, g = np.zeros(n), np.zeros(n)
    fresh = np.zeros(n, dtype=bool)
    obs, _ = env.reset(seed=seed)
    for t in range(steps):
        actions = agent.act(obs)
        nxt, rewards, term, trunc, _ = env.step(actions)
        agent.update(obs, actions, rewards, nxt, term, trunc)
        live = ~fresh
        ep_len += live
        g += np.where(live, rewards, 0.0)
        done = (term | trunc) & live
        if done.any():
            rows = np.flatnonzero(done)
            e = table.finish(rows)
            table["length"][e, rows], table["ret"][e, rows] = ep_len[rows], g[rows]
            table["end"][e, rows] = t + 1
            ep_len[rows], g[rows] = 0.0, 0.0
        fresh = done
        obs = nxt
    out = table.trimmed()
    return TrialRecord(out["length"], out["ret"], out["end"])


def _stack(a: FloatArray, b: FloatArray) -> FloatArray:
    """Episodes of phase b after each replicate's last episode of phase a."""
    n = a.shape[1]
    counts = np.isfinite(a).sum(axis=0)
    out = np.full((int((counts + np.isfinite(b).sum(axis=0)).max()), n), np.nan)
    for i in range(n):
        out[:counts[i], i] = a[:counts[i], i]
        nb = int(np.isfinite(b[:, i]).sum())
        out[counts[i]:counts[i] + nb, i] = b[:nb, i]
    return out


def run_trials_cell(cell: Cell) -> CellResult:
    """A harness cell on a hierarchical env: ``cell.horizon`` steps per replicate.

    Arrays: ``episode_length``, ``episode_return`` (E, n); ``episodes`` (n,); ``phase_split``
    (n,) the episodes before the goal moved (all of them if it never did); and for the shared
    summary table ``final_regret`` (n,), the summed excess steps over the optimal expected path
    (minus the optimal start value) of the episodes (with the first goal), ``mean_reward``,
    ``best_arm_fraction`` (NaN), ``lai_robbins_constant`` (NaN)."""
    kwargs = dict(cell.env.kwargs)
    moved_goal = kwargs.pop("moved_goal", None)
    move_after = int(kwargs.pop("move_after", 0)) if moved_goal is not None else 0
    phase1 = move_after if moved_goal is not None else cell.horizon
    if moved_goal is not None and not 0 < move_after < cell.horizon:
        raise ValueError(f"{cell.env.id}: move_after must be in (0, {cell.horizon}), got "
                         f"{move_after!r}")
    env = gym.make_vec(cell.env.id, num_envs=cell.seeds,
                       vectorization_mode="vector_entry_point", **kwargs)
    model_env: Any = env
    v_star, _ = value_iteration(model_env.transitions, model_env.rewards,
                                float(model_env.gamma))
    optimal = float(model_env.initial_state_distribution @ v_star)
    agent = agents.make(cell.agent.name, observation_space=env.single_observation_space,
                        action_space=env.single_action_space, **dict(cell.agent.params))
    agent.reset(cell.seeds, seed=cell.seed)
    first = run_trials(env, agent, phase1, cell.seed)
    length, ret = first.length, first.ret
    split = np.isfinite(first.length).sum(axis=0)
    if moved_goal is not None:
        env2 = gym.make_vec(cell.env.id, num_envs=cell.seeds,
                            vectorization_mode="vector_entry_point",
                            **{**kwargs, "goal": moved_goal})
        second = run_trials(env2, agent, cell.horizon - move_after, cell.seed + 10_000)
        length, ret = _stack(first.length, second.length), _stack(first.ret, second.ret)
    finished = np.isfinite(first.ret)
    excess = np.where(finished, optimal - first.ret, 0.0).sum(axis=0)
    total = np.nansum(ret, axis=0)
    arrays: dict[str, Any] = {
        "episode_length": length.astype(np.float32),
        "episode_return": ret.astype(np.float32),
        "episodes": np.isfinite(length).sum(axis=0).astype(np.int64),
        "phase_split": split.astype(np.int64),
        "final_regret": excess.astype(np.float64),
        "mean_reward": total / float(cell.horizon),
        "best_arm_fraction": np.full(cell.seeds, np.nan),
        "lai_robbins_constant": np.full(cell.seeds, np.nan),
    }
    record = make_record(cell, {"arrays": sorted(arrays),
                                "resolved_params": dict(getattr(agent, "params", {})),
                                "regret_kind": "episodic", "optimal_start_value": optimal})
    return CellResult(arrays, record)


#: Option sets of :func:`run_options_cell` (agent param ``options``).
OPTION_SETS = ("primitive", "hallway", "primitive+hallway")


def run_options_cell(cell: Cell) -> CellResult:
    """A cell on FourRooms-v0: agent ``smdp-q`` or ``intra-option-q`` with params ``options``
    (one of :data:`OPTION_SETS`), ``alpha``, ``epsilon``; ``cell.horizon`` primitive steps per
    replicate (:func:`decisiongym.agents.options.run_option_learning`).

    Arrays: ``episode_length`` (E, n) in primitive steps, ``episodes`` (n,), ``final_regret``
    (n,) the mean length of each replicate's last 20 episodes (for the summary table),
    ``mean_reward``, ``best_arm_fraction`` and ``lai_robbins_constant`` (NaN)."""
    from decisiongym.agents.options import (
        hallway_options,
        primitive_options,
        run_option_learning,
    )

    params = dict(cell.agent.params)
    which = params.pop("options", "primitive")
    if which not in OPTION_SETS:
        raise ValueError(f"{cell.agent.name}: options must be one of {OPTION_SETS}, got "
                         f"{which!r}")
    methods = {"smdp-q": "smdp", "intra-option-q": "intra"}
    if cell.agent.name not in methods:
        raise ValueError(f"{cell.env.id}: agent must be smdp-q or intra-option-q, got "
                         f"{cell.agent.name!r}")
    env = gym.make(cell.env.id, **dict(cell.env.kwargs))
    u: Any = env.unwrapped
    opts = []
    if "primitive" in which:
        opts += primitive_options(u.model.n_states, u.model.n_actions)
    if "hallway" in which:
        opts += hallway_options(env)
    run = run_option_learning(u.model, opts, methods[cell.agent.name], replicates=cell.seeds,
                              steps=cell.horizon, seed=cell.seed, **params)
    length = run.episode_length
    last = np.array([np.nanmean(col[np.isfinite(col)][-20:]) for col in length.T])
    arrays: dict[str, Any] = {
        "episode_length": length.astype(np.float32),
        "episodes": np.isfinite(length).sum(axis=0).astype(np.int64),
        "final_regret": last.astype(np.float64),
        "mean_reward": np.isfinite(length).sum(axis=0) / float(cell.horizon),
        "best_arm_fraction": np.full(cell.seeds, np.nan),
        "lai_robbins_constant": np.full(cell.seeds, np.nan),
    }
    record = make_record(cell, {"arrays": sorted(arrays), "resolved_params": dict(
        cell.agent.params), "regret_kind": "episode length"})
    return CellResult(arrays, record)


__all__ = ["OPTION_SETS", "TrialRecord", "run_options_cell", "run_trials", "run_trials_cell"]
