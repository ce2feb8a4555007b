"""A look at a trained optimizer: rewrite a few naive prompts the way inference will.

Notebooks 02-04 end with this so a reader sees what training changed, not only a loss. The
prompts are rendered with the test-time template variant (no responses) and wrapped in the
profile's chat format, then decoded greedily.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def preview_rewrites(
    model_dir: str | Path,
    naive_prompts: list[str],
    *,
    prompt_format: str,
    template_path: str | None = None,
    max_new_tokens: int = 32,
) -> pd.DataFrame:
    """One row per prompt: the naive prompt and the model's rewrite of it."""
    from fipo_utils.data.template import (
        count_words,
        load_template,
        render_optimizer_prompt,
        wrap_prompt,
    )
    from fipo_utils.models.generate import GenerationParams, TransformersGenerator
    from fipo_utils.models.loading import load_model

    template = load_template(template_path)
    loaded = load_model(str(model_dir))
    inputs = [
        wrap_prompt(
            render_optimizer_prompt(template, p, word_limit=count_words(p) + 30),
            prompt_format,
            loaded.tokenizer,
        )
        for p in naive_prompts
    ]
    generator = TransformersGenerator(loaded.model, loaded.tokenizer)
    outputs = generator.generate(inputs, GenerationParams(max_new_tokens=max_new_tokens))
    return pd.DataFrame({"naive prompt": naive_prompts, "rewrite": [o.strip() for o in outputs]})


def sample_naive_prompts(run_dir: str | Path, n: int = 2) -> list[str]:
    """The first ``n`` raw prompts of the run's IPL data (the POP records' naive prompts)."""
    from fipo_utils.training.rows import read_jsonl_rows

    rows = read_jsonl_rows(Path(run_dir) / "data" / "ipl.jsonl", fields=("r_p",))
    seen: list[str] = []
    for row in rows:
        if row["r_p"] not in seen:
            seen.append(row["r_p"])
        if len(seen) == n:
            break
    return seen
