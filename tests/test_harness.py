"""The experiment harness: experiment files, the results store, resuming, runners, reports.

Every experiment here is tiny (Bernoulli bandits, horizon <= 100, 6 seeds), so the whole file runs
in seconds. Results are compared byte for byte: a cell's file is a function of the cell alone.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import shutil
import sys
import textwrap
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from decisiongym.cli import main
from decisiongym.harness import experiment as experiment_module
from decisiongym.harness import report
from decisiongym.harness import store as store_module
from decisiongym.harness.experiment import (
    AgentSetting,
    Cell,
    EnvSetting,
    Experiment,
    ExperimentError,
    experiment_from_dict,
    load_experiment,
)
from decisiongym.harness.runners import (
    InProcessRunner,
    ProcessPoolRunner,
    SweepInterrupted,
    make_runner,
    run_cell,
    run_experiment,
)
from decisiongym.harness.store import CellResult, ResultsStore

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

BERNOULLI = "decisiongym/BernoulliBandit-v0"
ENVS = [EnvSetting(BERNOULLI, {"means": [0.3, 0.6]}),
        EnvSetting(BERNOULLI, {"means": [0.5, 0.45, 0.4]})]
AGENTS = [AgentSetting("ucb1"), AgentSetting("thompson-beta"),
          *AgentSetting.grid("epsilon-greedy", epsilon=[0.05, 0.2])]
TINY = Experiment(name="tiny", envs=ENVS, agents=AGENTS, horizon=100, seeds=6, seed=3)

# A tiny experiment file in the documented format: 1 environment x 4 agent settings.
HEADER = 'name = "tiny"\nhorizon = 60\nseeds = 4\nseed = 3\n\n'
ENV_TABLE = '[[envs]]\nid = "decisiongym/BernoulliBandit-v0"\nkwargs = { means = [0.3, 0.6] }\n\n'
AGENT_TABLES = ('[[agents]]\nname = "ucb1"\n\n'
                '[[agents]]\nname = "thompson-beta"\n\n'
                '[[agents]]\nname = "epsilon-greedy"\ngrid = { epsilon = [0.05, 0.2] }\n')
GOOD_TOML = HEADER + ENV_TABLE + AGENT_TABLES


def cell_files(out: Path) -> dict[str, bytes]:
    """Every file under ``out/cells`` (hidden ones included), name -> bytes."""
    cells = out / "cells"
    return {p.name: p.read_bytes() for p in sorted(cells.iterdir())} if cells.exists() else {}


def npz_name(cell: Cell) -> str:
    return f"{cell.key}.npz"


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TINY run once, in process, uninterrupted: the reference every other run is compared to."""
    out = tmp_path_factory.mktemp("clean")
    summary = run_experiment(TINY, out, progress=False)
    assert len(summary.computed) == len(TINY.cells()) == 8 and not summary.skipped
    return out


@pytest.fixture
def clean_copy(clean_run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(clean_run, out)
    return out


# --------------------------------------------------------------------------------------------
# 1. Experiments: the format, the grid, the cells and their keys, validation.
# --------------------------------------------------------------------------------------------


def _docstring_toml() -> str:
    """The TOML example of experiment.py's module docstring (the indented block after '::')."""
    doc = experiment_module.__doc__ or ""
    after = doc.split("or in TOML", 1)[1].split("::", 1)[1]
    block = []
    for line in after.splitlines()[1:]:
        if line.strip() and not line.startswith(" "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block))


def test_the_documented_toml_example_parses_and_validates() -> None:
    text = _docstring_toml()
    assert "[[envs]]" in text and "[[agents]]" in text
    exp = experiment_from_dict(tomllib.loads(text), source="demo.toml")
    assert (exp.name, exp.horizon, exp.seeds, exp.seed) == ("demo", 2000, 10, 0)
    assert exp.envs == [EnvSetting("CliffWalking-v1"),
                        EnvSetting("FrozenLake-v1", {"is_slippery": False})]
    assert exp.agents == [AgentSetting("q-learning"), AgentSetting("sarsa", {"epsilon": 0.05}),
                          AgentSetting("sarsa", {"epsilon": 0.1})]
    exp.validate()


