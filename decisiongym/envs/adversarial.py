"""Adversarial bandits (Dobriban, *Notes for Stat 991: Topics in Deep Learning*, 2019, section
5.2.3).

Capability probed: learning when rewards follow no distribution at all. "At the beginning, the
adversary secretly chooses fixed rewards R_1, ..., R_T in [0, 1]^K"; the learner sees only
R_t(A_t). Success is measured by the regret against the best fixed arm in hindsight,

    r_T = max_k sum_t R_t(k) - sum_t R_t(A_t),

which the harness computes exactly because every step's ``info["rewards"]`` carries the whole
reward vector R_t of the round (agents never read ``info``).

Feedback (kwarg ``feedback``). ``"bandit"`` (the default): the learner sees only R_t(A_t); the
observation is the constant 0. ``"full"``: full information, the setting of Hedge /
exponential weights (Freund & Schapire 1997; Littlestone & Warmuth 1994; the online linear
optimisation on the simplex of Dobriban (2019), section 5.2.3, items 8-11, with R_t observed):
the observation returned by each step is the whole reward vector R_t of the round just played
(a ``Box(0, 1, (K,))``; zeros at reset), so that a full-information learner sees it without
reading ``info``. The rewards, the adversary's draws and ``info`` are the same in both modes.

Two environments:

- :class:`AdversarialBandit` (``decisiongym/AdversarialBandit-v0``): an *oblivious* adversary, its
  reward table fixed at reset by a named generator (see :data:`ADVERSARIES`) or given by the user.
- :class:`ReactiveAdversaryBandit` (``decisiongym/ReactiveAdversaryBandit-v0``): an *adaptive*
  ("reactive", Dobriban (2019), section 5.2.3, item 12) adversary that sets R_t from the
  learner's past actions and rewards, before seeing A_t.

As for the stochastic bandits, the dynamics are array code over a leading replicate axis
(:class:`AdversaryCore`), served by a single env (a batch of one) and a native vector env. Each
replicate owns one generator; a vector env reset with seed ``s`` gives replicate ``i`` exactly the
rewards of a single env reset with seed ``s + i``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike, NDArray

from decisiongym.arrays import FloatArray, IntArray
from decisiongym.envs.bandits import _as_single_action
from decisiongym.envs.vector import BUDGET_KWARG, NextStepVectorEnv
from decisiongym.validation import check_float, check_int, check_render_mode

__all__ = [
    "ADVERSARIES",
    "FEEDBACKS",
    "REACTIVE_STRATEGIES",
    "AdversarialBandit",
    "AdversarialBanditVector",
    "Adversary",
    "AdversaryCore",
    "ReactiveAdversaryBandit",
    "ReactiveAdversaryBanditVector",
    "anti_index_table",
]


#: Rows of a random reward table drawn at once per replicate ("friend").
_BLOCK = 256

#: What the learner observes (kwarg ``feedback``): only its own reward ("bandit", the default)
#: or the whole reward vector of the round ("full", full information).
FEEDBACKS = ("bandit", "full")


def _check_feedback(env_name: str, feedback: Any) -> str:
    """``feedback`` if it is one of :data:`FEEDBACKS`, else ValueError naming the env."""
    if not isinstance(feedback, str) or feedback not in FEEDBACKS:
        raise ValueError(f"{env_name}: feedback must be one of {', '.join(map(repr, FEEDBACKS))} "
                         f"(full: the observation is the round's reward vector), got "
                         f"{feedback!r}")
    return feedback


def _feedback_space(feedback: str, n_arms: int) -> spaces.Space[Any]:
    """Discrete(1) (bandit feedback: a constant) or Box(0, 1, (K,)) (the reward vector)."""
    if feedback == "full":
        return spaces.Box(0.0, 1.0, shape=(n_arms,), dtype=np.float64)
    return spaces.Discrete(1)


# --------------------------------------------------------------------------------------------
# Adversaries: how each replicate's reward vector R_t is set.
# --------------------------------------------------------------------------------------------


class Adversary(ABC):
    """Sets the reward vector of every round for ``n`` replicates; draws only from the
    generators it is given (one per replicate)."""

    name: str
    n_arms: int
    env_name: str

    def allocate(self, n: int, horizon: int) -> None:
        """Prepare state for ``n`` replicates and episodes of ``horizon`` rounds."""
        self.n = n
        self.horizon = horizon

    @abstractmethod
    def reset_rows(self, rngs: Sequence[np.random.Generator], rows: IntArray) -> None:
        """A new episode for replicates ``rows``."""

    @abstractmethod
    def round_rewards(self, t: IntArray, rows: IntArray) -> FloatArray:
        """R_t for replicates ``rows`` at their rounds ``t`` (0-based), shape (len(rows), K).

        Called once per round, before the learner's action is revealed to the adversary."""

    def observe(self, rows: IntArray, actions: IntArray, rewards: FloatArray) -> None:  # noqa: B027
        """The learner's actions and rewards of the round (reactive adversaries use them)."""


