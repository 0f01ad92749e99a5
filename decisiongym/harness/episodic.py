"""Sample efficiency on episodic tasks (the MDP and maze environments of ``decisiongym.envs.mdp``).

:func:`run_episodic` runs one agent on a native vector env for a budget of environment steps per
replicate and records, for every replicate and every episode it finishes: the return (discounted
with the task's ``gamma``; undiscounted for the episodic mazes), the length, the environment step
at which it ended, the value error ||V - v_pi|| (RMS over non-terminal states) for prediction
agents, and whether the greedy policy of a control agent is then optimal (its value from the
start distribution equals the optimum of value iteration). :func:`run_episodic_cell` turns a
harness cell into stored arrays; ``run_cell`` dispatches the MDP env ids here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym import agents
from decisiongym.harness.experiment import Cell
from decisiongym.harness.metrics import time_grid
from decisiongym.harness.store import CellResult, make_record
from decisiongym.theory import policy_evaluation, value_iteration

FloatArray = NDArray[np.float64]

#: Environment ids whose cells :func:`run_episodic_cell` runs.
EPISODIC_ENV_IDS = ("decisiongym/TabularMDP-v0", "decisiongym/Maze-v0",
                    "decisiongym/RandomWalk-v0")


@dataclass
class EpisodicRun:
    """Per-episode records, shape (E, n): E the most episodes any replicate finished, NaN past a
    replicate's last finished episode."""

    episode_return: FloatArray
    episode_length: FloatArray
    episode_end_step: FloatArray
    value_error: FloatArray  # NaN unless the agent predicts values
    greedy_optimal: FloatArray  # 1/0, NaN unless the agent has a greedy policy
    optimal_start_value: float
    steps: int
    reward_sum: FloatArray  # (n,)
    params: dict[str, Any]


def greedy_policy_is_optimal(transitions: FloatArray, rewards: FloatArray, gamma: float,
                             start: FloatArray, optimal_value: float,
                             policies: NDArray[np.int64], atol: float = 1e-6
                             ) -> NDArray[np.bool_]:
    """For each deterministic policy (m, S): is its value from the start distribution optimal?

    The value is iterated H times from 0 (H covers twice the state count, and the discount's
    horizon): a policy that loops forever in an episodic task then scores at most 0 with zero
    rewards, -H with negative ones, so an improper policy is never taken for optimal."""
    n_s = transitions.shape[0]
    rows = np.arange(n_s)
    p_pi = transitions[rows[None, :], policies]  # (m, S, S)
    r_pi = rewards[rows[None, :], policies]  # (m, S)
    horizon = 2 * n_s + 50
    if gamma < 1:
        horizon = max(horizon, int(np.ceil(np.log(1e-12) / np.log(gamma))))
    v = np.zeros_like(r_pi)
    for _ in range(horizon):
        v = r_pi + gamma * np.einsum("mst,mt->ms", p_pi, v)
    return np.asarray(v @ start >= optimal_value - atol * max(1.0, abs(optimal_value)))


def _deterministic_greedy_check(next_state: NDArray[np.int64], reward: FloatArray,
                                gamma: float, start: int, optimal_value: float,
                                policies: NDArray[np.int64], atol: float = 1e-6
                                ) -> NDArray[np.bool_]:
    """:func:`greedy_policy_is_optimal` for a deterministic model with one start state, by
    pointer doubling: after k rounds ``succ`` jumps 2^k steps and ``gain`` holds the discounted
    reward of those steps (terminal states loop on themselves with reward 0)."""
    m, n_s = policies.shape
    rows = np.arange(n_s)
    succ = next_state[rows[None, :], policies]  # (m, S)
    gain = reward[rows[None, :], policies]
    horizon = 2 * n_s + 50
    if gamma < 1:
        horizon = max(horizon, int(np.ceil(np.log(1e-12) / np.log(gamma))))
    discount = gamma
    ar = np.arange(m)[:, None]
    for _ in range(int(np.ceil(np.log2(horizon)))):
        gain = gain + discount * gain[ar, succ]
        succ = succ[ar, succ]
        discount *= discount
    return np.asarray(gain[:, start] >= optimal_value - atol * max(1.0, abs(optimal_value)))


