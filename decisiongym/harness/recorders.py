"""Recorders: what the one rollout loop measures, chosen by what the environment declares.

The rollout loop (:mod:`decisiongym.harness.rollout`) steps an agent on a vector env and hands
every batched step to its recorders; each recorder turns what it saw into named metric arrays
(one column per learner) and record entries. A recorder is any object with three methods
(:class:`Recorder`), so a user's own recorder plugs in the same way as ours:

- :class:`RegretRecorder`: cumulative regret from the step ``info``: the pseudo-regret
  sum_{s<=t} (mu* - mu_{A_s}) from ``expected_reward`` / ``optimal_expected_reward`` (or from
  ``expected_rewards``, the expected reward of every arm), Dobriban (2019), section 5.2; the
  regret against the best fixed arm in hindsight from ``info["rewards"]`` (the round's whole
  reward vector), section 5.2.3.
- :class:`EpisodeRecorder`: return, length and end step of every episode of every learner,
  and the return against env steps (mean of the last ``window`` episodes).
- :class:`ModelRecorder`: for an env that exposes its MDP (``transitions``, ``rewards``,
  ``gamma``, ``initial_state_distribution``): the episodic regret against the optimal start
  value of value iteration, and, for agents that offer them, the value error of a prediction
  agent and whether a control agent's greedy policy is optimal.
- :class:`AccuracyRecorder`: the share of right answers on a supervised task (steps whose
  ``optimal_expected_reward`` is 1 ask a question; ``expected_reward`` is 1 when answered
  right).

Which recorders run (:func:`default_recorders`) is decided by the env alone: the metadata key
:data:`RECORDERS_KEY` names them ("regret", "episodes", "model", "accuracy", or
"module:Class" of a recorder of the env's own); without it, the first step's ``info`` keys
choose the regret recorder, and otherwise the episode recorder runs (with the model recorder
when the env exposes its MDP). No env id or agent name is known here.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from decisiongym.agents.base import GreedyPolicy, ValueTable
from decisiongym.arrays import FloatArray, IntArray
from decisiongym.envs.vector import RECORDERS
from decisiongym.harness.metrics import time_grid
from decisiongym.theory import policy_evaluation, value_iteration

#: Env metadata key: the recorders the env asks for, by name or "module:Class".
RECORDERS_KEY = RECORDERS
#: Episodes averaged in the return curve and the final return.
WINDOW = 20


@dataclass(frozen=True)
class RolloutSetup:
    """What a recorder learns before the first step.

    ``env``: the vector env (``env.num_envs`` copies); ``learners`` independent learners, each
    stepping ``envs_per_learner`` copies (copy j belongs to learner ``learner_of[j]``);
    ``budget`` per learner in env steps, or in episodes when ``budget_unit == "episodes"``;
    ``reset_info``: the info of the env's first reset.
    """

    env: Any
    agent: Any
    learners: int
    envs_per_learner: int
    budget: int
    budget_unit: str
    seed: int
    reset_info: dict[str, Any]
    learner_of: IntArray = field(repr=False)


@dataclass(slots=True)
class StepBatch:
    """One batched step, as the recorders see it (valid during the ``step`` call; copy what
    you keep).

    ``t``: vector steps done (1-based); ``env_steps``: env steps per learner so far;
    ``live`` (num_envs,): the copies whose step was a real transition that counts (not the
    reset step of Gymnasium's NEXT_STEP autoreset, not past an episode budget);
    ``agent_seconds``: wall-clock time the agent spent acting and learning in this step.
    """

    t: int
    env_steps: int
    actions: NDArray[Any]
    rewards: FloatArray
    terminated: NDArray[np.bool_]
    truncated: NDArray[np.bool_]
    info: dict[str, Any]
    live: NDArray[np.bool_]
    all_live: bool
    agent_seconds: float


@runtime_checkable
class Recorder(Protocol):
    """What the rollout loop calls: ``start`` once, ``step`` every batched step, ``finish``
    once; ``finish`` returns (arrays, record entries). Array names must not clash with another
    recorder's, except ``grid`` (the same time grid) and ``mean_reward``."""

    def start(self, setup: RolloutSetup) -> None: ...

    def step(self, batch: StepBatch) -> None: ...

    def finish(self) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]: ...

    def new_phase(self, env: Any) -> None: ...


class BaseRecorder:
    """No-op defaults for the optional hooks."""

    def new_phase(self, env: Any) -> None:
        """The env changed (a new phase of the task); episodes in progress were cut."""


