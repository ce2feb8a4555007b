"""POP loading: the shipped sample, every source kind, and errors that name file, line, field."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from fipo_utils.data.pop import (
    POP_FIELDS,
    POP_HUB_ID,
    SAMPLE_POP_PATH,
    PopRecord,
    PopSkipWarning,
    PopValidationError,
    load_pop,
    load_pop_report,
)


def pop_row(index: int, **changes) -> dict:
    row = {
        "id": f"r{index}",
        "raw_prompt": f"What is {index} plus {index}?",
        "text003_response_based_raw": f"{index * 2 + 1}",
        "gpt4_response_based_raw": f"{index} + {index} = {index * 2}.",
        "chatgpt_optimized_prompt": f"Add {index} and {index}.",
        "gpt4_optimized_prompt": f"Compute the sum of {index} and {index}; give the number.",
    }
    row.update(changes)
    return row


def write_jsonl(path: Path, lines: list) -> Path:
    with path.open("wb") as handle:
        for line in lines:
            if isinstance(line, bytes):
                handle.write(line + b"\n")
            else:
                handle.write((json.dumps(line) + "\n").encode("utf-8"))
    return path


def test_sample_file_has_a_few_dozen_complete_records():
    records = load_pop(SAMPLE_POP_PATH)
    assert 30 <= len(records) <= 60
    assert len({r.id for r in records}) == len(records)
    for record in records:
        assert all(isinstance(getattr(record, name), str) for name in POP_FIELDS)
        assert record.golden_response != record.silver_response
        assert record.chosen_prompt != record.rejected_prompt
        # The chosen (GPT-4 style) rewrite is the more detailed one.
        assert len(record.chosen_prompt) > len(record.rejected_prompt)
    assert load_pop("sample") == records


def test_jsonl_json_list_and_dataset_load_the_same_records(tmp_path):
    from datasets import Dataset

    rows = [pop_row(i) for i in range(5)]
    jsonl = write_jsonl(tmp_path / "pop.jsonl", rows)
    listed = tmp_path / "pop.json"
    listed.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    expected = [PopRecord(**row) for row in rows]
    assert load_pop(jsonl) == expected
    assert load_pop(str(listed)) == expected
    assert load_pop(Dataset.from_list(rows)) == expected


def test_extra_fields_are_ignored_and_integer_ids_are_kept(tmp_path):
    path = write_jsonl(tmp_path / "pop.jsonl", [pop_row(1, id=7, source="alpaca")])
    (record,) = load_pop(path)
    assert record.id == 7 and record.to_dict()["id"] == 7


def test_hub_id_is_loaded_through_datasets_load_dataset(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(name, split):
        calls.append((name, split))
        return datasets.Dataset.from_list([pop_row(1), pop_row(2)])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    records = load_pop(POP_HUB_ID)
    assert calls == [(POP_HUB_ID, "train")]
    assert [r.id for r in records] == ["r1", "r2"]


@pytest.mark.parametrize(
    ("bad_line", "field", "reason"),
    [
        (pop_row(9, gpt4_optimized_prompt=None), "gpt4_optimized_prompt", "must be a string"),
        (pop_row(9, raw_prompt=["a"]), "raw_prompt", "must be a string, got list"),
        (pop_row(9, raw_prompt="   "), "raw_prompt", "naive prompt is empty"),
        (pop_row(9, id=True), "id", "must be a string or integer"),
        (
            {k: v for k, v in pop_row(9).items() if k != "chatgpt_optimized_prompt"},
            "chatgpt_optimized_prompt",
            "missing",
        ),
        (b'{"id": "r9", "raw_prompt": "unterminated}', None, "invalid JSON"),
        (b'{"id": "r9", "raw_prompt": "caf\xe9"}', "raw_prompt", "invalid UTF-8"),
        (b'"just a string"', None, "expected a JSON object"),
    ],
)
def test_a_bad_line_raises_one_error_naming_file_line_and_field(tmp_path, bad_line, field, reason):
    path = write_jsonl(tmp_path / "broken.jsonl", [pop_row(1), pop_row(2), bad_line, pop_row(4)])
    with pytest.raises(PopValidationError) as info:
        load_pop(path)
    error = info.value
    assert error.line == 3 and error.field == field and error.source == str(path)
    assert reason in str(error)
    assert str(error).startswith(f"{path}, line 3")
    if field:
        assert f"field {field!r}" in str(error)


def test_invalid_utf8_inside_a_valid_record_names_the_field(tmp_path):
    line = json.dumps(pop_row(1)).replace("plus", "pl\udcffus", 1)
    raw = line.encode("utf-8", errors="surrogateescape").replace(b"\\udcff", b"\xff")
    path = write_jsonl(tmp_path / "pop.jsonl", [raw])
    with pytest.raises(PopValidationError, match="line 1, field 'raw_prompt': invalid UTF-8"):
        load_pop(path)


def test_json_list_errors_report_the_line_of_the_bad_element(tmp_path):
    rows = [pop_row(1), pop_row(2, text003_response_based_raw=5)]
    path = tmp_path / "pop.json"
    path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    with pytest.raises(PopValidationError) as info:
        load_pop(path)
    # Element 2 begins on the line after element 1's nine lines (list bracket + 8).
    assert info.value.line == 10 and info.value.field == "text003_response_based_raw"
    path.write_text('[\n{"id": "a"},\n{"id": ', encoding="utf-8")
    with pytest.raises(PopValidationError, match="invalid JSON"):
        load_pop(path)


def test_skip_invalid_keeps_good_records_and_reports_which_were_skipped(tmp_path):
    lines = [pop_row(1), pop_row(2, raw_prompt=""), b"{oops", pop_row(4), pop_row(5, id=None)]
    path = write_jsonl(tmp_path / "pop.jsonl", lines)
    with pytest.warns(PopSkipWarning, match="skipped 3 invalid record") as caught:
        records = load_pop(path, skip_invalid=True)
    assert [r.id for r in records] == ["r1", "r4"]
    message = str(caught[0].message)
    assert "line 2, field 'raw_prompt'" in message and "line 3: invalid JSON" in message
    report = load_pop_report(path, skip_invalid=True)
    assert [(s.line, s.field) for s in report.skipped] == [(2, "raw_prompt"), (3, None), (5, "id")]


def test_blank_lines_are_allowed_and_clean_files_do_not_warn(tmp_path):
    path = tmp_path / "pop.jsonl"
    path.write_text(json.dumps(pop_row(1)) + "\n\n" + json.dumps(pop_row(2)) + "\n", "utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_pop(path, skip_invalid=True)) == 2


def test_empty_and_missing_sources_fail_clearly(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(PopValidationError, match="no valid POP records"):
        load_pop(empty)
    with pytest.raises(FileNotFoundError, match="neither an existing file nor a hub id"):
        load_pop(tmp_path / "nope.jsonl")
    with pytest.raises(FileNotFoundError, match="neither an existing file nor a hub id"):
        load_pop("data/missing_pop.jsonl")  # a relative path, not mistaken for a hub id
