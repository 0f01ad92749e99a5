"""The GAN variants as agents with a training loop of their own (``gan``, ``wgan``, ``wgan-gp``).

A GAN is not stepped through the harness's rollout loop: the generator and the critic play
:class:`~.game.GANGame`, a two-player game that no Gymnasium id names. Each
variant is registered as an agent whose training loop, :func:`train`, receives the harness's
:class:`~decisiongym.agents.base.TrainingTask`:

- ``task.env_id`` must be :data:`GAN_ENV_ID` and ``task.env_kwargs`` may hold ``data``, one
  of :data:`.data.DATASETS` (default ``"8gaussians"``);
- ``task.params``: any :class:`~.players.GANConfig` field but ``kind``
  (each defaults to :meth:`GANConfig.for_kind`'s published value for the variant;
  ``data_dim`` to the data's), ``checkpoints`` (evaluation points, default 5, evenly spaced
  from 0 to the budget) and ``n_eval`` (samples per evaluation, default 1000); the agent
  classes validate them and refuse any other;
- ``task.budget`` generator iterations; ``task.replicates`` training runs, run i with data,
  noise and network seed ``task.seed + i`` (:func:`.players.train_gan`).

So a GAN cell is an ordinary harness cell (``EnvSetting(GAN_ENV_ID, {"data": ...})`` x
``AgentSetting("wgan-gp", {...})``), run by :func:`decisiongym.harness.run`. Torch is imported
when an agent is built or trained, not when this module is imported.
"""

from __future__ import annotations

import time
from typing import Any, cast

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from decisiongym.agents.base import OwnLoopAgent, TrainingTask, register
from decisiongym.validation import check_choice, check_int

#: The id of the GAN cells' "environment": the two-player game on a data set. Not a
#: Gymnasium id; only the GAN agents' training loop knows it.
GAN_ENV_ID = "decisiongym/GANGame"
#: Samples kept per checkpoint for the plots (2-D sets) and the image grids (digits).
KEEP_SAMPLES = {"digits": 100}
KEEP_SAMPLES_2D = 500
EVAL_SEED = 10_000  # noise seed of the evaluation samples (+ the run index)
#: The GANConfig fields a GAN agent takes as parameters (``kind`` is the agent's name).
CONFIG_FIELDS = ("gen_loss", "n_critic", "lr", "betas", "optimizer", "clip", "gp_lambda",
                 "batch_size", "latent_dim", "data_dim", "hidden", "lr_schedule")
_LOOP = "decisiongym.supervised.gans.training:train"


def gan_settings(kind: str, params: dict[str, Any], data: str | None = None
                 ) -> tuple[Any, int, int]:
    """(:class:`GANConfig`, checkpoints, n_eval) of variant ``kind`` from agent parameters;
    ValueError or TypeError naming the variant for a wrong one. ``data``: the data set that
    sets ``data_dim`` unless the parameters do (None: 2-D, for validation alone)."""
    from decisiongym.supervised.gans.data import data_dim
    from decisiongym.supervised.gans.players import GANConfig

    given = dict(params)
    unknown = sorted(set(given) - set(CONFIG_FIELDS) - {"checkpoints", "n_eval"})
    if unknown:
        raise ValueError(f"{kind}: unknown parameter(s) {', '.join(unknown)}")
    checkpoints = given.pop("checkpoints", 5)
    n_eval = given.pop("n_eval", 1000)
    check_int(kind, "checkpoints", checkpoints, low=2)
    check_int(kind, "n_eval", n_eval, low=10)
    overrides = {k: v for k, v in given.items() if v is not None}
    if "data_dim" not in overrides:
        overrides["data_dim"] = data_dim(data) if data is not None else 2
    try:
        cfg = GANConfig.for_kind(kind, **overrides)
    except ValueError as exc:
        raise ValueError(f"{kind}: {exc}") from exc
    return cfg, int(checkpoints), int(n_eval)


