"""Adversarial examples (Dobriban, *Notes for Stat 991: Topics in Deep Learning*, 2019, section
6.1): white-box attacks in torch, batched over examples, and a black-box attacker that only sees
losses.

The inner problem of Dobriban (2019), section 6.1, is, for a model f with loss L and an example
(x, y),

    max_{delta in Delta} L(f(x + delta), y),   Delta = {||delta||_p <= eps},

with x + delta also kept in the valid input range [low, high] (pixels in [0, 1]).

- :func:`fgsm`: the Fast Gradient Sign Method (Goodfellow, Shlens & Szegedy 2015,
  "Explaining and harnessing adversarial examples"): x + eps sign(grad_x L), one step.
- :func:`pgd`: projected gradient ascent (Kurakin et al. 2017; Madry et al. 2018, "Towards deep
  learning models resistant to adversarial attacks"), with the notes' steepest-ascent step
  delta <- Proj_Delta[delta + argmax_{||v|| <= alpha} v' grad]: alpha sign(grad) under
  L-infinity, alpha grad / ||grad||_2 under L2; random start in the ball and restarts (the
  worst case over restarts is kept per example). ``targeted`` uses the notes' logit-difference
  objective max_delta h(x + delta)_target - h(x + delta)_y (the log-sum-exp cancels).
  ``eot_samples`` > 1 attacks a randomized model by expectation over transformations
  (Athalye, Carlini & Wagner 2018, "Obfuscated gradients give a false sense of security";
  Athalye et al. 2018, "Synthesizing robust adversarial examples"): the loss is that of the
  averaged prediction, max_delta L(E_t f(t(x + delta))), estimated by Monte Carlo, whose
  gradient is E_t grad f(t(x + delta)).
- :func:`nes_attack`: black-box PGD whose gradient is estimated from loss queries alone by
  natural evolution strategies with antithetic Gaussian samples (Ilyas, Engstrom, Athalye & Lin
  2018, "Black-box adversarial attacks with limited queries and information"):
  g = 1 / (2 n sigma) sum_i [L(x + sigma u_i) - L(x - sigma u_i)] u_i.
- :func:`carlini_wagner_l2`: Carlini & Wagner's (2017) L2 attack, one of the notes' "variants
  of PGD for different norm bounds" that minimises the distortion instead of fixing it:
  min ||x' - x||_2^2 + c f_6(x') over x' = (tanh(w) + 1) / 2 by Adam on w, f_6 the logit
  margin floored at -kappa, c by binary search.
- :func:`square_attack`: the Square attack (Andriushchenko, Croce, Flammarion & Hein 2020), a
  black-box, score-based L-infinity attack by random search over square-shaped vertex updates
  of the margin loss, with the authors' schedule of the square's size; queries counted.
- :func:`linear_worst_case_margin`: the notes' closed form for a linear model,
  max_{||delta|| <= eps} L(y theta'(x + delta)) = L(y theta'x - eps ||theta||_*), with ||.||_*
  the dual norm (L1 for L-infinity, L2 for L2).

Every attack returns the adversarial inputs; the perturbation always lies in the eps-ball and
x + delta in [low, high] (``low``/``high`` None: unbounded).

>>> import torch
>>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
>>> x, y = torch.rand(5, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1])
>>> x_adv = pgd(net, x, y, eps=0.1, steps=5, step_size=0.05,
...             generator=torch.Generator().manual_seed(0))
>>> bool(((x_adv - x).abs() <= 0.1 + 1e-7).all() and (x_adv >= 0).all() and (x_adv <= 1).all())
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike, NDArray
from torch import Tensor, nn

from decisiongym.validation import check_choice, check_float

NORMS = ("linf", "l2")


def _check_norm(owner: str, norm: str) -> str:
    return check_choice(owner, "norm", norm, NORMS, expected="'linf' or 'l2'")


def _check_eps(owner: str, eps: float) -> float:
    """A number >= 0; infinity is allowed (an unbounded attack)."""
    return check_float(owner, "eps", eps, low=0.0, finite=False, expected="a number >= 0")


def _flat_norm(t: Tensor, norm: str) -> Tensor:
    """Per-example norm, shape (B, 1, ..., 1) broadcastable against t."""
    flat = t.flatten(1)
    n = flat.abs().amax(1) if norm == "linf" else flat.norm(dim=1)
    return n.view(-1, *([1] * (t.dim() - 1)))


def project(delta: Tensor, eps: float, norm: str = "linf") -> Tensor:
    """Proj_Delta: the Euclidean projection onto the eps-ball of ``norm`` (per example).

    L-infinity: clip each coordinate to [-eps, eps]; L2: rescale rows with ||delta||_2 > eps."""
    if _check_norm("project", norm) == "linf":
        return delta.clamp(-eps, eps)
    n = _flat_norm(delta, "l2")
    return delta * torch.clamp(eps / n.clamp_min(1e-12), max=1.0)


def clip_to_range(x: Tensor, delta: Tensor, low: float | None, high: float | None) -> Tensor:
    """The perturbation that keeps x + delta in [low, high] (None: no bound on that side).

    Clipping after the ball's projection stays inside the ball for both norms: it only moves
    coordinates of delta towards 0."""
    if low is None and high is None:
        return delta
    return (x + delta).clamp(low, high) - x


def _margin(scores: Tensor, y: Tensor) -> Tensor:
    """max_{j != y} s_j - s_y: positive exactly when the class is wrong."""
    other = scores.clone()
    other[torch.arange(len(y)), y] = -float("inf")
    return other.amax(1) - scores.gather(1, y[:, None])[:, 0]


def _loss_per_example(model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None,
                      eot_samples: int, loss: str = "ce") -> Tensor:
    """The objective to maximise, one value per example.

    Untargeted: cross-entropy of the prediction (of the averaged softmax when eot_samples > 1).
    Targeted: the logit difference h_target - h_y of Dobriban (2019), section 6.1 (of the averaged
    log-probabilities when eot_samples > 1)."""
    if eot_samples == 1:
        logits = model(x)
        if target is None and loss == "margin":
            return _margin(logits, y)
        if target is None:
            return F.cross_entropy(logits, y, reduction="none")
        return logits.gather(1, target[:, None])[:, 0] - logits.gather(1, y[:, None])[:, 0]
    probs = torch.stack([F.softmax(model(x), dim=1) for _ in range(eot_samples)]).mean(0)
    logp = probs.clamp_min(1e-12).log()
    if target is None and loss == "margin":
        return _margin(logp, y)
    if target is None:
        return -logp.gather(1, y[:, None])[:, 0]
    return logp.gather(1, target[:, None])[:, 0] - logp.gather(1, y[:, None])[:, 0]


def _success(model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    with torch.no_grad():
        pred = model(x).argmax(1)
    return pred == target if target is not None else pred != y


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float, *, low: float | None = 0.0,
         high: float | None = 1.0, target: Tensor | None = None) -> Tensor:
    """Goodfellow et al. (2015): x + eps sign(grad_x L(W, x, y)), clipped to [low, high].

    As Dobriban (2019), section 6.1, remarks, it is one PGD step of infinite size under L-infinity,
    which always lands on a corner of the box. ``target``: one target class per example
    (logit-difference loss)."""
    eps = _check_eps("fgsm", eps)
    x = x.detach()
    xr = x.clone().requires_grad_(True)
    loss = _loss_per_example(model, xr, y, target, 1).sum()
    (grad,) = torch.autograd.grad(loss, xr)
    delta = clip_to_range(x, eps * grad.sign(), low, high)
    return (x + delta).detach()


def pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, *, norm: str = "linf",
        steps: int = 40, step_size: float = 0.01, random_start: bool = True,
        restarts: int = 1, target: Tensor | None = None, eot_samples: int = 1,
        low: float | None = 0.0, high: float | None = 1.0,
        generator: torch.Generator | None = None, keep_best: bool = True,
        loss: str = "ce") -> Tensor:
    """Projected gradient ascent on the loss (Dobriban (2019), section 6.1; Madry et al. 2018).

    - ``norm``: "linf" (step alpha sign(g)) or "l2" (step alpha g / ||g||_2).
    - ``steps``, ``step_size`` (alpha): Madry et al.'s MNIST threat model is eps = 0.3,
      40 steps of 0.01 in training and 100 steps (with restarts) in evaluation.
    - ``random_start``: delta_0 uniform in the L-infinity ball, or uniform direction and
      radius eps U^(1/d) in the L2 ball; ``restarts`` >= 1 runs, keeping per example the
      first successful perturbation, else the one with the highest loss.
    - ``target``: per-example target classes (maximise h_target - h_y; success = target hit).
    - ``eot_samples``: Monte Carlo samples of a randomized model per step (EOT).
    - ``generator``: the torch generator of the random starts (None: torch's global one).
    - ``loss``: "ce" (cross-entropy, the default) or "margin" (max_{j != y} h_j - h_y,
      Carlini & Wagner 2017), untargeted only; the margin is positive exactly when the model
      is fooled, which cross-entropy is not.
    - ``keep_best``: True (default) keeps, per example, the first iterate that fools the
      model (a higher loss does not always mean a wrong class: without this, PGD can end on
      a point of higher loss that is classified right where FGSM's point was not); False
      returns the last iterate of each restart, as torchattacks' PGD does (and the loss
      maximiser the closed form of a linear model describes). Not used with EOT.
    """
    eps = _check_eps("pgd", eps)
    norm = _check_norm("pgd", norm)
    if loss not in ("ce", "margin"):
        raise ValueError(f"pgd: loss must be 'ce' or 'margin', got {loss!r}")
    if steps < 0 or restarts < 1 or eot_samples < 1:
        raise ValueError(f"pgd: need steps >= 0, restarts >= 1, eot_samples >= 1; got "
                         f"{steps}, {restarts}, {eot_samples}")
    x = x.detach()
    best = x.clone()
    best_score = torch.full((x.shape[0],), -float("inf"))
    for _ in range(restarts):
        if random_start and eps > 0:
            if norm == "linf":
                delta = (torch.rand(x.shape, generator=generator) * 2 - 1) * eps
            else:
                d = x[0].numel()
                u = torch.randn(x.shape, generator=generator)
                u = u / _flat_norm(u, "l2").clamp_min(1e-12)
                r = torch.rand((x.shape[0],), generator=generator) ** (1.0 / d) * eps
                delta = u * r.view(-1, *([1] * (x.dim() - 1)))
            delta = clip_to_range(x, delta.to(x.dtype), low, high)
        else:
            delta = torch.zeros_like(x)
        # a randomized model's single draw says little: no tracking under EOT
        track = keep_best and eot_samples == 1
        fooled = torch.zeros(x.shape[0], dtype=torch.bool)
        first = x.clone()
        for _ in range(steps):
            if track:
                hit = _success(model, x + delta, y, target) & ~fooled
                first[hit] = (x + delta)[hit]
                fooled |= hit
            delta.requires_grad_(True)
            objective = _loss_per_example(model, x + delta, y, target, eot_samples, loss).sum()
            (g,) = torch.autograd.grad(objective, delta)
            with torch.no_grad():
                if norm == "linf":
                    step = step_size * g.sign()
                else:
                    step = step_size * g / _flat_norm(g, "l2").clamp_min(1e-12)
                delta = clip_to_range(x, project(delta + step, eps, norm), low, high)
        with torch.no_grad():
            x_adv = torch.where(fooled.view(-1, *([1] * (x.dim() - 1))), first, x + delta)
            score = _loss_per_example(model, x_adv, y, target, eot_samples, loss)
            # a success outranks any loss: prefer perturbations that fool the model
            score = score + 1e6 * _success(model, x_adv, y, target).float()
            better = score > best_score
            best[better] = x_adv[better]
            best_score = torch.where(better, score, best_score)
    return best.detach()


class NESResult(NamedTuple):
    """What :func:`nes_attack` found: the inputs, success and queries per example."""

    x_adv: Tensor
    success: NDArray[np.bool_]
    queries: NDArray[np.int64]


def nes_attack(loss_fn: Callable[[Tensor, Tensor], Tensor],
               predict_fn: Callable[[Tensor], Tensor],
               x: Tensor, y: Tensor, eps: float, *, sigma: float = 0.01,
               n_samples: int = 20, step_size: float = 0.01, max_queries: int = 2000,
               low: float | None = 0.0, high: float | None = 1.0,
               generator: torch.Generator | None = None) -> NESResult:
    """Black-box L-infinity attack of Ilyas et al. (2018): PGD with NES gradient estimates.

    The attacker sees only ``loss_fn(x, y) -> (B,)`` (the victim's loss at each queried input
    for its true label, one query per example per call) and ``predict_fn(x) -> (B,)`` (the
    predicted label, to stop on success). Each iteration costs 2 ``n_samples`` loss queries
    (antithetic pairs x +- sigma u, u ~ N(0, I)) and one prediction query; examples stop once
    fooled.
    """
    eps = _check_eps("nes_attack", eps)
    x = x.detach()
    b = x.shape[0]
    delta = torch.zeros_like(x)
    queries = np.zeros(b, dtype=np.int64)
    done = np.zeros(b, dtype=bool)
    with torch.no_grad():
        pred = predict_fn(x)
        queries += 1
        done |= (pred != y).numpy()
        while True:
            active = np.flatnonzero(~done & (queries + 2 * n_samples + 1 <= max_queries))
            if active.size == 0:
                break
            idx = torch.as_tensor(active)
            xa, da, ya = x[idx], delta[idx], y[idx]
            grad = torch.zeros_like(da)
            for _ in range(n_samples):
                u = torch.randn(da.shape, generator=generator)
                plus = loss_fn(xa + clip_to_range(xa, da + sigma * u, low, high), ya)
                minus = loss_fn(xa + clip_to_range(xa, da - sigma * u, low, high), ya)
                grad += (plus - minus).view(-1, *([1] * (x.dim() - 1))) * u
            grad /= 2 * n_samples * sigma
            da = clip_to_range(xa, project(da + step_size * grad.sign(), eps, "linf"),
                               low, high)
            delta[idx] = da
            queries[active] += 2 * n_samples + 1
            done[active] |= (predict_fn(xa + da) != ya).numpy()
    return NESResult((x + delta).detach(), done, queries)


class CWResult(NamedTuple):
    """What :func:`carlini_wagner_l2` found, per example: the inputs (x itself where it failed),
    success, the L2 norm of the perturbation (inf where it failed) and the constant c of the
    binary search that found it (nan where it failed)."""

    x_adv: Tensor
    success: NDArray[np.bool_]
    l2: NDArray[np.float64]
    const: NDArray[np.float64]


def _cw_objective(logits: Tensor, y: Tensor, target: Tensor | None, kappa: float) -> Tensor:
    """Carlini & Wagner's f_6, per example: untargeted max(Z_y - max_{j != y} Z_j, -kappa),
    targeted max(max_{j != t} Z_j - Z_t, -kappa); <= 0 exactly when the attack succeeds."""
    if target is None:
        return (-_margin(logits, y)).clamp_min(-kappa)
    return _margin(logits, target).clamp_min(-kappa)


def _cw_success(logits: Tensor, y: Tensor, target: Tensor | None, kappa: float) -> Tensor:
    """Success with confidence kappa: the wrong class (or the target) wins by at least kappa."""
    if target is None:
        return (logits.argmax(1) != y) & (_margin(logits, y) >= kappa)
    return (logits.argmax(1) == target) & (-_margin(logits, target) <= -kappa)


def carlini_wagner_l2(model: nn.Module, x: Tensor, y: Tensor, *, kappa: float = 0.0,
                      steps: int = 200, lr: float = 0.1, binary_search_steps: int = 9,
                      initial_const: float = 1.0, target: Tensor | None = None,
                      low: float = 0.0, high: float = 1.0,
                      abort_early: bool = True) -> CWResult:
    """Carlini & Wagner's L2 attack (Carlini & Wagner 2017, "Towards evaluating the robustness of
    neural networks"), batched over examples.

    The change of variable x' = low + (high - low) (tanh(w) + 1) / 2 keeps x' in the box for
    every w, so the box constraint disappears and w is free. For each example the attack
    minimises

        ||x' - x||_2^2 + c f_6(x'),   f_6(x') = max(Z(x')_y - max_{j != y} Z(x')_j, -kappa)

    (Z the logits; targeted: max(max_{j != t} Z_j - Z_t, -kappa)) by ``steps`` Adam steps on w
    (learning rate ``lr``) from w = atanh of x, and finds c by a binary
    search of ``binary_search_steps`` rounds per example, starting at ``initial_const``: after a
    round that succeeded, c moves down to the midpoint with the last failing c (the smallest c
    that still succeeds gives the least distortion); after one that failed, up to the midpoint
    with the last succeeding c, or times 10 while none has succeeded. Across all rounds the
    successful x' of smallest L2 norm is kept. ``kappa`` > 0 asks for high-confidence examples
    (the wrong class ahead by kappa). ``abort_early``: a round stops once no example's loss has
    improved by 0.01% over the last ``steps`` / 10 steps (the authors' code tests the batch's
    total, which lets the easy examples end the round of the hard ones). The authors' code
    runs up to 10,000 steps of learning rate 1e-2 and 9 rounds from c = 1e-3; here 200 steps
    of 0.1 from c = 1 by default, for tiny networks: at 1e-2, a pixel at 0 or 1 (w = -+7.25,
    where tanh is flat) barely moves within a few hundred steps.
    """
    if steps < 1 or binary_search_steps < 1 or kappa < 0 or lr <= 0 or initial_const <= 0:
        raise ValueError(f"carlini_wagner_l2: need steps >= 1, binary_search_steps >= 1, "
                         f"kappa >= 0, lr > 0, initial_const > 0; got {steps}, "
                         f"{binary_search_steps}, {kappa}, {lr}, {initial_const}")
    if not high > low:
        raise ValueError(f"carlini_wagner_l2: need high > low, got {low}, {high}")
    x = x.detach()
    b = x.shape[0]
    view = (-1, *([1] * (x.dim() - 1)))
    scale = high - low
    w0 = torch.atanh(((x - low) / scale * 2 - 1).clamp(-1, 1) * (1 - 1e-6))
    const = torch.full((b,), float(initial_const), dtype=x.dtype)
    lower = torch.zeros(b, dtype=x.dtype)
    upper = torch.full((b,), float("inf"), dtype=x.dtype)
    best_l2 = torch.full((b,), float("inf"), dtype=x.dtype)
    best_c = torch.full((b,), float("nan"), dtype=x.dtype)
    best = x.clone()
    patience = max(steps // 10, 1)
    for _ in range(binary_search_steps):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        round_success = torch.zeros(b, dtype=torch.bool)
        previous = torch.full((b,), float("inf"), dtype=x.dtype)
        for step in range(steps):
            x_new = low + scale * (torch.tanh(w) + 1) / 2
            dist = (x_new - x).flatten(1).pow(2).sum(1)
            logits = model(x_new)
            each = dist + const * _cw_objective(logits, y, target, kappa)
            loss = each.sum()
            with torch.no_grad():
                hit = _cw_success(logits, y, target, kappa)
                l2 = dist.sqrt()
                improved = hit & (l2 < best_l2)
                best_l2 = torch.where(improved, l2, best_l2)
                best_c = torch.where(improved, const, best_c)
                best[improved] = x_new.detach()[improved]
                round_success |= hit
            if abort_early and step % patience == 0:
                # per example: stalled when its loss fell by less than 0.01%; the round ends
                # once every example has stalled (the authors test the batch's total)
                current = each.detach()
                if bool((current > previous * 0.9999).all()):
                    break
                previous = torch.minimum(previous, current)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():  # the binary search on c, per example
            upper = torch.where(round_success, torch.minimum(upper, const), upper)
            lower = torch.where(round_success, lower, torch.maximum(lower, const))
            const = torch.where(torch.isfinite(upper), (lower + upper) / 2, const * 10)
    success = torch.isfinite(best_l2)
    best = torch.where(success.view(view), best, x)
    return CWResult(best.detach(), success.numpy(), best_l2.double().numpy(),
                    best_c.double().numpy())


class SquareResult(NamedTuple):
    """What :func:`square_attack` found, per example: the inputs, success, the queries spent
    (the first one included) and the final margin Z_y - max_{j != y} Z_j (< 0: fooled)."""

    x_adv: Tensor
    success: NDArray[np.bool_]
    queries: NDArray[np.int64]
    margin: NDArray[np.float64]


def square_p(p_init: float, iteration: int, max_iterations: int) -> float:
    """The Square attack's schedule of p, the fraction of the image a square covers
    (Andriushchenko et al. 2020; their code's ``p_selection``): p_init, halved at iterations
    10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of a 10,000-iteration run, the
    iteration rescaled to that length."""
    it = int(iteration / max_iterations * 10000)
    for k, edge in enumerate((10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000, 10000)):
        if it <= edge:
            return p_init / 2 ** k
    return p_init


def square_attack(scores_fn: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, eps: float, *,
                  p_init: float = 0.05, max_queries: int = 1000, low: float = 0.0,
                  high: float = 1.0, generator: torch.Generator | None = None) -> SquareResult:
    """The L-infinity Square attack (Andriushchenko, Croce, Flammarion & Hein 2020, "Square
    attack: a query-efficient black-box adversarial attack via random search"), batched.

    Black-box and score-based: the attacker sees only ``scores_fn(x) -> (B, K)`` (the victim's
    logits; one query per example per call) and minimises the margin loss
    Z_y - max_{j != y} Z_j by random search over the vertices of the eps-box:

    - start: vertical stripes, x + eps s with one random sign s per column and channel;
    - iteration i: a square of side h = max(round(sqrt(p_i n / C)), 1) (n = C H W inputs,
      p_i = :func:`square_p` of ``p_init``, with ``max_queries`` as the run's length) at a
      uniformly random position; inside it, every channel's perturbation is set to one fresh
      random sign times eps (redrawn while that would leave the square as it was); the
      candidate is kept when its margin is lower than the current one.

    Examples stop once fooled (margin < 0); each of their queries is counted, the first one
    included. Returns :class:`SquareResult`; the perturbation always lies in the eps-ball and
    x + delta in [low, high].
    """
    eps = _check_eps("square_attack", eps)
    if not 0 < p_init <= 1 or max_queries < 1:
        raise ValueError(f"square_attack: need 0 < p_init <= 1 and max_queries >= 1, got "
                         f"{p_init}, {max_queries}")
    x = x.detach()
    if x.dim() != 4:
        raise ValueError(f"square_attack: x must be images (B, C, H, W), got {tuple(x.shape)}")
    b, c, h, w = x.shape
    queries = np.zeros(b, dtype=np.int64)

    def margin_of(xq: Tensor, yq: Tensor) -> Tensor:
        return -_margin(scores_fn(xq), yq)

    with torch.no_grad():
        signs = torch.randint(0, 2, (b, c, 1, w), generator=generator).to(x.dtype) * 2 - 1
        x_best = (x + eps * signs).clamp(low, high)
        margin = margin_of(x_best, y)
        queries += 1
        rows_h = torch.arange(h)
        rows_w = torch.arange(w)
        for i in range(max_queries - 1):
            active = torch.nonzero(margin >= 0).flatten()
            if active.numel() == 0:
                break
            xa, xb, ya = x[active], x_best[active], y[active]
            n = len(active)
            # the authors' side: round(sqrt(p n / C)) with n = C H W, within [1, H - 1]
            side = round(float(np.sqrt(square_p(p_init, i, max_queries) * h * w)))
            side = min(max(side, 1), max(min(h, w) - 1, 1))
            top = torch.randint(0, h - side + 1, (n,), generator=generator)
            left = torch.randint(0, w - side + 1, (n,), generator=generator)
            in_h = (rows_h[None] >= top[:, None]) & (rows_h[None] < top[:, None] + side)
            in_w = (rows_w[None] >= left[:, None]) & (rows_w[None] < left[:, None] + side)
            window = (in_h[:, :, None] & in_w[:, None, :])[:, None]  # (n, 1, h, w)
            delta = xb - xa
            new = delta.clone()
            redraw = torch.ones(n, dtype=torch.bool)
            for _ in range(10):  # redraw signs that would leave the square unchanged
                s = torch.randint(0, 2, (n, c, 1, 1), generator=generator).to(x.dtype) * 2 - 1
                cand = torch.where(window, eps * s, delta)
                new = torch.where(redraw.view(-1, 1, 1, 1), cand, new)
                moved = ((xa + new).clamp(low, high) - xb).abs() * window
                redraw = moved.flatten(1).amax(1) < 1e-7
                if not redraw.any():
                    break
            x_new = (xa + new).clamp(low, high)
            m_new = margin_of(x_new, ya)
            queries[active.numpy()] += 1
            better = m_new < margin[active]
            idx = active[better]
            x_best[idx] = x_new[better]
            margin[idx] = m_new[better]
    return SquareResult(x_best.detach(), (margin < 0).numpy(), queries,
                        margin.double().numpy())


def linear_worst_case_margin(theta: ArrayLike, x: ArrayLike, y: ArrayLike, eps: float,
                             norm: str = "linf") -> NDArray[np.float64]:
    """The closed form of Dobriban (2019), section 6.1:
    min_{||delta|| <= eps} y theta'(x + delta) = y theta'x - eps ||theta||_*, for x (B, d),
    y in {-1, +1}; any decreasing loss L of the margin attains
    its maximum over the ball at L(this). No input-range constraint."""
    theta = np.asarray(theta, dtype=np.float64).ravel()
    linf = _check_norm("linear_worst_case_margin", norm) == "linf"
    dual = np.abs(theta).sum() if linf else np.linalg.norm(theta)
    xm = np.asarray(x, dtype=np.float64).reshape(len(np.atleast_1d(y)), -1)
    return np.asarray(np.asarray(y, dtype=np.float64) * (xm @ theta) - eps * dual)


def robust_accuracy(model: nn.Module, x: Tensor, y: Tensor, x_adv: Tensor | None = None,
                    batch: int = 512) -> float:
    """Accuracy on ``x_adv`` (or on x when None) against the true labels y."""
    inputs = x if x_adv is None else x_adv
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += int((model(inputs[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / max(len(y), 1)


__all__ = ["NORMS", "CWResult", "NESResult", "SquareResult", "carlini_wagner_l2",
           "clip_to_range", "fgsm", "linear_worst_case_margin", "nes_attack", "pgd", "project",
           "robust_accuracy", "square_attack", "square_p"]
