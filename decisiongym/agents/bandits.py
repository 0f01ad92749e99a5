"""Stochastic bandit agents (Dobriban (2019), sections 5.2.1-5.2.2).

Every agent keeps per-replicate statistics in (num_envs, K) arrays: pull counts ``T_k``, reward
sums and, where needed, sums of squares. An episode of a bandit env is one bandit problem (the
Kuleshov-Precup and Chapelle-Li envs draw new means at reset), so a replicate's statistics are
cleared when its episode ends; ``t`` below is the number of pulls in the current episode.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from gymnasium import spaces

from decisiongym.agents.base import BaseAgent, argmax_random_ties, register
from decisiongym.arrays import BoolArray, FloatArray, IntArray
from decisiongym.theory import etc_optimal_m, kl_bernoulli, kl_ucb_plus_plus_exploration


class BanditAgent(BaseAgent):
    """Sample-average statistics over the arms, shared by the stochastic bandit agents."""

    #: Whether the agent needs per-arm sums of squared rewards (UCB1-Tuned).
    track_squares = False

    def __init__(self, *, observation_space: spaces.Space[Any],
                 action_space: spaces.Space[Any], pull_each_arm_first: bool = False) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        self.pull_each_arm_first = self._check_bool("pull_each_arm_first", pull_each_arm_first)
        if not isinstance(action_space, spaces.Discrete) or int(action_space.start) != 0:
            raise ValueError(f"{self.name}: needs a Discrete(K) action space starting at 0 (the "
                             f"single space of a vector env), got {action_space!r}")
        self.n_arms = int(action_space.n)
        if self.n_arms < 2:
            raise ValueError(f"{self.name}: needs at least 2 arms, got {self.n_arms}")

    def _reset_state(self, num_envs: int) -> None:
        shape = (num_envs, self.n_arms)
        self.counts = np.zeros(shape)
        self.sums = np.zeros(shape)
        self.mu = np.zeros(shape)  # sample means, 0 for arms never pulled, kept up to date
        self.sq_sums = np.zeros(shape) if self.track_squares else np.zeros((0, 0))
        self.t = np.zeros(num_envs)
        self._make_views()

    def _make_views(self) -> None:
        # Flat views: the (replicate, arm) entries a step touches are one gather away.
        self._counts_flat = self.counts.reshape(-1)
        self._sums_flat = self.sums.reshape(-1)
        self._mu_flat = self.mu.reshape(-1)
        self._arm_row_base = np.arange(self.counts.shape[0]) * self.n_arms

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_counts_flat", "_sums_flat", "_mu_flat")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "counts" in state:
            self._make_views()

    def act(self, obs: Any) -> IntArray:
        if not self.pull_each_arm_first:
            return super().act(obs)
        actions = np.asarray(super().act(obs), dtype=np.int64)
        if self.pull_each_arm_first:
            # Only a replicate with fewer than K pulls can have an arm it never pulled.
            young = np.flatnonzero(self.t < self.n_arms)
            if young.size:
                untried = self.counts[young] == 0
                rows = young[untried.any(axis=1)]
                if rows.size:
                    actions[rows] = argmax_random_ties(
                        (self.counts[rows] == 0).astype(np.float64), self.rng)
        return actions

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray,
               next_obs: Any, terminated: BoolArray, truncated: BoolArray) -> None:
        if rows is self._all_rows:
            a, r = actions, rewards
            flat = self._arm_row_base + a
        else:
            a, r = actions[rows], rewards[rows]
            flat = self._arm_row_base[rows] + a
        self._check_rewards(r)
        counts = self._counts_flat[flat] + 1.0
        sums = self._sums_flat[flat] + r
        self._counts_flat[flat] = counts
        self._sums_flat[flat] = sums
        self._mu_flat[flat] = sums / counts
        if self.track_squares:
            self.sq_sums[rows, a] += r * r
        if rows is self._all_rows:
            self.t += 1.0
        else:
            self.t[rows] += 1.0
        self._learn_extra(rows, a, r, flat, counts)

    def _check_rewards(self, r: FloatArray) -> None:
        """Hook for agents that only accept rewards in a range."""

    def _learn_extra(self, rows: IntArray, a: IntArray, r: FloatArray, flat: IntArray,
                     counts: FloatArray) -> None:
        """Hook for agents with state beyond the sample averages; ``flat`` indexes the
        (replicate, arm) entries of this step in the flattened (n, K) arrays, whose new pull
        counts are ``counts``."""

    def _end_episode(self, rows: IntArray) -> None:
        self.counts[rows] = 0.0
        self.sums[rows] = 0.0
        self.mu[rows] = 0.0
        if self.track_squares:
            self.sq_sums[rows] = 0.0
        self.t[rows] = 0.0

    def sample_means(self, initial_value: float = 0.0) -> FloatArray:
        """mu_hat_k: the average reward of each arm; ``initial_value`` for arms never pulled.

        Returns the agent's own array when ``initial_value`` is 0: read it, do not write it.
        """
        if initial_value == 0.0:
            return self.mu
        return np.where(self.counts > 0, self.mu, initial_value)

    def _require_unit_interval(self, r: FloatArray) -> None:
        if r.size and (r.min() < 0.0 or r.max() > 1.0 or np.isnan(r).any()):
            bad = r[(r < 0) | (r > 1) | np.isnan(r)][0]
            raise ValueError(f"{self.name}: rewards must lie in [0, 1] (got {bad!r}); use it on "
                             f"Bernoulli or [0, 1]-bounded bandits, or rescale the rewards")


# --------------------------------------------------------------------------------------------


@register("random", "uniformly random arm: the linear-regret baseline")
class RandomAgent(BanditAgent):
    """Pulls an arm uniformly at random; its pseudo-regret grows linearly."""

    def __init__(self, *, observation_space: spaces.Space[Any],
                 action_space: spaces.Space[Any]) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)

    def _act(self, obs: Any) -> IntArray:
        return self.rng.integers(self.n_arms, size=self.num_envs)


@register("etc", "explore-then-commit: each arm m times, then the best (Dobriban (2019), "
                 "section 5.2.1)")
class ExploreThenCommit(BanditAgent):
    """Explore-then-commit (Dobriban (2019), section 5.2.1; Lattimore & Szepesvari 2020, ch. 6).

    Explore: pull each arm ``m`` times, round robin. Commit: pull the arm with the best sample
    mean (ties at random) for the rest of the episode.

    Parameters
    ----------
    m : int >= 1, optional
        Pulls per arm in the exploration phase.
    gap, horizon : float in (0, 1], int >= 1, optional
        When ``m`` is not given: the notes' optimal m = ceil(4 / Delta^2 log(T Delta^2 / 4)).
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 m: int | None = None, gap: float | None = None,
                 horizon: int | None = None) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        g = None if gap is None else self._check_float("gap", gap, low=0.0, high=1.0,
                                                       low_open=True)
        t = None if horizon is None else self._check_int("horizon", horizon)
        if m is not None:
            self.m = self._check_int("m", m)
        elif g is not None and t is not None:
            self.m = etc_optimal_m(g, t)
        else:
            raise ValueError(f"{self.name}: give m (pulls per arm), or gap and horizon to use the "
                             f"optimal m of Dobriban (2019), section 5.2.1; got m={m!r}, "
                             f"gap={gap!r}, horizon={horizon!r}")

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self.committed = np.full(num_envs, -1, dtype=np.int64)

    def _act(self, obs: Any) -> IntArray:
        explore_len = self.m * self.n_arms
        t = self.t.astype(np.int64)
        exploring = t < explore_len
        newly = np.flatnonzero(~exploring & (self.committed < 0))
        if newly.size:
            self.committed[newly] = argmax_random_ties(self.sample_means()[newly], self.rng)
        return np.where(exploring, t % self.n_arms, self.committed)

    def _end_episode(self, rows: IntArray) -> None:
        super()._end_episode(rows)
        self.committed[rows] = -1


