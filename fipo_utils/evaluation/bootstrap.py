"""Seeded percentile-bootstrap intervals of a mean of per-item scores that are not 0/1 flags.

Accuracies and paired gains take score intervals (:mod:`fipo_utils.evaluation.intervals`),
which keep their coverage and width at a handful of items where a percentile bootstrap
collapses. What remains here is the mean of scores with more than two values: Prompt-OIRL's
per-question gains over seeds (``fipo_utils.analysis.oirl_gain``) and BPO's win/tie/loss
scores (``fipo_utils.analysis.win_rates``). Resampling is done exactly through the
multinomial distribution of the distinct values, so it costs the same for any number of items.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

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
