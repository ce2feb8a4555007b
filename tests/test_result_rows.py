"""Counting per-item predictions into results rows, one row per scoring."""

from fipo_utils.evaluation.columns import RESULT_COLUMNS, result_rows


def _record(item: int, condition: str, correct: bool, lenient: bool | None = None) -> dict:
    record = {
        "id": f"q{item}",
        "benchmark": "gsm8k",
        "optimizer": "sft-lora",
        "tester": "t",
        "condition": condition,
        "scoring": "strict",
        "correct": correct,
    }
    if lenient is not None:
        record["correct_by"] = {"strict": correct, "lenient": lenient}
    return record


def test_one_row_per_condition_and_scoring_with_primary_marked():
    records = [
        _record(0, "naive", False, True),
        _record(1, "naive", True, True),
        _record(0, "optimized", True, True),
        _record(1, "optimized", False, False),
        _record(2, "optimized", False, True),
    ]
    rows = result_rows(records)
    assert all(list(row) == list(RESULT_COLUMNS) for row in rows)
    got = {
        (r["condition"], r["scoring"]): (r["n_correct"], r["n_items"], r["primary"]) for r in rows
    }
    assert got == {
        ("naive", "lenient"): (2, 2, False),
        ("naive", "strict"): (1, 2, True),
        ("optimized", "lenient"): (2, 3, False),
        ("optimized", "strict"): (1, 3, True),
    }
    # naive rows come before optimized rows
    assert [r["condition"] for r in rows] == ["naive", "naive", "optimized", "optimized"]


def test_record_without_correct_by_counts_for_its_primary_scoring():
    rows = result_rows([_record(0, "naive", True), _record(1, "naive", False)])
    assert len(rows) == 1
    assert (rows[0]["scoring"], rows[0]["n_correct"], rows[0]["accuracy"]) == ("strict", 1, 0.5)
