"""Search strategies for the architecture environments, behind the batched agent protocol.

Each replicate is one independent search; an episode is one architecture, written token by
token. The agent reads the token position from the observation (entries equal to the token's
choice count are not written yet) and the choice counts from the observation space.

- ``random-search``: every token uniformly at random.
- ``nas-reinforce``: Zoph & Le (2017), an LSTM controller with one softmax per token, trained by
  REINFORCE with an exponential moving-average baseline (:mod:`.controller`).
- ``regularized-evolution``: Real, Aggarwal, Huang & Le (2019): the first P architectures are
  random; then each new one mutates the best of S members drawn uniformly from the population,
  joins it, and the *oldest* member is removed (not the worst: "aging evolution").
- ``nas-bayesopt``: Bayesian optimisation, a Gaussian process (scikit-learn) on one-hot
  encodings with expected improvement over the untried candidates
  (:mod:`.bayesopt`, where it is defined and registered).
- ``enas`` and ``darts``: one-shot references on the cell space (:mod:`.oneshot`);
  they train their own supernet on the data (the environment's reward is only the score of the
  cell they propose). They loop over replicates in Python.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from decisiongym.agents.base import BaseAgent, register
from decisiongym.arrays import BoolArray, FloatArray, IntArray


class _ArchitectureAgent(BaseAgent):
    """Plumbing: choices per token, the position in the episode, the architecture written."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any]
                 ) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        if not isinstance(observation_space, spaces.MultiDiscrete):
            raise ValueError(f"{self.name}: needs an architecture environment (MultiDiscrete "
                             f"observation of tokens), got {observation_space!r}")
        self.choices = np.asarray(observation_space.nvec, dtype=np.int64).reshape(-1) - 1
        self.T = len(self.choices)

    def _reset_state(self, num_envs: int) -> None:
        self.plan = np.zeros((num_envs, self.T), dtype=np.int64)
        self.written = np.zeros((num_envs, self.T), dtype=np.int64)
        self.n_episodes = np.zeros(num_envs, dtype=np.int64)

    def _position(self, obs: Any) -> IntArray:
        o = np.asarray(obs).reshape(self.num_envs, self.T)
        unset = o == self.choices
        return np.where(unset.any(axis=1), unset.argmax(axis=1), self.T)

    def _act(self, obs: Any) -> NDArray[Any]:
        pos = self._position(obs)
        starting = np.flatnonzero(pos == 0)
        if starting.size:
            self.plan[starting] = self._propose(starting)
        return self.plan[np.arange(self.num_envs), np.minimum(pos, self.T - 1)]

    def _propose(self, rows: IntArray) -> IntArray:
        """Whole architectures (len(rows), T) for the replicates starting an episode."""
        raise NotImplementedError

    def _learn(self, rows: IntArray, obs: Any, actions: NDArray[Any], rewards: FloatArray,
               next_obs: Any, terminated: BoolArray, truncated: BoolArray) -> None:
        done = rows[(terminated | truncated)[rows]]
        if done.size:
            self._evaluated(done, self.plan[done], rewards[done])

    def _evaluated(self, rows: IntArray, archs: IntArray, rewards: FloatArray) -> None:
        """The architectures of ``rows`` got ``rewards`` (a malformed one: the penalty)."""

    def _uniform(self, n: int) -> IntArray:
        return (self.rng.random((n, self.T)) * self.choices).astype(np.int64)


@register("random-search", "random search over architectures: every token uniform")
class RandomSearch(_ArchitectureAgent):
    """Random search: each architecture drawn token by token uniformly (a strong baseline in NAS,
    Li & Talwalkar 2019). No parameters."""

    def _propose(self, rows: IntArray) -> IntArray:
        return self._uniform(len(rows))


@register("nas-reinforce", "Zoph & Le (2017): LSTM controller, one softmax per token, REINFORCE "
          "with an EMA baseline (hidden, learning_rate, baseline_decay)")