@register("ucb1", "UCB1: mu_hat + sqrt(alpha log t / T_k), alpha=2 (Auer et al. 2002)")
class UCB1(BanditAgent):
    """UCB1 (Auer, Cesa-Bianchi & Fischer 2002; Dobriban (2019), section 5.2.1, item 4).

    Pull each arm once, then the arm maximising the index
    gamma_k(t) = mu_hat_k + sqrt(alpha log t / T_k), ties at random.

    ``alpha`` = 2 (default) is Auer et al.'s UCB1, the algorithm the name refers to and the one
    peers (SMPyBandits, MABWiser) and Kuleshov & Precup's tables report. ``alpha`` = 6 is the
    index of Dobriban (2019), section 5.2.1, sqrt(2 log(t^3) / T_k), whose log(t^3) makes the
    analysis simple but explores more; pass ``alpha=6`` to run it.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 alpha: float = 2.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        self.alpha = self._check_float("alpha", alpha, low=0.0, low_open=True)

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self.inverse_counts = np.full((num_envs, self.n_arms), np.inf)  # 1 / T_k, inf if 0

    def _learn_extra(self, rows: IntArray, a: IntArray, r: FloatArray, flat: IntArray,
                     counts: FloatArray) -> None:
        self.inverse_counts.reshape(-1)[flat] = 1.0 / counts

    def _end_episode(self, rows: IntArray) -> None:
        super()._end_episode(rows)
        self.inverse_counts[rows] = np.inf

    def ucb_index(self) -> FloatArray:
        """gamma_k(t) = mu_hat_k + sqrt(alpha log t / T_k); +inf for arms never pulled.

        (log t is taken at t >= 2: at t = 1 every other arm is still untried, so this changes
        no decision and keeps 0 * inf out of the arithmetic.)
        """
        scale = self.alpha * np.log(np.maximum(self.t, 2.0))
        index = scale[:, None] * self.inverse_counts
        np.sqrt(index, out=index)
        index += self.mu
        return index

    def _act(self, obs: Any) -> IntArray:
        return argmax_random_ties(self.ucb_index(), self.rng)


@register("ucb1-tuned", "UCB1-Tuned: variance-aware UCB index (Auer et al. 2002)")
class UCB1Tuned(BanditAgent):
    """UCB1-Tuned (Auer, Cesa-Bianchi & Fischer 2002, section 4; Dobriban (2019), section 5.2.1,
    item 6).

    Index mu_hat_k + sqrt(log t / T_k * min(1/4, V_k)), with
    V_k = sigma_hat_k^2 + sqrt(2 log t / T_k); 1/4 is the largest variance of a [0, 1] reward.
    """

    track_squares = True

    def __init__(self, *, observation_space: spaces.Space[Any],
                 action_space: spaces.Space[Any]) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)

    def _act(self, obs: Any) -> IntArray:
        safe_counts = np.maximum(self.counts, 1.0)
        log_t = np.log(np.maximum(self.t, 1.0))[:, None]
        mean = self.sums / safe_counts
        variance = np.maximum(self.sq_sums / safe_counts - mean**2, 0.0)
        v = variance + np.sqrt(2.0 * log_t / safe_counts)
        index = mean + np.sqrt(log_t / safe_counts * np.minimum(0.25, v))
        index[self.counts == 0] = np.inf
        return argmax_random_ties(index, self.rng)


@register("epsilon-greedy", "epsilon-greedy, constant or decaying epsilon_t, optimistic init")
class EpsilonGreedy(BanditAgent):
    """Epsilon-greedy (Dobriban (2019), section 5.2.1, item 7; Sutton & Barto 2018, 2.2-2.6).

    With probability epsilon_t pull an arm uniformly at random, else the best sample mean (ties at
    random). Arms never pulled are valued ``initial_value`` (1 is the notes' optimistic start).

    Parameters
    ----------
    epsilon : float in [0, 1]
        Exploration probability; default 0.05 (the notes' example). 0 is greedy.
    schedule : "constant" or "decay"
        "decay" is epsilon_t = min(1, c K / (d^2 t)) of Auer et al. (2002, epsilon_n-greedy),
        which has logarithmic regret when d is below the smallest gap.
    c, d : float > 0, float in (0, 1]
        Constants of the decaying schedule (defaults 5 and 0.1).
    initial_value : float
        Value of arms never pulled; default 0.
    pull_each_arm_first : bool
        Pull every arm once (in random order) before the rule takes over; default False.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 epsilon: float = 0.05, schedule: Literal["constant", "decay"] = "constant",
                 c: float = 5.0, d: float = 0.1, initial_value: float = 0.0,
                 pull_each_arm_first: bool = False) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         pull_each_arm_first=pull_each_arm_first)
        self.epsilon = self._check_float("epsilon", epsilon, low=0.0, high=1.0)
        if schedule not in ("constant", "decay"):
            raise self._param_error("schedule", schedule, "'constant' or 'decay'")
        self.schedule = schedule
        self.c = self._check_float("c", c, low=0.0, low_open=True)
        self.d = self._check_float("d", d, low=0.0, high=1.0, low_open=True)
        self.initial_value = self._check_float("initial_value", initial_value)

    def current_epsilon(self) -> FloatArray:
        if self.schedule == "constant":
            return np.full(self.num_envs, self.epsilon)
        return np.minimum(1.0, self.c * self.n_arms / (self.d**2 * np.maximum(self.t, 1.0)))

    def _act(self, obs: Any) -> IntArray:
        greedy = argmax_random_ties(self.sample_means(self.initial_value), self.rng)
        explore = self.rng.random(self.num_envs) < self.current_epsilon()
        random_arms = self.rng.integers(self.n_arms, size=self.num_envs)
        return np.where(explore, random_arms, greedy)


