"""Published experiments, reproduced: ``decisiongym reproduce NAME [--quick] --out DIR``.

Each reproduction builds an :class:`~decisiongym.harness.experiment.Experiment` (full or quick
size), runs it through the ordinary harness (same runners, same results store), then analyses
the stored results: a table beside the published numbers, plots, and ``checks`` (one per
published finding or number) written to ``DIR/summary.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from decisiongym.harness.experiment import AgentSetting, Cell, EnvSetting, Experiment
from decisiongym.harness.report import Check


@dataclass(frozen=True)
class Analysis:
    """What a reproduction reports besides the summary rows."""

    checks: list[Check]
    text: str
    extra: dict[str, Any]


@dataclass(frozen=True)
class Reproduction:
    """A published study: ``experiment(quick)`` builds its experiment at full or quick size;
    ``analyse(experiment, out, quick)`` reads the stored cells (and runs any study that is not a
    grid of cells) and returns the checks. ``aggregate=False``: the studies' final numbers are
    on different scales (returns of different tasks, modes and W1), so the generic
    across-environments IQM is left out. ``protocols``: documented variants of the study's
    protocol (``decisiongym reproduce NAME --protocol P``), each a reproduction of its own with
    its own name, experiment and cells."""

    name: str
    summary: str
    experiment: Callable[[bool], Experiment]
    analyse: Callable[[Experiment, Path, bool], Analysis]
    aggregate: bool = True
    protocols: Mapping[str, Reproduction] = field(default_factory=dict)

    def with_protocol(self, protocol: str | None) -> Reproduction:
        """This reproduction (``protocol`` None or "default") or its variant ``protocol``;
        ValueError naming the valid choices for any other name."""
        if protocol is None or protocol == "default":
            return self
        if protocol not in self.protocols:
            valid = ", ".join(["default", *self.protocols])
            raise ValueError(f"reproduction {self.name!r} has no protocol {protocol!r}; "
                             f"valid: {valid}")
        return self.protocols[protocol]


@dataclass(frozen=True)
class Part:
    """One study of a reproduction: a task, its agents, its step budget and its runs."""

    env: EnvSetting
    agents: tuple[AgentSetting, ...]
    horizon: int
    seeds: int


@dataclass(frozen=True)
class StudyExperiment(Experiment):
    """An experiment made of :class:`Part` s: only each part's (env, agent) pairs are cells."""

    parts: tuple[Part, ...] = field(default=())

    def cells(self) -> list[Cell]:
        return [Cell(p.env, agent, p.seeds, self.seed, p.horizon,
                     agent.resources or self.resources, tuple(self.imports))
                for p in self.parts for agent in p.agents]

    @classmethod
    def from_parts(cls, name: str, parts: tuple[Part, ...], seed: int) -> StudyExperiment:
        """The experiment of ``parts`` (its envs and agents listed once each, in order)."""
        envs: list[EnvSetting] = []
        agents: list[AgentSetting] = []
        for part in parts:
            envs += [part.env] if part.env not in envs else []
            agents += [a for a in part.agents if a not in agents]
        return cls(name=name, envs=envs, agents=agents, horizon=max(p.horizon for p in parts),
                   seeds=max(p.seeds for p in parts), seed=seed, parts=parts)


def _registry() -> dict[str, Reproduction]:
    from decisiongym.reproductions import (
        adversarial,
        adversarial_examples,
        bandit_theory,
        chapelle_li,
        contextual,
        deep_rl,
        feudal,
        gan,
        kuleshov_precup,
        nas,
        ope,
        options,
        supervised,
        sutton_barto,
    )

    return {r.name: r for r in (kuleshov_precup.REPRODUCTION, chapelle_li.REPRODUCTION,
                                adversarial.REPRODUCTION, ope.REPRODUCTION,
                                contextual.REPRODUCTION, sutton_barto.REPRODUCTION,
                                supervised.REPRODUCTION, deep_rl.REPRODUCTION,
                                adversarial_examples.REPRODUCTION, feudal.REPRODUCTION,
                                options.REPRODUCTION, nas.REPRODUCTION,
                                gan.REPRODUCTION, bandit_theory.REPRODUCTION)}


def list_reproductions() -> list[tuple[str, str]]:
    return [(r.name, r.summary) for r in _registry().values()]


def get_reproduction(name: str) -> Reproduction:
    registry = _registry()
    if name not in registry:
        raise ValueError(f"unknown reproduction {name!r}; available: {', '.join(registry)}")
    return registry[name]


__all__ = ["Analysis", "Reproduction", "get_reproduction", "list_reproductions"]
