"""The one rollout loop: any registered Gymnasium env, any agent, metrics from recorders.

A run is a function of (env, agent, replicates, budget, seed) that returns metric arrays
(STYLE.md, item 14); tables and plots consume them. :func:`run` is the entry point::

    from decisiongym.harness import run
    result = run("CliffWalking-v1", "q-learning", replicates=10, horizon=5_000)
    result.metric, result["final_return"].mean()     # ("return", ...)

The env
    A native vector env where the id has a vector entry point, else Gymnasium's
    ``SyncVectorEnv`` (``vectorization="async"`` for ``AsyncVectorEnv``). One seeding contract
    for both: replicate i of seed s is the single env reset with seed s + i. Every vector env
    runs with Gymnasium's NEXT_STEP autoreset; the loop marks the reset steps, so no recorder
    counts them (and :class:`~decisiongym.agents.base.BaseAgent` does not learn from them).

The budget
    ``horizon`` is the harness's budget per replicate: env steps, or episodes where the env
    declares ``metadata["decisiongym.budget_unit"] = "episodes"``. It enters the env's
    constructor only where the env declares that it takes one
    (``metadata["decisiongym.budget_kwarg"]``, the kwarg's name; the bandits' ``horizon``).

The agent
    A registered agent name (``decisiongym.agents.make``) or an agent object already built
    (e.g. :class:`~decisiongym.agents.policy.PolicyAgent` around a trained model). An agent
    that does not fit the env's spaces is refused before anything runs
    (:class:`AgentMismatch`). An agent registered with a training loop of its own (SB3's
    algorithms, the GAN game, SMDP learners) is handed a
    :class:`~decisiongym.agents.base.TrainingTask` instead of being stepped here; its
    parameters are still validated by its class first. Its env id need not be a Gymnasium id
    (the GAN game is a two-player game that only its loop knows): the loop then checks the id
    and the env kwargs itself, with an error that names them.

The metrics
    Recorders (:mod:`decisiongym.harness.recorders`), chosen by what the env declares, or
    given (``recorders=[...]``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym import agents
from decisiongym.agents.base import TrainingTask, envs_per_learner, training_loop
from decisiongym.envs.vector import BUDGET_KWARG, BUDGET_UNIT
from decisiongym.harness.experiment import Phase
from decisiongym.harness.recorders import (
    EpisodeRecorder,
    Recorder,
    RolloutSetup,
    StepBatch,
    default_recorders,
    episode_arrays,
)
from decisiongym.validation import check_choice, check_int

#: Env metadata key: the name of the constructor kwarg that takes the step budget per episode.
BUDGET_KWARG_KEY = BUDGET_KWARG
#: Env metadata key: "steps" (default) or "episodes": what the harness's budget counts.
BUDGET_UNIT_KEY = BUDGET_UNIT
VECTORIZATION = ("auto", "sync", "async")
#: Seed offset of each later phase of a run (phase p resets the env with seed + p * offset).
PHASE_SEED_OFFSET = 10_000


class AgentMismatch(ValueError):
    """The agent cannot act on the env's spaces (or its parameters are wrong for them)."""


@dataclass(frozen=True)
class RunResult:
    """Metric arrays (one column per replicate) and record entries of one run."""

    arrays: dict[str, NDArray[Any]]
    record: dict[str, Any]

    def __getitem__(self, name: str) -> NDArray[Any]:
        try:
            return self.arrays[name]
        except KeyError:
            raise KeyError(f"this run recorded no {name!r}; it has {sorted(self.arrays)}"
                           ) from None

    @property
    def metric(self) -> str:
        """The run's headline metric: "regret", "return" or "accuracy" (or "" if none)."""
        return headline_metric(self.arrays)


def headline_metric(arrays: Mapping[str, Any]) -> str:
    """"regret" when there is a ``final_regret``, else "return" (``final_return``), else
    "accuracy" (``final_accuracy``), else ""."""
    for metric in ("regret", "return", "accuracy"):
        if f"final_{metric}" in arrays:
            return metric
    return ""


