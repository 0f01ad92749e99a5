"""Training dynamics that Dobriban, *Notes for Stat 991: Topics in Deep Learning* (2019) discusses,
as pure functions of (configuration, seed) that return arrays (plots and tables consume them):

- :func:`gradient_norm_vs_lag`: ||dL_T / dh_k|| against the lag T - k for the simple RNN, the
  GRU and the LSTM (Dobriban (2019), section 3.3.2: the product of Jacobians W' diag(sigma'(h))
  vanishes when lambda_1 gamma < 1 and may explode when it is > 1; the LSTM's cell path, with
  forget gate near 1, carries the error, the "constant error carousel" of section 3.3.3).
- :func:`train_sequence_model`: a recurrent net trained on a sequence task with or without
  gradient clipping by norm (Pascanu et al. 2013), recording the gradient norm of every update;
  used for the long-dependency comparison (LSTM against simple RNN at equal budget).
- :func:`compare_optimizers`: SGD, momentum, Adagrad, RMSprop and Adam (Dobriban (2019),
  sections 1.2.3 and 6.5) on one task (an MLP on digits).
- :func:`simulate_advani_saxe`: gradient descent on the linear-regression teacher of Dobriban
  (2019), section 7.10, its generalisation error against time, next to the formula of
  :mod:`decisiongym.theory.advani_saxe`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from decisiongym.supervised.data import load_dataset
from decisiongym.supervised.models import MLP, RecurrentNet, clip_grad_norm, grad_norm
from decisiongym.theory.advani_saxe import generalization_error

# --------------------------------------------------------------------------------------------
# Gradient norm against time lag.
# --------------------------------------------------------------------------------------------


def gradient_norm_vs_lag(kind: str, *, length: int = 60, hidden: int = 32, input_size: int = 4,
                         recurrent_scale: float = 1.0, forget_bias: float = 1.0,
                         batch: int = 64, seed: int = 0) -> NDArray[np.float64]:
    """Mean over a batch of random sequences of ||dL / dh_{T-lag}|| for lag = 0 .. length-1,
    L the squared read-out at the last step, for a freshly initialised ``kind`` network.

    ``recurrent_scale`` multiplies the recurrent weights U (the notes' lambda_1): below about
    1 / gamma the simple RNN's gradient vanishes geometrically with the lag; large scales make
    it explode until tanh saturates (then it vanishes again, gamma -> 0)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = RecurrentNet(kind, input_size, hidden, 1, forget_bias=forget_bias)
    with torch.no_grad():
        net.cell.weight_hh.mul_(recurrent_scale)
    x = torch.randn(batch, length, input_size, generator=gen)
    _, hs = net.unroll(x)
    for h in hs:
        h.retain_grad()
    net.readout(hs[-1]).pow(2).sum().backward()
    norms = [float(h.grad.norm(dim=1).mean()) if h.grad is not None else 0.0 for h in hs]
    return np.asarray(norms[::-1])  # index = lag


# --------------------------------------------------------------------------------------------
# Training a recurrent net on a sequence task.
# --------------------------------------------------------------------------------------------


def _optimizer(name: str, params: Any, lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; expected sgd, momentum, adagrad, rmsprop, "
                     "adam")


def train_sequence_model(kind: str, *, gap: int = 20, n_classes: int = 4, hidden: int = 32,
                         steps: int = 300, batch: int = 64, lr: float = 1e-2,
                         optimizer: str = "adam", clip: float | None = None,
                         recurrent_scale: float = 1.0, forget_bias: float = 1.0,
                         n_train: int = 4000, seed: int = 0) -> dict[str, Any]:
    """Train ``kind`` ("rnn", "gru", "lstm") on the long-dependency task with time lag gap + 1;
    every update's gradient norm (before clipping) and loss are recorded. Returns
    {"loss": (steps,), "grad_norm": (steps,), "test_accuracy": float, "chance": 1/n_classes,
    "diverged": bool}."""
    ds = load_dataset("long_dependency", seed=seed, n=n_train, gap=gap, n_classes=n_classes)
    Xtr, ytr = torch.as_tensor(ds.X_train), torch.as_tensor(ds.y_train)
    Xte, yte = torch.as_tensor(ds.X_test), torch.as_tensor(ds.y_test)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = RecurrentNet(kind, Xtr.shape[-1], hidden, n_classes, forget_bias=forget_bias)
    with torch.no_grad():
        net.cell.weight_hh.mul_(recurrent_scale)
    opt = _optimizer(optimizer, net.parameters(), lr)
    rng = np.random.default_rng(seed)
    losses, norms = np.full(steps, np.nan), np.full(steps, np.nan)
    diverged = False
    for s in range(steps):
        idx = torch.as_tensor(rng.integers(0, len(ytr), batch))
        loss = nn.functional.cross_entropy(net(Xtr[idx]), ytr[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norms[s] = (clip_grad_norm(net.parameters(), clip) if clip is not None
                    else grad_norm(net.parameters()))
        losses[s] = float(loss.detach())
        if not math.isfinite(losses[s]) or not math.isfinite(norms[s]):
            diverged = True
            break
        opt.step()
    with torch.no_grad():
        acc = float((net(Xte).argmax(-1) == yte).float().mean()) if not diverged else float("nan")
    return {"loss": losses, "grad_norm": norms, "test_accuracy": acc,
            "chance": 1.0 / n_classes, "diverged": diverged}


# --------------------------------------------------------------------------------------------
# Optimisers on one task.
# --------------------------------------------------------------------------------------------

#: Learning rates in each method's usual range (Dobriban (2019), section 1.2.3, item 5, and
#: section 6.5).
OPTIMIZER_LRS = {"sgd": 0.1, "momentum": 0.05, "adagrad": 0.05, "rmsprop": 1e-3, "adam": 3e-3}


def compare_optimizers(*, epochs: int = 10, batch: int = 32, hidden: int = 64, seed: int = 0,
                       lrs: dict[str, float] | None = None) -> dict[str, dict[str, Any]]:
    """Each optimiser trains the same MLP (same initial weights, same minibatch order) on
    digits; returns per optimiser the training loss after every epoch and the test accuracy."""
    lrs = dict(OPTIMIZER_LRS if lrs is None else lrs)
    ds = load_dataset("digits", seed=seed)
    Xtr, ytr = torch.as_tensor(ds.X_train).flatten(1), torch.as_tensor(ds.y_train)
    Xte, yte = torch.as_tensor(ds.X_test).flatten(1), torch.as_tensor(ds.y_test)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        init = MLP(Xtr.shape[1], 10, (hidden,)).state_dict()
    out: dict[str, dict[str, Any]] = {}
    for name, lr in lrs.items():
        net = MLP(Xtr.shape[1], 10, (hidden,))
        net.load_state_dict(init)
        opt = _optimizer(name, net.parameters(), lr)
        rng = np.random.default_rng(seed)
        curve = []
        for _ in range(epochs):
            perm = torch.as_tensor(rng.permutation(len(ytr)))
            for i in range(0, len(perm), batch):
                b = perm[i:i + batch]
                loss = nn.functional.cross_entropy(net(Xtr[b]), ytr[b])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            with torch.no_grad():
                curve.append(float(nn.functional.cross_entropy(net(Xtr), ytr)))
        with torch.no_grad():
            acc = float((net(Xte).argmax(-1) == yte).float().mean())
        out[name] = {"lr": lr, "train_loss": np.asarray(curve), "test_accuracy": acc}
    return out


# --------------------------------------------------------------------------------------------
# Advani & Saxe: simulation against the formula.
# --------------------------------------------------------------------------------------------


def simulate_advani_saxe(*, n_features: int = 100, alpha: float = 1.0, sigma_w: float = 1.0,
                         sigma_0: float = 0.0, sigma_noise: float = 0.5,
                         learning_rate: float = 0.02, steps: int = 1000, reps: int = 100,
                         record_every: int = 10, seed: int = 0) -> dict[str, Any]:
    """Gradient descent w <- w + eta (X'y - X'X w) on ``reps`` independent draws of the teacher of
    Dobriban (2019), section 7.10 (X: P = alpha N rows of N(0, 1/N) entries), all replicates at
    once.

    Returns the simulated E_g = ||w_bar - w||^2 / N + sigma_eps^2 (exact for a fresh x ~ N(0,
    I/N)) at steps ``0, record_every, ...`` as "simulated" (G, reps), and for the same X the
    formula's prediction for discrete GD ("formula_discrete", (G, reps)) and for gradient flow
    at t = k eta ("formula_flow", (G, reps)); "time" is k eta."""
    N = int(n_features)
    P = max(1, round(alpha * N))
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0 / math.sqrt(N), (reps, P, N))
    w_bar = rng.normal(0.0, sigma_w, (reps, N))
    w = rng.normal(0.0, sigma_0, (reps, N)) if sigma_0 > 0 else np.zeros((reps, N))
    y = np.einsum("rpn,rn->rp", X, w_bar) + rng.normal(0.0, sigma_noise, (reps, P))
    XtX = np.einsum("rpn,rpm->rnm", X, X)
    Xty = np.einsum("rpn,rp->rn", X, y)
    lam = np.linalg.eigvalsh(XtX)  # (reps, N)
    if learning_rate * lam.max() >= 2:
        raise ValueError(f"simulate_advani_saxe: learning_rate {learning_rate} diverges "
                         f"(lambda_max = {lam.max():.3g})")
    record = np.arange(0, steps + 1, record_every)
    sim = np.empty((record.size, reps))
    g = 0
    for k in range(steps + 1):
        if g < record.size and k == record[g]:
            sim[g] = ((w_bar - w) ** 2).sum(axis=1) / N + sigma_noise**2
            g += 1
        if k < steps:
            w = w + learning_rate * (Xty - np.einsum("rnm,rm->rn", XtX, w))
    kw = {"sigma_w": sigma_w, "sigma_0": sigma_0, "sigma_noise": sigma_noise}
    disc = np.stack([generalization_error(record, lam[r], learning_rate=learning_rate, **kw)
                     for r in range(reps)], axis=1)
    flow = np.stack([generalization_error(record * learning_rate, lam[r], **kw)
                     for r in range(reps)], axis=1)
    return {"steps": record, "time": record * learning_rate, "simulated": sim,
            "formula_discrete": disc, "formula_flow": flow, "eigenvalues": lam,
            "n_features": N, "n_samples": P, "alpha": P / N, **kw}


__all__ = [
    "OPTIMIZER_LRS",
    "compare_optimizers",
    "gradient_norm_vs_lag",
    "simulate_advani_saxe",
    "train_sequence_model",
]
