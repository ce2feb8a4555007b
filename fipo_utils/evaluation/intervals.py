"""Confidence intervals that hold at the item counts of a CPU study: a handful of discordant
pairs, accuracies of 0/20.

A percentile bootstrap collapses there: a cell with 0 items up and 4 down out of 40 has no
discordant item in 1.5% of resamples (0.9**40), under the 2.5% tail, so its 95% interval
excludes zero while the exact McNemar test gives p = 0.125; a 0/20 accuracy resamples to
[0, 0]. Score intervals do not:

* an accuracy: Wilson's score interval (``statsmodels`` ``proportion_confint``,
  ``method="wilson"``), which Newcombe (1998, Stat Med 17:857) recommends over the exact
  Clopper-Pearson one for its coverage closer to nominal; 0/20 gives [0, 16.1%];
* a paired difference of accuracies (optimized minus naive on the same items): Tango's
  asymptotic score interval (Tango 1998, Stat Med 17:891), the interval Fagerland, Lydersen
  and Laake (2014, Stat Med 33:2850) recommend for paired proportions. It inverts the score
  test whose value at a difference of 0 is McNemar's statistic, so it never has zero width
  for n > 0: with no discordant item it is ``[-z²/(n+z²), z²/(n+z²)]``. statsmodels and
  scipy have no paired-difference score interval; this module adds the root finding.
  Being asymptotic, it excludes zero at 0 items up and 4 down of 40, where the exact
  McNemar test the tables' verdicts use gives p = 0.125; so the interval reported is the
  hull of Tango's and the exact conditional one (Clopper-Pearson for the share of
  discordant items that went up, scaled by the discordant share), which excludes zero
  exactly when the exact McNemar test at the same level rejects;
* a weighted average over benchmarks (or BBH tasks), of accuracies or of paired gains:
  the MOVER combination (Zou and Donner 2008, Stat Med 27:1693) of the per-stratum Wilson or
  paired (exact-consistent Tango) intervals, which inherits their coverage at small counts
  and their non-zero width.
  A stratified percentile bootstrap, which it replaces, collapses to a point when every
  stratum resamples to a constant (0/24 on each of two BBH tasks).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm
from statsmodels.stats.proportion import proportion_confint

ACCURACY_METHOD = "Wilson score"
PAIRED_METHOD = "exact-consistent Tango score"
POOLED_METHOD = "MOVER of per-stratum Wilson / exact-consistent Tango score intervals"


def z_value(level: float) -> float:
    """The two-sided normal quantile of a ``level`` interval (1.96 at 0.95)."""
    if not 0 < level < 1:
        raise ValueError(f"confidence level {level} must lie strictly between 0 and 1")
    return float(norm.ppf(1 - (1 - level) / 2))


def accuracy_interval(n_correct: int, n_items: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson interval of ``n_correct / n_items``; NaN for no items."""
    if n_items <= 0:
        return math.nan, math.nan
    low, high = proportion_confint(n_correct, n_items, alpha=1 - level, method="wilson")
    return float(low), float(high)


def discordant_counts(differences: Sequence[float] | np.ndarray) -> tuple[int, int, int]:
    """Items up, items down and all items of per-item optimized-minus-naive differences:
    the counts :func:`paired_difference_interval` takes."""
    values = np.asarray(differences, dtype=float)
    return int(np.sum(values > 0)), int(np.sum(values < 0)), int(values.size)


def _tango_statistic(n_improved: int, n_worsened: int, n: int, delta: float) -> float:
    """Tango's score statistic for the hypothesis that the paired difference is ``delta``.

    ``p21`` is the constrained maximum-likelihood share of items only the naive prompt gets
    right, the positive root of ``2n p² + w p - c delta (1 - delta) = 0``; the variance of one
    item's difference under the hypothesis is ``2 p21 + delta (1 - delta)``.
    """
    b, c = n_improved, n_worsened
    w = -(b + c) + (2 * n - b + c) * delta
    p21 = (-w + math.sqrt(max(w * w + 8 * n * c * delta * (1 - delta), 0.0))) / (4 * n)
    variance = n * (2 * p21 + delta * (1 - delta))
    numerator = b - c - n * delta
    if variance <= 0:
        return 0.0 if numerator == 0 else math.copysign(1e12, numerator)
    return numerator / math.sqrt(variance)


