"""Training records made in code, in the schemas of docs/CONTRACTS.md (for the train tests)."""

from __future__ import annotations

import json
from pathlib import Path

from fipo_utils.data.template import (
    count_words,
    load_template,
    render_discriminator_prompt,
    render_instruction_prompt,
    render_optimizer_prompt,
    wrap_tulu,
)

CHOSEN = "A: the first option"
REJECTED = "B: the second option"


def sft_records(n: int) -> list[dict]:
    return [
        {
            "id": f"s{i}",
            "conversations": [
                {"role": "user", "value": wrap_tulu(f"Rewrite the prompt: how many apples {i}?")},
                {"role": "bot", "value": "Question: how many apples are left? The answer is 42."},
            ],
        }
        for i in range(n)
    ]


def preference_records(n: int) -> list[dict]:
    """A separable set: the same chosen and rejected answer after varied prompts."""
    return [
        {
            "id": f"p{i}",
            "prompt": wrap_tulu(f"Question {i}: pick an option."),
            "chosen": CHOSEN,
            "rejected": REJECTED,
        }
        for i in range(n)
    ]


def ipl_records(n_per_case: int = 1) -> list[dict]:
    """IPL rows of every case type 0-8 (0-5 optimizer, 6-7 instruction, 8 discrimination)."""
    template = load_template()
    rows = []
    for i in range(n_per_case):
        for case in range(9):
            mc = case in (1, 4, 6) or (case in (0, 3) and i % 2 == 0)
            options = "\nA: 42\nB: 41\nAnswer:" if mc else ""
            raw = f"How many apples are left in basket {i}?"
            s_p = raw + options
            golden = "A" if mc else "There are 42 apples left."
            chosen = f"Count the apples left in basket {i} and give the number."
            rejected = f"How many apples in basket {i}?"
            if case <= 5:
                text = render_optimizer_prompt(
                    template,
                    s_p,
                    silver_response="41" if case in (1, 2, 4, 5) else None,
                    golden_response=golden if case in (3, 4, 5) else None,
                    word_limit=count_words(chosen),
                )
            elif case in (6, 7):
                text = render_instruction_prompt(template, s_p, word_limit=count_words(golden))
                chosen, rejected = golden, "41"
            else:
                text = render_discriminator_prompt(template, raw, chosen, rejected, golden)
                chosen, rejected = "A", "B"
            rows.append(
                {
                    "id": f"i{i}-{case}",
                    "prompt": wrap_tulu(text),
                    "chosen": chosen,
                    "rejected": rejected,
                    "s_p": s_p,
                    "r_p": raw,
                    "g_r": golden,
                    "p_o": options,
                    "case_type": case,
                }
            )
    return rows


def write_run_data(run_dir: Path, n: int = 8, ipl_per_case: int = 1) -> Path:
    """A run folder with ``data/sft.json``, ``data/dpo.jsonl`` and ``data/ipl.jsonl``."""
    data = run_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "sft.json").write_text(json.dumps(sft_records(n)), encoding="utf-8")
    for name, rows in (
        ("dpo.jsonl", preference_records(n)),
        ("ipl.jsonl", ipl_records(ipl_per_case)),
    ):
        with (data / name).open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
    return run_dir