class NASReinforce(_ArchitectureAgent):
    """Zoph & Le's controller (Dobriban (2019), section 6.8): an LSTM emits one token per step from
    its own softmax, the previous token fed back as input; after each architecture's reward R the
    controller takes one Adam step on (R - b) grad log pi(A), b an exponential moving average of the
    rewards (b <- beta b + (1 - beta) R, started at the first reward).

    Parameters: ``hidden`` LSTM units (32; Zoph & Le used 35 per layer, two layers),
    ``learning_rate`` of Adam (0.01, with ``init_scale`` 0.1), ``baseline_decay`` beta in [0, 1)
    (0.8), ``num_threads`` torch CPU threads set at reset (1; None leaves torch's setting).
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 hidden: int = 32, learning_rate: float = 0.01, baseline_decay: float = 0.8,
                 init_scale: float = 0.1, normalize: bool = True,
                 num_threads: int | None = 1) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        self.normalize = bool(normalize)
        self.hidden = self._check_int("hidden", hidden)
        self.learning_rate = self._check_float("learning_rate", learning_rate, low=0.0,
                                               low_open=True)
        self.baseline_decay = self._check_float("baseline_decay", baseline_decay, low=0.0,
                                                high=1.0, high_open=True)
        self.init_scale = self._check_float("init_scale", init_scale, low=0.0, low_open=True)
        self.num_threads = num_threads
        self._params = {"hidden": self.hidden, "learning_rate": self.learning_rate,
                        "baseline_decay": self.baseline_decay, "init_scale": self.init_scale,
                        "normalize": self.normalize}

    def _reset_state(self, num_envs: int) -> None:
        import torch

        from decisiongym.supervised.nas.controller import BatchedController

        super()._reset_state(num_envs)
        if self.num_threads is not None:
            torch.set_num_threads(int(self.num_threads))
        self.controller = BatchedController(num_envs, self.choices.tolist(), hidden=self.hidden,
                                            seed=int(self.rng.integers(2**31)),
                                            init_scale=self.init_scale)
        self.baseline = np.full(num_envs, np.nan)
        self.adv_var = np.full(num_envs, np.nan)

    def _propose(self, rows: IntArray) -> IntArray:
        return self.controller.sample(self.rng)[rows]

    def _evaluated(self, rows: IntArray, archs: IntArray, rewards: FloatArray) -> None:
        b = np.where(np.isnan(self.baseline[rows]), rewards, self.baseline[rows])
        advantage = rewards - b
        beta = self.baseline_decay
        if self.normalize:
            # Scale by a moving RMS of R - b: accuracies of a search space often differ by a
            # few points only, and an unscaled signal that small barely moves the controller.
            var = np.where(np.isnan(self.adv_var[rows]), advantage**2, self.adv_var[rows])
            var = beta * var + (1 - beta) * advantage**2
            self.adv_var[rows] = var
            advantage = advantage / (np.sqrt(var) + 1e-8)
        self.controller.step(archs, advantage, rows, lr=self.learning_rate)
        self.baseline[rows] = beta * b + (1 - beta) * rewards


@register("regularized-evolution", "Real et al. (2019) aging evolution: tournament of S from a "
          "population of P, one-token mutation, the oldest removed (population, sample)")
class RegularizedEvolution(_ArchitectureAgent):
    """Regularized (aging) evolution, Real, Aggarwal, Huang & Le (2019), Algorithm 1.

    The first ``population`` (P, default 20) architectures are uniform; afterwards each new
    architecture is a mutation of the fittest of ``sample`` (S, default 5) members drawn
    uniformly without replacement; the mutation redraws one token uniformly among the *other*
    choices of that token. When the child's reward arrives it joins the population and the
    oldest member leaves, even if it is the best.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 population: int = 20, sample: int = 5) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        self.population = self._check_int("population", population, low=2)
        self.sample = self._check_int("sample", sample)
        if self.sample > self.population:
            raise self._param_error("sample", sample, f"<= population ({self.population})")
        self._params = {"population": self.population, "sample": self.sample}

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        P = self.population
        self.pop_arch = np.zeros((num_envs, P, self.T), dtype=np.int64)
        self.pop_fitness = np.full((num_envs, P), -np.inf)
        self.pop_birth = np.full((num_envs, P), -1, dtype=np.int64)  # -1: empty slot
        self.size = np.zeros(num_envs, dtype=np.int64)
        self.births = np.zeros(num_envs, dtype=np.int64)

    def _propose(self, rows: IntArray) -> IntArray:
        out = self._uniform(len(rows))
        full = self.size[rows] >= self.population
        if full.any():
            r = rows[full]
            # Tournament: S distinct members per replicate (argsort of uniform keys).
            members = np.argsort(self.rng.random((len(r), self.population)), axis=1)
            members = members[:, :self.sample]
            fit = np.take_along_axis(self.pop_fitness[r], members, axis=1)
            parent = members[np.arange(len(r)), fit.argmax(axis=1)]
            out[full] = self.mutate(self.pop_arch[r, parent])
        return out

    def mutate(self, archs: IntArray) -> IntArray:
        """Change one uniformly chosen token of each row to a different choice."""
        n = len(archs)
        child = archs.copy()
        pos = self.rng.integers(0, self.T, size=n)
        c = self.choices[pos]
        shift = 1 + (self.rng.random(n) * (c - 1)).astype(np.int64)  # 1 .. c-1
        child[np.arange(n), pos] = (child[np.arange(n), pos] + shift) % c
        return child

    def _evaluated(self, rows: IntArray, archs: IntArray, rewards: FloatArray) -> None:
        self.add(rows, archs, rewards)

    def add(self, rows: IntArray, archs: IntArray, fitness: FloatArray) -> None:
        """Insert the children; a full population loses its oldest member."""
        empty = self.pop_birth[rows] < 0
        # Slot: the first empty one while filling, else the oldest (smallest birth).
        slot = np.where(empty.any(axis=1), empty.argmax(axis=1),
                        self.pop_birth[rows].argmin(axis=1))
        self.pop_arch[rows, slot] = archs
        self.pop_fitness[rows, slot] = fitness
        self.pop_birth[rows, slot] = self.births[rows]
        self.births[rows] += 1
        self.size[rows] = np.minimum(self.size[rows] + 1, self.population)


