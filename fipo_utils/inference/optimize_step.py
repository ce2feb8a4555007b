"""Notebook 05 as one call: optimize every benchmark item's instruction and save it.

Writes ``optimized/<optimizer>/<benchmark>.jsonl`` (one record per item, docs/CONTRACTS.md,
plus ``fell_back``, ``word_limit``, ``cut_at_max_new_tokens`` and the prompt's ``audit``, see
:mod:`fipo_utils.inference.audit`) and ``optimized/<optimizer>/summary.json`` (the optimizer's
source, the settings, missing benchmarks, fallback, cheating-note and cut-off counts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from fipo_utils.data.benchmarks import load_benchmarks
from fipo_utils.data.template import load_template
from fipo_utils.inference.audit import audit_prompt
from fipo_utils.inference.optimize import WordLimit, optimize_prompts, resolve_optimizer
from fipo_utils.models.generate import GenerationParams
from fipo_utils.runs.safe_write import write_jsonl_preserving, write_text_preserving


def generation_params(settings: dict[str, Any], seed: int = 2024) -> GenerationParams:
    return GenerationParams(
        max_new_tokens=int(settings["max_new_tokens"]),
        temperature=float(settings.get("temperature") or 0.0),
        top_p=float(settings.get("top_p") or 1.0),
        seed=int(settings.get("seed") or seed),
    )


def run_optimizer_inference(
    run_dir: str | Path, profile: dict[str, Any], settings: dict[str, Any]
) -> dict[str, Any]:
    """Optimize the instructions of the profile's benchmarks; returns what the notebook shows."""
    from fipo_utils.models.generators import generator_from_settings

    run_dir = Path(run_dir)
    models = profile["models"]
    name, source = resolve_optimizer(run_dir, settings["optimizer"], models["optimizer_base"])
    loaded, missing = load_benchmarks(
        settings["benchmarks"], settings.get("n_items"), seed=settings.get("sample_seed")
    )
    generator = generator_from_settings(source, settings, models)
    items = [item for bench in loaded.values() for item in bench.items]
    results = optimize_prompts(
        generator,
        [item.instruction for item in items],
        template=load_template(settings.get("template")),
        fmt=models.get("prompt_format", "chat_template"),
        params=generation_params(settings, profile.get("seed", 2024)),
        word_limit=WordLimit(**(settings.get("word_limit") or {})),
    )
    tokenizer = generator.tokenizer
    output_tokens = [
        len(tokenizer(r.raw_output, add_special_tokens=False).input_ids) for r in results
    ]
    generator.close()
    out_dir = run_dir / "optimized" / name
    rows = []
    by_benchmark: dict[str, list[dict[str, Any]]] = {}
    budget = generation_params(settings, profile.get("seed", 2024)).max_new_tokens
    for item, result, n_tokens in zip(items, results, output_tokens, strict=True):
        audit = audit_prompt(item, result.prompt, result.word_limit)
        record = {
            "id": item.id,
            "benchmark": item.benchmark,
            "optimizer": name,
            "naive_instruction": item.instruction,
            "optimized_instruction": result.prompt,
            "raw_output": result.raw_output,
            "cheating_note": audit["gold_leaked"],
            "fell_back": result.fell_back,
            "word_limit": result.word_limit,
            # the rewrite used the whole token budget: it was probably cut off mid-prompt
            "cut_at_max_new_tokens": n_tokens >= budget,
            "audit": audit,
        }
        by_benchmark.setdefault(item.benchmark, []).append(record)
    for benchmark, records in by_benchmark.items():
        write_jsonl_preserving(out_dir / f"{benchmark}.jsonl", records)
        rows.append(
            {
                "benchmark": benchmark,
                "n_items": len(records),
                "fell_back": sum(r["fell_back"] for r in records),
                "cheating_notes": sum(r["cheating_note"] for r in records),
                "cut_at_max_new_tokens": sum(r["cut_at_max_new_tokens"] for r in records),
                "source": loaded[benchmark].source,
            }
        )
    summary = pd.DataFrame(rows)
    info = {
        "optimizer": name,
        "optimizer_source": source,
        "settings": settings,
        "missing": missing,
        "cache": str(generator.stats),
        "per_benchmark": rows,
    }
    write_text_preserving(out_dir / "summary.json", json.dumps(info, indent=2, default=str) + "\n")
    return {
        "optimizer": name,
        "source": source,
        "summary": summary,
        "missing": missing,
        "cache": generator.stats,
        "out_dir": out_dir,
    }
