"""Speed of decisiongym's bandit path against a bare numpy loop, SMPyBandits and MABWiser.

Protocol: K = 10 Bernoulli arms with means drawn once from U[0, 1] (fixed seed), horizon
T = 10^4, UCB1 (index mu_hat + sqrt(2 log t / T_k), i.e. alpha = 2) and Thompson sampling with
Beta(1, 1) priors. Common random numbers: replicate i of every contestant reads its rewards from
the table decisiongym's env pays after ``reset(seed=seed + i)``. The pseudo-regret is
sum_t (mu* - mu[A_t]) over the arms chosen.

Contestants:

1. ``decisiongym``: the harness's path, ``decisiongym.harness.rollout.run`` called as the CLI
   calls it (a native vector env from ``gym.make_vec(...,
   vectorization_mode="vector_entry_point")``, the agent from ``decisiongym.agents.make``, the
   one rollout loop over time steps, the regret recorder keeping its curves on a 200-point time
   grid).
2. ``numpy loop``: the same algorithm written as a bare loop over time, vectorized over
   replicates, reading the shared reward table.
3. ``SMPyBandits`` 0.9.7 and 4. ``MABWiser`` 2.7.4, one decision at a time per replicate, in a
   subprocess of ``benchmarks/.venv-peers`` (``bash benchmarks/setup_peers.sh``) running
   ``peers_worker.py``.

All four run at the small replicate count (20); decisiongym and the numpy loop also at the large
one (1,000). Results go to stdout and ``benchmarks/results/bandits.json``.

    python benchmarks/bench_bandits.py            # the full protocol (a few minutes)
    python benchmarks/bench_bandits.py --quick    # smoke test: T = 1000, fewer replicates
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

import decisiongym
import decisiongym.agents.base as agents_base
from decisiongym.arrays import FloatArray, IntArray
from decisiongym.harness.metrics import time_grid
from decisiongym.harness.recorders import RegretRecorder
from decisiongym.harness.rollout import RunResult, run

Table = NDArray[np.float32]  # rewards R[t, replicate, k]
SeedLike = int | np.random.SeedSequence
Out = TypeVar("Out")

ENV_ID = "decisiongym/BernoulliBandit-v0"
HERE = Path(__file__).resolve().parent
PEERS_PYTHON = HERE / ".venv-peers" / "bin" / "python"
PEERS_WORKER = HERE / "peers_worker.py"
DEFAULT_OUTPUT = HERE / "results" / "bandits.json"

#: Algorithm name in this benchmark -> (decisiongym agent, its parameters).
ALGORITHMS: dict[str, tuple[str, dict[str, Any]]] = {
    "ucb1": ("ucb1", {"alpha": 2.0}),
    "thompson": ("thompson-beta", {}),
}
UCB_ALPHA = 2.0  # index mu_hat + sqrt(UCB_ALPHA log t / T_k)

#: Targets from the issue: speed-up of decisiongym over each peer at the small replicate count,
#: and the largest acceptable decisiongym / numpy-loop time at the large one.
TARGET_SPEEDUP = {"SMPyBandits": 20.0, "MABWiser": 100.0}
TARGET_OVERHEAD = 2.0

PEER_NAMES = {"smpybandits": "SMPyBandits", "mabwiser": "MABWiser"}


@dataclass(frozen=True)
class Config:
    """What one run of the benchmark measures."""

    n_arms: int = 10
    horizon: int = 10_000
    small: int = 20
    large: int = 1_000
    seed: int = 0
    means_seed: int = 2024
    repeats: int = 3


@dataclass
class Result:
    """One contestant on one algorithm at one replicate count."""

    contestant: str
    algorithm: str
    replicates: int
    seconds: float
    regret: float  # mean over replicates of the final pseudo-regret
    regret_sem: float  # its standard error
    repeats: int
    seconds_all: list[float] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# The problem and its shared rewards.
# --------------------------------------------------------------------------------------------


def arm_means(cfg: Config) -> FloatArray:
    return np.random.default_rng(cfg.means_seed).uniform(0.0, 1.0, cfg.n_arms)


def reward_tables(means: FloatArray, horizon: int, seed: int, replicates: int) -> Table:
    """Rewards of every arm, shape (horizon, replicates, K): time first, so that a step reads one
    contiguous (replicates, K) slab. Replicate ``i`` is what decisiongym's env pays after
    ``reset(seed=seed + i)``. Bernoulli rewards are 0 or 1, exact in float32 (half the memory)."""
    env = gym.make(ENV_ID, means=list(means), horizon=horizon)
    try:
        bandit = env.unwrapped
        out = np.empty((horizon, replicates, means.size), dtype=np.float32)
        for i in range(replicates):
            out[:, i, :] = bandit.reward_table(seed=seed + i, horizon=horizon)  # type: ignore[attr-defined]
    finally:
        env.close()
    return out


def decisiongym_source() -> dict[str, Any]:
    """The commit decisiongym was measured at, and whether its files differed from it."""
    root = Path(decisiongym.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--", "decisiongym"], cwd=root,
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "uncommitted_changes": None}
    return {"commit": commit, "uncommitted_changes": bool(status.strip())}


def summarise(regrets: FloatArray) -> tuple[float, float]:
    sem = float(regrets.std(ddof=1) / math.sqrt(regrets.size)) if regrets.size > 1 else math.nan
    return float(regrets.mean()), sem


def best_of(repeats: int, fn: Callable[[], Out]) -> tuple[list[float], Out]:
    """Run ``fn`` ``repeats`` times; the wall times and what the last run returned."""
    times = []
    for _ in range(repeats - 1):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - start)
    return times, out


# --------------------------------------------------------------------------------------------
# Contestant 1: decisiongym through the harness.
# --------------------------------------------------------------------------------------------


def decisiongym_run(algorithm: str, means: FloatArray, cfg: Config, replicates: int,
                    keep_steps: bool = False) -> RunResult:
    """One run through the harness's rollout loop (``decisiongym.harness.run``, as
    ``decisiongym run`` calls it): one native vector env, the regret recorder keeping its curves
    on a 200-point time grid, no per-step arrays unless ``keep_steps``."""
    agent, params = ALGORITHMS[algorithm]
    recorder = RegretRecorder(grid=time_grid(cfg.horizon, 100, 100), keep_steps=keep_steps)
    return run(ENV_ID, agent, replicates=replicates, horizon=cfg.horizon, seed=cfg.seed,
               env_kwargs={"means": list(means)}, agent_params=params, recorders=[recorder],
               progress=False)


def check_common_random_numbers(tables: Table, result: RunResult) -> None:
    """decisiongym's env paid exactly table[t, i, A_t] at every step of every replicate."""
    if "actions" not in result.arrays or "rewards" not in result.arrays:
        raise ValueError("check_common_random_numbers needs a run with keep_steps=True")
    actions, rewards = result["actions"], result["rewards"]
    horizon, replicates = actions.shape
    expected = tables[np.arange(horizon)[:, None], np.arange(replicates)[None, :], actions]
    if not np.array_equal(expected, rewards):
        t, i = np.argwhere(expected != rewards)[0]
        raise RuntimeError(f"common random numbers broken: at step {t}, replicate {i} the env "
                           f"paid {rewards[t, i]}, the table says {expected[t, i]}")


