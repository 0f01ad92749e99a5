"""Hierarchical RL (seed 5.3.12): FeudalMaze-v0 and feudal Q-learning (Dayan & Hinton 1993),
FourRooms-v0, options, SMDP value iteration, the options wrapper and SMDP / intra-option
Q-learning (Sutton, Precup & Singh 1999)."""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env

import decisiongym
from decisiongym import agents
from decisiongym.agents.feudal import STAR, FeudalQ
from decisiongym.agents.options import (
    Option,
    OptionsWrapper,
    hallway_options,
    option_model,
    primitive_options,
    run_option_learning,
    smdp_value_iteration,
)
from decisiongym.harness import run
from decisiongym.theory import value_iteration
from tests.test_mdp_envs import _rollout_single

FEUDAL = "decisiongym/FeudalMaze-v0"
ROOMS = "decisiongym/FourRooms-v0"
CASES: list[tuple[str, dict[str, Any]]] = [
    (FEUDAL, {}), (FEUDAL, {"levels": 2, "goal": (0, 3), "start": (3, 0)}),
    (ROOMS, {}), (ROOMS, {"goal": (1, 1), "success": 1.0, "max_episode_steps": 50}),
]
IDS = ["feudal", "feudal-4x4", "rooms", "rooms-deterministic"]
N, S, E, W = 0, 1, 2, 3


# --- the environments ------------------------------------------------------------------------

def test_registered() -> None:
    listed = dict(decisiongym.list_environments())
    assert FEUDAL in listed and ROOMS in listed


@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=IDS)
def test_env_checkers(env_id: str, kwargs: dict[str, Any]) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(env_id, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped, warn=False)
    for mode in ("ansi", "rgb_array"):
        e = gym.make(env_id, render_mode=mode, **kwargs)
        e.reset(seed=0)
        frame: Any = e.render()
        assert frame is not None and (isinstance(frame, str) or frame.dtype == np.uint8)


@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=IDS)
def test_vector_equals_single_and_seeding(env_id: str, kwargs: dict[str, Any]) -> None:
    n, steps = 3, 150
    vec = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    actions = np.random.default_rng(0).integers(0, 4, (steps, n))
    vec.reset(seed=5)
    got: list[list[tuple[Any, ...]]] = [[] for _ in range(n)]
    for t in range(steps):
        obs, r, term, trunc, _ = vec.step(actions[t])
        for i in range(n):
            got[i].append((np.asarray(obs[i]).tolist(), float(r[i]), bool(term[i]),
                           bool(trunc[i])))
    for i in range(n):
        assert got[i] == _rollout_single(env_id, kwargs, 5 + i, actions[:, i])


