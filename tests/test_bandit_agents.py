"""The batched agent protocol, the registry, and each stochastic bandit agent's rule."""

from __future__ import annotations

import copy
import math
import re
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from scipy import stats

from decisiongym import agents, theory
from decisiongym.harness.recorders import RegretRecorder
from decisiongym.harness.rollout import run
from tests.conftest import make_agent

BANDIT_AGENTS = [
    "random", "etc", "ucb1", "ucb1-tuned", "epsilon-greedy", "softmax", "pursuit",
    "reinforcement-comparison", "thompson-beta", "thompson-gaussian", "kl-ucb",
    "moss", "bayes-ucb", "imed", "kl-ucb++",
]
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {"etc": {"m": 3}, "kl-ucb++": {"horizon": 300}}


def test_registry_lists_every_agent_with_a_description() -> None:
    listed = dict(agents.list_agents())
    for name in BANDIT_AGENTS:
        assert name in listed
        assert listed[name] and "\n" not in listed[name]


def test_unknown_agent_and_unknown_parameter_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown agent 'ucb2'.*ucb1"):
        make_agent("ucb2", 3)
    with pytest.raises(ValueError, match="ucb1: unknown parameter.*tau.*alpha"):
        make_agent("ucb1", 3, tau=0.1)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("ucb1", {"alpha": -1.0}, r"ucb1: alpha .* got -1\.0"),
        ("ucb1", {"alpha": float("nan")}, r"ucb1: alpha .* got nan"),
        ("ucb1", {"alpha": "big"}, r"ucb1: alpha .* got 'big'"),
        ("epsilon-greedy", {"epsilon": 1.5}, r"epsilon-greedy: epsilon .* got 1\.5"),
        ("epsilon-greedy", {"schedule": "linear"}, r"epsilon-greedy: schedule .* 'linear'"),
        ("epsilon-greedy", {"schedule": "decay", "d": 0.0}, r"epsilon-greedy: d .* got 0\.0"),
        ("softmax", {"tau": 0.0}, r"softmax: tau .* got 0\.0"),
        ("pursuit", {"beta": 2.0}, r"pursuit: beta .* got 2\.0"),
        ("reinforcement-comparison", {"alpha": 0.0}, r"reinforcement-comparison: alpha"),
        ("thompson-beta", {"a": 0.0}, r"thompson-beta: a .* got 0\.0"),
        ("thompson-gaussian", {"noise_sigma": -1.0}, r"thompson-gaussian: noise_sigma"),
        ("kl-ucb", {"c": -3.0}, r"kl-ucb: c .* got -3\.0"),
        ("etc", {}, r"etc: give m"),
        ("etc", {"m": 0}, r"etc: m .* got 0"),
        ("etc", {"gap": 1.5, "horizon": 100}, r"etc: gap .* got 1\.5"),
        ("etc", {"gap": 0.1, "horizon": -1}, r"etc: horizon .* got -1"),
        ("moss", {"horizon": 0}, r"moss: horizon .* got 0"),
        ("moss", {"alpha": 0.0}, r"moss: alpha .* got 0\.0"),
        ("moss", {"model": "poisson"}, r"moss: model .* 'poisson'"),
        ("moss", {"model": "gaussian", "sigma": -1.0}, r"moss: sigma .* got -1\.0"),
        ("bayes-ucb", {"c": -1.0}, r"bayes-ucb: c .* got -1\.0"),
        ("bayes-ucb", {"c": 5.0}, r"bayes-ucb: c = 5\.0 > 0 needs the horizon"),
        ("bayes-ucb", {"c": 5.0, "horizon": 1}, r"bayes-ucb: horizon .* got 1"),
        ("bayes-ucb", {"a": 0.0}, r"bayes-ucb: a .* got 0\.0"),
        ("bayes-ucb", {"model": "gaussian", "prior_sigma": 0.0},
         r"bayes-ucb: prior_sigma .* got 0\.0"),
        ("imed", {"model": "beta"}, r"imed: model .* 'beta'"),
        ("imed", {"sigma": float("inf")}, r"imed: sigma .* got inf"),
        ("kl-ucb++", {}, r"kl-ucb\+\+: give horizon"),
        ("kl-ucb++", {"horizon": 2.5}, r"kl-ucb\+\+: horizon .* got 2\.5"),
        ("kl-ucb++", {"horizon": 100, "precision": 0.0}, r"kl-ucb\+\+: precision .* got 0\.0"),
    ],
)
def test_bad_parameters_raise_value_error_naming_agent_and_value(
        name: str, params: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_agent(name, 3, **params)


@pytest.mark.parametrize("name", BANDIT_AGENTS)
def test_agents_need_a_discrete_action_space(name: str) -> None:
    with pytest.raises(ValueError, match=f"{re.escape(name)}: needs a Discrete"):
        agents.make(name, observation_space=gym.spaces.Discrete(1),
                    action_space=gym.spaces.Box(0, 1, (3,)), **DEFAULT_PARAMS.get(name, {}))


def test_protocol_errors() -> None:
    agent = make_agent("ucb1", 3)
    with pytest.raises(RuntimeError, match="reset"):
        agent.act(np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="num_envs"):
        agent.reset(0)
    agent.reset(4, seed=0)
    with pytest.raises(ValueError, match="3 replicates.*4"):
        agent.act(np.zeros(3, dtype=np.int64))
    assert isinstance(agent, agents.Agent)


@pytest.mark.parametrize("name", BANDIT_AGENTS)
def test_same_seed_same_run_bit_for_bit(name: str) -> None:
    a, b, c = (run("decisiongym/BernoulliBandit-v0", name, replicates=8, horizon=300, seed=seed,
                   env_kwargs={"means": [0.2, 0.5, 0.45, 0.7]},
                   agent_params=DEFAULT_PARAMS.get(name, {}),
                   recorders=[RegretRecorder(keep_steps=True)])
               for seed in (7, 7, 8))
    assert np.array_equal(a["actions"], b["actions"])
    assert np.array_equal(a["rewards"], b["rewards"])
    assert not np.array_equal(a["actions"], c["actions"])
    assert a["actions"].dtype == np.int64
    assert a["actions"].min() >= 0 and a["actions"].max() < 4


@pytest.mark.parametrize("name", BANDIT_AGENTS)
def test_reset_steps_are_never_learned_from(name: str) -> None:
    """NEXT_STEP autoreset: the step after an episode end must not change the agent.

    Two copies of one agent see the same transitions, except on the reset step, where their
    actions and rewards differ. Afterwards they must act identically.
    """
    n, k = 6, 4
    base = make_agent(name, k, **DEFAULT_PARAMS.get(name, {}))
    base.reset(n, seed=3)
    obs = np.zeros(n, dtype=np.int64)
    no = np.zeros(n, dtype=bool)
    rng = np.random.default_rng(0)
    for t in range(5):
        a = base.act(obs)
        base.update(obs, a, rng.random(n).round(), obs, no, no | (t == 4))
    one, two = base, copy.deepcopy(base)
    one.update(obs, np.zeros(n, dtype=np.int64), np.zeros(n), obs, no, no)
    two.update(obs, np.full(n, k - 1, dtype=np.int64), np.ones(n), obs, no, no)
    for _ in range(20):
        a1, a2 = one.act(obs), two.act(obs)
        assert np.array_equal(a1, a2)
        r = rng.random(n).round()
        one.update(obs, a1, r, obs, no, no)
        two.update(obs, a2, r, obs, no, no)


def test_episode_end_clears_statistics_and_reset_step_is_skipped() -> None:
    env = gym.make_vec("decisiongym/BernoulliBandit-v0", num_envs=3,
                       vectorization_mode="vector_entry_point", means=[0.3, 0.6], horizon=3)
    agent = agents.make("ucb1", observation_space=env.single_observation_space,
                        action_space=env.single_action_space)
    obs, _ = env.reset(seed=0)
    agent.reset(3, seed=0)
    totals = []
    for _ in range(6):
        a = agent.act(obs)
        next_obs, r, term, trunc, _ = env.step(a)
        agent.update(obs, a, r, next_obs, term, trunc)
        totals.append(int(agent.counts.sum()))  # type: ignore[attr-defined]
        obs = next_obs
    # steps 1-2 learn, step 3 ends the episode (cleared), step 4 is the reset step (skipped).
    assert totals == [3, 6, 0, 0, 3, 6]


def test_argmax_random_ties_is_uniform_over_the_maxima() -> None:
    rng = np.random.default_rng(1)
    values = np.tile(np.array([1.0, 3.0, 2.0, 3.0, 3.0]), (30_000, 1))
    chosen = agents.argmax_random_ties(values, rng)
    assert set(np.unique(chosen)) == {1, 3, 4}
    counts = np.bincount(chosen, minlength=5)[[1, 3, 4]]
    assert stats.chisquare(counts).pvalue > 1e-3
    no_tie = np.array([[0.0, 1.0, 0.5]])
    assert agents.argmax_random_ties(no_tie, rng)[0] == 1


def _first_round(agent: agents.BaseAgent, *, replicates: int, reward: float,
                 seed: int = 0) -> np.ndarray:
    """The arms each replicate pulls in its first K steps, shape (replicates, K)."""
    k = agent.n_arms  # type: ignore[attr-defined]
    agent.reset(replicates, seed=seed)
    obs = np.zeros(replicates, dtype=np.int64)
    no = np.zeros(replicates, dtype=bool)
    pulled = []
    for _ in range(k):
        a = agent.act(obs)
        pulled.append(a)
        agent.update(obs, a, np.full(replicates, reward), obs, no, no)
    return np.stack(pulled, axis=1)


@pytest.mark.parametrize("name", ["ucb1", "ucb1-tuned", "kl-ucb", "moss", "imed", "kl-ucb++"])
def test_index_policies_pull_every_arm_once_first(name: str) -> None:
    order = _first_round(make_agent(name, 5, **DEFAULT_PARAMS.get(name, {})), replicates=50,
                         reward=1.0)
    assert all(sorted(row) == [0, 1, 2, 3, 4] for row in order)
    # the order is random, not 0..4 every time
    assert len({tuple(row) for row in order}) > 1


def _feed(agent: agents.BaseAgent, arms: list[int], rewards: list[float]) -> None:
    """Feed one replicate a fixed sequence of (arm, reward)."""
    obs = np.zeros(1, dtype=np.int64)
    no = np.zeros(1, dtype=bool)
    for a, r in zip(arms, rewards, strict=True):
        agent.update(obs, np.array([a]), np.array([r]), obs, no, no)


def test_ucb1_index_matches_the_formula() -> None:
    for alpha in (2.0, 6.0):
        agent = make_agent("ucb1", 3, alpha=alpha)
        agent.reset(1, seed=0)
        _feed(agent, [0, 1, 2, 0, 0, 1], [1, 0, 1, 0, 1, 1])
        t = 6
        mu = np.array([2 / 3, 1 / 2, 1.0])
        n = np.array([3, 2, 1])
        expected = mu + np.sqrt(alpha * math.log(t) / n)
        np.testing.assert_allclose(agent.ucb_index()[0], expected)  # type: ignore[attr-defined]
    # alpha = 6 is the UCB index of Dobriban (2019), section 5.2.1: sqrt(2 log(t^3) / T_k).
    np.testing.assert_allclose(expected, mu + np.sqrt(2 * math.log(t**3) / n))


def test_kl_ucb_index_solves_the_kl_equation() -> None:
    agent = make_agent("kl-ucb", 4)
    agent.reset(1, seed=0)
    _feed(agent, [0, 1, 2, 3, 0, 1, 1, 2, 0, 0, 1, 3],
          [1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0])
    index = agent.kl_ucb_index()[0]  # type: ignore[attr-defined]
    counts = np.bincount([0, 1, 2, 3, 0, 1, 1, 2, 0, 0, 1, 3], minlength=4)
    mu = np.array([3 / 4, 0 / 4, 2 / 2, 0 / 2])
    budget = math.log(12) / counts
    for k in range(4):
        if mu[k] == 1.0:
            assert index[k] == pytest.approx(1.0, abs=1e-9)
            continue
        assert index[k] > mu[k]
        assert counts[k] * theory.kl_bernoulli(mu[k], index[k]) == pytest.approx(
            math.log(12), abs=1e-6)
        assert budget[k] > 0


def test_etc_explores_round_robin_then_commits() -> None:
    agent = make_agent("etc", 3, m=2)
    agent.reset(1, seed=0)
    obs = np.zeros(1, dtype=np.int64)
    no = np.zeros(1, dtype=bool)
    rewards = {0: 0.0, 1: 1.0, 2: 0.5}
    seen = []
    for _ in range(12):
        a = agent.act(obs)
        seen.append(int(a[0]))
        agent.update(obs, a, np.array([rewards[int(a[0])]]), obs, no, no)
    assert seen[:6] == [0, 1, 2, 0, 1, 2]
    assert seen[6:] == [1] * 6


def test_etc_uses_the_notes_optimal_m() -> None:
    agent = make_agent("etc", 2, gap=0.2, horizon=10_000)
    assert agent.m == theory.etc_optimal_m(0.2, 10_000)  # type: ignore[attr-defined]


def test_epsilon_greedy_explores_at_rate_epsilon() -> None:
    agent = make_agent("epsilon-greedy", 4, epsilon=0.2)
    agent.reset(20_000, seed=0)
    n = 20_000
    obs = np.zeros(n, dtype=np.int64)
    no = np.zeros(n, dtype=bool)
    agent.update(obs, np.full(n, 2), np.ones(n), obs, no, no)  # arm 2 is greedy now
    a = agent.act(obs)
    # greedy with prob 0.8, plus 0.2 / 4 from exploration
    assert abs((a == 2).mean() - 0.85) < 0.015
    decaying = make_agent("epsilon-greedy", 4, schedule="decay", c=1.0, d=0.5)
    decaying.reset(1, seed=0)
    _feed(decaying, [0] * 100, [1.0] * 100)
    assert decaying.current_epsilon()[0] == pytest.approx(1.0 * 4 / (0.25 * 100))  # type: ignore[attr-defined]


def test_optimistic_initial_values_try_every_arm() -> None:
    agent = make_agent("epsilon-greedy", 5, epsilon=0.0, initial_value=1.0)
    agent.reset(1, seed=0)
    obs = np.zeros(1, dtype=np.int64)
    no = np.zeros(1, dtype=bool)
    tried = set()
    for _ in range(5):
        a = agent.act(obs)
        tried.add(int(a[0]))
        agent.update(obs, a, np.array([0.5]), obs, no, no)
    assert tried == {0, 1, 2, 3, 4}


def test_softmax_probabilities_follow_boltzmann() -> None:
    agent = make_agent("softmax", 3, tau=0.5)
    n = 60_000
    agent.reset(n, seed=0)
    obs = np.zeros(n, dtype=np.int64)
    no = np.zeros(n, dtype=bool)
    for arm, r in ((0, 0.0), (1, 0.5), (2, 1.0)):
        agent.update(obs, np.full(n, arm), np.full(n, r), obs, no, no)
    freq = np.bincount(agent.act(obs), minlength=3) / n
    expected = np.exp(np.array([0.0, 0.5, 1.0]) / 0.5)
    np.testing.assert_allclose(freq, expected / expected.sum(), atol=0.01)


def test_pursuit_moves_probabilities_towards_greedy_arm() -> None:
    agent = make_agent("pursuit", 3, beta=0.1)
    agent.reset(1, seed=0)
    _feed(agent, [1], [1.0])
    np.testing.assert_allclose(agent.probs[0], [0.3, 0.4, 0.3])  # type: ignore[attr-defined]
    np.testing.assert_allclose(agent.probs.sum(), 1.0)  # type: ignore[attr-defined]


def test_reinforcement_comparison_update() -> None:
    agent = make_agent("reinforcement-comparison", 3, alpha=0.1, beta=0.5,
                       initial_reference=0.2)
    agent.reset(1, seed=0)
    _feed(agent, [2], [1.0])
    np.testing.assert_allclose(agent.preferences[0], [0.0, 0.0, 0.5 * (1.0 - 0.2)])  # type: ignore[attr-defined]
    assert agent.reference[0] == pytest.approx(0.2 + 0.1 * 0.8)  # type: ignore[attr-defined]


def test_thompson_beta_posterior_and_reward_range() -> None:
    agent = make_agent("thompson-beta", 2, a=2.0, b=3.0)
    agent.reset(1, seed=0)
    _feed(agent, [0, 0, 0, 1], [1, 1, 0, 0])
    # posterior of arm 0 is Beta(2 + 2, 3 + 1), arm 1 Beta(2, 3 + 1)
    assert agent.sums[0].tolist() == [2.0, 0.0]  # type: ignore[attr-defined]
    assert (agent.counts[0] - agent.sums[0]).tolist() == [1.0, 1.0]  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"thompson-beta: rewards must lie in \[0, 1\]"):
        _feed(agent, [0], [1.5])


