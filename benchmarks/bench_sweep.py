"""The Kuleshov & Precup sweep, batched over replicates versus run replicate by replicate.

decisiongym runs every cell's 1000 replicates at once in one native vector env. This measures
that against the same cells run one replicate at a time (a vector env of one, 1000 times), the
way a loop over ``gym.make`` copies would. Replicate-by-replicate runs are timed on a sample of
replicates per cell and scaled to the full count (their cost is linear in the replicates).

    python benchmarks/bench_sweep.py            # one cell per (K, policy family), ~2 min
    python benchmarks/bench_sweep.py --quick    # smoke test

Ratios are measured in one run, on one machine; nothing here is asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from decisiongym.harness.experiment import Cell
from decisiongym.harness.recorders import RegretRecorder
from decisiongym.harness.rollout import run
from decisiongym.reproductions.kuleshov_precup import experiment


def _time_batched(cell: Cell) -> float:
    start = time.perf_counter()
    run(cell.env.id, cell.agent.name, replicates=cell.seeds, horizon=cell.horizon,
        seed=cell.seed, env_kwargs=dict(cell.env.kwargs), agent_params=dict(cell.agent.params),
        recorders=[RegretRecorder(grid=[cell.horizon])], progress=False)
    return time.perf_counter() - start


def _time_serial(cell: Cell, sample: int) -> float:
    """Seconds per replicate, one replicate at a time."""
    start = time.perf_counter()
    for i in range(sample):
        run(cell.env.id, cell.agent.name, replicates=1, horizon=cell.horizon,
            seed=cell.seed + i, env_kwargs=dict(cell.env.kwargs),
            agent_params=dict(cell.agent.params),
            recorders=[RegretRecorder(grid=[cell.horizon])], progress=False)
    return (time.perf_counter() - start) / sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cells and replicates")
    parser.add_argument("--sample", type=int, default=10,
                        help="replicates timed one by one per cell (default 10)")
    parser.add_argument("--output", default="benchmarks/results/sweep.json")
    args = parser.parse_args()

    exp = experiment(quick=False)
    cells = exp.cells()
    # One representative setting per policy family and K (variance does not change the cost).
    chosen: dict[tuple[int, str], Cell] = {}
    for cell in cells:
        if cell.env.kwargs["variance"] != 0.1:
            continue
        chosen.setdefault((int(cell.env.kwargs["k"]), cell.agent.name), cell)
    sample_cells = list(chosen.values())
    if args.quick:
        sample_cells = [c for c in sample_cells if c.env.kwargs["k"] == 5][:2]
    rows = []
    for cell in sample_cells:
        batched = _time_batched(cell)
        per_replicate = _time_serial(cell, 2 if args.quick else args.sample)
        serial = per_replicate * cell.seeds
        rows.append({"k": cell.env.kwargs["k"], "agent": cell.agent.name,
                     "batched_s": batched, "serial_s_extrapolated": serial,
                     "ratio": serial / batched})
        print(f"K={cell.env.kwargs['k']:>2} {cell.agent.name:<26} batched {batched:6.2f} s   "
              f"one by one {serial:8.1f} s (from {per_replicate * 1000:.1f} ms/replicate)   "
              f"x{serial / batched:5.1f}")
    # Scale to the whole sweep: every cell of a K costs about what its family's sample costs.
    total_batched = total_serial = 0.0
    for cell in cells:
        row = next((r for r in rows if r["k"] == cell.env.kwargs["k"]
                    and r["agent"] == cell.agent.name), None)
        if row is None:
            continue
        total_batched += row["batched_s"]
        total_serial += row["serial_s_extrapolated"]
    if total_batched:
        print(f"\nwhole sweep ({len(cells)} cells x {exp.seeds} replicates x {exp.horizon} "
              f"steps), estimated: batched {total_batched:.0f} s, one by one "
              f"{total_serial / 3600:.1f} h, ratio x{total_serial / total_batched:.0f}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "estimated_sweep_batched_s": total_batched,
                               "estimated_sweep_serial_s": total_serial}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
