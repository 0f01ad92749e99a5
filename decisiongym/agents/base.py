"""The batched agent protocol, its shared base class, and the agent registry.

One agent object runs ``num_envs`` independent replicates at once; its state lives in arrays
whose first axis is the replicate. Acting is apart from learning:

    agent.reset(num_envs, seed)
    actions = agent.act(obs)                    # one action per replicate
    agent.update(obs, actions, rewards, next_obs, terminated, truncated)

Autoreset (decided once, here). Native vector envs use Gymnasium's NEXT_STEP autoreset: the step
after a replicate's episode ends is a reset step whose action is ignored and whose reward means
nothing. :meth:`BaseAgent.update` remembers which replicates ended an episode and leaves them out
of the next update, so no agent learns from a reset step as if it were a transition. Subclasses
implement :meth:`BaseAgent._learn` over the replicates that made a real transition, and
:meth:`BaseAgent._end_episode` for those whose episode just ended.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from decisiongym.arrays import BoolArray, FloatArray, IntArray
from decisiongym.validation import (
    check_bool,
    check_float,
    check_int,
    check_num_envs,
    check_optional_int,
    param_error,
)

# Spawn key that separates an agent's random stream from an environment seeded with the same
# integer (Gymnasium seeds envs with SeedSequence(seed) directly).
_AGENT_SPAWN_KEY = (0xA6E7,)


@runtime_checkable
class Agent(Protocol):
    """What every decisiongym agent offers."""

    name: str
    num_envs: int

    def reset(self, num_envs: int, seed: int | None = None) -> None: ...

    def act(self, obs: Any) -> NDArray[Any]: ...

    def update(self, obs: Any, actions: NDArray[Any], rewards: NDArray[Any], next_obs: Any,
               terminated: NDArray[np.bool_], truncated: NDArray[np.bool_]) -> None: ...


class BaseAgent(ABC):
    """Shared plumbing: the generator, the replicate count, and NEXT_STEP masking."""

    name: ClassVar[str] = "agent"
    #: The constructor parameters, set by :func:`make` (and by agents that resolve their own).
    _params: dict[str, Any]

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any]
                 ) -> None:
        self.observation_space = observation_space
        self.action_space = action_space
        self.num_envs = 0
        self.rng = np.random.default_rng()
        self._episode_ended = np.zeros(0, dtype=bool)
        self._any_episode_ended = False
        self._all_rows = np.zeros(0, dtype=np.int64)

    # ----- validation helpers for subclasses -------------------------------------------------

    def _param_error(self, param: str, value: Any, expected: str) -> ValueError:
        return param_error(self.name, param, value, expected)

    def _check_float(self, param: str, value: Any, *, low: float | None = None,
                     high: float | None = None, low_open: bool = False,
                     high_open: bool = False) -> float:
        """A finite number in the given interval, or ValueError naming the agent and value."""
        return check_float(self.name, param, value, low=low, high=high, low_open=low_open,
                           high_open=high_open)

    def _check_int(self, param: str, value: Any, *, low: int = 1) -> int:
        """An integer >= ``low``, or ValueError naming the agent and value."""
        return check_int(self.name, param, value, low=low, expected=f"an integer >= {low}")

    def _check_bool(self, param: str, value: Any) -> bool:
        """True or False (NumPy's bools too), or ValueError naming the agent and value."""
        return check_bool(self.name, param, value)

    # ----- the protocol ------------------------------------------------------------------------

    def reset(self, num_envs: int, seed: int | None = None) -> None:
        """Forget everything and prepare ``num_envs`` replicates.

        The agent's generator is seeded from ``SeedSequence(seed)`` with a spawn key of its own,
        so an agent and an environment given the same integer draw independent streams.
        """
        self.num_envs = check_num_envs(self.name, num_envs)
        check_optional_int(self.name, "seed", seed, low=0)
        self.rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=_AGENT_SPAWN_KEY))
        self._episode_ended = np.zeros(self.num_envs, dtype=bool)
        self._any_episode_ended = False
        self._all_rows = np.arange(self.num_envs)
        self._reset_state(self.num_envs)

    def act(self, obs: Any) -> NDArray[Any]:
        """One action per replicate."""
        if self.num_envs == 0:
            raise RuntimeError(f"{self.name}: call reset(num_envs, seed) before act()")
        n = (obs.shape[0] if obs.ndim else 1) if type(obs) is np.ndarray \
            else (np.shape(obs)[0] if np.ndim(obs) > 0 else 1)
        if n != self.num_envs:
            raise ValueError(f"{self.name}: got observations for {n} replicates, the agent was "
                             f"reset for {self.num_envs}")
        return self._act(obs)

    def update(self, obs: Any, actions: NDArray[Any], rewards: NDArray[Any], next_obs: Any,
               terminated: NDArray[np.bool_], truncated: NDArray[np.bool_]) -> None:
        """Learn from one batched transition, skipping replicates whose step was a reset step."""
        if self.num_envs == 0:
            raise RuntimeError(f"{self.name}: call reset(num_envs, seed) before update()")
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool)
        rewards = np.asarray(rewards, dtype=np.float64)
        actions = np.asarray(actions)
        if self._any_episode_ended:
            rows = np.flatnonzero(~self._episode_ended)
        else:
            rows = self._all_rows  # the usual case: every replicate made a real transition
        if rows.size:
            self._learn(rows, obs, actions, rewards, next_obs, terminated, truncated)
        ended = terminated | truncated
        if self._any_episode_ended:
            ended &= ~self._episode_ended  # a reset step never ends an episode
        self._any_episode_ended = bool(ended.any())
        if self._any_episode_ended:
            self._end_episode(np.flatnonzero(ended))
        self._episode_ended = ended

    # ----- what subclasses implement -----------------------------------------------------------

    @abstractmethod
    def _reset_state(self, num_envs: int) -> None:
        """Allocate the per-replicate state arrays."""

    @abstractmethod
    def _act(self, obs: Any) -> NDArray[Any]:
        """Actions for every replicate."""

    @abstractmethod
    def _learn(self, rows: IntArray, obs: Any, actions: NDArray[Any], rewards: FloatArray,
               next_obs: Any, terminated: BoolArray, truncated: BoolArray) -> None:
        """Learn from the transitions of replicates ``rows`` (full-length arrays, index them).

        ``rows`` is the very object ``self._all_rows`` when every replicate made a transition,
        so ``rows is self._all_rows`` selects a fast path with no gathers."""

    def _end_episode(self, rows: IntArray) -> None:  # noqa: B027 - optional hook
        """Called after learning for the replicates whose episode has just ended."""

    @property
    def params(self) -> dict[str, Any]:
        """The constructor parameters (for records and reports)."""
        return dict(getattr(self, "_params", {}))


