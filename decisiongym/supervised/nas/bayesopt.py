"""Bayesian optimisation over architectures (Dobriban, *Notes for Stat 991: Topics in Deep
Learning*, 2019, section 6.8: "Bayesian Optimization", a search strategy with a "surrogate model:
probabilistic regression model of configuration performance").

``nas-bayesopt`` searches the way Snoek, Larochelle & Adams (2012, "Practical Bayesian
optimization of machine learning algorithms") tune hyperparameters, on the architecture
encoding that White, Neiswanger & Savani (2021, "BANANAS: Bayesian optimization with neural
architectures for neural architecture search") and the NAS-Bench-201 study (Dong & Yang 2020)
use for a Gaussian process:

- encoding: the one-hot vector of the choice of every token (for a cell: the operation on each
  edge), so the squared Euclidean distance of two architectures is twice the number of tokens
  on which they differ (a Hamming-distance kernel);
- surrogate: scikit-learn's ``GaussianProcessRegressor`` with the kernel
  ``C * Matern(nu = 5/2) + White`` on the encodings, targets normalised, hyperparameters by
  maximum marginal likelihood (L-BFGS), refitted every ``refit_every`` observations and held
  fixed in between (the posterior is refitted to every observation);
- acquisition: expected improvement over the best accuracy seen so far, f*,

      EI(x) = (mu(x) - f* - xi) Phi(z) + sigma(x) phi(z),   z = (mu(x) - f* - xi) / sigma(x)

  (Mockus 1978; Jones, Schonlau & Welch 1998), EI = max(mu - f* - xi, 0) where sigma = 0,
  maximised exactly over the candidates not evaluated yet: the whole space when it has at most
  ``max_candidates`` architectures (the table's 729 cells), else ``max_candidates`` drawn
  uniformly for each proposal;
- the first ``initial`` architectures are uniform random, without repetition.

>>> import numpy as np
>>> float(np.round(expected_improvement(0.5, 0.1, 0.45), 6))
0.06978
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike

from decisiongym.agents.base import register
from decisiongym.arrays import FloatArray, IntArray
from decisiongym.supervised.nas.agents import _ArchitectureAgent


def expected_improvement(mu: ArrayLike, sigma: ArrayLike, best: float,
                         xi: float = 0.0) -> FloatArray:
    """EI of a Gaussian posterior N(mu, sigma^2) over the incumbent ``best`` (maximisation):
    (mu - best - xi) Phi(z) + sigma phi(z), z = (mu - best - xi) / sigma; max(mu - best - xi, 0)
    where sigma = 0."""
    from scipy.stats import norm

    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    imp = mu - best - xi
    safe = np.where(sigma > 0, sigma, 1.0)
    z = imp / safe
    ei = imp * norm.cdf(z) + safe * norm.pdf(z)
    return np.asarray(np.where(sigma > 0, np.maximum(ei, 0.0), np.maximum(imp, 0.0)))


def one_hot(archs: ArrayLike, choices: ArrayLike) -> FloatArray:
    """(n, sum(choices)) one-hot encodings of architectures (n, T) with ``choices[t]`` choices
    for token t."""
    a = np.atleast_2d(np.asarray(archs, dtype=np.int64))
    c = np.asarray(choices, dtype=np.int64).reshape(-1)
    offsets = np.concatenate([[0], np.cumsum(c)[:-1]])
    out = np.zeros((a.shape[0], int(c.sum())))
    out[np.arange(a.shape[0])[:, None], offsets[None] + a] = 1.0
    return out


def architecture_index(archs: ArrayLike, choices: ArrayLike) -> IntArray:
    """Mixed-radix index of each architecture (the last token varies fastest)."""
    a = np.atleast_2d(np.asarray(archs, dtype=np.int64))
    c = np.asarray(choices, dtype=np.int64).reshape(-1)
    weights = np.concatenate([np.cumprod(c[::-1])[::-1][1:], [1]])
    return np.asarray(a @ weights)


def all_architectures(choices: ArrayLike) -> IntArray:
    """Every architecture (prod(choices), T), in the order of :func:`architecture_index`."""
    c = [int(k) for k in np.asarray(choices).reshape(-1)]
    grids = np.meshgrid(*[np.arange(k) for k in c], indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], axis=1).astype(np.int64)


def default_kernel() -> Any:
    """C * Matern(nu = 5/2, isotropic) + White, with bounds for normalised targets on one-hot
    encodings (distances between sqrt(2) and sqrt(2 T))."""
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    return (ConstantKernel(1.0, (1e-2, 1e2)) * Matern(length_scale=2.0,
                                                      length_scale_bounds=(0.1, 50.0), nu=2.5)
            + WhiteKernel(0.1, (1e-6, 1.0)))


def fit_gp(X: FloatArray, y: FloatArray, kernel: Any, *, optimize: bool,
           random_state: int = 0) -> Any:
    """scikit-learn's ``GaussianProcessRegressor`` on (X, y), targets normalised; with
    ``optimize`` the kernel's hyperparameters maximise the marginal likelihood (L-BFGS from
    ``kernel``), else they are those of ``kernel``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor

    gp = GaussianProcessRegressor(kernel=kernel, normalize_y=True,
                                  optimizer="fmin_l_bfgs_b" if optimize else None,
                                  n_restarts_optimizer=0, random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(X, y)
    return gp


@register("nas-bayesopt", "Bayesian optimisation: a Gaussian process (scikit-learn) on one-hot "
          "architecture encodings, expected improvement over the untried candidates "
          "(initial, xi, refit_every, max_candidates)")
class NASBayesOpt(_ArchitectureAgent):
    """Bayesian optimisation over architectures (see :mod:`decisiongym.supervised.nas.bayesopt`).

    Parameters: ``initial`` random architectures before the first GP proposal (5, at least 2),
    ``xi`` the EI margin in accuracy units (0.0), ``refit_every`` observations between
    hyperparameter fits (5; 1 refits at every proposal, about 10x the time per proposal for a
    regret that did not differ measurably; the kernel stays as last fitted in between),
    ``max_candidates`` (20,000: spaces at most this large are enumerated, larger ones sampled).
    In an enumerated space, an architecture already evaluated is never proposed again while
    untried ones remain (a sampled candidate set may repeat one). Each
    replicate fits its own GP, in a Python loop over the replicates starting an architecture.
    """

    def __init__(self, *, observation_space: spaces.Space[Any], action_space: spaces.Space[Any],
                 initial: int = 5, xi: float = 0.0, refit_every: int = 5,
                 max_candidates: int = 20_000) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space)
        self.initial = self._check_int("initial", initial, low=2)
        self.xi = self._check_float("xi", xi, low=0.0)
        self.refit_every = self._check_int("refit_every", refit_every)
        self.max_candidates = self._check_int("max_candidates", max_candidates)
        self._params = {"initial": self.initial, "xi": self.xi,
                        "refit_every": self.refit_every,
                        "max_candidates": self.max_candidates}
        self.size = math.prod(int(c) for c in self.choices)
        self.enumerate = self.size <= self.max_candidates
        self.space_archs: IntArray | None = None
        self.space_X: FloatArray | None = None
        if self.enumerate:
            self.space_archs = all_architectures(self.choices)
            self.space_X = one_hot(self.space_archs, self.choices)

    def _reset_state(self, num_envs: int) -> None:
        super()._reset_state(num_envs)
        self.history: list[list[IntArray]] = [[] for _ in range(num_envs)]
        self.values: list[list[float]] = [[] for _ in range(num_envs)]
        self.tried = np.zeros((num_envs, self.size if self.enumerate else 0), dtype=bool)
        self.kernels: list[Any] = [default_kernel() for _ in range(num_envs)]
        self.fitted_at = np.zeros(num_envs, dtype=np.int64)
        self.seeds = self.rng.integers(2**31, size=num_envs)

    def _candidates(self, r: int) -> tuple[IntArray, FloatArray]:
        if self.enumerate:
            assert self.space_archs is not None and self.space_X is not None
            free = np.flatnonzero(~self.tried[r])
            if free.size == 0:  # everything tried: all are candidates again
                free = np.arange(self.size)
            return self.space_archs[free], self.space_X[free]
        archs = self._uniform(self.max_candidates)
        return archs, one_hot(archs, self.choices)

    def _propose(self, rows: IntArray) -> IntArray:
        from threadpoolctl import threadpool_limits

        # One BLAS thread: the matrices are tiny, and threads only spin (10x slower measured).
        with threadpool_limits(limits=1):
            return self._propose_rows(rows)

    def _propose_rows(self, rows: IntArray) -> IntArray:
        out = np.zeros((len(rows), self.T), dtype=np.int64)
        for k, r in enumerate(rows):
            archs, X = self._candidates(int(r))
            n = len(self.values[r])
            if n < self.initial:
                out[k] = archs[self.rng.integers(len(archs))]
                continue
            gp = self.surrogate(int(r))
            mu, sd = gp.predict(X, return_std=True)
            ei = expected_improvement(mu, sd, max(self.values[r]), self.xi)
            top = np.flatnonzero(ei >= ei.max() - 1e-15 * max(1.0, abs(float(ei.max()))))
            out[k] = archs[top[self.rng.integers(len(top))]]
        return out

    def surrogate(self, r: int) -> Any:
        """The GP of replicate ``r`` on its observations (hyperparameters refitted when due)."""
        n = len(self.values[r])
        X = one_hot(np.array(self.history[r]), self.choices)
        y = np.asarray(self.values[r], dtype=np.float64)
        due = self.fitted_at[r] == 0 or n - self.fitted_at[r] >= self.refit_every
        gp = fit_gp(X, y, self.kernels[r], optimize=bool(due), random_state=int(self.seeds[r]))
        if due:
            self.kernels[r] = gp.kernel_
            self.fitted_at[r] = n
        return gp

    def _evaluated(self, rows: IntArray, archs: IntArray, rewards: FloatArray) -> None:
        for r, a, v in zip(rows, archs, rewards, strict=True):
            self.history[r].append(np.asarray(a, dtype=np.int64).copy())
            self.values[r].append(float(v))
        if self.enumerate and len(rows):
            self.tried[rows, architecture_index(archs, self.choices)] = True


__all__ = ["NASBayesOpt", "all_architectures", "architecture_index", "default_kernel",
           "expected_improvement", "fit_gp", "one_hot"]