def tango_interval(
    n_improved: int, n_worsened: int, n_items: int, level: float = 0.95
) -> tuple[float, float]:
    """Tango's score interval of the paired difference ``(n_improved - n_worsened) / n``:
    every difference the score test at ``1 - level`` does not reject. NaN for no items."""
    n = int(n_items)
    if n <= 0:
        return math.nan, math.nan
    if n_improved < 0 or n_worsened < 0 or n_improved + n_worsened > n:
        raise ValueError(
            f"paired counts {n_improved} improved + {n_worsened} worsened exceed {n} items"
        )
    z = z_value(level)
    estimate = (n_improved - n_worsened) / n

    def excess(delta: float, sign: float) -> float:
        return _tango_statistic(n_improved, n_worsened, n, delta) - sign * z

    # the statistic falls from +inf at -1 through 0 at the estimate to -inf at +1
    high = 1.0 if excess(1.0, -1.0) >= 0 else brentq(excess, estimate, 1.0, args=(-1.0,))
    low = -1.0 if excess(-1.0, 1.0) <= 0 else brentq(excess, -1.0, estimate, args=(1.0,))
    return float(low), float(high)


def conditional_exact_interval(
    n_improved: int, n_worsened: int, n_items: int, level: float = 0.95
) -> tuple[float, float]:
    """The paired difference's interval given its discordant items: Clopper-Pearson for
    the share of them that went up, mapped to ``(2 share - 1) * discordant / n``. It
    inverts the exact McNemar test (the binomial test of that share at 1/2), so it excludes
    zero exactly when that test rejects; with no discordant item it is the point 0."""
    discordant = n_improved + n_worsened
    if n_items <= 0:
        return math.nan, math.nan
    if discordant == 0:
        return 0.0, 0.0
    low, high = proportion_confint(n_improved, discordant, alpha=1 - level, method="beta")
    scale = discordant / n_items
    return float((2 * low - 1) * scale), float((2 * high - 1) * scale)


def paired_difference_interval(
    n_improved: int, n_worsened: int, n_items: int, level: float = 0.95
) -> tuple[float, float]:
    """The interval the tables report for a paired gain: the hull of Tango's score
    interval (never of zero width) and the exact conditional one (never excluding zero
    where exact McNemar does not reject), so the interval and the test agree."""
    tango = tango_interval(n_improved, n_worsened, n_items, level)
    exact = conditional_exact_interval(n_improved, n_worsened, n_items, level)
    return min(tango[0], exact[0]), max(tango[1], exact[1])


def mover_interval(
    parts: Sequence[tuple[float, float, float]], weights: Sequence[float]
) -> tuple[float, float]:
    """Interval of ``sum(w * estimate)`` over independent strata from each stratum's
    ``(estimate, low, high)`` (MOVER, Zou and Donner 2008): the distances to each stratum's
    limits add in quadrature, a negative weight trading its lower distance for its upper.
    One stratum of weight 1 gives its own interval back; weights (1, -1) on two Wilson
    intervals are Newcombe's (1998) method 10 for a difference of independent proportions.
    NaN when no stratum has an estimate."""
    kept = [
        (w, part)
        for w, part in zip(weights, parts, strict=True)
        if w != 0 and not any(math.isnan(v) for v in part)
    ]
    if not kept:
        return math.nan, math.nan
    estimate = sum(w * e for w, (e, _, _) in kept)
    below = [w * (e - lo) if w > 0 else -w * (hi - e) for w, (e, lo, hi) in kept]
    above = [w * (hi - e) if w > 0 else -w * (e - lo) for w, (e, lo, hi) in kept]
    return (
        estimate - math.sqrt(sum(d * d for d in below)),
        estimate + math.sqrt(sum(d * d for d in above)),
    )


def _normalised(weights: Sequence[float]) -> list[float]:
    total = sum(weights)
    return [w / total for w in weights]


def pooled_accuracy_interval(
    counts: Mapping[str, tuple[int, int]], weights: Mapping[str, float], level: float = 0.95
) -> tuple[float, float]:
    """Interval of the weighted mean accuracy over strata, each given as
    ``(n_correct, n_items)``: the MOVER of their Wilson intervals."""
    names = [b for b in counts if counts[b][1] > 0 and b in weights]
    parts = [(counts[b][0] / counts[b][1], *accuracy_interval(*counts[b], level)) for b in names]
    if not names:
        return math.nan, math.nan
    low, high = mover_interval(parts, _normalised([weights[b] for b in names]))
    return max(low, 0.0), min(high, 1.0)  # rounding only: the limits lie within the strata's


def pooled_paired_interval(
    counts: Mapping[str, tuple[int, int, int]], weights: Mapping[str, float], level: float = 0.95
) -> tuple[float, float]:
    """Interval of the weighted mean paired gain over strata, each given as
    ``(n_improved, n_worsened, n_items)``: the MOVER of their paired intervals."""
    names = [b for b in counts if counts[b][2] > 0 and b in weights]
    parts = [
        (
            (counts[b][0] - counts[b][1]) / counts[b][2],
            *paired_difference_interval(*counts[b], level),
        )
        for b in names
    ]
    if not names:
        return math.nan, math.nan
    low, high = mover_interval(parts, _normalised([weights[b] for b in names]))
    return max(low, -1.0), min(high, 1.0)
