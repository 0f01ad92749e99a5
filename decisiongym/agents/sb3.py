"""Stable-Baselines3's PPO, A2C and DQN as registered agents: ``sb3-ppo``, ``sb3-a2c``,
``sb3-dqn``.

Training. An SB3 algorithm trains with SB3's own loop (``model.learn``), so these agents are
registered with a training loop of their own (:func:`train_sb3`, a
:class:`~decisiongym.agents.base.TrainingLoop`): the harness hands it a
:class:`~decisiongym.agents.base.TrainingTask` instead of stepping the agent. Same budget,
seeds and records as the harness's own rollout loop:

- learner ``i`` is one SB3 model with seed ``seed + i`` (its ``n_envs`` env copies made by
  SB3's ``make_vec_env`` with that seed: copy j is reset with ``seed + i + j``), on CPU unless
  ``hyperparams`` says otherwise;
- ``model.learn(total_timesteps=budget)``: ``budget`` env steps per learner, counted over its
  ``n_envs`` copies as SB3 counts them. SB3 finishes its last rollout (PPO, A2C) or its last
  ``train_freq`` block (DQN), so it may train a little past the budget; what is recorded stops
  at the budget, as it does for every other agent;
- every episode that ends within the budget is recorded from SB3's ``Monitor`` (its return and
  length, and the learner's env step at which it ended), and the sum of the rewards; the
  harness turns these into the episode recorder's arrays (``final_return``,
  ``return_curve``, ...).

:func:`train_sb3_models` does the same and also hands back the trained models (for
evaluation and ``decisiongym train``).

Acting. A trained agent acts through ``model.predict(obs, deterministic=...)``: build it from
trained models (one per learner) with :meth:`SB3Agent.from_models`, or load checkpoints with
:meth:`SB3Agent.load`; it then runs in the harness's rollout loop like any batched agent (it does
not learn there: ``update`` is a no-op). Checkpoints are SB3's own zip files
(:func:`checkpoint_paths`), each written atomically (:func:`save_model`); a file that cannot be
loaded raises :class:`~decisiongym.agents.deep.CheckpointError` with one line naming it.

Parameters: ``hyperparams`` (a dict of the algorithm's constructor arguments, e.g.
``{"n_steps": 256}``), ``policy`` ("MlpPolicy", "CnnPolicy", "MultiInputPolicy" or a policy
class), ``n_envs`` (env copies per learner). SB3's DQN needs a ``Discrete`` action space.
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from decisiongym.agents.base import BaseAgent, TrainingTask, make, register
from decisiongym.agents.deep import CheckpointError, CheckpointMismatch, atomic_write, one_line
from decisiongym.agents.policy import predict_actions, take_rows
from decisiongym.arrays import BoolArray, FloatArray, IntArray

__all__ = ["SB3_ALGORITHMS", "SB3Agent", "SB3Hook", "SB3Watch", "checkpoint_paths",
           "save_model", "train_sb3", "train_sb3_models"]

#: The SB3 algorithms registered as ``sb3-<name>``.
SB3_ALGORITHMS = ("ppo", "a2c", "dqn")
#: Constructor arguments the harness sets itself (the seed) or that are parameters of their own.
_RESERVED = ("env", "seed", "policy")
_ACTION_SPACES: dict[str, tuple[type[spaces.Space[Any]], ...]] = {
    "ppo": (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
    "a2c": (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
    "dqn": (spaces.Discrete,),
}

#: ``hook(learner, env_steps, model, episode_return, episode_end_step)``: called during
#: training every ``hook_every`` env steps of a learner (and once at its end), with the
#: episodes it has finished so far.
SB3Hook = Callable[[int, int, Any, FloatArray, FloatArray], None]
#: ``watch(learner, env_steps, episode_returns)``: called at every vector step of a learner
#: within the budget with the returns of the episodes it has finished so far (a list that
#: grows; read it, do not keep it). ``decisiongym train`` shows its progress from it.
SB3Watch = Callable[[int, int, list[float]], None]


def algorithm_class(algorithm: str) -> Any:
    """SB3's class for ``algorithm`` ("ppo", "a2c", "dqn")."""
    if algorithm not in SB3_ALGORITHMS:
        raise ValueError(f"unknown SB3 algorithm {algorithm!r}; available: "
                         f"{', '.join(SB3_ALGORITHMS)}")
    import stable_baselines3 as sb3

    return {"ppo": sb3.PPO, "a2c": sb3.A2C, "dqn": sb3.DQN}[algorithm]


