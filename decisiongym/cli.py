"""The ``decisiongym`` command.

    decisiongym list
    decisiongym run --env decisiongym/ChapelleLi-v0 --agent thompson-beta --seeds 100 \
        --horizon 10000 [--param a=1 --param b=1] [--env-kwarg k=10] [--plot regret.png]
    decisiongym train --env CartPole-v1 --agent dqn --steps 50000 --log-dir runs/dqn \
        --checkpoint runs/dqn/agent.pt
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse ``key=value``; the value as a Python literal (number, list, bool, None) or a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    raw = raw.strip()
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    if lowered in ("none", "null"):
        return key, None
    try:
        return key, ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return key, raw


def _cmd_list(args: argparse.Namespace) -> int:
    from decisiongym import list_environments

    _import_user_modules(args)
    from decisiongym.agents import list_agents

    envs = list_environments()
    agent_rows = list_agents()
    width = max(len(name) for name, _ in [*envs, *agent_rows])
    print("Environments (gym.make / gym.make_vec):")
    for name, summary in envs:
        print(f"  {name:<{width}}  {summary}")
    print("\nAgents (decisiongym.agents.make):")
    for name, summary in agent_rows:
        print(f"  {name:<{width}}  {summary}")
    return 0


def _import_user_modules(args: argparse.Namespace) -> tuple[str, ...]:
    """Import the modules named by ``--import`` (they register a user's envs and agents)."""
    from decisiongym.harness.runners import import_modules

    modules = tuple(getattr(args, "imports", None) or ())
    import_modules(modules)
    return modules


def _interval_text(values: Any) -> tuple[float, list[float], str]:
    """Mean, Student-t 95% interval and its text, over the finite values."""
    import numpy as np

    from decisiongym.harness.metrics import mean_confidence_interval

    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), [float("nan")] * 2, "n/a (no finished episode)"
    mean, lo, hi = mean_confidence_interval(x)
    text = "n/a (one replicate)" if math.isnan(lo) else f"[{lo:.2f}, {hi:.2f}]"
    return mean, [lo, hi], text


