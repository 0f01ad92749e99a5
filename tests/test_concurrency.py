"""Several sweeps on one results directory, and damage the index cannot see by size and mtime.

Issue 20, items 1 and 5: concurrent ``decisiongym compare EXP.toml --out D`` commands used to
delete each other's temporary files (and crash) and to compute every cell once each; a cell file
whose bytes changed while its size and mtime stayed the same was trusted by the index, and every
re-run stopped with ``no stored result for cell ...``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from decisiongym.files import HOST, HOST_TAG
from decisiongym.harness import store as store_module
from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment, load_experiment
from decisiongym.harness.runners import make_runner, run_cell, run_experiment
from decisiongym.harness.store import ResultsStore

# 2 environments x 40 epsilon-greedy settings: 80 cells of ~20 ms each, enough for commands
# started 0.3 s apart to overlap.
EPSILONS = [round(0.01 + 0.01 * i, 2) for i in range(40)]
TOML = ('name = "crowd"\nhorizon = 500\nseeds = 2\nseed = 5\n\n'
        '[[envs]]\nid = "decisiongym/BernoulliBandit-v0"\nkwargs = { means = [0.3, 0.6] }\n\n'
        '[[envs]]\nid = "decisiongym/BernoulliBandit-v0"\n'
        'kwargs = { means = [0.5, 0.45, 0.4] }\n\n'
        '[[agents]]\nname = "epsilon-greedy"\n'
        f'grid = {{ epsilon = [{", ".join(map(str, EPSILONS))}] }}\n')

SMALL = Experiment(
    name="small",
    envs=[EnvSetting("decisiongym/BernoulliBandit-v0", {"means": [0.3, 0.6]})],
    agents=[AgentSetting("ucb1"), AgentSetting("thompson-beta"),
            *AgentSetting.grid("epsilon-greedy", epsilon=[0.05, 0.2])],
    horizon=60, seeds=3, seed=2)


def cell_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "cells").glob("*.npz"))}


def leftovers(out: Path) -> list[str]:
    """Temporary files, claims and takeover locks left in the directory."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if p.name.endswith(".tmp") or p.parent.name == "claims" or p.name == "claims")


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The pid of another process that is alive for the test's duration."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_claim(store: ResultsStore, key: str, pid: int, **extra: object) -> Path:
    store.claims_dir.mkdir(parents=True, exist_ok=True)
    path = store.claims_dir / f"{key}.claim"
    path.write_text(json.dumps({"pid": pid, "host": HOST, "start": None, "time": time.time(),
                                "token": "someone-else", **extra}))
    return path


# --------------------------------------------------------------------------------------------
# Concurrent commands.
# --------------------------------------------------------------------------------------------


def test_concurrent_compare_commands_on_one_directory(tmp_path: Path) -> None:
    """Four `compare` commands started 0.3 s apart on one --out: all exit 0, each cell is
    computed by exactly one of them, nothing is left behind, and the files are those of a
    single clean run."""
    toml = tmp_path / "crowd.toml"
    toml.write_text(TOML)
    experiment = load_experiment(toml)
    cells = experiment.cells()
    assert len(cells) == 80
    out = tmp_path / "shared"
    procs = []
    for i in range(4):
        if i:
            time.sleep(0.3)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "decisiongym.cli", "compare", str(toml), "--out", str(out),
             "--no-plots"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read())  # type: ignore[union-attr]
               for p in procs]
    for rc, _, err in results:
        assert rc == 0, err
    computed = [int(re.search(r"crowd: (\d+) cells computed", err).group(1))  # type: ignore
                for _, _, err in results]
    elsewhere = [int(m.group(1)) if (m := re.search(r"(\d+) computed by another sweep", err))
                 else 0 for _, _, err in results]
    skipped = [int(re.search(r"(\d+) already stored", err).group(1))  # type: ignore[union-attr]
               for _, _, err in results]
    # Every cell computed once over all commands (none twice), and every command accounts for
    # every cell: computed by it, by another meanwhile, or already stored when it started.
    assert sum(computed) == len(cells), [r[2] for r in results]
    for mine, theirs, before in zip(computed, elsewhere, skipped, strict=True):
        assert mine + theirs + before == len(cells)
    store = ResultsStore(out)
    assert all(store.read(c) is not None for c in cells)
    assert leftovers(out) == []
    reference = tmp_path / "reference"
    run_experiment(experiment, reference, progress=False)
    assert cell_files(out) == cell_files(reference)
    # The index, appended to by four processes at once, is whole: one parseable line each.
    lines = (out / "index.jsonl").read_text().splitlines()
    done = {json.loads(line)["key"] for line in lines}
    assert done == {c.key for c in cells}


