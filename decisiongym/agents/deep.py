"""Deep reinforcement learning in torch (seed 5.3.9-5.3.10, lines 3787-3859, and 5.4 items 8-10,
lines 4221-4255), behind the batched agent protocol.

Layout. ``reset(num_envs, seed)`` splits the vector env's ``num_envs`` copies into
``num_envs // envs_per_learner`` independent *learners* (the replicates of an experiment): copies
``[i k, (i + 1) k)`` feed learner ``i``. Every learner owns its networks; the networks of all
learners are one set of tensors with a leading learner axis, run with ``torch.bmm`` (as in
:mod:`decisiongym.agents.neural`), so one forward pass serves every replicate and the losses of
the learners are summed (the gradient of each learner's weights comes from its own data only).

Agents (all for a ``Discrete`` action space; observations Box (flattened, uint8 images scaled to
[0, 1]), Discrete (one-hot) or MultiDiscrete (one-hot per dimension)):

- ``dqn``: Mnih et al. (2015), experience replay and fixed Q-targets (a target network synced
  every ``target_update`` env steps), Huber loss, linear epsilon decay; ``double=True`` takes the
  next action from the online network and its value from the target one (van Hasselt et al.
  2016); ``her_k`` > 0 adds hindsight experience replay for goal-conditioned observations
  (Andrychowicz et al. 2017, "future" relabelling; ``GoalMaze-v0``).
- ``reinforce``: Williams (1992), Monte Carlo policy gradient grad log pi(a|s) G_t (seed 5.3.10,
  item 3), with a learned state-value baseline b(s) = v(s, w) (``baseline=True``, item 5).
- ``actor-critic``: the advantage estimated by the TD error (item 5: E[r + gamma v(s') - v(s)]
  = A(s, a)), here its n-step form G_t^(n) - v(s_t), plus an entropy bonus (seed 5.4 item 9).
- ``evolution-strategies``: Salimans et al. (2017): a population of antithetic perturbations
  theta +- sigma eps, one episode each, centred-rank fitness shaping, a gradient step on
  (1 / (n sigma)) sum_j F_j eps_j.
- ``rnd`` (Burda et al. 2019) and ``count-bonus`` wrap any agent above (``base``) and add an
  intrinsic reward to the extrinsic one: the error of a predictor network distilling a fixed
  random network, ``||f_hat(s') - f(s')||^2`` (seed 5.4 item 9), or ``beta / sqrt(N(s'))``.

Networks. ``hidden`` gives the fully connected layers. ``torso="cnn"`` (for image observations,
a uint8 Box (H, W, C) such as ``Maze-v0`` with ``observation="image"``) puts 3 x 3 convolutions
(``conv_channels``, default (16, 32), stride 1, zero padding 1, ReLU) before them, the learners'
conv nets run as one grouped convolution (:class:`BatchedConvMLP`); ``"mlp"`` (the default)
feeds the flattened observation to the hidden layers. Every agent above takes both.

Random numbers (initial weights, exploration, minibatches, perturbations) come from the agent's
numpy generator, so on CPU a seed fixes the learning curve bit for bit. ``device="auto"`` takes
CUDA when present. Buffers (replay, rollouts, episodes) are preallocated arrays.

Checkpoints: :meth:`DeepAgent.save` / :meth:`DeepAgent.load` write and read a dict of tensors and
plain values with ``torch.save`` / ``torch.load(weights_only=True)``. A save is atomic
(:func:`atomic_write`: a temporary file in the same directory, flushed, fsynced, then renamed
over the old one), so a crash at any moment leaves the previous checkpoint or the new one, never
a partial file. A file that cannot be read (missing, empty, truncated, not a checkpoint) raises
:class:`CheckpointError` with one line naming it and what is wrong; a checkpoint made for another
architecture raises :class:`CheckpointMismatch` (a :class:`CheckpointError`) naming what differs.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from decisiongym import files
from decisiongym.agents.base import (
    BaseAgent,
    Checkpointing,
    GreedyEvaluation,
    make,
    register,
)
from decisiongym.agents.base import envs_per_learner as envs_per_learner_of
from decisiongym.arrays import BoolArray, FloatArray, IntArray
from decisiongym.files import remove_stale_temporaries
from decisiongym.validation import check_bool, is_integer

__all__ = [
    "DQN",
    "ActorCritic",
    "CheckpointError",
    "CheckpointMismatch",
    "CountBonus",
    "DeepAgent",
    "EvolutionStrategies",
    "RandomNetworkDistillation",
    "Reinforce",
    "atomic_write",
    "resolve_device",
]

F32 = NDArray[np.float32]


class CheckpointError(ValueError):
    """A checkpoint cannot be read: missing, empty, truncated, or not a checkpoint at all."""


class CheckpointMismatch(CheckpointError):
    """A checkpoint was made for another agent or architecture."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``exc`` as one short line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()[0].strip() if str(exc).strip() else ""
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write a checkpoint atomically (:func:`decisiongym.files.atomic_write`: the previous file
    stays until the new one is complete), first removing the temporaries of this checkpoint
    that killed writers left behind."""
    target = Path(path)
    remove_stale_temporaries(target.parent, f".{target.name}.*.tmp")
    return files.atomic_write(target, data)


def resolve_device(device: str) -> Any:
    """``"auto"``: CUDA when present, else CPU; otherwise ``torch.device(device)``."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


# --------------------------------------------------------------------------------------------
# Observation encoding and batched networks (plumbing).
# --------------------------------------------------------------------------------------------


class ObsEncoder:
    """Observations of a batch of env copies -> float32 rows (N, d)."""

    def __init__(self, space: spaces.Space[Any], who: str) -> None:
        self.space = space
        if isinstance(space, spaces.Discrete):
            self.kind, self.dim = "discrete", int(space.n)
            self.start = int(space.start)
        elif isinstance(space, spaces.MultiDiscrete):
            self.kind = "multidiscrete"
            self.nvec = np.asarray(space.nvec, dtype=np.int64).reshape(-1)
            self.offsets = np.concatenate([[0], np.cumsum(self.nvec)[:-1]])
            self.dim = int(self.nvec.sum())
        elif isinstance(space, spaces.Box):
            self.kind = "image" if space.dtype == np.uint8 else "box"
            self.dim = int(np.prod(space.shape))
        else:
            raise ValueError(f"{who}: needs a Box, Discrete or MultiDiscrete observation space, "
                             f"got {space!r}")

    def __call__(self, obs: Any) -> F32:
        x = np.asarray(obs)
        if self.kind == "discrete":
            idx = x.reshape(-1).astype(np.int64) - self.start
            out = np.zeros((idx.size, self.dim), dtype=np.float32)
            out[np.arange(idx.size), idx] = 1.0
            return out
        if self.kind == "multidiscrete":
            idx = x.reshape(x.shape[0], -1).astype(np.int64) + self.offsets
            out = np.zeros((idx.shape[0], self.dim), dtype=np.float32)
            out[np.arange(idx.shape[0])[:, None], idx] = 1.0
            return out
        flat = x.reshape(x.shape[0], -1).astype(np.float32)
        if self.kind == "image":
            flat *= np.float32(1.0 / 255.0)
        return flat


