"""FIPO's Table 8 as a run: naive, APE, OPRO, every trained FIPO optimizer and a BPO-style
zero-shot rewrite on the BBH tasks of Table 8, the same testers and test items for all.

Per task the pool is split once (:mod:`fipo_utils.baselines.search.split`): APE and OPRO
search on demonstrations and dev items, every method is answered on the remaining test
items. Decoding of the testers is notebook 06's (``evaluate`` section), so the rows sit
beside ``eval/`` rows. Every model call is counted (:mod:`.search.cost`).

Writes ``baselines/table8/`` in the layout of ``eval/`` (docs/CONTRACTS.md):
``predictions/<method>/<tester>/bbh/<task>.jsonl`` (each method with its ``naive`` and
``optimized`` rows), ``results.csv``, ``cost.csv`` (one row per method, tester, task and
phase), ``search.jsonl`` (every scored candidate) and ``summary.json``. The table with
intervals and the published columns is built from these files by
``fipo_utils.analysis.table8``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

import fipo_utils.baselines.optimizers  # noqa: F401 - registers the baselines' optimizers
from fipo_utils.baselines.answers import prediction_records
from fipo_utils.baselines.optimizers import searched_candidates
from fipo_utils.baselines.search.candidates import DevScorer, SearchBudget, answer_items
from fipo_utils.baselines.search.cost import Cost, CountingGenerator
from fipo_utils.baselines.search.split import SearchSplit, split_for_search
from fipo_utils.baselines.step import (
    baselines_context,
    fipo_note,
    tester_params,
)
from fipo_utils.data.benchmarks import BenchmarkMissing, load_benchmark
from fipo_utils.evaluation.columns import RESULT_COLUMNS, result_rows
from fipo_utils.evaluation.evaluate import tester_name
from fipo_utils.inference.registry import (
    OptimizerKind,
    PromptOptimizer,
    get_optimizer,
    registered_optimizers,
    resolve_optimizer,
    trained_optimizers,
)
from fipo_utils.models.generators import decoding_params
from fipo_utils.runs.records import prediction_dicts, write_predictions
from fipo_utils.runs.safe_write import write_jsonl_preserving, write_text_preserving
from fipo_utils.runs.settings import (
    BaselinesSettings,
    InferSettings,
    ModelsSettings,
    SearchSettings,
)

COST_COLUMNS = (
    "method",
    "tester",
    "task",
    "phase",
    "n_queries",
    "calls",
    "prompt_tokens",
    "generated_tokens",
    "seconds",
    "cached_calls",
)


def method_name(optimizer: PromptOptimizer) -> str:
    """Table 8's name of a rewriting method: FIPO optimizers as ``fipo-<checkpoint>``."""
    if optimizer.kind is OptimizerKind.TRAINED:
        return f"fipo-{optimizer.name}"
    return optimizer.name


def _spent(optimizer: PromptOptimizer) -> Cost:
    """What the optimizer's (counting) generator spent since the last call."""
    generator = optimizer.generator
    return generator.take() if isinstance(generator, CountingGenerator) else Cost()


def fipo_methods(run_dir: Path, spec: str, base_model: str) -> list[str]:
    """The FIPO optimizers Table 8 rewrites with: ``all`` = every trained optimizer of the run
    (else the untrained base); any other spec names one (``auto`` = the run's best)."""
    if spec == "all":
        return sorted(trained_optimizers(run_dir)) or ["base"]
    return [resolve_optimizer(run_dir, spec, base_model)[0]]


def training_cost(run_dir: Path, name: str) -> dict[str, Any]:
    """Trainer seconds (sum of ``train_runtime`` over the log, all IPL rounds) and rows of
    ``train/<name>/metrics.json``; zeros with ``known: False`` when the log is absent."""
    path = run_dir / "train" / name / "metrics.json"
    if not path.is_file():
        return {"seconds": 0.0, "n_rows": None, "known": False}
    metrics = json.loads(path.read_text(encoding="utf-8"))
    seconds = sum(
        float(entry.get("train_runtime", 0.0)) for entry in metrics.get("log_history", [])
    )
    return {"seconds": seconds, "n_rows": metrics.get("n_rows"), "known": True}


