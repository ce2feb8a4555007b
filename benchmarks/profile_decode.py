"""Where a batch-32 decode spends its time on this CPU: the profile behind the batching
ratio (docs/performance.md, "Why batching falls short of 8x").

    python benchmarks/profile_decode.py [--new-tokens 32]

For one prompt, a static batch of 32 and transformers' continuous batching of the same 32
prompts (``batching: continuous``), it runs ``torch.profiler`` over one greedy generation
and reports the wall time, the time per decode step, the share of the operators that
dominate, and what one batch-32 step costs in one-row steps: the ceiling batching can reach
when every row decodes to the end. Writes ``benchmarks/results/<UTC time>-decode-profile
.{json,md}`` (not a suite report: the README table does not read it).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_generation import MODEL, prompts_for  # noqa: E402
from run import machine_description  # noqa: E402

from fipo_utils.models.generate import GenerationParams, TransformersGenerator  # noqa: E402
from fipo_utils.models.loading import load_model  # noqa: E402

TOP = 8


def profiled(generator: Any, prompts: list[str], params: GenerationParams) -> dict[str, Any]:
    """Wall time and the operators that took the most self CPU time in one generation."""
    import torch

    generator.generate(prompts[:1], params)  # warm-up outside the profile
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        outputs = generator.generate(prompts, params)
        seconds = time.perf_counter() - start
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:TOP]
    return {
        "rows": len(prompts),
        "seconds": seconds,
        "outputs": outputs,
        "operators": [
            {"name": e.key, "share": e.self_cpu_time_total / total, "calls": e.count} for e in top
        ],
    }


def step_seconds(generator: Any, prompts: list[str], new_tokens: int) -> float:
    """Seconds per decode step: generation at ``new_tokens`` minus generation at 1 (the
    prefill), over the extra steps. Rows that stop early would shorten it, so the prompts'
    end-of-sequence is not allowed to stop them here (``min_new_tokens``)."""
    import torch

    encoded = generator.tokenizer(prompts, return_tensors="pt", padding=True)
    times = {}
    for n in (1, new_tokens):
        with torch.inference_mode():
            start = time.perf_counter()
            generator.model.generate(
                **encoded,
                max_new_tokens=n,
                min_new_tokens=n,
                do_sample=False,
                pad_token_id=generator.tokenizer.pad_token_id,
            )
            times[n] = time.perf_counter() - start
    return (times[new_tokens] - times[1]) / (new_tokens - 1)


def main() -> None:
    from fipo_utils.models.generate_continuous import ContinuousGenerator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    loaded = load_model(MODEL)
    prompts = prompts_for(loaded.tokenizer, args.batch, mixed=True)
    params = GenerationParams(max_new_tokens=args.new_tokens)
    single = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=1)
    static = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=args.batch)
    continuous = ContinuousGenerator(loaded.model, loaded.tokenizer, batch_size=args.batch)
    step_one = step_seconds(single, prompts[:1], args.new_tokens)
    step_batch = step_seconds(static, prompts, args.new_tokens)
    runs = {
        "one prompt": profiled(single, prompts[:1], params),
        f"static batch {args.batch}": profiled(static, prompts, params),
        f"continuous batching, {args.batch} requests": profiled(continuous, prompts, params),
    }
    tokenizer = loaded.tokenizer
    for run in runs.values():
        tokens = sum(len(tokenizer(o, add_special_tokens=False).input_ids) for o in run["outputs"])
        run["generated_tokens"] = tokens
        run["tokens_per_s"] = tokens / run["seconds"]
        run["ended_early"] = sum(
            len(tokenizer(o, add_special_tokens=False).input_ids) < args.new_tokens
            for o in run.pop("outputs")
        )
    report = {
        "measured": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "model": MODEL,
        "new_tokens": args.new_tokens,
        "decode_step_seconds": {"batch 1": step_one, f"batch {args.batch}": step_batch},
        "batch_step_in_one_row_steps": step_batch / step_one,
        "ceiling_when_every_row_runs_to_the_end": args.batch * step_one / step_batch,
        "runs": runs,
    }
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    out = HERE / "results" / f"{stamp}-decode-profile"
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(to_markdown(report), encoding="utf-8")
    print(to_markdown(report))


def to_markdown(report: dict[str, Any]) -> str:
    steps = report["decode_step_seconds"]
    lines = [
        f"# Decode profile: {report['model']}, {report['new_tokens']} new tokens",
        "",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"flags {', '.join(f for f in report['machine'].get('cpu_flags', []) if 'avx' in f)}",
        "",
        "Decode step (every row forced to the end): "
        + ", ".join(f"{k} {1000 * v:.1f} ms" for k, v in steps.items())
        + f"; one batch step costs {report['batch_step_in_one_row_steps']:.1f} one-row steps, "
        f"so batching can reach at most {report['ceiling_when_every_row_runs_to_the_end']:.1f}x.",
        "",
        "| run | rows | seconds | tokens | tokens/s | rows ended early "
        "| top operators (self CPU share) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, run in report["runs"].items():
        ops = "; ".join(f"{o['name']} {100 * o['share']:.0f}%" for o in run["operators"][:5])
        lines.append(
            f"| {name} | {run['rows']} | {run['seconds']:.2f} | {run['generated_tokens']} | "
            f"{run['tokens_per_s']:.1f} | {run['ended_early']} | {ops} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
