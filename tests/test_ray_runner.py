"""The Ray runner on a local Ray with 2 CPUs (and one declared GPU, so that GPU requests are
scheduled on this CPU-only machine): the same bytes as the other runners, failures recorded,
a killed worker retried, GPU cells given a GPU, the in-flight cap honoured, the CLI.

Skipped, with the reason, when Ray (the ``distributed`` extra) is not installed; ``.ci/run``
installs it. All tests here share one local Ray, so they run in one xdist worker.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from decisiongym.cli import main
from decisiongym.harness.experiment import AgentSetting, Resources
from decisiongym.harness.runners import make_runner, run_experiment
from tests import cellfns
from tests.test_fault_tolerance import EXP, cell_files, kill_when_started

ray = pytest.importorskip(
    "ray", reason="Ray is not installed: pip install 'decisiongym[distributed]'")

pytestmark = pytest.mark.xdist_group("ray")


@pytest.fixture(scope="module")
def local_ray() -> Any:
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("reference")
    assert run_experiment(EXP, out, progress=False).failed == []
    return cell_files(out)


def test_inprocess_process_and_ray_give_identical_files(
        local_ray: Any, reference: dict[str, bytes], tmp_path: Path) -> None:
    process = run_experiment(EXP, tmp_path / "process", runner=make_runner("process", 2),
                             progress=False)
    on_ray = run_experiment(EXP, tmp_path / "ray", runner=make_runner("ray"), progress=False)
    for summary in (process, on_ray):
        assert sorted(c.key for c in summary.computed) == sorted(c.key for c in EXP.cells())
        assert summary.failed == [] and summary.retried == []
    assert cell_files(tmp_path / "process") == reference
    assert cell_files(tmp_path / "ray") == reference
    # The runner left the session it found running.
    assert local_ray.is_initialized()


def test_a_cell_that_raises_on_ray_is_recorded_with_the_workers_traceback(
        local_ray: Any, reference: dict[str, bytes], tmp_path: Path) -> None:
    fn = functools.partial(cellfns.flaky, folder=str(tmp_path))
    summary = run_experiment(EXP, tmp_path / "out", runner=make_runner("ray"), progress=False,
                             cell_fn=fn)
    assert len(summary.failed) == len(EXP.cells())
    for cell, failure in summary.failed:
        assert failure.error == "RuntimeError" and failure.attempts == 1
        assert f"transient failure of {cell.key}" in failure.traceback
        assert "cellfns.py" in failure.traceback
    again = run_experiment(EXP, tmp_path / "out", runner=make_runner("ray"), progress=False,
                           cell_fn=fn)
    assert again.failed == [] and cell_files(tmp_path / "out") == reference


def test_a_ray_worker_killed_mid_cell_is_retried(
        local_ray: Any, reference: dict[str, bytes], tmp_path: Path) -> None:
    victim = EXP.cells()[3]
    killer = kill_when_started(cellfns.pid_file(tmp_path, victim))
    fn = functools.partial(cellfns.hang_once, folder=str(tmp_path), victim=victim.key)
    summary = run_experiment(EXP, tmp_path / "out", runner=make_runner("ray"), progress=False,
                             cell_fn=fn)
    killer.join(timeout=5)
    assert summary.failed == [] and summary.retried == [victim]
    assert cell_files(tmp_path / "out") == reference


def test_gpu_cells_get_a_gpu_and_the_in_flight_cap_holds(
        local_ray: Any, reference: dict[str, bytes], tmp_path: Path) -> None:
    gpu = AgentSetting("ucb1", resources=Resources(cpus=1, gpus=1))
    experiment = dataclasses.replace(EXP, agents=[gpu, *EXP.agents[1:]])
    fn = functools.partial(cellfns.log_span, folder=str(tmp_path))
    summary = run_experiment(experiment, tmp_path / "out",
                             runner=make_runner("ray", max_in_flight=1), progress=False,
                             cell_fn=fn)
    assert summary.failed == []
    # Resources are not part of a cell's key: the files are the reference's.
    assert cell_files(tmp_path / "out") == reference
    spans = []
    for cell in experiment.cells():
        start, end, gpus = (tmp_path / f"{cell.key}.span").read_text().split(" ", 2)
        assert (gpus == "[0]") == (cell.agent.name == "ucb1"), (cell.agent.name, gpus)
        spans.append((float(start), float(end)))
    spans.sort()
    # One task in flight at a time: no two cells overlap.
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))


def test_a_cell_asking_more_than_the_cluster_has_is_refused(local_ray: Any,
                                                           tmp_path: Path) -> None:
    greedy = AgentSetting("ucb1", resources=Resources(cpus=1, gpus=4))
    experiment = dataclasses.replace(EXP, agents=[greedy])
    with pytest.raises(ValueError, match=r"asks for 4 GPU\(s\) but the Ray cluster has 1"):
        run_experiment(experiment, tmp_path, runner=make_runner("ray"), progress=False)


def test_cli_compare_on_ray_matches_inprocess(local_ray: Any, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "e.toml"
    path.write_text('name = "e"\nhorizon = 60\nseeds = 3\n[[envs]]\n'
                    'id = "decisiongym/BernoulliBandit-v0"\nkwargs = { means = [0.3, 0.6] }\n'
                    '[[agents]]\nname = "ucb1"\n[[agents]]\nname = "thompson-beta"\n')
    assert main(["compare", str(path), "--out", str(tmp_path / "ray"), "--no-plots",
                 "--runner", "ray", "--max-retries", "1"]) == 0
    assert "2 cells computed" in capsys.readouterr().err
    assert main(["compare", str(path), "--out", str(tmp_path / "here"), "--no-plots"]) == 0
    assert cell_files(tmp_path / "ray") == cell_files(tmp_path / "here")


def test_ray_runner_options_are_validated(local_ray: Any) -> None:
    with pytest.raises(ValueError, match="a cluster given by --address has its own"):
        make_runner("ray", 2, address="auto")
    with pytest.raises(ValueError, match="num_cpus"):
        make_runner("ray", 0)
    with pytest.raises(ValueError, match="max_in_flight"):
        make_runner("ray", max_in_flight=0)


def test_ctrl_c_on_ray_cancels_the_tasks_and_keeps_finished_cells(
        local_ray: Any, reference: dict[str, bytes], tmp_path: Path) -> None:
    victim = EXP.cells()[2]
    fn = functools.partial(cellfns.hang_once, folder=str(tmp_path), victim=victim.key)
    pid_path = cellfns.pid_file(tmp_path, victim)

    def interrupt() -> None:  # Ctrl-C once the victim hangs
        while not pid_path.exists() or not pid_path.read_text():
            time.sleep(0.02)
        time.sleep(1.0)
        signal.raise_signal(signal.SIGINT)

    thread = threading.Thread(target=interrupt, daemon=True)
    thread.start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt) as info:
        run_experiment(EXP, tmp_path / "out", runner=make_runner("ray", max_in_flight=2),
                       progress=False, cell_fn=fn)
    assert time.monotonic() - start < 60
    summary = info.value.summary  # type: ignore[attr-defined]
    assert summary.interrupted and victim not in summary.computed
    kept = cell_files(tmp_path / "out")
    assert kept == {k: v for k, v in reference.items() if k in kept}
    # The hanging worker was cancelled (killed).
    pid = int(pid_path.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the hanging Ray worker is still alive after Ctrl-C")
    resumed = run_experiment(EXP, tmp_path / "out", runner=make_runner("ray"), progress=False)
    assert len(resumed.skipped) == len(kept)
    assert cell_files(tmp_path / "out") == reference


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds processes in /proc")
def test_kill_9_of_a_ray_command_leaves_no_process_of_its_local_ray(tmp_path: Path) -> None:
    from decisiongym.harness import ray_watchdog
    from tests.test_fault_tolerance import LONG_TOML, kill_all, proc_stat, survivors

    path = tmp_path / "long.toml"
    path.write_text(LONG_TOML)
    proc = subprocess.Popen([sys.executable, "-m", "decisiongym.cli", "compare", str(path),
                             "--out", str(tmp_path / "out"), "--no-plots", "--runner", "ray",
                             "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tree: dict[int, int] = {}

    def descendants(pid: int) -> dict[int, int]:
        found: dict[int, int] = {}
        todo = [pid]
        while todo:
            for child in ray_watchdog.children(todo.pop()):
                stat = proc_stat(child)
                if stat is not None:
                    found[child] = stat[2]
                    todo.append(child)
        return found

    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            tree = descendants(proc.pid)
            cells = [pid for pid in tree
                     if b"decisiongym-cell" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            if len(cells) == 2:
                break
            time.sleep(0.2)
        assert len(cells) == 2, "no cell started on Ray"
        time.sleep(1.0)  # the agents are up
        tree = descendants(proc.pid)
        assert len(tree) > 4  # GCS, raylet, agents, workers, the watchdog
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)  # nothing holds the command's output open
        left = survivors(tree, within=10)
        assert left == {}, {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:60]
                            for pid in left}
    finally:
        proc.kill()
        kill_all(tree)
