"""What an architecture search is measured by: the recorder that the NAS envs ask for.

``NASChain-v0`` and ``NASCell-v0`` declare in their metadata that the harness's budget counts
episodes (architectures, ``"decisiongym.budget_unit": "episodes"``) and that their searches are
recorded by :class:`SearchRecorder` (``"decisiongym.recorders"``). The harness's one rollout loop
steps the search agent on the vector env and hands every batched step to the recorder, which
follows the harness's recorder interface (``start``, ``step``, ``finish``, ``new_phase``)
structurally: this package does not import the harness.

Arrays (B = the budget of architectures, n = searches):

- ``best_val`` (B, n): the best validation accuracy among the first k architectures (0 before
  the first well-formed one);
- in tabular mode, where the optimum is known: ``regret_curve`` (B, n), optimum - ``best_val``,
  ``final_regret`` (n,) its last row, and ``best_arm_fraction`` (n,), the share of the
  architectures evaluated that were optimal; otherwise ``best_error_curve`` (B, n),
  1 - ``best_val`` (the best validation error so far), and ``final_best_error`` (n,);
- ``wall_clock`` (B, n): seconds after k architectures: the agent's own time (acting and
  learning, measured) plus the training time of each child (measured when trained; a cache hit
  is charged the time its training took, a table look-up the table's mean training time per
  cell), so a cached rerun reports the cost of the search, not of the look-ups. Measured, so
  not bit for bit;
- ``final_val``, ``final_test`` (n,): the validation and test accuracy of each search's final
  pick (its best architecture by validation accuracy); ``final_accuracy`` (n,) is
  ``final_val`` under the name the harness's summary reads; ``final_arch`` (n, T);
- ``mean_reward`` (n,): the mean reward per architecture (validation accuracy, or the penalty
  of a malformed one).

Record: ``optimum`` (the best validation accuracy in the space, None unless tabular) and
``regret_kind`` ``"nas-optimum"`` in tabular mode.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


class SearchRecorder:
    """Records every architecture each search evaluates (see the module docstring)."""

    def start(self, setup: Any) -> None:
        if setup.budget_unit != "episodes" or setup.envs_per_learner != 1:
            raise ValueError("the search recorder needs a budget in episodes (architectures) "
                             "and one env copy per search")
        budget, n = int(setup.budget), int(setup.learners)
        tokens = int(np.prod(setup.env.single_observation_space.shape))
        self.n = n
        self.val = np.full((budget, n), np.nan)
        self.test = np.full((budget, n), np.nan)
        self.cost = np.zeros((budget, n))
        self.archs = np.full((budget, n, tokens), -1, dtype=np.int64)
        self.rewards = np.zeros((budget, n))
        self.count = np.zeros(n, dtype=np.int64)
        self.agent_seconds = np.zeros(n)
        self.optimum = float("nan")

    def step(self, batch: Any) -> None:
        self.agent_seconds += batch.agent_seconds
        done = batch.terminated & batch.live
        if not done.any():
            return
        info = batch.info
        budget = self.val.shape[0]
        for i in np.flatnonzero(done):
            k = self.count[i]
            if k >= budget:
                continue
            self.val[k, i] = info["val_accuracy"][i]
            self.test[k, i] = info["test_accuracy"][i]
            self.rewards[k, i] = batch.rewards[i]
            arch = np.asarray(info["architecture"][i], dtype=np.int64).reshape(-1)
            self.archs[k, i, :arch.size] = arch
            if not info["malformed"][i]:
                self.cost[k, i] = info["train_seconds"][i]
            self.cost[k, i] += self.agent_seconds[i]
            self.agent_seconds[i] = 0.0
            self.optimum = float(info["optimal_val_accuracy"][i])
            self.count[i] += 1

    def new_phase(self, env: Any) -> None:
        """A search has one phase; nothing to do."""

    def finish(self) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
        n, val, optimum = self.n, self.val, self.optimum
        score = np.where(np.isnan(val), -np.inf, val)
        best_val = np.maximum.accumulate(score, axis=0)
        best_val = np.where(np.isinf(best_val), 0.0, best_val)
        pick = score.argmax(axis=0)
        cols = np.arange(n)
        arrays: dict[str, NDArray[Any]] = {
            "best_val": best_val, "wall_clock": np.cumsum(self.cost, axis=0),
            "final_val": val[pick, cols], "final_test": self.test[pick, cols],
            "final_accuracy": val[pick, cols], "final_arch": self.archs[pick, cols],
            "mean_reward": self.rewards.mean(axis=0)}
        record: dict[str, Any] = {"optimum": None}
        if np.isfinite(optimum):
            regret = optimum - best_val
            arrays.update(regret_curve=regret, final_regret=regret[-1].copy(),
                          best_arm_fraction=np.isclose(val, optimum).mean(axis=0))
            record.update(optimum=optimum, regret_kind="nas-optimum")
        else:
            error = 1.0 - best_val
            arrays.update(best_error_curve=error, final_best_error=error[-1].copy())
        return arrays, record


__all__ = ["SearchRecorder"]
