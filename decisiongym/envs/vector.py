"""The NEXT_STEP vector base class that every native vector environment of decisiongym derives from.

Gymnasium's NEXT_STEP autoreset (``AutoresetMode.NEXT_STEP``, its default): when a replicate's
episode ends (terminated or truncated), the *next* ``step`` resets that replicate instead of
stepping it. Its action is ignored; it returns the first observation of the new episode, reward
0, terminated False and truncated False (its ``info`` entries are masked out where the env masks
them). :class:`NextStepVectorEnv` owns that bookkeeping once:

- it declares ``metadata["autoreset_mode"] = AutoresetMode.NEXT_STEP`` (added to every
  subclass's own ``metadata`` when the class is created);
- it validates ``num_envs`` and ``render_mode`` and builds the batched spaces
  (:meth:`~NextStepVectorEnv._init_vector`, :meth:`~NextStepVectorEnv._set_spaces`);
- ``reset(seed=s)`` follows one seeding contract: replicate ``i`` gets a generator seeded with
  ``s + i`` (a sequence gives one seed per replicate), exactly what a single env reset with that
  seed draws from; ``reset()`` without a seed goes on with the current generators;
- ``step`` raises ``ResetNeeded`` before the first reset, validates the actions, keeps the mask of
  replicates whose previous step ended an episode, resets exactly those rows and steps the others,
  with a fast path when no row needs a reset.

A subclass writes only its dynamics, through these hooks (its array code over the replicate axis):

- ``_set_rngs(rngs)``: hand the replicates' generators to the core (after a seeded reset).
- ``_reset_all() -> (obs, info)``: start an episode in every replicate.
- ``_reset_rows(rows)``: start a new episode in the replicates ``rows`` (state only; their
  observations come out of the step that follows).
- ``_step_batch(actions, stepped) -> (obs, rewards, terminated, truncated, info)``: step the
  replicates where ``stepped`` is True; the others were reset by ``_reset_rows`` just before and
  must report reward 0, terminated False and truncated False.
- ``_step_all(actions)``: the fast path, every replicate steps; by default
  ``_step_batch(actions, all True)``.
- ``_check_actions(actions)``: by default a ``Discrete(n)`` batch, validated once here.

The budget. :data:`BUDGET_KWARG` is a metadata key: an env class (single or vector) whose
constructor takes the step budget of an episode sets ``metadata[BUDGET_KWARG]`` to that keyword's
name (``"horizon"`` for the bandits, contextual bandits, supervised and attack envs). The harness
reads ``metadata.get(BUDGET_KWARG)`` to decide whether to pass an experiment's horizon to the
constructor; an env without the key takes no budget. :data:`BUDGET_UNIT` says whether the
budget counts env steps (the default) or episodes (the architecture-search envs), and
:data:`RECORDERS` which recorders measure the env (by default the harness chooses from the
step ``info``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from decisiongym.arrays import BoolArray, IntArray
from decisiongym.validation import (
    check_discrete_actions,
    check_int,
    check_num_envs,
    check_render_mode,
    replicate_rngs,
)

__all__ = ["BUDGET_KWARG", "BUDGET_UNIT", "RECORDERS", "NextStepVectorEnv"]

#: Metadata key naming the constructor keyword that takes an episode's step budget.
BUDGET_KWARG = "decisiongym.budget_kwarg"
#: Metadata key: what the harness's budget counts on this env, "steps" (default) or "episodes".
BUDGET_UNIT = "decisiongym.budget_unit"
#: Metadata key: the recorders the harness runs on this env, by name ("regret", "episodes",
#: "model", "accuracy") or "module:Class" (see decisiongym.harness.recorders).
RECORDERS = "decisiongym.recorders"

ObsT = TypeVar("ObsT")
ActT = TypeVar("ActT")
ArrT = TypeVar("ArrT")


class NextStepVectorEnv(VectorEnv[ObsT, ActT, ArrT], ABC):
    """``num_envs`` replicates stepped as arrays, with Gymnasium's NEXT_STEP autoreset.

    See the module docstring for the contract and the hooks a subclass implements. A subclass's
    ``__init__`` calls :meth:`_init_vector` first and :meth:`_set_spaces` once its spaces are
    known.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012
    #: The name error messages give (the registered id, e.g. ``"BernoulliBandit-v0"``).
    env_name: str = "NextStepVectorEnv"
    #: True for envs whose episodes end only by truncation (the bandits): ``step`` then finds
    #: the ends of episodes in ``truncated`` alone, one array operation fewer per step.
    _only_truncates: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        mode = cls.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode is not AutoresetMode.NEXT_STEP:
            raise TypeError(f"{cls.__name__}: a NextStepVectorEnv autoresets NEXT_STEP, but its "
                            f"metadata declares {mode!r}")
        if "autoreset_mode" not in cls.metadata:
            cls.metadata = {**cls.metadata, "autoreset_mode": AutoresetMode.NEXT_STEP}

    # ----- set-up ---------------------------------------------------------------------------

    def _init_vector(self, num_envs: Any, render_mode: str | None = None) -> None:
        """Validate ``num_envs`` and ``render_mode`` (against ``metadata["render_modes"]``) and
        start with no generators and no replicate to reset."""
        self.num_envs = check_num_envs(self.env_name, num_envs)
        self.render_mode = check_render_mode(self.env_name,
                                             self.metadata.get("render_modes", []), render_mode)
        self._rngs: list[np.random.Generator] = []
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._any_autoreset = False
        self._n_discrete: int | None = None

    def _set_spaces(self, single_observation_space: spaces.Space[Any],
                    single_action_space: spaces.Space[Any]) -> None:
        """The single spaces and their batches of ``num_envs``."""
        self.single_observation_space = single_observation_space
        self.single_action_space = single_action_space
        self.observation_space = batch_space(single_observation_space, self.num_envs)
        self.action_space = batch_space(single_action_space, self.num_envs)
        self._n_discrete = None
        if isinstance(single_action_space, spaces.Discrete) and int(single_action_space.start) == 0:
            self._n_discrete = int(single_action_space.n)

    # ----- the Gymnasium API ----------------------------------------------------------------

    def reset(self, *, seed: int | Sequence[int] | None = None,
              options: dict[str, Any] | None = None) -> tuple[ObsT, dict[str, Any]]:
        """Start an episode in every replicate; replicate ``i`` of ``seed`` is seeded ``seed + i``
        (a list gives each its seed; None goes on with the current generators)."""
        super().reset(seed=None)
        rngs = replicate_rngs(self.env_name, seed, self.num_envs, self._rngs)
        if rngs is not None:
            self._rngs = rngs
            self._set_rngs(rngs)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._any_autoreset = False
        return self._reset_all()

    def step(self, actions: ActT) -> tuple[ObsT, ArrT, ArrT, ArrT, dict[str, Any]]:
        """Reset the replicates whose episode ended at the previous step, step the others."""
        if not self._rngs:
            raise gym.error.ResetNeeded(f"{self.env_name}: call reset() before step()")
        a = self._check_actions(actions)
        if self._any_autoreset:
            reset = self._autoreset
            self._reset_rows(np.flatnonzero(reset))
            out = self._step_batch(a, ~reset)
        else:
            out = self._step_all(a)
        terminated: Any = out[2]
        truncated: Any = out[3]
        ended = truncated if self._only_truncates else np.logical_or(terminated, truncated)
        self._any_autoreset = bool(np.count_nonzero(ended))
        # A copy, never the array handed out (read only when _any_autoreset).
        self._autoreset = ended.copy() if self._any_autoreset and ended is truncated else ended
        return out

    def _episode_budget(self, horizon: Any, max_episode_steps: Any) -> int:
        """Steps per episode: ``horizon``, cut to the registry's ``max_episode_steps`` when
        ``gym.make_vec`` passes one (ValueError naming the env unless positive integers)."""
        steps = check_int(self.env_name, "horizon", horizon)
        if max_episode_steps is not None:
            steps = min(steps, check_int(self.env_name, "horizon", max_episode_steps))
        return steps

    # ----- hooks ----------------------------------------------------------------------------

    def _check_actions(self, actions: Any) -> Any:
        """A batch of ``Discrete(n)`` actions as int64 (the fast test first), or ValueError naming
        the env and the value. Envs with other action spaces override it."""
        n = self._n_discrete
        if n is None:
            return actions
        if (type(actions) is np.ndarray and actions.dtype == np.int64
                and actions.shape == (self.num_envs,) and actions.view(np.uint64).max() < n):
            return actions  # valid: int64, right shape, in [0, n) (negatives wrap to huge)
        return check_discrete_actions(self.env_name, actions, self.num_envs, n)

    def _set_rngs(self, rngs: list[np.random.Generator]) -> None:
        """Hand the replicates' new generators to the core (they are also ``self._rngs``)."""

    @abstractmethod
    def _reset_all(self) -> tuple[ObsT, dict[str, Any]]:
        """Start an episode in every replicate; return the observations and info."""

    @abstractmethod
    def _reset_rows(self, rows: IntArray) -> None:
        """Start a new episode in the replicates ``rows`` (the autoreset of a NEXT_STEP step)."""

    @abstractmethod
    def _step_batch(self, actions: Any, stepped: BoolArray
                    ) -> tuple[ObsT, ArrT, ArrT, ArrT, dict[str, Any]]:
        """Step the replicates where ``stepped``; the others were just reset: their action is
        ignored and they report reward 0, terminated False, truncated False."""

    def _step_all(self, actions: Any) -> tuple[ObsT, ArrT, ArrT, ArrT, dict[str, Any]]:
        """Every replicate steps (no reset pending); override for a faster path."""
        return self._step_batch(actions, np.ones(self.num_envs, dtype=bool))
