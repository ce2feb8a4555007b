"""Bootstrap intervals on cases whose answer is known."""

from __future__ import annotations

import pytest

from fipo_utils.evaluation import bootstrap


def test_constant_scores_give_the_degenerate_interval():
    assert bootstrap.mean_ci([1.0] * 7, seed=1) == (1.0, 1.0)
    assert bootstrap.mean_ci([-1.0] * 7, seed=1) == (-1.0, -1.0)


def test_symmetric_case_contains_the_mean_and_is_roughly_symmetric():
    scores = [1, 0, -1, 0] * 25  # win / tie / loss, mean 0, variance 0.5
    low, high = bootstrap.mean_ci(scores, seed=5, replicates=4000)
    assert low < 0 < high
    assert -low == pytest.approx(high, abs=0.02)
    # Normal approximation: half-width about 1.96 * sqrt(0.5 / 100) = 0.139.
    assert high - low == pytest.approx(0.277, abs=0.04)


def test_same_seed_and_key_reproduce_and_other_keys_differ():
    scores = [1, 0, 0, -1, 1, 0, 1, 0, 1, 1, 0]
    first = bootstrap.mean_ci(scores, seed=7, key="gsm8k", replicates=300)
    assert bootstrap.mean_ci(scores, seed=7, key="gsm8k", replicates=300) == first
    draws = [
        bootstrap.resampled_means(scores, 300, bootstrap.rng_for(7, k)).tolist() for k in ("a", "b")
    ]
    assert draws[0] != draws[1]


def test_empty_scores_are_rejected():
    with pytest.raises(ValueError, match="empty"):
        bootstrap.mean_ci([])
