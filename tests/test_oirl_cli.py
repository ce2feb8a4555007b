"""``fipo oirl`` end to end on a small slice of the real logs."""

from __future__ import annotations

import json

import pytest

from fipo_utils.cli import build_parser


@pytest.mark.shared
def test_fipo_oirl_writes_results_and_keeps_earlier_ones(shared_data, tmp_path):
    argv = [
        "oirl",
        "--data-dir", str(shared_data),
        "--dataset", "mawps",
        "--split", "leak-free",
        "--out", str(tmp_path),
        "--max-train-rows", "150",
        "--max-test-rows", "50",
        "--rounds", "20",
        "--max-depth", "3",
    ]  # fmt: skip
    args = build_parser().parse_args(argv)
    assert args._run(args) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["split"] == "leak-free" and results["dataset"] == "mawps"
    assert results["n_test_questions"] == 50 and results["n_train_rows"] == 150
    assert results["leaking_train_rows"] == 0
    for key in ("best_of_n_accuracy", "best_single_prompt_accuracy", "oracle_accuracy"):
        assert 0.0 <= results[key] <= results["oracle_accuracy"] <= 1.0
    assert results["reward_model"]["config"]["n_rounds"] == 20
    args = build_parser().parse_args([*argv[:-4], "--rounds", "5", "--max-depth", "3"])
    assert args._run(args) == 0
    assert len(list(tmp_path.glob("results.prev-*.json"))) == 1