def _cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from decisiongym.harness.metrics import shared_value
    from decisiongym.harness.rollout import run

    _import_user_modules(args)
    params = dict(args.param)
    env_kwargs = dict(args.env_kwarg)
    result = run(args.env, args.agent, replicates=args.seeds, horizon=args.horizon,
                 seed=args.seed, env_kwargs=env_kwargs, agent_params=params,
                 progress=not args.quiet and sys.stderr.isatty(),
                 vectorization=args.vectorization)
    a = result.arrays
    resolved = result.record.get("resolved_params", {})
    shown = ", ".join(f"{k}={v!r}" for k, v in resolved.items()) or "defaults"
    unit = "episodes" if result.record.get("budget_unit") == "episodes" else "env steps"
    print(f"env      {args.env} {json.dumps(env_kwargs) if env_kwargs else ''}".rstrip())
    print(f"agent    {args.agent} ({shown})")
    print(f"budget   {args.horizon} {unit} per replicate, {args.seeds} replicates, "
          f"seed {args.seed}")
    summary: dict[str, Any] = {}
    kind = result.record.get("regret_kind")
    if "final_regret" in a:
        what = {"pseudo": "pseudo-regret",
                "best-fixed-arm": "regret against the best fixed arm",
                "episodic": "regret against the optimal start value (summed over episodes)",
                "nas-optimum": "simple regret (the optimum's accuracy - the best found)",
                }.get(str(kind), f"regret ({kind})")
        mean, ci, text = _interval_text(a["final_regret"])
        print(f"{what} at the end: {mean:.2f}  95% CI {text}")
        summary.update(final_regret_mean=mean, final_regret_ci95=ci, regret_kind=kind)
        constant = shared_value(a["lai_robbins_constant"]) if "lai_robbins_constant" in a \
            else None
        if constant is not None:
            print(f"Lai-Robbins lower bound C log T (asymptotic): "
                  f"{constant * math.log(args.horizon):.2f}")
        if "best_arm_fraction" in a:
            best = {"best-fixed-arm": "pulls of the arm leading so far",
                    "nas-optimum": "optimal architectures among those evaluated"
                    }.get(str(kind), "pulls of a best arm")
            share = float(np.mean(a["best_arm_fraction"]))
            print(f"{best}: {100 * share:.1f}%")
            summary["best_arm_fraction"] = share
    if "final_return" in a:
        mean, ci, text = _interval_text(a["final_return"])
        episodes = float(np.mean(a["episodes"]))
        print(f"return (mean of the last 20 episodes): {mean:.2f}  95% CI {text}; "
              f"{episodes:.1f} episodes per replicate")
        summary.update(final_return_mean=mean, final_return_ci95=ci, episodes=episodes)
    if "final_accuracy" in a:
        mean, ci, text = _interval_text(a["final_accuracy"])
        print(f"accuracy: {mean:.4f}  95% CI {text}")
        summary.update(final_accuracy_mean=mean, final_accuracy_ci95=ci)
    if "mean_reward" in a:
        per = "episode" if unit == "episodes" else "step"
        print(f"mean reward per {per}: {float(np.nanmean(a['mean_reward'])):.4f}")
        summary["mean_reward"] = float(np.nanmean(a["mean_reward"]))
    if args.plot:
        from decisiongym.harness import report

        if "regret" in a:
            constant = shared_value(a["lai_robbins_constant"]) if "lai_robbins_constant" \
                in a else None
            report.plot_regret(a["grid"], {args.agent: a["regret"]}, args.plot,
                               title=f"{args.agent} on {args.env}", lai_robbins=constant,
                               ylabel=report.REGRET_LABELS.get(str(kind), "cumulative regret"))
        elif "return_curve" in a:
            report.plot_curves(a["grid"], {args.agent: a["return_curve"]}, args.plot,
                               title=f"{args.agent} on {args.env}",
                               ylabel="return (mean of the last 20 episodes)")
        else:
            raise ValueError("--plot: this run recorded no regret or return curve")
        print(f"plot     {args.plot}")
    if args.json:
        record = {"env": args.env, "env_kwargs": env_kwargs, "agent": args.agent,
                  "params": resolved, "horizon": args.horizon, "replicates": args.seeds,
                  "seed": args.seed, "metric": result.metric, **summary}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=2, default=str)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import numpy as np

    from decisiongym.harness.training import train

    _import_user_modules(args)
    result = train(args.env, args.agent, seeds=args.seeds, steps=args.steps, seed=args.seed,
                   env_kwargs=dict(args.env_kwarg), agent_params=dict(args.param),
                   log_dir=args.log_dir, log_every=args.log_every,
                   tensorboard=args.tensorboard, checkpoint=args.checkpoint,
                   resume=args.resume, eval_episodes=args.eval_episodes,
                   eval_max_episode_steps=args.eval_max_steps, progress=sys.stderr.isatty())
    print(f"env      {args.env}")
    print(f"agent    {args.agent} ({', '.join(f'{k}={v!r}' for k, v in result.params.items())})")
    print(f"budget   {result.steps} env steps per learner, {args.seeds} learner(s), seed "
          f"{args.seed}; {result.seconds:.1f} s, "
          f"{args.seeds * result.steps / max(result.seconds, 1e-9):.0f} env steps/s")
    print("training return (mean of the last 20 episodes) per learner: "
          + ", ".join(f"{x:.1f}" for x in result.final_return))
    if np.isfinite(result.evaluation).any():
        print(f"greedy evaluation ({args.eval_episodes} episodes per env copy): "
              + ", ".join(f"{x:.1f}" for x in result.evaluation))
    report = result.evaluation_report
    if report is not None and report.total_capped:
        print(report.describe_cap())
    if result.log_path:
        print(f"log      {result.log_path}")
    if result.checkpoint:
        files = [f for f in result.checkpoint_files if f != result.checkpoint]
        print(f"checkpoint {result.checkpoint} (load with --resume)"
              + (f": {', '.join(files)}" if files else ""))
    return 0


