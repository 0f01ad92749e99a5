"""GAN players and a plain training loop (seed 4.3-4.5).

Three variants, selected by :class:`GANConfig` ``kind``:

- ``"gan"`` (Goodfellow et al. 2014): the discriminator outputs a logit s(x), D = sigmoid(s),
  and maximises V = E log D(x) + E log(1 - D(G(z))); the generator minimises
  E log(1 - D(G(z))) (``gen_loss="minimax"``) or maximises E log D(G(z))
  (``"nonsaturating"``, the default). k = ``n_critic`` = 1 discriminator step per generator step.
- ``"wgan"`` (Arjovsky et al. 2017, the seed's Algorithm 1): a critic f, value
  E f(x) - E f(G(z)), RMSProp with lr 5e-5, weights clipped to [-c, c], c = 0.01, after
  each critic step, n_critic = 5.
- ``"wgan-gp"`` (Gulrajani et al. 2017): the critic loss E f(G(z)) - E f(x) +
  lambda E (||grad f(x_hat)|| - 1)^2 at x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per
  sample (a point on the line between a real and a fake sample), lambda = 10, n_critic = 5,
  Adam 1e-4 with betas (0, 0.9), no batch normalisation.

The generator's step is written through the critic's *feedback* on its samples: the scores
s(x_j) and their input gradients grad_x s(x_j) (:func:`critic_feedback`). The generator
loss L(s_1..s_m) gives dL/dx_j = L'(s_j) grad_x s(x_j), which :func:`generator_step`
back-propagates through G. This is the chain rule of the usual end-to-end backward (equal up
to floating-point rounding order); writing the loop this way lets the PettingZoo game
(:mod:`decisiongym.supervised.gans.game`), where the generator sees only that feedback, reproduce
:func:`train_gan` bit for bit.

>>> cfg = GANConfig.for_kind("wgan-gp", batch_size=8, hidden=(8,))
>>> run = train_gan(cfg, "8gaussians", iterations=2, seed=0)
>>> len(run.history["critic_value"]), cfg.n_critic
(10, 5)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from decisiongym.supervised.gans.data import sample_data, sample_noise
from decisiongym.validation import check_choice

KINDS = ("gan", "wgan", "wgan-gp")


@dataclass(frozen=True)
class GANConfig:
    """Hyper-parameters; :meth:`for_kind` gives each variant's published defaults."""

    kind: str = "gan"
    gen_loss: str = "nonsaturating"
    n_critic: int = 1
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    optimizer: str = "adam"
    clip: float = 0.0
    gp_lambda: float = 0.0
    batch_size: int = 64
    latent_dim: int = 2
    data_dim: int = 2
    hidden: tuple[int, ...] = (64, 64)
    #: "constant", or "linear": both learning rates decay linearly to 0 over the
    #: ``iterations`` of :func:`train_gan` (as in Gulrajani et al.'s CIFAR-10 code), which
    #: anneals the noise of the last iterates.
    lr_schedule: str = "constant"

    def __post_init__(self) -> None:
        check_choice("GANConfig", "kind", self.kind, KINDS)
        if self.gen_loss not in ("minimax", "nonsaturating"):
            raise ValueError(f"GANConfig: gen_loss must be 'minimax' or 'nonsaturating', got "
                             f"{self.gen_loss!r}")
        if self.optimizer not in ("adam", "rmsprop"):
            raise ValueError(f"GANConfig: optimizer must be 'adam' or 'rmsprop', got "
                             f"{self.optimizer!r}")
        if self.lr_schedule not in ("constant", "linear"):
            raise ValueError(f"GANConfig: lr_schedule must be 'constant' or 'linear', got "
                             f"{self.lr_schedule!r}")
        if self.n_critic < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError("GANConfig: need n_critic >= 1, batch_size >= 1, lr > 0")

    @classmethod
    def for_kind(cls, kind: str, **overrides: Any) -> GANConfig:
        """Defaults: GAN Adam 1e-3 betas (0.5, 0.999), k = 1 (our toy choice; the paper used
        SGD with momentum); WGAN RMSProp 5e-5, c = 0.01, n_critic = 5; WGAN-GP Adam 1e-4
        betas (0, 0.9), lambda = 10, n_critic = 5."""
        base: dict[str, Any]
        if kind == "gan":
            base = {}
        elif kind == "wgan":
            base = {"n_critic": 5, "lr": 5e-5, "optimizer": "rmsprop", "clip": 0.01}
        elif kind == "wgan-gp":
            base = {"n_critic": 5, "lr": 1e-4, "betas": (0.0, 0.9), "gp_lambda": 10.0}
        else:
            raise ValueError(f"GANConfig.for_kind: kind must be one of {KINDS}, got {kind!r}")
        if "hidden" in overrides:
            overrides["hidden"] = tuple(overrides["hidden"])
        return replace(cls(kind=kind, **base), **overrides)


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last; no batch normalisation)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def build_generator(cfg: GANConfig, seed: int) -> nn.Sequential:
    """G: latent_dim -> hidden -> data_dim, initialised from ``torch.manual_seed(seed)``
    (in a forked RNG state: the global torch RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return mlp([cfg.latent_dim, *cfg.hidden, cfg.data_dim])


def build_critic(cfg: GANConfig, seed: int) -> nn.Sequential:
    """D (or the critic f): data_dim -> hidden -> 1 score (a logit for ``"gan"``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        return mlp([cfg.data_dim, *cfg.hidden, 1])


def make_optimizer(cfg: GANConfig, params: Any) -> torch.optim.Optimizer:
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr)
    return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas)


