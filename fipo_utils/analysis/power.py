"""What a paired comparison can detect: the minimum detectable effect (MDE) of McNemar's
test, and the items a target effect needs.

The standard sample-size formula for McNemar's test (Connor 1987, Biometrics 43:207) with
discordance rate ``psi`` (share of items whose verdict the prompt change flips) and gain
``delta`` is::

    n = (z_a * sqrt(psi) + z_b * sqrt(psi - delta**2))**2 / delta**2

with ``z_a`` the two-sided normal quantile of the test's level ``alpha`` and ``z_b`` that
of the power. Read the other way round, a cell of ``n`` items and observed discordance
``psi`` detects, with that power, gains of at least the ``delta`` solving it: the MDE
(:func:`minimum_detectable_effect`). Under a family's correction the level is Bonferroni's
``alpha / m``, which Holm never needs more than. statsmodels' power classes cover t, z, F
and chi-square tests of independent samples, not McNemar's, hence the formula here.

A gain can never exceed the discordance (every flip in one direction), so when even
``delta = psi`` is not detectable the MDE is undefined (NaN): that cell's verdicts flip too
rarely for any test to call them, and its interval, not its power, bounds the gain.
"""

from __future__ import annotations

import math

from scipy.optimize import brentq
from scipy.stats import norm

POWER = 0.8


def _z(alpha: float, power: float) -> tuple[float, float]:
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha {alpha} and power {power} must lie strictly between 0 and 1")
    return float(norm.ppf(1 - alpha / 2)), float(norm.ppf(power))


def items_for_effect(
    discordance: float, effect: float, alpha: float = 0.05, power: float = POWER
) -> int:
    """Paired items McNemar's test needs to detect a gain of ``effect`` with ``power`` at
    two-sided level ``alpha``, when a share ``discordance`` of items flips."""
    if not 0 < effect <= discordance <= 1:
        raise ValueError(
            f"effect {effect} must be positive and at most the discordance {discordance}"
        )
    z_a, z_b = _z(alpha, power)
    root = z_a * math.sqrt(discordance) + z_b * math.sqrt(discordance - effect**2)
    return math.ceil(root**2 / effect**2)


def minimum_detectable_effect(
    discordance: float, n_items: int, alpha: float = 0.05, power: float = POWER
) -> float:
    """The smallest gain (a proportion) McNemar's test detects with ``power`` at level
    ``alpha`` on ``n_items`` items of this discordance; NaN when none is detectable."""
    if n_items <= 0 or discordance <= 0:
        return math.nan
    z_a, z_b = _z(alpha, power)

    def shortfall(delta: float) -> float:
        reach = z_a * math.sqrt(discordance) + z_b * math.sqrt(max(discordance - delta**2, 0))
        return math.sqrt(n_items) * delta - reach

    if shortfall(discordance) < 0:
        return math.nan
    return float(brentq(shortfall, 1e-12, discordance))
