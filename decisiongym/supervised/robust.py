"""Defenses (Dobriban, *Notes for Stat 991: Topics in Deep Learning*, 2019, section 6.1):
adversarial training with FGSM and with PGD, a randomized-transform defense, and cached victims.

Adversarial training solves the notes' robust (saddle-point) problem of Madry et al. (2018),

    min_W rho(W),  rho(W) = E_{(x, y) ~ D} max_{delta in S} L(W, x + delta, y),

by alternating an inner maximisation (an attack on the current W) and an outer SGD step on the
perturbed batch. See :func:`adversarial_training` for why that step is a descent direction
(Danskin's theorem).

Victims (:func:`load_victim`) are trained once and cached as state dicts under
``$DECISIONGYM_CACHE/victims`` (default ``~/.cache/decisiongym/victims``), keyed by a hash of
their whole configuration; nothing is downloaded (the data are the offline sets of
:mod:`decisiongym.supervised.data`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import Tensor, nn

from decisiongym.supervised.attacks import clip_to_range, fgsm, pgd, project
from decisiongym.supervised.data import load_dataset
from decisiongym.supervised.models import build_model
from decisiongym.validation import check_choice

METHODS = ("standard", "fgsm", "pgd")


def batch_indices(rng: np.random.Generator, n: int, batch_size: int) -> NDArray[np.int64]:
    """One minibatch: ``batch_size`` distinct indices of n, drawn from ``rng``. The training
    loop and the game (:mod:`decisiongym.supervised.adversarial_game`) draw batches with this
    same function, so equal seeds give equal batches."""
    return rng.choice(n, size=min(batch_size, n), replace=False).astype(np.int64)


def flat_parameters(model: nn.Module) -> NDArray[np.float32]:
    """All parameters of ``model`` in one float32 vector (the order of ``parameters()``)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy().copy()


def set_flat_parameters(model: nn.Module, flat: NDArray[np.float32] | Tensor) -> None:
    """Write a vector made by :func:`flat_parameters` back into ``model``."""
    v = torch.as_tensor(np.asarray(flat, dtype=np.float32))
    i = 0
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(v[i:i + p.numel()].view_as(p))
            i += p.numel()


def apply_perturbation(x: Tensor, delta: Tensor, eps: float) -> Tensor:
    """x + delta with delta projected onto the L-infinity eps-ball and x + delta into [0, 1].
    The training loop and the game (whose attacker acts with delta) both form the perturbed
    batch with this function."""
    return x + clip_to_range(x, project(delta, eps, "linf"), 0.0, 1.0)


def sgd_update(model: nn.Module, x: Tensor, y: Tensor, lr: float) -> NDArray[np.float32]:
    """The outer step's update -lr grad_W L(W, x, y) (mean cross-entropy over the batch), as one
    flat vector; :func:`apply_update` adds it. Both the training loop and the game's defender
    use these two functions, so their weights agree bit for bit."""
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return (-lr * torch.cat([g.reshape(-1) for g in grads])).numpy().copy()


def apply_update(model: nn.Module, update: NDArray[np.float32]) -> None:
    """W <- W + update."""
    set_flat_parameters(model, flat_parameters(model) + np.asarray(update, dtype=np.float32))


@dataclass(frozen=True)
class AttackConfig:
    """The inner maximisation of adversarial training.

    - ``method``: "standard" (no attack), "fgsm" or "pgd".
    - ``eps``: the L-infinity radius (Madry et al. on MNIST: 0.3; digits here: 0.1-0.2).
    - ``steps``, ``step_size``: PGD's (Madry et al.: 40 steps of 0.01 for training).
    - ``random_start``: PGD from a random point of the ball (Madry et al.), and FGSM from one
      too when True ("FGSM with random start", Wong et al. 2020); default False for FGSM.
    """

    method: str = "pgd"
    eps: float = 0.3
    steps: int = 40
    step_size: float = 0.01
    random_start: bool = True

    def __post_init__(self) -> None:
        check_choice("AttackConfig", "method", self.method, METHODS)

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor,
                generator: torch.Generator | None) -> Tensor:
        """x + delta*(x): the inner maximiser's answer for the current model."""
        if self.method == "standard" or self.eps == 0:
            return x
        if self.method == "fgsm":
            if self.random_start:
                start = x + (torch.rand(x.shape, generator=generator) * 2 - 1) * self.eps
                start = start.clamp(0.0, 1.0)
                x_adv = fgsm(model, start, y, self.eps)
                return torch.max(torch.min(x_adv, x + self.eps), x - self.eps).clamp(0, 1)
            return fgsm(model, x, y, self.eps)
        # keep_best=False: train on the last iterate (the loss maximiser), as Madry et al.
        return pgd(model, x, y, self.eps, steps=self.steps, step_size=self.step_size,
                   random_start=self.random_start, generator=generator, keep_best=False)


