"""Rejected prompts with a signal: the untrained base optimizer's own rewrite.

POP's rejected prompt is a weaker optimizer's rewrite (GPT-3.5's, against GPT-4's chosen one).
BPO's pairs, which the study trains on offline, have one optimized prompt per record, so the
BPO-to-POP conversion (:mod:`fipo_utils.data.bpo_pop`) puts the unchanged prompt on the
rejected side. That pair is trivial: a held-out reward accuracy of 1.0 says only that the
model can tell a copy of its input from a rewrite, and preference training has nothing to
push the optimizer away from what it already writes.

``diversify.rejected: base_rewrite`` replaces that stand-in with the rewrite the untrained
base optimizer writes for the same prompt: the registry's ``base`` optimizer (the test-time
template, the profile's ``infer`` decoding and word limit, the same cleaning), which is what
notebook 05's ``base`` rows are. The preference then says "BPO's rewrite beats what the
untrained optimizer writes", the weaker-optimizer comparison of POP. Rewrites go through
the generation cache (one generation per prompt, ever) and are recorded in the run folder
(``rejected/base_rewrites.jsonl``); ``unchanged`` keeps the stand-in. Only records whose
rejected side *is* the unchanged prompt are rewritten: POP's own GPT-3.5 rewrites stay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from fipo_utils.data.pop import PopRecord
from fipo_utils.runs.io import jsonl_text, write_atomic

REJECTED_SOURCES = ("unchanged", "base_rewrite")
REWRITES_FILE = Path("rejected") / "base_rewrites.jsonl"


def rejected_source(profile: Mapping[str, Any]) -> str:
    """The profile's ``diversify.rejected`` (default ``unchanged``), checked."""
    value = (profile.get("diversify") or {}).get("rejected") or "unchanged"
    if value not in REJECTED_SOURCES:
        raise ValueError(
            f"profile {profile.get('name', '?')!r}: diversify.rejected: {value!r} is not one of "
            f"{', '.join(REJECTED_SOURCES)}"
        )
    return str(value)


def is_stand_in(record: PopRecord) -> bool:
    """Whether the record's rejected prompt is its naive prompt unchanged (BPO's stand-in)."""
    return record.rejected_prompt.strip() == record.naive_prompt.strip()


def with_base_rejected(
    records: Sequence[PopRecord], optimizer: Any
) -> tuple[list[PopRecord], list[dict[str, Any]]]:
    """Records whose stand-in rejected prompt became ``optimizer``'s rewrite, and one log row
    per rewritten record (id, naive prompt, rewrite, raw reply, fell back, tokens).

    ``optimizer`` is a FIPO optimizer of the registry (``rewrite_texts``); a reply that
    cleans to nothing falls back to the naive prompt, so the pair stays the stand-in.
    """
    index = [i for i, record in enumerate(records) if is_stand_in(record)]
    rewrites = optimizer.rewrite_texts([records[i].naive_prompt for i in index])
    out = list(records)
    log = []
    for i, rewrite in zip(index, rewrites, strict=True):
        out[i] = replace(records[i], chatgpt_optimized_prompt=rewrite.prompt)
        log.append(
            {
                "id": records[i].id,
                "naive_prompt": records[i].naive_prompt,
                "rejected_prompt": rewrite.prompt,
                "raw_output": rewrite.raw_output,
                "fell_back": rewrite.fell_back,
                "n_tokens": rewrite.n_tokens,
            }
        )
    return out, log


def rejected_from_profile(
    records: Sequence[PopRecord], profile: Mapping[str, Any], run_dir: str | Path
) -> tuple[list[PopRecord], dict[str, Any]]:
    """Apply the profile's ``diversify.rejected`` to ``records`` (notebook 01).

    Returns the records and what to record beside the diversified data (``type_mix.json``):
    the source and, for ``base_rewrite``, the model, the decoding and how many records were
    rewritten. The log is written to ``<run_dir>/rejected/base_rewrites.jsonl``.
    """
    from fipo_utils.inference.optimize_step import optimizer_context
    from fipo_utils.inference.registry import get_optimizer
    from fipo_utils.models.generators import decoding_params
    from fipo_utils.runs.settings import InferSettings, ModelsSettings

    source = rejected_source(profile)
    if source == "unchanged":
        return list(records), {"rejected": source}
    models = ModelsSettings.from_profile(profile)
    infer = InferSettings.from_profile(profile)
    params = decoding_params(infer)
    optimizer = get_optimizer("base", optimizer_context(None, models, infer, params))
    try:
        out, log = with_base_rejected(records, optimizer)
    finally:
        optimizer.close()
    write_atomic(Path(run_dir) / REWRITES_FILE, jsonl_text(log))
    provenance = {
        "rejected": source,
        "rejected_model": models.optimizer_base,
        "rejected_decoding": params.as_dict(),
        "n_rejected_rewritten": len(log),
        "n_rejected_fell_back": sum(row["fell_back"] for row in log),
    }
    return out, provenance
