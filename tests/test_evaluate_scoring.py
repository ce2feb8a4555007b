"""Generation benchmarks are judged strictly (the paper's "The answer is X") and leniently;
``evaluate.scoring`` picks the primary verdict, and both reach predictions and results."""

from __future__ import annotations

from pathlib import Path

import pytest

from fipo_utils.data.benchmarks import BenchmarkItem
from fipo_utils.evaluation.evaluate import _write_predictions, mc_scorings
from fipo_utils.evaluation.scoring import generation_scoring
from fipo_utils.runs.safe_write import read_jsonl


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
        tmp_path, _jobs(), mc_scorings("logprob"), generation_scoring({"scoring": primary})
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
