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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from fipo_utils.baselines.bpo import (
    WinRate,
    bpo_instruction,
    bpo_rewrite_params,
    rewrite_prompts,
)
from fipo_utils.baselines.oirl.logs import read_prompt_names
from fipo_utils.baselines.oirl.report import run_oirl, write_results
from fipo_utils.baselines.oirl.rerank import choose_best, reward_model_from_logs, score_candidates
from fipo_utils.baselines.oirl.reward_model import RewardModelConfig
from fipo_utils.baselines.search.candidates import answer_items
from fipo_utils.data.benchmarks import BenchmarkItem, load_benchmark
from fipo_utils.data.template import load_template, prompt_format_for
from fipo_utils.evaluation.columns import RESULT_COLUMNS, result_rows
from fipo_utils.evaluation.evaluate import tester_name
from fipo_utils.evaluation.scoring import generation_verdicts, is_correct
from fipo_utils.inference.optimize import WordLimit, optimize_prompts, resolve_optimizer
from fipo_utils.inference.optimize_step import generation_params
from fipo_utils.models.generate import GenerationParams
from fipo_utils.runs.paths import reference_data_dir
from fipo_utils.runs.safe_write import write_jsonl_preserving, write_text_preserving

BASELINE_ORDER = ("bpo-style", "oirl-best-of-n", "fipo-single", "fipo-x-oirl")


