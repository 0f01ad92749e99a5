"""Architecture search as a sequential decision problem (Zoph & Le 2017; Dobriban, *Notes for Stat
991: Topics in Deep Learning*, 2019, section 6.8).

An episode writes one architecture, one token per step, as the controller of Zoph & Le does:
each step's action is the choice for the next token; when the last token is written the child
network is built, trained on the training split and scored on the validation split, and that
accuracy is the episode's only reward. This module probes a capability: search under a
delayed, expensive, noisy reward over a combinatorial space.

- ``decisiongym/NASChain-v0``: the chain space (filter height, width, stride, filters per layer).
- ``decisiongym/NASCell-v0``: the DAG cell space of NAS-Bench-201's style; with
  ``tabular=True`` the answers come from the shipped table
  (:mod:`decisiongym.supervised.nas.tabular`) in microseconds, and the exact optimum is known.

## Action Space
``Discrete(max choices per token)``. An action that is not a choice of the current token (a
token with fewer choices than the widest one) makes the architecture malformed.

## Observation Space
| Observation | Space | Meaning |
|---|---|---|
| tokens so far | ``MultiDiscrete([c_1 + 1, ..., c_T + 1])`` | token t, or ``c_t``: unwritten |

## Rewards
0 at every step but the last. At the last token: the child's validation accuracy in [0, 1].
A malformed architecture (a stride that would shrink the map below 1 x 1, or an action outside
the token's choices) ends the episode at once with reward ``penalty`` (default 0.0, below the
chance accuracy of 0.1, so a search learns to avoid it); it is never an exception.

## Starting State
No token written.

## Episode End
Terminated after the last token or at a malformed token; never truncated.

## Info (for evaluation; agents never read it)
On the last step: ``architecture`` (the tokens), ``malformed``, ``val_accuracy``,
``test_accuracy``, ``evaluation_seconds`` (0 for a cache hit or a table look-up),
``train_seconds`` (what training the child took, also on a cache hit; a table look-up: the
table's mean time per cell), ``cached``;
``optimal_val_accuracy`` and ``regret`` (optimum minus this architecture's accuracy) in tabular
mode, NaN otherwise.

## Arguments
Chain: ``n_layers`` (3), ``filter_heights``, ``filter_widths`` ((1, 3, 5)), ``strides``
((1, 2, 3)), ``n_filters`` ((4, 8, 16)). Cell: ``n_nodes`` (4), ``ops`` (all five),
``channels`` (8), ``n_cells`` (1), ``tabular`` (False), ``tabular_seed`` (None: the mean over the
table's seeds; an int: that training seed's entry). Both: ``dataset`` ("digits" or "mnist"),
``data_seed`` (0, fixes the split), ``training_seed`` (0, fixes the child's init and batch
order), ``epochs`` (2), ``batch_size`` (64), ``lr`` (0.01), ``max_train`` (None: the whole
training split), ``penalty`` (0.0), ``horizon`` (accepted and ignored: the harness passes
its budget of architectures per search), ``cache`` (True), ``cache_dir`` (None: see
:func:`decisiongym.supervised.nas.cache.default_cache_dir`), ``device`` ("cpu").

## Version History
v0: first version.

>>> import gymnasium as gym, decisiongym
>>> env = gym.make("decisiongym/NASCell-v0", tabular=True)
>>> obs, info = env.reset(seed=0)
>>> for a in (2, 1, 2, 0, 2, 1):
...     obs, reward, terminated, truncated, info = env.step(a)
>>> terminated, 0.0 <= reward <= 1.0, info["regret"] >= 0.0
(True, True, True)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from os import PathLike
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from decisiongym.envs.vector import NextStepVectorEnv
from decisiongym.supervised.nas.cache import EvaluationCache
from decisiongym.supervised.nas.space import (
    CELL_OPS,
    CellNet,
    CellSpace,
    ChainNet,
    ChainSpace,
    TrainBudget,
    chain_output_size,
    train_and_evaluate,
)
from decisiongym.validation import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_optional_int,
    is_integer,
    param_error,
)

#: What the harness reads off both classes: its budget counts architectures (episodes), and
#: :class:`decisiongym.supervised.nas.recorders.SearchRecorder` records the searches.
SEARCH_METADATA: dict[str, Any] = {
    "decisiongym.budget_unit": "episodes",
    "decisiongym.recorders": ("decisiongym.supervised.nas.recorders:SearchRecorder",),
}


class Evaluation(dict[str, Any]):
    """val_accuracy, test_accuracy, evaluation_seconds, cached (a dict)."""


class _Evaluator:
    """Trains children of one space on one dataset, through the cache."""

    def __init__(self, kind: str, space: ChainSpace | CellSpace, *, dataset: str,
                 data_seed: int, training_seed: int, budget: TrainBudget, max_train: int | None,
                 child: dict[str, Any], cache: bool, cache_dir: str | None, device: str) -> None:
        from decisiongym.supervised.data import load_dataset

        if dataset not in ("digits", "mnist"):
            raise ValueError(f"decisiongym/NAS{kind.title()}-v0: dataset must be 'digits' or "
                             f"'mnist', got {dataset!r}")
        self.kind, self.space, self.budget, self.child = kind, space, budget, child
        self.data = load_dataset(dataset, seed=int(data_seed))
        self.max_train = max_train
        self.training_seed = int(training_seed)
        self.device = device
        self.cache = EvaluationCache(cache_dir) if cache else None
        self.base = {"kind": kind, "space": repr(space), "dataset": dataset,
                     "data_seed": int(data_seed), "budget": repr(budget),
                     "max_train": max_train, "child": child}

    def build(self, tokens: Sequence[int]) -> Any:
        c, h, w = self.data.input_shape
        if isinstance(self.space, ChainSpace):
            return ChainNet(self.space, tokens, c, self.data.n_classes, input_hw=(h, w))
        return CellNet(self.space, tokens, c, self.data.n_classes, input_hw=(h, w), **self.child)

    def __call__(self, tokens: Sequence[int], training_seed: int | None = None) -> Evaluation:
        seed = self.training_seed if training_seed is None else int(training_seed)
        description = {**self.base, "tokens": [int(t) for t in tokens], "training_seed": seed}
        if self.cache is not None:
            hit = self.cache.get(description)
            if hit is not None:
                return Evaluation(val_accuracy=hit["val_accuracy"],
                                  test_accuracy=hit["test_accuracy"], evaluation_seconds=0.0,
                                  cached=True, train_seconds=hit["train_seconds"])
        d = self.data
        X, y = d.X_train, d.y_train
        if self.max_train is not None:
            X, y = X[:self.max_train], y[:self.max_train]
        start = time.perf_counter()
        val, test = train_and_evaluate(self.build(tokens), X, y,
                                       [(d.X_val, d.y_val), (d.X_test, d.y_test)], self.budget,
                                       seed=seed, device=self.device)
        seconds = time.perf_counter() - start
        record = {"val_accuracy": val / len(d.y_val), "test_accuracy": test / len(d.y_test),
                  "train_seconds": seconds}
        if self.cache is not None:
            self.cache.put(description, record)
        return Evaluation(record, evaluation_seconds=seconds, cached=False)


class _TabularEvaluator:
    def __init__(self, tabular_seed: int | None) -> None:
        from decisiongym.supervised.nas.tabular import TABLE_SPACE, load_table

        self.space = TABLE_SPACE
        table = load_table()
        if tabular_seed is None:
            self.val, self.test = table.val_accuracy.mean(1), table.test_accuracy.mean(1)
        else:
            if int(tabular_seed) not in table.seeds:
                raise ValueError(f"NASCell-v0: tabular_seed must be one of {table.seeds} or "
                                 f"None, got {tabular_seed!r}")
            s = table.seeds.index(int(tabular_seed))
            self.val, self.test = table.val_accuracy[:, s], table.test_accuracy[:, s]
        self.optimum = float(self.val.max())
        # What one evaluation would cost if trained: the table's mean time per cell.
        self.train_seconds = table.seconds / table.val_accuracy.shape[0]

    def __call__(self, tokens: Sequence[int], training_seed: int | None = None) -> Evaluation:
        i = self.space.index(tokens)
        return Evaluation(val_accuracy=float(self.val[i]), test_accuracy=float(self.test[i]),
                          evaluation_seconds=0.0, cached=True, train_seconds=self.train_seconds)


class NASCore:
    """Array state of ``n`` architecture-writing episodes; shared by the env and its vector twin."""

    def __init__(self, env_name: str, space: ChainSpace | CellSpace,
                 evaluator: _Evaluator | _TabularEvaluator, penalty: float,
                 input_hw: tuple[int, int]) -> None:
        self.env_name, self.space, self.evaluator = env_name, space, evaluator
        self.penalty = float(penalty)
        self.input_hw = input_hw
        self.choices = np.array(space.choices_per_token, dtype=np.int64)
        self.n_tokens = len(self.choices)
        self.optimum = getattr(evaluator, "optimum", float("nan"))

    def malformed(self, tokens: Sequence[int]) -> bool:
        if any(not 0 <= int(t) < c for t, c in zip(tokens, self.choices, strict=False)):
            return True
        if isinstance(self.space, ChainSpace) and len(tokens) >= 3:
            # Checked as soon as a stride is written: the layers so far (the current one padded
            # with its first filter count) must leave a map of at least 1 x 1.
            n_layers = (len(tokens) + 1) // 4
            padded = list(tokens[:4 * n_layers]) + [0] * (4 * n_layers - len(tokens))
            prefix = ChainSpace(n_layers, self.space.filter_heights, self.space.filter_widths,
                                self.space.strides, self.space.n_filters)
            return chain_output_size(prefix, padded, self.input_hw)[0] == 0
        return False

    def finish(self, tokens: Sequence[int], malformed: bool) -> tuple[float, dict[str, Any]]:
        info: dict[str, Any] = {"architecture": tuple(int(t) for t in tokens),
                                "malformed": malformed, "optimal_val_accuracy": self.optimum}
        if malformed:
            info.update(val_accuracy=float("nan"), test_accuracy=float("nan"),
                        evaluation_seconds=0.0, train_seconds=0.0, cached=False,
                        regret=float("nan"))
            return self.penalty, info
        ev = self.evaluator(tokens)
        info.update(ev)
        info["regret"] = self.optimum - ev["val_accuracy"]
        return float(ev["val_accuracy"]), info


def _check_action(env_name: str, action: Any, n: int) -> int:
    a = np.asarray(action)
    if a.shape not in ((), (1,)) or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{env_name}: action must be an integer, got {action!r}")
    value = int(a.reshape(()))
    if not 0 <= value < n:
        raise ValueError(f"{env_name}: action {value} outside Discrete({n})")
    return value


def _check_device(name: str, device: Any) -> str:
    """A torch device string this machine has, or ValueError naming the env and the value."""
    import torch

    if not isinstance(device, str):
        raise param_error(name, "device", device, "a torch device string such as 'cpu'")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise param_error(name, "device", device,
                          "a torch device string such as 'cpu' or 'cuda:0'") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None)
                             and torch.backends.mps.is_available())}
    if not available.get(dev.type, False):
        raise param_error(name, "device", device, "a device this machine has")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise param_error(name, "device", device,
                          f"a CUDA device index below {torch.cuda.device_count()}")
    return device


def _check_choices(name: str, what: str, value: Any) -> tuple[int, ...]:
    """A non-empty sequence of positive integers (the choices of one chain token)."""
    expected = "a non-empty sequence of positive integers"
    if isinstance(value, (str, bytes)):
        raise param_error(name, what, value, expected)
    try:
        items = tuple(value)
    except TypeError:
        raise param_error(name, what, value, expected) from None
    if not items or not all(is_integer(v) and v >= 1 for v in items):
        raise param_error(name, what, value, expected)
    return tuple(int(v) for v in items)


def _make_core(kind: str, kw: dict[str, Any]) -> NASCore:
    """Check every argument (ValueError naming the env id and the value) before any work, then
    build the space, the evaluator and the core."""
    name = f"decisiongym/{kind}-v0"
    budget = TrainBudget(epochs=check_int(name, "epochs", kw.pop("epochs", 2)),
                         batch_size=check_int(name, "batch_size", kw.pop("batch_size", 64)),
                         lr=check_float(name, "lr", kw.pop("lr", 0.01), low=0.0, low_open=True))
    common = {k: kw.pop(k, d) for k, d in (("dataset", "digits"), ("data_seed", 0),
                                            ("training_seed", 0), ("max_train", None),
                                            ("cache", True), ("cache_dir", None),
                                            ("device", "cpu"))}
    check_choice(name, "dataset", common["dataset"], ("digits", "mnist"))
    common["data_seed"] = check_int(name, "data_seed", common["data_seed"], low=0)
    common["training_seed"] = check_int(name, "training_seed", common["training_seed"], low=0)
    common["max_train"] = check_optional_int(name, "max_train", common["max_train"])
    common["cache"] = check_bool(name, "cache", common["cache"])
    if common["cache_dir"] is not None and not isinstance(common["cache_dir"], (str, PathLike)):
        raise param_error(name, "cache_dir", common["cache_dir"], "a path or None")
    common["device"] = _check_device(name, common["device"])
    penalty = check_float(name, "penalty", kw.pop("penalty", 0.0))
    kw.pop("horizon", None)  # the harness's budget (architectures per search): not a dynamics
    evaluator: _Evaluator | _TabularEvaluator
    space: ChainSpace | CellSpace
    if kind == "NASChain":
        n_layers = check_int(name, "n_layers", kw.pop("n_layers", 3))
        choices = {k: _check_choices(name, k, kw.pop(k, d)) for k, d in (
            ("filter_heights", (1, 3, 5)), ("filter_widths", (1, 3, 5)),
            ("strides", (1, 2, 3)), ("n_filters", (4, 8, 16)))}
        if kw:
            raise ValueError(f"{name}: unknown arguments {sorted(kw)}")
        space = ChainSpace(n_layers, choices["filter_heights"], choices["filter_widths"],
                           choices["strides"], choices["n_filters"])
        evaluator = _Evaluator("chain", space, budget=budget, child={}, **common)
    else:
        tabular = check_bool(name, "tabular", kw.pop("tabular", False))
        tabular_seed = check_optional_int(name, "tabular_seed", kw.pop("tabular_seed", None),
                                          low=0)
        n_nodes, ops = kw.pop("n_nodes", None), kw.pop("ops", None)
        if n_nodes is not None:
            check_int(name, "n_nodes", n_nodes, low=2)
        if ops is not None and (isinstance(ops, str) or not ops
                                or any(o not in CELL_OPS for o in ops)
                                or len(set(ops)) != len(tuple(ops))):
            raise param_error(name, "ops", ops, f"distinct names from {CELL_OPS}")
        channels = check_int(name, "channels", kw.pop("channels", 8))
        n_cells = check_int(name, "n_cells", kw.pop("n_cells", 1))
        if kw:
            raise ValueError(f"{name}: unknown arguments {sorted(kw)}")
        if tabular:
            from decisiongym.supervised.nas.tabular import TABLE_SPACE
            if (n_nodes, ops) != (None, None) and CellSpace(
                    int(n_nodes or 4), tuple(ops or TABLE_SPACE.ops)) != TABLE_SPACE:
                raise ValueError(f"{name}: tabular mode answers only for its own space "
                                 f"{TABLE_SPACE}, got n_nodes={n_nodes}, ops={ops}")
            space = TABLE_SPACE
            evaluator = _TabularEvaluator(tabular_seed)
        else:
            space = CellSpace(int(n_nodes or 4), tuple(ops or CELL_OPS))
            evaluator = _Evaluator("cell", space, budget=budget,
                                   child={"channels": channels, "n_cells": n_cells}, **common)
    hw = (8, 8) if common["dataset"] == "digits" else (28, 28)
    return NASCore(name, space, evaluator, penalty, hw)


class _NASEnv(gym.Env[NDArray[np.int64], np.int64]):
    metadata = {"render_modes": [], **SEARCH_METADATA}  # noqa: RUF012
    kind = ""

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        if render_mode is not None:
            raise ValueError(f"decisiongym/{self.kind}-v0: render_mode must be None, "
                             f"got {render_mode!r}")
        self.core = _make_core(self.kind, dict(kwargs))
        self.action_space = spaces.Discrete(int(self.core.choices.max()))
        self.observation_space = spaces.MultiDiscrete(self.core.choices + 1)
        self._tokens: list[int] = []
        self._done = False

    @property
    def space(self) -> ChainSpace | CellSpace:
        return self.core.space

    def _obs(self) -> NDArray[np.int64]:
        obs = self.core.choices.copy()
        obs[:len(self._tokens)] = self._tokens
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[NDArray[np.int64], dict[str, Any]]:
        super().reset(seed=seed)
        self._tokens = []
        self._done = False
        return self._obs(), {}

    def step(self, action: Any) -> tuple[NDArray[np.int64], SupportsFloat, bool, bool,
                                         dict[str, Any]]:
        if self._done:
            raise RuntimeError(f"{self.core.env_name}: step after the episode ended; call reset")
        a = _check_action(self.core.env_name, action, int(self.core.choices.max()))
        self._tokens.append(a)
        obs = self._obs()
        malformed = self.core.malformed(self._tokens)
        if malformed or len(self._tokens) == self.core.n_tokens:
            reward, info = self.core.finish(self._tokens, malformed)
            self._done = True
            return obs, reward, True, False, info
        return obs, 0.0, False, False, {}


class NASChainEnv(_NASEnv):
    __doc__ = __doc__
    kind = "NASChain"


class NASCellEnv(_NASEnv):
    __doc__ = __doc__
    kind = "NASCell"


_INFO_KEYS = ("val_accuracy", "test_accuracy", "regret", "evaluation_seconds", "train_seconds")


class _NASVectorEnv(NextStepVectorEnv[Any, Any, Any]):
    """``n`` architecture-writing episodes at once (NEXT_STEP autoreset, see
    :class:`~decisiongym.envs.vector.NextStepVectorEnv`). Nothing is random: a seed changes
    nothing."""

    metadata = {"render_modes": [], **SEARCH_METADATA}  # noqa: RUF012
    kind = ""

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, **kwargs: Any) -> None:
        self._init_vector(num_envs, render_mode)
        self.core = _make_core(self.kind, dict(kwargs))
        self._set_spaces(spaces.MultiDiscrete(self.core.choices + 1),
                         spaces.Discrete(int(self.core.choices.max())))
        self._tokens = np.tile(self.core.choices, (self.num_envs, 1))
        self._pos = np.zeros(self.num_envs, dtype=np.int64)

    def _reset_all(self) -> tuple[NDArray[np.int64], dict[str, Any]]:
        self._tokens[:] = self.core.choices
        self._pos[:] = 0
        return self._tokens.copy(), {}

    def _reset_rows(self, rows: NDArray[np.int64]) -> None:
        self._tokens[rows] = self.core.choices
        self._pos[rows] = 0

    def _check_actions(self, actions: Any) -> NDArray[Any]:
        a = np.asarray(actions)
        if a.shape != (self.num_envs,) or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{self.core.env_name}: actions must be {self.num_envs} integers, "
                             f"got {actions!r}")
        n_actions = int(self.core.choices.max())
        if (a < 0).any() or (a >= n_actions).any():
            raise ValueError(f"{self.core.env_name}: actions {a} outside Discrete({n_actions})")
        return a

    def _step_batch(self, a: NDArray[Any], stepped: NDArray[np.bool_]
                    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_],
                               NDArray[np.bool_], dict[str, Any]]:
        n = self.num_envs
        rewards = np.zeros(n)
        terminated = np.zeros(n, dtype=bool)
        info: dict[str, Any] = {k: np.full(n, np.nan) for k in _INFO_KEYS}
        info["malformed"] = np.zeros(n, dtype=bool)
        info["architecture"] = np.full((n, self.core.n_tokens), -1, dtype=np.int64)
        for r in np.flatnonzero(stepped):
            self._tokens[r, self._pos[r]] = a[r]
            self._pos[r] += 1
            tokens = self._tokens[r, :self._pos[r]].tolist()
            malformed = self.core.malformed(tokens)
            if malformed or self._pos[r] == self.core.n_tokens:
                rewards[r], one = self.core.finish(tokens, malformed)
                terminated[r] = True
                for k in _INFO_KEYS:
                    info[k][r] = one[k]
                info["malformed"][r] = malformed
                info["architecture"][r, :len(tokens)] = tokens
        info["optimal_val_accuracy"] = np.full(n, self.core.optimum)
        return (self._tokens.copy(), rewards, terminated, np.zeros(n, dtype=bool), info)


class NASChainVectorEnv(_NASVectorEnv):
    kind = "NASChain"
    env_name = "decisiongym/NASChain-v0"


class NASCellVectorEnv(_NASVectorEnv):
    kind = "NASCell"
    env_name = "decisiongym/NASCell-v0"


__all__ = ["NASCellEnv", "NASCellVectorEnv", "NASChainEnv", "NASChainVectorEnv", "NASCore"]