class FriendAdversary(Adversary):
    """The example of Dobriban (2019), section 5.2.3, item 2, over T rounds: a friend secretly
    chooses 0/1 rewards.

    At reset the friend draws a secret q_k ~ U[0, 1] per arm, then R_t(k) ~ Bernoulli(q_k) for
    every round: the whole table is fixed before the first pull (drawn in blocks of 256 rows
    from the replicate's generator, which changes no value)."""

    name = "friend"

    def __init__(self, k: int, env_name: str) -> None:
        self.n_arms, self.env_name = k, env_name

    def allocate(self, n: int, horizon: int) -> None:
        super().allocate(n, horizon)
        self.q = np.zeros((n, self.n_arms))
        self.block = np.zeros((n, _BLOCK, self.n_arms))
        self.rngs: Sequence[np.random.Generator] = ()

    def reset_rows(self, rngs: Sequence[np.random.Generator], rows: IntArray) -> None:
        self.rngs = rngs
        for i in rows:
            self.q[i] = rngs[i].random(self.n_arms)

    def round_rewards(self, t: IntArray, rows: IntArray) -> FloatArray:
        pos = t % _BLOCK
        for j in np.flatnonzero(pos == 0):  # a new block: once every 256 rounds per replicate
            i = rows[j]
            self.block[i] = self.rngs[i].random((_BLOCK, self.n_arms)) < self.q[i]
        return self.block[rows, pos]


