"""Reports from stored results: summary rows, CSV/JSON, a terminal table, and PNG plots.

Everything here reads the results store; nothing recomputes a run.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from decisiongym.harness import metrics
from decisiongym.harness.experiment import Cell, Experiment, canonical_json
from decisiongym.harness.rollout import headline_metric
from decisiongym.harness.store import CellResult, ResultsStore, atomic_write

#: The columns of ``summary.csv``. A row fills the columns of its cell's metric: regret
#: studies the ``final_regret_*`` group, episodic studies the ``final_return_*`` group and
#: ``episodes``, supervised ones the ``final_accuracy_*`` group; the others stay empty (in the
#: JSON rows they are absent). No column holds a quantity under another's name.
IDENTITY_FIELDS = ["env", "env_kwargs", "agent", "params", "env_label", "agent_label",
                   "horizon", "seeds", "metric"]
METRIC_FIELDS: dict[str, list[str]] = {
    "regret": ["final_regret_mean", "final_regret_se", "final_regret_ci_low",
               "final_regret_ci_high", "regret_over_log_t", "best_arm_fraction", "mean_reward",
               "lai_robbins_bound"],
    "return": ["final_return_mean", "final_return_se", "final_return_ci_low",
               "final_return_ci_high", "episodes"],
    "accuracy": ["final_accuracy_mean", "final_accuracy_se", "final_accuracy_ci_low",
                 "final_accuracy_ci_high"],
}
SUMMARY_FIELDS = IDENTITY_FIELDS + [f for fields in METRIC_FIELDS.values() for f in fields
                                    if f != "mean_reward"] + ["mean_reward"]


@dataclass(frozen=True)
class Check:
    """A published finding or number, tested on our data.

    ``runs``: how many independent runs decided it (1 for an exact or closed-form check);
    ``interval``: the 95% interval [low, high] of the compared quantity, where it compares.
    Both are written into ``summary.json`` and shown by :func:`format_checks` when set."""

    name: str
    expected: Any
    observed: Any
    passed: bool
    runs: int | None = None
    interval: list[float] | None = None


@dataclass(frozen=True)
class CellData:
    cell: Cell
    result: CellResult

    @property
    def arrays(self) -> dict[str, NDArray[Any]]:
        return self.result.arrays

    @property
    def metric(self) -> str:
        """The cell's headline metric: "regret", "return", "accuracy" or ""."""
        return headline_metric(self.arrays)

    def final(self, metric: str | None = None) -> NDArray[np.float64]:
        """The final value of ``metric`` (default the headline metric), one per replicate."""
        name = f"final_{metric or self.metric}"
        if name not in self.arrays:
            raise KeyError(f"cell {self.cell.key} recorded no {name!r}; it has "
                           f"{sorted(self.arrays)}")
        return np.asarray(self.arrays[name], dtype=np.float64)

    @property
    def final_regret_mean(self) -> float:
        return float(self.final("regret").mean())

    @property
    def final_return_mean(self) -> float:
        return float(np.nanmean(self.final("return")))


def load_results(experiment: Experiment, out: str | Path, *,
                 skip_missing: bool = False) -> list[CellData]:
    """Every cell of the experiment from the store; raises if one is missing (unless
    ``skip_missing``, which leaves out cells without a result, e.g. failed ones)."""
    store = ResultsStore(out)
    loaded = []
    for cell in experiment.cells():
        result = store.read(cell)
        if result is None:
            if skip_missing:
                continue
            raise FileNotFoundError(f"no stored result for cell {cell.key} in {out}; "
                                    "run the experiment first")
        loaded.append(CellData(cell, result))
    return loaded


def cells_by_env(results: Sequence[CellData]) -> dict[str, dict[str, CellData]]:
    """The cells by environment name, then by agent label (in the experiment's order)."""
    by_env: dict[str, dict[str, CellData]] = {}
    for d in results:
        by_env.setdefault(d.cell.env.name, {})[d.cell.agent.display] = d
    return by_env


