"""``decisiongym train``: one agent on one env, with logs, checkpoints and a greedy evaluation.

:func:`train` runs the harness's one rollout loop (:func:`~decisiongym.harness.rollout.rollout`)
with the episode recorder and a :class:`TrainLogger`, a recorder that writes
``log_dir/progress.csv`` (and TensorBoard) every ``log_every`` env steps and saves the agent's
checkpoint (agents that satisfy :class:`~decisiongym.agents.base.Checkpointing`) at every log
and at the end (atomically: a temporary file, fsynced, renamed over the previous checkpoint, so
a crash leaves a complete checkpoint, old or new). An agent registered with a training loop of
its own trains there: SB3's algorithms through
:func:`~decisiongym.agents.sb3.train_sb3_models`, logged the same way, one learner after
another, checkpoints saved with SB3's ``model.save`` (one zip per learner, each written
atomically the same way).

:func:`evaluate` measures the greedy return of a trained agent (its ``deterministic`` flag,
:class:`~decisiongym.agents.base.GreedyEvaluation`, is set for the duration) through the same
loop, with an episode budget and without learning. Every evaluation episode has a step cap (the
env's own limit, else :data:`DEFAULT_EVAL_STEP_CAP`), so a policy that never ends an episode
cannot hang it; the result (:class:`Evaluation`) says how many episodes the cap cut.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from decisiongym.agents.base import (
    Checkpointing,
    GreedyEvaluation,
    TrainingTask,
    envs_per_learner,
    training_loop,
)
from decisiongym.agents.policy import PolicyAgent
from decisiongym.arrays import FloatArray
from decisiongym.harness.recorders import (
    WINDOW,
    BaseRecorder,
    EpisodeRecorder,
    RolloutSetup,
    StepBatch,
    episode_arrays,
    return_curve,
)
from decisiongym.harness.rollout import make_agent, make_vector_env, merge_recordings, rollout
from decisiongym.validation import check_int, check_optional_int

#: The columns of ``progress.csv``.
PROGRESS_COLUMNS = ("env_steps", "seconds", "learner", "episodes", "mean_return_last_20", "loss")


class ProgressLog:
    """``DIR/progress.csv`` (one row per learner and log) and, when asked, TensorBoard
    scalars under ``DIR/tensorboard``; nothing is written without a ``log_dir``."""

    def __init__(self, log_dir: str | Path | None, *, tensorboard: bool = False) -> None:
        self.path: str | None = None
        self._fh: Any = None
        self._rows: Any = None
        self._writer: Any = None
        if log_dir is None:
            if tensorboard:
                raise ValueError("train: --tensorboard needs a --log-dir")
            return
        root = Path(log_dir)
        root.mkdir(parents=True, exist_ok=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ImportError("train: --tensorboard needs the tensorboard package "
                                  "(pip install tensorboard); CSV logs need nothing") from exc
            self._writer = SummaryWriter(str(root / "tensorboard"))
        self.path = str(root / "progress.csv")
        self._fh = open(self.path, "w", newline="", encoding="utf-8")
        self._rows = csv.writer(self._fh)
        self._rows.writerow(PROGRESS_COLUMNS)

    def write(self, env_steps: int, seconds: float, learners: Sequence[int],
              episodes: Sequence[int], mean_return: Sequence[float], loss: float) -> None:
        """One row per learner in ``learners`` at ``env_steps`` (the learner's env steps)."""
        if self._rows is not None:
            for i, count, value in zip(learners, episodes, mean_return, strict=True):
                self._rows.writerow([env_steps, f"{seconds:.3f}", i, int(count),
                                     f"{value:.4f}", f"{loss:.6g}"])
            self._fh.flush()
        if self._writer is not None:
            values = np.asarray(mean_return, dtype=np.float64)
            for i, value in zip(learners, values, strict=True):
                self._writer.add_scalar(f"return/learner_{i}", value, env_steps)
            if len(learners) > 1:
                mean = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
                self._writer.add_scalar("return/mean", mean, env_steps)
            self._writer.add_scalar("loss", loss, env_steps)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def mean_return_at(episode_return: FloatArray, episode_end_step: FloatArray, env_steps: int,
                   window: int = WINDOW) -> FloatArray:
    """Per learner, the mean return of the last ``window`` episodes ended by ``env_steps``."""
    return return_curve(episode_return, episode_end_step, np.array([env_steps]), window)[0]


class TrainLogger(BaseRecorder):
    """A recorder for ``decisiongym train``: every ``log_every`` env steps (rounded down to
    whole vector steps) and at the end, a row per learner in ``progress.csv`` (env steps,
    seconds, episodes finished, mean return of the last 20, the agent's ``last_loss``) and the
    agent's checkpoint.

    It reads the episodes from ``episodes``, the :class:`EpisodeRecorder` that runs beside it
    (before it in the recorder list), instead of recording them a second time."""

    def __init__(self, episodes: EpisodeRecorder, log: ProgressLog, *, log_every: int = 1000,
                 checkpoint: str | Path | None = None) -> None:
        if log_every < 1:
            raise ValueError(f"train: log_every must be a positive integer, got {log_every}")
        self.episodes = episodes
        self.log = log
        self.log_every = log_every
        self.checkpoint = checkpoint
        self.started = time.perf_counter()

    def start(self, setup: RolloutSetup) -> None:
        if self.checkpoint is not None and not isinstance(setup.agent, Checkpointing):
            raise ValueError(f"train: agent {getattr(setup.agent, 'name', setup.agent)!r} has "
                             "no checkpoints (save/load)")
        self.setup = setup
        self.k = setup.envs_per_learner
        self.every = max(1, self.log_every // self.k)  # vector steps between logs
        self.t = 0
        self.logged = 0

    def step(self, batch: StepBatch) -> None:
        self.t = batch.t
        if batch.t % self.every == 0:
            self._log()

    def _log(self) -> None:
        env_steps = self.t * self.k
        table = self.episodes.table
        out = table.trimmed()
        curve = mean_return_at(out["ret"], out["end"], env_steps)
        agent = self.setup.agent
        loss = float(getattr(agent, "last_loss", float("nan")))
        n = self.setup.learners
        self.log.write(env_steps, time.perf_counter() - self.started, range(n),
                       table.count.tolist(), curve.tolist(), loss)
        if self.checkpoint is not None:
            agent.save(self.checkpoint)
        self.logged = self.t

    def finish(self) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
        if self.t and self.logged != self.t:  # the last step was not logged yet
            self._log()
        return {}, {}


@dataclass
class TrainResult:
    """What :func:`train` did: the episode recorder's ``arrays`` (``final_return``,
    ``return_curve``, ``episode_return``, ...), the trained ``agent`` (for SB3: an agent acting
    through the trained models), its ``params``, the env ``steps`` each learner made, the
    ``seconds`` it took, the greedy ``evaluation`` per learner (and in ``evaluation_report``
    its step cap and the episodes that hit it; None without evaluation), the log and
    checkpoint paths."""

    arrays: dict[str, NDArray[Any]]
    record: dict[str, Any]
    agent: Any
    params: dict[str, Any]
    steps: int
    seconds: float
    evaluation: FloatArray
    log_path: str | None
    checkpoint: str | None
    checkpoint_files: list[str] = field(default_factory=list)
    evaluation_report: Evaluation | None = None

    @property
    def final_return(self) -> FloatArray:
        """Per learner: the mean return of its last 20 training episodes."""
        return np.asarray(self.arrays["final_return"], dtype=np.float64)


def _single_spaces(env_id: str, env_kwargs: Mapping[str, Any]) -> tuple[Any, Any]:
    probe = gym.make(env_id, **dict(env_kwargs))
    try:
        return probe.observation_space, probe.action_space
    finally:
        probe.close()


def train(env_id: str, agent_name: str, *, seeds: int, steps: int, seed: int = 0,
          env_kwargs: Mapping[str, Any] | None = None,
          agent_params: Mapping[str, Any] | None = None, log_dir: str | Path | None = None,
          log_every: int = 1000, tensorboard: bool = False, checkpoint: str | Path | None = None,
          resume: str | Path | None = None, eval_episodes: int = 10,
          eval_max_episode_steps: int | None = None, progress: bool = False) -> TrainResult:
    """Train ``seeds`` learners of ``agent_name`` on ``env_id`` for ``steps`` env steps each
    (learner i: seed + i); log every ``log_every`` env steps to ``log_dir/progress.csv`` (and
    TensorBoard when asked); save the agent to ``checkpoint`` at every log and at the end;
    ``resume`` loads a checkpoint first (refused if it was made for another architecture);
    then evaluate the greedy policy over ``eval_episodes`` episodes (0: no evaluation), each
    capped at ``eval_max_episode_steps`` steps (default: the env's own limit, else
    :data:`DEFAULT_EVAL_STEP_CAP`; see :func:`evaluate`).

    Checkpoints are written atomically (the previous one stays until the new one is complete);
    an unreadable ``resume`` file raises :class:`~decisiongym.agents.deep.CheckpointError`."""
    check_int("train", "steps", steps)
    check_int("train", "seeds", seeds)
    if eval_episodes < 0:
        raise ValueError(f"train: eval_episodes must be >= 0, got {eval_episodes}")
    check_optional_int("train", "eval_max_episode_steps", eval_max_episode_steps)
    kwargs = dict(env_kwargs or {})
    params = dict(agent_params or {})
    obs_space, act_space = _single_spaces(env_id, kwargs)
    agent = make_agent(agent_name, env_id, obs_space, act_space, params)
    if (checkpoint or resume) and not isinstance(agent, Checkpointing):
        raise ValueError(f"train: agent {agent_name!r} has no checkpoints (save/load)")
    k = envs_per_learner(agent)
    agent.reset(seeds * k, seed=seed)
    log = ProgressLog(log_dir, tensorboard=tensorboard)
    start = time.perf_counter()
    files: list[str] = []
    try:
        if training_loop(agent_name) is not None:
            arrays, record, trained_steps, files = _train_own_loop(
                agent, TrainingTask(env_id=env_id, env_kwargs=kwargs, agent=agent_name,
                                    params=params, replicates=seeds, budget=steps, seed=seed,
                                    progress=progress),
                log, log_every, checkpoint, resume)
        else:
            if resume:
                agent.load(resume)
            env = make_vector_env(env_id, seeds * k, kwargs, horizon=steps)
            episodes = EpisodeRecorder()
            logger = TrainLogger(episodes, log, log_every=log_every, checkpoint=checkpoint)
            used, _ = rollout(env, agent, learners=seeds, budget=steps, seed=seed,
                              recorders=[episodes, logger], progress=progress,
                              description=f"{agent_name} on {env_id}")
            arrays, record = merge_recordings(used)
            trained_steps = max(1, steps // k) * k
            if checkpoint:
                files = [str(checkpoint)]
    finally:
        log.close()
    seconds = time.perf_counter() - start
    acts = training_loop(agent_name) is None or bool(getattr(agent, "models", None))
    report = (evaluate(agent, env_id, episodes=eval_episodes, env_kwargs=kwargs,
                       max_episode_steps=eval_max_episode_steps)
              if eval_episodes and acts else None)
    evaluation = report.returns if report is not None else np.full(seeds, np.nan)
    resolved = dict(record.get("resolved_params") or getattr(agent, "params", {}) or {})
    return TrainResult(arrays, record, agent, resolved, trained_steps, seconds, evaluation,
                       log.path, None if checkpoint is None else str(checkpoint), files,
                       report)


def _train_own_loop(agent: Any, task: TrainingTask, log: ProgressLog, log_every: int,
                    checkpoint: str | Path | None, resume: str | Path | None
                    ) -> tuple[dict[str, NDArray[Any]], dict[str, Any], int, list[str]]:
    """An agent with a training loop of its own; SB3's is the one that logs and checkpoints."""
    from decisiongym.agents.sb3 import SB3Agent, checkpoint_paths, save_model, train_sb3_models

    if not isinstance(agent, SB3Agent):
        if log.path is not None or checkpoint or resume:
            raise ValueError(f"train: agent {task.agent!r} trains with a loop of its own, which "
                             "writes no logs or checkpoints here")
        loop = training_loop(task.agent)
        assert loop is not None
        raw, record = loop(task)
        return _episode_arrays(raw, task.budget), record, task.budget, []
    k = agent.envs_per_learner
    every = max(1, log_every // k) * k  # log on the same env steps as the rollout loop
    paths = checkpoint_paths(checkpoint, task.replicates) if checkpoint else []
    started = time.perf_counter()

    def hook(learner: int, env_steps: int, model: Any, returns: FloatArray,
             ends: FloatArray) -> None:
        curve = mean_return_at(returns[:, None], ends[:, None], env_steps)
        loss = float(model.logger.name_to_value.get("train/loss", float("nan")))
        log.write(env_steps, time.perf_counter() - started, [learner], [returns.size],
                  curve.tolist(), loss)
        if paths:
            save_model(model, paths[learner])  # atomic: the previous zip stays until then

    models, raw, record = train_sb3_models(task, resume=resume, hook=hook, hook_every=every)
    agent.set_models(models)
    return (_episode_arrays(raw, task.budget), record, task.budget,
            [str(p) for p in paths])


def _episode_arrays(raw: Mapping[str, NDArray[Any]], budget: int) -> dict[str, NDArray[Any]]:
    """A training loop's per-episode records as the episode recorder's arrays."""
    arrays = dict(raw)
    if "episode_return" not in arrays or "episode_end_step" not in arrays:
        return arrays
    ret = np.asarray(arrays.pop("episode_return"), dtype=np.float64)
    end = np.asarray(arrays.pop("episode_end_step"), dtype=np.float64)
    length = np.asarray(arrays.pop("episode_length", np.full_like(ret, np.nan)),
                        dtype=np.float64)
    reward_sum = np.asarray(arrays.pop("reward_sum", np.nansum(ret, axis=0)), dtype=np.float64)
    arrays.update(episode_arrays(ret, length, end, budget, reward_sum))
    return arrays


#: The step cap of an evaluation episode on an env without a step limit of its own (Gymnasium's
#: ``CliffWalking-v1``, a user env that never ends an episode): the episode is cut there
#: (counted as truncated) and reported, so a greedy policy that loops cannot hang evaluation.
DEFAULT_EVAL_STEP_CAP = 1000


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` measured: the mean greedy ``returns`` per learner (learners,) over
    ``episodes`` episodes per env copy on ``copies`` env copies; the ``step_cap`` per episode and
    where it came from (``cap_source``: "env", the env's own limit; "default",
    :data:`DEFAULT_EVAL_STEP_CAP`; "argument", the caller's ``max_episode_steps``); ``capped``:
    per learner, the episodes that ended because they reached the cap (truncated, not
    terminated)."""

    returns: FloatArray
    episodes: int
    copies: int
    step_cap: int
    cap_source: str
    capped: NDArray[np.int64]

    @property
    def total_episodes(self) -> int:
        """Evaluation episodes over all env copies."""
        return self.episodes * self.copies

    @property
    def total_capped(self) -> int:
        """Evaluation episodes (over all env copies) cut by the step cap."""
        return int(self.capped.sum())

    def describe_cap(self) -> str:
        """E.g. "3 of 10 evaluation episodes hit the 1000-step cap (default cap: the env has no
        step limit)"."""
        source = {"env": "the env's own step limit",
                  "default": "default cap: the env has no step limit",
                  "argument": "the cap asked for"}[self.cap_source]
        return (f"{self.total_capped} of {self.total_episodes} evaluation episodes hit the "
                f"{self.step_cap}-step cap ({source})")


def env_step_limit(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> int | None:
    """The env's own limit on an episode's steps, or None: Gymnasium's ``max_episode_steps``
    (registered or passed in ``env_kwargs``), else the env's ``max_episode_steps`` attribute
    (decisiongym's envs truncate themselves), else the value of its declared budget kwarg (a
    bandit's ``horizon``, which ends its one episode)."""
    from decisiongym.harness.rollout import budget_kwarg
    from decisiongym.validation import is_integer

    probe = gym.make(env_id, **dict(env_kwargs or {}))
    try:
        limit: Any = probe.spec.max_episode_steps if probe.spec is not None else None
        if limit is None:
            limit = getattr(probe.unwrapped, "max_episode_steps", None)
        name = budget_kwarg(env_id)
        if limit is None and name is not None:
            limit = getattr(probe.unwrapped, name, None)
    finally:
        probe.close()
    return int(limit) if is_integer(limit) and int(limit) > 0 else None


class StepCapCounter(BaseRecorder):
    """Per learner, the episodes that ended truncated (not terminated) after ``cap`` or more
    steps: those a step cap cut."""

    def __init__(self, cap: int) -> None:
        self.cap = cap

    def start(self, setup: RolloutSetup) -> None:
        self.setup = setup
        self.length = np.zeros(setup.env.num_envs, dtype=np.int64)
        self.capped = np.zeros(setup.learners, dtype=np.int64)

    def step(self, batch: StepBatch) -> None:
        self.length += batch.live
        done = (batch.terminated | batch.truncated) & batch.live
        if done.any():
            hit = done & batch.truncated & ~batch.terminated & (self.length >= self.cap)
            np.add.at(self.capped, self.setup.learner_of[hit], 1)
            self.length[done] = 0

    def new_phase(self, env: Any) -> None:
        self.length[:] = 0

    def finish(self) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
        return {"capped_episodes": self.capped.copy()}, {}


def evaluate(agent: Any, env_id: str, *, episodes: int = 10, seed: int = 10_000,
             env_kwargs: Mapping[str, Any] | None = None,
             max_episode_steps: int | None = None) -> Evaluation:
    """The greedy return of each learner of ``agent`` (already reset): the mean over
    ``episodes`` episodes per env copy, with the step cap and the episodes that hit it
    (:class:`Evaluation`).

    Runs the one rollout loop with an episode budget on ``agent.num_envs`` env copies reset with
    ``seed`` (copy j: seed + j). The agent acts but does not learn; its ``deterministic`` flag
    (:class:`~decisiongym.agents.base.GreedyEvaluation`) is set for the duration; an agent
    without one is evaluated as it acts.

    Every episode has a step cap, so a policy that never ends an episode cannot hang it:
    ``max_episode_steps`` when given, else the env's own limit (:func:`env_step_limit`), else
    :data:`DEFAULT_EVAL_STEP_CAP` (1,000). An episode that reaches the cap is cut there (it ends,
    truncated) and is counted in :attr:`Evaluation.capped`. Where the cap is the env's own limit
    the env's vector env runs unchanged; otherwise the copies run in Gymnasium's
    ``SyncVectorEnv`` with a ``TimeLimit`` on each."""
    from gymnasium.wrappers import TimeLimit

    check_int("evaluate", "episodes", episodes)
    max_episode_steps = check_optional_int("evaluate", "max_episode_steps", max_episode_steps)
    copies = int(agent.num_envs)
    if copies < 1:
        raise RuntimeError("evaluate: reset the agent (and train it) first")
    k = envs_per_learner(agent)
    kwargs = dict(env_kwargs or {})
    own = env_step_limit(env_id, kwargs)
    if max_episode_steps is not None:
        cap, source = max_episode_steps, "argument"
    elif own is not None:
        cap, source = own, "env"
    else:
        cap, source = DEFAULT_EVAL_STEP_CAP, "default"
    greedy = isinstance(agent, GreedyEvaluation)
    before = agent.deterministic if greedy else False
    # Each env copy is a learner of its own here (episodes per copy, as before); the view acts
    # through the agent and never calls its update.
    view = PolicyAgent(agent.act, batched=True, name=getattr(agent, "name", "agent"))
    view.reset(copies)
    recorder = EpisodeRecorder()
    counter = StepCapCounter(cap)
    if own is not None and own <= cap:
        env = make_vector_env(env_id, copies, kwargs)
    else:
        limit = cap

        def with_cap(single: gym.Env[Any, Any]) -> gym.Wrapper[Any, Any, Any, Any]:
            return TimeLimit(single, max_episode_steps=limit)

        env = gym.make_vec(env_id, num_envs=copies, vectorization_mode="sync",
                           wrappers=[with_cap], **kwargs)
    try:
        if greedy:
            agent.deterministic = True
        rollout(env, view, learners=copies, budget=episodes, seed=seed,
                budget_unit="episodes", recorders=[recorder, counter])
    finally:
        if greedy:
            agent.deterministic = before
    returns = np.asarray(recorder.finish()[0]["episode_return"][:episodes], dtype=np.float64)
    capped = np.asarray(counter.finish()[0]["capped_episodes"], dtype=np.int64)
    return Evaluation(returns=np.asarray(returns.mean(axis=0).reshape(-1, k).mean(axis=1)),
                      episodes=int(episodes), copies=copies, step_cap=int(cap),
                      cap_source=source, capped=capped.reshape(-1, k).sum(axis=1))


__all__ = ["DEFAULT_EVAL_STEP_CAP", "PROGRESS_COLUMNS", "Evaluation", "ProgressLog",
           "StepCapCounter", "TrainLogger", "TrainResult", "env_step_limit", "evaluate",
           "mean_return_at", "train"]
