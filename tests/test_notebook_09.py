"""Notebook 09 (search baselines, Table 8) runs headless on the tiny model and writes the
layout of eval/ under baselines/table8/, with no test item in the search."""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest

from fipo_utils.evaluation.columns import RESULT_COLUMNS
from fipo_utils.runs.paths import NOTEBOOKS_DIR

NOTEBOOK = NOTEBOOKS_DIR / "09_search_baselines.ipynb"


def test_committed_notebook_has_no_outputs_and_one_parameters_cell():
    book = nbformat.read(NOTEBOOK, as_version=4)
    assert book.cells[0].cell_type == "markdown"
    tagged = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and 'run_dir = ""' in tagged[0].source
    # papermill must see every parameter (a comment it cannot parse hides the name)
    from papermill.translators import PythonTranslator

    names = [p.name for p in PythonTranslator.inspect(tagged[0])]
    assert names == ["run_dir", "profile", "tasks", "n_items", "testers", "proposer"]
    assert all(not c.get("outputs") for c in book.cells if c.cell_type == "code")
    assert not any("\\n" in c.source.splitlines()[0] for c in book.cells if c.source)


@pytest.mark.notebook
@pytest.mark.shared
def test_table8_notebook_runs_every_method_on_the_same_test_items(shared_data, tmp_path):
    import papermill

    run_dir = tmp_path / "run"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "09.out.ipynb"),
        parameters={
            "run_dir": str(run_dir),
            "profile": "tiny",
            "tasks": ["object_counting", "epistemic"],
        },
        kernel_name="python3",
        progress_bar=False,
    )
    out = run_dir / "baselines" / "table8"
    results = pd.read_csv(out / "results.csv")
    assert list(results.columns) == list(RESULT_COLUMNS)
    assert set(results["optimizer"]) == {"ape", "opro", "fipo-base", "bpo-style"}
    assert set(results["benchmark"]) == {"bbh/object_counting"}
    summary = json.loads((out / "summary.json").read_text())
    assert "epistemic" in summary["missing_tasks"]  # not among the 27 BBH task files
    search_ids = set(summary["split"]["object_counting"]["search_ids"])
    assert len(search_ids) == 4  # tiny: 2 demonstrations + 2 dev items
    test_ids = None
    for method in set(results["optimizer"]):
        path = out / "predictions" / method / "tiny-random" / "bbh" / "object_counting.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        ids = {r["id"] for r in records}
        assert test_ids is None or ids == test_ids  # every method answers the same items
        test_ids = ids
        assert not ids & search_ids
        assert {r["condition"] for r in records} == {"naive", "optimized"}
    cost = pd.read_csv(out / "cost.csv")
    search = cost[cost["phase"] == "search"]
    assert set(search["method"]) == {"ape", "opro"} and (search["calls"] > 0).all()
    assert (cost[cost["phase"] == "answer"]["n_queries"] == 2).all()
    candidates = [json.loads(line) for line in (out / "search.jsonl").read_text().splitlines()]
    assert {c["method"] for c in candidates} == {"ape", "opro"}
    assert (run_dir / "figures" / "09_table8.png").is_file()
