"""Dataset diversification (the paper's): POP records -> SFT, DPO and IPL training rows.

No model is involved: each record is randomly turned into a two-option multiple-choice item
or kept as generation, rendered with one of four template variants (no response, silver,
golden, both), and gets one extra IPL row (instruction following or discrimination).

Two modes share one random stream, drawn in the original script's order, so a record gets
the same choices in both:

- ``faithful`` reproduces the original script's rows byte for byte (seed 2024 and the
  original ``prompts.json``): chained ``str.replace`` rendering, case types read off the
  golden answer, and its quirks (a prompt containing a slot name is corrupted; in about 20%
  of multiple-choice instruction rows chosen == rejected).
- ``fixed`` (default) differs in exactly four ways: (1) slots are filled in one pass over the
  template, so inserted text is never rewritten; (2) a multiple-choice instruction row whose
  silver letter equals the golden letter (the 0.2 draw) gets the other option's letter as its
  rejected answer, the answer a wrong responder gives, instead of a zero-gradient pair;
  (3) any other row with chosen == rejected (e.g. a POP record with two identical optimized
  prompts) is dropped from DPO and IPL and counted; (4) the multiple-choice case types
  (1, 4, 6) come from the conversion draw rather than from "the golden answer is A or B",
  which misfiled a generation record whose golden response is literally "A".

Variants (ablations of the paper's Table 6) keep the same random stream too, so each record
keeps its template variant and extra-row type across variants:

- ``full``: the paper's data.
- ``gen``: no multiple-choice conversion (the draw is made and ignored); cases 0, 2, 3, 5, 7, 8.
- ``partial``: only the template variants without the silver response: "silver" becomes
  "none" and "silver+golden" becomes "golden", so the main rows are half case 0, half case 3.
  This removes the response diversity the modular template adds on top of the plain test-time
  form and the usual reference-answer form (the paper's modular template: "training keeps responses
  diversely"), the ingredient the ablation is meant to isolate.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fipo_utils.data.pop import PopRecord
from fipo_utils.data.template import (
    Template,
    count_words,
    load_template,
    optimizer_skeleton,
    render_discriminator_prompt,
    render_instruction_prompt,
    render_optimizer_prompt,
    substitute_sequential,
    wrap_tulu,
)

MODES = ("fixed", "faithful")
VARIANTS = ("full", "gen", "partial")
MAIN_CASES = (0, 1, 2, 3, 4, 5)
EXTRA_CASES = (6, 7, 8)
# rows that train the optimizer proper: naive prompt in, optimized prompt out
OPTIMIZER_CASES = frozenset(MAIN_CASES)
CASE_NAMES = {
    0: "no response",
    1: "silver, multiple choice",
    2: "silver, generation",
    3: "golden",
    4: "silver+golden, multiple choice",
    5: "silver+golden, generation",
    6: "instruction following, multiple choice",
    7: "instruction following, generation",
    8: "discrimination",
}
OUTPUT_FILES = ("sft.json", "dpo.jsonl", "ipl.jsonl", "type_mix.json")

# partial: the silver-response variants fall back to the same variant without the silver block.
_PARTIAL_VARIANT = {0: 0, 1: 0, 2: 2, 3: 2}


@dataclass(frozen=True)
class RecordDraws:
    """The random choices for one record, drawn in the original script's order."""

    multiple_choice: bool
    silver_first: bool  # options are "A: silver, B: golden"
    silver_says_golden: bool  # the 0.2 draw: the silver letter equals the golden letter
    template_variant: int  # 0 none, 1 silver, 2 golden, 3 both
    extra_kind: int  # 4 instruction following, 5 discrimination
    chosen_in_b: bool  # discrimination: the GPT-4 prompt sits in slot B


def draw_record(rng: random.Random) -> RecordDraws:
    """Consume exactly the draws the original made for one record (same calls, same order)."""
    multiple_choice = rng.uniform(0, 1) <= 0.5
    silver_first = silver_says_golden = False
    if multiple_choice:
        silver_first = rng.uniform(0, 1) <= 0.5
        silver_says_golden = rng.uniform(0, 1) <= 0.2
    template_variant = rng.choice([0, 1, 2, 3])
    extra_kind = rng.choice([4, 5])
    chosen_in_b = rng.uniform(0, 1) <= 0.5 if extra_kind == 5 else False
    return RecordDraws(
        multiple_choice, silver_first, silver_says_golden, template_variant, extra_kind, chosen_in_b
    )


@dataclass
class DiversifiedData:
    """The three training sets and a summary of what was made."""

    sft: list[dict[str, Any]]
    dpo: list[dict[str, Any]]
    ipl: list[dict[str, Any]]
    summary: dict[str, Any]