def checkpoint_paths(path: str | Path, learners: int) -> list[Path]:
    """Where the models of ``learners`` learners are saved for checkpoint ``path``: the path
    itself (with SB3's ".zip" suffix) for one learner, ``<stem>-learner<i>.zip`` beside it for
    several.

    >>> [p.name for p in checkpoint_paths("runs/ppo.zip", 2)]
    ['ppo-learner0.zip', 'ppo-learner1.zip']
    >>> checkpoint_paths("runs/ppo", 1)[0].name
    'ppo.zip'
    """
    path = Path(path)
    suffix = path.suffix or ".zip"
    if learners == 1:
        return [path.with_suffix(suffix)]
    return [path.with_name(f"{path.stem}-learner{i}{suffix}") for i in range(learners)]


class _Buffer(io.BytesIO):
    """A bytes buffer that SB3's ``save`` cannot close (it closes the file it writes)."""

    def close(self) -> None:
        pass


def save_model(model: Any, path: str | Path) -> Path:
    """``model.save`` to ``path`` atomically (:func:`~decisiongym.agents.deep.atomic_write`):
    SB3 writes its zip into memory, which then replaces ``path`` in one rename, so a crash
    leaves the previous checkpoint or the new one, never a partial zip."""
    buffer = _Buffer()
    model.save(buffer)
    return atomic_write(path, buffer.getvalue())