# --------------------------------------------------------------------------------------------
# What an env declares.
# --------------------------------------------------------------------------------------------


def env_metadata(env_id: str) -> dict[str, Any]:
    """The metadata of the env class registered as ``env_id`` (without building it)."""
    spec = gym.spec(env_id)
    entry = spec.entry_point
    creator = gym.envs.registration.load_env_creator(entry) if isinstance(entry, str) else entry
    return dict(getattr(creator, "metadata", None) or {})


def budget_kwarg(env_id: str) -> str | None:
    """The constructor kwarg that takes the step budget, where the env declares one."""
    name = env_metadata(env_id).get(BUDGET_KWARG_KEY)
    return None if name is None else str(name)


def budget_unit(env_id: str) -> str:
    """What the budget counts on this env: "steps" (default) or "episodes"."""
    unit = str(env_metadata(env_id).get(BUDGET_UNIT_KEY, "steps"))
    if unit not in ("steps", "episodes"):
        raise ValueError(f"{env_id}: metadata[{BUDGET_UNIT_KEY!r}] must be 'steps' or "
                         f"'episodes', got {unit!r}")
    return unit


def env_kwargs_with_budget(env_id: str, env_kwargs: Mapping[str, Any] | None,
                           horizon: int | None) -> dict[str, Any]:
    """``env_kwargs`` plus the budget under the env's declared kwarg (none if undeclared)."""
    kwargs = dict(env_kwargs or {})
    name = budget_kwarg(env_id)
    if name is not None and horizon is not None:
        if name in kwargs:
            raise ValueError(f"{env_id}: do not set {name} in the env kwargs; the harness's "
                             "horizon sets it")
        kwargs[name] = horizon
    return kwargs


def make_vector_env(env_id: str, num_envs: int, env_kwargs: Mapping[str, Any] | None = None,
                    *, horizon: int | None = None, vectorization: str = "auto"
                    ) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``env_id``: native where the id has a vector entry point (and
    ``vectorization == "auto"``), else ``SyncVectorEnv`` / ``AsyncVectorEnv``; NEXT_STEP
    autoreset and replicate i seeded ``seed + i`` either way. ``horizon`` is passed as the
    env's declared budget kwarg, if it declares one."""
    check_choice("make_vector_env", "vectorization", vectorization, VECTORIZATION)
    kwargs = env_kwargs_with_budget(env_id, env_kwargs, horizon)
    spec = gym.spec(env_id)
    if vectorization == "auto":
        mode = "vector_entry_point" if spec.vector_entry_point is not None else "sync"
    else:
        mode = vectorization
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)


def _describe_space(space: Any) -> str:
    return repr(space)


def make_agent(agent: str, env_id: str, observation_space: Any, action_space: Any,
               params: Mapping[str, Any] | None = None) -> Any:
    """Build agent ``agent`` for the env's single spaces. :class:`AgentMismatch` naming both
    when it does not fit the spaces; ValueError naming both when a parameter is wrong."""
    try:
        return agents.make(agent, observation_space=observation_space,
                           action_space=action_space, **dict(params or {}))
    except (ValueError, TypeError) as exc:
        if "space" in str(exc).lower():
            raise AgentMismatch(f"agent {agent!r} does not fit env {env_id!r} (observation "
                                f"space {_describe_space(observation_space)}, action space "
                                f"{_describe_space(action_space)}): {exc}") from exc
        raise ValueError(f"agent {agent!r} on env {env_id!r}: {exc}") from exc


def check_agent_fits(agent: Any, env_id: str, observation_space: Any, action_space: Any
                     ) -> None:
    """Refuse an agent object built for other spaces than the env's."""
    for what, mine, theirs in (("observation", getattr(agent, "observation_space", None),
                                observation_space),
                               ("action", getattr(agent, "action_space", None), action_space)):
        if mine is not None and mine != theirs:
            raise AgentMismatch(f"agent {getattr(agent, 'name', type(agent).__name__)!r} was "
                                f"built for {what} space {mine!r}, but env {env_id!r} has "
                                f"{theirs!r}")


