"""The intervals and the power of the study tables reproduce published worked examples.

Paired differences: Tango's score interval (Tango 1998, Stat Med 17:891) against the worked
examples published with it and after it, as the R package ratesci checks them
(tests/testthat/test3.R: Tango 1998; Agresti & Min 2005; Fagerland, Lydersen & Laake 2014,
the Bentur et al. airway data; Tang et al. 2010; Chang 2024). Single proportions: Newcombe
(1998, Stat Med 17:857) Table I, Wilson and Clopper-Pearson. Weighted averages: MOVER, whose
(1, -1) case on Wilson intervals is Newcombe's (1998, Stat Med 17:873) method 10, checked on
its example (a). Tables are (a, b, c, d): both right, only the first right, only the second
right, neither; the difference is (b - c)/n.
"""

from __future__ import annotations

import pytest
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from fipo_utils.analysis.power import items_for_effect, minimum_detectable_effect
from fipo_utils.analysis.significance import mcnemar_exact_p
from fipo_utils.evaluation.intervals import (
    accuracy_interval,
    conditional_exact_interval,
    mover_interval,
    paired_difference_interval,
    pooled_accuracy_interval,
    pooled_paired_interval,
    tango_interval,
)


@pytest.mark.parametrize(
    ("table", "level", "published", "decimals"),
    [
        ((4, 9, 3, 16), 0.95, (-0.027, 0.390), 3),  # Tango 1998
        ((43, 0, 1, 0), 0.90, (-0.096, 0.037), 3),  # Tango 1998: one discordant pair
        ((53, 16, 8, 9), 0.95, (-0.020, 0.207), 3),  # Agresti & Min 2005
        ((1, 1, 7, 12), 0.95, (-0.517, -0.026), 3),  # Fagerland et al. 2014 (Bentur 2009)
        ((8, 3, 1, 2), 0.95, (-0.1670, 0.4327), 4),  # Tang et al. 2010
        ((7, 25, 2, 68), 0.95, (0.139, 0.321), 3),  # Chang 2024
    ],
)
def test_tango_interval_reproduces_published_examples(table, level, published, decimals):
    a, b, c, d = table
    low, high = tango_interval(b, c, a + b + c + d, level)
    assert (round(low, decimals), round(high, decimals)) == published


def test_the_reported_gain_interval_excludes_zero_exactly_where_exact_mcnemar_rejects():
    """The hull of Tango's and the exact conditional interval against statsmodels' exact
    McNemar on every table of n = 10, 25 and 40 items, at 95% and at a Bonferroni level."""
    disagreements = []
    for level in (0.95, 1 - 0.05 / 24):
        for n in (10, 25, 40):
            for b in range(n + 1):
                for c in range(n + 1 - b):
                    low, high = paired_difference_interval(b, c, n, level)
                    assert low < (b - c) / n < high or (b - c) / n in (-1.0, 1.0)
                    excludes = low > 0 or high < 0
                    p = mcnemar([[0, b], [c, n - b - c]], exact=True).pvalue
                    if excludes != (p < 1 - level):
                        disagreements.append((level, n, b, c))
    assert disagreements == []
    # the review's cell: 0 up and 4 down of 40, p = 0.125; Tango alone excludes zero there
    assert tango_interval(0, 4, 40)[1] < 0
    low, high = paired_difference_interval(0, 4, 40)
    assert low < 0 < high
    assert (low, high) == pytest.approx(
        (min(tango_interval(0, 4, 40)[0], conditional_exact_interval(0, 4, 40)[0]), high)
    )


def test_tango_interval_keeps_its_width_with_few_discordant_pairs():
    # no discordant item: [-z²/(n+z²), z²/(n+z²)], never a point
    low, high = paired_difference_interval(0, 0, 40)
    z2 = 1.959963984540054**2
    assert (low, high) == pytest.approx((-z2 / (40 + z2), z2 / (40 + z2)))
    for b, c in [(0, 1), (0, 4), (2, 3), (10, 0)]:
        low, high = paired_difference_interval(b, c, 40)
        assert low < (b - c) / 40 < high
    # all items improved: the upper limit is the largest possible gain
    assert paired_difference_interval(5, 0, 5)[1] == 1.0
    # a higher level widens it
    narrow, wide = paired_difference_interval(3, 9, 50), paired_difference_interval(3, 9, 50, 0.99)
    assert wide[0] < narrow[0] and narrow[1] < wide[1]
    with pytest.raises(ValueError, match="exceed 10 items"):
        paired_difference_interval(8, 5, 10)


