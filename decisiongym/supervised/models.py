"""Torch models of Dobriban, *Notes for Stat 991: Topics in Deep Learning* (2019): an MLP with
Xavier / He initialisation (sections 1.1, 1.2.3), a LeNet-style CNN (section 2.1; LeCun et al.
1998), and recurrent networks whose cells are written from the notes' equations (section 3.3): the
simple RNN, the GRU (Cho et al. 2014) and the LSTM (Hochreiter & Schmidhuber 1997), plus gradient
clipping by norm (Pascanu et al. 2013).

The hand-written cells keep their weights in torch's layout (``weight_ih`` rows stacked gate by
gate, separate input and hidden biases), so :meth:`load_from_torch` copies a ``torch.nn``
cell's weights in and the outputs agree to float precision (tested to 1e-6).

>>> conv_output_size(28, f=5, p=2, s=1), conv_output_size(28, f=2, p=0, s=2)
(28, 14)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from decisiongym.validation import check_choice

# --------------------------------------------------------------------------------------------
# Devices and initialisation.
# --------------------------------------------------------------------------------------------


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> CUDA when present, else CPU; anything else is passed to ``torch.device``."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or a torch.device, "
                         f"got {device!r}") from None


INITS = ("xavier", "he", "torch")


def init_linear_(layer: nn.Linear | nn.Conv1d | nn.Conv2d, init: str) -> None:
    """Initialisation as in Dobriban (2019), section 1.2.3: W ~ N(0, sigma^2) with sigma^2 = 1/n_in
    (Xavier, for linear and tanh units; Glorot & Bengio 2010) or 2/n_in (He, for ReLU; He et al.
    2015); biases zero. "torch" keeps torch's default. n_in is the fan-in (in_channels x f x f for a
    convolution)."""
    if init == "torch":
        return
    check_choice("init_linear_", "init", init, INITS)
    fan_in = layer.weight[0].numel()
    std = math.sqrt((1.0 if init == "xavier" else 2.0) / fan_in)
    with torch.no_grad():
        layer.weight.normal_(0.0, std)
        if layer.bias is not None:
            layer.bias.zero_()


# --------------------------------------------------------------------------------------------
# MLP.
# --------------------------------------------------------------------------------------------


class MLP(nn.Module):
    """z = W a + b, a = sigma(z) layer by layer (Dobriban (2019), section 1.1), logits out (softmax
    in the loss).

    ``hidden``: widths of the hidden layers; ``activation``: "relu" or "tanh"; ``init``: "he"
    (the default for ReLU), "xavier" (for tanh) or "torch". The input is flattened.
    """

    def __init__(self, in_features: int, n_outputs: int, hidden: Sequence[int] = (128,),
                 activation: str = "relu", init: str | None = None) -> None:
        super().__init__()
        if activation not in ("relu", "tanh"):
            raise ValueError(f"MLP: activation must be 'relu' or 'tanh', got {activation!r}")
        init = init or ("he" if activation == "relu" else "xavier")
        widths = [int(in_features), *[int(h) for h in hidden], int(n_outputs)]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            lin = nn.Linear(a, b)
            # The output layer is linear: Xavier's 1/n_in keeps its logits at unit scale.
            init_linear_(lin, init if i < len(widths) - 2 else
                         ("xavier" if init != "torch" else "torch"))
            layers.append(lin)
            if i < len(widths) - 2:
                layers.append(nn.ReLU() if activation == "relu" else nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))


# --------------------------------------------------------------------------------------------
# LeNet-style CNN.
# --------------------------------------------------------------------------------------------


def conv_output_size(n: int, f: int, p: int = 0, s: int = 1) -> int:
    """As in Dobriban (2019), section 2.1: an n x n input, an f x f filter, padding p and stride s
    give floor((n + 2p - f) / s) + 1 outputs per side (the same rule for max pooling)."""
    if n + 2 * p < f:
        raise ValueError(f"conv_output_size: filter {f} larger than the padded input "
                         f"{n} + 2*{p}")
    return (n + 2 * p - f) // s + 1


class LeNet(nn.Module):
    """LeNet-style CNN (LeCun et al. 1998; Dobriban (2019), section 2.1): [conv (f, p, s) -> ReLU ->
    max-pool] per entry of ``conv``, then fully connected layers.

    ``conv``: tuples (out_channels, f, p, s, pool) where pool is the max-pool size and stride
    (0 or 1: none). The default is LeNet-5's two 5x5 convolutions with 2x2 pooling, first
    padded to keep the size ("same" padding p = (f - 1) / 2). Works on 2-D images
    (C, H, W) and, with ``dims=1``, on 1-D signals (C, L) such as MNIST-1D.
    :attr:`feature_shape` is computed with :func:`conv_output_size` and checked against the
    real forward pass in the tests.
    """

    def __init__(self, in_shape: Sequence[int], n_outputs: int,
                 conv: Sequence[tuple[int, int, int, int, int]] = ((6, 5, 2, 1, 2),
                                                                   (16, 5, 0, 1, 2)),
                 hidden: Sequence[int] = (120, 84), init: str = "he") -> None:
        super().__init__()
        in_shape = tuple(int(v) for v in in_shape)
        if len(in_shape) not in (2, 3):
            raise ValueError(f"LeNet: in_shape must be (C, H, W) or (C, L), got {in_shape}")
        dims = len(in_shape) - 1
        conv_cls = nn.Conv2d if dims == 2 else nn.Conv1d
        pool_cls = nn.MaxPool2d if dims == 2 else nn.MaxPool1d
        channels, sizes = in_shape[0], list(in_shape[1:])
        layers: list[nn.Module] = []
        for out_ch, f, p, s, pool in conv:
            c = conv_cls(channels, out_ch, kernel_size=f, padding=p, stride=s)
            init_linear_(c, init)
            layers += [c, nn.ReLU()]
            sizes = [conv_output_size(n, f, p, s) for n in sizes]
            if pool > 1:
                layers.append(pool_cls(pool))
                sizes = [conv_output_size(n, pool, 0, pool) for n in sizes]
            channels = out_ch
        self.features = nn.Sequential(*layers)
        self.feature_shape = (channels, *sizes)
        flat = channels * math.prod(sizes)
        self.head = MLP(flat, n_outputs, hidden, "relu", init)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


# --------------------------------------------------------------------------------------------
# Recurrent cells, from the equations of Dobriban (2019), section 3.3.
# --------------------------------------------------------------------------------------------


class _Cell(nn.Module):
    """Weights in torch's layout: weight_ih (G*H, D), weight_hh (G*H, H), bias_ih, bias_hh."""

    gates = 1
    torch_cls: type[nn.Module] = nn.RNNCell

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        g = self.gates * self.hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g, self.input_size))
        self.weight_hh = nn.Parameter(torch.empty(g, self.hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(g))
        self.bias_hh = nn.Parameter(torch.empty(g))
        bound = 1.0 / math.sqrt(self.hidden_size)  # torch's default: U(-1/sqrt(H), 1/sqrt(H))
        for w in self.parameters():
            nn.init.uniform_(w, -bound, bound)

    def load_from_torch(self, cell: nn.Module) -> None:
        """Copy the weights of a ``torch.nn`` cell of the matching kind and size."""
        if not isinstance(cell, self.torch_cls):
            raise TypeError(f"{type(self).__name__}.load_from_torch expects a "
                            f"{self.torch_cls.__name__}, got {type(cell).__name__}")
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self, name).copy_(getattr(cell, name))

    def torch_cell(self) -> nn.Module:
        """A ``torch.nn`` cell holding a copy of these weights."""
        cell = self.torch_cls(self.input_size, self.hidden_size)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(self, name))
        return cell

    def initial_state(self, batch: int, device: torch.device | None = None) -> Any:
        return torch.zeros(batch, self.hidden_size, device=device)

    def output(self, state: Any) -> Tensor:
        return state


