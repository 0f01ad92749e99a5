"""Network learners behind the batched agent protocol (Dobriban, *Notes for Stat 991: Topics in
Deep Learning*, 2019, sections 1.2, 5.2.4, 5.3.10).

Three learners share one network and one training loop and differ only in what the world tells
them and in how they turn it into a loss:

- ``"net-full"``: full feedback. Needs ``feedback="full"`` (a ``Dict`` observation): the label
  of ``obs`` arrives in ``next_obs["label"]`` (the environment puts it in the observation
  channel, since agents never read ``info``). Loss: cross-entropy (Dobriban (2019), section 1.2.1).
- ``"net-reinforce"``: bandit feedback. Acts by sampling from the softmax policy pi(a | x) and
  descends -(r - b) log pi(a | x), REINFORCE with a baseline b (Williams 1992; Dobriban (2019),
  section 5.3.10), b an exponential moving average of the replicate's rewards.
- ``"net-epsilon-greedy"``: bandit feedback. The network predicts the probability that each
  class is right (one sigmoid per class) and is trained by binary cross-entropy on the class
  it tried; it acts greedily, uniformly at random with probability epsilon (Dobriban (2019),
  section 5.2.1).

Replicates are independent learners, as the protocol requires: each replicate owns a network
(the networks are stacked, ``torch.func.stack_module_state``, and evaluated together with
``torch.func.vmap``, so there is no Python loop over replicates). The summed loss gives each
replicate the gradient of its own loss, and Adam and SGD act coordinate-wise, so one optimiser
step over the stack is ``num_envs`` independent steps. Each replicate sees one example per
environment step; every ``batch_size`` steps it takes one optimiser step on the minibatch of
those examples. Reset steps of NEXT_STEP autoreset are masked out by :class:`BaseAgent`.

``device="auto"`` runs on CUDA when present; the tests run on CPU, where a seed fixes the run
bit for bit.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from decisiongym.agents.base import BaseAgent, register
from decisiongym.arrays import BoolArray, FloatArray, IntArray

if TYPE_CHECKING:
    from torch import Tensor

# torch is imported inside the methods: ``import decisiongym`` registers these learners
# without importing torch.

MODELS = ("mlp", "cnn")
OPTIMIZERS = ("adam", "sgd")


def _x_space(space: spaces.Space[Any]) -> spaces.Box | None:
    if isinstance(space, spaces.Dict):
        x = space.spaces.get("x")
        return x if isinstance(x, spaces.Box) else None
    return space if isinstance(space, spaces.Box) else None


class _NetworkLearner(BaseAgent):
    """Shared plumbing: a stack of ``num_envs`` networks, the minibatch buffer, the optimiser."""

    n_outputs_per_class = 1

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 model: str = "mlp", hidden: int = 128, lr: float = 3e-3, batch_size: int = 16,
                 optimizer: str = "adam", device: str = "auto") -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        x_space = _x_space(observation_space)
        if x_space is None:
            raise ValueError(f"{self.name}: observation_space must be a Box or a Dict with an "
                             f"'x' Box (decisiongym/ImageClassification-v0), got "
                             f"{observation_space!r}")
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"{self.name}: action_space must be Discrete, got {action_space!r}")
        if model not in MODELS:
            raise self._param_error("model", model, f"one of {MODELS}")
        if optimizer not in OPTIMIZERS:
            raise self._param_error("optimizer", optimizer, f"one of {OPTIMIZERS}")
        self.input_shape = tuple(int(v) for v in x_space.shape)
        self.n_classes = int(action_space.n)
        self.model_kind = model
        self.hidden = self._check_int("hidden", hidden)
        self.lr = self._check_float("lr", lr, low=0.0, low_open=True)
        self.batch_size = self._check_int("batch_size", batch_size)
        self.optimizer_kind = optimizer
        from decisiongym.supervised.models import resolve_device

        self.device = resolve_device(device)
        self._params: dict[str, Any]
        self.steps_learned = 0

    # ----- the stacked networks ----------------------------------------------------------------

    def _reset_state(self, num_envs: int) -> None:
        import torch

        from decisiongym.supervised.models import build_model

        seed = int(self.rng.integers(2**62))
        with torch.random.fork_rng(devices=[]):  # leave torch's global generator as found
            torch.manual_seed(seed)
            nets = [build_model(self.model_kind, self.input_shape, self.n_classes,
                                hidden=(self.hidden,)) for _ in range(num_envs)]
        params, buffers = torch.func.stack_module_state(nets)
        self.weights = {k: v.detach().to(self.device).requires_grad_(True)
                        for k, v in params.items()}
        self.buffers = {k: v.to(self.device) for k, v in buffers.items()}
        self._base = copy.deepcopy(nets[0]).to("meta")
        opt_cls = torch.optim.Adam if self.optimizer_kind == "adam" else torch.optim.SGD
        self.optimizer = opt_cls(list(self.weights.values()), lr=self.lr)
        self._buffer: list[tuple[Tensor, Tensor, Tensor, Tensor, Tensor]] = []
        self.steps_learned = 0
        self._extra_reset(num_envs)

    def _extra_reset(self, num_envs: int) -> None:
        """Per-learner state (baselines)."""

    def _forward(self, x: Tensor, shared: bool = False) -> Tensor:
        """Logits (R, B, K) of every replicate's network on x (R, B, ...) or, with ``shared``,
        on the same x (B, ...) for all."""
        import torch

        def one(p: dict[str, Tensor], b: dict[str, Tensor], xb: Tensor) -> Tensor:
            return torch.func.functional_call(self._base, (p, b), (xb,))

        in_dims = (0, 0, None if shared else 0)
        return torch.func.vmap(one, in_dims=in_dims)(self.weights, self.buffers, x)

    def act(self, obs: Any) -> NDArray[Any]:
        """One action per replicate (``obs`` an array, or the full-feedback Dict of arrays)."""
        if self.num_envs == 0:
            raise RuntimeError(f"{self.name}: call reset(num_envs, seed) before act()")
        x = np.asarray(obs["x"] if isinstance(obs, dict) else obs)
        if x.shape[1:] != self.input_shape or x.shape[0] != self.num_envs:
            raise ValueError(f"{self.name}: observations must have shape "
                             f"({self.num_envs}, {', '.join(map(str, self.input_shape))}), "
                             f"got {x.shape}")
        return self._act(obs)

    def _as_x(self, obs: Any) -> Tensor:
        import torch

        x = obs["x"] if isinstance(obs, dict) else obs
        return torch.as_tensor(np.asarray(x, dtype=np.float32), device=self.device)

    def logits(self, obs: Any) -> Tensor:
        """Logits (R, K) of each replicate for its own observation."""
        import torch

        with torch.no_grad():
            return self._forward(self._as_x(obs)[:, None])[:, 0]

    def predict(self, X: NDArray[Any], batch: int = 1024) -> NDArray[np.int64]:
        """Every replicate's class predictions on the same inputs X (N, ...): (R, N)."""
        import torch

        out = []
        with torch.no_grad():
            for i in range(0, len(X), batch):
                xb = torch.as_tensor(np.asarray(X[i:i + batch], dtype=np.float32),
                                     device=self.device)
                out.append(self._forward(xb, shared=True).argmax(-1).cpu().numpy())
        return np.concatenate(out, axis=1).astype(np.int64)

    def accuracy(self, X: NDArray[Any], y: NDArray[Any]) -> NDArray[np.float64]:
        """Every replicate's accuracy on (X, y): shape (R,)."""
        return (self.predict(X) == np.asarray(y)[None]).mean(axis=1)

    # ----- learning ----------------------------------------------------------------------------

    def _learn(self, rows: IntArray, obs: Any, actions: NDArray[Any], rewards: FloatArray,
               next_obs: Any, terminated: BoolArray, truncated: BoolArray) -> None:
        import torch

        mask = torch.zeros(self.num_envs, device=self.device)
        mask[torch.as_tensor(rows, device=self.device)] = 1.0
        if isinstance(next_obs, dict):
            labels = torch.as_tensor(np.asarray(next_obs["label"], dtype=np.int64),
                                     device=self.device)
            mask = mask * (labels < self.n_classes)  # a step that asked nothing
            labels = labels.clamp(max=self.n_classes - 1)
        else:
            labels = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self._buffer.append((self._as_x(obs),
                             torch.as_tensor(np.asarray(actions, dtype=np.int64),
                                             device=self.device),
                             torch.as_tensor(rewards, dtype=torch.float32, device=self.device),
                             labels, mask))
        if len(self._buffer) >= self.batch_size:
            x, a, r, y, m = (torch.stack(z, dim=1) for z in zip(*self._buffer, strict=True))
            self._buffer = []
            logits = self._forward(x)  # (R, B, K)
            per_example = self._loss(logits, a, r, y)  # (R, B)
            count = m.sum(dim=1).clamp(min=1.0)
            loss = ((per_example * m).sum(dim=1) / count).sum()  # replicates add up
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.steps_learned += 1
            self._after_step(r, m)

    def _loss(self, logits: Tensor, actions: Tensor, rewards: Tensor, labels: Tensor) -> Tensor:
        raise NotImplementedError

    def _after_step(self, rewards: Tensor, mask: Tensor) -> None:
        """Bookkeeping after an optimiser step (the baseline)."""


