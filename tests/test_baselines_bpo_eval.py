"""BPO as BPO evaluated it: test-set loading, the SFT rows of the trained rewriter, the
original request and sampling switch, and the two-order judge."""

from __future__ import annotations

import json

import pytest

from fipo_utils.baselines.bpo import (
    BPO_INSTRUCTION,
    BpoPair,
    bpo_instruction,
    bpo_rewrite_params,
    bpo_sft_records,
)
from fipo_utils.baselines.bpo_eval import TEST_SETS, judge_both_orders, load_test_prompts
from fipo_utils.training.rows import read_sft_rows


class LetterJudge:
    """Prefers the answer that holds ``good`` (or always "A" when ``good`` is None)."""

    backend = "scripted"
    tokenizer = None

    def __init__(self, good: str | None) -> None:
        self.good = good

    def option_logprobs(self, prompts, options):
        scores = []
        for prompt in prompts:
            a = prompt.split("[Answer A]\n", 1)[1].split("\n\n[Answer B]", 1)[0]
            prefer_a = self.good is None or self.good in a
            scores.append([-0.1, -2.0] if prefer_a else [-2.0, -0.1])
        return scores


def test_judge_counts_a_win_only_when_both_orders_agree():
    questions, original, rewritten = ["q1", "q2"], ["plain", "GOOD old"], ["GOOD new", "plain"]
    verdicts = [
        j["verdict"]
        for j in judge_both_orders(LetterJudge("GOOD"), questions, original, rewritten, "raw")
    ]
    assert verdicts == ["win", "lose"]
    # A judge that always says "A" has pure position bias: both orders disagree -> ties.
    biased = judge_both_orders(LetterJudge(None), questions, original, rewritten, "raw")
    assert [j["verdict"] for j in biased] == ["tie", "tie"]
    assert biased[0]["rewrite_first"] == [-0.1, -2.0]


def test_original_template_is_bpos_request_and_sampling():
    assert bpo_instruction(None) == BPO_INSTRUCTION
    original = bpo_instruction("original")
    assert original.startswith("You are an expert prompt engineer.") and "{prompt}" in original
    params = bpo_rewrite_params({"bpo": {"template": "original"}}, 64, 7)
    assert (params.temperature, params.top_p, params.seed) == (0.6, 0.9, 7)
    assert bpo_rewrite_params({}, 64, 7).greedy
    with pytest.raises(ValueError, match="bpo.template"):
        bpo_instruction("other")


def test_sft_records_are_what_notebook_02_reads(tmp_path):
    pairs = [BpoPair("7", "Tell me a joke", "Tell me a short, clean joke.", None, None)]
    path = tmp_path / "bpo_sft.json"
    path.write_text(json.dumps(bpo_sft_records(pairs, bpo_instruction("original"))))
    (row,) = read_sft_rows(path)
    assert row["id"] == "bpo-7" and row["completion"] == "Tell me a short, clean joke."
    assert "Tell me a joke" in row["prompt"] and row["prompt"].startswith("<|user|>")


@pytest.mark.shared
def test_every_bpo_test_set_loads(shared_data):
    sizes = {"bpo_test": 200, "dolly_eval": 200, "self_instruct_eval": 252, "vicuna_eval": 80}
    for name, relative in TEST_SETS.items():
        prompts = load_test_prompts(shared_data / relative)
        assert len(prompts) == sizes[name] and all(p["prompt"].strip() for p in prompts)
    assert len(load_test_prompts(shared_data / TEST_SETS["dolly_eval"], 3)) == 3


def test_a_test_set_record_without_a_prompt_is_named(tmp_path):
    path = tmp_path / "set.json"
    path.write_text(json.dumps([{"prompt": "ok"}, {"question": "?"}]))
    with pytest.raises(ValueError, match=r"set.json, record 1: field 'prompt'"):
        load_test_prompts(path)
