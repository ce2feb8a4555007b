"""Generation benchmarks are judged strictly (the paper's "The answer is X") and leniently;
``evaluate.scoring`` picks the primary verdict, and both reach predictions and results."""

from __future__ import annotations

from pathlib import Path

import pytest

from fipo_utils.data.benchmarks import WEIGHTED_AVERAGE, BenchmarkItem
from fipo_utils.evaluation.evaluate import _write_predictions, mc_scorings
from fipo_utils.evaluation.scoring import generation_scoring
from fipo_utils.runs.io import read_jsonl


def _jobs() -> list[dict]:
    gsm8k = BenchmarkItem("gsm8k-0", "gsm8k", "", "How many?", gold="... #### 18")
    piqa = BenchmarkItem(
        "piqa-0", "piqa", "", "Goal: x", ["a", "b"], gold="B", kind="multiple_choice"
    )
    record = {"optimizer": "base"}
    return [
        {"item": gsm8k, "record": record, "condition": "naive", "tester": "t",
         "prompt": "p", "prediction": "She keeps 18."},  # lenient only
        {"item": gsm8k, "record": record, "condition": "optimized", "tester": "t",
         "prompt": "p", "prediction": "The answer is 18."},  # both
        {"item": piqa, "record": record, "condition": "naive", "tester": "t",
         "prompt": "p", "prediction": "B", "option_logprobs": [-2.0, -1.0]},
    ]  # fmt: skip


@pytest.mark.parametrize("primary", ["strict", "lenient"])
def test_both_verdicts_are_written_and_the_switch_picks_the_primary(
    tmp_path: Path, primary: str
) -> None:
    rows = _write_predictions(
        tmp_path, _jobs(), mc_scorings("letter"), generation_scoring({"scoring": primary})
    )
    records = read_jsonl(tmp_path / "eval/predictions/base/t/gsm8k.jsonl")
    naive = next(r for r in records if r["condition"] == "naive")
    assert naive["correct_by"] == {"strict": False, "lenient": True}
    assert naive["scoring"] == primary and naive["correct"] is (primary == "lenient")
    table = {(r["benchmark"], r["condition"], r["scoring"]): r for r in rows}
    assert table[("gsm8k", "naive", "strict")]["n_correct"] == 0
    assert table[("gsm8k", "naive", "lenient")]["n_correct"] == 1
    assert table[("gsm8k", "optimized", "strict")]["n_correct"] == 1
    assert table[("gsm8k", "naive", primary)]["primary"]
    other = "lenient" if primary == "strict" else "strict"
    assert not table[("gsm8k", "naive", other)]["primary"]
    # multiple choice keeps its one scoring, the option letter
    assert table[("piqa", "naive", "letter")]["primary"]
    assert {s for b, _, s in table if b == "piqa"} == {"letter"}


def test_an_unknown_scoring_is_refused() -> None:
    with pytest.raises(ValueError, match="scoring 'loose'"):
        generation_scoring({"scoring": "loose"})


def test_summary_weights_families_by_the_papers_test_sizes():
    """One weighted average, the paper's: BBH counts with all of its 6,511 items however few
    of its tasks ran, as notebook 07's tables weigh it."""
    import pandas as pd

    from fipo_utils.data.benchmarks import PAPER_TEST_SIZES
    from fipo_utils.evaluation.columns import RESULT_COLUMNS
    from fipo_utils.evaluation.evaluate import summarize

    rows = [
        ("o", "t", "gsm8k", "naive", "strict", True, 4, 1, 0.25),
        ("o", "t", "gsm8k", "naive", "lenient", False, 4, 4, 1.0),  # not primary: not counted
        ("o", "t", "bbh/date_understanding", "naive", "strict", True, 2, 2, 1.0),
    ]
    results = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    summary = summarize(results, {"gsm8k": 1319, "bbh/date_understanding": 250})
    bbh = summary[summary.benchmark == "bbh"].iloc[0]
    assert bbh.weight == PAPER_TEST_SIZES["bbh"]
    average = summary[summary.benchmark == WEIGHTED_AVERAGE].iloc[0]
    expected = (0.25 * 1319 + 1.0 * 6511) / (1319 + 6511)
    assert average.accuracy == pytest.approx(expected)
    assert average.n_items == 6


def test_evaluate_benchmarks_keeps_named_benchmarks_and_families():
    from fipo_utils.evaluation.evaluate import only_benchmarks

    records = [{"benchmark": b} for b in ("gsm8k", "bbh/navigate", "piqa", "cosmosqa")]
    kept = only_benchmarks(records, ["bbh", "piqa"])
    assert [r["benchmark"] for r in kept] == ["bbh/navigate", "piqa"]
    assert only_benchmarks(records, None) == records
    assert only_benchmarks(records, ["mmlu"]) == []
