"""POP (Prompt Optimization Preference) records and their validated loading.

One POP record pairs a naive Alpaca instruction with a silver (text-davinci-003) and a golden
(GPT-4) response and with a rejected (GPT-3.5) and a chosen (GPT-4) optimized prompt
(the paper's POP dataset). Everything downstream (diversification, training) trusts these six
fields,
so loading checks them once, here, and names the file, line and field of any problem.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fipo_utils.data.bpo_pop import is_bpo_source, read_bpo_as_pop
from fipo_utils.runs.paths import PROJECT_ROOT, SAMPLE_DATA_DIR

POP_HUB_ID = "Junrulu/Prompt_Preference_Dataset"
SAMPLE_POP_PATH = SAMPLE_DATA_DIR / "sample_pop.jsonl"
POP_FIELDS = (
    "id",
    "raw_prompt",
    "text003_response_based_raw",
    "gpt4_response_based_raw",
    "chatgpt_optimized_prompt",
    "gpt4_optimized_prompt",
)


@dataclass(frozen=True)
class PopRecord:
    """One POP record with the dataset's own field names.

    ``id`` is normally a string; an integer id is accepted and kept as it is, because the
    diversified rows copy it verbatim and must match what the original script wrote.
    """

    id: str | int
    raw_prompt: str
    text003_response_based_raw: str
    gpt4_response_based_raw: str
    chatgpt_optimized_prompt: str
    gpt4_optimized_prompt: str

    @property
    def naive_prompt(self) -> str:
        return self.raw_prompt

    @property
    def silver_response(self) -> str:
        return self.text003_response_based_raw

    @property
    def golden_response(self) -> str:
        return self.gpt4_response_based_raw

    @property
    def rejected_prompt(self) -> str:
        return self.chatgpt_optimized_prompt

    @property
    def chosen_prompt(self) -> str:
        return self.gpt4_optimized_prompt

    def to_dict(self) -> dict[str, str | int]:
        return {name: getattr(self, name) for name in POP_FIELDS}


class PopValidationError(ValueError):
    """A POP source has a bad record; the message names the source, line and field."""

    def __init__(self, source: str, line: int | None, field_name: str | None, reason: str):
        self.source = source
        self.line = line
        self.field = field_name
        self.reason = reason
        where = source
        if line is not None:
            where += f", line {line}"
        if field_name is not None:
            where += f", field {field_name!r}"
        super().__init__(f"{where}: {reason}")


class PopSkipWarning(UserWarning):
    """Some records were skipped because ``skip_invalid=True``; the message lists them."""


@dataclass(frozen=True)
class SkippedRecord:
    line: int | None
    field: str | None
    reason: str


@dataclass
class PopLoadResult:
    """Records that passed validation, and what was skipped (with ``skip_invalid=True``)."""

    source: str
    records: list[PopRecord]
    skipped: list[SkippedRecord] = field(default_factory=list)
    duplicates: list[SkippedRecord] = field(default_factory=list)  # kept on request

    def skip_report(self) -> str:
        """A readable summary: how many records were skipped and which lines, and why."""
        lines = [f"{self.source}: skipped {len(self.skipped)} invalid record(s)"]
        for item in self.skipped:
            where = f"line {item.line}" if item.line is not None else "record"
            if item.field is not None:
                where += f", field {item.field!r}"
            lines.append(f"  {where}: {item.reason}")
        return "\n".join(lines)


def resolve_pop_source(value: Any) -> Any:
    """Map a profile's ``diversify.input`` to a loadable source (``"sample"``: the shipped file)."""
    if value in (None, "sample"):
        return SAMPLE_POP_PATH
    if isinstance(value, str | Path) and not Path(value).exists():
        # Profiles name files relative to the project; notebooks may run from another folder.
        beside_project = PROJECT_ROOT / value
        if beside_project.exists():
            return beside_project
    return value