@lru_cache(maxsize=64)
def _row_starts(shape: tuple[int, ...]) -> IntArray:
    """Flat index of the first entry of each row of a C-contiguous (n, K) array."""
    starts = np.arange(0, shape[0] * shape[1], shape[1])
    starts.flags.writeable = False
    return starts


def argmax_random_ties(values: FloatArray, rng: np.random.Generator) -> IntArray:
    """Row-wise argmax with ties broken uniformly at random from ``rng``.

    Draws random numbers only for the rows that have a tie, so the common case costs one
    ``max`` and one comparison.
    """
    actions = values.argmax(axis=1)  # the first maximum of each row
    best = values.reshape(-1)[_row_starts(values.shape) + actions]
    is_best = values == best[:, None]
    if np.count_nonzero(is_best) > values.shape[0]:  # some row has a tie
        tied = np.flatnonzero(np.count_nonzero(is_best, axis=1) > 1)
        u = rng.random((tied.size, values.shape[1]))
        u[~is_best[tied]] = -1.0
        actions[tied] = u.argmax(axis=1)
    return actions.astype(np.int64, copy=False)


# --------------------------------------------------------------------------------------------
# Registry.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingTask:
    """What an agent with a training loop of its own is asked to do (see :class:`TrainingLoop`).

    ``replicates`` independent learners (learner i seeded ``seed + i``), each given ``budget``
    units of the env's budget (env steps, or episodes where the env declares so), on
    ``env_id`` made with ``env_kwargs``; ``params`` are the agent's parameters as validated by
    its class; ``progress`` asks for a progress bar on stderr.
    """

    env_id: str
    env_kwargs: dict[str, Any]
    agent: str
    params: dict[str, Any]
    replicates: int
    budget: int
    seed: int
    progress: bool = False


@runtime_checkable
class TrainingLoop(Protocol):
    """An agent that trains with a loop of its own (SB3's algorithms, the GAN game, SMDP
    learners), registered with the agent (``register(name, summary, training_loop=...)``).

    The harness calls it instead of stepping the agent through its rollout loop. It returns
    metric arrays and record entries: arrays of per-episode records ``episode_return``,
    ``episode_length`` and ``episode_end_step`` (E, replicates), NaN past a learner's last
    episode, are turned into the same return curves as the rollout loop's (the harness's
    episode recorder); any other array is stored as it is.
    """

    def __call__(self, task: TrainingTask) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]: ...


def episode_records(per_learner: list[list[float]]) -> FloatArray:
    """Per-episode records of each learner as the (E, learners) array a :class:`TrainingLoop`
    hands back: NaN past a learner's last episode, at least one row.

    >>> episode_records([[1.0, 2.0], [3.0]]).tolist()
    [[1.0, 3.0], [2.0, nan]]
    """
    out = np.full((max([1, *(len(x) for x in per_learner)]), len(per_learner)), np.nan)
    for i, x in enumerate(per_learner):
        out[:len(x), i] = x
    return out


