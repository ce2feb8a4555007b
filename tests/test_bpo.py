"""BPO-style baseline: pair loading, preference rows, win-rate arithmetic, rewriter plumbing."""

from __future__ import annotations

import json

import pytest

from fipo_utils.baselines.answers import pairwise_win_rate, prediction_records
from fipo_utils.baselines.bpo import (
    BPO_INSTRUCTION,
    BpoDataError,
    WinRate,
    bpo_preference_rows,
    load_bpo_pairs,
    mean_delta_win_rate,
    render_bpo_request,
    rewrite_prompts,
    win_rate,
)
from fipo_utils.data.benchmarks import BenchmarkItem
from fipo_utils.data.template import TULU_ASSISTANT, TULU_USER, count_words, load_template
from fipo_utils.models.generate import GenerationParams


def _write(tmp_path, name, records):
    path = tmp_path / name
    path.write_text(json.dumps(records))
    return path


def test_three_record_shapes_load(tmp_path):
    path = _write(
        tmp_path,
        "pairs.json",
        [
            {"prompt": "p1", "optimized_prompt": "o1", "good_res": "g", "bad_res": "b"},
            {"final_input": "p2", "final_output": "o2"},
            {"instruction": "p3", "context": "ctx", "optimized_prompt": "o3"},
        ],
    )
    pairs = load_bpo_pairs(path)
    assert [(p.original, p.optimized) for p in pairs] == [
        ("p1", "o1"),
        ("p2", "o2"),
        ("p3\nctx", "o3"),
    ]
    assert pairs[0].good_response == "g" and pairs[1].good_response is None


def test_bad_record_names_file_record_and_field(tmp_path):
    path = _write(tmp_path, "bad.json", [{"prompt": "p", "optimized_prompt": "o"}, {"prompt": "x"}])
    with pytest.raises(BpoDataError, match=r"bad.json, record 1: field 'optimized_prompt'"):
        load_bpo_pairs(path)
    empty = _write(tmp_path, "empty.json", [{"prompt": " ", "optimized_prompt": "o"}])
    with pytest.raises(BpoDataError, match="record 0: field 'original prompt'"):
        load_bpo_pairs(empty)


def test_preference_rows_prefer_the_optimized_prompt(tmp_path):
    path = _write(
        tmp_path,
        "pairs.json",
        [
            {"prompt": "Write a poem.", "optimized_prompt": "Write a four-line poem about rain."},
            {"prompt": "Same.", "optimized_prompt": "Same."},
        ],
    )
    rows, skipped = bpo_preference_rows(load_bpo_pairs(path), load_template())
    assert skipped == 1 and len(rows) == 1
    row = rows[0]
    assert set(row) == {"id", "prompt", "chosen", "rejected"}
    assert row["chosen"] == "Write a four-line poem about rain."
    assert row["rejected"] == "Write a poem."
    assert row["prompt"].startswith(TULU_USER) and row["prompt"].endswith(TULU_ASSISTANT)
    assert "Write a poem." in row["prompt"]
    assert str(count_words(row["chosen"])) in row["prompt"]


def test_responses_fill_the_template_slots_when_asked(tmp_path):
    path = _write(
        tmp_path,
        "pairs.json",
        [
            {
                "prompt": "Q?",
                "optimized_prompt": "Better Q?",
                "good_res": "GOOD-X",
                "bad_res": "BAD-Y",
            }
        ],
    )
    plain, _ = bpo_preference_rows(load_bpo_pairs(path), load_template())
    rich, _ = bpo_preference_rows(load_bpo_pairs(path), load_template(), with_responses=True)
    assert "GOOD-X" not in plain[0]["prompt"]
    assert "GOOD-X" in rich[0]["prompt"] and "BAD-Y" in rich[0]["prompt"]


@pytest.mark.shared
def test_real_bpo_history_converts(shared_data):
    pairs = load_bpo_pairs(shared_data / "bpo" / "history" / "val.json")
    rows, skipped = bpo_preference_rows(pairs, load_template())
    assert len(pairs) == 300
    assert len(rows) + skipped == 300 and len(rows) > 200
    assert all(r["chosen"] != r["rejected"] for r in rows)


def test_delta_win_rate_arithmetic():
    result = win_rate(["win"] * 5 + ["tie"] * 3 + ["lose"] * 2)
    assert (result.win, result.tie, result.lose) == (5, 3, 2)
    assert result.delta == pytest.approx(0.5 - 0.2)
    assert result.as_dict()["delta_win_rate"] == pytest.approx(0.3)
    other = WinRate(win=1, tie=0, lose=3)
    assert mean_delta_win_rate([result, other]) == pytest.approx(
        (0.5 + 0.25) / 2 - (0.2 + 0.75) / 2
    )
    with pytest.raises(ValueError, match="judgement 1"):
        win_rate(["win", "draw"])


def test_pairwise_win_rate_counts_the_records_own_verdicts():
    items = [
        BenchmarkItem(
            id=f"g{i}", benchmark="gsm8k", few_shot_context="", instruction="q", gold="x\n#### 5"
        )
        for i in range(4)
    ]
    # strict scoring: only "The answer is 5" counts; the last naive answer is right only
    # leniently, so a lenient re-scoring would call item g3 a tie, not a win
    naive = ["The answer is 5.", "The answer is 4.", "The answer is 4.", "so 5"]
    rewritten = ["The answer is 4.", "The answer is 5.", "The answer is 3.", "The answer is 5."]

    def records(answers, condition):
        return prediction_records(
            items,
            [(f"prompt {i}", a) for i, a in enumerate(answers)],
            optimizer="bpo-style",
            tester="t",
            condition=condition,
        )

    before, after = records(naive, "naive"), records(rewritten, "optimized")
    assert [r.correct for r in before] == [True, False, False, False]
    result = pairwise_win_rate(before, after)
    assert (result.win, result.tie, result.lose) == (2, 1, 1)
    with pytest.raises(ValueError, match="pairs item g0 with item g1"):
        pairwise_win_rate(before[:1], after[1:2])


class _RecordingGenerator:
    """Records what the rewriter is asked and replies with fixed texts (tests the plumbing)."""

    def __init__(self, replies, tokenizer):
        self.replies = replies
        self.tokenizer = tokenizer
        self.seen = []

    def generate(self, prompts, params):
        self.seen.extend(prompts)
        return self.replies[: len(prompts)]


def test_rewriter_wraps_request_and_cleans_reply(tiny_model_dir):
    from fipo_utils.models.loading import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir))
    generator = _RecordingGenerator(
        ['Rewritten prompt: "Add 2 and 3, then explain."', "  "], tokenizer
    )
    out = rewrite_prompts(
        generator, ["Add 2 and 3.", "Name a color."], fmt="chat_template", params=GenerationParams()
    )
    assert out == ["Add 2 and 3, then explain.", "Name a color."]  # empty reply falls back
    assert generator.seen[0].startswith("<|im_start|>user\n")
    assert render_bpo_request("Add 2 and 3.") in generator.seen[0]
    assert BPO_INSTRUCTION.split("{prompt}")[0] in generator.seen[0]