class SB3Agent(BaseAgent):
    """An SB3 algorithm as a registered agent: validates its parameters; trained by SB3's own
    loop (:func:`train_sb3`); acts through its trained models (:meth:`from_models`,
    :meth:`load`), one per learner, each for its ``n_envs`` env copies."""

    algorithm: ClassVar[str] = "ppo"

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 hyperparams: dict[str, Any] | None = None, policy: Any = "MlpPolicy",
                 n_envs: int = 1) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        if hyperparams is not None and not isinstance(hyperparams, dict):
            raise self._param_error("hyperparams", hyperparams, "a dict of SB3 constructor "
                                    "arguments")
        self.hyperparams = dict(hyperparams or {})
        self.envs_per_learner = self._check_int("n_envs", n_envs)
        allowed = _ACTION_SPACES[self.algorithm]
        if not isinstance(action_space, allowed):
            if self.algorithm == "dqn":
                raise ValueError(f"{self.name}: SB3's DQN needs a Discrete action space, got "
                                 f"{action_space!r}")
            raise ValueError(f"{self.name}: SB3's {self.algorithm.upper()} takes Box, "
                             f"Discrete, MultiDiscrete or MultiBinary actions, got "
                             f"{action_space!r}")
        if isinstance(observation_space, spaces.Tuple):
            raise ValueError(f"{self.name}: SB3 takes no Tuple observation space, got "
                             f"{observation_space!r}")
        cls = algorithm_class(self.algorithm)
        reserved = sorted(set(self.hyperparams) & set(_RESERVED))
        if reserved:
            raise ValueError(f"{self.name}: hyperparams must not set {', '.join(reserved)} (the "
                             "harness seeds each learner; policy is a parameter of its own)")
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self", *_RESERVED}
        unknown = sorted(set(self.hyperparams) - accepted)
        if unknown:
            raise ValueError(f"{self.name}: unknown hyperparameter(s) {', '.join(unknown)} of "
                             f"SB3's {cls.__name__}; it takes {', '.join(sorted(accepted))}")
        if isinstance(policy, str):
            if policy not in cls.policy_aliases:
                raise self._param_error("policy", policy, "one of " + ", ".join(
                    sorted(cls.policy_aliases)) + " or a policy class")
            if isinstance(observation_space, spaces.Dict) and policy != "MultiInputPolicy":
                raise ValueError(f"{self.name}: a Dict observation space needs "
                                 f"policy='MultiInputPolicy', got {policy!r}")
        elif not isinstance(policy, type):
            raise self._param_error("policy", policy, "a policy name or class")
        self.policy = policy
        self.models: list[Any] = []
        self.deterministic = True  # acting after training is evaluation

    # ----- built from trained models -------------------------------------------------------

    @classmethod
    def from_models(cls, models: Sequence[Any], *, observation_space: spaces.Space[Any],
                    action_space: spaces.Space[Any], deterministic: bool = True,
                    **params: Any) -> SB3Agent:
        """A batched agent acting through trained SB3 ``models`` (learner i: ``models[i]``,
        for its ``n_envs`` env copies); ``params`` as for the registered agent. Reset it for
        ``len(models) * n_envs`` copies (``harness.run`` does) before acting."""
        agent = make(cls.name, observation_space=observation_space, action_space=action_space,
                     **params)
        assert isinstance(agent, SB3Agent)
        agent.set_models(models)
        agent.deterministic = bool(deterministic)
        return agent

    def set_models(self, models: Sequence[Any]) -> None:
        """Act through these trained models from now on (one per learner)."""
        models = list(models)
        if not models:
            raise ValueError(f"{self.name}: no models given")
        cls = algorithm_class(self.algorithm)
        for model in models:
            if not isinstance(model, cls):
                raise ValueError(f"{self.name}: expected SB3 {cls.__name__} models, got "
                                 f"{type(model).__name__}")
        self.models = models

    # ----- checkpoints: SB3's own zip files ---------------------------------------------------

    def save(self, path: str | Path) -> list[Path]:
        """Save each learner's model with SB3's ``model.save`` (:func:`checkpoint_paths`)."""
        if not self.models:
            raise RuntimeError(f"{self.name}: no trained model to save")
        targets = checkpoint_paths(path, len(self.models))
        for model, target in zip(self.models, targets, strict=True):
            save_model(model, target)
        return targets

    def load(self, path: str | Path) -> None:
        """Load the models of this agent's learners (``num_envs // n_envs`` of them, so call
        ``reset`` first) saved by :meth:`save` or ``decisiongym train --checkpoint``."""
        if self.num_envs == 0:
            raise RuntimeError(f"{self.name}: call reset(num_envs, seed) before load()")
        learners = self.num_envs // self.envs_per_learner
        self.set_models(load_models(self.algorithm, checkpoint_paths(path, learners),
                                    self.hyperparams, who=self.name))

    # ----- the batched protocol -------------------------------------------------------------

    def _reset_state(self, num_envs: int) -> None:
        k = self.envs_per_learner
        if num_envs % k:
            raise ValueError(f"{self.name}: num_envs ({num_envs}) must be a multiple of n_envs "
                             f"({k})")
        if self.models and num_envs != len(self.models) * k:
            raise ValueError(f"{self.name}: {len(self.models)} trained model(s) of {k} env "
                             f"copies each act on {len(self.models) * k} copies, not "
                             f"{num_envs}")

    def _act(self, obs: Any) -> NDArray[Any]:
        if not self.models:
            raise RuntimeError(f"{self.name} trains with SB3's own loop: run it by name through "
                               "decisiongym.harness.run or `decisiongym train`; to act, build "
                               "it from trained models (from_models) or load a checkpoint")
        k = self.envs_per_learner
        if len(self.models) == 1:
            return predict_actions(self.models[0], obs, self.deterministic)
        parts = [predict_actions(model, take_rows(obs, slice(i * k, (i + 1) * k)),
                                 self.deterministic) for i, model in enumerate(self.models)]
        return np.concatenate(parts)

    def _learn(self, rows: IntArray, obs: Any, actions: NDArray[Any], rewards: FloatArray,
               next_obs: Any, terminated: BoolArray, truncated: BoolArray) -> None:
        """SB3 learns in its own loop; stepped by the harness, a trained agent only acts."""


@register("sb3-ppo", "Stable-Baselines3 PPO, trained by SB3's own loop under the harness's "
          "budget and seeds (hyperparams, policy, n_envs)",
          training_loop="decisiongym.agents.sb3:train_sb3")
class SB3PPO(SB3Agent):
    algorithm = "ppo"


@register("sb3-a2c", "Stable-Baselines3 A2C, trained by SB3's own loop under the harness's "
          "budget and seeds (hyperparams, policy, n_envs)",
          training_loop="decisiongym.agents.sb3:train_sb3")
class SB3A2C(SB3Agent):
    algorithm = "a2c"


@register("sb3-dqn", "Stable-Baselines3 DQN, trained by SB3's own loop under the harness's "
          "budget and seeds (hyperparams, policy, n_envs; Discrete actions)",
          training_loop="decisiongym.agents.sb3:train_sb3")
