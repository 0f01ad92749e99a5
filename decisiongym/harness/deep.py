"""Deep RL runs in the harness: our torch agents and Stable-Baselines3's PPO, A2C and DQN on the
same environments, budgets and seeds, recorded in one result format.

The budget of a cell (``cell.horizon``) is environment steps *per learner* (a learner of ours
may use several env copies, ``envs_per_learner``; an SB3 learner its ``n_envs``). ``cell.seeds``
learners run; ours at once in one vector env, SB3's one after another (learner ``i`` gets seed
``cell.seed + i``).

Arrays of a cell (E episodes at most, G grid points, n learners):
``episode_return`` / ``episode_end_step`` (E, n), NaN past a learner's last episode (the end
step counts the learner's env steps); ``grid`` (G,) env steps; ``return_curve`` (G, n), the mean
return of the last ``window`` episodes finished by each grid step (NaN before the first);
``final_return`` (n,), that mean at the end of the budget; ``episodes`` (n,). For the shared
summary table: ``final_regret`` = -final_return (lower is better, ``regret_kind``
"negative-final-return"), ``regret`` = -return_curve, ``mean_reward`` per step,
``best_arm_fraction`` and ``lai_robbins_constant`` NaN.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym import agents
from decisiongym.agents.base import BaseAgent
from decisiongym.agents.deep import SB3_ALGORITHMS
from decisiongym.harness.experiment import Cell
from decisiongym.harness.metrics import time_grid
from decisiongym.harness.store import CellResult, make_record

FloatArray = NDArray[np.float64]

#: Episodes averaged in the return curve and the final return.
WINDOW = 20


@dataclass
class DeepRun:
    """Per-learner episode records of one run, (E, n), NaN-padded."""

    episode_return: FloatArray
    episode_end_step: FloatArray
    steps: int  # env steps per learner
    reward_sum: FloatArray  # (n,)
    params: dict[str, Any]
    seconds: float
    agent: Any = None

    def curve(self, grid: NDArray[np.int64], window: int = WINDOW) -> FloatArray:
        """Mean return of the last ``window`` episodes finished by each grid step, (G, n)."""
        n = self.episode_return.shape[1]
        out = np.full((grid.size, n), np.nan)
        for i in range(n):
            ends = self.episode_end_step[:, i]
            rets = self.episode_return[:, i]
            ok = np.isfinite(ends)
            ends, rets = ends[ok], rets[ok]
            if not ends.size:
                continue
            csum = np.concatenate([[0.0], np.cumsum(rets)])
            k = np.searchsorted(ends, grid, side="right")
            lo = np.maximum(k - window, 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, i] = np.where(k > 0, (csum[k] - csum[lo]) / np.maximum(k - lo, 1),
                                     np.nan)
        return out

    def final_return(self, window: int = WINDOW) -> FloatArray:
        return self.curve(np.array([self.steps]), window)[0]


def make_env(env_id: str, num_envs: int, env_kwargs: dict[str, Any] | None = None
             ) -> gym.vector.VectorEnv:
    """A native vector env when the id has one, else a ``SyncVectorEnv`` (NEXT_STEP)."""
    kwargs = dict(env_kwargs or {})
    spec = gym.spec(env_id)
    mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)


def _grow(arrays: list[FloatArray], rows: int) -> list[FloatArray]:
    return [np.concatenate([a, np.full((rows, a.shape[1]), np.nan)]) for a in arrays]


def run_deep(env_id: str, agent_name: str, *, replicates: int, steps: int, seed: int = 0,
             env_kwargs: dict[str, Any] | None = None,
             agent_params: dict[str, Any] | None = None,
             callback: Callable[[int, BaseAgent, DeepRun], None] | None = None,
             callback_every: int = 0, agent: BaseAgent | None = None) -> DeepRun:
    """Train ``replicates`` learners of ``agent_name`` on ``env_id`` for ``steps`` env steps
    each (``steps // envs_per_learner`` vector steps) and record every finished episode.

    ``callback(step, agent, run_so_far)`` is called every ``callback_every`` vector steps (for
    logs and checkpoints). ``agent``: an already reset agent to continue training."""
    if agent_name.startswith("sb3-"):
        return run_sb3(env_id, agent_name[4:], replicates=replicates, steps=steps, seed=seed,
                       env_kwargs=env_kwargs, params=dict(agent_params or {}))
    start = time.perf_counter()
    probe = make_env(env_id, 1, env_kwargs)
    obs_space, act_space = probe.single_observation_space, probe.single_action_space
    probe.close()
    if agent is None:
        agent = agents.make(agent_name, observation_space=obs_space, action_space=act_space,
                            **(agent_params or {}))
        k = int(getattr(agent, "envs_per_learner", 1))
        agent.reset(replicates * k, seed=seed)
    k = int(getattr(agent, "envs_per_learner", 1))
    n_envs = replicates * k
    env = make_env(env_id, n_envs, env_kwargs)
    learner_of = np.arange(n_envs) // k
    cap = 64
    ret = np.full((cap, replicates), np.nan)
    end = np.full((cap, replicates), np.nan)
    count = np.zeros(replicates, dtype=np.int64)
    g = np.zeros(n_envs)
    reward_sum = np.zeros(replicates)
    fresh = np.zeros(n_envs, dtype=bool)
    vector_steps = max(1, steps // k)
    run = DeepRun(ret, end, vector_steps * k, reward_sum, dict(agent.params), 0.0, agent)
    try:
        obs, _ = env.reset(seed=seed)
        for t in range(vector_steps):
            actions = agent.act(obs)
            nxt, rewards, term, trunc, _ = env.step(actions)
            agent.update(obs, actions, rewards, nxt, term, trunc)
            live = ~fresh
            r = np.where(live, np.asarray(rewards, dtype=np.float64), 0.0)
            g += r
            np.add.at(reward_sum, learner_of, r)
            done = (term | trunc) & live
            if done.any():
                for i in np.flatnonzero(done):  # a few per step at most
                    learner = int(learner_of[i])
                    e = int(count[learner])
                    if e >= ret.shape[0]:
                        ret, end = _grow([ret, end], ret.shape[0])
                        run.episode_return, run.episode_end_step = ret, end
                    ret[e, learner] = g[i]
                    end[e, learner] = (t + 1) * k
                    count[learner] += 1
                g[done] = 0.0
            fresh = done
            obs = nxt
            if callback is not None and callback_every and (t + 1) % callback_every == 0:
                run.seconds = time.perf_counter() - start
                callback(t + 1, agent, run)
    finally:
        env.close()
    used = max(1, int(count.max()))
    run.episode_return, run.episode_end_step = ret[:used], end[:used]
    run.seconds = time.perf_counter() - start
    return run


def evaluate(agent: BaseAgent, env_id: str, *, episodes: int = 10, seed: int = 10_000,
             env_kwargs: dict[str, Any] | None = None) -> FloatArray:
    """Mean greedy return of each learner over ``episodes`` episodes per env copy (no learning;
    the agent's ``deterministic`` flag is set for the duration), (n,)."""
    k = int(getattr(agent, "envs_per_learner", 1))
    n_envs = agent.num_envs
    env = make_env(env_id, n_envs, env_kwargs)
    before = getattr(agent, "deterministic", False)
    agent.deterministic = True  # type: ignore[attr-defined]
    totals = np.zeros(n_envs)
    finished = np.zeros(n_envs, dtype=np.int64)
    g = np.zeros(n_envs)
    fresh = np.zeros(n_envs, dtype=bool)
    try:
        obs, _ = env.reset(seed=seed)
        while (finished < episodes).any():
            actions = agent.act(obs)
            obs, rewards, term, trunc, _ = env.step(actions)
            live = ~fresh & (finished < episodes)
            g += np.where(live, rewards, 0.0)
            done = (term | trunc) & live
            totals[done] += g[done]
            finished[done] += 1
            g[term | trunc] = 0.0
            fresh = term | trunc
    finally:
        agent.deterministic = before  # type: ignore[attr-defined]
        env.close()
    return np.asarray((totals / episodes).reshape(-1, k).mean(axis=1))


# --------------------------------------------------------------------------------------------
# Stable-Baselines3 adapter.
# --------------------------------------------------------------------------------------------

def run_sb3(env_id: str, algorithm: str, *, replicates: int, steps: int, seed: int = 0,
            env_kwargs: dict[str, Any] | None = None, params: dict[str, Any] | None = None
            ) -> DeepRun:
    """Train SB3's ``algorithm`` (ppo, a2c, dqn) ``replicates`` times, learner ``i`` with seed
    ``seed + i`` on CPU, ``steps`` env steps each; episodes recorded from SB3's Monitor."""
    import stable_baselines3 as sb3
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    if algorithm not in SB3_ALGORITHMS:
        raise ValueError(f"unknown SB3 algorithm {algorithm!r}; available: "
                         f"{', '.join(SB3_ALGORITHMS)}")
    params = dict(params or {})
    hyper = dict(params.get("hyperparams") or {})
    policy = str(params.get("policy", "MlpPolicy"))
    n_envs = int(params.get("n_envs", 1))
    cls = {"ppo": sb3.PPO, "a2c": sb3.A2C, "dqn": sb3.DQN}[algorithm]
    start = time.perf_counter()
    returns: list[list[float]] = []
    ends: list[list[float]] = []
    reward_sum = np.zeros(replicates)

    class Record(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.rets: list[float] = []
            self.ends: list[float] = []
            self.total = 0.0

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.rets.append(float(info["episode"]["r"]))
                    self.ends.append(float(self.num_timesteps))
            self.total += float(np.sum(self.locals["rewards"]))
            return True

    for i in range(replicates):
        venv = make_vec_env(env_id, n_envs=n_envs, seed=seed + i,
                            env_kwargs=dict(env_kwargs or {}))
        model = cls(policy, venv, seed=seed + i, device="cpu", verbose=0, **hyper)
        rec = Record()
        model.learn(total_timesteps=steps, callback=rec)
        venv.close()
        returns.append(rec.rets)
        ends.append(rec.ends)
        reward_sum[i] = rec.total
    e = max(1, max(len(r) for r in returns))
    ret = np.full((e, replicates), np.nan)
    end = np.full((e, replicates), np.nan)
    for i in range(replicates):
        ret[:len(returns[i]), i] = returns[i]
        end[:len(ends[i]), i] = ends[i]
    return DeepRun(ret, end, steps, reward_sum,
                   {"algorithm": algorithm, "policy": policy, "n_envs": n_envs, **hyper},
                   time.perf_counter() - start)


# --------------------------------------------------------------------------------------------
# The harness cell.
# --------------------------------------------------------------------------------------------

#: Agents whose cells :func:`run_deep_cell` runs, whatever the environment.
DEEP_AGENTS = ("dqn", "reinforce", "actor-critic", "evolution-strategies", "rnd",
               "count-bonus", *(f"sb3-{a}" for a in SB3_ALGORITHMS))


def run_deep_cell(cell: Cell) -> CellResult:
    """One harness cell: ``cell.seeds`` learners, ``cell.horizon`` env steps per learner."""
    run = run_deep(cell.env.id, cell.agent.name, replicates=cell.seeds, steps=cell.horizon,
                   seed=cell.seed, env_kwargs=dict(cell.env.kwargs),
                   agent_params=dict(cell.agent.params))
    n = cell.seeds
    grid = time_grid(cell.horizon)
    curve = run.curve(grid)
    final = curve[-1]
    arrays: dict[str, Any] = {
        "episode_return": run.episode_return.astype(np.float32),
        "episode_end_step": run.episode_end_step.astype(np.float32),
        "episodes": np.isfinite(run.episode_return).sum(axis=0).astype(np.int64),
        "grid": grid,
        "return_curve": curve.astype(np.float32),
        "final_return": final,
        "regret": (-curve).astype(np.float32),
        "final_regret": -final,
        "best_arm_fraction": np.full(n, np.nan),
        "mean_reward": run.reward_sum / float(cell.horizon),
        "lai_robbins_constant": np.full(n, np.nan),
    }
    record = make_record(cell, {"arrays": sorted(arrays), "resolved_params": run.params,
                                "regret_kind": "negative-final-return", "window": WINDOW})
    return CellResult(arrays, record)


__all__ = ["DEEP_AGENTS", "DeepRun", "TrainResult", "evaluate", "make_env",
           "run_deep", "run_deep_cell", "run_sb3", "train"]


# --------------------------------------------------------------------------------------------
# `decisiongym train`: one agent, one environment, logs and checkpoints.
# --------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    run: DeepRun
    evaluation: FloatArray  # greedy mean return per learner (NaN for SB3)
    log_path: str | None
    checkpoint: str | None


def train(env_id: str, agent_name: str, *, seeds: int, steps: int, seed: int = 0,
          env_kwargs: dict[str, Any] | None = None, agent_params: dict[str, Any] | None = None,
          log_dir: str | None = None, log_every: int = 1000, tensorboard: bool = False,
          checkpoint: str | None = None, resume: str | None = None,
          eval_episodes: int = 10) -> TrainResult:
    """Train ``seeds`` learners; log every ``log_every`` env steps to ``log_dir/progress.csv``
    (and TensorBoard when asked and installed); save the agent to ``checkpoint`` at every log
    and at the end; ``resume`` loads a checkpoint first (refused if its architecture differs).
    """
    import csv
    from pathlib import Path

    if steps < 1 or seeds < 1:
        raise ValueError(f"train: steps and seeds must be positive, got {steps} and {seeds}")
    if agent_name.startswith("sb3-"):
        if resume or checkpoint:
            raise ValueError("train: checkpoints are for decisiongym's own agents; SB3 models "
                             "have their own save/load")
        run = run_deep(env_id, agent_name, replicates=seeds, steps=steps, seed=seed,
                       env_kwargs=env_kwargs, agent_params=agent_params)
        return TrainResult(run, np.full(seeds, np.nan), None, None)
    probe = make_env(env_id, 1, env_kwargs)
    agent = agents.make(agent_name, observation_space=probe.single_observation_space,
                        action_space=probe.single_action_space, **(agent_params or {}))
    probe.close()
    k = int(getattr(agent, "envs_per_learner", 1))
    agent.reset(seeds * k, seed=seed)
    if resume:
        agent.load(resume)  # type: ignore[attr-defined]
    writer: Any = None
    fh: Any = None
    rows: Any = None
    log_path = None
    if log_dir:
        root = Path(log_dir)
        root.mkdir(parents=True, exist_ok=True)
        log_path = str(root / "progress.csv")
        fh = open(log_path, "w", newline="", encoding="utf-8")
        rows = csv.writer(fh)
        rows.writerow(["env_steps", "seconds", "learner", "episodes", "mean_return_last_20",
                       "loss"])
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ImportError("train: --tensorboard needs the tensorboard package "
                                  "(pip install tensorboard); CSV logs need nothing") from exc
            writer = SummaryWriter(str(root / "tensorboard"))
    vector_every = max(1, log_every // k)

    def log(t: int, agent_now: BaseAgent, run: DeepRun) -> None:
        env_steps = t * k
        finished = np.isfinite(run.episode_return).sum(axis=0)
        curve = run.curve(np.array([env_steps]))[0]
        loss = float(getattr(agent_now, "last_loss", float("nan")))
        if rows is not None:
            for i in range(seeds):
                rows.writerow([env_steps, f"{run.seconds:.3f}", i, int(finished[i]),
                               f"{curve[i]:.4f}", f"{loss:.6g}"])
            fh.flush()
        if writer is not None:
            writer.add_scalar("return/mean", float(np.nanmean(curve)) if np.isfinite(
                curve).any() else float("nan"), env_steps)
            writer.add_scalar("loss", loss, env_steps)
        if checkpoint:
            agent_now.save(checkpoint)  # type: ignore[attr-defined]

    try:
        run = run_deep(env_id, agent_name, replicates=seeds, steps=steps, seed=seed,
                       env_kwargs=env_kwargs, callback=log, callback_every=vector_every,
                       agent=agent)
        if (run.steps // k) % vector_every:  # the last step was not logged yet
            log(run.steps // k, agent, run)
    finally:
        if fh is not None:
            fh.close()
        if writer is not None:
            writer.close()
    evaluation = evaluate(agent, env_id, episodes=eval_episodes, env_kwargs=env_kwargs)
    return TrainResult(run, evaluation, log_path, checkpoint)
