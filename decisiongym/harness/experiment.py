"""Experiments: a grid of environments x agent settings x seeds x budget.

An experiment is data (STYLE.md, item 7). Written in Python::

    Experiment(name="demo", horizon=2000, seeds=10,
               envs=[EnvSetting("CliffWalking-v1"), EnvSetting("FrozenLake-v1",
                                                               {"is_slippery": False})],
               agents=[AgentSetting("q-learning"),
                       *AgentSetting.grid("sarsa", epsilon=[0.05, 0.1])])

or in TOML (``decisiongym compare demo.toml --out DIR``)::

    name = "demo"
    horizon = 2000      # env steps per replicate (the harness's budget)
    seeds = 10          # replicates per cell; replicate i is seeded with seed + i
    seed = 0            # base seed (optional, default 0)
    imports = []        # optional: modules that register your own envs and agents

    [[envs]]
    id = "CliffWalking-v1"

    [[envs]]
    id = "FrozenLake-v1"
    kwargs = { is_slippery = false }

    [[agents]]
    name = "q-learning"

    [[agents]]
    name = "sarsa"
    grid = { epsilon = [0.05, 0.1] }   # one setting per value (a product over several keys)

    [resources]         # optional: what one cell asks of a Ray cluster (default 1 CPU, 0 GPU);
    cpus = 1            # an agent table may override it, e.g. resources = { gpus = 1 }
    gpus = 0

Any registered Gymnasium env works (ours, Gymnasium's, or a user's, registered by a module named
in ``imports``, which every worker imports before it runs a cell). The horizon is the harness's
budget per replicate; it enters an env's constructor only where the env declares the kwarg that
takes it (:func:`decisiongym.harness.rollout.budget_kwarg`). An ``[[envs]]`` table may add
``phases`` (:class:`Phase`): later stages of the task with other kwargs, and
``vectorization = "async"`` to step an env without a native vector env in one process per
replicate (Gymnasium's ``AsyncVectorEnv``; the same result as the default ``SyncVectorEnv``).

Every cell (one environment setting x one agent setting) runs all its seeds at once in one
vector env; all agents on one environment see the same seeds, hence the same reward
tables (common random numbers). :meth:`Experiment.validate` checks every field before any work
starts and names the field that is wrong. Resources do not change a result, so they are not part
of a cell's spec or key: the same cell asks a cluster for a GPU or not and stores the same file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import itertools
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ExperimentError(ValueError):
    """An experiment definition is wrong; the message names the field."""


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal values give equal strings (used in keys)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {value!r}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-")


@dataclass(frozen=True)
class Resources:
    """What one cell asks of the machine that runs it: CPUs and GPUs (fractions allowed).

    The Ray runner schedules each cell with these; the in-process and process-pool runners run
    one cell per process and ignore them. Torch cells that should run on a GPU say ``gpus=1``.
    """

    cpus: float = 1.0
    gpus: float = 0.0

    def validate(self, where: str) -> None:
        for name in ("cpus", "gpus"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not value >= 0 or value == float("inf"):
                raise ExperimentError(f"{where}.{name} must be a finite number >= 0, "
                                      f"got {value!r}")
        if self.cpus == 0 and self.gpus == 0:
            raise ExperimentError(f"{where}: a cell must ask for some CPU or GPU")

    def to_dict(self) -> dict[str, float]:
        return {"cpus": self.cpus, "gpus": self.gpus}


@dataclass(frozen=True)
class Phase:
    """From env step ``after`` on (per replicate), the env is rebuilt with ``kwargs`` updated
    and reset (with seed + 10,000 x the phase's number); the agent keeps what it learned, e.g.
    the goal of a maze moves. In TOML: ``phases = [{ after = 20000, kwargs = { goal = [1, 6] } }]``
    in an ``[[envs]]`` table."""

    after: int
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"after": self.after, "kwargs": dict(self.kwargs)}


@dataclass(frozen=True)
class EnvSetting:
    """An environment id, its kwargs, and any later phases of the task (:class:`Phase`)."""

    id: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None
    phases: tuple[Phase, ...] = ()
    #: "auto" (the native vector env where there is one, else SyncVectorEnv), "sync" or
    #: "async" (AsyncVectorEnv: one process per replicate). Not part of a cell's spec: every
    #: choice gives the same result.
    vectorization: str = field(default="auto", compare=False)

    @property
    def name(self) -> str:
        return self.label or self.spec_name

    @property
    def spec_name(self) -> str:
        """A readable name made from the id and kwargs alone (labels aside)."""
        args = ",".join(f"{k}={v}" for k, v in sorted(self.kwargs.items()))
        short = self.id.split("/")[-1]
        return f"{short}({args})" if args else short

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kwargs": dict(self.kwargs), "label": self.label}
        if self.phases:
            out["phases"] = [p.to_dict() for p in self.phases]
        if self.vectorization != "auto":
            out["vectorization"] = self.vectorization
        return out


@dataclass(frozen=True)
class AgentSetting:
    """An agent name and one setting of its parameters."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None
    resources: Resources | None = None  # None: the experiment's

    @property
    def display(self) -> str:
        return self.label or self.spec_name

    @property
    def spec_name(self) -> str:
        """A readable name made from the agent name and parameters alone (labels aside)."""
        args = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name}({args})" if args else self.name

    @staticmethod
    def grid(name: str, base: Mapping[str, Any] | None = None,
             **values: Iterable[Any]) -> list[AgentSetting]:
        """One setting per point of the product of the given parameter lists."""
        keys = sorted(values)
        lists = [list(values[k]) for k in keys]
        return [AgentSetting(name, {**(base or {}), **dict(zip(keys, combo, strict=True))})
                for combo in itertools.product(*lists)]

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "params": dict(self.params), "label": self.label}
        if self.resources is not None:
            out["resources"] = self.resources.to_dict()
        return out