# --------------------------------------------------------------------------------------------
# Regret.
# --------------------------------------------------------------------------------------------


class RegretRecorder(BaseRecorder):
    """Cumulative regret of each learner, recorded on a time grid (default
    :func:`~decisiongym.harness.metrics.time_grid` of the budget).

    Arrays (G grid points, n learners): ``grid`` (G,); ``regret`` (G, n) float32;
    ``final_regret`` (n,); ``best_arm_fraction`` (n,), the share of pulls that went to a best
    arm (on an adversarial bandit: to the arm leading so far); ``best_arm_fraction_curve`` (G,)
    its mean up to each t; ``mean_reward`` (n,) per step; ``lai_robbins_constant`` (n,) C(mu)
    of each replicate's first problem (NaN where the env does not give it). Record:
    ``regret_kind`` ("pseudo" or "best-fixed-arm"). With ``keep_steps`` the per-step
    ``actions``, ``rewards`` and ``pseudo_regret_per_step`` / ``regret_per_step`` (T, n) too.
    """

    def __init__(self, grid: Sequence[int] | NDArray[np.int64] | None = None, *,
                 keep_steps: bool = False) -> None:
        self._grid = None if grid is None else np.asarray(grid, dtype=np.int64)
        self.keep_steps = keep_steps

    def start(self, setup: RolloutSetup) -> None:
        if setup.envs_per_learner != 1 or setup.budget_unit != "steps":
            raise ValueError("the regret recorder needs one env copy per learner and a budget "
                             "in env steps")
        horizon = setup.budget
        steps = time_grid(horizon) if self._grid is None else self._grid
        if steps.ndim != 1 or steps.size == 0 or steps[0] < 1 or steps[-1] != horizon \
                or np.any(np.diff(steps) <= 0):
            raise ValueError("regret recorder: grid must be increasing steps in [1, horizon] "
                             f"ending at the horizon {horizon}")
        self.grid = steps
        self.horizon = horizon
        self.record_at = [-1] * (horizon + 1)
        for g, step in enumerate(steps.tolist()):
            self.record_at[step] = g
        n = setup.learners
        self.regret = np.empty((steps.size, n))
        self.best_pulls = np.empty((steps.size, n), dtype=np.int64)
        self.reward_sum = np.empty((steps.size, n))
        self.cum_regret = np.zeros(n)
        self.cum_best = np.zeros(n, dtype=np.int64)
        self.cum_reward = np.zeros(n)
        self.cum_table = np.zeros(0)
        self.kind = ""
        nan = np.full(n, np.nan)
        self.lai_robbins = np.asarray(setup.reset_info.get("lai_robbins_constant", nan),
                                      dtype=float)
        self.per_step: dict[str, NDArray[Any]] = {}
        if self.keep_steps:
            self.per_step = {"actions": np.empty((horizon, n), dtype=np.int64),
                             "rewards": np.empty((horizon, n)),
                             "regret": np.empty((horizon, n))}

    def step(self, batch: StepBatch) -> None:
        info, a, r = batch.info, batch.actions, batch.rewards
        kind = self.kind
        if not kind:
            kind = self.kind = regret_kind(info)
            if kind == "best-fixed-arm":
                self.cum_table = np.zeros(np.shape(info["rewards"]))
        all_live = batch.all_live
        if not all_live:  # reset steps of a shorter episode add nothing
            r = np.where(batch.live, r, 0.0)
        if kind == "pseudo":
            if "expected_reward" in info:
                expected = info["expected_reward"]
                optimal = info["optimal_expected_reward"]
            else:
                means = np.asarray(info["expected_rewards"])
                expected = means[np.arange(means.shape[0]), a]
                optimal = means.max(axis=1)
            if all_live:
                self.cum_regret += optimal - expected
                self.cum_best += expected == optimal
            else:
                self.cum_regret += np.where(batch.live, optimal - expected, 0.0)
                self.cum_best += (expected == optimal) & batch.live
            self.cum_reward += r
        else:
            table = info["rewards"]
            if not all_live:
                table = np.where(batch.live[:, None], table, 0.0)
            self.cum_table += table
            self.cum_reward += r
            self.cum_regret = self.cum_table.max(axis=1) - self.cum_reward
            self.cum_best += (a == self.cum_table.argmax(axis=1)) & batch.live
        t = batch.t
        if t <= self.horizon:
            g = self.record_at[t]
            if g >= 0:
                self.regret[g] = self.cum_regret
                self.best_pulls[g] = self.cum_best
                self.reward_sum[g] = self.cum_reward
            if self.keep_steps:
                self.per_step["actions"][t - 1] = a
                self.per_step["rewards"][t - 1] = r
                self.per_step["regret"][t - 1] = self.cum_regret

    def finish(self) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
        t = self.grid.astype(np.float64)
        arrays: dict[str, NDArray[Any]] = {
            "grid": self.grid,
            "regret": self.regret.astype(np.float32),
            "final_regret": self.regret[-1].copy(),
            "best_arm_fraction": self.best_pulls[-1] / float(self.horizon),
            "best_arm_fraction_curve": (self.best_pulls / t[:, None]).mean(axis=1),
            "mean_reward": self.reward_sum[-1] / float(self.horizon),
            "lai_robbins_constant": self.lai_robbins,
        }
        if self.keep_steps:
            arrays["actions"] = self.per_step["actions"]
            arrays["rewards"] = self.per_step["rewards"]
            arrays["regret_per_step"] = self.per_step["regret"]
        return arrays, {"regret_kind": self.kind or "pseudo"}


