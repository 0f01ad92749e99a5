"""MAXQ value function decomposition and MAXQ-Q learning on Gymnasium's Taxi (v3, now Taxi-v4)
(Dietterich 2000, "Hierarchical reinforcement learning with the MAXQ value function
decomposition", JAIR 13; seed 5.3.12, item 3), with flat Q-learning on the same task.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

__all__ = ["TAXI_ID", "TAXI_TASKS", "MaxQQ", "TaxiRun", "flat_q_taxi", "greedy_returns",
           "run_maxq_taxi", "taxi_optimal_values"]

FloatArray = NDArray[np.float64]

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
            env.unwrapped.s = int(s)  # type: ignore[attr-defined]
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


@dataclass
class TaxiRun:
    """Per-episode undiscounted returns (E, n) and the learners (MAXQ only)."""

    episode_return: FloatArray
    learners: list[Any]


def run_maxq_taxi(*, episodes: int, replicates: int, seed: int, **params: Any) -> TaxiRun:
    """MAXQ-Q learning on Taxi-v3 for ``episodes`` episodes (200-step limit), per replicate."""
    returns = np.zeros((episodes, replicates))
    learners = []
    for i in range(replicates):
        env = gym.make(TAXI_ID)
        learner = MaxQQ(seed=seed + i, **params)
        s, _ = env.reset(seed=seed + i)
        for e in range(episodes):
            out: dict[str, Any] = {"return": 0.0, "done": False}
            learner.run(env, ROOT, int(s), out)
            returns[e, i] = out["return"]
            s, _ = env.reset()
        learners.append(learner)
    return TaxiRun(returns, learners)


def flat_q_taxi(*, episodes: int, replicates: int, seed: int, alpha: float = 0.25,
                gamma: float = 1.0, epsilon: float = 0.1) -> TaxiRun:
    """Flat epsilon-greedy Q-learning on Taxi-v3, vectorised over replicates."""
    envs = gym.make_vec(TAXI_ID, num_envs=replicates, vectorization_mode="sync")
    rng = np.random.default_rng(seed)
    q = np.zeros((replicates, 500, 6))
    rows = np.arange(replicates)
    returns = np.full((episodes, replicates), np.nan)
    episode = np.zeros(replicates, dtype=np.int64)
    g = np.zeros(replicates)
    s, _ = envs.reset(seed=seed)
    fresh = np.zeros(replicates, dtype=bool)
    while episode.min() < episodes:
        qs = q[rows, s]
        greedy = np.where(qs == qs.max(axis=1, keepdims=True), rng.random(qs.shape), -1.0)
        a = np.where(rng.random(replicates) < epsilon, rng.integers(0, 6, replicates),
                     greedy.argmax(axis=1))
        s2, r, term, trunc, _ = envs.step(a)
        live = ~fresh
        target = r + gamma * np.where(term, 0.0, q[rows, s2].max(axis=1))
        upd = q[rows, s, a] + alpha * (target - q[rows, s, a])
        q[rows, s, a] = np.where(live, upd, q[rows, s, a])
        g += np.where(live, r, 0.0)
        done = (term | trunc) & live
        for i in np.flatnonzero(done).tolist():
            if episode[i] < episodes:
                returns[episode[i], i] = g[i]
            episode[i] += 1
        g[done] = 0.0
        fresh = done
        s = s2
    return TaxiRun(returns, [q])