@dataclass(frozen=True)
class Cell:
    """One environment setting x one agent setting, run for ``seeds`` replicates."""

    env: EnvSetting
    agent: AgentSetting
    seeds: int
    seed: int
    horizon: int
    # Not part of the spec: where a cell runs does not change what it computes.
    resources: Resources = field(default=Resources(), compare=False)
    # User modules that register the cell's env or agent, imported by whichever worker runs it.
    imports: tuple[str, ...] = field(default=(), compare=False)

    def spec(self) -> dict[str, Any]:
        """Everything that determines the cell's result."""
        spec = {"env_id": self.env.id, "env_kwargs": dict(self.env.kwargs),
                "agent": self.agent.name, "params": dict(self.agent.params),
                "seeds": self.seeds, "seed": self.seed, "horizon": self.horizon}
        if self.env.phases:
            spec["env_phases"] = [p.to_dict() for p in self.env.phases]
        return spec

    @property
    def key(self) -> str:
        """A file-system-safe name, unique to the cell's spec (readable part + hash)."""
        digest = hashlib.sha256(canonical_json(self.spec()).encode()).hexdigest()[:12]
        return f"{_slug(self.env.spec_name)}__{_slug(self.agent.spec_name)}__{digest}"[-180:]


@dataclass(frozen=True)
class Experiment:
    """The grid: environments x agents x seeds x horizon."""

    name: str
    envs: tuple[EnvSetting, ...] | list[EnvSetting]
    agents: tuple[AgentSetting, ...] | list[AgentSetting]
    horizon: int
    seeds: int
    seed: int = 0
    resources: Resources = Resources()
    #: Modules to import first (in every worker): a user's envs and agents register there.
    imports: tuple[str, ...] = ()

    def cells(self) -> list[Cell]:
        """Cells in a fixed order: environment-major, then agent setting."""
        return [Cell(env, agent, self.seeds, self.seed, self.horizon,
                     agent.resources or self.resources, tuple(self.imports))
                for env in self.envs for agent in self.agents]

    def validate(self) -> None:
        """Check every field; raise :class:`ExperimentError` naming the first wrong one.

        Builds each environment once (single env, horizon 1) and each agent setting that has a
        cell on it against its spaces, so bad kwargs and parameters, and agents that do not fit
        an env, fail here, before any work.
        """
        import gymnasium as gym

        import decisiongym  # noqa: F401  (registers the environments)
        from decisiongym import agents
        from decisiongym.harness import rollout

        where = f"experiment {self.name!r}"
        if isinstance(self.imports, str) or not all(isinstance(m, str) for m in self.imports):
            raise ExperimentError(f"{where}: imports must be a list of module names, got "
                                  f"{self.imports!r}")
        try:
            for module in self.imports:
                importlib.import_module(module)
        except ImportError as exc:
            raise ExperimentError(f"{where}: imports: cannot import {exc.name or module!r}: "
                                  f"{exc}") from exc
        for fld, value in (("horizon", self.horizon), ("seeds", self.seeds)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ExperimentError(f"{where}: {fld} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ExperimentError(f"{where}: seed must be a non-negative integer, "
                                  f"got {self.seed!r}")
        if not isinstance(self.resources, Resources):
            raise ExperimentError(f"{where}: resources must be a Resources, "
                                  f"got {self.resources!r}")
        self.resources.validate(f"{where}: resources")
        for j, agent in enumerate(self.agents):
            if agent.resources is not None:
                agent.resources.validate(f"{where}: agents[{j}].resources")
        if not self.envs:
            raise ExperimentError(f"{where}: envs is empty; give at least one environment")
        if not self.agents:
            raise ExperimentError(f"{where}: agents is empty; give at least one agent")
        known_agents = dict(agents.list_agents())
        for j, agent in enumerate(self.agents):
            if agent.name not in known_agents:
                raise ExperimentError(f"{where}: agents[{j}].name: unknown agent "
                                      f"{agent.name!r}; known: {', '.join(sorted(known_agents))}")
        agents_on: dict[int, list[int]] = {}  # env index -> the agents with a cell on it
        for cell in self.cells():
            on = agents_on.setdefault(self.envs.index(cell.env), [])
            if self.agents.index(cell.agent) not in on:
                on.append(self.agents.index(cell.agent))
        for i, env_setting in enumerate(self.envs):
            paired = [(j, self.agents[j]) for j in agents_on.get(i, [])]
            if env_setting.id not in gym.registry:
                # Only agents with a training loop of their own run on an id outside
                # Gymnasium's registry (the GAN game); their loop checks the id and kwargs.
                stepped = [j for j, agent in paired
                           if rollout.own_training_loop(agent.name) is None]
                if stepped or env_setting.phases:
                    raise ExperimentError(f"{where}: envs[{i}].id: unknown environment "
                                          f"{env_setting.id!r}; see `decisiongym list`, or "
                                          "name the module that registers it in imports")
                for j, agent in paired:
                    try:
                        rollout.check_training_agent(agent.name, env_setting.id,
                                                     env_setting.kwargs, agent.params)
                    except (ValueError, TypeError) as exc:
                        raise ExperimentError(f"{where}: agents[{j}].params (on envs[{i}]): "
                                              f"{exc}") from exc
                continue
            budget = rollout.budget_kwarg(env_setting.id)
            if budget is not None and budget in env_setting.kwargs:
                raise ExperimentError(f"{where}: envs[{i}].kwargs: do not set {budget} here; "
                                      "the experiment's horizon field sets it for every cell")
            for p, phase in enumerate(env_setting.phases):
                if isinstance(phase.after, bool) or not isinstance(phase.after, int) \
                        or not 0 < phase.after < self.horizon:
                    raise ExperimentError(f"{where}: envs[{i}].phases[{p}].after must be an "
                                          f"integer in (1, {self.horizon - 1}), got "
                                          f"{phase.after!r}")
            kwargs = dict(env_setting.kwargs)
            if budget is not None:
                kwargs[budget] = 1
            try:
                env = gym.make(env_setting.id, **kwargs)
            except (ValueError, TypeError) as exc:
                raise ExperimentError(f"{where}: envs[{i}].kwargs: {exc}") from exc
            try:
                for j, agent in paired:
                    try:
                        rollout.make_agent(agent.name, env_setting.id, env.observation_space,
                                           env.action_space, agent.params)
                    except (ValueError, TypeError) as exc:
                        raise ExperimentError(f"{where}: agents[{j}].params (on envs[{i}]): "
                                              f"{exc}") from exc
            finally:
                env.close()
        keys = [c.key for c in self.cells()]
        if len(set(keys)) != len(keys):
            raise ExperimentError(f"{where}: the same environment and agent setting appear twice")

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "horizon": self.horizon, "seeds": self.seeds,
               "seed": self.seed, "envs": [e.to_dict() for e in self.envs],
               "agents": [a.to_dict() for a in self.agents],
               "resources": self.resources.to_dict()}
        if self.imports:
            out["imports"] = list(self.imports)
        return out


