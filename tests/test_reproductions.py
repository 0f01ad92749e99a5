"""The quick reproductions run end to end and their checks pass."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from decisiongym.cli import main
from decisiongym.reproductions import get_reproduction, list_reproductions

REQUIRED_COLUMNS = {"env", "env_kwargs", "agent", "params", "final_regret_mean",
                    "final_regret_ci_low", "final_regret_ci_high"}


def _check_outputs(out: Path, n_rows: int, metric: str = "regret") -> dict[str, object]:
    """``metric``: the headline metric of every row ("" for a study with none, the GANs)."""
    summary = json.loads((out / "summary.json").read_text())
    with open(out / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n_rows == len(summary["rows"])
    assert REQUIRED_COLUMNS <= set(rows[0])
    for row in rows:
        assert row["metric"] == metric
        if metric:
            assert float(row[f"final_{metric}_ci_low"]) <= float(row[f"final_{metric}_mean"]) \
                <= float(row[f"final_{metric}_ci_high"])
        else:  # no column holds a quantity under another's name
            assert not any(row[k] for k in row if k.startswith("final_"))
        json.loads(row["env_kwargs"])
        json.loads(row["params"])
    assert summary["checks"], "a reproduction states its findings as checks"
    for check in summary["checks"]:
        assert set(check) == {"name", "expected", "observed", "passed", "runs",
                              "interval"}
        # Every check says how many independent runs decided it (1 if exact or closed-form).
        runs = check["runs"]
        assert isinstance(runs, int) and not isinstance(runs, bool) and runs >= 1, check
        if check["interval"] is not None:
            low, high = check["interval"]
            assert low <= high, check
    pngs = list((out / "plots").glob("*.png"))
    assert pngs and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    return summary


def test_kuleshov_precup_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "kp"
    code = main(["reproduce", "kuleshov-precup", "--quick", "--out", str(out)])
    text = capsys.readouterr().out
    summary = _check_outputs(out, len(get_reproduction("kuleshov-precup").experiment(True)
                                      .cells()))
    failed = [c["name"] for c in summary["checks"] if not c["passed"]]  # type: ignore[index]
    assert code == 0 and not failed, failed
    assert "K = 5 beside the paper" in text and "67.40" in text
    names = " ".join(c["name"] for c in summary["checks"])  # type: ignore[index]
    assert "simple heuristics" in names and "softmax" in names and "UCB1-Tuned" in names


def test_chapelle_li_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cl"
    code = main(["reproduce", "chapelle-li", "--quick", "--out", str(out), "--runner",
                 "process", "--workers", "2"])
    summary = _check_outputs(out, len(get_reproduction("chapelle-li").experiment(True).cells()))
    checks: list[dict[str, Any]] = summary["checks"]  # type: ignore[assignment]
    failed = [c["name"] for c in checks if not c["passed"]]
    assert code == 0 and not failed, failed
    assert any("Lai-Robbins" in c["name"] for c in checks)
    for check in checks:
        assert check["runs"] == 100, check
        if "below UCB1" in check["name"]:  # decided by the paired interval of TS - UCB1
            assert check["interval"][1] < 0, check
    # Figure 1's slope, C, beside Thompson sampling's growth per log t.
    assert "published slope C" in capsys.readouterr().out


def test_a_failed_check_makes_the_command_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    from decisiongym import reproductions
    from decisiongym.harness.report import Check
    from decisiongym.reproductions import Analysis, Reproduction

    real = get_reproduction("kuleshov-precup")

    def tiny(quick: bool):  # type: ignore[no-untyped-def]
        exp = real.experiment(True)
        return type(exp)(name="tiny", envs=exp.envs[:1], agents=exp.agents[:2], horizon=20,
                         seeds=2, seed=0)

    fake = Reproduction("kuleshov-precup", "x", tiny,
                        lambda exp, out, quick: Analysis([Check("impossible", 1, 0, False)], "",
                                                         {}))
    monkeypatch.setattr(reproductions, "_registry", lambda: {"kuleshov-precup": fake})
    assert main(["reproduce", "kuleshov-precup", "--out", str(tmp_path)]) == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["checks"] == [{"name": "impossible", "expected": 1, "observed": 0,
                                  "passed": False, "runs": None, "interval": None}]


def test_every_reproduction_is_listed() -> None:
    names = [n for n, _ in list_reproductions()]
    assert names == ["kuleshov-precup", "chapelle-li", "adversarial", "ope", "contextual",
                     "sutton-barto", "supervised", "deep-rl", "adversarial-examples",
                     "feudal", "options", "nas", "gan", "bandit-theory"]
    with pytest.raises(ValueError, match="unknown reproduction 'nope'"):
        get_reproduction("nope")


def test_gan_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The GAN reproduction's pipeline at quick size: every cell, plot, table and check."""
    out = tmp_path / "gan"
    code = main(["reproduce", "gan", "--quick", "--out", str(out)])
    text = capsys.readouterr().out
    summary = _check_outputs(out, len(get_reproduction("gan").experiment(True).cells()),
                             metric="")
    failed = [c["name"] for c in summary["checks"] if not c["passed"]]  # type: ignore[index]
    assert code == 0 and not failed, failed
    names = " ".join(c["name"] for c in summary["checks"])  # type: ignore[index]
    assert "gradient norms" in names and "W1" in names
    pngs = {p.name for p in (out / "plots").glob("*.png")}
    assert {"gan_samples_8gaussians.png", "gan_samples_25gaussians.png",
            "gan_gradient_norms.png", "gan_digits.png"} <= pngs
    assert "Mode collapse" in text and "Digits" in text and "WGAN-GP" in text


@pytest.mark.slow
def test_kuleshov_precup_full_size(tmp_path: Path) -> None:
    """The README's main job: all 12 problems x 21 settings x 1000 runs (a few minutes)."""
    out = tmp_path / "kp-full"
    code = main(["reproduce", "kuleshov-precup", "--out", str(out), "--runner", "process",
                 "--workers", "2"])
    summary = _check_outputs(out, len(get_reproduction("kuleshov-precup").experiment(False)
                                      .cells()))
    failed = [c["name"] for c in summary["checks"] if not c["passed"]]  # type: ignore[index]
    assert code == 0 and not failed, failed
