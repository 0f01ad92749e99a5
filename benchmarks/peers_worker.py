"""Run the peer libraries on a shared reward table; print JSON timings and final regrets.

Runs inside ``benchmarks/.venv-peers`` (see ``setup_peers.sh``), never in the project's own
environment: it imports neither decisiongym nor gymnasium. ``bench_bandits.py`` starts it as

    .venv-peers/bin/python peers_worker.py --tables T.npy --means M.npy --seed S

``T.npy`` holds the rewards of every arm, shape (replicates, horizon, K), where replicate ``i`` is
the table decisiongym's env pays after ``reset(seed=S + i)``; ``M.npy`` the K arm means. Each
library runs each replicate as it is meant to be used, one decision at a time in a Python loop,
and is fed the reward of the arm it chose from the table. The pseudo-regret of a replicate is
sum_t (mu* - mu[A_t]) over the arms it chose.

Stdout carries one JSON document, ``{"versions": {...}, "results": [...]}``; the libraries'
import-time chatter goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

with contextlib.redirect_stdout(sys.stderr):  # SMPyBandits prints warnings on import
    from mabwiser.mab import MAB, LearningPolicy
    from SMPyBandits.Policies import Thompson, UCBalpha

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

ALGORITHMS = ("ucb1", "thompson")
LIBRARIES = ("smpybandits", "mabwiser")


def smpybandits_replicate(algorithm: str, table: FloatArray, seed: int) -> IntArray:
    """Arms chosen by SMPyBandits on one replicate.

    ``UCBalpha``'s index is mu_hat + sqrt(alpha log t / (2 T_k)), so its alpha = 4 is Auer et al.'s
    UCB1, mu_hat + sqrt(2 log t / T_k). ``Thompson`` has Beta(1, 1) priors. Both break ties among
    the maximal indices uniformly at random, with numpy's global generator (seeded here).
    """
    np.random.seed(seed)  # noqa: NPY002  (SMPyBandits draws from the global generator)
    random.seed(seed)
    horizon, n_arms = table.shape
    policy = UCBalpha(n_arms, alpha=4.0) if algorithm == "ucb1" else Thompson(n_arms)
    policy.startGame()
    rewards = table.tolist()
    arms = []
    for t in range(horizon):
        arm = int(policy.choice())
        policy.getReward(arm, rewards[t][arm])
        arms.append(arm)
    return np.asarray(arms, dtype=np.int64)


def mabwiser_replicate(algorithm: str, table: FloatArray, seed: int) -> IntArray:
    """Arms chosen by MABWiser on one replicate, online: ``predict`` then ``partial_fit``.

    MABWiser's UCB1 index is mu_hat + alpha sqrt(2 log N / n_k), so its alpha = 1 is Auer et al.'s
    UCB1. Its arms start with expectation 0, so it is warm-started by pulling each arm once, in
    order (steps 0..K-1 read rewards table[k, k]); these pulls count towards the regret.
    ``ThompsonSampling`` starts from Beta(1, 1) and needs no warm start. Ties go to the first arm.
    """
    horizon, n_arms = table.shape
    arm_ids = list(range(n_arms))
    policy = LearningPolicy.UCB1(alpha=1.0) if algorithm == "ucb1" else \
        LearningPolicy.ThompsonSampling()
    mab = MAB(arm_ids, policy, seed=seed)
    rewards = table.tolist()
    arms: list[int] = []
    if algorithm == "ucb1":
        mab.fit(decisions=arm_ids, rewards=[rewards[k][k] for k in arm_ids])
        arms.extend(arm_ids)
    else:
        mab.fit(decisions=[], rewards=[])  # an untrained model refuses to predict
    for t in range(len(arms), horizon):
        arm = int(mab.predict())
        mab.partial_fit(decisions=[arm], rewards=[rewards[t][arm]])
        arms.append(arm)
    return np.asarray(arms, dtype=np.int64)


RUNNERS: dict[str, Callable[[str, FloatArray, int], IntArray]] = {
    "smpybandits": smpybandits_replicate,
    "mabwiser": mabwiser_replicate,
}


def run(library: str, algorithm: str, tables: FloatArray, means: FloatArray,
        seed: int) -> dict[str, Any]:
    """Time one library on every replicate (one pass) and return its record."""
    gaps = means.max() - means
    runner = RUNNERS[library]
    chosen = []
    start = time.perf_counter()
    for i, table in enumerate(tables):
        chosen.append(runner(algorithm, table, seed + i))
    seconds = time.perf_counter() - start
    regrets = np.array([gaps[arms].sum() for arms in chosen])
    return {"library": library, "algorithm": algorithm, "replicates": int(tables.shape[0]),
            "horizon": int(tables.shape[1]), "seconds": seconds,
            "final_regret": regrets.tolist()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", required=True, help=".npy, shape (replicates, horizon, K)")
    parser.add_argument("--means", required=True, help=".npy, shape (K,)")
    parser.add_argument("--seed", type=int, required=True, help="seed of replicate 0")
    parser.add_argument("--libraries", default=",".join(LIBRARIES))
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    args = parser.parse_args(argv)

    tables = np.load(args.tables).astype(np.float64, copy=False)
    means = np.load(args.means).astype(np.float64, copy=False)
    if tables.ndim != 3 or tables.shape[2] != means.shape[0]:
        parser.error(f"tables must have shape (replicates, horizon, {means.shape[0]}), "
                     f"got {tables.shape}")
    libraries = args.libraries.split(",")
    algorithms = args.algorithms.split(",")
    for name, allowed in (("library", LIBRARIES), ("algorithm", ALGORITHMS)):
        chosen = libraries if name == "library" else algorithms
        unknown = sorted(set(chosen) - set(allowed))
        if unknown:
            parser.error(f"unknown {name}(s) {unknown}; choose from {list(allowed)}")

    results = []
    for library in libraries:
        for algorithm in algorithms:
            record = run(library, algorithm, tables, means, args.seed)
            print(f"  {library} {algorithm}: {record['seconds']:.2f} s", file=sys.stderr,
                  flush=True)
            results.append(record)
    versions = {name: importlib.metadata.version(name)
                for name in ("smpybandits", "mabwiser", "numpy", "scipy")}
    versions["python"] = sys.version.split()[0]
    json.dump({"versions": versions, "results": results}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
