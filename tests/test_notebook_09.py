"""Notebook 09 (search baselines, Table 8) runs headless on the tiny model and writes the
layout of eval/ under baselines/table8/, with no test item in the search."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fipo_utils.evaluation.columns import RESULT_COLUMNS


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.shared
def test_table8_notebook_runs_every_method_on_the_same_test_items(
    shared_data, tmp_path, run_notebook
):
    run_dir = tmp_path / "run"
    run_notebook(
        "09_search_baselines",
        tmp_path,
        run_dir=str(run_dir),
        profile="tiny",
        tasks=["object_counting", "epistemic"],
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
