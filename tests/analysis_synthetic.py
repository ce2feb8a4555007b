"""Synthetic run folders that follow docs/CONTRACTS.md, for the analysis tests.

Per-item correctness is the single source: predictions, results tables and optimized
prompts are all derived from it, so every count a test checks can be computed by hand.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

TESTER = "smollm2-135m-instruct"

# (optimizer, benchmark) -> (naive flags, optimized flags); naive flags are shared by all
# optimizers of a run, as in notebook 06.
NAIVE = {
    "gsm8k": [1, 0, 0, 1],
    "bbh/object_counting": [1, 0],
    "bbh/navigate": [0, 0, 1],
    "piqa": [1, 1, 0, 0, 1],
}
OPTIMIZED = {
    "ipl-ipo-lora": {
        "gsm8k": [1, 1, 0, 1],
        "bbh/object_counting": [1, 1],
        "bbh/navigate": [0, 1, 1],
        "piqa": [1, 1, 1, 0, 1],
    },
    "sft-lora": {
        "gsm8k": [0, 0, 0, 1],
        "bbh/object_counting": [1, 0],
        "bbh/navigate": [0, 0, 1],
        "piqa": [1, 1, 0, 0, 0],
    },
}
BASELINE = {"bpo": {"gsm8k": [1, 0, 1, 1]}}


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _write_condition_files(folder: Path, optimized: dict[str, dict[str, list[int]]]) -> None:
    rows = []
    for optimizer, per_benchmark in optimized.items():
        for benchmark, flags in per_benchmark.items():
            records = []
            for condition, values in (("naive", NAIVE[benchmark]), ("optimized", flags)):
                for i, ok in enumerate(values):
                    records.append(
                        {
                            "id": f"{benchmark}-{i}",
                            "benchmark": benchmark,
                            "optimizer": optimizer,
                            "tester": TESTER,
                            "condition": condition,
                            "prompt": f"prompt {i}",
                            "prediction": "The answer is 1",
                            "gold": "1",
                            "scoring": "answer",
                            "correct": bool(ok),
                            "correct_by": {"answer": bool(ok), "lenient": True},
                        }
                    )
                rows.append(
                    {
                        "optimizer": optimizer,
                        "tester": TESTER,
                        "benchmark": benchmark,
                        "condition": condition,
                        "scoring": "answer",
                        "primary": True,
                        "n_items": len(values),
                        "n_correct": sum(values),
                        "accuracy": sum(values) / len(values),
                    }
                )
                # A second scoring of the same items (every item right): reported beside
                # the primary one, never mixed into the paper-shaped tables.
                rows.append(
                    rows[-1]
                    | {"scoring": "lenient", "primary": False, "n_correct": len(values)}
                    | {"accuracy": 1.0}
                )
            target = folder / "predictions" / optimizer / TESTER / f"{benchmark}.jsonl"
            _write_jsonl(target, records)
            # An earlier version moved aside by a rerun (safe_write): history, not a result.
            stale = [{**r, "correct": not r["correct"]} for r in records]
            _write_jsonl(target.with_name(f"{target.stem}.prev-20250101-000000-0.jsonl"), stale)
    with (folder / "results.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def make_run(
    root: Path,
    name: str = "20260101-000000-synthetic",
    *,
    baselines: bool = True,
    training: bool = True,
    optimized: dict[str, dict[str, list[int]]] | None = None,
) -> Path:
    """A complete synthetic run folder; ``baselines``/``training`` False leave those out."""
    run = root / name
    optimized = OPTIMIZED if optimized is None else optimized
    _write_condition_files(run / "eval", optimized)
    if baselines:
        _write_condition_files(run / "baselines", BASELINE)
    for optimizer, per_benchmark in optimized.items():
        for benchmark in per_benchmark:
            _write_jsonl(
                run / "optimized" / optimizer / f"{benchmark}.jsonl",
                [
                    {
                        "id": f"{benchmark}-{i}",
                        "benchmark": benchmark,
                        "optimizer": optimizer,
                        "naive_instruction": "Solve the problem.",
                        "optimized_instruction": "Solve the problem step by step and state "
                        + "the answer. " * (i + 1),
                        "raw_output": "...",
                        "cheating_note": i == 0 and benchmark == "gsm8k",
                        "fell_back": False,
                        "word_limit": 30,
                        "cut_at_max_new_tokens": False,
                        "audit": {
                            "gold_leaked": i == 0 and benchmark == "gsm8k",
                            "options_lost": [],
                            "numbers_lost": [],
                            "entities_lost": [],
                            "over_word_limit": False,
                            "n_words": 9 + 3 * i,
                        },
                    }
                    for i in range(len(NAIVE[benchmark]))
                ],
            )
    if training:
        _write_training(run, optimized)
    return run


def _write_training(run: Path, optimized: dict) -> None:
    """Training logs in the shapes notebooks 01-04 write them (trainer log history under
    ``log_history``; IPL rounds under ``rounds`` with steps restarting each round)."""
    for optimizer in optimized:
        folder = run / "train" / optimizer
        folder.mkdir(parents=True, exist_ok=True)
        if optimizer.startswith("ipl"):
            log = [
                {"step": s, "loss": 1.0 / (s + k), "round": k} for k in (1, 2, 3) for s in (1, 2)
            ]
            rounds = [
                {"round": 1, "start_model": "base", "judge_accuracy": 0.8, "loss_mean": 0.6},
                {
                    "round": 2,
                    "replaced_share": 0.02,
                    "n_replaced": 1,
                    "judge_accuracy": 0.9,
                    "loss_mean": 0.4,
                },
                {
                    "round": 3,
                    "replaced_share": 0.03,
                    "n_replaced": 2,
                    "judge_accuracy": 0.95,
                    "loss_mean": 0.3,
                },
            ]
            record = {"name": optimizer, "loss": "ipo", "rounds": rounds}
            (folder / "rounds.json").write_text(json.dumps(record), encoding="utf-8")
        else:
            log = [{"step": s, "loss": 1.0 / s, "rewards/margins": 0.1 * s} for s in (1, 2, 3)]
        metrics = {"name": optimizer, "log_history": log}
        (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (run / "data").mkdir(parents=True, exist_ok=True)
    counts = [5, 2, 3, 5, 2, 3, 4, 6, 10]
    mix = {
        "counts": {
            "main": {str(t): counts[t] for t in range(6)},
            "extra": {str(t): counts[t] for t in range(6, 9)},
        },
        "shares": {"main": {"0": 0.25}, "extra": {"6": 0.2}},
        "seed": 2024,
    }
    (run / "data" / "type_mix.json").write_text(json.dumps(mix), encoding="utf-8")