def scores(critic: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The critic's scores, shape (n,)."""
    out: torch.Tensor = critic(x).squeeze(-1)
    return out


def value(cfg: GANConfig, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The seed's minimax value on a batch: E log D(x) + E log(1 - D(G(z))) for ``"gan"``
    (log D = -softplus(-s), log(1 - D) = -softplus(s)), E f(x) - E f(G(z)) otherwise. The
    discriminator maximises it, the generator minimises it."""
    if cfg.kind == "gan":
        return -(F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean())
    return real_scores.mean() - fake_scores.mean()


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """E (||grad f(x_hat)||_2 - 1)^2 at x_hat = eps real + (1 - eps) fake, eps ~ U[0, 1] per
    sample from ``generator``; returns (penalty, x_hat). ``real`` and ``fake`` are detached, so
    the penalty's gradient reaches the critic's weights only (through ``create_graph``)."""
    eps = torch.rand(real.shape[0], 1, generator=generator).to(real.device)  # drawn on the CPU
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(scores(critic, x_hat).sum(), x_hat, create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean(), x_hat


def critic_step(cfg: GANConfig, critic: nn.Module, opt: torch.optim.Optimizer,
                real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator
                ) -> dict[str, float]:
    """One discriminator / critic update on a real and a fake batch; returns the value and
    (WGAN-GP) the penalty and (all) the norm of the gradient of the loss w.r.t. the weights."""
    opt.zero_grad()
    v = value(cfg, scores(critic, real), scores(critic, fake.detach()))
    loss = -v
    out = {"value": float(v.detach())}
    if cfg.gp_lambda > 0:
        gp, _ = gradient_penalty(critic, real, fake, generator)
        loss = loss + cfg.gp_lambda * gp
        out["penalty"] = float(gp.detach())
    loss.backward()
    out["weight_grad_norm"] = float(torch.stack(
        [(p.grad.detach() ** 2).sum() for p in critic.parameters() if p.grad is not None]
    ).sum().sqrt())
    for i, norm in enumerate(layer_grad_norms(critic)):
        out[f"layer_grad_norm/{i}"] = norm
    if isinstance(critic, nn.Sequential):
        for i, norm in enumerate(activation_grad_norms(critic, real, fake)):
            out[f"activation_grad_norm/{i}"] = norm
    opt.step()
    if cfg.clip > 0:
        with torch.no_grad():
            for p in critic.parameters():
                p.clamp_(-cfg.clip, cfg.clip)
    return out


def layer_grad_norms(critic: nn.Module) -> list[float]:
    """||dL/dW_l||_2 of the critic's loss with respect to each linear layer's weight matrix W_l
    (input layer first), after a backward pass; 0 where a layer has no gradient. The quantity of
    the seed's Figure 64 (Gulrajani et al. 2017, Figure 1b): with weight clipping it explodes or
    vanishes from layer to layer, with the gradient penalty it stays level."""
    return [0.0 if m.weight.grad is None else float(m.weight.grad.detach().norm())
            for m in critic.modules() if isinstance(m, nn.Linear)]


def activation_grad_norms(critic: nn.Sequential, real: torch.Tensor, fake: torch.Tensor
                          ) -> list[float]:
    """||dV/dh_l|| for each linear layer's output h_l (input layer first; Frobenius norm over
    the batch) of the critic's value V = E f(real) - E f(fake), the backward signal that weight
    clipping makes explode or vanish from layer to layer (the seed's Figure 64; Gulrajani et al.
    2017, Figure 1b). An extra forward and backward pass; the weights get no gradient."""
    outputs: list[torch.Tensor] = []
    x = torch.cat([real.detach(), fake.detach()])
    for module in critic:
        x = module(x)
        if isinstance(module, nn.Linear):
            outputs.append(x)
    m = real.shape[0]
    v = x[:m].mean() - x[m:].mean()
    grads = torch.autograd.grad(v, outputs)
    return [float(g.norm()) for g in grads]


def critic_feedback(critic: nn.Module, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The critic's scores on the generator's samples and grad_x s(x) at each sample
    (shapes (m,) and (m, d)); the critic's weights get no gradient."""
    x = fake.detach().clone().requires_grad_(True)
    s = scores(critic, x)
    (g,) = torch.autograd.grad(s.sum(), x)
    return s.detach(), g


def generator_loss_slope(cfg: GANConfig, fake_scores: torch.Tensor) -> torch.Tensor:
    """dL/ds_j of the generator's loss (a mean over the m samples): minimax
    L = E log(1 - sigmoid(s)) gives -sigmoid(s_j)/m; non-saturating L = -E log sigmoid(s) gives
    -sigmoid(-s_j)/m; Wasserstein L = -E f gives -1/m."""
    m = fake_scores.shape[0]
    if cfg.kind != "gan":
        return torch.full_like(fake_scores, -1.0 / m)
    if cfg.gen_loss == "minimax":
        return -torch.sigmoid(fake_scores) / m
    return -torch.sigmoid(-fake_scores) / m


def generator_step(cfg: GANConfig, gen: nn.Module, opt: torch.optim.Optimizer, z: torch.Tensor,
                   fake_scores: torch.Tensor, fake_grads: torch.Tensor) -> None:
    """One generator update from the critic's feedback: back-propagate dL/dx_j =
    L'(s_j) grad_x s(x_j) through G(z)."""
    opt.zero_grad()
    out = gen(z)
    slope = generator_loss_slope(cfg, fake_scores)
    out.backward(slope[:, None] * fake_grads)
    opt.step()


@dataclass
class GANRun:
    generator: nn.Sequential
    critic: nn.Sequential
    history: dict[str, list[float]] = field(default_factory=dict)


def train_gan(cfg: GANConfig, data: str, *, iterations: int, seed: int, model_seed: int = 0,
              gp_seed: int | None = None,
              callback: Callable[[int, nn.Module, nn.Module], None] | None = None) -> GANRun:
    """The plain training loop: ``iterations`` generator steps, each after ``n_critic`` critic
    steps. Every round (critic or generator) draws a real batch and then the noise from
    ``np.random.default_rng(seed)``; the gradient penalty's eps come from
    ``torch.Generator().manual_seed(gp_seed if given, else seed)``; the networks from
    ``model_seed``. ``callback(t, G, D)``, if given, is called before the first iteration
    (t = 0) and after each generator step t = 1..iterations (it must not change the networks).

    History, per critic step: ``critic_value``, ``weight_grad_norm`` (all weights),
    ``layer_grad_norm/{l}`` (:func:`layer_grad_norms`, layers l = 0..len(hidden)),
    ``activation_grad_norm/{l}`` (:func:`activation_grad_norms`) and ``penalty`` (WGAN-GP);
    per generator step: ``input_grad_norm`` (mean ||grad_x f|| at the
    fakes). :func:`layer_grad_norm_matrix` stacks the per-layer norms."""
    rng = np.random.default_rng(seed)
    tgen = torch.Generator().manual_seed(seed if gp_seed is None else gp_seed)
    G, D = build_generator(cfg, model_seed), build_critic(cfg, model_seed)
    opt_g, opt_d = make_optimizer(cfg, G.parameters()), make_optimizer(cfg, D.parameters())
    hist: dict[str, list[float]] = {"critic_value": [], "weight_grad_norm": [],
                                    "input_grad_norm": []}
    schedules = [s for s in (lr_schedule(cfg, opt, iterations) for opt in (opt_g, opt_d))
                 if s is not None]
    if callback is not None:
        callback(0, G, D)
    for t in range(1, iterations + 1):
        for r in range(cfg.n_critic + 1):
            real = torch.as_tensor(sample_data(data, cfg.batch_size, rng))
            z = torch.as_tensor(sample_noise(cfg.batch_size, cfg.latent_dim, rng))
            with torch.no_grad():
                fake = G(z)
            if r < cfg.n_critic:
                out = critic_step(cfg, D, opt_d, real, fake, tgen)
                record_critic_step(hist, out)
            else:
                s, g = critic_feedback(D, fake)
                hist["input_grad_norm"].append(float(g.norm(dim=1).mean()))
                generator_step(cfg, G, opt_g, z, s, g)
        for schedule in schedules:
            schedule.step()
        if callback is not None:
            callback(t, G, D)
    return GANRun(G, D, hist)


def lr_schedule(cfg: GANConfig, opt: torch.optim.Optimizer, iterations: int
                ) -> torch.optim.lr_scheduler.LambdaLR | None:
    """The learning-rate schedule of ``cfg.lr_schedule`` over ``iterations`` generator
    iterations (stepped once after each), or None for a constant rate."""
    if cfg.lr_schedule != "linear":
        return None
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 - t / iterations)


