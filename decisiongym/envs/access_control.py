"""The access-control queuing task of Sutton & Barto (2018), Example 10.2: a continuing task for
the average-reward criterion (Dobriban (2019), section 5.3.10; Sutton & Barto 2018, section 10.3).

It is a finite MDP, so the dynamics are those of :mod:`decisiongym.envs.mdp` (one batched core,
one uniform per replicate per step: the native vector env's replicate i is the single env
seeded s + i), and the env exposes its model (``transitions``, ``rewards``, ``P``) for
:func:`decisiongym.theory.relative_value_iteration`.
"""

from __future__ import annotations

from math import comb
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from decisiongym.arrays import FloatArray, IntArray
from decisiongym.envs.mdp import TabularEnv, TabularModel, TabularVectorEnv, _View
from decisiongym.envs.vector import BUDGET_KWARG, RECORDERS
from decisiongym.validation import check_choice, check_float, check_int

__all__ = ["AccessControl", "AccessControlVector", "AverageRewardRecorder",
           "access_control_model", "policy_summary"]

ENV_NAME = "AccessControl-v0"
#: Action indices.
REJECT, ACCEPT = 0, 1


def _priorities(name: str, priorities: Any) -> FloatArray:
    try:
        values = np.asarray(priorities)
    except (TypeError, ValueError):
        values = np.asarray([None])
    ok = (values.ndim == 1 and values.size >= 1
          and values.dtype.kind in "iuf" and np.isfinite(values).all())
    if not ok:
        raise ValueError(f"{name}: priorities must be a non-empty list of finite numbers (the "
                         f"reward of serving each kind of customer), got {priorities!r}")
    return np.asarray(values, dtype=np.float64)


def access_control_model(n_servers: int = 10, priorities: Any = (1, 2, 4, 8),
                         free_probability: float = 0.06, name: str = ENV_NAME
                         ) -> TabularModel:
    """The MDP of Sutton & Barto (2018), Example 10.2, as a :class:`TabularModel`.

    State index s = k (n_servers + 1) + f for f free servers and the customer at the head of the
    queue of priority ``priorities[k]`` (so a per-state array reshaped to
    (len(priorities), n_servers + 1) reads as the book's Figure 10.5: rows priorities, columns
    free servers). Actions 0 reject, 1 accept. Accepting with f > 0 takes a server and pays the
    priority; rejecting, or accepting with no free server, pays 0. Then each of the busy servers
    frees independently with probability ``free_probability`` (the one just taken too) and the
    next customer's priority is drawn uniformly. The task never ends; it starts with every
    server free.
    """
    n = check_int(name, "n_servers", n_servers, low=1)
    prio = _priorities(name, priorities)
    p_free = check_float(name, "free_probability", free_probability, low=0.0, high=1.0,
                         low_open=True)
    k_p, n_f = prio.size, n + 1
    n_s = k_p * n_f

    transitions = np.zeros((n_s, 2, n_s))
    rewards = np.zeros((n_s, 2))
    for k in range(k_p):
        for f in range(n_f):
            s = k * n_f + f
            for a in (REJECT, ACCEPT):
                served = a == ACCEPT and f > 0
                rewards[s, a] = prio[k] if served else 0.0
                after = f - 1 if served else f
                busy = n - after
                for j in range(busy + 1):  # j busy servers free up
                    pj = comb(busy, j) * p_free ** j * (1 - p_free) ** (busy - j)
                    for k2 in range(k_p):
                        transitions[s, a, k2 * n_f + after + j] += pj / k_p
    initial = np.zeros(n_s)
    initial[np.arange(k_p) * n_f + n] = 1.0 / k_p  # every server free, any priority
    return TabularModel.from_arrays(transitions, rewards, initial, (), 1.0, name)