@pytest.mark.parametrize("levels", [1, 2, 3, 4])
def test_feudal_level_structure_is_consistent(levels: int) -> None:
    env: Any = gym.make(FEUDAL, levels=levels).unwrapped
    cells = np.arange(4 ** levels)
    for level in range(levels + 1):
        idx = env.region_index(cells, level)
        # every cell in exactly one region; 4^l regions of equal size
        assert idx.shape == cells.shape
        assert np.bincount(idx).tolist() == [4 ** (levels - level)] * 4 ** level
        for s in cells[:: max(1, cells.size // 16)]:
            r, c = env.region(int(s), level)
            assert idx[s] == r * 2 ** level + c
            if level > 0:  # regions nest: the quarter of a region lies inside it
                assert env.region(int(s), level - 1) == (r // 2, c // 2)
    assert env.region(0, levels) == (0, 0)


def test_feudal_maze_barrier_and_optimum() -> None:
    env: Any = gym.make(FEUDAL).unwrapped
    # The U opens north: from inside (5, 3) south is blocked, from (1, 3) south is open.
    assert env.P[5 * 8 + 3][S] == [(1.0, 5 * 8 + 3, -1.0, False)]
    assert env.P[1 * 8 + 3][S][0][1] == 2 * 8 + 3
    assert env.P[4 * 8 + 1][E] == [(1.0, 4 * 8 + 1, -1.0, False)]  # west arm
    v, _ = value_iteration(env.transitions, env.rewards, 1.0)
    assert v.max() == 0.0 and np.isfinite(v).all() and v.min() < -10  # behind the barrier
    assert env.goal_state == 3 * 8 + 3  # the documented default: (3, 3), inside the U


def test_four_rooms_dynamics() -> None:
    env: Any = gym.make(ROOMS).unwrapped
    assert env.transitions.shape == (104, 4, 104)
    s = int(env.state_of[2, 2])  # an open cell: intended 2/3, others 1/9
    row = env.transitions[s, 1]
    assert row[env.state_of[2, 3]] == pytest.approx(2 / 3)
    for cell in ((1, 2), (3, 2), (2, 1)):
        assert row[env.state_of[cell]] == pytest.approx(1 / 9)
    goal = int(np.flatnonzero(env.model.terminal)[0])
    assert tuple(env.cells[goal]) == (7, 9)


@pytest.mark.parametrize(("env_id", "kwargs", "match"), [
    (FEUDAL, {"levels": 0}, "levels must be"),
    (FEUDAL, {"goal": (8, 0)}, "outside"),
    (FEUDAL, {"start": (3, 3)}, "is the goal"),
    (ROOMS, {"goal": (0, 0)}, "is a wall"),
    (ROOMS, {"success": 0.0}, "success must be"),
])
def test_bad_configuration(env_id: str, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gym.make(env_id, **kwargs)


@pytest.mark.parametrize("action", [4, -1, 1.5, "N"])
def test_bad_actions(action: Any) -> None:
    env: Any = gym.make(FEUDAL).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="FeudalMaze-v0"):
        env.step(action)


# --- feudal Q-learning -----------------------------------------------------------------------

def _feudal(levels: int = 3, strict: bool = True) -> FeudalQ:
    env = gym.make(FEUDAL, levels=levels)
    agent = agents.make("feudal-q", observation_space=env.observation_space,
                        action_space=env.action_space, alpha=0.5, strict=strict)
    agent.reset(1, seed=0)
    assert isinstance(agent, FeudalQ)
    return agent


def _script(agent: FeudalQ, cell: int, commands: list[int]) -> None:
    """Put the managers in a known state: ``commands[l]`` in force at level l, just chosen."""
    for lv, a in enumerate(commands):
        agent.command[lv, 0] = a
        agent.x[lv, 0] = agent.region(np.array([cell]), lv)[0]
        agent.c[lv, 0] = commands[lv - 1] if lv > 0 else STAR
        agent.k[lv, 0] = 0
    agent.need[:] = False


def _step(agent: FeudalQ, cell: int, nxt: int, action: int, term: bool = False) -> None:
    agent.update(np.array([cell]), np.array([action]), np.array([-1.0]), np.array([nxt]),
                 np.array([term]), np.array([False]))


def test_feudal_reward_hiding() -> None:
    # (4, 1) -> (3, 1) moving N crosses the level-1 and level-2 boundaries northwards.
    cell, nxt = 4 * 8 + 1, 3 * 8 + 1
    agent = _feudal()
    _script(agent, cell, [STAR, N, N, N])
    _step(agent, cell, nxt, N)
    q1, q2, q3 = agent.q[1][0], agent.q[2][0], agent.q[3][0]
    # Level 3 was told N (leave the 2 x 2 block northwards) and did: rewarded, terminal.
    assert q3[cell, N, N] == pytest.approx(-0.5)
    # Level 2 was told N by level 1 and the quarter changed northwards: its task is done.
    assert q2[agent.region(np.array([cell]), 2)[0], N, N] == pytest.approx(-0.5)
    # Level 1 (told *, search the maze) made one step at its level: -1 + max Q(next) = -1.
    assert q1[2, STAR, N] == pytest.approx(-0.5)

    # The goal turns up inside the block while level 3 was told (by level 2) to go N: no
    # reward for level 3 (not its task: a failure), while level 2, told * by level 1, has found
    # what it was asked for (rewarded, with strict=False, though it had ordered N). Level 1
    # does not learn: level 2 had ordered N, not W.
    agent = _feudal(strict=False)
    for q in agent.q:
        q[:] = -1.0
    cell, goal = 4 * 8 + 1, 4 * 8 + 0
    _script(agent, cell, [STAR, STAR, N, W])
    _step(agent, cell, goal, W, term=True)
    block = agent.region(np.array([cell]), 2)[0]
    # A failure costs the step and failure_cost and leaves the task undone: the target
    # bootstraps from the state the command was given in (max there: -1).
    assert agent.q[3][0][cell, N, W] == pytest.approx(
        -1 + 0.5 * (-1 - agent.failure_cost - 1 + 1))
    assert agent.q[2][0][block, STAR, N] == pytest.approx(-0.5)  # target 0: found
    assert agent.q[1][0][2, STAR, STAR] == -1.0
    # Strict (the default): level 2's N was not carried out, so it is not credited; had it
    # ordered W, it would be.
    for order, learnt in ((N, -1.0), (W, -0.5)):
        agent = _feudal()
        for q in agent.q:
            q[:] = -1.0
        _script(agent, cell, [STAR, STAR, order, W])
        _step(agent, cell, goal, W, term=True)
        assert agent.q[2][0][block, STAR, order] == pytest.approx(learnt)


def test_feudal_failure_is_never_a_cheap_way_out() -> None:
    # Level 3, told N by level 2, leaves its 2 x 2 block eastwards: a failure. Its value
    # follows the values of the task it failed (here all -30), so failing never looks cheaper
    # than carrying the task out, however low those values have fallen.
    agent = _feudal()
    for q in agent.q:
        q[:] = -30.0
    cell, nxt = 4 * 8 + 1, 4 * 8 + 2
    _script(agent, cell, [STAR, N, N, E])
    _step(agent, cell, nxt, E)
    target = -1 - agent.failure_cost - 30
    assert agent.q[3][0][cell, N, E] == pytest.approx(-30 + 0.5 * (target + 30))
    assert agent.q[3][0][cell, N, E] < agent.q[3][0][cell, N].max()


def test_feudal_obey_below_rule() -> None:
    cell, nxt = 4 * 8 + 1, 3 * 8 + 1  # N across the level-1 boundary
    # Level 2 had ordered E, the agent went N: level 1 must not learn from this transition,
    # nor (strict rule) level 2, whose own command E was not carried out.
    agent = _feudal()
    _script(agent, cell, [STAR, N, E, N])
    _step(agent, cell, nxt, N)
    assert not agent.q[1].any() and not agent.q[2].any()
    assert agent.q[3].any()  # the bottom level did learn
    # strict=False: only the levels below count; level 2 is credited with the N move.
    agent = _feudal(strict=False)
    _script(agent, cell, [STAR, N, E, N])
    _step(agent, cell, nxt, N)
    assert not agent.q[1].any()
    assert agent.q[2][0][agent.region(np.array([cell]), 2)[0], N, E] == pytest.approx(-0.5)
    # Level 1 said * (search this quarter) and the agent left it: strict, level 1 does not
    # learn; obey-below only, its * is credited with the move.
    for strict in (True, False):
        agent = _feudal(strict=strict)
        _script(agent, cell, [STAR, STAR, N, N])
        _step(agent, cell, nxt, N)
        assert agent.q[1].any() != strict
    # Everybody below ordered N: level 1 learns.
    agent = _feudal()
    _script(agent, cell, [STAR, N, N, N])
    _step(agent, cell, nxt, N)
    assert agent.q[1].any()
    # A move inside the block changes no region above level 3: only level 3 learns.
    agent = _feudal()
    _script(agent, 4 * 8 + 0, [STAR, N, N, E])
    _step(agent, 4 * 8 + 0, 4 * 8 + 1, E)
    assert not agent.q[1].any() and not agent.q[2].any() and agent.q[3].any()


def test_feudal_time_out() -> None:
    agent = _feudal()
    cell = 0  # the top-left corner: N is impossible at every level
    _script(agent, cell, [STAR, N, N, N])
    for _ in range(agent.timeouts[2]):
        _step(agent, cell, cell, N)
    assert agent.q[2][0][0, N, N] == pytest.approx(-0.5 * agent.timeout_cost)
    assert agent.need[2, 0]


def test_feudal_q_reaches_the_goal_reliably() -> None:
    out = run(FEUDAL, "feudal-q", replicates=4, horizon=8000, seed=0)
    length = out["episode_length"].astype(np.float64)
    episodes = np.isfinite(length).sum(axis=0)
    assert (episodes >= 50).all() and np.array_equal(episodes, out["episodes"]), episodes
    last = np.array([col[np.isfinite(col)][-10:].mean() for col in length.T])
    assert (last < 25).all(), last  # the optimum from a random start is 6.3 steps
    # The maze exposes its model: the episodic regret against the optimal start value too.
    assert out.record["regret_kind"] == "episodic" and out["final_regret"].shape == (4,)


def test_feudal_goal_moves_in_a_second_phase() -> None:
    """The goal moves after 3000 steps (a Phase): the agent keeps learning on the new maze,
    reset with seed + 10,000; the episodes before the move are counted in ``phase_split``."""
    from decisiongym.harness.experiment import Phase

    moved = (1, 6)
    out = run(FEUDAL, "softmax-q", replicates=3, horizon=5000, seed=0,
              agent_params={"temperature": 0.1},
              phases=(Phase(after=3000, kwargs={"goal": moved}),))
    first = run(FEUDAL, "softmax-q", replicates=3, horizon=3000, seed=0,
                agent_params={"temperature": 0.1})
    split = out["phase_split"]
    assert np.array_equal(split, first["episodes"])
    # Phase 1 is the run without the move, episode for episode.
    for i, s in enumerate(split):
        assert np.array_equal(out["episode_length"][:s, i], first["episode_length"][:s, i])
    assert (out["episodes"] > split).all()
    ends = out["episode_end_step"].astype(np.float64)
    assert all(ends[s, i] > 3000 for i, s in enumerate(split))
    starts = out.record["optimal_start_values"]
    assert len(starts) == 2 and starts[0] != starts[1]


def test_feudal_agent_errors() -> None:
    env = gym.make("decisiongym/Maze-v0")
    with pytest.raises(ValueError, match="4\\^n cells"):
        agents.make("feudal-q", observation_space=env.observation_space,
                    action_space=env.action_space)
    fm = gym.make(FEUDAL)
    with pytest.raises(ValueError, match="temperature"):
        agents.make("feudal-q", observation_space=fm.observation_space,
                    action_space=fm.action_space, temperature=0)
    with pytest.raises(ValueError, match="strict must be True or False"):
        agents.make("feudal-q", observation_space=fm.observation_space,
                    action_space=fm.action_space, strict="yes")


# --- options ---------------------------------------------------------------------------------

def _rooms(**kwargs: Any) -> tuple[Any, Any]:
    env = gym.make(ROOMS, **kwargs)
    return env, env.unwrapped


def test_one_step_option_reproduces_the_primitive() -> None:
    env, u = _rooms()
    for a, option in enumerate(primitive_options(104, 4)):
        r, p = option_model(u.transitions, u.rewards, u.gamma, option)
        np.testing.assert_allclose(r, u.rewards[:, a], atol=1e-12)
        np.testing.assert_allclose(p, u.gamma * u.transitions[:, a], atol=1e-12)
    # A semi-Markov option that times out after one step is the same one-step model.
    never = Option("east, 1 step", np.ones(104, bool), np.full(104, 1), np.zeros(104), 1)
    r, p = option_model(u.transitions, u.rewards, u.gamma, never)
    np.testing.assert_allclose(p, u.gamma * u.transitions[:, 1], atol=1e-12)
    # Through the wrapper: same seed, same outcomes as stepping the env itself.
    wrapped = OptionsWrapper(gym.make(ROOMS), primitive_options(104, 4))
    wrapped.reset(seed=7)
    env.reset(seed=7)
    for a in [0, 1, 2, 3, 1, 1, 2]:
        o1 = wrapped.step(a)
        o2 = env.step(a)
        assert o1[0] == o2[0] and o1[1] == o2[1] and o1[4]["duration"] == 1


def test_smdp_value_iteration_with_primitives_is_value_iteration() -> None:
    _, u = _rooms()
    v_star, _ = value_iteration(u.transitions, u.rewards, u.gamma)
    v, _q, iters, _ = smdp_value_iteration(u.transitions, u.rewards, u.gamma,
                                          primitive_options(104, 4))
    np.testing.assert_allclose(v, v_star, atol=1e-8)
    env, _ = _rooms()
    hall = hallway_options(env)
    assert len(hall) == 8 and all(o.initiation.sum() > 15 for o in hall)
    v2, _, iters2, hist = smdp_value_iteration(u.transitions, u.rewards, u.gamma,
                                               primitive_options(104, 4) + hall, history=True)
    np.testing.assert_allclose(v2, v_star, atol=1e-8)  # options do not change the optimum
    reach = next(i for i, h in enumerate(hist) if (h[~u.model.terminal] > 0).all())
    assert reach < 5 and iters2 < iters


def test_hallway_options_reach_their_hallway() -> None:
    env, u = _rooms(success=1.0)
    for option in hallway_options(env):
        hall = option.name.split("hall")[1]
        target = int(u.state_of[tuple(int(x) for x in hall.strip("()").split(","))])
        assert option.termination[target] == 1 and not option.initiation[target]
        _r, p = option_model(u.transitions, u.rewards, 1.0, option)
        starts = np.flatnonzero(option.initiation & (option.termination < 1))
        # deterministic moves: every start ends at the target hallway with probability one
        # (unless the goal, terminal, is on the way)
        ends = p[starts].sum(axis=1)
        assert np.allclose(ends[p[starts, target] > 0], 1.0)


def test_wrapper_discounted_return_by_hand() -> None:
    # Maze "small", deterministic, -1 per step; gamma 0.9 in the wrapper.
    maze = gym.make("decisiongym/Maze-v0", layout="small")
    n = maze.unwrapped.model.n_states  # type: ignore[attr-defined]
    east3 = Option("east for 3 steps", np.ones(n, bool), np.full(n, 1), np.zeros(n), 3)
    down = Option("south until the wall", np.ones(n, bool), np.full(n, 2), np.zeros(n), 2)
    w = OptionsWrapper(maze, [east3, down], gamma=0.9)
    w.reset(seed=0)
    _, reward, term, _trunc, info = w.step(0)
    # @..# : E, E, then the wall: three steps of -1.
    assert info["duration"] == 3 and not term
    assert reward == pytest.approx(-(1 + 0.9 + 0.81))
    assert info["discounted_return"] == reward and info["undiscounted_return"] == -3
    assert info["discount"] == pytest.approx(0.9 ** 3)
    assert w.observation_space.contains(_)
    # Four rooms, deterministic, goal on the path: the return is gamma^(k-1) * 1.
    env, _u = _rooms(success=1.0, start=(5, 9))
    goal_option = next(o for o in hallway_options(env) if o.name == "room01->hall(7, 9)")
    w2 = OptionsWrapper(env, [goal_option])
    w2.reset(seed=0)
    _, reward, term, _, info = w2.step(0)
    assert term and info["duration"] == 2 and reward == pytest.approx(0.9)
    with pytest.raises(gym.error.ResetNeeded):
        w2.step(0)
    w2.reset(seed=0)
    with pytest.raises(ValueError, match="option index"):
        w2.step(3)
    w3 = OptionsWrapper(gym.make(ROOMS, start=(1, 1)), [goal_option])
    w3.reset(seed=0)
    with pytest.raises(ValueError, match="may not start"):
        w3.step(0)


@pytest.mark.slow
def test_intra_option_and_smdp_q_learning_agree() -> None:
    """About 15-25 s: both learners run 40,000 steps on four replicates."""
    env, u = _rooms(success=1.0)
    opts = primitive_options(104, 4) + hallway_options(env)
    _, q_star, _, _ = smdp_value_iteration(u.transitions, u.rewards, u.gamma, opts)
    v_star = q_star.max(axis=1)
    nonterminal = ~u.model.terminal
    values, errors = {}, {}
    for method in ("smdp", "intra"):
        run = run_option_learning(u.model, opts, method, replicates=4, steps=40_000, seed=1,
                                  alpha=0.5, epsilon=0.3)
        values[method] = run.q.max(axis=2).mean(axis=0)
        errors[method] = float(np.abs(run.q.max(axis=2) - v_star)[:, nonterminal].mean())
    assert errors["smdp"] < 0.02 and errors["intra"] < 0.02, errors
    assert np.abs(values["smdp"] - values["intra"])[nonterminal].mean() < 0.02
    # Intra-option learning learns about every consistent option from each step: it gets
    # there sooner (Sutton, Precup & Singh 1999, section 5).
    assert errors["intra"] < errors["smdp"]


def test_options_speed_up_early_learning() -> None:
    env, u = _rooms()
    prim = primitive_options(104, 4)
    early = {}
    for label, opts, method in (("flat", prim, "smdp"),
                                ("smdp", prim + hallway_options(env), "smdp"),
                                ("intra", prim + hallway_options(env), "intra")):
        run = run_option_learning(u.model, opts, method, replicates=6, steps=3000, seed=0)
        early[label] = float(np.nanmean(run.episode_length[:10]))
    assert early["smdp"] < early["flat"] and early["intra"] < early["flat"], early


def test_option_learners_run_through_the_harness() -> None:
    """``smdp-q`` and ``intra-option-q`` train with their own loop (run_option_learning) and
    hand back per-episode records, from which the harness builds its episode arrays."""
    env, u = _rooms()
    opts = primitive_options(104, 4) + hallway_options(env)
    direct = run_option_learning(u.model, opts, "intra", replicates=3, steps=2000, seed=4,
                                 alpha=0.25)
    out = run(ROOMS, "intra-option-q", replicates=3, horizon=2000, seed=4,
              agent_params={"options": "primitive+hallway", "alpha": 0.25})
    length = out["episode_length"].astype(np.float64)
    assert np.array_equal(length, direct.episode_length, equal_nan=True)
    assert np.array_equal(out["episode_return"].astype(np.float64), direct.episode_return,
                          equal_nan=True)
    assert out.metric == "return" and "final_regret" not in out.arrays
    assert out.record["training_loop"] and out.record["options"][4:] == [o.name for o in opts[4:]]
    finished = np.isfinite(direct.episode_length)
    assert np.array_equal(out["episodes"], finished.sum(axis=0))
    # Each end step is the previous one plus the episode's length.
    ends = direct.episode_end_step
    for i in range(3):
        n = int(finished[:, i].sum())
        assert np.array_equal(np.diff(ends[:n, i]), direct.episode_length[1:n, i])
    assert (direct.episode_return[finished] <= 1.0).all()


def test_option_learners_validate_their_parameters_and_env() -> None:
    from decisiongym.harness.rollout import AgentMismatch

    env = gym.make(ROOMS)
    for params, match in (({"options": "hallways"}, "options must be one of"),
                          ({"alpha": 0.0}, "alpha"), ({"epsilon": 2}, "epsilon"),
                          ({"gamma": 0.9}, "unknown parameter")):
        with pytest.raises(ValueError, match=match):
            agents.make("smdp-q", observation_space=env.observation_space,
                        action_space=env.action_space, **params)
        with pytest.raises(ValueError, match=match):
            run(ROOMS, "smdp-q", replicates=1, horizon=10, agent_params=params)
    with pytest.raises(AgentMismatch, match="CartPole"):
        run("CartPole-v1", "smdp-q", replicates=1, horizon=10)
    with pytest.raises(ValueError, match="hallway options belong to"):
        run("decisiongym/Maze-v0", "smdp-q", replicates=1, horizon=10,
            agent_params={"options": "hallway"})
    with pytest.raises(ValueError, match="phases"):
        from decisiongym.harness.experiment import Phase

        run(ROOMS, "smdp-q", replicates=1, horizon=10, phases=(Phase(5, {}),))
    agent = agents.make("intra-option-q", observation_space=env.observation_space,
                        action_space=env.action_space)
    with pytest.raises(NotImplementedError, match="loop of its own"):
        agent.reset(1, seed=0)


# --- the reproductions at their quick size -------------------------------------------------

def _quick(name: str, tmp_path: Any) -> dict[str, Any]:
    import json

    from decisiongym.cli import main

    out = tmp_path / name
    code = main(["reproduce", name, "--quick", "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    failed = [c["name"] for c in summary["checks"] if not c["passed"]]
    assert code == 0 and not failed, failed
    assert list((out / "plots").glob("*.png"))
    return dict(summary)


def test_reproduce_options_quick(tmp_path: Any) -> None:
    summary = _quick("options", tmp_path)
    names = " ".join(c["name"] for c in summary["checks"])
    assert "value iteration" in names and "early learning" in names
    # Sutton, Precup & Singh's planning figure, exactly: cell by cell with the primitives,
    # every cell in two iterations with the hallway options.
    assert "cell by cell" in names and "two iterations" in names
    for check in summary["checks"]:
        if "early learning" in check["name"]:  # learned: several runs, an interval below 0
            assert check["runs"] >= 3 and check["interval"][1] < 0, check
        else:  # planning: exact
            assert check["runs"] == 1 and check["interval"] is None, check


def test_reproduce_feudal_quick(tmp_path: Any) -> None:
    """About 11 s: feudal, flat and obey-below-only feudal Q-learning, 4 runs x 9000 steps,
    twice (goal moved)."""
    summary = _quick("feudal", tmp_path)
    names = " ".join(c["name"] for c in summary["checks"])
    assert "slower at first" in names and "faster later" in names and "relearns" in names
    # Each check rests on the runs and is decided by its interval (feudal - flat above 0 at
    # first, below 0 later; first / 2 - last above 0 after the move).
    for check in summary["checks"]:
        low, high = check["interval"]
        assert check["runs"] >= 3, check
        assert high < 0 if "faster later" in check["name"] else low > 0, check


@pytest.mark.slow
def test_reproduce_feudal_full_size_finding(tmp_path: Any) -> None:
    """About 45 s: the seed's finding at full size (40 runs x 30,000 steps): feudal Q-learning
    is slower at first and faster later than flat Q-learning, and relearns a moved goal."""
    import json

    from decisiongym.cli import main

    code = main(["reproduce", "feudal", "--out", str(tmp_path / "full")])
    summary = json.loads((tmp_path / "full" / "summary.json").read_text())
    passed = [c["passed"] for c in summary["checks"]]
    assert code == 0 and passed == [True, True, True], summary["checks"]