class SB3DQN(SB3Agent):
    algorithm = "dqn"


def load_models(algorithm: str, paths: Sequence[Path], hyperparams: dict[str, Any], *,
                who: str, env: Any = None) -> list[Any]:
    """SB3 models of ``algorithm`` from ``paths``; :class:`CheckpointMismatch` when one is
    missing, of another algorithm, or made with other ``policy_kwargs``."""
    cls = algorithm_class(algorithm)
    extra = {"policy_kwargs": hyperparams["policy_kwargs"]} if "policy_kwargs" in hyperparams \
        else {}
    import zipfile

    models = []
    for path in paths:
        source = f"checkpoint {str(path)!r}"
        if not path.exists():
            raise CheckpointError(f"{who}: {source} does not exist (SB3 saves one zip file "
                                  "per learner)")
        if not path.is_file():
            raise CheckpointError(f"{who}: {source} is not a file")
        if path.stat().st_size == 0:
            raise CheckpointError(f"{who}: {source} is empty")
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"{who}: {source} is not an SB3 zip file (truncated, damaged "
                                  "or another kind of file)")
        try:
            models.append(cls.load(path, env=env, device=hyperparams.get("device", "cpu"),
                                   **extra))
        except (ValueError, KeyError, TypeError, RuntimeError, AssertionError) as exc:
            raise CheckpointMismatch(f"{who}: {source} cannot be loaded as SB3's "
                                     f"{cls.__name__} for this agent: {one_line(exc)}") from exc
        except (OSError, EOFError, zipfile.BadZipFile, ImportError, AttributeError,
                IndexError) as exc:
            raise CheckpointError(f"{who}: {source} cannot be read as SB3's {cls.__name__} "
                                  f"checkpoint (truncated or damaged): {one_line(exc)}") from exc
    return models


# --------------------------------------------------------------------------------------------
# The training loop.
# --------------------------------------------------------------------------------------------


def _make_recorder(budget: int, learner: int, hook: SB3Hook | None, hook_every: int,
                   bar: Any, watch: SB3Watch | None = None) -> Any:
    from stable_baselines3.common.callbacks import BaseCallback

    class EpisodeRecord(BaseCallback):
        """Every episode of one learner that ends within the budget (from SB3's Monitor)."""

        def __init__(self) -> None:
            super().__init__()
            self.returns: list[float] = []
            self.lengths: list[float] = []
            self.ends: list[float] = []
            self.reward_sum = 0.0
            self.start = 0
            self.steps = 0
            self.hooked = 0

        def _on_training_start(self) -> None:
            self.start = self.num_timesteps  # > 0 when a loaded model trains on

        def _on_step(self) -> bool:
            steps = self.num_timesteps - self.start
            if steps > budget:
                return True  # SB3 finishes its rollout; nothing past the budget is recorded
            if bar is not None:
                bar.update(steps - self.steps)
            self.steps = steps
            self.reward_sum += float(np.sum(self.locals["rewards"], dtype=np.float64))
            for info in self.locals["infos"]:
                episode = info.get("episode")
                if episode is not None:
                    self.returns.append(float(episode["r"]))
                    self.lengths.append(float(episode["l"]))
                    self.ends.append(float(steps))
            if watch is not None:
                watch(learner, steps, self.returns)
            if hook is not None and hook_every and steps // hook_every > self.hooked:
                self.hooked = steps // hook_every
                self.call_hook()
            return True

        def call_hook(self) -> None:
            assert hook is not None
            hook(learner, self.steps, self.model, np.asarray(self.returns, dtype=np.float64),
                 np.asarray(self.ends, dtype=np.float64))

    return EpisodeRecord()