def test_thompson_beta_binarises_fractional_rewards() -> None:
    agent = make_agent("thompson-beta", 2)
    agent.reset(10_000, seed=0)
    obs = np.zeros(10_000, dtype=np.int64)
    no = np.zeros(10_000, dtype=bool)
    agent.update(obs, np.zeros(10_000, dtype=np.int64), np.full(10_000, 0.3), obs, no, no)
    successes = agent.sums[:, 0]  # type: ignore[attr-defined]
    assert set(np.unique(successes)) == {0.0, 1.0}
    assert abs(successes.mean() - 0.3) < 0.02


def test_thompson_gaussian_samples_the_conjugate_posterior() -> None:
    agent = make_agent("thompson-gaussian", 2, prior_mean=0.0, prior_sigma=1.0,
                       noise_sigma=0.5)
    n = 40_000
    agent.reset(n, seed=0)
    obs = np.zeros(n, dtype=np.int64)
    no = np.zeros(n, dtype=bool)
    for _ in range(3):
        agent.update(obs, np.zeros(n, dtype=np.int64), np.full(n, 0.8), obs, no, no)
    # posterior of arm 0: precision 1 + 3 / 0.25 = 13, mean 3 * 0.8 / 0.25 / 13
    post_mean, post_sd = 3 * 0.8 / 0.25 / 13, 1 / math.sqrt(13)
    # P(theta_0 > theta_1) with theta_1 ~ N(0, 1)
    p_pick_0 = stats.norm.cdf(post_mean / math.sqrt(post_sd**2 + 1.0))
    assert abs((agent.act(obs) == 0).mean() - p_pick_0) < 0.01


