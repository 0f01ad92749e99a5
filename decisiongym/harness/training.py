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

While it trains, :class:`TrainProgress` shows env steps, episodes, the recent return of each
learner, env steps per second and the time left: a tqdm bar on a terminal, a plain line every
tenth of the budget (or every :data:`LINE_SECONDS` seconds) in a log or a pipe. Every learner's
row in ``progress.csv`` carries its own loss (:func:`learner_losses`). An option an agent
cannot honour (checkpoints of an agent without save/load, logs of a loop other than SB3's) is
refused in one line naming the option and the agent.

:func:`evaluate` measures the greedy return of a trained agent (its ``deterministic`` flag,
:class:`~decisiongym.agents.base.GreedyEvaluation`, is set for the duration) through the same
loop, with an episode budget and without learning. Every evaluation episode has a step cap (the
env's own limit, else :data:`DEFAULT_EVAL_STEP_CAP`), so a policy that never ends an episode
cannot hang it; the result (:class:`Evaluation`) says how many episodes the cap cut.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

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
        self.check(log_dir, tensorboard=tensorboard)
        if log_dir is None:
            return
        root = Path(log_dir)
        root.mkdir(parents=True, exist_ok=True)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(root / "tensorboard"))
        self.path = str(root / "progress.csv")
        self._fh = open(self.path, "w", newline="", encoding="utf-8")
        self._rows = csv.writer(self._fh)
        self._rows.writerow(PROGRESS_COLUMNS)

    @staticmethod
    def check(log_dir: str | Path | None, *, tensorboard: bool = False) -> None:
        """Refuse, before anything runs, TensorBoard without a log dir or without the
        tensorboard package (one line each)."""
        if not tensorboard:
            return
        if log_dir is None:
            raise ValueError("train: --tensorboard needs a --log-dir")
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError as exc:
            raise ImportError("train: --tensorboard needs the tensorboard package (pip "
                              "install tensorboard); CSV logs need nothing") from exc

    def write(self, env_steps: int, seconds: float, learners: Sequence[int],
              episodes: Sequence[int], mean_return: Sequence[float],
              losses: Sequence[float]) -> None:
        """One row per learner in ``learners`` at ``env_steps`` (the learner's env steps), each
        with that learner's own loss (NaN where the agent reports none for it)."""
        if self._rows is not None:
            for i, count, value, loss in zip(learners, episodes, mean_return, losses,
                                             strict=True):
                self._rows.writerow([env_steps, f"{seconds:.3f}", i, int(count),
                                     f"{value:.4f}", f"{loss:.6g}"])
            self._fh.flush()
        if self._writer is not None:
            values = np.asarray(mean_return, dtype=np.float64)
            for i, value, loss in zip(learners, values, losses, strict=True):
                self._writer.add_scalar(f"return/learner_{i}", value, env_steps)
                self._writer.add_scalar(f"loss/learner_{i}", loss, env_steps)
            if len(learners) > 1:
                mean = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
                self._writer.add_scalar("return/mean", mean, env_steps)

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


def learner_losses(agent: Any, learners: int) -> list[float]:
    """Each learner's last training loss: the agent's ``last_losses`` (one per learner) where
    it has them; its single ``last_loss`` where it trains one learner; else NaN (an agent that
    reports one loss for several learners says nothing about any one of them)."""
    per = getattr(agent, "last_losses", None)
    if per is not None:
        values = np.asarray(per, dtype=np.float64).ravel()
        if values.size == learners:
            return [float(v) for v in values]
    if learners == 1:
        return [float(getattr(agent, "last_loss", float("nan")))]
    return [float("nan")] * learners


def _recent_returns(table: Any, window: int = WINDOW) -> list[float]:
    """Per learner, the mean return of its last ``window`` finished episodes (NaN: none)."""
    returns = table["ret"]
    out = []
    for j, count in enumerate(table.count.tolist()):
        out.append(float(np.mean(returns[max(0, count - window):count, j])) if count
                   else float("nan"))
    return out


#: How ``decisiongym train`` shows its progress: a tqdm bar (a terminal), a plain line every
#: tenth of the budget or every :data:`LINE_SECONDS` seconds (a log file, a pipe), or nothing.
PROGRESS_MODES = ("bar", "lines", "off")
#: The longest wait between two plain progress lines.
LINE_SECONDS = 30.0


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _returns_text(recent: Sequence[float], most: int = 4) -> str:
    shown = ["-" if not math.isfinite(x) else f"{x:.1f}" for x in recent[:most]]
    more = f" (+{len(recent) - most} more)" if len(recent) > most else ""
    return " ".join(shown) + more


class TrainProgress:
    """What ``decisiongym train`` shows while it trains: env steps (over all learners) of the
    total, episodes finished, the recent return (mean of the last 20 episodes) per learner,
    env steps per second and the time left.

    ``mode`` "bar": a tqdm bar on ``stream`` (for a terminal); "lines": a plain line at every
    tenth of the total and at least every ``line_seconds`` seconds (for a log or a pipe);
    "off": nothing. Call :meth:`due` as often as you like (it only reads the clock) and
    :meth:`show` when it says so; :meth:`close` at the end."""

    def __init__(self, total: int, learners: int, *, mode: str = "bar",
                 description: str = "", stream: TextIO | None = None,
                 line_seconds: float = LINE_SECONDS) -> None:
        if mode not in PROGRESS_MODES:
            raise ValueError(f"train: progress must be one of {', '.join(PROGRESS_MODES)}, "
                             f"got {mode!r}")
        self.total = max(1, int(total))
        self.learners = learners
        self.mode = mode
        self.description = description
        self.stream = stream if stream is not None else sys.stderr
        self.line_seconds = line_seconds
        self.started = time.perf_counter()
        self.next_time = self.started
        self.next_mark = self.total // 10
        self.done = 0
        self.shown = -1  # the env steps of the last line written
        self.episodes = [0] * learners
        self.recent = [float("nan")] * learners
        self.bar: Any = None
        if mode == "bar":
            from tqdm.auto import tqdm

            # We refresh it at most every 0.25 s ourselves (due), so tqdm need not wait.
            self.bar = tqdm(total=self.total, desc=description, unit="step", leave=False,
                            file=self.stream, dynamic_ncols=True, mininterval=0)
        if mode != "off":
            self.next_time = self.started + (0.25 if mode == "bar" else line_seconds)

    def due(self, done: int) -> bool:
        """Whether :meth:`show` would show something new at ``done`` env steps."""
        if self.mode == "off":
            return False
        if self.mode == "lines" and done >= self.next_mark:
            return True
        return time.perf_counter() >= self.next_time

    def show(self, done: int, episodes: Sequence[int] | None = None,
             recent: Sequence[float] | None = None, *, display: bool = True) -> None:
        """Show the state at ``done`` env steps (over all learners); ``display=False`` only
        keeps it (for :meth:`close`)."""
        if episodes is not None:
            self.episodes = [int(x) for x in episodes]
        if recent is not None:
            self.recent = [float(x) for x in recent]
        self.done = min(int(done), self.total)
        if not display:
            return
        now = time.perf_counter()
        if self.mode == "bar":
            self.bar.set_postfix_str(f"episodes {sum(self.episodes)}, return "
                                     f"{_returns_text(self.recent)}", refresh=False)
            self.bar.update(self.done - self.bar.n)
            self.next_time = now + 0.25
        elif self.mode == "lines":
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()
            self.shown = self.done
            while self.next_mark <= self.done:
                self.next_mark += max(1, self.total // 10)
            self.next_time = now + self.line_seconds

    def line(self, now: float | None = None) -> str:
        """E.g. "train dqn on CartPole-v1:  40% 2,000/5,000 env steps, 61 episodes, return
        (last 20) 31.2 28.0, 1,480 steps/s, 2 s left"."""
        elapsed = max((now or time.perf_counter()) - self.started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        head = f"train {self.description}: " if self.description else "train: "
        return (f"{head}{100 * self.done / self.total:3.0f}% {self.done:,}/{self.total:,} env "
                f"steps, {sum(self.episodes)} episodes, return (last 20) "
                f"{_returns_text(self.recent)}, {rate:,.0f} steps/s, {_duration(left)} left")

    def close(self) -> None:
        """The final state (a last line where it is not shown yet); the bar goes away."""
        if self.mode == "bar" and self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.mode == "lines" and self.done and self.shown != self.done:
            self.show(self.done)


class TrainWatch(BaseRecorder):
    """A recorder that feeds :class:`TrainProgress` from the episode recorder beside it (before
    it in the recorder list), reading the episodes only when there is something to show."""

    def __init__(self, episodes: EpisodeRecorder, progress: TrainProgress) -> None:
        self.episodes = episodes
        self.progress = progress

    def start(self, setup: RolloutSetup) -> None:
        self.scale = setup.learners  # env steps of one learner -> over all learners
        self.done = 0

    def step(self, batch: StepBatch) -> None:
        self.done = batch.env_steps * self.scale
        if self.progress.due(self.done):
            table = self.episodes.table
            self.progress.show(self.done, table.count.tolist(), _recent_returns(table))

    def finish(self) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
        table = self.episodes.table
        self.progress.show(self.done, table.count.tolist(), _recent_returns(table),
                           display=False)  # close() shows it
        return {}, {}


class TrainLogger(BaseRecorder):
    """A recorder for ``decisiongym train``: every ``log_every`` env steps (rounded down to
    whole vector steps) and at the end, a row per learner in ``progress.csv`` (env steps,
    seconds, episodes finished, mean return of the last 20, the learner's loss: see
    :func:`learner_losses`) and the agent's checkpoint.

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
            raise ValueError(f"train: --checkpoint: agent "
                             f"{getattr(setup.agent, 'name', setup.agent)!r} has no "
                             "checkpoints (save/load)")
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
        n = self.setup.learners
        self.log.write(env_steps, time.perf_counter() - self.started, range(n),
                       table.count.tolist(), curve.tolist(), learner_losses(agent, n))
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
          resume: str | Path | None = None, eval_episodes: int | None = None,
          eval_max_episode_steps: int | None = None, progress: bool | str = False,
          progress_stream: TextIO | None = None,
          on_start: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train ``seeds`` learners of ``agent_name`` on ``env_id`` for ``steps`` env steps each
    (learner i: seed + i); log every ``log_every`` env steps to ``log_dir/progress.csv`` (and
    TensorBoard when asked); save the agent to ``checkpoint`` at every log and at the end;
    ``resume`` loads a checkpoint first (refused if it was made for another architecture);
    then evaluate the greedy policy over ``eval_episodes`` episodes (0: no evaluation; None,
    the default: 10 where the agent acts after training, else none), each capped at
    ``eval_max_episode_steps`` steps (default: the env's own limit, else
    :data:`DEFAULT_EVAL_STEP_CAP`; see :func:`evaluate`).

    ``progress``: "bar", "lines" or "off" (True: "bar"), shown on ``progress_stream`` (default
    stderr) by :class:`TrainProgress`. ``on_start`` is called with the agent's resolved
    parameters once it is built, before training starts (the CLI prints its header there).

    Every agent honours every option or refuses it with one line naming the option and the
    agent (ValueError): an agent without save/load refuses ``checkpoint`` and ``resume``; an
    agent with a training loop of its own other than SB3's refuses ``log_dir``,
    ``checkpoint``, ``resume`` and an ``eval_episodes`` above 0.

    Checkpoints are written atomically (the previous one stays until the new one is complete);
    an unreadable ``resume`` file raises :class:`~decisiongym.agents.deep.CheckpointError`."""
    check_int("train", "steps", steps)
    check_int("train", "seeds", seeds)
    if eval_episodes is not None and eval_episodes < 0:
        raise ValueError(f"train: eval_episodes must be >= 0, got {eval_episodes}")
    check_optional_int("train", "eval_max_episode_steps", eval_max_episode_steps)
    mode = {True: "bar", False: "off"}.get(progress, progress) \
        if isinstance(progress, bool) else str(progress)
    if mode not in PROGRESS_MODES:
        raise ValueError(f"train: progress must be one of {', '.join(PROGRESS_MODES)}, got "
                         f"{progress!r}")
    ProgressLog.check(log_dir, tensorboard=tensorboard)
    kwargs = dict(env_kwargs or {})
    params = dict(agent_params or {})
    obs_space, act_space = _single_spaces(env_id, kwargs)
    agent = make_agent(agent_name, env_id, obs_space, act_space, params)
    own_loop = training_loop(agent_name) is not None
    sb3 = own_loop and _is_sb3(agent)
    if own_loop and not sb3:
        # Its loop writes no logs or checkpoints here, and the agent does not act after it.
        for flag, given in (("--log-dir", log_dir is not None), ("--tensorboard", tensorboard),
                            ("--checkpoint", bool(checkpoint)), ("--resume", bool(resume)),
                            ("--eval-episodes", bool(eval_episodes))):
            if given:
                raise ValueError(f"train: {flag} is not available for agent {agent_name!r}: "
                                 "it trains with a loop of its own, which "
                                 + ("is not evaluated greedily here" if flag == "--eval-episodes"
                                    else "writes no logs or checkpoints here"))
        eval_episodes = 0
    for option, path in (("--checkpoint", checkpoint), ("--resume", resume)):
        if path and not isinstance(agent, Checkpointing):
            raise ValueError(f"train: {option} is not available for agent {agent_name!r}: it "
                             "has no checkpoints (save/load)")
    if eval_episodes is None:
        eval_episodes = 10
    if on_start is not None:
        on_start(dict(getattr(agent, "params", {}) or {}))
    k = envs_per_learner(agent)
    if not own_loop or sb3:  # SB3's agent acts through its models after training
        agent.reset(seeds * k, seed=seed)
    log = ProgressLog(log_dir, tensorboard=tensorboard)
    watch = TrainProgress(seeds * steps, seeds, mode=mode, stream=progress_stream,
                          description=f"{agent_name} on {env_id}")
    start = time.perf_counter()
    files: list[str] = []
    try:
        if own_loop:
            arrays, record, trained_steps, files = _train_own_loop(
                agent, TrainingTask(env_id=env_id, env_kwargs=kwargs, agent=agent_name,
                                    params=params, replicates=seeds, budget=steps, seed=seed),
                log, log_every, checkpoint, resume, watch)
        else:
            if resume:
                agent.load(resume)
            env = make_vector_env(env_id, seeds * k, kwargs, horizon=steps)
            episodes = EpisodeRecorder()
            logger = TrainLogger(episodes, log, log_every=log_every, checkpoint=checkpoint)
            used, _ = rollout(env, agent, learners=seeds, budget=steps, seed=seed,
                              recorders=[episodes, logger, TrainWatch(episodes, watch)],
                              description=f"{agent_name} on {env_id}")
            arrays, record = merge_recordings(used)
            trained_steps = max(1, steps // k) * k
            if checkpoint:
                files = [str(checkpoint)]
    finally:
        watch.close()
        log.close()
    seconds = time.perf_counter() - start
    acts = not own_loop or bool(getattr(agent, "models", None))
    report = (evaluate(agent, env_id, episodes=eval_episodes, env_kwargs=kwargs,
                       max_episode_steps=eval_max_episode_steps)
              if eval_episodes and acts else None)
    evaluation = report.returns if report is not None else np.full(seeds, np.nan)
    resolved = dict(record.get("resolved_params") or getattr(agent, "params", {}) or {})
    return TrainResult(arrays, record, agent, resolved, trained_steps, seconds, evaluation,
                       log.path, None if checkpoint is None else str(checkpoint), files,
                       report)


def _is_sb3(agent: Any) -> bool:
    from decisiongym.agents.sb3 import SB3Agent

    return isinstance(agent, SB3Agent)


def _train_own_loop(agent: Any, task: TrainingTask, log: ProgressLog, log_every: int,
                    checkpoint: str | Path | None, resume: str | Path | None,
                    watch: TrainProgress | None = None
                    ) -> tuple[dict[str, NDArray[Any]], dict[str, Any], int, list[str]]:
    """An agent with a training loop of its own; SB3's is the one that logs, checkpoints and
    shows its progress (its learners train one after another)."""
    from decisiongym.agents.sb3 import SB3Agent, checkpoint_paths, save_model, train_sb3_models

    if not isinstance(agent, SB3Agent):
        loop = training_loop(task.agent)
        assert loop is not None
        raw, record = loop(dataclasses.replace(
            task, progress=watch is not None and watch.mode == "bar"))
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
                  curve.tolist(), [loss])
        if paths:
            save_model(model, paths[learner])  # atomic: the previous zip stays until then

    def progress(learner: int, env_steps: int, returns: Sequence[float]) -> None:
        assert watch is not None
        done = learner * task.budget + env_steps
        if watch.due(done) or env_steps >= task.budget:
            episodes = list(watch.episodes)
            recent = list(watch.recent)
            episodes[learner] = len(returns)
            recent[learner] = float(np.mean(returns[-WINDOW:])) if returns else float("nan")
            watch.show(done, episodes, recent, display=watch.due(done))

    models, raw, record = train_sb3_models(
        task, resume=resume, hook=hook, hook_every=every,
        watch=progress if watch is not None and watch.mode != "off" else None)
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


__all__ = ["DEFAULT_EVAL_STEP_CAP", "LINE_SECONDS", "PROGRESS_COLUMNS", "PROGRESS_MODES",
           "Evaluation", "ProgressLog", "StepCapCounter", "TrainLogger", "TrainProgress",
           "TrainResult", "TrainWatch", "env_step_limit", "evaluate", "learner_losses",
           "mean_return_at", "train"]
