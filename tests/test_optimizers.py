"""The optimisers of ``decisiongym.supervised.optim``, written from their update equations
(Dobriban (2019), section 6.5), step for step against ``torch.optim`` on the same problem."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from decisiongym.supervised import optim


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)  # float64: the comparison is of the methods, not of rounding
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(),
                               torch.nn.Linear(8, 3)).double()


def _data(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 6, generator=g, dtype=torch.float64)
    return x, torch.randint(0, 3, (64,), generator=g)


def _train(model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int = 60,
           after: Any = None) -> list[torch.Tensor]:
    x, y = _data()
    for i in range(steps):
        batch = slice((i * 16) % 64, (i * 16) % 64 + 16)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
        opt.step()
        if after is not None:
            after()
    return [p.detach().clone() for p in model.parameters()]


# (ours, its kwargs, torch's, its kwargs): the same method with matching constants. The notes
# put eps inside the square root and torch outside; with eps = 0 on both sides the updates are
# the same equations (test_eps_inside_the_root covers the default).
PAIRS = [
    ("sgd", {"lr": 0.1}, torch.optim.SGD, {"lr": 0.1}),
    ("momentum", {"lr": 0.05, "gamma": 0.9}, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    ("nesterov", {"lr": 0.05, "gamma": 0.9}, torch.optim.SGD,
     {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("adagrad", {"lr": 0.1, "eps": 0}, torch.optim.Adagrad, {"lr": 0.1, "eps": 0}),
    ("adadelta", {"gamma": 0.9, "eps": 1e-6}, torch.optim.Adadelta, {"rho": 0.9, "eps": 1e-6}),
    ("rmsprop", {"lr": 0.01, "gamma": 0.99, "eps": 0}, torch.optim.RMSprop,
     {"lr": 0.01, "alpha": 0.99, "eps": 0}),
    ("adam", {"lr": 0.01, "eps": 0}, torch.optim.Adam, {"lr": 0.01, "eps": 0}),
    ("adamax", {"lr": 0.01, "eps": 1e-8}, torch.optim.Adamax, {"lr": 0.01, "eps": 1e-8}),
    ("nadam", {"lr": 0.01, "eps": 0}, torch.optim.NAdam, {"lr": 0.01, "eps": 0}),
]


@pytest.mark.parametrize("name,ours,cls,theirs", PAIRS, ids=[p[0] for p in PAIRS])
def test_equal_to_torch_optim(name: str, ours: dict[str, Any], cls: type, theirs: dict[str, Any]
                              ) -> None:
    a, b = _model(), _model()
    mine = _train(a, optim.make_optimizer(name, a.parameters(), **ours))
    reference = _train(b, cls(b.parameters(), **theirs))
    start = [p.detach() for p in _model().parameters()]
    moved = max(float((m - s).abs().max()) for m, s in zip(mine, start, strict=True))
    assert moved > 1e-2  # it did train
    for m, r in zip(mine, reference, strict=True):
        torch.testing.assert_close(m, r, rtol=1e-6, atol=1e-7)


def test_eps_inside_the_root() -> None:
    # One Adam step from zero moments on a gradient g: the notes' sqrt(v + eps) with the
    # default eps = 1e-16 against torch's sqrt(v) + 1e-8, both about |g| for |g| >> 1e-8.
    g = torch.tensor([1e-3, 1e-4, 1.0], dtype=torch.float64)
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    p.grad = g.clone()
    optim.Adam([p], lr=0.1).step()
    # m = g, v = g^2 after bias correction: the step is lr * g / sqrt(g^2 + 1e-16).
    expected = -0.1 * g / (g ** 2 + 1e-16).sqrt()
    torch.testing.assert_close(p.detach(), expected)
    assert torch.all((p.detach() + 0.1).abs() < 1e-5)  # about -lr * sign(g)


def test_nesterov_is_the_notes_lookahead_update() -> None:
    # On f(theta) = theta^2 / 2 (gradient theta), the notes' update by hand:
    # v_t = gamma v_{t-1} + eta (theta_t - gamma v_{t-1}); theta_{t+1} = theta_t - v_t.
    eta, gamma, theta, v = 0.1, 0.9, 1.0, 0.0
    p = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = optim.Nesterov([p], lr=eta, gamma=gamma)
    for _ in range(20):
        v = gamma * v + eta * (theta - gamma * v)
        theta = theta - v
        opt.zero_grad()
        (p ** 2 / 2).sum().backward()
        opt.step()
        # The optimiser holds the look-ahead point phi = theta - gamma v.
        assert float(p.detach()) == pytest.approx(theta - gamma * v, abs=1e-12)


def test_polyak_ruppert_average_equals_torch_averaged_model() -> None:
    a, b = _model(), _model()
    average = optim.PolyakAveraging(a.parameters())
    _train(a, optim.SGD(a.parameters(), lr=0.1), after=average.update)
    reference = torch.optim.swa_utils.AveragedModel(b)
    opt = torch.optim.SGD(b.parameters(), lr=0.1)
    _train(b, opt, after=lambda: reference.update_parameters(b))
    for mine, theirs in zip(average.averaged(), reference.module.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs.detach(), rtol=1e-5, atol=1e-6)


def test_running_average_is_bias_corrected() -> None:
    p = torch.nn.Parameter(torch.tensor([2.0], dtype=torch.float64))
    avg = optim.PolyakAveraging([p], beta=0.9)
    avg.update()
    # After one step of a constant parameter the corrected average is the parameter itself.
    assert float(avg.averaged()[0]) == pytest.approx(2.0)
    target = copy.deepcopy(p)
    avg.copy_to([target])
    assert float(target.detach()) == pytest.approx(2.0)


def test_bad_arguments_name_what_was_wrong() -> None:
    p = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match="Adam: beta_2 must be in"):
        optim.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="SGD: lr must be > 0"):
        optim.SGD(p, lr=0)
    with pytest.raises(ValueError, match="unknown optimiser 'adamw'"):
        optim.make_optimizer("adamw", p)
    with pytest.raises(RuntimeError, match="update"):
        optim.PolyakAveraging(p).averaged()