class EpisodeTable:
    """Per-episode records of ``n`` replicates: named (E, n) arrays, NaN where a replicate has
    not finished episode e, grown (doubled) as episodes finish.

    >>> t = EpisodeTable(2, ("length",))
    >>> e = t.finish(np.array([1]))
    >>> t["length"][e, [1]] = 7.0
    >>> t.trimmed()["length"].tolist()
    [[nan, 7.0]]
    """

    def __init__(self, n: int, names: tuple[str, ...], capacity: int = 64) -> None:
        self.arrays = {k: np.full((capacity, n), np.nan) for k in names}
        self.count = np.zeros(n, dtype=np.int64)

    def finish(self, rows: NDArray[np.int64]) -> NDArray[np.int64]:
        """Count an episode finished for each of ``rows``; return its index per row (room made)."""
        e = self.count[rows]
        cap = next(iter(self.arrays.values())).shape[0]
        if e.size and int(e.max()) >= cap:
            self.arrays = {k: np.concatenate([a, np.full_like(a, np.nan)])
                           for k, a in self.arrays.items()}
        self.count[rows] += 1
        return e

    def __getitem__(self, name: str) -> FloatArray:
        return self.arrays[name]

    def trimmed(self) -> dict[str, FloatArray]:
        """The arrays cut after the last episode any replicate finished (at least one row)."""
        used = max(1, int(self.count.max()))
        return {k: a[:used] for k, a in self.arrays.items()}


def run_episodic(env_id: str, agent_name: str, *, replicates: int, steps: int, seed: int = 0,
                 env_kwargs: dict[str, Any] | None = None,
                 agent_params: dict[str, Any] | None = None,
                 check_greedy: bool = True) -> EpisodicRun:
    """Run ``agent_name`` on ``replicates`` copies of ``env_id`` for ``steps`` env steps each.

    Replicate i of the env is seeded ``seed + i`` (as a single env reset with that seed); the
    agent is reset with ``seed``. Reset steps of the NEXT_STEP autoreset count as steps."""
    env = gym.make_vec(env_id, num_envs=replicates, vectorization_mode="vector_entry_point",
                       **(env_kwargs or {}))
    model_env: Any = env
    p, r, gamma = model_env.transitions, model_env.rewards, float(model_env.gamma)
    start = model_env.initial_state_distribution
    v_star, _ = value_iteration(p, r, gamma)
    optimal = float(start @ v_star)
    agent = agents.make(agent_name, observation_space=env.single_observation_space,
                        action_space=env.single_action_space, **(agent_params or {}))
    agent.reset(replicates, seed=seed)
    predicts = hasattr(agent, "values")
    controls = check_greedy and hasattr(agent, "greedy_policy")
    nonterminal = np.ones(p.shape[0], dtype=bool)
    nonterminal[model_env.terminal_states] = False
    v_pi = policy_evaluation(p, r, agent.policy, gamma) if predicts else None  # type: ignore[attr-defined]
    model = model_env.model
    fast_check = model.deterministic
    if fast_check:
        table_next = model.next_flat.reshape(model.n_states, model.n_actions)
        table_reward = model.reward_flat.reshape(model.n_states, model.n_actions)

    table = EpisodeTable(replicates, ("ret", "length", "end", "verr", "gopt"))
    g = np.zeros(replicates)
    discount = np.ones(replicates)
    ep_len = np.zeros(replicates)
    reward_sum = np.zeros(replicates)
    fresh = np.zeros(replicates, dtype=bool)  # the next step is a reset step
    obs, _ = env.reset(seed=seed)
    for t in range(steps):
        actions = agent.act(obs)
        nxt, rewards, term, trunc, _ = env.step(actions)
        agent.update(obs, actions, rewards, nxt, term, trunc)
        live = ~fresh
        g += np.where(live, discount * rewards, 0.0)
        discount = np.where(live, discount * gamma, discount)
        ep_len += live
        reward_sum += np.where(live, rewards, 0.0)
        done = (term | trunc) & live
        if done.any():
            rows = np.flatnonzero(done)
            e = table.finish(rows)
            table["ret"][e, rows], table["length"][e, rows] = g[rows], ep_len[rows]
            table["end"][e, rows] = t + 1
            if predicts:
                diff = agent.values[rows][:, nonterminal] - v_pi[nonterminal]  # type: ignore
                table["verr"][e, rows] = np.sqrt((diff ** 2).mean(axis=1))
            if controls:
                pols = agent.greedy_policy()[rows]  # type: ignore[attr-defined]
                if fast_check:
                    table["gopt"][e, rows] = _deterministic_greedy_check(
                        table_next, table_reward, gamma, model.fixed_start, optimal, pols)
                else:
                    table["gopt"][e, rows] = greedy_policy_is_optimal(p, r, gamma, start,
                                                                      optimal, pols)
            g[rows], discount[rows], ep_len[rows] = 0.0, 1.0, 0.0
        fresh = done
        obs = nxt
    out = table.trimmed()
    return EpisodicRun(out["ret"], out["length"], out["end"], out["verr"], out["gopt"],
                       optimal, steps, reward_sum, dict(getattr(agent, "params", {})))


