"""Notebook 05 as one call: optimize every benchmark item's instruction and save it.

``infer.optimizer`` names one optimizer, a list of them, or ``all`` (see
:func:`fipo_utils.inference.registry.expand_optimizer_spec`); every name is resolved by the
optimizer registry. Besides trained checkpoints and the untrained ``base`` model, two
optimizers need no FIPO training, so every table has them as reference points on the same
items: ``identity`` (the naive prompt as its own "optimization": the control, whose gain is 0
by construction) and ``bpo-style`` (the BPO-style rewriter of
:mod:`fipo_utils.inference.rewriters`, driven by ``infer.rewriter`` or the optimizer base).

Writes ``optimized/<optimizer>/<benchmark>.jsonl`` (one record per item, docs/CONTRACTS.md,
plus ``fell_back``, ``word_limit``, ``cut_at_max_new_tokens``, the prompt's ``audit``, see
:mod:`fipo_utils.inference.audit`, and its ``validity``, see
:mod:`fipo_utils.inference.validity`) and ``optimized/<optimizer>/summary.json`` (the
optimizer's source, the settings, missing benchmarks, fallback, cheating-note, cut-off and
invalid counts).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from fipo_utils.data.benchmarks import BenchmarkItem, load_benchmarks
from fipo_utils.data.template import Template, load_template
from fipo_utils.inference.audit import audit_prompt
from fipo_utils.inference.optimize import WordLimit
from fipo_utils.inference.registry import (
    OptimizerContext,
    PromptOptimizer,
    Rewrite,
    expand_optimizer_spec,
    get_optimizer,
)
from fipo_utils.inference.rewrite_table import read_rewrite_table
from fipo_utils.inference.validity import BASE_OPTIMIZER, rewrite_validity
from fipo_utils.models.generate import GenerationParams
from fipo_utils.models.generators import decoding_params, describe_engine
from fipo_utils.runs.names import inside_run
from fipo_utils.runs.records import RewriteRecord, write_rewrites
from fipo_utils.runs.safe_write import write_text_preserving
from fipo_utils.runs.settings import BaselinesSettings, InferSettings, ModelsSettings
from fipo_utils.training.gate import refresh_differ_shares


def optimizer_context(
    run_dir: str | Path | None,
    models: ModelsSettings,
    settings: InferSettings | BaselinesSettings,
    params: GenerationParams,
    **fields: Any,
) -> OptimizerContext:
    """What a step gives the optimizers it builds: the profile's models, FIPO decoding
    ``params``, the section's template, word limit and rewriter, and generators opened with
    the section's backend settings. ``fields`` set the rest (BPO decoding, resources)."""
    from fipo_utils.models.generators import generator_from_settings

    return OptimizerContext(
        run_dir=Path(run_dir) if run_dir is not None else None,
        base_model=models.optimizer_base,
        prompt_format=models.prompt_format,
        params=params,
        open_generator=lambda model: generator_from_settings(model, settings, models),
        template=load_template(settings.template),
        word_limit=WordLimit(**settings.word_limit),
        rewriter_model=settings.rewriter,
        # 05's switches; the baselines rewrite as 05's defaults
        keep_options=not isinstance(settings, InferSettings) or settings.keep_options,
        stop_at_labels=not isinstance(settings, InferSettings) or settings.stop_at_labels,
        **fields,
    )


def run_optimizer_inference(
    run_dir: str | Path, profile: dict[str, Any], settings: InferSettings | Mapping[str, Any]
) -> dict[str, Any]:
    """Optimize the instructions of the profile's benchmarks with every optimizer the settings
    name; returns what the notebook shows. For several optimizers ``optimizer`` is one label
    (``all`` or the names joined by ``-``), ``summary`` stacks their tables and ``out_dir`` is
    ``optimized/`` (every optimizer's folder under it)."""
    infer = InferSettings.of(profile, settings)
    # summary.json records the settings as the step was given them
    given = dict(settings) if isinstance(settings, Mapping) else asdict(infer)
    spec = infer.optimizer
    names = expand_optimizer_spec(run_dir, spec)
    outs = [_run_one(run_dir, profile, infer, given, name) for name in names]
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
        "engine": {o["optimizer"]: o["engine"] for o in outs},
        "out_dir": Path(run_dir) / "optimized",
    }