def _cell_space_for(choices: IntArray, n_ops: int, ops: tuple[str, ...] | None, name: str) -> Any:
    from decisiongym.supervised.nas.space import CELL_OPS, CellSpace
    from decisiongym.supervised.nas.tabular import TABLE_SPACE

    n_edges = len(choices)
    n_nodes = round((1 + np.sqrt(1 + 8 * n_edges)) / 2)
    if n_nodes * (n_nodes - 1) // 2 != n_edges or len(set(choices.tolist())) != 1:
        raise ValueError(f"{name}: needs a cell space (one token per edge, equal choices), got "
                         f"choices {choices.tolist()}")
    if ops is None:
        ops = {len(TABLE_SPACE.ops): TABLE_SPACE.ops, len(CELL_OPS): CELL_OPS}.get(n_ops)
        if ops is None:
            raise ValueError(f"{name}: cannot infer the operations of {n_ops} choices; pass ops")
    if len(ops) != n_ops:
        raise ValueError(f"{name}: ops {ops} do not match {n_ops} choices per edge")
    return CellSpace(n_nodes, tuple(ops))


class _OneShotAgent(_ArchitectureAgent):
    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 ops: tuple[str, ...] | None, dataset: str, data_seed: int, channels: int,
                 num_threads: int | None) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        self.space = _cell_space_for(self.choices, int(self.choices[0]),
                                     None if ops is None else tuple(ops), self.name)
        self.dataset, self.data_seed = dataset, int(data_seed)
        self.channels = self._check_int("channels", channels)
        self.num_threads = num_threads

    def _data(self) -> tuple[Any, Any, Any, Any]:
        import torch

        from decisiongym.supervised.data import load_dataset

        if self.num_threads is not None:
            torch.set_num_threads(int(self.num_threads))
        d = load_dataset(self.dataset, seed=self.data_seed)
        return d.X_train, d.y_train, d.X_val, d.y_val


@register("enas", "Pham et al. (2018) ENAS: shared supernet weights, controller by REINFORCE on "
          "shared-weight accuracy (shared_steps, controller_steps, candidates)")