def _sample_categorical(probs: FloatArray, rng: np.random.Generator) -> IntArray:
    """One draw per row of a (n, K) matrix of non-negative weights (probabilities up to a
    per-row constant)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random((probs.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=1), probs.shape[1] - 1).astype(np.int64)


def _boltzmann_weights(x: FloatArray) -> FloatArray:
    """exp(x - max x) row-wise: softmax up to a per-row constant, which
    :func:`_sample_categorical` divides out."""
    z = x - x.max(axis=1, keepdims=True)
    return np.asarray(np.exp(z, out=z))


@register("softmax", "Boltzmann exploration: P(k) ~ exp(mu_hat_k / tau) (Dobriban (2019), "
                     "section 5.2.1)")
class Softmax(BanditAgent):
    """Boltzmann / softmax exploration (Dobriban (2019), section 5.2.1, item 8; Sutton & Barto
    2018, 2.8).

    Pull arm k with probability proportional to exp(mu_hat_k / tau); arms never pulled are valued
    ``initial_value`` (0, or 1 for the notes' optimistic start).

    Parameters
    ----------
    tau : float > 0
        Temperature; default 0.1 (the notes' example). Small tau is greedy.
    initial_value : float
        Default 0.
    pull_each_arm_first : bool
        Pull every arm once (in random order) before the rule takes over; default False.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 tau: float = 0.1, initial_value: float = 0.0,
                 pull_each_arm_first: bool = False) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         pull_each_arm_first=pull_each_arm_first)
        self.tau = self._check_float("tau", tau, low=0.0, low_open=True)
        self.initial_value = self._check_float("initial_value", initial_value)

    def _act(self, obs: Any) -> IntArray:
        weights = _boltzmann_weights(self.sample_means(self.initial_value) / self.tau)
        return _sample_categorical(weights, self.rng)


