"""Gradient-descent optimisers written from their update equations, as ``torch.optim`` optimisers.

Dobriban (2019), section 6.5 (after Ruder 2016, "An overview of gradient descent optimization
algorithms"), gives each method as an update of the parameters theta with the gradient
g_t = grad f(theta_t):

- ``SGD``: theta_{t+1} = theta_t - eta g_t.
- ``Momentum`` (Qian 1999): v_t = gamma v_{t-1} + eta g_t, theta_{t+1} = theta_t - v_t.
- ``Nesterov`` (Nesterov 1983): v_t = gamma v_{t-1} + eta grad f(theta_t - gamma v_{t-1}),
  theta_{t+1} = theta_t - v_t. The gradient is taken at the look-ahead point; the optimiser
  keeps the parameters *at* the look-ahead point, phi_t = theta_t - gamma v_{t-1}, so that the
  gradient autograd computes is the one the update needs (Sutskever et al. 2013's change of
  variable): phi_{t+1} = phi_t - eta g(phi_t) - gamma v_t.
- ``Adagrad`` (Duchi et al. 2011): G_t = G_{t-1} + g_t^2,
  theta_{t+1} = theta_t - eta g_t / sqrt(G_t + eps).
- ``Adadelta`` (Zeiler 2012): avg(g^2)_t = gamma avg(g^2)_{t-1} + (1 - gamma) g_t^2,
  Delta_t = -sqrt(avg(Delta^2)_{t-1} + eps) / sqrt(avg(g^2)_t + eps) g_t,
  avg(Delta^2)_t = gamma avg(Delta^2)_{t-1} + (1 - gamma) Delta_t^2; no learning rate
  (``lr`` scales the step, 1 by default, as in the paper).
- ``RMSprop`` (Hinton 2012): theta_{t+1} = theta_t - eta g_t / sqrt(avg(g^2)_t + eps).
- ``Adam`` (Kingma & Ba 2015): avg(g)_t and avg(g^2)_t with decays beta_1, beta_2, the
  bias-corrected m_t = avg(g)_t / (1 - beta_1^t), v_t = avg(g^2)_t / (1 - beta_2^t), and
  theta_{t+1} = theta_t - alpha m_t / sqrt(v_t + eps).
- ``Adamax`` (Kingma & Ba 2015, section 7.1): u_t = max(beta_2 u_{t-1}, |g_t|),
  theta_{t+1} = theta_t - eta m_t / u_t (m_t bias-corrected as in Adam).
- ``Nadam`` (Dozat 2016): Adam with Nesterov momentum; the momentum schedule
  mu_t = beta_1 (1 - 0.5 * 0.96^(t psi)) of Dozat's paper (``momentum_decay`` psi = 0.004).
- ``PolyakAveraging`` (Polyak & Juditsky 1992; Ruppert 1988): the average of the iterates
  theta_bar_t = (1 / t) sum_{k <= t} theta_k, or the running average
  beta theta_bar_{t-1} + (1 - beta) theta_t with the bias correction / (1 - beta^t).

Where the notes put eps inside the square root (sqrt(v + eps)) and torch outside
(sqrt(v) + eps), we follow the notes; the defaults are chosen so that the two agree in scale
(eps = 1e-16 inside is 1e-8 outside). ``tests/test_optimizers.py`` checks each method against
``torch.optim`` (SGD, momentum, Nesterov, Adagrad, Adadelta, RMSprop, Adam, Adamax, NAdam,
and ``swa_utils.AveragedModel`` for the average) on the same problem, step for step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "Adamax",
    "Momentum",
    "Nadam",
    "Nesterov",
    "PolyakAveraging",
    "RMSprop",
    "make_optimizer",
]

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


def _positive(name: str, key: str, value: float, *, allow_zero: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name}: {key} must be {'>= 0' if allow_zero else '> 0'}, "
                         f"got {value}")
    return value


def _decay(name: str, key: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: {key} must be in [0, 1), got {value}")
    return value


class _Equation(Optimizer):
    """Shared step loop: ``_update(p, g, state, group)`` applies one update in place."""

    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    state["step"] = state.get("step", 0) + 1
                    self._update(p, p.grad, state, group)
        return loss

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        raise NotImplementedError


class SGD(_Equation):
    """theta <- theta - eta g."""

    def __init__(self, params: Params, lr: float = 0.01) -> None:
        super().__init__(params, {"lr": _positive("SGD", "lr", lr)})

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        p.add_(g, alpha=-group["lr"])


class Momentum(_Equation):
    """v <- gamma v + eta g; theta <- theta - v."""

    def __init__(self, params: Params, lr: float = 0.01, gamma: float = 0.9) -> None:
        super().__init__(params, {"lr": _positive("Momentum", "lr", lr),
                                  "gamma": _decay("Momentum", "gamma", gamma)})

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(group["gamma"]).add_(g, alpha=group["lr"])
        p.sub_(v)


class Nesterov(_Equation):
    """v <- gamma v + eta grad f(theta - gamma v); theta <- theta - v, with the parameters held
    at the look-ahead point phi = theta - gamma v (see the module docstring)."""

    def __init__(self, params: Params, lr: float = 0.01, gamma: float = 0.9) -> None:
        super().__init__(params, {"lr": _positive("Nesterov", "lr", lr),
                                  "gamma": _decay("Nesterov", "gamma", gamma)})

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(group["gamma"]).add_(g, alpha=group["lr"])  # v_t, with g taken at phi_t
        # phi_{t+1} = theta_{t+1} - gamma v_t = phi_t - eta g - gamma v_t.
        p.add_(g, alpha=-group["lr"]).add_(v, alpha=-group["gamma"])


class Adagrad(_Equation):
    """G <- G + g^2; theta <- theta - eta g / sqrt(G + eps)."""

    def __init__(self, params: Params, lr: float = 0.01, eps: float = 1e-20) -> None:
        super().__init__(params, {"lr": _positive("Adagrad", "lr", lr),
                                  "eps": _positive("Adagrad", "eps", eps, allow_zero=True)})

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        big_g = state.setdefault("G", torch.zeros_like(p))
        big_g.addcmul_(g, g)
        p.addcdiv_(g, (big_g + group["eps"]).sqrt(), value=-group["lr"])


class Adadelta(_Equation):
    """The final Adadelta update: the RMS of past updates over the RMS of past gradients."""

    def __init__(self, params: Params, lr: float = 1.0, gamma: float = 0.9,
                 eps: float = 1e-6) -> None:
        super().__init__(params, {"lr": _positive("Adadelta", "lr", lr),
                                  "gamma": _decay("Adadelta", "gamma", gamma),
                                  "eps": _positive("Adadelta", "eps", eps)})

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        gamma, eps = group["gamma"], group["eps"]
        avg_g2 = state.setdefault("avg_g2", torch.zeros_like(p))
        avg_d2 = state.setdefault("avg_delta2", torch.zeros_like(p))
        avg_g2.mul_(gamma).addcmul_(g, g, value=1 - gamma)
        delta = (avg_d2 + eps).sqrt().div_((avg_g2 + eps).sqrt()).mul_(g)  # -Delta_t
        avg_d2.mul_(gamma).addcmul_(delta, delta, value=1 - gamma)
        p.add_(delta, alpha=-group["lr"])


class RMSprop(_Equation):
    """avg(g^2) <- gamma avg(g^2) + (1 - gamma) g^2; theta <- theta - eta g / sqrt(avg + eps)."""

    def __init__(self, params: Params, lr: float = 0.01, gamma: float = 0.99,
                 eps: float = 1e-16) -> None:
        super().__init__(params, {"lr": _positive("RMSprop", "lr", lr),
                                  "gamma": _decay("RMSprop", "gamma", gamma),
                                  "eps": _positive("RMSprop", "eps", eps, allow_zero=True)})

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        avg = state.setdefault("avg_g2", torch.zeros_like(p))
        avg.mul_(group["gamma"]).addcmul_(g, g, value=1 - group["gamma"])
        p.addcdiv_(g, (avg + group["eps"]).sqrt(), value=-group["lr"])


class Adam(_Equation):
    """Bias-corrected first and second moments; theta <- theta - alpha m / sqrt(v + eps)."""

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-16) -> None:
        super().__init__(params, {"lr": _positive("Adam", "lr", lr),
                                  "betas": (_decay("Adam", "beta_1", betas[0]),
                                            _decay("Adam", "beta_2", betas[1])),
                                  "eps": _positive("Adam", "eps", eps, allow_zero=True)})

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        (b1, b2), t = group["betas"], state["step"]
        avg_g = state.setdefault("avg_g", torch.zeros_like(p))
        avg_g2 = state.setdefault("avg_g2", torch.zeros_like(p))
        avg_g.mul_(b1).add_(g, alpha=1 - b1)
        avg_g2.mul_(b2).addcmul_(g, g, value=1 - b2)
        m = avg_g / (1 - b1 ** t)
        v = avg_g2 / (1 - b2 ** t)
        p.addcdiv_(m, (v + group["eps"]).sqrt(), value=-group["lr"])


class Adamax(_Equation):
    """u <- max(beta_2 u, |g|); theta <- theta - eta m / u (m bias-corrected)."""

    def __init__(self, params: Params, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params, {"lr": _positive("Adamax", "lr", lr),
                                  "betas": (_decay("Adamax", "beta_1", betas[0]),
                                            _decay("Adamax", "beta_2", betas[1])),
                                  "eps": _positive("Adamax", "eps", eps, allow_zero=True)})

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        (b1, b2), t = group["betas"], state["step"]
        avg_g = state.setdefault("avg_g", torch.zeros_like(p))
        u = state.setdefault("u", torch.zeros_like(p))
        avg_g.mul_(b1).add_(g, alpha=1 - b1)
        # eps keeps u > 0 where a coordinate's gradient has always been 0 (Kingma & Ba divide
        # by u as if it never were).
        torch.maximum(u.mul_(b2), g.abs().add_(group["eps"]), out=u)
        p.addcdiv_(avg_g, u, value=-group["lr"] / (1 - b1 ** t))


class Nadam(_Equation):
    """Adam with Nesterov momentum and Dozat's momentum schedule."""

    def __init__(self, params: Params, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-16,
                 momentum_decay: float = 4e-3) -> None:
        super().__init__(params, {"lr": _positive("Nadam", "lr", lr),
                                  "betas": (_decay("Nadam", "beta_1", betas[0]),
                                            _decay("Nadam", "beta_2", betas[1])),
                                  "eps": _positive("Nadam", "eps", eps, allow_zero=True),
                                  "psi": _positive("Nadam", "momentum_decay", momentum_decay,
                                                   allow_zero=True)})

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        (b1, b2), t, psi = group["betas"], state["step"], group["psi"]
        mu_t = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        product = state.get("mu_product", 1.0) * mu_t
        state["mu_product"] = product
        avg_g = state.setdefault("avg_g", torch.zeros_like(p))
        avg_g2 = state.setdefault("avg_g2", torch.zeros_like(p))
        avg_g.mul_(b1).add_(g, alpha=1 - b1)
        avg_g2.mul_(b2).addcmul_(g, g, value=1 - b2)
        denominator = (avg_g2 / (1 - b2 ** t) + group["eps"]).sqrt()
        p.addcdiv_(g, denominator, value=-group["lr"] * (1 - mu_t) / (1 - product))
        p.addcdiv_(avg_g, denominator, value=-group["lr"] * mu_next / (1 - product * mu_next))