def test_toml_file_parses_envs_agents_params_grid_seed_seeds_horizon_name(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text(HEADER + ENV_TABLE
                    + '[[envs]]\nid = "decisiongym/BernoulliBandit-v0"\n'
                      'kwargs = { means = [0.5, 0.4] }\nlabel = "close"\n\n'
                    + '[[agents]]\nname = "ucb1"\nparams = { alpha = 1.5 }\n\n'
                    + '[[agents]]\nname = "epsilon-greedy"\nparams = { initial_value = 1.0 }\n'
                      'grid = { epsilon = [0.05, 0.2], schedule = ["constant", "decay"] }\n')
    exp = load_experiment(path)
    assert (exp.name, exp.horizon, exp.seeds, exp.seed) == ("tiny", 60, 4, 3)
    assert exp.envs == [EnvSetting(BERNOULLI, {"means": [0.3, 0.6]}),
                        EnvSetting(BERNOULLI, {"means": [0.5, 0.4]}, "close")]
    assert exp.agents[0] == AgentSetting("ucb1", {"alpha": 1.5})
    grid = exp.agents[1:]
    assert len(grid) == 4
    assert all(a.name == "epsilon-greedy" and a.params["initial_value"] == 1.0 for a in grid)
    assert {(a.params["epsilon"], a.params["schedule"]) for a in grid} == {
        (0.05, "constant"), (0.05, "decay"), (0.2, "constant"), (0.2, "decay")}
    assert len(exp.cells()) == 2 * 5


def test_name_defaults_to_the_file_stem_and_seed_to_zero(tmp_path: Path) -> None:
    path = tmp_path / "my-sweep.toml"
    path.write_text(GOOD_TOML.replace('name = "tiny"\n', "").replace("seed = 3\n", ""))
    exp = load_experiment(path)
    assert exp.name == "my-sweep" and exp.seed == 0


def test_agent_setting_grid_is_the_product_of_the_lists() -> None:
    settings = AgentSetting.grid("epsilon-greedy", {"initial_value": 1.0},
                                 epsilon=[0.01, 0.1, 0.3], schedule=["constant", "decay"])
    assert len(settings) == 6
    assert {(s.params["epsilon"], s.params["schedule"]) for s in settings} == {
        (e, s) for e in (0.01, 0.1, 0.3) for s in ("constant", "decay")}
    assert all(s.name == "epsilon-greedy" and s.params["initial_value"] == 1.0 for s in settings)
    assert settings == AgentSetting.grid("epsilon-greedy", {"initial_value": 1.0},
                                         schedule=["constant", "decay"],
                                         epsilon=[0.01, 0.1, 0.3])
    assert AgentSetting.grid("softmax", tau=[0.1]) == [AgentSetting("softmax", {"tau": 0.1})]


def test_cells_are_environment_major_in_a_fixed_order() -> None:
    cells = TINY.cells()
    assert [(c.env, c.agent) for c in cells] == [(e, a) for e in ENVS for a in AGENTS]
    assert all((c.seeds, c.seed, c.horizon) == (6, 3, 100) for c in cells)
    assert [c.key for c in cells] == [c.key for c in TINY.cells()]


def test_cell_keys_are_unique_stable_and_file_system_safe() -> None:
    keys = [c.key for c in TINY.cells()]
    assert len(set(keys)) == len(keys)
    for key in keys:
        assert re.fullmatch(r"[A-Za-z0-9._-]+", key) and len(key) <= 180
    # The same spec built from fresh objects (kwargs in another order) has the same key.
    base = Cell(EnvSetting(BERNOULLI, {"means": [0.3, 0.6], "x": 1}),
                AgentSetting("epsilon-greedy", {"epsilon": 0.1, "schedule": "constant"}),
                seeds=6, seed=3, horizon=100)
    same = Cell(EnvSetting(BERNOULLI, {"x": 1, "means": [0.3, 0.6]}),
                AgentSetting("epsilon-greedy", {"schedule": "constant", "epsilon": 0.1}),
                seeds=6, seed=3, horizon=100)
    assert same.key == base.key


def test_cell_key_changes_when_any_spec_field_changes() -> None:
    base = Cell(EnvSetting(BERNOULLI, {"means": [0.3, 0.6]}), AgentSetting("ucb1", {"alpha": 2}),
                seeds=6, seed=3, horizon=100)
    variants = [
        dataclasses.replace(base, env=EnvSetting("decisiongym/GaussianBandit-v0",
                                                 {"means": [0.3, 0.6]})),
        dataclasses.replace(base, env=EnvSetting(BERNOULLI, {"means": [0.3, 0.7]})),
        dataclasses.replace(base, agent=AgentSetting("ucb1-tuned", {"alpha": 2})),
        dataclasses.replace(base, agent=AgentSetting("ucb1", {"alpha": 3})),
        dataclasses.replace(base, seeds=7),
        dataclasses.replace(base, seed=4),
        dataclasses.replace(base, horizon=101),
    ]
    assert set(base.spec()) == {
        "env_id", "env_kwargs", "agent", "params", "seeds", "seed", "horizon"}
    keys = [base.key, *(v.key for v in variants)]
    assert len(set(keys)) == len(keys), keys


BAD_FILES = [
    ("unknown-env-id", GOOD_TOML.replace("BernoulliBandit-v0", "NoSuchBandit-v0"),
     "envs[0].id"),
    ("unknown-agent", GOOD_TOML.replace('"thompson-beta"', '"no-such-agent"'), "agents[1].name"),
    ("bad-parameter", GOOD_TOML.replace('name = "thompson-beta"',
                                        'name = "ucb1"\nparams = { alpha = -1 }'),
     "agents[1].params"),
    ("bad-env-kwarg", GOOD_TOML.replace("[0.3, 0.6]", "[0.3, 1.5]"), "envs[0].kwargs"),
    ("missing-horizon", GOOD_TOML.replace("horizon = 60\n", ""), "missing field 'horizon'"),
    ("missing-seeds", GOOD_TOML.replace("seeds = 4\n", ""), "missing field 'seeds'"),
    ("missing-envs", HEADER + AGENT_TABLES, "missing field 'envs'"),
    ("missing-agents", HEADER + ENV_TABLE, "missing field 'agents'"),
    ("env-without-id", GOOD_TOML.replace('id = "decisiongym/BernoulliBandit-v0"\n', ""),
     "envs[0]: missing field 'id'"),
    ("unknown-top-level-field", "repeats = 3\n" + GOOD_TOML, "unknown field(s) repeats"),
    ("grid-value-not-a-list", GOOD_TOML.replace("[0.05, 0.2]", "0.05"),
     "agents[2].grid.epsilon must be a non-empty array"),
    ("horizon-zero", GOOD_TOML.replace("horizon = 60", "horizon = 0"),
     "horizon must be a positive integer"),
    ("seeds-zero", GOOD_TOML.replace("seeds = 4", "seeds = 0"),
     "seeds must be a positive integer"),
    ("invalid-toml", GOOD_TOML + "horizon = = 3\n", "is not valid TOML"),
    ("no-such-file", None, "does not exist"),
]


@pytest.mark.parametrize(("text", "fragment"), [(t, f) for _, t, f in BAD_FILES],
                         ids=[i for i, _, _ in BAD_FILES])
def test_bad_experiment_file_names_the_field(tmp_path: Path, text: str | None,
                                             fragment: str) -> None:
    path = tmp_path / "exp.toml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ExperimentError) as info:
        load_experiment(path)
    assert fragment in str(info.value)


@pytest.mark.parametrize(("text", "fragment"), [(t, f) for _, t, f in BAD_FILES],
                         ids=[i for i, _, _ in BAD_FILES])
def test_bad_experiment_file_fails_in_the_cli_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None,
        fragment: str) -> None:
    path, out = tmp_path / "exp.toml", tmp_path / "out"
    if text is not None:
        path.write_text(text)
    assert main(["compare", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "decisiongym: error:" in err and fragment in err
    assert "Traceback" not in err
    assert not (out / "cells").exists()


def test_run_experiment_validates_before_any_work(tmp_path: Path) -> None:
    bad = dataclasses.replace(TINY, agents=[*AGENTS, AgentSetting("ucb1", {"alpha": -1})])
    with pytest.raises(ExperimentError, match=r"agents\[4\]\.params"):
        run_experiment(bad, tmp_path, progress=False)
    assert not (tmp_path / "cells").exists()


def test_env_kwarg_horizon_is_rejected_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The env's declared budget kwarg (``horizon`` on the bandits) belongs to the harness: set
    among the env kwargs it is refused before any cell runs, naming the field."""
    path, out = tmp_path / "exp.toml", tmp_path / "out"
    path.write_text(GOOD_TOML.replace(
        AGENT_TABLES,
        '[[envs]]\nid = "decisiongym/BernoulliBandit-v0"\n'
        'kwargs = { means = [0.3, 0.6], horizon = 10 }\n\n' + AGENT_TABLES))
    with pytest.raises(ExperimentError, match=r"envs\[1\]\.kwargs"):
        load_experiment(path)
    assert main(["compare", str(path), "--out", str(out)]) == 2
    assert "envs[1].kwargs" in capsys.readouterr().err
    assert not (out / "cells").exists()


def test_experiment_path_that_is_a_directory_is_an_experiment_error(tmp_path: Path) -> None:
    """BUG: load_experiment on a directory raises IsADirectoryError (not ExperimentError), which
    the CLI does not catch: `decisiongym compare SOME_DIR --out X` ends in a traceback."""
    with pytest.raises(ExperimentError, match="exp"):
        load_experiment(tmp_path)


# --------------------------------------------------------------------------------------------
# 2. The results store.
# --------------------------------------------------------------------------------------------


def test_write_then_read_gives_the_same_arrays_and_record(tmp_path: Path) -> None:
    cell = TINY.cells()[0]
    result = run_cell(cell)
    store = ResultsStore(tmp_path)
    path = store.write(cell, result)
    assert path == tmp_path / "cells" / npz_name(cell)
    back = store.read(cell)
    assert back is not None and store.has(cell)
    assert back.record == result.record
    assert sorted(back.arrays) == sorted(result.arrays) == sorted(result.record["arrays"])
    for name, array in result.arrays.items():
        assert back.arrays[name].dtype == np.asarray(array).dtype
        np.testing.assert_array_equal(back.arrays[name], array)
    # Same result, same bytes (fixed timestamps and member order).
    first = path.read_bytes()
    store.write(cell, result)
    assert path.read_bytes() == first


def test_record_holds_everything_needed_to_reproduce_the_cell(clean_run: Path) -> None:
    cell = TINY.cells()[-1]
    result = ResultsStore(clean_run).read(cell)
    assert result is not None
    record = result.record
    assert record["env_id"] == BERNOULLI
    assert record["env_kwargs"] == {"means": [0.5, 0.45, 0.4]}
    assert record["agent"] == "epsilon-greedy" and record["params"] == {"epsilon": 0.2}
    assert (record["seeds"], record["seed"], record["horizon"]) == (6, 3, 100)
    assert record["key"] == cell.key
    for package in ("numpy", "gymnasium", "decisiongym"):
        assert record["versions"][package] == metadata.version(package)
    assert result.arrays["final_regret"].shape == (6,)
    assert result.arrays["regret"].shape == (result.arrays["grid"].size, 6)


def test_missing_file_reads_as_none(tmp_path: Path) -> None:
    assert ResultsStore(tmp_path).read(TINY.cells()[0]) is None
    assert not ResultsStore(tmp_path).has(TINY.cells()[0])


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a zip file at all\n" * 50)


def _another_cells_file(path: Path) -> None:
    other = next(p for p in path.parent.iterdir() if p != path)
    shutil.copyfile(other, path)


def _rewrite_zip(path: Path, edit: Callable[[str, bytes], bytes | None]) -> None:
    """Rewrite the zip member by member; ``edit`` returns new bytes, or None to drop one."""
    with zipfile.ZipFile(path) as zf:
        members = [(info.filename, zf.read(info)) for info in zf.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members:
            new = edit(name, data)
            if new is not None:
                zf.writestr(name, new)
    path.write_bytes(buffer.getvalue())


def _missing_array(path: Path) -> None:
    _rewrite_zip(path, lambda name, data: None if name == "regret.npy" else data)


def _record_of_another_spec(path: Path) -> None:
    def edit(name: str, data: bytes) -> bytes:
        if name != "record.json":
            return data
        record = json.loads(data)
        record["horizon"] += 1  # same key, but the spec says another horizon
        return json.dumps(record).encode()

    _rewrite_zip(path, edit)


CORRUPTIONS = {"truncated": _truncate, "garbage": _garbage,
               "another-cells-file": _another_cells_file, "missing-array": _missing_array,
               "record-of-another-spec": _record_of_another_spec}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_bad_file_reads_as_missing_and_is_recomputed(
        clean_run: Path, clean_copy: Path, corrupt: Callable[[Path], None]) -> None:
    cells = TINY.cells()
    victim = cells[2]
    path = clean_copy / "cells" / npz_name(victim)
    corrupt(path)
    assert path.read_bytes() != (clean_run / "cells" / npz_name(victim)).read_bytes()
    store = ResultsStore(clean_copy)
    assert store.read(victim) is None
    assert all(store.read(c) is not None for c in cells if c != victim)
    summary = run_experiment(TINY, clean_copy, progress=False)
    assert summary.computed == [victim]
    assert summary.skipped == [c for c in cells if c != victim]
    assert cell_files(clean_copy) == cell_files(clean_run)


def test_record_that_is_not_a_json_object_reads_as_missing(clean_copy: Path) -> None:
    """BUG: store.py ResultsStore.read calls record.get(...) on whatever record.json holds; a
    record that is valid JSON but not an object (e.g. a list) raises AttributeError instead of
    reading as missing, so run_experiment crashes instead of recomputing the cell."""
    victim = TINY.cells()[0]
    path = clean_copy / "cells" / npz_name(victim)
    _rewrite_zip(path, lambda name, data: b"[1, 2]" if name == "record.json" else data)
    assert ResultsStore(clean_copy).read(victim) is None


def test_stale_temporary_files_are_cleaned(clean_run: Path, clean_copy: Path) -> None:
    cells_dir = clean_copy / "cells"
    first = npz_name(TINY.cells()[0])
    (cells_dir / f".{first}.tmp").write_bytes(b"half a zip")
    (cells_dir / f".{first}.k3j2h1.tmp").write_bytes(b"")
    assert ResultsStore(clean_copy).clean_temporaries() == 2
    assert cell_files(clean_copy) == cell_files(clean_run)
    (cells_dir / f".{first}.tmp").write_bytes(b"left by a killed run")
    summary = run_experiment(TINY, clean_copy, progress=False)
    assert summary.computed == [] and len(summary.skipped) == 8
    assert cell_files(clean_copy) == cell_files(clean_run)


def _raise(exc: BaseException) -> Callable[..., None]:
    def fail(*args: object, **kwargs: object) -> None:
        raise exc

    return fail


@pytest.mark.parametrize(("target", "exc"), [
    ("os.replace", OSError("disk gone")),
    ("os.replace", KeyboardInterrupt()),
    ("os.fsync", OSError("fsync failed")),
    ("_encode", RuntimeError("encoder died")),
], ids=["replace-oserror", "replace-interrupt", "fsync", "encode"])
def test_a_write_that_fails_midway_leaves_no_file_and_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str,
        exc: BaseException) -> None:
    cells = TINY.cells()
    store = ResultsStore(tmp_path)
    good, new = run_cell(cells[0]), run_cell(cells[1])
    store.write(cells[0], good)
    before = cell_files(tmp_path)
    owner = store_module.os if target.startswith("os.") else store_module
    monkeypatch.setattr(owner, target.removeprefix("os."), _raise(exc))
    for cell, result in ((cells[1], new), (cells[0], good)):
        with pytest.raises(type(exc)):
            store.write(cell, result)
    monkeypatch.undo()
    # No file for the new cell, no temporary, and the existing good file untouched.
    assert cell_files(tmp_path) == before
    assert store.read(cells[1]) is None and store.read(cells[0]) is not None


def test_a_failed_overwrite_leaves_the_existing_file_untouched(
        clean_run: Path, clean_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cell = TINY.cells()[1]
    other = run_cell(dataclasses.replace(cell, seed=99))
    wrong = CellResult(other.arrays, store_module.make_record(cell, {"arrays": sorted(
        other.arrays)}))
    monkeypatch.setattr(store_module.os, "replace", _raise(OSError("no space left")))
    with pytest.raises(OSError):
        ResultsStore(clean_copy).write(cell, wrong)
    assert cell_files(clean_copy) == cell_files(clean_run)


# --------------------------------------------------------------------------------------------
# 3. Resuming an interrupted sweep.
# --------------------------------------------------------------------------------------------


class _Boom(Exception):
    pass


def _interrupt_after(n: int, exc: BaseException) -> Callable[[Cell], CellResult]:
    done: list[Cell] = []

    def fn(cell: Cell) -> CellResult:
        if len(done) == n:
            raise exc
        done.append(cell)
        return run_cell(cell)

    return fn


def test_interrupted_sweep_keeps_finished_cells_and_resumes(
        clean_run: Path, tmp_path: Path) -> None:
    cells = TINY.cells()
    with pytest.raises(SweepInterrupted) as info:
        run_experiment(TINY, tmp_path, progress=False,
                       cell_fn=_interrupt_after(3, KeyboardInterrupt()))
    assert isinstance(info.value, KeyboardInterrupt)
    assert info.value.summary.computed == cells[:3] and info.value.summary.remaining == 5
    assert info.value.summary.interrupted
    assert sorted(cell_files(tmp_path)) == sorted(npz_name(c) for c in cells[:3])
    for name, data in cell_files(tmp_path).items():
        assert data == (clean_run / "cells" / name).read_bytes()

    summary = run_experiment(TINY, tmp_path, progress=False)
    assert summary.skipped == cells[:3]
    assert summary.computed == cells[3:]
    assert summary.total == len(cells)
    assert cell_files(tmp_path) == cell_files(clean_run)

    again = run_experiment(TINY, tmp_path, progress=False)
    assert again.computed == [] and again.skipped == cells

    forced = run_experiment(TINY, tmp_path, progress=False, force=True)
    assert forced.computed == cells and forced.skipped == []
    assert cell_files(tmp_path) == cell_files(clean_run)


def _fail_on_thompson(cell: Cell) -> CellResult:
    if cell.agent.name == "thompson-beta":
        raise _Boom(f"failing {cell.key}")
    return run_cell(cell)


@pytest.mark.parametrize("runner", ["inprocess", "process"])
def test_a_cell_that_raises_is_recorded_and_the_sweep_goes_on(
        clean_run: Path, tmp_path: Path, runner: str) -> None:
    cells = TINY.cells()
    thompson = [c for c in cells if c.agent.name == "thompson-beta"]
    summary = run_experiment(TINY, tmp_path, runner=make_runner(runner, 2), progress=False,
                             cell_fn=_fail_on_thompson)
    assert [c for c, _ in summary.failed] == thompson
    assert sorted(summary.computed, key=cells.index) == [c for c in cells if c not in thompson]
    assert summary.retried == [] and summary.total == len(cells)
    store = ResultsStore(tmp_path)
    for cell, failure in summary.failed:
        assert failure.error == "_Boom" and failure.attempts == 1
        assert failure.message == f"failing {cell.key}"
        assert "raise _Boom" in failure.traceback and "_fail_on_thompson" in failure.traceback
        assert store.read_failure(cell) == failure
        assert not store.is_stored(cell)
    stored = cell_files(tmp_path)
    assert not any("thompson" in name for name in stored)
    for name, data in stored.items():
        assert data == (clean_run / "cells" / name).read_bytes()
    # The next sweep runs the failed cells again, and their failure records go.
    again = run_experiment(TINY, tmp_path, runner=make_runner(runner, 2), progress=False)
    assert sorted(again.computed, key=cells.index) == thompson
    assert len(again.skipped) == len(cells) - len(thompson) and again.failed == []
    assert cell_files(tmp_path) == cell_files(clean_run)
    assert not any((tmp_path / "failures").iterdir())
    assert all(store.read_failure(c) is None for c in thompson)


# --------------------------------------------------------------------------------------------
# 4. Runners give the same bytes; so does another order of the settings.
# --------------------------------------------------------------------------------------------


def test_make_runner() -> None:
    assert isinstance(make_runner(), InProcessRunner)
    assert isinstance(make_runner("inprocess"), InProcessRunner)
    runner = make_runner("process", 3)
    assert isinstance(runner, ProcessPoolRunner) and runner.workers == 3
    assert make_runner("process").workers == 2
    with pytest.raises(ValueError, match="unknown runner"):
        make_runner("ray-cluster")
    with pytest.raises(ValueError, match="workers"):
        make_runner("process", -1)


def test_make_runner_rejects_zero_workers() -> None:
    """BUG: runners.py make_runner passes ``workers or 2``, so workers=0 (`--workers 0`) silently
    becomes 2 processes instead of the ValueError ProcessPoolRunner raises for it."""
    with pytest.raises(ValueError, match="workers"):
        make_runner("process", 0)


def test_process_pool_gives_the_same_bytes_as_in_process(clean_run: Path, tmp_path: Path) -> None:
    summary = run_experiment(TINY, tmp_path, runner=make_runner("process", 2), progress=False)
    assert sorted(c.key for c in summary.computed) == sorted(c.key for c in TINY.cells())
    files = cell_files(tmp_path)
    assert len(files) == 8
    assert files == cell_files(clean_run)


def test_results_do_not_depend_on_the_order_of_agents_or_envs(
        clean_run: Path, tmp_path: Path) -> None:
    reordered = dataclasses.replace(TINY, name="reordered", envs=list(reversed(ENVS)),
                                    agents=[AGENTS[2], AGENTS[0], AGENTS[3], AGENTS[1]])
    assert [c.key for c in reordered.cells()] != [c.key for c in TINY.cells()]
    run_experiment(reordered, tmp_path, progress=False)
    assert cell_files(tmp_path) == cell_files(clean_run)
    # A sub-experiment (one agent alone) gives its cells the same bytes too.
    alone = dataclasses.replace(TINY, agents=[AGENTS[3]])
    run_experiment(alone, tmp_path / "alone", progress=False)
    for name, data in cell_files(tmp_path / "alone").items():
        assert data == (clean_run / "cells" / name).read_bytes()


# --------------------------------------------------------------------------------------------
# 5. Reports.
# --------------------------------------------------------------------------------------------


def test_load_results_returns_every_cell_in_order_and_raises_on_a_missing_one(
        clean_run: Path, tmp_path: Path) -> None:
    results = report.load_results(TINY, clean_run)
    assert [d.cell for d in results] == TINY.cells()
    assert all(d.arrays["final_regret"].shape == (6,) for d in results)
    with pytest.raises(FileNotFoundError, match="run the experiment first"):
        report.load_results(TINY, tmp_path)


def test_summary_row(clean_run: Path) -> None:
    for data in report.load_results(TINY, clean_run):
        row = report.summary_row(data)
        assert row["metric"] == "regret"
        assert set(report.IDENTITY_FIELDS + report.METRIC_FIELDS["regret"]) <= set(row)
        # No column holds another metric's quantity, and nothing is padded with NaN.
        assert not {k for k in row if k.startswith(("final_return", "final_accuracy"))}
        assert row["env"] == data.cell.env.id
        assert json.loads(row["env_kwargs"]) == dict(data.cell.env.kwargs)
        assert row["agent"] == data.cell.agent.name
        assert json.loads(row["params"]) == dict(data.cell.agent.params)
        mean = row["final_regret_mean"]
        assert mean == pytest.approx(float(data.arrays["final_regret"].mean()))
        assert row["final_regret_ci_low"] <= mean <= row["final_regret_ci_high"]
        assert (row["horizon"], row["seeds"]) == (100, 6)
        assert 0.0 <= row["best_arm_fraction"] <= 1.0
        assert report.summary_row(data) == row  # the bootstrap is seeded


def test_write_summary_writes_csv_and_json(clean_run: Path, tmp_path: Path) -> None:
    rows = [report.summary_row(d) for d in report.load_results(TINY, clean_run)]
    check = report.Check("ucb1 beats epsilon-greedy", expected="less regret", observed=1.0,
                         passed=True)
    report.write_summary(tmp_path, rows, experiment=TINY, checks=[check])
    with open(tmp_path / "summary.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == report.SUMMARY_FIELDS
        table = list(reader)
    assert len(table) == len(ENVS) * len(AGENTS) == len(rows)
    assert {(r["env_kwargs"], r["agent"], r["params"]) for r in table} == {
        (r["env_kwargs"], r["agent"], r["params"]) for r in rows}
    for written, row in zip(table, rows, strict=True):
        assert float(written["final_regret_mean"]) == pytest.approx(row["final_regret_mean"])
    document = json.loads((tmp_path / "summary.json").read_text())
    assert len(document["rows"]) == len(rows)
    assert document["rows"][0]["final_regret_mean"] == pytest.approx(rows[0]["final_regret_mean"])
    assert document["checks"] == [{"name": "ucb1 beats epsilon-greedy",
                                   "expected": "less regret", "observed": 1.0, "passed": True,
                                   "runs": None, "interval": None}]
    assert document["experiment"]["horizon"] == 100
    assert not list(tmp_path.glob(".*.tmp"))


def test_check_runs_and_interval_round_trip_through_the_summary(tmp_path: Path) -> None:
    check = report.Check("a beats b", expected="> 0", observed=0.15, passed=True, runs=5,
                         interval=[0.1, 0.2])
    report.write_summary(tmp_path, [], checks=[check])
    written = json.loads((tmp_path / "summary.json").read_text())["checks"]
    assert written == [{"name": "a beats b", "expected": "> 0", "observed": 0.15,
                        "passed": True, "runs": 5, "interval": [0.1, 0.2]}]
    assert report.Check(**written[0]) == check
    text = report.format_checks([check, report.Check("exact", 1, 1, True)])
    assert "runs: 5; 95% interval [0.1, 0.2]" in text
    assert text.count("runs:") == 1  # unset fields are not shown


def test_plot_all_writes_one_png_per_environment(clean_run: Path, tmp_path: Path) -> None:
    paths = report.plot_all(report.load_results(TINY, clean_run), tmp_path)
    # One regret plot per environment, and the performance profile: the environments differ
    # only in their kwargs, so they share one scale.
    assert len(paths) == len(ENVS) + 1 == len(set(paths))
    assert paths[-1].name == "performance_profile.png"
    for path in paths:
        assert path.parent == tmp_path / "plots"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, out = tmp_path / "tiny.toml", tmp_path / "out"
    path.write_text(GOOD_TOML)
    assert main(["compare", str(path), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "tiny: 4 cells computed, 0 already stored" in captured.err
    assert "thompson-beta" in captured.out and "summary.csv" in captured.out
    with open(out / "summary.csv", newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 4
    assert [json.loads(r["params"]) for r in table] == [
        {}, {}, {"epsilon": 0.05}, {"epsilon": 0.2}]
    document = json.loads((out / "summary.json").read_text())
    assert len(document["rows"]) == 4 and document["checks"] == []
    plots = sorted((out / "plots").glob("*.png"))
    assert len(plots) == 1 and plots[0].read_bytes()[:4] == b"\x89PNG"
    first = cell_files(out)
    assert len(first) == 4

    assert main(["compare", str(path), "--out", str(out)]) == 0
    assert "tiny: 0 cells computed, 4 already stored" in capsys.readouterr().err
    assert cell_files(out) == first

    assert main(["compare", str(path), "--out", str(out), "--runner", "process",
                 "--workers", "2", "--force", "--no-plots"]) == 0
    assert "tiny: 4 cells computed, 0 already stored" in capsys.readouterr().err
    assert cell_files(out) == first


def test_cli_compare_files_match_the_python_api(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(GOOD_TOML)
    assert main(["compare", str(path), "--out", str(tmp_path / "cli"), "--no-plots"]) == 0
    capsys.readouterr()
    run_experiment(load_experiment(path), tmp_path / "api", progress=False)
    assert cell_files(tmp_path / "cli") == cell_files(tmp_path / "api")
    assert sorted(os.listdir(tmp_path / "api")) == ["cells", "index.jsonl"]


def test_labels_do_not_change_cell_keys_and_label_only_duplicates_are_rejected() -> None:
    env = EnvSetting("decisiongym/BernoulliBandit-v0", {"means": [0.3, 0.6]})
    plain = Cell(env, AgentSetting("ucb1"), 4, 0, 50)
    named = Cell(env, AgentSetting("ucb1", label="my UCB"), 4, 0, 50)
    assert plain.key == named.key
    exp = Experiment(name="dup", envs=[env], horizon=50, seeds=4,
                     agents=[AgentSetting("ucb1"), AgentSetting("ucb1", label="again")])
    with pytest.raises(ExperimentError, match="appear twice"):
        exp.validate()
    with pytest.raises(ExperimentError, match=r"agents\[0\]: label cannot be combined with grid"):
        experiment_from_dict({"horizon": 5, "seeds": 2, "envs": [{"id": env.id}],
                              "agents": [{"name": "softmax", "label": "x",
                                          "grid": {"tau": [0.1, 0.2]}}]})


def test_aggregate_ranks_only_agents_measured_on_every_environment(tmp_path: Path) -> None:
    from decisiongym.harness import report

    exp = Experiment(name="agg", envs=ENVS, agents=AGENTS[:2], horizon=50, seeds=4, seed=1)
    run_experiment(exp, tmp_path, progress=False)
    results = report.load_results(exp, tmp_path)
    assert {r["agent_label"] for r in report.aggregate_rows(results)} == {"ucb1",
                                                                            "thompson-beta"}
    assert report.aggregate_left_out(results) == []
    # Thompson measured on the first environment only: it is left out of the ranking, and
    # the left-out list says which environment it lacks.
    second = ENVS[1]
    partial = [d for d in results
               if not (d.cell.agent.display == "thompson-beta" and d.cell.env == second)]
    rows = report.aggregate_rows(partial)
    assert [r["agent_label"] for r in rows] == ["ucb1"] and rows[0]["tasks"] == 2
    (left,) = report.aggregate_left_out(partial)
    assert left["agent_label"] == "thompson-beta" and left["tasks"] == 1 and left["of"] == 2
    assert left["missing"] == [next(d.cell.env.name for d in results if d.cell.env == second)]
    assert "measured on 1 of 2 environments" in left["reason"]
