"""Benchmark loaders name the file and line they could not read."""

from __future__ import annotations

from pathlib import Path

import pytest

from fipo_utils.data.benchmarks import load_benchmark

COSMOS_HEADER = "id,context,question,answer0,answer1,answer2,answer3,label\n"


def test_a_bbh_file_that_is_not_json_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "bbh" / "bbh").mkdir(parents=True)
    (tmp_path / "bbh" / "cot-prompts").mkdir()
    (tmp_path / "bbh" / "cot-prompts" / "navigate.txt").write_text("canary\n-----\nQ: a\nA: b")
    data = tmp_path / "bbh" / "bbh" / "navigate.json"
    data.write_text('{"examples": [\n  {"input": "x", "target": "Yes"},\n  oops\n]}')
    with pytest.raises(ValueError, match=r"navigate\.json, line 3: invalid JSON"):
        load_benchmark("bbh/navigate", data_dir=tmp_path, allow_hub=False)


def test_a_cosmosqa_row_with_a_bad_label_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "cosmosqa").mkdir()
    rows = [f'c{i},"ctx {i}",q{i}?,a,b,c,d,{i % 4}\n' for i in range(6)]
    rows[4] = 'c4,"ctx spanning\ntwo lines",q4?,a,b,c,d,three\n'  # line 6 of the file
    (tmp_path / "cosmosqa" / "valid.csv").write_text(COSMOS_HEADER + "".join(rows))
    with pytest.raises(ValueError, match=r"valid\.csv, line 7: invalid literal"):
        load_benchmark("cosmosqa", data_dir=tmp_path, allow_hub=False)
