"""A sweep on Ray: environments x agent settings x seeds, one Ray task per cell.

The same experiment runs unchanged on one machine (a local Ray started for the sweep) or on a
cluster (``--address auto`` on the head node, after ``ray start``). Results are stored as they
finish; run it again and only the missing cells are computed.

    python scripts/ray_sweep.py --out results/ray-sweep
    python scripts/ray_sweep.py --quick --out /tmp/ray-sweep
"""

import argparse

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym.harness import report
from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment
from decisiongym.harness.runners import make_runner, run_experiment

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="a tiny size, for tests")
parser.add_argument("--out", default="results/ray-sweep")
parser.add_argument("--address", default=None, help="a Ray cluster, e.g. auto or HOST:6379")
parser.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray")
args = parser.parse_args()

experiment = Experiment(
    name="ray-sweep",
    envs=[EnvSetting("decisiongym/KuleshovPrecup-v0", {"k": k, "variance": 0.1})
          for k in (2, 5, 10)],
    agents=[AgentSetting("ucb1"), AgentSetting("thompson-gaussian"),
            *AgentSetting.grid("softmax", tau=[0.01, 0.1])],
    horizon=200 if args.quick else 1000,
    seeds=20 if args.quick else 500,
)

runner = make_runner("ray", None if args.address else args.workers, address=args.address)
summary = run_experiment(experiment, args.out, runner=runner, progress=not args.quick)
print(f"{len(summary.computed)} cells computed, {len(summary.skipped)} already stored")

# The report reads the stored cells: one row per environment x agent setting.
results = report.load_results(experiment, args.out)
print(report.format_summary([report.summary_row(d) for d in results]))