class OwnLoopAgent(BaseAgent):
    """Base class of an agent that only its registered :class:`TrainingLoop` trains: the class
    validates the parameters (the harness builds it for the env's spaces before handing the
    loop its task); resetting or stepping it raises ``NotImplementedError``."""

    def _own_loop(self) -> NotImplementedError:
        entry = _REGISTRY.get(self.name)
        where = f" ({entry.training_loop})" if entry is not None and entry.training_loop else ""
        return NotImplementedError(f"{self.name} trains with a loop of its own{where}: run it "
                                   "through decisiongym.harness.run or an experiment")

    def _reset_state(self, num_envs: int) -> None:
        raise self._own_loop()

    def _act(self, obs: Any) -> NDArray[Any]:
        raise self._own_loop()

    def _learn(self, rows: IntArray, obs: Any, actions: NDArray[Any], rewards: FloatArray,
               next_obs: Any, terminated: BoolArray, truncated: BoolArray) -> None:
        raise self._own_loop()


# ----- optional capabilities (typed, instead of probing attributes) -------------------------


@runtime_checkable
class GreedyEvaluation(Protocol):
    """An agent that can act without exploring: ``deterministic = True`` for evaluation."""

    deterministic: bool


@runtime_checkable
class Checkpointing(Protocol):
    """An agent whose learned state can be saved and loaded (``decisiongym train``)."""

    def save(self, path: Any) -> Any: ...

    def load(self, path: Any) -> None: ...


@runtime_checkable
class ValueTable(Protocol):
    """A prediction agent with a state-value table ``values`` (replicates, states) that
    estimates the value of its fixed ``policy`` (states, actions)."""

    @property
    def values(self) -> FloatArray: ...

    policy: FloatArray


@runtime_checkable
class GreedyPolicy(Protocol):
    """A control agent whose current greedy policy is a table (replicates, states)."""

    def greedy_policy(self) -> IntArray: ...


@runtime_checkable
class SeveralEnvsPerLearner(Protocol):
    """An agent each of whose learners steps ``envs_per_learner`` env copies at once."""

    @property
    def envs_per_learner(self) -> int: ...


@runtime_checkable
class HeldOutAccuracy(Protocol):
    """A supervised learner that measures every learner's accuracy on held-out examples:
    ``accuracy(X, y)`` is (learners,) (the held-out accuracy recorder)."""

    def accuracy(self, X: NDArray[Any], y: NDArray[Any]) -> FloatArray: ...


def envs_per_learner(agent: object) -> int:
    """How many env copies one learner of ``agent`` steps at once (1 unless it says more)."""
    return int(agent.envs_per_learner) if isinstance(agent, SeveralEnvsPerLearner) else 1


@dataclass(frozen=True)
class AgentEntry:
    name: str
    factory: Callable[..., BaseAgent]
    summary: str
    #: "module:function" of the agent's own training loop (a :class:`TrainingLoop`), or None
    #: when the harness steps the agent through its rollout loop.
    training_loop: str | None = None


_REGISTRY: dict[str, AgentEntry] = {}


def register(name: str, summary: str, *, training_loop: str | None = None
             ) -> Callable[[type[BaseAgent]], type[BaseAgent]]:
    """Class decorator: register an agent class under ``name`` with a one-line summary.

    ``training_loop``: "module:function" of a :class:`TrainingLoop` when the agent trains with
    a loop of its own; the class then validates the parameters (and can act once trained)."""

    def decorate(cls: type[BaseAgent]) -> type[BaseAgent]:
        if name in _REGISTRY:
            raise ValueError(f"agent {name!r} is already registered")
        cls.name = name
        _REGISTRY[name] = AgentEntry(name, cls, summary, training_loop)
        return cls

    return decorate


def training_loop(name: str) -> TrainingLoop | None:
    """The training loop registered with agent ``name``, or None (stepped by the harness)."""
    import importlib

    target = _entry(name).training_loop
    if target is None:
        return None
    module, _, function = target.partition(":")
    loop: TrainingLoop = getattr(importlib.import_module(module), function)
    return loop


def list_agents() -> list[tuple[str, str]]:
    """(name, one-line description) of every registered agent, sorted by name."""
    return [(e.name, e.summary) for e in sorted(_REGISTRY.values(), key=lambda e: e.name)]


def agent_parameters(name: str) -> dict[str, Any]:
    """The parameters of agent ``name`` with their defaults."""
    entry = _entry(name)
    sig = inspect.signature(entry.factory)
    return {
        p.name: p.default
        for p in sig.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
        and p.name not in ("observation_space", "action_space")
    }


def _entry(name: str) -> AgentEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown agent {name!r}; registered agents: "
                         f"{', '.join(sorted(_REGISTRY))}") from None


def make(name: str, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
         **params: Any) -> BaseAgent:
    """Build the agent registered as ``name`` for single-replicate spaces.

    Pass the *single* spaces (``env.single_observation_space`` of a vector env). Unknown or
    invalid parameters raise ``ValueError`` naming the agent and the value.
    """
    entry = _entry(name)
    allowed = agent_parameters(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"{name}: unknown parameter(s) {', '.join(unknown)}; valid parameters: "
                         f"{', '.join(f'{k}={v!r}' for k, v in allowed.items()) or 'none'}")
    agent = entry.factory(observation_space=observation_space, action_space=action_space,
                          **params)
    agent._params = {**allowed, **params}
    return agent
