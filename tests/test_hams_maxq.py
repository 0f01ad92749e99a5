"""HAMs and HAMQ-learning (Parr & Russell 1998) and MAXQ-Q learning on Taxi (Dietterich 2000)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import decisiongym  # noqa: F401
from decisiongym import agents
from decisiongym.agents.hams import (
    HAM,
    Machine,
    MachineState,
    ham_value_iteration,
    joint_choice_points,
    navigation_ham,
    run_hamq,
)
from decisiongym.agents.maxq import (
    ROOT,
    TAXI_ID,
    MaxQQ,
    greedy_returns,
    run_maxq,
    taxi_optimal_values,
)
from decisiongym.harness import run
from decisiongym.harness.recorders import return_curve
from decisiongym.harness.rollout import AgentMismatch
from decisiongym.theory import value_iteration

MAZE = "decisiongym/Maze-v0"


def _maze() -> Any:
    return gym.make("decisiongym/Maze-v0", layout="seed").unwrapped


def test_machine_states_are_validated() -> None:
    with pytest.raises(ValueError, match="kind must be"):
        MachineState("jump")
    with pytest.raises(ValueError, match="needs action"):
        MachineState("action")
    with pytest.raises(ValueError, match="at least one choice"):
        MachineState("choice")
    m = Machine("M", {"c": MachineState("call", call="Nope", next=lambda s: "c")}, "c")
    with pytest.raises(ValueError, match="unknown machine"):
        HAM({"M": m}, "M")


def test_navigation_ham_structure_and_joint_smdp() -> None:
    u = _maze()
    ham = navigation_ham(u.maze)
    # The root's choice and one junction choice inside each Follow(d).
    assert ham.choice_points[-1] == ("Root", "choose") and len(ham.choice_points) == 5
    assert ham.mask().sum(axis=1).tolist() == [2, 2, 2, 2, 8]
    r, d, s2, m2 = joint_choice_points(ham, u.model)
    root = ham.index[("Root", "choose")]
    s0 = int(np.argmax(u.initial_state_distribution))
    # From the start (row 1, column 0) following the corridor east: one step to the junction
    # at (1, 1), where FollowE's own choice (go on / stop) is the next choice point.
    follow_e = 2  # the root's choices: FollowN, BackOffN, FollowE, ...
    assert r[s0, root, follow_e] == -1.0 and d[s0, root, follow_e] == 1.0
    assert tuple(u.maze.cells[s2[s0, root, follow_e]]) == (1, 1)
    assert m2[s0, root, follow_e] == ham.index[("FollowE", "junction")]
    # Going on from there: one more step east to (1, 2), the wall ahead: back at the root.
    junction = ham.index[("FollowE", "junction")]
    s1 = int(s2[s0, root, follow_e])
    assert r[s1, junction, 0] == -1.0 and m2[s1, junction, 0] == root
    # The HAM's optimum is the flat optimum on this maze (every turn is at a wall or junction).
    v, _ = value_iteration(u.transitions, u.rewards, u.gamma)
    q = ham_value_iteration(ham, u.model)
    assert q[s0, root].max() == pytest.approx(v[s0]) == -17.0


def test_hamq_reaches_the_optimal_return() -> None:
    """``hamq`` through the harness: its start value converges to the HAM's optimum (the flat
    one, -17) and epsilon-greedy returns come near it."""
    out = run(MAZE, "hamq", replicates=3, horizon=8000, seed=0, env_kwargs={"layout": "seed"})
    np.testing.assert_allclose(out["start_value"], -17.0, atol=1e-6)
    assert out.metric == "return" and (out["final_return"] > -30).all()
    assert out.record["training_loop"] and out.record["ham"] == "navigation"
    assert out.record["choice_points"][-1] == "Root/choose"


def test_hamq_records_its_episodes_within_the_budget() -> None:
    u = _maze()
    direct = run_hamq(navigation_ham(u.maze), u.model, steps=1500, replicates=2, seed=5)
    out = run(MAZE, "hamq", replicates=2, horizon=1500, seed=5, env_kwargs={"layout": "seed"})
    for name in ("episode_return", "episode_length", "episode_end_step"):
        assert np.array_equal(out[name].astype(np.float64), getattr(direct, name),
                              equal_nan=True), name
    finished = np.isfinite(direct.episode_length)
    assert np.array_equal(out["episodes"], finished.sum(axis=0))
    for i in range(2):  # each end step is the previous one plus the episode's length
        n = int(finished[:, i].sum())
        ends, lengths = direct.episode_end_step[:n, i], direct.episode_length[:n, i]
        assert ends[0] == lengths[0] and np.array_equal(np.diff(ends), lengths[1:])
        assert ends[-1] <= 1500
    # -1 per step: the return is minus the length
    assert np.array_equal(direct.episode_return[finished], -direct.episode_length[finished])
    # learner i is seeded seed + i: the second learner of seed 5 is the first of seed 6
    one = run_hamq(navigation_ham(u.maze), u.model, steps=1500, replicates=1, seed=6)
    n = int(np.isfinite(one.episode_return).sum())
    assert np.array_equal(one.episode_return[:n, 0], direct.episode_return[:n, 1])


def test_hamq_validates_its_parameters_and_env() -> None:
    env = gym.make(MAZE)
    for params, match in (({"ham": "corridor"}, "ham must be one of"), ({"alpha": 0.0}, "alpha"),
                          ({"epsilon": 2}, "epsilon"), ({"gamma": 1.5}, "gamma")):
        with pytest.raises(ValueError, match=match):
            agents.make("hamq", observation_space=env.observation_space,
                        action_space=env.action_space, **params)
        with pytest.raises(ValueError, match=match):
            run(MAZE, "hamq", replicates=1, horizon=10, agent_params=params)
    with pytest.raises(AgentMismatch, match="CartPole"):
        run("CartPole-v1", "hamq", replicates=1, horizon=10)
    with pytest.raises(ValueError, match="hamq: the navigation HAM runs on a maze.*FourRooms"):
        run("decisiongym/FourRooms-v0", "hamq", replicates=1, horizon=10)
    with pytest.raises(ValueError, match="hamq: HAMQ runs on deterministic mazes"):
        run(MAZE, "hamq", replicates=1, horizon=10, env_kwargs={"slip": 0.1})
    agent = agents.make("hamq", observation_space=env.observation_space,
                        action_space=env.action_space)
    with pytest.raises(NotImplementedError, match="loop of its own"):
        agent.reset(1, seed=0)


def test_maxq_decomposition_sums_to_the_root_value() -> None:
    learner = MaxQQ(seed=0)
    learner.c[:] = np.random.default_rng(0).normal(size=learner.c.shape)
    learner.v_prim[:] = np.random.default_rng(1).normal(size=learner.v_prim.shape)
    for s in (0, 17, 123, 499):
        terms = learner.decomposition(s)
        assert terms[0][0].startswith("C(Root") and terms[-1][0].startswith("V(")
        assert sum(x for _, x in terms) == pytest.approx(learner.value(ROOT, s))


def test_maxq_q_runs_through_the_harness() -> None:
    direct = run_maxq(steps=1500, replicates=2, seed=3)
    out = run(TAXI_ID, "maxq-q", replicates=2, horizon=1500, seed=3)
    for name in ("episode_return", "episode_length", "episode_end_step"):
        assert np.array_equal(out[name].astype(np.float64), getattr(direct, name),
                              equal_nan=True), name
    finished = np.isfinite(direct.episode_length)
    assert np.array_equal(out["episodes"], finished.sum(axis=0)) and finished[0].all()
    assert (np.nanmax(direct.episode_end_step, axis=0) <= 1500).all()
    assert out.metric == "return" and out["final_return"].shape == (2,)
    assert out.record["training_loop"]


def test_maxq_q_validates_its_parameters_and_env() -> None:
    env = gym.make(TAXI_ID)
    with pytest.raises(ValueError, match="maxq-q: alpha"):
        agents.make("maxq-q", observation_space=env.observation_space,
                    action_space=env.action_space, alpha=0.0)
    with pytest.raises(ValueError, match="unknown parameter"):
        run(TAXI_ID, "maxq-q", replicates=1, horizon=10, agent_params={"ham": "navigation"})
    with pytest.raises(AgentMismatch, match="maxq-q.*Taxi's spaces"):
        run("decisiongym/Maze-v0", "maxq-q", replicates=1, horizon=10)


@pytest.mark.slow
def test_maxq_q_reaches_the_flat_optimum_on_taxi() -> None:
    """About 10 s: MAXQ-Q with Dietterich's state abstractions learns Taxi; its decomposed
    root value sums to (about) the flat optimal value, and it learns faster than flat
    Q-learning (the registered ``q-learning`` agent, same alpha, gamma and epsilon) at equal
    episodes and at equal env steps."""
    u: Any = gym.make(TAXI_ID).unwrapped
    starts = np.flatnonzero(u.initial_state_distrib)
    v_star = taxi_optimal_values()
    steps = 65_000  # a little over 3000 episodes of MAXQ-Q
    maxq = run_maxq(steps=steps, replicates=1, seed=0, alpha=0.5)
    learner = maxq.learners[0]
    greedy = greedy_returns(learner, starts)
    assert (greedy >= v_star[starts] - 1e-9).mean() > 0.9
    root = np.array([learner.value(ROOT, int(s)) for s in starts])
    assert np.median(np.abs(root - v_star[starts])) < 1.0
    flat = run(TAXI_ID, "q-learning", replicates=1, horizon=steps, seed=0,
               agent_params={"alpha": 0.5, "gamma": 1.0, "epsilon": 0.1})
    assert np.isfinite(maxq.episode_return[:300]).all()
    assert np.isfinite(flat["episode_return"][:300]).all()
    # about -22 against -122
    assert maxq.episode_return[:300].mean() > flat["episode_return"][:300].mean() + 50
    # at equal env steps: the mean return of the last 20 episodes by step 10,000, about -2
    # against -226
    at = np.array([10_000])
    hier = return_curve(maxq.episode_return, maxq.episode_end_step, at)[0, 0]
    base = return_curve(flat["episode_return"].astype(np.float64),
                        flat["episode_end_step"].astype(np.float64), at)[0, 0]
    assert hier > base + 100
