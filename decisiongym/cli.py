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


def _cmd_run(args: argparse.Namespace) -> int:
    from decisiongym.harness.metrics import mean_confidence_interval, time_grid
    from decisiongym.harness.rollout import lai_robbins_curve, run_bandit

    params = dict(args.param)
    env_kwargs = dict(args.env_kwarg)
    if args.horizon < 1:
        raise ValueError(f"--horizon must be a positive integer, got {args.horizon}")
    run = run_bandit(args.env, args.agent, replicates=args.seeds, horizon=args.horizon,
                     seed=args.seed, env_kwargs=env_kwargs, agent_params=params,
                     grid=time_grid(args.horizon, 100, 100), keep_steps=False,
                     progress=None if not args.quiet else False)
    mean, lo, hi = mean_confidence_interval(run.final_regret)
    best_share = float(run.best_arm_pulls[-1].mean() / args.horizon)
    shown = ", ".join(f"{k}={v!r}" for k, v in run.params.items()) or "defaults"
    print(f"env      {args.env} {json.dumps(env_kwargs) if env_kwargs else ''}".rstrip())
    print(f"agent    {args.agent} ({shown})")
    print(f"budget   horizon T = {args.horizon}, {args.seeds} replicates, seed {args.seed}")
    interval = "n/a (one replicate)" if math.isnan(lo) else f"[{lo:.2f}, {hi:.2f}]"
    adversarial = run.regret_kind == "best-fixed-arm"
    what = "regret against the best fixed arm" if adversarial else "pseudo-regret"
    print(f"{what} at T: {mean:.2f}  95% CI {interval}")
    bound = lai_robbins_curve(run)
    if bound is not None:
        print(f"Lai-Robbins lower bound C log T (asymptotic): {bound[-1]:.2f}")
    best = "the arm leading so far" if adversarial else "a best arm"
    print(f"mean reward per step: {float(run.reward_sum[-1].mean()) / args.horizon:.4f};  "
          f"pulls of {best}: {100 * best_share:.1f}%")
    if args.plot:
        from decisiongym.harness.metrics import shared_value
        from decisiongym.harness.report import plot_regret

        plot_regret(run.grid, {args.agent: run.regret}, args.plot,
                    title=f"{args.agent} on {args.env}",
                    lai_robbins=shared_value(run.lai_robbins_constant))
        print(f"plot     {args.plot}")
    if args.json:
        record = {"env": args.env, "env_kwargs": env_kwargs, "agent": args.agent,
                  "params": run.params, "horizon": args.horizon, "replicates": args.seeds,
                  "seed": args.seed, "regret_kind": run.regret_kind,
                  "final_pseudo_regret_mean": mean, "final_pseudo_regret_ci95": [lo, hi],
                  "best_arm_fraction": best_share}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=2, default=str)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import numpy as np

    from decisiongym.harness.deep import train

    result = train(args.env, args.agent, seeds=args.seeds, steps=args.steps, seed=args.seed,
                   env_kwargs=dict(args.env_kwarg), agent_params=dict(args.param),
                   log_dir=args.log_dir, log_every=args.log_every,
                   tensorboard=args.tensorboard, checkpoint=args.checkpoint,
                   resume=args.resume, eval_episodes=args.eval_episodes)
    run = result.run
    final = run.final_return()
    print(f"env      {args.env}")
    print(f"agent    {args.agent} ({', '.join(f'{k}={v!r}' for k, v in run.params.items())})")
    print(f"budget   {run.steps} env steps per learner, {args.seeds} learner(s), seed {args.seed}"
          f"; {run.seconds:.1f} s, {args.seeds * run.steps / max(run.seconds, 1e-9):.0f} env "
          "steps/s")
    print("training return (mean of the last 20 episodes) per learner: "
          + ", ".join(f"{x:.1f}" for x in final))
    if np.isfinite(result.evaluation).any():
        print(f"greedy evaluation ({args.eval_episodes} episodes per env copy): "
              + ", ".join(f"{x:.1f}" for x in result.evaluation))
    if result.log_path:
        print(f"log      {result.log_path}")
    if result.checkpoint:
        print(f"checkpoint {result.checkpoint} (load with --resume)")
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
    across = report.aggregate_rows(results) if aggregate and len(experiment.envs) > 1 else []
    report.write_summary(out, rows, experiment=experiment, checks=checks,
                         extra={"aggregate": across, **(extra or {})})
    if plots:
        report.plot_all(results, out)
    if text:
        print(text)
    else:
        print(report.format_table(rows, report.SUMMARY_COLUMNS))
    if across:
        print("\nAcross environments (IQM and mean of the final regret, stratified bootstrap 95%):")
        print(report.format_table(across, [
            ("agent_label", "agent"), ("iqm_final_regret", "IQM"), ("iqm_ci_low", "low"),
            ("iqm_ci_high", "high"), ("mean_final_regret", "mean"), ("mean_ci_low", "low"),
            ("mean_ci_high", "high")]))
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
    from decisiongym.harness.experiment import load_experiment

    experiment = load_experiment(args.experiment)
    out = Path(args.out)
    summary = _sweep(experiment, out, args)
    if summary.failed:
        if summary.done == 0:
            return 1
        print("\nReport of the cells that ran (the failed ones are left out):", file=sys.stderr)
    _report(experiment, out, plots=not args.no_plots, skip_missing=bool(summary.failed))
    return 1 if summary.failed else 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from decisiongym.harness.reproductions import get_reproduction

    reproduction = get_reproduction(args.name)
    experiment = reproduction.experiment(args.quick)
    out = Path(args.out or f"results/{reproduction.name}{'-quick' if args.quick else ''}")
    summary = _sweep(experiment, out, args)
    if summary.failed:
        print("the reproduction needs every cell; fix the failures and run the same command "
              "again (finished cells are kept)", file=sys.stderr)
        return 1
    analysis = reproduction.analyse(experiment, out)
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

    p_run = sub.add_parser(
        "run", help="run one agent on one bandit env for N replicates; print the pseudo-regret")
    p_run.add_argument("--env", required=True, help="environment id, e.g. "
                       "decisiongym/ChapelleLi-v0")
    p_run.add_argument("--agent", required=True, help="agent name (see `decisiongym list`)")
    p_run.add_argument("--param", action="append", type=parse_assignment, default=[],
                       metavar="KEY=VALUE", help="agent parameter (repeatable)")
    p_run.add_argument("--env-kwarg", action="append", type=parse_assignment, default=[],
                       metavar="KEY=VALUE", help="environment kwarg (repeatable)")
    p_run.add_argument("--seeds", type=int, default=100,
                       help="number of replicates, run at once in one vector env (default 100)")
    p_run.add_argument("--horizon", type=int, default=1000, help="horizon T (default 1000)")
    p_run.add_argument("--seed", type=int, default=0,
                       help="base seed: replicate i is seeded with seed + i (default 0)")
    p_run.add_argument("--plot", metavar="PNG", help="save the regret curve with its 95%% band")
    p_run.add_argument("--json", metavar="PATH", help="write the summary as JSON")
    p_run.add_argument("--quiet", action="store_true", help="no progress bar")
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
    p_train.add_argument("--checkpoint", help="save the agent here (torch.save) at every log")
    p_train.add_argument("--resume", help="load this checkpoint before training "
                         "(torch.load(weights_only=True); another architecture is refused)")
    p_train.add_argument("--eval-episodes", type=int, default=10,
                         help="greedy evaluation episodes per env copy at the end (default 10)")
    p_train.set_defaults(func=_cmd_train)

    p_cmp = sub.add_parser("compare", help="run an experiment file (TOML) and report")
    p_cmp.add_argument("experiment", help="experiment TOML file (see decisiongym.harness."
                       "experiment for the format)")
    p_cmp.add_argument("--out", required=True, help="results directory")
    p_cmp.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    _add_runner_options(p_cmp)
    p_cmp.set_defaults(func=_cmd_compare)

    from decisiongym.harness.reproductions import list_reproductions

    names = [name for name, _ in list_reproductions()]
    p_rep = sub.add_parser("reproduce", help="reproduce a published experiment: "
                           + "; ".join(f"{n}: {d}" for n, d in list_reproductions()))
    p_rep.add_argument("name", choices=names)
    p_rep.add_argument("--quick", action="store_true", help="small size (for tests and a look)")
    p_rep.add_argument("--out", help="results directory (default results/NAME[-quick])")
    _add_runner_options(p_rep)
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
