"""Query-dependent choice among any candidate prompts with an offline reward model.

Prompt-OIRL chooses among a fixed prompt list; FIPO x OIRL chooses among prompts a FIPO
optimizer generated for each question. Both score (question, prompt) text pairs with the
same reward model, trained here from the released GSM8K logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fipo_utils.baselines.oirl.reward_model import RewardModel, RewardModelConfig, pair_features
from fipo_utils.baselines.oirl.selection import best_of_n
from fipo_utils.baselines.oirl.splits import make_split
from fipo_utils.baselines.oirl.table import build_table
from fipo_utils.models.embeddings import embed_texts


def reward_model_from_logs(
    data_dir: str | Path,
    dataset: str = "gsm8k",
    config: RewardModelConfig | None = None,
    max_train_rows: int | None = None,
    seed: int = 2024,
) -> RewardModel:
    """A reward model trained on the released split's training rows of one dataset's logs."""
    table = build_table(Path(data_dir), dataset)
    train = make_split(table, "original", seed).train
    if max_train_rows is not None and max_train_rows < len(train):
        train = np.sort(np.random.default_rng(seed).choice(train, max_train_rows, replace=False))
    questions = embed_texts([table.questions[i] for i in train])
    prompts = embed_texts(table.prompts)
    return RewardModel.fit(
        pair_features(questions, prompts),
        table.correct[train].ravel(),
        config or RewardModelConfig(),
    )


def score_candidates(
    model: RewardModel, questions: Sequence[str], candidates: Sequence[Sequence[str]]
) -> list[np.ndarray]:
    """P(correct) of each question's own candidate prompts (lists may differ in length)."""
    if len(questions) != len(candidates):
        raise ValueError(f"{len(questions)} questions but {len(candidates)} candidate lists")
    question_vectors = embed_texts(list(questions))
    flat = [prompt for group in candidates for prompt in group]
    prompt_vectors = embed_texts(flat) if flat else np.zeros((0, question_vectors.shape[1]))
    rows, start = [], 0
    for i, group in enumerate(candidates):
        block = prompt_vectors[start : start + len(group)]
        start += len(group)
        repeated = np.repeat(question_vectors[i : i + 1], len(group), axis=0)
        rows.append(model.predict(np.concatenate([repeated, block], axis=1).astype(np.float32)))
    return rows


def choose_best(scores: Sequence[np.ndarray]) -> list[int]:
    """Index of the best-scored candidate per question (ties: the first, as ``best_of_n``)."""
    return [int(best_of_n(np.asarray(s, dtype=float)[None, :])[0]) for s in scores]