def load_pop(
    source: Any, *, skip_invalid: bool = False, keep_duplicate_ids: bool = False
) -> list[PopRecord]:
    """Load and validate POP records, in file order.

    ``source`` is a local JSONL or JSON-list file, a ``datasets.Dataset``, the hub id
    ``Junrulu/Prompt_Preference_Dataset``, or ``bpo:<path>``: BPO pairs converted to POP
    records (:mod:`fipo_utils.data.bpo_pop`; "line" in errors is then the record number).
    A bad record raises :class:`PopValidationError`
    naming source, line and field; with ``skip_invalid=True`` bad records are left out and a
    :class:`PopSkipWarning` lists them (see :func:`load_pop_report` for the list itself).
    """
    result = load_pop_report(
        source, skip_invalid=skip_invalid, keep_duplicate_ids=keep_duplicate_ids
    )
    if result.duplicates:
        lines = ", ".join(str(item.line) for item in result.duplicates)
        message = f"{result.source}: kept {len(result.duplicates)} duplicate id(s), lines {lines}"
        warnings.warn(message, PopSkipWarning, stacklevel=2)
    if result.skipped:
        warnings.warn(result.skip_report(), PopSkipWarning, stacklevel=2)
    return result.records


def load_pop_report(
    source: Any, *, skip_invalid: bool = False, keep_duplicate_ids: bool = False
) -> PopLoadResult:
    """Like :func:`load_pop`, returning the skipped records too instead of warning.

    A record whose ``id`` an earlier record already has is an error (or skipped, with
    ``skip_invalid``): diversification keys its rows by id, so a duplicate would train twice
    on one prompt. ``keep_duplicate_ids`` keeps them and lists them in ``duplicates``.
    """
    source = resolve_pop_source(source)
    if is_bpo_source(source):
        path, converted = read_bpo_as_pop(source)
        rows: list[_Row] = [(number, row, None) for number, row in converted]
        name = f"{path} (BPO records as POP)"
    elif isinstance(source, str | Path) and Path(source).exists():
        rows = _rows_from_file(Path(source))
        name = str(source)
    elif _is_dataset(source):
        rows = _rows_from_dataset(source)
        name = f"<datasets.Dataset with {len(source)} rows>"
    elif _looks_like_hub_id(source):
        return load_pop_report(
            load_pop_from_hub(source),
            skip_invalid=skip_invalid,
            keep_duplicate_ids=keep_duplicate_ids,
        )
    else:
        raise FileNotFoundError(f"POP source {source!r} is neither an existing file nor a hub id")

    result = PopLoadResult(source=name, records=[])
    first_line: dict[str, int | None] = {}
    for line, row, found in rows:
        problem: PopValidationError
        if found is None:
            try:
                record = _record_from_row(row, name, line)
                key = str(record.id)
                if key in first_line and not keep_duplicate_ids:
                    reason = (
                        f"duplicate id {record.id!r} (first at line {first_line[key]}); "
                        "remove it, or keep duplicates (fipo diversify --keep-duplicate-ids, "
                        "profile diversify.keep_duplicate_ids: true)"
                    )
                    raise PopValidationError(name, line, "id", reason)
                if key in first_line:
                    result.duplicates.append(SkippedRecord(line, "id", f"duplicate id {key!r}"))
                first_line.setdefault(key, line)
                result.records.append(record)
                continue
            except PopValidationError as error:
                problem = error
        else:
            problem = PopValidationError(name, line, found[0], found[1])
        if not skip_invalid:
            raise problem
        result.skipped.append(SkippedRecord(problem.line, problem.field, problem.reason))
    if not result.records:
        raise PopValidationError(name, None, None, "contains no valid POP records")
    return result


def load_pop_from_hub(hub_id: str = POP_HUB_ID, split: str = "train") -> Any:
    """Download POP from the Hugging Face hub with ``datasets.load_dataset``.

    Needs network access (or a filled ``datasets`` cache): it cannot run on the offline
    machines this project is tested on, where a local path is used instead (data/README.md).
    """
    from datasets import load_dataset

    return load_dataset(hub_id, split=split)


