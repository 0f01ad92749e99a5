"""The LSTM controller of Zoph & Le (2017), batched over independent replicates.

Every replicate has its own weights (a leading replicate axis on every tensor), so one object
runs R independent searches with tensor code and no Python loop over replicates. At token t the
controller reads the embedding of the previous token (a start embedding at t = 0), steps an
LSTM cell, and a softmax classifier of token t gives pi(a_t | a_<t). REINFORCE (Williams 1992)
with an exponential moving-average baseline b (Zoph & Le, section 3.2):

    grad J = E[(R - b) * sum_t grad log pi(a_t | a_<t)],   b <- beta b + (1 - beta) R.

The optimiser is Adam applied row by row (a replicate whose episode did not end is not moved).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray


class BatchedController:
    """R independent LSTM controllers over T tokens with ``choices[t]`` options each."""

    def __init__(self, replicates: int, choices: Sequence[int], *, hidden: int = 32,
                 seed: int = 0, dtype: torch.dtype = torch.float32, init_scale: float = 0.1
                 ) -> None:
        self.R, self.T, self.H = int(replicates), len(choices), int(hidden)
        self.choices = torch.as_tensor(list(choices))
        self.C = int(max(choices))
        g = torch.Generator().manual_seed(int(seed))

        def u(*shape: int) -> torch.Tensor:
            return ((torch.rand(*shape, generator=g, dtype=dtype) * 2 - 1) * init_scale
                    ).requires_grad_(True)

        R, T, H, C = self.R, self.T, self.H, self.C
        # Token embeddings: one table per position (the previous token's value), plus a start.
        self.params: dict[str, torch.Tensor] = {
            "start": u(R, H), "embed": u(R, T, C, H),
            "W_x": u(R, H, 4 * H), "W_h": u(R, H, 4 * H), "b": u(R, 4 * H),
            "W_out": u(R, T, H, C), "b_out": u(R, T, C)}
        mask = torch.full((T, C), float("-inf"), dtype=dtype)
        for t, c in enumerate(choices):
            mask[t, :c] = 0.0
        self.mask = mask
        self._m = {k: torch.zeros_like(v) for k, v in self.params.items()}
        self._v = {k: torch.zeros_like(v) for k, v in self.params.items()}
        self._steps = np.zeros(R, dtype=np.int64)

    def logits(self, tokens: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (r, T, C) of every token given the previous ones (teacher forcing).

        ``tokens`` (r, T) int64 of the replicates ``rows`` (all when None); masked entries are
        -inf so that the softmax of token t spans its ``choices[t]`` options only.
        """
        p = self.params if rows is None else {k: v[rows] for k, v in self.params.items()}
        r = tokens.shape[0]
        h = torch.zeros(r, self.H, dtype=p["start"].dtype)
        c = torch.zeros_like(h)
        x = p["start"]
        out = []
        idx = torch.arange(r)
        for t in range(self.T):
            h, c = self._lstm(x, h, c, p)
            out.append(torch.einsum("rh,rhc->rc", h, p["W_out"][:, t]) + p["b_out"][:, t]
                       + self.mask[t])
            x = p["embed"][idx, t, tokens[:, t]]
        return torch.stack(out, dim=1)

    def _lstm(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
              p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.einsum("rh,rhg->rg", x, p["W_x"]) + torch.einsum("rh,rhg->rg", h, p["W_h"]) \
            + p["b"]
        i, f, g, o = z.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def log_prob(self, tokens: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """sum_t log pi(a_t | a_<t), shape (r,)."""
        logp = torch.log_softmax(self.logits(tokens, rows), dim=-1)
        return logp.gather(2, tokens.unsqueeze(2)).squeeze(2).sum(dim=1)

    @torch.no_grad()
    def sample(self, rng: np.random.Generator) -> NDArray[np.int64]:
        """One architecture per replicate, (R, T), drawn token by token."""
        R = self.R
        h = torch.zeros(R, self.H, dtype=self.params["start"].dtype)
        c = torch.zeros_like(h)
        x = self.params["start"]
        out = np.zeros((R, self.T), dtype=np.int64)
        idx = torch.arange(R)
        for t in range(self.T):
            h, c = self._lstm(x, h, c, self.params)
            logits = torch.einsum("rh,rhc->rc", h, self.params["W_out"][:, t]) \
                + self.params["b_out"][:, t] + self.mask[t]
            probs = torch.softmax(logits, dim=1).double().numpy()
            cdf = np.cumsum(probs, axis=1)
            u = rng.random((R, 1)) * cdf[:, -1:]
            a = np.minimum((u > cdf).sum(axis=1), int(self.choices[t]) - 1)
            out[:, t] = a
            x = self.params["embed"][idx, t, torch.as_tensor(a)]
        return out

    def reinforce_loss(self, tokens: torch.Tensor, advantages: torch.Tensor,
                       rows: torch.Tensor | None = None) -> torch.Tensor:
        """-(R - b) log pi(A), summed over the replicates (its gradient is minus REINFORCE's)."""
        return -(advantages * self.log_prob(tokens, rows)).sum()

    def step(self, tokens: NDArray[np.int64], advantages: NDArray[np.float64],
             rows: NDArray[np.int64], lr: float, betas: tuple[float, float] = (0.9, 0.999),
             eps: float = 1e-8) -> None:
        """One Adam ascent step of REINFORCE for the replicates ``rows`` only."""
        for v in self.params.values():
            v.grad = None
        rows_t = torch.as_tensor(rows)
        dtype = self.params["start"].dtype
        loss = self.reinforce_loss(torch.as_tensor(tokens), torch.as_tensor(advantages,
                                                                             dtype=dtype), rows_t)
        loss.backward()
        self._steps[rows] += 1
        b1, b2 = betas
        k = torch.as_tensor(self._steps[rows], dtype=dtype)
        with torch.no_grad():
            for name, p in self.params.items():
                grad = p.grad[rows_t] if p.grad is not None else torch.zeros_like(p[rows_t])
                m = b1 * self._m[name][rows_t] + (1 - b1) * grad
                v = b2 * self._v[name][rows_t] + (1 - b2) * grad * grad
                self._m[name][rows_t], self._v[name][rows_t] = m, v
                shape = (-1,) + (1,) * (p.dim() - 1)
                m_hat = m / (1 - b1 ** k).reshape(shape)
                v_hat = v / (1 - b2 ** k).reshape(shape)
                p[rows_t] -= lr * m_hat / (v_hat.sqrt() + eps)


__all__ = ["BatchedController"]