class SimpleRNNCell(_Cell):
    """The simple RNN of Dobriban (2019), section 3.3.1: h_t = tanh(b + W h_{t-1} + U x_t) (torch's
    RNNCell with tanh; b is the sum of its two biases)."""

    gates = 1
    torch_cls = nn.RNNCell

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return torch.tanh(x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T
                          + self.bias_hh)


class GRUCell(_Cell):
    """The GRU of Dobriban (2019), section 3.3.3, item 4 (Cho et al. 2014):
    u_t = sigma(W_u x_t + U_u h_{t-1} + b_u), r_t = sigma(W_r x_t + U_r h_{t-1} + b_r),
    a_t = tanh(W_i x_t + r_t * (U_i h_{t-1}) + b_i), h_t = u_t * h_{t-1} + (1 - u_t) * a_t.
    Gate rows in torch's order (r, u, a); the hidden bias of a_t sits inside the r_t product,
    as in torch."""

    gates = 3
    torch_cls = nn.GRUCell

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        gx = x @ self.weight_ih.T + self.bias_ih
        gh = h @ self.weight_hh.T + self.bias_hh
        xr, xu, xa = gx.chunk(3, dim=1)
        hr, hu, ha = gh.chunk(3, dim=1)
        r = torch.sigmoid(xr + hr)
        u = torch.sigmoid(xu + hu)
        a = torch.tanh(xa + r * ha)
        return u * h + (1.0 - u) * a


