"""Training data files: rows in trl's shapes, re-wrapped prompts, errors naming the place."""

from __future__ import annotations

import json

import pytest
from train_rows import ipl_records, sft_records

from fipo_utils.data.template import unwrap_tulu
from fipo_utils.models.loading import load_tokenizer
from fipo_utils.training.rows import (
    IPL_FIELDS,
    TrainingDataError,
    read_jsonl_rows,
    read_sft_rows,
    rewrap_prompt,
    truncate_prompt,
)


def test_sft_rows_become_prompt_completion_pairs(tmp_path):
    path = tmp_path / "sft.json"
    path.write_text(json.dumps(sft_records(3)))
    rows = read_sft_rows(path)
    assert [r["id"] for r in rows] == ["s0", "s1", "s2"]
    assert unwrap_tulu(rows[1]["prompt"]).startswith("Rewrite the prompt")
    assert rows[0]["completion"].endswith("42.")


def test_malformed_rows_name_file_record_and_field(tmp_path):
    records = sft_records(2)
    records[1]["conversations"][1]["role"] = "assistant"
    path = tmp_path / "sft.json"
    path.write_text(json.dumps(records))
    with pytest.raises(TrainingDataError, match=r"sft\.json, record 1: field 'conversations'"):
        read_sft_rows(path)

    rows = ipl_records()
    rows[4]["case_type"] = "4"
    path = tmp_path / "ipl.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(TrainingDataError, match=r"ipl\.jsonl, line 5: field 'case_type'"):
        read_jsonl_rows(path, IPL_FIELDS)


def test_chat_template_rewrap_and_prompt_cap():
    tokenizer = load_tokenizer("tiny-random")
    prompt = ipl_records()[0]["prompt"]
    assert rewrap_prompt(prompt, "tulu", tokenizer) == prompt
    chat = rewrap_prompt(prompt, "chat_template", tokenizer)
    assert chat.startswith("<|im_start|>user\n") and chat.endswith("<|im_start|>assistant\n")
    assert unwrap_tulu(prompt) in chat
    capped = truncate_prompt(chat, tokenizer, 16)
    assert len(tokenizer(capped, add_special_tokens=False).input_ids) <= 16
    assert chat.endswith(capped)