def regret_kind(info: dict[str, Any]) -> str:
    """"best-fixed-arm" when ``info`` carries the round's reward vector, "pseudo" when it
    carries expected rewards; ValueError otherwise."""
    if "rewards" in info:
        return "best-fixed-arm"
    if ("expected_reward" in info and "optimal_expected_reward" in info) \
            or "expected_rewards" in info:
        return "pseudo"
    raise ValueError("the regret recorder needs info['expected_reward'] and "
                     "info['optimal_expected_reward'], info['expected_rewards'] or "
                     f"info['rewards']; the env's step info has {sorted(info)}")


def offers_regret(info: dict[str, Any]) -> bool:
    try:
        regret_kind(info)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Episodes.
# --------------------------------------------------------------------------------------------


class EpisodeTable:
    """Per-episode records of ``n`` learners: named (E, n) arrays, NaN where a learner has not
    finished episode e, grown (doubled) as episodes finish.

    >>> t = EpisodeTable(2, ("length",))
    >>> e = t.finish(np.array([1]))
    >>> t["length"][e, [1]] = 7.0
    >>> t.trimmed()["length"].tolist()
    [[nan, 7.0]]
    """

    def __init__(self, n: int, names: tuple[str, ...], capacity: int = 64) -> None:
        self.arrays = {k: np.full((capacity, n), np.nan) for k in names}
        self.count = np.zeros(n, dtype=np.int64)

    def finish(self, rows: IntArray) -> IntArray:
        """Count an episode finished for each of ``rows`` (distinct learners); return its
        index per row (room made)."""
        e = self.count[rows]
        cap = next(iter(self.arrays.values())).shape[0]
        if e.size and int(e.max()) >= cap:
            grow = max(cap, int(e.max()) + 1 - cap)
            self.arrays = {k: np.concatenate([a, np.full((grow, a.shape[1]), np.nan)])
                           for k, a in self.arrays.items()}
        self.count[rows] += 1
        return e

    def __getitem__(self, name: str) -> FloatArray:
        return self.arrays[name]

    def trimmed(self) -> dict[str, FloatArray]:
        """The arrays cut after the last episode any learner finished (at least one row)."""
        used = max(1, int(self.count.max()))
        return {k: a[:used] for k, a in self.arrays.items()}


def return_curve(episode_return: FloatArray, episode_end_step: FloatArray,
                 grid: NDArray[np.int64], window: int = WINDOW) -> FloatArray:
    """Mean return of the last ``window`` episodes each learner finished by each grid step,
    (G, n); NaN before a learner's first episode.

    >>> ret = np.array([[1.0], [3.0], [np.nan]])
    >>> end = np.array([[5.0], [9.0], [np.nan]])
    >>> return_curve(ret, end, np.array([4, 5, 10]), window=2)[:, 0].tolist()
    [nan, 1.0, 2.0]
    """
    n = episode_return.shape[1]
    out = np.full((grid.size, n), np.nan)
    for i in range(n):
        ends = episode_end_step[:, i]
        rets = episode_return[:, i]
        ok = np.isfinite(ends)
        ends, rets = ends[ok], rets[ok]
        if not ends.size:
            continue
        csum = np.concatenate([[0.0], np.cumsum(rets)])
        k = np.searchsorted(ends, grid, side="right")
        lo = np.maximum(k - window, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, i] = np.where(k > 0, (csum[k] - csum[lo]) / np.maximum(k - lo, 1), np.nan)
    return out