def test_a_cell_claimed_by_a_live_sweep_is_not_computed_here(tmp_path: Path,
                                                             live_pid: int) -> None:
    cells = SMALL.cells()
    store = ResultsStore(tmp_path)
    claim = write_claim(store, cells[1].key, live_pid)
    summary = run_experiment(SMALL, tmp_path, progress=False, wait=0)
    assert cells[1] not in summary.computed
    assert summary.claimed_elsewhere == [cells[1]]
    assert len(summary.computed) == len(cells) - 1
    assert "1 still being computed by another sweep" in summary.describe()
    assert claim.exists()  # another sweep's claim is left alone
    assert not store.is_stored(cells[1])


def test_a_sweep_waits_for_a_cell_another_sweep_is_computing(tmp_path: Path,
                                                            live_pid: int) -> None:
    """The other sweep stores the cell and lets go of it 0.5 s later: it is counted as
    computed elsewhere, not run here."""
    cells = SMALL.cells()
    other = ResultsStore(tmp_path)
    claim = write_claim(other, cells[0].key, live_pid)

    def finish() -> None:
        time.sleep(0.5)
        other.write(cells[0], run_cell(cells[0]))
        claim.unlink()

    thread = threading.Thread(target=finish)
    thread.start()
    summary = run_experiment(SMALL, tmp_path, progress=False, poll=0.05)
    thread.join()
    assert summary.elsewhere == [cells[0]]
    assert sorted(summary.computed, key=cells.index) == cells[1:]
    assert summary.done == len(cells) and summary.claimed_elsewhere == []
    assert "1 computed by another sweep meanwhile" in summary.describe()


def test_a_cell_let_go_of_unstored_is_run_here(tmp_path: Path, live_pid: int) -> None:
    """The other sweep is interrupted: it releases its claim without storing the cell."""
    cells = SMALL.cells()
    claim = write_claim(ResultsStore(tmp_path), cells[0].key, live_pid)
    timer = threading.Timer(0.3, claim.unlink)
    timer.start()
    summary = run_experiment(SMALL, tmp_path, progress=False, poll=0.05)
    timer.join()
    assert sorted(summary.computed, key=cells.index) == cells
    assert summary.elsewhere == []


def test_a_stale_claim_of_a_dead_process_is_taken_over(tmp_path: Path, dead_pid: int,
                                                       live_pid: int) -> None:
    cells = SMALL.cells()
    store = ResultsStore(tmp_path)
    write_claim(store, cells[0].key, dead_pid)
    # A live pid that is another process than the claimant (its start time differs): reused.
    write_claim(store, cells[2].key, live_pid, start="1")
    summary = run_experiment(SMALL, tmp_path, progress=False, wait=0)
    assert sorted(summary.computed, key=cells.index) == cells
    assert summary.claimed_elsewhere == []
    assert leftovers(tmp_path) == []


def test_two_sweeps_taking_over_one_stale_claim_one_wins(tmp_path: Path,
                                                         dead_pid: int) -> None:
    cell = SMALL.cells()[0]
    a, b = ResultsStore(tmp_path), ResultsStore(tmp_path)
    write_claim(a, cell.key, dead_pid)
    assert a.claim(cell)
    assert not b.claim(cell)  # A's claim is live (same pid as this test, A's token)
    a.release(cell)
    assert b.claim(cell)
    assert not a.claim(cell)


def test_a_live_processs_temporary_file_is_not_deleted(tmp_path: Path, live_pid: int,
                                                      dead_pid: int) -> None:
    """What each command's start-up clean-up deleted: the file another command was writing."""
    run_experiment(SMALL, tmp_path, progress=False)
    cells_dir = tmp_path / "cells"
    name = f"{SMALL.cells()[0].key}.npz"
    live = cells_dir / f".{name}.{HOST_TAG}-{live_pid}.a1b2c3.tmp"
    dead = cells_dir / f".{name}.{HOST_TAG}-{dead_pid}.d4e5f6.tmp"
    remote = cells_dir / f".{name}.0123abcd-{dead_pid}.g7h8i9.tmp"  # another host's
    old = cells_dir / f".{name}.0123abcd-{live_pid}.j0k1l2.tmp"
    for path in (live, dead, remote, old):
        path.write_bytes(b"half a zip")
    os.utime(old, (time.time() - 2 * ResultsStore.TEMPORARY_MAX_AGE,) * 2)
    summary = run_experiment(SMALL, tmp_path, progress=False)
    assert len(summary.skipped) == len(SMALL.cells())
    assert live.exists() and remote.exists()
    assert not dead.exists() and not old.exists()


