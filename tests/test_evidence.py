"""Per-item evidence: the audit of optimized prompts, flipped items, held-out previews."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from analysis_synthetic import make_run

from fipo_utils.data.benchmarks import BenchmarkItem
from fipo_utils.evaluation.flips import (
    BROKEN,
    FIXED,
    differing_lines,
    flip_counts,
    flipped_items,
    paired_predictions,
)
from fipo_utils.inference.audit import (
    audit_prompt,
    audit_table,
    flagged_rewrites,
    listed_options,
    named_entities,
    word_diff,
)

BBH = BenchmarkItem(
    id="d-1",
    benchmark="bbh/date_understanding",
    few_shot_context="",
    instruction="Jane moved to Paris on 3 May. What is the date 2 days later?\n"
    "Options:\n(A) 05/05/2021\n(B) 05/06/2021",
    gold="(A)",
)
GSM = BenchmarkItem(
    id="g-1",
    benchmark="gsm8k",
    few_shot_context="",
    instruction="Tom has 3 apples and buys 4 more. How many apples does he have?",
    gold="He has 3 + 4 = 7.\n#### 7",
)


def test_a_faithful_rewrite_raises_no_flag():
    rewrite = (
        "Jane moved to Paris on 3 May. Work out the date 2 days later and pick one.\nOptions:\n"
        "(A) 05/05/2021\n(B) 05/06/2021"
    )
    audit = audit_prompt(BBH, rewrite, word_limit=40)
    assert audit == {
        "gold_leaked": False,
        "options_lost": [],
        "numbers_lost": [],
        "entities_lost": [],
        "over_word_limit": False,
        "n_words": len(rewrite.split(" ")),
    }


def test_each_check_flags_its_own_failure():
    audit = audit_prompt(BBH, "Find the date two days after the move. The answer is (A)", 5)
    assert audit["gold_leaked"] is True
    assert audit["options_lost"] == ["A", "B"]
    assert {"2", "3"} <= set(audit["numbers_lost"])
    assert audit["entities_lost"] == ["May", "Paris"]  # "Jane" starts a sentence: not counted
    assert audit["over_word_limit"] is True
    leaked = audit_prompt(GSM, "Tom has 3 apples and buys 4 more, 7 in total. How many?", 40)
    assert leaked["gold_leaked"] is True and leaked["numbers_lost"] == []


def test_helpers_read_options_names_and_word_changes():
    assert listed_options(BBH.instruction) == {"A": "05/05/2021", "B": "05/06/2021"}
    assert named_entities("Then Ada Lovelace met Charles Babbage. They talked.") == {
        "Ada Lovelace",
        "Charles Babbage",
    }
    assert word_diff("What is the capital?", "Name the capital city.") == (
        "[-What is-] {+Name+} the [-capital?-] {+capital city.+}"
    )


def test_audit_table_counts_flags_per_benchmark_and_in_all():
    records = pd.DataFrame(
        {
            "benchmark": ["bbh/date_understanding", "gsm8k", "gsm8k"],
            "id": ["d-1", "g-1", "g-2"],
            "naive_instruction": [BBH.instruction, GSM.instruction, GSM.instruction],
            "optimized_instruction": ["x", "y", GSM.instruction],
            "audit": [
                audit_prompt(BBH, "Say the answer is (A)", 40),
                audit_prompt(GSM, "How many apples?", 40),
                audit_prompt(GSM, GSM.instruction, 40),
            ],
        }
    )
    table = audit_table(records)
    assert table.loc["all", "n_items"] == 3
    assert table.loc["gsm8k", "numbers_lost"] == "1 (50%)"
    assert table.loc["bbh", "gold_leaked"] == "1 (100%)"
    assert table.loc["all", "options_lost"] == "1 (33%)"
    assert list(flagged_rewrites(records)["id"]) == ["d-1", "g-1"]


def test_flipped_items_pair_conditions_by_item(tmp_path):
    run = make_run(tmp_path, "20260101-000000-flips")
    pairs = paired_predictions(run)
    flips = flipped_items(pairs)
    ipl = flips[(flips["optimizer"] == "ipl-ipo-lora") & (flips["benchmark"] == "gsm8k")]
    # naive gsm8k [1, 0, 0, 1] -> ipl-ipo [1, 1, 0, 1]: item 1 fixed, none broken
    assert list(ipl["id"]) == ["gsm8k-1"] and list(ipl["flip"]) == [FIXED]
    assert {"naive_instruction", "word_diff", "optimized_prediction", "gold"} <= set(flips.columns)
    counts = flip_counts(pairs).set_index(["optimizer", "benchmark"])
    assert counts.loc[("ipl-ipo-lora", "gsm8k"), ["fixed", "broken", "net"]].tolist() == [1, 0, 1]
    # sft-lora gsm8k [0, 0, 0, 1]: item 0 broken
    assert counts.loc[("sft-lora", "gsm8k"), ["fixed", "broken"]].tolist() == [0, 1]
    assert BROKEN in set(flips["flip"])
    assert paired_predictions(tmp_path / "empty").empty


def test_a_flipped_item_shows_each_instruction_whole_without_the_shared_context():
    shots = "Q: 1 + 1?\nA: 2\n\nQ: 2 + 2?\nA: 4\n"
    naive = shots + "Q: Add 3 and 4.\nOptions: (A) 7 (B) 8\nA:"
    optimized = shots + "Q: What is the sum of 3 and 4?\nGive the letter.\nOptions: (A) 7 (B) 8\nA:"
    before, after = differing_lines(naive, optimized)
    assert before == "Q: Add 3 and 4."
    assert after == "Q: What is the sum of 3 and 4?\nGive the letter."
    assert differing_lines(naive, naive) == ("", "")
    # one prompt a prefix of the other: the extra lines are the difference
    assert differing_lines("a\nb", "a\nb\nc") == ("", "c")


def test_previews_use_only_records_the_training_never_saw(tmp_path):
    from fipo_utils.data.diversify import diversify_to_dir
    from fipo_utils.data.pop import load_pop, resolve_pop_source
    from fipo_utils.data.template import load_template
    from fipo_utils.training.preview import held_out_examples

    diversify_to_dir(
        load_pop(resolve_pop_source("sample")), tmp_path / "data", template=load_template()
    )
    sft = json.loads((tmp_path / "data" / "sft.json").read_text())
    trained = {r["id"] for r in sft[:12]}
    examples = held_out_examples(tmp_path, tmp_path / "data" / "sft.json", 12, n=3)
    assert len(examples) == 3 and not trained & {e["id"] for e in examples}
    assert all(e["naive"] and e["reference"] for e in examples)
    assert held_out_examples(tmp_path, tmp_path / "data" / "sft.json", None) == []
    # a run folder without diversified data (notebook 08 alone) has nothing held out
    assert held_out_examples(tmp_path / "elsewhere", tmp_path / "data" / "sft.json", 12) == []


def test_eval_rows_follow_the_trained_slice_and_are_never_trained_on():
    from fipo_utils.training.train import split_eval_rows

    rows = [{"id": str(i)} for i in range(10)]
    trained, held = split_eval_rows(rows, 4, 3)
    assert [r["id"] for r in trained] == ["0", "1", "2", "3"]
    assert [r["id"] for r in held] == ["4", "5", "6"]
    trained, held = split_eval_rows(rows, None, 3)  # all rows: the eval rows come off the end
    assert len(trained) == 7 and [r["id"] for r in held] == ["7", "8", "9"]
    assert split_eval_rows(rows, 4, 0) == (rows[:4], [])
    with pytest.raises(ValueError, match="no training rows"):
        split_eval_rows(rows, None, 10)