class _AccessView(_View):
    """Observation ``"index"``: Discrete(len(priorities) (n_servers + 1)); ``"pair"``:
    MultiDiscrete([n_servers + 1, len(priorities)]) = (free servers, priority index)."""

    def __init__(self, model: TabularModel, n_servers: int, priorities: FloatArray,
                 observation: str) -> None:
        self.model = model
        self.n_servers = n_servers
        self.priorities = priorities
        self.kind = check_choice(ENV_NAME, "observation", observation, ("index", "pair"),
                                 expected="'index' or 'pair'")
        if observation == "index":
            self.single_observation_space: spaces.Space[Any] = spaces.Discrete(model.n_states)
        else:
            self.single_observation_space = spaces.MultiDiscrete([n_servers + 1,
                                                                  priorities.size])

    def encode(self, states: IntArray) -> NDArray[Any]:
        if self.kind == "index":
            return states
        n_f = self.n_servers + 1
        return np.stack([states % n_f, states // n_f], axis=1).astype(np.int64)

    def encode_one(self, state: int) -> Any:
        if self.kind == "index":
            return np.int64(state)
        return self.encode(np.array([state], dtype=np.int64))[0]

    def ansi(self, state: int) -> str:
        n_f = self.n_servers + 1
        free, k = state % n_f, state // n_f
        servers = "." * free + "#" * (self.n_servers - free)
        return (f"servers [{servers}] {free} free; customer of priority "
                f"{self.priorities[k]:g} waiting\n")

    def rgb(self, state: int) -> NDArray[np.uint8]:
        n_f, px = self.n_servers + 1, 16
        free, k = state % n_f, state // n_f
        img = np.full((2 * px, max(self.n_servers, self.priorities.size) * px, 3), 255,
                      dtype=np.uint8)
        for i in range(self.n_servers):  # first row: free (green) and busy (grey) servers
            img[2:px - 2, i * px + 2:(i + 1) * px - 2] = (80, 200, 80) if i < free \
                else (90, 90, 90)
        for j in range(self.priorities.size):  # second row: the waiting customer's priority
            img[px + 2:2 * px - 2, j * px + 2:(j + 1) * px - 2] = (40, 90, 220) if j == k \
                else (230, 230, 230)
        return img


_DOC = """The access-control queuing task of Sutton & Barto (2018), Example 10.2.

    ## Description
    ``n_servers`` servers (10) serve customers waiting in a single queue that never empties. At
    each step the customer at the head of the queue, of priority 1, 2, 4 or 8 (drawn uniformly),
    is accepted (given a free server, reward = its priority) or rejected (reward 0); with no free
    server a customer is always rejected. Then each busy server frees with probability
    ``free_probability`` (p = 0.06). A continuing task, for the average-reward criterion
    (Dobriban (2019), section 5.3.10; Sutton & Barto 2018, section 10.3): it never terminates;
    the harness's budget (``horizon``) truncates its one episode, and ``max_episode_steps``
    truncates it earlier if given. No discount: ``gamma`` is 1 and the optimum is
    ``decisiongym.theory.relative_value_iteration(env.transitions, env.rewards)``, not value
    iteration.

    ## Action Space
    ``Discrete(2)``: 0 reject, 1 accept.

    ## Observation Space
    ``observation="index"`` (default): ``Discrete(4 * 11)``, state s = k * 11 + f for f free
    servers and priority index k (a per-state array reshaped to (4, 11) reads as the book's
    Figure 10.5). ``observation="pair"``: ``MultiDiscrete([11, 4])``, (free servers, priority
    index).

    ## Rewards
    The priority of an accepted customer, else 0.

    ## Starting State
    Every server free, the first customer's priority uniform.

    ## Episode End
    Never terminates; truncated after ``horizon`` (the harness's budget) or
    ``max_episode_steps`` steps, whichever is smaller, if given.

    ## Info
    ``state``: the state index.

    ## Arguments
    ``n_servers`` (10), ``priorities`` ((1, 2, 4, 8)), ``free_probability`` (0.06),
    ``observation`` ("index" or "pair"), ``max_episode_steps``, ``horizon``, ``render_mode``
    ("ansi" or "rgb_array").
    """


def _setup_args(n_servers: Any, priorities: Any, free_probability: Any
                ) -> tuple[TabularModel, int, FloatArray]:
    model = access_control_model(n_servers, priorities, free_probability)
    return model, int(n_servers), _priorities(ENV_NAME, priorities)


class _AccessControlAttrs:
    """What both env classes offer beyond the tabular model."""

    n_servers: int
    priorities: FloatArray
    free_probability: float

    def decode(self, state: Any) -> tuple[IntArray, IntArray]:
        """(free servers, priority index) of state indices."""
        s = np.asarray(state, dtype=np.int64)
        return s % (self.n_servers + 1), s // (self.n_servers + 1)


#: The harness's budget truncates the one episode (``horizon``); it records the episodes (the
#: reward per step is ``mean_reward``) and the average-reward measures of
#: :class:`AverageRewardRecorder`, never the discounted model recorder (no discount here).
_METADATA = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4,
             BUDGET_KWARG: "horizon",
             RECORDERS: ("episodes", "decisiongym.envs.access_control:AverageRewardRecorder")}


class AccessControl(_AccessControlAttrs, TabularEnv):
    __doc__ = _DOC
    metadata = dict(_METADATA)  # noqa: RUF012
    env_name = ENV_NAME

    def __init__(self, n_servers: int = 10, priorities: Any = (1, 2, 4, 8),
                 free_probability: float = 0.06, observation: str = "index",
                 max_episode_steps: int | None = None, render_mode: str | None = None,
                 horizon: int | None = None) -> None:
        model, self.n_servers, self.priorities = _setup_args(n_servers, priorities,
                                                             free_probability)
        self.free_probability = float(free_probability)
        view = _AccessView(model, self.n_servers, self.priorities, observation)
        self._setup(model, view, max_episode_steps, render_mode, horizon)


class AccessControlVector(_AccessControlAttrs, TabularVectorEnv):
    __doc__ = _DOC
    metadata = dict(_METADATA)  # noqa: RUF012
    env_name = ENV_NAME

    def __init__(self, num_envs: int = 1, n_servers: int = 10, priorities: Any = (1, 2, 4, 8),
                 free_probability: float = 0.06, observation: str = "index",
                 max_episode_steps: int | None = None, render_mode: str | None = None,
                 horizon: int | None = None) -> None:
        model, self.n_servers, self.priorities = _setup_args(n_servers, priorities,
                                                             free_probability)
        self.free_probability = float(free_probability)
        view = _AccessView(model, self.n_servers, self.priorities, observation)
        self._setup(model, view, num_envs, max_episode_steps, render_mode, horizon)


# --------------------------------------------------------------------------------------------
# What the harness records on a continuing task (declared in the metadata above).
# --------------------------------------------------------------------------------------------


def _model_of(env: Any) -> tuple[FloatArray, FloatArray]:
    """(transitions, rewards) of a vector env of a finite MDP (native or Gymnasium's sync)."""
    targets = [env, getattr(env, "unwrapped", None)]
    targets += [e.unwrapped for e in list(getattr(env, "envs", []))[:1]]
    for target in targets:
        p, r = getattr(target, "transitions", None), getattr(target, "rewards", None)
        if p is not None and r is not None:
            return np.asarray(p, dtype=np.float64), np.asarray(r, dtype=np.float64)
    raise ValueError("AverageRewardRecorder: the env exposes no finite MDP (transitions, "
                     "rewards); use a native or sync vector env")


class AverageRewardRecorder:
    """The average-reward criterion on a continuing finite MDP (Dobriban (2019), section
    5.3.10; Sutton & Barto 2018, section 10.3), for the harness's rollout loop (a
    :class:`decisiongym.harness.recorders.Recorder`).

    Arrays, one entry per learner (n,) unless stated: ``optimal_average_reward``, rho_* of
    :func:`decisiongym.theory.relative_value_iteration`; ``late_mean_reward``, the reward per
    step over the second half of the budget. For an agent with ``greedy_policy()`` (a table
    (n, S)): ``greedy_policy`` (S, n); ``greedy_average_reward``, the exact gain of that
    deterministic policy; ``behaviour_average_reward``, the exact gain of its epsilon-greedy
    version (epsilon: the agent's ``epsilon``), what an on-policy R_bar estimates;
    ``greedy_optimal_share``, the share of time steps (weighted by the behaviour policy's
    stationary distribution) spent in states where the greedy action is gain-optimal (within
    1e-6 of the best differential action value). For an agent with ``average_reward``:
    ``learned_average_reward``, its R_bar. Record: ``optimal_average_reward``.
    """

    def start(self, setup: Any) -> None:
        if setup.envs_per_learner != 1:
            raise ValueError("AverageRewardRecorder needs one env copy per learner")
        self.setup = setup
        self._load(setup.env)
        n = setup.learners
        self.late = np.zeros(n)
        self.late_steps = np.zeros(n)
        self.half = setup.budget // 2 if setup.budget_unit == "steps" else 0

    def _load(self, env: Any) -> None:
        from decisiongym.theory.linear import relative_value_iteration

        self.p, self.r = _model_of(env)
        self.gain, self.h, _ = relative_value_iteration(self.p, self.r)

    def new_phase(self, env: Any) -> None:
        self._load(env)

    def step(self, batch: Any) -> None:
        if batch.env_steps <= self.half:
            return
        live = np.asarray(batch.live, dtype=bool)
        self.late += np.where(live, np.asarray(batch.rewards, dtype=np.float64), 0.0)
        self.late_steps += live

    def finish(self) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
        n = self.setup.learners
        arrays: dict[str, NDArray[Any]] = {
            "optimal_average_reward": np.full(n, self.gain),
            "late_mean_reward": self.late / np.maximum(self.late_steps, 1),
        }
        agent = self.setup.agent
        r_bar = getattr(agent, "average_reward", None)
        if r_bar is not None:
            arrays["learned_average_reward"] = np.asarray(r_bar, dtype=np.float64).reshape(n)
        greedy = getattr(agent, "greedy_policy", None)
        if callable(greedy):
            policies = np.asarray(greedy(), dtype=np.int64).reshape(n, -1)
            summary = policy_summary(self.p, self.r, policies,
                                     float(getattr(agent, "epsilon", 0.0) or 0.0),
                                     optimum=(self.gain, self.h))
            arrays.update({"greedy_policy": policies.T.copy(),
                           "greedy_average_reward": summary["greedy_average_reward"],
                           "behaviour_average_reward": summary["behaviour_average_reward"],
                           "greedy_optimal_share": summary["greedy_optimal_share"]})
        return arrays, {"optimal_average_reward": float(self.gain)}


def policy_summary(transitions: Any, rewards: Any, policies: Any, epsilon: float = 0.0, *,
                   optimum: tuple[float, FloatArray] | None = None) -> dict[str, Any]:
    """How good deterministic policies (m, S) are on a continuing finite MDP, exactly.

    Returns ``optimal_average_reward`` rho_* and ``optimal_policy`` (S,) of relative value
    iteration; per policy (m,): ``greedy_average_reward``, its gain;
    ``behaviour_average_reward``, the gain of its ``epsilon``-greedy version;
    ``greedy_optimal_share``, the share of time (under the stationary distribution of the
    epsilon-greedy version, epsilon = 0.1 where 0) spent in states whose action is
    gain-optimal (within 1e-6 of the best differential action value); ``agreement`` (m, S),
    whether each state's action is gain-optimal.
    """
    from decisiongym.theory.linear import (
        average_reward_evaluation,
        differential_action_values,
        relative_value_iteration,
        stationary_distribution,
    )

    p = np.asarray(transitions, dtype=np.float64)
    r = np.asarray(rewards, dtype=np.float64)
    gain, h, best = relative_value_iteration(p, r)
    if optimum is not None:
        gain, h = optimum
    n_s, n_a = r.shape
    pols = np.asarray(policies, dtype=np.int64).reshape(-1, n_s)
    q = differential_action_values(p, r, h, gain)
    optimal = q >= q.max(axis=1, keepdims=True) - 1e-6
    m = pols.shape[0]
    gains, behaviour, share = np.zeros(m), np.zeros(m), np.zeros(m)
    agreement = optimal[np.arange(n_s)[None, :], pols]
    for i, actions in enumerate(pols):
        pi = np.eye(n_a)[actions]
        gains[i] = average_reward_evaluation(p, r, pi)[0]
        mixed = (1 - epsilon) * pi + epsilon / n_a
        behaviour[i] = average_reward_evaluation(p, r, mixed)[0]
        weights = stationary_distribution(p, mixed if epsilon > 0 else 0.9 * pi + 0.1 / n_a)
        share[i] = float(weights @ agreement[i])
    return {"optimal_average_reward": float(gain), "optimal_policy": best,
            "greedy_average_reward": gains, "behaviour_average_reward": behaviour,
            "greedy_optimal_share": share, "agreement": agreement}