@register("pursuit", "pursuit: action probabilities pursue the greedy arm (Sutton & Barto)")
class Pursuit(BanditAgent):
    """Pursuit method (Thathachar & Sastry 1985; Sutton & Barto 1998, section 2.9; Kuleshov &
    Precup 2014).

    Keeps action probabilities pi (uniform, 1/K, at the start of every episode) and sample-mean
    estimates of the arms. Arms are drawn from pi. After each step, with k* the arm of best
    estimate: pi <- pi + beta (e_{k*} - pi).

    Parameters
    ----------
    beta : float in (0, 1]
        Learning rate of the probabilities; default 0.01 (Sutton & Barto's example).
    initial_value : float
        Estimate of an arm never pulled, when k* is chosen; default 0.
    ties : "random" or "first"
        How k* is chosen among arms of equal estimate: uniformly at random (default) or the
        lowest index (``numpy.argmax``).
    update_order : "values-first" or "policy-first"
        "values-first" (default): the estimates take this step's reward, then pi pursues the
        greedy arm of the updated estimates. "policy-first": pi pursues the greedy arm of the
        estimates before this step's reward, then the estimates are updated.
    pull_each_arm_first : bool
        Pull every arm once (in random order) before the rule takes over; default False.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 beta: float = 0.01, initial_value: float = 0.0,
                 ties: Literal["random", "first"] = "random",
                 update_order: Literal["values-first", "policy-first"] = "values-first",
                 pull_each_arm_first: bool = False) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         pull_each_arm_first=pull_each_arm_first)
        self.beta = self._check_float("beta", beta, low=0.0, high=1.0, low_open=True)
        self.initial_value = self._check_float("initial_value", initial_value)
        if ties not in ("random", "first"):
            raise self._param_error("ties", ties, "'random' or 'first'")
        self.ties = ties
        if update_order not in ("values-first", "policy-first"):
            raise self._param_error("update_order", update_order,
                                    "'values-first' or 'policy-first'")
        self.update_order = update_order

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self.probs = np.full((num_envs, self.n_arms), 1.0 / self.n_arms)

    def _act(self, obs: Any) -> IntArray:
        return _sample_categorical(self.probs, self.rng)

    def _greedy(self, rows: IntArray) -> IntArray:
        """k* of each row: the arm of best estimate (arms never pulled: ``initial_value``)."""
        values = self.sample_means(self.initial_value)[rows]
        if self.ties == "first":
            return values.argmax(axis=1).astype(np.int64)
        return argmax_random_ties(values, self.rng)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray,
               next_obs: Any, terminated: BoolArray, truncated: BoolArray) -> None:
        if self.update_order == "policy-first":
            self._pursue(rows, self._greedy(rows))
        super()._learn(rows, obs, actions, rewards, next_obs, terminated, truncated)

    def _learn_extra(self, rows: IntArray, a: IntArray, r: FloatArray, flat: IntArray,
                     counts: FloatArray) -> None:
        if self.update_order == "values-first":
            self._pursue(rows, self._greedy(rows))

    def _pursue(self, rows: IntArray, greedy: IntArray) -> None:
        p = self.probs[rows]
        p *= 1.0 - self.beta
        p[np.arange(rows.size), greedy] += self.beta
        self.probs[rows] = p

    def _end_episode(self, rows: IntArray) -> None:
        super()._end_episode(rows)
        self.probs[rows] = 1.0 / self.n_arms


@register("reinforcement-comparison",
          "reinforcement comparison: preferences vs a reference reward (Sutton & Barto)")
class ReinforcementComparison(BanditAgent):
    """Reinforcement comparison (Sutton & Barto 1998, section 2.8; Kuleshov & Precup 2014).

    Preferences p_k (0 at the start of every episode) and a reference reward r_bar. Arms are
    drawn with probability softmax(p). After reward r from arm A:
    p_A <- p_A + beta (r - r_bar); r_bar <- r_bar + alpha (r - r_bar).

    Parameters
    ----------
    alpha : float in (0, 1]
        Step size of the reference reward; default 0.1.
    beta : float > 0
        Step size of the preferences; default 0.1. (Kuleshov & Precup's tuned values, quoted in
        Dobriban (2019), section 5.2.2, include alpha = 0.1, beta = 0.95 and alpha = 0.01,
        beta = 0.9.)
    initial_reference : float
        r_bar at the start of an episode; default 0. (Kuleshov & Precup's K = 5 numbers are
        met with 0.5, the mean reward of their problems: see
        :mod:`decisiongym.reproductions.kuleshov_precup`.)
    complement : bool
        Scale the preference step by (1 - pi_A), pi_A = softmax(p)_A before the step
        (Sutton & Barto 1998, section 2.8, the variant after equation 2.9):
        p_A <- p_A + beta (r - r_bar)(1 - pi_A); default False.
    update_order : "preference-first" or "reference-first"
        "preference-first" (default): p_A moves against the reference before this reward enters
        it; "reference-first": r_bar takes this reward first, then p_A moves against it.
    pull_each_arm_first : bool
        Pull every arm once (in random order) before the rule takes over; default False.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 alpha: float = 0.1, beta: float = 0.1, initial_reference: float = 0.0,
                 complement: bool = False,
                 update_order: Literal["preference-first",
                                       "reference-first"] = "preference-first",
                 pull_each_arm_first: bool = False) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         pull_each_arm_first=pull_each_arm_first)
        self.alpha = self._check_float("alpha", alpha, low=0.0, high=1.0, low_open=True)
        self.beta = self._check_float("beta", beta, low=0.0, low_open=True)
        self.initial_reference = self._check_float("initial_reference", initial_reference)
        self.complement = self._check_bool("complement", complement)
        if update_order not in ("preference-first", "reference-first"):
            raise self._param_error("update_order", update_order,
                                    "'preference-first' or 'reference-first'")
        self.update_order = update_order

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self.preferences = np.zeros((num_envs, self.n_arms))
        self.reference = np.full(num_envs, self.initial_reference)

    def action_probabilities(self) -> FloatArray:
        """softmax(p), one row per replicate."""
        weights = _boltzmann_weights(self.preferences)
        return np.asarray(weights / weights.sum(axis=1, keepdims=True))

    def _act(self, obs: Any) -> IntArray:
        return _sample_categorical(_boltzmann_weights(self.preferences), self.rng)

    def _learn_extra(self, rows: IntArray, a: IntArray, r: FloatArray, flat: IntArray,
                     counts: FloatArray) -> None:
        if self.update_order == "reference-first":
            self.reference[rows] += self.alpha * (r - self.reference[rows])
        step = self.beta * (r - self.reference[rows])
        if self.complement:
            step *= 1.0 - self.action_probabilities()[rows, a]
        self.preferences[rows, a] += step
        if self.update_order == "preference-first":
            self.reference[rows] += self.alpha * (r - self.reference[rows])

    def _end_episode(self, rows: IntArray) -> None:
        super()._end_episode(rows)
        self.preferences[rows] = 0.0
        self.reference[rows] = self.initial_reference


