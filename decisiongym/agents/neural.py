"""Neural contextual bandit agents (Riquelme, Tucker & Snoek 2018, "Deep Bayesian bandits
showdown"), batched over replicates: each replicate owns a network, and the networks of all
replicates are one set of torch tensors with a leading replicate axis (``torch.bmm``).

- ``neural-epsilon-greedy``: a multilayer perceptron regresses the reward of each arm on the
  context (squared error on the arm taken); the agent is epsilon-greedy on its outputs.
- ``neural-linear``: the same network, whose last hidden layer z(x) feeds a Bayesian linear
  regression per arm (normal-inverse-gamma prior); Thompson sampling on the linear head.

The network is retrained every ``train_every`` steps on minibatches drawn uniformly from the
replicate's whole history. Random numbers (initial weights, minibatches, exploration) all come
from the agent's numpy generator, so a seed fixes a run. ``device="auto"`` takes CUDA when it is
present.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from gymnasium import spaces

from decisiongym.agents.base import argmax_random_ties, register
from decisiongym.agents.contextual import ContextualAgent, sherman_morrison_update
from decisiongym.arrays import BoolArray, FloatArray, IntArray

__all__ = ["NeuralEpsilonGreedy", "NeuralLinear"]


def _resolve_device(device: str) -> Any:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class _NeuralAgent(ContextualAgent):
    """The batched network, the replay history and the training loop."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 hidden: int = 32, layers: int = 2, learning_rate: float = 3e-3,
                 train_every: int = 20, train_steps: int = 30, batch_size: int = 64,
                 device: str = "auto", num_threads: int | None = 1) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        self.num_threads = None if num_threads is None else self._check_int("num_threads",
                                                                             num_threads, low=1)
        self.hidden = self._check_int("hidden", hidden, low=1)
        self.layers = self._check_int("layers", layers, low=1)
        self.learning_rate = self._check_float("learning_rate", learning_rate, low=0.0,
                                               low_open=True)
        self.train_every = self._check_int("train_every", train_every, low=1)
        self.train_steps = self._check_int("train_steps", train_steps, low=1)
        self.batch_size = self._check_int("batch_size", batch_size, low=1)
        if not isinstance(device, str):
            raise self._param_error("device", device, '"auto", "cpu", "cuda" or a torch device')
        try:
            self.device = _resolve_device(device)
        except RuntimeError as exc:
            raise self._param_error("device", device, '"auto", "cpu", "cuda" or a torch '
                                    'device') from exc

    # ----- network ---------------------------------------------------------------------------

    def _init_network(self, n: int) -> None:
        import torch

        if self.num_threads is not None and self.device.type == "cpu":
            # Tiny per-replicate networks run fastest on one thread (measured: 6x faster than
            # two threads on a loaded 2-core machine). This sets torch's threads for the process.
            torch.set_num_threads(self.num_threads)
        sizes = [self.dim] + [self.hidden] * self.layers + [self.n_arms]
        self.weights: list[Any] = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = 1.0 / math.sqrt(fan_in)  # PyTorch's default Linear initialisation range
            w = self.rng.uniform(-bound, bound, (n, fan_in, fan_out))
            b = self.rng.uniform(-bound, bound, (n, 1, fan_out))
            for arr in (w, b):
                self.weights.append(torch.tensor(arr, dtype=torch.float32, device=self.device,
                                                requires_grad=True))
        self.optimizer = torch.optim.Adam(self.weights, lr=self.learning_rate)

    def _forward(self, x: Any) -> tuple[Any, Any]:
        """Network outputs (n, B, K) and last hidden layer (n, B, H) for inputs (n, B, d)."""
        import torch

        h = x
        for j in range(self.layers):
            h = torch.relu(torch.bmm(h, self.weights[2 * j]) + self.weights[2 * j + 1])
        out = torch.bmm(h, self.weights[-2]) + self.weights[-1]
        return out, h

    def _predict(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Outputs (n, K) and features z (n, H) at the contexts (n, d), as float64 arrays."""
        import torch

        with torch.no_grad():
            xt = torch.as_tensor(x[:, None, :], dtype=torch.float32, device=self.device)
            out, h = self._forward(xt)
        return (out[:, 0].double().cpu().numpy(), h[:, 0].double().cpu().numpy())

    def _train(self) -> None:
        """``train_steps`` Adam steps of squared error on the arm taken, minibatches uniform
        over each replicate's history; replicates with no history are left out of the loss."""
        import torch

        n = self.t.size
        counts = self.t.astype(np.int64)
        has_data = torch.as_tensor(counts > 0, dtype=torch.float32, device=self.device)
        if not counts.any():
            return
        rows = np.arange(n)[:, None]
        for _ in range(self.train_steps):
            idx = (self.rng.random((n, self.batch_size)) * np.maximum(counts, 1)[:, None]
                   ).astype(np.int64)
            x = torch.as_tensor(self.hist_x[rows, idx], dtype=torch.float32, device=self.device)
            a = torch.as_tensor(self.hist_a[rows, idx], device=self.device)
            r = torch.as_tensor(self.hist_r[rows, idx], dtype=torch.float32, device=self.device)
            out, _ = self._forward(x)
            pred = out.gather(2, a.clamp(min=0)[:, :, None])[:, :, 0]
            loss = (((pred - r) ** 2).mean(dim=1) * has_data).sum()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()

    # ----- state -----------------------------------------------------------------------------

    def _reset_model(self, num_envs: int) -> None:
        cap = 256
        self.hist_x = np.zeros((num_envs, cap, self.dim))
        self.hist_a = np.full((num_envs, cap), -1, dtype=np.int64)
        self.hist_r = np.zeros((num_envs, cap))
        self._updates = 0
        self._init_network(num_envs)

    def _clear_rows(self, rows: IntArray) -> None:
        import torch

        self.hist_a[rows] = -1
        # A new problem: fresh weights for those replicates (and fresh Adam moments).
        fresh = []
        for k, p in enumerate(self.weights):
            fan_in = p.shape[1] if k % 2 == 0 else self.weights[k - 1].shape[1]
            bound = 1.0 / math.sqrt(fan_in)
            fresh.append(self.rng.uniform(-bound, bound, (rows.size, *p.shape[1:])))
        with torch.no_grad():
            for p, values in zip(self.weights, fresh, strict=True):
                p[torch.as_tensor(rows, device=self.device)] = torch.as_tensor(
                    values, dtype=torch.float32, device=self.device)
        state = self.optimizer.state
        for p in self.weights:
            if p in state:
                for key in ("exp_avg", "exp_avg_sq"):
                    state[p][key][torch.as_tensor(rows, device=self.device)] = 0.0

    def _record(self, rows: IntArray, x: FloatArray, a: IntArray, r: FloatArray) -> None:
        pos = self.t[rows].astype(np.int64)
        if pos.max() >= self.hist_x.shape[1]:
            n, cap = self.hist_a.shape
            self.hist_x = np.concatenate([self.hist_x, np.zeros((n, cap, self.dim))], axis=1)
            self.hist_a = np.concatenate([self.hist_a, np.full((n, cap), -1, dtype=np.int64)],
                                         axis=1)
            self.hist_r = np.concatenate([self.hist_r, np.zeros((n, cap))], axis=1)
        self.hist_x[rows, pos] = x
        self.hist_a[rows, pos] = a
        self.hist_r[rows, pos] = r
        self.t[rows] += 1.0

    def __getstate__(self) -> dict[str, Any]:
        # Torch tensors and the optimizer deep-copy fine; nothing to drop.
        return dict(self.__dict__)


@register("neural-epsilon-greedy", "MLP reward regression per arm, epsilon-greedy with "
          "epsilon_t = min(1, epsilon t^-decay) (Riquelme et al. 2018) (hidden, layers, ...)")
class NeuralEpsilonGreedy(_NeuralAgent):
    """Epsilon-greedy on a neural network's reward estimates, the neural greedy baseline of
    Riquelme, Tucker & Snoek (2018): the network maps a context to K outputs, trained by squared
    error on the arm taken; A_t is argmax of the outputs with probability 1 - epsilon_t, else an
    arm uniformly at random, epsilon_t = min(1, epsilon t^{-decay}).

    Parameters: ``epsilon`` > 0 (default 1) and ``decay`` in (0, 1] (default 0.5); ``hidden``
    units per layer (32), ``layers`` hidden layers (2), ``learning_rate`` of Adam (3e-3),
    ``train_every`` steps between trainings (20), ``train_steps`` minibatch steps per training
    (30), ``batch_size`` (64), ``device`` ("auto": CUDA when present), ``num_threads`` (1:
    torch's CPU threads for the process, set at reset; None leaves torch's setting).
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 epsilon: float = 1.0, decay: float = 0.5, hidden: int = 32, layers: int = 2,
                 learning_rate: float = 3e-3, train_every: int = 20, train_steps: int = 30,
                 batch_size: int = 64, device: str = "auto", num_threads: int | None = 1
                 ) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         hidden=hidden, layers=layers, learning_rate=learning_rate,
                         train_every=train_every, train_steps=train_steps,
                         batch_size=batch_size, device=device, num_threads=num_threads)
        self.epsilon = self._check_float("epsilon", epsilon, low=0.0, low_open=True)
        self.decay = self._check_float("decay", decay, low=0.0, high=1.0, low_open=True)

    def _act(self, obs: Any) -> IntArray:
        x = self._contexts(obs)
        n = x.shape[0]
        values, _ = self._predict(x)
        greedy = argmax_random_ties(values, self.rng)
        eps = np.minimum(1.0, self.epsilon * (self.t + 1) ** (-self.decay))
        explore = self.rng.random(n) < eps
        return np.where(explore, self.rng.integers(self.n_arms, size=n), greedy)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        x, a, r = self._gather(rows, obs, actions, rewards)
        self._record(rows, x, a, r)
        self._updates += 1
        if self._updates % self.train_every == 0:
            self._train()


@register("neural-linear", "neural-linear, Riquelme et al. (2018): MLP features + Bayesian "
          "linear regression per arm, Thompson sampling (hidden, layers, a0, b0, lambda_prior)")
class NeuralLinear(_NeuralAgent):
    """NeuralLinear of Riquelme, Tucker & Snoek (2018): a network trained as in
    ``neural-epsilon-greedy`` gives features z(x) (its last hidden layer); on them, per arm, a
    Bayesian linear regression R = mu_a' z + N(0, sigma_a^2) with the normal-inverse-gamma prior
    sigma_a^2 ~ IG(a0, b0), mu_a | sigma_a^2 ~ N(0, sigma_a^2 / lambda_prior I). Each step,
    Thompson sampling: sigma_a^2 ~ IG(a_a, b_a), then mu~_a ~ N(mu_a, sigma_a^2 Lambda_a^{-1}),
    A_t = argmax_a mu~_a' z(x). Only mu~_a' z enters the choice, and given sigma_a^2 it is
    N(mu_a' z, sigma_a^2 z' Lambda_a^{-1} z) exactly; the agent samples that scalar.

    Posterior: Lambda_a = lambda_prior I + Z_a' Z_a, mu_a = Lambda_a^{-1} Z_a' R_a,
    a_a = a0 + n_a / 2, b_a = b0 + (R_a' R_a - mu_a' Lambda_a mu_a) / 2. After each retraining
    the features change, so the posterior is recomputed from the whole history; between
    retrainings each step updates it in place (Sherman-Morrison on Lambda_a^{-1}).

    Parameters: ``a0`` = ``b0`` = 6 and ``lambda_prior`` = 0.25 (the paper's values); the
    network parameters as ``neural-epsilon-greedy``.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 a0: float = 6.0, b0: float = 6.0, lambda_prior: float = 0.25, hidden: int = 32,
                 layers: int = 2, learning_rate: float = 3e-3, train_every: int = 20,
                 train_steps: int = 30, batch_size: int = 64, device: str = "auto",
                 num_threads: int | None = 1) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         hidden=hidden, layers=layers, learning_rate=learning_rate,
                         train_every=train_every, train_steps=train_steps,
                         batch_size=batch_size, device=device, num_threads=num_threads)
        self.a0 = self._check_float("a0", a0, low=0.0, low_open=True)
        self.b0 = self._check_float("b0", b0, low=0.0, low_open=True)
        self.lambda_prior = self._check_float("lambda_prior", lambda_prior, low=0.0,
                                              low_open=True)

    def _reset_model(self, num_envs: int) -> None:
        super()._reset_model(num_envs)
        h, k = self.hidden, self.n_arms
        self.precision_inv = np.broadcast_to(np.eye(h) / self.lambda_prior,
                                             (num_envs, k, h, h)).copy()
        self.zr = np.zeros((num_envs, k, h))  # Z_a' R_a
        self.mu = np.zeros((num_envs, k, h))
        self.rr = np.zeros((num_envs, k))  # R_a' R_a
        self.n_a = np.zeros((num_envs, k))

    def _clear_rows(self, rows: IntArray) -> None:
        super()._clear_rows(rows)
        self.precision_inv[rows] = np.eye(self.hidden) / self.lambda_prior
        self.zr[rows] = 0.0
        self.mu[rows] = 0.0
        self.rr[rows] = 0.0
        self.n_a[rows] = 0.0

    def _b(self) -> FloatArray:
        """b_a = b0 + (R'R - mu' Lambda mu) / 2, with mu' Lambda mu = mu' Z'R."""
        quad = np.einsum("nkh,nkh->nk", self.mu, self.zr)
        return np.asarray(self.b0 + 0.5 * np.maximum(self.rr - quad, 0.0))

    def _act(self, obs: Any) -> IntArray:
        x = self._contexts(obs)
        _, z = self._predict(x)
        shape = a_shape = (x.shape[0], self.n_arms)
        sigma2 = self._b() / self.rng.gamma(self.a0 + self.n_a / 2.0, 1.0, a_shape)
        mean = np.einsum("nkh,nh->nk", self.mu, z)
        u = np.matmul(self.precision_inv, z[:, None, :, None])[..., 0]
        var = np.maximum(np.einsum("nkh,nh->nk", u, z), 0.0) * sigma2
        return argmax_random_ties(mean + np.sqrt(var) * self.rng.standard_normal(shape),
                                  self.rng)

    def _refit_posterior(self) -> None:
        """Recompute every posterior from the whole history with the new features."""
        import torch

        length = max(int(self.t.max()), 1)
        x = self.hist_x[:, :length]
        with torch.no_grad():
            _, h = self._forward(torch.as_tensor(x, dtype=torch.float32, device=self.device))
            z = h.double()  # (n, L, H)
            onehot = torch.as_tensor(
                (self.hist_a[:, :length, None] == np.arange(self.n_arms)).astype(np.float64),
                device=self.device)  # (n, L, K); empty slots (a = -1) are all zero
            r = torch.as_tensor(self.hist_r[:, :length], device=self.device)
            eye = torch.eye(self.hidden, dtype=torch.float64, device=self.device) \
                * self.lambda_prior
            # Lambda_a = lambda I + Z_a' Z_a, arm by arm (memory O(n L H)).
            gram = torch.stack([torch.bmm((z * onehot[:, :, a, None]).transpose(1, 2), z)
                                for a in range(self.n_arms)], dim=1)
            precision_inv = torch.linalg.inv(gram + eye)
            zr = torch.einsum("nlk,nlh->nkh", onehot * r[:, :, None], z)
            self.precision_inv = precision_inv.cpu().numpy()
            self.zr = zr.cpu().numpy()
            self.rr = (onehot * (r * r)[:, :, None]).sum(dim=1).cpu().numpy()
            self.n_a = onehot.sum(dim=1).cpu().numpy()
        self.mu = np.matmul(self.precision_inv, self.zr[..., None])[..., 0]

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        x, a, r = self._gather(rows, obs, actions, rewards)
        self._record(rows, x, a, r)
        self._updates += 1
        if self._updates % self.train_every == 0:
            self._train()
            self._refit_posterior()
            return
        _, z_all = self._predict(x if rows is self._all_rows else self._pad(rows, x))
        z = z_all if rows is self._all_rows else z_all[rows]
        p_inv = sherman_morrison_update(self.precision_inv[rows, a], z)
        zr = self.zr[rows, a] + r[:, None] * z
        self.precision_inv[rows, a] = p_inv
        self.zr[rows, a] = zr
        self.mu[rows, a] = np.matmul(p_inv, zr[:, :, None])[:, :, 0]
        self.rr[rows, a] += r * r
        self.n_a[rows, a] += 1.0

    def _pad(self, rows: IntArray, x: FloatArray) -> FloatArray:
        """Contexts of ``rows`` placed in a full (n, d) batch (the network is per replicate)."""
        full = np.zeros((self.t.size, self.dim))
        full[rows] = x
        return full
