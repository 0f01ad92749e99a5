"""GAN training as a two-player game (seed 4.3-4.5), a PettingZoo ``ParallelEnv``.

Agents: ``generator`` and ``discriminator`` (``critic`` for the Wasserstein variants). The
environment owns the data and the noise, each player owns its network and optimiser. Training
goes in rounds; each generator iteration is ``n_critic`` critic rounds followed by one generator
round (``round_kind`` 0 or 1 in the observation), and each round is two simultaneous-move steps
(``phase`` in the observation):

1. generate (phase 0): the environment has drawn a real batch and then the noise z from
   ``np.random.default_rng(seed)``; the generator's action is its batch of samples G(z), shape
   (m, d) (the discriminator's action is ignored). Rewards 0.
2. score (phase 1): the observation shows the real batch and the generator's samples; the
   discriminator's action is a dict of its scores ``real`` (m,) and ``fake`` (m,) (logits for
   the GAN, critic values for WGAN) and ``fake_grad`` (m, d), the gradient of its score with
   respect to each sample (the generator's action is ignored). Rewards: the two sides of the
   seed's minimax value V on the batch (:func:`.players.value`):
   the discriminator gets V, the generator -V (zero-sum).

**The generator's feedback.** After a generator round's score step, the next observation (the
next round's phase 0, or the final observation) has ``feedback`` = 1 and carries the
discriminator's scores of the generator's samples (``fake_scores``) and their input gradients
(``fake_grad``); otherwise these are zeros and ``feedback`` = 0. The generator learns only from
them: its loss L(s_1..s_m) has dL/dx_j = L'(s_j) grad_x s(x_j), which it back-propagates
through G(z) (:func:`.players.generator_step`). The discriminator learns from
the real and fake batches it sees in critic rounds (and does not update in generator rounds).

With :class:`GeneratorPlayer` and :class:`CriticPlayer` and equal seeds, :func:`play_gan`
ends with exactly the weights of :func:`.players.train_gan` (tested): both
draw the batches in the same order and update with the same functions.

>>> game = GANGame(GANConfig.for_kind("wgan", batch_size=4, hidden=(8,)), rounds=1)
>>> game.possible_agents
['generator', 'critic']
>>> obs, _ = game.reset(seed=0)
>>> int(obs["critic"]["phase"]), int(obs["critic"]["round_kind"]), obs["generator"]["z"].shape
(0, 0, (4, 2))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from numpy.typing import NDArray
from pettingzoo import ParallelEnv

from decisiongym.supervised.gans.data import DATASETS, data_dim, sample_data, sample_noise
from decisiongym.supervised.gans.players import (
    GANConfig,
    build_critic,
    build_generator,
    critic_feedback,
    critic_step,
    generator_step,
    lr_schedule,
    make_optimizer,
    record_critic_step,
    scores,
    value,
)

GENERATOR = "generator"


def critic_name(cfg: GANConfig) -> str:
    """``discriminator`` for the GAN, ``critic`` for WGAN and WGAN-GP."""
    return "discriminator" if cfg.kind == "gan" else "critic"


class GANGame(ParallelEnv[str, dict[str, Any], Any]):
    """The generator-discriminator game; see the module docstring.

    Arguments: ``cfg`` (a :class:`GANConfig`; the batch size m, dimensions and n_critic are
    read from it; ``cfg.data_dim`` must be :func:`.data.data_dim` of the data,
    2 or 64 for the digits), ``data`` (one of :data:`.data.DATASETS`),
    ``rounds`` (the number of generator iterations; the episode is ``2 rounds (n_critic + 1)``
    steps, then truncated), ``render_mode`` (None or "ansi").
    """

    metadata = {"name": "gan_game_v0", "render_modes": ["ansi"],  # noqa: RUF012
                "is_parallelizable": True}

    def __init__(self, cfg: GANConfig | None = None, *, data: str = "8gaussians",
                 rounds: int = 10, render_mode: str | None = None) -> None:
        if render_mode not in (None, "ansi"):
            raise ValueError(f"GANGame: render_mode must be None or 'ansi', got {render_mode!r}")
        if data not in DATASETS or rounds < 1:
            raise ValueError(f"GANGame: need data in {DATASETS} and rounds >= 1, got {data!r}, "
                             f"{rounds}")
        self.cfg = cfg if cfg is not None else GANConfig.for_kind("gan")
        self.data, self.rounds, self.render_mode = data, int(rounds), render_mode
        self.critic = critic_name(self.cfg)
        self.possible_agents = [GENERATOR, self.critic]
        self.agents: list[str] = []
        m, d, k = self.cfg.batch_size, self.cfg.data_dim, self.cfg.latent_dim
        if d != data_dim(data):
            raise ValueError(f"GANGame: data {data!r} is {data_dim(data)}-D, got "
                             f"cfg.data_dim={d}")
        inf = np.inf
        obs_space = spaces.Dict({
            "phase": spaces.Discrete(2), "round_kind": spaces.Discrete(2),
            "feedback": spaces.Discrete(2),
            "real": spaces.Box(-inf, inf, (m, d), dtype=np.float32),
            "z": spaces.Box(-inf, inf, (m, k), dtype=np.float32),
            "fake": spaces.Box(-inf, inf, (m, d), dtype=np.float32),
            "fake_scores": spaces.Box(-inf, inf, (m,), dtype=np.float32),
            "fake_grad": spaces.Box(-inf, inf, (m, d), dtype=np.float32)})
        self._obs_spaces = {a: obs_space for a in self.possible_agents}
        self._act_spaces: dict[str, spaces.Space[Any]] = {
            GENERATOR: spaces.Box(-inf, inf, (m, d), dtype=np.float32),
            self.critic: spaces.Dict({
                "real": spaces.Box(-inf, inf, (m,), dtype=np.float32),
                "fake": spaces.Box(-inf, inf, (m,), dtype=np.float32),
                "fake_grad": spaces.Box(-inf, inf, (m, d), dtype=np.float32)})}
        self._rng = np.random.default_rng()
        self._phase = self._round = self._iteration = self._feedback = 0
        self._real = np.zeros((m, d), np.float32)
        self._z = np.zeros((m, k), np.float32)
        self._fake = np.zeros((m, d), np.float32)
        self._fb_scores = np.zeros(m, np.float32)
        self._fb_grad = np.zeros((m, d), np.float32)
        self._last = ""

    # PettingZoo asks for the same space object on every call: both are built once.
    def observation_space(self, agent: str) -> spaces.Space[Any]:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space[Any]:
        return self._act_spaces[agent]

    @property
    def round_kind(self) -> int:
        """0 in a critic round, 1 in the generator round that ends each iteration."""
        return int(self._round == self.cfg.n_critic)

    def _draw(self) -> None:
        self._real = sample_data(self.data, self.cfg.batch_size, self._rng)
        self._z = sample_noise(self.cfg.batch_size, self.cfg.latent_dim, self._rng)
        self._fake = np.zeros_like(self._real)

    def _observations(self) -> dict[str, dict[str, Any]]:
        return {a: {"phase": self._phase, "round_kind": self.round_kind,
                    "feedback": self._feedback, "real": self._real.copy(), "z": self._z.copy(),
                    "fake": self._fake.copy(), "fake_scores": self._fb_scores.copy(),
                    "fake_grad": self._fb_grad.copy()} for a in self.agents}

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self._phase = self._round = self._iteration = self._feedback = 0
        self._fb_scores = np.zeros_like(self._fb_scores)
        self._fb_grad = np.zeros_like(self._fb_grad)
        self._draw()
        return self._observations(), {a: {"iteration": 0} for a in self.agents}

    def _array(self, x: Any, shape: tuple[int, ...], what: str) -> NDArray[np.float32]:
        a = np.asarray(x, dtype=np.float32)
        if a.shape != shape:
            raise ValueError(f"GANGame: {what} must have shape {shape}, got {a.shape}")
        return a

    def step(self, actions: dict[str, Any]) -> tuple[
            dict[str, dict[str, Any]], dict[str, float], dict[str, bool], dict[str, bool],
            dict[str, dict[str, Any]]]:
        if not self.agents:
            raise RuntimeError("GANGame: the episode has ended; call reset()")
        m, d = self.cfg.batch_size, self.cfg.data_dim
        done = False
        info: dict[str, Any] = {}
        if self._phase == 0:  # the generator moves
            self._fake = self._array(actions[GENERATOR], (m, d), "the generator's action")
            self._feedback = 0
            self._fb_scores = np.zeros_like(self._fb_scores)
            self._fb_grad = np.zeros_like(self._fb_grad)
            v = 0.0
            rewards = {GENERATOR: 0.0, self.critic: 0.0}
            self._phase = 1
        else:  # the discriminator / critic scores
            act = actions[self.critic]
            s_real = self._array(act["real"], (m,), "the critic's 'real' scores")
            s_fake = self._array(act["fake"], (m,), "the critic's 'fake' scores")
            grad = self._array(act["fake_grad"], (m, d), "the critic's 'fake_grad'")
            v = float(value(self.cfg, torch.as_tensor(s_real), torch.as_tensor(s_fake)))
            rewards = {GENERATOR: -v, self.critic: v}
            info = {"value": v, "round_kind": self.round_kind}
            if self.round_kind == 1:
                self._feedback, self._fb_scores, self._fb_grad = 1, s_fake.copy(), grad.copy()
                self._round, self._iteration = 0, self._iteration + 1
            else:
                self._round += 1
            self._phase = 0
            done = self._iteration >= self.rounds
            if not done:
                self._draw()
        self._last = f"iteration {self._iteration}, round {self._round}, value {v:.4f}"
        infos = {a: {"iteration": self._iteration, **info} for a in self.agents}
        terminations = {a: False for a in self.agents}
        truncations = {a: done for a in self.agents}
        obs = self._observations()
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def render(self) -> str | None:
        if self.render_mode is None:
            return None
        return f"GANGame {self._last}"

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------------------------
# The two players of the plain training loop.
# --------------------------------------------------------------------------------------------


class GeneratorPlayer:
    """G and its optimiser. On an observation with ``feedback`` = 1 it first learns (from its
    previous noise and the critic's scores and gradients); in phase 0 it returns G(z)."""

    def __init__(self, cfg: GANConfig, model_seed: int = 0, rounds: int = 1) -> None:
        self.cfg = cfg
        self.net = build_generator(cfg, model_seed)
        self.opt = make_optimizer(cfg, self.net.parameters())
        self.schedule = lr_schedule(cfg, self.opt, rounds)  # over the game's rounds
        self._z = torch.zeros(cfg.batch_size, cfg.latent_dim)

    def learn(self, obs: dict[str, Any]) -> None:
        if int(obs["feedback"]) == 1:
            generator_step(self.cfg, self.net, self.opt, self._z,
                           torch.as_tensor(obs["fake_scores"]), torch.as_tensor(obs["fake_grad"]))
            if self.schedule is not None:
                self.schedule.step()

    def __call__(self, obs: dict[str, Any]) -> NDArray[np.float32]:
        self.learn(obs)
        if int(obs["phase"]) != 0:
            return np.zeros((self.cfg.batch_size, self.cfg.data_dim), np.float32)
        self._z = torch.as_tensor(obs["z"])
        with torch.no_grad():
            out: NDArray[np.float32] = self.net(self._z).numpy().copy()
        return out


class CriticPlayer:
    """D (or the critic) and its optimiser. In phase 1 it reports its scores and input
    gradients and, in critic rounds, then takes one :func:`critic_step` (gradient-penalty
    eps from ``torch.Generator().manual_seed(gp_seed)``). ``history`` records each step as
    :func:`.players.train_gan` does (``critic_value``, ``weight_grad_norm``,
    the per-layer ``layer_grad_norm/{l}``, ``penalty``)."""

    def __init__(self, cfg: GANConfig, model_seed: int = 0, gp_seed: int = 0,
                 rounds: int = 1) -> None:
        self.cfg = cfg
        self.net = build_critic(cfg, model_seed)
        self.opt = make_optimizer(cfg, self.net.parameters())
        self.schedule = lr_schedule(cfg, self.opt, rounds)  # stepped after each generator round
        self.generator = torch.Generator().manual_seed(gp_seed)
        self.history: dict[str, list[float]] = {}

    def __call__(self, obs: dict[str, Any]) -> dict[str, NDArray[np.float32]]:
        m, d = self.cfg.batch_size, self.cfg.data_dim
        if int(obs["phase"]) != 1:
            return {"real": np.zeros(m, np.float32), "fake": np.zeros(m, np.float32),
                    "fake_grad": np.zeros((m, d), np.float32)}
        real, fake = torch.as_tensor(obs["real"]), torch.as_tensor(obs["fake"])
        with torch.no_grad():
            s_real = scores(self.net, real)
        s_fake, grad = critic_feedback(self.net, fake)
        if int(obs["round_kind"]) == 1 and self.schedule is not None:
            self.schedule.step()
        if int(obs["round_kind"]) == 0:
            record_critic_step(self.history,
                               critic_step(self.cfg, self.net, self.opt, real, fake,
                                           self.generator))
        return {"real": s_real.numpy().copy(), "fake": s_fake.numpy().copy(),
                "fake_grad": grad.numpy().copy()}


def play_gan(game: GANGame, *, seed: int, model_seed: int = 0, gp_seed: int | None = None
             ) -> dict[str, Any]:
    """One episode of the game with :class:`GeneratorPlayer` and :class:`CriticPlayer` (the
    generator learns from the feedback in the final observation too). Returns both players
    and the per-step rewards."""
    gen = GeneratorPlayer(game.cfg, model_seed, game.rounds)
    critic = CriticPlayer(game.cfg, model_seed, seed if gp_seed is None else gp_seed,
                          game.rounds)
    obs, _ = game.reset(seed=seed)
    rewards: list[dict[str, float]] = []
    while game.agents:
        actions = {GENERATOR: gen(obs[GENERATOR]), game.critic: critic(obs[game.critic])}
        obs, r, _, _, _ = game.step(actions)
        rewards.append(r)
    gen.learn(obs[GENERATOR])
    return {"generator": gen, "critic": critic, "rewards": rewards}


__all__ = ["GENERATOR", "CriticPlayer", "GANGame", "GeneratorPlayer", "critic_name", "play_gan"]