class PolyakAveraging:
    """The average of the iterates of ``params``, updated by :meth:`update` after each step.

    ``beta=None``: Polyak-Ruppert, theta_bar_t = (1 / t) sum_{k <= t} theta_k. ``beta`` in
    (0, 1): the running average with the bias correction theta_bar_t / (1 - beta^t).
    :meth:`averaged` returns the averaged tensors; :meth:`copy_to` writes them into parameters
    (e.g. of a copy of the model, for evaluation)."""

    def __init__(self, params: Iterable[torch.Tensor], beta: float | None = None) -> None:
        self.params = list(params)
        if beta is not None:
            beta = float(beta)
            if not 0.0 < beta < 1.0:
                raise ValueError(f"PolyakAveraging: beta must be in (0, 1) or None, got {beta}")
        self.beta = beta
        self.t = 0
        self._sums = [torch.zeros_like(p, dtype=p.dtype) for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        self.t += 1
        for total, p in zip(self._sums, self.params, strict=True):
            if self.beta is None:
                total.add_(p.detach() - total, alpha=1.0 / self.t)  # the running mean
            else:
                total.mul_(self.beta).add_(p.detach(), alpha=1 - self.beta)

    def averaged(self) -> list[torch.Tensor]:
        if self.t == 0:
            raise RuntimeError("PolyakAveraging: call update() after at least one step first")
        if self.beta is None:
            return [s.clone() for s in self._sums]
        return [s / (1 - self.beta ** self.t) for s in self._sums]

    @torch.no_grad()
    def copy_to(self, params: Iterable[torch.Tensor]) -> None:
        for target, value in zip(list(params), self.averaged(), strict=True):
            target.copy_(value)


#: The optimisers by name, as the supervised study and ``make_optimizer`` know them.
OPTIMIZERS: dict[str, type[_Equation]] = {
    "sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": Adagrad,
    "adadelta": Adadelta, "rmsprop": RMSprop, "adam": Adam, "adamax": Adamax, "nadam": Nadam,
}


def make_optimizer(name: str, params: Params, **kwargs: Any) -> Optimizer:
    """An optimiser of this module by name (see :data:`OPTIMIZERS`)."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimiser {name!r}; choose from "
                         f"{', '.join(sorted(OPTIMIZERS))}") from None
    return cls(params, **kwargs)
