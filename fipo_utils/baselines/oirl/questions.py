"""Question texts in the row order of the Prompt-OIRL logs.

GSM8K: the 7,473 training questions, then the first 1,000 test questions. MAWPS and SVAMP:
the SVAMP repository's cross-validation folds, ``fold0..4/train.csv`` concatenated in order,
with each ``number<i>`` placeholder filled from the row's space-separated ``Numbers``
column exactly as written there (``8.0`` stays ``8.0``: that is what LLaMA-2 was shown).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from fipo_utils.runs.io import iter_jsonl

GSM8K_TEST_ROWS = 1000
N_FOLDS = 5
_FOLD_FOLDERS = {"mawps": "cv_mawps", "svamp": "cv_svamp_augmented"}
_PLACEHOLDER = re.compile(r"number(\d+)")


class QuestionDataError(ValueError):
    """Question data missing or malformed; the message names the file, row and field."""


def gsm8k_questions(benchmarks_dir: Path) -> tuple[list[str], list[str]]:
    """(train questions, first 1,000 test questions) from ``<benchmarks>/gsm8k/*.jsonl``."""
    folder = Path(benchmarks_dir) / "gsm8k"
    train = _jsonl_field(folder / "train.jsonl", "question")
    test = _jsonl_field(folder / "test.jsonl", "question")[:GSM8K_TEST_ROWS]
    return train, test


def fold_questions(svamp_dir: Path, dataset: str) -> list[str]:
    """MAWPS or SVAMP questions, all five folds' training files concatenated."""
    if dataset not in _FOLD_FOLDERS:
        raise ValueError(f"dataset must be one of {sorted(_FOLD_FOLDERS)}, got {dataset!r}")
    root = Path(svamp_dir) / "data" / _FOLD_FOLDERS[dataset]
    questions: list[str] = []
    for fold in range(N_FOLDS):
        path = root / f"fold{fold}" / "train.csv"
        if not path.is_file():
            raise QuestionDataError(f"{path}: fold file not found")
        with path.open(encoding="utf-8", newline="") as handle:
            for row_number, row in enumerate(csv.DictReader(handle), start=2):
                questions.append(_fill_numbers(row, path, row_number))
    return questions


def _fill_numbers(row: dict[str, str], path: Path, row_number: int) -> str:
    for field in ("Question", "Numbers"):
        if row.get(field) is None:
            raise QuestionDataError(f"{path}, row {row_number}: field {field!r} missing")
    numbers = row["Numbers"].split()

    def replace(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(numbers):
            raise QuestionDataError(
                f"{path}, row {row_number}: field 'Question' uses {match.group(0)} but "
                f"'Numbers' has only {len(numbers)} values"
            )
        return numbers[index]

    return _PLACEHOLDER.sub(replace, row["Question"])


def _jsonl_field(path: Path, field: str) -> list[str]:
    if not path.is_file():
        raise QuestionDataError(f"{path}: file not found")
    values = []
    for number, record in iter_jsonl(path, (field,), error=QuestionDataError):
        if not isinstance(record[field], str):
            raise QuestionDataError(f"{path}, line {number}: field {field!r} must be a string")
        values.append(record[field])
    return values
