"""Bootstrap intervals on cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from fipo_utils.evaluation import bootstrap


def test_all_correct_gives_the_degenerate_interval_one_one():
    assert bootstrap.accuracy_ci([True] * 7, seed=1) == (1.0, 1.0)


def test_all_wrong_gives_zero_zero():
    assert bootstrap.accuracy_ci([False] * 7, seed=1) == (0.0, 0.0)


def test_identical_conditions_give_a_zero_paired_difference():
    flags = [1, 0, 1, 1, 0, 0, 1]
    assert bootstrap.paired_difference_ci(flags, flags, seed=3) == (0.0, 0.0)


def test_symmetric_case_contains_the_mean_and_is_roughly_symmetric():
    flags = [1, 0] * 50
    low, high = bootstrap.accuracy_ci(flags, seed=5, replicates=4000)
    assert low < 0.5 < high
    assert 0.5 - low == pytest.approx(high - 0.5, abs=0.02)
    # Normal approximation: half-width about 1.96 * sqrt(0.25 / 100) = 0.098.
    assert high - low == pytest.approx(0.196, abs=0.03)


def test_paired_interval_is_narrower_than_unpaired_when_items_drive_correctness():
    rng = np.random.default_rng(0)
    naive = rng.random(200) < 0.5
    optimized = naive.copy()
    optimized[:10] = True  # a small, consistent gain on the same items
    low, high = bootstrap.paired_difference_ci(naive, optimized, seed=2)
    n_low, n_high = bootstrap.accuracy_ci(naive, seed=2)
    assert low >= 0
    assert high - low < (n_high - n_low) / 2


def test_same_seed_and_key_reproduce_and_other_keys_differ():
    flags = [1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0]
    first = bootstrap.accuracy_ci(flags, seed=7, key="gsm8k", replicates=300)
    assert bootstrap.accuracy_ci(flags, seed=7, key="gsm8k", replicates=300) == first
    draws = [
        bootstrap.resampled_means(flags, 300, bootstrap.rng_for(7, k)).tolist() for k in ("a", "b")
    ]
    assert draws[0] != draws[1]


def test_counts_give_the_same_interval_as_flags():
    flags = [1, 1, 1, 0, 0]
    assert bootstrap.accuracy_ci_from_counts(3, 5, seed=4, key="k") == bootstrap.accuracy_ci(
        sorted(flags), seed=4, key="k"
    )


def test_weighted_interval_of_constant_benchmarks_is_the_weighted_value():
    scores = {"a": [1.0] * 4, "b": [0.0] * 6}
    low, high = bootstrap.weighted_mean_ci(scores, {"a": 3, "b": 1}, seed=0)
    assert low == pytest.approx(0.75) and high == pytest.approx(0.75)


def test_misaligned_paired_scores_are_rejected():
    with pytest.raises(ValueError, match="align item by item"):
        bootstrap.paired_difference_ci([1, 0], [1, 0, 1])


def test_empty_scores_are_rejected():
    with pytest.raises(ValueError, match="empty"):
        bootstrap.accuracy_ci([])
