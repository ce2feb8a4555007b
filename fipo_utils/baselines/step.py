"""Notebook 08 as calls: BPO-style rewriting, Prompt-OIRL best-of-N and FIPO x OIRL on the
same benchmark items and testers as FIPO, in notebook 06's table format.

Optimizer names in ``baselines/results.csv`` (each with a ``naive`` and an ``optimized`` row):

* ``bpo-style`` - the rewriter model wraps the instruction in the fixed expert-prompt-engineer
  request (``fipo_utils.baselines.bpo``);
* ``oirl-best-of-n`` - one of Prompt-OIRL's six prompts appended to the question, chosen per
  question by the offline reward model;
* ``fipo-single`` - one greedy rewrite by the FIPO optimizer (plain FIPO);
* ``fipo-x-oirl`` - N sampled FIPO rewrites per question, the reward model keeps the best.

The FIPO optimizer is the run's best trained checkpoint (``infer.optimizer: auto`` rules) or,
when the run has none, the base model; ``summary.json`` says which.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

import fipo_utils.baselines.optimizers  # noqa: F401 - registers the baselines' optimizers
from fipo_utils.baselines.answers import baseline_data_dir, pairwise_win_rate, prediction_records
from fipo_utils.baselines.bpo import bpo_instruction, bpo_rewrite_params
from fipo_utils.baselines.oirl.logs import read_prompt_names
from fipo_utils.baselines.oirl.report import run_oirl, write_results
from fipo_utils.baselines.oirl.rerank import reward_model_from_logs
from fipo_utils.baselines.oirl.reward_model import RewardModelConfig
from fipo_utils.baselines.search.candidates import answer_items
from fipo_utils.data.benchmarks import BenchmarkItem, load_benchmark
from fipo_utils.data.template import load_template
from fipo_utils.evaluation.columns import RESULT_COLUMNS, result_rows
from fipo_utils.evaluation.evaluate import tester_name
from fipo_utils.inference.optimize_step import optimizer_context
from fipo_utils.inference.optimizers import fipo_optimizer
from fipo_utils.inference.registry import OptimizerContext, Rewrite, get_optimizer
from fipo_utils.models.generate import GenerationParams
from fipo_utils.runs.errors import SettingsError
from fipo_utils.runs.records import prediction_dicts, write_predictions
from fipo_utils.runs.safe_write import write_jsonl_preserving, write_text_preserving
from fipo_utils.runs.settings import (
    BaselinesSettings,
    EvaluateSettings,
    ModelsSettings,
    OirlSettings,
)

BASELINE_ORDER = ("bpo-style", "oirl-best-of-n", "fipo-single", "fipo-x-oirl")


def run_oirl_table(
    run_dir: str | Path,
    settings: OirlSettings,
    seed: int,
    annotate: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Prompt-OIRL per dataset and split into ``baselines/oirl/<dataset>/<split>/results.json``.

    ``settings.seeds`` fits one reward model per seed; ``annotate`` adds to each result
    before it is written (notebook 08 passes ``fipo_utils.analysis.oirl_gain``'s interval,
    which this stage cannot import).
    """
    data_dir = baseline_data_dir()
    config = RewardModelConfig(**{**settings.reward_model, "seed": seed})
    rows = []
    for dataset in settings.datasets:
        for split in settings.splits:
            results = run_oirl(
                data_dir,
                dataset,
                split,
                config,
                max_train_rows=settings.max_train_rows,
                max_test_rows=settings.max_test_rows,
                seed=seed,
                seeds=settings.seeds,
            )
            if annotate is not None:
                results = annotate(results)
            write_results(results, Path(run_dir) / "baselines" / "oirl" / dataset / split)
            rows.append(oirl_row(results))
    return pd.DataFrame(rows)