@register("thompson-beta", "Thompson sampling, Beta-Bernoulli posterior, prior Beta(a, b)")
class ThompsonBeta(BanditAgent):
    """Thompson sampling with Beta priors (Thompson 1933; Chapelle & Li 2011; Dobriban (2019),
    section 5.2.1, items 9-10; Agrawal & Goyal 2012).

    Posterior of arm k: Beta(a + S_k, b + F_k). Each step draws one sample per arm and pulls the
    largest. Rewards must lie in [0, 1]; a non-binary reward r is turned into a Bernoulli(r)
    success as Agrawal & Goyal (2012) do, from the agent's generator.

    Parameters
    ----------
    a, b : float > 0
        Prior Beta(a, b); default Beta(1, 1) (uniform), as in Chapelle & Li.
    pull_each_arm_first : bool
        Pull every arm once (in random order) before the rule takes over; default False.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 a: float = 1.0, b: float = 1.0,
                 pull_each_arm_first: bool = False) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         pull_each_arm_first=pull_each_arm_first)
        self.a = self._check_float("a", a, low=0.0, low_open=True)
        self.b = self._check_float("b", b, low=0.0, low_open=True)

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        # Posterior parameters a + S_k and b + F_k, kept up to date (sums = successes S_k).
        self.posterior_a = np.full((num_envs, self.n_arms), self.a)
        self.posterior_b = np.full((num_envs, self.n_arms), self.b)

    def _learn(self, rows: IntArray, obs: Any, actions: Any, rewards: FloatArray,
               next_obs: Any, terminated: BoolArray, truncated: BoolArray) -> None:
        r = rewards if rows is self._all_rows else rewards[rows]
        binary = (r == 0.0) | (r == 1.0)
        if not binary.all():  # rewards in [0, 1] that are not 0/1: Bernoulli(r) successes
            self._require_unit_interval(r)
            r = r.copy()
            draw = self.rng.random(r.size)
            r[~binary] = (draw[~binary] < r[~binary]).astype(np.float64)
            successes = rewards.copy()
            successes[rows] = r
            rewards = successes
        super()._learn(rows, obs, actions, rewards, next_obs, terminated, truncated)

    def _learn_extra(self, rows: IntArray, a: IntArray, r: FloatArray, flat: IntArray,
                     counts: FloatArray) -> None:
        # r is 0 or 1 here (binarised in _learn): a success adds to a, a failure to b.
        self.posterior_a.reshape(-1)[flat] += r
        self.posterior_b.reshape(-1)[flat] += 1.0 - r

    def _end_episode(self, rows: IntArray) -> None:
        super()._end_episode(rows)
        self.posterior_a[rows] = self.a
        self.posterior_b[rows] = self.b

    def _act(self, obs: Any) -> IntArray:
        theta = self.rng.beta(self.posterior_a, self.posterior_b)
        return theta.argmax(axis=1)


@register("thompson-gaussian", "Thompson sampling, Gaussian prior and known noise variance")
class ThompsonGaussian(BanditAgent):
    """Thompson sampling with a conjugate Gaussian model (Agrawal & Goyal 2013).

    Prior mu_k ~ N(prior_mean, prior_sigma^2) and rewards N(mu_k, noise_sigma^2); the posterior is
    Gaussian with precision 1/prior_sigma^2 + T_k/noise_sigma^2. The defaults (0, 1, 1) are Agrawal
    & Goyal's sampling from N(S_k / (T_k + 1), 1 / (T_k + 1)).

    Parameters
    ----------
    prior_mean : float
    prior_sigma : float > 0
    noise_sigma : float > 0
        Standard deviation of the rewards assumed by the model (for the Kuleshov-Precup protocol,
        sqrt(variance)).
    pull_each_arm_first : bool
        Pull every arm once (in random order) before the rule takes over; default False.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 prior_mean: float = 0.0, prior_sigma: float = 1.0,
                 noise_sigma: float = 1.0,
                 pull_each_arm_first: bool = False) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         pull_each_arm_first=pull_each_arm_first)
        self.prior_mean = self._check_float("prior_mean", prior_mean)
        self.prior_sigma = self._check_float("prior_sigma", prior_sigma, low=0.0, low_open=True)
        self.noise_sigma = self._check_float("noise_sigma", noise_sigma, low=0.0, low_open=True)

    def _act(self, obs: Any) -> IntArray:
        prior_precision = 1.0 / self.prior_sigma**2
        noise_precision = 1.0 / self.noise_sigma**2
        precision = prior_precision + self.counts * noise_precision
        mean = (prior_precision * self.prior_mean + noise_precision * self.sums) / precision
        theta = mean + self.rng.standard_normal(mean.shape) / np.sqrt(precision)
        return theta.argmax(axis=1).astype(np.int64)