def episode_arrays(episode_return: FloatArray, episode_length: FloatArray,
                   episode_end_step: FloatArray, budget: int, reward_sum: FloatArray,
                   window: int = WINDOW) -> dict[str, NDArray[Any]]:
    """The episode recorder's arrays from per-episode records (E, n) (also used for training
    loops of their own, which hand back such records)."""
    grid = time_grid(budget)
    curve = return_curve(episode_return, episode_end_step, grid, window)
    return {
        "episode_return": episode_return.astype(np.float32),
        "episode_length": episode_length.astype(np.float32),
        "episode_end_step": episode_end_step.astype(np.float32),
        "episodes": np.isfinite(episode_return).sum(axis=0).astype(np.int64),
        "grid": grid,
        "return_curve": curve.astype(np.float32),
        "final_return": curve[-1].copy(),
        "mean_reward": reward_sum / float(budget),
    }


class EpisodeRecorder(BaseRecorder):
    """Every finished episode of every learner: its undiscounted return, its length and the
    env step (of its learner) at which it ended.

    Arrays (E episodes at most, G grid points, n learners): ``episode_return``,
    ``episode_length``, ``episode_end_step`` (E, n) float32, NaN past a learner's last
    episode; ``episodes`` (n,); ``grid`` (G,) env steps; ``return_curve`` (G, n), the mean
    return of the last ``window`` episodes finished by each grid step; ``final_return`` (n,),
    its value at the end of the budget; ``mean_reward`` (n,) per env step. With several phases,
    ``phase_split`` (n,): the episodes each learner finished before the env changed.
    With an episode budget the grid counts episodes, not steps, and the curve is not kept.
    """

    def __init__(self, window: int = WINDOW) -> None:
        self.window = window

    def start(self, setup: RolloutSetup) -> None:
        self.setup = setup
        n, copies = setup.learners, setup.env.num_envs
        self.table = EpisodeTable(n, ("ret", "length", "end"))
        self.g = np.zeros(copies)
        self.length = np.zeros(copies)
        self.reward_sum = np.zeros(n)
        self.splits: list[IntArray] = []

    def step(self, batch: StepBatch) -> None:
        setup = self.setup
        r = batch.rewards if batch.all_live else np.where(batch.live, batch.rewards, 0.0)
        self.g += r
        self.length += batch.live
        if setup.envs_per_learner == 1:
            self.reward_sum += r
        else:
            np.add.at(self.reward_sum, setup.learner_of, r)
        done = (batch.terminated | batch.truncated) & batch.live
        if done.any():
            for i in np.flatnonzero(done):  # a few per step: learners may share a step
                learner = setup.learner_of[i:i + 1]
                e = self.table.finish(learner)
                self.table["ret"][e, learner] = self.g[i]
                self.table["length"][e, learner] = self.length[i]
                self.table["end"][e, learner] = batch.env_steps
            self.g[done] = 0.0
            self.length[done] = 0.0

    def new_phase(self, env: Any) -> None:
        self.splits.append(self.table.count.copy())
        self.g[:] = 0.0
        self.length[:] = 0.0

    def finish(self) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
        out = self.table.trimmed()
        setup = self.setup
        if setup.budget_unit == "episodes":
            arrays: dict[str, NDArray[Any]] = {
                "episode_return": out["ret"].astype(np.float32),
                "episode_length": out["length"].astype(np.float32),
                "episode_end_step": out["end"].astype(np.float32),
                "episodes": self.table.count.astype(np.int64)}
        else:
            arrays = episode_arrays(out["ret"], out["length"], out["end"], setup.budget,
                                    self.reward_sum, self.window)
        if self.splits:
            arrays["phase_split"] = self.splits[0].astype(np.int64)
        return arrays, {"window": self.window}


# --------------------------------------------------------------------------------------------
# A known MDP: episodic regret, value error, greedy optimality.
# --------------------------------------------------------------------------------------------


def exposes_model(env: Any) -> bool:
    """True when the env (or its unwrapped core) exposes a finite MDP."""
    return all(_model_attr(env, k) is not None for k in
               ("transitions", "rewards", "gamma", "initial_state_distribution"))


