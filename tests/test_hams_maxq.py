"""HAMs and HAMQ-learning (Parr & Russell 1998) and MAXQ-Q learning on Taxi (Dietterich 2000)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import decisiongym  # noqa: F401
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
    flat_q_taxi,
    greedy_returns,
    run_maxq_taxi,
    taxi_optimal_values,
)
from decisiongym.theory import value_iteration


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
    u = _maze()
    ham = navigation_ham(u.maze)
    run = run_hamq(ham, u.model, episodes=150, replicates=3, seed=0)
    s0 = int(np.argmax(u.initial_state_distribution))
    root = ham.index[("Root", "choose")]
    np.testing.assert_allclose(run.q[:, s0, root].max(axis=1), -17.0, atol=1e-6)
    assert run.episode_return[-20:].mean() > -30  # epsilon-greedy near the optimum, -17


def test_maxq_decomposition_sums_to_the_root_value() -> None:
    learner = MaxQQ(seed=0)
    learner.c[:] = np.random.default_rng(0).normal(size=learner.c.shape)
    learner.v_prim[:] = np.random.default_rng(1).normal(size=learner.v_prim.shape)
    for s in (0, 17, 123, 499):
        terms = learner.decomposition(s)
        assert terms[0][0].startswith("C(Root") and terms[-1][0].startswith("V(")
        assert sum(x for _, x in terms) == pytest.approx(learner.value(ROOT, s))


@pytest.mark.slow
def test_maxq_q_reaches_the_flat_optimum_on_taxi() -> None:
    """About 30-60 s: MAXQ-Q with Dietterich's state abstractions learns Taxi; its decomposed
    root value sums to (about) the flat optimal value, and it learns faster than flat Q."""
    u: Any = gym.make(TAXI_ID).unwrapped
    starts = np.flatnonzero(u.initial_state_distrib)
    v_star = taxi_optimal_values()
    run = run_maxq_taxi(episodes=3000, replicates=1, seed=0, alpha=0.5)
    learner = run.learners[0]
    greedy = greedy_returns(learner, starts)
    assert (greedy >= v_star[starts] - 1e-9).mean() > 0.9
    root = np.array([learner.value(ROOT, int(s)) for s in starts])
    assert np.median(np.abs(root - v_star[starts])) < 1.0
    flat = flat_q_taxi(episodes=3000, replicates=1, seed=0, alpha=0.5)
    assert run.episode_return[:300].mean() > np.nanmean(flat.episode_return[:300])
