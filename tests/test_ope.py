"""Off-policy evaluation (``decisiongym.harness.ope``) and ``decisiongym reproduce ope``: IPS,
SNIPS, DM, DR; switch-DR (Wang, Agarwal & Dudik 2017), DR with optimistic shrinkage (Su et al.
2020), self-normalised DR; the replay method (Li, Chu, Langford & Wang 2011)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gymnasium import spaces

from decisiongym import agents
from decisiongym.cli import main
from decisiongym.harness import run
from decisiongym.harness.ope import (
    LinearLoggingProblem,
    LoggedBandit,
    cross_fit_ridge,
    direct_method,
    doubly_robust,
    doubly_robust_shrinkage,
    evaluate,
    ips,
    replay_evaluation,
    self_normalized_doubly_robust,
    shrunk_weights,
    snips,
    switch_doubly_robust,
)


def _tiny() -> tuple[LoggedBandit, np.ndarray, np.ndarray]:
    data = LoggedBandit(contexts=np.zeros((3, 1)), actions=np.array([0, 1, 0]),
                        rewards=np.array([1.0, 0.5, 0.0]), propensities=np.array([0.5, 0.25, 0.5]),
                        n_actions=2)
    target = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    q = np.array([[0.8, 0.2], [0.4, 0.6], [0.1, 0.3]])
    return data, target, q


def test_estimators_on_a_hand_computed_example() -> None:
    data, target, q = _tiny()
    # weights pi(A|X)/p: 1/0.5 = 2, 0.5/0.25 = 2, 0/0.5 = 0
    assert ips(data, target) == pytest.approx((2 * 1.0 + 2 * 0.5 + 0) / 3)
    assert snips(data, target) == pytest.approx((2 * 1.0 + 2 * 0.5) / 4)
    dm = (0.8 + 0.5 * 0.4 + 0.5 * 0.6 + 0.3) / 3
    assert direct_method(data, target, q) == pytest.approx(dm)
    correction = (2 * (1.0 - 0.8) + 2 * (0.5 - 0.6) + 0) / 3
    assert doubly_robust(data, target, q) == pytest.approx(dm + correction)
    est = evaluate(data, target, q, n_boot=200, random_state=0)
    assert list(est) == ["ips", "snips", "dm", "dr"]
    for e in est.values():
        assert e.ci_low <= e.value <= e.ci_high


def test_ips_and_dr_are_unbiased_and_dr_varies_less_with_the_right_model() -> None:
    prob = LinearLoggingProblem(seed=1)
    truth = prob.true_value(n=400_000)
    rng = np.random.default_rng(0)
    reps, n = 300, 300
    est: dict[str, list[float]] = {"ips": [], "dr": [], "dr_fit": []}
    for _ in range(reps):
        data, pi, eta = prob.log(rng, n, epsilon=0.3)
        est["ips"].append(ips(data, pi))
        est["dr"].append(doubly_robust(data, pi, eta))  # the right reward model
        est["dr_fit"].append(doubly_robust(data, pi, cross_fit_ridge(data)))
    for name, values in est.items():
        v = np.asarray(values)
        se = v.std(ddof=1) / np.sqrt(reps)
        assert abs(v.mean() - truth) < 3 * se + 2e-3, (name, v.mean(), truth, se)
    assert np.var(est["dr"]) < 0.5 * np.var(est["ips"])
    assert np.var(est["dr_fit"]) < np.var(est["ips"])


def test_zero_propensities_and_bad_inputs_raise_clear_errors() -> None:
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"propensities\[1\] = 0\.0 is zero: the behaviour "
                                         r"policy could not have taken the logged action"):
        LoggedBandit(x, np.array([0, 1, 0]), np.ones(3), np.array([0.5, 0.0, 0.5]), 2)
    with pytest.raises(ValueError, match=r"propensities\[0\] = 1\.5 is outside \(0, 1\]"):
        LoggedBandit(x, np.array([0, 1, 0]), np.ones(3), np.array([1.5, 0.5, 0.5]), 2)
    with pytest.raises(ValueError, match=r"actions must be integers in \[0, 2\)"):
        LoggedBandit(x, np.array([0, 2, 0]), np.ones(3), np.full(3, 0.5), 2)
    with pytest.raises(ValueError, match=r"rewards must have shape \(3,\)"):
        LoggedBandit(x, np.array([0, 1, 0]), np.ones(2), np.full(3, 0.5), 2)
    data, target, q = _tiny()
    with pytest.raises(ValueError, match=r"target_probs must have shape \(3, 2\)"):
        ips(data, target[:2])
    with pytest.raises(ValueError, match="probability distribution"):
        ips(data, target * 2)
    with pytest.raises(ValueError, match=r"predicted_rewards must have shape"):
        doubly_robust(data, target, q[:, :1])
    with pytest.raises(ValueError, match="epsilon must be in"):
        LinearLoggingProblem().behaviour_probs(x, 0.0)


def _four() -> tuple[LoggedBandit, np.ndarray, np.ndarray]:
    """Four rounds whose importance weights differ: w = pi(A|X) / p = 1/0.5, 0.5/0.125, 0.4/0.8,
    1/1 = 2, 4, 0.5, 1."""
    data = LoggedBandit(contexts=np.zeros((4, 1)), actions=np.array([0, 1, 0, 1]),
                        rewards=np.array([1.0, 0.5, 0.0, 1.0]),
                        propensities=np.array([0.5, 0.125, 0.8, 1.0]), n_actions=2)
    target = np.array([[1.0, 0.0], [0.5, 0.5], [0.4, 0.6], [0.0, 1.0]])
    q = np.array([[0.7, 0.2], [0.4, 0.6], [0.1, 0.3], [0.5, 0.7]])
    return data, target, q


def test_dr_variants_on_a_hand_computed_example() -> None:
    data, target, q = _four()
    # DM_i = sum_a pi(a|X_i) q(X_i, a) = 0.7, 0.5, 0.04 + 0.18 = 0.22, 0.7 (mean 0.53);
    # residuals R_i - q(X_i, A_i) = 0.3, -0.1, -0.1, 0.3; weights 2, 4, 0.5, 1.
    assert direct_method(data, target, q) == pytest.approx(2.12 / 4)
    assert doubly_robust(data, target, q) == pytest.approx((1.3 + 0.1 + 0.17 + 1.0) / 4)
    # switch-DR keeps the corrections of the weights <= tau only
    assert switch_doubly_robust(data, target, q, tau=1.5) == pytest.approx(
        (0.7 + 0.5 + 0.17 + 1.0) / 4)
    assert switch_doubly_robust(data, target, q, tau=2.0) == pytest.approx(
        (1.3 + 0.5 + 0.17 + 1.0) / 4)
    # shrinkage, lambda = 4: w -> 4 w / (w^2 + 4) = 1, 0.8, 2 / 4.25, 0.8
    assert shrunk_weights([2.0, 4.0, 0.5, 1.0], 4.0).tolist() == pytest.approx(
        [1.0, 0.8, 2 / 4.25, 0.8])
    assert doubly_robust_shrinkage(data, target, q, lambda_=4.0) == pytest.approx(
        (0.7 + 0.3 + 0.5 - 0.08 + 0.22 - 0.1 * 2 / 4.25 + 0.7 + 0.24) / 4)
    # SNDR: DM + sum w (R - q) / sum w = 0.53 + (0.6 - 0.4 - 0.05 + 0.3) / 7.5
    assert self_normalized_doubly_robust(data, target, q) == pytest.approx(0.53 + 0.45 / 7.5)


def test_dr_variants_reach_dr_and_dm_at_their_limits() -> None:
    prob = LinearLoggingProblem(seed=3)
    data, pi, _ = prob.log(np.random.default_rng(0), 400, epsilon=0.3)
    q = cross_fit_ridge(data)
    dr, dm = doubly_robust(data, pi, q), direct_method(data, pi, q)
    assert switch_doubly_robust(data, pi, q, tau=math.inf) == pytest.approx(dr, rel=1e-13)
    assert switch_doubly_robust(data, pi, q, tau=0.0) == pytest.approx(dm, rel=1e-13)
    assert doubly_robust_shrinkage(data, pi, q, lambda_=math.inf) == pytest.approx(dr, rel=1e-13)
    assert doubly_robust_shrinkage(data, pi, q, lambda_=0.0) == pytest.approx(dm, rel=1e-13)
    # a huge finite lambda is DR up to rounding, a tiny one the DM
    assert doubly_robust_shrinkage(data, pi, q, lambda_=1e12) == pytest.approx(dr, rel=1e-8)
    assert doubly_robust_shrinkage(data, pi, q, lambda_=1e-12) == pytest.approx(dm, rel=1e-8)
    # switch-DR at a threshold between the two weights of this log (K / epsilon and 0)
    assert switch_doubly_robust(data, pi, q, tau=4 / 0.3 + 1e-9) == pytest.approx(dr, rel=1e-13)
    # SNDR is DR when every weight is 1 (the target is the behaviour policy)
    pb = prob.behaviour_probs(data.contexts, 0.3)
    assert self_normalized_doubly_robust(data, pb, q) == pytest.approx(
        doubly_robust(data, pb, q), rel=1e-12)
    # ... and the DM when every weight is 0
    never = np.eye(prob.k)[(data.actions + 1) % prob.k]
    assert self_normalized_doubly_robust(data, never, q) == pytest.approx(
        direct_method(data, never, q), rel=1e-13)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "1", None, True])
def test_dr_variants_refuse_bad_hyperparameters(bad: Any) -> None:
    data, target, q = _four()
    with pytest.raises(ValueError, match=r"switch_doubly_robust: tau must be a number in "
                                         r"\[0, inf\]"):
        switch_doubly_robust(data, target, q, tau=bad)
    with pytest.raises(ValueError, match=r"lambda_ must be a number in \[0, inf\]"):
        doubly_robust_shrinkage(data, target, q, lambda_=bad)
    with pytest.raises(ValueError, match=r"predicted_rewards must have shape"):
        self_normalized_doubly_robust(data, target, q[:, :1])


class ScriptedAgent:
    """Plays ``choices`` in turn (one replicate) and records what it learns from."""

    name = "scripted"

    def __init__(self, choices: list[int]) -> None:
        self.choices = choices
        self.learned: list[tuple[int, float, bool]] = []

    def reset(self, num_envs: int, seed: int | None = None) -> None:
        self.i = 0

    def act(self, obs: Any) -> np.ndarray:
        a = self.choices[self.i % len(self.choices)]
        self.i += 1
        return np.array([a])

    def update(self, obs: Any, actions: np.ndarray, rewards: np.ndarray, next_obs: Any,
               terminated: np.ndarray, truncated: np.ndarray) -> None:
        self.learned.append((int(actions[0]), float(rewards[0]), bool(truncated[0])))


def _uniform_log(actions: list[int], rewards: list[float], k: int = 2) -> LoggedBandit:
    n = len(actions)
    return LoggedBandit(np.arange(float(n))[:, None], np.array(actions), np.array(rewards),
                        np.full(n, 1.0 / k), k)


def test_replay_keeps_the_matching_rounds_by_hand() -> None:
    """Li et al. 2011, Algorithm 1: the algorithm chooses 1, 0, 0, 1, 1, ... on the logged rounds
    in order; it matches the log at rounds 0, 2 and 4 only, learns from those only, and its value
    is the mean of their rewards."""
    data = _uniform_log([1, 1, 0, 0, 1, 0], [0.3, 0.9, 0.5, 0.2, 1.0, 0.4])
    agent = ScriptedAgent([1, 0, 0, 1, 1, 1])
    result = replay_evaluation(agent, data)
    assert result.positions.tolist() == [0, 2, 4]
    assert result.actions.tolist() == [1, 0, 1]
    assert result.rewards.tolist() == [0.3, 0.5, 1.0]
    assert result.value == pytest.approx(1.8 / 3)
    assert (result.rounds, result.events) == (3, 6)
    assert agent.learned == [(1, 0.3, False), (0, 0.5, False), (1, 1.0, False)]
    # with a number of rounds: it stops at the second accepted round, flagged truncated
    agent = ScriptedAgent([1, 0, 0, 1, 1, 1])
    result = replay_evaluation(agent, data, rounds=2)
    assert (result.rounds, result.events, result.value) == (2, 3, pytest.approx(0.4))
    assert agent.learned == [(1, 0.3, False), (0, 0.5, True)]


def test_replay_refuses_logs_it_cannot_use() -> None:
    data = _uniform_log([1, 1, 0], [0.3, 0.9, 0.5])
    with pytest.raises(ValueError, match=r"the log ran out after 3 rounds with 2 of the 5 "
                                         r"rounds asked for accepted"):
        replay_evaluation(ScriptedAgent([1, 0, 0]), data, rounds=5)
    skewed = LoggedBandit(np.zeros((3, 1)), np.array([1, 1, 0]), np.ones(3),
                          np.array([0.5, 0.7, 0.5]), 2)
    with pytest.raises(ValueError, match=r"needs a log of uniformly random actions \(every "
                                         r"propensity 1/K = 0\.5\); propensities\[1\] = 0\.7"):
        replay_evaluation(ScriptedAgent([1]), skewed)
    with pytest.raises(ValueError, match=r"observations must have one row per logged round"):
        replay_evaluation(ScriptedAgent([1]), data, observations=np.zeros(2))
    with pytest.raises(ValueError, match=r"no logged round matched"):
        replay_evaluation(ScriptedAgent([0]), _uniform_log([1, 1], [0.0, 1.0]))
    with pytest.raises(ValueError, match=r"agent_params are for an agent given by name"):
        replay_evaluation(ScriptedAgent([1]), data, agent_params={"alpha": 1.0})


def _difference(online: np.ndarray, replayed: np.ndarray) -> tuple[float, float]:
    diff = float(replayed.mean() - online.mean())
    se = math.sqrt(replayed.var(ddof=1) / replayed.size + online.var(ddof=1) / online.size)
    return diff, se


def test_replay_is_unbiased_for_linucb_against_running_it_online() -> None:
    """Li et al. 2011, Theorem 1: the replay of LinUCB on uniform logs of the linear problem
    estimates its online mean reward per round over T rounds: the difference between 30 replays
    and 30 online runs lies within 3 standard errors, and the test has power (that standard
    error is small beside the gap between LinUCB and the uniform policy it replays from)."""
    prob = LinearLoggingProblem(k=4, d=5, noise_sigma=0.5, seed=2011)
    horizon, seeds = 200, 30
    online = run("decisiongym/LinearContextualBandit-v0", "linucb", replicates=seeds,
                 horizon=horizon, seed=0, env_kwargs={"k": 4, "d": 5, "noise_sigma": 0.5,
                                                      "beta": prob.beta.tolist()})
    rng = np.random.default_rng(1)
    values, uniform = [], []
    for s in range(seeds):
        data, _, eta = prob.log(rng, 2 * 4 * horizon, 1.0)
        values.append(replay_evaluation("linucb", data, rounds=horizon, seed=s).value)
        uniform.append(eta.mean())
    diff, se = _difference(online["mean_reward"], np.asarray(values))
    assert abs(diff) < 3 * se, (diff, se)
    assert float(np.mean(values) - np.mean(uniform)) > 10 * se


def test_replay_is_unbiased_for_ucb1_on_a_multi_armed_bandit() -> None:
    """The same for an agent of the stochastic bandits, fed a constant observation."""
    means = np.array([0.2, 0.5, 0.6])
    horizon, seeds = 300, 40
    online = run("decisiongym/BernoulliBandit-v0", "ucb1", replicates=seeds, horizon=horizon,
                 seed=0, env_kwargs={"means": means.tolist()})
    agent = agents.make("ucb1", observation_space=spaces.Discrete(1),
                        action_space=spaces.Discrete(3))
    rng = np.random.default_rng(2)
    values = []
    for s in range(seeds):
        n = 2 * 3 * horizon
        actions = rng.integers(3, size=n)
        rewards = (rng.random(n) < means[actions]).astype(np.float64)
        data = LoggedBandit(np.zeros((n, 1)), actions, rewards, np.full(n, 1 / 3), 3)
        values.append(replay_evaluation(agent, data, rounds=horizon, seed=s,
                                        observations=np.zeros(n, dtype=np.int64)).value)
    diff, se = _difference(online["mean_reward"], np.asarray(values))
    assert abs(diff) < 3 * se, (diff, se)
    assert float(np.mean(values)) - means.mean() > 10 * se


def test_reproduce_ope_quick(tmp_path: Path) -> None:
    out = tmp_path / "ope"
    code = main(["reproduce", "ope", "--quick", "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    failed = [c["name"] for c in summary["checks"] if not c["passed"]]
    assert code == 0 and not failed, failed
    rows = summary["extra"]["ope"]["rows"] if "extra" in summary else summary["ope"]["rows"]
    assert [r["epsilon"] for r in rows] == [1.0, 0.5, 0.2, 0.1, 0.05, 0.02]
    for key in ("switch_dr", "dr_os", "sndr"):
        assert all(f"{key}_bias" in r and f"{key}_rmse" in r for r in rows)
    names = [c["name"] for c in summary["checks"]]
    assert sum(n.startswith("Replay estimates") for n in names) == 2
    assert any(n.startswith("switch-DR is no worse than DR") for n in names)
    assert (out / "plots" / "ope_error_vs_overlap.png").read_bytes()[:4] == b"\x89PNG"


def test_the_public_name_decisiongym_ope() -> None:
    import decisiongym.harness.ope as inner
    import decisiongym.ope as public

    assert public.switch_doubly_robust is inner.switch_doubly_robust
    assert {"doubly_robust", "switch_doubly_robust", "doubly_robust_shrinkage",
            "self_normalized_doubly_robust", "replay_evaluation"} <= set(public.__all__)
    assert all(hasattr(public, name) for name in public.__all__)
