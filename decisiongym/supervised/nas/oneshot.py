"""One-shot references on the cell space: ENAS (weight sharing) and DARTS (softmax relaxation).

- ENAS (Pham et al. 2018, "Efficient neural architecture search via parameter sharing"): every
  cell is a subgraph of one supernet whose edges hold every candidate operation; the weights of
  an operation are shared by every architecture that uses it. Training alternates (i) shared
  weights w by SGD on training minibatches, each step on a cell sampled from the controller, and
  (ii) the controller by REINFORCE, the reward of a sampled cell being its accuracy *with the
  shared weights* on a validation minibatch (no child is trained from scratch).
- DARTS (Liu, Simonyan & Yang 2019, "DARTS: differentiable architecture search"): each edge
  computes the mixed operation sum_o softmax(alpha_e)_o o(x); alpha is learned on validation
  minibatches and w on training minibatches, alternately. This is the first-order
  approximation (the gradient of the validation loss in alpha at the current w, ignoring how w
  depends on alpha). The discrete cell keeps each edge's largest weight (the one-operation-per-
  edge reading of NAS-Bench-201; DARTS's own cells also keep two inputs per node).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from decisiongym.supervised.nas.controller import BatchedController
from decisiongym.supervised.nas.space import CellSpace, make_op


class MixedOp(nn.Module):
    """Every candidate operation of one edge; ``forward(x, weights)`` = sum_k w_k op_k(x)."""

    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(make_op(o, channels) for o in ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum((w * op(x) for w, op in zip(weights, self.ops, strict=True)),
                   torch.zeros_like(x))

    def single(self, x: torch.Tensor, k: int) -> torch.Tensor:
        return self.ops[k](x)


class SuperNet(nn.Module):
    """Stem, one super-cell (a :class:`MixedOp` per edge), 2 x 2 pooling, linear head."""

    def __init__(self, space: CellSpace, in_channels: int, n_classes: int, channels: int = 8,
                 input_hw: tuple[int, int] = (8, 8)) -> None:
        super().__init__()
        self.space = space
        self.stem = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.edges = nn.ModuleList(MixedOp(space.ops, channels) for _ in space.edges)
        self.pool = nn.AvgPool2d(2, ceil_mode=True)
        h, w = -(-input_hw[0] // 2), -(-input_hw[1] // 2)
        self.head = nn.Linear(channels * h * w, n_classes)

    def forward(self, x: torch.Tensor, arch: Sequence[int] | None = None,
                weights: torch.Tensor | None = None) -> torch.Tensor:
        """A sampled cell (``arch``, ENAS) or the relaxed cell (``weights`` (E, K), DARTS)."""
        nodes = [self.stem(x)]
        e = 0
        for j in range(1, self.space.n_nodes):
            total = torch.zeros_like(nodes[0])
            for i in range(j):
                edge = self.edges[e]
                assert isinstance(edge, MixedOp)
                if arch is not None:
                    total = total + edge.single(nodes[i], int(arch[e]))
                else:
                    assert weights is not None
                    total = total + edge(nodes[i], weights[e])
                e += 1
            nodes.append(total)
        return self.head(self.pool(nodes[-1]).flatten(1))


class _Batches:
    def __init__(self, X: NDArray[np.float32], y: NDArray[np.int64], batch_size: int,
                 rng: np.random.Generator) -> None:
        self.X, self.y = torch.as_tensor(X), torch.as_tensor(y)
        self.batch_size, self.rng = batch_size, rng

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(self.rng.choice(len(self.y), size=self.batch_size, replace=False))
        return self.X[idx], self.y[idx]


class ENASSearch:
    """One ENAS search: a supernet with shared weights and an LSTM controller (one replicate)."""

    def __init__(self, space: CellSpace, data: tuple[NDArray[np.float32], NDArray[np.int64],
                                                       NDArray[np.float32], NDArray[np.int64]],
                 *, seed: int, channels: int = 8, batch_size: int = 64, lr: float = 0.01,
                 controller_lr: float = 0.01, hidden: int = 32, baseline_decay: float = 0.9,
                 entropy: float = 0.0) -> None:
        self.rng = np.random.default_rng(seed)
        self.space = space
        X_tr, y_tr, X_va, y_va = data
        with torch.random.fork_rng():  # seeded initial weights; the global RNG is left as it was
            torch.manual_seed(seed)
            self.net = SuperNet(space, X_tr.shape[1], int(y_tr.max()) + 1, channels,
                                tuple(X_tr.shape[2:]))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.train, self.val = (_Batches(X_tr, y_tr, batch_size, self.rng),
                                _Batches(X_va, y_va, batch_size, self.rng))
        self.controller = BatchedController(1, space.choices_per_token, hidden=hidden, seed=seed)
        self.controller_lr, self.baseline_decay = controller_lr, baseline_decay
        self.baseline: float | None = None

    def shared_accuracy(self, arch: Sequence[int]) -> float:
        X, y = self.val.next()
        with torch.no_grad():
            return float((self.net(X, arch=arch).argmax(1) == y).float().mean())

    def round(self, shared_steps: int, controller_steps: int) -> None:
        """(i) shared weights on sampled cells, then (ii) the controller by REINFORCE."""
        for _ in range(shared_steps):
            arch = self.controller.sample(self.rng)[0]
            X, y = self.train.next()
            loss = nn.functional.cross_entropy(self.net(X, arch=arch), y)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        for _ in range(controller_steps):
            arch = self.controller.sample(self.rng)
            reward = self.shared_accuracy(arch[0])
            b = reward if self.baseline is None else self.baseline
            self.controller.step(arch, np.array([reward - b]), np.array([0]),
                                 lr=self.controller_lr)
            self.baseline = reward if self.baseline is None else \
                self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward

    def propose(self, n_candidates: int) -> NDArray[np.int64]:
        """Sample ``n_candidates`` cells, keep the best by shared-weight validation accuracy."""
        cands = [self.controller.sample(self.rng)[0] for _ in range(n_candidates)]
        scores = [self.shared_accuracy(a) for a in cands]
        return cands[int(np.argmax(scores))]


class DARTSSearch:
    """One first-order DARTS search (one replicate)."""

    def __init__(self, space: CellSpace, data: tuple[NDArray[np.float32], NDArray[np.int64],
                                                       NDArray[np.float32], NDArray[np.int64]],
                 *, seed: int, channels: int = 8, batch_size: int = 64, lr: float = 0.01,
                 arch_lr: float = 0.03) -> None:
        self.rng = np.random.default_rng(seed)
        X_tr, y_tr, X_va, y_va = data
        with torch.random.fork_rng():  # seeded initial weights; the global RNG is left as it was
            torch.manual_seed(seed)
            self.net = SuperNet(space, X_tr.shape[1], int(y_tr.max()) + 1, channels,
                                tuple(X_tr.shape[2:]))
            alpha = 1e-3 * torch.randn(len(space.edges), len(space.ops))
        self.alpha = alpha.requires_grad_(True)
        self.w_opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.a_opt = torch.optim.Adam([self.alpha], lr=arch_lr, betas=(0.5, 0.999))
        self.train, self.val = (_Batches(X_tr, y_tr, batch_size, self.rng),
                                _Batches(X_va, y_va, batch_size, self.rng))

    def round(self, steps: int) -> None:
        for _ in range(steps):
            # Architecture step: validation loss at the current w (first order).
            X, y = self.val.next()
            loss = nn.functional.cross_entropy(self.net(X, weights=self.alpha.softmax(1)), y)
            self.a_opt.zero_grad()
            loss.backward()
            self.a_opt.step()
            # Weight step: training loss at the current alpha.
            X, y = self.train.next()
            loss = nn.functional.cross_entropy(
                self.net(X, weights=self.alpha.detach().softmax(1)), y)
            self.w_opt.zero_grad()
            loss.backward()
            self.w_opt.step()

    def discretise(self) -> NDArray[np.int64]:
        """Each edge's operation of largest weight."""
        return self.alpha.detach().argmax(dim=1).numpy().astype(np.int64)


__all__ = ["DARTSSearch", "ENASSearch", "MixedOp", "SuperNet"]
