"""Multiple-choice scoring speed: the companion's continuation scorer against
lm-evaluation-harness on the same model, items and format, and with against without
shared prefixes on the companion's own evaluation prompts.

Rows (items/s, ratio = candidate / baseline):

- companion vs lm-eval, PiQA and MMLU in the harness's task formats, zero-shot (its
  defaults) and with the paper's few-shot examples (PiQA 3, MMLU 5 per subject)
  (``lmeval_agreement.py``; lm-eval in ``.venv-lmeval``, its wall time without model load,
  the companion's likewise); the same run checks that both chose the same option per item;
- prefix sharing vs one row per option, on the prompts notebook 06 scores (few-shot context,
  chat template, both conditions), where a benchmark's items share their few-shot context.

    python benchmarks/bench_evaluation.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmarks.harness import ratio_row  # noqa: E402

MODEL = "smollm2-135m-instruct"


def bench_against_lmeval(quick: bool) -> list[dict]:
    from lmeval_agreement import LMEVAL_PYTHON, agreement

    if not LMEVAL_PYTHON.exists():
        return [{"name": "companion vs lm-eval", "error": "no .venv-lmeval: make lmeval-env"}]
    rows = []
    # 5-shot MMLU contexts are ~7x the zero-shot ones: fewer items keep the run short
    for fewshot, counts in (
        (False, {"piqa": 24, "mmlu": 24} if quick else {"piqa": 100, "mmlu": 100}),
        (True, {"piqa": 12, "mmlu": 6} if quick else {"piqa": 100, "mmlu": 40}),
    ):
        with tempfile.TemporaryDirectory(prefix="fipo-bench-lmeval-") as work:
            report = agreement(MODEL, counts, Path(work), unshared=False, fewshot=fewshot)
        rows.extend(_lmeval_rows(report, counts, fewshot))
    return rows


def _lmeval_rows(report: dict, counts: dict[str, int], fewshot: bool) -> list[dict]:
    rows = []
    for name in ("piqa", "mmlu"):
        entry, n = report[name], counts[name]
        acc = entry["metrics"]["acc"]
        shots = f"{report['fewshot'][name]}-shot" if fewshot else "zero-shot"
        rows.append(
            ratio_row(
                f"multiple-choice scoring, {name} ({n} items, harness format {shots}, {MODEL})",
                "lm-eval 0.4.13 (HFLM, batch 8)",
                "companion continuation scorer (batch 8, prefixes shared)",
                "items/s",
                [entry["harness_items_per_s"]],
                [entry["companion_items_per_s"]],
                notes=f"item agreement (acc) {acc['item_agreement']:.3f}; accuracy "
                f"{acc['companion_accuracy']:.3f} vs {acc['harness_accuracy']:.3f}; contexts "
                f"identical {entry['contexts_identical']}/{n}",
            )
        )
    return rows


def bench_prefix_sharing(quick: bool) -> list[dict]:
    """The companion's own prompts: few-shot context shared by items and conditions."""
    from fipo_utils.data.benchmarks import load_benchmark, render_prompt
    from fipo_utils.data.template import wrap_prompt
    from fipo_utils.models.loading import resolve_model_path
    from fipo_utils.models.loglikelihood import ContinuationScorer
    from fipo_utils.models.pool import get_model

    loaded = get_model(resolve_model_path(MODEL))
    # unshared 5-shot MMLU runs ~900 tokens per option: fewer items keep the row affordable
    sizes = {"piqa": 8, "mmlu": 4} if quick else {"piqa": 40, "mmlu": 16}
    rows = []
    for name, n in sizes.items():
        items = load_benchmark(name, n, seed=2024).items
        requests = []
        for item in items:
            for instruction in (item.instruction, item.instruction + " Answer carefully."):
                prompt = wrap_prompt(
                    render_prompt(item, instruction), "chat_template", loaded.tokenizer
                )
                requests.extend((prompt, option) for option in item.options)
        seconds = {}
        tokens = {}
        for share in (False, True):
            scorer = ContinuationScorer(loaded.model, loaded.tokenizer, 8, share_prefix=share)
            start = time.perf_counter()
            scorer.score(requests)
            seconds[share] = time.perf_counter() - start
            tokens[share] = scorer.tokens_computed
        jobs = 2 * len(items)
        rows.append(
            ratio_row(
                f"continuation scoring with vs without prefix sharing, {name} "
                f"({len(items)} items x 2 conditions, few-shot chat prompts, {MODEL})",
                "one row per option",
                "shared few-shot prefix and item prompt",
                "items/s",
                [jobs / seconds[False]],
                [jobs / seconds[True]],
                notes=f"tokens through the model {tokens[False]} vs {tokens[True]}",
            )
        )
    return rows


def run(quick: bool) -> list[dict]:
    rows = bench_prefix_sharing(quick)
    try:
        rows.extend(bench_against_lmeval(quick))
    except Exception as error:  # noqa: BLE001 - keep the rows measured above
        rows.append({"name": "companion vs lm-eval", "error": f"{error}"[-500:]})
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    print(json.dumps(run(options.quick), indent=1))