def bpo_preference_data(run_dir: str | Path, settings: BaselinesSettings) -> dict[str, Any]:
    """BPO pairs -> ``baselines/bpo_dpo.jsonl`` in the DPO schema, ready for notebook 03.

    ``settings.bpo_pairs`` is a path, absolute or relative to the reference data folder.
    """
    from fipo_utils.baselines.bpo import bpo_preference_rows, load_bpo_pairs

    if settings.bpo_pairs is None:
        raise SettingsError("baselines.bpo_pairs is not set: name the BPO pairs to convert")
    source = Path(settings.bpo_pairs)
    if not source.is_absolute():
        source = baseline_data_dir(need="bpo") / source
    pairs = load_bpo_pairs(source)
    rows, skipped = bpo_preference_rows(pairs, load_template(settings.template))
    path = Path(run_dir) / "baselines" / "bpo_dpo.jsonl"
    write_jsonl_preserving(path, rows)
    return {
        "source": str(source),
        "pairs": len(pairs),
        "rows": len(rows),
        "skipped": skipped,
        "path": str(path),
        "example": rows[0] if rows else None,
    }


def oirl_row(results: dict[str, Any]) -> dict[str, Any]:
    """One flat table row of a ``results.json`` (ours beside the published numbers)."""
    confidence = results.get("self_confidence") or {}
    gain = results.get("gain") or {}
    return {
        "dataset": results["dataset"],
        "split": results["split"],
        "n_train_rows": results["n_train_rows"],
        "n_test_questions": results["n_test_questions"],
        "best_of_n": results["best_of_n_accuracy"],
        "best_single_prompt": results["best_single_prompt_accuracy"],
        "oracle": results["oracle_accuracy"],
        "self_confidence": confidence.get("accuracy"),
        "n_seeds": len(results.get("seeds") or [None]),
        "gain": gain.get("mean"),
        "gain_low": gain.get("low"),
        "gain_high": gain.get("high"),
        "rm_f1": results["reward_model"]["f1"],
        "train_seconds": results["reward_model"]["train_seconds"],
        "published_best_of_n": results["published"]["best_of_n_accuracy"],
    }


def baselines_context(
    run_dir: Path,
    models: ModelsSettings,
    settings: BaselinesSettings,
    params: GenerationParams,
    **resources: Any,
) -> OptimizerContext:
    """What notebooks 08 and 09 give their optimizers: FIPO decoding ``params``, the BPO
    request and its decoding at the baselines' optimizer length, the FIPO optimizer the
    section names, and the step's shared ``resources``."""
    return optimizer_context(
        run_dir,
        models,
        settings,
        params,
        rewriter_params=bpo_rewrite_params(
            settings, settings.optimizer_max_new_tokens, settings.seed
        ),
        rewriter_instruction=bpo_instruction(settings.bpo.template),
        fipo_spec=settings.fipo_optimizer,
        resources=dict(resources),
    )


