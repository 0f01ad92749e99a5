"""Bayesian optimisation over architectures (``nas-bayesopt``, Dobriban (2019), section 6.8) on the
shipped tabular cell benchmark: expected improvement by hand, the GP posterior it uses, and its
regret against random search through the harness."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import decisiongym  # noqa: F401
from decisiongym import agents
from decisiongym.harness import run
from decisiongym.harness.metrics import difference_interval
from decisiongym.supervised.nas.bayesopt import (
    all_architectures,
    architecture_index,
    expected_improvement,
    fit_gp,
    one_hot,
)
from decisiongym.supervised.nas.tabular import TABLE_SPACE, load_table

CELL_ID = "decisiongym/NASCell-v0"


def _phi(z: float) -> float:
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def _Phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def test_expected_improvement_by_hand() -> None:
    # mu 0.5, sigma 0.1, incumbent 0.45: z = 0.5, EI = 0.05 Phi(0.5) + 0.1 phi(0.5)
    # = 0.05 * 0.691462 + 0.1 * 0.352065 = 0.069780.
    assert math.isclose(float(expected_improvement(0.5, 0.1, 0.45)), 0.0697796, abs_tol=1e-6)
    assert math.isclose(float(expected_improvement(0.5, 0.1, 0.45)),
                        0.05 * _Phi(0.5) + 0.1 * _phi(0.5), rel_tol=1e-12)
    # Below the incumbent: z = -1, EI = -0.1 Phi(-1) + 0.1 phi(-1) = 0.0083315.
    assert math.isclose(float(expected_improvement(0.4, 0.1, 0.5)), 0.0083315, abs_tol=1e-6)
    # xi moves the incumbent; sigma = 0 gives the plain improvement, never negative.
    assert math.isclose(float(expected_improvement(0.5, 0.1, 0.44, xi=0.01)),
                        float(expected_improvement(0.5, 0.1, 0.45)), rel_tol=1e-12)
    assert expected_improvement([0.6, 0.4], [0.0, 0.0], 0.5).tolist() == pytest.approx([0.1, 0.0])
    # Increasing in mu and in sigma.
    ei = expected_improvement(np.array([0.4, 0.5, 0.6]), np.array([0.1, 0.1, 0.1]), 0.5)
    assert np.all(np.diff(ei) > 0)
    assert expected_improvement(0.5, 0.2, 0.5) > expected_improvement(0.5, 0.1, 0.5)


def test_encoding_and_enumeration_match_the_cell_space() -> None:
    choices = TABLE_SPACE.choices_per_token
    archs = all_architectures(choices)
    assert archs.shape == (729, 6)
    assert [tuple(a) for a in archs] == TABLE_SPACE.all_tokens()
    assert np.array_equal(architecture_index(archs, choices), np.arange(729))
    assert all(architecture_index([t], choices)[0] == TABLE_SPACE.index(t)
               for t in archs[::37])
    x = one_hot(archs, choices)
    assert x.shape == (729, 18) and (x.sum(1) == 6).all()
    # Squared distance = twice the number of edges whose operation differs.
    a, b = archs[5], archs[600]
    assert ((x[5] - x[600]) ** 2).sum() == 2 * (a != b).sum()


def test_the_agent_proposes_the_argmax_of_expected_improvement_by_hand() -> None:
    """After some observations, the proposal maximises EI computed by hand from the GP's closed
    form (targets normalised by their mean m and standard deviation s):
    mu = m + s k*' (K + s_n I)^-1 (y - m) / s, on the untried cells."""
    from sklearn.gaussian_process.kernels import Matern

    env = gym.make(CELL_ID, tabular=True)
    agent = agents.make("nas-bayesopt", observation_space=env.observation_space,
                        action_space=env.action_space, initial=3, refit_every=1)
    agent.reset(1, seed=0)
    table = load_table()
    rng = np.random.default_rng(1)
    idx = rng.choice(729, size=8, replace=False)
    archs = all_architectures(TABLE_SPACE.choices_per_token)
    agent._evaluated(np.zeros(8, dtype=np.int64), archs[idx], table.mean_val[idx])
    assert agent.tried[0].sum() == 8
    proposal = agent._propose(np.array([0]))[0]
    gp = agent.surrogate(0)  # refitted to the same 8 points from its fitted kernel: same GP
    k = gp.kernel_
    amp, ls, noise = k.k1.k1.constant_value, k.k1.k2.length_scale, k.k2.noise_level
    X = one_hot(archs[idx], TABLE_SPACE.choices_per_token)
    y = table.mean_val[idx]
    m, s = y.mean(), y.std()
    matern = Matern(length_scale=ls, nu=2.5)
    K = amp * matern(X) + noise * np.eye(8)
    free = np.setdiff1d(np.arange(729), idx)
    Xs = one_hot(archs[free], TABLE_SPACE.choices_per_token)
    Ks = amp * matern(Xs, X)
    mu = m + s * Ks @ np.linalg.solve(K, (y - m) / s)
    # sklearn's predictive variance includes the white noise (its kernel's diagonal)
    var = amp + noise - np.einsum("ij,ji->i", Ks, np.linalg.solve(K, Ks.T))
    sd = s * np.sqrt(np.maximum(var, 0))
    mu_gp, sd_gp = gp.predict(Xs, return_std=True)
    assert np.allclose(mu, mu_gp, atol=1e-8) and np.allclose(sd, sd_gp, atol=1e-6)
    ei = np.array([(mu_i - y.max()) * _Phi((mu_i - y.max()) / sd_i) +
                   sd_i * _phi((mu_i - y.max()) / sd_i) for mu_i, sd_i in zip(mu, sd,
                                                                              strict=True)])
    best = free[np.flatnonzero(ei >= ei.max() - 1e-12)]
    assert architecture_index([proposal], TABLE_SPACE.choices_per_token)[0] in best
    assert architecture_index([proposal], TABLE_SPACE.choices_per_token)[0] not in idx