@register("net-full", "network classifier from full feedback (label in the observation), "
          "cross-entropy (model, hidden, lr, batch_size, optimizer, device)")
class FullFeedbackLearner(_NetworkLearner):
    """Supervised learning as an agent: act greedily, learn the label by cross-entropy.

    Needs the full-feedback observation ``Dict(x, label)`` (``feedback="full"``).
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 model: str = "mlp", hidden: int = 128, lr: float = 3e-3, batch_size: int = 16,
                 optimizer: str = "adam", device: str = "auto") -> None:
        if not (isinstance(observation_space, spaces.Dict)
                and "label" in observation_space.spaces):
            raise ValueError(f"{self.name}: needs the full-feedback observation Dict(x, label) "
                             "(make the environment with feedback='full'), got "
                             f"{observation_space!r}")
        super().__init__(observation_space=observation_space, action_space=action_space,
                         model=model, hidden=hidden, lr=lr, batch_size=batch_size,
                         optimizer=optimizer, device=device)

    def _act(self, obs: Any) -> NDArray[Any]:
        return self.logits(obs).argmax(-1).cpu().numpy().astype(np.int64)

    def _loss(self, logits: Tensor, actions: Tensor, rewards: Tensor, labels: Tensor) -> Tensor:
        import torch

        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(),
                                                 reduction="none").view(labels.shape)


@register("net-reinforce", "network policy from bandit feedback: REINFORCE with a moving-"
          "average baseline (Williams 1992) (model, hidden, lr, batch_size, baseline_rate, "
          "entropy_coef, device)")
class ReinforceLearner(_NetworkLearner):
    """pi(a | x) = softmax(f(x)); loss -(r - b) log pi(a | x) - entropy_coef H(pi(. | x)).

    The default step (lr 1e-3) is smaller than the other learners' (3e-3): at 3e-3 the CNN's
    policy collapsed onto one class in our runs before it had learned.
    ``baseline_rate`` in (0, 1]: b <- b + rate (mean minibatch reward - b) after each step
    (typical 0.05). ``entropy_coef`` >= 0 (typical 0.01) keeps the policy from collapsing
    before it has tried the classes.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 model: str = "mlp", hidden: int = 128, lr: float = 1e-3, batch_size: int = 16,
                 optimizer: str = "adam", baseline_rate: float = 0.05,
                 entropy_coef: float = 0.01, device: str = "auto") -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         model=model, hidden=hidden, lr=lr, batch_size=batch_size,
                         optimizer=optimizer, device=device)
        self.baseline_rate = self._check_float("baseline_rate", baseline_rate, low=0.0,
                                               high=1.0, low_open=True)
        self.entropy_coef = self._check_float("entropy_coef", entropy_coef, low=0.0)

    def _extra_reset(self, num_envs: int) -> None:
        import torch

        self.baseline = torch.zeros(num_envs, device=self.device)

    def _act(self, obs: Any) -> NDArray[Any]:
        import torch

        probs = torch.softmax(self.logits(obs).double(), dim=-1).cpu().numpy()
        u = self.rng.random(self.num_envs)[:, None]
        actions = (probs.cumsum(axis=1) < u).sum(axis=1)  # inverse-CDF sampling
        return np.minimum(actions, self.n_classes - 1).astype(np.int64)

    def _loss(self, logits: Tensor, actions: Tensor, rewards: Tensor, labels: Tensor) -> Tensor:
        import torch

        logp = torch.log_softmax(logits, dim=-1)
        logp_a = logp.gather(-1, actions[..., None])[..., 0]
        advantage = rewards - self.baseline[:, None]
        entropy = -(logp.exp() * logp).sum(-1)
        return -advantage * logp_a - self.entropy_coef * entropy

    def _after_step(self, rewards: Tensor, mask: Tensor) -> None:
        import torch

        mean_r = (rewards * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        seen = mask.sum(1) > 0
        self.baseline = torch.where(seen, self.baseline
                                    + self.baseline_rate * (mean_r - self.baseline),
                                    self.baseline)


@register("net-epsilon-greedy", "network reward model from bandit feedback, epsilon-greedy "
          "(sigmoid per class, BCE on the class tried) (model, hidden, lr, batch_size, epsilon, "
          "device)")
class EpsilonGreedyNetLearner(_NetworkLearner):
    """f_a(x) estimates P(a is right | x); act argmax_a f_a(x), uniformly with probability
    ``epsilon`` in [0, 1] (typical 0.1)."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 model: str = "mlp", hidden: int = 128, lr: float = 3e-3, batch_size: int = 16,
                 optimizer: str = "adam", epsilon: float = 0.1, device: str = "auto") -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         model=model, hidden=hidden, lr=lr, batch_size=batch_size,
                         optimizer=optimizer, device=device)
        self.epsilon = self._check_float("epsilon", epsilon, low=0.0, high=1.0)

    def _act(self, obs: Any) -> NDArray[Any]:
        greedy = self.logits(obs).argmax(-1).cpu().numpy()
        explore = self.rng.random(self.num_envs) < self.epsilon
        uniform = self.rng.integers(0, self.n_classes, self.num_envs)
        return np.where(explore, uniform, greedy).astype(np.int64)

    def _loss(self, logits: Tensor, actions: Tensor, rewards: Tensor, labels: Tensor) -> Tensor:
        import torch

        z = logits.gather(-1, actions[..., None])[..., 0]
        return torch.nn.functional.binary_cross_entropy_with_logits(z, rewards, reduction="none")


class _RecurrentLearner(BaseAgent):
    """A recurrent network that reads a sequence step by step (``SequenceTask-v0``).

    Each replicate owns a network (stacked as in :class:`_NetworkLearner`) and carries its hidden
    state (h, c) across the steps of an episode; at every step it answers from o_t = c + V h_t
    (Dobriban (2019), section 3.3.1). The episode's inputs are kept; every ``batch_size`` episodes
    the networks are unrolled again over the stored episodes and trained by backpropagation through
    time, with the gradient clipped by norm at ``clip`` (Pascanu et al. 2013; 0 = no clipping).

    Replicates must run their episodes in step (equal lengths, reset together), as the
    replicates of ``SequenceTask-v0`` do. At a NEXT_STEP reset step the state is not advanced.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 cell: str = "lstm", hidden: int = 32, lr: float = 1e-2, batch_size: int = 8,
                 clip: float = 1.0, forget_bias: float = 1.0, device: str = "auto") -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        x_space = _x_space(observation_space)
        if x_space is None or len(x_space.shape) != 1:
            raise ValueError(f"{self.name}: observation_space must be a 1-D Box or a Dict with "
                             f"a 1-D 'x' Box (decisiongym/SequenceTask-v0), got "
                             f"{observation_space!r}")
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"{self.name}: action_space must be Discrete, got {action_space!r}")
        if cell not in ("rnn", "gru", "lstm"):
            raise self._param_error("cell", cell, "one of ('rnn', 'gru', 'lstm')")
        self.input_size = int(x_space.shape[0])
        self.n_classes = int(action_space.n)
        self.cell_kind = cell
        self.hidden = self._check_int("hidden", hidden)
        self.lr = self._check_float("lr", lr, low=0.0, low_open=True)
        self.batch_size = self._check_int("batch_size", batch_size)
        self.clip = self._check_float("clip", clip, low=0.0)
        self.forget_bias = self._check_float("forget_bias", forget_bias)
        from decisiongym.supervised.models import resolve_device

        self.device = resolve_device(device)
        self.updates = 0

    def _reset_state(self, num_envs: int) -> None:
        import torch

        from decisiongym.supervised.models import RecurrentNet

        seed = int(self.rng.integers(2**62))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            nets = [RecurrentNet(self.cell_kind, self.input_size, self.hidden, self.n_classes,
                                 forget_bias=self.forget_bias) for _ in range(num_envs)]
        params, buffers = torch.func.stack_module_state(nets)
        self.weights = {k: v.detach().to(self.device).requires_grad_(True)
                        for k, v in params.items()}
        self.buffers = {k: v.to(self.device) for k, v in buffers.items()}
        self._base = copy.deepcopy(nets[0]).to("meta")
        self.optimizer = torch.optim.Adam(list(self.weights.values()), lr=self.lr)
        self._h = torch.zeros(num_envs, 1, self.hidden, device=self.device)
        self._c = torch.zeros_like(self._h)
        self._steps: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
        self._episodes: list[list[tuple[Tensor, Tensor, Tensor, Tensor]]] = []
        self.updates = 0
        self._extra_reset(num_envs)

    def _extra_reset(self, num_envs: int) -> None:
        """Per-learner state."""

    def _step(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One step of every replicate's network: x (R, B, D), h and c (R, B, H)."""
        import torch

        def one(p: dict[str, Tensor], b: dict[str, Tensor], xb: Tensor, hb: Tensor,
                cb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            cell = self._base.cell
            readout = self._base.readout
            cp = {k[len("cell."):]: v for k, v in p.items() if k.startswith("cell.")}
            rp = {k[len("readout."):]: v for k, v in p.items() if k.startswith("readout.")}
            state = (hb, cb) if self.cell_kind == "lstm" else hb
            new = torch.func.functional_call(cell, cp, (xb, state))
            h2, c2 = (new[0], new[1]) if self.cell_kind == "lstm" else (new, cb)
            return torch.func.functional_call(readout, rp, (h2,)), h2, c2

        return torch.func.vmap(one)(self.weights, self.buffers, x, h, c)

    def act(self, obs: Any) -> NDArray[Any]:
        import torch

        if self.num_envs == 0:
            raise RuntimeError(f"{self.name}: call reset(num_envs, seed) before act()")
        x = np.asarray(obs["x"] if isinstance(obs, dict) else obs, dtype=np.float32)
        if x.shape != (self.num_envs, self.input_size):
            raise ValueError(f"{self.name}: observations must have shape "
                             f"({self.num_envs}, {self.input_size}), got {x.shape}")
        with torch.no_grad():
            logits, h, c = self._step(torch.as_tensor(x, device=self.device)[:, None],
                                      self._h, self._c)
        if self._any_episode_ended:  # a reset step: its input is not part of any episode
            keep = torch.as_tensor(~self._episode_ended, device=self.device)[:, None, None]
            h, c = torch.where(keep, h, self._h), torch.where(keep, c, self._c)
        self._h, self._c = h, c
        return self._choose(logits[:, 0])

    def _act(self, obs: Any) -> NDArray[Any]:  # act() is overridden
        raise NotImplementedError

    def _choose(self, logits: Tensor) -> NDArray[np.int64]:
        raise NotImplementedError

    def _learn(self, rows: IntArray, obs: Any, actions: NDArray[Any], rewards: FloatArray,
               next_obs: Any, terminated: BoolArray, truncated: BoolArray) -> None:
        import torch

        if rows.size != self.num_envs:
            raise RuntimeError(f"{self.name}: replicates must run their episodes in step")
        x = np.asarray(obs["x"] if isinstance(obs, dict) else obs, dtype=np.float32)
        labels = (np.asarray(next_obs["label"], dtype=np.int64) if isinstance(next_obs, dict)
                  else np.full(self.num_envs, self.n_classes, dtype=np.int64))
        self._steps.append((torch.as_tensor(x, device=self.device),
                            torch.as_tensor(np.asarray(actions, dtype=np.int64),
                                            device=self.device),
                            torch.as_tensor(rewards, dtype=torch.float32, device=self.device),
                            torch.as_tensor(labels, device=self.device)))

    def _end_episode(self, rows: IntArray) -> None:
        import torch

        if rows.size != self.num_envs:
            raise RuntimeError(f"{self.name}: replicates must run their episodes in step")
        self._episodes.append(self._steps)
        self._steps = []
        self._h = torch.zeros_like(self._h)
        self._c = torch.zeros_like(self._c)
        if len(self._episodes) >= self.batch_size:
            self._train_on_episodes()

    def _train_on_episodes(self) -> None:
        import torch

        from decisiongym.supervised.models import clip_grad_norm

        lengths = {len(e) for e in self._episodes}
        if len(lengths) != 1:
            raise RuntimeError(f"{self.name}: episodes of one batch must have equal lengths")
        # (T, R, E, ...) with E the episodes of the batch
        T = lengths.pop()
        x, a, r, y = (torch.stack([torch.stack([ep[t][f] for ep in self._episodes], dim=1)
                                   for t in range(T)], dim=0) for f in range(4))
        self._episodes = []
        R, E = self.num_envs, x.shape[2]
        h = torch.zeros(R, E, self.hidden, device=self.device)
        c = torch.zeros_like(h)
        logits = []
        for t in range(x.shape[0]):
            out, h, c = self._step(x[t], h, c)
            logits.append(out)
        loss = self._episode_loss(torch.stack(logits), a, r, y)  # summed over replicates
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip > 0:
            clip_grad_norm(list(self.weights.values()), self.clip * math.sqrt(R))
        self.optimizer.step()
        self.updates += 1

    def _episode_loss(self, logits: Tensor, actions: Tensor, rewards: Tensor,
                      labels: Tensor) -> Tensor:
        raise NotImplementedError


@register("rnn-full", "recurrent network (rnn, gru, lstm) reading a sequence step by step, "
          "full feedback, cross-entropy by BPTT (cell, hidden, lr, batch_size, clip, device)")
class RecurrentFullFeedbackLearner(_RecurrentLearner):
    """Answers greedily; learns the answers (``next_obs["label"]``, ``feedback="full"``) by
    cross-entropy at the steps that asked a question."""

    def _choose(self, logits: Tensor) -> NDArray[np.int64]:
        return logits.argmax(-1).cpu().numpy().astype(np.int64)

    def _episode_loss(self, logits: Tensor, actions: Tensor, rewards: Tensor,
                      labels: Tensor) -> Tensor:
        import torch

        asked = (labels < self.n_classes).float()
        ce = torch.nn.functional.cross_entropy(
            logits.flatten(0, -2), labels.clamp(max=self.n_classes - 1).flatten(),
            reduction="none").view(labels.shape)
        per_replicate = (ce * asked).sum(dim=(0, 2)) / asked.sum(dim=(0, 2)).clamp(min=1.0)
        return per_replicate.sum()


@register("rnn-reinforce", "recurrent policy reading a sequence step by step, bandit "
          "feedback, REINFORCE with reward-to-go and a per-step baseline (cell, hidden, lr, "
          "batch_size, clip, device)")
class RecurrentReinforceLearner(_RecurrentLearner):
    """Samples its answers from softmax(o_t); loss -sum_t (G_t - b_t) log pi(a_t | h_t) with
    G_t the reward to go and b_t the mean of G_t over the batch's episodes (Williams 1992)."""

    def _choose(self, logits: Tensor) -> NDArray[np.int64]:
        import torch

        probs = torch.softmax(logits.double(), dim=-1).cpu().numpy()
        u = self.rng.random(self.num_envs)[:, None]
        return np.minimum((probs.cumsum(axis=1) < u).sum(axis=1),
                          self.n_classes - 1).astype(np.int64)

    def _episode_loss(self, logits: Tensor, actions: Tensor, rewards: Tensor,
                      labels: Tensor) -> Tensor:
        import torch

        logp = torch.log_softmax(logits, dim=-1).gather(-1, actions[..., None])[..., 0]
        to_go = rewards.flip(0).cumsum(0).flip(0)  # (T, R, E)
        baseline = to_go.mean(dim=2, keepdim=True)
        return -((to_go - baseline) * logp).sum(0).mean(-1).sum()


__all__ = ["EpsilonGreedyNetLearner", "FullFeedbackLearner", "RecurrentFullFeedbackLearner",
           "RecurrentReinforceLearner", "ReinforceLearner"]