def load_splits(
    search: SearchSettings, budget: SearchBudget, seed: int
) -> tuple[dict[str, SearchSplit], dict[str, str]]:
    """The split of each Table 8 task the local data has; (splits by task, missing reasons)."""
    splits: dict[str, SearchSplit] = {}
    missing: dict[str, str] = {}
    for task in search.tasks:
        try:
            bench = load_benchmark(f"bbh/{task}")
        except (BenchmarkMissing, ValueError) as error:
            missing[task] = str(error)
            continue
        splits[task] = split_for_search(
            bench.items,
            n_demos=budget.n_demos,
            dev_size=budget.dev_size,
            n_test=search.n_items,
            seed=seed,
        )
    return splits, missing


def run_table8(
    run_dir: str | Path, profile: dict[str, Any], settings: BaselinesSettings | Mapping[str, Any]
) -> dict[str, Any]:
    """Search, rewrite, answer and count; ``settings`` is the profile's ``baselines`` section
    (its ``search`` mapping holds the tasks, the budget and the proposer)."""
    from fipo_utils.models.generators import generator_from_settings

    run_dir = Path(run_dir)
    out = run_dir / "baselines" / "table8"
    section = BaselinesSettings.of(profile, settings)
    models = ModelsSettings.from_profile(profile)
    seed = section.seed
    search = section.search
    budget = SearchBudget.from_settings(search.budget)
    # A cached answer costs no compute, so timing a method needs the model to run: the
    # generation cache is bypassed unless the profile asks for it (then seconds undercount).
    use_cache = search.cache_generations

    def generator(model: str) -> CountingGenerator:
        return CountingGenerator(
            generator_from_settings(model, section, models, use_cache=use_cache)
        )

    splits, missing = load_splits(search, budget, seed)
    if not splits:
        raise BenchmarkMissing(f"no Table 8 task is available locally: {missing}")
    answer_params = tester_params(profile, section)

    costs: list[dict[str, Any]] = []
    rewrites: dict[str, dict[str, list[str]]] = {}  # method -> task -> question per test item
    fipo_names: dict[str, str] = {}
    fipo_trained: dict[str, bool] = {}
    # FIPO rewrites decode as notebook 05's; every model call is counted
    infer_params = decoding_params(InferSettings.from_profile(profile))
    context = replace(
        baselines_context(run_dir, models, section, infer_params), open_generator=generator
    )
    rewriting = [
        *fipo_methods(run_dir, search.fipo_optimizers, models.optimizer_base),
        *registered_optimizers(OptimizerKind.REWRITER),
    ]
    for optimizer_name in rewriting:
        optimizer = get_optimizer(optimizer_name, context)
        method = method_name(optimizer)
        if optimizer.kind is OptimizerKind.TRAINED:
            fipo_names[method] = optimizer.source
            fipo_trained[method] = optimizer.trained
        for task, split in splits.items():
            found = optimizer.rewrite(split.test)
            rewrites.setdefault(method, {})[task] = [r.prompt for r in found]
            spent = _spent(optimizer)
            costs.append(_cost_row(method, "-", task, "rewrite", len(split.test), spent))
        optimizer.close()

    rows: list[dict[str, Any]] = []
    searched: list[dict[str, Any]] = []
    proposer_name = search.proposer_name(models)
    for tester in section.tester_names(models):
        name = tester_name(tester)
        answerer = generator(tester)
        proposer = answerer if proposer_name == tester else generator(proposer_name)
        tester_fmt = models.format_for(tester)
        for task, split in splits.items():
            test = split.test
            naive = answer_items(
                answerer, test, [i.instruction for i in test], tester_fmt, answer_params
            )
            costs.append(_cost_row("naive", name, task, "answer", len(test), answerer.take()))
            questions = {method: by_task[task] for method, by_task in rewrites.items()}
            for method in registered_optimizers(OptimizerKind.SEARCH):
                searcher = get_optimizer(
                    method,
                    replace(
                        context,
                        resources={
                            "proposer": proposer,
                            "scorer": DevScorer(answerer, split, tester_fmt, answer_params),
                            "split": split,
                            "budget": budget,
                            "seed": seed,
                        },
                    ),
                )
                proposer.take()
                questions[method] = [r.prompt for r in searcher.rewrite(test)]
                spent = proposer.take() if proposer is not answerer else Cost()
                costs.append(_cost_row(method, name, task, "search", 0, spent.add(answerer.take())))
                searched.extend(
                    {"method": method, "tester": name, "task": task, **candidate}
                    for candidate in searched_candidates(searcher)
                )
            for method, texts in questions.items():
                optimized = answer_items(answerer, test, texts, tester_fmt, answer_params)
                costs.append(_cost_row(method, name, task, "answer", len(test), answerer.take()))
                labels = {"optimizer": method, "tester": name}
                records = prediction_records(
                    test, naive, condition="naive", **labels
                ) + prediction_records(test, optimized, condition="optimized", **labels)
                path = out / "predictions" / method / name / "bbh" / f"{task}.jsonl"
                write_predictions(path, records)
                rows.extend(result_rows(prediction_dicts(records)))
        if proposer is not answerer:
            proposer.close()
        answerer.close()
        del answerer, proposer
    for method in fipo_names:
        trained = training_cost(run_dir, method.removeprefix("fipo-"))
        if not trained["known"]:  # the base model: nothing was trained
            continue
        costs.append(
            {
                **_cost_row(method, "-", "all", "training", 0, Cost(seconds=trained["seconds"])),
                "calls": None,
                "prompt_tokens": None,
                "generated_tokens": None,
                "cached_calls": None,
            }
        )

    results = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    cost = pd.DataFrame(costs, columns=list(COST_COLUMNS))
    write_text_preserving(out / "results.csv", results.to_csv(index=False))
    write_text_preserving(out / "cost.csv", cost.to_csv(index=False))
    write_jsonl_preserving(out / "search.jsonl", searched)
    summary = {
        "tasks": sorted(splits),
        "missing_tasks": missing,
        "split": {
            task: {
                "n_demos": len(s.demos),
                "n_dev": len(s.dev),
                "n_test": len(s.test),
                "search_ids": sorted(s.search_ids()),
            }
            for task, s in splits.items()
        },
        "budget": budget.__dict__,
        "proposer": proposer_name,
        "fipo_optimizers": fipo_names,
        "fipo_note": fipo_note(
            any(trained for trained in fipo_trained.values()),
            "every checkpoints/<name>/final of the run",
        ),
        "answer_params": answer_params.as_dict(),
        "generation_cache": use_cache,
        "best_instructions": _best_per_search(searched),
    }
    write_text_preserving(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return {"results": results, "cost": cost, "search": pd.DataFrame(searched), "summary": summary}


def _best_per_search(searched: list[dict[str, Any]]) -> list[dict[str, Any]]:
    best: dict[tuple[str, str, str], dict[str, Any]] = {}
    for candidate in searched:
        key = (candidate["method"], candidate["tester"], candidate["task"])
        if key not in best or candidate["dev_accuracy"] > best[key]["dev_accuracy"]:
            best[key] = candidate
    return list(best.values())


def _cost_row(
    method: str, tester: str, task: str, phase: str, n_queries: int, cost: Cost
) -> dict[str, Any]:
    return {
        "method": method,
        "tester": tester,
        "task": task,
        "phase": phase,
        "n_queries": n_queries,
        **cost.as_dict(),
    }
