"""Search spaces of neural architecture search and the child networks they describe.

Two spaces, both written as a fixed-length string of tokens, one categorical choice per token:

- The chain space of Zoph & Le (2017, "Neural architecture search with reinforcement learning",
  ICLR; Dobriban, *Notes for Stat 991: Topics in Deep Learning*, 2019, section 6.8): for each of
  ``L`` layers, filter height, filter width, stride and number of filters, each from a
  configurable list. The child is a plain stack of ``conv -> ReLU`` layers
  (padding "same", then the stride), global average pooling and a linear classifier.
  An architecture whose strides shrink the feature map below 1 x 1 is *malformed*:
  :func:`chain_output_size` reports it and the environment ends the episode with a penalty.
- A cell space in the style of NAS-Bench-201 (Dong & Yang 2020): a DAG of ``n_nodes`` nodes, node 0
  the cell input, node ``j`` the sum over ``i < j`` of ``op_ij(node_i)``, the last node the cell
  output. One token per edge, in the order (0,1), (0,2), (1,2), (0,3), (1,3), (2,3), ...; the
  operations are drawn from {zero, skip, conv3x3, conv1x1, pool3x3}. The child is a 3x3 stem
  convolution, ``n_cells`` copies of the cell (weights not shared), global average pooling and a
  linear classifier. Every cell is well formed (a cell whose output is cut off computes zeros
  and scores chance).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

CELL_OPS: tuple[str, ...] = ("zero", "skip", "conv3x3", "conv1x1", "pool3x3")


# ----- the chain space (Zoph & Le 2017) --------------------------------------------------------


@dataclass(frozen=True)
class ChainSpace:
    """Zoph & Le's chain space: ``n_layers`` x (filter height, width, stride, filters)."""

    n_layers: int = 3
    filter_heights: tuple[int, ...] = (1, 3, 5)
    filter_widths: tuple[int, ...] = (1, 3, 5)
    strides: tuple[int, ...] = (1, 2, 3)
    n_filters: tuple[int, ...] = (4, 8, 16)

    def __post_init__(self) -> None:
        if self.n_layers < 1:
            raise ValueError(f"ChainSpace: n_layers must be >= 1, got {self.n_layers}")
        for name in ("filter_heights", "filter_widths", "strides", "n_filters"):
            choices = getattr(self, name)
            if not choices or any(int(c) < 1 for c in choices):
                raise ValueError(f"ChainSpace: {name} must be non-empty positive integers, "
                                 f"got {choices!r}")

    @property
    def choices_per_token(self) -> tuple[int, ...]:
        per_layer = (len(self.filter_heights), len(self.filter_widths), len(self.strides),
                     len(self.n_filters))
        return per_layer * self.n_layers

    def decode(self, tokens: Sequence[int]) -> list[tuple[int, int, int, int]]:
        """Tokens -> [(height, width, stride, filters)] per layer."""
        t = [int(x) for x in tokens]
        return [(self.filter_heights[t[4 * k]], self.filter_widths[t[4 * k + 1]],
                 self.strides[t[4 * k + 2]], self.n_filters[t[4 * k + 3]])
                for k in range(self.n_layers)]


def chain_output_size(space: ChainSpace, tokens: Sequence[int], input_hw: tuple[int, int]
                      ) -> tuple[int, int]:
    """Feature-map size after the layers ("same" padding then stride: ceil(size / stride)).

    A size of 0 would mean the map shrank below 1 x 1; with ceil it cannot, so the chain is
    malformed when a stride exceeds the map it is applied to (the stride skips the whole map:
    a stride-3 convolution on a 2 x 2 map keeps one pixel of four, which we reject, as Zoph &
    Le's space rejects layers that reduce the map to nothing). Returns (0, 0) when malformed.
    """
    h, w = input_hw
    for _fh, _fw, stride, _f in space.decode(tokens):
        if stride > h or stride > w:
            return 0, 0
        h, w = -(-h // stride), -(-w // stride)
    return h, w


class ChainNet(nn.Module):
    """The child CNN of a chain architecture: conv -> ReLU per layer, then a linear classifier.

    The classifier reads the last feature map flattened (Zoph & Le put a softmax on top of the
    last layer); a global average of a few channels would throw away where the strokes are.
    """

    def __init__(self, space: ChainSpace, tokens: Sequence[int], in_channels: int,
                 n_classes: int, input_hw: tuple[int, int] = (8, 8)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for fh, fw, stride, filters in space.decode(tokens):
            layers += [nn.Conv2d(c, filters, (fh, fw), stride=1, padding=(fh // 2, fw // 2)),
                       nn.ReLU()]
            if stride > 1:  # "same" conv, then subsample: output ceil(size / stride)
                layers.append(nn.MaxPool2d(1, stride=stride))
            c = filters
        self.features = nn.Sequential(*layers)
        h, w = chain_output_size(space, tokens, input_hw)
        if h == 0:
            raise ValueError(f"ChainNet: architecture {list(tokens)} is malformed on a "
                             f"{input_hw} input (a stride skips the whole map)")
        self.head = nn.Linear(c * h * w, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


# ----- the cell space (NAS-Bench-201 style) ----------------------------------------------------


@dataclass(frozen=True)
class CellSpace:
    """A DAG cell: ``n_nodes`` nodes, one operation from ``ops`` on each edge i -> j (i < j)."""

    n_nodes: int = 4
    ops: tuple[str, ...] = CELL_OPS

    def __post_init__(self) -> None:
        if self.n_nodes < 2:
            raise ValueError(f"CellSpace: n_nodes must be >= 2, got {self.n_nodes}")
        bad = [o for o in self.ops if o not in CELL_OPS]
        if bad or len(set(self.ops)) != len(self.ops) or not self.ops:
            raise ValueError(f"CellSpace: ops must be distinct names from {CELL_OPS}, "
                             f"got {self.ops!r}")

    @property
    def edges(self) -> list[tuple[int, int]]:
        return [(i, j) for j in range(1, self.n_nodes) for i in range(j)]

    @property
    def choices_per_token(self) -> tuple[int, ...]:
        return (len(self.ops),) * len(self.edges)

    @property
    def size(self) -> int:
        return len(self.ops) ** len(self.edges)

    def index(self, tokens: Sequence[int]) -> int:
        """Mixed-radix index of a cell (first edge most significant), 0 .. size - 1."""
        k = len(self.ops)
        idx = 0
        for t in tokens:
            idx = idx * k + int(t)
        return idx

    def tokens(self, index: int) -> tuple[int, ...]:
        k, n = len(self.ops), len(self.edges)
        out = []
        for _ in range(n):
            out.append(index % k)
            index //= k
        return tuple(reversed(out))

    def all_tokens(self) -> list[tuple[int, ...]]:
        return list(itertools.product(range(len(self.ops)), repeat=len(self.edges)))

    def describe(self, tokens: Sequence[int]) -> str:
        """NAS-Bench-201 string: ``|op~0|+|op~0|op~1|+...``."""
        parts, e = [], 0
        for j in range(1, self.n_nodes):
            ops = []
            for i in range(j):
                ops.append(f"{self.ops[int(tokens[e])]}~{i}")
                e += 1
            parts.append("|" + "|".join(ops) + "|")
        return "+".join(parts)


def make_op(name: str, channels: int) -> nn.Module:
    """One candidate operation on ``channels`` feature maps, spatial size kept."""
    if name == "zero":
        return Zero()
    if name == "skip":
        return nn.Identity()
    if name == "conv3x3":
        return nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1))
    if name == "conv1x1":
        return nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1))
    if name == "pool3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown cell operation {name!r}; available: {CELL_OPS}")


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.0