# --------------------------------------------------------------------------------------------
# Contestant 2: the bare numpy loop.
# --------------------------------------------------------------------------------------------


def argmax_ties_at_random(values: FloatArray, rng: np.random.Generator) -> IntArray:
    """Row-wise argmax, ties broken uniformly at random among the maxima.

    One whole-array count tells whether any row has a tie (rare once every arm has been
    pulled), so the usual step costs an argmax, a gather and a comparison; random numbers are
    drawn only for the tied rows.
    """
    n = values.shape[0]
    actions = values.argmax(axis=1)
    is_best = values == values[np.arange(n), actions][:, None]
    if np.count_nonzero(is_best) > n:
        tied = np.flatnonzero(np.count_nonzero(is_best, axis=1) > 1)
        u = np.where(is_best[tied], rng.random((tied.size, values.shape[1])), -1.0)
        actions[tied] = u.argmax(axis=1)
    return actions


def numpy_ucb1(tables: Table, means: FloatArray, seed: SeedLike,
               alpha: float = UCB_ALPHA) -> FloatArray:
    """UCB1 on every replicate at once: untried arms first (index +inf), then the largest
    mu_hat_k + sqrt(alpha log t / T_k), t the pulls so far; ties at random.

    Untried arms win every argmax, so the first K steps pull each arm once and from then on
    every T_k >= 1.
    """
    horizon, n, k = tables.shape
    rng = np.random.default_rng(seed)
    rows = np.arange(n)
    gaps = means.max() - means
    counts = np.zeros((n, k))
    sums = np.zeros((n, k))
    regret = np.zeros(n)
    for t in range(horizon):
        if t < k:
            safe = np.maximum(counts, 1.0)
            index = sums / safe + np.sqrt(alpha * math.log(max(t, 1)) / safe)
            index[counts == 0.0] = np.inf
        else:
            index = sums / counts + np.sqrt(alpha * math.log(t) / counts)
        a = argmax_ties_at_random(index, rng)
        counts[rows, a] += 1.0
        sums[rows, a] += tables[t, rows, a]
        regret += gaps[a]
    return regret


