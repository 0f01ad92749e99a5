"""Stochastic multi-armed bandits (Dobriban, *Notes for Stat 991: Topics in Deep Learning*, 2019,
section 5.2).

Capability probed: exploration versus exploitation with no state; the measure of success is the
pseudo-regret r_T = T mu* - sum_t mu_{A_t} (Dobriban (2019), section 5.2, item 7), which every
step's ``info`` makes exact by carrying ``expected_reward`` (the mean of the arm pulled) and
``optimal_expected_reward``.

The dynamics are written once, as array code with a leading replicate axis (:class:`BanditCore`).
The same core serves ``gym.make(id)`` (a batch of one, :class:`StochasticBanditEnv`) and
``gym.make_vec(id, num_envs=n, vectorization_mode="vector_entry_point")`` (a native
:class:`StochasticBanditVectorEnv`, no Python loop over copies per step).

Random numbers. Each replicate owns one ``numpy.random.Generator``. At reset it draws the arm
means (for the families that draw them), then the rewards of *every* arm for the next ``block``
steps; a new block is drawn every ``block`` steps. Rewards therefore form a table R[t, k] fixed by
the seed (common random numbers: two agents run with one seed face the same table), and a vector
env reset with seed ``s`` gives replicate ``i`` exactly the rewards of a single env reset with seed
``s + i``, as Gymnasium's ``SyncVectorEnv`` would. The block length depends on the number of arms
only, never on the horizon, so a longer horizon extends the same run.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike, NDArray

from decisiongym.arrays import FloatArray, IntArray
from decisiongym.envs.vector import BUDGET_KWARG, NextStepVectorEnv
from decisiongym.theory import lai_robbins_constant
from decisiongym.validation import check_int, check_render_mode

__all__ = [
    "BanditCore",
    "BernoulliBandit",
    "BernoulliBanditVector",
    "BernoulliFamily",
    "BetaBandit",
    "BetaBanditVector",
    "BetaFamily",
    "ChapelleLiBandit",
    "ChapelleLiBanditVector",
    "GaussianBandit",
    "GaussianBanditVector",
    "GaussianFamily",
    "KuleshovPrecupBandit",
    "KuleshovPrecupBanditVector",
    "RewardFamily",
    "StochasticBanditEnv",
    "StochasticBanditVectorEnv",
]


def block_length(n_arms: int) -> int:
    """Rows of the reward table drawn at once: about 2048 numbers, between 16 and 256 rows."""
    return int(min(256, max(16, 2048 // n_arms)))


# --------------------------------------------------------------------------------------------
# Validation helpers: every message names the environment and the offending value.
# --------------------------------------------------------------------------------------------


def _check_means(env_name: str, means: Any, low: float | None = None,
                 high: float | None = None, open_interval: bool = False) -> FloatArray:
    try:
        mu = np.array(means, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{env_name}: means must be a 1-D array of numbers, got {means!r}") from exc
    if mu.ndim != 1 or mu.size < 2:
        raise ValueError(
            f"{env_name}: means must be a 1-D array with at least 2 arms, got shape {mu.shape}"
        )
    bad = ~np.isfinite(mu)
    if low is not None and high is not None:
        outside = (mu <= low) | (mu >= high) if open_interval else (mu < low) | (mu > high)
        bad |= outside
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        if low is None:
            interval = "the finite numbers"
        elif open_interval:
            interval = f"({low:g}, {high:g})"
        else:
            interval = f"[{low:g}, {high:g}]"
        raise ValueError(f"{env_name}: means[{i}] = {float(mu[i])!r} is outside {interval}")
    return mu


# --------------------------------------------------------------------------------------------
# Reward families: how a replicate draws its arm means at reset and its reward blocks.
# --------------------------------------------------------------------------------------------


class RewardFamily(ABC):
    """The distribution of the rewards of every arm; draws only from the generator it is given."""

    n_arms: int
    env_name: str
    #: dtype of the stored reward table (Bernoulli rewards are stored as booleans: 8x less
    #: memory traffic); rewards are handed out as float64 whatever it is.
    table_dtype: type = np.float64

    @abstractmethod
    def draw_means(self, rng: np.random.Generator) -> FloatArray:
        """The arm means for a new episode, shape (K,)."""

    @abstractmethod
    def draw_rewards(self, rng: np.random.Generator, means: FloatArray, rows: int) -> FloatArray:
        """Rewards of every arm for ``rows`` steps, shape (rows, K)."""

    def lai_robbins_constant(self, means: FloatArray) -> float:
        """C(mu) of the Lai-Robbins bound for these means; NaN where the family has no
        closed form here."""
        return float("nan")

    def draw_block(self, rngs: Sequence[np.random.Generator], rows: IntArray,
                   means: FloatArray, table: FloatArray) -> None:
        """Fill ``table[i]`` (block, K) for every replicate i in ``rows`` from ``rngs[i]``.

        Must consume each generator exactly as ``draw_rewards`` does (the single env uses
        ``draw_rewards``); families with a noise-then-transform form override it to draw the
        noise row by row and transform all rows at once.
        """
        for i in rows:
            table[i] = self.draw_rewards(rngs[i], means[i], table.shape[1])

    @staticmethod
    def _fill_noise(rngs: Sequence[np.random.Generator], rows: IntArray, shape: tuple[int, int],
                    kind: str) -> FloatArray:
        noise = np.empty((len(rows), *shape))
        for j, i in enumerate(rows):
            if kind == "uniform":
                rngs[i].random(out=noise[j])
            else:
                rngs[i].standard_normal(out=noise[j])
        return noise


class BernoulliFamily(RewardFamily):
    """R_t | A_t = k ~ Bernoulli(mu_k), means fixed."""

    table_dtype = np.bool_

    def __init__(self, means: ArrayLike, env_name: str = "BernoulliBandit-v0") -> None:
        self.env_name = env_name
        self.means = _check_means(env_name, means, 0.0, 1.0)
        self.n_arms = self.means.size

    def draw_means(self, rng: np.random.Generator) -> FloatArray:
        return self.means.copy()

    def draw_rewards(self, rng: np.random.Generator, means: FloatArray, rows: int) -> FloatArray:
        return (rng.random((rows, self.n_arms)) < means).astype(np.float64)

    def lai_robbins_constant(self, means: FloatArray) -> float:
        return lai_robbins_constant(means, "bernoulli")

    def draw_block(self, rngs: Sequence[np.random.Generator], rows: IntArray,
                   means: FloatArray, table: FloatArray) -> None:
        u = self._fill_noise(rngs, rows, table.shape[1:], "uniform")
        if len(rows) == table.shape[0]:  # every replicate: compare straight into the table
            np.less(u, means[:, None, :], out=table)
        else:
            table[rows] = u < means[rows][:, None, :]


class GaussianFamily(RewardFamily):
    """R_t | A_t = k ~ N(mu_k, sigma_k^2), ``sigma`` the standard deviation (scalar or per arm)."""

    def __init__(self, means: ArrayLike, sigma: ArrayLike = 1.0,
                 env_name: str = "GaussianBandit-v0") -> None:
        self.env_name = env_name
        self.means = _check_means(env_name, means)
        self.n_arms = self.means.size
        self.sigma = self._check_sigma(sigma)

    def _check_sigma(self, sigma: ArrayLike) -> FloatArray:
        try:
            s = np.array(sigma, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self.env_name}: sigma must be a number or one per arm, "
                             f"got {sigma!r}") from exc
        if s.ndim > 1 or (s.ndim == 1 and s.size != self.n_arms):
            raise ValueError(f"{self.env_name}: sigma must be a scalar or have one entry per arm "
                             f"({self.n_arms}), got shape {s.shape}")
        if not np.all(np.isfinite(s)) or np.any(s < 0):
            raise ValueError(f"{self.env_name}: sigma (a standard deviation) must be finite and "
                             f">= 0, got {sigma!r}")
        return np.broadcast_to(s, (self.n_arms,)).copy()

    def draw_means(self, rng: np.random.Generator) -> FloatArray:
        return self.means.copy()

    def draw_rewards(self, rng: np.random.Generator, means: FloatArray, rows: int) -> FloatArray:
        return means + self.sigma * rng.standard_normal((rows, self.n_arms))

    def draw_block(self, rngs: Sequence[np.random.Generator], rows: IntArray,
                   means: FloatArray, table: FloatArray) -> None:
        z = self._fill_noise(rngs, rows, table.shape[1:], "normal")
        z *= self.sigma
        z += means[rows][:, None, :]
        table[rows] = z

    def lai_robbins_constant(self, means: FloatArray) -> float:
        if np.any(self.sigma == 0):
            return float("nan")
        return lai_robbins_constant(means, "gaussian", self.sigma)


class BetaFamily(RewardFamily):
    """R_t | A_t = k ~ Beta(c mu_k, c (1 - mu_k)): rewards in [0, 1] that are not binary.

    ``concentration`` c = a + b sets the variance mu (1 - mu) / (c + 1).
    """

    def __init__(self, means: ArrayLike, concentration: float = 2.0,
                 env_name: str = "BetaBandit-v0") -> None:
        self.env_name = env_name
        self.means = _check_means(env_name, means, 0.0, 1.0, open_interval=True)
        self.n_arms = self.means.size
        c = float(concentration)
        if not math.isfinite(c) or c <= 0:
            raise ValueError(f"{env_name}: concentration must be > 0, got {concentration!r}")
        self.concentration = c

    def draw_means(self, rng: np.random.Generator) -> FloatArray:
        return self.means.copy()

    def draw_rewards(self, rng: np.random.Generator, means: FloatArray, rows: int) -> FloatArray:
        a = self.concentration * means
        b = self.concentration * (1.0 - means)
        return rng.beta(a, b, size=(rows, self.n_arms))


class KuleshovPrecupFamily(GaussianFamily):
    """Kuleshov & Precup (2014): N(mu_k, variance), mu_k ~ U[0, 1] afresh at every reset."""

    def __init__(self, k: int, variance: float, env_name: str = "KuleshovPrecup-v0") -> None:
        self.env_name = env_name
        self.n_arms = check_int(env_name, "k (number of arms)", k, low=2)
        v = float(variance)
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"{env_name}: variance must be > 0, got {variance!r}")
        self.variance = v
        self.means = np.full(self.n_arms, np.nan)
        self.sigma = np.full(self.n_arms, math.sqrt(v))

    def draw_means(self, rng: np.random.Generator) -> FloatArray:
        return rng.uniform(0.0, 1.0, self.n_arms)


class ChapelleLiFamily(BernoulliFamily):
    """Chapelle & Li (2011): one Bernoulli arm at 1/2, the k - 1 others at 1/2 - epsilon.

    The best arm's position is drawn uniformly at every reset.
    """

    def __init__(self, k: int, epsilon: float, env_name: str = "ChapelleLi-v0") -> None:
        self.env_name = env_name
        self.n_arms = check_int(env_name, "k (number of arms)", k, low=2)
        eps = float(epsilon)
        if not math.isfinite(eps) or not 0.0 < eps <= 0.5:
            raise ValueError(f"{env_name}: epsilon must be in (0, 0.5], got {epsilon!r}")
        self.epsilon = eps
        self.means = np.full(self.n_arms, 0.5 - eps)

    def draw_means(self, rng: np.random.Generator) -> FloatArray:
        mu = np.full(self.n_arms, 0.5 - self.epsilon)
        mu[rng.integers(self.n_arms)] = 0.5
        return mu


# --------------------------------------------------------------------------------------------
# The batched core.
# --------------------------------------------------------------------------------------------


class BanditCore:
    """Bandit dynamics for ``n`` replicates as arrays with a leading replicate axis.

    State: ``means`` (n, K), the reward block ``table`` (n, block, K), the step within the
    episode ``t`` (n,), pull counts (n, K), and one generator per replicate in ``rngs``.
    """

    def __init__(self, family: RewardFamily, num_envs: int, horizon: int) -> None:
        self.family = family
        self.n = num_envs
        self.k = family.n_arms
        self.horizon = horizon
        self.block = block_length(self.k)
        self.rngs: list[np.random.Generator] = []
        self.means = np.zeros((self.n, self.k))
        self.optimal = np.zeros(self.n)
        self.optimal_action = np.zeros(self.n, dtype=np.int64)
        self.lai_robbins = np.full(self.n, np.nan)
        self.table: NDArray[Any] = np.zeros((self.n, self.block, self.k),
                                            dtype=family.table_dtype)
        self._float_table = self.table.dtype == np.float64
        self.t = np.zeros(self.n, dtype=np.int64)
        self.counts = np.zeros((self.n, self.k), dtype=np.int64)
        self.last_action = np.full(self.n, -1, dtype=np.int64)
        self._rows = np.arange(self.n)
        self._make_views()
        #: The step shared by every replicate when all were reset together (the usual case),
        #: else None; it lets a step skip per-replicate bookkeeping of the block position.
        self.common_t: int | None = None
        #: Whether to keep pull counts and the last arm for render() (envs set it from
        #: their render_mode).
        self.track_render = True

    @property
    def steps(self) -> IntArray:
        """Pulls so far in each replicate's episode (the fast path counts in ``common_t``)."""
        if self.common_t is not None:
            self.t[:] = self.common_t
        return self.t

    def _make_views(self) -> None:
        # Flat views and row offsets: one gather per step instead of multi-index fancy indexing.
        self._table_flat = self.table.reshape(-1)
        self._means_flat = self.means.reshape(-1)
        self._counts_flat = self.counts.reshape(-1)
        self._table_row_base = self._rows * (self.block * self.k)
        self._arm_row_base = self._rows * self.k

    def __getstate__(self) -> dict[str, Any]:
        # Views do not survive pickling as views: drop them and rebuild after loading.
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_table_flat", "_means_flat", "_counts_flat")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._make_views()

    def reset_rows(self, rows: Sequence[int] | IntArray) -> None:
        """Start a new episode for the given replicates, drawing from their own generators."""
        rows_arr = np.asarray(rows, dtype=np.int64)
        _ = self.steps  # bring the per-replicate counts up to date before they part ways
        # Each replicate's generator draws its means, then its first block (the order across
        # replicates is free: they share no generator).
        for i in rows_arr:
            mu = self.family.draw_means(self.rngs[i])
            self.means[i] = mu
            self.lai_robbins[i] = self.family.lai_robbins_constant(mu)
        self.family.draw_block(self.rngs, rows_arr, self.means, self.table)
        self.optimal[rows_arr] = self.means[rows_arr].max(axis=1)
        self.optimal_action[rows_arr] = self.means[rows_arr].argmax(axis=1)
        self.t[rows_arr] = 0
        self.counts[rows_arr] = 0
        self.last_action[rows_arr] = -1
        self.common_t = 0 if rows_arr.size == self.n else None

    def pull(self, actions: IntArray, rows: IntArray | None = None
             ) -> tuple[FloatArray, FloatArray]:
        """Pull ``actions`` (one per row in ``rows``, all rows by default).

        Returns the realised rewards and the expected rewards of the arms pulled.
        """
        if rows is None and self.common_t is not None:
            # Every replicate steps and all share the step count (the usual case).
            pos = self.common_t % self.block
            rewards = self._table_flat[self._table_row_base + (pos * self.k) + actions]
            if not self._float_table:
                rewards = rewards.astype(np.float64)
            expected = self._means_flat[self._arm_row_base + actions]
            if self.track_render:  # pull counts and the last arm serve render() only
                self._counts_flat[self._arm_row_base + actions] += 1
                self.last_action[:] = actions
            self.common_t += 1  # self.t catches up in `steps` when needed
            if self.common_t % self.block == 0:
                self.family.draw_block(self.rngs, self._rows, self.means, self.table)
            return rewards, expected
        if rows is None:
            rows = self._rows
        if rows.size == 0:
            return np.zeros(0), np.zeros(0)
        if rows.size == self.n and self.common_t is not None:
            return self.pull(actions)
        _ = self.steps
        self.common_t = None  # the replicates' step counts part ways
        positions = self.t[rows] % self.block
        rewards = self.table[rows, positions, actions].astype(np.float64, copy=False)
        expected = self.means[rows, actions]
        self.counts[rows, actions] += 1
        self.last_action[rows] = actions
        self.t[rows] += 1
        refill = rows[self.t[rows] % self.block == 0]
        if refill.size:
            self.family.draw_block(self.rngs, refill, self.means, self.table)
        return rewards, expected

    def peek_table(self, i: int, horizon: int) -> FloatArray:
        """Rewards R[t, k] replicate ``i`` will see from the start of its episode, without
        consuming its generator (a copy of the generator draws them). Call right after reset."""
        rng = _copy_generator(self.rngs[i])
        out = np.empty((horizon, self.k))
        out[: min(horizon, self.block)] = self.table[i, : min(horizon, self.block)]
        start = self.block
        while start < horizon:
            blk = self.family.draw_rewards(rng, self.means[i], self.block)
            stop = min(horizon, start + self.block)
            out[start:stop] = blk[: stop - start]
            start = stop
        return out