def adversarial_training(model: nn.Module, X: NDArray[np.float32], y: NDArray[np.int64], *,
                         attack: AttackConfig, steps: int, batch_size: int = 64,
                         lr: float = 0.1, batch_seed: int = 0, attack_seed: int = 1,
                         eps_warmup: int = 0,
                         callback: Callable[[int, nn.Module], None] | None = None) -> nn.Module:
    """Adversarial training (Goodfellow et al. 2015 with FGSM; Madry et al. 2018 with PGD).

    Each of ``steps`` rounds (Dobriban (2019), section 6.1, "Adversarial training", items a and b):

    (a) draw a minibatch B (:func:`batch_indices` from ``default_rng(batch_seed)``) and, for
        the fixed current W, find delta*(x) by the attack (PGD from a random start, its random
        numbers from ``torch.Generator().manual_seed(attack_seed)``);
    (b) take one SGD step on the perturbed batch,
        W <- W - alpha / |B| sum_{x in B} grad_W L(W, x + delta*(x), y).

    Why (b) descends the robust objective rho(W) = E max_{delta in S} L(W, x + delta, y):
    Danskin's theorem. For L continuously differentiable in W and S compact, the max over
    delta of L is directionally differentiable and, where the maximiser delta* is unique,
    grad_W max_{delta in S} L(W, x + delta, y) = grad_W L(W, x + delta*, y): the gradient of the
    inner maximum is the ordinary gradient evaluated at the maximiser (and when there are
    several maximisers, the gradient at any one of them is a descent direction of the max
    whenever it is nonzero; Madry et al. 2018, Appendix A). So training normally on the
    adversarial points x + delta*(x) follows the gradient of the saddle-point objective,
    insofar as the attack finds (near-)maximisers; ReLU networks are only almost everywhere
    differentiable, and PGD finds local maxima, whose loss values Madry et al. observe to be
    well concentrated. With ``attack.method == "fgsm"`` the inner max is linearised (one sign
    step), which is the weaker approximation whose failure under PGD the reproduction shows.

    ``eps_warmup`` > 0 grows eps (and the step size with it) linearly from eps / eps_warmup
    to eps over the first ``eps_warmup`` steps (a ramp as in Gowal et al. 2018; without it a
    small network trained at MNIST's eps = 0.3 from scratch can fail to learn at all).

    Plain SGD, no momentum: the step is exactly :func:`sgd_update` then :func:`apply_update`
    (the game's defender applies the same two functions). ``callback(step, model)`` runs after
    each step. Returns the model (trained in place).
    """
    n = len(y)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    rng = np.random.default_rng(batch_seed)
    gen = torch.Generator().manual_seed(attack_seed)
    for t in range(steps):
        idx = torch.as_tensor(batch_indices(rng, n, batch_size))
        xb, yb = Xt[idx], yt[idx]
        current = attack
        if eps_warmup > 0 and t < eps_warmup:
            f = (t + 1) / eps_warmup
            current = replace(attack, eps=attack.eps * f, step_size=attack.step_size * f)
        x_adv = current.perturb(model, xb, yb, gen)  # (a) inner maximisation, W fixed
        x_adv = apply_perturbation(xb, x_adv - xb, current.eps)
        apply_update(model, sgd_update(model, x_adv, yb, lr))  # (b) outer step on x + delta*
        if callback is not None:
            callback(t, model)
    return model


# --------------------------------------------------------------------------------------------
# A randomized-transform defense.
# --------------------------------------------------------------------------------------------


class RandomizedTransformDefense(nn.Module):
    """x -> f(t(x)), t ~ T drawn afresh at every forward pass (the notes' "randomized defenses
    apply a random transform x -> t(x), t ~ T, before classifying").

    T: a random translation by up to ``max_shift`` pixels in each direction (zero fill), then
    additive Gaussian noise of standard deviation ``noise``, then clipping to [0, 1]. The random
    numbers come from the defense's own generator (``seed``). Each single forward pass gives the
    attacker the gradient of one random draw only; expectation over transformations
    (``pgd(..., eot_samples=k)``) averages k draws and breaks it (Athalye et al. 2018).
    """

    def __init__(self, base: nn.Module, *, max_shift: int = 1, noise: float = 0.2,
                 seed: int = 0) -> None:
        super().__init__()
        self.base = base
        self.max_shift = int(max_shift)
        self.noise = float(noise)
        self.generator = torch.Generator().manual_seed(seed)

    def transform(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        out = x
        if self.max_shift > 0:
            s = 2 * self.max_shift + 1
            pad = F.pad(x, [self.max_shift] * 4)
            dx = torch.randint(0, s, (b,), generator=self.generator)
            dy = torch.randint(0, s, (b,), generator=self.generator)
            h, w = x.shape[-2:]
            rows = (dy[:, None] + torch.arange(h)[None])  # (b, h)
            cols = (dx[:, None] + torch.arange(w)[None])  # (b, w)
            bi = torch.arange(b)[:, None, None]
            out = pad.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]]
            out = out.permute(0, 3, 1, 2)
        if self.noise > 0:
            out = out + self.noise * torch.randn(out.shape, generator=self.generator)
        return out.clamp(0.0, 1.0)

    def forward(self, x: Tensor) -> Tensor:
        return self.base(self.transform(x))

    def frozen(self, seed: int) -> nn.Module:
        """The defense with one fixed draw of t per input (the generator reseeded with ``seed``
        at every call): what an attacker who ignores the randomness differentiates."""
        return _FrozenTransform(self, seed)


