"""The size of the option-letter bug: one tester's naive accuracy with the letter scorer as it
was before the fidelity fixes and as it is now, on the same items.

    python benchmarks/letter_scorer_fix.py --model gemma3-270m --benchmark piqa --items 200

Before the fixes (code at ``0960b07``, ``TransformersGenerator.option_logprobs``) an option
was scored as the best next-token log-probability of the first token of ``"A"`` and of
``" A"``, on a prompt tokenized without special tokens. For a SentencePiece tokenizer that is
``▁A`` (or a bare whitespace piece) and no BOS, neither of which the model sees in training.
Now (``fipo_utils.models.encoding.score_options``) the prompt is encoded as in training (BOS
once) and each option is the token the tokenizer produces for the letter after that prompt.

The "before" scorer is reproduced here in a few lines so both run in one process on the same
loaded model; the report gives both accuracies with Wilson intervals, the items on which the
two choose differently, and how often each picks "A" (a scorer that leans on one letter
scores the gold-letter base rate, whatever the prompt says).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _before_scores(model, tokenizer, prompt: str, letters: list[str]) -> list[float]:
    """0960b07's scorer: no special tokens, the first token of each spelling, best of both."""
    encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        logits = model(**encoded).logits[0, -1].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    scores = []
    for letter in letters:
        ids = {tokenizer(s, add_special_tokens=False).input_ids[0] for s in (letter, " " + letter)}
        scores.append(max(float(logprobs[i]) for i in ids))
    return scores


def measure(model_name: str, benchmark: str, n_items: int, fmt: str) -> dict:
    from statsmodels.stats.proportion import proportion_confint

    from benchmarks.run import machine_description
    from fipo_utils.data.benchmarks import LETTERS, load_benchmark, render_prompt
    from fipo_utils.data.template import wrap_prompt
    from fipo_utils.models.generators import make_generator

    items = load_benchmark(benchmark, n_items=n_items).items
    generator = make_generator(model_name, use_cache=False, batch_size=8, show_progress=False)
    model, tokenizer = generator.model, generator.tokenizer
    rows = []
    for item in items:
        letters = list(LETTERS[: len(item.options)])
        prompt = wrap_prompt(render_prompt(item, item.instruction), fmt, tokenizer)
        before = _before_scores(model, tokenizer, prompt, letters)
        after = generator.option_logprobs([prompt], letters)[0]
        pick = [letters[max(range(len(letters)), key=s.__getitem__)] for s in (before, after)]
        rows.append({"id": item.id, "gold": item.gold, "before": pick[0], "after": pick[1]})

    def summary(key: str) -> dict:
        correct = sum(r[key] == r["gold"] for r in rows)
        low, high = proportion_confint(correct, len(rows), method="wilson")
        share_a = sum(r[key] == "A" for r in rows) / len(rows)
        return {"correct": correct, "n": len(rows), "low": low, "high": high, "share_A": share_a}

    return {
        "measured": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "model": model_name,
        "benchmark": benchmark,
        "prompt_format": fmt,
        "gold_A": sum(r["gold"] == "A" for r in rows) / len(rows),
        "before": summary("before"),
        "after": summary("after"),
        "differ": sum(r["before"] != r["after"] for r in rows),
        "only_before_right": sum(r["before"] == r["gold"] != r["after"] for r in rows),
        "only_after_right": sum(r["after"] == r["gold"] != r["before"] for r in rows),
        "items": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--benchmark", default="piqa")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--format", default="raw", help="models.prompt_format")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    report = measure(args.model, args.benchmark, args.items, args.format)
    stamp = report["measured"].replace(":", "-").replace("+00-00", "Z")
    path = args.out / f"{stamp}-letter-scorer-fix.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    for key in ("before", "after"):
        s = report[key]
        print(
            f"{key:6s} {s['correct']}/{s['n']} = {s['correct'] / s['n']:.1%} "
            f"[{s['low']:.1%}, {s['high']:.1%}], answered A {s['share_A']:.0%}"
        )
    print(f"gold A {report['gold_A']:.0%}; choices differ on {report['differ']} items; {path}")


if __name__ == "__main__":
    main()