def test_kl_ucb_rejects_rewards_outside_unit_interval() -> None:
    agent = make_agent("kl-ucb", 2)
    agent.reset(1, seed=0)
    with pytest.raises(ValueError, match=r"kl-ucb: rewards must lie in \[0, 1\]"):
        _feed(agent, [0], [-0.5])


@pytest.mark.parametrize("name", ["epsilon-greedy", "softmax", "pursuit",
                                  "reinforcement-comparison", "thompson-beta",
                                  "thompson-gaussian"])
def test_pull_each_arm_first(name: str) -> None:
    order = _first_round(make_agent(name, 6, pull_each_arm_first=True), replicates=40,
                         reward=0.0, seed=1)
    assert all(sorted(row) == list(range(6)) for row in order)
    with pytest.raises(ValueError, match=f"{name}: pull_each_arm_first must be True or False"):
        make_agent(name, 6, pull_each_arm_first="yes")


# ----- the peers' index policies: MOSS, Bayes-UCB, IMED, KL-UCB++ -----------------------------

# One replicate's history on 3 arms: counts (3, 2, 1), means (2/3, 1/2, 1), t = 6.
ARMS, REWARDS = [0, 1, 2, 0, 0, 1], [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]
COUNTS, MEANS = np.array([3.0, 2.0, 1.0]), np.array([2 / 3, 1 / 2, 1.0])