def expected_shares(variant: str = "full") -> dict[str, dict[int, float]]:
    """The case-type shares the draws imply, among main and among extra IPL rows."""
    extra = {6: 0.25, 7: 0.25, 8: 0.5} if variant != "gen" else {7: 0.5, 8: 0.5}
    if variant == "full":
        main = {0: 0.25, 1: 0.125, 2: 0.125, 3: 0.25, 4: 0.125, 5: 0.125}
    elif variant == "gen":
        main = {0: 0.25, 2: 0.25, 3: 0.25, 5: 0.25}
    elif variant == "partial":
        main = {0: 0.5, 3: 0.5}
    else:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    return {"main": main, "extra": extra}


def diversify_pop(
    records: Iterable[PopRecord],
    *,
    seed: int = 2024,
    template: Template | None = None,
    mode: str = "fixed",
    variant: str = "full",
) -> DiversifiedData:
    """Turn POP records into SFT, DPO and IPL rows (see the module docstring for modes/variants).

    ``template=None`` uses the project's default template; pass the original ``prompts.json``
    (:func:`fipo_utils.data.template.load_template`) to train a model that matches the paper's.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    template = template or load_template()
    rng = random.Random(seed)
    sft: list[dict[str, Any]] = []
    dpo: list[dict[str, Any]] = []
    ipl: list[dict[str, Any]] = []
    stats: Counter[str] = Counter()
    n_records = 0
    for record in records:
        n_records += 1
        main_row, extra_row, relabelled = _rows_for_record(
            record, draw_record(rng), template, mode, variant
        )
        stats["relabelled"] += relabelled
        sft.append(
            {
                "id": record.id,
                "conversations": [
                    {"role": "user", "value": main_row["prompt"]},
                    {"role": "bot", "value": main_row["chosen"]},
                ],
            }
        )
        for row in (main_row, extra_row):
            if mode == "fixed" and row["chosen"] == row["rejected"]:
                stats["dropped"] += 1
                continue
            if row is main_row:
                dpo.append({key: row[key] for key in ("id", "prompt", "rejected", "chosen")})
            ipl.append(row)
    summary = summarize(ipl, variant=variant)
    summary.update(
        seed=seed,
        mode=mode,
        variant=variant,
        n_records=n_records,
        rows={"sft": len(sft), "dpo": len(dpo), "ipl": len(ipl)},
        dropped_chosen_equals_rejected=stats["dropped"],
        relabelled_instruction_rows=stats["relabelled"],
    )
    return DiversifiedData(sft, dpo, ipl, summary)


def _rows_for_record(
    record: PopRecord, draws: RecordDraws, template: Template, mode: str, variant: str
) -> tuple[dict[str, Any], dict[str, Any], int]:
    faithful = mode == "faithful"
    multiple_choice = draws.multiple_choice and variant != "gen"
    golden, silver = record.golden_response, record.silver_response
    options = ""
    if multiple_choice:
        if draws.silver_first:
            options = f"\nA: {silver}\nB: {golden}\nAnswer:"
            golden, silver = "B", "A"
        else:
            options = f"\nA: {golden}\nB: {silver}\nAnswer:"
            golden, silver = "A", "B"
        if draws.silver_says_golden:
            silver = golden
    prompt = record.raw_prompt + options
    # The original decided "multiple choice" by looking at the golden answer.
    is_mc = golden in ("A", "B") if faithful else multiple_choice

    shown = draws.template_variant
    if variant == "partial":
        shown = _PARTIAL_VARIANT[shown]
    with_silver, with_golden = shown in (1, 3), shown in (2, 3)
    case = {0: 0, 1: 1 if is_mc else 2, 2: 3, 3: 4 if is_mc else 5}[shown]
    chosen, rejected = record.chosen_prompt, record.rejected_prompt
    limit = count_words(chosen)
    if faithful:
        skeleton = optimizer_skeleton(template, with_silver=with_silver, with_golden=with_golden)
        text = substitute_sequential(
            skeleton, [("S_P", prompt), ("S_R", silver), ("G_R", golden), ("G_N", str(limit))]
        )
    else:
        text = render_optimizer_prompt(
            template,
            prompt,
            silver_response=silver if with_silver else None,
            golden_response=golden if with_golden else None,
            word_limit=limit,
        )
    shared = {"s_p": prompt, "r_p": record.raw_prompt, "g_r": golden, "p_o": options}
    main_row = {"id": record.id, "prompt": wrap_tulu(text), "rejected": rejected, "chosen": chosen}
    main_row.update(shared, case_type=case)

    relabelled = 0
    if draws.extra_kind == 4:
        chosen, rejected = golden, silver
        if not faithful and multiple_choice and rejected == chosen:
            rejected = "B" if chosen == "A" else "A"
            relabelled = 1
        case = 6 if is_mc else 7
        limit = count_words(chosen)
        if faithful:
            # The original formatted the question in, then re-scanned it for every slot.
            text = substitute_sequential(
                template.instruction,
                [("R_P", prompt), ("R_P", prompt), ("P_A", ""), ("P_B", "")]
                + [("G_R", golden), ("G_N", str(limit))],
            )
        else:
            text = render_instruction_prompt(template, prompt, word_limit=limit)
    else:
        first, second = record.chosen_prompt, record.rejected_prompt
        if draws.chosen_in_b:
            first, second, chosen, rejected = second, first, "B", "A"
        else:
            chosen, rejected = "A", "B"
        case = 8
        limit = count_words(chosen)
        if faithful:
            text = substitute_sequential(
                template.discriminator,
                [("R_P", prompt), ("P_A", first), ("P_B", second), ("G_R", golden)]
                + [("G_N", str(limit))],
            )
        else:
            text = render_discriminator_prompt(
                template, prompt, first, second, golden, word_limit=limit
            )
    extra_row = {"id": record.id, "prompt": wrap_tulu(text), "rejected": rejected, "chosen": chosen}
    extra_row.update(shared, case_type=case)
    return main_row, extra_row, relabelled


def summarize(ipl_rows: Iterable[dict[str, Any]], *, variant: str = "full") -> dict[str, Any]:
    """Counts and shares of case types, main rows (0-5) and extra rows (6-8) separately."""
    counts = Counter(row["case_type"] for row in ipl_rows)
    summary: dict[str, Any] = {"counts": {}, "shares": {}, "expected_shares": {}}
    expected = expected_shares(variant)
    for group, cases in (("main", MAIN_CASES), ("extra", EXTRA_CASES)):
        total = sum(counts[case] for case in cases)
        summary["counts"][group] = {str(case): counts[case] for case in cases}
        summary["shares"][group] = {
            str(case): (counts[case] / total if total else 0.0) for case in cases
        }
        summary["expected_shares"][group] = {
            str(case): expected[group].get(case, 0.0) for case in cases
        }
    summary["case_names"] = {str(case): name for case, name in CASE_NAMES.items()}
    return summary


def records_fingerprint(records: Iterable[PopRecord]) -> str:
    """SHA-256 over the records' JSON, so a run folder can tell which input it was made from."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record.to_dict(), sort_keys=True).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def write_diversified(data: DiversifiedData, out_dir: str | Path) -> Path:
    """Write ``sft.json``, ``dpo.jsonl``, ``ipl.jsonl`` and ``type_mix.json`` atomically.

    The files are written as the original did (``json.dumps`` defaults, one row a line;
    ``sft.json`` with ``indent=2``) into a temporary sibling folder that is renamed to
    ``out_dir`` at the end, so a crash leaves no half-written output. An existing non-empty
    ``out_dir`` is never overwritten.
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not empty; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        with (staging / "dpo.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in data.dpo)
        with (staging / "ipl.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in data.ipl)
        with (staging / "sft.json").open("w", encoding="utf-8") as handle:
            json.dump(data.sft, handle, indent=2)
        with (staging / "type_mix.json").open("w", encoding="utf-8") as handle:
            json.dump(data.summary, handle, indent=2)
        staging.chmod(0o755)
        os.rename(staging, out)  # replaces an empty out_dir; fails rather than merge
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def diversify_to_dir(
    records: list[PopRecord],
    out_dir: str | Path,
    *,
    seed: int = 2024,
    template: Template | None = None,
    template_name: str = "default",
    mode: str = "fixed",
    variant: str = "full",
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Diversify ``records`` into ``out_dir`` and return the summary, resuming if already done.

    If ``out_dir`` already holds outputs made from the same input and settings, they are kept
    and their summary returned (a re-run chain pays nothing); different settings raise rather
    than overwrite. ``provenance`` (where the rejected prompts came from, see
    ``fipo_utils.inference.base_rejected``) is recorded and compared with the settings.
    """
    settings = {
        "input_sha256": records_fingerprint(records),
        "template": template_name,
        "seed": seed,
        "mode": mode,
        "variant": variant,
        **(provenance or {}),
    }
    summary_path = Path(out_dir) / "type_mix.json"
    if summary_path.is_file():
        existing = json.loads(summary_path.read_text(encoding="utf-8"))
        if all(existing.get(key) == value for key, value in settings.items()):
            return existing
        raise FileExistsError(
            f"{out_dir} holds diversified data made with other settings "
            f"({ {k: existing.get(k) for k in settings} }); use a new run folder"
        )
    data = diversify_pop(records, seed=seed, template=template, mode=mode, variant=variant)
    data.summary.update(settings)
    write_diversified(data, out_dir)
    return data.summary
