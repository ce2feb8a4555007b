"""Seeded percentile-bootstrap confidence intervals for accuracies and paired differences.

A smoke run evaluates a handful of items per benchmark; the intervals make that visible so a
table never claims more than its items show. Resampling a list of item scores is done
exactly through the multinomial distribution of its distinct values, which costs the same for
14,042 MMLU items as for 5 smoke items. Evaluation (notebook 06's summary) and analysis
(notebook 07's tables) draw their intervals with it.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DEFAULT_REPLICATES = 2000
DEFAULT_LEVEL = 0.95


def rng_for(seed: int, key: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and a stable key (table cell), so each cell's interval
    is reproducible on its own, whatever order the cells are computed in."""
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def resampled_means(
    scores: Sequence[float] | np.ndarray, replicates: int, rng: np.random.Generator
) -> np.ndarray:
    """Means of ``replicates`` bootstrap resamples (with replacement, same size) of ``scores``."""
    scores = np.asarray(scores, dtype=float)
    if scores.size == 0:
        raise ValueError("cannot bootstrap an empty list of item scores")
    values, counts = np.unique(scores, return_counts=True)
    draws = rng.multinomial(scores.size, counts / scores.size, size=replicates)
    return draws @ values / scores.size


def _interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def mean_ci(
    scores: Sequence[float] | np.ndarray,
    *,
    seed: int = 0,
    key: str = "",
    replicates: int = DEFAULT_REPLICATES,
    level: float = DEFAULT_LEVEL,
) -> tuple[float, float]:
    """Percentile interval of the mean of per-item scores (flags or paired differences)."""
    return _interval(resampled_means(scores, replicates, rng_for(seed, key)), level)


def accuracy_ci(correct: Sequence[bool] | np.ndarray, **options: Any) -> tuple[float, float]:
    """Percentile interval of the accuracy of per-item correctness flags: the mean of 0/1
    scores, so ``options`` are :func:`mean_ci`'s (seed, key, replicates, level)."""
    return mean_ci(correct, **options)


def accuracy_ci_from_counts(n_correct: int, n_items: int, **kwargs) -> tuple[float, float]:
    """The same interval from counts alone (a results table without per-item predictions):
    resampling items only depends on how many were right."""
    if n_items <= 0:
        return float("nan"), float("nan")
    flags = np.zeros(int(n_items))
    flags[: int(n_correct)] = 1
    return accuracy_ci(flags, **kwargs)


def paired_difference_ci(
    naive: Sequence[bool] | np.ndarray, optimized: Sequence[bool] | np.ndarray, **options: Any
) -> tuple[float, float]:
    """Interval of optimized-minus-naive accuracy, resampling items (the same item for both
    conditions), so per-item difficulty cancels. Inputs are aligned item by item; ``options``
    are :func:`mean_ci`'s."""
    naive = np.asarray(naive, dtype=float)
    optimized = np.asarray(optimized, dtype=float)
    if naive.shape != optimized.shape:
        raise ValueError(
            f"paired scores must align item by item: "
            f"{naive.size} naive vs {optimized.size} optimized"
        )
    return mean_ci(optimized - naive, **options)


def weighted_mean_ci(
    scores_by_benchmark: Mapping[str, Sequence[float] | np.ndarray],
    weights: Mapping[str, float],
    *,
    seed: int = 0,
    key: str = "",
    replicates: int = DEFAULT_REPLICATES,
    level: float = DEFAULT_LEVEL,
) -> tuple[float, float]:
    """Interval of a weighted average over benchmarks, resampling items within each benchmark
    independently (stratified). Scores are correctness flags, or paired differences for the
    interval of a weighted gain."""
    names = [b for b in scores_by_benchmark if b in weights and len(scores_by_benchmark[b])]
    if not names:
        return float("nan"), float("nan")
    total = sum(weights[b] for b in names)
    rng = rng_for(seed, key)
    combined = np.zeros(replicates)
    for name in names:
        combined += (
            weights[name] / total * resampled_means(scores_by_benchmark[name], replicates, rng)
        )
    return _interval(combined, level)