def _model_attr(env: Any, name: str) -> Any:
    for target in (env, getattr(env, "unwrapped", None)):
        if target is not None:
            try:
                return getattr(target, name)
            except AttributeError:
                continue
    return None


def greedy_policy_is_optimal(transitions: FloatArray, rewards: FloatArray, gamma: float,
                             start: FloatArray, optimal_value: float,
                             policies: IntArray, atol: float = 1e-6) -> NDArray[np.bool_]:
    """For each deterministic policy (m, S): is its value from the start distribution optimal?

    The value is iterated H times from 0 (H covers twice the state count, and the discount's
    horizon): a policy that loops forever in an episodic task then scores at most 0 with zero
    rewards, -H with negative ones, so an improper policy is never taken for optimal."""
    n_s = transitions.shape[0]
    rows = np.arange(n_s)
    p_pi = transitions[rows[None, :], policies]  # (m, S, S)
    r_pi = rewards[rows[None, :], policies]  # (m, S)
    horizon = _evaluation_horizon(n_s, gamma)
    v = np.zeros_like(r_pi)
    for _ in range(horizon):
        v = r_pi + gamma * np.einsum("mst,mt->ms", p_pi, v)
    return np.asarray(v @ start >= optimal_value - atol * max(1.0, abs(optimal_value)))


def _evaluation_horizon(n_states: int, gamma: float) -> int:
    horizon = 2 * n_states + 50
    if gamma < 1:
        horizon = max(horizon, int(np.ceil(np.log(1e-12) / np.log(gamma))))
    return horizon


def _deterministic_greedy_check(next_state: IntArray, reward: FloatArray, gamma: float,
                                start: int, optimal_value: float, policies: IntArray,
                                atol: float = 1e-6) -> NDArray[np.bool_]:
    """:func:`greedy_policy_is_optimal` for a deterministic model with one start state, by
    pointer doubling: after k rounds ``succ`` jumps 2^k steps and ``gain`` holds the discounted
    reward of those steps (terminal states loop on themselves with reward 0)."""
    m, n_s = policies.shape
    rows = np.arange(n_s)
    succ = next_state[rows[None, :], policies]  # (m, S)
    gain = reward[rows[None, :], policies]
    horizon = _evaluation_horizon(n_s, gamma)
    discount = gamma
    ar = np.arange(m)[:, None]
    for _ in range(int(np.ceil(np.log2(horizon)))):
        gain = gain + discount * gain[ar, succ]
        succ = succ[ar, succ]
        discount *= discount
    return np.asarray(gain[:, start] >= optimal_value - atol * max(1.0, abs(optimal_value)))


def episodes_to_optimal(greedy_optimal: FloatArray) -> FloatArray:
    """Per learner: the number of episodes after which the greedy policy was first optimal
    (NaN if never)."""
    hit = np.nan_to_num(greedy_optimal, nan=0.0) > 0
    first = hit.argmax(axis=0).astype(np.float64) + 1.0
    return np.where(hit.any(axis=0), first, np.nan)


