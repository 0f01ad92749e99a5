"""Certification of robustness (Dobriban, *Notes for Stat 991: Topics in Deep Learning*, 2019,
section 6.1, items 4-6): interval bound propagation and exact verification of small ReLU networks
as a mixed-integer program.

Interval bounds (the notes' "if l <= z <= u, then W+ l - W- u <= W z <= W+ u - W- l", with
W+ = max(W, 0), W- = max(-W, 0); Gowal et al. 2018, "On the effectiveness of interval bound
propagation for training verifiably robust models"): propagated layer by layer from the input box
[x - eps, x + eps] (intersected with [0, 1]) through linear and convolutional layers, ReLU and
max-pooling (both monotone). The last layer is folded into the margins: the lower bound of
(e_y - e_j)'(W_d z_d + b_d) uses the rows W_d[y] - W_d[j] directly, which is tighter than
subtracting two logit bounds. An input is certified when every margin's lower bound is > 0.

The bounds are differentiable in the weights, so a network can be trained to be certifiable
(the notes: interval bounds "can be loose in general. However if we train specifically so that
they can be used to certify, they can be better"): :func:`ibp_worst_case_logits` gives Gowal et
al.'s worst-case logits z_hat(x, eps) and :func:`ibp_loss` their training objective
kappa CE(h(x), y) + (1 - kappa) CE(z_hat, y); the loop with its schedules of eps and kappa is
:func:`decisiongym.supervised.robust.ibp_training`.

Exact verification (Tjeng, Xiao & Tedrake 2019, "Evaluating robustness of neural networks with
mixed integer programming"; the notes' combinatorial formulation): for each target class j,

    min (e_y - e_j)'(W_d z_d + b_d)  s.t.  z_{i+1} = ReLU(W_i z_i + b_i), ||z_1 - x||_inf <= eps,

with each unstable ReLU (pre-activation bounds l < 0 < u, from the interval bounds) written with
a binary a: z >= W z_i + b, z >= 0, z <= u a, z <= W z_i + b - l (1 - a). Solved by scipy's
``milp`` (HiGHS). "If the objective is positive for all target classes, this is a verified proof
that there exists no adversarial example" (Dobriban (2019), section 6.1, item 5).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import Tensor, nn

from decisiongym.supervised.models import MLP, LeNet


def layers_of(model: nn.Module) -> list[nn.Module]:
    """The model as a flat list of Flatten / Linear / Conv / ReLU / MaxPool layers.

    Supports :class:`~decisiongym.supervised.models.MLP`, :class:`LeNet` and
    ``nn.Sequential`` of those layers (ReLU networks only)."""
    if isinstance(model, MLP):
        return [nn.Flatten(), *model.net]
    if isinstance(model, LeNet):
        return [*model.features, nn.Flatten(), *layers_of(model.head)]
    if isinstance(model, nn.Sequential):
        out: list[nn.Module] = []
        for m in model:
            out += layers_of(m) if isinstance(m, (MLP, LeNet, nn.Sequential)) else [m]
        return out
    raise TypeError(f"certify: unsupported model {type(model).__name__}; expected an MLP, a "
                    f"LeNet or an nn.Sequential of Linear/Conv2d/ReLU/MaxPool2d/Flatten")


def _interval(layer: nn.Module, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
    if isinstance(layer, nn.Linear):
        wp, wm = layer.weight.clamp_min(0), (-layer.weight).clamp_min(0)
        b = layer.bias if layer.bias is not None else 0.0
        return lo @ wp.T - hi @ wm.T + b, hi @ wp.T - lo @ wm.T + b
    if isinstance(layer, nn.Conv2d):
        wp, wm = layer.weight.clamp_min(0), (-layer.weight).clamp_min(0)

        def conv(t: Tensor, w: Tensor) -> Tensor:
            return F.conv2d(t, w, None, layer.stride, layer.padding, layer.dilation,
                            layer.groups)

        cb: Tensor | float = layer.bias.view(1, -1, 1, 1) if layer.bias is not None else 0.0
        return conv(lo, wp) - conv(hi, wm) + cb, conv(hi, wp) - conv(lo, wm) + cb
    if isinstance(layer, (nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Identity)):
        return layer(lo), layer(hi)  # monotone layers map the box's corners
    raise TypeError(f"certify: no interval rule for layer {type(layer).__name__}")


def _propagate(layers: list[nn.Module], x: Tensor, eps: float | Tensor, low: float,
               high: float) -> list[tuple[Tensor, Tensor]]:
    """The interval bounds of the input box and of every layer's output, with autograd (IBP
    training differentiates them with respect to the weights)."""
    lo = (x - eps).clamp(low, high)
    hi = (x + eps).clamp(low, high)
    out = [(lo, hi)]
    for layer in layers:
        lo, hi = _interval(layer, lo, hi)
        out.append((lo, hi))
    return out


def interval_bounds(model: nn.Module, x: Tensor, eps: float, low: float = 0.0,
                    high: float = 1.0) -> list[tuple[Tensor, Tensor]]:
    """Interval bounds (l, u) of the input and of every layer's output, for inputs in the
    L-infinity ball of radius eps around x intersected with [low, high]."""
    with torch.no_grad():
        return _propagate(layers_of(model), x, eps, low, high)


def _margin_bounds(model: nn.Module, x: Tensor, y: Tensor, eps: float | Tensor, low: float,
                   high: float) -> Tensor:
    """(B, K) lower bounds of h(x')_y - h(x')_j, 0 at j = y; differentiable in the weights."""
    layers = layers_of(model)
    last = layers[-1]
    if not isinstance(last, nn.Linear):
        raise TypeError("certify: the last layer must be nn.Linear")
    lo, hi = _propagate(layers[:-1], x, eps, low, high)[-1]
    lo, hi = lo.flatten(1), hi.flatten(1)
    w = last.weight  # (K, n)
    b = last.bias if last.bias is not None else torch.zeros(w.shape[0], dtype=w.dtype)
    dw = w[y][:, None, :] - w[None]  # (B, K, n): rows W[y] - W[j]
    db = b[y][:, None] - b[None]
    wp, wm = dw.clamp_min(0), (-dw).clamp_min(0)
    return (wp * lo[:, None, :]).sum(-1) - (wm * hi[:, None, :]).sum(-1) + db


def ibp_margin_lower_bounds(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """(B, K): lower bounds on h(x')_y - h(x')_j over the ball (+inf at j = y)."""
    with torch.no_grad():
        m = _margin_bounds(model, x, y, eps, 0.0, 1.0)
        m[torch.arange(len(y)), y] = float("inf")
    return m


def ibp_worst_case_logits(model: nn.Module, x: Tensor, y: Tensor, eps: float | Tensor, *,
                          low: float = 0.0, high: float = 1.0) -> Tensor:
    """Gowal et al.'s (2018) worst-case logits z_hat(x, eps), differentiable in the weights.

    With the last layer folded into the specification ("elision"), entry j is minus the
    interval lower bound of h(x')_y - h(x')_j over the ball, and entry y is 0; since softmax
    cross-entropy depends on logit differences only, CE(z_hat, y) is the loss of the logits
    that put every wrong class as high, relative to y, as the bounds allow. It upper-bounds
    max_{x' in ball} CE(h(x'), y); the input is certified exactly when z_hat's argmax is y with
    every other entry < 0. ``eps``: a number or a (B, 1, ..., 1) tensor."""
    return -_margin_bounds(model, x, y, eps, low, high)


def ibp_loss(model: nn.Module, x: Tensor, y: Tensor, eps: float, kappa: float, *,
             low: float = 0.0, high: float = 1.0) -> Tensor:
    """The IBP training objective of Gowal et al. (2018), a mean over the batch:

        kappa CE(h(x), y) + (1 - kappa) CE(z_hat(x, eps), y),

    the natural loss mixed with the loss of the worst-case logits
    (:func:`ibp_worst_case_logits`); kappa = 1 is ordinary training."""
    natural = F.cross_entropy(model(x), y)
    if kappa >= 1.0 or eps == 0:
        return natural
    worst = F.cross_entropy(ibp_worst_case_logits(model, x, y, eps, low=low, high=high), y)
    return kappa * natural + (1.0 - kappa) * worst


def ibp_certified(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> NDArray[np.bool_]:
    """Per example: True when interval bounds prove no L-infinity eps-attack changes the class
    (the clean prediction must be right too)."""
    with torch.no_grad():
        right = model(x).argmax(1) == y
    m = ibp_margin_lower_bounds(model, x, y, eps)
    return (right & (m.min(1).values > 0)).numpy()


class MILPResult(NamedTuple):
    """Exact verification of one input: ``certified``; per target class the minimal margin
    (None where the solver failed); a counterexample input when one exists."""

    certified: bool
    margins: dict[int, float]
    counterexample: NDArray[np.float64] | None


def milp_verify(model: nn.Module, x: Tensor, y: int, eps: float, *, low: float = 0.0,
                high: float = 1.0, time_limit: float = 30.0) -> MILPResult:
    """Exact L-infinity verification of an MLP (Linear/ReLU layers) at one input x (C, H, W),
    one mixed-integer program per target class j != y (scipy ``milp``). Certified when every
    minimal margin (e_y - e_j)' h(x') is > 0."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    layers = [m for m in layers_of(model) if not isinstance(m, (nn.Flatten, nn.Identity))]
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    if not all(isinstance(m, (nn.Linear, nn.ReLU)) for m in layers) or \
            len(linears) != len([m for m in layers if isinstance(m, nn.ReLU)]) + 1:
        raise TypeError("milp_verify: the model must alternate Linear and ReLU layers "
                        "(an MLP with ReLU activations)")
    bounds = interval_bounds(model, x[None], eps, low, high)
    # Pre-activation bounds of every hidden Linear layer (the outputs of those layers).
    pre_bounds: list[tuple[NDArray[np.float64], NDArray[np.float64]]] = []
    k = 0
    for i, layer in enumerate(layers_of(model)):
        if isinstance(layer, nn.Linear):
            k += 1
            if k < len(linears):
                pl, ph = bounds[i + 1]
                pre_bounds.append((pl[0].double().numpy(), ph[0].double().numpy()))
    x0 = x.reshape(-1).double().numpy()
    n0 = x0.size
    # Variables: z_1 (n0), then per hidden layer: z (n_i) and a (n_i).
    sizes = [n0]
    offsets = [0]
    a_offsets = []
    nvar = n0
    for pl_, _ in pre_bounds:
        offsets.append(nvar)
        nvar += pl_.size
        a_offsets.append(nvar)
        nvar += pl_.size
        sizes.append(pl_.size)
    lb = np.zeros(nvar)
    ub = np.zeros(nvar)
    integrality = np.zeros(nvar)
    lb[:n0] = np.clip(x0 - eps, low, high)
    ub[:n0] = np.clip(x0 + eps, low, high)
    rows: list[NDArray[np.float64]] = []
    rlo: list[float] = []
    rhi: list[float] = []
    for h, (lo_h, hi_h) in enumerate(pre_bounds):
        W = linears[h].weight.detach().double().numpy()
        b = linears[h].bias.detach().double().numpy()
        zin, zo, ao = offsets[h], offsets[h + 1], a_offsets[h]
        nin = sizes[h]
        for r in range(lo_h.size):
            lb[zo + r] = 0.0
            ub[zo + r] = max(float(hi_h[r]), 0.0)
            lb[ao + r], ub[ao + r] = 0.0, 1.0
            integrality[ao + r] = 1
            if hi_h[r] <= 0:  # always off: z = 0
                ub[zo + r] = 0.0
                ub[ao + r] = 0.0
                continue
            row = np.zeros(nvar)
            row[zin:zin + nin] = -W[r]
            row[zo + r] = 1.0
            if lo_h[r] >= 0:  # always on: z = W z_in + b
                rows.append(row)
                rlo.append(b[r])
                rhi.append(b[r])
                lb[ao + r] = 1.0
                continue
            rows.append(row)  # z - W z_in >= b
            rlo.append(b[r])
            rhi.append(np.inf)
            row2 = np.zeros(nvar)  # z - u a <= 0
            row2[zo + r] = 1.0
            row2[ao + r] = -hi_h[r]
            rows.append(row2)
            rlo.append(-np.inf)
            rhi.append(0.0)
            row3 = np.zeros(nvar)  # z - W z_in - l a <= b - l
            row3[zin:zin + nin] = -W[r]
            row3[zo + r] = 1.0
            row3[ao + r] = -lo_h[r]
            rows.append(row3)
            rlo.append(-np.inf)
            rhi.append(b[r] - lo_h[r])
    Wd = linears[-1].weight.detach().double().numpy()
    bd = linears[-1].bias.detach().double().numpy()
    zd = offsets[-1]
    margins: dict[int, float] = {}
    counterexample = None
    cons = [LinearConstraint(np.array(rows), np.array(rlo), np.array(rhi))] if rows else []
    for j in range(Wd.shape[0]):
        if j == y:
            continue
        c = np.zeros(nvar)
        c[zd:zd + sizes[-1]] = Wd[y] - Wd[j]
        res = milp(c, constraints=cons, integrality=integrality, bounds=Bounds(lb, ub),
                   options={"time_limit": time_limit})
        if res.x is None:
            margins[j] = float("nan")
            continue
        value = float(res.fun + bd[y] - bd[j])
        # Only a proven optimum certifies; a feasible point with a margin <= 0 refutes.
        margins[j] = value if res.status == 0 else float("nan")
        if value <= 0 and counterexample is None:
            counterexample = res.x[:n0].copy()
    certified = all(np.isfinite(v) and v > 0 for v in margins.values())
    return MILPResult(certified, margins, counterexample)


__all__ = ["MILPResult", "ibp_certified", "ibp_loss", "ibp_margin_lower_bounds",
           "ibp_worst_case_logits", "interval_bounds", "layers_of", "milp_verify"]
