"""Options and semi-Markov decision processes (Sutton, Precup & Singh 1999, "Between MDPs and
semi-MDPs: a framework for temporal abstraction in reinforcement learning", Artificial
Intelligence 112; Dobriban (2019), section 5.3.12, item 5).

- :class:`Option`: an initiation set I, a policy pi and a termination condition beta; Markov
  options, and semi-Markov options that time out after ``max_steps`` steps (Dobriban (2019), section
  5.3.12, item 5(g)).
- :func:`primitive_options` (one-step options, beta = 1 everywhere) and
  :func:`hallway_options`, the eight hallway options of the paper's four-room world.
- :func:`option_model`: the multi-time model of an option, R(s, o) = E[r_1 + gamma r_2 + ... +
  gamma^(k-1) r_k] and P(s'|s, o) = sum_k gamma^k p(s', k) (Dobriban (2019), section
  5.3.12, item 5(k)).
- :func:`smdp_value_iteration`: v(s) = max_o [R(s, o) + sum_s' P(s'|s, o) v(s')] (Dobriban
  (2019), section 5.3.12, item 5(c)).
- :class:`OptionsWrapper`: an environment plus options as a Gymnasium SMDP environment.
- :func:`run_option_learning`: SMDP Q-learning, intra-option Q-learning and flat Q-learning
  (SMDP Q-learning over the primitive options), batched over replicates.
- The agents ``smdp-q`` and ``intra-option-q`` (params ``options``, one of
  :data:`OPTION_SETS`, ``alpha``, ``epsilon``, ``max_episode_steps``): these learners train
  with a loop of their own, :func:`train_option_learner` (registered with them), which runs
  :func:`run_option_learning` on the env's model for the harness's budget of primitive steps
  and hands back per-episode records; the harness turns them into its episode arrays.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, SupportsFloat, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from decisiongym.agents.base import OwnLoopAgent, TrainingTask, register
from decisiongym.arrays import BoolArray, FloatArray, IntArray
from decisiongym.validation import check_choice, check_tabular_spaces

__all__ = [
    "METHODS",
    "OPTION_SETS",
    "SMDPQ",
    "IntraOptionQ",
    "Option",
    "OptionLearningRun",
    "OptionsWrapper",
    "hallway_options",
    "option_model",
    "options_models",
    "primitive_options",
    "run_option_learning",
    "smdp_value_iteration",
    "train_option_learner",
]


@dataclass(frozen=True)
class Option:
    """An option <I, pi, beta> over a finite MDP with S states.

    ``initiation`` (S,) bool: where the option may start. ``policy`` (S,) int: the primitive
    action it takes in each state (deterministic, as the hallway options). ``termination`` (S,)
    float in [0, 1]: beta(s), the probability of stopping on arriving in s. ``max_steps``: a
    semi-Markov option also stops after this many steps (a time-out), whatever the state."""

    name: str
    initiation: BoolArray
    policy: IntArray
    termination: FloatArray
    max_steps: int | None = None

    def __post_init__(self) -> None:
        n = self.initiation.shape[0]
        if self.policy.shape != (n,) or self.termination.shape != (n,):
            raise ValueError(f"option {self.name!r}: initiation, policy and termination must "
                             f"all have shape ({n},)")
        if ((self.termination < 0) | (self.termination > 1)).any():
            raise ValueError(f"option {self.name!r}: termination must be in [0, 1]")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"option {self.name!r}: max_steps must be >= 1, got "
                             f"{self.max_steps!r}")

    @property
    def markov(self) -> bool:
        return self.max_steps is None


def primitive_options(n_states: int, n_actions: int) -> list[Option]:
    """Each primitive action as a one-step option: available everywhere, beta = 1."""
    return [Option(f"a{a}", np.ones(n_states, dtype=bool), np.full(n_states, a, dtype=np.int64),
                   np.ones(n_states)) for a in range(n_actions)]


def hallway_options(env: Any, max_steps: int | None = None) -> list[Option]:
    """The eight hallway options of Sutton, Precup & Singh (1999), Figure 2, for FourRooms-v0.

    For each room, two options: one to each of its hallways. Initiation set: the room's cells
    and its other hallway; policy: the shortest path (intended moves) to the target hallway
    inside the room; termination: 1 at the target hallway and outside the initiation set, 0
    elsewhere. ``max_steps`` makes them semi-Markov options with a time-out."""
    from decisiongym.envs.hierarchical import (
        FOUR_ROOMS_HALLWAYS,
        FOUR_ROOMS_LAYOUT,
        FOUR_ROOMS_MOVES,
    )

    u = env.unwrapped
    state_of, cells = u.state_of, u.cells
    grid = np.array([list(r) for r in FOUR_ROOMS_LAYOUT])
    hall = set(FOUR_ROOMS_HALLWAYS)
    rooms = {(0, 0): (range(1, 6), range(1, 6)), (0, 1): (range(1, 7), range(7, 12)),
             (1, 0): (range(7, 12), range(1, 6)), (1, 1): (range(8, 12), range(7, 12))}
    n_s = len(cells)
    options = []
    for (rr, rc), (rows, cols) in rooms.items():
        room = {(r, c) for r in rows for c in cols if grid[r, c] != "#"} - hall
        doors = sorted(h for h in hall if any((h[0] + dr, h[1] + dc) in room for dr, dc in
                                              FOUR_ROOMS_MOVES.tolist()))
        for target in doors:
            other = [d for d in doors if d != target]
            area = room | set(other)
            # Breadth-first search back from the target over the area.
            dist = {target: 0}
            queue = deque([target])
            while queue:
                cur = queue.popleft()
                for dr, dc in FOUR_ROOMS_MOVES.tolist():
                    nb = (cur[0] + dr, cur[1] + dc)
                    if nb in area and nb not in dist:
                        dist[nb] = dist[cur] + 1
                        queue.append(nb)
            init = np.zeros(n_s, dtype=bool)
            policy = np.zeros(n_s, dtype=np.int64)
            for cell in area:
                s = int(state_of[cell])
                init[s] = True
                away = [dist.get((cell[0] + int(FOUR_ROOMS_MOVES[a, 0]),
                                  cell[1] + int(FOUR_ROOMS_MOVES[a, 1])), 10 ** 6)
                        for a in range(4)]
                policy[s] = int(np.argmin(away))
            beta = np.where(init, 0.0, 1.0)
            beta[int(state_of[target])] = 1.0
            options.append(Option(f"room{rr}{rc}->hall{target}", init, policy, beta,
                                  max_steps))
    return options


def _policy_step(transitions: FloatArray, rewards: FloatArray, option: Option
                 ) -> tuple[FloatArray, FloatArray]:
    s = np.arange(transitions.shape[0])
    return transitions[s, option.policy], rewards[s, option.policy]


def option_model(transitions: FloatArray, rewards: FloatArray, gamma: float, option: Option,
                 *, tol: float = 1e-12, max_iterations: int = 100_000
                 ) -> tuple[FloatArray, FloatArray]:
    """The option's multi-time model (R (S,), P (S, S)) in the convention of
    :mod:`decisiongym.theory.mdp` (terminal states have zero rows, so the episode's end stops the
    option with value 0). Rows outside the initiation set are computed too (as if started there).

    R(s) = E[sum_{t<k} gamma^t r_{t+1}], P(s'|s) = E[gamma^k 1{s_k = s'}], k the duration."""
    p_pi, r_pi = _policy_step(np.asarray(transitions, dtype=np.float64),
                              np.asarray(rewards, dtype=np.float64), option)
    n = p_pi.shape[0]
    beta = option.termination
    if option.markov:
        # R = r_pi + gamma P_pi (1 - beta) R;  P = gamma P_pi beta + gamma P_pi (1 - beta) P.
        m = gamma * p_pi * (1.0 - beta)[None, :]
        inv = np.linalg.inv(np.eye(n) - m)
        return inv @ r_pi, inv @ (gamma * p_pi * beta[None, :])
    running = np.eye(n)  # gamma^t P(still running, at x after t steps | started in s)
    r_total, p_total = np.zeros(n), np.zeros((n, n))
    for t in range(1, min(int(option.max_steps or 0), max_iterations) + 1):
        r_total += running @ r_pi
        nxt = gamma * (running @ p_pi)
        if t == option.max_steps:
            p_total += nxt  # the time-out: stop wherever the agent is
            break
        p_total += nxt * beta[None, :]
        running = nxt * (1.0 - beta)[None, :]
        if running.sum() < tol:
            break
    return r_total, p_total


def options_models(transitions: FloatArray, rewards: FloatArray, gamma: float,
                   options: Sequence[Option]) -> tuple[FloatArray, FloatArray, BoolArray]:
    """R (S, O), P (S, O, S) and the availability mask (S, O) of a set of options."""
    models = [option_model(transitions, rewards, gamma, o) for o in options]
    r = np.stack([m[0] for m in models], axis=1)
    p = np.stack([m[1] for m in models], axis=1)
    avail = np.stack([o.initiation for o in options], axis=1)
    return r, p, avail


def smdp_value_iteration(transitions: FloatArray, rewards: FloatArray, gamma: float,
                         options: Sequence[Option], *, tol: float = 1e-10,
                         max_iterations: int = 10_000, history: bool = False
                         ) -> tuple[FloatArray, FloatArray, int, list[FloatArray]]:
    """Synchronous value iteration on the SMDP of the options, from v = 0.

    Returns v (S,), q (S, O) (-inf where an option is unavailable), the iterations until the
    largest change fell below ``tol``, and (if ``history``) v after each iteration."""
    r, p, avail = options_models(transitions, rewards, gamma, options)
    v = np.zeros(r.shape[0])
    seen: list[FloatArray] = []
    q = np.full(r.shape, -np.inf)
    for it in range(1, max_iterations + 1):
        q = np.where(avail, r + p @ v, -np.inf)
        new = q.max(axis=1)
        new = np.where(np.isfinite(new), new, 0.0)
        if history:
            seen.append(new.copy())
        delta = float(np.abs(new - v).max())
        v = new
        if delta < tol:
            return v, q, it, seen
    return v, q, max_iterations, seen


class _TabularState(Protocol):
    """An env that exposes its current state index (the tabular envs of
    :mod:`decisiongym.envs.mdp` do)."""

    @property
    def state(self) -> int: ...


class _Discounted(Protocol):
    """An env that declares its discount factor (the tabular envs do)."""

    @property
    def gamma(self) -> float: ...


class OptionsWrapper(gym.Env[Any, np.int64]):
    """An environment plus a set of options as a Gymnasium SMDP environment.

    The action is an option index. ``step`` runs the option in the wrapped environment until it
    terminates (beta, its time-out, or the episode's end) and returns the last observation, the
    option's discounted return sum_{t<k} gamma^t r_{t+1} as the reward, and in ``info``:
    ``duration`` (k), ``discounted_return``, ``undiscounted_return``, ``discount`` (gamma^k)
    and ``available`` (the options that may start in the new state). An option that may not
    start in the current state raises ``ValueError``. The wrapped env must expose its state as
    ``env.unwrapped.state`` (the tabular envs do)."""

    metadata = {"render_modes": ["ansi"]}  # noqa: RUF012

    def __init__(self, env: gym.Env[Any, Any], options: Sequence[Option],
                 gamma: float | None = None) -> None:
        if not options:
            raise ValueError("OptionsWrapper: give at least one option")
        self.env = env
        self.options = list(options)
        self.gamma = float(cast(_Discounted, env.unwrapped).gamma if gamma is None else gamma)
        self.observation_space = env.observation_space
        self.action_space = spaces.Discrete(len(self.options))
        self._avail = np.stack([o.initiation for o in self.options], axis=1)
        self._done = True

    def _state(self) -> int:
        return int(cast(_TabularState, self.env.unwrapped).state)

    def available(self, state: int) -> BoolArray:
        return np.asarray(self._avail[state].copy())

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        obs, info = self.env.reset(seed=seed, options=options)
        self._done = False
        state = self._state()
        return obs, {**info, "available": self.available(state)}

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._done:
            raise gym.error.ResetNeeded("OptionsWrapper: call reset() before step()")
        valid = np.ndim(action) == 0 and not isinstance(action, bool) \
            and float(action) == int(action) and 0 <= int(action) < len(self.options)
        if not valid:
            raise ValueError(f"OptionsWrapper: action must be an option index in "
                             f"[0, {len(self.options)}), got {action!r}")
        option = self.options[int(action)]
        state = self._state()
        if not option.initiation[state]:
            raise ValueError(f"OptionsWrapper: option {option.name!r} may not start in state "
                             f"{state}")
        g, discount, total, k = 0.0, 1.0, 0.0, 0
        terminated = truncated = False
        info: dict[str, Any] = {}
        obs: Any = None
        while True:
            obs, r, terminated, truncated, info = self.env.step(option.policy[state])
            g += discount * float(r)
            total += float(r)
            discount *= self.gamma
            k += 1
            state = self._state()
            if terminated or truncated:
                break
            if option.max_steps is not None and k >= option.max_steps:
                break
            if self.np_random.random() < option.termination[state]:
                break
        self._done = terminated or truncated
        return obs, g, terminated, truncated, {
            **info, "duration": k, "discounted_return": g, "undiscounted_return": total,
            "discount": discount, "available": self.available(state)}

    def render(self) -> Any:
        return self.env.render()


@dataclass
class OptionLearningRun:
    """Per-episode records (E, n), NaN past a replicate's last finished episode: the length in
    primitive steps, the undiscounted return and the primitive step (1-based) at which the
    episode ended; and the final Q-tables (n, S, O)."""

    episode_length: FloatArray
    q: FloatArray
    episode_return: FloatArray
    episode_end_step: FloatArray


def run_option_learning(model: Any, options: Sequence[Option], method: str, *, replicates: int,
                        steps: int, seed: int, alpha: float = 0.125, epsilon: float = 0.1,
                        max_episode_steps: int = 1000) -> OptionLearningRun:
    """Learn Q(s, o) over ``options`` on the tabular ``model`` (a
    :class:`~decisiongym.envs.mdp.TabularModel`) for ``steps`` primitive steps per replicate,
    epsilon-greedy over the available options, as in Sutton, Precup & Singh (1999), section 3.

    ``method``: ``"smdp"`` (SMDP Q-learning: at an option's end, Q(s, o) += alpha [R + gamma^k
    max_o' Q(s', o') - Q(s, o)]) or ``"intra"`` (intra-option Q-learning: after every primitive
    step, every Markov option whose policy takes that action in that state is updated,
    Q(s, o) += alpha [r + gamma U(s', o) - Q(s, o)] with U(s', o) = (1 - beta(s')) Q(s', o) +
    beta(s') max_o' Q(s', o')). Flat Q-learning is ``"smdp"`` over the primitive options."""
    if method not in ("smdp", "intra"):
        raise ValueError(f"run_option_learning: method must be 'smdp' or 'intra', got "
                         f"{method!r}")
    rng = np.random.default_rng(seed)
    n_s, n_o = model.n_states, len(options)
    avail = np.stack([o.initiation for o in options], axis=1)
    pol = np.stack([o.policy for o in options], axis=1)  # (S, O)
    beta = np.stack([o.termination for o in options], axis=1)
    max_k = np.array([o.max_steps or 10 ** 9 for o in options])
    gamma = float(model.gamma)
    cum = np.cumsum(model.prob, axis=2)
    cum[..., -1] = np.inf
    q = np.zeros((replicates, n_s, n_o))
    rows = np.arange(replicates)
    init_cum = np.cumsum(model.initial)
    init_cum[-1] = np.inf

    def start(n: int) -> IntArray:
        return np.asarray(np.searchsorted(init_cum, rng.random(n), side="right"), np.int64)

    def choose(states: IntArray, r_: IntArray) -> IntArray:
        qs = np.where(avail[states], q[r_, states], -np.inf)
        greedy = qs.argmax(axis=1)
        ties = qs == qs.max(axis=1, keepdims=True)
        u = np.where(ties, rng.random(qs.shape), -1.0)
        greedy = u.argmax(axis=1)
        rnd = np.where(avail[states], rng.random(qs.shape), -1.0).argmax(axis=1)
        return np.where(rng.random(states.size) < epsilon, rnd, greedy).astype(np.int64)

    s = start(replicates)
    o = choose(s, rows)
    s0 = s.copy()
    g = np.zeros(replicates)
    disc = np.ones(replicates)
    k = np.zeros(replicates, dtype=np.int64)
    ep_len = np.zeros(replicates)
    ep_ret = np.zeros(replicates)
    lengths: list[list[float]] = [[] for _ in range(replicates)]
    returns: list[list[float]] = [[] for _ in range(replicates)]
    ends: list[list[float]] = [[] for _ in range(replicates)]
    for t in range(steps):
        a = pol[s, o]
        j = (cum[s, a] < rng.random(replicates)[:, None]).sum(axis=1)
        s2 = model.next_state[s, a, j]
        r = model.reward[s, a, j]
        term = model.terminal[s2]
        g += disc * r
        disc *= gamma
        k += 1
        ep_len += 1
        ep_ret += r
        if method == "intra":
            # Every option consistent with (s, a) learns from this one step.
            consistent = avail[s] & (pol[s] == a[:, None])
            best = np.where(avail[s2], q[rows, s2], -np.inf).max(axis=1)
            best = np.where(np.isfinite(best), best, 0.0)
            u = (1.0 - beta[s2]) * q[rows, s2] + beta[s2] * best[:, None]
            target = r[:, None] + gamma * np.where(term[:, None], 0.0, u)
            qs = q[rows, s]
            q[rows, s] = np.where(consistent, qs + alpha * (target - qs), qs)
        stop = term | (k >= max_k[o]) | (rng.random(replicates) < beta[s2, o])
        truncated = ~term & (ep_len >= max_episode_steps)
        stop |= truncated
        if method == "smdp" and stop.any():
            i = np.flatnonzero(stop)
            best = np.where(avail[s2[i]], q[i, s2[i]], -np.inf).max(axis=1)
            best = np.where(term[i] | ~np.isfinite(best), 0.0, best)
            target = g[i] + disc[i] * best
            q[i, s0[i], o[i]] += alpha * (target - q[i, s0[i], o[i]])
        s = s2
        done = term | truncated
        if done.any():
            i = np.flatnonzero(done)
            for done_row in i.tolist():
                lengths[done_row].append(float(ep_len[done_row]))
                returns[done_row].append(float(ep_ret[done_row]))
                ends[done_row].append(float(t + 1))
            ep_len[i] = 0
            ep_ret[i] = 0.0
            s[i] = start(i.size)
        if stop.any():
            i = np.flatnonzero(stop)
            o[i] = choose(s[i], i)
            s0[i], g[i], disc[i], k[i] = s[i], 0.0, 1.0, 0
    n_ep = max(1, max(len(x) for x in lengths))
    tables = []
    for per_row in (lengths, returns, ends):
        out = np.full((n_ep, replicates), np.nan)
        for row, x in enumerate(per_row):
            out[:len(x), row] = x
        tables.append(out)
    return OptionLearningRun(tables[0], q, tables[1], tables[2])


# --------------------------------------------------------------------------------------------
# The option learners as registered agents, trained by a loop of their own.
# --------------------------------------------------------------------------------------------

#: The option sets of ``smdp-q`` and ``intra-option-q`` (param ``options``): the primitive
#: actions as one-step options, the eight hallway options of the four-room world, or both.
OPTION_SETS = ("primitive", "hallway", "primitive+hallway")
#: Agent name -> ``method`` of :func:`run_option_learning`.
METHODS = {"smdp-q": "smdp", "intra-option-q": "intra"}
_LOOP = "decisiongym.agents.options:train_option_learner"


class _OptionLearner(OwnLoopAgent):
    """Q-learning over options on a tabular env (Discrete observations and actions), trained by
    :func:`train_option_learner`: the harness hands it the task instead of stepping it, so
    the class only validates the parameters. ``options``: one of :data:`OPTION_SETS`
    (``hallway`` needs ``decisiongym/FourRooms-v0``); ``alpha`` in (0, 1], ``epsilon`` in
    [0, 1]; ``max_episode_steps``: an episode is cut after this many primitive steps."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 options: str = "primitive", alpha: float = 0.125, epsilon: float = 0.1,
                 max_episode_steps: int = 1000) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        check_tabular_spaces(self.name, observation_space, action_space, "a tabular env")
        if not isinstance(options, str) or options not in OPTION_SETS:
            raise self._param_error("options", options, f"one of {OPTION_SETS}")
        self.options = options
        self.alpha = self._check_float("alpha", alpha, low=0.0, high=1.0, low_open=True)
        self.epsilon = self._check_float("epsilon", epsilon, low=0.0, high=1.0)
        self.max_episode_steps = self._check_int("max_episode_steps", max_episode_steps)



@register("smdp-q", "SMDP Q-learning over options (Sutton, Precup & Singh 1999); flat "
          "Q-learning with options='primitive'; trains with its own loop", training_loop=_LOOP)
class SMDPQ(_OptionLearner):
    pass


@register("intra-option-q", "intra-option Q-learning over Markov options (Sutton, Precup & "
          "Singh 1999); trains with its own loop", training_loop=_LOOP)
class IntraOptionQ(_OptionLearner):
    pass


def train_option_learner(task: TrainingTask) -> tuple[dict[str, FloatArray], dict[str, Any]]:
    """The training loop of ``smdp-q`` and ``intra-option-q``: :func:`run_option_learning`
    on the model of ``task.env_id`` (a tabular env; the hallway options need FourRooms-v0) for
    ``task.budget`` primitive steps per replicate, replicates seeded from ``task.seed``.

    Returns per-episode ``episode_length``, ``episode_return`` (undiscounted) and
    ``episode_end_step`` (E, replicates), from which the harness builds its episode arrays,
    and the record entry ``options`` (the names of the options learnt over)."""
    check_choice("train_option_learner", "agent", task.agent, sorted(METHODS))
    import decisiongym.envs  # noqa: F401  (registers the environments)
    from decisiongym.envs.hierarchical import FourRooms

    params = dict(task.params)
    which = params.pop("options", "primitive")
    check_choice(task.agent, "options", which, OPTION_SETS)
    env = gym.make(task.env_id, **task.env_kwargs)
    try:
        u: Any = env.unwrapped
        model = getattr(u, "model", None)
        if model is None or not hasattr(model, "next_state"):
            raise ValueError(f"{task.agent}: needs a tabular env that exposes its model "
                             f"(decisiongym/FourRooms-v0, ...); {task.env_id!r} does not")
        opts: list[Option] = []
        if "primitive" in which:
            opts += primitive_options(model.n_states, model.n_actions)
        if "hallway" in which:
            if not isinstance(u, FourRooms):
                raise ValueError(f"{task.agent}: the hallway options belong to "
                                 f"decisiongym/FourRooms-v0, not {task.env_id!r}")
            opts += hallway_options(env)
    finally:
        env.close()
    run = run_option_learning(model, opts, METHODS[task.agent], replicates=task.replicates,
                              steps=task.budget, seed=task.seed, **params)
    return ({"episode_length": run.episode_length, "episode_return": run.episode_return,
             "episode_end_step": run.episode_end_step},
            {"options": [o.name for o in opts]})
