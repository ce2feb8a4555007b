"""BPO pairs as POP records: the field mapping, validation naming file/record/field, the
held-out test set, and the same diversification as POP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fipo_utils.data.bpo_pop import BpoConversionError
from fipo_utils.data.diversify import diversify_pop
from fipo_utils.data.pop import PopValidationError, load_pop
from fipo_utils.runs.paths import CONFIGS_DIR

RECORD = {
    "instruction": "Summarise the text.",
    "context": "The cat sat on the mat.",
    "good_res": "A cat sat on a mat.",
    "bad_res": "Cats.",
    "optimized_prompt": "Summarise the text below in one sentence that keeps its subject.",
    "source": "alpaca-gpt4",
}


def _write(tmp_path: Path, records: list, name: str = "pairs.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(records), encoding="utf-8")
    return f"bpo:{path}"


def test_fields_map_onto_pop(tmp_path):
    without_context = dict(RECORD, context=None, instruction="Name a colour.")
    first, second = load_pop(_write(tmp_path, [RECORD, without_context]))
    assert first.raw_prompt == "Summarise the text.\n\nThe cat sat on the mat."
    assert first.golden_response == RECORD["good_res"]
    assert first.silver_response == RECORD["bad_res"]
    assert first.chosen_prompt == RECORD["optimized_prompt"]
    # the rejected stand-in: the prompt left as it is
    assert first.rejected_prompt == first.raw_prompt
    assert second.raw_prompt == "Name a colour."
    assert (first.id, second.id) == ("pairs-0001", "pairs-0002")


@pytest.mark.parametrize(
    ("change", "field"),
    [({"optimized_prompt": "  "}, "optimized_prompt"), ({"good_res": 3}, "good_res")],
)
def test_bad_record_names_file_record_and_field(tmp_path, change, field):
    source = _write(tmp_path, [RECORD, dict(RECORD, **change)])
    with pytest.raises(BpoConversionError, match=rf"pairs\.json, record 2, field '{field}'"):
        load_pop(source)


def test_missing_field_is_named(tmp_path):
    broken = {k: v for k, v in RECORD.items() if k != "bad_res"}
    with pytest.raises(BpoConversionError, match=r"record 1, field 'bad_res': field is missing"):
        load_pop(_write(tmp_path, [broken]))


def test_test_set_is_refused(tmp_path):
    with pytest.raises(BpoConversionError, match="held out"):
        load_pop(_write(tmp_path, [RECORD], name="bpo_test_rich.json"))


def test_study_profiles_never_train_on_the_test_set():
    for path in sorted((CONFIGS_DIR / "profiles").glob("study*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert "bpo_test" not in text, path
        source = (yaml.safe_load(text).get("diversify") or {}).get("input")
        if source is not None:
            assert str(source).startswith("bpo:history/"), path


def test_a_plain_path_to_bpo_data_is_not_mistaken_for_pop(tmp_path):
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([RECORD]), encoding="utf-8")
    with pytest.raises(PopValidationError, match="field 'id': field is missing"):
        load_pop(path)


def test_real_bpo_history_diversifies(shared_data):
    records = load_pop("bpo:history/val.json")
    assert len(records) == 300
    assert all(r.raw_prompt.strip() and r.chosen_prompt.strip() for r in records)
    data = diversify_pop(records, seed=2024)
    assert len(data.sft) == 300
    # records whose BPO rewrite is the prompt itself give chosen == rejected and are dropped
    unchanged = sum(r.chosen_prompt == r.rejected_prompt for r in records)
    assert unchanged > 0
    assert data.summary["dropped_chosen_equals_rejected"] >= unchanged
    assert len(data.dpo) == 300 - data.summary["dropped_chosen_equals_rejected"]