class LSTMCell(_Cell):
    """The LSTM of Dobriban (2019), section 3.3.3, item 2 (Hochreiter & Schmidhuber 1997, with a
    forget gate):
    f_t, i_t, o_t = sigma(W x_t + U h_{t-1} + b), a_t = tanh(W_c x_t + U_c h_{t-1} + b_c),
    c_t = i_t * a_t + f_t * c_{t-1}, h_t = o_t * tanh(c_t). Gate rows in torch's order
    (i, f, a, o); the state is the pair (h, c). ``forget_bias`` is added to b_f at
    construction (the notes' "initialise the forget gate bias to 1"; 0 = torch's init)."""

    gates = 4
    torch_cls = nn.LSTMCell

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 0.0) -> None:
        super().__init__(input_size, hidden_size)
        if forget_bias:
            with torch.no_grad():
                self.bias_hh[self.hidden_size:2 * self.hidden_size] += forget_bias

    def initial_state(self, batch: int, device: torch.device | None = None) -> Any:
        z = torch.zeros(batch, self.hidden_size, device=device)
        return (z, z.clone())

    def output(self, state: Any) -> Tensor:
        return state[0]

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h, c = state
        g = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh
        i, f, a, o = g.chunk(4, dim=1)
        c = torch.sigmoid(i) * torch.tanh(a) + torch.sigmoid(f) * c
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


CELLS: dict[str, type[_Cell]] = {"rnn": SimpleRNNCell, "gru": GRUCell, "lstm": LSTMCell}


class RecurrentNet(nn.Module):
    """A cell unrolled over time with a linear read-out o_t = c + V h_t (Dobriban (2019), section
    3.3.1).

    ``forward(x)`` takes (B, T, D) and returns the logits at the last step (B, n_outputs), or at
    every step (B, T, n_outputs) with ``all_steps=True``. :meth:`unroll` also returns the hidden
    states (for gradient-against-time-lag measurements).
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, n_outputs: int,
                 forget_bias: float = 1.0) -> None:
        super().__init__()
        check_choice("RecurrentNet", "cell", cell, sorted(CELLS))
        self.kind = cell
        self.cell = (LSTMCell(input_size, hidden_size, forget_bias) if cell == "lstm"
                     else CELLS[cell](input_size, hidden_size))
        self.readout = nn.Linear(hidden_size, n_outputs)

    def unroll(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Hidden outputs (B, T, H) and the list of per-step hidden tensors (in the graph)."""
        state = self.cell.initial_state(x.shape[0], x.device)
        hs = []
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
            hs.append(self.cell.output(state))
        return torch.stack(hs, dim=1), hs

    def forward(self, x: Tensor, all_steps: bool = False) -> Tensor:
        h, _ = self.unroll(x)
        return self.readout(h if all_steps else h[:, -1])


# --------------------------------------------------------------------------------------------
# Gradient clipping.
# --------------------------------------------------------------------------------------------


def grad_norm(parameters: Iterable[nn.Parameter]) -> float:
    """The Euclidean norm of all gradients together."""
    sq = [p.grad.detach().pow(2).sum() for p in parameters if p.grad is not None]
    return float(torch.sqrt(torch.stack(sq).sum())) if sq else 0.0


def clip_grad_norm(parameters: Iterable[nn.Parameter], threshold: float) -> float:
    """Gradient clipping by norm, Dobriban (2019), section 3.3.2, item 5 (Pascanu et al. 2013):
    g <- (threshold / ||g||) g when ||g|| >= threshold, with g all gradients together. Returns
    ||g|| before clipping."""
    if not threshold > 0:
        raise ValueError(f"clip_grad_norm: threshold must be > 0, got {threshold!r}")
    params = [p for p in parameters if p.grad is not None]
    norm = grad_norm(params)
    if norm >= threshold:
        scale = threshold / norm
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(scale)
    return norm


def build_model(kind: str, input_shape: Sequence[int], n_outputs: int, *,
                hidden: Sequence[int] = (128,), hidden_size: int = 64) -> nn.Module:
    """"mlp", "cnn" (LeNet; the first convolution keeps the size, then the second is skipped
    when the image is too small) or a recurrent cell name ("rnn", "gru", "lstm") on (T, D)."""
    if kind == "mlp":
        return MLP(math.prod(input_shape), n_outputs, hidden)
    if kind == "cnn":
        side = min(input_shape[1:])
        conv: tuple[tuple[int, int, int, int, int], ...]
        if side >= 20:
            conv = ((6, 5, 2, 1, 2), (16, 5, 0, 1, 2))
        else:  # 8x8 digits: two 3x3 "same" convolutions, one 2x2 pool
            conv = ((16, 3, 1, 1, 1), (32, 3, 1, 1, 2))
        return LeNet(input_shape, n_outputs, conv, hidden=(max(hidden[0], 64),))
    if kind in CELLS:
        return RecurrentNet(kind, int(input_shape[-1]), hidden_size, n_outputs)
    raise ValueError(f"unknown model {kind!r}; expected 'mlp', 'cnn', 'rnn', 'gru' or 'lstm'")


__all__ = ["CELLS", "INITS", "MLP", "GRUCell", "LSTMCell", "LeNet", "RecurrentNet",
           "SimpleRNNCell", "build_model", "clip_grad_norm", "conv_output_size", "grad_norm",
           "init_linear_", "resolve_device"]