class _GANAgent(OwnLoopAgent):
    """A GAN variant (the agent's name is the ``kind``), trained by :func:`train`: the
    harness hands it the task instead of stepping it, so the class validates the parameters
    and nothing else. A parameter left None takes the variant's published default
    (:meth:`GANConfig.for_kind`). The spaces are not used (the game has two players, each
    with spaces of its own) and may be None."""

    def __init__(self, *, observation_space: spaces.Space[Any] | None = None,
                 action_space: spaces.Space[Any] | None = None, gen_loss: str | None = None,
                 n_critic: int | None = None, lr: float | None = None,
                 betas: tuple[float, float] | None = None, optimizer: str | None = None,
                 clip: float | None = None, gp_lambda: float | None = None,
                 batch_size: int | None = None, latent_dim: int | None = None,
                 data_dim: int | None = None, hidden: tuple[int, ...] | None = None,
                 lr_schedule: str | None = None, checkpoints: int = 5,
                 n_eval: int = 1000) -> None:
        # The spaces are stored as given: None (no spaces) is what the harness's fit check
        # skips, so the cast only tells the base class's annotation what this agent allows.
        super().__init__(observation_space=cast("spaces.Space[Any]", observation_space),
                         action_space=cast("spaces.Space[Any]", action_space))
        given = {"gen_loss": gen_loss, "n_critic": n_critic, "lr": lr, "betas": betas,
                 "optimizer": optimizer, "clip": clip, "gp_lambda": gp_lambda,
                 "batch_size": batch_size, "latent_dim": latent_dim, "data_dim": data_dim,
                 "hidden": hidden, "lr_schedule": lr_schedule, "checkpoints": checkpoints,
                 "n_eval": n_eval}
        self.config, self.checkpoints, self.n_eval = gan_settings(self.name, given)

    def _own_loop(self) -> NotImplementedError:
        return NotImplementedError(f"{self.name} trains with a loop of its own ({_LOOP}) on "
                                   f"{GAN_ENV_ID!r}: run it through decisiongym.harness.run "
                                   "or an experiment")


@register("gan", "GAN (Goodfellow et al. 2014), non-saturating generator loss; trains with "
          f"its own loop on {GAN_ENV_ID}", training_loop=_LOOP)
class GAN(_GANAgent):
    pass


@register("wgan", "WGAN (Arjovsky et al. 2017): weight clipping, RMSProp, n_critic = 5; "
          f"trains with its own loop on {GAN_ENV_ID}", training_loop=_LOOP)
class WGAN(_GANAgent):
    pass


@register("wgan-gp", "WGAN-GP (Gulrajani et al. 2017): gradient penalty, Adam (0, 0.9), "
          f"n_critic = 5; trains with its own loop on {GAN_ENV_ID}", training_loop=_LOOP)
class WGANGP(_GANAgent):
    pass


def _metrics(data: str, samples: NDArray[Any], real: NDArray[Any]) -> dict[str, float]:
    """Every metric of one set of samples against a real set of the same size."""
    from decisiongym.supervised.gans.data import modes
    from decisiongym.supervised.gans.metrics import (
        STRICT_SHARE,
        digits_score,
        mode_coverage,
        wasserstein1,
    )

    out = {"w1": wasserstein1(samples, real)}
    if data in ("8gaussians", "25gaussians"):
        centres, std = modes(data)
        strict = mode_coverage(samples, centres, std, min_share=STRICT_SHARE)
        out.update(modes_covered=strict.modes_covered, high_quality=strict.high_quality,
                   modes_covered_lenient=mode_coverage(samples, centres, std).modes_covered)
    elif data == "digits":
        score = digits_score(samples, min_share=STRICT_SHARE)
        out.update(classes_covered=score.classes_covered, confidence=score.confidence)
    return out


def check_task(task: TrainingTask) -> str:
    """The data set of a GAN task; ValueError naming the env id and the offending value when
    the task is not a GAN game."""
    from decisiongym.supervised.gans.data import DATASETS

    if task.env_id != GAN_ENV_ID:
        raise ValueError(f"agent {task.agent!r} trains on {GAN_ENV_ID!r} (a GAN game on a data "
                         f"set), not on env {task.env_id!r}")
    unknown = sorted(set(task.env_kwargs) - {"data"})
    if unknown:
        raise ValueError(f"{GAN_ENV_ID}: unknown env kwarg(s) {', '.join(unknown)}; it takes "
                         "data")
    data = task.env_kwargs.get("data", "8gaussians")
    return str(check_choice(GAN_ENV_ID, "data", data, DATASETS))


