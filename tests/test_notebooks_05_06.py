"""Notebooks 05 and 06 through papermill in the smoke profile (SmolLM2, a handful of items)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from fipo_utils.paths import NOTEBOOKS_DIR

pytestmark = [pytest.mark.notebook, pytest.mark.slow, pytest.mark.shared]

BENCHMARKS = ["gsm8k", "bbh/date_understanding", "piqa", "cosmosqa", "mmlu"]
N_ITEMS = 2  # the smoke chain uses 3; two keep this test inside its CI budget


def execute(name: str, out_dir: Path, **parameters) -> dict:
    import papermill

    output = out_dir / f"{name}.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / f"{name}.ipynb"),
        str(output),
        parameters={"profile": "smoke", **parameters},
        kernel_name="python3",
        cwd=str(out_dir),
    )
    return json.loads(output.read_text())


def outputs_text(notebook: dict) -> str:
    parts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            parts.append("".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A run folder with notebook 05 executed (an isolated generation cache)."""
    root = tmp_path_factory.mktemp("run")
    os.environ["FIPO_CACHE_DIR"] = str(root / "cache")
    models = Path.home() / ".cache" / "fipo" / "models"
    if models.is_dir():  # reuse the converted SmolLM2 instead of converting it again
        (root / "cache").mkdir()
        (root / "cache" / "models").symlink_to(models)
    run_dir = root / "run"
    nb = execute(
        "05_batch_inference", root, run_dir=str(run_dir), benchmarks=BENCHMARKS, n_items=N_ITEMS
    )
    assert f"0 cached, {len(BENCHMARKS) * N_ITEMS} generated" in outputs_text(nb)
    return run_dir


def test_05_writes_optimized_prompts_per_item(smoke_run: Path) -> None:
    folder = smoke_run / "optimized" / "base"  # no checkpoints in this run: the base model
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["missing"] == {}
    for benchmark in BENCHMARKS:
        rows = pd.read_json(folder / f"{benchmark}.jsonl", lines=True)
        assert len(rows) == N_ITEMS
        assert set(rows.optimizer) == {"base"}
        assert rows.optimized_instruction.str.len().gt(0).all()
        assert rows.raw_output.str.len().gt(0).any()
        assert rows.cheating_note.dtype == bool
    assert (smoke_run / "figures" / "05_instruction_lengths.png").is_file()


def test_06_scores_then_serves_rerun_from_cache(smoke_run: Path) -> None:
    root = smoke_run.parent
    first = outputs_text(execute("06_evaluation", root, run_dir=str(smoke_run)))
    n_answers = len(BENCHMARKS) * N_ITEMS * 2  # two conditions, answered or scored
    assert f"smollm2-135m-instruct: 0 cached, {n_answers} generated" in first
    results = pd.read_csv(smoke_run / "eval" / "results.csv")
    assert list(results.columns) == [
        "optimizer",
        "tester",
        "benchmark",
        "condition",
        "n_items",
        "n_correct",
        "accuracy",
    ]
    assert len(results) == len(BENCHMARKS) * 2 and set(results.n_items) == {N_ITEMS}
    assert results.accuracy.between(0, 1).all()
    predictions = smoke_run / "eval" / "predictions" / "base" / "smollm2-135m-instruct"
    for benchmark in BENCHMARKS:
        rows = pd.read_json(predictions / f"{benchmark}.jsonl", lines=True)
        assert sorted(rows.condition.unique()) == ["naive", "optimized"]
        # every number traces back to its items
        for condition, part in rows.groupby("condition"):
            line = results[(results.benchmark == benchmark) & (results.condition == condition)]
            assert int(line.n_correct.iloc[0]) == int(part.correct.sum())
    summary = pd.read_csv(smoke_run / "eval" / "summary.csv")
    assert "weighted_average" in set(summary.benchmark)

    before = (smoke_run / "eval" / "results.csv").stat().st_mtime_ns
    second = outputs_text(execute("06_evaluation", root, run_dir=str(smoke_run)))
    assert f"smollm2-135m-instruct: {n_answers} cached, 0 generated" in second
    assert (smoke_run / "eval" / "results.csv").stat().st_mtime_ns == before  # unchanged
