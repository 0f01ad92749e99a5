"""Kuleshov & Precup's protocol details: the agents' parameters for them, on hand-checkable
cases, and the reproduction's ``--protocol paper`` variant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from decisiongym.agents.bandits import Pursuit, ReinforcementComparison
from decisiongym.cli import main
from decisiongym.reproductions import get_reproduction
from decisiongym.reproductions.kuleshov_precup import (
    PAPER_K5,
    PAPER_REPRODUCTION,
    experiment,
    paper_experiment,
)
from tests.conftest import make_agent


def _pursuit(n_arms: int = 3, **params: Any) -> Pursuit:
    agent = make_agent("pursuit", n_arms, **params)
    assert isinstance(agent, Pursuit)
    return agent


def _rc(**params: Any) -> ReinforcementComparison:
    agent = make_agent("reinforcement-comparison", 3, **params)
    assert isinstance(agent, ReinforcementComparison)
    return agent


def _feed(agent: Any, arms: list[int], rewards: list[float]) -> None:
    obs = np.zeros(1, dtype=np.int64)
    no = np.zeros(1, dtype=bool)
    for arm, r in zip(arms, rewards, strict=True):
        agent.update(obs, np.array([arm]), np.array([r], dtype=np.float64), obs, no, no)


# ----- Pursuit -------------------------------------------------------------------------------


def test_pursuit_ties_first_takes_the_lowest_index() -> None:
    # All estimates 0 after a reward of 0: a three-way tie; "first" pursues arm 0.
    agent = _pursuit(beta=0.5, ties="first")
    agent.reset(1, seed=0)
    _feed(agent, [2], [0.0])
    np.testing.assert_allclose(agent.probs[0], [2 / 3, 1 / 6, 1 / 6])


def test_pursuit_ties_random_spreads_over_the_tied_arms() -> None:
    agent = _pursuit(beta=0.5)
    agent.reset(3000, seed=0)
    obs = np.zeros(3000, dtype=np.int64)
    no = np.zeros(3000, dtype=bool)
    agent.update(obs, np.full(3000, 2), np.zeros(3000), obs, no, no)
    probs = agent.probs
    np.testing.assert_allclose(np.sort(probs, axis=1), np.tile([1 / 6, 1 / 6, 2 / 3], (3000, 1)))
    pursued = np.bincount(probs.argmax(axis=1), minlength=3) / 3000
    np.testing.assert_allclose(pursued, [1 / 3] * 3, atol=0.04)


def test_pursuit_update_order() -> None:
    # Arm 1 pays 1 at the first step. values-first: pi pursues arm 1, whose estimate is now 1.
    # policy-first: pi pursues the greedy arm of the estimates before the reward (all 0, ties
    # to index: arm 0), then arm 1's estimate becomes 1.
    values_first = _pursuit(beta=0.5, ties="first")
    policy_first = _pursuit(beta=0.5, ties="first", update_order="policy-first")
    for agent in (values_first, policy_first):
        agent.reset(1, seed=0)
        _feed(agent, [1], [1.0])
    np.testing.assert_allclose(values_first.probs[0], [1 / 6, 2 / 3, 1 / 6])
    np.testing.assert_allclose(policy_first.probs[0], [2 / 3, 1 / 6, 1 / 6])
    assert policy_first.mu[0].tolist() == [0.0, 1.0, 0.0]
    # The next step pursues arm 1 in both orders.
    _feed(policy_first, [0], [0.0])
    np.testing.assert_allclose(policy_first.probs[0], [1 / 3, 7 / 12, 1 / 12])


def test_pursuit_initial_value_of_arms_never_pulled() -> None:
    # Arm 0 pays 0.5; arms never pulled are worth 1, so the greedy arm is one of them (ties to
    # index: arm 1), not the only arm with data.
    agent = _pursuit(beta=0.5, initial_value=1.0, ties="first")
    agent.reset(1, seed=0)
    _feed(agent, [0], [0.5])
    np.testing.assert_allclose(agent.probs[0], [1 / 6, 2 / 3, 1 / 6])
    # Once every arm is pulled the estimates alone decide.
    _feed(agent, [1, 2], [0.2, 0.3])
    assert agent.probs[0].argmax() == 0


def test_pursuit_episode_end_restores_uniform_probabilities() -> None:
    agent = _pursuit(2, beta=0.5, update_order="policy-first")
    agent.reset(1, seed=0)
    obs = np.zeros(1, dtype=np.int64)
    agent.update(obs, np.array([1]), np.array([1.0]), obs, np.array([True]), np.array([False]))
    np.testing.assert_allclose(agent.probs[0], [0.5, 0.5])
    assert agent.mu[0].tolist() == [0.0, 0.0]


# ----- Reinforcement comparison ---------------------------------------------------------------


def test_reinforcement_comparison_complement_scales_by_one_minus_pi() -> None:
    # Preferences 0: pi_2 = 1/3, so the step beta (r - r_bar) is scaled by 2/3.
    agent = _rc(alpha=0.1, beta=0.5,
                       initial_reference=0.2, complement=True)
    agent.reset(1, seed=0)
    _feed(agent, [2], [1.0])
    np.testing.assert_allclose(agent.preferences[0], [0.0, 0.0, 0.5 * 0.8 * 2 / 3])
    assert agent.reference[0] == pytest.approx(0.28)
    # Second step from arm 2 again: pi_2 = e^p2 / (2 + e^p2).
    p2 = 0.5 * 0.8 * 2 / 3
    pi2 = np.exp(p2) / (2 + np.exp(p2))
    _feed(agent, [2], [1.0])
    assert agent.preferences[0, 2] == pytest.approx(p2 + 0.5 * (1 - 0.28) * (1 - pi2))


def test_reinforcement_comparison_reference_first() -> None:
    # r_bar takes the reward first (0.2 -> 0.28), then the preference moves against it.
    agent = _rc(alpha=0.1, beta=0.5,
                       initial_reference=0.2, update_order="reference-first")
    agent.reset(1, seed=0)
    _feed(agent, [2], [1.0])
    np.testing.assert_allclose(agent.preferences[0], [0.0, 0.0, 0.5 * (1.0 - 0.28)])
    assert agent.reference[0] == pytest.approx(0.28)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("pursuit", {"ties": "last"}, r"pursuit: ties .*'random' or 'first'.* 'last'"),
        ("pursuit", {"update_order": "sideways"}, r"pursuit: update_order .* 'sideways'"),
        ("pursuit", {"initial_value": float("nan")}, r"pursuit: initial_value .* nan"),
        ("reinforcement-comparison", {"complement": "yes"},
         r"reinforcement-comparison: complement .* 'yes'"),
        ("reinforcement-comparison", {"update_order": "values-first"},
         r"reinforcement-comparison: update_order .* 'values-first'"),
    ],
)
def test_new_parameters_are_validated(name: str, params: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_agent(name, 3, **params)


# ----- The paper variant ----------------------------------------------------------------------


def test_paper_variant_cells_never_share_a_key_with_the_default() -> None:
    for quick in (True, False):
        default = {c.key for c in experiment(quick).cells()}
        paper = {c.key for c in paper_experiment(quick).cells()}
        assert default.isdisjoint(paper)
        assert paper_experiment(quick).name != experiment(quick).name
    assert get_reproduction("kuleshov-precup").with_protocol("paper") is PAPER_REPRODUCTION
    assert get_reproduction("kuleshov-precup").with_protocol("default").name == "kuleshov-precup"


def test_paper_variant_quick_meets_all_twelve_numbers(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "kp-paper"
    code = main(["reproduce", "kuleshov-precup", "--protocol", "paper", "--quick", "--out",
                 str(out)])
    text = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["rows"]) == len(paper_experiment(True).cells())
    checks = summary["checks"]
    failed = [c["name"] for c in checks if not c["passed"]]
    assert code == 0 and not failed, failed
    numbers = [c for c in checks if c["name"].startswith("paper protocol:")]
    assert len(numbers) == len(PAPER_K5) == 12
    for (variance, policy), (paper, _) in PAPER_K5.items():
        assert any(f" {policy} at K=5, variance {variance:g} meets the paper's {paper}"
                   in c["name"] for c in numbers), (variance, policy)
    for c in checks:
        assert c["runs"] >= 3 and c["interval"] is not None
    assert len(summary["paper_k5"]) == 12
    assert "paper protocol" in text and "55.80" in text
    assert (out / "plots" / "kuleshov_precup_paper_k5_var0.01.png").read_bytes()[:4] \
        == b"\x89PNG"


def test_unknown_protocol_is_a_one_line_error(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["reproduce", "kuleshov-precup", "--protocol", "nope", "--quick", "--out",
                 str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        "decisiongym: error: reproduction 'kuleshov-precup' has no protocol 'nope'; "
        "valid: default, paper"]
    # A reproduction that declares no protocol says so the same way.
    assert main(["reproduce", "ope", "--protocol", "paper", "--out", str(tmp_path)]) == 2
    assert "valid: default" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing ran
