"""Reports from stored results: summary rows, CSV/JSON, a terminal table, and PNG plots.

Everything here reads the results store; nothing recomputes a run.
"""

from __future__ import annotations

import csv
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
from decisiongym.harness.store import CellResult, ResultsStore

SUMMARY_FIELDS = [
    "env", "env_kwargs", "agent", "params", "env_label", "agent_label", "horizon", "seeds",
    "final_regret_mean", "final_regret_se", "final_regret_ci_low", "final_regret_ci_high",
    "regret_over_log_t", "best_arm_fraction", "mean_reward", "lai_robbins_bound",
]


@dataclass(frozen=True)
class Check:
    """A published finding or number, tested on our data."""

    name: str
    expected: Any
    observed: Any
    passed: bool


@dataclass(frozen=True)
class CellData:
    cell: Cell
    result: CellResult

    @property
    def arrays(self) -> dict[str, NDArray[Any]]:
        return self.result.arrays

    @property
    def final_regret_mean(self) -> float:
        return float(self.arrays["final_regret"].mean())


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


def lai_robbins_constant_of(data: CellData) -> float | None:
    """C when every replicate of the cell faces the same C, else None."""
    return metrics.shared_value(data.arrays["lai_robbins_constant"])


def summary_row(data: CellData, *, random_state: int = 0) -> dict[str, Any]:
    """One row: the cell's final pseudo-regret with standard error and bootstrap 95% interval."""
    a = data.arrays
    final = a["final_regret"]
    mean, se = metrics.mean_and_standard_error(final)
    low, high = metrics.bootstrap_mean_ci(final, random_state=random_state)
    horizon = data.cell.horizon
    c = lai_robbins_constant_of(data)
    return {
        "env": data.cell.env.id,
        "env_kwargs": canonical_json(dict(data.cell.env.kwargs)),
        "agent": data.cell.agent.name,
        "params": canonical_json(dict(data.cell.agent.params)),
        "env_label": data.cell.env.name,
        "agent_label": data.cell.agent.display,
        "horizon": horizon,
        "seeds": data.cell.seeds,
        "final_regret_mean": float(mean),
        "final_regret_se": float(se),
        "final_regret_ci_low": float(low),
        "final_regret_ci_high": float(high),
        "regret_over_log_t": float(mean) / math.log(horizon) if horizon > 1 else float("nan"),
        "best_arm_fraction": float(a["best_arm_fraction"].mean()),
        "mean_reward": float(a["mean_reward"].mean()),
        "lai_robbins_bound": None if c is None else c * math.log(horizon),
    }


def aggregate_rows(results: Sequence[CellData], *, random_state: int = 0) -> list[dict[str, Any]]:
    """Per agent setting, across environments: IQM and mean of the final regret with stratified
    bootstrap 95% intervals (rliable's definitions; runs x tasks, tasks = environments)."""
    by_agent: dict[str, list[CellData]] = {}
    for d in results:
        by_agent.setdefault(d.cell.agent.display, []).append(d)
    rows = []
    for label, cells in by_agent.items():
        runs = min(d.arrays["final_regret"].size for d in cells)
        scores = np.stack([d.arrays["final_regret"][:runs] for d in cells], axis=1)
        iqm, iqm_lo, iqm_hi = metrics.stratified_bootstrap_ci(
            scores, metrics.interquartile_mean, n_boot=500, random_state=random_state)
        mean, mean_lo, mean_hi = metrics.stratified_bootstrap_ci(
            scores, metrics.aggregate_mean, n_boot=500, random_state=random_state)
        rows.append({"agent_label": label, "tasks": len(cells), "runs": runs,
                     "iqm_final_regret": iqm, "iqm_ci_low": iqm_lo, "iqm_ci_high": iqm_hi,
                     "mean_final_regret": mean, "mean_ci_low": mean_lo, "mean_ci_high": mean_hi})
    return rows


def write_summary(out: str | Path, rows: Sequence[dict[str, Any]], *,
                  experiment: Experiment | None = None, checks: Sequence[Check] = (),
                  extra: dict[str, Any] | None = None) -> None:
    """``DIR/summary.csv`` (one row per environment x agent setting) and ``DIR/summary.json``
    (the rows, the experiment, the checks and anything in ``extra``)."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "summary.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=SUMMARY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    document: dict[str, Any] = {"rows": list(rows), "checks": [asdict(c) for c in checks]}
    if experiment is not None:
        document["experiment"] = experiment.to_dict()
    document.update(extra or {})
    tmp = root / ".summary.json.tmp"
    tmp.write_text(json.dumps(document, indent=2, default=_json_default), encoding="utf-8")
    tmp.replace(root / "summary.json")


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


SUMMARY_COLUMNS = [("env_label", "environment"), ("agent_label", "agent"),
                   ("final_regret_mean", "regret(T)"), ("final_regret_ci_low", "ci95 low"),
                   ("final_regret_ci_high", "ci95 high"), ("regret_over_log_t", "regret/log T"),
                   ("best_arm_fraction", "best arm"), ("lai_robbins_bound", "Lai-Robbins")]


def format_checks(checks: Sequence[Check]) -> str:
    lines = []
    for c in checks:
        mark = "PASS" if c.passed else "FAIL"
        lines.append(f"[{mark}] {c.name}\n        expected: {c.expected}\n"
                     f"        observed: {c.observed}")
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


def plot_all(results: Sequence[CellData], out: str | Path) -> list[Path]:
    """One PNG per environment setting under ``DIR/plots``."""
    by_env: dict[str, list[CellData]] = {}
    for d in results:
        by_env.setdefault(d.cell.env.name, []).append(d)
    paths = []
    for env_name, cells in by_env.items():
        safe = "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in env_name)
        adversarial = cells[0].result.record.get("regret_kind") == "best-fixed-arm"
        ylabel = ("cumulative regret against the best fixed arm" if adversarial
                  else "cumulative pseudo-regret")
        paths.append(plot_regret_curves(cells, Path(out) / "plots" / f"regret_{safe}.png",
                                        title=env_name, ylabel=ylabel))
    return paths
