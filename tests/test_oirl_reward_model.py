"""The reward model learns a query-dependent signal; selection with it beats any single prompt."""

from __future__ import annotations

import numpy as np
import pytest

from fipo_utils.baselines.oirl.reward_model import RewardModel, RewardModelConfig, pair_features
from fipo_utils.baselines.oirl.selection import accuracy_of_picks, best_of_n, best_single_prompt


def _synthetic(n_questions: int, seed: int):
    """Prompt k solves a question exactly when the question's feature k is the largest:
    no single prompt is good, the right choice depends on the question."""
    rng = np.random.default_rng(seed)
    questions = rng.normal(size=(n_questions, 8)).astype(np.float32)
    prompts = np.eye(3, 4, dtype=np.float32)
    correct = np.zeros((n_questions, 3), dtype=bool)
    correct[np.arange(n_questions), np.argmax(questions[:, :3], axis=1)] = True
    return questions, prompts, correct


@pytest.mark.parametrize("backend", ["xgboost", "lightgbm"])
def test_best_of_n_beats_best_single_prompt_on_query_dependent_signal(backend):
    q_train, prompts, y_train = _synthetic(600, seed=0)
    q_test, _, y_test = _synthetic(300, seed=1)
    config = RewardModelConfig(backend=backend, max_depth=4, learning_rate=0.3, n_rounds=40)
    model = RewardModel.fit(pair_features(q_train, prompts), y_train.ravel(), config)
    picks = best_of_n(model.score_matrix(q_test, prompts))
    single = accuracy_of_picks(y_test, np.full(len(y_test), best_single_prompt(y_train)))
    assert single < 0.45
    assert accuracy_of_picks(y_test, picks) > 0.85


def test_pair_features_layout():
    q = np.array([[1.0, 2.0], [3.0, 4.0]])
    p = np.array([[10.0], [20.0], [30.0]])
    features = pair_features(q, p)
    assert features.shape == (6, 3)
    assert features[4].tolist() == [3.0, 4.0, 20.0]  # question 1 with prompt 1


def test_saved_model_predicts_the_same(tmp_path):
    q, prompts, y = _synthetic(200, seed=2)
    config = RewardModelConfig(max_depth=3, learning_rate=0.3, n_rounds=10)
    model = RewardModel.fit(pair_features(q, prompts), y.ravel(), config)
    loaded = RewardModel.load(model.save(tmp_path / "rm"))
    assert loaded.config == config
    np.testing.assert_allclose(
        loaded.score_matrix(q, prompts), model.score_matrix(q, prompts), rtol=1e-6
    )


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="backend"):
        RewardModelConfig(backend="sklearn")
