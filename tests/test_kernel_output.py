"""What a runner-executed notebook keeps in its cells: results and figures, not progress
bars, trainer log lines or library warnings (those go to the step's kernel log)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from fipo_utils.runs.kernel_output import QUIET_ENV, quiet_kernel_env
from fipo_utils.runs.manifest import read_manifest
from fipo_utils.runs.runner import run_notebook
from fipo_utils.training.log_table import log_table

NOISY_CELL = """\
import warnings

from tqdm.auto import tqdm

from fipo_utils.models.cache import CacheStats, GenerationCache, cached_map
from fipo_utils.runs.kernel_output import progress_shown

warnings.warn("a library deprecation nobody reading the run needs", FutureWarning)
for _ in tqdm(range(3), desc="a library's own bar"):
    pass
from pathlib import Path

cache = GenerationCache(model_id="m", backend="b", root=Path(run_dir) / "cache")
out = cached_map(cache, {"k": 1}, ["a", "b"], lambda ps: [p.upper() for p in ps], 1,
                 CacheStats(), show_progress=True)
print("result:", out, "progress shown:", progress_shown())

import matplotlib.pyplot as plt

fig, ax = plt.subplots()
ax.plot([1, 2], [3, 4])
"""


def _notebook(path: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.metadata["language_info"] = {"name": "python"}
    parameters = nbformat.v4.new_code_cell('run_dir = ""\nprofile = "tiny"')
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(NOISY_CELL)]
    nbformat.write(notebook, path)
    return path


def _cell_text(executed: Path) -> str:
    notebook = json.loads(executed.read_text())
    parts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            parts.append(json.dumps(output.get("data", {})))
    return "\n".join(parts)


@pytest.mark.notebook
def test_a_runner_kernel_shows_results_and_logs_warnings_instead(tmp_path: Path):
    run = run_notebook(
        str(_notebook(tmp_path / "noisy.ipynb")),
        profile="tiny",
        runs_root=tmp_path / "runs",
        log=lambda _: None,
        progress=False,
    )
    step = read_manifest(run)["steps"][-1]
    assert step["status"] == "done"
    cells = _cell_text(run / step["output_notebook"])
    assert "result: ['A', 'B'] progress shown: False" in cells
    assert "FutureWarning" not in cells and "IProgress" not in cells
    assert "it/s" not in cells and "%|" not in cells
    assert "image/png" in cells  # figures inline, though the test process runs on Agg
    kernel_log = (run / "logs" / f"{Path(step['output_notebook']).stem}.kernel.log").read_text()
    assert "a library deprecation nobody reading the run needs" in kernel_log


def test_the_users_own_settings_win_over_the_quiet_defaults():
    env = quiet_kernel_env({"TQDM_DISABLE": "0", "PATH": "/bin"}, "/run/logs/x.kernel.log")
    assert env["TQDM_DISABLE"] == "0" and env["PATH"] == "/bin"
    assert env["HF_HUB_DISABLE_PROGRESS_BARS"] == QUIET_ENV["HF_HUB_DISABLE_PROGRESS_BARS"]
    assert env["FIPO_KERNEL_LOG"] == "/run/logs/x.kernel.log"
    # headless processes set Agg for themselves; a notebook kernel still draws inline
    assert quiet_kernel_env({"MPLBACKEND": "Agg"}, "x")["MPLBACKEND"].endswith("backend_inline")


def test_log_table_merges_a_steps_records_and_drops_throughput():
    history = [
        {"loss": 2.0, "learning_rate": 1e-4, "step": 1, "epoch": 0.5},
        {"loss": 1.5, "learning_rate": 5e-5, "step": 2, "epoch": 1.0},
        {"eval_loss": 1.8, "eval_runtime": 3.2, "eval_samples_per_second": 2.5, "step": 2},
        {"train_runtime": 10.0, "train_loss": 1.75, "step": 2, "epoch": 1.0},
    ]
    table = log_table(history)
    assert list(table["step"]) == [1, 2]
    assert table.loc[1, "loss"] == 1.5 and table.loc[1, "eval_loss"] == 1.8
    assert table.loc[0, "eval_loss"] != table.loc[0, "eval_loss"]  # NaN: no eval at step 1
    assert not {"eval_runtime", "eval_samples_per_second", "train_runtime"} & set(table.columns)
    assert list(table.columns[:4]) == ["step", "epoch", "loss", "eval_loss"]


def test_log_table_keeps_rounds_apart_and_the_last_step_of_a_long_log():
    rounds = [{"loss": 1.0, "step": s, "round": r} for r in (1, 2) for s in (1, 2)]
    assert len(log_table(rounds)) == 4
    long = [{"loss": float(s), "step": s} for s in range(1, 101)]
    table = log_table(long, max_rows=10)
    assert len(table) <= 11 and table["step"].iloc[-1] == 100 and table["step"].iloc[0] == 1