def run_baselines(
    run_dir: str | Path, profile: dict[str, Any], settings: BaselinesSettings | Mapping[str, Any]
) -> dict[str, Any]:
    """Rewrite, select, answer and score; writes ``baselines/`` and returns what 08 shows."""
    from fipo_utils.models.generators import generator_from_settings

    run_dir = Path(run_dir)
    section = BaselinesSettings.of(profile, settings)
    models = ModelsSettings.from_profile(profile)
    seed = section.seed
    bench = load_benchmark(section.benchmark, section.n_items, seed=section.sample_seed)
    items = bench.items
    questions = [item.instruction for item in items]

    data_dir = baseline_data_dir()
    reward = reward_model_from_logs(
        data_dir,
        section.reward_logs,
        RewardModelConfig(**{**section.reward_model, "seed": seed}),
        max_train_rows=section.reward_train_rows,
        seed=seed,
    )
    context = baselines_context(
        run_dir,
        models,
        section,
        GenerationParams(section.optimizer_max_new_tokens, 0.0, 1.0, seed),
        reward=reward,
        oirl_prompts=read_prompt_names(data_dir / "oirl", section.reward_logs).texts,
        sampling={
            "n_candidates": section.n_candidates,
            "temperature": section.candidate_temperature,
            "top_p": section.candidate_top_p,
        },
    )
    # Each optimizer releases its model once done, so loading the next model can evict the
    # previous one from the model pool rather than hold both in memory.
    optimizers = [get_optimizer(name, context) for name in BASELINE_ORDER]
    rewrites: dict[str, list[Rewrite]] = {}
    for optimizer in optimizers:
        rewrites[optimizer.name] = optimizer.rewrite(items)
        optimizer.close()
    instructions = {name: [r.prompt for r in found] for name, found in rewrites.items()}
    fipo = fipo_optimizer(context.fipo_spec, context)  # resolved only, for the summary

    answer_params = tester_params(profile, section)
    rows, win_rates = [], {}
    for tester in section.tester_names(models):
        generator = generator_from_settings(tester, section, models)
        name = tester_name(tester)
        tester_fmt = models.format_for(tester)
        naive = answer_items(generator, items, questions, tester_fmt, answer_params)
        for baseline in BASELINE_ORDER:
            optimized = answer_items(
                generator, items, instructions[baseline], tester_fmt, answer_params
            )
            labels = {"optimizer": baseline, "tester": name}
            before = prediction_records(items, naive, condition="naive", **labels)
            after = prediction_records(items, optimized, condition="optimized", **labels)
            path = run_dir / "baselines" / "predictions" / baseline / name / f"{bench.name}.jsonl"
            write_predictions(path, before + after)
            rows.extend(result_rows(prediction_dicts(before + after)))
            win_rates[(baseline, name)] = pairwise_win_rate(before, after)
        generator.close()
        del generator
    results = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    write_text_preserving(run_dir / "baselines" / "results.csv", results.to_csv(index=False))

    choices = choice_table(items, rewrites)
    write_jsonl_preserving(
        run_dir / "baselines" / "choices.jsonl", choices.to_dict(orient="records")
    )
    win_table = pd.DataFrame(
        [{"optimizer": b, "tester": t, **w.as_dict()} for (b, t), w in win_rates.items()]
    )
    summary = {
        "benchmark": bench.name,
        "n_items": len(items),
        "rewriter": section.rewriter_name(models),
        "fipo_optimizer": fipo.name,
        "fipo_optimizer_source": fipo.source,
        "fipo_optimizer_note": fipo_note(fipo.trained, f"trained checkpoint {fipo.source}"),
        "n_candidates": section.n_candidates,
        "reward_model": {
            "logs": section.reward_logs,
            "train_rows": section.reward_train_rows,
            "train_seconds": round(reward.train_seconds, 2),
        },
        "win_rates": win_table.to_dict(orient="records"),
    }
    write_text_preserving(
        run_dir / "baselines" / "summary.json", json.dumps(summary, indent=2, default=str) + "\n"
    )
    return {"results": results, "choices": choices, "win_rates": win_table, "summary": summary}


def choice_table(items: list[BenchmarkItem], rewrites: dict[str, list[Rewrite]]) -> pd.DataFrame:
    """Per item, what each selector chose among which candidates (``baselines/choices.jsonl``)."""
    fx = rewrites["fipo-x-oirl"]
    oirl = rewrites["oirl-best-of-n"]
    return pd.DataFrame(
        {
            "id": [item.id for item in items],
            "bpo_style": [r.prompt for r in rewrites["bpo-style"]],
            "fipo_single": [r.prompt for r in rewrites["fipo-single"]],
            "fipo_x_oirl": [r.prompt for r in fx],
            "fipo_candidates": [list(r.details["candidates"]) for r in fx],
            "fipo_candidate_scores": [list(r.details["scores"]) for r in fx],
            "oirl_prompt": [r.details["oirl_prompt"] for r in oirl],
            "oirl_scores": [list(r.details["oirl_scores"]) for r in oirl],
        }
    )


def fipo_note(trained: bool, trained_note: str) -> str:
    """What acted as the FIPO optimizer, in words for ``summary.json``."""
    if not trained:
        return "no trained checkpoint in the run folder: the base model acted as FIPO optimizer"
    return trained_note


def tester_params(
    profile: Mapping[str, Any], settings: BaselinesSettings | Mapping[str, Any]
) -> GenerationParams:
    """The testers' decoding: notebook 06's (``evaluate`` temperature, top-p and seed), so
    baseline rows are comparable with ``eval/`` rows; ``tester_max_new_tokens`` of the
    baselines section sets the length when given, else ``evaluate.max_new_tokens``."""
    from fipo_utils.models.generators import decoding_params

    evaluate = EvaluateSettings.from_profile(profile)
    length = BaselinesSettings.of(profile, settings).tester_max_new_tokens
    if length:
        evaluate = replace(evaluate, max_new_tokens=length)
    return decoding_params(evaluate)