class ENAS(_OneShotAgent):
    """ENAS on the cell space. Before each proposal the search runs one round:
    ``shared_steps`` (10) training minibatches of the supernet on controller-sampled cells,
    then ``controller_steps`` (5) REINFORCE steps whose reward is a sampled cell's accuracy with
    the shared weights on a validation minibatch; the proposal is the best of ``candidates`` (4)
    samples by that accuracy. The supernet trains on ``dataset`` split with ``data_seed`` (the
    environment's defaults); ``ops`` defaults to the table's operations for 3 choices per edge
    and to all five for 5. ``channels`` (8), ``num_threads`` (1).
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 shared_steps: int = 10, controller_steps: int = 5, candidates: int = 4,
                 channels: int = 8, ops: tuple[str, ...] | None = None,
                 dataset: str = "digits", data_seed: int = 0, num_threads: int | None = 1
                 ) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         ops=ops, dataset=dataset, data_seed=data_seed, channels=channels,
                         num_threads=num_threads)
        self.shared_steps = self._check_int("shared_steps", shared_steps, low=0)
        self.controller_steps = self._check_int("controller_steps", controller_steps, low=0)
        self.candidates = self._check_int("candidates", candidates)
        self._params = {"shared_steps": self.shared_steps,
                        "controller_steps": self.controller_steps,
                        "candidates": self.candidates, "channels": self.channels,
                        "ops": list(self.space.ops)}

    def _reset_state(self, num_envs: int) -> None:
        from decisiongym.supervised.nas.oneshot import ENASSearch

        super()._reset_state(num_envs)
        data = self._data()
        self.searches = [ENASSearch(self.space, data, seed=int(s), channels=self.channels)
                         for s in self.rng.integers(2**31, size=num_envs)]

    def _propose(self, rows: IntArray) -> IntArray:
        out = []
        for r in rows:
            self.searches[r].round(self.shared_steps, self.controller_steps)
            out.append(self.searches[r].propose(self.candidates))
        return np.array(out, dtype=np.int64)


@register("darts", "Liu et al. (2019) DARTS: softmax over operations, first-order bilevel "
          "updates, discretised by the largest weights (steps_per_episode)")
class DARTS(_OneShotAgent):
    """First-order DARTS on the cell space. Before each proposal ``steps_per_episode`` (20)
    alternations of an architecture step (Adam on alpha, ``arch_lr`` 0.03, validation
    minibatch) and a weight step (Adam on w, training minibatch); the proposal is each edge's
    operation of largest alpha. ``ops``, ``dataset``, ``data_seed``, ``channels``,
    ``num_threads`` as for ``enas``.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 steps_per_episode: int = 20, arch_lr: float = 0.03, channels: int = 8,
                 ops: tuple[str, ...] | None = None, dataset: str = "digits",
                 data_seed: int = 0, num_threads: int | None = 1) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         ops=ops, dataset=dataset, data_seed=data_seed, channels=channels,
                         num_threads=num_threads)
        self.steps_per_episode = self._check_int("steps_per_episode", steps_per_episode, low=0)
        self.arch_lr = self._check_float("arch_lr", arch_lr, low=0.0, low_open=True)
        self._params = {"steps_per_episode": self.steps_per_episode, "arch_lr": self.arch_lr,
                        "channels": self.channels, "ops": list(self.space.ops)}

    def _reset_state(self, num_envs: int) -> None:
        from decisiongym.supervised.nas.oneshot import DARTSSearch

        super()._reset_state(num_envs)
        data = self._data()
        self.searches = [DARTSSearch(self.space, data, seed=int(s), channels=self.channels,
                                     arch_lr=self.arch_lr)
                         for s in self.rng.integers(2**31, size=num_envs)]

    def _propose(self, rows: IntArray) -> IntArray:
        out = []
        for r in rows:
            self.searches[r].round(self.steps_per_episode)
            out.append(self.searches[r].discretise())
        return np.array(out, dtype=np.int64)


# Registers ``nas-bayesopt`` (its module builds on _ArchitectureAgent, defined above).
from decisiongym.supervised.nas.bayesopt import NASBayesOpt  # noqa: E402

__all__ = ["DARTS", "ENAS", "NASBayesOpt", "NASReinforce", "RandomSearch",
           "RegularizedEvolution"]
