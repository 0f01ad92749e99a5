"""Run one agent on one bandit environment for many replicates at once.

A run is a function of (environment, agent, replicates, horizon, seed) that returns arrays
(STYLE.md, item 14); printing, tables and plots consume them. The replicates run in one native
vector env (``gym.make_vec(..., vectorization_mode="vector_entry_point")``): the Python loop is
over time steps only.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym import agents


@dataclass(frozen=True)
class BanditRun:
    """Per-step arrays of a bandit run, shape (horizon, replicates)."""

    env_id: str
    agent: str
    params: dict[str, Any]
    seed: int
    actions: NDArray[np.int64]
    rewards: NDArray[np.float64]
    expected_rewards: NDArray[np.float64]
    optimal_expected_rewards: NDArray[np.float64]
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    #: Arm means of each replicate's (first) episode, shape (replicates, K), from reset info.
    arm_means: NDArray[np.float64] | None = None

    @property
    def horizon(self) -> int:
        return int(self.actions.shape[0])

    @property
    def replicates(self) -> int:
        return int(self.actions.shape[1])

    @property
    def pseudo_regret(self) -> NDArray[np.float64]:
        """Cumulative pseudo-regret sum_{s<=t} (mu* - mu_{A_s}), shape (horizon, replicates)."""
        return np.cumsum(self.optimal_expected_rewards - self.expected_rewards, axis=0)


def run_bandit(env_id: str, agent: str, *, replicates: int, horizon: int, seed: int = 0,
               env_kwargs: dict[str, Any] | None = None,
               agent_params: dict[str, Any] | None = None,
               progress: bool | None = None) -> BanditRun:
    """Run ``replicates`` independent copies of ``agent`` on ``env_id`` for one episode.

    The env is reset with ``seed`` (replicate i gets seed + i, as a single env would) and the
    agent with ``seed`` too (its generator has a spawn key of its own). ``progress`` shows a bar
    on stderr; None shows it only on a terminal.
    """
    env_kwargs = dict(env_kwargs or {})
    agent_params = dict(agent_params or {})
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"run_bandit: horizon must be a positive integer, got {horizon!r}")
    if isinstance(replicates, bool) or not isinstance(replicates, (int, np.integer)) \
            or replicates < 1:
        raise ValueError(f"run_bandit: replicates must be a positive integer, got {replicates!r}")
    env = gym.make_vec(env_id, num_envs=replicates, vectorization_mode="vector_entry_point",
                       horizon=horizon, **env_kwargs)
    try:
        learner = agents.make(agent, observation_space=env.single_observation_space,
                              action_space=env.single_action_space, **agent_params)
        obs, reset_info = env.reset(seed=seed)
        arm_means = np.asarray(reset_info["arm_means"]) if "arm_means" in reset_info else None
        learner.reset(replicates, seed=seed)
        actions = np.empty((horizon, replicates), dtype=np.int64)
        rewards = np.empty((horizon, replicates))
        expected = np.empty((horizon, replicates))
        optimal = np.empty((horizon, replicates))
        show = sys.stderr.isatty() if progress is None else progress
        for t in tqdm(range(horizon), disable=not show, desc=f"{agent} on {env_id}",
                      unit="step", leave=False):
            a = learner.act(obs)
            next_obs, r, terminated, truncated, info = env.step(a)
            learner.update(obs, a, r, next_obs, terminated, truncated)
            actions[t] = a
            rewards[t] = r
            expected[t] = info["expected_reward"]
            optimal[t] = info["optimal_expected_reward"]
            obs = next_obs
    finally:
        env.close()
    return BanditRun(env_id=env_id, agent=agent, params=learner.params, seed=seed,
                     actions=actions, rewards=rewards, expected_rewards=expected,
                     optimal_expected_rewards=optimal, env_kwargs=env_kwargs,
                     arm_means=arm_means)


def mean_confidence_interval(values: NDArray[np.float64], level: float = 0.95
                             ) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of i.i.d. values (scipy.stats)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if x.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return mean, mean - half, mean + half


def bernoulli_lai_robbins(run: BanditRun) -> NDArray[np.float64] | None:
    """Mean over replicates of the Lai-Robbins bound C log t, t = 1..T, for Bernoulli rewards.

    None when the run's rewards are not binary or its arm means are unknown.
    """
    from decisiongym.theory import lai_robbins_constant

    if run.arm_means is None or not np.isin(run.rewards, (0.0, 1.0)).all():
        return None
    means = run.arm_means
    if means.min() < 0.0 or means.max() > 1.0:
        return None
    constant = float(np.mean([lai_robbins_constant(m) for m in means]))
    return np.asarray(constant * np.log(np.arange(1, run.horizon + 1)))