def test_bayesopt_never_repeats_a_cell_and_is_deterministic_by_seed() -> None:
    outs = [run(CELL_ID, "nas-bayesopt", replicates=2, horizon=15, seed=3,
                env_kwargs={"tabular": True}) for _ in range(2)]
    assert np.array_equal(outs[0]["best_val"], outs[1]["best_val"])
    regret = outs[0]["regret_curve"]  # recorded by the env's search recorder
    assert regret.shape == (15, 2) and (np.diff(regret, axis=0) <= 1e-12).all()
    env = gym.make(CELL_ID, tabular=True)
    agent = agents.make("nas-bayesopt", observation_space=env.observation_space,
                        action_space=env.action_space, initial=2)
    agent.reset(1, seed=0)
    seen = set()
    values = load_table().mean_val
    for _ in range(25):
        a = agent._propose(np.array([0]))
        i = int(architecture_index(a, TABLE_SPACE.choices_per_token)[0])
        assert i not in seen
        seen.add(i)
        agent._evaluated(np.array([0]), a, np.array([values[i]]))


def test_bayesopt_beats_random_search_on_the_table() -> None:
    """Mean regret after 40 architectures over 12 searches each (a few seconds): BO below
    random search, the bootstrap interval of the difference below 0 (measured at 64 searches
    of 100: 0.0067 vs 0.0134 at 24 architectures, 0.0013 vs 0.0055 at 100)."""
    final = {name: run(CELL_ID, name, replicates=12, horizon=40, seed=0,
                       env_kwargs={"tabular": True})["final_regret"]
             for name in ("random-search", "nas-bayesopt")}
    lo, hi = difference_interval(final["nas-bayesopt"], final["random-search"])
    assert hi < 0.0, (final["nas-bayesopt"].mean(), final["random-search"].mean(), lo, hi)


def test_parameters_are_checked_and_listed() -> None:
    env = gym.make(CELL_ID, tabular=True)
    kw = {"observation_space": env.observation_space, "action_space": env.action_space}
    with pytest.raises(ValueError, match="initial"):
        agents.make("nas-bayesopt", initial=1, **kw)
    with pytest.raises(ValueError, match="xi"):
        agents.make("nas-bayesopt", xi=-0.1, **kw)
    assert "nas-bayesopt" in dict(agents.list_agents())
    # A space too large to enumerate is sampled instead (here: 729 > 100 candidates).
    agent = agents.make("nas-bayesopt", max_candidates=100, initial=2, **kw)
    agent.reset(1, seed=0)
    assert not agent.enumerate
    values = load_table().mean_val
    for _ in range(4):
        a = agent._propose(np.array([0]))
        agent._evaluated(np.array([0]), a,
                         values[architecture_index(a, TABLE_SPACE.choices_per_token)])
    assert len(agent.values[0]) == 4


def test_fit_gp_without_optimiser_keeps_the_kernel() -> None:
    from decisiongym.supervised.nas.bayesopt import default_kernel

    X = one_hot(all_architectures((3, 3))[:5], (3, 3))
    y = np.array([0.1, 0.5, 0.3, 0.9, 0.2])
    k = default_kernel()
    gp = fit_gp(X, y, k, optimize=False)
    assert gp.kernel_.get_params()["k1__k2__length_scale"] == k.get_params()[
        "k1__k2__length_scale"]
    fitted = fit_gp(X, y, k, optimize=True)
    assert fitted.log_marginal_likelihood_value_ >= gp.log_marginal_likelihood_value_ - 1e-9


def test_docstring_examples() -> None:
    import doctest

    from decisiongym.supervised.nas import bayesopt

    result = doctest.testmod(bayesopt, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