def kl_bernoulli_upper(p: FloatArray, budget: FloatArray, precision: float = 1e-6,
                       max_steps: int = 50) -> FloatArray:
    """max{ q in [p, 1] : KL(p, q) <= budget }, elementwise, for p in [0, 1] and budget >= 0
    (the index of KL-UCB and KL-UCB++ for Bernoulli arms), to ``precision`` in q.

    Solves KL(p, q) = budget by Newton's method in x = -log(1 - q): there
    g(x) = KL(p, 1 - e^-x) is convex and increasing (q >= p), and nearly linear where q is close
    to 1, so iterates started above the root decrease to it quickly. Pinsker
    (KL >= 2 (q - p)^2) gives a start p + sqrt(budget / 2) at or above the root.
    """
    eps = 1e-15
    pc = np.clip(p, eps, 1.0 - eps)
    neg_entropy = pc * np.log(pc) + (1.0 - pc) * np.log(1.0 - pc)
    q = np.clip(p + np.sqrt(budget / 2.0), pc, 1.0 - eps)
    x = -np.log1p(-q)
    x_min = -np.log1p(-pc)
    for _ in range(max_steps):
        kl = neg_entropy - pc * np.log(q) + (1.0 - pc) * x
        slope = (1.0 - pc) - pc * (1.0 - q) / q
        excess = kl - budget
        move = excess > 0
        step = np.zeros_like(x)
        np.divide(excess, slope, out=step, where=move & (slope > 0))
        x_new = np.maximum(x - step, x_min)
        q_new = -np.expm1(-x_new)
        done = np.abs(q_new - q).max() < precision
        x, q = x_new, q_new
        if done:
            break
    return np.asarray(q)


@register("kl-ucb", "KL-UCB with Bernoulli KL (Garivier & Cappe 2011): Lai-Robbins optimal")
class KLUCB(BanditAgent):
    """KL-UCB (Garivier & Cappe 2011), Bernoulli KL, for rewards in [0, 1].

    Pull each arm once; then the arm maximising
    max{ q in [mu_hat_k, 1] : T_k KL(mu_hat_k, q) <= log t + c log log t },
    solved by Newton's method to 1e-6. With this index the regret constant matches the Lai & Robbins
    (1985) lower bound for Bernoulli arms.

    Parameters
    ----------
    c : float >= 0
        Default 0, the value Garivier & Cappe recommend in practice (the theorem uses c = 3).
    precision : float > 0
        Tolerance on q; default 1e-6.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 c: float = 0.0, precision: float = 1e-6) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        self.c = self._check_float("c", c, low=0.0)
        self.precision = self._check_float("precision", precision, low=0.0, high=0.5,
                                           low_open=True)
        self._max_newton_steps = 50

    def _check_rewards(self, r: FloatArray) -> None:
        self._require_unit_interval(r)

    def kl_ucb_index(self) -> FloatArray:
        safe_counts = np.maximum(self.counts, 1.0)
        p = np.clip(self.sums / safe_counts, 0.0, 1.0)
        t = np.maximum(self.t, 1.0)
        log_t = np.log(t)
        if self.c > 0:
            log_t = log_t + self.c * np.log(np.maximum(log_t, 1.0))
        budget = log_t[:, None] / safe_counts
        index = kl_bernoulli_upper(p, budget, self.precision, self._max_newton_steps)
        index[self.counts == 0] = np.inf
        return index

    def _act(self, obs: Any) -> IntArray:
        return argmax_random_ties(self.kl_ucb_index(), self.rng)


# --------------------------------------------------------------------------------------------
# Index policies of the peers (MOSS, Bayes-UCB, IMED, KL-UCB++), each with a Bernoulli model
# (rewards in [0, 1]) and a Gaussian one (known noise standard deviation ``sigma``).
# --------------------------------------------------------------------------------------------

Model = Literal["bernoulli", "gaussian"]


class _ModelAgent(BanditAgent):
    """A bandit agent whose index depends on a reward model: "bernoulli" (rewards in [0, 1],
    checked) or "gaussian" (N(mu_k, sigma^2) rewards, ``sigma`` known)."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 model: Model = "bernoulli", sigma: float = 1.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        if model not in ("bernoulli", "gaussian"):
            raise self._param_error("model", model, "'bernoulli' or 'gaussian'")
        self.model: Model = model
        self.sigma = self._check_float("sigma", sigma, low=0.0, low_open=True)

    def _check_rewards(self, r: FloatArray) -> None:
        if self.model == "bernoulli":
            self._require_unit_interval(r)

    def _optional_horizon(self, horizon: int | None) -> int | None:
        return None if horizon is None else self._check_int("horizon", horizon)


@register("moss", "MOSS: mu_hat + sqrt(log+(T / (K T_k)) / T_k), minimax (Audibert & Bubeck "
                  "2009); anytime without horizon")
