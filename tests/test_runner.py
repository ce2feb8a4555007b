"""The papermill runner: fresh folders, manifest, stop at the first failing cell, resume."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from fipo_utils.cli import main as fipo_main
from fipo_utils.runs.folders import new_run_dir
from fipo_utils.runs.manifest import read_manifest
from fipo_utils.runs.runner import StepFailed, reproduce, run_notebook

pytestmark = pytest.mark.notebook


def _notebook(path: Path, body: str) -> Path:
    """A notebook with a tagged parameters cell and one body cell."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('run_dir = ""\nprofile = "smoke"\nlabel = "x"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("test step"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


APPEND = (
    "from pathlib import Path\n"
    "with open(Path(run_dir) / 'trace.txt', 'a') as f:\n"
    "    f.write(label + '\\n')\n"
)
GUARDED = (
    "from pathlib import Path\n"
    "if not (Path(run_dir) / 'allow').exists():\n"
    "    raise ValueError('marker file missing')\n" + APPEND
)


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    """A profile whose chain is: a good step, a step that fails until allowed, a good step."""
    first = _notebook(tmp_path / "first.ipynb", APPEND)
    guarded = _notebook(tmp_path / "guarded.ipynb", GUARDED)
    profile = tmp_path / "chainprofile.yaml"
    profile.write_text(
        yaml.safe_dump(
            {
                "chain": [
                    {"notebook": str(first), "parameters": {"label": "one"}},
                    {"notebook": str(guarded), "parameters": {"label": "two"}},
                    {"notebook": str(first), "parameters": {"label": "three"}},
                ]
            }
        )
    )
    return profile


def _trace(run_dir: Path) -> list[str]:
    path = run_dir / "trace.txt"
    return path.read_text().split() if path.exists() else []


def test_failing_notebook_stops_the_chain_and_names_the_cell(chain: Path, tmp_path: Path):
    with pytest.raises(StepFailed) as caught:
        reproduce(str(chain), runs_root=tmp_path / "runs", log=lambda _: None, progress=False)
    failure = caught.value
    assert failure.step_key == "guarded__label-two"
    assert failure.error["ename"] == "ValueError"
    assert "marker file missing" in failure.error["evalue"]
    # the execution count identifies the failing cell in the saved notebook
    executed = nbformat.read(failure.output, as_version=4)
    (failing,) = [
        c for c in executed.cells if c.get("execution_count") == failure.error["exec_count"]
    ]
    assert "raise ValueError" in failing.source
    assert "raise ValueError" in failure.error["source"]
    assert "marker file missing" in str(failure)
    assert f"cell {failure.error['cell_index']}" in str(failure)

    run_dir = failure.output.parent.parent
    assert _trace(run_dir) == ["one"], "the step after the failure must not run"
    steps = read_manifest(run_dir)["steps"]
    assert [s["status"] for s in steps] == ["done", "failed", "pending"]
    assert steps[1]["error"]["ename"] == "ValueError"
    assert failure.output.is_file(), "the failed notebook is kept for inspection"


def test_resume_continues_from_the_first_step_not_done(chain: Path, tmp_path: Path):
    with pytest.raises(StepFailed) as caught:
        reproduce(str(chain), runs_root=tmp_path / "runs", log=lambda _: None, progress=False)
    run_dir = caught.value.output.parent.parent
    (run_dir / "allow").touch()

    resumed = reproduce(str(chain), resume=run_dir, log=lambda _: None, progress=False)

    assert resumed == run_dir
    assert _trace(run_dir) == ["one", "two", "three"], "step one must not run twice"
    manifest = read_manifest(run_dir)
    assert [s["status"] for s in manifest["steps"]] == ["done", "done", "done"]
    assert len(manifest["resumed"]) == 1
    # the failed attempt's notebook is kept beside the successful one
    names = sorted(p.name for p in (run_dir / "notebooks").glob("guarded*"))
    assert names == ["guarded__label-two.attempt2.ipynb", "guarded__label-two.ipynb"]


def test_resume_takes_the_runs_own_profile_and_says_so_only_when_another_was_named(
    chain: Path, tmp_path: Path
):
    with pytest.raises(StepFailed) as caught:
        reproduce(str(chain), runs_root=tmp_path / "runs", log=lambda _: None, progress=False)
    run_dir = caught.value.output.parent.parent
    (run_dir / "allow").touch()
    lines: list[str] = []
    reproduce(resume=run_dir, log=lines.append, progress=False)
    assert _trace(run_dir) == ["one", "two", "three"]  # the run's chain, not smoke's
    assert not any("own profile" in line for line in lines)
    lines.clear()
    reproduce("smoke", resume=run_dir, log=lines.append, progress=False)
    assert any("own profile" in line and "'smoke'" in line for line in lines)


def test_manifest_records_versions_revision_hashes_and_timings(chain: Path, tmp_path: Path):
    first = chain.parent / "first.ipynb"
    run_dir = run_notebook(
        str(first),
        {"label": "solo"},
        runs_root=tmp_path / "runs",
        log=lambda _: None,
        progress=False,
    )
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["packages"]["papermill"]
    assert manifest["packages"]["torch"].startswith("2.")
    assert set(manifest["git"]) == {"revision", "dirty"}
    assert any(key.endswith("sample_pop.jsonl") for key in manifest["data_hashes"])
    assert all(len(v) == 64 for v in manifest["data_hashes"].values())
    (step,) = manifest["steps"]
    assert step["status"] == "done" and step["wall_time_s"] > 0
    assert step["parameters"] == {"label": "solo"}
    executed = nbformat.read(run_dir / step["output_notebook"], as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "solo" in injected[0].source


def test_runs_never_overwrite_each_other(chain: Path, tmp_path: Path):
    first = chain.parent / "first.ipynb"
    root = tmp_path / "runs"
    a = run_notebook(str(first), {"label": "a"}, runs_root=root, log=lambda _: None, progress=False)
    b = run_notebook(str(first), {"label": "b"}, runs_root=root, log=lambda _: None, progress=False)
    assert a != b and _trace(a) == ["a"] and _trace(b) == ["b"]

    # the same step again inside an existing run keeps the earlier executed notebook
    run_notebook(str(first), {"label": "a"}, run_dir=a, log=lambda _: None, progress=False)
    assert _trace(a) == ["a", "a"]
    assert len(list((a / "notebooks").glob("first__label-a*.ipynb"))) == 2
    assert len(read_manifest(a)["steps"]) == 2

    # two folders asked for in the same second get different names
    assert new_run_dir("same", root=root) != new_run_dir("same", root=root)


def test_cli_reports_the_failing_cell_and_exits_non_zero(chain: Path, tmp_path: Path, capsys):
    code = fipo_main(["reproduce", "--profile", str(chain), "--runs-root", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 1
    assert "guarded__label-two" in err and "marker file missing" in err and "--resume" in err


def test_unknown_notebook_is_a_clear_error_before_any_folder_is_made(tmp_path: Path):
    root = tmp_path / "runs"
    with pytest.raises(FileNotFoundError, match="no_such_notebook"):
        run_notebook("no_such_notebook", runs_root=root, log=lambda _: None)
    assert not root.exists() or not any(root.iterdir())
