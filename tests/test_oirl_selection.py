"""Best-of-N and the reference selectors on hand-made scores."""

from __future__ import annotations

import numpy as np
import pytest

from fipo_utils.baselines.oirl.rerank import choose_best
from fipo_utils.baselines.oirl.selection import (
    accuracy_of_picks,
    best_of_n,
    best_single_prompt,
    classification_metrics,
    oracle_accuracy,
)

CORRECT = np.array(
    [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 0],
        [1, 1, 1],
    ],
    dtype=bool,
)


def test_best_of_n_picks_highest_score_and_breaks_ties_to_first():
    scores = np.array([[0.9, 0.1, 0.2], [0.1, 0.8, 0.8], [0.3, 0.3, 0.3], [0.0, 0.5, 0.1]])
    picks = best_of_n(scores)
    assert picks.tolist() == [0, 1, 0, 1]
    assert accuracy_of_picks(CORRECT, picks) == pytest.approx(3 / 4)


def test_reference_selectors():
    assert oracle_accuracy(CORRECT) == pytest.approx(3 / 4)
    train = np.array([[0, 1, 0], [0, 1, 1], [1, 1, 0]], dtype=bool)
    assert best_single_prompt(train) == 1
    assert accuracy_of_picks(CORRECT, np.full(4, 1)) == pytest.approx(2 / 4)


def test_choose_best_handles_ragged_candidate_lists():
    assert choose_best([np.array([0.1, 0.7]), np.array([0.4]), np.array([0.2, 0.2, 0.9])]) == [
        1,
        0,
        2,
    ]


def test_classification_metrics_on_known_counts():
    labels = np.array([1, 1, 0, 0, 1], dtype=bool)
    probs = np.array([0.9, 0.2, 0.6, 0.1, 0.7])
    metrics = classification_metrics(labels, probs)
    # tp 2, fp 1, fn 1, tn 1
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(2 / 3)


def test_bad_score_shape_is_rejected():
    with pytest.raises(ValueError, match="n_questions, n_prompts"):
        best_of_n(np.array([0.1, 0.2]))
