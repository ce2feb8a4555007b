"""A look at a trained optimizer on prompts it never trained on, beside the base and the target.

Notebooks 02-04 end with this so a reader sees what training changed, not only a loss, and
can judge it the way the paper's case study does: the base model's rewrite, the trained
model's rewrite and the reference (the chosen GPT-4 prompt) of the same held-out naive prompt.
Rewriting a training row would show memorisation, not learning, so the prompts come from POP
records none of whose rows were in the trained slice. Inputs use the test-time template
variant (no responses), the profile's chat format, and greedy decoding with room for a full
rewrite (nothing is cut for display).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from fipo_utils.data.diversify import OPTIMIZER_CASES
from fipo_utils.runs.io import iter_jsonl, read_json, read_jsonl


def held_out_examples(
    run_dir: str | Path, trained_file: str | Path, n_trained: int | None, n: int = 3
) -> list[dict]:
    """``n`` naive prompts with their chosen rewrite from records the training never saw.

    ``trained_file`` is the data file the strategy read (``sft.json``, ``dpo.jsonl`` or
    ``ipl.jsonl``) and ``n_trained`` how many of its first rows it used (``None``: all).
    Candidates are the optimizer rows (case 0-5) of ``data/ipl.jsonl``, which carry the raw
    naive prompt; a record counts as seen when any trained row has its ``id``. Returns an
    empty list when every record was trained on (then there is nothing honest to preview),
    and when the run folder has no ``data/ipl.jsonl`` (notebook 08 run on its own trains the
    BPO rewriter without diversified POP data): the gate then reports the rewrite check as
    not measured rather than drawing prompts from elsewhere.
    """
    data_file = Path(run_dir) / "data" / "ipl.jsonl"
    if not data_file.is_file():
        return []
    seen = _row_ids(Path(trained_file), n_trained)
    examples = []
    for _, row in iter_jsonl(data_file, ("id", "case_type", "r_p", "chosen")):
        if row["case_type"] not in OPTIMIZER_CASES or row["id"] in seen:
            continue
        examples.append({"id": row["id"], "naive": row["r_p"], "reference": row["chosen"]})
        seen.add(row["id"])
        if len(examples) == n:
            break
    return examples


def _row_ids(path: Path, n_rows: int | None) -> set[str]:
    """The ``id`` of the first ``n_rows`` rows of a JSON list or JSONL data file."""
    rows = read_json(path) if path.suffix == ".json" else read_jsonl(path)
    return {str(r["id"]) for r in (rows if n_rows is None else rows[:n_rows])}


def preview_rewrites(
    models: dict[str, str | Path],
    examples: list[dict],
    *,
    prompt_format: str,
    template_path: str | None = None,
    max_new_tokens: int = 256,
) -> pd.DataFrame:
    """One row per held-out example: the naive prompt, one column per model, the reference.

    ``models`` maps a column name (e.g. ``"base model"``, ``"trained"``) to a model folder or
    name. The rewrites are :func:`heldout_rewrites`, so the preview shows the very rewrites
    the gate scored (the generation cache answers them) and costs nothing after the gate.
    """
    table = pd.DataFrame({"id": [e["id"] for e in examples]})
    table["naive prompt"] = [e["naive"] for e in examples]
    for column, model_dir in models.items():
        table[column] = heldout_rewrites(
            str(model_dir),
            examples,
            prompt_format=prompt_format,
            template_path=template_path,
            max_new_tokens=max_new_tokens,
        )
    table["reference (chosen)"] = [e["reference"] for e in examples]
    return table.set_index("id")


def heldout_rewrites(
    model_name: str,
    examples: Sequence[Mapping[str, str]],
    *,
    prompt_format: str,
    template_path: str | None,
    max_new_tokens: int,
) -> list[str]:
    """Greedy test-time rewrites (no responses in the template; the word limit ``G_N`` is the
    reference's word count, as at training time), through the generation cache, so the base
    model's rewrites are paid once for every strategy's gate and preview."""
    from fipo_utils.data.template import (
        count_words,
        load_template,
        render_optimizer_prompt,
        wrap_prompt,
    )
    from fipo_utils.models.generate import GenerationParams
    from fipo_utils.models.generators import make_generator

    template = load_template(template_path)
    generator = make_generator(model_name, show_progress=False)
    inputs = [
        wrap_prompt(
            render_optimizer_prompt(template, e["naive"], word_limit=count_words(e["reference"])),
            prompt_format,
            generator.tokenizer,
        )
        for e in examples
    ]
    outputs = generator.generate(inputs, GenerationParams(max_new_tokens=max_new_tokens))
    return [o.strip() for o in outputs]