# --------------------------------------------------------------------------------------------
# Reading experiments from TOML (or an already parsed mapping).
# --------------------------------------------------------------------------------------------

_TOP_FIELDS = {"name", "horizon", "seeds", "seed", "envs", "agents", "resources",
               "imports"}


def _resources(value: Any, where: str) -> Resources:
    table = _mapping(value, where)
    extra = sorted(set(table) - {"cpus", "gpus"})
    if extra:
        raise ExperimentError(f"{where}: unknown field(s) {', '.join(extra)}; "
                              "allowed: cpus, gpus")
    resources = Resources(**table)
    resources.validate(where)
    return resources


def _require(table: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise ExperimentError(f"{where}: missing field {key!r}")
    return table[key]


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ExperimentError(f"{where} must be a table (key = value pairs), got {value!r}")
    return dict(value)


def experiment_from_dict(data: Mapping[str, Any], source: str = "experiment") -> Experiment:
    """Build (not yet validate) an experiment from parsed TOML; errors name the field."""
    unknown = sorted(set(data) - _TOP_FIELDS)
    if unknown:
        raise ExperimentError(f"{source}: unknown field(s) {', '.join(unknown)}; "
                              f"allowed: {', '.join(sorted(_TOP_FIELDS))}")
    name = str(data.get("name", Path(source).stem))
    horizon = _require(data, "horizon", source)
    seeds = _require(data, "seeds", source)
    seed = data.get("seed", 0)
    env_tables = _require(data, "envs", source)
    agent_tables = _require(data, "agents", source)
    if not isinstance(env_tables, list):
        raise ExperimentError(f"{source}: envs must be an array of tables ([[envs]])")
    if not isinstance(agent_tables, list):
        raise ExperimentError(f"{source}: agents must be an array of tables ([[agents]])")
    envs = []
    for i, table in enumerate(env_tables):
        where = f"{source}: envs[{i}]"
        t = _mapping(table, where)
        extra = sorted(set(t) - {"id", "kwargs", "label", "phases", "vectorization"})
        if extra:
            raise ExperimentError(f"{where}: unknown field(s) {', '.join(extra)}")
        phases = t.get("phases", [])
        if not isinstance(phases, list):
            raise ExperimentError(f"{where}.phases must be an array of tables, got {phases!r}")
        env_phases = []
        for p, phase in enumerate(phases):
            pt = _mapping(phase, f"{where}.phases[{p}]")
            extra = sorted(set(pt) - {"after", "kwargs"})
            if extra:
                raise ExperimentError(f"{where}.phases[{p}]: unknown field(s) "
                                      f"{', '.join(extra)}; allowed: after, kwargs")
            env_phases.append(Phase(_require(pt, "after", f"{where}.phases[{p}]"),
                                    _mapping(pt.get("kwargs", {}),
                                             f"{where}.phases[{p}].kwargs")))
        vectorization = t.get("vectorization", "auto")
        if vectorization not in ("auto", "sync", "async"):
            raise ExperimentError(f"{where}.vectorization must be 'auto', 'sync' or 'async', "
                                  f"got {vectorization!r}")
        envs.append(EnvSetting(str(_require(t, "id", where)),
                               _mapping(t.get("kwargs", {}), f"{where}.kwargs"), t.get("label"),
                               tuple(env_phases), vectorization))
    agent_settings: list[AgentSetting] = []
    for j, table in enumerate(agent_tables):
        where = f"{source}: agents[{j}]"
        t = _mapping(table, where)
        extra = sorted(set(t) - {"name", "params", "grid", "label", "resources"})
        if extra:
            raise ExperimentError(f"{where}: unknown field(s) {', '.join(extra)}")
        agent_name = str(_require(t, "name", where))
        params = _mapping(t.get("params", {}), f"{where}.params")
        own = _resources(t["resources"], f"{where}.resources") if "resources" in t else None
        if "grid" in t:
            if "label" in t:
                raise ExperimentError(f"{where}: label cannot be combined with grid (each "
                                      "setting of a grid is named by its parameters)")
            grid = _mapping(t["grid"], f"{where}.grid")
            for k, v in grid.items():
                if not isinstance(v, list) or not v:
                    raise ExperimentError(f"{where}.grid.{k} must be a non-empty array, got {v!r}")
            agent_settings.extend(dataclasses.replace(a, resources=own)
                                  for a in AgentSetting.grid(agent_name, params, **grid))
        else:
            agent_settings.append(AgentSetting(agent_name, params, t.get("label"), own))
    resources = (_resources(data["resources"], f"{source}: resources") if "resources" in data
                 else Resources())
    imports = data.get("imports", [])
    if not isinstance(imports, list) or not all(isinstance(m, str) for m in imports):
        raise ExperimentError(f"{source}: imports must be an array of module names, "
                              f"got {imports!r}")
    return Experiment(name=name, envs=envs, agents=agent_settings, horizon=horizon, seeds=seeds,
                      seed=seed, resources=resources, imports=tuple(imports))


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment TOML file."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExperimentError(f"experiment file {str(p)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"experiment file {str(p)!r} cannot be read as UTF-8 text: "
                              f"{exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"experiment file {str(p)!r} is not valid TOML: {exc}") from exc
    experiment = experiment_from_dict(data, source=str(p))
    experiment.validate()
    return experiment