def _run_one(
    run_dir: str | Path,
    profile: Mapping[str, Any],
    settings: InferSettings,
    given: dict[str, Any],
    spec: str,
) -> dict[str, Any]:
    run_dir = Path(run_dir)
    loaded, missing = load_benchmarks(
        list(settings.benchmarks), settings.n_items, seed=settings.sample_seed
    )
    items = [item for bench in loaded.values() for item in bench.items]
    context = optimizer_context(
        run_dir, ModelsSettings.from_profile(profile), settings, decoding_params(settings)
    )
    optimizer = get_optimizer(spec, context)
    try:
        rewrites = optimizer.rewrite(items)
        # the engine it ran on (a vLLM server's version, arguments, CPU flags); no model: None
        generator = optimizer.generator
        engine = describe_engine(generator) if generator is not None else None
    finally:
        # also on an error or Ctrl-C: a vLLM engine or server must not outlive the step
        optimizer.close()
    # the generation cache's hit counts; identity uses no model
    stats: Any = getattr(optimizer.generator, "stats", "no model")
    max_new_tokens = context.params.max_new_tokens
    out_dir = inside_run(run_dir, "optimized", optimizer.name, parameter="optimizer")
    base = {} if optimizer.name == BASE_OPTIMIZER else base_rewrites(run_dir)
    by_benchmark: dict[str, list[RewriteRecord]] = {}
    for item, rewrite in zip(items, rewrites, strict=True):
        record = validated_record(
            item,
            optimizer,
            rewrite,
            max_new_tokens,
            context.template,
            base_rewrite=base.get((item.benchmark, item.id)),
        )
        by_benchmark.setdefault(item.benchmark, []).append(record)
    rows = []
    for benchmark, records in by_benchmark.items():
        write_rewrites(out_dir / f"{benchmark}.jsonl", records)
        rows.append(
            {
                "benchmark": benchmark,
                "n_items": len(records),
                "fell_back": sum(r.fell_back for r in records),
                "cheating_notes": sum(r.cheating_note for r in records),
                "cut_at_max_new_tokens": sum(r.cut_at_max_new_tokens for r in records),
                "invalid": sum(not (r.validity or {}).get("valid", True) for r in records),
                "source": loaded[benchmark].source,
            }
        )
    summary = pd.DataFrame(rows)
    info = {
        "optimizer": optimizer.name,
        "optimizer_source": optimizer.source,
        "settings": given,
        "missing": missing,
        "cache": str(stats),
        "engine": engine,
        "per_benchmark": rows,
    }
    write_text_preserving(out_dir / "summary.json", json.dumps(info, indent=2, default=str) + "\n")
    # the gates' last check: do the trained optimizers' rewrites differ from the base's?
    refresh_differ_shares(run_dir, dict(profile))
    return {
        "optimizer": optimizer.name,
        "source": optimizer.source,
        "summary": summary,
        "missing": missing,
        "cache": stats,
        "engine": engine,
        "out_dir": out_dir,
    }


def base_rewrites(run_dir: Path) -> dict[tuple[str, str], str]:
    """The untrained base's rewrites the run holds, by (benchmark, id); none before 05 ran
    the base."""
    table = read_rewrite_table(run_dir / "optimized" / BASE_OPTIMIZER)
    return {(r.benchmark, r.id): r.optimized_instruction for r in table.itertuples()}


def validated_record(
    item: BenchmarkItem,
    optimizer: PromptOptimizer,
    rewrite: Rewrite,
    max_new_tokens: int,
    template: Template | None,
    base_rewrite: str | None = None,
) -> RewriteRecord:
    """The record notebook 05 writes for one rewrite: its validity checked against the item
    and the base's rewrite of it, where there is one (:mod:`fipo_utils.inference.validity`),
    and its audit (:mod:`fipo_utils.inference.audit`)."""
    validity = rewrite_validity(
        item,
        item.instruction,
        rewrite.prompt,
        fell_back=rewrite.fell_back,
        n_tokens=rewrite.n_tokens,
        max_new_tokens=max_new_tokens,
        base_rewrite=base_rewrite,
        template=template,
    )
    audit = audit_prompt(item, rewrite.prompt, rewrite.word_limit)
    return RewriteRecord(
        id=item.id,
        benchmark=item.benchmark,
        optimizer=optimizer.name,
        naive_instruction=item.instruction,
        optimized_instruction=rewrite.prompt,
        raw_output=rewrite.raw_output,
        cheating_note=audit["gold_leaked"],
        fell_back=rewrite.fell_back,
        word_limit=rewrite.word_limit,
        cut_at_max_new_tokens=rewrite.n_tokens >= max_new_tokens,
        audit=audit,
        validity=validity.as_dict(),
    )