class Cell(nn.Module):
    """One cell: node j = sum_{i<j} op_ij(node i); the last node is the output."""

    def __init__(self, space: CellSpace, tokens: Sequence[int], channels: int) -> None:
        super().__init__()
        self.space = space
        self.edge_ops = nn.ModuleList(make_op(space.ops[int(t)], channels) for t in tokens)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        e = 0
        for j in range(1, self.space.n_nodes):
            total = self.edge_ops[e](nodes[0])
            e += 1
            for i in range(1, j):
                total = total + self.edge_ops[e](nodes[i])
                e += 1
            nodes.append(total)
        return nodes[-1]


class CellNet(nn.Module):
    """Stem conv, ``n_cells`` cells, 2 x 2 average pooling, linear classifier.

    The head reads the pooled map flattened (not a global average): on 8 x 8 digits a global
    average of a few channels throws away where the strokes are.
    """

    def __init__(self, space: CellSpace, tokens: Sequence[int], in_channels: int,
                 n_classes: int, channels: int = 8, n_cells: int = 1,
                 input_hw: tuple[int, int] = (8, 8)) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.cells = nn.Sequential(*(Cell(space, tokens, channels) for _ in range(n_cells)))
        self.pool = nn.AvgPool2d(2, ceil_mode=True)
        h, w = -(-input_hw[0] // 2), -(-input_hw[1] // 2)
        self.head = nn.Linear(channels * h * w, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.cells(self.stem(x))).flatten(1))


# ----- training a child ------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainBudget:
    """How a child is trained: Adam, minibatches, a fixed number of epochs."""

    epochs: int = 4
    batch_size: int = 64
    lr: float = 0.01


def train_and_evaluate(model: nn.Module, X_train: np.ndarray, y_train: np.ndarray,
                       evals: Sequence[tuple[np.ndarray, np.ndarray]], budget: TrainBudget,
                       seed: int, device: str = "cpu") -> list[int]:
    """Train ``model`` (seeded init and batch order) and count correct answers on each eval set.

    The seed fixes the initial weights and the minibatch order, so one (architecture, seed) pair
    gives one number on a given machine; that is what the evaluation cache stores.
    """
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for p in model.parameters():
            # Re-draw every parameter from the seeded generator (Kaiming-uniform-like range).
            fan_in = p[0].numel() if p.dim() > 1 else max(p.numel(), 1)
            bound = 1.0 / np.sqrt(fan_in) * (np.sqrt(3.0) if p.dim() > 1 else 1.0)
            p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
    model.to(device)
    Xt = torch.as_tensor(X_train, device=device)
    yt = torch.as_tensor(y_train, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=budget.lr)
    n = len(Xt)
    trainable = any(p.requires_grad for p in model.parameters())
    for _ in range(budget.epochs):
        perm = torch.randperm(n, generator=gen).to(device)
        for start in range(0, n, budget.batch_size):
            idx = perm[start:start + budget.batch_size]
            loss = nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
            if trainable:
                opt.zero_grad()
                loss.backward()
                opt.step()
    correct = []
    model.eval()
    with torch.no_grad():
        for X, y in evals:
            pred = model(torch.as_tensor(X, device=device)).argmax(dim=1).cpu().numpy()
            correct.append(int((pred == np.asarray(y)).sum()))
    model.train()
    return correct


__all__ = ["CELL_OPS", "Cell", "CellNet", "CellSpace", "ChainNet", "ChainSpace", "TrainBudget",
           "chain_output_size", "make_op", "train_and_evaluate"]