def _looks_like_hub_id(source: Any) -> bool:
    """``owner/name`` without a file suffix; a missing local file is reported, not downloaded."""
    if not isinstance(source, str) or source.count("/") != 1 or source.startswith((".", "/")):
        return False
    return Path(source).suffix.lower() not in {".json", ".jsonl", ".txt", ".gz"}


def _is_dataset(source: Any) -> bool:
    try:
        from datasets import Dataset
    except ImportError:  # pragma: no cover - datasets is a base dependency
        return False
    return isinstance(source, Dataset)


# A row is (line number, parsed object or None, (field, reason) of a parse problem or None).
_Row = tuple[int | None, Any, tuple[str | None, str] | None]


def _rows_from_dataset(dataset: Any) -> list[_Row]:
    missing = [name for name in POP_FIELDS if name not in dataset.column_names]
    if missing:
        raise PopValidationError("<datasets.Dataset>", None, missing[0], "column is missing")
    # Row i of a dataset is reported as "line i + 1", the line it has in the hub's JSONL file.
    return [(index + 1, row, None) for index, row in enumerate(dataset)]


def _rows_from_file(path: Path) -> list[_Row]:
    """Parse a JSONL or JSON-list file, keeping line numbers and per-line problems.

    Bytes are decoded with ``surrogateescape`` so that invalid UTF-8 does not stop parsing:
    the offending field is then found by looking for the escaped bytes in each value.
    """
    text = path.read_bytes().decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    if text.lstrip().startswith("["):
        return _rows_from_json_list(text, str(path))
    rows: list[_Row] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line), None))
        except json.JSONDecodeError as error:
            reason = "invalid UTF-8" if _has_bad_bytes(line) else f"invalid JSON ({error.msg})"
            rows.append((number, None, (None, f"{reason} at column {error.colno}")))
    return rows


def _rows_from_json_list(text: str, name: str) -> list[_Row]:
    decoder = json.JSONDecoder()
    rows: list[_Row] = []
    position = text.index("[") + 1
    while True:
        position = _skip_space(text, position)
        if position < len(text) and text[position] == "]" and not rows:
            return rows
        line = text.count("\n", 0, position) + 1
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            reason = "invalid UTF-8" if _has_bad_bytes(text) else f"invalid JSON ({error.msg})"
            raise PopValidationError(name, error.lineno, None, reason) from None
        rows.append((line, value, None))
        position = _skip_space(text, position)
        if position < len(text) and text[position] == ",":
            position += 1
        elif position < len(text) and text[position] == "]":
            if text[position + 1 :].strip():
                line = text.count("\n", 0, position) + 1
                raise PopValidationError(name, line, None, "invalid JSON (text after the list)")
            return rows
        else:
            line = text.count("\n", 0, position) + 1
            raise PopValidationError(name, line, None, "invalid JSON (expected ',' or ']')")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _has_bad_bytes(text: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in text)


def _record_from_row(row: Any, source: str, line: int | None) -> PopRecord:
    if not isinstance(row, dict):
        reason = f"expected a JSON object, got {type(row).__name__}"
        raise PopValidationError(source, line, None, reason)
    values: dict[str, Any] = {}
    for name in POP_FIELDS:
        if name not in row:
            raise PopValidationError(source, line, name, "field is missing")
        value = row[name]
        allowed = (str, int) if name == "id" else (str,)
        if not isinstance(value, allowed) or isinstance(value, bool):
            expected = "a string or integer" if name == "id" else "a string"
            raise PopValidationError(
                source, line, name, f"must be {expected}, got {type(value).__name__}"
            )
        if isinstance(value, str) and _has_bad_bytes(value):
            raise PopValidationError(source, line, name, "invalid UTF-8")
        values[name] = value
    if not values["raw_prompt"].strip():
        raise PopValidationError(source, line, "raw_prompt", "the naive prompt is empty")
    if not values["gpt4_optimized_prompt"].strip():
        reason = "the chosen (GPT-4 optimized) prompt is empty"
        raise PopValidationError(source, line, "gpt4_optimized_prompt", reason)
    return PopRecord(**values)