def lai_robbins_constant_of(data: CellData) -> float | None:
    """C when every replicate of the cell faces the same C, else None."""
    if "lai_robbins_constant" not in data.arrays:
        return None
    return metrics.shared_value(data.arrays["lai_robbins_constant"])


def _interval_columns(metric: str, values: NDArray[np.float64], random_state: int
                      ) -> dict[str, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {}
    mean, se = metrics.mean_and_standard_error(values)
    low, high = metrics.bootstrap_mean_ci(values, random_state=random_state)
    return {f"final_{metric}_mean": float(mean), f"final_{metric}_se": float(se),
            f"final_{metric}_ci_low": float(low), f"final_{metric}_ci_high": float(high)}


def summary_row(data: CellData, *, random_state: int = 0) -> dict[str, Any]:
    """One row: the cell's identity and its headline metric (final regret, final return or
    final accuracy) with standard error and bootstrap 95% interval over the replicates."""
    a = data.arrays
    horizon = data.cell.horizon
    metric = data.metric
    row: dict[str, Any] = {
        "env": data.cell.env.id,
        "env_kwargs": canonical_json(dict(data.cell.env.kwargs)),
        "agent": data.cell.agent.name,
        "params": canonical_json(dict(data.cell.agent.params)),
        "env_label": data.cell.env.name,
        "agent_label": data.cell.agent.display,
        "horizon": horizon,
        "seeds": data.cell.seeds,
        "metric": metric,
    }
    if metric:
        row.update(_interval_columns(metric, data.final(), random_state))
    if metric == "regret":
        mean = row["final_regret_mean"]
        c = lai_robbins_constant_of(data)
        row["regret_over_log_t"] = mean / math.log(horizon) if horizon > 1 else float("nan")
        if "best_arm_fraction" in a:
            row["best_arm_fraction"] = float(a["best_arm_fraction"].mean())
        row["lai_robbins_bound"] = None if c is None else c * math.log(horizon)
    if "episodes" in a:
        row["episodes"] = float(np.asarray(a["episodes"]).mean())
    if "mean_reward" in a:
        row["mean_reward"] = float(np.nanmean(a["mean_reward"]))
    return row


def _aggregate_groups(results: Sequence[CellData]
                      ) -> tuple[dict[tuple[str, str], list[CellData]], dict[str, set[str]]]:
    """Cells by (agent setting, metric), and the environments measured per metric."""
    by_agent: dict[tuple[str, str], list[CellData]] = {}
    envs: dict[str, set[str]] = {}
    for d in results:
        if d.metric:
            by_agent.setdefault((d.cell.agent.display, d.metric), []).append(d)
            envs.setdefault(d.metric, set()).add(d.cell.env.name)
    return by_agent, envs


def aggregate_rows(results: Sequence[CellData], *, random_state: int = 0) -> list[dict[str, Any]]:
    """Per agent setting, across environments: IQM and mean of the final value of the
    headline metric with stratified bootstrap 95% intervals (rliable's definitions; runs x
    tasks, tasks = environments).

    Only agents measured on every environment of that metric are aggregated, so that every
    row ranks the same tasks; :func:`aggregate_left_out` names the others and what they
    miss."""
    by_agent, envs = _aggregate_groups(results)
    rows = []
    for (label, metric), cells in by_agent.items():
        if {d.cell.env.name for d in cells} != envs[metric]:
            continue
        runs = min(d.final().size for d in cells)
        scores = np.stack([d.final()[:runs] for d in cells], axis=1)
        if not np.all(np.isfinite(scores)):
            continue
        iqm, iqm_lo, iqm_hi = metrics.stratified_bootstrap_ci(
            scores, metrics.interquartile_mean, n_boot=500, random_state=random_state)
        mean, mean_lo, mean_hi = metrics.stratified_bootstrap_ci(
            scores, metrics.aggregate_mean, n_boot=500, random_state=random_state)
        rows.append({"agent_label": label, "metric": metric, "tasks": len(cells),
                     "runs": runs, f"iqm_final_{metric}": iqm, "iqm_ci_low": iqm_lo,
                     "iqm_ci_high": iqm_hi, f"mean_final_{metric}": mean,
                     "mean_ci_low": mean_lo, "mean_ci_high": mean_hi})
    return rows


def aggregate_left_out(results: Sequence[CellData]) -> list[dict[str, Any]]:
    """The agent settings :func:`aggregate_rows` leaves out: measured on only some of the
    environments of their metric (``missing`` names the others), or with non-finite final
    scores."""
    by_agent, envs = _aggregate_groups(results)
    left = []
    for (label, metric), cells in by_agent.items():
        measured = {d.cell.env.name for d in cells}
        missing = sorted(envs[metric] - measured)
        finite = all(np.all(np.isfinite(d.final())) for d in cells)
        if missing or not finite:
            left.append({"agent_label": label, "metric": metric, "tasks": len(measured),
                         "of": len(envs[metric]), "missing": missing,
                         "reason": (f"measured on {len(measured)} of {len(envs[metric])} "
                                    f"environments (not on {', '.join(missing)})" if missing
                                    else "non-finite final scores")})
    return left


def one_scale(results: Sequence[CellData]) -> bool:
    """True when every cell has the same headline metric and the same env id (the
    environments differ only in their kwargs), so scores can be pooled across them."""
    return (len({d.metric for d in results}) == 1 and bool(results[0].metric)
            and len({d.cell.env.id for d in results}) == 1
            and len({d.cell.env.name for d in results}) > 1)


def plot_performance_profile(results: Sequence[CellData], path: str | Path, *,
                             random_state: int = 0) -> Path:
    """rliable's performance profile of each agent setting over the experiment's
    environments (runs x environments), with stratified bootstrap 95% bands: the share of
    runs whose final score beats tau (for regret: is at most tau)."""
    plt = pyplot()
    metric = results[0].metric
    by_agent: dict[str, list[CellData]] = {}
    for d in results:
        by_agent.setdefault(d.cell.agent.display, []).append(d)
    tasks = len({d.cell.env.name for d in results})
    pooled = np.concatenate([d.final() for d in results])
    taus = np.linspace(float(np.min(pooled)), float(np.max(pooled)), 101)
    sign = -1.0 if metric == "regret" else 1.0
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label, cells in by_agent.items():
        if len(cells) != tasks:
            continue  # measured on fewer environments: not comparable
        runs = min(d.final().size for d in cells)
        scores = np.stack([d.final()[:runs] for d in cells], axis=1)
        # Lower regret is better: the share of runs with regret <= tau is the profile of the
        # negated scores at -tau (plus the ties, which a strict profile leaves out).
        profile, low, high = metrics.performance_profile_ci(
            sign * scores, sign * taus - (1e-12 if metric == "regret" else 0.0),
            n_boot=500, random_state=random_state)
        (line,) = ax.plot(taus, profile, label=label)
        ax.fill_between(taus, low, high, alpha=0.2, color=line.get_color())
    ax.set_xlabel(f"final {metric} tau")
    ax.set_ylabel(f"share of runs with {metric} {'<=' if metric == 'regret' else '>'} tau")
    ax.set_title(f"performance profile over {tasks} environments")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    target = Path(path)
    save_figure(fig, target)
    return target


def write_summary(out: str | Path, rows: Sequence[dict[str, Any]], *,
                  experiment: Experiment | None = None, checks: Sequence[Check] = (),
                  extra: dict[str, Any] | None = None) -> None:
    """``DIR/summary.csv`` (one row per environment x agent setting) and ``DIR/summary.json``
    (the rows, the experiment, the checks and anything in ``extra``)."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    # Both files are written atomically through a temporary named after this process, so
    # several commands reporting on one directory at once never trip over each other.
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=SUMMARY_FIELDS, extrasaction="ignore", restval="")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    atomic_write(root / "summary.csv", text.getvalue().encode("utf-8"))
    document: dict[str, Any] = {"rows": list(rows), "checks": [asdict(c) for c in checks]}
    if experiment is not None:
        document["experiment"] = experiment.to_dict()
    document.update(extra or {})
    atomic_write(root / "summary.json",
                 json.dumps(document, indent=2, default=_json_default).encode("utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A plain-text table: ``columns`` are (key, header); floats with 2 decimals."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "nan" if math.isnan(value) else f"{value:.2f}"
        return "" if value is None else str(value)

    body = [[cell(r.get(k)) for k, _ in columns] for r in rows]
    headers = [h for _, h in columns]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    out = [line, rule]
    for b in body:
        out.append("  ".join(v.ljust(w) for v, w in zip(b, widths, strict=True)))
    return "\n".join(out)


#: Terminal columns per headline metric.
SUMMARY_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "regret": [("env_label", "environment"), ("agent_label", "agent"),
               ("final_regret_mean", "regret(T)"), ("final_regret_ci_low", "ci95 low"),
               ("final_regret_ci_high", "ci95 high"), ("regret_over_log_t", "regret/log T"),
               ("best_arm_fraction", "best arm"), ("lai_robbins_bound", "Lai-Robbins")],
    "return": [("env_label", "environment"), ("agent_label", "agent"),
               ("final_return_mean", "return"), ("final_return_ci_low", "ci95 low"),
               ("final_return_ci_high", "ci95 high"), ("episodes", "episodes")],
    "accuracy": [("env_label", "environment"), ("agent_label", "agent"),
                 ("final_accuracy_mean", "accuracy"), ("final_accuracy_ci_low", "ci95 low"),
                 ("final_accuracy_ci_high", "ci95 high")],
}


def format_summary(rows: Sequence[dict[str, Any]]) -> str:
    """The summary rows as terminal tables, one per headline metric."""
    parts = []
    for metric, columns in SUMMARY_COLUMNS.items():
        chosen = [r for r in rows if r.get("metric") == metric]
        if chosen:
            parts.append(format_table(chosen, columns))
    other = [r for r in rows if r.get("metric") not in SUMMARY_COLUMNS]
    if other:
        parts.append(format_table(other, [("env_label", "environment"),
                                          ("agent_label", "agent"), ("metric", "metric")]))
    return "\n\n".join(parts)


def format_checks(checks: Sequence[Check]) -> str:
    lines = []
    for c in checks:
        mark = "PASS" if c.passed else "FAIL"
        text = (f"[{mark}] {c.name}\n        expected: {c.expected}\n"
                f"        observed: {c.observed}")
        basis = []
        if c.runs is not None:
            basis.append(f"runs: {c.runs}")
        if c.interval is not None:
            low, high = c.interval
            basis.append(f"95% interval [{low:.4g}, {high:.4g}]")
        if basis:
            text += "\n        " + "; ".join(basis)
        lines.append(text)
    return "\n".join(lines)


def pyplot() -> Any:
    """matplotlib.pyplot on the non-interactive Agg backend (imported only when plotting)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> None:
    """Lay out ``fig``, write it to ``path`` (folders made as needed) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)


def plot_regret(grid: NDArray[Any], curves: dict[str, NDArray[Any]], path: str | Path, *,
                title: str = "", lai_robbins: float | None = None,
                random_state: int = 0, references: dict[str, NDArray[Any]] | None = None,
                ylabel: str = "cumulative pseudo-regret") -> Path:
    """Regret curves with bootstrap 95% bands, on linear and log time axes side by side.

    ``grid`` (G,) steps; ``curves`` maps a label to a (G, n) matrix of per-run regret;
    ``lai_robbins``: C, to draw the line C log t; ``references``: more lines (G,) by label,
    drawn dotted (e.g. the Exp3 bound sqrt(2 t K log K)).
    """
    plt = pyplot()

    t = np.asarray(grid, dtype=np.float64)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, regret in curves.items():
        values = np.asarray(regret, dtype=np.float64)
        mean = values.mean(axis=1)
        low, high = metrics.bootstrap_mean_ci(values, n_boot=500, random_state=random_state)
        for ax in axes:
            (line,) = ax.plot(t, mean, label=label)
            ax.fill_between(t, low, high, alpha=0.2, color=line.get_color())
    if lai_robbins is not None:
        for ax in axes:
            ax.plot(t[t > 1], lai_robbins * np.log(t[t > 1]), "k--", label="Lai-Robbins C log t")
    for label, line_values in (references or {}).items():
        for ax in axes:
            ax.plot(t, np.asarray(line_values, dtype=np.float64), ":", color="k", label=label)
    axes[0].set_xlabel("t")
    axes[1].set_xlabel("t (log scale)")
    axes[1].set_xscale("log")
    for ax in axes:
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=100)
    plt.close(fig)
    return target


def plot_regret_curves(results: Sequence[CellData], path: str | Path, *, title: str = "",
                       random_state: int = 0, references: dict[str, NDArray[Any]] | None = None,
                       ylabel: str = "cumulative pseudo-regret") -> Path:
    """:func:`plot_regret` for stored cells of one environment (same grid), with the
    Lai-Robbins line of the first cell that defines one and any ``references`` lines."""
    constants = [c for c in (lai_robbins_constant_of(d) for d in results) if c is not None]
    return plot_regret(results[0].arrays["grid"],
                       {d.cell.agent.display: d.arrays["regret"] for d in results}, path,
                       title=title, lai_robbins=constants[0] if constants else None,
                       random_state=random_state, references=references, ylabel=ylabel)


def plot_curves(grid: NDArray[Any], curves: dict[str, NDArray[Any]], path: str | Path, *,
                title: str = "", ylabel: str = "", xlabel: str = "env steps",
                random_state: int = 0) -> Path:
    """Per-run curves (G, n) by label: the mean over runs with a bootstrap 95% band (NaN
    entries, e.g. before a run's first episode, are left out of each point's mean)."""
    plt = pyplot()
    t = np.asarray(grid, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label, values in curves.items():
        v = np.asarray(values, dtype=np.float64)
        ok = np.isfinite(v).all(axis=1)
        if not ok.any():
            continue
        mean = v[ok].mean(axis=1)
        low, high = metrics.bootstrap_mean_ci(v[ok], n_boot=500, random_state=random_state)
        (line,) = ax.plot(t[ok], mean, label=label)
        ax.fill_between(t[ok], low, high, alpha=0.2, color=line.get_color())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    target = Path(path)
    save_figure(fig, target)
    return target


REGRET_LABELS = {"pseudo": "cumulative pseudo-regret",
                 "best-fixed-arm": "cumulative regret against the best fixed arm",
                 "episodic": "cumulative regret against the optimal start value"}


def plot_all(results: Sequence[CellData], out: str | Path) -> list[Path]:
    """One PNG per environment setting and headline metric under ``DIR/plots``: regret
    curves, return against env steps, or accuracy; and a performance profile
    (``DIR/plots/performance_profile.png``) when the environments share one scale."""
    by_env: dict[tuple[str, str], list[CellData]] = {}
    for d in results:
        by_env.setdefault((d.cell.env.name, d.metric), []).append(d)
    paths = []
    for (env_name, metric), cells in by_env.items():
        safe = "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in env_name)
        folder = Path(out) / "plots"
        if metric == "regret":
            ylabel = REGRET_LABELS.get(str(cells[0].result.record.get("regret_kind")),
                                       "cumulative regret")
            paths.append(plot_regret_curves(cells, folder / f"regret_{safe}.png",
                                            title=env_name, ylabel=ylabel))
        elif metric == "return" and "return_curve" in cells[0].arrays:
            paths.append(plot_curves(
                cells[0].arrays["grid"], {d.cell.agent.display: d.arrays["return_curve"]
                                          for d in cells}, folder / f"return_{safe}.png",
                title=env_name, ylabel="return (mean of the last 20 episodes)"))
        elif metric == "accuracy" and "accuracy_curve" in cells[0].arrays:
            paths.append(plot_curves(
                cells[0].arrays["grid"], {d.cell.agent.display: d.arrays["accuracy_curve"]
                                          for d in cells}, folder / f"accuracy_{safe}.png",
                title=env_name, ylabel="accuracy so far"))
    if len(results) > 1 and one_scale(results):
        paths.append(plot_performance_profile(results, Path(out) / "plots"
                                              / "performance_profile.png"))
    return paths