def test_a_temporary_being_written_survives_another_sweeps_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cell write in progress (its temporary file in place, not yet renamed) while another
    sweep starts: the write completes."""
    cells = SMALL.cells()
    writer = ResultsStore(tmp_path)
    started, resume = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        started.set()
        resume.wait(10)
        real_fsync(fd)

    result = run_cell(cells[0])
    errors: list[BaseException] = []

    def write() -> None:
        try:
            writer.write(cells[0], result)
        except BaseException as exc:
            errors.append(exc)

    monkeypatch.setattr(store_module.os, "fsync", slow_fsync)
    thread = threading.Thread(target=write)
    thread.start()
    try:
        assert started.wait(10)
        assert ResultsStore(tmp_path).clean_temporaries() == 0
    finally:
        resume.set()
        thread.join()
    monkeypatch.undo()
    assert errors == []
    assert ResultsStore(tmp_path).is_stored(cells[0])


def test_the_index_picks_up_other_writers_lines_and_survives_a_torn_one(
        tmp_path: Path) -> None:
    cells = SMALL.cells()
    a, b = ResultsStore(tmp_path), ResultsStore(tmp_path)
    a.write(cells[0], run_cell(cells[0]))
    assert set(b.index()) == {cells[0].key}
    with open(tmp_path / "index.jsonl", "a") as fh:
        fh.write('{"agent": "half a li')  # a writer killed in the middle of its line
    a.write(cells[1], run_cell(cells[1]))
    new = b.refresh_index()
    assert [entry["key"] for entry in new] == [cells[1].key]
    assert set(b.index()) == {cells[0].key, cells[1].key}


# --------------------------------------------------------------------------------------------
# The index's checksum.
# --------------------------------------------------------------------------------------------


def damage_keeping_size_and_mtime(path: Path) -> None:
    data = bytearray(path.read_bytes())
    st = path.stat()
    middle = len(data) // 2
    for i in range(middle, middle + 16):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns)


def test_a_damaged_file_with_the_same_size_and_mtime_is_recomputed(tmp_path: Path) -> None:
    cells = SMALL.cells()
    run_experiment(SMALL, tmp_path, progress=False)
    reference = cell_files(tmp_path)
    victim = cells[1]
    damage_keeping_size_and_mtime(tmp_path / "cells" / f"{victim.key}.npz")
    assert not ResultsStore(tmp_path).is_stored(victim)
    summary = run_experiment(SMALL, tmp_path, progress=False)
    assert summary.computed == [victim]
    assert cell_files(tmp_path) == reference
    # and the report reads every cell back (it said "no stored result for cell ..." before)
    from decisiongym.harness.report import load_results

    assert len(load_results(SMALL, tmp_path)) == len(cells)


def test_index_lines_without_a_checksum_are_validated_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines an older version wrote (size and mtime, no checksum) are not trusted: each file
    is decoded once, a damaged one recomputed, and every line indexed again with a checksum,
    after which nothing is decoded."""
    cells = SMALL.cells()
    run_experiment(SMALL, tmp_path, progress=False)
    reference = cell_files(tmp_path)
    index = tmp_path / "index.jsonl"
    old = [{k: v for k, v in json.loads(line).items() if k != "sha256"}
           for line in index.read_text().splitlines()]
    index.write_text("".join(json.dumps(entry) + "\n" for entry in old))
    victim = cells[3]
    damage_keeping_size_and_mtime(tmp_path / "cells" / f"{victim.key}.npz")
    summary = run_experiment(SMALL, tmp_path, progress=False)
    assert summary.computed == [victim]
    assert cell_files(tmp_path) == reference

    def no_decoding(data: bytes) -> None:
        raise AssertionError("a file was decoded")

    monkeypatch.setattr(store_module, "_decode", no_decoding)
    assert all(ResultsStore(tmp_path).is_stored(c) for c in cells)


def test_a_process_pool_sweep_claims_and_releases(tmp_path: Path, live_pid: int) -> None:
    """The pool runner claims all its missing cells at once (its workers start once), skips
    one a live sweep holds, and leaves no claim behind."""
    cells = SMALL.cells()
    write_claim(ResultsStore(tmp_path), cells[0].key, live_pid)
    summary = run_experiment(SMALL, tmp_path, progress=False, wait=0,
                             runner=make_runner("process", 2))
    assert sorted(summary.computed, key=cells.index) == cells[1:]
    assert summary.claimed_elsewhere == [cells[0]]
    assert leftovers(tmp_path) == ["claims", f"claims/{cells[0].key}.claim"]
