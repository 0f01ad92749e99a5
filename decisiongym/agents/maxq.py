"""MAXQ value function decomposition and MAXQ-Q learning on Gymnasium's Taxi (v3, now Taxi-v4)
(Dietterich 2000, "Hierarchical reinforcement learning with the MAXQ value function
decomposition", JAIR 13; Dobriban (2019), section 5.3.12, item 3).

The task graph (Dietterich's Figure 2):

    Root -> Get, Put
    Get  -> Navigate(t) for t in R, G, Y, B;  Pickup
    Put  -> Navigate(t) for t in R, G, Y, B;  Putdown
    Navigate(t) -> North, South, East, West

Get ends when the passenger is in the taxi, Put when it is not (delivered), Navigate(t) when
the taxi is at landmark t, Root with the episode. Each subtask i keeps a completion function
C(i, s, a): the expected return after child a finishes until i finishes; primitives keep
V(a, s), their expected reward. The decomposition is

    Q(i, s, a) = V(a, s) + C(i, s, a),   V(i, s) = max_a Q(i, s, a)  (composite i),

so V(Root, s) = V(a_m, s) + C(a_{m-1}, s, a_m) + ... + C(Root, s, a_1) along the greedy path
(Dietterich's eq. 10): :meth:`MaxQQ.decomposition` returns these terms. MAXQ-Q learning
(his Table 4) updates C(i, s, a) += alpha [gamma^N (C(i, s', a*) + V(a*, s')) - C(i, s, a)]
with a* = argmax_a' Q(i, s', a') after child a ran N steps from s to s'. The tables use his
state abstractions (:func:`_abstract`); runs are Python loops per replicate (the recursion
does not batch).

The agent ``maxq-q`` (params ``alpha``, ``gamma``, ``epsilon``) trains with a loop of its own,
:func:`train_maxq` (registered with it): :func:`run_maxq` for the harness's budget of env steps,
handing back per-episode records that the harness turns into its episode arrays::

    from decisiongym.harness import run
    run("Taxi-v4", "maxq-q", replicates=2, horizon=50_000)["final_return"]

Its flat baseline is the registered ``q-learning`` agent on the same env
(``run("Taxi-v4", "q-learning", ..., agent_params={"alpha": ..., "gamma": ..., "epsilon": ...})``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from decisiongym.agents.base import OwnLoopAgent, TrainingTask, episode_records, register
from decisiongym.arrays import FloatArray

__all__ = ["TAXI_ID", "TAXI_TASKS", "MaxQAgent", "MaxQQ", "MaxQRun", "greedy_returns", "run_maxq",
           "taxi_optimal_values", "train_maxq"]


#: Gymnasium 1.x retired Taxi-v3 (``DeprecatedEnv``); Taxi-v4 is the same task by default
#: (no rain, no fickle passenger): 500 states, 6 actions, -1 per step, +20 on delivery, -10 for
#: an illegal pickup or dropoff, 200 steps per episode.
TAXI_ID = "Taxi-v4"

# Taxi-v3 primitives: 0 south, 1 north, 2 east, 3 west, 4 pickup, 5 dropoff.
SOUTH, NORTH, EAST, WEST, PICKUP, PUTDOWN = range(6)
# Composite task ids after the six primitives.
ROOT, GET, PUT = 6, 7, 8
NAV = (9, 10, 11, 12)  # Navigate(R), (G), (Y), (B)
TAXI_TASKS = {ROOT: "Root", GET: "Get", PUT: "Put", NAV[0]: "Navigate(R)",
              NAV[1]: "Navigate(G)", NAV[2]: "Navigate(Y)", NAV[3]: "Navigate(B)",
              SOUTH: "South", NORTH: "North", EAST: "East", WEST: "West",
              PICKUP: "Pickup", PUTDOWN: "Putdown"}
CHILDREN: dict[int, tuple[int, ...]] = {
    ROOT: (GET, PUT), GET: (*NAV, PICKUP), PUT: (*NAV, PUTDOWN),
    **{n: (SOUTH, NORTH, EAST, WEST) for n in NAV}}
LANDMARKS = ((0, 0), (0, 4), (4, 0), (4, 3))  # R, G, Y, B


class _TaxiState(Protocol):
    """Gymnasium's Taxi keeps its current state in ``s``: setting it starts the episode there."""

    s: int


