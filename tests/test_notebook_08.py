"""Notebook 08 (baselines) runs headless and writes notebook 06's format.

The smoke chain (tests/test_main_job.py) runs it on SmolLM2; here the `tiny` profile runs the
same code on the tiny model so the row set, the reranking choice and the OIRL tables are
checked quickly.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fipo_utils.evaluation.columns import RESULT_COLUMNS

PREDICTION_FIELDS = set(
    [
        "id",
        "benchmark",
        "optimizer",
        "tester",
        "condition",
        "prompt",
        "prediction",
        "gold",
        "correct",
    ]
)


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.shared
def test_baselines_notebook_writes_rows_beside_fipo(shared_data, tmp_path, run_notebook):
    run_dir = tmp_path / "run"
    run_notebook(
        "08_baselines",
        tmp_path,
        run_dir=str(run_dir),
        profile="tiny",
        n_items=2,
        n_candidates=2,
        oirl_datasets=["gsm8k", "mawps"],
    )
    results = pd.read_csv(run_dir / "baselines" / "results.csv")
    assert list(results.columns) == list(RESULT_COLUMNS)
    assert set(results["optimizer"]) == {
        "bpo-style",
        "oirl-best-of-n",
        "fipo-single",
        "fipo-x-oirl",
    }
    assert set(results["condition"]) == {"naive", "optimized"}
    assert (results["n_items"] == 2).all()
    assert ((results["accuracy"] >= 0) & (results["accuracy"] <= 1)).all()
    for optimizer in results["optimizer"].unique():
        path = run_dir / "baselines" / "predictions" / optimizer / "tiny-random" / "gsm8k.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(records) == 4 and set(records[0]) >= PREDICTION_FIELDS
    # No trained checkpoint in this run folder: the base model must stand in, and say so.
    summary = json.loads((run_dir / "baselines" / "summary.json").read_text())
    assert summary["fipo_optimizer"] == "base" and "base model" in summary["fipo_optimizer_note"]
    choices = [
        json.loads(line)
        for line in (run_dir / "baselines" / "choices.jsonl").read_text().splitlines()
    ]
    assert all(len(c["fipo_candidate_scores"]) == 2 and len(c["oirl_scores"]) == 6 for c in choices)
    for choice in choices:  # the kept rewrite is the candidate the reward model scored highest
        scores = choice["fipo_candidate_scores"]
        assert choice["fipo_x_oirl"] == choice["fipo_candidates"][scores.index(max(scores))]
    for dataset in ("gsm8k", "mawps"):
        for split in ("original", "leak-free"):
            oirl = json.loads(
                (run_dir / "baselines" / "oirl" / dataset / split / "results.json").read_text()
            )
            assert oirl["split"] == split and oirl["n_test_questions"] > 0
            gain = oirl["gain"]  # seed-averaged, with a paired interval over test questions
            assert gain["n_seeds"] == 3 and gain["low"] <= gain["mean"] <= gain["high"]
    assert (run_dir / "baselines" / "bpo_dpo.jsonl").stat().st_size > 0
    assert (run_dir / "figures" / "08_baselines.png").is_file()
    # BPO as BPO evaluated it: a trained rewriter and the zero-shot row, judged both orders.
    assert (run_dir / "checkpoints" / "bpo-sft" / "final" / "config.json").is_file()
    for rewriter in ("bpo-sft", "bpo-style-zero-shot"):
        path = run_dir / "baselines" / "bpo_win_rate" / "bpo_test" / f"{rewriter}.jsonl"
        judged = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(judged) == 2 and {j["verdict"] for j in judged} <= {"win", "tie", "lose"}
        assert all(len(j["rewrite_first"]) == len(j["original_first"]) == 2 for j in judged)