class ModelRecorder(BaseRecorder):
    """For an env that exposes its MDP: per finished episode, the return discounted with the
    task's ``gamma`` against the optimal start value V*(s_0) of value iteration; for a
    prediction agent (:class:`~decisiongym.agents.base.ValueTable`) the RMS value error
    ||V - v_pi|| over non-terminal states; for a control agent
    (:class:`~decisiongym.agents.base.GreedyPolicy`) whether its greedy policy is optimal.

    Arrays (E, n) float32: ``discounted_return``, ``value_error`` (NaN unless the agent
    predicts), ``greedy_optimal`` (1/0, NaN unless the agent controls); ``episodes_to_optimal``
    (n,); the episodic regret sum_e (V*(s_0) - G_e) on the grid: ``grid``, ``regret`` (G, n),
    ``final_regret`` (n,); ``optimal_episode_fraction`` (n,). Record: ``regret_kind``
    "episodic", ``optimal_start_value``.
    """

    def __init__(self, check_greedy: bool = True) -> None:
        self.check_greedy = check_greedy

    def _load_model(self, env: Any) -> None:
        p = np.asarray(_model_attr(env, "transitions"))
        r = np.asarray(_model_attr(env, "rewards"))
        self.gamma = float(_model_attr(env, "gamma"))
        self.p, self.r = p, r
        self.start_dist = np.asarray(_model_attr(env, "initial_state_distribution"))
        v_star, _ = value_iteration(p, r, self.gamma)
        self.optimal = float(self.start_dist @ v_star)
        terminal = _model_attr(env, "terminal_states")
        self.nonterminal = np.ones(p.shape[0], dtype=bool)
        if terminal is not None:
            self.nonterminal[np.asarray(terminal, dtype=np.int64)] = False
        model = _model_attr(env, "model")
        self.fast = bool(getattr(model, "deterministic", False))
        if self.fast:
            self.table_next = model.next_flat.reshape(model.n_states, model.n_actions)
            self.table_reward = model.reward_flat.reshape(model.n_states, model.n_actions)
            self.fixed_start = model.fixed_start
        agent = self.setup.agent
        self.v_pi = (policy_evaluation(p, r, agent.policy, self.gamma) if self.predicts
                     else None)

    def start(self, setup: RolloutSetup) -> None:
        if setup.envs_per_learner != 1:
            raise ValueError("the model recorder needs one env copy per learner")
        self.setup = setup
        agent = setup.agent
        self.predicts = isinstance(agent, ValueTable)
        self.controls = self.check_greedy and isinstance(agent, GreedyPolicy)
        self._load_model(setup.env)
        self.optimal_values = [self.optimal]
        n = setup.learners
        self.table = EpisodeTable(n, ("ret", "end", "verr", "gopt", "optimal"))
        self.g = np.zeros(n)
        self.discount = np.ones(n)

    def new_phase(self, env: Any) -> None:
        self._load_model(env)
        self.optimal_values.append(self.optimal)
        self.g[:] = 0.0
        self.discount[:] = 1.0

    def step(self, batch: StepBatch) -> None:
        live = batch.live
        self.g += np.where(live, self.discount * batch.rewards, 0.0)
        self.discount = np.where(live, self.discount * self.gamma, self.discount)
        done = (batch.terminated | batch.truncated) & live
        if not done.any():
            return
        rows = np.flatnonzero(done)
        table = self.table
        e = table.finish(rows)
        table["ret"][e, rows] = self.g[rows]
        table["end"][e, rows] = batch.env_steps
        table["optimal"][e, rows] = self.optimal
        agent = self.setup.agent
        if self.v_pi is not None:
            diff = agent.values[rows][:, self.nonterminal] - self.v_pi[self.nonterminal]
            table["verr"][e, rows] = np.sqrt((diff ** 2).mean(axis=1))
        if self.controls:
            policies = agent.greedy_policy()[rows]
            if self.fast:
                table["gopt"][e, rows] = _deterministic_greedy_check(
                    self.table_next, self.table_reward, self.gamma, self.fixed_start,
                    self.optimal, policies)
            else:
                table["gopt"][e, rows] = greedy_policy_is_optimal(
                    self.p, self.r, self.gamma, self.start_dist, self.optimal, policies)
        self.g[rows], self.discount[rows] = 0.0, 1.0

    def finish(self) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
        out = self.table.trimmed()
        n = self.setup.learners
        episode_regret = np.nan_to_num(out["optimal"] - out["ret"], nan=0.0)
        cumulative = np.cumsum(episode_regret, axis=0)
        grid = time_grid(self.setup.budget)
        regret = np.zeros((grid.size, n))
        ends = np.nan_to_num(out["end"], nan=np.inf)
        for i in range(n):
            k = np.searchsorted(ends[:, i], grid, side="right")
            regret[:, i] = np.where(k > 0, cumulative[np.maximum(k - 1, 0), i], 0.0)
        finished = np.isfinite(out["ret"])
        optimal_episode = finished & (out["ret"] >= out["optimal"] - 1e-9)
        arrays: dict[str, NDArray[Any]] = {
            "discounted_return": out["ret"].astype(np.float32),
            "value_error": out["verr"].astype(np.float32),
            "greedy_optimal": out["gopt"].astype(np.float32),
            "episodes_to_optimal": episodes_to_optimal(out["gopt"]),
            "grid": grid,
            "regret": regret.astype(np.float32),
            "final_regret": regret[-1].astype(np.float64),
            "optimal_episode_fraction": optimal_episode.sum(axis=0)
            / np.maximum(finished.sum(axis=0), 1),
        }
        record: dict[str, Any] = {"regret_kind": "episodic",
                                  "optimal_start_value": self.optimal_values[0]}
        if len(self.optimal_values) > 1:
            record["optimal_start_values"] = self.optimal_values
        return arrays, record