def episodes_to_optimal(greedy_optimal: FloatArray) -> FloatArray:
    """Per replicate: the number of episodes after which the greedy policy was first optimal
    (NaN if never)."""
    hit = np.nan_to_num(greedy_optimal, nan=0.0) > 0
    first = hit.argmax(axis=0).astype(np.float64) + 1.0
    return np.where(hit.any(axis=0), first, np.nan)


def run_episodic_cell(cell: Cell) -> CellResult:
    """One harness cell on an MDP env: ``cell.horizon`` is the step budget per replicate.

    Arrays: the per-episode records of :class:`EpisodicRun` (E, n); ``episodes`` (n,);
    ``episodes_to_optimal`` (n,); and for the shared summary table ``final_regret`` (n,), the
    sum over finished episodes of (optimal start value - return), with ``grid`` / ``regret``
    (G, n) its course over env steps; ``best_arm_fraction`` (n,), the share of finished episodes
    with an optimal return; ``mean_reward`` (n,) per step; ``lai_robbins_constant`` NaN."""
    run = run_episodic(cell.env.id, cell.agent.name, replicates=cell.seeds, steps=cell.horizon,
                       seed=cell.seed, env_kwargs=dict(cell.env.kwargs),
                       agent_params=dict(cell.agent.params))
    n = cell.seeds
    episode_regret = np.nan_to_num(run.optimal_start_value - run.episode_return, nan=0.0)
    cumulative = np.cumsum(episode_regret, axis=0)
    grid = time_grid(cell.horizon)
    regret = np.zeros((grid.size, n))
    ends = np.nan_to_num(run.episode_end_step, nan=np.inf)
    for i in range(n):
        k = np.searchsorted(ends[:, i], grid, side="right")
        regret[:, i] = np.where(k > 0, cumulative[np.maximum(k - 1, 0), i], 0.0)
    finished = np.isfinite(run.episode_return)
    optimal_episode = finished & (run.episode_return >= run.optimal_start_value - 1e-9)
    arrays: dict[str, Any] = {
        "episode_return": run.episode_return.astype(np.float32),
        "episode_length": run.episode_length.astype(np.float32),
        "episode_end_step": run.episode_end_step.astype(np.float32),
        "value_error": run.value_error.astype(np.float32),
        "greedy_optimal": run.greedy_optimal.astype(np.float32),
        "episodes": finished.sum(axis=0).astype(np.int64),
        "episodes_to_optimal": episodes_to_optimal(run.greedy_optimal),
        "grid": grid,
        "regret": regret.astype(np.float32),
        "final_regret": regret[-1].astype(np.float64),
        "best_arm_fraction": optimal_episode.sum(axis=0) / np.maximum(finished.sum(axis=0), 1),
        "mean_reward": run.reward_sum / float(cell.horizon),
        "lai_robbins_constant": np.full(n, np.nan),
    }
    record = make_record(cell, {"arrays": sorted(arrays), "resolved_params": run.params,
                                "regret_kind": "episodic",
                                "optimal_start_value": run.optimal_start_value})
    return CellResult(arrays, record)


__all__ = ["EPISODIC_ENV_IDS", "EpisodeTable", "EpisodicRun", "episodes_to_optimal",
           "greedy_policy_is_optimal", "run_episodic", "run_episodic_cell"]