def train(task: TrainingTask) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    """Train ``task.replicates`` GANs for ``task.budget`` generator iterations and evaluate
    them at the checkpoints.

    Arrays (S checkpoints, n runs, L critic layers, T = the budget): ``checkpoints`` (S,)
    generator iterations; ``samples`` (S, n, m, d) generated samples (m =
    :data:`KEEP_SAMPLES_2D` or 100 digits); ``w1`` (S, n) exact W1 between ``n_eval`` samples and
    as many fresh real points; on the mixtures ``modes_covered`` (S, n) under the strict rule
    (:data:`.metrics.STRICT_SHARE`), ``modes_covered_lenient`` (one sample is
    enough) and ``high_quality`` (S, n); on digits ``classes_covered`` (strict rule) and
    ``confidence`` (S, n); ``layer_grad_norm`` (T, L, n) the critic's per-layer
    weight-gradient norms and ``activation_grad_norm`` (T, L, n) the norms of dV/dh_l at each
    layer's output (:func:`.players.activation_grad_norms`), averaged over each
    iteration's critic steps; ``critic_value`` (T, n) likewise; ``seconds`` (n,). Record:
    ``resolved_params`` (the :class:`GANConfig`) and ``data``."""
    import torch

    from decisiongym.supervised.gans.data import sample_data
    from decisiongym.supervised.gans.players import generate, layer_grad_norm_matrix, train_gan

    data = check_task(task)
    cfg, n_points, n_eval = gan_settings(task.agent, task.params, data)
    torch.set_num_threads(1)  # small networks: one thread avoids spin-waiting on shared CPUs
    iterations = task.budget
    checkpoints = np.unique(np.linspace(0, iterations, n_points).round().astype(np.int64))
    keep = KEEP_SAMPLES.get(data, KEEP_SAMPLES_2D)
    per_run: list[dict[str, Any]] = []
    for i in range(task.replicates):
        seed = task.seed + i
        real = sample_data(data, n_eval, np.random.default_rng([seed, 1]))
        evals: list[dict[str, float]] = []
        snaps: list[NDArray[Any]] = []

        def evaluate(t: int, gen: Any, critic: Any, seed: int = seed,
                     real: NDArray[Any] = real, evals: list[dict[str, float]] = evals,
                     snaps: list[NDArray[Any]] = snaps) -> None:
            if t in checkpoints:
                x = generate(gen, n_eval, cfg.latent_dim, EVAL_SEED + seed)
                evals.append(_metrics(data, x, real))
                snaps.append(x[:keep])

        start = time.perf_counter()
        run = train_gan(cfg, data, iterations=iterations, seed=seed, model_seed=seed,
                        callback=evaluate)
        seconds = time.perf_counter() - start
        k = cfg.n_critic
        per_run.append({
            "evals": evals, "samples": np.stack(snaps), "seconds": seconds,
            **{which: layer_grad_norm_matrix(run.history, which)  # (T n_critic, L)
               .reshape(iterations, k, -1).mean(axis=1)
               for which in ("layer_grad_norm", "activation_grad_norm")},
            "critic_value": np.asarray(run.history["critic_value"]).reshape(
                iterations, k).mean(axis=1)})
    arrays: dict[str, NDArray[Any]] = {
        "checkpoints": checkpoints,
        "samples": np.stack([r["samples"] for r in per_run], axis=1).astype(np.float32),
        **{which: np.stack([r[which] for r in per_run], axis=2).astype(np.float32)
           for which in ("layer_grad_norm", "activation_grad_norm")},
        "critic_value": np.stack([r["critic_value"] for r in per_run], axis=1)
        .astype(np.float32),
        "seconds": np.array([r["seconds"] for r in per_run]),
    }
    for key in per_run[0]["evals"][0]:
        arrays[key] = np.array([[e[key] for e in r["evals"]] for r in per_run]).T
    resolved = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(cfg).items()}
    return arrays, {"resolved_params": {**resolved, "checkpoints": n_points, "n_eval": n_eval},
                    "data": data}


__all__ = ["CONFIG_FIELDS", "GAN", "GAN_ENV_ID", "WGAN", "WGANGP", "check_task",
           "gan_settings", "train"]