class MOSS(_ModelAgent):
    """MOSS, Minimax Optimal Strategy in the Stochastic case (Audibert & Bubeck 2009).

    Pull each arm once, then the arm maximising
    mu_hat_k + sqrt(4 s^2 log+(T / (K T_k)) / T_k), log+(x) = max(0, log x), where s^2 is the
    variance proxy of the rewards: s = 1/2 for rewards in [0, 1] (``model="bernoulli"``: the
    index is Audibert & Bubeck's mu_hat_k + sqrt(log+(T / (K T_k)) / T_k)), s = ``sigma`` for
    Gaussian rewards (``model="gaussian"``: Lattimore & Szepesvari 2020, chapter 9). An arm
    pulled T / K times or more gets no bonus. Its worst-case regret is of the minimax order
    sqrt(K T) (:func:`decisiongym.theory.moss_regret_bound`), where UCB1's is sqrt(K T log T).

    Without ``horizon``: MOSS-anytime (Degenne & Perchet 2016), the index with t (pulls so far)
    for T and the factor (1 + alpha) / 2 on the bonus's square.

    Parameters
    ----------
    horizon : int >= 1, optional
        T, the pulls per episode. None: the anytime index.
    alpha : float > 0
        MOSS-anytime's constant (Degenne & Perchet take alpha > 1); default 1.35, the value
        SMPyBandits documents as the best. Used only without ``horizon``.
    model : "bernoulli" or "gaussian"
        "bernoulli" (default): rewards in [0, 1] (checked); "gaussian": N(mu_k, sigma^2).
    sigma : float > 0
        The Gaussian model's noise standard deviation; default 1.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 horizon: int | None = None, alpha: float = 1.35, model: Model = "bernoulli",
                 sigma: float = 1.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         model=model, sigma=sigma)
        self.horizon = self._optional_horizon(horizon)
        self.alpha = self._check_float("alpha", alpha, low=0.0, low_open=True)

    def moss_index(self) -> FloatArray:
        """The MOSS (or MOSS-anytime) index of every arm; +inf for arms never pulled."""
        n = np.maximum(self.counts, 1.0)
        s2 = 0.25 if self.model == "bernoulli" else self.sigma**2
        if self.horizon is not None:
            ratio = self.horizon / (self.n_arms * n)
            scale = 4.0 * s2
        else:
            ratio = np.maximum(self.t, 1.0)[:, None] / (self.n_arms * n)
            scale = 4.0 * s2 * (1.0 + self.alpha) / 2.0
        index = self.mu + np.sqrt(scale * np.maximum(np.log(ratio), 0.0) / n)
        index[self.counts == 0] = np.inf
        return np.asarray(index)

    def _act(self, obs: Any) -> IntArray:
        return argmax_random_ties(self.moss_index(), self.rng)


@register("bayes-ucb", "Bayes-UCB: the 1 - 1/(t (log T)^c) posterior quantile, Beta or Gaussian "
                       "(Kaufmann, Cappe & Garivier 2012)")
class BayesUCB(_ModelAgent):
    """Bayes-UCB (Kaufmann, Cappe & Garivier 2012, Algorithm 1).

    At round t (t = 1 for the first pull of an episode) pull the arm whose posterior on its mean
    has the largest quantile of level 1 - 1 / (t (log T)^c), ties at random.

    - ``model="bernoulli"``: prior Beta(a, b), posterior Beta(a + S_k, b + T_k - S_k) with S_k the
      sum of the arm's rewards (its successes for 0/1 rewards; rewards in [0, 1] count
      fractionally). Kaufmann et al.'s theorem: Beta(1, 1) and c >= 5 are asymptotically optimal
      (the Lai & Robbins constant); their experiments, and the default here, use c = 0.
    - ``model="gaussian"``: rewards N(mu_k, sigma^2) with ``sigma`` known, prior
      N(prior_mean, prior_sigma^2) (conjugate), or flat when ``prior_sigma`` is None (default):
      then the posterior is N(mu_hat_k, sigma^2 / T_k), the index
      mu_hat_k + sigma z / sqrt(T_k) with z the standard normal quantile, and each arm is
      pulled once first.

    Parameters
    ----------
    c : float >= 0
        Default 0 (quantile 1 - 1/t, no horizon needed).
    horizon : int >= 2, optional
        T; needed when c > 0.
    a, b : float > 0
        Beta prior of the Bernoulli model; default Beta(1, 1).
    prior_mean : float; prior_sigma : float > 0 or None
        Gaussian prior; default flat.
    model, sigma
        As for ``moss``.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 model: Model = "bernoulli", c: float = 0.0, horizon: int | None = None,
                 a: float = 1.0, b: float = 1.0, prior_mean: float = 0.0,
                 prior_sigma: float | None = None, sigma: float = 1.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         model=model, sigma=sigma)
        self.c = self._check_float("c", c, low=0.0)
        self.horizon = None if horizon is None else self._check_int("horizon", horizon, low=2)
        if self.c > 0 and self.horizon is None:
            raise ValueError(f"{self.name}: c = {self.c!r} > 0 needs the horizon T (the quantile "
                             f"level is 1 - 1/(t (log T)^c)); got horizon=None")
        self.a = self._check_float("a", a, low=0.0, low_open=True)
        self.b = self._check_float("b", b, low=0.0, low_open=True)
        self.prior_mean = self._check_float("prior_mean", prior_mean)
        self.prior_sigma = None if prior_sigma is None else self._check_float(
            "prior_sigma", prior_sigma, low=0.0, low_open=True)

    def quantile_level(self) -> FloatArray:
        """1 - 1 / (t (log T)^c) of each replicate, t = pulls so far + 1 (clipped to [0, 1))."""
        t = self.t + 1.0
        log_factor = 1.0 if self.c == 0 or self.horizon is None else \
            math.log(self.horizon) ** self.c
        return np.asarray(np.clip(1.0 - 1.0 / (t * log_factor), 0.0, None))

    def bayes_ucb_index(self) -> FloatArray:
        """The posterior quantile of every arm (+inf for unpulled arms under a flat prior)."""
        from scipy import special

        level = self.quantile_level()[:, None]
        if self.model == "bernoulli":
            return np.asarray(special.betaincinv(self.a + self.sums,
                                                 self.b + self.counts - self.sums, level))
        noise_precision = 1.0 / self.sigma**2
        if self.prior_sigma is None:
            n = np.maximum(self.counts, 1.0)
            index = self.mu + special.ndtri(level) * self.sigma / np.sqrt(n)
            index[self.counts == 0] = np.inf
            return np.asarray(index)
        prior_precision = 1.0 / self.prior_sigma**2
        precision = prior_precision + self.counts * noise_precision
        mean = (prior_precision * self.prior_mean + noise_precision * self.sums) / precision
        return np.asarray(mean + special.ndtri(level) / np.sqrt(precision))

    def _act(self, obs: Any) -> IntArray:
        return argmax_random_ties(self.bayes_ucb_index(), self.rng)


