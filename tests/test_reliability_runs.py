"""One writer per run folder, and every way a step can end recorded in the manifest:
a cell error, the kernel killed, Ctrl-C, SIGTERM, the runner killed with ``kill -9``, a
notebook missing from the chain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from step_notebooks import step_notebook

from fipo_utils.runs.errors import RunFolderLocked
from fipo_utils.runs.lock import LOCK_NAME, run_folder_lock
from fipo_utils.runs.manifest import read_manifest
from fipo_utils.runs.runner import StepAborted, StepFailed, reproduce, run_notebook

pytestmark = pytest.mark.notebook
QUIET = {"log": lambda _: None, "progress": False}


SLEEP = "import time\nfrom pathlib import Path\n(Path(run_dir) / 'started').touch()\ntime.sleep(60)"


def _fipo(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    return subprocess.Popen(
        [sys.executable, "-m", "fipo_utils.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
        **kwargs,
    )


def _wait_for(path: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.2)


def _only_step(run_dir: Path) -> dict:
    return read_manifest(run_dir)["steps"][-1]


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    quick = step_notebook(tmp_path / "quick.ipynb", "x = 1")
    run_dir = tmp_path / "run"
    run_notebook(str(quick), run_dir=run_dir, profile="tiny", **QUIET)
    with run_folder_lock(run_dir):
        holder = json.loads((run_dir / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["host"]
        with pytest.raises(RunFolderLocked, match=f"pid {os.getpid()} on {holder['host']}"):
            run_notebook(str(quick), run_dir=run_dir, profile="tiny", **QUIET)
        with pytest.raises(RunFolderLocked, match="in use"):
            reproduce("tiny", resume=run_dir, **QUIET)
    assert not (run_dir / LOCK_NAME).exists(), "released on exit"
    assert [s["status"] for s in read_manifest(run_dir)["steps"]] == ["done"]


def test_a_live_writer_in_another_process_is_refused_by_the_cli(tmp_path):
    slow = step_notebook(tmp_path / "slow.ipynb", SLEEP)
    quick = step_notebook(tmp_path / "quick.ipynb", "x = 1")
    run_dir = tmp_path / "run"
    first = _fipo("run", str(slow), "--run-dir", str(run_dir), "--profile", "tiny")
    try:
        _wait_for(run_dir / "started")
        second = _fipo("run", str(quick), "--run-dir", str(run_dir), "--profile", "tiny")
        _, err = second.communicate(timeout=60)
        assert second.returncode != 0
        assert f"pid {first.pid}" in err and "in use" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()


def test_kill_9_of_the_runner_is_recorded_by_the_next_writer(tmp_path):
    slow = step_notebook(tmp_path / "slow.ipynb", SLEEP)
    quick = step_notebook(tmp_path / "quick.ipynb", "x = 1")
    run_dir = tmp_path / "run"
    runner = _fipo("run", str(slow), "--run-dir", str(run_dir), "--profile", "tiny")
    _wait_for(run_dir / "started")
    os.killpg(runner.pid, signal.SIGKILL)  # the runner and its kernel, as a crash would
    runner.wait()
    assert _only_step(run_dir)["status"] == "running"
    assert json.loads((run_dir / LOCK_NAME).read_text())["pid"] == runner.pid  # stale lock

    run_notebook(str(quick), run_dir=run_dir, profile="tiny", **QUIET)  # takes the lock over
    killed, after = read_manifest(run_dir)["steps"]
    assert killed["status"] == "interrupted"
    assert f"pid {runner.pid}" in killed["reason"] and "ended without" in killed["reason"]
    assert after["status"] == "done"


@pytest.mark.parametrize(
    ("sig", "status", "reason"),
    [(signal.SIGINT, "interrupted", "Ctrl-C"), (signal.SIGTERM, "interrupted", "SIGTERM")],
)
def test_ctrl_c_and_sigterm_mark_the_step_interrupted(tmp_path, sig, status, reason):
    slow = step_notebook(tmp_path / "slow.ipynb", SLEEP)
    run_dir = tmp_path / "run"
    runner = _fipo("run", str(slow), "--run-dir", str(run_dir), "--profile", "tiny")
    _wait_for(run_dir / "started")
    os.kill(runner.pid, sig)
    _, err = runner.communicate(timeout=180)  # a hang guard; a loaded 2-core box needs slack
    assert runner.returncode == 130
    assert "Traceback" not in err and "interrupted" in err
    step = _only_step(run_dir)
    assert step["status"] == status and reason in step["reason"]
    assert not (run_dir / LOCK_NAME).exists()


@pytest.mark.parametrize(
    ("body", "raised", "reason"),
    [
        ("import os\nos.kill(os.getpid(), 9)", StepAborted, "the notebook's kernel died"),
        ("raise ValueError('no good')", StepFailed, "ValueError: no good (cell "),
    ],
    ids=["killed-kernel", "cell-error"],
)
def test_a_failing_step_is_recorded_with_its_reason(tmp_path, body, raised, reason):
    notebook = step_notebook(tmp_path / "step.ipynb", body)
    run_dir = tmp_path / "run"
    with pytest.raises(raised):
        run_notebook(str(notebook), run_dir=run_dir, profile="tiny", **QUIET)
    step = _only_step(run_dir)
    assert step["status"] == "failed" and step["reason"].startswith(reason)
    assert not (run_dir / LOCK_NAME).exists()


def test_an_unknown_notebook_in_a_chain(tmp_path):
    quick = step_notebook(tmp_path / "quick.ipynb", "x = 1")
    profile = tmp_path / "chain.yaml"
    chain = [{"notebook": str(quick)}, {"notebook": str(tmp_path / "gone.ipynb")}]
    profile.write_text(yaml.safe_dump({"inherits": "tiny", "chain": chain}))
    runs = tmp_path / "runs"
    # a new run: refused before any folder is made
    with pytest.raises(FileNotFoundError, match="chain entry 1.*gone"):
        reproduce(str(profile), runs_root=runs, **QUIET)
    assert not runs.exists() or not any(runs.iterdir())
    # a resumed run whose notebook disappeared: the step is recorded as failed
    chain[1]["notebook"] = str(step_notebook(tmp_path / "gone.ipynb", "raise ValueError('x')"))
    profile.write_text(yaml.safe_dump({"inherits": "tiny", "chain": chain}))
    with pytest.raises(Exception, match="x"):
        reproduce(str(profile), runs_root=runs, **QUIET)
    (run_dir,) = runs.iterdir()
    (tmp_path / "gone.ipynb").unlink()
    with pytest.raises(FileNotFoundError, match="gone"):
        reproduce(str(profile), resume=run_dir, **QUIET)
    step = read_manifest(run_dir)["steps"][1]
    assert step["status"] == "failed" and "gone" in step["reason"]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.slow
def test_killing_the_kernel_of_a_real_training_step_is_recorded_and_resumes(tmp_path):
    """notebook 02 on the tiny profile: its kernel killed mid-training (what the
    out-of-memory killer does), the step is `failed` with the reason, and the same command
    again finishes it: the fingerprint written before the kill matches, so the run continues
    (from a trainer checkpoint when one was saved) instead of being refused."""
    sys.path.insert(0, str(Path(__file__).parent))
    from train_rows import write_run_data

    run_dir = write_run_data(tmp_path / "run")
    argv = ["run", "02_sft_training", "--profile", "tiny", "--run-dir", str(run_dir)]
    argv += ["-p", "max_steps", "40", "-p", "batch_size", "1"]
    runner = _fipo(*argv)
    _wait_for(run_dir / "checkpoints" / "sft-lora" / "fingerprint.json", timeout=240)
    (kernel,) = _children(runner.pid)
    os.kill(kernel, signal.SIGKILL)
    _, err = runner.communicate(timeout=120)
    assert runner.returncode == 1 and "Traceback" not in err
    assert "kernel died" in err.strip().splitlines()[-1]
    step = _only_step(run_dir)
    assert step["status"] == "failed" and "kernel died" in step["reason"]
    assert not (run_dir / "checkpoints" / "sft-lora" / "final").exists()

    again = _fipo(*argv)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert [s["status"] for s in read_manifest(run_dir)["steps"]] == ["failed", "done"]
    assert (run_dir / "checkpoints" / "sft-lora" / "final" / "model.safetensors").is_file()


def test_a_swallowed_ctrl_c_still_kills_the_kernel_and_is_noted():
    """Python raises Ctrl-C wherever the main thread is; inside papermill's event loop the
    raise can be swallowed (the step would run on and the runner exit 0). The handler kills
    the runner's children (the kernel) and notes the signal whatever happens to the raise,
    then puts back the handler it found (SIG_IGN where the shell started pytest as a
    background job)."""
    from fipo_utils.runs.runner import _stop_signals_as_exception

    kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    before = signal.getsignal(signal.SIGINT)
    received: list[str] = []
    with _stop_signals_as_exception(received):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            pass  # swallowed, as the event loop did
    assert received == ["Ctrl-C"]
    assert kernel.wait(timeout=10) == -signal.SIGKILL
    assert signal.getsignal(signal.SIGINT) is before  # restored


def test_a_step_whose_stop_was_swallowed_is_recorded_interrupted(tmp_path, monkeypatch):
    from fipo_utils.runs import runner as runner_module

    def swallowing_step(step, run_dir, profile, progress):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            pass
        return Path(run_dir) / "notebooks" / "never-written.ipynb"

    monkeypatch.setattr(runner_module, "execute_step", swallowing_step)
    quick = step_notebook(tmp_path / "quick.ipynb", "x = 1")
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt, match="Ctrl-C"):
        run_notebook(str(quick), run_dir=run_dir, profile="tiny", **QUIET)
    step = _only_step(run_dir)
    assert step["status"] == "interrupted" and step["reason"] == "Ctrl-C"
    assert not (run_dir / LOCK_NAME).exists()
