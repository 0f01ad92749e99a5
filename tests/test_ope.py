"""Off-policy evaluation (``decisiongym.harness.ope``) and ``decisiongym reproduce ope``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from decisiongym.cli import main
from decisiongym.harness.ope import (
    LinearLoggingProblem,
    LoggedBandit,
    cross_fit_ridge,
    direct_method,
    doubly_robust,
    evaluate,
    ips,
    snips,
)


def _tiny() -> tuple[LoggedBandit, np.ndarray, np.ndarray]:
    data = LoggedBandit(contexts=np.zeros((3, 1)), actions=np.array([0, 1, 0]),
                        rewards=np.array([1.0, 0.5, 0.0]), propensities=np.array([0.5, 0.25, 0.5]),
                        n_actions=2)
    target = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    q = np.array([[0.8, 0.2], [0.4, 0.6], [0.1, 0.3]])
    return data, target, q


def test_estimators_on_a_hand_computed_example() -> None:
    data, target, q = _tiny()
    # weights pi(A|X)/p: 1/0.5 = 2, 0.5/0.25 = 2, 0/0.5 = 0
    assert ips(data, target) == pytest.approx((2 * 1.0 + 2 * 0.5 + 0) / 3)
    assert snips(data, target) == pytest.approx((2 * 1.0 + 2 * 0.5) / 4)
    dm = (0.8 + 0.5 * 0.4 + 0.5 * 0.6 + 0.3) / 3
    assert direct_method(data, target, q) == pytest.approx(dm)
    correction = (2 * (1.0 - 0.8) + 2 * (0.5 - 0.6) + 0) / 3
    assert doubly_robust(data, target, q) == pytest.approx(dm + correction)
    est = evaluate(data, target, q, n_boot=200, random_state=0)
    assert list(est) == ["ips", "snips", "dm", "dr"]
    for e in est.values():
        assert e.ci_low <= e.value <= e.ci_high


def test_ips_and_dr_are_unbiased_and_dr_varies_less_with_the_right_model() -> None:
    prob = LinearLoggingProblem(seed=1)
    truth = prob.true_value(n=400_000)
    rng = np.random.default_rng(0)
    reps, n = 300, 300
    est: dict[str, list[float]] = {"ips": [], "dr": [], "dr_fit": []}
    for _ in range(reps):
        data, pi, eta = prob.log(rng, n, epsilon=0.3)
        est["ips"].append(ips(data, pi))
        est["dr"].append(doubly_robust(data, pi, eta))  # the right reward model
        est["dr_fit"].append(doubly_robust(data, pi, cross_fit_ridge(data)))
    for name, values in est.items():
        v = np.asarray(values)
        se = v.std(ddof=1) / np.sqrt(reps)
        assert abs(v.mean() - truth) < 3 * se + 2e-3, (name, v.mean(), truth, se)
    assert np.var(est["dr"]) < 0.5 * np.var(est["ips"])
    assert np.var(est["dr_fit"]) < np.var(est["ips"])


def test_zero_propensities_and_bad_inputs_raise_clear_errors() -> None:
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"propensities\[1\] = 0\.0 is zero: the behaviour "
                                         r"policy could not have taken the logged action"):
        LoggedBandit(x, np.array([0, 1, 0]), np.ones(3), np.array([0.5, 0.0, 0.5]), 2)
    with pytest.raises(ValueError, match=r"propensities\[0\] = 1\.5 is outside \(0, 1\]"):
        LoggedBandit(x, np.array([0, 1, 0]), np.ones(3), np.array([1.5, 0.5, 0.5]), 2)
    with pytest.raises(ValueError, match=r"actions must be integers in \[0, 2\)"):
        LoggedBandit(x, np.array([0, 2, 0]), np.ones(3), np.full(3, 0.5), 2)
    with pytest.raises(ValueError, match=r"rewards must have shape \(3,\)"):
        LoggedBandit(x, np.array([0, 1, 0]), np.ones(2), np.full(3, 0.5), 2)
    data, target, q = _tiny()
    with pytest.raises(ValueError, match=r"target_probs must have shape \(3, 2\)"):
        ips(data, target[:2])
    with pytest.raises(ValueError, match="probability distribution"):
        ips(data, target * 2)
    with pytest.raises(ValueError, match=r"predicted_rewards must have shape"):
        doubly_robust(data, target, q[:, :1])
    with pytest.raises(ValueError, match="epsilon must be in"):
        LinearLoggingProblem().behaviour_probs(x, 0.0)


def test_reproduce_ope_quick(tmp_path: Path) -> None:
    out = tmp_path / "ope"
    code = main(["reproduce", "ope", "--quick", "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    failed = [c["name"] for c in summary["checks"] if not c["passed"]]
    assert code == 0 and not failed, failed
    rows = summary["extra"]["ope"]["rows"] if "extra" in summary else summary["ope"]["rows"]
    assert [r["epsilon"] for r in rows] == [1.0, 0.5, 0.2, 0.1, 0.05, 0.02]
    assert (out / "plots" / "ope_error_vs_overlap.png").read_bytes()[:4] == b"\x89PNG"