def _copy_generator(rng: np.random.Generator) -> np.random.Generator:
    bitgen = type(rng.bit_generator)()
    bitgen.state = rng.bit_generator.state
    return np.random.Generator(bitgen)


# --------------------------------------------------------------------------------------------
# Rendering, shared by the single and vector envs.
# --------------------------------------------------------------------------------------------


def _render_ansi(name: str, core: BanditCore, i: int) -> str:
    lines = [f"{name}  t={int(core.steps[i])}/{core.horizon}  "
             f"last arm={int(core.last_action[i])}"]
    lines.append(" arm      mean    pulls")
    for k in range(core.k):
        mark = "*" if k == core.last_action[i] else " "
        lines.append(f"{mark}{k:3d}  {core.means[i, k]:8.4f}  {int(core.counts[i, k]):7d}")
    return "\n".join(lines) + "\n"


def _render_rgb(core: BanditCore, i: int) -> NDArray[np.uint8]:
    """Bars of the arm means (grey; the last arm pulled in orange) over bars of pull shares."""
    k = core.k
    bar_w = max(4, min(32, 320 // k))
    width, height = bar_w * k + 8, 160
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    mu = core.means[i]
    lo, hi = min(0.0, float(mu.min())), max(1.0, float(mu.max()))
    share = core.counts[i] / max(1, int(core.counts[i].sum()))
    for a in range(k):
        x0 = 4 + a * bar_w + 1
        x1 = x0 + bar_w - 2
        h = round(100 * float(mu[a] - lo) / (hi - lo))
        colour = (230, 126, 34) if a == core.last_action[i] else (120, 120, 120)
        img[110 - h : 110, x0:x1] = colour
        hc = round(40 * float(share[a]))
        img[158 - hc : 158, x0:x1] = (52, 101, 164)
    img[110, :] = 0
    return img


# --------------------------------------------------------------------------------------------
# Single environment.
# --------------------------------------------------------------------------------------------


def _as_single_action(name: str, n_arms: int, action: Any) -> int:
    """Validate one action: an integer in [0, K), Python or numpy, scalar or 0-d."""
    if isinstance(action, np.ndarray):
        if action.shape != ():
            raise ValueError(f"{name}: action must be a scalar integer, got an array of shape "
                             f"{action.shape}: {action!r}")
        action = action[()]
    if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
        if isinstance(action, (float, np.floating)) and math.isnan(action):
            raise ValueError(f"{name}: action is NaN; expected an integer in [0, {n_arms})")
        raise ValueError(f"{name}: action must be an integer in [0, {n_arms}), got {action!r} "
                         f"of type {type(action).__name__}")
    a = int(action)
    if not 0 <= a < n_arms:
        raise ValueError(f"{name}: action {a} is out of range; expected an integer in "
                         f"[0, {n_arms})")
    return a


class StochasticBanditEnv(gym.Env[np.int64, np.int64]):
    """A K-armed stochastic bandit as a Gymnasium env (a batch of one of :class:`BanditCore`).

    Subclasses fix the reward family and document it; see :class:`BernoulliBandit`.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4,  # noqa: RUF012
                BUDGET_KWARG: "horizon"}
    env_name: str = "StochasticBandit"

    def __init__(self, family: RewardFamily, horizon: int, render_mode: str | None = None) -> None:
        self.horizon = check_int(self.env_name, "horizon", horizon)
        self.render_mode = check_render_mode(self.env_name, self.metadata["render_modes"],
                                             render_mode)
        self.family = family
        self.n_arms = family.n_arms
        self.action_space = spaces.Discrete(self.n_arms)
        self.observation_space = spaces.Discrete(1)
        self._core = BanditCore(family, 1, self.horizon)
        self._core.track_render = render_mode is not None
        self._zero = np.zeros(1, dtype=np.int64)

    @property
    def arm_means(self) -> FloatArray:
        """Means of the current episode (for evaluation; agents must not read this)."""
        return self._core.means[0].copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.int64, dict[str, Any]]:
        super().reset(seed=seed)
        self._core.rngs = [self.np_random]
        self._core.reset_rows(self._zero)
        return np.int64(0), {"arm_means": self._core.means[0].copy(),
                             "optimal_expected_reward": float(self._core.optimal[0]),
                             "lai_robbins_constant": float(self._core.lai_robbins[0])}

    def step(self, action: Any) -> tuple[np.int64, SupportsFloat, bool, bool, dict[str, Any]]:
        if not self._core.rngs:
            raise gym.error.ResetNeeded(f"{self.env_name}: call reset() before step()")
        a = _as_single_action(self.env_name, self.n_arms, action)
        rewards, expected = self._core.pull(np.array([a], dtype=np.int64), self._zero)
        truncated = bool(self._core.steps[0] >= self.horizon)
        info = {
            "expected_reward": float(expected[0]),
            "optimal_expected_reward": float(self._core.optimal[0]),
            "optimal_action": int(self._core.optimal_action[0]),
        }
        return np.int64(0), float(rewards[0]), False, truncated, info

    def reward_table(self, seed: int, horizon: int | None = None) -> FloatArray:
        """The (horizon, K) rewards R[t, k] the env pays after ``reset(seed=seed)``.

        Computed on a copy: the env's own state is untouched. Use it to give peers the same
        random numbers (common random numbers) or to check a run by hand.
        """
        rows = self.horizon if horizon is None else check_int(self.env_name, "horizon", horizon)
        probe = StochasticBanditEnv(self.family, self.horizon)
        probe.env_name = self.env_name
        probe.reset(seed=seed)
        return probe._core.peek_table(0, rows)

    def render(self) -> str | NDArray[np.uint8] | None:
        if self.render_mode is None:
            gym.logger.warn(f"{self.env_name}: render() called without a render_mode; "
                            "pass render_mode='ansi' or 'rgb_array' to gym.make")
            return None
        if self.render_mode == "ansi":
            return _render_ansi(self.env_name, self._core, 0)
        return _render_rgb(self._core, 0)


# --------------------------------------------------------------------------------------------
# Native vector environment.
# --------------------------------------------------------------------------------------------


class StochasticBanditVectorEnv(NextStepVectorEnv[IntArray, IntArray, NDArray[Any]]):
    """``num_envs`` independent replicates of a bandit, stepped as arrays.

    Autoreset is Gymnasium's NEXT_STEP (:class:`~decisiongym.envs.vector.NextStepVectorEnv`):
    the step after a replicate's episode is truncated resets it, ignores its action, and returns
    reward 0; its ``info`` entries are masked out (``info["_expected_reward"][i]`` is False) and
    ``info["arm_means"]`` carries the new means.

    Arrays that change only at reset (the observations, ``terminated``, ``truncated``,
    ``optimal_expected_reward``, ``optimal_action`` and the info masks) are read-only and shared
    between steps; copy them to modify them.
    """

    metadata = {  # noqa: RUF012
        "render_modes": ["ansi", "rgb_array"],
        "render_fps": 4,
        BUDGET_KWARG: "horizon",
    }
    env_name: str = "StochasticBandit"
    _only_truncates = True  # a bandit never terminates

    def __init__(self, family: RewardFamily, horizon: int, num_envs: int = 1,
                 render_mode: str | None = None, max_episode_steps: int | None = None) -> None:
        self._init_vector(num_envs, render_mode)
        self.horizon = self._episode_budget(horizon, max_episode_steps)
        self.family = family
        self.n_arms = family.n_arms
        self._set_spaces(spaces.Discrete(1), spaces.Discrete(self.n_arms))
        self._core = BanditCore(family, self.num_envs, self.horizon)
        self._core.track_render = render_mode is not None
        self._frozen: tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any],
                            NDArray[Any]] | None = None
        self._all = np.arange(self.num_envs)

    @property
    def arm_means(self) -> FloatArray:
        """Means of every replicate's current episode, shape (num_envs, K)."""
        return self._core.means.copy()

    def _set_rngs(self, rngs: list[np.random.Generator]) -> None:
        self._core.rngs = rngs

    def _reset_all(self) -> tuple[IntArray, dict[str, Any]]:
        self._core.reset_rows(self._all)
        self._frozen = None
        info = {"arm_means": self._core.means.copy(),
                "optimal_expected_reward": self._core.optimal.copy(),
                "lai_robbins_constant": self._core.lai_robbins.copy()}
        return np.zeros(self.num_envs, dtype=np.int64), info

    def _reset_rows(self, rows: IntArray) -> None:
        self._core.reset_rows(rows)
        self._frozen = None  # an autoreset changes the means: rebuild after it

    def _step_all(self, a: IntArray) -> tuple[IntArray, FloatArray, NDArray[np.bool_],
                                              NDArray[np.bool_], dict[str, Any]]:
        if self._core.common_t is None:  # the replicates' step counts parted ways
            return self._step_batch(a, np.ones(self.num_envs, dtype=bool))
        n = self.num_envs
        rewards, expected = self._core.pull(a)
        done = self._core.common_t >= self.horizon
        # Read-only arrays that change only at reset: shared between steps, never copied.
        if self._frozen is None:
            frozen = (np.ones(n, dtype=bool), self._core.optimal.copy(),
                      self._core.optimal_action.copy(), np.zeros(n, dtype=np.int64),
                      np.zeros(n, dtype=bool))
            for arr in frozen:
                arr.flags.writeable = False
            self._frozen = frozen
        mask, optimal, optimal_action, obs, no = self._frozen
        truncated = mask if done else no
        return obs, rewards, no, truncated, {
            "expected_reward": expected,
            "_expected_reward": mask,
            "optimal_expected_reward": optimal,
            "_optimal_expected_reward": mask,
            "optimal_action": optimal_action,
            "_optimal_action": mask,
        }

    def _step_batch(self, a: IntArray, stepped: NDArray[np.bool_]
                    ) -> tuple[IntArray, FloatArray, NDArray[np.bool_], NDArray[np.bool_],
                               dict[str, Any]]:
        n = self.num_envs
        self._frozen = None
        rewards = np.zeros(n)
        expected = np.zeros(n)
        all_stepped = bool(stepped.all())
        if not all_stepped:
            rows = np.flatnonzero(stepped)
            rewards[rows], expected[rows] = self._core.pull(a[rows], rows)
        else:
            rewards, expected = self._core.pull(a)
        truncated = stepped & (self._core.steps >= self.horizon)
        terminated = np.zeros(n, dtype=bool)
        if all_stepped:
            optimal, optimal_action = self._core.optimal.copy(), self._core.optimal_action.copy()
        else:
            optimal = np.where(stepped, self._core.optimal, 0.0)
            optimal_action = np.where(stepped, self._core.optimal_action, 0)
        info: dict[str, Any] = {
            "expected_reward": expected,
            "_expected_reward": stepped,
            "optimal_expected_reward": optimal,
            "_optimal_expected_reward": stepped.copy(),
            "optimal_action": optimal_action,
            "_optimal_action": stepped.copy(),
        }
        if not all_stepped:
            info["arm_means"] = self._core.means.copy()
            info["_arm_means"] = ~stepped
        return np.zeros(n, dtype=np.int64), rewards, terminated, truncated, info

    def render(self) -> tuple[Any, ...] | None:
        if self.render_mode is None:
            gym.logger.warn(f"{self.env_name}: render() called without a render_mode")
            return None
        if self.render_mode == "ansi":
            return tuple(_render_ansi(self.env_name, self._core, i) for i in range(self.num_envs))
        return tuple(_render_rgb(self._core, i) for i in range(self.num_envs))


# --------------------------------------------------------------------------------------------
# The registered environments. Their docstrings are their specification.
# --------------------------------------------------------------------------------------------

_COMMON_DOC = """
    ## Action Space
    ``Discrete(K)``: the arm to pull. Anything else (out of range, non-integer, NaN, an array
    with a shape) raises ``ValueError`` naming the environment and the value.

    ## Observation Space
    | Num | Observation | Min | Max |
    |-----|-------------|-----|-----|
    | 0   | constant 0 (a bandit has no state) | 0 | 0 |

    ``Discrete(1)``.

    ## Starting State
    ``reset`` draws the episode's arm means (for the families that draw them) and the first block
    of the reward table from ``self.np_random``. ``info`` holds ``arm_means``,
    ``optimal_expected_reward`` and ``lai_robbins_constant`` (C(mu) of the Lai & Robbins 1985
    bound C log T for Bernoulli and Gaussian arms, NaN for other families).

    ## Episode End
    - Termination: never.
    - Truncation: after ``horizon`` pulls.

    ## Info
    ``expected_reward`` (mean of the arm pulled), ``optimal_expected_reward`` (mu*) and
    ``optimal_action``, so that the pseudo-regret sum_t (mu* - mu_{A_t}) is exact. Agents must not
    read ``info``.
"""


class BernoulliBandit(StochasticBanditEnv):
    __doc__ = """Bernoulli bandit: R_t | A_t = k ~ Bernoulli(mu_k).

    ## Description
    The stochastic bandit of Dobriban (2019), section 5.2, with rewards in {0, 1}.

    ## Rewards
    1 with probability ``means[k]``, else 0.
""" + _COMMON_DOC + """
    ## Arguments
    - ``means``: sequence of K >= 2 numbers in [0, 1]. Default (0.1, 0.3, 0.5, 0.7, 0.9).
    - ``horizon``: positive int, default 1000.
    - ``render_mode``: None, "ansi" or "rgb_array".

    ## Version History
    - v0: initial version.

    >>> import gymnasium as gym, decisiongym
    >>> env = gym.make("decisiongym/BernoulliBandit-v0", means=[0.2, 0.8], horizon=3)
    >>> obs, info = env.reset(seed=0)
    >>> _, r, terminated, truncated, info = env.step(1)
    >>> info["expected_reward"], info["optimal_expected_reward"]
    (0.8, 0.8)
    """
    env_name = "BernoulliBandit-v0"

    def __init__(self, means: ArrayLike = (0.1, 0.3, 0.5, 0.7, 0.9), horizon: int = 1000,
                 render_mode: str | None = None) -> None:
        super().__init__(BernoulliFamily(means, self.env_name), horizon, render_mode)


class BernoulliBanditVector(StochasticBanditVectorEnv):
    """Native vector twin of :class:`BernoulliBandit`."""

    env_name = "BernoulliBandit-v0"

    def __init__(self, num_envs: int = 1, means: ArrayLike = (0.1, 0.3, 0.5, 0.7, 0.9),
                 horizon: int = 1000, render_mode: str | None = None,
                 max_episode_steps: int | None = None) -> None:
        super().__init__(BernoulliFamily(means, self.env_name), horizon, num_envs, render_mode,
                         max_episode_steps)


class GaussianBandit(StochasticBanditEnv):
    __doc__ = """Gaussian bandit: R_t | A_t = k ~ N(mu_k, sigma_k^2).

    ## Description
    Sub-Gaussian rewards as in Dobriban (2019), section 5.2 ("R_t in [0, 1] (or sub-Gaussian)").

    ## Rewards
    ``means[k] + sigma[k] * z``, z standard normal.
""" + _COMMON_DOC + """
    ## Arguments
    - ``means``: sequence of K >= 2 finite numbers. Default (0.1, 0.3, 0.5, 0.7, 0.9).
    - ``sigma``: standard deviation, >= 0, a scalar or one per arm. Default 1.
    - ``horizon``: positive int, default 1000.
    - ``render_mode``: None, "ansi" or "rgb_array".

    ## Version History
    - v0: initial version.
    """
    env_name = "GaussianBandit-v0"

    def __init__(self, means: ArrayLike = (0.1, 0.3, 0.5, 0.7, 0.9), sigma: ArrayLike = 1.0,
                 horizon: int = 1000, render_mode: str | None = None) -> None:
        super().__init__(GaussianFamily(means, sigma, self.env_name), horizon, render_mode)


class GaussianBanditVector(StochasticBanditVectorEnv):
    """Native vector twin of :class:`GaussianBandit`."""

    env_name = "GaussianBandit-v0"

    def __init__(self, num_envs: int = 1, means: ArrayLike = (0.1, 0.3, 0.5, 0.7, 0.9),
                 sigma: ArrayLike = 1.0, horizon: int = 1000, render_mode: str | None = None,
                 max_episode_steps: int | None = None) -> None:
        super().__init__(GaussianFamily(means, sigma, self.env_name), horizon, num_envs,
                         render_mode, max_episode_steps)


class BetaBandit(StochasticBanditEnv):
    __doc__ = """Beta bandit: R_t | A_t = k ~ Beta(c mu_k, c (1 - mu_k)).

    ## Description
    Rewards in [0, 1] that are not binary: a test of algorithms built for Bernoulli rewards
    (Thompson sampling binarises them as Agrawal & Goyal 2012; KL-UCB's Bernoulli KL stays valid
    for any reward in [0, 1], Garivier & Cappe 2011).

    ## Rewards
    Beta-distributed with mean ``means[k]`` and variance mu (1 - mu) / (c + 1).
""" + _COMMON_DOC + """
    ## Arguments
    - ``means``: sequence of K >= 2 numbers in the open interval (0, 1).
      Default (0.1, 0.3, 0.5, 0.7, 0.9).
    - ``concentration``: c = a + b > 0; default 2 (larger is less noisy).
    - ``horizon``: positive int, default 1000.
    - ``render_mode``: None, "ansi" or "rgb_array".

    ## Version History
    - v0: initial version.
    """
    env_name = "BetaBandit-v0"

    def __init__(self, means: ArrayLike = (0.1, 0.3, 0.5, 0.7, 0.9), concentration: float = 2.0,
                 horizon: int = 1000, render_mode: str | None = None) -> None:
        super().__init__(BetaFamily(means, concentration, self.env_name), horizon, render_mode)


class BetaBanditVector(StochasticBanditVectorEnv):
    """Native vector twin of :class:`BetaBandit`."""

    env_name = "BetaBandit-v0"

    def __init__(self, num_envs: int = 1, means: ArrayLike = (0.1, 0.3, 0.5, 0.7, 0.9),
                 concentration: float = 2.0, horizon: int = 1000, render_mode: str | None = None,
                 max_episode_steps: int | None = None) -> None:
        super().__init__(BetaFamily(means, concentration, self.env_name), horizon, num_envs,
                         render_mode, max_episode_steps)


class KuleshovPrecupBandit(StochasticBanditEnv):
    __doc__ = """The protocol of Kuleshov & Precup (2014), as in Dobriban (2019), section 5.2.2.

    ## Description
    K Gaussian arms N(mu_k, sigma^2) with mu_k ~ U[0, 1] drawn afresh at every reset from the
    environment's own generator. The paper's grid: K in {2, 5, 10, 50}, sigma^2 in
    {0.01, 0.1, 1}, T = 1000.

    ## Rewards
    ``mu_k + sqrt(variance) * z``, z standard normal.
""" + _COMMON_DOC + """
    ## Arguments
    - ``k``: number of arms, integer >= 2; default 10.
    - ``variance``: sigma^2 > 0; default 0.1.
    - ``horizon``: positive int, default 1000.
    - ``render_mode``: None, "ansi" or "rgb_array".

    ## Version History
    - v0: initial version.
    """
    env_name = "KuleshovPrecup-v0"

    def __init__(self, k: int = 10, variance: float = 0.1, horizon: int = 1000,
                 render_mode: str | None = None) -> None:
        super().__init__(KuleshovPrecupFamily(k, variance, self.env_name), horizon, render_mode)


class KuleshovPrecupBanditVector(StochasticBanditVectorEnv):
    """Native vector twin of :class:`KuleshovPrecupBandit`."""

    env_name = "KuleshovPrecup-v0"

    def __init__(self, num_envs: int = 1, k: int = 10, variance: float = 0.1,
                 horizon: int = 1000, render_mode: str | None = None,
                 max_episode_steps: int | None = None) -> None:
        super().__init__(KuleshovPrecupFamily(k, variance, self.env_name), horizon, num_envs,
                         render_mode, max_episode_steps)


class ChapelleLiBandit(StochasticBanditEnv):
    __doc__ = """The protocol of Chapelle & Li (2011), as in Dobriban (2019), section 5.2.2.

    ## Description
    K Bernoulli arms: one at mu = 1/2, the other K - 1 at 1/2 - epsilon. The best arm's position
    is drawn uniformly at every reset. The Lai & Robbins (1985) bound for it is
    ``decisiongym.theory.lai_robbins_bound(info["arm_means"], T)``.

    ## Rewards
    Bernoulli, as :class:`BernoulliBandit`.
""" + _COMMON_DOC + """
    ## Arguments
    - ``k``: number of arms, integer >= 2; default 10.
    - ``epsilon``: gap in (0, 0.5]; default 0.1 (Chapelle & Li also use 0.02).
    - ``horizon``: positive int, default 10000.
    - ``render_mode``: None, "ansi" or "rgb_array".

    ## Version History
    - v0: initial version.
    """
    env_name = "ChapelleLi-v0"

    def __init__(self, k: int = 10, epsilon: float = 0.1, horizon: int = 10_000,
                 render_mode: str | None = None) -> None:
        super().__init__(ChapelleLiFamily(k, epsilon, self.env_name), horizon, render_mode)


class ChapelleLiBanditVector(StochasticBanditVectorEnv):
    """Native vector twin of :class:`ChapelleLiBandit`."""

    env_name = "ChapelleLi-v0"

    def __init__(self, num_envs: int = 1, k: int = 10, epsilon: float = 0.1,
                 horizon: int = 10_000, render_mode: str | None = None,
                 max_episode_steps: int | None = None) -> None:
        super().__init__(ChapelleLiFamily(k, epsilon, self.env_name), horizon, num_envs,
                         render_mode, max_episode_steps)
