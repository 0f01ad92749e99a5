"""Adversarial training as a two-player zero-sum game (Dobriban, *Notes for Stat 991: Topics in
Deep Learning*, 2019, section 6.1; Madry et al. 2018), a PettingZoo ``ParallelEnv``.

The notes' saddle point min_W max_{delta in S} L(W, x + delta, y) has two players: the
``attacker_0`` chooses delta (the inner max), the ``defender_0`` chooses the weights W (the outer
min). Each round is two simultaneous-move steps, the phase in the observation:

1. attack: a minibatch (x, y) is shown with the current weights; the attacker's action is a
   perturbation of the whole batch in the L-infinity eps-ball (the defender's action is
   ignored). Rewards: the attacker gets L(W, x + delta, y), the defender its negative.
2. defend: the perturbed batch is shown; the defender's action is an update of the flat weight
   vector, W <- W + clip(action, -max_update, max_update) (the attacker's action is ignored).
   Rewards: the attacker gets L(W_new, x + delta, y), the defender its negative.

Zero-sum at every step. One round is one step of Madry training: with the PGD attacker
(:func:`pgd_attacker`) and the gradient defender (:func:`sgd_defender`) and equal seeds, the
game's weights equal those of :func:`decisiongym.supervised.robust.adversarial_training` bit for
bit (tested), because both draw batches with ``batch_indices`` from ``default_rng(seed)``, form
the perturbed batch with ``apply_perturbation`` and update with ``sgd_update`` /
``apply_update``.

>>> from pettingzoo.test import parallel_api_test
>>> env = AdversarialTrainingGame(rounds=2, batch_size=4, hidden=(8,))
>>> obs, infos = env.reset(seed=0)
>>> sorted(obs["attacker_0"]), int(obs["attacker_0"]["phase"])
(['phase', 'weights', 'x', 'x_adv', 'y'], 0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from numpy.typing import NDArray
from pettingzoo import ParallelEnv
from torch import nn

from decisiongym.supervised.data import load_dataset
from decisiongym.supervised.robust import (
    AttackConfig,
    VictimConfig,
    apply_perturbation,
    apply_update,
    batch_indices,
    build_victim,
    flat_parameters,
    set_flat_parameters,
    sgd_update,
)

ATTACKER, DEFENDER = "attacker_0", "defender_0"


class AdversarialTrainingGame(ParallelEnv[str, dict[str, Any], NDArray[np.float32]]):
    """The attacker-defender game; see the module docstring.

    Arguments: ``dataset`` ("digits"), ``model`` ("mlp"), ``hidden`` ((32,)), ``model_seed``
    (0: the weights' initialisation, fixed at every reset), ``eps`` (0.1), ``batch_size`` (32),
    ``rounds`` (10; the episode is 2 rounds steps, then truncated), ``max_update`` (1.0, the
    bound of each coordinate of the defender's update), ``render_mode`` (None or "ansi").
    ``reset(seed=s)`` draws the batches from ``np.random.default_rng(s)``.
    """

    metadata = {"name": "adversarial_training_v0", "render_modes": ["ansi"],  # noqa: RUF012
                "is_parallelizable": True}

    def __init__(self, *, dataset: str = "digits", model: str = "mlp",
                 hidden: Sequence[int] = (32,), model_seed: int = 0, eps: float = 0.1,
                 batch_size: int = 32, rounds: int = 10, max_update: float = 1.0,
                 render_mode: str | None = None) -> None:
        if render_mode not in (None, "ansi"):
            raise ValueError(f"AdversarialTrainingGame: render_mode must be None or 'ansi', "
                             f"got {render_mode!r}")
        if not 0 < eps <= 1 or rounds < 1 or batch_size < 1 or not max_update > 0:
            raise ValueError(f"AdversarialTrainingGame: need 0 < eps <= 1, rounds >= 1, "
                             f"batch_size >= 1, max_update > 0; got {eps}, {rounds}, "
                             f"{batch_size}, {max_update}")
        self.render_mode = render_mode
        ds = load_dataset(dataset, seed=0)
        self.X, self.y = torch.as_tensor(ds.X_train), torch.as_tensor(ds.y_train)
        self.cfg = VictimConfig(dataset=dataset, model=model, hidden=tuple(hidden),
                                seed=model_seed)
        self.model = build_victim(self.cfg, ds.input_shape, ds.n_classes)
        self._init_weights = flat_parameters(self.model)
        self.eps, self.rounds, self.max_update = float(eps), int(rounds), float(max_update)
        self.batch_size = min(int(batch_size), len(self.y))
        self.possible_agents = [ATTACKER, DEFENDER]
        self.agents: list[str] = []
        shape = (self.batch_size, *ds.input_shape)
        n_params = self.n_params = int(self._init_weights.size)
        obs_space = spaces.Dict({
            "phase": spaces.Discrete(2),
            "x": spaces.Box(0.0, 1.0, shape, dtype=np.float32),
            "y": spaces.MultiDiscrete([ds.n_classes] * self.batch_size),
            "x_adv": spaces.Box(0.0, 1.0, shape, dtype=np.float32),
            "weights": spaces.Box(-np.inf, np.inf, (n_params,), dtype=np.float32)})
        self._obs_spaces = {a: obs_space for a in self.possible_agents}
        self._act_spaces = {
            ATTACKER: spaces.Box(-self.eps, self.eps, shape, dtype=np.float32),
            DEFENDER: spaces.Box(-self.max_update, self.max_update, (n_params,),
                                 dtype=np.float32)}
        self._rng = np.random.default_rng()
        self._phase = 0
        self._round = 0
        self._xb = torch.zeros(shape)
        self._yb = torch.zeros(self.batch_size, dtype=torch.int64)
        self._x_adv = torch.zeros(shape)
        self._last = ""

    # PettingZoo asks for the same space object on every call: both are built once.
    def observation_space(self, agent: str) -> spaces.Space[Any]:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space[Any]:
        return self._act_spaces[agent]

    def _draw_batch(self) -> None:
        idx = torch.as_tensor(batch_indices(self._rng, len(self.y), self.batch_size))
        self._xb, self._yb = self.X[idx], self.y[idx]
        self._x_adv = self._xb.clone()

    def _observations(self) -> dict[str, dict[str, Any]]:
        w = flat_parameters(self.model)
        return {a: {"phase": self._phase, "x": self._xb.numpy().copy(),
                    "y": self._yb.numpy().copy(), "x_adv": self._x_adv.numpy().copy(),
                    "weights": w.copy()} for a in self.agents}

    def _loss(self) -> float:
        with torch.no_grad():
            return float(F.cross_entropy(self.model(self._x_adv), self._yb))

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        set_flat_parameters(self.model, self._init_weights)
        self.agents = list(self.possible_agents)
        self._phase, self._round = 0, 0
        self._draw_batch()
        return self._observations(), {a: {"round": 0} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[
            dict[str, dict[str, Any]], dict[str, float], dict[str, bool], dict[str, bool],
            dict[str, dict[str, Any]]]:
        if not self.agents:
            raise RuntimeError("AdversarialTrainingGame: the episode has ended; call reset()")
        if self._phase == 0:  # the attacker moves: the inner max
            delta = torch.as_tensor(np.asarray(actions[ATTACKER], dtype=np.float32))
            if tuple(delta.shape) != tuple(self._xb.shape):
                raise ValueError(f"AdversarialTrainingGame: the attacker's action must have "
                                 f"shape {tuple(self._xb.shape)}, got {tuple(delta.shape)}")
            self._x_adv = apply_perturbation(self._xb, delta, self.eps)
            loss = self._loss()
            self._phase = 1
            done = False
        else:  # the defender moves: the outer min
            update = np.asarray(actions[DEFENDER], dtype=np.float32)
            if update.shape != (self._init_weights.size,):
                raise ValueError(f"AdversarialTrainingGame: the defender's action must have "
                                 f"shape ({self._init_weights.size},), got {update.shape}")
            apply_update(self.model, np.clip(update, -self.max_update, self.max_update))
            loss = self._loss()
            self._round += 1
            self._phase = 0
            done = self._round >= self.rounds
        infos = {a: {"round": self._round, "loss": loss} for a in self.agents}
        rewards = {ATTACKER: loss, DEFENDER: -loss}
        terminations = {a: False for a in self.agents}
        truncations = {a: done for a in self.agents}
        self._last = f"round {self._round}, phase {self._phase}, loss {loss:.4f}"
        if not done and self._phase == 0:
            self._draw_batch()
        obs = self._observations()
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def render(self) -> str | None:
        if self.render_mode is None:
            return None
        return f"AdversarialTrainingGame {self._last}"

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------------------------
# The two players of Madry training.
# --------------------------------------------------------------------------------------------


class PGDAttacker:
    """The attacker of Madry training: PGD from a random start against the weights in the
    observation (its random numbers from ``torch.Generator().manual_seed(seed)``)."""

    def __init__(self, game: AdversarialTrainingGame, attack: AttackConfig, seed: int) -> None:
        self.model: nn.Module = build_victim(game.cfg, tuple(game.X.shape[1:]), 10)
        self.attack = attack
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, obs: dict[str, Any]) -> NDArray[np.float32]:
        set_flat_parameters(self.model, obs["weights"])
        x, y = torch.as_tensor(obs["x"]), torch.as_tensor(obs["y"])
        return (self.attack.perturb(self.model, x, y, self.generator) - x).numpy()


class SGDDefender:
    """The defender of Madry training: the update -lr grad_W L(W, x_adv, y) (Danskin)."""

    def __init__(self, game: AdversarialTrainingGame, lr: float) -> None:
        self.model: nn.Module = build_victim(game.cfg, tuple(game.X.shape[1:]), 10)
        self.lr = lr

    def __call__(self, obs: dict[str, Any]) -> NDArray[np.float32]:
        set_flat_parameters(self.model, obs["weights"])
        return sgd_update(self.model, torch.as_tensor(obs["x_adv"]), torch.as_tensor(obs["y"]),
                          self.lr)


def play_madry(game: AdversarialTrainingGame, attack: AttackConfig, *, lr: float,
               batch_seed: int, attack_seed: int) -> dict[str, Any]:
    """Play one episode with :class:`PGDAttacker` and :class:`SGDDefender`; returns the final
    flat weights and the per-step rewards."""
    attacker, defender = PGDAttacker(game, attack, attack_seed), SGDDefender(game, lr)
    obs, _ = game.reset(seed=batch_seed)
    rewards: list[dict[str, float]] = []
    while game.agents:
        o = obs[ATTACKER]
        if o["phase"] == 0:
            actions = {ATTACKER: attacker(o),
                       DEFENDER: np.zeros(game.n_params, np.float32)}
        else:
            actions = {ATTACKER: np.zeros(tuple(game._xb.shape), np.float32),
                       DEFENDER: defender(o)}
        obs, r, _, _, _ = game.step(actions)
        rewards.append(r)
    return {"weights": flat_parameters(game.model), "rewards": rewards}


__all__ = ["ATTACKER", "DEFENDER", "AdversarialTrainingGame", "PGDAttacker", "SGDDefender",
           "play_madry"]
