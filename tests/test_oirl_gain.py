"""Prompt-OIRL's gain with its uncertainty, and the switches that restore the original's
reward model (first 80% of the training pairs) and self-confidence (stated confidence)."""

from __future__ import annotations

import numpy as np
import pytest

from fipo_utils.analysis.oirl_gain import seed_averaged_gain
from fipo_utils.baselines.oirl.reward_model import RewardModel, RewardModelConfig


def _results(by_seed, single):
    return {
        "dataset": "gsm8k",
        "split": "original",
        "per_question": {"best_of_n_correct_by_seed": by_seed, "best_single_correct": single},
    }


def test_gain_is_the_seed_mean_with_a_paired_interval():
    single = [1, 0] * 100
    same = seed_averaged_gain(_results([single, single], single), replicates=500)
    assert same["mean"] == 0 and same["low"] == same["high"] == 0
    assert not same["distinguishable_from_zero"]
    better = [1] * 200  # every question right under best-of-N: +0.5, clearly above zero
    gain = seed_averaged_gain(_results([better, single], single), replicates=500)
    assert gain["mean"] == pytest.approx(0.25) and gain["n_seeds"] == 2
    assert gain["by_seed"] == pytest.approx([0.5, 0.0])
    assert 0 < gain["low"] < 0.25 < gain["high"] and gain["distinguishable_from_zero"]


def _features(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 1.0).astype(np.float32)  # ~17% positives
    return x, y


@pytest.mark.parametrize("backend", ["xgboost", "lightgbm"])
def test_subsampling_makes_seeds_matter_and_full_rows_do_not(backend):
    x, y = _features()
    base = RewardModelConfig(backend=backend, max_depth=3, n_rounds=20, learning_rate=0.3)
    fixed = [
        RewardModel.fit(x, y, RewardModelConfig(**{**base.__dict__, "seed": s})) for s in (1, 2)
    ]
    assert np.allclose(fixed[0].predict(x), fixed[1].predict(x))
    sampled = {**base.__dict__, "subsample": 0.7, "colsample": 0.6}
    varied = [RewardModel.fit(x, y, RewardModelConfig(**{**sampled, "seed": s})) for s in (1, 2)]
    assert not np.allclose(varied[0].predict(x), varied[1].predict(x))


def test_class_balancing_raises_the_predicted_positive_rate():
    x, y = _features()
    config = dict(backend="xgboost", max_depth=3, n_rounds=30, learning_rate=0.3)
    plain = RewardModel.fit(x, y, RewardModelConfig(**config)).predict(x)
    balanced = RewardModel.fit(x, y, RewardModelConfig(**config, balance_classes=True)).predict(x)
    assert (balanced >= 0.5).mean() > (plain >= 0.5).mean()


def test_train_fraction_fits_the_first_pairs_only():
    x, y = _features()
    config = dict(backend="xgboost", max_depth=3, n_rounds=20, learning_rate=0.3)
    first = RewardModel.fit(x, y, RewardModelConfig(**config, train_fraction=0.8))
    cut = RewardModel.fit(x[:320], y[:320], RewardModelConfig(**config))
    assert np.allclose(first.predict(x), cut.predict(x))
    with pytest.raises(ValueError, match="train_fraction"):
        RewardModel.fit(x, y, RewardModelConfig(**config, train_fraction=0.0))


@pytest.mark.shared
def test_run_oirl_records_seeds_and_both_self_confidence_scores(shared_data):
    from fipo_utils.baselines.oirl.report import run_oirl

    config = RewardModelConfig(max_depth=3, n_rounds=10, learning_rate=0.3, subsample=0.8)
    results = run_oirl(
        shared_data, "gsm8k", "original", config, max_train_rows=100, max_test_rows=40,
        seeds=[1, 2],
    )  # fmt: skip
    assert results["seeds"] == [1, 2] and len(results["best_of_n_accuracy_by_seed"]) == 2
    assert results["best_of_n_accuracy"] == pytest.approx(
        np.mean(results["best_of_n_accuracy_by_seed"])
    )
    verdicts = results["per_question"]["best_of_n_correct_by_seed"]
    assert len(verdicts) == 2 and all(len(v) == 40 for v in verdicts)
    assert np.mean(results["per_question"]["best_single_correct"]) == pytest.approx(
        results["best_single_prompt_accuracy"]
    )
    for key in ("self_confidence", "self_confidence_signed"):
        assert results[key]["n_questions"] == 40 and 0 <= results[key]["accuracy"] <= 1