@pytest.mark.parametrize(
    ("k", "n", "wilson", "clopper_pearson"),
    [
        (15, 148, (0.0624, 0.1605), (0.0578, 0.1617)),
        (0, 20, (0.0, 0.1611), (0.0, 0.1684)),
        (1, 29, (0.0061, 0.1718), (0.0009, 0.1776)),
    ],
)
def test_accuracy_intervals_reproduce_newcombe_table_one(k, n, wilson, clopper_pearson):
    assert tuple(round(x, 4) for x in accuracy_interval(k, n)) == wilson
    exact = proportion_confint(k, n, alpha=0.05, method="beta")
    assert tuple(round(x, 4) for x in exact) == clopper_pearson


@pytest.mark.parametrize(("b", "c"), [(0, 4), (8, 1), (3, 3), (12, 2), (0, 9)])
def test_exact_mcnemar_equals_statsmodels(b, c):
    expected = mcnemar([[30, b], [c, 10]], exact=True).pvalue
    assert mcnemar_exact_p(b, c) == pytest.approx(expected)
    assert mcnemar_exact_p(0, 4) == pytest.approx(0.125)


def test_minimum_detectable_effect_inverts_the_sample_size_formula():
    # pooled multiple choice of the reference run: n = 70, Gemma's discordance 0.23
    mde = minimum_detectable_effect(0.23, 70)
    assert mde == pytest.approx(0.158, abs=1e-3)
    assert minimum_detectable_effect(0.23, 70, alpha=0.05 / 14) == pytest.approx(0.210, abs=1e-3)
    assert items_for_effect(0.23, mde) in (70, 71)  # ceil of the same formula
    # 3 points at discordance 0.25 need about 2,200 items (the review's figure)
    assert 2100 < items_for_effect(0.25, 0.03) < 2300
    # a gain cannot exceed the discordance: two flips of 50 items detect nothing
    assert minimum_detectable_effect(0.04, 50) != minimum_detectable_effect(0.04, 50)  # NaN
    with pytest.raises(ValueError):
        items_for_effect(0.1, 0.2)


def test_mover_of_two_wilson_intervals_is_newcombes_method_ten():
    # Newcombe 1998, Table II example (a): 56/70 - 48/80 = 0.2000, method 10 0.0524 to 0.3339
    parts = [(k / n, *accuracy_interval(k, n)) for k, n in ((56, 70), (48, 80))]
    low, high = mover_interval(parts, [1.0, -1.0])
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_pooled_intervals_keep_their_width_where_every_stratum_is_constant():
    # 0 of 24 on two BBH tasks: a stratified bootstrap printed [0, 0]
    low, high = pooled_accuracy_interval({"a": (0, 24), "b": (0, 24)}, {"a": 1, "b": 1})
    assert low == 0.0 and high > 0.05
    # no discordant item anywhere: the gain's interval still straddles zero
    low, high = pooled_paired_interval({"a": (0, 0, 24), "b": (0, 0, 24)}, {"a": 1, "b": 1})
    assert low < 0 < high and high == pytest.approx(-low)


def test_pooled_interval_of_one_stratum_is_its_own_and_weights_are_normalised():
    assert pooled_accuracy_interval({"a": (3, 24)}, {"a": 5.0}) == pytest.approx(
        accuracy_interval(3, 24)
    )
    assert pooled_paired_interval({"a": (2, 1, 30)}, {"a": 0.3}) == pytest.approx(
        paired_difference_interval(2, 1, 30)
    )
    # two identical strata at equal weight: each distance shrinks by sqrt(2)
    estimate, low, high = 3 / 24, *accuracy_interval(3, 24)
    pooled = pooled_accuracy_interval({"a": (3, 24), "b": (3, 24)}, {"a": 1, "b": 1})
    assert pooled == pytest.approx(
        (estimate - (estimate - low) / 2**0.5, estimate + (high - estimate) / 2**0.5)
    )