def _runner_from_args(args: argparse.Namespace) -> Any:
    from decisiongym.harness.runners import make_runner

    if args.address is not None and args.runner != "ray":
        raise ValueError("--address names a Ray cluster; use it with --runner ray")
    return make_runner(args.runner, args.workers, address=args.address,
                       max_retries=args.max_retries, retry_exceptions=args.retry_exceptions,
                       max_in_flight=args.max_in_flight)


def _report(experiment: Any, out: Path, checks: Sequence[Any] = (), text: str = "",
            extra: dict[str, Any] | None = None, plots: bool = True,
            skip_missing: bool = False, aggregate: bool = True) -> None:
    from decisiongym.harness import report

    results = report.load_results(experiment, out, skip_missing=skip_missing)
    rows = [report.summary_row(d) for d in results]
    several = len({d.cell.env.name for d in results}) > 1
    across = report.aggregate_rows(results) if aggregate and several else []
    report.write_summary(out, rows, experiment=experiment, checks=checks,
                         extra={"aggregate": across, **(extra or {})})
    if plots:
        report.plot_all(results, out)
    if text:
        print(text)
    else:
        print(report.format_summary(rows))
    for metric in ("regret", "return", "accuracy"):
        chosen = [r for r in across if r["metric"] == metric]
        if not chosen:
            continue
        print(f"\nAcross environments (IQM and mean of the final {metric}, stratified bootstrap "
              "95%; tasks: the environments each agent was measured on):")
        print(report.format_table(chosen, [
            ("agent_label", "agent"), ("tasks", "tasks"), (f"iqm_final_{metric}", "IQM"),
            ("iqm_ci_low", "low"), ("iqm_ci_high", "high"), (f"mean_final_{metric}", "mean"),
            ("mean_ci_low", "low"), ("mean_ci_high", "high")]))
    if checks:
        print("\nChecks against the published findings:")
        print(report.format_checks(checks))
    print(f"\nresults: {out}/summary.csv, {out}/summary.json, plots in {out}/plots")


def _sweep(experiment: Any, out: Path, args: argparse.Namespace) -> Any:
    """Run the sweep; print its summary and any failures; return the summary."""
    import time

    from decisiongym.harness.runners import SweepInterrupted, run_experiment

    start = time.perf_counter()
    try:
        summary = run_experiment(experiment, out, runner=_runner_from_args(args),
                                 force=args.force, progress=None)
    except SweepInterrupted as stop:
        print(f"\n{experiment.name}: interrupted after {time.perf_counter() - start:.1f} s: "
              f"{stop.summary.describe()}; results kept in {out}", file=sys.stderr)
        raise
    took = time.perf_counter() - start
    print(f"{experiment.name}: {summary.describe()}, in {took:.1f} s (runner {args.runner})",
          file=sys.stderr)
    if summary.failed:
        print(f"\n{len(summary.failed)} cell(s) failed; tracebacks in {out}/failures/:",
              file=sys.stderr)
        for cell, failure in summary.failed:
            print(f"  {cell.env.name} x {cell.agent.display}: {failure.headline()} "
                  f"(after {failure.attempts} attempt(s))", file=sys.stderr)
    return summary


