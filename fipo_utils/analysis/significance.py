"""Is a gain real? Paired statistics per (optimizer, tester, benchmark) and the item count a
study needs.

Every optimizer is judged on the same items as the naive prompt, by the same tester, so the
comparison is paired: what matters is the items on which the two conditions disagree. With
``b`` items the optimized prompt alone gets right and ``c`` the naive prompt alone gets right,

* the gain is ``(b - c) / n``; its interval is the paired bootstrap of
  :func:`fipo_utils.evaluation.bootstrap.paired_difference_ci` (items resampled, both
  conditions together);
* the exact McNemar test asks whether ``b`` out of ``b + c`` discordant items is more lopsided
  than a fair coin would make it (``scipy.stats.binomtest``, two-sided);
* many cells are tested at once, so verdicts use Holm-corrected p-values
  (``statsmodels.stats.multitest.multipletests``), one family per scoring and level
  (per-benchmark cells, and the pooled cells of the Table 6 shape).

How many items a study needs follows from the same quantities: the standard error of a
paired difference of proportions is ``sqrt((d - g**2) / n)`` for discordance rate
``d = (b + c) / n`` and gain ``g``, so a 95% half-width ``h`` needs
``n = z**2 * (d - g**2) / h**2`` items (:func:`items_for_half_width`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest, norm
from statsmodels.stats.multitest import multipletests

from fipo_utils.analysis.results import RunCollection
from fipo_utils.evaluation import bootstrap

POOLED = "pooled"
ALPHA = 0.05
STUDY_COLUMNS = [
    "run",
    "source",
    "optimizer",
    "tester",
    "benchmark",
    "scoring",
    "n_items",
    "naive",
    "optimized",
    "gain",
    "gain_low",
    "gain_high",
    "half_width",
    "n_improved",
    "n_worsened",
    "discordance",
    "mcnemar_p",
    "holm_p",
    "verdict",
]


@dataclass(frozen=True)
class PairedCell:
    """Aligned per-item verdicts of one cell: naive and optimized, item by item."""

    naive: np.ndarray
    optimized: np.ndarray

    @property
    def n_improved(self) -> int:
        return int(np.sum(~self.naive & self.optimized))

    @property
    def n_worsened(self) -> int:
        return int(np.sum(self.naive & ~self.optimized))


def mcnemar_exact_p(n_improved: int, n_worsened: int) -> float:
    """Two-sided exact McNemar p-value; 1.0 when no item changed (nothing to test)."""
    discordant = n_improved + n_worsened
    if discordant == 0:
        return 1.0
    return float(binomtest(n_improved, discordant, 0.5).pvalue)


def holm(p_values: pd.Series, alpha: float = ALPHA) -> tuple[pd.Series, pd.Series]:
    """Holm-adjusted p-values and whether each rejects at ``alpha`` (family: all of them)."""
    if p_values.empty:
        return p_values.astype(float), p_values.astype(bool)
    reject, adjusted, _, _ = multipletests(p_values.to_numpy(float), alpha=alpha, method="holm")
    return (
        pd.Series(adjusted, index=p_values.index),
        pd.Series(reject, index=p_values.index),
    )


def items_for_half_width(
    discordance: float, half_width: float = 0.05, confidence: float = 0.95, gain: float = 0.0
) -> int:
    """Items for a paired ``confidence`` interval of about ``half_width`` on the gain, given a
    pilot's discordance rate (share of items whose verdict the prompt change flips) and the
    gain expected (0 is the conservative choice: the variance is largest there)."""
    if not 0 <= discordance <= 1 or half_width <= 0:
        raise ValueError(f"discordance {discordance} must be in [0, 1], half_width positive")
    z = float(norm.ppf(1 - (1 - confidence) / 2))
    variance = max(discordance - gain**2, 0.0)
    return max(1, math.ceil(z**2 * variance / half_width**2))


def half_width_for_items(
    discordance: float, n_items: int, confidence: float = 0.95, gain: float = 0.0
) -> float:
    """The paired interval's expected half-width on ``n_items`` items: the inverse of
    :func:`items_for_half_width`, for stating what a study of a given size can resolve."""
    z = float(norm.ppf(1 - (1 - confidence) / 2))
    return z * math.sqrt(max(discordance - gain**2, 0.0) / n_items)


def paired_cells(collection: RunCollection) -> dict[tuple, PairedCell]:
    """Per (run, source, optimizer, tester, benchmark group, scoring): aligned verdicts.

    Items pair by (benchmark, id); the naive verdicts come from the optimizer's own naive
    records (every optimizer's naive prompt is the same text, and the same tester answers
    it). The ``pooled`` group joins every benchmark's items of a cell.
    """
    frame = collection.predictions
    if frame.empty:
        return {}
    rows = []
    for record in frame.itertuples(index=False):
        for scoring, verdict in record.correct_by.items():
            rows.append(
                (
                    record.run,
                    record.source,
                    record.optimizer,
                    record.tester,
                    record.benchmark_group,
                    scoring,
                    record.benchmark,
                    record.id,
                    record.condition,
                    bool(verdict),
                )
            )
    long = pd.DataFrame(
        rows,
        columns=[
            "run",
            "source",
            "optimizer",
            "tester",
            "group",
            "scoring",
            "benchmark",
            "id",
            "condition",
            "correct",
        ],
    )
    keys = ["run", "source", "optimizer", "tester", "group", "scoring", "benchmark", "id"]
    wide = long.pivot_table(index=keys, columns="condition", values="correct", aggfunc="first")
    wide = wide.dropna().reset_index()
    cells: dict[tuple, PairedCell] = {}
    cell_keys = ["run", "source", "optimizer", "tester", "scoring"]
    for key, part in wide.groupby([*cell_keys, "group"], sort=True):
        cells[key] = _cell(part)
    for key, part in wide.groupby(cell_keys, sort=True):
        cells[(*key, POOLED)] = _cell(part)
    return cells


def _cell(part: pd.DataFrame) -> PairedCell:
    ordered = part.sort_values(["benchmark", "id"])
    return PairedCell(ordered["naive"].to_numpy(bool), ordered["optimized"].to_numpy(bool))


def study_table(
    collection: RunCollection,
    *,
    seed: int = 2024,
    replicates: int = bootstrap.DEFAULT_REPLICATES,
    level: float = bootstrap.DEFAULT_LEVEL,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """One row per (optimizer, tester, benchmark, scoring): accuracies, the gain with its
    paired bootstrap interval, discordant counts, the exact McNemar p-value and the Holm
    verdict (``better``, ``worse`` or ``no difference``). Proportions, not percent; the
    benchmark ``pooled`` rows join all of a cell's items."""
    rows = []
    for (run, source, optimizer, tester, scoring, group), cell in paired_cells(collection).items():
        n = cell.naive.size
        # the run is not part of the key: two runs with the same items get the same interval
        key = f"study|{source}|{optimizer}|{tester}|{scoring}|{group}"
        low, high = bootstrap.paired_difference_ci(
            cell.naive, cell.optimized, seed=seed, key=key, replicates=replicates, level=level
        )
        gain = float(cell.optimized.mean() - cell.naive.mean())
        rows.append(
            {
                "run": run,
                "source": source,
                "optimizer": optimizer,
                "tester": tester,
                "benchmark": group,
                "scoring": scoring,
                "n_items": n,
                "naive": float(cell.naive.mean()),
                "optimized": float(cell.optimized.mean()),
                "gain": gain,
                "gain_low": low,
                "gain_high": high,
                "half_width": (high - low) / 2,
                "n_improved": cell.n_improved,
                "n_worsened": cell.n_worsened,
                "discordance": (cell.n_improved + cell.n_worsened) / n,
                "mcnemar_p": mcnemar_exact_p(cell.n_improved, cell.n_worsened),
            }
        )
    table = pd.DataFrame(rows, columns=STUDY_COLUMNS[:-2])
    table["holm_p"] = np.nan
    table["verdict"] = ""
    if table.empty:
        return table
    level_of = np.where(table["benchmark"] == POOLED, POOLED, "benchmark")
    for _, index in table.groupby([table["scoring"], level_of]).groups.items():
        adjusted, reject = holm(table.loc[index, "mcnemar_p"], alpha)
        table.loc[index, "holm_p"] = adjusted
        table.loc[index, "verdict"] = np.where(
            reject, np.where(table.loc[index, "gain"] > 0, "better", "worse"), "no difference"
        )
    return table.sort_values(["scoring", "tester", "optimizer", "benchmark"]).reset_index(drop=True)


def pilot_sizes(
    table: pd.DataFrame, half_width: float = 0.05, confidence: float = 0.95
) -> pd.DataFrame:
    """From a pilot's study table: per benchmark and scoring, the discordance rate measured
    and the items :func:`items_for_half_width` asks for (at gain 0 and at the gain seen)."""
    cells = table[table["benchmark"] != POOLED]
    rows = []
    for row in cells.itertuples(index=False):
        rows.append(
            {
                "optimizer": row.optimizer,
                "tester": row.tester,
                "benchmark": row.benchmark,
                "scoring": row.scoring,
                "pilot_items": row.n_items,
                "discordance": row.discordance,
                "gain": row.gain,
                "pilot_half_width": row.half_width,
                "items_needed": items_for_half_width(row.discordance, half_width, confidence),
                "items_needed_at_gain": items_for_half_width(
                    row.discordance, half_width, confidence, gain=row.gain
                ),
            }
        )
    return pd.DataFrame(rows)