class BatchedMLP:
    """``learners`` independent MLPs as tensors (L, fan_in, fan_out); inputs (L, B, d).

    Weights start uniform in +-1/sqrt(fan_in) (PyTorch's Linear default), the last layer scaled
    by ``out_scale`` (small policy outputs start near uniform), drawn from a numpy generator.
    """

    def __init__(self, sizes: list[int], learners: int, rng: np.random.Generator, device: Any,
                 out_scale: float = 1.0) -> None:
        import torch

        self.sizes = sizes
        self.params: list[Any] = []
        for j in range(len(sizes) - 1):
            bound = 1.0 / math.sqrt(sizes[j])
            scale = out_scale if j == len(sizes) - 2 else 1.0
            w = rng.uniform(-bound, bound, (learners, sizes[j], sizes[j + 1])) * scale
            b = rng.uniform(-bound, bound, (learners, 1, sizes[j + 1])) * scale
            for arr in (w, b):
                self.params.append(torch.tensor(arr, dtype=torch.float32, device=device,
                                                requires_grad=True))

    def __call__(self, x: Any, params: list[Any] | None = None) -> Any:
        import torch

        p = self.params if params is None else params
        h = x
        last = len(p) // 2 - 1
        for j in range(last + 1):
            h = torch.baddbmm(p[2 * j + 1], h, p[2 * j])
            if j < last:
                h = torch.relu(h)
        return h

    def copy_params(self) -> list[Any]:
        return [q.detach().clone() for q in self.params]


class BatchedConvMLP:
    """``learners`` independent conv nets: 3 x 3 convolutions (stride 1, zero padding 1, ReLU)
    over an (H, W, C) image, then a :class:`BatchedMLP` head on the flattened feature maps.

    Inputs are (L, B, H * W * C), the rows :class:`ObsEncoder` gives for an image (HWC order,
    scaled to [0, 1]). The L nets run as one grouped convolution (``groups = L``), the way
    :class:`BatchedMLP` runs them as one ``baddbmm``. ``params`` is the conv weights
    (L, out, in, 3, 3) and biases (L, out), then the head's, each with the learner axis first,
    so that anything written for :class:`BatchedMLP` (target copies, ES perturbations, Adam,
    checkpoints) works unchanged. Conv weights start uniform in +-1/sqrt(in * 9) (PyTorch's
    Conv2d default bound).
    """

    def __init__(self, image_shape: tuple[int, ...], channels: list[int], sizes: list[int],
                 learners: int, rng: np.random.Generator, device: Any,
                 out_scale: float = 1.0) -> None:
        import torch

        self.image_shape = tuple(int(v) for v in image_shape)
        h, w, c = self.image_shape
        self.channels = [c, *channels]
        self.params: list[Any] = []
        for j in range(len(channels)):
            c_in, c_out = self.channels[j], self.channels[j + 1]
            bound = 1.0 / math.sqrt(c_in * 9)
            for arr in (rng.uniform(-bound, bound, (learners, c_out, c_in, 3, 3)),
                        rng.uniform(-bound, bound, (learners, c_out))):
                self.params.append(torch.tensor(arr, dtype=torch.float32, device=device,
                                                requires_grad=True))
        self.n_conv = 2 * len(channels)
        self.head = BatchedMLP([channels[-1] * h * w, *sizes], learners, rng, device,
                               out_scale=out_scale)
        self.params += self.head.params

    def __call__(self, x: Any, params: list[Any] | None = None) -> Any:
        import torch
        import torch.nn.functional as F

        p = self.params if params is None else params
        n_l, b = x.shape[0], x.shape[1]
        h, w, c = self.image_shape
        # (L, B, H W C) -> (B, L C, H, W): learner l's channels are group l.
        z = x.reshape(n_l, b, h, w, c).permute(1, 0, 4, 2, 3).reshape(b, n_l * c, h, w)
        for j in range(self.n_conv // 2):
            weight, bias = p[2 * j], p[2 * j + 1]
            z = torch.relu(F.conv2d(z, weight.reshape(-1, *weight.shape[2:]),
                                    bias.reshape(-1), padding=1, groups=n_l))
        feats = z.reshape(b, n_l, -1).permute(1, 0, 2)  # (L, B, out H W)
        return self.head(feats, p[self.n_conv:])

    def copy_params(self) -> list[Any]:
        return [q.detach().clone() for q in self.params]


def _channels(who: str, channels: Any) -> list[int]:
    if not isinstance(channels, (list, tuple)) or not channels or any(
            not is_integer(c) or c < 1 for c in channels):
        raise ValueError(f"{who}: conv_channels must be a non-empty list of positive integers "
                         f"(channels per 3 x 3 conv layer), got {channels!r}")
    return [int(c) for c in channels]


def _adam(params: list[Any], lr: float) -> Any:
    """Adam with the fused kernel (one call for all tensors; on CPU about twice as fast for
    small networks as the per-tensor loop torch picks by default there)."""
    import torch

    return torch.optim.Adam(params, lr=lr, fused=True)


def _hidden_sizes(who: str, hidden: Any) -> list[int]:
    if is_integer(hidden):
        sizes = [int(hidden)]
    elif isinstance(hidden, (list, tuple)):
        sizes = list(hidden)
    else:
        sizes = []
    if not sizes or any(not is_integer(h) or h < 1 for h in sizes):
        raise ValueError(f"{who}: hidden must be a positive integer or a list of them "
                         f"(units per hidden layer), got {hidden!r}")
    return [int(h) for h in sizes]


# --------------------------------------------------------------------------------------------
# The shared base: learners, devices, checkpoints.
# --------------------------------------------------------------------------------------------


class DeepAgent(BaseAgent):
    """Torch agents over ``learners = num_envs // envs_per_learner`` independent learners."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 hidden: Any = (64, 64), learning_rate: float = 1e-3, gamma: float = 0.99,
                 envs_per_learner: int = 1, device: str = "auto", num_threads: int | None = 1,
                 torso: str = "mlp", conv_channels: Any = (16, 32)) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(f"{self.name}: needs a Discrete action space, got {action_space!r}")
        self.n_actions = int(action_space.n)
        self.action_start = int(action_space.start)
        self.encoder = ObsEncoder(observation_space, self.name)
        self.hidden = _hidden_sizes(self.name, hidden)
        if torso not in ("mlp", "cnn"):
            raise self._param_error("torso", torso, '"mlp" or "cnn"')
        shape = getattr(observation_space, "shape", None) or ()
        if torso == "cnn" and (self.encoder.kind != "image" or len(shape) != 3):
            raise self._param_error("torso", torso, '"mlp" unless the observation is an image '
                                    "(a uint8 Box of shape (H, W, C), e.g. Maze-v0 with "
                                    'observation="image")')
        self.torso = torso
        self.conv_channels = _channels(self.name, conv_channels) if torso == "cnn" else []
        self.learning_rate = self._check_float("learning_rate", learning_rate, low=0.0,
                                               low_open=True)
        self.gamma = self._check_float("gamma", gamma, low=0.0, high=1.0)
        self.envs_per_learner = self._check_int("envs_per_learner", envs_per_learner)
        self.num_threads = None if num_threads is None else self._check_int(
            "num_threads", num_threads)
        if not isinstance(device, str):
            raise self._param_error("device", device, '"auto", "cpu", "cuda" or a torch device')
        try:
            self.device = resolve_device(device)
        except RuntimeError as exc:
            raise self._param_error("device", device, '"auto", "cpu" or "cuda"') from exc
        self.deterministic = False  # act greedily (evaluation); no exploration noise
        self.learners = 0

    # ----- plumbing ------------------------------------------------------------------------------

    def _reset_state(self, num_envs: int) -> None:
        import torch

        if num_envs % self.envs_per_learner:
            raise ValueError(f"{self.name}: num_envs {num_envs} is not a multiple of "
                             f"envs_per_learner {self.envs_per_learner}")
        if self.num_threads is not None and self.device.type == "cpu":
            # Small networks run fastest on one thread; this sets torch's threads for the process.
            torch.set_num_threads(self.num_threads)
        self.learners = num_envs // self.envs_per_learner
        self.steps = 0  # env steps per copy
        self._build(self.learners)

    def _build(self, learners: int) -> None:
        raise NotImplementedError

    def _network(self, out: int, learners: int, out_scale: float = 1.0
                 ) -> BatchedMLP | BatchedConvMLP:
        """The agent's network for ``out`` outputs: the hidden layers on the encoded
        observation (``torso="mlp"``), or on conv feature maps of the image (``"cnn"``)."""
        if self.torso == "cnn":
            return BatchedConvMLP(tuple(self.observation_space.shape or ()), self.conv_channels,
                                  [*self.hidden, out], learners, self.rng, self.device,
                                  out_scale=out_scale)
        return BatchedMLP([self.encoder.dim, *self.hidden, out], learners, self.rng,
                          self.device, out_scale=out_scale)

    def _tensor(self, x: Any, dtype: Any = None) -> Any:
        import torch

        return torch.as_tensor(x, dtype=dtype or torch.float32, device=self.device)

    def _by_learner(self, x: NDArray[Any]) -> NDArray[Any]:
        """(N, ...) rows of env copies -> (L, k, ...)."""
        return x.reshape(self.learners, self.envs_per_learner, *x.shape[1:])

    def _sample_categorical(self, probs: F32) -> IntArray:
        """One draw per row of ``probs`` (N, A) from the agent's generator (inverse CDF)."""
        cdf = np.cumsum(probs.astype(np.float64), axis=1)
        u = self.rng.random((probs.shape[0], 1)) * cdf[:, -1:]
        return np.minimum((u > cdf).sum(axis=1), self.n_actions - 1).astype(np.int64)

    def _to_env_actions(self, a: IntArray) -> IntArray:
        return a + self.action_start if self.action_start else a

    def _from_env_actions(self, a: NDArray[Any]) -> IntArray:
        a = np.asarray(a, dtype=np.int64).reshape(-1)
        return a - self.action_start if self.action_start else a

    # ----- checkpoints ---------------------------------------------------------------------------

    def architecture(self) -> dict[str, Any]:
        """What a checkpoint must match: agent, input and output sizes, layers, learners."""
        return {"agent": self.name, "obs_dim": self.encoder.dim, "n_actions": self.n_actions,
                "hidden": list(self.hidden), "torso": self.torso,
                "conv_channels": list(self.conv_channels),
                "envs_per_learner": self.envs_per_learner,
                "learners": self.learners}

    def _tensors(self) -> dict[str, list[Any]]:
        """Named lists of the tensors that make the agent's learned state."""
        raise NotImplementedError

    def _optimizers(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        if self.learners == 0:
            raise RuntimeError(f"{self.name}: call reset(num_envs, seed) before saving")
        return {"format": 1, "architecture": self.architecture(),
                "tensors": {k: [t.detach().cpu() for t in v] for k, v in self._tensors().items()},
                "optimizers": {k: o.state_dict() for k, o in self._optimizers().items()},
                "steps": int(self.steps)}

    def load_state_dict(self, state: dict[str, Any], *, source: str = "checkpoint") -> None:
        import torch

        if self.learners == 0:
            raise RuntimeError(f"{self.name}: call reset(num_envs, seed) before loading")
        theirs = state.get("architecture") if isinstance(state, dict) else None
        ours = self.architecture()
        if not isinstance(theirs, dict):
            raise CheckpointError(f"{self.name}: {source} is not a decisiongym agent "
                                  "checkpoint (no 'architecture' entry)")
        diff = {k: (theirs.get(k), v) for k, v in ours.items() if theirs.get(k) != v}
        if diff:
            detail = "; ".join(f"{k}: checkpoint {a!r}, this agent {b!r}"
                               for k, (a, b) in diff.items())
            raise CheckpointMismatch(f"{self.name}: {source} was saved for another "
                                     f"architecture ({detail})")
        ours_tensors = self._tensors()
        # Check every entry before changing anything: a damaged checkpoint leaves the agent as
        # it was.
        try:
            saved_tensors = state["tensors"]
            saved_opts = state["optimizers"]
            steps = int(state.get("steps", 0))
            for key, tensors in ours_tensors.items():
                saved = saved_tensors[key]
                if len(saved) != len(tensors):
                    raise CheckpointMismatch(f"{self.name}: {source}: {key} holds {len(saved)} "
                                             f"tensors, expected {len(tensors)}")
                for t, s in zip(tensors, saved, strict=True):
                    if not isinstance(s, torch.Tensor):
                        raise CheckpointError(f"{self.name}: {source}: {key} holds a "
                                              f"{type(s).__name__}, not a tensor")
                    if tuple(t.shape) != tuple(s.shape):
                        raise CheckpointMismatch(f"{self.name}: {source}: tensor {key} has "
                                                 f"shape {tuple(s.shape)}, expected "
                                                 f"{tuple(t.shape)}")
            for key in self._optimizers():
                if not isinstance(saved_opts[key], dict):
                    raise CheckpointError(f"{self.name}: {source}: optimizer {key} is not a "
                                          "state dict")
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"{self.name}: {source} is damaged or incomplete "
                                  f"({one_line(exc)})") from exc
        with torch.no_grad():
            for key, tensors in ours_tensors.items():
                for t, s in zip(tensors, saved_tensors[key], strict=True):
                    t.copy_(s.to(t.device))
        try:
            for key, opt in self._optimizers().items():
                opt.load_state_dict(saved_opts[key])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{self.name}: {source}: optimizer state cannot be loaded "
                                  f"({one_line(exc)})") from exc
        self.steps = steps

    def save(self, path: str | Path) -> Path:
        """Write the learned state with ``torch.save`` (tensors and plain values only),
        atomically (:func:`atomic_write`): the previous checkpoint stays until the new one is
        complete."""
        import torch

        buffer = io.BytesIO()
        torch.save(self.state_dict(), buffer)
        return atomic_write(path, buffer.getvalue())

    def load(self, path: str | Path) -> None:
        """Read a checkpoint with ``torch.load(weights_only=True)``. :class:`CheckpointError`
        (one line naming the file and what is wrong) when it is missing or cannot be read;
        :class:`CheckpointMismatch` when it was made for another architecture."""
        import pickle
        import zipfile

        import torch

        source = f"checkpoint {str(path)!r}"
        file = Path(path)
        if not file.exists():
            raise CheckpointError(f"{self.name}: {source} does not exist")
        if not file.is_file():
            raise CheckpointError(f"{self.name}: {source} is not a file")
        size = file.stat().st_size
        if size == 0:
            raise CheckpointError(f"{self.name}: {source} is empty")
        if not zipfile.is_zipfile(file):  # torch.save writes a zip archive
            raise CheckpointError(f"{self.name}: {source} is not a complete torch checkpoint "
                                  f"({size} bytes, no zip archive: truncated, damaged or "
                                  "another kind of file)")
        try:
            state = torch.load(file, map_location=self.device, weights_only=True)
        except (pickle.UnpicklingError, EOFError, OSError, RuntimeError, KeyError, ValueError,
                TypeError, AttributeError, IndexError, UnicodeDecodeError,
                ImportError, zipfile.BadZipFile) as exc:
            raise CheckpointError(f"{self.name}: {source} cannot be read as a torch checkpoint "
                                  f"(damaged, or not written by save): {one_line(exc, 120)}"
                                  ) from exc
        self.load_state_dict(state, source=source)


