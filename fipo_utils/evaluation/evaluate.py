"""Evaluation (notebook 06): testers answer naive and optimized prompts; accuracy per benchmark.

Generation benchmarks (GSM8K, BBH) are scored by answer extraction
(:mod:`fipo_utils.evaluation.scoring`), strictly (only "The answer is X", the paper's
template, primary by default) and leniently (looser cues); ``scoring: lenient`` makes the
lenient verdict the primary one. Both verdicts are kept in every prediction record.
Multiple-choice benchmarks (PiQA, CosmosQA, MMLU) are scored, as in the paper, by the option
letter with the highest next-token log-probability (``mc_scoring: letter``), or optionally by
the letter found in a generated answer (``generate``), or by the log-likelihood of each
option's text after the prompt (``continuation``, lm-evaluation-harness's ``acc``, plus
``continuation_norm``, its per-character ``acc_norm``; :mod:`fipo_utils.models.loglikelihood`).
``mc_scoring`` may name several, e.g. ``[letter, continuation]``: they run in one pass and
every verdict lands in ``correct_by``.
The primary scoring is the first of letter, generate, continuation that runs.

Every cell is read twice. ``eval/results.csv`` is the primary reading: the rewrites as
written, as the paper measured them (``invalid_rewrites: keep``), or with an invalid rewrite
(its validity record, :mod:`fipo_utils.inference.validity`) replaced by the naive prompt
(``naive``) or left out (``drop``). ``eval/results_valid_only.csv`` is the sensitivity
reading: the same columns over only the items whose rewrite is valid, both conditions, with
their own ``n_items``.

Outputs (docs/CONTRACTS.md): ``eval/predictions/<optimizer>/<tester>/<benchmark>.jsonl`` with
one record per item and condition, ``eval/results.csv`` with one row per optimizer, tester,
benchmark and condition, ``eval/results_valid_only.csv`` likewise over valid rewrites, and
``eval/summary.csv`` with BBH tasks pooled and the paper's weighted average (accuracy per
benchmark family weighted by its full test-set size).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fipo_utils.data.benchmarks import (
    LETTERS,
    BenchmarkItem,
    LoadedBenchmark,
    benchmark_family,
    load_benchmark,
)
from fipo_utils.data.template import wrap_prompt
from fipo_utils.evaluation.columns import (
    CONDITIONS,
    RESULT_COLUMNS,
    VALID_ONLY_RESULTS,
    result_rows,
)
from fipo_utils.evaluation.scoring import generation_scoring, generation_verdicts, is_correct
from fipo_utils.runs.folders import require
from fipo_utils.runs.io import current_files
from fipo_utils.runs.records import (
    PredictionRecord,
    prediction_dicts,
    read_rewrites,
    write_predictions,
)
from fipo_utils.runs.safe_write import write_text_preserving
from fipo_utils.runs.settings import EvaluateSettings, ModelsSettings

__all__ = ["is_correct", "evaluate_run", "tester_name", "summarize"]


def tester_name(spec: str) -> str:
    """A folder-safe name for a tester: the last part of its path or hub id."""
    name = Path(spec.rstrip("/")).name or spec
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def only_benchmarks(records: list[dict[str, Any]], wanted: Collection[str] | None) -> list[dict]:
    """The records of ``wanted`` benchmarks (names such as ``piqa`` or ``bbh/navigate``, or a
    family such as ``bbh``); all of them when ``wanted`` is empty. ``evaluate.benchmarks``
    scores a subset of what notebook 05 rewrote when the budget asks for it."""
    if not wanted:
        return records
    wanted_set = set(wanted)
    return [r for r in records if {r["benchmark"], benchmark_family(r["benchmark"])} & wanted_set]


def optimizer_records(run_dir: Path, optimizer: str) -> list[dict[str, Any]]:
    folder = require(run_dir, f"optimized/{optimizer}", "05_batch_inference")
    return [record.as_dict() for path in current_files(folder) for record in read_rewrites(path)]


def evaluate_run(
    run_dir: str | Path,
    profile: dict[str, Any],
    settings: Mapping[str, Any] | EvaluateSettings,
) -> dict[str, Any]:
    """Score every optimizer's prompts on every tester; returns tables and cache counts.

    ``settings`` is the profile's ``evaluate`` section (with notebook overrides applied), or
    its :class:`~fipo_utils.runs.settings.EvaluateSettings`. ``engine`` names, per tester,
    the engine that answered (a vLLM server: its version, arguments and CPU flags)."""
    from fipo_utils.models.generators import (
        decoding_params,
        describe_engine,
        generator_from_settings,
    )

    settings = EvaluateSettings.of(profile, settings)
    models = ModelsSettings.from_profile(profile)
    run_dir = Path(run_dir)
    optimized_root = require(run_dir, "optimized", "05_batch_inference")
    optimizers = settings.optimizers or sorted(
        p.name for p in optimized_root.iterdir() if p.is_dir()
    )
    records = {name: optimizer_records(run_dir, name) for name in optimizers}
    records = {name: only_benchmarks(rows, settings.benchmarks) for name, rows in records.items()}
    benchmarks = _load_needed(r["benchmark"] for rows in records.values() for r in rows)
    index = {name: {i.id: i for i in bench.items} for name, bench in benchmarks.items()}
    params = decoding_params(settings)
    mode = settings.invalid_rewrites
    rows: list[dict[str, Any]] = []
    valid_rows: list[dict[str, Any]] = []
    cache_counts: dict[str, str] = {}
    mc = mc_scorings(settings.mc_scoring)
    engines: dict[str, dict[str, Any]] = {}
    for tester in settings.tester_names(models):
        generator = generator_from_settings(tester, settings, models)
        jobs = [
            _job(index, benchmarks, record, condition, tester_name(tester), mode)
            for name in optimizers
            for record in records[name]
            if mode != "drop" or rewrite_valid(record, mode)
            for condition in CONDITIONS
        ]
        try:
            _answer(generator, jobs, models.format_for(tester), params, mc)
            engines[tester_name(tester)] = describe_engine(generator)
        finally:
            # Stop a vLLM engine or server before the next tester's starts (its memory is
            # reserved up front), also when the step fails or is interrupted.
            generator.close()
        rows.extend(_write_predictions(run_dir, jobs, mc, generation_scoring(settings)))
        valid = [job["prediction_record"] for job in jobs if job["valid"] is True]
        valid_rows.extend(result_rows(prediction_dicts(valid)))
        # the generation cache's hit counts (a bare backend has none)
        cache_counts[tester_name(tester)] = str(getattr(generator, "stats", "no cache"))
        del generator  # so the pool can free transformers weights
    results = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    write_text_preserving(run_dir / "eval" / "results.csv", results.to_csv(index=False))
    valid_only = pd.DataFrame(valid_rows, columns=list(RESULT_COLUMNS))
    write_text_preserving(run_dir / "eval" / VALID_ONLY_RESULTS, valid_only.to_csv(index=False))
    sizes = {name: bench.full_size for name, bench in benchmarks.items()}
    summary = summarize(results, sizes)
    write_text_preserving(run_dir / "eval" / "summary.csv", summary.to_csv(index=False))
    return {
        "results": results,
        "valid_only": valid_only,
        "summary": summary,
        "cache": cache_counts,
        "engine": engines,
    }


def rewrite_valid(record: dict[str, Any], mode: str = "keep") -> bool | None:
    """Whether a rewrite record is valid (its ``validity`` record); ``None`` for a record
    written before validity records existed, which only ``invalid_rewrites: keep`` scores
    (the other modes need to know, and say so naming the record)."""
    validity = record.get("validity")
    if isinstance(validity, Mapping) and isinstance(validity.get("valid"), bool):
        return validity["valid"]
    if mode != "keep":
        raise ValueError(
            f"optimized/{record['optimizer']}: rewrite {record['id']} ({record['benchmark']}) "
            f"has no validity record, which evaluate.invalid_rewrites: {mode} needs: rerun "
            "05_batch_inference, or set invalid_rewrites: keep"
        )
    return None


def _load_needed(names: Iterable[str]) -> dict[str, LoadedBenchmark]:
    return {name: load_benchmark(name) for name in sorted(set(names))}


def _job(
    index: dict[str, dict[str, BenchmarkItem]],
    benchmarks: dict[str, LoadedBenchmark],
    record: dict[str, Any],
    condition: str,
    tester: str,
    mode: str = "keep",
) -> dict[str, Any]:
    """One prompt to answer. ``mode`` (``invalid_rewrites``) ``naive`` puts the naive
    instruction in place of an invalid rewrite; ``drop`` never asks for one."""
    bench = benchmarks[record["benchmark"]]
    item = index[record["benchmark"]].get(record["id"])
    if item is None:
        raise KeyError(
            f"optimized record {record['id']!r} ({record['benchmark']}) matches no item of the "
            f"benchmark loaded from {bench.source}"
        )
    valid = rewrite_valid(record, mode)
    as_naive = condition == "naive" or (mode == "naive" and valid is False)
    instruction = record["naive_instruction" if as_naive else "optimized_instruction"]
    return {
        "item": item,
        "record": record,
        "condition": condition,
        "tester": tester,
        "instruction": instruction,
        "valid": valid,
    }


MC_SCORINGS = ("letter", "generate", "continuation")  # in order of precedence as primary


def mc_scorings(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """The multiple-choice scorings to run, from ``mc_scoring`` (a name or a list of names),
    ordered so the primary comes first."""
    names = [value] if isinstance(value, str) else list(value or ["letter"])
    chosen = set(names)
    unknown = sorted(chosen - set(MC_SCORINGS))
    if unknown or not chosen:
        raise ValueError(
            f"evaluate.mc_scoring: unknown scoring {unknown or names!r}; choose from "
            f"letter, generate, continuation (or a list of them)"
        )
    return tuple(name for name in MC_SCORINGS if name in chosen)


def _answer(
    generator: Any, jobs: list[dict[str, Any]], fmt: str, params: Any, mc: tuple[str, ...]
) -> None:
    """Fill each job's ``prompt`` and ``prediction`` (and each MC scoring's verdict input:
    ``generated``, ``option_logprobs``, ``continuation_logprobs``)."""
    from fipo_utils.data.benchmarks import render_prompt

    for job in jobs:
        job["prompt"] = wrap_prompt(
            render_prompt(job["item"], job["instruction"]), fmt, generator.tokenizer
        )
    mc_jobs = [j for j in jobs if j["item"].kind == "multiple_choice"]
    generated = [j for j in jobs if j["item"].kind == "generation"]
    if "generate" in mc:
        generated += mc_jobs
    for job, text in zip(
        generated, generator.generate([j["prompt"] for j in generated], params), strict=True
    ):
        job["generated"] = job["prediction"] = text
    if "continuation" in mc:
        _score_continuations(generator, mc_jobs)
    if "letter" in mc:
        _score_letters(generator, mc_jobs)


def _score_letters(generator: Any, jobs: list[dict[str, Any]]) -> None:
    by_count: dict[int, list[dict[str, Any]]] = {}
    for job in jobs:
        by_count.setdefault(len(job["item"].options), []).append(job)
    for count, group in by_count.items():
        letters = list(LETTERS[:count])
        scores = generator.option_logprobs([j["prompt"] for j in group], letters)
        for job, row in zip(group, scores, strict=True):
            job["option_logprobs"] = row
            job["prediction"] = letters[max(range(count), key=lambda i: row[i])]


def _score_continuations(generator: Any, jobs: list[dict[str, Any]]) -> None:
    """Each option's text as the continuation of the prompt; a space joins them unless the
    prompt already ends in whitespace (a chat template's ``assistant\\n``)."""
    from fipo_utils.models.loglikelihood import best_options

    requests = [
        (job["prompt"], option if job["prompt"][-1:].isspace() else " " + option)
        for job in jobs
        for option in job["item"].options
    ]
    if not hasattr(generator, "loglikelihood"):
        raise ValueError(
            f"mc_scoring 'continuation' needs a backend with continuation log-likelihoods; "
            f"the {generator.backend} backend has none (use backend: transformers)"
        )
    scores = iter(generator.loglikelihood(requests))
    for job in jobs:
        options = job["item"].options
        row = [next(scores) for _ in options]
        raw, normed = best_options(row, options)
        job["continuation_logprobs"] = row
        job["continuation_choice"] = (LETTERS[raw], LETTERS[normed])
        job.setdefault("prediction", LETTERS[raw])


def _verdicts(job: dict[str, Any], mc: tuple[str, ...]) -> dict[str, bool]:
    """Every scoring's verdict on one job: strict and lenient for generation benchmarks, each
    multiple-choice scoring that ran otherwise."""
    item: BenchmarkItem = job["item"]
    if item.kind != "multiple_choice":
        return generation_verdicts(item.benchmark, job["prediction"], item.gold)
    verdicts: dict[str, bool] = {}
    for scoring in mc:
        if scoring == "letter":
            verdicts["letter"] = is_correct(item.benchmark, job["prediction"], item.gold)
        elif scoring == "generate":
            verdicts["generate"] = is_correct(item.benchmark, job["generated"], item.gold)
        else:
            raw, normed = job["continuation_choice"]
            verdicts["continuation"] = raw == item.gold
            verdicts["continuation_norm"] = normed == item.gold
    return verdicts


def _write_predictions(
    run_dir: Path, jobs: list[dict[str, Any]], mc: tuple[str, ...], generation: str = "strict"
) -> list[dict[str, Any]]:
    """Write every job's prediction record (also kept as the job's ``prediction_record``);
    returns the results rows of what was written."""
    groups: dict[tuple[str, str, str], list[PredictionRecord]] = {}
    for job in jobs:
        item: BenchmarkItem = job["item"]
        scoring = primary_scoring(item, mc, generation)
        verdicts = _verdicts(job, mc)
        correct = verdicts[scoring]
        prediction = PredictionRecord(
            id=item.id,
            benchmark=item.benchmark,
            optimizer=job["record"]["optimizer"],
            tester=job["tester"],
            condition=job["condition"],
            prompt=job["prompt"],
            prediction=job["prediction"],
            gold=item.gold,
            scoring=scoring,
            correct=correct,
            correct_by=verdicts,
            option_logprobs=job.get("option_logprobs"),
            continuation_logprobs=job.get("continuation_logprobs"),
            # the generated answer, where it is not already the prediction
            generated=job["generated"]
            if "generated" in job and job["generated"] != job["prediction"]
            else None,
        )
        key = (prediction.optimizer, job["tester"], item.benchmark)
        groups.setdefault(key, []).append(prediction)
        job["prediction_record"] = prediction
    rows = []
    for (optimizer, tester, benchmark), predictions in sorted(groups.items()):
        path = run_dir / "eval" / "predictions" / optimizer / tester / f"{benchmark}.jsonl"
        write_predictions(path, predictions)
        rows.extend(result_rows(prediction_dicts(predictions)))
    return rows


def primary_scoring(
    item: BenchmarkItem, mc: str | Iterable[str] | None, generation: str = "strict"
) -> str:
    """The scoring whose verdict is ``correct``: for multiple choice the first that runs of
    the option letter's log-probability (``letter``, the paper's), the letter in a generated
    answer (``generate``) and the options' continuation log-likelihood (``continuation``,
    the harness's ``acc``; its ``continuation_norm`` is reported beside it, never primary);
    for generation benchmarks ``generation``: ``strict`` (the paper's answer template) or
    ``lenient``."""
    if item.kind == "multiple_choice":
        return mc_scorings(mc)[0]
    return generation


SUMMARY_COLUMNS = [
    "optimizer",
    "tester",
    "condition",
    "benchmark",
    "n_items",
    "n_correct",
    "accuracy",
    "weight",
]


def summarize(results: pd.DataFrame, full_sizes: dict[str, int]) -> pd.DataFrame:
    """Accuracy per benchmark family (BBH tasks pooled) and the weighted average.

    The weighted average is the paper's: each family's accuracy weighted by the family's
    test-set size in the paper (``PAPER_TEST_SIZES``: all of BBH, however few of its tasks
    were evaluated), the same weights notebook 07's tables use. A family the paper did not
    evaluate falls back to the full size of what was loaded (``full_sizes``). Only each
    benchmark's primary scoring counts, so one item is never counted twice.
    """
    from fipo_utils.data.benchmarks import PAPER_TEST_SIZES, WEIGHTED_AVERAGE

    frame = results[results["primary"].astype(bool)].copy() if not results.empty else results
    if frame.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    frame["family"] = frame["benchmark"].str.split("/").str[0]
    frame["weight"] = frame["benchmark"].map(full_sizes).fillna(0)
    grouped = (
        frame.groupby(["optimizer", "tester", "condition", "family"], as_index=False)
        .agg(n_items=("n_items", "sum"), n_correct=("n_correct", "sum"), weight=("weight", "sum"))
        .rename(columns={"family": "benchmark"})
    )
    paper = grouped["benchmark"].map(PAPER_TEST_SIZES)
    grouped["weight"] = paper.fillna(grouped["weight"])
    grouped["accuracy"] = grouped["n_correct"] / grouped["n_items"]
    averages = []
    for keys, part in grouped.groupby(["optimizer", "tester", "condition"]):
        total = part["weight"].sum()
        accuracy = (part["accuracy"] * part["weight"]).sum() / total if total else float("nan")
        averages.append(
            dict(zip(["optimizer", "tester", "condition"], keys, strict=True))
            | {
                "benchmark": WEIGHTED_AVERAGE,
                "n_items": part["n_items"].sum(),
                "n_correct": part["n_correct"].sum(),
                "weight": total,
                "accuracy": accuracy,
            }
        )
    summary = pd.concat([grouped, pd.DataFrame(averages)], ignore_index=True)
    return summary[SUMMARY_COLUMNS]


def accuracy_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Naive -> optimized accuracy (%) per benchmark family, the shape of the paper's Table 2."""
    table = summary.pivot_table(
        index=["optimizer", "tester", "benchmark"], columns="condition", values="accuracy"
    )
    return (table * 100).round(2).reset_index()


def score_instructions(
    generator: Any,
    items: Sequence[BenchmarkItem],
    instructions: Sequence[str],
    fmt: str,
    params: Any,
    mc: tuple[str, ...] = ("continuation",),
    generation: str = "strict",
) -> list[dict[str, Any]]:
    """A tester's verdict on each item asked with the given instruction, scored exactly as
    notebook 06 scores it: ``correct`` (the primary scoring's verdict) and, for multiple
    choice, ``margin``, the gold option's log-probability minus the best other option's
    (by the first of ``mc`` that has scores). Tester-feedback RL rewards with these."""
    jobs: list[dict[str, Any]] = [
        {"item": item, "instruction": text, "condition": "optimized"}
        for item, text in zip(items, instructions, strict=True)
    ]
    _answer(generator, jobs, fmt, params, mc)
    scores: list[dict[str, Any]] = []
    for job in jobs:
        item: BenchmarkItem = job["item"]
        verdicts = _verdicts(job, mc)
        row: list[float] = job.get("continuation_logprobs") or job.get("option_logprobs") or []
        margin = None
        if item.kind == "multiple_choice" and row:
            gold = LETTERS.index(item.gold)
            margin = float(row[gold] - max(v for i, v in enumerate(row) if i != gold))
        scoring = primary_scoring(item, mc, generation)
        scores.append({"correct": bool(verdicts[scoring]), "margin": margin})
    return scores