def numpy_thompson(tables: Table, means: FloatArray, seed: SeedLike) -> FloatArray:
    """Beta-Bernoulli Thompson sampling, Beta(1, 1) priors, on every replicate at once."""
    horizon, n, k = tables.shape
    rng = np.random.default_rng(seed)
    rows = np.arange(n)
    gaps = means.max() - means
    successes = np.ones((n, k))
    failures = np.ones((n, k))
    regret = np.zeros(n)
    for t in range(horizon):
        a = rng.beta(successes, failures).argmax(axis=1)
        r = tables[t, rows, a]
        successes[rows, a] += r
        failures[rows, a] += 1.0 - r
        regret += gaps[a]
    return regret


def agent_seed(seed: int) -> SeedLike:
    """The seed sequence decisiongym's agents derive their generator from after
    ``reset(seed=seed)``. Seeded with it, the numpy loops draw the same tie-breaks and posterior
    samples as decisiongym's agents and so reproduce their choices exactly (checked below). Plain
    ``seed`` if decisiongym stops exposing its spawn key."""
    key = getattr(agents_base, "_AGENT_SPAWN_KEY", None)
    return seed if key is None else np.random.SeedSequence(seed, spawn_key=key)


NUMPY_LOOPS: dict[str, Callable[[Table, FloatArray, SeedLike], FloatArray]] = {
    "ucb1": numpy_ucb1,
    "thompson": numpy_thompson,
}


# --------------------------------------------------------------------------------------------
# Contestants 3 and 4: the peers, in their own virtual environment.
# --------------------------------------------------------------------------------------------


def run_peers(tables: Table, means: FloatArray, cfg: Config
              ) -> tuple[list[Result], dict[str, str]]:
    """Run ``peers_worker.py`` in ``.venv-peers`` on the first replicates' tables."""
    with tempfile.TemporaryDirectory(prefix="bench-bandits-") as tmp:
        tables_path = Path(tmp) / "tables.npy"
        means_path = Path(tmp) / "means.npy"
        np.save(tables_path, np.ascontiguousarray(tables.transpose(1, 0, 2), dtype=np.float64))
        np.save(means_path, means)
        cmd = [str(PEERS_PYTHON), str(PEERS_WORKER), "--tables", str(tables_path),
               "--means", str(means_path), "--seed", str(cfg.seed),
               "--algorithms", ",".join(ALGORITHMS)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"peers_worker.py failed (exit {proc.returncode}):\n{proc.stderr}")
    payload = json.loads(proc.stdout)
    results = []
    for rec in payload["results"]:
        mean, sem = summarise(np.asarray(rec["final_regret"]))
        results.append(Result(PEER_NAMES[rec["library"]], rec["algorithm"], rec["replicates"],
                              rec["seconds"], mean, sem, 1, [rec["seconds"]]))
    return results, payload["versions"]