class _FrozenTransform(nn.Module):
    def __init__(self, defense: RandomizedTransformDefense, seed: int) -> None:
        super().__init__()
        self.defense = RandomizedTransformDefense(defense.base, max_shift=defense.max_shift,
                                                  noise=defense.noise)
        self.seed = seed

    def forward(self, x: Tensor) -> Tensor:
        self.defense.generator.manual_seed(self.seed)
        return self.defense(x)


# --------------------------------------------------------------------------------------------
# Victims, trained once and cached.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VictimConfig:
    """Everything that determines a victim's weights (its cache key)."""

    dataset: str = "digits"
    model: str = "mlp"
    method: str = "standard"
    eps: float = 0.1
    attack_steps: int = 10
    step_size: float = 0.025
    steps: int = 1500
    batch_size: int = 64
    lr: float = 0.1
    hidden: tuple[int, ...] = (128,)
    seed: int = 0
    augment: bool = False  # random shifts and noise in training (for the randomized defense)
    version: int = 1  # bump when the training code changes, so stale caches are not read
    eps_warmup: int = 0  # steps of linear eps ramp (see adversarial_training)

    def key(self) -> str:
        fields = asdict(self)
        if not fields["eps_warmup"]:  # keys of victims trained before the ramp existed
            del fields["eps_warmup"]
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_dir() -> Path:
    """``$DECISIONGYM_CACHE/victims``, default ``~/.cache/decisiongym/victims``."""
    root = os.environ.get("DECISIONGYM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "decisiongym")
    return Path(root) / "victims"


def build_victim(cfg: VictimConfig, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """The untrained network of ``cfg``, initialised from ``cfg.seed`` without touching
    torch's global generator."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return build_model(cfg.model, input_shape, n_classes, hidden=cfg.hidden)


def train_victim(cfg: VictimConfig) -> nn.Module:
    """Train ``cfg`` from scratch on the train split of ``cfg.dataset`` (data seed 0)."""
    ds = load_dataset(cfg.dataset, seed=0)
    model = build_victim(cfg, ds.input_shape, ds.n_classes)
    attack = AttackConfig(cfg.method, cfg.eps, cfg.attack_steps, cfg.step_size,
                          random_start=cfg.method == "pgd")
    X = ds.X_train
    if cfg.augment:  # train the base of the randomized defense on its own transforms
        aug = RandomizedTransformDefense(nn.Identity(), seed=cfg.seed + 7)
        with torch.no_grad():
            X = np.concatenate([X] + [aug(torch.as_tensor(X)).numpy() for _ in range(3)])
        y = np.tile(ds.y_train, 4)
    else:
        y = ds.y_train
    adversarial_training(model, X, y, attack=attack, steps=cfg.steps,
                         batch_size=cfg.batch_size, lr=cfg.lr, batch_seed=cfg.seed,
                         attack_seed=cfg.seed + 1, eps_warmup=cfg.eps_warmup)
    model.eval()
    return model


def load_victim(cfg: VictimConfig | None = None, *, cache: bool = True,
                **overrides: Any) -> nn.Module:
    """The trained victim of ``cfg`` (fields overridable by keyword), from the cache when it is
    there, else trained now and cached (``cache=False``: train, do not read or write)."""
    cfg = VictimConfig(**{**asdict(cfg or VictimConfig()), **overrides})
    if isinstance(cfg.hidden, list):
        cfg = VictimConfig(**{**asdict(cfg), "hidden": tuple(cfg.hidden)})
    path = cache_dir() / f"{cfg.dataset}-{cfg.model}-{cfg.method}-{cfg.key()}.pt"
    if cache and path.exists():
        ds = load_dataset(cfg.dataset, seed=0)
        model = build_victim(cfg, ds.input_shape, ds.n_classes)
        model.load_state_dict(torch.load(path, weights_only=True))
        model.eval()
        return model
    model = train_victim(cfg)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    return model


__all__ = ["METHODS", "AttackConfig", "RandomizedTransformDefense", "VictimConfig",
           "adversarial_training", "apply_perturbation", "apply_update", "batch_indices",
           "build_victim", "cache_dir", "flat_parameters", "load_victim", "set_flat_parameters",
           "sgd_update", "train_victim"]
