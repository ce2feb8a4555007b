"""The typed records of the run folder's per-item files (docs/CONTRACTS.md, "Records").

Two records cross stage boundaries item by item:

* :class:`RewriteRecord`, one optimizer's rewrite of one benchmark item
  (``optimized/<optimizer>/<benchmark>.jsonl``, notebook 05);
* :class:`PredictionRecord`, one tester's answer to one item under one condition
  (``eval/predictions/...``, ``baselines/predictions/...``, ``baselines/table8/predictions/...``,
  notebooks 06, 08 and 09).

Each has one writer and one reader here, so a field is added in one place and every stage
sees it. They live in ``runs`` (rank 0) because inference, evaluation, baselines and analysis
all read or write them, and a record type must sit below every stage that uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fipo_utils.runs.io import iter_jsonl, read_jsonl
from fipo_utils.runs.safe_write import write_jsonl_preserving

CONDITIONS = ("naive", "optimized")


@dataclass(frozen=True)
class RewriteRecord:
    """One optimizer's rewrite of one item's instruction, with the audit of the rewrite."""

    id: str
    benchmark: str
    optimizer: str
    naive_instruction: str
    optimized_instruction: str
    raw_output: str
    cheating_note: bool
    fell_back: bool
    word_limit: int | None
    # the rewrite used the whole token budget: it was probably cut off mid-prompt
    cut_at_max_new_tokens: bool
    audit: dict[str, Any]
    # the rewrite's validity record (``fipo_utils.inference.validity.RewriteValidity`` as a
    # mapping); ``None`` in files written before validity records existed
    validity: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


REWRITE_FIELDS = tuple(RewriteRecord.__dataclass_fields__)
# every field but the ones later versions added, which older files lack
REQUIRED_REWRITE_FIELDS = tuple(name for name in REWRITE_FIELDS if name != "validity")


@dataclass(frozen=True)
class PredictionRecord:
    """One tester's answer to one item under one condition.

    ``scoring`` names the item's primary scoring and ``correct`` is its verdict;
    ``correct_by`` holds the verdict of every scoring applied (the primary one included).
    The optional fields are written only when a scoring produced them.
    """

    id: str
    benchmark: str
    optimizer: str
    tester: str
    condition: str
    prompt: str
    prediction: str
    gold: str
    scoring: str
    correct: bool
    correct_by: dict[str, bool] = field(default_factory=dict)
    option_logprobs: list[float] | None = None
    continuation_logprobs: list[Any] | None = None
    generated: str | None = None

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ValueError(
                f"prediction {self.id}: condition {self.condition!r} is not one of {CONDITIONS}"
            )

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of the record; optional fields only where present."""
        record = asdict(self)
        for name in _OPTIONAL_PREDICTION_FIELDS:
            if record[name] is None:
                del record[name]
        return record


PREDICTION_FIELDS = ("id", "benchmark", "optimizer", "tester", "condition", "correct")
_OPTIONAL_PREDICTION_FIELDS = ("option_logprobs", "continuation_logprobs", "generated")


def write_rewrites(path: str | Path, records: Iterable[RewriteRecord]) -> str:
    """Write rewrite records (an earlier, different file is kept aside, see ``safe_write``)."""
    return write_jsonl_preserving(path, (record.as_dict() for record in records))


def read_rewrites(path: str | Path, error: type[ValueError] = ValueError) -> list[RewriteRecord]:
    """The rewrite records of one ``optimized/<optimizer>/<benchmark>.jsonl``; a line without
    one of the record's required fields is an ``error`` naming the file, line and field (a
    file older than validity records reads with ``validity`` ``None``)."""
    rows = read_jsonl(path, REQUIRED_REWRITE_FIELDS, error=error)
    return [
        RewriteRecord(**{name: row[name] for name in REWRITE_FIELDS if name in row}) for row in rows
    ]


def write_predictions(path: str | Path, records: Iterable[PredictionRecord]) -> str:
    """Write prediction records (an earlier, different file is kept aside)."""
    return write_jsonl_preserving(path, (record.as_dict() for record in records))


def read_predictions(
    path: str | Path, error: type[ValueError] = ValueError
) -> list[PredictionRecord]:
    """The prediction records of one predictions file. A line without a required field, or
    whose ``correct`` is not true/false, is an ``error`` naming the file, line and field. A
    record without ``scoring`` counts as its primary scoring (``"primary"``), whose verdict
    is ``correct``."""
    known = set(PredictionRecord.__dataclass_fields__)
    records = []
    for number, row in iter_jsonl(path, PREDICTION_FIELDS, error=error):
        if not isinstance(row["correct"], bool):
            raise error(
                f"{path}, line {number}: field 'correct' must be true/false, got {row['correct']!r}"
            )
        values = {key: value for key, value in row.items() if key in known}
        values.setdefault("prompt", "")
        values.setdefault("prediction", "")
        values.setdefault("gold", "")
        values.setdefault("scoring", "primary")
        values["correct_by"] = values.get("correct_by") or {values["scoring"]: row["correct"]}
        try:
            records.append(PredictionRecord(**values))
        except ValueError as problem:
            raise error(f"{path}, line {number}: {problem}") from None
    return records


def prediction_dicts(records: Sequence[PredictionRecord]) -> list[dict[str, Any]]:
    """Records as the plain mappings the results table counts."""
    return [record.as_dict() for record in records]