def run_oirl_table(
    run_dir: str | Path,
    settings: dict[str, Any],
    seed: int = 2024,
    annotate: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Prompt-OIRL per dataset and split into ``baselines/oirl/<dataset>/<split>/results.json``.

    ``settings["seeds"]`` fits one reward model per seed; ``annotate`` adds to each result
    before it is written (notebook 08 passes ``fipo_utils.analysis.oirl_gain``'s interval,
    which this stage cannot import).
    """
    data_dir = _data_dir()
    config = RewardModelConfig(**{**settings.get("reward_model", {}), "seed": seed})
    rows = []
    for dataset in settings["datasets"]:
        for split in settings["splits"]:
            results = run_oirl(
                data_dir,
                dataset,
                split,
                config,
                max_train_rows=settings.get("max_train_rows"),
                max_test_rows=settings.get("max_test_rows"),
                seed=seed,
                seeds=settings.get("seeds"),
            )
            if annotate is not None:
                results = annotate(results)
            write_results(results, Path(run_dir) / "baselines" / "oirl" / dataset / split)
            rows.append(oirl_row(results))
    return pd.DataFrame(rows)


def bpo_preference_data(run_dir: str | Path, settings: dict[str, Any]) -> dict[str, Any]:
    """BPO pairs -> ``baselines/bpo_dpo.jsonl`` in the DPO schema, ready for notebook 03.

    ``settings["bpo_pairs"]`` is a path, absolute or relative to the reference data folder.
    """
    from fipo_utils.baselines.bpo import bpo_preference_rows, load_bpo_pairs

    source = Path(settings["bpo_pairs"])
    if not source.is_absolute():
        source = _data_dir(need="bpo") / source
    pairs = load_bpo_pairs(source)
    rows, skipped = bpo_preference_rows(pairs, load_template(settings.get("template")))
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


def run_baselines(
    run_dir: str | Path, profile: dict[str, Any], settings: dict[str, Any]
) -> dict[str, Any]:
    """Rewrite, select, answer and score; writes ``baselines/`` and returns what 08 shows."""
    from fipo_utils.models.generators import generator_from_settings

    run_dir = Path(run_dir)
    seed = int(profile.get("seed", 2024))
    models = profile["models"]
    fmt = models.get("prompt_format", "chat_template")
    bench = load_benchmark(
        settings["benchmark"], settings.get("n_items"), seed=settings.get("sample_seed")
    )
    items = bench.items
    questions = [item.instruction for item in items]
    greedy = GenerationParams(int(settings["optimizer_max_new_tokens"]), 0.0, 1.0, seed)

    rewriter_name = settings.get("rewriter") or models["optimizer_base"]
    fipo_name, fipo_source = resolve_optimizer(
        run_dir, settings.get("fipo_optimizer") or "auto", models["optimizer_base"]
    )
    rewriter = generator_from_settings(rewriter_name, settings, models)
    bpo_template = (settings.get("bpo") or {}).get("template")
    bpo_prompts = rewrite_prompts(
        rewriter,
        questions,
        fmt=fmt,
        params=bpo_rewrite_params(settings, int(settings["optimizer_max_new_tokens"]), seed),
        instruction=bpo_instruction(bpo_template),
    )
    # Each generator is dropped once done, so loading the next model can evict and free its
    # weights from the model pool rather than hold both in memory.
    optimizer = rewriter if fipo_source == rewriter_name else None
    if optimizer is None:
        rewriter.close()
        optimizer = generator_from_settings(fipo_source, settings, models)
    del rewriter
    template = load_template(settings.get("template"))
    word_limit = WordLimit(**(settings.get("word_limit") or {}))

    def fipo(generator: Any, params: GenerationParams) -> list[str]:
        found = optimize_prompts(
            generator, questions, template=template, fmt=fmt, params=params, word_limit=word_limit
        )
        return [result.prompt for result in found]

    single = fipo(optimizer, greedy)
    samples = [
        fipo(
            optimizer,
            GenerationParams(
                int(settings["optimizer_max_new_tokens"]),
                float(settings["candidate_temperature"]),
                float(settings["candidate_top_p"]),
                seed + k,
            ),
        )
        for k in range(int(settings["n_candidates"]))
    ]
    candidates = [[sample[i] for sample in samples] for i in range(len(items))]
    optimizer.close()
    del optimizer

    data_dir = _data_dir()
    reward = reward_model_from_logs(
        data_dir,
        settings.get("reward_logs", "gsm8k"),
        RewardModelConfig(**{**settings.get("reward_model", {}), "seed": seed}),
        max_train_rows=settings.get("reward_train_rows"),
        seed=seed,
    )
    oirl_prompts = read_prompt_names(data_dir / "oirl", settings.get("reward_logs", "gsm8k")).texts
    oirl_scores = score_candidates(reward, questions, [oirl_prompts] * len(items))
    oirl_picks = choose_best(oirl_scores)
    fx_scores = score_candidates(reward, questions, candidates)
    fx_picks = choose_best(fx_scores)

    instructions = {
        "bpo-style": bpo_prompts,
        "oirl-best-of-n": [
            f"{q}\n{oirl_prompts[k]}" for q, k in zip(questions, oirl_picks, strict=True)
        ],
        "fipo-single": single,
        "fipo-x-oirl": [c[k] for c, k in zip(candidates, fx_picks, strict=True)],
    }
    answer_params = tester_params(profile, settings)
    rows, win_rates = [], {}
    for tester in settings.get("testers") or models["testers"]:
        generator = generator_from_settings(tester, settings, models)
        name = tester_name(tester)
        tester_fmt = prompt_format_for(models, tester)
        naive = answer_items(generator, items, questions, tester_fmt, answer_params)
        for baseline in BASELINE_ORDER:
            optimized = answer_items(
                generator, items, instructions[baseline], tester_fmt, answer_params
            )
            records = _records(items, baseline, name, "naive", naive) + _records(
                items, baseline, name, "optimized", optimized
            )
            path = run_dir / "baselines" / "predictions" / baseline / name / f"{bench.name}.jsonl"
            write_jsonl_preserving(path, records)
            rows.extend(result_rows(records))
            win_rates[(baseline, name)] = pairwise_win_rate(naive, optimized, items)
        generator.close()
        del generator
    results = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    write_text_preserving(run_dir / "baselines" / "results.csv", results.to_csv(index=False))

    choices = pd.DataFrame(
        {
            "id": [item.id for item in items],
            "bpo_style": bpo_prompts,
            "fipo_single": single,
            "fipo_x_oirl": instructions["fipo-x-oirl"],
            "fipo_candidates": candidates,
            "fipo_candidate_scores": [[float(x) for x in s] for s in fx_scores],
            "oirl_prompt": [oirl_prompts[k] for k in oirl_picks],
            "oirl_scores": [[float(x) for x in s] for s in oirl_scores],
        }
    )
    write_jsonl_preserving(
        run_dir / "baselines" / "choices.jsonl", choices.to_dict(orient="records")
    )
    win_table = pd.DataFrame(
        [{"optimizer": b, "tester": t, **w.as_dict()} for (b, t), w in win_rates.items()]
    )
    summary = {
        "benchmark": bench.name,
        "n_items": len(items),
        "rewriter": rewriter_name,
        "fipo_optimizer": fipo_name,
        "fipo_optimizer_source": fipo_source,
        "fipo_optimizer_note": (
            "no trained checkpoint in the run folder: the base model acted as FIPO optimizer"
            if fipo_name == "base"
            else f"trained checkpoint {fipo_source}"
        ),
        "n_candidates": int(settings["n_candidates"]),
        "reward_model": {
            "logs": settings.get("reward_logs", "gsm8k"),
            "train_rows": settings.get("reward_train_rows"),
            "train_seconds": round(reward.train_seconds, 2),
        },
        "win_rates": win_table.to_dict(orient="records"),
    }
    write_text_preserving(
        run_dir / "baselines" / "summary.json", json.dumps(summary, indent=2, default=str) + "\n"
    )
    return {"results": results, "choices": choices, "win_rates": win_table, "summary": summary}


def tester_params(profile: dict[str, Any], settings: dict[str, Any]) -> GenerationParams:
    """The testers' decoding: notebook 06's (``evaluate`` temperature, top-p and seed), so
    baseline rows are comparable with ``eval/`` rows; ``tester_max_new_tokens`` of the
    baselines section sets the length when given, else ``evaluate.max_new_tokens``."""
    evaluate = dict(profile["evaluate"])
    if settings.get("tester_max_new_tokens"):
        evaluate["max_new_tokens"] = settings["tester_max_new_tokens"]
    return generation_params(evaluate, int(profile.get("seed", 2024)))


def pairwise_win_rate(
    naive: list[str], optimized: list[str], items: list[BenchmarkItem]
) -> WinRate:
    """BPO's win/tie/lose with correctness as the judge: a win when only the rewritten prompt's
    answer is correct, a loss when only the original's is, a tie otherwise."""
    counts = {"win": 0, "tie": 0, "lose": 0}
    for item, before, after in zip(items, naive, optimized, strict=True):
        a = is_correct(item.benchmark, after, item.gold)
        b = is_correct(item.benchmark, before, item.gold)
        counts["win" if a and not b else "lose" if b and not a else "tie"] += 1
    return WinRate(**counts)


def _records(
    items: list[BenchmarkItem],
    optimizer: str,
    tester: str,
    condition: str,
    answers: list[tuple[str, str]],
) -> list[dict[str, Any]]:
    records = []
    for item, (prompt, prediction) in zip(items, answers, strict=True):
        verdicts = generation_verdicts(item.benchmark, prediction, item.gold)
        correct = verdicts["strict"]
        records.append(
            {
                "id": item.id,
                "benchmark": item.benchmark,
                "optimizer": optimizer,
                "tester": tester,
                "condition": condition,
                "prompt": prompt,
                "prediction": prediction,
                "gold": item.gold,
                "scoring": "strict",
                "correct": correct,
                "correct_by": verdicts,
            }
        )
    return records


def _data_dir(need: str = "oirl") -> Path:
    root = reference_data_dir()
    if root is None or not (root / need).is_dir():
        raise FileNotFoundError(
            f"reference data folder {need}/ not found: set FIPO_DATA_DIR to a folder with "
            "oirl/, bpo/, benchmarks/gsm8k/ and svamp/ (see docs/baselines.md)"
        )
    return root
