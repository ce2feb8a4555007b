"""What notebooks 08 and 09 share after the rewrites: testers answer, records are built,
pairs are counted.

Answers are scored like notebook 06 scores generation (``evaluation.scoring``), so a baseline's
records sit beside ``eval/`` records; the win rate counts those records' own verdicts, so it
can never disagree with the prediction files it sits beside.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fipo_utils.baselines.bpo import WinRate
from fipo_utils.baselines.search.candidates import answer_items
from fipo_utils.data.benchmarks import BenchmarkItem
from fipo_utils.evaluation.scoring import generation_verdicts
from fipo_utils.models.generate import GenerationParams
from fipo_utils.runs.paths import reference_data_dir
from fipo_utils.runs.records import PredictionRecord


def prediction_records(
    items: Sequence[BenchmarkItem],
    answers: Sequence[tuple[str, str]],
    *,
    optimizer: str,
    tester: str,
    condition: str,
) -> list[PredictionRecord]:
    """One record per ``(tester input, answer)``, scored strictly (the primary scoring of
    generation) with every generation scoring's verdict in ``correct_by``."""
    records = []
    for item, (prompt, prediction) in zip(items, answers, strict=True):
        verdicts = generation_verdicts(item.benchmark, prediction, item.gold)
        records.append(
            PredictionRecord(
                id=item.id,
                benchmark=item.benchmark,
                optimizer=optimizer,
                tester=tester,
                condition=condition,
                prompt=prompt,
                prediction=prediction,
                gold=item.gold,
                scoring="strict",
                correct=verdicts["strict"],
                correct_by=verdicts,
            )
        )
    return records


def answer_records(
    generator: Any,
    items: list[BenchmarkItem],
    instructions: list[str],
    fmt: str,
    params: GenerationParams,
    *,
    optimizer: str,
    tester: str,
    condition: str,
) -> list[PredictionRecord]:
    """The tester answers every item with its question replaced by ``instructions``."""
    answers = answer_items(generator, items, instructions, fmt, params)
    return prediction_records(
        items, answers, optimizer=optimizer, tester=tester, condition=condition
    )


def pairwise_win_rate(
    naive: Sequence[PredictionRecord], optimized: Sequence[PredictionRecord]
) -> WinRate:
    """BPO's win/tie/lose with correctness as the judge: a win when only the rewritten
    prompt's answer is correct, a loss when only the naive one's is, a tie otherwise. The
    verdicts are the records' own ``correct`` (their primary scoring), item by item."""
    counts = {"win": 0, "tie": 0, "lose": 0}
    for before, after in zip(naive, optimized, strict=True):
        if before.id != after.id:
            raise ValueError(f"win rate pairs item {before.id} with item {after.id}")
        if after.correct and not before.correct:
            counts["win"] += 1
        elif before.correct and not after.correct:
            counts["lose"] += 1
        else:
            counts["tie"] += 1
    return WinRate(**counts)


def baseline_data_dir(need: str = "oirl") -> Path:
    """The reference data folder holding ``need``; an error says how to provide it."""
    root = reference_data_dir()
    if root is None or not (root / need).is_dir():
        raise FileNotFoundError(
            f"reference data folder {need}/ not found: set FIPO_DATA_DIR to a folder with "
            "oirl/, bpo/, benchmarks/gsm8k/ and svamp/ (see docs/baselines.md)"
        )
    return root