@register("imed", "IMED: pull argmin T_k KL(mu_hat_k, mu_hat_max) + log T_k, Bernoulli or Gaussian "
                  "KL (Honda & Takemura 2015)")
class IMED(_ModelAgent):
    """IMED, Indexed Minimum Empirical Divergence (Honda & Takemura 2015).

    Pull each arm once, then the arm minimising
    I_k = T_k D(mu_hat_k, mu_hat_max) + log T_k, ties at random, where mu_hat_max is the best
    sample mean and D the KL divergence of the reward model: Bernoulli KL (``model="bernoulli"``,
    rewards in [0, 1]) or (mu_hat_k - mu_hat_max)^2 / (2 sigma^2) (``model="gaussian"``). A
    best arm has I = log T_k; another is pulled once the evidence against it, T_k D, is small
    beside log of its count. Asymptotically optimal: its regret matches the Lai & Robbins
    constant. No horizon, no confidence level.

    Parameters
    ----------
    model, sigma
        As for ``moss``.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 model: Model = "bernoulli", sigma: float = 1.0) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         model=model, sigma=sigma)

    def imed_index(self) -> FloatArray:
        """I_k of every arm (to be minimised); -inf for arms never pulled."""
        pulled = self.counts > 0
        best = np.where(pulled, self.mu, -np.inf).max(axis=1)
        best = np.where(np.isfinite(best), best, 0.0)[:, None]
        if self.model == "bernoulli":
            divergence = kl_bernoulli(np.clip(self.mu, 0.0, 1.0), best)
        else:
            divergence = (self.mu - best) ** 2 / (2.0 * self.sigma**2)
        index = self.counts * divergence + np.log(np.maximum(self.counts, 1.0))
        index[~pulled] = -np.inf
        return np.asarray(index)

    def _act(self, obs: Any) -> IntArray:
        return argmax_random_ties(-self.imed_index(), self.rng)


@register("kl-ucb++", "KL-UCB++: KL index with exploration log+(T/(K n) (1 + log+^2(T/(K n)))), "
                      "minimax and Lai-Robbins optimal (Menard & Garivier 2017)")
class KLUCBPlusPlus(_ModelAgent):
    """KL-UCB++ (Menard & Garivier 2017).

    Pull each arm once, then the arm maximising
    max{ q : T_k D(mu_hat_k, q) <= g(T_k) },  g(n) = log+( y (1 + log+(y)^2) ),  y = T / (K n),
    with D the Bernoulli KL (``model="bernoulli"``, rewards in [0, 1]; solved as KL-UCB's index)
    or the Gaussian one, for which the index is mu_hat_k + sqrt(2 sigma^2 g(T_k) / T_k)
    (``model="gaussian"``). Menard & Garivier prove it both minimax optimal (order sqrt(K T))
    and asymptotically optimal (the Lai & Robbins constant). An arm pulled T / K times or more
    gets no exploration bonus (g = 0).

    Parameters
    ----------
    horizon : int >= 1
        T, the pulls per episode (required: g uses it).
    precision : float > 0
        Tolerance on the Bernoulli index; default 1e-6.
    model, sigma
        As for ``moss``.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 horizon: int | None = None, model: Model = "bernoulli", sigma: float = 1.0,
                 precision: float = 1e-6) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space,
                         model=model, sigma=sigma)
        if horizon is None:
            raise ValueError(f"{self.name}: give horizon (T, the pulls per episode, which its "
                             f"exploration function uses); got horizon=None")
        self.horizon = self._check_int("horizon", horizon)
        self.precision = self._check_float("precision", precision, low=0.0, high=0.5,
                                           low_open=True)

    def kl_ucb_index(self) -> FloatArray:
        """The KL-UCB++ index of every arm; +inf for arms never pulled."""
        n = np.maximum(self.counts, 1.0)
        budget = kl_ucb_plus_plus_exploration(n, self.n_arms, self.horizon) / n
        if self.model == "bernoulli":
            index = kl_bernoulli_upper(np.clip(self.mu, 0.0, 1.0), budget, self.precision)
        else:
            index = self.mu + np.sqrt(2.0 * self.sigma**2 * budget)
        index[self.counts == 0] = np.inf
        return np.asarray(index)

    def _act(self, obs: Any) -> IntArray:
        return argmax_random_ties(self.kl_ucb_index(), self.rng)