# --------------------------------------------------------------------------------------------
# DQN (Mnih et al. 2015).
# --------------------------------------------------------------------------------------------


@register("dqn", "DQN, Mnih et al. (2015): experience replay, fixed Q-targets, Huber loss, "
          "linear epsilon decay; double=True for double DQN (hidden, learning_rate, ...)")
class DQN(DeepAgent):
    """Deep Q-network with experience replay and fixed Q-targets (seed 5.3.9, item 6).

    Each env step stores the transitions of a learner's copies in its replay buffer (a ring of
    ``buffer_size`` preallocated rows); every ``train_freq`` steps, ``gradient_steps`` Adam steps
    on minibatches of ``batch_size`` drawn uniformly from the buffer minimise the Huber loss of
    Q(s, a; w) against y = r + gamma (1 - terminated) max_a' Q(s', a'; w^-), w^- the target
    network copied from w every ``target_update`` env steps. With ``double=True``,
    y = r + gamma Q(s', argmax_a' Q(s', a'; w); w^-). Actions are epsilon-greedy, epsilon going
    linearly from ``epsilon_start`` to ``epsilon_final`` over ``exploration_steps`` env steps;
    learning starts after ``learning_starts`` steps. Truncation bootstraps (the episode was
    cut, not ended). Defaults are rl-zoo's tuned CartPole-v1 settings for SB3's DQN.

    Hindsight experience replay (Andrychowicz et al. 2017), ``her_k`` > 0: for goal-conditioned
    observations laid out as ``achieved goal ++ desired goal`` (equal halves of a flat Box, as
    ``GoalMaze-v0``'s), each finished episode of a copy is relabelled with the "future" strategy:
    every transition t is stored ``her_k`` more times, its desired goal replaced by the goal
    achieved after a step j >= t drawn uniformly, its reward recomputed (``her_goal_reward`` if
    s_{t+1} achieves it, else ``her_step_reward``) and terminated where it is achieved. The
    relabelled transitions live in a second ring per learner (``buffer_size`` rows) and make
    ``her_k / (her_k + 1)`` of each minibatch once present. With ``her_k=0`` (the default)
    nothing of this runs and DQN is unchanged bit for bit.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 hidden: Any = (256, 256), learning_rate: float = 2.3e-3, gamma: float = 0.99,
                 buffer_size: int = 100_000, batch_size: int = 64, learning_starts: int = 1000,
                 train_freq: int = 256, gradient_steps: int = 128, target_update: int = 10,
                 epsilon_start: float = 1.0, epsilon_final: float = 0.04,
                 exploration_steps: int = 8000, double: bool = False,
                 envs_per_learner: int = 1, device: str = "auto", num_threads: int | None = 1,
                 her_k: int = 0, her_goal_reward: float = 0.0, her_step_reward: float = -1.0,
                 torso: str = "mlp", conv_channels: Any = (16, 32)) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         hidden=hidden, learning_rate=learning_rate, gamma=gamma,
                         envs_per_learner=envs_per_learner, device=device,
                         num_threads=num_threads, torso=torso, conv_channels=conv_channels)
        self.buffer_size = self._check_int("buffer_size", buffer_size)
        self.batch_size = self._check_int("batch_size", batch_size)
        self.learning_starts = self._check_int("learning_starts", learning_starts, low=0)
        self.train_freq = self._check_int("train_freq", train_freq)
        self.gradient_steps = self._check_int("gradient_steps", gradient_steps)
        self.target_update = self._check_int("target_update", target_update)
        self.epsilon_start = self._check_float("epsilon_start", epsilon_start, low=0, high=1)
        self.epsilon_final = self._check_float("epsilon_final", epsilon_final, low=0, high=1)
        self.exploration_steps = self._check_int("exploration_steps", exploration_steps, low=0)
        self.double = self._check_bool("double", double)
        self.her_k = self._check_int("her_k", her_k, low=0)
        self.her_goal_reward = self._check_float("her_goal_reward", her_goal_reward)
        self.her_step_reward = self._check_float("her_step_reward", her_step_reward)
        if self.her_k and (self.encoder.kind != "box" or self.encoder.dim % 2):
            raise self._param_error("her_k", her_k, "0 unless the observation is a flat Box "
                                    "of achieved goal ++ desired goal (GoalMaze-v0 with "
                                    "observation='flat')")

    def architecture(self) -> dict[str, Any]:
        return {**super().architecture(), "double": self.double}

    def _build(self, learners: int) -> None:

        self.q = self._network(self.n_actions, learners)
        self.q_target = self.q.copy_params()
        self.optimizer = _adam(self.q.params, self.learning_rate)
        cap = max(self.buffer_size, self.envs_per_learner)
        cap -= cap % self.envs_per_learner  # whole steps of the learner's copies
        shape = (learners, cap)
        # One array for (s, s') and one for (a, r, 1 - terminated, valid): two gathers per batch.
        self.buf_states = np.zeros((*shape, 2, self.encoder.dim), dtype=np.float32)
        self.buf_scalars = np.zeros((*shape, 4), dtype=np.float32)  # valid 0 for reset steps
        self.capacity, self.pos, self.filled = cap, 0, 0
        self.last_loss = float("nan")
        if self.her_k:
            self.her_states = np.zeros((learners, self.buffer_size, 2, self.encoder.dim),
                                       dtype=np.float32)
            self.her_scalars = np.zeros((learners, self.buffer_size, 4), dtype=np.float32)
            self.her_pos = np.zeros(learners, dtype=np.int64)
            self.her_filled = np.zeros(learners, dtype=np.int64)
            self._episodes: list[list[tuple[F32, int, F32]]] = [
                [] for _ in range(learners * self.envs_per_learner)]

    def relabel(self, states: F32, actions: IntArray, next_states: F32
                ) -> tuple[F32, F32, IntArray, FloatArray, FloatArray]:
        """HER's "future" relabelling of one episode (encoded rows s_t, a_t, s_{t+1}, (T, d)):
        ``her_k`` transitions per step t with the desired goal replaced by the achieved goal of
        s_{j+1}, j uniform in [t, T); returns (s, s', a, r, 1 - terminated), ``her_k T`` rows."""
        t_len, half = states.shape[0], states.shape[1] // 2
        t = np.repeat(np.arange(t_len), self.her_k)
        j = t + (self.rng.random(t.size) * (t_len - t)).astype(np.int64)
        goals = next_states[j, :half]
        s = np.concatenate([states[t, :half], goals], axis=1)
        s2 = np.concatenate([next_states[t, :half], goals], axis=1)
        hit = next_states[t, :half].argmax(axis=1) == goals.argmax(axis=1)
        r = np.where(hit, self.her_goal_reward, self.her_step_reward)
        return s, s2, actions[t], r, (~hit).astype(np.float64)

    def _her_store(self, rows: IntArray, enc: F32, enc2: F32, actions: IntArray,
                   done: BoolArray) -> None:
        for i in rows:
            ep = self._episodes[int(i)]
            ep.append((enc[i], int(actions[i]), enc2[i]))
            if not done[i]:
                continue
            s, s2, a, r, cont = self.relabel(np.stack([e[0] for e in ep]),
                                             np.array([e[1] for e in ep], dtype=np.int64),
                                             np.stack([e[2] for e in ep]))
            ep.clear()
            lrn = int(i) // self.envs_per_learner
            slots = (self.her_pos[lrn] + np.arange(len(a))) % self.buffer_size
            self.her_states[lrn, slots, 0] = s
            self.her_states[lrn, slots, 1] = s2
            self.her_scalars[lrn, slots] = np.stack([a, r, cont, np.ones_like(r)], axis=1)
            self.her_pos[lrn] = (self.her_pos[lrn] + len(a)) % self.buffer_size
            self.her_filled[lrn] = min(self.her_filled[lrn] + len(a), self.buffer_size)

    @property
    def buf_valid(self) -> NDArray[np.float32]:
        """1 for a stored transition, 0 for a reset step (never learned from), (L, capacity)."""
        return self.buf_scalars[..., 3]

    def _tensors(self) -> dict[str, list[Any]]:
        return {"q": self.q.params, "q_target": self.q_target}

    def _optimizers(self) -> dict[str, Any]:
        return {"adam": self.optimizer}

    @property
    def epsilon(self) -> float:
        if self.exploration_steps == 0:
            return self.epsilon_final
        frac = min(1.0, self.steps / self.exploration_steps)
        return self.epsilon_start + frac * (self.epsilon_final - self.epsilon_start)

    def q_values(self, obs: Any) -> F32:
        """Q(s, .) of every env copy, (N, A)."""
        import torch

        x = self._by_learner(self.encoder(obs))
        with torch.no_grad():
            q = self.q(self._tensor(x))
        return np.asarray(q.reshape(-1, self.n_actions).cpu().numpy())

    def _act(self, obs: Any) -> IntArray:
        greedy = self.q_values(obs).argmax(axis=1)
        if self.deterministic:
            return self._to_env_actions(greedy)
        n = greedy.size
        explore = self.rng.random(n) < self.epsilon
        random_actions = self.rng.integers(self.n_actions, size=n)
        return self._to_env_actions(np.where(explore, random_actions, greedy))

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        # --- store the step's transitions (reset steps kept with weight 0) -------------------
        k = self.envs_per_learner
        sl = slice(self.pos, self.pos + k)
        valid = np.zeros(self.num_envs, dtype=np.float32)
        valid[rows] = 1.0
        enc, enc2 = self.encoder(obs), self.encoder(next_obs)
        self.buf_states[:, sl, 0] = self._by_learner(enc)
        self.buf_states[:, sl, 1] = self._by_learner(enc2)
        if self.her_k:
            self._her_store(rows, enc, enc2, self._from_env_actions(actions),
                            np.asarray(terminated | truncated))
        scalars = np.stack([self._from_env_actions(actions), rewards, ~terminated, valid],
                           axis=1).astype(np.float32)
        self.buf_scalars[:, sl] = self._by_learner(scalars)
        self.pos = (self.pos + k) % self.capacity
        self.filled = min(self.filled + k, self.capacity)
        self.steps += 1
        # --- learn ----------------------------------------------------------------------------
        if self.steps >= self.learning_starts and self.steps % self.train_freq == 0:
            for _ in range(self.gradient_steps):
                self._gradient_step()
        if self.steps % self.target_update == 0:
            import torch

            with torch.no_grad():
                for t, p in zip(self.q_target, self.q.params, strict=True):
                    t.copy_(p)

    def _end_episode(self, rows: IntArray) -> None:
        # A finished copy's reset step is recorded as invalid in _learn (rows excludes it).
        pass

    def _gradient_step(self) -> None:
        import torch

        lr = np.arange(self.learners)[:, None]
        if self.her_k and self.her_filled.any():
            n_her = self.batch_size * self.her_k // (self.her_k + 1)
            idx = self.rng.integers(self.filled, size=(self.learners, self.batch_size - n_her))
            h_idx = (self.rng.random((self.learners, n_her))
                     * self.her_filled[:, None]).astype(np.int64)
            states = self._tensor(np.concatenate(
                [self.buf_states[lr, idx], self.her_states[lr, h_idx]], axis=1))
            scalars = self._tensor(np.concatenate(
                [self.buf_scalars[lr, idx], self.her_scalars[lr, h_idx]], axis=1))
        else:
            idx = self.rng.integers(self.filled, size=(self.learners, self.batch_size))
            states = self._tensor(self.buf_states[lr, idx])
            scalars = self._tensor(self.buf_scalars[lr, idx])
        s, s2 = states[:, :, 0], states[:, :, 1]
        a = scalars[..., 0].to(torch.int64)
        r, cont, w = scalars[..., 1], scalars[..., 2], scalars[..., 3]
        with torch.no_grad():
            q_next_target = self.q(s2, self.q_target)
            if self.double:  # van Hasselt et al. (2016): select with w, evaluate with w^-
                a_star = self.q(s2).argmax(dim=2, keepdim=True)
                q_next = q_next_target.gather(2, a_star)[..., 0]
            else:
                q_next = q_next_target.max(dim=2).values
            y = r + self.gamma * cont * q_next
        q_sa = self.q(s).gather(2, a[..., None])[..., 0]
        huber = torch.nn.functional.smooth_l1_loss(q_sa, y, reduction="none")
        loss = ((huber * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)).sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.last_loss = float(loss.detach()) / self.learners


# --------------------------------------------------------------------------------------------
# Policy gradient: REINFORCE and actor-critic (seed 5.3.10).
# --------------------------------------------------------------------------------------------


class _PolicyAgent(DeepAgent):
    """A softmax policy pi(a|s, theta) and, optionally, a state-value network v(s, w)."""

    with_critic = True

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 hidden: Any = (64, 64), learning_rate: float = 1e-3, gamma: float = 0.99,
                 envs_per_learner: int = 1, device: str = "auto", num_threads: int | None = 1,
                 value_coef: float = 0.5, entropy_coef: float = 0.0, torso: str = "mlp",
                 conv_channels: Any = (16, 32)) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         hidden=hidden, learning_rate=learning_rate, gamma=gamma,
                         envs_per_learner=envs_per_learner, device=device,
                         num_threads=num_threads, torso=torso, conv_channels=conv_channels)
        self.value_coef = self._check_float("value_coef", value_coef, low=0.0)
        self.entropy_coef = self._check_float("entropy_coef", entropy_coef, low=0.0)

    def _build(self, learners: int) -> None:

        self.pi = self._network(self.n_actions, learners, out_scale=0.01)
        params = list(self.pi.params)
        if self.with_critic:
            self.v = self._network(1, learners)
            params += self.v.params
        self.optimizer = _adam(params, self.learning_rate)
        self.last_loss = float("nan")

    def _tensors(self) -> dict[str, list[Any]]:
        out = {"pi": self.pi.params}
        if self.with_critic:
            out["v"] = self.v.params
        return out

    def _optimizers(self) -> dict[str, Any]:
        return {"adam": self.optimizer}

    def policy_probs(self, obs: Any) -> F32:
        """pi(.|s) of every env copy, (N, A)."""
        import torch

        x = self._tensor(self._by_learner(self.encoder(obs)))
        with torch.no_grad():
            probs = torch.softmax(self.pi(x), dim=2)
        return np.asarray(probs.reshape(-1, self.n_actions).cpu().numpy())

    def _act(self, obs: Any) -> IntArray:
        probs = self.policy_probs(obs)
        if self.deterministic:
            return self._to_env_actions(probs.argmax(axis=1))
        return self._to_env_actions(self._sample_categorical(probs))

    def _policy_loss(self, s: Any, a: Any, advantage: Any, weight: Any) -> Any:
        """Per learner: -mean w [A log pi(a|s) + entropy_coef H(pi(.|s))], (L,)."""
        import torch

        logp_all = torch.log_softmax(self.pi(s), dim=2)
        logp = logp_all.gather(2, a[..., None])[..., 0]
        entropy = -(logp_all.exp() * logp_all).sum(dim=2)
        total = weight.sum(dim=1).clamp(min=1.0)
        return -((advantage * logp + self.entropy_coef * entropy) * weight).sum(dim=1) / total