# --------------------------------------------------------------------------------------------
# The loop.
# --------------------------------------------------------------------------------------------


def rollout(env: Any, agent: Any, *, learners: int, budget: int, seed: int,
            budget_unit: str = "steps", recorders: Sequence[Recorder] | None = None,
            phases: Sequence[tuple[int, Callable[[], Any]]] = (), progress: bool = False,
            description: str = "") -> tuple[list[Recorder], Any]:
    """Step ``agent`` (already reset for ``env.num_envs`` copies) on the vector ``env``.

    Runs ``budget`` env steps per learner (``budget // envs_per_learner`` vector steps), or
    until every learner has finished ``budget`` episodes. ``phases``: (vector step, make the
    next env) pairs; at that step the env is replaced and reset with a seed of its own.
    Returns the started recorders (call ``finish``) and the env last used (closed)."""
    k = envs_per_learner(agent)
    copies = int(env.num_envs)
    if copies != learners * k:
        raise ValueError(f"rollout: the env has {copies} copies; {learners} learners of "
                         f"{k} copies each need {learners * k}")
    learner_of = np.arange(copies) // k
    episodes_mode = budget_unit == "episodes"
    vector_steps = max(1, budget // k)
    changes = sorted(phases, key=lambda p: p[0])
    show = progress
    bar = tqdm(total=None if episodes_mode else vector_steps, disable=not show,
               desc=description, unit="step", leave=False, file=sys.stderr)
    chosen: list[Recorder] | None = list(recorders) if recorders is not None else None
    setup: RolloutSetup | None = None
    clock = time.perf_counter
    all_live = np.ones(copies, dtype=bool)
    all_live.flags.writeable = False
    steppers: tuple[Recorder, ...] = ()
    try:
        obs, reset_info = env.reset(seed=seed)
        fresh = np.zeros(copies, dtype=bool)  # the next step is a reset step
        any_fresh = False
        episodes = np.zeros(learners, dtype=np.int64)
        t = 0
        phase = 0
        while (episodes < budget).any() if episodes_mode else t < vector_steps:
            if phase < len(changes) and t == changes[phase][0]:
                env.close()
                env = changes[phase][1]()
                phase += 1
                obs, _ = env.reset(seed=seed + phase * PHASE_SEED_OFFSET)
                fresh[:] = False
                any_fresh = False
                for recorder in steppers:
                    recorder.new_phase(env)
            start = clock()
            actions = agent.act(obs)
            acted = clock() - start
            next_obs, rewards, terminated, truncated, info = env.step(actions)
            start = clock()
            agent.update(obs, actions, rewards, next_obs, terminated, truncated)
            seconds = acted + clock() - start
            t += 1
            if type(terminated) is not np.ndarray or terminated.dtype != bool:
                terminated = np.asarray(terminated, dtype=bool)
            if type(truncated) is not np.ndarray or truncated.dtype != bool:
                truncated = np.asarray(truncated, dtype=bool)
            ended = terminated | truncated
            # Reset steps (NEXT_STEP) and learners past an episode budget do not count.
            if any_fresh:
                live = ~fresh
                ended &= live
            else:
                live = all_live
            if episodes_mode:
                live = live & (episodes[learner_of] < budget)
            if type(rewards) is not np.ndarray or rewards.dtype != np.float64:
                rewards = np.asarray(rewards, np.float64)
            batch = StepBatch(t, t * k, np.asarray(actions), rewards,
                              terminated, truncated, info, live,
                              live is all_live or np.count_nonzero(live) == live.size, seconds)
            if setup is None:
                setup = RolloutSetup(env=env, agent=agent, learners=learners,
                                     envs_per_learner=k, budget=budget,
                                     budget_unit=budget_unit, seed=seed,
                                     reset_info=reset_info, learner_of=learner_of)
                if chosen is None:
                    chosen = default_recorders(env, info, envs_per_learner=k)
                steppers = tuple(chosen)
                for recorder in steppers:
                    recorder.start(setup)
            for recorder in steppers:
                recorder.step(batch)
            any_fresh = bool(np.count_nonzero(ended))  # (much cheaper than .any() on small arrays)
            if episodes_mode and any_fresh:
                np.add.at(episodes, learner_of[ended & live], 1)
            fresh = ended
            obs = next_obs
            if show:
                bar.update(1)
    finally:
        bar.close()
        env.close()
    return chosen or [], env


def merge_recordings(recorders: Sequence[Recorder]) -> tuple[dict[str, NDArray[Any]],
                                                               dict[str, Any]]:
    """The recorders' arrays and record entries in one pair; a name two recorders both give
    must hold the same values (``grid``), else ValueError."""
    arrays: dict[str, NDArray[Any]] = {}
    record: dict[str, Any] = {}
    for recorder in recorders:
        out, extra = recorder.finish()
        for name, value in out.items():
            if name in arrays and not np.array_equal(arrays[name], value, equal_nan=True):
                if name == "mean_reward":
                    continue  # the same quantity; the first recorder's stands
                raise ValueError(f"two recorders give different {name!r} arrays "
                                 f"({type(recorder).__name__} is the second)")
            arrays.setdefault(name, np.asarray(value))
        record.update(extra)
    record["recorders"] = [type(r).__name__ for r in recorders]
    return arrays, record


def run(env_id: str, agent: Any, *, replicates: int, horizon: int, seed: int = 0,
        env_kwargs: Mapping[str, Any] | None = None,
        agent_params: Mapping[str, Any] | None = None, progress: bool = False,
        recorders: Sequence[Recorder] | None = None, vectorization: str = "auto",
        phases: Sequence[Phase] = ()) -> RunResult:
    """Run ``replicates`` independent copies of ``agent`` on ``env_id`` with a budget of
    ``horizon`` per replicate; return the recorded metrics.

    ``agent``: a registered name (built with ``agent_params``) or an agent object (it is reset
    here for ``replicates`` copies). The env is reset with ``seed`` (replicate i gets
    seed + i) and the agent with ``seed`` too (its generator has a spawn key of its own).
    ``recorders``: instead of the env's own choice. ``phases``: later phases of the task
    (:class:`Phase`). ``progress``: a progress bar on stderr.
    """
    replicates = check_int("run", "replicates", replicates)
    horizon = check_int("run", "horizon", horizon)
    check_int("run", "seed", seed, low=0)
    kwargs = dict(env_kwargs or {})
    params = dict(agent_params or {})
    loop = own_training_loop(agent)
    if loop is not None:
        # The agent's own loop runs the task: the env id need not be a Gymnasium id (the GAN
        # game is not); the loop checks env_id and env_kwargs itself.
        if phases:
            raise ValueError(f"run: agent {agent!r} trains with a loop of its own, which "
                             "does not take phases")
        check_training_agent(agent, env_id, kwargs, params, horizon)
        if env_id in gym.registry:  # the budget enters the env where it declares the kwarg
            kwargs = env_kwargs_with_budget(env_id, kwargs, horizon)
        return _run_training_loop(loop, TrainingTask(
            env_id=env_id, env_kwargs=kwargs, agent=agent, params=params,
            replicates=replicates, budget=horizon, seed=int(seed), progress=progress))
    if env_id not in gym.registry:
        raise ValueError(f"run: unknown environment {env_id!r}; register it (or import the "
                         "module that does) first; `decisiongym list` shows ours")
    unit = budget_unit(env_id)
    env = make_vector_env(env_id, replicates, kwargs, horizon=horizon,
                          vectorization=vectorization)
    try:
        if isinstance(agent, str):
            learner = make_agent(agent, env_id, env.single_observation_space,
                                 env.single_action_space, params)
        else:
            if params:
                raise ValueError("run: agent_params are for an agent given by name; this "
                                 "agent object is already built")
            learner = agent
            check_agent_fits(learner, env_id, env.single_observation_space,
                             env.single_action_space)
        k = envs_per_learner(learner)
        if k != 1:
            env.close()
            env = make_vector_env(env_id, replicates * k, kwargs, horizon=horizon,
                                  vectorization=vectorization)
    except BaseException:
        env.close()
        raise
    learner.reset(replicates * k, seed=int(seed))
    vector_phases = []
    for phase in phases:
        if not 0 < phase.after < horizon or unit != "steps":
            raise ValueError(f"{env_id}: a phase starts after a number of env steps in "
                             f"(0, {horizon}), got {phase.after!r}")

        def make(phase: Phase = phase) -> Any:
            return make_vector_env(env_id, replicates * k, {**kwargs, **dict(phase.kwargs)},
                                   horizon=horizon, vectorization=vectorization)

        vector_phases.append((phase.after // k, make))
    name = agent if isinstance(agent, str) else getattr(agent, "name", type(agent).__name__)
    used, _ = rollout(env, learner, learners=replicates, budget=horizon, seed=int(seed),
                      budget_unit=unit, recorders=recorders, phases=vector_phases,
                      progress=progress, description=f"{name} on {env_id}")
    arrays, record = merge_recordings(used)
    record["resolved_params"] = dict(getattr(learner, "params", {}) or {})
    record["budget_unit"] = unit
    return RunResult(arrays, record)


def own_training_loop(agent: Any) -> Any:
    """The training loop registered with agent name ``agent``, or None (an agent object, an
    unknown name, or an agent that the rollout loop steps)."""
    if not isinstance(agent, str) or agent not in dict(agents.list_agents()):
        return None
    return training_loop(agent)


def check_training_agent(agent: str, env_id: str, env_kwargs: Mapping[str, Any],
                         params: Mapping[str, Any], horizon: int | None = None) -> None:
    """Validate the parameters of an agent with a training loop of its own by building its
    class: for the spaces of ``env_id`` where it is a Gymnasium id (made once with
    ``env_kwargs``; :class:`AgentMismatch` when the agent does not fit them), without spaces
    (None) where it is not, e.g. a game that only the agent's loop knows."""
    if env_id not in gym.registry:
        make_agent(agent, env_id, None, None, params)
        return
    env = gym.make(env_id, **env_kwargs_with_budget(env_id, env_kwargs, horizon))
    try:
        make_agent(agent, env_id, env.observation_space, env.action_space, params)
    finally:
        env.close()


def _run_training_loop(loop: Any, task: TrainingTask) -> RunResult:
    """Hand the task to the agent's own loop; turn episode records into the episode
    recorder's arrays."""
    arrays, record = loop(task)
    arrays = dict(arrays)
    if "episode_return" in arrays and "episode_end_step" in arrays \
            and "final_return" not in arrays:
        ret = np.asarray(arrays.pop("episode_return"), dtype=np.float64)
        end = np.asarray(arrays.pop("episode_end_step"), dtype=np.float64)
        length = np.asarray(arrays.pop("episode_length", np.full_like(ret, np.nan)),
                            dtype=np.float64)
        reward_sum = np.asarray(arrays.pop("reward_sum", np.nansum(ret, axis=0)),
                                dtype=np.float64)
        arrays.update(episode_arrays(ret, length, end, task.budget, reward_sum))
        record = {**record, "recorders": [EpisodeRecorder.__name__], "window": 20}
    return RunResult({k: np.asarray(v) for k, v in arrays.items()},
                     {"resolved_params": dict(task.params), **record,
                      "training_loop": True})


__all__ = ["BUDGET_KWARG_KEY", "BUDGET_UNIT_KEY", "AgentMismatch", "Phase", "RunResult",
           "budget_kwarg", "budget_unit", "check_agent_fits", "check_training_agent",
           "env_kwargs_with_budget", "env_metadata", "headline_metric", "make_agent",
           "make_vector_env", "merge_recordings", "own_training_loop", "rollout", "run"]
