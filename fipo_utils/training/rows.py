"""Training rows from the run folder's data files, in the shapes trl's trainers take.

``data/sft.json`` becomes prompt/completion pairs (trl then trains on the completion only),
``data/dpo.jsonl`` and ``data/ipl.jsonl`` become prompt/chosen/rejected rows. Prompts are
stored Tulu-wrapped (the paper's format); a profile whose model speaks another chat format
(``models.prompt_format: chat_template`` for SmolLM2) gets them re-wrapped here, so the data
files stay identical across profiles.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from fipo_utils.runs.io import iter_jsonl, jsonl_text, read_json, write_atomic

PREFERENCE_FIELDS = ("prompt", "chosen", "rejected")
IPL_FIELDS = PREFERENCE_FIELDS + ("s_p", "r_p", "g_r", "p_o", "case_type")


class TrainingDataError(ValueError):
    """A data row is malformed; the message names the file, the record and the field."""


def rewrap_prompt(
    prompt: str, prompt_format: str, tokenizer: PreTrainedTokenizerBase | None
) -> str:
    """Re-wrap a Tulu-wrapped prompt in ``prompt_format`` (unchanged for ``tulu``)."""
    if prompt_format == "tulu":
        return prompt
    from fipo_utils.data.template import unwrap_tulu, wrap_prompt

    return wrap_prompt(unwrap_tulu(prompt), prompt_format, tokenizer)


def read_sft_rows(path: str | Path) -> list[dict]:
    """``sft.json`` -> ``[{"id", "prompt", "completion"}]`` (prompt still Tulu-wrapped)."""
    path = Path(path)
    records = read_json(path, error=TrainingDataError)
    if not isinstance(records, list):
        raise TrainingDataError(f"{path}: expected a JSON list of SFT records")
    rows = []
    for index, record in enumerate(records):
        where = f"{path}, record {index}"
        turns = record.get("conversations") if isinstance(record, dict) else None
        if not isinstance(turns, list) or len(turns) < 2:
            raise TrainingDataError(
                f"{where}: field 'conversations' must hold a user and a bot turn"
            )
        user, bot = turns[0], turns[1]
        for turn, role in ((user, "user"), (bot, "bot")):
            if not isinstance(turn, dict) or turn.get("role") != role:
                raise TrainingDataError(f"{where}: field 'conversations' expects a {role!r} turn")
            if not isinstance(turn.get("value"), str):
                raise TrainingDataError(
                    f"{where}: field 'conversations[{role}].value' must be a string"
                )
        rows.append(
            {
                "id": str(record.get("id", index)),
                "prompt": user["value"],
                "completion": bot["value"],
            }
        )
    return rows


def read_jsonl_rows(path: str | Path, fields: Iterable[str] = PREFERENCE_FIELDS) -> list[dict]:
    """Read a JSONL file and check each line has ``fields`` as strings (``case_type``: int)."""
    path = Path(path)
    rows = []
    for number, row in iter_jsonl(path, error=TrainingDataError):
        for name in fields:
            expected = int if name == "case_type" else str
            if not isinstance(row.get(name), expected):
                raise TrainingDataError(
                    f"{path}, line {number}: field {name!r} must be a {expected.__name__}"
                )
        rows.append(row)
    return rows


# what each trl trainer reads besides the prompt
SFT_TARGETS = ("completion",)  # SFTTrainer, completion-only loss
PREFERENCE_TARGETS = ("chosen", "rejected")  # DPOTrainer


def trainer_examples(
    rows: list[dict],
    targets: tuple[str, ...],
    prompt_format: str,
    tokenizer: PreTrainedTokenizerBase,
) -> list[dict]:
    """Trainer rows: the prompt re-wrapped in the model's chat format, the ``targets``
    (:data:`SFT_TARGETS` or :data:`PREFERENCE_TARGETS`) as they are."""
    return [
        {
            "prompt": rewrap_prompt(r["prompt"], prompt_format, tokenizer),
            **{name: r[name] for name in targets},
        }
        for r in rows
    ]


def take_rows(rows: list[dict], max_rows: int | None) -> list[dict]:
    """The first ``max_rows`` rows (file order is already shuffled by diversification)."""
    return rows if not max_rows else rows[:max_rows]


def write_jsonl(rows: Iterable[dict], path: str | Path) -> Path:
    """Write rows atomically (:func:`~fipo_utils.runs.io.write_atomic`): a crash never leaves
    half a file."""
    return write_atomic(path, jsonl_text(rows))


def truncate_prompt(
    prompt: str,
    tokenizer: PreTrainedTokenizerBase,
    max_tokens: int,
    *,
    response_tokens: int | None = None,
    max_length: int | None = None,
) -> str:
    """Keep the last ``max_tokens`` tokens of a prompt (its end holds the assistant tag).

    The paper caps prompts at 1536 of the 2048 tokens so a long prompt never leaves the
    response without room; trl 1.16 only caps the whole sequence, so the prompt cap is here.
    With ``response_tokens`` and ``max_length`` (``truncation: original``) the prompt is cut
    only when prompt + the longest response exceed ``max_length``, as the original's DPO
    collator did; otherwise every prompt is capped (``truncation: project``).
    """
    ids = tokenizer(prompt, add_special_tokens=False).input_ids
    fits = response_tokens is not None and max_length is not None
    if fits and len(ids) + (response_tokens or 0) <= (max_length or 0):
        return prompt
    if len(ids) <= max_tokens:
        return prompt
    return str(tokenizer.decode(ids[-max_tokens:]))
