"""Notebook 05 as one call: optimize every benchmark item's instruction and save it.

``infer.optimizer`` names one optimizer, a list of them, or ``all`` (see
:func:`optimizer_names`). Besides trained checkpoints and the untrained ``base`` model, two
optimizers need no FIPO training, so every table has them as reference points on the same
items: ``identity`` (the naive prompt as its own "optimization": the control, whose gain is 0
by construction) and ``bpo-style`` (the BPO-style rewriter of
:mod:`fipo_utils.inference.rewriters`, driven by ``infer.rewriter`` or the optimizer base).

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
from fipo_utils.inference.optimize import (
    STRATEGY_ORDER,
    WordLimit,
    optimize_prompts,
    resolve_optimizer,
)
from fipo_utils.inference.rewriters import rewrite_outputs
from fipo_utils.models.generate import GenerationParams
from fipo_utils.runs.safe_write import write_jsonl_preserving, write_text_preserving

# Optimizers that are not checkpoints of the run, and what each stands for.
REFERENCE_OPTIMIZERS = {
    "identity": "the naive prompt unchanged (control)",
    "base": "the untrained optimizer base model with the FIPO template",
    "bpo-style": "the BPO-style rewriter (fixed expert-prompt-engineer request)",
}


def generation_params(settings: dict[str, Any], seed: int = 2024) -> GenerationParams:
    return GenerationParams(
        max_new_tokens=int(settings["max_new_tokens"]),
        temperature=float(settings.get("temperature") or 0.0),
        top_p=float(settings.get("top_p") or 1.0),
        seed=int(settings.get("seed") or seed),
    )


def trained_optimizers(run_dir: str | Path) -> list[str]:
    """The run's trained optimizers (``checkpoints/<name>/final``), in ``STRATEGY_ORDER``
    reversed (sft, dpo, ipo, ipl), then by name."""
    root = Path(run_dir) / "checkpoints"
    names = [p.parent.name for p in root.glob("*/final") if (p / "config.json").is_file()]
    rank = {strategy: i for i, strategy in enumerate(reversed(STRATEGY_ORDER))}
    return sorted(names, key=lambda n: (rank.get(n.split("-", 1)[0], len(rank)), n))


def optimizer_names(run_dir: str | Path, spec: str | list[str]) -> list[str]:
    """The optimizers a setting names: ``all`` = identity, base, every trained checkpoint,
    bpo-style; a list as given; one name (``auto`` included) as a one-item list."""
    if isinstance(spec, list | tuple):
        return [str(name) for name in spec]
    if spec == "all":
        return ["identity", "base", *trained_optimizers(run_dir), "bpo-style"]
    return [spec]


def run_optimizer_inference(
    run_dir: str | Path, profile: dict[str, Any], settings: dict[str, Any]
) -> dict[str, Any]:
    """Optimize the instructions of the profile's benchmarks with every optimizer the settings
    name; returns what the notebook shows. For several optimizers ``optimizer`` is one label
    (``all`` or the names joined by ``-``), ``summary`` stacks their tables and ``out_dir`` is
    ``optimized/`` (every optimizer's folder under it)."""
    spec = settings["optimizer"]
    outs = [_run_one(run_dir, profile, settings, name) for name in optimizer_names(run_dir, spec)]
    if len(outs) == 1:
        return outs[0]
    # several: one label usable in file names, every optimizer's source, all folders
    return {
        "optimizer": spec if isinstance(spec, str) else "-".join(o["optimizer"] for o in outs),
        "source": "; ".join(f"{o['optimizer']}: {o['source']}" for o in outs),
        "summary": pd.concat(
            [o["summary"].assign(optimizer=o["optimizer"]) for o in outs], ignore_index=True
        ),
        "missing": sorted({m for o in outs for m in o["missing"]}),
        "cache": {o["optimizer"]: str(o["cache"]) for o in outs},
        "out_dir": Path(run_dir) / "optimized",
    }


def _run_one(
    run_dir: str | Path, profile: dict[str, Any], settings: dict[str, Any], spec: str
) -> dict[str, Any]:
    from fipo_utils.models.generators import generator_from_settings

    run_dir = Path(run_dir)
    models = profile["models"]
    loaded, missing = load_benchmarks(
        settings["benchmarks"], settings.get("n_items"), seed=settings.get("sample_seed")
    )
    items = [item for bench in loaded.values() for item in bench.items]
    naive = [item.instruction for item in items]
    fmt = models.get("prompt_format", "chat_template")
    params = generation_params(settings, profile.get("seed", 2024))
    stats: Any = "no model"
    # (prompt, raw output, fell back, word limit, tokens the optimizer generated)
    if spec == "identity":
        name, source = "identity", REFERENCE_OPTIMIZERS["identity"]
        results = [(text, "", False, None, 0) for text in naive]
    elif spec == "bpo-style":
        name = "bpo-style"
        source = settings.get("rewriter") or models["optimizer_base"]
        generator = generator_from_settings(source, settings, models)
        found = rewrite_outputs(generator, naive, fmt=fmt, params=params)
        results = [
            (new, raw, new == old, None, _n_tokens(generator, raw))
            for (new, raw), old in zip(found, naive, strict=True)
        ]
        generator.close()
        stats = generator.stats
    else:
        name, source = resolve_optimizer(run_dir, spec, models["optimizer_base"])
        generator = generator_from_settings(source, settings, models)
        found = optimize_prompts(
            generator,
            naive,
            template=load_template(settings.get("template")),
            fmt=fmt,
            params=params,
            word_limit=WordLimit(**(settings.get("word_limit") or {})),
        )
        results = [
            (r.prompt, r.raw_output, r.fell_back, r.word_limit, _n_tokens(generator, r.raw_output))
            for r in found
        ]
        generator.close()
        stats = generator.stats
    out_dir = run_dir / "optimized" / name
    rows = []
    by_benchmark: dict[str, list[dict[str, Any]]] = {}
    for item, (prompt, raw_output, fell_back, word_limit, n_tokens) in zip(
        items, results, strict=True
    ):
        audit = audit_prompt(item, prompt, word_limit)
        record = {
            "id": item.id,
            "benchmark": item.benchmark,
            "optimizer": name,
            "naive_instruction": item.instruction,
            "optimized_instruction": prompt,
            "raw_output": raw_output,
            "cheating_note": audit["gold_leaked"],
            "fell_back": fell_back,
            "word_limit": word_limit,
            # the rewrite used the whole token budget: it was probably cut off mid-prompt
            "cut_at_max_new_tokens": n_tokens >= params.max_new_tokens,
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
        "cache": str(stats),
        "per_benchmark": rows,
    }
    write_text_preserving(out_dir / "summary.json", json.dumps(info, indent=2, default=str) + "\n")
    return {
        "optimizer": name,
        "source": source,
        "summary": summary,
        "missing": missing,
        "cache": stats,
        "out_dir": out_dir,
    }


def _n_tokens(generator: Any, text: str) -> int:
    """How many tokens the optimizer generated for ``text`` (to spot outputs cut off)."""
    return len(generator.tokenizer(text, add_special_tokens=False).input_ids)