def train_sb3_models(task: TrainingTask, *, resume: str | Path | None = None,
                     hook: SB3Hook | None = None, hook_every: int = 0,
                     watch: SB3Watch | None = None
                     ) -> tuple[list[Any], dict[str, NDArray[Any]], dict[str, Any]]:
    """Train ``task.replicates`` SB3 learners by SB3's own loop (see the module docstring);
    return (models, per-episode arrays, record entries).

    Arrays: ``episode_return``, ``episode_length``, ``episode_end_step`` (E, n), NaN past a
    learner's last episode; ``reward_sum`` (n,). ``resume``: a checkpoint
    (:func:`checkpoint_paths`) whose models train on (SB3's step counters and schedules go
    on; the records count from 0). ``hook``: see :data:`SB3Hook`; a ``hook_every`` of k env
    steps calls it whenever a learner's step count passes a multiple of k, and at its end.
    ``watch``: see :data:`SB3Watch` (it replaces the progress bar that ``task.progress`` asks
    for).
    """
    import gymnasium as gym
    from stable_baselines3.common.env_util import make_vec_env
    from tqdm.auto import tqdm

    if task.budget < 1 or task.replicates < 1:
        raise ValueError(f"{task.agent}: budget and replicates must be positive, got "
                         f"{task.budget} and {task.replicates}")
    probe = gym.make(task.env_id, **task.env_kwargs)
    try:
        if probe.metadata.get("decisiongym.budget_unit", "steps") != "steps":
            raise ValueError(f"{task.agent}: SB3 trains for a number of env steps; env "
                             f"{task.env_id!r} counts its budget in episodes")
        try:
            agent = make(task.agent, observation_space=probe.observation_space,
                         action_space=probe.action_space, **task.params)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"agent {task.agent!r} does not fit env {task.env_id!r} "
                             f"(observation space {probe.observation_space!r}, action space "
                             f"{probe.action_space!r}): {exc}") from exc
    finally:
        probe.close()
    if not isinstance(agent, SB3Agent):
        raise ValueError(f"train_sb3: {task.agent!r} is not an SB3 agent")
    cls = algorithm_class(agent.algorithm)
    hyper = dict(agent.hyperparams)
    k = agent.envs_per_learner
    paths = checkpoint_paths(resume, task.replicates) if resume is not None else None
    models: list[Any] = []
    records = []
    bar = tqdm(total=task.budget * task.replicates, desc=f"{task.agent} on {task.env_id}",
               unit="step", leave=False) if task.progress and watch is None else None
    try:
        for i in range(task.replicates):
            venv = make_vec_env(task.env_id, n_envs=k, seed=task.seed + i,
                                env_kwargs=dict(task.env_kwargs))
            try:
                if paths is None:
                    model = cls(agent.policy, venv, seed=task.seed + i,
                                **{"device": "cpu", "verbose": 0, **hyper})
                else:
                    (model,) = load_models(agent.algorithm, [paths[i]], hyper, who=task.agent,
                                           env=venv)
                    model.set_random_seed(task.seed + i)
                record = _make_recorder(task.budget, i, hook, hook_every, bar, watch)
                model.learn(total_timesteps=task.budget, callback=record,
                            reset_num_timesteps=paths is None)
                if hook is not None and hook_every and record.steps % hook_every:
                    record.call_hook()  # the end of the budget, not on a multiple of k
            finally:
                venv.close()
            models.append(model)
            records.append(record)
    finally:
        if bar is not None:
            bar.close()
    e = max(1, max(len(r.returns) for r in records))
    n = task.replicates
    arrays: dict[str, NDArray[Any]] = {
        "episode_return": np.full((e, n), np.nan), "episode_length": np.full((e, n), np.nan),
        "episode_end_step": np.full((e, n), np.nan), "reward_sum": np.zeros(n)}
    for i, r in enumerate(records):
        arrays["episode_return"][:len(r.returns), i] = r.returns
        arrays["episode_length"][:len(r.lengths), i] = r.lengths
        arrays["episode_end_step"][:len(r.ends), i] = r.ends
        arrays["reward_sum"][i] = r.reward_sum
    policy = agent.policy if isinstance(agent.policy, str) else agent.policy.__name__
    record_entries: dict[str, Any] = {
        "resolved_params": {"algorithm": agent.algorithm, "policy": policy, "n_envs": k,
                            "hyperparams": hyper},
        # SB3 trains on to the end of its last rollout: the env steps each model saw.
        "trained_steps": [int(m.num_timesteps) for m in models],
    }
    return models, arrays, record_entries


def train_sb3(task: TrainingTask) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    """The :class:`~decisiongym.agents.base.TrainingLoop` of ``sb3-ppo``, ``sb3-a2c`` and
    ``sb3-dqn``: :func:`train_sb3_models` without the models."""
    _, arrays, record = train_sb3_models(task)
    return arrays, record