# --------------------------------------------------------------------------------------------
# Supervised tasks: accuracy.
# --------------------------------------------------------------------------------------------


class AccuracyRecorder(BaseRecorder):
    """Right answers over questions asked, per learner: a step asks a question when
    ``info["optimal_expected_reward"]`` is 1 and is answered right when
    ``info["expected_reward"]`` is 1 (the supervised envs' convention).

    Arrays: ``questions`` (n,), ``correct`` (n,), ``final_accuracy`` (n,) the share right over
    the whole budget, ``grid`` and ``accuracy_curve`` (G, n), the share right up to each
    grid step (NaN before the first question)."""

    def start(self, setup: RolloutSetup) -> None:
        if setup.envs_per_learner != 1 or setup.budget_unit != "steps":
            raise ValueError("the accuracy recorder needs one env copy per learner and a "
                             "budget in env steps")
        self.setup = setup
        n = setup.learners
        self.grid = time_grid(setup.budget)
        self.record_at = {int(s): g for g, s in enumerate(self.grid)}
        self.questions = np.zeros(n)
        self.correct = np.zeros(n)
        self.curve = np.full((self.grid.size, n), np.nan)

    def step(self, batch: StepBatch) -> None:
        info = batch.info
        asked = (np.asarray(info["optimal_expected_reward"]) > 0) & batch.live
        right = (np.asarray(info["expected_reward"]) > 0) & asked
        self.questions += asked
        self.correct += right
        g = self.record_at.get(batch.t)
        if g is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                self.curve[g] = np.where(self.questions > 0,
                                         self.correct / np.maximum(self.questions, 1), np.nan)

    def finish(self) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
        with np.errstate(invalid="ignore", divide="ignore"):
            final = np.where(self.questions > 0, self.correct / np.maximum(self.questions, 1),
                             np.nan)
        return {"questions": self.questions.astype(np.int64),
                "correct": self.correct.astype(np.int64), "final_accuracy": final,
                "grid": self.grid, "accuracy_curve": self.curve.astype(np.float32)}, {}


# --------------------------------------------------------------------------------------------
# Choosing the recorders.
# --------------------------------------------------------------------------------------------

BUILTIN: dict[str, type[Any]] = {"regret": RegretRecorder, "episodes": EpisodeRecorder,
                                 "model": ModelRecorder, "accuracy": AccuracyRecorder}


def make_recorder(spec: str) -> Recorder:
    """A recorder by name ("regret", "episodes", "model", "accuracy") or "module:Class"."""
    if spec in BUILTIN:
        recorder: Recorder = BUILTIN[spec]()
        return recorder
    module, sep, name = spec.partition(":")
    if not sep:
        raise ValueError(f"unknown recorder {spec!r}; use one of {', '.join(BUILTIN)} or "
                         "'module:Class'")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"recorder {spec!r} cannot be imported: {exc}") from exc
    made: Recorder = cls()
    return made


def declared_recorders(env: Any) -> tuple[str, ...] | None:
    """The recorder names in the env's metadata (:data:`RECORDERS_KEY`), or None."""
    metadata = getattr(env, "metadata", None) or {}
    names = metadata.get(RECORDERS_KEY)
    return None if names is None else tuple(names)


def default_recorders(env: Any, first_info: dict[str, Any], *, envs_per_learner: int = 1
                      ) -> list[Recorder]:
    """The recorders for ``env``, from its metadata or else from its first step's ``info``.
    The model recorder (one env copy per learner) is left out of the default choice for an
    agent whose learners step several copies (``envs_per_learner`` > 1)."""
    names = declared_recorders(env)
    if names is None:
        if offers_regret(first_info):
            names = ("regret",)
        elif exposes_model(env) and envs_per_learner == 1:
            names = ("episodes", "model")
        else:
            names = ("episodes",)
    return [make_recorder(name) for name in names]


__all__ = ["RECORDERS_KEY", "WINDOW", "AccuracyRecorder", "BaseRecorder", "EpisodeRecorder",
           "EpisodeTable", "ModelRecorder", "Recorder", "RegretRecorder", "RolloutSetup",
           "StepBatch", "declared_recorders", "default_recorders", "episode_arrays",
           "episodes_to_optimal", "exposes_model", "greedy_policy_is_optimal", "make_recorder",
           "return_curve"]