@register("reinforce", "REINFORCE, Williams (1992): Monte Carlo policy gradient, optional "
          "learned baseline v(s) (baseline, hidden, learning_rate, update_every)")
class Reinforce(_PolicyAgent):
    """MC policy gradient (seed 5.3.10, item 3): theta += alpha grad log pi(A_t|S_t) (G_t - b(S_t)).

    Every finished episode of a learner's copies goes to the learner's batch with its returns
    G_t = sum_k gamma^k R_{t+k+1}; every ``update_every`` env steps, one Adam step on the batch
    of each learner that has finished episodes (mean over its steps), then the batch is emptied.
    With ``baseline=True`` a value network v(s, w), fitted to G_t by squared error, is the
    baseline b(s) (item 5: subtracting B(s) leaves the gradient's expectation unchanged).
    An episode cut by truncation has no Monte Carlo return and is dropped.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 baseline: bool = True, hidden: Any = (64, 64), learning_rate: float = 5e-3,
                 gamma: float = 0.99, update_every: int = 250, envs_per_learner: int = 4,
                 value_coef: float = 0.5, entropy_coef: float = 0.0, device: str = "auto",
                 num_threads: int | None = 1, torso: str = "mlp",
                 conv_channels: Any = (16, 32)) -> None:
        self.with_critic = check_bool("reinforce", "baseline", baseline)
        super().__init__(observation_space=observation_space, action_space=action_space,
                         hidden=hidden, learning_rate=learning_rate, gamma=gamma,
                         envs_per_learner=envs_per_learner, device=device,
                         num_threads=num_threads, value_coef=value_coef,
                         entropy_coef=entropy_coef, torso=torso, conv_channels=conv_channels)
        self.baseline = baseline
        self.update_every = self._check_int("update_every", update_every)

    def architecture(self) -> dict[str, Any]:
        return {**super().architecture(), "baseline": self.baseline}

    def _build(self, learners: int) -> None:
        super()._build(learners)
        n, d = self.num_envs, self.encoder.dim
        self.ep_cap = 512
        self.ep_obs = np.zeros((n, self.ep_cap, d), dtype=np.float32)
        self.ep_act = np.zeros((n, self.ep_cap), dtype=np.int64)
        self.ep_rew = np.zeros((n, self.ep_cap), dtype=np.float64)
        self.ep_len = np.zeros(n, dtype=np.int64)
        self.batch_cap = 4 * self.update_every * self.envs_per_learner
        self.b_obs = np.zeros((learners, self.batch_cap, d), dtype=np.float32)
        self.b_act = np.zeros((learners, self.batch_cap), dtype=np.int64)
        self.b_ret = np.zeros((learners, self.batch_cap), dtype=np.float32)
        self.b_len = np.zeros(learners, dtype=np.int64)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        pos = self.ep_len[rows]
        if pos.max(initial=0) >= self.ep_cap:
            grow = self.ep_cap
            self.ep_obs = np.concatenate([self.ep_obs, np.zeros_like(self.ep_obs)], axis=1)
            self.ep_act = np.concatenate([self.ep_act, np.zeros_like(self.ep_act)], axis=1)
            self.ep_rew = np.concatenate([self.ep_rew, np.zeros_like(self.ep_rew)], axis=1)
            self.ep_cap += grow
        x = self.encoder(obs)
        a = self._from_env_actions(actions)
        self.ep_obs[rows, pos] = x[rows]
        self.ep_act[rows, pos] = a[rows]
        self.ep_rew[rows, pos] = rewards[rows]
        self.ep_len[rows] += 1
        for i in rows[terminated[rows]]:  # Monte Carlo returns of the finished episodes
            self._add_episode(int(i))
        self.ep_len[rows[truncated[rows] & ~terminated[rows]]] = 0
        self.steps += 1
        if self.steps % self.update_every == 0 and self.b_len.any():
            self._update()

    def _add_episode(self, i: int) -> None:
        length = int(self.ep_len[i])
        g = np.zeros(length)
        acc = 0.0
        rew = self.ep_rew[i, :length]
        for t in range(length - 1, -1, -1):
            acc = rew[t] + self.gamma * acc
            g[t] = acc
        learner = i // self.envs_per_learner
        start = int(self.b_len[learner])
        stop = min(start + length, self.batch_cap)
        m = stop - start
        self.b_obs[learner, start:stop] = self.ep_obs[i, :m]
        self.b_act[learner, start:stop] = self.ep_act[i, :m]
        self.b_ret[learner, start:stop] = g[:m]
        self.b_len[learner] = stop
        self.ep_len[i] = 0

    def _update(self) -> None:
        import torch

        length = int(self.b_len.max())
        s = self._tensor(self.b_obs[:, :length])
        a = self._tensor(self.b_act[:, :length], torch.int64)
        g = self._tensor(self.b_ret[:, :length])
        mask = self._tensor(np.arange(length)[None, :] < self.b_len[:, None])
        loss_v = torch.zeros(self.learners, device=self.device)
        advantage = g
        if self.baseline:
            v = self.v(s)[..., 0]
            advantage = g - v.detach()
            loss_v = (((v - g) ** 2) * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        loss = (self._policy_loss(s, a, advantage, mask) + self.value_coef * loss_v).sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.last_loss = float(loss.detach()) / self.learners
        self.b_len[:] = 0


@register("actor-critic", "advantage actor-critic: n-step TD error as the advantage, entropy "
          "bonus (n_steps, entropy_coef, envs_per_learner, hidden, learning_rate)")
class ActorCritic(_PolicyAgent):
    """Actor-critic with the TD error as the advantage (seed 5.3.10, items 4-5; Mnih et al.
    2016's synchronous A2C): every ``n_steps`` env steps, for each step t of the rollout,
    G_t = sum_{j<m} gamma^j R_{t+j+1} + gamma^m v(S_{t+m}) (m up to the rollout's end or the
    episode's; 0 after termination, v of the last state after truncation), advantage
    A_t = G_t - v(S_t) (with n = 1, the TD error r + gamma v(s') - v(s)). One Adam step on
    -A_t log pi(A_t|S_t) - entropy_coef H(pi(.|S_t)) + value_coef (G_t - v(S_t))^2. Rollouts are
    preallocated (n_steps, N) arrays; reset steps are masked out.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 n_steps: int = 8, hidden: Any = (64, 64), learning_rate: float = 1e-3,
                 gamma: float = 0.99, entropy_coef: float = 0.01, value_coef: float = 0.5,
                 envs_per_learner: int = 8, device: str = "auto", num_threads: int | None = 1,
                 torso: str = "mlp", conv_channels: Any = (16, 32)) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         hidden=hidden, learning_rate=learning_rate, gamma=gamma,
                         envs_per_learner=envs_per_learner, device=device,
                         num_threads=num_threads, value_coef=value_coef,
                         entropy_coef=entropy_coef, torso=torso, conv_channels=conv_channels)
        self.n_steps = self._check_int("n_steps", n_steps)

    def _build(self, learners: int) -> None:
        super()._build(learners)
        n, d, t = self.num_envs, self.encoder.dim, self.n_steps
        self.r_obs = np.zeros((t, n, d), dtype=np.float32)
        self.r_next = np.zeros((t, n, d), dtype=np.float32)
        self.r_act = np.zeros((t, n), dtype=np.int64)
        self.r_rew = np.zeros((t, n), dtype=np.float32)
        self.r_term = np.zeros((t, n), dtype=bool)
        self.r_done = np.zeros((t, n), dtype=bool)
        self.r_valid = np.zeros((t, n), dtype=np.float32)
        self.t = 0

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        t = self.t
        self.r_obs[t] = self.encoder(obs)
        self.r_next[t] = self.encoder(next_obs)
        self.r_act[t] = self._from_env_actions(actions)
        self.r_rew[t] = rewards
        self.r_term[t] = terminated
        self.r_valid[t] = 0.0
        self.r_valid[t, rows] = 1.0
        # A reset step (invalid) also cuts the n-step sum: no return flows across it.
        self.r_done[t] = terminated | truncated | (self.r_valid[t] == 0.0)
        self.t += 1
        self.steps += 1
        if self.t == self.n_steps:
            self._update()
            self.t = 0

    def _update(self) -> None:
        import torch

        tn, n = self.n_steps, self.num_envs
        k, lrn = self.envs_per_learner, self.learners

        def per_learner(x: NDArray[Any]) -> Any:  # (T, N, ...) -> (L, k T, ...)
            y = x.reshape(tn, lrn, k, *x.shape[2:]).swapaxes(0, 1)
            return self._tensor(np.ascontiguousarray(y).reshape(lrn, k * tn, *x.shape[2:]))

        with torch.no_grad():  # v of every next state, for bootstrapping
            v_next = self.v(per_learner(self.r_next))[..., 0].cpu().numpy()
        v_next = v_next.reshape(lrn, k, tn).transpose(2, 0, 1).reshape(tn, n)
        g = np.zeros((tn, n), dtype=np.float32)
        acc = np.zeros(n, dtype=np.float32)
        gamma = np.float32(self.gamma)
        for t in range(tn - 1, -1, -1):  # n-step returns, cut at episode ends
            boot = np.where(self.r_term[t], 0.0, v_next[t]).astype(np.float32)
            acc = np.where(self.r_done[t] | (t == tn - 1), boot, acc)
            acc = self.r_rew[t] + gamma * acc
            g[t] = acc
        s = per_learner(self.r_obs)
        a = per_learner(self.r_act).to(torch.int64)
        ret = per_learner(g)
        w = per_learner(self.r_valid)
        v = self.v(s)[..., 0]
        advantage = (ret - v).detach()
        loss_v = (((ret - v) ** 2) * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)
        loss = (self._policy_loss(s, a, advantage, w) + self.value_coef * loss_v).sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.last_loss = float(loss.detach()) / self.learners


# --------------------------------------------------------------------------------------------
# Evolution strategies (Salimans et al. 2017).
# --------------------------------------------------------------------------------------------


def centered_ranks(fitness: FloatArray) -> FloatArray:
    """Fitness shaping (Salimans et al. 2017, Wierstra et al. 2014): the ranks of each row
    mapped linearly onto [-0.5, 0.5] (ties in arbitrary but fixed order)."""
    n = fitness.shape[-1]
    ranks = np.argsort(np.argsort(fitness, axis=-1, kind="stable"), axis=-1, kind="stable")
    return np.asarray(ranks / max(n - 1, 1) - 0.5)


@register("evolution-strategies", "evolution strategies, Salimans et al. (2017): antithetic "
          "Gaussian perturbations, centred-rank fitness shaping (population, sigma, ...)")
class EvolutionStrategies(DeepAgent):
    """OpenAI-ES (seed 5.4, item 10). Each learner keeps a policy theta (a network, greedy
    actions) and a population of ``population`` env copies (``envs_per_learner``): copy j runs
    theta + sigma eps_j for one episode, eps_{2i+1} = -eps_{2i} (antithetic sampling). When every
    copy of a learner has finished its episode, the returns F_j become centred ranks u_j and
    theta takes an Adam step along g = 1 / (population sigma) sum_j u_j eps_j (minus
    ``weight_decay`` theta); then fresh perturbations. A copy that finished early keeps acting
    (its steps count in the budget) but its later returns are not used.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 population: int = 16, sigma: float = 0.1, learning_rate: float = 0.03,
                 weight_decay: float = 0.005, hidden: Any = (32,), device: str = "auto",
                 num_threads: int | None = 1, torso: str = "mlp",
                 conv_channels: Any = (16, 32)) -> None:
        pop = population
        if not is_integer(pop) or pop < 2 or pop % 2:
            raise ValueError(f"evolution-strategies: population must be an even integer >= 2 "
                             f"(antithetic pairs), got {population!r}")
        super().__init__(observation_space=observation_space, action_space=action_space,
                         hidden=hidden, learning_rate=learning_rate, gamma=1.0,
                         envs_per_learner=int(pop), device=device, num_threads=num_threads,
                         torso=torso, conv_channels=conv_channels)
        self.population = int(pop)
        self.sigma = self._check_float("sigma", sigma, low=0.0, low_open=True)
        self.weight_decay = self._check_float("weight_decay", weight_decay, low=0.0)

    def _build(self, learners: int) -> None:

        self.theta = self._network(self.n_actions, learners)
        self.optimizer = _adam(self.theta.params, self.learning_rate)
        self.fitness = np.zeros((learners, self.population))
        self.done = np.zeros((learners, self.population), dtype=bool)
        self.generation = 0
        self._perturb()

    def _tensors(self) -> dict[str, list[Any]]:
        return {"theta": self.theta.params}

    def _optimizers(self) -> dict[str, Any]:
        return {"adam": self.optimizer}

    def _perturb(self) -> None:
        """eps for every learner and member, antithetic pairs; the members' networks."""
        import torch

        half = self.population // 2
        self.eps = []
        members = []
        for p in self.theta.params:
            e = self.rng.standard_normal((self.learners, half, *p.shape[1:]))
            e = np.stack([e, -e], axis=2).reshape(self.learners, self.population,
                                                  *p.shape[1:])
            et = self._tensor(e)
            self.eps.append(et)
            with torch.no_grad():
                w = p.detach()[:, None] + self.sigma * et  # (L, P, ...)
            members.append(w.reshape(self.learners * self.population, *p.shape[1:]))
        self.members = members
        self.fitness[:] = 0.0
        self.done[:] = False

    def _act(self, obs: Any) -> IntArray:
        import torch

        x = self._tensor(self.encoder(obs)[:, None, :])  # (N, 1, d): one network per copy
        with torch.no_grad():
            if self.deterministic:
                theta = [p.repeat_interleave(self.population, dim=0)
                         for p in self.theta.params]
                logits = self.theta(x, theta)
            else:
                logits = self.theta(x, self.members)
        return self._to_env_actions(logits[:, 0].argmax(dim=1).cpu().numpy())

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        live = np.zeros(self.num_envs, dtype=bool)
        live[rows] = True
        done = self.done.reshape(-1)
        live &= ~done
        self.fitness.reshape(-1)[live] += rewards[live]
        done |= live & (terminated | truncated)
        self.steps += 1
        if self.done.all():
            self._update()

    def _update(self) -> None:

        u = self._tensor(centered_ranks(self.fitness))  # (L, P)
        grads = []
        for p, e in zip(self.theta.params, self.eps, strict=True):
            shape = (self.learners, self.population) + (1,) * (e.dim() - 2)
            g = (u.reshape(shape) * e).sum(dim=1) / (self.population * self.sigma)
            grads.append(-(g - self.weight_decay * p.detach()))  # ascend: Adam minimises
        self.optimizer.zero_grad(set_to_none=True)
        for p, g in zip(self.theta.params, grads, strict=True):
            p.grad = g
        self.optimizer.step()
        self.last_fitness = self.fitness.mean(axis=1).copy()
        self.generation += 1
        self._perturb()


# --------------------------------------------------------------------------------------------
# Intrinsic motivation wrappers (seed 5.4, items 8-9).
# --------------------------------------------------------------------------------------------


class _BonusWrapper(BaseAgent):
    """Acts as ``base``; learns from extrinsic + ``coef`` x intrinsic reward."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 base: str, base_params: dict[str, Any] | None, coef: float) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        if not isinstance(base, str) or base in ("rnd", "count-bonus"):
            raise ValueError(f"{self.name}: base must be the name of an agent to wrap, "
                             f"got {base!r}")
        if base_params is not None and not isinstance(base_params, dict):
            raise self._param_error("base_params", base_params, "a dict of the base's "
                                    "parameters")
        self.base = make(base, observation_space=observation_space, action_space=action_space,
                         **dict(base_params or {}))
        self.coef = self._check_float("coef", coef, low=0.0)
        self.encoder = ObsEncoder(observation_space, self.name)
        self.last_intrinsic = float("nan")

    @property
    def envs_per_learner(self) -> int:
        return envs_per_learner_of(self.base)

    @property
    def deterministic(self) -> bool:
        """The base's greedy evaluation switch (always False for a base that has none)."""
        return isinstance(self.base, GreedyEvaluation) and bool(self.base.deterministic)

    @deterministic.setter
    def deterministic(self, value: bool) -> None:
        if isinstance(self.base, GreedyEvaluation):
            self.base.deterministic = value

    def reset(self, num_envs: int, seed: int | None = None) -> None:
        super().reset(num_envs, seed)
        # The base gets a seed of its own, derived from ours.
        self.base.reset(num_envs, None if seed is None else int(self.rng.integers(2**31)))

    def _act(self, obs: Any) -> NDArray[Any]:
        return self.base.act(obs)

    def update(self, obs: Any, actions: NDArray[Any], rewards: NDArray[Any], next_obs: Any,
               terminated: NDArray[np.bool_], truncated: NDArray[np.bool_]) -> None:
        rewards = np.asarray(rewards, dtype=np.float64)
        live = ~self._episode_ended  # reset steps: no bonus, and the base masks them
        bonus = np.zeros_like(rewards)
        bonus[live] = self._intrinsic(np.flatnonzero(live), next_obs)
        self.last_intrinsic = float(bonus[live].mean()) if live.any() else float("nan")
        self.base.update(obs, actions, rewards + self.coef * bonus, next_obs, terminated,
                         truncated)
        super().update(obs, actions, rewards, next_obs, terminated, truncated)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray, next_obs: Any,
               terminated: BoolArray, truncated: BoolArray) -> None:
        pass

    def _intrinsic(self, rows: IntArray, next_obs: Any) -> FloatArray:
        raise NotImplementedError

    def _checkpointing_base(self) -> Checkpointing:
        if not isinstance(self.base, Checkpointing):
            raise NotImplementedError(f"{self.name}: its base agent {self.base.name!r} cannot "
                                      "be saved or loaded")
        return self.base

    def save(self, path: str | Path) -> Path:
        return self._checkpointing_base().save(path)

    def load(self, path: str | Path) -> None:
        self._checkpointing_base().load(path)


@register("rnd", "random network distillation, Burda et al. (2019): intrinsic reward "
          "||f_hat(s') - f(s')||^2 added to any agent's (base, base_params, coef)")
class RandomNetworkDistillation(_BonusWrapper):
    """RND (seed 5.4 item 9; Burda et al. 2019). A fixed, randomly initialised target network
    f: O -> R^k and a predictor f_hat trained by Adam on the states the agent visits. The
    intrinsic reward of s' is the prediction error ||f_hat(s') - f(s')||^2 (the mean over the k
    outputs) on whitened observations (each learner's running mean and standard deviation,
    clipped to [-5, 5], as in the paper), added to the extrinsic reward times ``coef``. The
    networks are per learner (the base's ``envs_per_learner`` copies share one).

    Normalisation: Burda et al. divide by a running standard deviation of the intrinsic
    returns, with a non-episodic intrinsic stream. Here the bonus enters an episodic base agent,
    and a bonus of constant scale on every step makes long episodes pay more than a sparse goal
    that ends them; so by default (``normalize=False``) the raw error is used, which shrinks as
    the predictor learns the visited states (like a count bonus). ``normalize=True`` divides
    by the running standard deviation of the intrinsic rewards.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 base: str = "dqn", base_params: dict[str, Any] | None = None, coef: float = 1.0,
                 embedding: int = 32, hidden: Any = (64,), learning_rate: float = 1e-3,
                 normalize: bool = False, device: str = "auto") -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         base=base, base_params=base_params, coef=coef)
        self.normalize = self._check_bool("normalize", normalize)
        self.embedding = self._check_int("embedding", embedding)
        self.hidden = _hidden_sizes(self.name, hidden)
        self.learning_rate = self._check_float("learning_rate", learning_rate, low=0.0,
                                               low_open=True)
        self.device = resolve_device(device)

    def _reset_state(self, num_envs: int) -> None:

        k = self.envs_per_learner
        if num_envs % k:
            raise ValueError(f"rnd: num_envs {num_envs} is not a multiple of the base's "
                             f"envs_per_learner {k}")
        self.learners = num_envs // k
        sizes = [self.encoder.dim, *self.hidden, self.embedding]
        self.target = BatchedMLP(sizes, self.learners, self.rng, self.device)
        for p in self.target.params:
            p.requires_grad_(False)
        self.predictor = BatchedMLP(sizes, self.learners, self.rng, self.device)
        self.optimizer = _adam(self.predictor.params, self.learning_rate)
        self.count, self.mean, self.m2 = 0, 0.0, 0.0
        d = self.encoder.dim
        self.obs_count = np.zeros(self.learners)
        self.obs_mean = np.zeros((self.learners, d))
        self.obs_m2 = np.zeros((self.learners, d))

    def _normalized(self, x: NDArray[Any], weight: FloatArray) -> F32:
        """Observation normalisation (Burda et al. 2019, section 2.4): update each learner's
        running mean and variance of the features with its live copies (weight 1), then
        whiten and clip to [-5, 5]. A feature that never changed is 0; one that lights up for
        the first time is large: that is what makes a new state stand out."""
        m = weight.sum(axis=1)  # (L,)
        total = self.obs_count + m
        safe_m = np.maximum(m, 1.0)[:, None]
        mean_b = (weight[..., None] * x).sum(axis=1) / safe_m
        m2_b = (weight[..., None] * (x - mean_b[:, None]) ** 2).sum(axis=1)
        delta = mean_b - self.obs_mean
        frac = np.where(total > 0, m / np.maximum(total, 1.0), 0.0)[:, None]
        self.obs_m2 += m2_b + delta ** 2 * (self.obs_count[:, None] * frac)
        self.obs_mean += delta * frac
        self.obs_count = total
        std = np.sqrt(self.obs_m2 / np.maximum(self.obs_count, 1.0)[:, None])
        z = (x - self.obs_mean[:, None]) / (std[:, None] + 1e-8)
        return np.clip(z, -5.0, 5.0).astype(np.float32)

    def _intrinsic(self, rows: IntArray, next_obs: Any) -> FloatArray:
        import torch

        k = self.envs_per_learner
        flat = np.zeros(self.num_envs)
        flat[rows] = 1.0
        live = flat.reshape(self.learners, k)
        raw_x = self.encoder(next_obs).reshape(self.learners, k, -1).astype(np.float64)
        x = torch.as_tensor(self._normalized(raw_x, live), device=self.device)
        with torch.no_grad():
            f = self.target(x)
        err = ((self.predictor(x) - f) ** 2).mean(dim=2)  # (L, k)
        mask = torch.as_tensor(live, dtype=torch.float32, device=self.device)
        loss = ((err * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)).sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        raw = err.detach().reshape(-1).cpu().numpy().astype(np.float64)[rows]
        if not self.normalize or raw.size == 0:
            return raw
        # Running variance of the intrinsic reward, batches merged as in Chan et al. (1979).
        m, mean_b = raw.size, float(raw.mean())
        total = self.count + m
        delta = mean_b - self.mean
        self.m2 += float(((raw - mean_b) ** 2).sum()) + delta * delta * self.count * m / total
        self.mean += delta * m / total
        self.count = total
        std = math.sqrt(self.m2 / self.count) if self.count > 1 else 1.0
        return np.asarray(raw / max(std, 1e-8))


@register("count-bonus", "count-based exploration bonus beta / sqrt(N(s')) for tabular "
          "states, added to any agent's reward (base, base_params, coef)")
class CountBonus(_BonusWrapper):
    """Count-based intrinsic reward (Strehl & Littman 2008; seed 5.4 item 8: counts of events):
    ``coef / sqrt(N(s'))``, N the learner's visit count of the next state s' (after this visit).
    States are the observations themselves: indices, coordinates or images (hashed by bytes).
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 base: str = "dqn", base_params: dict[str, Any] | None = None,
                 coef: float = 0.1) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         base=base, base_params=base_params, coef=coef)

    def _reset_state(self, num_envs: int) -> None:
        self.learners = num_envs // self.envs_per_learner
        self.ids: dict[bytes, int] = {}
        self.counts = np.zeros((self.learners, 64), dtype=np.int64)

    def _intrinsic(self, rows: IntArray, next_obs: Any) -> FloatArray:
        x = np.asarray(next_obs)
        keys = [x[i].tobytes() for i in rows]
        ids = np.array([self.ids.setdefault(key, len(self.ids)) for key in keys],
                       dtype=np.int64)
        if ids.max(initial=0) >= self.counts.shape[1]:
            grow = max(self.counts.shape[1], int(ids.max()) + 1)
            self.counts = np.concatenate([self.counts, np.zeros((self.learners, grow),
                                                                dtype=np.int64)], axis=1)
        learner = rows // self.envs_per_learner
        np.add.at(self.counts, (learner, ids), 1)
        return np.asarray(1.0 / np.sqrt(self.counts[learner, ids]))
