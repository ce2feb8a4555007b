"""Every writer locked, a deleted run folder never resurrected, every attempt kept, stale
steps re-run (issue 26, items 3 and 8), through the real runner and notebook kernels."""

from __future__ import annotations

import json
import os

import pytest
from step_notebooks import step_notebook

from fipo_utils.cli import main
from fipo_utils.runs.errors import RunFolderGone
from fipo_utils.runs.lock import run_folder_lock
from fipo_utils.runs.manifest import read_manifest
from fipo_utils.runs.runner import StepFailed, reproduce, run_notebook

pytestmark = pytest.mark.notebook
QUIET = {"log": lambda _: None, "progress": False}


# (command writing into a run folder, with {run})
WRITERS = [
    "train --run-dir {run} --strategy sft --profile tiny",
    "figures {run}",
    "run 00_tour --profile tiny --run-dir {run}",
    "reproduce --resume {run}",
]


@pytest.mark.parametrize("line", WRITERS)
def test_every_writer_is_refused_while_another_holds_the_run(line, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"profile": "tiny", "steps": []}))
    before = sorted(p.name for p in run.iterdir())
    with run_folder_lock(run):
        code = main(line.format(run=run).split())
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert f"is in use by pid {os.getpid()}" in err.strip().splitlines()[-1]
    assert sorted(p.name for p in run.iterdir()) == before


# what the step does to its run folder: delete it and write, or delete it and end
DELETIONS = [
    "import shutil\nfrom fipo_utils.runs.io import write_json_atomic\nshutil.rmtree(run_dir)\n"
    "write_json_atomic(f'{run_dir}/eval/summary.json', {})",
    "import shutil\nshutil.rmtree(run_dir)",
    "import shutil\nfrom fipo_utils.runs.folders import resolve_run_dir\nshutil.rmtree(run_dir)\n"
    "resolve_run_dir(run_dir)",
]


@pytest.mark.parametrize("body", DELETIONS, ids=["then-write", "then-end", "then-resolve"])
def test_a_run_folder_deleted_mid_step_fails_the_step_and_stays_gone(body, tmp_path):
    first = step_notebook(tmp_path / "first.ipynb", "x = 1")
    deleting = step_notebook(tmp_path / "deleting.ipynb", body)
    run = tmp_path / "run"
    run_notebook(str(first), run_dir=run, profile="tiny", **QUIET)
    with pytest.raises(RunFolderGone, match="was deleted while step deleting ran"):
        run_notebook(str(deleting), run_dir=run, profile="tiny", **QUIET)
    assert not run.exists(), "nothing recreated: no manifest claims the first step's outputs"


def test_a_full_disk_in_a_step_fails_it_naming_the_file_and_leaves_no_staging_file(tmp_path):
    body = (
        "import errno, os\nfrom fipo_utils.runs.io import write_json_atomic\n"
        "def full(fd):\n    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
        "os.fsync = full\nwrite_json_atomic(f'{run_dir}/eval/summary.json', {'x': 1})"
    )
    full = step_notebook(tmp_path / "full.ipynb", body)
    run = tmp_path / "run"
    with pytest.raises(StepFailed):
        run_notebook(str(full), run_dir=run, profile="tiny", **QUIET)
    step = read_manifest(run)["steps"][-1]
    assert step["status"] == "failed"
    assert "eval/summary.json: no space left on device" in step["reason"]
    assert [p.name for p in (run / "eval").iterdir()] == []


def test_a_relative_profile_path_reaches_the_kernel(tmp_path, monkeypatch):
    (tmp_path / "mine.yaml").write_text("inherits: tiny\ninfer:\n  n_items: 7\n")
    reads = step_notebook(
        tmp_path / "reads.ipynb",
        "from pathlib import Path\nfrom fipo_utils.runs.profiles import load_profile\n"
        "(Path(run_dir) / 'n.txt').write_text(str(load_profile(profile)['infer']['n_items']))",
    )
    monkeypatch.chdir(tmp_path)
    run = run_notebook(str(reads), run_dir=tmp_path / "run", profile="mine.yaml", **QUIET)
    assert (run / "n.txt").read_text() == "7"
    assert read_manifest(run)["profile"] == str(tmp_path / "mine.yaml")


def test_every_attempt_is_kept_and_a_step_whose_inputs_moved_runs_again(tmp_path):
    """A stands in for IPL (it points ``final`` at the newest round), B for notebook 05
    (it reads ``final``). A failed B, then a finished one, then a new round moving ``final``:
    the resume re-runs B only, and B's record keeps all three endings."""
    trainer = step_notebook(
        tmp_path / "a.ipynb",
        "from pathlib import Path\nroot = Path(run_dir) / 'checkpoints' / 'ipl'\n"
        "(root / 'round_1').mkdir(parents=True)\n(root / 'final').symlink_to('round_1')",
    )
    reader = step_notebook(
        tmp_path / "b.ipynb",
        "from pathlib import Path\nimport os\nroot = Path(run_dir)\n"
        "assert (root / 'go').exists(), 'not yet'\n"
        "(root / 'read.txt').write_text(os.readlink(root / 'checkpoints' / 'ipl' / 'final'))",
    )
    profile = tmp_path / "chain.yaml"
    profile.write_text(f"inherits: tiny\nchain:\n  - notebook: {trainer}\n  - notebook: {reader}\n")
    with pytest.raises(StepFailed, match="not yet"):
        reproduce(str(profile), runs_root=tmp_path / "runs", **QUIET)
    (run,) = (tmp_path / "runs").iterdir()
    (run / "go").touch()
    reproduce(str(profile), resume=run, **QUIET)
    assert (run / "read.txt").read_text() == "round_1"

    final = run / "checkpoints" / "ipl" / "final"  # a new IPL round moves final
    (final.parent / "round_2").mkdir()
    final.unlink()
    final.symlink_to("round_2")
    lines: list[str] = []
    reproduce(str(profile), resume=run, log=lines.append, progress=False)
    assert (run / "read.txt").read_text() == "round_2"
    assert any("a: already done, skipped" in line for line in lines)
    assert any(
        "b: stale (its inputs changed since it ran: checkpoints/ipl/final" in line for line in lines
    )
    a, b = read_manifest(run)["steps"]
    assert [x["status"] for x in a["attempts"]] == ["done"]
    assert [x["status"] for x in b["attempts"]] == ["failed", "done", "stale", "done"]
    assert "not yet" in b["attempts"][0]["reason"]
    assert all(
        "revision" in x and x["wall_time_s"] is not None
        for x in b["attempts"]
        if x["status"] != "stale"
    )
    # nothing changed since: the next resume skips both
    lines.clear()
    reproduce(str(profile), resume=run, log=lines.append, progress=False)
    assert sum("already done, skipped" in line for line in lines) == 2