def _cmd_compare(args: argparse.Namespace) -> int:
    import dataclasses

    from decisiongym.harness.experiment import load_experiment

    modules = _import_user_modules(args)
    experiment = load_experiment(args.experiment)
    if modules:  # the workers import them too
        experiment = dataclasses.replace(
            experiment, imports=tuple(dict.fromkeys((*experiment.imports, *modules))))
    out = Path(args.out)
    summary = _sweep(experiment, out, args)
    if summary.failed:
        if summary.done == 0:
            return 1
        print("\nReport of the cells that ran (the failed ones are left out):", file=sys.stderr)
    _report(experiment, out, plots=not args.no_plots, skip_missing=bool(summary.failed))
    return 1 if summary.failed else 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from decisiongym.reproductions import get_reproduction

    _import_user_modules(args)
    reproduction = get_reproduction(args.name)
    experiment = reproduction.experiment(args.quick)
    out = Path(args.out or f"results/{reproduction.name}{'-quick' if args.quick else ''}")
    summary = _sweep(experiment, out, args)
    if summary.failed:
        print("the reproduction needs every cell; fix the failures and run the same command "
              "again (finished cells are kept)", file=sys.stderr)
        return 1
    analysis = reproduction.analyse(experiment, out, args.quick)
    # The reproduction draws its own plots (best settings, published layout).
    _report(experiment, out, analysis.checks, analysis.text, analysis.extra, plots=False,
            aggregate=reproduction.aggregate)
    failed = [c for c in analysis.checks if not c.passed]
    if failed:
        print(f"\n{len(failed)} of {len(analysis.checks)} checks failed", file=sys.stderr)
        return 1
    return 0