# --------------------------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------------------------


def find(results: list[Result], contestant: str, algorithm: str,
         replicates: int) -> Result | None:
    for r in results:
        if (r.contestant, r.algorithm, r.replicates) == (contestant, algorithm, replicates):
            return r
    return None


def key_ratios(results: list[Result], cfg: Config) -> list[dict[str, Any]]:
    """decisiongym's speed-up over each peer (small count), its overhead over the numpy loop."""
    ratios = []
    for algorithm in ALGORITHMS:
        dg = find(results, "decisiongym", algorithm, cfg.small)
        for peer, target in TARGET_SPEEDUP.items():
            other = find(results, peer, algorithm, cfg.small)
            if dg is None or other is None:
                continue
            value = other.seconds / dg.seconds
            ratios.append({"name": f"speed-up over {peer}", "algorithm": algorithm,
                           "replicates": cfg.small, "value": value, "target": f">= {target:g}",
                           "met": value >= target})
        dg = find(results, "decisiongym", algorithm, cfg.large)
        bare = find(results, "numpy loop", algorithm, cfg.large)
        if dg is not None and bare is not None:
            value = dg.seconds / bare.seconds
            ratios.append({"name": "time / numpy loop", "algorithm": algorithm,
                           "replicates": cfg.large, "value": value,
                           "target": f"<= {TARGET_OVERHEAD:g}", "met": value <= TARGET_OVERHEAD})
    return ratios


def print_table(results: list[Result]) -> None:
    """One row per result; ``ratio`` is the time over the numpy loop's at the same size."""
    header = (f"{'contestant':<12} {'algorithm':<9} {'replicates':>10} {'seconds':>9} "
              f"{'regret':>16} {'ratio':>8}")
    print(header)
    print("-" * len(header))
    for r in results:
        bare = find(results, "numpy loop", r.algorithm, r.replicates)
        ratio = f"{r.seconds / bare.seconds:8.1f}" if bare is not None else f"{'-':>8}"
        regret = f"{r.regret:8.1f} ± {r.regret_sem:5.1f}"
        print(f"{r.contestant:<12} {r.algorithm:<9} {r.replicates:>10d} {r.seconds:9.3f} "
              f"{regret:>16} {ratio}")