def _fed(name: str, k: int = 3, arms: list[int] = ARMS, rewards: list[float] = REWARDS,
         **params: Any) -> Any:
    agent = make_agent(name, k, **params)
    agent.reset(1, seed=0)
    _feed(agent, arms, rewards)
    return agent


def test_moss_index_by_hand() -> None:
    # Audibert & Bubeck: mu_hat + sqrt(log+(T / (K n)) / n), T = 60, K = 3.
    index = _fed("moss", horizon=60).moss_index()[0]
    bonus = np.sqrt([math.log(20 / 3) / 3, math.log(10) / 2, math.log(20) / 1])
    np.testing.assert_allclose(index, MEANS + bonus, rtol=1e-12)
    # Anytime (Degenne & Perchet): t = 6 for T and (1 + alpha) / 2 on the square; t / (K n) =
    # 2 / n, so only the arm pulled once (log 2 > 0) gets a bonus.
    index = _fed("moss", alpha=1.35).moss_index()[0]
    np.testing.assert_allclose(index, MEANS + np.array([0, 0, math.sqrt(1.175 * math.log(2))]),
                               rtol=1e-12)
    # Gaussian model: 4 sigma^2 in place of 4 * 1/4.
    index = _fed("moss", horizon=60, model="gaussian", sigma=2.0).moss_index()[0]
    np.testing.assert_allclose(index, MEANS + 4 * bonus, rtol=1e-12)
    # an arm pulled T / K times or more gets no bonus (T / K = 2: arms 0 and 1)
    np.testing.assert_allclose(_fed("moss", horizon=6).moss_index()[0][:2], MEANS[:2])


