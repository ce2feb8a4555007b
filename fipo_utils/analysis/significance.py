"""Is a gain real? Paired statistics per (optimizer, tester, benchmark) and the item count a
study needs.

Every optimizer is judged on the same items as the naive prompt, by the same tester, so the
comparison is paired: what matters is the items on which the two conditions disagree. With
``b`` items the optimized prompt alone gets right and ``c`` the naive prompt alone gets right,

* the gain is ``(b - c) / n``; its interval is the hull of Tango's score interval and the
  exact conditional one
  (:func:`fipo_utils.evaluation.intervals.paired_difference_interval`): it keeps its width
  at 0-10 discordant pairs where a percentile bootstrap collapses, and excludes zero exactly
  when the exact McNemar test at the same level rejects; accuracies get Wilson's;
* the exact McNemar test (``statsmodels`` ``mcnemar(exact=True)``) asks whether ``b`` of
  ``b + c`` discordant items is more lopsided than a fair coin would make it;
* one endpoint is primary, declared in the profile before the run (``analysis.primary``:
  a scoring for multiple choice and one for generation); every other scoring is secondary;
* Holm's correction (``statsmodels`` ``multipletests``) runs over one declared family per
  table: the primary cells of one source (notebook 06's ``eval``, 08's ``baselines``, 09's
  ``table8``) and level (per-benchmark cells: the Table 2 shape; pooled cells: the Table 6
  shape); each secondary scoring is its own family of that source and level. Control cells
  (the ``identity`` optimizer reuses the naive answers: gain 0 by construction) are reported
  but not counted in a family's size ``m``;
* beside a Holm verdict the table shows the interval at the family's Bonferroni level
  ``1 - alpha / m``, the simultaneous coverage Holm's verdicts need; the 95% interval stays
  in the CSV. The two can still disagree on a cell, one way only: Holm rejects more than
  Bonferroni, so a verdict may stand where the Bonferroni-level interval touches zero.
  Such cells are flagged (``agreement``), never hidden;
* power: each cell's minimum detectable effect at 80% power, from its discordance and ``n``,
  at ``alpha`` and at the family's ``alpha / m`` (:mod:`fipo_utils.analysis.power`);
* pooled cells join every benchmark's items of a cell: a stratified estimate whose weights
  are the item counts (printed in ``weights``; its effective n is then ``n`` itself).

How many items a study needs follows from the same quantities: the standard error of a
paired difference of proportions is ``sqrt((d - g**2) / n)`` for discordance rate
``d = (b + c) / n`` and gain ``g``, so a 95% half-width ``h`` needs
``n = z**2 * (d - g**2) / h**2`` items (:func:`items_for_half_width`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from fipo_utils.analysis import power
from fipo_utils.analysis.results import RunCollection
from fipo_utils.data.benchmarks import benchmark_family
from fipo_utils.evaluation import intervals
from fipo_utils.evaluation.scoring import SCORINGS as GENERATION_SCORINGS
from fipo_utils.inference.registry import OptimizerKind, registration
from fipo_utils.runs.settings import PAPER_PRIMARY

POOLED = "pooled"
ALPHA = 0.05
PRIMARY = "primary"
SECONDARY = "secondary"
CONTROL = "control"
STUDY_COLUMNS = [
    "run",
    "source",
    "optimizer",
    "tester",
    "benchmark",
    "scoring",
    "endpoint",
    "family",
    "family_size",
    "n_items",
    "weights",
    "naive",
    "naive_low",
    "naive_high",
    "optimized",
    "optimized_low",
    "optimized_high",
    "gain",
    "gain_low",
    "gain_high",
    "half_width",
    "n_improved",
    "n_worsened",
    "discordance",
    "mcnemar_p",
    "mde",
    "holm_p",
    "verdict",
    "family_level",
    "gain_low_family",
    "gain_high_family",
    "mde_family",
    "agreement",
]
# what each column is computed with, for captions and docs/analysis.md
METHODS = {
    "accuracy": f"{intervals.ACCURACY_METHOD} interval",
    "gain": f"{intervals.PAIRED_METHOD} interval for paired proportions",
    "test": "exact McNemar, Holm over the family",
    "mde": f"McNemar power formula at {power.POWER:.0%} power",
}


@dataclass(frozen=True)
class PairedCell:
    """Aligned per-item verdicts of one cell: naive and optimized, item by item, and the
    benchmark each item belongs to (the strata of a pooled cell)."""

    naive: np.ndarray
    optimized: np.ndarray
    benchmarks: tuple[str, ...] = ()

    @property
    def n_improved(self) -> int:
        return int(np.sum(~self.naive & self.optimized))

    @property
    def n_worsened(self) -> int:
        return int(np.sum(self.naive & ~self.optimized))


def mcnemar_exact_p(n_improved: int, n_worsened: int) -> float:
    """Two-sided exact McNemar p-value (``statsmodels``); 1.0 when no item changed."""
    if n_improved + n_worsened == 0:
        return 1.0
    table = [[0, n_improved], [n_worsened, 0]]  # concordant cells do not enter the test
    return float(mcnemar(table, exact=True).pvalue)


def holm(p_values: pd.Series, alpha: float = ALPHA) -> tuple[pd.Series, pd.Series]:
    """Holm-adjusted p-values and whether each rejects at ``alpha`` (family: all of them)."""
    if p_values.empty:
        return p_values.astype(float), p_values.astype(bool)
    reject, adjusted, _, _ = multipletests(p_values.to_numpy(float), alpha=alpha, method="holm")
    return (
        pd.Series(adjusted, index=p_values.index),
        pd.Series(reject, index=p_values.index),
    )


def endpoint_of(scoring: str, primary: Mapping[str, str]) -> str:
    """``primary`` when ``scoring`` is the declared primary scoring of its kind of benchmark
    (generation scorings are strict and lenient; every other is multiple choice)."""
    kind = "generation" if scoring in GENERATION_SCORINGS else "multiple_choice"
    return PRIMARY if primary.get(kind) == scoring else SECONDARY


def is_control(optimizer: str) -> bool:
    """The identity control: its answers are the naive ones, so its cells are constant."""
    found = registration(optimizer)
    return found is not None and found.kind == OptimizerKind.IDENTITY


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
    return PairedCell(
        ordered["naive"].to_numpy(bool),
        ordered["optimized"].to_numpy(bool),
        tuple(ordered["benchmark"].map(benchmark_family)),
    )


def _weights(cell: PairedCell, group: str) -> str:
    """A pooled cell's strata and their weights (item counts); empty for one benchmark."""
    if group != POOLED:
        return ""
    names, counts = np.unique(np.asarray(cell.benchmarks), return_counts=True)
    return ",".join(f"{name}:{count}" for name, count in zip(names, counts, strict=True))