def _abstract(task: int, s: int) -> int:
    """Dietterich's state abstraction (max node irrelevance): the representative state that
    stands for ``s`` in ``task``'s tables. Navigate(t) and the moves see only the taxi's
    position; Get also the passenger's location; Put, Pickup, Putdown and Root all of s."""
    if task in NAV or task < 4:
        return (s // 20) * 20
    if task == GET:
        return (s // 4) * 4
    return s


def _decode(s: int) -> tuple[int, int, int, int]:
    dest = s % 4
    s //= 4
    passenger = s % 5
    s //= 5
    return s // 5, s % 5, passenger, dest


class MaxQQ:
    """MAXQ-Q learning on Taxi-v3 (one learner; see the module docstring).

    ``alpha`` (0.25), ``gamma`` (1.0), ``epsilon`` (0.1: epsilon-greedy at every subtask)."""

    def __init__(self, *, alpha: float = 0.25, gamma: float = 1.0, epsilon: float = 0.1,
                 seed: int = 0) -> None:
        for name, value, lo in (("alpha", alpha, 0.0), ("gamma", gamma, 0.0),
                                ("epsilon", epsilon, 0.0)):
            if not lo <= float(value) <= 1.0:
                raise ValueError(f"maxq-q: {name} must be in [0, 1], got {value!r}")
        self.alpha, self.gamma, self.epsilon = float(alpha), float(gamma), float(epsilon)
        self.rng = np.random.default_rng(seed)
        self.v_prim = np.zeros((6, 500))
        self.c = np.zeros((13, 500, 13))

    # ----- the decomposition -------------------------------------------------------------------
    def terminated(self, task: int, s: int) -> bool:
        row, col, passenger, _ = _decode(s)
        if task == GET:
            return passenger == 4
        if task == PUT:
            return passenger != 4
        if task in NAV:
            return (row, col) == LANDMARKS[NAV.index(task)]
        return False

    def value(self, task: int, s: int) -> float:
        """V(task, s): the primitive's expected reward, or max_a Q(task, s, a)."""
        if task < 6:
            return float(self.v_prim[task, _abstract(task, s)])
        return max(self.q(task, s, a) for a in self._available(task, s))

    def q(self, task: int, s: int, a: int) -> float:
        return self.value(a, s) + float(self.c[task, _abstract(task, s), a])

    def _available(self, task: int, s: int) -> tuple[int, ...]:
        kids = tuple(a for a in CHILDREN[task] if a < 6 or not self.terminated(a, s))
        return kids or CHILDREN[task]

    def greedy(self, task: int, s: int) -> int:
        kids = self._available(task, s)
        values = np.array([self.q(task, s, a) for a in kids])
        best = np.flatnonzero(values == values.max())
        return kids[int(self.rng.choice(best))]

    def decomposition(self, s: int) -> list[tuple[str, float]]:
        """The terms of V(Root, s) along the greedy path: (C(i, s, a) for each composite i, then
        V(primitive, s)); they sum to :meth:`value` (ROOT, s)."""
        terms, task = [], ROOT
        while task >= 6:
            kids = self._available(task, s)
            a = kids[int(np.argmax([self.q(task, s, k) for k in kids]))]
            terms.append((f"C({TAXI_TASKS[task]}, s, {TAXI_TASKS[a]})",
                          float(self.c[task, _abstract(task, s), a])))
            task = a
        terms.append((f"V({TAXI_TASKS[task]}, s)",
                      float(self.v_prim[task, _abstract(task, s)])))
        return terms

    # ----- MAXQ-Q learning (Dietterich's Table 4) ---------------------------------------------
    def run(self, env: gym.Env[Any, Any], task: int, s: int, out: dict[str, Any]
            ) -> tuple[int, int]:
        """Execute ``task`` from ``s`` in ``env``, learning; return (steps, final state)."""
        if task < 6:
            s2, r, term, trunc, _ = env.step(task)
            out["return"] += float(r)
            out["done"] = bool(term or trunc)
            k = _abstract(task, s)
            self.v_prim[task, k] += self.alpha * (float(r) - self.v_prim[task, k])
            return 1, int(s2)
        total = 0
        while not out["done"] and not self.terminated(task, s):
            kids = self._available(task, s)
            a = int(self.rng.choice(kids)) if self.rng.random() < self.epsilon \
                else self.greedy(task, s)
            n, s2 = self.run(env, a, s, out)
            if out.get("terminal"):
                target = 0.0  # the episode ended: nothing is left to complete
            elif self.terminated(task, s2) or out["done"]:
                target = 0.0
            else:
                best = self.greedy(task, s2)
                target = self.gamma ** n * (float(self.c[task, _abstract(task, s2), best])
                                            + self.value(best, s2))
            k = _abstract(task, s)
            self.c[task, k, a] += self.alpha * (target - self.c[task, k, a])
            total += n
            s = s2
        return total, s


def greedy_returns(learner: MaxQQ, starts: Any, *, max_steps: int = 200) -> FloatArray:
    """The undiscounted return of the learner's greedy hierarchical policy from each start
    state (Taxi is deterministic), without learning."""
    alpha, epsilon = learner.alpha, learner.epsilon
    learner.alpha, learner.epsilon = 0.0, 0.0
    out = np.zeros(len(starts))
    try:
        env = gym.make(TAXI_ID, max_episode_steps=max_steps)
        env.reset(seed=0)
        for i, s in enumerate(starts):
            env.reset()
            cast(_TaxiState, env.unwrapped).s = int(s)
            record: dict[str, Any] = {"return": 0.0, "done": False}
            learner.run(env, ROOT, int(s), record)
            out[i] = record["return"]
    finally:
        learner.alpha, learner.epsilon = alpha, epsilon
    return out


def taxi_optimal_values(gamma: float = 1.0, iterations: int = 100) -> FloatArray:
    """V*(s) of flat Taxi by value iteration on its model ``P`` (the flat value MAXQ's
    decomposition must add up to)."""
    u: Any = gym.make(TAXI_ID).unwrapped
    p = np.zeros((500, 6, 500))
    r = np.zeros((500, 6))
    for s in range(500):
        for a in range(6):
            for prob, s2, rew, done in u.P[s][a]:
                r[s, a] += prob * rew
                if not done:
                    p[s, a, s2] += prob
    v = np.zeros(500)
    for _ in range(iterations):
        v = (r + gamma * p @ v).max(axis=1)
    return v


class _BudgetSpent(Exception):
    """The learner's budget of env steps is spent (raised before the step that would pass it)."""


class _StepBudget(gym.Wrapper[Any, Any, Any, Any]):
    """Counts the env steps; the step past ``budget`` raises :class:`_BudgetSpent` before the
    env moves, so MAXQ-Q's recursion stops with no update from a step that was not taken."""

    def __init__(self, env: gym.Env[Any, Any], budget: int) -> None:
        super().__init__(env)
        self.budget, self.steps = budget, 0

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        if self.steps >= self.budget:
            raise _BudgetSpent
        self.steps += 1
        return self.env.step(action)


@dataclass
class MaxQRun:
    """Per-episode records (E, n), NaN past a learner's last finished episode: the undiscounted
    return, the length and the env step (1-based) at which the episode ended; and the
    learners."""

    episode_return: FloatArray
    episode_length: FloatArray
    episode_end_step: FloatArray
    learners: list[MaxQQ]


def run_maxq(*, steps: int, replicates: int, seed: int, env_id: str = TAXI_ID,
             env_kwargs: dict[str, Any] | None = None, **params: Any) -> MaxQRun:
    """MAXQ-Q learning on Taxi (``env_id`` made with ``env_kwargs``: 200 steps per episode)
    for ``steps`` env steps per learner; learner i and its env are seeded ``seed + i``. The
    episode under way when the budget runs out is not recorded."""
    returns: list[list[float]] = [[] for _ in range(replicates)]
    lengths: list[list[float]] = [[] for _ in range(replicates)]
    ends: list[list[float]] = [[] for _ in range(replicates)]
    learners = []
    for i in range(replicates):
        env = _StepBudget(gym.make(env_id, **dict(env_kwargs or {})), steps)
        learner = MaxQQ(seed=seed + i, **params)
        s, _ = env.reset(seed=seed + i)
        try:
            while True:
                start = env.steps
                out: dict[str, Any] = {"return": 0.0, "done": False}
                learner.run(env, ROOT, int(s), out)
                returns[i].append(out["return"])
                lengths[i].append(float(env.steps - start))
                ends[i].append(float(env.steps))
                s, _ = env.reset()
        except _BudgetSpent:
            pass
        finally:
            env.close()
        learners.append(learner)
    return MaxQRun(episode_records(returns), episode_records(lengths), episode_records(ends),
                   learners)


# --------------------------------------------------------------------------------------------
# MAXQ-Q as a registered agent, trained by a loop of its own.
# --------------------------------------------------------------------------------------------

_LOOP = "decisiongym.agents.maxq:train_maxq"


@register("maxq-q", "MAXQ-Q learning with Dietterich's task graph and state abstractions "
          "(Dietterich 2000) on Taxi-v4; trains with its own loop", training_loop=_LOOP)
class MaxQAgent(OwnLoopAgent):
    """MAXQ-Q learning on Taxi, trained by :func:`train_maxq` (the harness hands it the task):
    ``alpha`` in (0, 1], ``gamma`` and ``epsilon`` in [0, 1] (epsilon-greedy at every
    subtask)."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 alpha: float = 0.25, gamma: float = 1.0, epsilon: float = 0.1) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        if observation_space != spaces.Discrete(500) or action_space != spaces.Discrete(6):
            raise ValueError(f"{self.name}: needs Taxi's spaces (observation space "
                             f"Discrete(500), action space Discrete(6)), got observation space "
                             f"{observation_space!r} and action space {action_space!r}")
        self.alpha = self._check_float("alpha", alpha, low=0.0, high=1.0, low_open=True)
        self.gamma = self._check_float("gamma", gamma, low=0.0, high=1.0)
        self.epsilon = self._check_float("epsilon", epsilon, low=0.0, high=1.0)


def train_maxq(task: TrainingTask) -> tuple[dict[str, FloatArray], dict[str, Any]]:
    """The training loop of ``maxq-q``: :func:`run_maxq` on ``task.env_id`` (Gymnasium's Taxi,
    whose task graph MAXQ-Q's is) for ``task.budget`` env steps per learner, learner i seeded
    ``task.seed + i``. Returns per-episode ``episode_return`` (undiscounted),
    ``episode_length`` and ``episode_end_step`` (E, learners), from which the harness builds
    its episode arrays."""
    from gymnasium.envs.toy_text.taxi import TaxiEnv

    env = gym.make(task.env_id, **task.env_kwargs)
    try:
        if not isinstance(env.unwrapped, TaxiEnv):
            raise ValueError(f"{task.agent}: MAXQ-Q's task graph is Taxi's ({TAXI_ID}); "
                             f"{task.env_id!r} is not Taxi")
    finally:
        env.close()
    run = run_maxq(steps=task.budget, replicates=task.replicates, seed=task.seed,
                   env_id=task.env_id, env_kwargs=task.env_kwargs, **task.params)
    return ({"episode_return": run.episode_return, "episode_length": run.episode_length,
             "episode_end_step": run.episode_end_step}, {})