def test_bayes_ucb_beta_quantiles_by_hand() -> None:
    # Successes/failures: arm 0 (2, 0), arm 1 (0, 1), arm 2 (1, 1); t = 6 at the next pull,
    # level q = 1 - 1/6. Posteriors Beta(3, 1), Beta(1, 2), Beta(2, 2).
    arms, rewards = [0, 0, 1, 2, 2], [1.0, 1.0, 0.0, 1.0, 0.0]
    agent = _fed("bayes-ucb", arms=arms, rewards=rewards)
    q = 1 - 1 / 6
    index = agent.bayes_ucb_index()[0]
    assert index[0] == pytest.approx(q ** (1 / 3), rel=1e-10)  # CDF x^3
    assert index[1] == pytest.approx(1 - (1 - q) ** 0.5, rel=1e-10)  # CDF 1 - (1 - x)^2
    assert 3 * index[2] ** 2 - 2 * index[2] ** 3 == pytest.approx(q, rel=1e-10)  # CDF of Beta(2,2)
    # c > 0: level 1 - 1 / (t (log T)^c)
    agent = _fed("bayes-ucb", arms=arms, rewards=rewards, c=1.0, horizon=100)
    q = 1 - 1 / (6 * math.log(100))
    assert agent.bayes_ucb_index()[0][0] == pytest.approx(q ** (1 / 3), rel=1e-10)
    # prior Beta(a, b) = Beta(1, 3): arm 1 is Beta(1, 4), CDF 1 - (1 - x)^4
    agent = _fed("bayes-ucb", arms=arms, rewards=rewards, a=1.0, b=3.0)
    assert agent.bayes_ucb_index()[0][1] == pytest.approx(1 - (1 / 6) ** 0.25, rel=1e-10)


