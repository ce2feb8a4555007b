"""Choosing one prompt per question, and the reference choices it is judged against.

All functions take a score or correctness matrix of shape ``[n_questions, n_prompts]``.
Ties go to the lowest prompt index, so a selector that scores every prompt alike falls back
to prompt 0 deterministically rather than at random.
"""

from __future__ import annotations

import numpy as np


def best_of_n(scores: np.ndarray) -> np.ndarray:
    """Index of the highest-scoring prompt per question (query-dependent selection)."""
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"scores must be [n_questions, n_prompts], got shape {scores.shape}")
    return np.argmax(scores, axis=1)


def accuracy_of_picks(correct: np.ndarray, picks: np.ndarray) -> float:
    """Fraction of questions whose chosen prompt was answered correctly."""
    correct = np.asarray(correct, dtype=bool)
    if len(correct) == 0:
        return float("nan")
    return float(correct[np.arange(len(correct)), picks].mean())


def best_single_prompt(train_correct: np.ndarray) -> int:
    """The one prompt with the highest training accuracy (query-agnostic selection)."""
    return int(np.argmax(np.asarray(train_correct, dtype=float).mean(axis=0)))


def oracle_accuracy(correct: np.ndarray) -> float:
    """Upper bound of any selector: a question counts if at least one prompt solved it."""
    correct = np.asarray(correct, dtype=bool)
    return float(correct.any(axis=1).mean()) if len(correct) else float("nan")


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5
) -> dict:
    """Accuracy, precision, recall and F1 of the reward model as a correctness classifier."""
    labels = np.asarray(labels, dtype=bool).ravel()
    predicted = np.asarray(probabilities, dtype=float).ravel() >= threshold
    tp = int(np.sum(predicted & labels))
    fp = int(np.sum(predicted & ~labels))
    fn = int(np.sum(~predicted & labels))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": float(np.mean(predicted == labels)) if len(labels) else float("nan"),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "positive_rate": float(labels.mean()) if len(labels) else float("nan"),
    }
