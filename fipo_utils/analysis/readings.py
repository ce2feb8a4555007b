"""Both readings of every cell, and the validity of the rewrites behind them (notebook 07).

Evaluation (06) reads each cell twice: ``eval/results.csv`` as written (primary, what the
paper measured) and ``eval/results_valid_only.csv`` over the items whose rewrite is valid
(sensitivity, its own n). :func:`readings_table` lays the two side by side, BBH tasks pooled;
:func:`validity_frame` counts the rewrites' problems per optimizer
(:mod:`fipo_utils.inference.validity`). Runs written before either existed are left out of
that table, and the Markdown says so.
"""

from __future__ import annotations

import pandas as pd

from fipo_utils.analysis.results import RunCollection, primary_rows, read_results_csv
from fipo_utils.analysis.tables import markdown_table
from fipo_utils.evaluation.columns import VALID_ONLY_RESULTS
from fipo_utils.inference.validity import (
    TABLE_COUNTS,
    MissingValidity,
    validity_rows,
    validity_table,
)

AS_WRITTEN = "as written"
VALID_ONLY = "valid only"
_CELL = ["run", "optimizer", "tester", "benchmark", "scoring", "reading"]
READING_COLUMNS = [*_CELL, "n_items", "naive", "optimized", "gain"]


def _pooled(results: pd.DataFrame, reading: str) -> pd.DataFrame:
    """Primary rows per cell, BBH tasks pooled, naive and optimized accuracy (%) and gain."""
    frame = primary_rows(results).assign(benchmark=lambda f: f["benchmark_group"], reading=reading)
    counts = frame.groupby([*_CELL, "condition"], as_index=False)[["n_items", "n_correct"]].sum()
    counts["accuracy"] = 100 * counts["n_correct"] / counts["n_items"]
    wide = counts.pivot_table(index=_CELL, columns="condition", values="accuracy").reset_index()
    items = counts[counts["condition"] == "optimized"][[*_CELL, "n_items"]]
    wide = wide.merge(items, on=_CELL, how="left")
    for condition in ("naive", "optimized"):
        if condition not in wide:
            wide[condition] = float("nan")
    wide["gain"] = wide["optimized"] - wide["naive"]
    return wide[READING_COLUMNS]


def readings_table(collection: RunCollection) -> pd.DataFrame:
    """Per run, optimizer, tester and benchmark family (primary scoring): the as-written
    reading of ``eval/results.csv`` and the valid-only reading beside it, each with its n.
    A run without ``eval/results_valid_only.csv`` (evaluated before it existed) has the
    first reading only."""
    parts = []
    for run, path in collection.run_dirs.items():
        eval_rows = collection.all_results[
            (collection.all_results["run"] == run) & (collection.all_results["source"] == "eval")
        ]
        if eval_rows.empty:
            continue
        parts.append(_pooled(eval_rows, AS_WRITTEN))
        valid_path = path / "eval" / VALID_ONLY_RESULTS
        if valid_path.is_file():
            parts.append(_pooled(read_results_csv(valid_path, run, "eval"), VALID_ONLY))
    if not parts:
        return pd.DataFrame(columns=READING_COLUMNS)
    table = pd.concat(parts, ignore_index=True)
    return table.sort_values(_CELL, kind="stable").reset_index(drop=True).round(2)


def validity_frame(collection: RunCollection) -> tuple[pd.DataFrame, list[str]]:
    """The validity table per run and optimizer, and the runs left out (no validity
    records: their rewrites are older than the records)."""
    tables, skipped = [], []
    for run, path in collection.run_dirs.items():
        try:
            rows = validity_rows(path)
        except MissingValidity:
            skipped.append(run)
            continue
        if not rows.empty:
            tables.append(validity_table(rows).assign(run=run))
    if not tables:  # the columns stay, so the CSV still says what it would hold
        return pd.DataFrame(
            columns=["run", "optimizer", "n_rewrites", "valid", *TABLE_COUNTS]
        ), skipped
    table = pd.concat(tables, ignore_index=True)
    return table[["run", *[c for c in table.columns if c != "run"]]], skipped


def validity_markdown(table: pd.DataFrame, skipped: list[str]) -> str:
    """The validity table as Markdown (``analysis/rewrite_validity.md``), for the study
    summary; names the runs whose rewrites carry no validity records."""
    lines = [
        "Rewrites per optimizer and how many had each problem (a rewrite is invalid when it "
        "was cut at the token limit, lost its options or a number of the question, loops on "
        "a template label, states the answer, or was empty); `numbers_added`, "
        "`same_as_naive` and `same_as_base` describe without invalidating.",
        "",
        markdown_table(table) if not table.empty else "_No rewrites with validity records._",
    ]
    if skipped:
        runs = ", ".join(skipped)
        lines += ["", f"Left out (rewritten before validity records existed): {runs}."]
    return "\n".join(lines)


def readings_markdown(table: pd.DataFrame) -> str:
    """Both readings as Markdown (``analysis/readings.md``): accuracy in %, gain in points."""
    if table.empty:
        return "_No evaluation results to read._"
    return markdown_table(table)
