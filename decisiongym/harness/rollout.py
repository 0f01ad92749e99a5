"""Run one agent on one bandit environment for many replicates at once.

A run is a function of (environment, agent, replicates, horizon, seed) that returns arrays
(STYLE.md, item 14); printing, tables and plots consume them. The replicates run in one native
vector env (``gym.make_vec(..., vectorization_mode="vector_entry_point")``): the Python loop is
over time steps only.

Which regret is recorded depends on what the environment's step ``info`` carries:

- stochastic bandits (``expected_reward``, ``optimal_expected_reward``): the pseudo-regret
  sum_{s<=t} (mu* - mu_{A_s}) (seed 5.2, item 7);
- adversarial bandits (``rewards``, the whole reward vector R_s of the round): the regret against
  the best fixed arm in hindsight, max_k sum_{s<=t} R_s(k) - sum_{s<=t} R_s(A_s) (seed 5.2.3,
  item 1), the best arm taken afresh at every t. Against a reactive adversary R_s are the vectors
  the run produced (see ``ReactiveAdversaryBandit-v0``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import ArrayLike, NDArray
from tqdm.auto import tqdm

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym import agents


@dataclass(frozen=True)
class BanditRun:
    """What a bandit run recorded.

    On the time grid ``grid`` (G,) of steps t (1-based): ``regret`` (G, n), the cumulative
    pseudo-regret sum_{s<=t} (mu* - mu_{A_s}) of each replicate, and ``best_arm_pulls`` (G, n),
    how many of the first t pulls went to a best arm. ``lai_robbins_constant`` (n,) is C(mu) of
    each replicate's first episode (NaN where undefined). With ``keep_steps`` the per-step arrays
    (horizon, n) are kept too.

    On an adversarial bandit (``regret_kind == "best-fixed-arm"``) ``regret`` is
    max_k sum_{s<=t} R_s(k) - sum_{s<=t} R_s(A_s); ``best_arm_pulls`` counts the pulls of the arm
    that led (highest cumulative reward, that round included) in the round it was pulled; the
    per-step arrays are ``actions``, ``rewards`` and ``regret_per_step``.
    """

    env_id: str
    agent: str
    params: dict[str, Any]
    seed: int
    grid: NDArray[np.int64]
    regret: NDArray[np.float64]
    best_arm_pulls: NDArray[np.int64]
    reward_sum: NDArray[np.float64]
    lai_robbins_constant: NDArray[np.float64]
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    arm_means: NDArray[np.float64] | None = None
    actions: NDArray[np.int64] | None = None
    rewards: NDArray[np.float64] | None = None
    expected_rewards: NDArray[np.float64] | None = None
    optimal_expected_rewards: NDArray[np.float64] | None = None
    regret_kind: str = "pseudo"
    regret_per_step: NDArray[np.float64] | None = None

    @property
    def horizon(self) -> int:
        return int(self.grid[-1])

    @property
    def replicates(self) -> int:
        return int(self.regret.shape[1])

    @property
    def final_regret(self) -> NDArray[np.float64]:
        """Pseudo-regret at the horizon, one value per replicate."""
        return self.regret[-1]

    @property
    def pseudo_regret(self) -> NDArray[np.float64]:
        """Cumulative pseudo-regret at every step, shape (horizon, replicates).

        Needs a run made with ``keep_steps=True``.
        """
        if self.regret_kind != "pseudo":
            raise ValueError("this run is on an adversarial bandit: its regret is against the "
                             "best fixed arm in hindsight (.regret, .regret_per_step), not a "
                             "pseudo-regret")
        if self.expected_rewards is None or self.optimal_expected_rewards is None:
            raise ValueError("pseudo_regret per step needs run_bandit(..., keep_steps=True); "
                             "use .regret on .grid otherwise")
        return np.cumsum(self.optimal_expected_rewards - self.expected_rewards, axis=0)


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"run_bandit: {name} must be a positive integer, got {value!r}")
    return int(value)


def run_bandit(env_id: str, agent: str, *, replicates: int, horizon: int, seed: int = 0,
               env_kwargs: dict[str, Any] | None = None,
               agent_params: dict[str, Any] | None = None,
               grid: ArrayLike | None = None, keep_steps: bool = True,
               progress: bool | None = None) -> BanditRun:
    """Run ``replicates`` independent copies of ``agent`` on ``env_id`` for one episode.

    The env is reset with ``seed`` (replicate i gets seed + i, as a single env would) and the
    agent with ``seed`` too (its generator has a spawn key of its own). ``grid``: the steps at
    which to record the curves (default every step). ``keep_steps=False`` keeps memory at
    O(grid x replicates) for long horizons. ``progress`` shows a bar on stderr; None shows it
    only on a terminal. On an adversarial bandit (step ``info["rewards"]``) the regret is
    against the best fixed arm in hindsight (see the module docstring).
    """
    env_kwargs = dict(env_kwargs or {})
    agent_params = dict(agent_params or {})
    horizon = _check_positive_int("horizon", horizon)
    replicates = _check_positive_int("replicates", replicates)
    steps = np.arange(1, horizon + 1) if grid is None else np.asarray(grid, dtype=np.int64)
    if steps.ndim != 1 or steps.size == 0 or steps[0] < 1 or steps[-1] != horizon \
            or np.any(np.diff(steps) <= 0):
        raise ValueError("run_bandit: grid must be increasing steps in [1, horizon] ending at "
                         f"the horizon {horizon}")
    record_at = [-1] * (horizon + 1)  # grid index of each step, -1 between grid points
    for g, step in enumerate(steps.tolist()):
        record_at[step] = g

    env = gym.make_vec(env_id, num_envs=replicates, vectorization_mode="vector_entry_point",
                       horizon=horizon, **env_kwargs)
    n = replicates
    regret = np.empty((steps.size, n))
    best_pulls = np.empty((steps.size, n), dtype=np.int64)
    reward_sum = np.empty((steps.size, n))
    per_step: dict[str, NDArray[Any]] = {}
    if keep_steps:
        per_step = {"actions": np.empty((horizon, n), dtype=np.int64),
                    "rewards": np.empty((horizon, n)), "expected": np.empty((horizon, n)),
                    "optimal": np.empty((horizon, n)), "regret": np.empty((horizon, n))}
    try:
        learner = agents.make(agent, observation_space=env.single_observation_space,
                              action_space=env.single_action_space, **agent_params)
        obs, reset_info = env.reset(seed=seed)
        learner.reset(n, seed=seed)
        cum_regret = np.zeros(n)
        cum_best = np.zeros(n, dtype=np.int64)
        cum_reward = np.zeros(n)
        cum_table = np.zeros(0)  # adversarial bandits: sum_{s<=t} R_s, shape (n, K)
        adversarial = False
        show = sys.stderr.isatty() if progress is None else progress
        for t in tqdm(range(horizon), disable=not show, desc=f"{agent} on {env_id}",
                      unit="step", leave=False):
            a = learner.act(obs)
            next_obs, r, terminated, truncated, info = env.step(a)
            learner.update(obs, a, r, next_obs, terminated, truncated)
            if "rewards" in info:  # adversarial: regret against the best fixed arm
                if not adversarial:
                    adversarial, cum_table = True, np.zeros(info["rewards"].shape)
                cum_table += info["rewards"]
                cum_reward += r
                cum_regret = cum_table.max(axis=1) - cum_reward
                cum_best += a == cum_table.argmax(axis=1)
            else:
                expected = info["expected_reward"]
                optimal = info["optimal_expected_reward"]
                cum_regret += optimal - expected
                cum_best += expected == optimal
                cum_reward += r
            g = record_at[t + 1]
            if g >= 0:
                regret[g] = cum_regret
                best_pulls[g] = cum_best
                reward_sum[g] = cum_reward
            if keep_steps:
                per_step["actions"][t] = a
                per_step["rewards"][t] = r
                if adversarial:
                    per_step["regret"][t] = cum_regret
                else:
                    per_step["expected"][t] = expected
                    per_step["optimal"][t] = optimal
            obs = next_obs
    finally:
        env.close()
    nan = np.full(n, np.nan)
    return BanditRun(
        env_id=env_id, agent=agent, params=learner.params, seed=seed, grid=steps, regret=regret,
        best_arm_pulls=best_pulls, reward_sum=reward_sum,
        lai_robbins_constant=np.asarray(reset_info.get("lai_robbins_constant", nan), dtype=float),
        env_kwargs=env_kwargs,
        arm_means=np.asarray(reset_info["arm_means"]) if "arm_means" in reset_info else None,
        actions=per_step.get("actions"), rewards=per_step.get("rewards"),
        expected_rewards=None if adversarial else per_step.get("expected"),
        optimal_expected_rewards=None if adversarial else per_step.get("optimal"),
        regret_kind="best-fixed-arm" if adversarial else "pseudo",
        regret_per_step=per_step.get("regret") if adversarial else None)


def lai_robbins_curve(run: BanditRun) -> NDArray[np.float64] | None:
    """C log t on the run's grid when every replicate faces the same C (one problem up to a
    permutation of the arms, e.g. Chapelle-Li); None when C is undefined or varies (e.g. the
    Kuleshov-Precup means drawn afresh per replicate, whose mean C diverges)."""
    from decisiongym.harness.metrics import shared_value

    c = shared_value(run.lai_robbins_constant)
    if c is None:
        return None
    return np.asarray(c * np.log(run.grid.astype(np.float64)))