def _cell_row(key: tuple, cell: PairedCell, level: float, alpha: float) -> dict:
    run, source, optimizer, tester, scoring, group = key
    n = cell.naive.size
    b, c = cell.n_improved, cell.n_worsened
    naive_k, optimized_k = int(cell.naive.sum()), int(cell.optimized.sum())
    low, high = intervals.paired_difference_interval(b, c, n, level)
    return {
        "run": run,
        "source": source,
        "optimizer": optimizer,
        "tester": tester,
        "benchmark": group,
        "scoring": scoring,
        "n_items": n,
        "weights": _weights(cell, group),
        "naive": naive_k / n,
        "naive_low": intervals.accuracy_interval(naive_k, n, level)[0],
        "naive_high": intervals.accuracy_interval(naive_k, n, level)[1],
        "optimized": optimized_k / n,
        "optimized_low": intervals.accuracy_interval(optimized_k, n, level)[0],
        "optimized_high": intervals.accuracy_interval(optimized_k, n, level)[1],
        "gain": (b - c) / n,
        "gain_low": low,
        "gain_high": high,
        "half_width": (high - low) / 2,
        "n_improved": b,
        "n_worsened": c,
        "discordance": (b + c) / n,
        "mcnemar_p": mcnemar_exact_p(b, c),
        "mde": power.minimum_detectable_effect((b + c) / n, n, alpha),
    }


def _agreement(row: pd.Series) -> str:
    """Whether the family-level interval and the Holm verdict tell the same story."""
    excludes = row["gain_low_family"] > 0 or row["gain_high_family"] < 0
    called = row["verdict"] in ("better", "worse")
    if excludes == called:
        return "agree"
    if excludes:  # cannot happen: the interval excludes 0 only where p < alpha / m
        return "interval only: the interval excludes 0, Holm does not reject"
    return "test only: Holm rejects, the Bonferroni-level interval touches 0"


def study_table(
    collection: RunCollection,
    *,
    primary: Mapping[str, str] = PAPER_PRIMARY,
    level: float = 0.95,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """One row per (source, optimizer, tester, benchmark, scoring): accuracies with Wilson
    intervals, the gain with its exact-consistent Tango interval (at ``level`` and at the family's
    Bonferroni level), discordant counts, the exact McNemar p-value, the minimum detectable
    effect, and the Holm verdict (``better``, ``worse``, ``no difference``; ``control`` for
    the identity optimizer's constant cells). Proportions, not percent; the benchmark
    ``pooled`` rows join all of a cell's items."""
    rows = [_cell_row(key, cell, level, alpha) for key, cell in paired_cells(collection).items()]
    table = pd.DataFrame(rows).reindex(columns=STUDY_COLUMNS)
    if table.empty:
        return table
    table["endpoint"] = [endpoint_of(s, primary) for s in table["scoring"]]
    control = table["optimizer"].map(is_control)
    level_of = np.where(table["benchmark"] == POOLED, POOLED, "benchmark")
    role = np.where(table["endpoint"] == PRIMARY, PRIMARY, SECONDARY + ":" + table["scoring"])
    # a family is (run, family): the label leaves the run out, so two runs compare equal
    table["family"] = np.where(control, CONTROL, table["source"] + "/" + role + "/" + level_of)
    table["verdict"] = CONTROL
    table["holm_p"] = np.where(control, table["mcnemar_p"], np.nan)
    table["family_size"] = 0
    table["family_level"] = level
    for index in table[~control].groupby(["run", "family"]).groups.values():
        adjusted, reject = holm(table.loc[index, "mcnemar_p"], alpha)
        m = len(index)
        table.loc[index, "holm_p"] = adjusted
        table.loc[index, "family_size"] = m
        table.loc[index, "family_level"] = 1 - (1 - level) / m
        table.loc[index, "verdict"] = np.where(
            reject, np.where(table.loc[index, "gain"] > 0, "better", "worse"), "no difference"
        )
    for i, row in table.iterrows():
        b, c, n = int(row["n_improved"]), int(row["n_worsened"]), int(row["n_items"])
        table.loc[i, ["gain_low_family", "gain_high_family"]] = (
            intervals.paired_difference_interval(b, c, n, float(row["family_level"]))
        )
        table.loc[i, "mde_family"] = power.minimum_detectable_effect(
            (b + c) / n, n, alpha / max(int(row["family_size"]), 1)
        )
    table["agreement"] = table.apply(_agreement, axis=1)
    order = {PRIMARY: 0, SECONDARY: 1}
    return table.sort_values(
        ["endpoint", "source", "scoring", "tester", "optimizer", "benchmark"],
        key=lambda col: col.map(order) if col.name == "endpoint" else col,
    ).reset_index(drop=True)


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