def print_ratios(ratios: list[dict[str, Any]]) -> None:
    for q in ratios:
        mark = "met" if q["met"] else "MISSED"
        print(f"  decisiongym {q['name']:<25} {q['algorithm']:<9} at {q['replicates']:>5} "
              f"replicates: {q['value']:7.2f}x  (target {q['target']}: {mark})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: T = 1000, 5 and 100 replicates, one repeat")
    parser.add_argument("--no-peers", action="store_true",
                        help="skip SMPyBandits and MABWiser")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats of decisiongym and the numpy loop (best is kept); "
                             "default 3, 1 with --quick")
    parser.add_argument("--seed", type=int, default=0, help="seed of replicate 0 (default 0)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"JSON results (default {DEFAULT_OUTPUT.relative_to(HERE.parent)})")
    args = parser.parse_args(argv)

    cfg = Config(horizon=1_000, small=5, large=100, repeats=1) if args.quick else Config()
    cfg = Config(**{**asdict(cfg), "seed": args.seed,
                    **({"repeats": args.repeats} if args.repeats is not None else {})})
    if cfg.repeats < 1:
        parser.error("--repeats must be >= 1")
    means = arm_means(cfg)
    source = decisiongym_source()
    if source["commit"] is not None:
        dirty = " plus uncommitted changes" if source["uncommitted_changes"] else ""
        print(f"decisiongym {decisiongym.__version__} at commit {source['commit'][:10]}{dirty}")
    print(f"K = {cfg.n_arms} Bernoulli arms, means (seed {cfg.means_seed}): "
          f"{np.array2string(means, precision=3)}")
    print(f"horizon T = {cfg.horizon}, seed {cfg.seed}, replicates {cfg.small} (all contestants) "
          f"and {cfg.large} (decisiongym and numpy loop), best of {cfg.repeats}")

    start = time.perf_counter()
    tables = reward_tables(means, cfg.horizon, cfg.seed, cfg.large)
    print(f"reward tables {tables.shape} drawn from decisiongym's env in "
          f"{time.perf_counter() - start:.1f} s\n")

    results: list[Result] = []
    identical: dict[str, bool] = {}  # numpy loop's final regrets == decisiongym's
    for replicates in (cfg.small, cfg.large):
        shared = tables[:, :replicates]
        for algorithm in ALGORITHMS:
            times, result = best_of(
                cfg.repeats, partial(decisiongym_run, algorithm, means, cfg, replicates))
            regrets = result["final_regret"]
            if replicates == cfg.small:
                # Common random numbers: decisiongym paid the table's rewards (an untimed run).
                check_common_random_numbers(
                    shared, decisiongym_run(algorithm, means, cfg, replicates, keep_steps=True))
            results.append(Result("decisiongym", algorithm, replicates, min(times),
                                  *summarise(regrets), cfg.repeats, times))
            times, bare_regrets = best_of(
                cfg.repeats, partial(NUMPY_LOOPS[algorithm], shared, means, agent_seed(cfg.seed)))
            results.append(Result("numpy loop", algorithm, replicates, min(times),
                                  *summarise(bare_regrets), cfg.repeats, times))
            same = bool(np.allclose(bare_regrets, regrets, rtol=0.0, atol=1e-9))
            identical[f"{algorithm}@{replicates}"] = same
            print(f"  done: {algorithm} at {replicates} replicates", flush=True)
    print(f"  common random numbers: decisiongym paid exactly the shared tables' rewards "
          f"({cfg.small} replicates, every step)")
    if all(identical.values()):
        print("  the numpy loops reproduce decisiongym's final pseudo-regrets exactly")
    else:
        differ = ", ".join(k for k, v in identical.items() if not v)
        print(f"  the numpy loops' regrets differ from decisiongym's ({differ}): other random "
              f"streams for ties and posterior samples, or another algorithm")

    versions: dict[str, str] = {"python": platform.python_version(), "numpy": np.__version__,
                                "gymnasium": gym.__version__,
                                "decisiongym": decisiongym.__version__}
    peers_note = ""
    if args.no_peers:
        peers_note = "skipped (--no-peers)"
    elif not PEERS_PYTHON.exists():
        peers_note = (f"skipped: {PEERS_PYTHON.parent.parent} is missing; "
                      f"create it with `bash benchmarks/setup_peers.sh`")
    else:
        print(f"  running the peers in {PEERS_PYTHON.parent.parent.name} "
              f"({cfg.small} replicates; slow) ...", flush=True)
        peer_results, peer_versions = run_peers(tables[:, : cfg.small], means, cfg)
        results.extend(peer_results)
        versions.update({f"peers:{k}": v for k, v in peer_versions.items()})
    if peers_note:
        print(f"  peers {peers_note}")

    order = {"decisiongym": 0, "numpy loop": 1, "SMPyBandits": 2, "MABWiser": 3}
    results.sort(key=lambda r: (r.replicates, list(ALGORITHMS).index(r.algorithm),
                                order[r.contestant]))
    print()
    print_table(results)
    print("\nseconds: wall time of the whole run, best of the repeats (peers: one run); regret: "
          "mean final pseudo-regret ± s.e.m.;\nratio: seconds / numpy loop's seconds at the "
          "same size and algorithm.\n")
    ratios = key_ratios(results, cfg)
    print("key ratios:")
    print_ratios(ratios)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {"config": asdict(cfg), "means": means.tolist(), "env_id": ENV_ID,
              "algorithms": {k: {"decisiongym_agent": a, "params": p}
                             for k, (a, p) in ALGORITHMS.items()},
              "machine": {"platform": platform.platform(), "processor": platform.processor(),
                          "python_executable": sys.executable},
              "versions": versions, "decisiongym_source": source, "peers": peers_note or "run",
              "numpy_loop_reproduces_decisiongym": identical,
              "results": [asdict(r) for r in results], "ratios": ratios}
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
