"""The ``decisiongym`` command.

    decisiongym --version
    decisiongym list [--env CartPole-v1]
    decisiongym run --env decisiongym/ChapelleLi-v0 --agent thompson-beta --seeds 100 \
        --horizon 10000 [--param a=1 --param b=1] [--env-kwarg k=10] [--plot regret.png]
    decisiongym run --env decisiongym/BernoulliBandit-v0 --agent ucb1 --agent thompson-beta \
        --param thompson-beta.a=1 [--out results/compare]
    decisiongym train --env CartPole-v1 --agent dqn --steps 50000 --log-dir runs/dqn \
        --checkpoint runs/dqn/agent.pt
    decisiongym reproduce --list
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
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


#: Families, in the order ``decisiongym list`` shows them: the family of an agent or an env is
#: read from the module that registers it (its last dotted parts), not from its name.
FAMILIES: tuple[tuple[str, str], ...] = (
    ("bandits", "stochastic bandits"),
    ("contextual", "contextual bandits"),
    ("adversarial", "adversarial bandits"),
    ("tabular", "tabular and linear RL (MDPs, mazes)"),
    ("deep", "deep RL"),
    ("hierarchical", "hierarchical RL"),
    ("supervised", "supervised learning as decisions"),
    ("nas", "architecture search"),
    ("gan", "GANs (a two-player game)"),
    ("other", "other (registered outside decisiongym)"),
)
#: Registering module (its parts after ``decisiongym.``, most specific first) -> family.
_MODULE_FAMILIES: tuple[tuple[str, str], ...] = (
    ("supervised.nas", "nas"), ("supervised.gans", "gan"), ("supervised", "supervised"),
    ("agents.bandits", "bandits"), ("envs.bandits", "bandits"),
    ("agents.contextual", "contextual"), ("agents.neural", "contextual"),
    ("envs.contextual", "contextual"),
    ("agents.adversarial", "adversarial"), ("envs.adversarial", "adversarial"),
    ("agents.tabular", "tabular"), ("agents.linear", "tabular"),
    ("agents.planning", "tabular"), ("envs.mdp", "tabular"), ("envs.sparse_maze", "tabular"),
    ("envs.goal_maze", "tabular"),
    ("agents.deep", "deep"), ("agents.sb3", "deep"),
    ("agents.feudal", "hierarchical"), ("agents.hams", "hierarchical"),
    ("agents.maxq", "hierarchical"), ("agents.options", "hierarchical"),
    ("envs.hierarchical", "hierarchical"),
)


def family_of(module: str) -> str:
    """The family (a key of :data:`FAMILIES`) of whatever ``module`` registers."""
    if module.startswith("decisiongym."):
        rest = module[len("decisiongym."):]
        for prefix, family in _MODULE_FAMILIES:
            if rest == prefix or rest.startswith(prefix + "."):
                return family
    return "other"


def _agent_module(name: str) -> str:
    from decisiongym.agents.base import _entry

    return str(getattr(_entry(name).factory, "__module__", ""))


def _env_module(env_id: str) -> str:
    import gymnasium as gym

    entry = gym.spec(env_id).entry_point
    return entry.partition(":")[0] if isinstance(entry, str) \
        else str(getattr(entry, "__module__", ""))


def _by_family(rows: Iterable[tuple[str, str]], module: Any) -> list[tuple[str, list[tuple[
        str, str]]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for name, summary in rows:
        groups.setdefault(family_of(module(name)), []).append((name, summary))
    return [(title, groups[key]) for key, title in FAMILIES if key in groups]


def _print_groups(title: str, groups: list[tuple[str, list[tuple[str, str]]]]) -> None:
    print(title)
    width = max([len(name) for _, rows in groups for name, _ in rows] or [1])
    for family, rows in groups:
        print(f"\n  {family}")
        for name, summary in rows:
            print(f"    {name:<{width}}  {summary}")


def _cmd_list(args: argparse.Namespace) -> int:
    from decisiongym import list_environments

    _import_user_modules(args)
    from decisiongym.agents import list_agents

    if args.env is not None:
        return _list_for_env(args.env, dict(args.env_kwarg))
    _print_groups("Environments (gym.make / gym.make_vec), by family:",
                  _by_family(list_environments(), _env_module))
    print()
    _print_groups("Agents (decisiongym.agents.make), by family; `decisiongym list --env ID` "
                  "shows those that fit an env:", _by_family(list_agents(), _agent_module))
    return 0


def _list_for_env(env_id: str, env_kwargs: dict[str, Any]) -> int:
    """The agents that fit ``env_id``'s spaces: each built with its default parameters for
    the env's single spaces, as the harness builds it (``make_agent``)."""
    import gymnasium as gym

    from decisiongym.agents import list_agents
    from decisiongym.harness.rollout import AgentMismatch, make_agent, own_training_loop

    check_env_id(env_id)
    probe = gym.make(env_id, **env_kwargs)
    try:
        obs_space, act_space = probe.observation_space, probe.action_space
    finally:
        probe.close()
    fit: list[tuple[str, str]] = []
    refused: list[tuple[str, str]] = []
    mismatched: list[str] = []
    games: list[str] = []
    for name, summary in list_agents():
        if own_training_loop(name) is not None:
            try:  # an agent of a game that only its own loop knows takes no spaces
                make_agent(name, env_id, None, None)
            except Exception:  # it needs the env's spaces: SB3's, the SMDP learners
                pass
            else:
                games.append(name)
                continue
        try:
            make_agent(name, env_id, obs_space, act_space)
        except AgentMismatch:
            mismatched.append(name)
        except (ValueError, TypeError) as exc:
            reason = str(exc).removeprefix(f"agent {name!r} on env {env_id!r}: ")
            reason = re.split(r"[,;] got ", reason.removeprefix(f"{name}: "))[0]
            refused.append((name, reason))
        else:
            fit.append((name, summary))
    _print_groups(f"Agents that fit {env_id} (observations {_space_text(obs_space)}, actions "
                  f"{_space_text(act_space)}), by family:", _by_family(fit, _agent_module))
    if any(family_of(_agent_module(name)) in ("bandits", "adversarial") for name, _ in fit):
        print("\n(Bandit agents fit any observation: they ignore it.)")
    width = max([len(name) for name, _ in refused] or [1])
    if refused:
        print("\nRefused with their default parameters (what they need):")
        for name, reason in refused:
            print(f"  {name:<{width}}  {reason}")
    if mismatched:
        print(f"\nDo not fit these spaces: {', '.join(mismatched)}")
    if games:
        print(f"Train on a game of their own, not on an env: {', '.join(games)}")
    return 0


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` naming the nearest of ``known`` (difflib), or ""."""
    choices = list(known)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    if not close:  # the same name in another case, or without its namespace
        lowered = {c.lower(): c for c in choices}
        close = [lowered[c] for c in
                 difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)]
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _space_text(space: Any) -> str:
    """A space in a few words: Box(shape (4,), float32), Discrete(2), Dict(x, label)."""
    from gymnasium import spaces

    if isinstance(space, spaces.Box):
        return f"Box(shape {space.shape}, {space.dtype})"
    if isinstance(space, spaces.Dict):
        return f"Dict({', '.join(space.spaces)})"
    text = repr(space)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(kind: str, name: str, known: Iterable[str], hint: str) -> ValueError:
    """``unknown KIND 'name'; did you mean 'x'? (hint)`` as a ValueError."""
    return ValueError(f"unknown {kind} {name!r}{did_you_mean(name, known)} ({hint})")


def check_agent_names(names: Sequence[str]) -> list[str]:
    """The agents named, each registered and named once; else one line saying which is not."""
    from decisiongym.agents import list_agents

    known = [name for name, _ in list_agents()]
    seen: list[str] = []
    for name in names:
        if name not in known:
            raise _suggest("agent", name, known, "`decisiongym list` shows them all")
        if name in seen:
            raise ValueError(f"--agent {name} is given twice; compare settings of one agent "
                             "with an experiment file (decisiongym compare)")
        seen.append(name)
    return seen


def check_env_id(env_id: str, agents: Sequence[str] = ()) -> None:
    """A Gymnasium id, else one line with the nearest ids. An agent with a loop of its own
    (the GAN game's) may take an id that only its loop knows: its loop checks it."""
    import gymnasium as gym

    from decisiongym.harness.rollout import own_training_loop

    if env_id in gym.registry or any(own_training_loop(a) is not None for a in agents):
        return
    raise _suggest("environment", env_id, gym.registry, "`decisiongym list` shows ours; "
                   "--import MODULE registers your own")


def split_params(pairs: Sequence[tuple[str, Any]], agents: Sequence[str]
                 ) -> dict[str, dict[str, Any]]:
    """Each agent's parameters from ``--param`` pairs: ``agent.key=value`` for one agent;
    ``key=value`` for the single agent, or with several for every agent that takes ``key``
    (refused when none does). An agent's own ``agent.key`` wins over a shared ``key``."""
    from decisiongym.agents import agent_parameters

    shared: dict[str, dict[str, Any]] = {a: {} for a in agents}
    own: dict[str, dict[str, Any]] = {a: {} for a in agents}
    for key, value in pairs:
        prefix, dot, name = key.rpartition(".")
        if dot:
            if prefix not in agents:
                raise ValueError(f"--param {key}=...: {prefix!r} is not one of the agents "
                                 f"({', '.join(agents)}){did_you_mean(prefix, agents)}")
            own[prefix][name] = value
        elif len(agents) == 1:
            shared[agents[0]][key] = value
        else:
            takers = [a for a in agents if key in agent_parameters(a)]
            if not takers:
                raise ValueError(f"--param {key}=...: none of the agents {', '.join(agents)} "
                                 f"takes {key!r}; prefix it with an agent, e.g. "
                                 f"{agents[0]}.{key}=...")
            for a in takers:
                shared[a][key] = value
    return {a: {**shared[a], **own[a]} for a in agents}


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
    from decisiongym.harness.rollout import run

    _import_user_modules(args)
    names = check_agent_names(args.agent)
    check_env_id(args.env, names)
    params = split_params(args.param, names)
    env_kwargs = dict(args.env_kwarg)
    results = {}
    for name in names:  # the same seeds for every agent: common random numbers
        results[name] = run(args.env, name, replicates=args.seeds, horizon=args.horizon,
                            seed=args.seed, env_kwargs=env_kwargs, agent_params=params[name],
                            progress=not args.quiet and sys.stderr.isatty(),
                            vectorization=args.vectorization)
    if len(names) == 1:
        code = _print_run(args, names[0], results[names[0]])
    else:
        code = _print_comparison(args, results, params)
    if args.out:
        _write_comparison(args, results, params, budget=args.horizon)
    return code


def _print_run(args: argparse.Namespace, agent: str, result: Any) -> int:
    """One agent's run as before: its metric, interval and Lai-Robbins bound."""
    import numpy as np

    from decisiongym.harness.metrics import shared_value

    env_kwargs = dict(args.env_kwarg)
    a = result.arrays
    resolved = result.record.get("resolved_params", {})
    shown = ", ".join(f"{k}={v!r}" for k, v in resolved.items()) or "defaults"
    unit = "episodes" if result.record.get("budget_unit") == "episodes" else "env steps"
    print(f"env      {args.env} {json.dumps(env_kwargs) if env_kwargs else ''}".rstrip())
    print(f"agent    {agent} ({shown})")
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
            report.plot_regret(a["grid"], {agent: a["regret"]}, args.plot,
                               title=f"{agent} on {args.env}", lai_robbins=constant,
                               ylabel=report.REGRET_LABELS.get(str(kind), "cumulative regret"))
        elif "return_curve" in a:
            report.plot_curves(a["grid"], {agent: a["return_curve"]}, args.plot,
                               title=f"{agent} on {args.env}",
                               ylabel="return (mean of the last 20 episodes)")
        else:
            raise ValueError("--plot: this run recorded no regret or return curve")
        print(f"plot     {args.plot}")
    if args.json:
        record = {"env": args.env, "env_kwargs": env_kwargs, "agent": agent,
                  "params": resolved, "horizon": args.horizon, "replicates": args.seeds,
                  "seed": args.seed, "metric": result.metric, **summary}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=2, default=str)
    return 0


def _cell_data(args: argparse.Namespace, name: str, params: dict[str, Any], arrays: Any,
               record: Any, budget: int) -> Any:
    """A run of the CLI as the report's cell data (its summary row, its curves)."""
    from decisiongym.harness.experiment import AgentSetting, Cell, EnvSetting
    from decisiongym.harness.report import CellData
    from decisiongym.harness.store import CellResult

    cell = Cell(EnvSetting(args.env, dict(args.env_kwarg)), AgentSetting(name, params),
                args.seeds, args.seed, budget)
    return CellData(cell, CellResult(dict(arrays), dict(record)))


def _difference_rows(cells: Sequence[Any]) -> list[dict[str, Any]]:
    """Each agent's final metric minus the first agent's, paired over the common seeds, with
    its bootstrap 95% interval."""
    import numpy as np

    from decisiongym.harness.metrics import difference_interval

    first = cells[0]
    rows = []
    for d in cells[1:]:
        if not d.metric or d.metric != first.metric:
            continue
        a, b = d.final(), first.final()
        row: dict[str, Any] = {"agent_label": d.cell.agent.display, "metric": d.metric,
                               "than": first.cell.agent.display}
        if a.size == b.size and np.isfinite(a).all() and np.isfinite(b).all():
            low, high = difference_interval(a, b, paired=True)
            row.update(difference=float(np.mean(a - b)), ci_low=low, ci_high=high)
        rows.append(row)
    return rows


def _print_differences(rows: Sequence[dict[str, Any]]) -> None:
    from decisiongym.harness import report

    if not rows:
        return
    print(f"\nDifference of the final {rows[0]['metric']} from {rows[0]['than']} (paired over "
          "the common seeds, bootstrap 95%; n/a where a run recorded none):")
    print(report.format_table(rows, [("agent_label", "agent"), ("difference", "difference"),
                                     ("ci_low", "ci95 low"), ("ci_high", "ci95 high")]))


def _plot_comparison(cells: Sequence[Any], path: str | Path, title: str) -> Path | None:
    """One plot of every agent's curve (regret, else return) with its 95% band, or None
    when the runs recorded neither."""
    from decisiongym.harness import report

    if all("regret" in d.arrays for d in cells):
        kind = str(cells[0].result.record.get("regret_kind"))
        return report.plot_regret_curves(cells, path, title=title, ylabel=report.REGRET_LABELS
                                         .get(kind, "cumulative regret"))
    if all("return_curve" in d.arrays for d in cells):
        return report.plot_curves(cells[0].arrays["grid"],
                                  {d.cell.agent.display: d.arrays["return_curve"]
                                   for d in cells}, path, title=title,
                                  ylabel="return (mean of the last 20 episodes)")
    return None


def _print_comparison(args: argparse.Namespace, results: dict[str, Any],
                      params: dict[str, dict[str, Any]]) -> int:
    """Several agents run on the same seeds: one table with intervals, the paired
    differences from the first agent, one plot (``--plot``) and ``--json``."""
    from decisiongym.harness import report

    first = next(iter(results.values()))
    unit = "episodes" if first.record.get("budget_unit") == "episodes" else "env steps"
    env_kwargs = dict(args.env_kwarg)
    print(f"env      {args.env} {json.dumps(env_kwargs) if env_kwargs else ''}".rstrip())
    print(f"budget   {args.horizon} {unit} per replicate, {args.seeds} replicates, seed "
          f"{args.seed}; the same seeds for every agent (common random numbers)")
    for name, result in results.items():
        resolved = result.record.get("resolved_params", {})
        shown = ", ".join(f"{k}={v!r}" for k, v in resolved.items()) or "defaults"
        print(f"agent    {name} ({shown})")
    cells = [_cell_data(args, name, params[name], r.arrays, r.record, args.horizon)
             for name, r in results.items()]
    rows = [report.summary_row(d) for d in cells]
    print()
    print(report.format_summary(rows))
    differences = _difference_rows(cells)
    _print_differences(differences)
    if args.plot:
        if _plot_comparison(cells, args.plot, f"{', '.join(results)} on {args.env}") is None:
            raise ValueError("--plot: these runs recorded no regret or return curve")
        print(f"plot     {args.plot}")
    if args.json:
        record = {"env": args.env, "env_kwargs": env_kwargs, "horizon": args.horizon,
                  "replicates": args.seeds, "seed": args.seed, "rows": rows,
                  "differences": differences}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=2, default=str)
    return 0


def _write_comparison(args: argparse.Namespace, results: dict[str, Any],
                      params: dict[str, dict[str, Any]], *, budget: int,
                      extra: dict[str, Any] | None = None) -> None:
    """``--out DIR``: DIR/summary.csv and DIR/summary.json (the report's summary rows, the
    paired differences) and one plot, DIR/regret.png or DIR/return.png."""
    from decisiongym.harness import report

    out = Path(args.out)
    cells = [_cell_data(args, name, params[name], r.arrays, r.record, budget)
             for name, r in results.items()]
    rows = [report.summary_row(d) for d in cells]
    report.write_summary(out, rows, extra={
        "command": args.command, "env": args.env, "env_kwargs": dict(args.env_kwarg),
        "seed": args.seed, "differences": _difference_rows(cells), **(extra or {})})
    metric = "regret" if all("regret" in d.arrays for d in cells) else "return"
    plot = _plot_comparison(cells, out / f"{metric}.png", f"{', '.join(results)} on {args.env}")
    print(f"results  {out}/summary.csv, {out}/summary.json"
          + (f", {plot}" if plot is not None else ""))


def _progress_mode(args: argparse.Namespace) -> str:
    """``--progress``: auto is a bar on a terminal, plain lines otherwise (a log, a pipe)."""
    if args.quiet:
        return "off"
    if args.progress == "auto":
        return "bar" if sys.stderr.isatty() else "lines"
    return str(args.progress)


def _cmd_train(args: argparse.Namespace) -> int:
    from decisiongym.harness.training import train

    _import_user_modules(args)
    names = check_agent_names(args.agent)
    check_env_id(args.env, names)
    params = split_params(args.param, names)
    several = len(names) > 1
    if several:
        for flag, value in (("--checkpoint", args.checkpoint), ("--resume", args.resume)):
            if value:
                raise ValueError(f"{flag} names one agent's file; train one agent at a time "
                                 f"to use it (got {len(names)} agents)")
    results = {}
    for i, name in enumerate(names):
        if several and i:
            print()

        def header(resolved: dict[str, Any], name: str = name) -> None:
            shown = ", ".join(f"{k}={v!r}" for k, v in resolved.items()) or "defaults"
            print(f"env      {args.env}")
            print(f"agent    {name} ({shown})")
            print(f"budget   {args.steps} env steps per learner, {args.seeds} learner(s), "
                  f"seed {args.seed}" + ("; the same seeds for every agent" if several else ""))
            sys.stdout.flush()  # the header before the progress, also into a pipe or a file

        log_dir = args.log_dir if not (several and args.log_dir) \
            else str(Path(args.log_dir) / name)
        result = train(args.env, name, seeds=args.seeds, steps=args.steps, seed=args.seed,
                       env_kwargs=dict(args.env_kwarg), agent_params=params[name],
                       log_dir=log_dir, log_every=args.log_every,
                       tensorboard=args.tensorboard, checkpoint=args.checkpoint,
                       resume=args.resume, eval_episodes=args.eval_episodes,
                       eval_max_episode_steps=args.eval_max_steps,
                       progress=_progress_mode(args), on_start=header)
        _print_trained(args, result)
        results[name] = result
    if several:
        _print_train_comparison(args, results, params)
    elif args.plot:
        _plot_train(args, results, params, args.plot)
    if args.out:
        _write_comparison(args, results, params, budget=args.steps, extra={
            "greedy_evaluation": {name: r.evaluation.tolist() for name, r in results.items()}})
    return 0


def _print_trained(args: argparse.Namespace, result: Any) -> None:
    import numpy as np

    print(f"time     {result.seconds:.1f} s, "
          f"{args.seeds * result.steps / max(result.seconds, 1e-9):,.0f} env steps/s")
    print("training return (mean of the last 20 episodes) per learner: "
          + ", ".join(f"{x:.1f}" for x in result.final_return))
    if np.isfinite(result.evaluation).any():
        report = result.evaluation_report
        per = report.episodes if report is not None else args.eval_episodes
        print(f"greedy evaluation ({per} episodes per env copy): "
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


def _plot_train(args: argparse.Namespace, results: dict[str, Any],
                params: dict[str, dict[str, Any]], path: str) -> None:
    cells = [_cell_data(args, name, params[name], r.arrays, r.record, args.steps)
             for name, r in results.items()]
    if _plot_comparison(cells, path, f"{', '.join(results)} on {args.env}") is None:
        raise ValueError("--plot: this training recorded no return curve")
    print(f"plot     {path}")


def _print_train_comparison(args: argparse.Namespace, results: dict[str, Any],
                            params: dict[str, dict[str, Any]]) -> None:
    """Several agents trained on the same seeds: the training return and the greedy
    evaluation with 95% intervals over the learners, the paired differences, one plot."""
    from decisiongym.harness import report

    cells = [_cell_data(args, name, params[name], r.arrays, r.record, args.steps)
             for name, r in results.items()]
    print(f"\nComparison on {args.env} ({args.seeds} learner(s) each, the same seeds"
          + ("" if args.seeds > 1 else "; intervals need --seeds 2 or more") + "):")
    print(report.format_summary([report.summary_row(d) for d in cells]))
    evaluated = [(name, r.evaluation) for name, r in results.items()
                 if (r.evaluation == r.evaluation).any()]
    if evaluated:
        print("\ngreedy evaluation, mean over learners  95% CI")
        width = max(len(name) for name, _ in evaluated)
        for name, values in evaluated:
            mean, _, text = _interval_text(values)
            print(f"  {name:<{width}}  {mean:.2f}  {text}")
    _print_differences(_difference_rows(cells))
    if args.plot:
        _plot_train(args, results, params, args.plot)


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
    left_out = report.aggregate_left_out(results) if aggregate and several else []
    report.write_summary(out, rows, experiment=experiment, checks=checks,
                         extra={"aggregate": across, "aggregate_left_out": left_out,
                                **(extra or {})})
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
              "95%; only agents measured on all of them):")
        print(report.format_table(chosen, [
            ("agent_label", "agent"), ("tasks", "tasks"), (f"iqm_final_{metric}", "IQM"),
            ("iqm_ci_low", "low"), ("iqm_ci_high", "high"), (f"mean_final_{metric}", "mean"),
            ("mean_ci_low", "low"), ("mean_ci_high", "high")]))
    for row in left_out:
        print(f"not in the aggregate: {row['agent_label']} ({row['metric']}): {row['reason']}")
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


#: Typical wall-clock times of the reproductions (full size, --quick), measured on a shared
#: 2-core machine with the in-process runner unless the README says otherwise.
TYPICAL_TIMES: dict[str, tuple[str, str]] = {
    "kuleshov-precup": ("a few minutes", ""),
    "chapelle-li": ("hours (T = 10^7)", ""),
    "adversarial": ("1.5 min", "20 s"),
    "contextual": ("18 min (2 workers)", "1 min"),
    "ope": ("1.5 min", "5 s"),
    "sutton-barto": ("1.5 min", "30 s"),
    "supervised": ("2 min", "70 s"),
    "adversarial-examples": ("2 min (+6.5 min once)", "1 min"),
    "feudal": ("45 s", "10 s"),
    "options": ("50 s", "10 s"),
    "deep-rl": ("25 min", "100 s"),
    "nas": ("1.5 min", "25 s"),
    "gan": ("18 min (2 workers)", "30 s"),
    "bandit-theory": ("1 min", "15 s"),
}


def _list_reproductions() -> int:
    """``reproduce --list``: each reproduction's summary, its cells at quick and full size
    (experiments built, nothing run) and its typical time."""
    import textwrap

    from decisiongym.reproductions import get_reproduction, list_reproductions

    rows = []
    for name, summary in list_reproductions():
        reproduction = get_reproduction(name)
        full, quick = TYPICAL_TIMES.get(name, ("", ""))
        variants = tuple(getattr(reproduction, "protocols", ()) or ())
        if variants:
            summary += f" (variants: --protocol {', '.join(variants)})"
        rows.append((name, str(len(reproduction.experiment(True).cells())),
                     str(len(reproduction.experiment(False).cells())), quick or "-",
                     full or "-", summary))
    print("decisiongym reproduce NAME [--quick] [--out DIR]; cells: the (env, agent) runs of "
          "its grid (some\nreproductions add studies of their own); times on a shared 2-core "
          "machine.\n")
    headers = ("name", "cells --quick", "cells full", "time --quick", "time full")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(v.rjust(w) if i in (1, 2) else v.ljust(w)
                        for i, (v, w) in enumerate(zip(row, widths, strict=False))).rstrip())
        print(textwrap.fill(row[5], width=96, initial_indent="    ",
                            subsequent_indent="    "))
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from decisiongym.reproductions import get_reproduction, list_reproductions

    _import_user_modules(args)
    if args.list:
        return _list_reproductions()
    names = [name for name, _ in list_reproductions()]
    if args.name is None:
        raise ValueError("reproduce: name a reproduction (`decisiongym reproduce --list` shows "
                         "them)")
    if args.name not in names:
        raise _suggest("reproduction", args.name, names,
                       "`decisiongym reproduce --list` shows them")
    reproduction = get_reproduction(args.name).with_protocol(args.protocol)
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
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="list environments and agents by family; with --env, "
                            "the agents that fit that env")
    p_list.add_argument("--env", default=None, metavar="ID",
                        help="show the agents that fit this env's spaces")
    p_list.add_argument("--env-kwarg", action="append", type=parse_assignment, default=[],
                        metavar="KEY=VALUE", help="environment kwarg for --env (repeatable)")
    p_list.set_defaults(func=_cmd_list)

    def add_import(p: argparse.ArgumentParser) -> None:
        p.add_argument("--import", dest="imports", action="append", default=[],
                       metavar="MODULE", help="import MODULE first: it registers your own envs "
                       "or agents (repeatable; imported in every worker)")

    add_import(p_list)

    p_run = sub.add_parser(
        "run", help="run one agent, or compare several on the same seeds, on any registered "
        "env for N replicates; print the metric that fits (regret, return, accuracy)")
    p_run.add_argument("--env", required=True, help="environment id, e.g. "
                       "decisiongym/ChapelleLi-v0 or CartPole-v1")
    p_run.add_argument("--agent", required=True, action="append",
                       help="agent name (see `decisiongym list`); repeat it to compare agents "
                       "on the same seeds")
    p_run.add_argument("--param", action="append", type=parse_assignment, default=[],
                       metavar="[AGENT.]KEY=VALUE", help="agent parameter (repeatable); "
                       "AGENT.KEY for one agent, KEY for every agent that takes it")
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
    p_run.add_argument("--out", metavar="DIR", help="write DIR/summary.csv, DIR/summary.json "
                       "and one plot of every agent's curve")
    p_run.add_argument("--quiet", action="store_true", help="no progress bar")
    add_import(p_run)
    p_run.set_defaults(func=_cmd_run)

    p_train = sub.add_parser(
        "train", help="train an agent (ours or sb3-*) on one env with a progress bar; CSV "
        "logs, checkpoints; several --agent compare on the same seeds")
    p_train.add_argument("--env", required=True, help="environment id, e.g. CartPole-v1")
    p_train.add_argument("--agent", required=True, action="append",
                         help="agent name, e.g. dqn, actor-critic, sb3-ppo; repeat it to "
                         "compare agents on the same seeds")
    p_train.add_argument("--param", action="append", type=parse_assignment, default=[],
                         metavar="[AGENT.]KEY=VALUE", help="agent parameter (repeatable); "
                         "AGENT.KEY for one agent, KEY for every agent that takes it")
    p_train.add_argument("--env-kwarg", action="append", type=parse_assignment, default=[],
                         metavar="KEY=VALUE", help="environment kwarg (repeatable)")
    p_train.add_argument("--seeds", type=int, default=1, help="independent learners (default 1)")
    p_train.add_argument("--steps", type=int, default=50_000,
                         help="env steps per learner (default 50000)")
    p_train.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p_train.add_argument("--log-dir", help="write DIR/progress.csv, a row per learner and log "
                         "(and DIR/tensorboard); with several agents DIR/AGENT/")
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
    p_train.add_argument("--eval-episodes", type=int, default=None,
                         help="greedy evaluation episodes per env copy at the end (default 10 "
                         "where the agent acts after training; 0: none)")
    p_train.add_argument("--eval-max-steps", type=int, default=None, metavar="N",
                         help="step cap per evaluation episode; an episode cut there counts as "
                         "truncated and is reported (default: the env's own limit, else 1000)")
    p_train.add_argument("--progress", choices=["auto", "bar", "lines", "off"], default="auto",
                         help="auto (default): a progress bar on a terminal, a plain line every "
                         "10%% (or 30 s) otherwise")
    p_train.add_argument("--quiet", action="store_true", help="no progress (--progress off)")
    p_train.add_argument("--plot", metavar="PNG",
                         help="save the training return curves with their 95%% bands")
    p_train.add_argument("--out", metavar="DIR", help="write DIR/summary.csv, "
                         "DIR/summary.json and DIR/return.png")
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

    from decisiongym.reproductions import get_reproduction, list_reproductions

    names = [name for name, _ in list_reproductions()]
    p_rep = sub.add_parser("reproduce", help="reproduce a published experiment "
                           f"({len(list_reproductions())} of them: `decisiongym reproduce "
                           "--list`)")
    p_rep.add_argument("name", nargs="?", help="the reproduction (see --list)")
    p_rep.add_argument("--list", action="store_true", help="list the reproductions with their "
                       "sizes and typical times (runs nothing)")
    p_rep.add_argument("--quick", action="store_true", help="small size (for tests and a look)")
    variants = "; ".join(f"{n}: {', '.join(get_reproduction(n).protocols)}" for n in names
                         if get_reproduction(n).protocols)
    p_rep.add_argument("--protocol", metavar="NAME",
                       help="a documented variant of the study's protocol, for reproductions "
                       f"that declare one ({variants}); default: the reproduction's own. The "
                       "variant has its own cells and default results directory")
    p_rep.add_argument("--out", help="results directory (default results/NAME[-quick], "
                       "NAME-PROTOCOL for a variant)")
    _add_runner_options(p_rep)
    add_import(p_rep)
    p_rep.set_defaults(func=_cmd_reproduce)
    return parser


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("decisiongym")
    except metadata.PackageNotFoundError:
        from decisiongym import __version__

        return __version__


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (poll says POLLERR)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no fileno (captured), no poll (Windows)
        return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return code
    except BrokenPipeError as exc:
        if _stdout_closed():
            # `decisiongym list | head`: the reader has what it wanted; leave quietly (and
            # keep Python from reporting the pipe again when it flushes stdout at exit).
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        print(f"decisiongym: error: {exc}", file=sys.stderr)  # another pipe than stdout
        return 2
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
