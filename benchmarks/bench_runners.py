"""A sweep of 2,000 small bandit cells on the three runners, Ray's overhead per task, and the
results store at tens of thousands of cells.

    python benchmarks/bench_runners.py            # 2,000 cells; 20,000 stored cells (~3 min)
    python benchmarks/bench_runners.py --quick    # 200 cells; 2,000 stored cells (smoke test)

1. Wall time of one sweep of small cells (40 Bernoulli problems x 50 epsilon-greedy settings,
   10 replicates x 100 steps each) on ``inprocess``, ``process --workers 2`` and a local Ray with
   2 CPUs, each into a fresh results directory; the files are checked to be identical.
2. Ray's overhead per task: the same cells with a cell function that does no work (returns a
   precomputed result), so the wall time is scheduling, serialisation and the driver's store
   writes; the in-process runner's time on the same no-op cells is subtracted.
3. The store at scale: ``N`` cells written, then "which cells are stored?" answered from the
   index (what a resumed sweep asks) against decoding every file (what it did before the
   index), and the report's read-back of every result.

Ratios and seconds are measured in one run on one machine; nothing here is asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from decisiongym.harness.experiment import AgentSetting, Cell, EnvSetting, Experiment
from decisiongym.harness.report import load_results
from decisiongym.harness.runners import make_runner, run_cell, run_experiment
from decisiongym.harness.store import CellResult, ResultsStore


def sweep(problems: int, settings: int, horizon: int = 100, seeds: int = 10) -> Experiment:
    rng = np.random.default_rng(7)
    envs = [EnvSetting("decisiongym/BernoulliBandit-v0",
                       {"means": [round(float(m), 3) for m in rng.uniform(0, 1, 3)]})
            for _ in range(problems)]
    epsilons = [round(float(e), 4) for e in np.linspace(0.01, 0.5, settings)]
    return Experiment(name="bench", envs=envs,
                      agents=AgentSetting.grid("epsilon-greedy", epsilon=epsilons),
                      horizon=horizon, seeds=seeds)


_NOOP: CellResult | None = None


def noop_cell(cell: Cell) -> CellResult:
    """No work: a fixed small result (the arrays of one real cell)."""
    global _NOOP
    if _NOOP is None:
        _NOOP = run_cell(cell)
    return CellResult(_NOOP.arrays, {**_NOOP.record, "key": cell.key, **cell.spec()})


def timed_sweep(experiment: Experiment, runner_name: str, root: Path, cell_fn: Any = run_cell,
                ) -> tuple[float, Path]:
    out = root / runner_name
    shutil.rmtree(out, ignore_errors=True)
    runner = make_runner(runner_name, None if runner_name == "ray" else 2)
    start = time.perf_counter()
    summary = run_experiment(experiment, out, runner=runner, progress=False, cell_fn=cell_fn)
    took = time.perf_counter() - start
    assert not summary.failed and len(summary.computed) == len(experiment.cells())
    return took, out


def same_files(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in (a / "cells").glob("*.npz"))
    return names == sorted(p.name for p in (b / "cells").glob("*.npz")) and all(
        (a / "cells" / n).read_bytes() == (b / "cells" / n).read_bytes() for n in names)


def store_at_scale(n: int, root: Path) -> dict[str, float]:
    experiment = sweep(n // 100, 100, horizon=20, seeds=2)
    cells = experiment.cells()
    out = root / "store"
    shutil.rmtree(out, ignore_errors=True)
    store = ResultsStore(out)
    template = run_cell(cells[0])
    start = time.perf_counter()
    for cell in cells:
        store.write(cell, CellResult(template.arrays, {**template.record, "key": cell.key,
                                                       **cell.spec()}))
    write = time.perf_counter() - start
    start = time.perf_counter()
    fresh = ResultsStore(out)
    assert all(fresh.is_stored(c) for c in cells)
    indexed = time.perf_counter() - start
    start = time.perf_counter()
    fresh = ResultsStore(out)
    assert all(fresh.has(c) for c in cells)
    decoded = time.perf_counter() - start
    start = time.perf_counter()
    loaded = load_results(experiment, out)
    read_back = time.perf_counter() - start
    assert len(loaded) == n
    return {"cells": n, "write_s": write, "stored_query_index_s": indexed,
            "stored_query_decode_every_file_s": decoded, "index_speedup": decoded / indexed,
            "report_read_back_s": read_back}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 cells; 2,000 stored cells")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray runner")
    parser.add_argument("--output", default="benchmarks/results/runners.json")
    args = parser.parse_args()
    problems, settings, stored = (4, 50, 2000) if args.quick else (40, 50, 20000)
    experiment = sweep(problems, settings)
    n = len(experiment.cells())
    runners = ["inprocess", "process"] + ([] if args.no_ray else ["ray"])
    report: dict[str, Any] = {"cells": n, "horizon": experiment.horizon,
                              "replicates": experiment.seeds, "runners": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        outs = {}
        print(f"sweep of {n} cells (10 replicates x 100 steps each)")
        for name in runners:
            if name == "ray":
                # Started after the process pool has run: a pool forked from a process with
                # Ray in it inherits Ray's signal handlers, which print noise on shutdown.
                import ray

                start = time.perf_counter()
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
                report["ray_start_s"] = time.perf_counter() - start
                print(f"  (local Ray with 2 CPUs started in {report['ray_start_s']:.1f} s, "
                      "not counted below: a sweep that starts its own Ray pays it once)")
            took, outs[name] = timed_sweep(experiment, name, root)
            report["runners"][name] = {"wall_s": took, "ms_per_cell": 1000 * took / n}
            print(f"  {name:<10} {took:7.2f} s   {1000 * took / n:6.2f} ms per cell")
        identical = all(same_files(outs["inprocess"], outs[r]) for r in runners[1:])
        report["identical_files"] = identical
        print(f"  files identical across runners: {identical}")
        base = report["runners"]["inprocess"]["wall_s"]
        for name in runners[1:]:
            report["runners"][name]["speedup_over_inprocess"] = base / report["runners"][name][
                "wall_s"]
        if "ray" in runners:
            noop_here, _ = timed_sweep(experiment, "inprocess", root / "noop", noop_cell)
            noop_ray, _ = timed_sweep(experiment, "ray", root / "noop", noop_cell)
            overhead = (noop_ray - noop_here) / n
            report["ray_overhead_ms_per_task"] = 1000 * overhead
            report["noop_inprocess_s"], report["noop_ray_s"] = noop_here, noop_ray
            print(f"Ray overhead per task (no-op cells, Ray wall minus in-process wall, over "
                  f"{n} tasks): {1000 * overhead:.2f} ms")
        print(f"results store with {stored} cells:")
        scale = store_at_scale(stored, root)
        report["store"] = scale
        print(f"  write {scale['write_s']:.1f} s; 'which cells are stored?' from the index "
              f"{scale['stored_query_index_s']:.2f} s vs decoding every file "
              f"{scale['stored_query_decode_every_file_s']:.2f} s "
              f"({scale['index_speedup']:.0f}x); report read-back "
              f"{scale['report_read_back_s']:.1f} s")
    if "ray" in runners:
        ray.shutdown()
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
