"""Hierarchies of abstract machines and HAMQ-learning (Parr & Russell 1998, "Reinforcement
learning with hierarchies of machines", NIPS 10; Dobriban (2019), section 5.3.12, item 6).

A machine is a set of states of four kinds (Dobriban (2019), section 5.3.12, item 6(b)): **action**
(emit a primitive action, a function of the environment state), **call** (run another machine until
it stops), **choice** (the next machine state is chosen, nondeterministically: this is what is
learnt) and **stop** (return to the caller). After an action or call state, a programmed transition
function picks the next machine state from the environment state. Running a HAM H on an MDP M gives
the joint SMDP H o M (:func:`joint_choice_points`): its states are (environment state, machine
stack) pairs at choice states, its actions are the choices, and between two choice points the
machines run autonomously; rewards in between are summed with discount.

HAMQ-learning (their section 4) keeps Q([s, m], c) for environment state s, machine state m at
a choice point and choice c, and on reaching the next choice point [s', m'] after k steps with
discounted reward R updates Q([s, m], c) += alpha [R + gamma^k max_c' Q([s', m'], c') -
Q([s, m], c)].

:func:`navigation_ham` builds a HAM for gridworld mazes: the root repeatedly chooses to call
"follow the corridor in direction d" (move d until a wall is ahead; at a junction, a choice:
go on or stop) or "back off from the obstacle in direction d" (one step back, then one step to
the side).

The agent ``hamq`` (params ``ham``, one of :data:`HAMS`, ``alpha``, ``epsilon``, ``gamma``,
``max_episode_steps``) trains with a loop of its own, :func:`train_hamq` (registered with it):
:func:`run_hamq` on the maze's model for the harness's budget of primitive steps, handing back
per-episode records that the harness turns into its episode arrays::

    from decisiongym.harness import run
    run("decisiongym/Maze-v0", "hamq", replicates=3, horizon=6000)["final_return"]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from decisiongym.agents.base import OwnLoopAgent, TrainingTask, episode_records, register
from decisiongym.arrays import FloatArray
from decisiongym.validation import check_choice, check_tabular_spaces

__all__ = ["HAM", "HAMQ", "HAMS", "HAMQRun", "Machine", "MachineState", "joint_choice_points",
           "navigation_ham", "run_hamq", "train_hamq"]


@dataclass(frozen=True)
class MachineState:
    """One machine state. ``kind`` is "action", "call", "choice" or "stop"; ``action(s)`` the
    primitive action (action states); ``call`` the machine called (call states); ``choices``
    the machine states to choose among (choice states); ``next(s)`` the programmed transition
    after an action or call state."""

    kind: str
    action: Callable[[int], int] | None = None
    call: str | None = None
    choices: tuple[str, ...] = ()
    next: Callable[[int], str] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("action", "call", "choice", "stop"):
            raise ValueError(f"machine state kind must be action, call, choice or stop, got "
                             f"{self.kind!r}")
        if self.kind == "action" and (self.action is None or self.next is None):
            raise ValueError("an action state needs action(s) and next(s)")
        if self.kind == "call" and (self.call is None or self.next is None):
            raise ValueError("a call state needs the machine it calls and next(s)")
        if self.kind == "choice" and not self.choices:
            raise ValueError("a choice state needs at least one choice")


@dataclass(frozen=True)
class Machine:
    name: str
    states: dict[str, MachineState]
    start: str


@dataclass
class HAM:
    """A collection of machines and the root machine's name. ``choice_points`` numbers every
    (machine, choice state) pair; ``n_choices`` is the most choices any of them has."""

    machines: dict[str, Machine]
    root: str
    choice_points: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for m in self.machines.values():
            for name, st in m.states.items():
                if st.kind == "call" and st.call not in self.machines:
                    raise ValueError(f"machine {m.name!r} state {name!r} calls unknown "
                                     f"machine {st.call!r}")
                if st.kind == "choice":
                    self.choice_points.append((m.name, name))
        if not self.choice_points:
            raise ValueError("a HAM needs at least one choice state")
        self.index = {cp: i for i, cp in enumerate(self.choice_points)}
        self.n_choices = max(len(self.machines[m].states[s].choices)
                             for m, s in self.choice_points)

    def mask(self) -> NDArray[np.bool_]:
        """(choice points, n_choices): which choices exist at each choice point."""
        out = np.zeros((len(self.choice_points), self.n_choices), dtype=bool)
        for i, (m, s) in enumerate(self.choice_points):
            out[i, :len(self.machines[m].states[s].choices)] = True
        return out


class _Runner:
    """Runs a HAM on a deterministic tabular model step by step, stopping at choice points."""

    def __init__(self, ham: HAM, step: Callable[[int, int], tuple[int, float, bool]],
                 gamma: float, max_steps: int) -> None:
        self.ham, self.step, self.gamma, self.max_steps = ham, step, gamma, max_steps

    def advance(self, s: int, stack: list[tuple[str, str]], limit: int | None = None
                ) -> tuple[int, list[tuple[str, str]], float, float, int, bool, float]:
        """From machine stack ``stack`` (top last) in env state ``s``, run until a choice point,
        the episode's end or ``limit`` steps (default ``max_steps``). Returns (s', stack',
        discounted reward, gamma^k, k, ended, undiscounted reward); running out of steps
        between choice points counts as an end."""
        cap = self.max_steps if limit is None else limit
        g, disc, k, total = 0.0, 1.0, 0, 0.0
        while k < cap:
            machine, name = stack[-1]
            st = self.ham.machines[machine].states[name]
            if st.kind == "choice":
                return s, stack, g, disc, k, False, total
            if st.kind == "stop":
                stack = stack[:-1]
                if not stack:
                    raise RuntimeError("the root machine stopped")
                caller, cname = stack[-1]
                nxt = self.ham.machines[caller].states[cname].next
                assert nxt is not None
                stack = [*stack[:-1], (caller, nxt(s))]
                continue
            if st.kind == "call":
                assert st.call is not None
                callee = self.ham.machines[st.call]
                stack = [*stack, (callee.name, callee.start)]
                continue
            assert st.action is not None and st.next is not None
            s, r, ended = self.step(s, st.action(s))
            g += disc * r
            total += r
            disc *= self.gamma
            k += 1
            if ended:
                return s, stack, g, disc, k, True, total
            stack = [*stack[:-1], (machine, st.next(s))]
        return s, stack, g, disc, k, True, total  # ran out of steps between choice points

    def choose(self, stack: list[tuple[str, str]], c: int) -> list[tuple[str, str]]:
        machine, name = stack[-1]
        return [*stack[:-1], (machine, self.ham.machines[machine].states[name].choices[c])]


def navigation_ham(layout: Any) -> HAM:
    """The navigation HAM for a maze (``Maze-v0``'s grid object ``env.unwrapped.maze``):
    Root chooses among Follow(d) and BackOff(d) for d in N, E, S, W; Follow(d) moves d until a
    wall is ahead, with a choice (go on / stop) at every junction; BackOff(d) steps opposite d
    and then to the right of d."""
    moves = ((-1, 0), (0, 1), (1, 0), (0, -1))
    grid, cells = layout.grid, layout.cells

    def open_(s: int, d: int) -> bool:
        r, c = cells[s]
        nr, nc = int(r) + moves[d][0], int(c) + moves[d][1]
        return 0 <= nr < grid.shape[0] and 0 <= nc < grid.shape[1] and grid[nr, nc] not in "#C"

    def junction(s: int) -> bool:
        return sum(open_(s, d) for d in range(4)) >= 3

    machines: dict[str, Machine] = {}
    names = "NESW"
    for d in range(4):
        def after_move(s: int, d: int = d) -> str:
            if not open_(s, d):
                return "stop"
            return "junction" if junction(s) else "move"

        def go(s: int, d: int = d) -> int:
            return d

        def back(s: int, d: int = d) -> int:
            return (d + 2) % 4

        def side(s: int, d: int = d) -> int:
            return (d + 1) % 4

        def to_side(s: int) -> str:
            return "side"

        def to_stop(s: int) -> str:
            return "stop"

        machines[f"Follow{names[d]}"] = Machine(f"Follow{names[d]}", {
            "move": MachineState("action", action=go, next=after_move),
            "junction": MachineState("choice", choices=("move", "stop")),
            "stop": MachineState("stop")}, "move")
        machines[f"BackOff{names[d]}"] = Machine(f"BackOff{names[d]}", {
            "back": MachineState("action", action=back, next=to_side),
            "side": MachineState("action", action=side, next=to_stop),
            "stop": MachineState("stop")}, "back")

    def to_choose(s: int) -> str:
        return "choose"

    calls = {f"call{m}": MachineState("call", call=m, next=to_choose)
             for m in machines}
    machines["Root"] = Machine("Root", {"choose": MachineState("choice", choices=tuple(calls)),
                                        **calls}, "choose")
    return HAM(machines, "Root")


def _model_step(model: Any) -> Callable[[int, int], tuple[int, float, bool]]:
    if not model.deterministic_steps:
        raise ValueError("HAMQ here runs on deterministic tabular models (slip = 0)")
    nxt = model.next_flat.reshape(model.n_states, model.n_actions)
    rew = model.reward_flat.reshape(model.n_states, model.n_actions)

    def step(s: int, a: int) -> tuple[int, float, bool]:
        s2 = int(nxt[s, a])
        return s2, float(rew[s, a]), bool(model.terminal[s2])
    return step


def joint_choice_points(ham: HAM, model: Any, gamma: float = 1.0, max_steps: int = 200
                        ) -> tuple[FloatArray, FloatArray, NDArray[np.int64], NDArray[np.int64]]:
    """The joint SMDP H o M of a HAM with a root-level choice stack (the navigation HAM: stacks
    are Root/choose or Root/callX + X/junction) on a deterministic model, by enumeration.

    States are (env state, choice point); returns for each (s, choice point, choice): the
    discounted reward ``R``, the discount ``D`` = gamma^k (0 if the episode ended), and the
    next env state and choice point (``S2``, ``M2``; -1 if ended). Arrays (S, P, C)."""
    runner = _Runner(ham, _model_step(model), gamma, max_steps)
    n_s, n_p, n_c = model.n_states, len(ham.choice_points), ham.n_choices
    r_ = np.zeros((n_s, n_p, n_c))
    d_ = np.zeros((n_s, n_p, n_c))
    s2_ = np.full((n_s, n_p, n_c), -1, dtype=np.int64)
    m2_ = np.full((n_s, n_p, n_c), -1, dtype=np.int64)
    mask = ham.mask()
    for p, (machine, state) in enumerate(ham.choice_points):
        stack = [(ham.root, ham.machines[ham.root].start)]
        if machine != ham.root:  # a choice inside a machine called from the root
            stack = [(ham.root, f"call{machine}"), (machine, state)]
        for s in range(n_s):
            if model.terminal[s]:
                continue
            for c in np.flatnonzero(mask[p]):
                s2, st2, g, disc, _, ended, _ = runner.advance(
                    s, runner.choose(stack, int(c)))
                r_[s, p, c] = g
                if not ended:
                    d_[s, p, c] = disc
                    s2_[s, p, c] = s2
                    m2_[s, p, c] = ham.index[st2[-1]]
    return r_, d_, s2_, m2_


def ham_value_iteration(ham: HAM, model: Any, gamma: float = 1.0, iterations: int = 500
                        ) -> FloatArray:
    """Optimal Q([s, m], c) of the joint SMDP H o M (NaN-free; -inf for missing choices)."""
    r_, d_, s2_, m2_ = joint_choice_points(ham, model, gamma)
    mask = np.broadcast_to(ham.mask()[None], r_.shape)
    q = np.where(mask, 0.0, -np.inf)
    for _ in range(iterations):
        v = np.where(np.isfinite(q), q, -1e9).max(axis=2)
        nxt = np.where(s2_ >= 0, v[np.maximum(s2_, 0), np.maximum(m2_, 0)], 0.0)
        q = np.where(mask, r_ + d_ * nxt, -np.inf)
    return q


@dataclass
class HAMQRun:
    """Per-episode records (E, n), NaN past a replicate's last finished episode: the
    undiscounted return, the length in primitive steps and the primitive step (1-based) at
    which the episode ended; and the Q-tables (n, S, P, C)."""

    episode_return: FloatArray
    episode_length: FloatArray
    episode_end_step: FloatArray
    q: FloatArray


def run_hamq(ham: HAM, model: Any, *, steps: int, replicates: int, seed: int,
             alpha: float = 0.5, epsilon: float = 0.1, gamma: float = 1.0,
             max_steps: int = 200) -> HAMQRun:
    """HAMQ-learning on a deterministic tabular model (a Maze-v0's ``model``) for ``steps``
    primitive steps per replicate, epsilon-greedy at the choice points (replicate i draws from
    a generator seeded ``seed + i``). Each episode starts in a state drawn from the model's
    start distribution and is cut at the first choice point after ``max_steps`` steps; the
    episode under way when the budget runs out is not recorded."""
    runner = _Runner(ham, _model_step(model), gamma, max_steps)
    mask = ham.mask()
    n_p, n_c = mask.shape
    q = np.zeros((replicates, model.n_states, n_p, n_c))
    returns: list[list[float]] = [[] for _ in range(replicates)]
    lengths: list[list[float]] = [[] for _ in range(replicates)]
    ends: list[list[float]] = [[] for _ in range(replicates)]
    init_cum = np.cumsum(model.initial)
    root = (ham.root, ham.machines[ham.root].start)
    for i in range(replicates):
        rng = np.random.default_rng(seed + i)
        t = 0
        while t < steps:
            s = int(np.searchsorted(init_cum, rng.random() * init_cum[-1], side="right"))
            limit = min(max_steps, steps - t)
            s, stack, _, _, k, ended, total = runner.advance(s, [root], limit)
            t, length = t + k, k
            cut = ended and k == limit < max_steps and not model.terminal[s]
            while not cut and not ended and length < max_steps:
                if t >= steps:
                    cut = True
                    break
                p = ham.index[stack[-1]]
                choices = np.flatnonzero(mask[p])
                if rng.random() < epsilon:
                    c = int(rng.choice(choices))
                else:
                    qs = q[i, s, p, choices]
                    c = int(choices[rng.choice(np.flatnonzero(qs == qs.max()))])
                limit = min(max_steps, steps - t)
                s2, stack, g, disc, k, ended, r = runner.advance(s, runner.choose(stack, c),
                                                                 limit)
                t, length, total = t + k, length + k, total + r
                if ended and k == limit < max_steps and not model.terminal[s2]:
                    cut = True  # the budget ran out between two choice points
                    break
                if ended:
                    target = g
                else:
                    p2 = ham.index[stack[-1]]
                    target = g + disc * q[i, s2, p2, mask[p2]].max()
                q[i, s, p, c] += alpha * (target - q[i, s, p, c])
                s = s2
            if cut:
                break
            returns[i].append(total)
            lengths[i].append(float(length))
            ends[i].append(float(t))
    return HAMQRun(episode_records(returns), episode_records(lengths), episode_records(ends), q)


# --------------------------------------------------------------------------------------------
# HAMQ-learning as a registered agent, trained by a loop of its own.
# --------------------------------------------------------------------------------------------

#: The HAMs of ``hamq`` (param ``ham``): name -> builder from the maze's grid.
HAMS: dict[str, Callable[[Any], HAM]] = {"navigation": navigation_ham}
_LOOP = "decisiongym.agents.hams:train_hamq"


@register("hamq", "HAMQ-learning over a hierarchy of abstract machines (Parr & Russell 1998) "
          "on a deterministic maze; trains with its own loop", training_loop=_LOOP)
class HAMQ(OwnLoopAgent):
    """HAMQ-learning, trained by :func:`train_hamq` (the harness hands it the task). ``ham``:
    one of :data:`HAMS` (built on the env's maze); ``alpha`` in (0, 1], ``epsilon`` in
    [0, 1]; ``gamma`` in [0, 1] (None: the maze's own); ``max_episode_steps``: an episode is
    cut at the first choice point after this many primitive steps (or the env's own limit,
    if smaller)."""

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 ham: str = "navigation", alpha: float = 0.5, epsilon: float = 0.1,
                 gamma: float | None = None, max_episode_steps: int = 200) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        check_tabular_spaces(self.name, observation_space, action_space, "a tabular maze")
        if not isinstance(ham, str) or ham not in HAMS:
            raise self._param_error("ham", ham, f"one of {tuple(HAMS)}")
        self.ham = ham
        self.alpha = self._check_float("alpha", alpha, low=0.0, high=1.0, low_open=True)
        self.epsilon = self._check_float("epsilon", epsilon, low=0.0, high=1.0)
        self.gamma = None if gamma is None else self._check_float("gamma", gamma, low=0.0,
                                                                  high=1.0)
        self.max_episode_steps = self._check_int("max_episode_steps", max_episode_steps)


def train_hamq(task: TrainingTask) -> tuple[dict[str, FloatArray], dict[str, Any]]:
    """The training loop of ``hamq``: :func:`run_hamq` with the HAM ``params["ham"]`` on the
    model of ``task.env_id`` (a deterministic maze: ``decisiongym/Maze-v0`` with ``slip`` 0)
    for ``task.budget`` primitive steps per learner, learner i seeded ``task.seed + i``.

    Returns per-episode ``episode_return`` (undiscounted), ``episode_length`` and
    ``episode_end_step`` (E, learners), from which the harness builds its episode arrays, and
    ``start_value`` (learners,): the learnt value max_c Q([s0, root], c) of the start
    (expected over the start distribution); record entries ``ham`` and ``choice_points``."""
    import gymnasium as gym

    import decisiongym.envs  # noqa: F401  (registers the environments)

    params = dict(task.params)
    which = params.pop("ham", "navigation")
    check_choice(task.agent, "ham", which, tuple(HAMS))
    env = gym.make(task.env_id, **task.env_kwargs)
    try:
        u: Any = env.unwrapped
        layout, model = getattr(u, "maze", None), getattr(u, "model", None)
        if layout is None or model is None or not hasattr(model, "next_flat"):
            raise ValueError(f"{task.agent}: the {which} HAM runs on a maze "
                             f"(decisiongym/Maze-v0); {task.env_id!r} has no maze grid")
        if not model.deterministic_steps:
            raise ValueError(f"{task.agent}: HAMQ runs on deterministic mazes (slip = 0); "
                             f"{task.env_id!r} with {task.env_kwargs} is not")
        limits = [params.pop("max_episode_steps", 200), getattr(u, "max_episode_steps", None),
                  env.spec.max_episode_steps if env.spec is not None else None]
    finally:
        env.close()
    gamma = params.pop("gamma", None)
    ham = HAMS[which](layout)
    run = run_hamq(ham, model, steps=task.budget, replicates=task.replicates, seed=task.seed,
                   gamma=float(model.gamma if gamma is None else gamma),
                   max_steps=min(int(x) for x in limits if x is not None), **params)
    root = ham.index[(ham.root, ham.machines[ham.root].start)]
    start_value = run.q[:, :, root].max(axis=2) @ np.asarray(model.initial, dtype=np.float64)
    return ({"episode_return": run.episode_return, "episode_length": run.episode_length,
             "episode_end_step": run.episode_end_step, "start_value": start_value},
            {"ham": which, "choice_points": [f"{m}/{c}" for m, c in ham.choice_points]})