class SwitchAdversary(Adversary):
    """The best fixed arm changes half way.

    Two arms a != b drawn at reset: for t < T // 2, R_t(a) = 1 and R_t(b) = 0.1; afterwards
    R_t(a) = 0 and R_t(b) = 1; every other arm pays 0.3 throughout. Arm a leads for the whole
    first half, arm b is the best fixed arm over the horizon."""

    name = "switch"

    def __init__(self, k: int, env_name: str) -> None:
        self.n_arms, self.env_name = k, env_name

    def allocate(self, n: int, horizon: int) -> None:
        super().allocate(n, horizon)
        self.first = np.zeros((n, self.n_arms))
        self.second = np.zeros((n, self.n_arms))

    def reset_rows(self, rngs: Sequence[np.random.Generator], rows: IntArray) -> None:
        for i in rows:
            a, b = rngs[i].choice(self.n_arms, size=2, replace=False)
            self.first[i], self.second[i] = 0.3, 0.3
            self.first[i, a], self.first[i, b] = 1.0, 0.1
            self.second[i, a], self.second[i, b] = 0.0, 1.0

    def round_rewards(self, t: IntArray, rows: IntArray) -> FloatArray:
        late = (t >= self.horizon // 2)[:, None]
        return np.where(late, self.second[rows], self.first[rows])


class DriftAdversary(Adversary):
    """A slowly drifting table: R_t(k) = 1/2 + 2/5 sin(pi t / T + phi + 2 pi k / K), with phi ~
    U[0, 2 pi) drawn at reset (half a period over the horizon: each arm rises and falls once)."""

    name = "drift"

    def __init__(self, k: int, env_name: str) -> None:
        self.n_arms, self.env_name = k, env_name

    def allocate(self, n: int, horizon: int) -> None:
        super().allocate(n, horizon)
        self.phase = np.zeros((n, self.n_arms))

    def reset_rows(self, rngs: Sequence[np.random.Generator], rows: IntArray) -> None:
        offsets = 2.0 * math.pi * np.arange(self.n_arms) / self.n_arms
        for i in rows:
            self.phase[i] = rngs[i].uniform(0.0, 2.0 * math.pi) + offsets

    def round_rewards(self, t: IntArray, rows: IntArray) -> FloatArray:
        angle = (math.pi / self.horizon) * t.astype(np.float64)
        return np.asarray(0.5 + 0.4 * np.sin(angle[:, None] + self.phase[rows]))


@lru_cache(maxsize=16)
def anti_index_table(n_arms: int, horizon: int, alpha: float = 2.0) -> FloatArray:
    """The oblivious table that defeats UCB1 (index mu_hat_k + sqrt(alpha log t / T_k), Auer et
    al. 2002; decisiongym's ``ucb1``), built by simulating it (Dobriban (2019), section 5.2.3,
    item 4: "if we consider a deterministic strategy, there is always an adversarial example that
    has maximal regret").

    Rounds 1..K pay c_k = 1/2 + k / (4K) on arm k whatever the round, so UCB1's first K pulls (one
    per arm, in any order) leave the same state; from then on every round pays 0 on the arm UCB1
    picks and 1 on all others. UCB1 earns nothing after round K; the arms it stops playing earn
    almost every round, so its regret is about T (K - 1) / K. The index is computed with the same
    floating-point operations as the agent, and the distinct c_k keep its choices free of ties.
    Read-only; shape (horizon, K).
    """
    k = n_arms
    table = np.ones((horizon, k))
    c = 0.5 + np.arange(k) / (4.0 * k)
    table[: min(k, horizon)] = c
    counts = np.ones(k)
    sums = c.copy()  # UCB1's state after its first K pulls
    for s in range(k, horizon):
        scale = alpha * math.log(max(s, 2))
        index = np.sqrt(scale * (1.0 / counts)) + sums / counts
        a = int(index.argmax())
        table[s, a] = 0.0
        counts[a] += 1.0  # sums[a] += 0
    table.flags.writeable = False
    return table


class AntiIndexAdversary(Adversary):
    """:func:`anti_index_table` with the arms relabelled by a permutation drawn at reset (UCB1
    treats arms alike, so each relabelled table defeats it as well)."""

    name = "anti-index"

    def __init__(self, k: int, env_name: str, alpha: float) -> None:
        self.n_arms, self.env_name, self.alpha = k, env_name, alpha

    def allocate(self, n: int, horizon: int) -> None:
        super().allocate(n, horizon)
        self.table = anti_index_table(self.n_arms, horizon, self.alpha)
        self.perm = np.tile(np.arange(self.n_arms), (n, 1))

    def reset_rows(self, rngs: Sequence[np.random.Generator], rows: IntArray) -> None:
        for i in rows:
            self.perm[i] = rngs[i].permutation(self.n_arms)

    def round_rewards(self, t: IntArray, rows: IntArray) -> FloatArray:
        # Column j of replicate i is column perm[i, j] of the simulated table.
        return np.asarray(self.table[t[:, None], self.perm[rows]])


class TableAdversary(Adversary):
    """A reward table given by the user, the same for every replicate."""

    name = "table"

    def __init__(self, rewards: ArrayLike, env_name: str) -> None:
        self.env_name = env_name
        try:
            table = np.array(rewards, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{env_name}: rewards must be an array of shape (T, K) with entries "
                             f"in [0, 1], got {rewards!r}") from exc
        if table.ndim != 2 or table.shape[0] < 1 or table.shape[1] < 2:
            raise ValueError(f"{env_name}: rewards must have shape (T, K) with T >= 1 and K >= 2, "
                             f"got shape {table.shape}")
        bad = ~np.isfinite(table) | (table < 0.0) | (table > 1.0)
        if bad.any():
            t, k = (int(x) for x in np.argwhere(bad)[0])
            raise ValueError(f"{env_name}: rewards[{t}, {k}] = {float(table[t, k])!r} is outside "
                             "[0, 1]")
        table.flags.writeable = False
        self.table = table
        self.n_arms = table.shape[1]

    def allocate(self, n: int, horizon: int) -> None:
        if horizon > self.table.shape[0]:
            raise ValueError(f"{self.env_name}: horizon {horizon} is longer than the reward "
                             f"table ({self.table.shape[0]} rows)")
        super().allocate(n, horizon)

    def reset_rows(self, rngs: Sequence[np.random.Generator], rows: IntArray) -> None:
        pass

    def round_rewards(self, t: IntArray, rows: IntArray) -> FloatArray:
        return np.asarray(self.table[t])


#: Named oblivious adversaries of ``AdversarialBandit-v0`` (kwarg ``adversary``).
ADVERSARIES = ("friend", "switch", "drift", "anti-index")


def make_adversary(env_name: str, adversary: str | None, k: int | None,
                   rewards: ArrayLike | None, alpha: float) -> Adversary:
    if rewards is not None:
        if adversary not in (None, "table"):
            raise ValueError(f"{env_name}: give either adversary or rewards, not both (got "
                             f"adversary={adversary!r} and a rewards table)")
        table = TableAdversary(rewards, env_name)
        if k is not None and check_int(env_name, "k (number of arms)", k, low=2) != table.n_arms:
            raise ValueError(f"{env_name}: k = {k!r} does not match the rewards table's "
                             f"{table.n_arms} columns")
        return table
    name = "friend" if adversary is None else adversary
    k = check_int(env_name, "k (number of arms)", 2 if k is None else k, low=2)
    alpha = check_float(env_name, "alpha", alpha, low=0.0, low_open=True, expected="a number > 0")
    if name == "friend":
        return FriendAdversary(k, env_name)
    if name == "switch":
        return SwitchAdversary(k, env_name)
    if name == "drift":
        return DriftAdversary(k, env_name)
    if name == "anti-index":
        return AntiIndexAdversary(k, env_name, alpha)
    raise ValueError(f"{env_name}: unknown adversary {adversary!r}; expected one of "
                     f"{', '.join(ADVERSARIES)} (or a rewards table)")


class ReactiveAdversary(Adversary):
    """An adaptive adversary: R_t depends on the learner's past actions and rewards.

    Strategies (kwarg ``strategy``):

    - ``"anti-ucb"``: recomputes UCB1's index (mu_hat_k + sqrt(alpha log t / T_k), +inf for arms
      never pulled) from the learner's own history and pays 0 on every arm of maximal index, 1 on
      the others. A learner that follows UCB1 earns nothing, whatever its tie-breaking.
    - ``"anti-frequent"``: R_t(k) = 1 - N_k / (t - 1), N_k the learner's pulls of arm k in the first
      t - 1 rounds (all arms pay 1 in round 1): the arms it plays most pay least.
    """

    def __init__(self, strategy: str, k: int, alpha: float, env_name: str) -> None:
        if strategy not in REACTIVE_STRATEGIES:
            raise ValueError(f"{env_name}: unknown strategy {strategy!r}; expected one of "
                             f"{', '.join(REACTIVE_STRATEGIES)}")
        self.name, self.n_arms, self.env_name = strategy, k, env_name
        self.alpha = alpha

    def allocate(self, n: int, horizon: int) -> None:
        super().allocate(n, horizon)
        self.counts = np.zeros((n, self.n_arms))
        self.sums = np.zeros((n, self.n_arms))

    def reset_rows(self, rngs: Sequence[np.random.Generator], rows: IntArray) -> None:
        self.counts[rows] = 0.0
        self.sums[rows] = 0.0

    def round_rewards(self, t: IntArray, rows: IntArray) -> FloatArray:
        counts = self.counts[rows]
        if self.name == "anti-frequent":
            return np.asarray(1.0 - counts / np.maximum(t, 1)[:, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = np.where(counts > 0, 1.0 / counts, np.inf)
            mean = np.where(counts > 0, self.sums[rows] / counts, 0.0)
        scale = self.alpha * np.log(np.maximum(t, 2).astype(np.float64))
        index = np.sqrt(scale[:, None] * inverse) + mean
        return np.where(index == index.max(axis=1, keepdims=True), 0.0, 1.0)

    def observe(self, rows: IntArray, actions: IntArray, rewards: FloatArray) -> None:
        self.counts[rows, actions] += 1.0
        self.sums[rows, actions] += rewards


#: Strategies of ``ReactiveAdversaryBandit-v0`` (kwarg ``strategy``).
REACTIVE_STRATEGIES = ("anti-ucb", "anti-frequent")


# --------------------------------------------------------------------------------------------
# The batched core shared by the single and vector envs.
# --------------------------------------------------------------------------------------------


class AdversaryCore:
    """``n`` replicates of one adversary: their generators, round counters and last round."""

    def __init__(self, adversary: Adversary, n: int, horizon: int) -> None:
        self.adversary = adversary
        self.n, self.k, self.horizon = n, adversary.n_arms, horizon
        adversary.allocate(n, horizon)
        self.rngs: list[np.random.Generator] = []
        self.t = np.zeros(n, dtype=np.int64)
        self.last_action = np.full(n, -1, dtype=np.int64)
        self.last_rewards = np.zeros((n, self.k))
        self._rows = np.arange(n)

    def reset_rows(self, rows: IntArray) -> None:
        self.adversary.reset_rows(self.rngs, rows)
        self.t[rows] = 0
        self.last_action[rows] = -1
        self.last_rewards[rows] = 0.0

    def pull(self, actions: IntArray, rows: IntArray | None = None
             ) -> tuple[FloatArray, FloatArray]:
        """The round: the adversary commits to R_t, then pays R_t(A_t). Returns the rewards
        received (m,) and the reward vectors (m, K) of replicates ``rows`` (all by default)."""
        if rows is None:
            rows = self._rows
        vectors = np.array(self.adversary.round_rewards(self.t[rows], rows), dtype=np.float64)
        received = vectors[np.arange(rows.size), actions]
        self.adversary.observe(rows, actions, received)
        self.t[rows] += 1
        self.last_action[rows] = actions
        self.last_rewards[rows] = vectors
        return received, vectors


def _render_ansi(name: str, core: AdversaryCore, i: int) -> str:
    lines = [f"{name}  t={int(core.t[i])}/{core.horizon}  last arm={int(core.last_action[i])}",
             " arm   last reward"]
    for k in range(core.k):
        mark = "*" if k == core.last_action[i] else " "
        lines.append(f"{mark}{k:3d}  {core.last_rewards[i, k]:8.4f}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Single and vector environments.
# --------------------------------------------------------------------------------------------


class AdversarialBanditEnv(gym.Env[Any, np.int64]):
    """A K-armed adversarial bandit as a Gymnasium env (a batch of one of
    :class:`AdversaryCore`); subclasses choose the adversary. With ``feedback="full"`` the
    observation is the reward vector of the round just played (zeros at reset)."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4,  # noqa: RUF012
                BUDGET_KWARG: "horizon"}
    env_name: str = "AdversarialBandit"

    def __init__(self, adversary: Adversary, horizon: int | None,
                 render_mode: str | None = None, feedback: str = "bandit") -> None:
        self.feedback = _check_feedback(self.env_name, feedback)
        if horizon is None:
            horizon = adversary.table.shape[0] if isinstance(adversary, TableAdversary) else 1000
        self.horizon = check_int(self.env_name, "horizon", horizon)
        self.render_mode = check_render_mode(self.env_name, self.metadata["render_modes"],
                                             render_mode)
        self.n_arms = adversary.n_arms
        self.action_space = spaces.Discrete(self.n_arms)
        self.observation_space = _feedback_space(self.feedback, self.n_arms)
        self._full = self.feedback == "full"
        self._core = AdversaryCore(adversary, 1, self.horizon)
        self._zero = np.zeros(1, dtype=np.int64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self._core.rngs = [self.np_random]
        self._core.reset_rows(self._zero)
        return (np.zeros(self.n_arms) if self._full else np.int64(0)), {}

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if not self._core.rngs:
            raise gym.error.ResetNeeded(f"{self.env_name}: call reset() before step()")
        a = _as_single_action(self.env_name, self.n_arms, action)
        received, vectors = self._core.pull(np.array([a], dtype=np.int64), self._zero)
        truncated = bool(self._core.t[0] >= self.horizon)
        obs = vectors[0].copy() if self._full else np.int64(0)
        return obs, float(received[0]), False, truncated, {"rewards": vectors[0].copy()}

    def render(self) -> str | None:
        if self.render_mode is None:
            gym.logger.warn(f"{self.env_name}: render() called without a render_mode; "
                            "pass render_mode='ansi' to gym.make")
            return None
        return _render_ansi(self.env_name, self._core, 0)


class AdversarialBanditVectorEnv(NextStepVectorEnv[NDArray[Any], IntArray, NDArray[Any]]):
    """``num_envs`` replicates of an adversarial bandit, stepped as arrays.

    Autoreset is Gymnasium's NEXT_STEP (:class:`~decisiongym.envs.vector.NextStepVectorEnv`):
    the step after a replicate's episode is truncated resets it, ignores its action and returns
    reward 0, with ``info["_rewards"][i]`` False.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4,  # noqa: RUF012
                BUDGET_KWARG: "horizon"}
    env_name: str = "AdversarialBandit"
    _only_truncates = True  # a bandit never terminates

    def __init__(self, adversary: Adversary, horizon: int | None, num_envs: int = 1,
                 render_mode: str | None = None, max_episode_steps: int | None = None,
                 feedback: str = "bandit") -> None:
        self.feedback = _check_feedback(self.env_name, feedback)
        self._full = self.feedback == "full"
        self._init_vector(num_envs, render_mode)
        if horizon is None:
            horizon = adversary.table.shape[0] if isinstance(adversary, TableAdversary) else 1000
        self.horizon = self._episode_budget(horizon, max_episode_steps)
        self.n_arms = adversary.n_arms
        self._set_spaces(_feedback_space(self.feedback, self.n_arms),
                         spaces.Discrete(self.n_arms))
        self._core = AdversaryCore(adversary, self.num_envs, self.horizon)
        self._all = np.arange(self.num_envs)

    def _set_rngs(self, rngs: list[np.random.Generator]) -> None:
        self._core.rngs = rngs

    def _reset_all(self) -> tuple[NDArray[Any], dict[str, Any]]:
        self._core.reset_rows(self._all)
        return self._zero_obs(), {}

    def _zero_obs(self) -> NDArray[Any]:
        if self._full:
            return np.zeros((self.num_envs, self.n_arms))
        return np.zeros(self.num_envs, dtype=np.int64)

    def _reset_rows(self, rows: IntArray) -> None:
        self._core.reset_rows(rows)

    def _step_batch(self, a: IntArray, stepped: NDArray[np.bool_]
                    ) -> tuple[NDArray[Any], FloatArray, NDArray[np.bool_], NDArray[np.bool_],
                               dict[str, Any]]:
        n = self.num_envs
        if stepped.all():
            received, vectors = self._core.pull(a)
        else:
            rows = np.flatnonzero(stepped)
            received, vectors = np.zeros(n), np.zeros((n, self.n_arms))
            received[rows], vectors[rows] = self._core.pull(a[rows], rows)
        truncated = stepped & (self._core.t >= self.horizon)
        terminated = np.zeros(n, dtype=bool)
        info = {"rewards": vectors, "_rewards": stepped}
        # Full information: R_t of the round (zeros, the first observation, where just reset).
        obs = vectors.copy() if self._full else np.zeros(n, dtype=np.int64)
        return obs, received, terminated, truncated, info

    def render(self) -> tuple[str, ...] | None:
        if self.render_mode is None:
            gym.logger.warn(f"{self.env_name}: render() called without a render_mode")
            return None
        return tuple(_render_ansi(self.env_name, self._core, i) for i in range(self.num_envs))


# --------------------------------------------------------------------------------------------
# The registered environments. Their docstrings are their specification.
# --------------------------------------------------------------------------------------------

_COMMON_DOC = """
    ## Action Space
    ``Discrete(K)``: the arm to pull. Anything else (out of range, non-integer, NaN, an array
    with a shape) raises ``ValueError`` naming the environment and the value.

    ## Observation Space
    ``feedback="bandit"`` (the default): ``Discrete(1)``, the constant 0 (a bandit has no
    state; the learner sees only its reward R_t(A_t)).

    ``feedback="full"`` (full information, for Hedge / exponential weights): ``Box(0, 1, (K,))``,
    float64. Each step returns the whole reward vector R_t of the round just played, so the
    learner sees what every arm paid; ``reset`` returns zeros (no round played yet).

    | Num | Observation (``feedback="full"``) | Min | Max |
    |-----|-------------|-----|-----|
    | k   | R_t(k), what arm k paid in the round just played | 0 | 1 |

    ## Episode End
    - Termination: never.
    - Truncation: after ``horizon`` pulls.

    ## Info
    ``rewards``: the whole reward vector R_t of the round, shape (K,) (vector env: (n, K), with
    the mask ``_rewards``), so that the harness computes the regret against the best fixed arm,
    max_k sum_t R_t(k) - sum_t R_t(A_t). Agents must not read ``info``.
"""


class AdversarialBandit(AdversarialBanditEnv):
    __doc__ = """Oblivious adversarial bandit (Dobriban (2019), section 5.2.3, items 1-4).

    ## Description
    "At the beginning, the adversary secretly chooses fixed rewards R_1, ..., R_T in [0, 1]^K."
    The table is fixed at reset, before the first pull, by a named generator, or given.

    ## Rewards
    R_t(A_t), in [0, 1]. The adversaries (kwarg ``adversary``):

    - ``"friend"`` (default, the example of Dobriban (2019), section 5.2.3): secret 0/1 rewards,
      R_t(k) ~ Bernoulli(q_k) with q_k ~ U[0, 1] drawn at reset.
    - ``"switch"``: the best fixed arm changes half way (arm a pays 1 then 0, arm b 0.1 then 1,
      the others 0.3).
    - ``"drift"``: a slowly drifting table, 1/2 + 2/5 sin(pi t / T + phi + 2 pi k / K).
    - ``"anti-index"``: built against the deterministic index policy UCB1 (parameter ``alpha``)
      by simulating it: 0 on the arm it picks, 1 on the others, so its best arm is one the policy
      stops playing and UCB1's regret is linear in T (see :func:`anti_index_table`).

    A user table: ``rewards``, an array (T, K) in [0, 1], the same for every replicate.

    ## Starting State
    ``reset`` draws the adversary's secrets from ``self.np_random``; ``info`` is empty.
""" + _COMMON_DOC + """
    ## Arguments
    - ``adversary``: one of the names above; default ``"friend"``.
    - ``k``: number of arms, integer >= 2; default 2.
    - ``rewards``: a (T, K) table in [0, 1] instead of a named adversary.
    - ``alpha``: exploration constant of the UCB1 that ``"anti-index"`` defeats; default 2
      (decisiongym's ``ucb1`` default).
    - ``horizon``: positive int; default 1000 (the table's length T for ``rewards``, which must
      be at least the horizon).
    - ``feedback``: ``"bandit"`` (default) or ``"full"`` (the observation is the round's reward
      vector; see Observation Space).
    - ``render_mode``: None or "ansi".

    ## Version History
    - v0: initial version; ``feedback="full"`` added later (the default unchanged).

    >>> import gymnasium as gym, decisiongym
    >>> env = gym.make("decisiongym/AdversarialBandit-v0", rewards=[[0.0, 1.0], [1.0, 0.5]])
    >>> obs, info = env.reset(seed=0)
    >>> _, r, terminated, truncated, info = env.step(1)
    >>> r, info["rewards"].tolist(), truncated
    (1.0, [0.0, 1.0], False)
    >>> env = gym.make("decisiongym/AdversarialBandit-v0", rewards=[[0.0, 1.0], [1.0, 0.5]],
    ...                feedback="full")
    >>> obs, info = env.reset(seed=0)
    >>> obs, _, _, _, _ = env.step(0)
    >>> obs.tolist()
    [0.0, 1.0]
    """
    env_name = "AdversarialBandit-v0"

    def __init__(self, adversary: str | None = None, k: int | None = None,
                 rewards: ArrayLike | None = None, alpha: float = 2.0,
                 horizon: int | None = None, render_mode: str | None = None,
                 feedback: str = "bandit") -> None:
        super().__init__(make_adversary(self.env_name, adversary, k, rewards, alpha), horizon,
                         render_mode, feedback)


class AdversarialBanditVector(AdversarialBanditVectorEnv):
    """Native vector twin of :class:`AdversarialBandit`."""

    env_name = "AdversarialBandit-v0"

    def __init__(self, num_envs: int = 1, adversary: str | None = None, k: int | None = None,
                 rewards: ArrayLike | None = None, alpha: float = 2.0,
                 horizon: int | None = None, render_mode: str | None = None,
                 max_episode_steps: int | None = None, feedback: str = "bandit") -> None:
        super().__init__(make_adversary(self.env_name, adversary, k, rewards, alpha), horizon,
                         num_envs, render_mode, max_episode_steps, feedback)


class ReactiveAdversaryBandit(AdversarialBanditEnv):
    __doc__ = """Reactive (adaptive) adversarial bandit (Dobriban (2019), section 5.2.3, item 12:
    "variants: reactive adversary").

    ## Description
    Before each round the adversary sets R_t from the learner's past actions and the rewards it
    received (never from A_t itself). Strategies (kwarg ``strategy``):

    - ``"anti-ucb"`` (default): recomputes UCB1's index from the learner's history and pays 0 on
      every arm of maximal index, 1 on the others; UCB1 earns nothing, whatever its tie-breaking.
    - ``"anti-frequent"``: R_t(k) = 1 - N_k / (t - 1), the arms the learner plays most pay least.

    ## Regret
    Against an adaptive adversary the table depends on the learner, so "the best fixed arm in
    hindsight" is taken on the *realised* rewards: r_T = max_k sum_t R_t(k) - sum_t R_t(A_t), with
    R_t the vectors this run produced (``info["rewards"]``). It is not the policy regret (what a
    fixed arm would have earned had the adversary reacted to it instead), which can differ
    (Arora, Dekel & Tewari 2012). Exp3's guarantee bounds max_k E[sum_t R_t(k) - R_t(A_t)] also
    against adaptive adversaries (Lattimore & Szepesvari 2020, section 11.5).

    ## Rewards
    R_t(A_t), in [0, 1].

    ## Starting State
    No history; ``info`` is empty.
""" + _COMMON_DOC + """
    ## Arguments
    - ``strategy``: ``"anti-ucb"`` or ``"anti-frequent"``; default ``"anti-ucb"``.
    - ``k``: number of arms, integer >= 2; default 2.
    - ``alpha``: exploration constant of the UCB1 index of ``"anti-ucb"``; default 2.
    - ``horizon``: positive int; default 1000.
    - ``feedback``: ``"bandit"`` (default) or ``"full"`` (the observation is the round's reward
      vector; see Observation Space). The adversary reacts to the actions and rewards received
      in both modes alike.
    - ``render_mode``: None or "ansi".

    ## Version History
    - v0: initial version; ``feedback="full"`` added later (the default unchanged).
    """
    env_name = "ReactiveAdversaryBandit-v0"

    def __init__(self, strategy: str = "anti-ucb", k: int = 2, alpha: float = 2.0,
                 horizon: int = 1000, render_mode: str | None = None,
                 feedback: str = "bandit") -> None:
        k = check_int(self.env_name, "k (number of arms)", k, low=2)
        alpha = check_float(self.env_name, "alpha", alpha, low=0.0, low_open=True,
                            expected="a number > 0")
        adversary = ReactiveAdversary(strategy, k, alpha, self.env_name)
        super().__init__(adversary, horizon, render_mode, feedback)


class ReactiveAdversaryBanditVector(AdversarialBanditVectorEnv):
    """Native vector twin of :class:`ReactiveAdversaryBandit`."""

    env_name = "ReactiveAdversaryBandit-v0"

    def __init__(self, num_envs: int = 1, strategy: str = "anti-ucb", k: int = 2,
                 alpha: float = 2.0, horizon: int = 1000, render_mode: str | None = None,
                 max_episode_steps: int | None = None, feedback: str = "bandit") -> None:
        k = check_int(self.env_name, "k (number of arms)", k, low=2)
        alpha = check_float(self.env_name, "alpha", alpha, low=0.0, low_open=True,
                            expected="a number > 0")
        adversary = ReactiveAdversary(strategy, k, alpha, self.env_name)
        super().__init__(adversary, horizon, num_envs, render_mode, max_episode_steps, feedback)
