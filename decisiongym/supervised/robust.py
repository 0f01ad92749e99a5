"""Defenses (Dobriban, *Notes for Stat 991: Topics in Deep Learning*, 2019, section 6.1):
adversarial training with FGSM and with PGD, certified training with interval bounds (IBP,
Gowal et al. 2018: :func:`ibp_training`), a randomized-transform defense, cached victims, and
the study of robust accuracy under the strongest of four attacks against certified accuracy
(:func:`robustness_study`).

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


def ibp_schedule(t: int, *, eps: float, warmup: int, ramp: int,
                 kappa_final: float = 0.5) -> tuple[float, float]:
    """(eps_t, kappa_t) at training step t (0-based) of Gowal et al.'s (2018) schedule: natural
    training (eps 0, kappa 1) for ``warmup`` steps; then over ``ramp`` steps eps grows linearly
    from 0 to ``eps`` while kappa falls linearly from 1 to ``kappa_final``; then both stay."""
    if t < warmup:
        return 0.0, 1.0
    f = min((t - warmup + 1) / ramp, 1.0) if ramp > 0 else 1.0
    return eps * f, 1.0 - f * (1.0 - kappa_final)


def ibp_training(model: nn.Module, X: NDArray[np.float32], y: NDArray[np.int64], *,
                 eps: float, steps: int, batch_size: int = 64, lr: float = 1e-3,
                 warmup: int | None = None, ramp: int | None = None,
                 kappa_final: float = 0.5, batch_seed: int = 0,
                 callback: Callable[[int, nn.Module], None] | None = None) -> nn.Module:
    """Certified training with interval bound propagation (Gowal et al. 2018, "On the
    effectiveness of interval bound propagation for training verifiably robust models"), the
    notes' "if we train specifically so that they can be used to certify, they can be better"
    (Dobriban (2019), section 6.1).

    Each step draws a minibatch (:func:`batch_indices` from ``default_rng(batch_seed)``) and
    takes one Adam step (learning rate ``lr``; Gowal et al.'s optimiser and 1e-3) on

        kappa_t CE(h(x), y) + (1 - kappa_t) CE(z_hat(x, eps_t), y)

    (:func:`decisiongym.supervised.certify.ibp_loss`), z_hat the worst-case logits that the
    interval bounds allow on the L-infinity ball of radius eps_t. The upper bound is what is
    minimised, so the trained network is one whose interval bounds are tight enough to certify
    (:func:`decisiongym.supervised.certify.ibp_certified`). Schedule (:func:`ibp_schedule`):
    ``warmup`` natural steps (default steps // 10), then ``ramp`` steps (default steps // 2)
    in which eps_t grows from 0 to ``eps`` and kappa_t falls from 1 to ``kappa_final`` (0.5,
    Gowal et al.'s final kappa); Gowal et al. train MNIST with 2k warm-up and 10k ramp steps of
    60k. ``callback(step, model)`` runs after each step. Returns the model (trained in place).
    """
    from decisiongym.supervised.certify import ibp_loss

    warmup = steps // 10 if warmup is None else int(warmup)
    ramp = steps // 2 if ramp is None else int(ramp)
    if steps < 0 or warmup < 0 or ramp < 0 or not 0 <= kappa_final <= 1 or eps < 0:
        raise ValueError(f"ibp_training: need steps, warmup, ramp, eps >= 0 and kappa_final in "
                         f"[0, 1]; got {steps}, {warmup}, {ramp}, {eps}, {kappa_final}")
    n = len(y)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    rng = np.random.default_rng(batch_seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for t in range(steps):
        idx = torch.as_tensor(batch_indices(rng, n, batch_size))
        eps_t, kappa_t = ibp_schedule(t, eps=eps, warmup=warmup, ramp=ramp,
                                      kappa_final=kappa_final)
        loss = ibp_loss(model, Xt[idx], yt[idx], eps_t, kappa_t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
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
    """Train ``cfg`` from scratch on the train split of ``cfg.dataset`` (data seed 0).

    ``cfg.method`` "standard", "fgsm" or "pgd": :func:`adversarial_training` (plain SGD);
    "ibp": :func:`ibp_training` at ``cfg.eps`` (Adam at ``cfg.lr``, which should then be about
    1e-3; ``cfg.eps_warmup`` the ramp, default half the steps, after a fifth of it natural)."""
    ds = load_dataset(cfg.dataset, seed=0)
    model = build_victim(cfg, ds.input_shape, ds.n_classes)
    if cfg.method == "ibp":  # certified training: Adam at cfg.lr (pass about 1e-3)
        ramp = cfg.eps_warmup or cfg.steps // 2
        ibp_training(model, ds.X_train, ds.y_train, eps=cfg.eps, steps=cfg.steps,
                     batch_size=cfg.batch_size, lr=cfg.lr, warmup=ramp // 5, ramp=ramp,
                     batch_seed=cfg.seed)
        model.eval()
        return model
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


# --------------------------------------------------------------------------------------------
# The strongest-attack and certified-training study.
# --------------------------------------------------------------------------------------------

#: The L-infinity threat model of :func:`robustness_study` (digits' training eps elsewhere too).
STUDY_EPS = 0.2
#: The certifiably trained victim of the study: IBP at the study's eps, Adam 3e-3, 1500 steps
#: of 64 (the other victims' length). With Gowal et al.'s 1e-3 it needs about twice the steps.
IBP_VICTIM: dict[str, Any] = {"method": "ibp", "eps": STUDY_EPS, "lr": 3e-3, "steps": 1500}
#: quick -> test points, PGD (steps, restarts), Square queries, C&W (steps, rounds)
STUDY_SIZES: dict[bool, dict[str, Any]] = {
    True: {"points": 100, "pgd": (40, 1), "square_queries": 1000, "cw": (100, 9)},
    False: {"points": None, "pgd": (100, 3), "square_queries": 5000, "cw": (200, 9)}}
#: The radii of the PGD-L2 runs that C&W is compared with (at equal success).
L2_RADII = tuple(round(0.25 * k, 2) for k in range(1, 13))


def study_victims(seed: int) -> dict[str, nn.Module]:
    """The three victims of run ``seed``: standard and PGD-trained (eps :data:`STUDY_EPS`, 10
    steps of eps / 4; the adversarial-examples reproduction's cache entries) and IBP-trained
    (:data:`IBP_VICTIM`)."""
    return {"standard": load_victim(method="standard", seed=seed),
            "pgd": load_victim(method="pgd", eps=STUDY_EPS, step_size=STUDY_EPS / 4,
                               attack_steps=10, seed=seed),
            "ibp": load_victim(**IBP_VICTIM, seed=seed)}


def robustness_study(quick: bool, seed: int,
                     victims: dict[str, nn.Module] | None = None) -> dict[str, Any]:
    """One run of the study: robust accuracy under the strongest of four attacks, and certified
    accuracy, of a standard, a PGD-trained and an IBP-trained MLP on the digits test split
    (Dobriban (2019), section 6.1), under the L-infinity threat model eps = :data:`STUDY_EPS`.

    Attacks, each on every test point: FGSM; PGD (40 steps of eps / 8 at --quick, 100 with 3
    restarts at full size); the black-box Square attack (:func:`square_attack`, p_init 0.05,
    1000 / 5000 queries); Carlini & Wagner's L2 attack (:func:`carlini_wagner_l2`), whose
    example counts against the threat model when it lies in the L-infinity ball. A point is
    robust when it is classified right and no attack fools it ("strongest": the minimum over
    the attacks, per point). Certified: :func:`ibp_certified` at eps. Also, on the standard
    model: C&W's mean L2 norm against PGD-L2 at the smallest radius of :data:`L2_RADII` at
    which PGD-L2's success rate reaches C&W's.

    Returns plain numbers: ``models[name]`` with ``clean``, ``fgsm``, ``pgd``, ``square``,
    ``cw``, ``strongest``, ``certified`` (accuracies), ``sound`` (no attack fools a certified
    point), ``square_success`` / ``square_median_queries`` (on the points it was right on),
    ``cw_success`` / ``cw_mean_l2`` (same); ``l2`` (standard model): ``cw_mean_l2``,
    ``cw_success``, ``pgd_radius``, ``pgd_success``, ``pgd_mean_l2``; ``points``, ``seed``.
    ``victims``: the three models (default :func:`study_victims`).
    """
    from decisiongym.supervised.attacks import carlini_wagner_l2, square_attack
    from decisiongym.supervised.certify import ibp_certified

    size = STUDY_SIZES[bool(quick)]
    ds = load_dataset("digits", seed=0)
    n = size["points"] or len(ds.y_test)
    X, y = torch.as_tensor(ds.X_test[:n]), torch.as_tensor(ds.y_test[:n])
    eps = STUDY_EPS
    pgd_steps, restarts = size["pgd"]
    cw_steps, cw_rounds = size["cw"]
    victims = victims if victims is not None else study_victims(seed)
    out: dict[str, Any] = {"seed": seed, "points": n, "eps": eps, "models": {}}

    def right_on(net: nn.Module, xa: Tensor) -> NDArray[np.bool_]:
        with torch.no_grad():
            return (net(xa).argmax(1) == y).numpy()

    for name, net in victims.items():
        clean = right_on(net, X)
        x_fgsm = fgsm(net, X, y, eps)
        x_pgd = pgd(net, X, y, eps, steps=pgd_steps, step_size=eps / 8, restarts=restarts,
                    generator=torch.Generator().manual_seed(seed))
        sq = square_attack(net, X, y, eps, p_init=0.05, max_queries=size["square_queries"],
                           generator=torch.Generator().manual_seed(seed + 1))
        cw = carlini_wagner_l2(net, X, y, steps=cw_steps, binary_search_steps=cw_rounds)
        in_ball = ((cw.x_adv - X).flatten(1).abs().amax(1) <= eps + 1e-6).numpy()
        per_attack = {"fgsm": right_on(net, x_fgsm), "pgd": right_on(net, x_pgd),
                      "square": right_on(net, sq.x_adv),
                      "cw": clean & ~(cw.success & in_ball)}
        strongest = clean.copy()
        for ok in per_attack.values():
            strongest &= ok
        cert = ibp_certified(net, X, y, eps)
        out["models"][name] = {
            "clean": float(clean.mean()),
            **{k: float(v.mean()) for k, v in per_attack.items()},
            "strongest": float(strongest.mean()), "certified": float(cert.mean()),
            "sound": bool(strongest[cert].all()),
            "square_success": float(sq.success[clean].mean()),
            "square_median_queries": float(np.median(sq.queries[clean & sq.success]))
            if (clean & sq.success).any() else float("nan"),
            "cw_success": float(cw.success[clean].mean()),
            "cw_mean_l2": float(cw.l2[clean & cw.success].mean())
            if (clean & cw.success).any() else float("nan")}
        if name == "standard":
            m = out["models"][name]
            target = float(cw.success[clean].mean())
            l2: dict[str, Any] = {"cw_mean_l2": m["cw_mean_l2"], "cw_success": target,
                                  "pgd_radius": float("nan"), "pgd_success": float("nan"),
                                  "pgd_mean_l2": float("nan")}
            xc, yc = X[torch.as_tensor(clean)], y[torch.as_tensor(clean)]
            for radius in L2_RADII:
                xa = pgd(net, xc, yc, radius, norm="l2", steps=pgd_steps,
                         step_size=radius / 8, restarts=restarts,
                         generator=torch.Generator().manual_seed(seed))
                with torch.no_grad():
                    fooled = (net(xa).argmax(1) != yc).numpy()
                if fooled.mean() >= target - 1e-12:
                    norms = (xa - xc).flatten(1).norm(dim=1).numpy()
                    l2.update(pgd_radius=radius, pgd_success=float(fooled.mean()),
                              pgd_mean_l2=float(norms[fooled].mean()))
                    break
            out["l2"] = l2
    return out


__all__ = ["IBP_VICTIM", "L2_RADII", "METHODS", "STUDY_EPS", "STUDY_SIZES", "AttackConfig",
           "RandomizedTransformDefense", "VictimConfig",
           "adversarial_training", "apply_perturbation", "apply_update", "batch_indices",
           "build_victim", "cache_dir", "flat_parameters", "ibp_schedule", "ibp_training",
           "load_victim", "robustness_study", "set_flat_parameters",
           "sgd_update", "study_victims", "train_victim"]