def test_bayes_ucb_gaussian_quantiles_by_hand() -> None:
    from statistics import NormalDist

    arms, rewards = [0, 1, 0], [0.2, -0.4, 0.6]
    z = NormalDist().inv_cdf(1 - 1 / 4)  # t = 4 at the next pull
    # flat prior: N(mu_hat, sigma^2 / n); the arm never pulled comes first
    index = _fed("bayes-ucb", arms=arms, rewards=rewards, model="gaussian",
                 sigma=0.5).bayes_ucb_index()[0]
    np.testing.assert_allclose(index[:2], [0.4 + 0.5 * z / math.sqrt(2), -0.4 + 0.5 * z],
                               rtol=1e-10)
    assert index[2] == np.inf
    # prior N(0, 1), noise sd 0.5: arm 0 has precision 1 + 2 / 0.25 = 9 and mean 3.2 / 9;
    # arm 2 keeps its prior
    index = _fed("bayes-ucb", arms=arms, rewards=rewards, model="gaussian", sigma=0.5,
                 prior_sigma=1.0).bayes_ucb_index()[0]
    np.testing.assert_allclose(index[[0, 2]], [3.2 / 9 + z / 3, z], rtol=1e-10)


def test_imed_index_by_hand() -> None:
    # arm 0: (1, 1, 0), arm 1: (0, 1), arm 2: (1, 0): means 2/3, 1/2, 1/2; the best is 2/3.
    arms, rewards = [0, 1, 2, 0, 1, 2, 0], [1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    agent = _fed("imed", arms=arms, rewards=rewards)
    kl = 0.5 * math.log(0.5 / (2 / 3)) + 0.5 * math.log(0.5 / (1 / 3))
    expected = [math.log(3), 2 * kl + math.log(2), 2 * kl + math.log(2)]
    np.testing.assert_allclose(agent.imed_index()[0], expected, rtol=1e-12)
    assert int(agent.act(np.zeros(1, dtype=np.int64))[0]) in (1, 2)  # the minimum, log 2.25
    # Gaussian KL (mu - best)^2 / (2 sigma^2)
    agent = _fed("imed", arms=arms, rewards=rewards, model="gaussian", sigma=1.0)
    gaussian = 2 * (1 / 6) ** 2 / 2 + math.log(2)
    np.testing.assert_allclose(agent.imed_index()[0], [math.log(3), gaussian, gaussian],
                               rtol=1e-12)
    # the arm never pulled is pulled first
    fresh = _fed("imed", k=4, arms=arms, rewards=rewards)
    assert fresh.imed_index()[0][3] == -np.inf
    assert int(fresh.act(np.zeros(1, dtype=np.int64))[0]) == 3


def test_kl_ucb_plus_plus_index_by_hand() -> None:
    # T = 60, K = 3: y = T / (K n) = 20 / n, g(n) = log(y (1 + log(y)^2)).
    agent = _fed("kl-ucb++", horizon=60)
    index = agent.kl_ucb_index()[0]
    for k in (0, 1):
        y = 20 / COUNTS[k]
        g = math.log(y * (1 + math.log(y) ** 2))
        assert index[k] > MEANS[k]
        assert COUNTS[k] * float(theory.kl_bernoulli(MEANS[k], index[k])) == pytest.approx(
            g, abs=1e-5)
    assert index[2] == pytest.approx(1.0)  # mean 1: nothing above it
    # Gaussian: mu_hat + sqrt(2 sigma^2 g(n) / n)
    index = _fed("kl-ucb++", horizon=60, model="gaussian", sigma=0.5).kl_ucb_index()[0]
    y = 20 / COUNTS
    g = np.log(y * (1 + np.log(y) ** 2))
    np.testing.assert_allclose(index, MEANS + np.sqrt(2 * 0.25 * g / COUNTS), rtol=1e-12)
    # n >= T / K: g = 0, the index is the sample mean
    np.testing.assert_allclose(_fed("kl-ucb++", horizon=6).kl_ucb_index()[0][:2], MEANS[:2],
                               atol=1e-9)


@pytest.mark.parametrize("name", ["moss", "bayes-ucb", "imed", "kl-ucb++"])
def test_bernoulli_model_needs_rewards_in_the_unit_interval(name: str) -> None:
    params = DEFAULT_PARAMS.get(name, {})
    agent = make_agent(name, 2, **params)
    agent.reset(1, seed=0)
    with pytest.raises(ValueError, match=rf"{re.escape(name)}: rewards must lie in \[0, 1\]"):
        _feed(agent, [0], [-0.5])
    gaussian = make_agent(name, 2, model="gaussian", **params)
    gaussian.reset(1, seed=0)
    _feed(gaussian, [0, 1], [-0.5, 3.0])


LEARNERS = [("moss", {"horizon": 1000}), ("moss", {}), ("bayes-ucb", {}), ("imed", {}),
            ("kl-ucb++", {"horizon": 1000})]


@pytest.mark.parametrize(("name", "params"), LEARNERS)
@pytest.mark.parametrize("model", ["bernoulli", "gaussian"])
def test_peer_index_policies_learn(name: str, params: dict[str, Any], model: str) -> None:
    """Regret far below uniform play's, T (mu* - mean mu), on a small problem, for several
    seeds: the upper end of the 95% interval below a third of it."""
    if model == "bernoulli":
        env, means = "decisiongym/BernoulliBandit-v0", [0.7, 0.5, 0.4]
        kwargs: dict[str, Any] = {"means": means}
    else:
        env, means = "decisiongym/GaussianBandit-v0", [0.5, 0.0, -0.2]
        kwargs = {"means": means, "sigma": 1.0}
    uniform = 1000 * (max(means) - sum(means) / 3)
    for seed in (0, 1, 2):
        result = run(env, name, replicates=60, horizon=1000, seed=seed, env_kwargs=kwargs,
                     agent_params={**params, "model": model})
        regret = result["final_regret"]
        half = 2 * regret.std(ddof=1) / math.sqrt(regret.size)
        assert regret.mean() + half < uniform / 3, (name, model, seed, regret.mean(), uniform)
