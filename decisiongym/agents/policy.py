"""A fixed policy as a batched agent: any callable obs -> action, or a trained SB3 model.

:class:`PolicyAgent` evaluates a policy next to our agents through the harness's one rollout
loop::

    from decisiongym.agents import PolicyAgent
    from decisiongym.harness import run

    run("CartPole-v1", PolicyAgent(lambda obs: 0), replicates=4, horizon=1000)
    run("CartPole-v1", PolicyAgent(model), replicates=4, horizon=1000)  # an SB3 model

It does not learn (``update`` is a no-op). A callable takes one observation and returns one
action; with ``batched=True`` it takes the observations of every env copy at once (first axis)
and returns one action per copy. A trained Stable-Baselines3 model (anything with SB3's
``predict(obs, deterministic=...)``: PPO, A2C, DQN, SAC, sb3-contrib's algorithms, SB3
policies) acts through ``model.predict`` on the whole batch, greedily unless
``deterministic=False``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from decisiongym.validation import check_num_envs

__all__ = ["PolicyAgent", "is_sb3_model", "predict_actions", "take_rows"]


def is_sb3_model(policy: Any) -> bool:
    """True for an object with SB3's ``predict(observation, state, episode_start,
    deterministic)`` (an SB3 algorithm or policy)."""
    predict = getattr(policy, "predict", None)
    if not callable(predict):
        return False
    try:
        import inspect

        names = inspect.signature(predict).parameters
    except (TypeError, ValueError):
        return False
    return "deterministic" in names


def predict_actions(model: Any, obs: Any, deterministic: bool) -> NDArray[Any]:
    """One action per row of ``obs`` from an SB3 model's ``predict``."""
    actions, _ = model.predict(obs, deterministic=deterministic)
    return np.asarray(actions)


def take_rows(obs: Any, rows: Any) -> Any:
    """Rows ``rows`` (a slice or index array) of a batch of observations: an array, a dict of
    arrays (Dict spaces) or a tuple of arrays (Tuple spaces)."""
    if isinstance(obs, dict):
        return {key: take_rows(value, rows) for key, value in obs.items()}
    if isinstance(obs, tuple):
        return tuple(take_rows(value, rows) for value in obs)
    return np.asarray(obs)[rows]


def _batch_size(obs: Any) -> int:
    if isinstance(obs, dict):
        return _batch_size(next(iter(obs.values())))
    if isinstance(obs, tuple):
        return _batch_size(obs[0])
    return int(np.shape(obs)[0]) if np.ndim(obs) > 0 else 1


class PolicyAgent:
    """A fixed policy as a batched agent (see the module docstring).

    ``policy``: a callable obs -> action (``batched=True``: observations (n, ...) -> actions
    (n,)) or a trained SB3 model. ``deterministic``: for an SB3 model, act greedily (the
    default, as SB3's ``evaluate_policy``). ``observation_space`` / ``action_space``: the single
    spaces the policy was made for, so that the harness refuses an env with other spaces (an SB3
    model's own spaces by default; not its observation space when it is an image, which SB3
    stores transposed). ``name``: shown in records and progress bars.
    """

    envs_per_learner = 1

    def __init__(self, policy: Any, *, batched: bool = False, deterministic: bool = True,
                 observation_space: spaces.Space[Any] | None = None,
                 action_space: spaces.Space[Any] | None = None, name: str | None = None
                 ) -> None:
        self.model = policy if is_sb3_model(policy) else None
        if self.model is None and not callable(policy):
            raise TypeError("PolicyAgent: policy must be a callable obs -> action or a trained "
                            f"SB3 model, got {type(policy).__name__}")
        self.policy: Any = policy
        self.batched = bool(batched)
        self.deterministic = bool(deterministic)
        if self.model is not None:
            if action_space is None:
                action_space = getattr(self.model, "action_space", None)
            if observation_space is None:
                own = getattr(self.model, "observation_space", None)
                if not _is_image(own):
                    observation_space = own
        self.observation_space = observation_space
        self.action_space = action_space
        kind = type(policy).__name__ if self.model is not None \
            else getattr(policy, "__qualname__", type(policy).__name__)
        self.name = name or f"policy:{kind}"
        self.num_envs = 0

    @property
    def params(self) -> dict[str, Any]:
        """What the record shows (plain values only)."""
        out: dict[str, Any] = {"policy": self.name}
        if self.model is not None:
            out["deterministic"] = self.deterministic
        else:
            out["batched"] = self.batched
        return out

    def reset(self, num_envs: int, seed: int | None = None) -> None:
        """Prepare ``num_envs`` env copies (a fixed policy keeps no state; ``seed`` is
        unused)."""
        self.num_envs = check_num_envs(self.name, num_envs)

    def act(self, obs: Any) -> NDArray[Any]:
        """One action per env copy."""
        if self.num_envs == 0:
            raise RuntimeError(f"{self.name}: call reset(num_envs, seed) before act()")
        n = _batch_size(obs)
        if n != self.num_envs:
            raise ValueError(f"{self.name}: got observations for {n} env copies, the agent was "
                             f"reset for {self.num_envs}")
        if self.model is not None:
            actions = predict_actions(self.model, obs, self.deterministic)
        elif self.batched:
            actions = np.asarray(self.policy(obs))
        else:
            actions = np.asarray([self.policy(take_rows(obs, i)) for i in range(n)])
        if actions.ndim == 0 or actions.shape[0] != n:
            raise ValueError(f"{self.name}: the policy gave actions of shape {actions.shape} "
                             f"for {n} observations")
        return actions

    def update(self, obs: Any, actions: NDArray[Any], rewards: NDArray[Any], next_obs: Any,
               terminated: NDArray[np.bool_], truncated: NDArray[np.bool_]) -> None:
        """A fixed policy does not learn."""


def _is_image(space: Any) -> bool:
    return isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3