def record_critic_step(history: dict[str, list[float]], out: dict[str, float]) -> None:
    """Append one :func:`critic_step` result to a history (``value`` as ``critic_value``)."""
    for key, v in out.items():
        history.setdefault("critic_value" if key == "value" else key, []).append(v)


def layer_grad_norm_matrix(history: dict[str, list[float]], which: str = "layer_grad_norm"
                           ) -> NDArray[np.float64]:
    """The per-layer norms ``which`` (``layer_grad_norm``: weights, ``activation_grad_norm``:
    layer outputs) of a history as a (critic steps, layers) array."""
    keys = sorted((k for k in history if k.startswith(which + "/")),
                  key=lambda k: int(k.split("/")[1]))
    if not keys:
        return np.zeros((0, 0))
    return np.stack([np.asarray(history[k], dtype=np.float64) for k in keys], axis=1)


def flat_weights(model: nn.Module) -> NDArray[np.float32]:
    """All parameters as one float32 vector (for exact comparisons)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy().copy()


def generate(gen: nn.Module, n: int, latent_dim: int, seed: int) -> NDArray[np.float32]:
    """``n`` samples of ``gen`` from noise drawn with ``np.random.default_rng(seed)``."""
    z = torch.as_tensor(sample_noise(n, latent_dim, np.random.default_rng(seed)))
    with torch.no_grad():
        out: NDArray[np.float32] = gen(z).numpy()
    return out


__all__ = ["KINDS", "GANConfig", "GANRun", "activation_grad_norms", "build_critic",
           "build_generator", "critic_feedback", "critic_step", "flat_weights", "generate",
           "generator_loss_slope", "generator_step", "gradient_penalty", "layer_grad_norm_matrix",
           "layer_grad_norms", "lr_schedule", "make_optimizer", "mlp", "record_critic_step",
           "scores", "train_gan", "value"]
