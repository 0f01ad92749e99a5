"""Attacking a classifier as an environment (Dobriban, *Notes for Stat 991: Topics in Deep
Learning*, 2019, section 6.1), and a black-box attacker agent.

Capability probed: finding an adversarial example, white-box (the victim given through
``env.unwrapped.victim`` and :meth:`AdversarialAttack.loss_gradient`) or black-box (the reward
alone, as an RL agent sees it). The NES attacker (:class:`NESAttacker`, registered as
``"nes-attacker"``; Ilyas et al. 2018) is the second kind: it estimates the gradient of the
reward from the rewards of antithetic query pairs and takes signed steps, one query per
environment step; it lives in :mod:`decisiongym.supervised.attack_agents` (no torch import).
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from gymnasium.vector.utils import concatenate, create_empty_array, iterate
from numpy.typing import NDArray
from torch import nn

from decisiongym.envs.vector import BUDGET_KWARG, NextStepVectorEnv
from decisiongym.supervised.attacks import NORMS, project
from decisiongym.supervised.data import IMAGE_DATASETS, load_dataset
from decisiongym.supervised.robust import METHODS
from decisiongym.validation import check_bool, check_choice, check_float, check_int, param_error

REWARDS = ("loss", "success")

_DOC = """The inner maximisation of the robust problem of Dobriban (2019), section 6.1, as an
    episode.

    ## Description
    ``reset`` draws one clean test input x (with its label y) that the victim classifies
    correctly. Each step the attacker proposes a perturbation delta; the environment projects
    it onto the eps-ball of ``norm`` and clips x + delta to [0, 1], queries the victim at the
    resulting x_adv and pays the victim's loss there. The victim is a trained, cached
    classifier (:func:`decisiongym.supervised.robust.load_victim`) or any ``nn.Module`` passed
    as ``victim``. White-box attackers use ``env.unwrapped.victim`` and
    ``env.unwrapped.loss_gradient(x_adv)``; black-box attackers only the reward.

    ## Action Space
    ``Box(-eps, eps, (C, H, W), float32)``: the perturbation delta itself (not an increment).
    Under ``norm="l2"`` it is further projected onto the L2 ball of radius eps.

    ## Observation Space
    | key | space | meaning |
    |-----|-------|---------|
    | ``x`` | ``Box(0, 1, (C, H, W))`` | the clean input |
    | ``x_adv`` | ``Box(0, 1, (C, H, W))`` | the last queried input (x after reset) |
    | ``label`` | ``Discrete(n_classes)`` | the true label y |

    ## Rewards
    ``reward="loss"`` (default): the cross-entropy L(f(x_adv), y), plus ``success_bonus`` if the
    victim misclassifies x_adv. ``reward="success"``: 1 if misclassified, else 0.
    ``info``: ``loss``, ``success``, ``predicted``, ``queries``, and for the harness
    ``expected_reward`` = success and ``optimal_expected_reward`` = 1, so its regret is the
    number of queries that did not fool the victim.

    ## Starting State
    A random correctly classified input of ``split``, drawn from the env's generator.

    ## Episode End
    Terminates on the first misclassification when ``terminate_on_success``; truncated after
    ``horizon`` attack steps (queries).

    ## Arguments
    - ``dataset``: "digits" (default) or "mnist"; ``model``: "mlp" (default) or "cnn";
      ``victim_method``: "standard" (default), "fgsm" or "pgd" (how the cached victim was
      trained); ``victim``: an ``nn.Module`` instead (then the three above only pick the data).
    - ``eps`` (default 0.2), ``norm``: "linf" (default) or "l2".
    - ``horizon``: attack steps per episode (default 20).
    - ``reward``: "loss" or "success"; ``success_bonus`` (default 0.0).
    - ``terminate_on_success`` (default False); ``split``: "test" (default), "val", "train".
    - ``render_mode``: None or "ansi".

    ## Version History
    - v0: initial version.

    >>> import gymnasium as gym, numpy as np, decisiongym
    >>> env = gym.make("decisiongym/AdversarialAttack-v0", eps=0.2, horizon=3)
    >>> obs, _ = env.reset(seed=0)
    >>> obs["x"].shape, env.action_space.high.max()
    ((1, 8, 8), np.float32(0.2))
    >>> obs, r, term, trunc, info = env.step(np.zeros((1, 8, 8), dtype=np.float32))
    >>> info["success"], info["queries"]
    (False, 1)
    """


_VICTIM_MODELS = ("mlp", "cnn", "rnn", "gru", "lstm")  # decisiongym.supervised.models


def _check_attack_args(name: str, *, dataset: Any = "digits", model: Any = "mlp",
                       victim_method: Any = "standard", victim: Any = None, eps: Any = 0.2,
                       norm: Any = "linf", horizon: Any = 20, reward: Any = "loss",
                       success_bonus: Any = 0.0, terminate_on_success: Any = False,
                       split: Any = "test") -> None:
    """Every argument of :class:`AdversarialAttack` (but render_mode), checked before any work
    (no victim is loaded or trained for a bad one): ValueError naming the env and the value."""
    if dataset not in IMAGE_DATASETS or dataset == "mnist1d":
        raise ValueError(f"{name}: dataset must be 'digits' or 'mnist', got {dataset!r}")
    check_choice(name, "model", model, _VICTIM_MODELS)
    check_choice(name, "victim_method", victim_method, METHODS)
    if victim is not None and not isinstance(victim, nn.Module):
        raise param_error(name, "victim", victim, "a torch nn.Module or None")
    check_float(name, "eps", eps, low=0.0, high=1.0, low_open=True, expected="in (0, 1]")
    check_choice(name, "norm", norm, NORMS, expected="'linf' or 'l2'")
    check_int(name, "horizon", horizon, expected="an integer >= 1")
    check_choice(name, "reward", reward, REWARDS)
    check_float(name, "success_bonus", success_bonus)
    check_bool(name, "terminate_on_success", terminate_on_success)
    check_choice(name, "split", split, ("train", "val", "test"))


class AdversarialAttack(gym.Env[dict[str, Any], NDArray[np.float32]]):
    __doc__ = _DOC
    metadata = {"render_modes": ["ansi"], "render_fps": 4,  # noqa: RUF012
                BUDGET_KWARG: "horizon"}
    env_name = "AdversarialAttack-v0"

    def __init__(self, dataset: str = "digits", model: str = "mlp",
                 victim_method: str = "standard", victim: nn.Module | None = None,
                 eps: float = 0.2, norm: str = "linf", horizon: int = 20,
                 reward: str = "loss", success_bonus: float = 0.0,
                 terminate_on_success: bool = False, split: str = "test",
                 render_mode: str | None = None) -> None:
        _check_attack_args(self.env_name, dataset=dataset, model=model,
                           victim_method=victim_method, victim=victim, eps=eps, norm=norm,
                           horizon=horizon, reward=reward, success_bonus=success_bonus,
                           terminate_on_success=terminate_on_success, split=split)
        name = self.env_name
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"{name}: render_mode must be None or one of "
                             f"{self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        if victim is None:
            from decisiongym.supervised.robust import load_victim

            victim = load_victim(dataset=dataset, model=model, method=victim_method)
        self.victim = victim.eval()
        ds = load_dataset(dataset, seed=0)
        X, y = ds.split(split)
        with torch.no_grad():
            pred = self.victim(torch.as_tensor(X)).argmax(1).numpy()
        keep = pred == y  # attack only inputs the victim gets right
        self._X, self._y = X[keep], y[keep]
        if len(self._y) == 0:
            raise ValueError(f"{name}: the victim classifies no input of {split!r} correctly")
        self.eps, self.norm, self.horizon = float(eps), norm, int(horizon)
        self.reward_kind, self.success_bonus = reward, float(success_bonus)
        self.terminate_on_success = bool(terminate_on_success)
        shape = tuple(X.shape[1:])
        image = spaces.Box(0.0, 1.0, shape, dtype=np.float32)
        self.observation_space = spaces.Dict({
            "x": image, "x_adv": spaces.Box(0.0, 1.0, shape, dtype=np.float32),
            "label": spaces.Discrete(ds.n_classes)})
        self.action_space = spaces.Box(-self.eps, self.eps, shape, dtype=np.float32)
        self._x: NDArray[np.float32] | None = None
        self._x_adv = np.zeros(shape, dtype=np.float32)
        self._label = 0
        self._t = 0
        self._last = ""

    # ----- the white-box interface -------------------------------------------------------------

    def loss_gradient(self, x_adv: NDArray[np.float32]) -> tuple[float, NDArray[np.float32]]:
        """The victim's loss L(f(x_adv), y) at the current episode's label and its gradient with
        respect to the input (for white-box attackers; not counted as a query)."""
        xt = torch.as_tensor(np.asarray(x_adv, dtype=np.float32)[None]).requires_grad_(True)
        loss = F.cross_entropy(self.victim(xt), torch.tensor([self._label]))
        (g,) = torch.autograd.grad(loss, xt)
        return float(loss), g[0].numpy()

    def perturbed(self, delta: NDArray[np.float32]) -> NDArray[np.float32]:
        """x + Proj(delta), clipped to [0, 1]: the input the environment queries."""
        assert self._x is not None
        d = project(torch.as_tensor(np.asarray(delta, dtype=np.float32))[None], self.eps,
                    self.norm)[0].numpy()
        return np.clip(self._x + d, 0.0, 1.0).astype(np.float32)

    # ----- the Gymnasium API -------------------------------------------------------------------

    def _obs(self) -> dict[str, Any]:
        assert self._x is not None
        return {"x": self._x.copy(), "x_adv": self._x_adv.copy(),
                "label": np.int64(self._label)}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        i = int(self.np_random.integers(len(self._y)))
        self._x, self._label = self._X[i].copy(), int(self._y[i])
        self._x_adv = self._x.copy()
        self._t = 0
        return self._obs(), {"index": i}

    def step(self, action: Any) -> tuple[dict[str, Any], SupportsFloat, bool, bool,
                                         dict[str, Any]]:
        if self._x is None:
            raise gym.error.ResetNeeded(f"{self.env_name}: call reset() before step()")
        if self._t >= self.horizon:
            raise gym.error.ResetNeeded(f"{self.env_name}: the episode has ended; call reset()")
        a = np.asarray(action, dtype=np.float32)
        if a.shape != self.action_space.shape or not np.all(np.isfinite(a)):
            raise ValueError(f"{self.env_name}: action must be a finite array of shape "
                             f"{self.action_space.shape}, got shape {a.shape}")
        if np.any(np.abs(a) > self.eps + 1e-6):
            raise ValueError(f"{self.env_name}: action must lie in [-eps, eps] = "
                             f"[{-self.eps}, {self.eps}], got max |a| = {np.abs(a).max():.4g}")
        self._x_adv = self.perturbed(a)
        with torch.no_grad():
            logits = self.victim(torch.as_tensor(self._x_adv[None]))
            loss = float(F.cross_entropy(logits, torch.tensor([self._label])))
            pred = int(logits.argmax(1))
        success = pred != self._label
        if self.reward_kind == "loss":
            reward = loss + self.success_bonus * success
        else:
            reward = float(success)
        self._t += 1
        terminated = success and self.terminate_on_success
        # Gymnasium's TimeLimit rule: the query at the horizon is truncated, also when it
        # succeeds and terminates (so gym.make's TimeLimit and the vector env agree).
        truncated = self._t >= self.horizon
        info = {"loss": loss, "success": success, "predicted": pred, "queries": self._t,
                "expected_reward": float(success), "optimal_expected_reward": 1.0}
        self._last = f"query {self._t}: loss {loss:.3f}, predicted {pred} (label {self._label})"
        return self._obs(), reward, terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode is None:
            gym.logger.warn(f"{self.env_name}: render() called without a render_mode")
            return None
        return f"{self.env_name} {self._last}"


class AdversarialAttackVector(NextStepVectorEnv[dict[str, Any], NDArray[np.float32],
                                                NDArray[Any]]):
    """Native vector twin of :class:`AdversarialAttack`: ``num_envs`` copies sharing one victim,
    NEXT_STEP autoreset (:class:`~decisiongym.envs.vector.NextStepVectorEnv`). Each step queries
    the victim once per copy, in order (the batched path is the attack loops of
    :mod:`decisiongym.supervised.attacks`); observations and infos are batched as Gymnasium's
    ``SyncVectorEnv`` batches them, and replicate i reset with seed s is the single env reset
    with seed s + i."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4,  # noqa: RUF012
                BUDGET_KWARG: "horizon"}
    env_name = "AdversarialAttack-v0"

    def __init__(self, num_envs: int = 1, horizon: int = 20,
                 max_episode_steps: int | None = None, render_mode: str | None = None,
                 **kwargs: Any) -> None:
        """``kwargs``: those of :class:`AdversarialAttack`."""
        self._init_vector(num_envs, render_mode)
        horizon = self._episode_budget(horizon, max_episode_steps)
        try:
            _check_attack_args(self.env_name, horizon=horizon, **kwargs)
        except TypeError as e:  # an unknown keyword
            raise TypeError(f"{self.env_name}: {e}") from None
        if kwargs.get("victim") is None:
            from decisiongym.supervised.robust import load_victim

            kwargs["victim"] = load_victim(dataset=kwargs.get("dataset", "digits"),
                                           model=kwargs.get("model", "mlp"),
                                           method=kwargs.get("victim_method", "standard"))
        self.envs = [AdversarialAttack(horizon=horizon, render_mode=render_mode, **kwargs)
                     for _ in range(self.num_envs)]
        self._set_spaces(self.envs[0].observation_space, self.envs[0].action_space)
        self._pending: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}

    def _check_actions(self, actions: Any) -> Any:
        """A batch of ``num_envs`` finite perturbations of the input's shape, or ValueError
        naming the env (each is then checked against the eps-box by its copy)."""
        shape = self.action_space.shape
        a = np.asarray(actions)
        if a.shape != shape or not (np.issubdtype(a.dtype, np.floating)
                                    or np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"{self.env_name}: actions must be a numeric array of shape "
                             f"{shape} (one perturbation per env), got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{self.env_name}: actions must be finite")
        return actions

    def _batch(self, obs: list[dict[str, Any]]) -> Any:
        space = self.single_observation_space
        out: Any = create_empty_array(space, n=self.num_envs, fn=np.zeros)
        return concatenate(space, obs, out)

    def _set_rngs(self, rngs: list[np.random.Generator]) -> None:
        for env, rng in zip(self.envs, rngs, strict=True):
            env.np_random = rng

    def _reset_all(self) -> tuple[dict[str, Any], dict[str, Any]]:
        obs: list[dict[str, Any]] = []
        infos: dict[str, Any] = {}
        for i, env in enumerate(self.envs):
            o, info = env.reset()
            obs.append(o)
            infos = self._add_info(infos, info, i)
        return self._batch(obs), infos

    def _reset_rows(self, rows: NDArray[np.int64]) -> None:
        self._pending = {int(i): self.envs[int(i)].reset() for i in rows}

    def _step_batch(self, actions: Any, stepped: NDArray[np.bool_]
                    ) -> tuple[dict[str, Any], NDArray[np.float64], NDArray[np.bool_],
                               NDArray[np.bool_], dict[str, Any]]:
        n = self.num_envs
        obs: list[dict[str, Any]] = []
        infos: dict[str, Any] = {}
        rewards = np.zeros(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=np.bool_)
        truncated = np.zeros(n, dtype=np.bool_)
        for i, (action, env) in enumerate(zip(iterate(self.action_space, actions), self.envs,
                                              strict=True)):
            if stepped[i]:
                o, reward, terminated[i], truncated[i], info = env.step(action)
                rewards[i] = reward
            else:  # reset by _reset_rows: reward 0, not done, its reset info
                o, info = self._pending.pop(i)
            obs.append(o)
            infos = self._add_info(infos, info, i)
        return self._batch(obs), rewards, terminated, truncated, infos

    def render(self) -> tuple[Any, ...] | None:
        return tuple(env.render() for env in self.envs)

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()


__all__ = ["REWARDS", "AdversarialAttack", "AdversarialAttackVector"]
