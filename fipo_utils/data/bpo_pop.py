"""BPO preference pairs as POP records: real prompt-optimization training data that needs no hub.

POP itself is on the Hugging Face hub. Offline, the real prompt-optimization pairs at hand
are BPO's (arXiv 2311.04155) history files: an instruction with its context, a good and a bad
response, and a GPT-written optimized prompt. They map onto POP's six fields (docs/data.md):

=================================  ==========================================================
POP field                          from the BPO record
=================================  ==========================================================
``raw_prompt`` (naive prompt)      ``instruction``, then a blank line and ``context`` if any
``gpt4_response_based_raw``        ``good_res`` (the golden response)
``text003_response_based_raw``     ``bad_res`` (the silver response)
``gpt4_optimized_prompt``          ``optimized_prompt`` (chosen)
``chatgpt_optimized_prompt``       the raw prompt itself (rejected; the stand-in below)
=================================  ==========================================================

BPO has one optimized prompt per record, POP two (a weaker GPT-3.5 and a stronger GPT-4
rewrite). The rejected stand-in is the unchanged prompt: the preference then says "BPO's
rewrite beats leaving the prompt as it is", which is exactly the comparison the study makes
at test time (optimized vs naive prompt, and the ``identity`` optimizer). A record whose
optimized prompt equals its raw prompt gives chosen == rejected; diversification's ``fixed``
mode drops such rows and counts them.

BPO's test sets (``bpo_test*.json``) are held out: this module refuses to read them, so a
profile cannot train on the items BPO is evaluated with.

A profile names a BPO file as ``diversify.input: bpo:<path>``; a relative path is read from
the reference data folder (``FIPO_DATA_DIR``, see :func:`fipo_utils.runs.paths.reference_data_dir`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fipo_utils.runs.paths import reference_data_dir

BPO_PREFIX = "bpo:"
HELD_OUT_PREFIX = "bpo_test"
REQUIRED_TEXT = ("instruction", "good_res", "bad_res", "optimized_prompt")
# A response may be empty (2 of val.json's bad responses are: the weaker model said nothing,
# which is still a bad response); the prompts may not.
NON_EMPTY = ("instruction", "optimized_prompt")


class BpoConversionError(ValueError):
    """A BPO file or record cannot become a POP record; the message names file, record, field."""


def is_bpo_source(source: Any) -> bool:
    """Whether a POP source names a BPO file (``bpo:<path>``)."""
    return isinstance(source, str) and source.startswith(BPO_PREFIX)


def bpo_path(source: str) -> Path:
    """The file a ``bpo:<path>`` source names; relative paths are inside ``FIPO_DATA_DIR``.

    Raises :class:`BpoConversionError` for a held-out test file or a file that is not there.
    """
    path = Path(source.removeprefix(BPO_PREFIX)).expanduser()
    if not path.is_absolute():
        root = reference_data_dir()
        if root is None:
            raise BpoConversionError(
                f"{source!r}: a relative BPO path is read from the reference data folder, but "
                "FIPO_DATA_DIR is not set and ../shared/data does not exist"
            )
        path = root / path
        if not path.exists() and (root / "bpo" / path.relative_to(root)).exists():
            path = root / "bpo" / path.relative_to(root)  # `bpo:history/val.json` shorthand
    if path.name.startswith(HELD_OUT_PREFIX):
        raise BpoConversionError(
            f"{path}: BPO's test set is held out from training; use bpo/history/val.json"
        )
    if not path.is_file():
        raise BpoConversionError(f"{path}: BPO file not found")
    return path


def raw_prompt(instruction: str, context: str | None) -> str:
    """The naive prompt a user would have typed: the instruction, then its context if any."""
    context = (context or "").strip()
    return f"{instruction.strip()}\n\n{context}" if context else instruction.strip()


def bpo_record_to_pop(record: Any, where: str, record_id: str) -> dict[str, str]:
    """One BPO record as a POP-shaped dict (see the module docstring for the mapping)."""
    if not isinstance(record, dict):
        raise BpoConversionError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for name in REQUIRED_TEXT:
        if name not in record:
            raise BpoConversionError(f"{where}, field {name!r}: field is missing")
        value = record[name]
        if not isinstance(value, str):
            raise BpoConversionError(
                f"{where}, field {name!r}: must be a string, got {type(value).__name__}"
            )
        if name in NON_EMPTY and not value.strip():
            raise BpoConversionError(f"{where}, field {name!r}: is empty")
    context = record.get("context")
    if context is not None and not isinstance(context, str):
        raise BpoConversionError(
            f"{where}, field 'context': must be a string or null, got {type(context).__name__}"
        )
    prompt = raw_prompt(record["instruction"], context)
    return {
        "id": record_id,
        "raw_prompt": prompt,
        "text003_response_based_raw": record["bad_res"],
        "gpt4_response_based_raw": record["good_res"],
        "chatgpt_optimized_prompt": prompt,
        "gpt4_optimized_prompt": record["optimized_prompt"],
    }


def read_bpo_as_pop(source: str) -> tuple[Path, list[tuple[int, dict[str, str]]]]:
    """(file, [(record number, POP-shaped dict)]) of a ``bpo:<path>`` source, in file order.

    Record numbers start at 1. Ids are ``<file stem>-<record number>`` (BPO records carry
    none), so each converted row traces back to its record.
    """
    path = bpo_path(source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BpoConversionError(f"{path}: not a JSON file ({error})") from None
    if not isinstance(data, list) or not data:
        raise BpoConversionError(f"{path}: expected a non-empty JSON list of BPO records")
    rows = []
    for number, record in enumerate(data, start=1):
        where = f"{path}, record {number}"
        rows.append((number, bpo_record_to_pop(record, where, f"{path.stem}-{number:04d}")))
    return path, rows