def _add_runner_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runner", choices=["inprocess", "process", "ray"], default="inprocess",
                   help="where cells run: this process (default), a local process pool, or Ray "
                   "(needs the distributed extra)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes for --runner process (default 2); CPUs of the local Ray "
                   "for --runner ray (default all)")
    p.add_argument("--address", default=None,
                   help="with --runner ray: join this Ray cluster ('auto', HOST:PORT or "
                   "ray://HOST:10001) instead of starting a local Ray")
    p.add_argument("--max-retries", type=int, default=2,
                   help="re-runs of a cell whose worker died (default 2)")
    p.add_argument("--retry-exceptions", action="store_true",
                   help="also re-run a cell that raised (by default it is recorded as failed)")
    p.add_argument("--max-in-flight", type=int, default=None,
                   help="cells submitted at once (default twice the workers or cluster CPUs)")
    p.add_argument("--force", action="store_true",
                   help="recompute cells even when their results are stored")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="decisiongym",
        description="Gymnasium environments, batched agents and a regret harness.")
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="list environments and agents")
    p_list.set_defaults(func=_cmd_list)

    def add_import(p: argparse.ArgumentParser) -> None:
        p.add_argument("--import", dest="imports", action="append", default=[],
                       metavar="MODULE", help="import MODULE first: it registers your own envs "
                       "or agents (repeatable; imported in every worker)")

    add_import(p_list)

    p_run = sub.add_parser(
        "run", help="run one agent on any registered env for N replicates; print the metric "
        "that fits (regret, return, accuracy)")
    p_run.add_argument("--env", required=True, help="environment id, e.g. "
                       "decisiongym/ChapelleLi-v0 or CartPole-v1")
    p_run.add_argument("--agent", required=True, help="agent name (see `decisiongym list`)")
    p_run.add_argument("--param", action="append", type=parse_assignment, default=[],
                       metavar="KEY=VALUE", help="agent parameter (repeatable)")
    p_run.add_argument("--env-kwarg", action="append", type=parse_assignment, default=[],
                       metavar="KEY=VALUE", help="environment kwarg (repeatable)")
    p_run.add_argument("--seeds", type=int, default=100,
                       help="number of replicates, run at once in one vector env (default 100)")
    p_run.add_argument("--horizon", type=int, default=1000,
                       help="budget per replicate: env steps (episodes where the env says so); "
                       "default 1000")
    p_run.add_argument("--vectorization", choices=["auto", "sync", "async"], default="auto",
                       help="auto: the env's native vector env if it has one, else "
                       "SyncVectorEnv; sync/async: Gymnasium's wrappers")
    p_run.add_argument("--seed", type=int, default=0,
                       help="base seed: replicate i is seeded with seed + i (default 0)")
    p_run.add_argument("--plot", metavar="PNG",
                       help="save the regret (or return) curve with its 95%% band")
    p_run.add_argument("--json", metavar="PATH", help="write the summary as JSON")
    p_run.add_argument("--quiet", action="store_true", help="no progress bar")
    add_import(p_run)
    p_run.set_defaults(func=_cmd_run)

    p_train = sub.add_parser(
        "train", help="train a deep RL agent (ours or sb3-*) on one env; CSV logs, checkpoints")
    p_train.add_argument("--env", required=True, help="environment id, e.g. CartPole-v1")
    p_train.add_argument("--agent", required=True, help="agent name, e.g. dqn, actor-critic, "
                         "sb3-ppo")
    p_train.add_argument("--param", action="append", type=parse_assignment, default=[],
                         metavar="KEY=VALUE", help="agent parameter (repeatable)")
    p_train.add_argument("--env-kwarg", action="append", type=parse_assignment, default=[],
                         metavar="KEY=VALUE", help="environment kwarg (repeatable)")
    p_train.add_argument("--seeds", type=int, default=1, help="independent learners (default 1)")
    p_train.add_argument("--steps", type=int, default=50_000,
                         help="env steps per learner (default 50000)")
    p_train.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p_train.add_argument("--log-dir", help="write DIR/progress.csv (and DIR/tensorboard)")
    p_train.add_argument("--log-every", type=int, default=1000,
                         help="env steps between log rows and checkpoints (default 1000)")
    p_train.add_argument("--tensorboard", action="store_true",
                         help="also log to TensorBoard (needs the tensorboard package)")
    p_train.add_argument("--checkpoint", help="save the agent here at every log (torch.save; "
                         "sb3-*: SB3's model.save, one zip per learner), atomically: the "
                         "previous checkpoint stays until the new one is complete")
    p_train.add_argument("--resume", help="load this checkpoint before training "
                         "(torch.load(weights_only=True), sb3-*: SB3's load; another "
                         "architecture or an unreadable file is refused, exit 2)")
    p_train.add_argument("--eval-episodes", type=int, default=10,
                         help="greedy evaluation episodes per env copy at the end (default 10)")
    p_train.add_argument("--eval-max-steps", type=int, default=None, metavar="N",
                         help="step cap per evaluation episode; an episode cut there counts as "
                         "truncated and is reported (default: the env's own limit, else 1000)")
    add_import(p_train)
    p_train.set_defaults(func=_cmd_train)

    p_cmp = sub.add_parser("compare", help="run an experiment file (TOML) and report")
    p_cmp.add_argument("experiment", help="experiment TOML file (see decisiongym.harness."
                       "experiment for the format)")
    p_cmp.add_argument("--out", required=True, help="results directory")
    p_cmp.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    _add_runner_options(p_cmp)
    add_import(p_cmp)
    p_cmp.set_defaults(func=_cmd_compare)

    from decisiongym.reproductions import list_reproductions

    names = [name for name, _ in list_reproductions()]
    p_rep = sub.add_parser("reproduce", help="reproduce a published experiment: "
                           + "; ".join(f"{n}: {d}" for n, d in list_reproductions()))
    p_rep.add_argument("name", choices=names)
    p_rep.add_argument("--quick", action="store_true", help="small size (for tests and a look)")
    p_rep.add_argument("--out", help="results directory (default results/NAME[-quick])")
    _add_runner_options(p_rep)
    add_import(p_rep)
    p_rep.set_defaults(func=_cmd_reproduce)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        # run_experiment has stopped the workers and said what it kept.
        print("decisiongym: interrupted; run the same command again to resume",
              file=sys.stderr)
        return 130
    except (ValueError, KeyError, FileNotFoundError, ImportError, ConnectionError) as exc:
        # gymnasium raises its own errors (subclasses of Exception) for unknown ids.
        print(f"decisiongym: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        import gymnasium

        if isinstance(exc, gymnasium.error.Error):
            print(f"decisiongym: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
