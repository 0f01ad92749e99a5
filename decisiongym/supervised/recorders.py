"""Recorders for the supervised tasks, for the harness's one rollout loop.

A recorder is any object with ``start(setup)``, ``step(batch)``, ``finish()`` and
``new_phase(env)`` (the protocol :class:`decisiongym.harness.recorders.Recorder`, implemented
here structurally: this layer does not import the harness).

:class:`HeldoutAccuracyRecorder` measures every learner on held-out data as it learns::

    from decisiongym.harness import run
    data = load_dataset("digits")
    out = run("decisiongym/ImageClassification-v0", "net-reinforce", replicates=2,
              horizon=3000, env_kwargs={"feedback": "bandit"},
              recorders=[HeldoutAccuracyRecorder(data.X_test, data.y_test, every=500)])
    out["samples"], out["heldout_accuracy"]  # (G,), (G, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from decisiongym.agents.base import HeldOutAccuracy
from decisiongym.validation import check_optional_int

__all__ = ["HeldoutAccuracyRecorder"]


class HeldoutAccuracyRecorder:
    """Every learner's accuracy on held-out data ``(X, y)``: ``agent.accuracy(X, y)`` (one
    value per learner) after every ``every`` env steps and after the last (``every`` None:
    after the last only).

    Arrays: ``samples`` (G,) the env steps per learner (samples seen) at each measurement,
    ``heldout_accuracy`` (G, learners) and ``final_heldout_accuracy`` (learners,)."""

    def __init__(self, X: NDArray[Any], y: NDArray[Any], every: int | None = None) -> None:
        if len(X) != len(y) or len(y) == 0:
            raise ValueError(f"held-out accuracy: X and y must hold the same number (> 0) of "
                             f"examples, got {len(X)} and {len(y)}")
        check_optional_int("held-out accuracy", "every", every)
        self.X, self.y, self.every = X, y, every

    def start(self, setup: Any) -> None:
        if setup.envs_per_learner != 1 or setup.budget_unit != "steps":
            raise ValueError("the held-out accuracy recorder needs one env copy per learner "
                             "and a budget in env steps")
        if not isinstance(setup.agent, HeldOutAccuracy):
            raise ValueError(f"the held-out accuracy recorder needs an agent with "
                             f"accuracy(X, y); {getattr(setup.agent, 'name', setup.agent)!r} "
                             "has none")
        self.agent: HeldOutAccuracy = setup.agent
        self.budget = setup.budget
        self.samples: list[int] = []
        self.accuracy: list[NDArray[np.float64]] = []

    def step(self, batch: Any) -> None:
        t = batch.t
        if t == self.budget or (self.every is not None and t % self.every == 0):
            self.samples.append(int(batch.env_steps))
            self.accuracy.append(np.asarray(self.agent.accuracy(self.X, self.y),
                                            dtype=np.float64))

    def new_phase(self, env: Any) -> None:
        """The held-out data stays the same across phases."""

    def finish(self) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
        accuracy = np.stack(self.accuracy)
        return ({"samples": np.asarray(self.samples, dtype=np.int64),
                 "heldout_accuracy": accuracy, "final_heldout_accuracy": accuracy[-1].copy()},
                {"heldout_examples": len(self.y)})
