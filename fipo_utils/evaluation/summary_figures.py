"""Accuracy in Table 2's shape: notebook 06's summary with intervals, and the per-tester
accuracy panels that notebook 06 and notebook 07 (``fipo_utils.analysis.figures``) draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fipo_utils.data.benchmarks import (
    BENCHMARK_LABELS,
    FAMILIES,
    PAPER,
    PAPER_TEST_SIZES,
    WEIGHTED_AVERAGE,
    chance_accuracy,
    weighted_average,
)
from fipo_utils.evaluation import intervals
from fipo_utils.inference.figures import (
    FigureResult,
    finish,
    label_panel,
    page_name,
    page_title,
    pages,
    panel_grid,
)

# Panels (optimizer x tester) on one page of the accuracy figures: 2 columns, 3 rows.
PANELS_PER_PAGE = 6
# How the panels name the weighted average under its bar.
AVERAGE_LABEL = "weighted avg"
# What the dotted chance marks mean, for the captions of figures that draw them.
CHANCE_NOTE = (
    "dotted: chance, a random option (PiQA 50%, CosmosQA and MMLU 25%; GSM8K 0; BBH's tasks "
    "differ, so BBH and averages over it have no mark)"
)
ACCURACY_TITLE = "Naive and optimized prompts: accuracy per tester (Table 2 shape)"


def accuracy_panels(
    accuracy: pd.DataFrame, published_cells: dict[str, tuple[float, float]] | None = None
) -> Figure:
    """One panel per (optimizer, tester): naive and optimized bars per benchmark.

    ``accuracy`` is long: optimizer, tester, condition, benchmark, accuracy, low, high,
    n_items (percent). A zero-height bar is marked with a red "0"; tick labels carry n.
    ``published_cells`` (benchmark -> (naive, FIPO)) are drawn as black diamonds.
    """
    order = [*FAMILIES, WEIGHTED_AVERAGE]
    panels = list(accuracy.groupby(["optimizer", "tester"], sort=False))
    # two panels a row: a page holds PANELS_PER_PAGE of them (accuracy_pages)
    ncols = min(2, len(panels))
    fig, axes = panel_grid(-(-len(panels) // ncols), ncols, (4.8, 3.4), min_width=6)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, ((optimizer, tester), part) in zip(axes.flat, panels, strict=False):
        benchmarks = [b for b in order if b in set(part["benchmark"])]
        benchmarks += sorted(set(part["benchmark"]) - set(benchmarks))
        x = np.arange(len(benchmarks))
        for offset, condition in ((-0.2, "naive"), (0.2, "optimized")):
            cells = part[part["condition"] == condition].set_index("benchmark").reindex(benchmarks)
            heights = cells["accuracy"].fillna(0)
            lower = (cells["accuracy"] - cells["low"]).clip(lower=0).fillna(0)
            upper = (cells["high"] - cells["accuracy"]).clip(lower=0).fillna(0)
            ax.bar(x + offset, heights, 0.4, yerr=[lower, upper], capsize=3, label=condition)
            for xi, value in zip(x + offset, cells["accuracy"], strict=True):
                if value == 0:
                    ax.annotate("0", (xi, 0), ha="center", va="bottom", fontsize=8, color="red")
            if published_cells:
                marks = [published_cells.get(b, (np.nan, np.nan)) for b in benchmarks]
                ax.scatter(
                    x + offset,
                    [m[0 if condition == "naive" else 1] for m in marks],
                    marker="D",
                    color="black",
                    zorder=3,
                    label="published" if condition == "naive" else None,
                )
        _chance_marks(ax, x, benchmarks)
        counts = part.groupby("benchmark")["n_items"].max()
        names = {**BENCHMARK_LABELS, WEIGHTED_AVERAGE: AVERAGE_LABEL}
        labels = [f"{names.get(b, b)}\nn={int(counts[b])}" for b in benchmarks]
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_ylim(0, 100)
        label_panel(
            ax,
            "benchmark (items evaluated)",
            "accuracy (%)",
            f"tester {tester}, optimizer {optimizer}",
            title_size=9,
        )
    return fig


def _chance_marks(ax: Axes, x: np.ndarray, benchmarks: list[str]) -> None:
    """A dotted mark at chance accuracy over each benchmark's pair of bars (the weighted
    average's over the benchmarks it averages), labelled once for the legend."""
    averaged = [b for b in benchmarks if b != WEIGHTED_AVERAGE]
    labelled = False
    for xi, benchmark in zip(x, benchmarks, strict=True):
        level = chance_accuracy(averaged if benchmark == WEIGHTED_AVERAGE else [benchmark])
        if not level:  # none known, or 0 (GSM8K): nothing to draw above the axis
            continue
        ax.hlines(
            level,
            xi - 0.45,
            xi + 0.45,
            colors="black",
            linestyles=":",
            linewidth=1.4,
            zorder=4,
            label="_nolegend_" if labelled else "chance",
        )
        labelled = True


def accuracy_with_intervals(summary: pd.DataFrame) -> pd.DataFrame:
    """Notebook 06's summary with accuracy in percent and a 95% interval per row: Wilson's,
    and for the weighted average the MOVER combination of its benchmarks' Wilson intervals
    (the one notebook 07 reports).

    ``summary`` has one row per optimizer, tester, condition and benchmark family with
    ``n_items`` and ``n_correct`` (``fipo_utils.evaluation.evaluate.summarize``). Its weighted
    average is replaced by the paper's, the one notebook 07 reports: each family weighted by
    the paper's full test-set size (BBH: all 6,511 items, even when a few tasks were run).
    """
    frame = summary[summary["benchmark"] != WEIGHTED_AVERAGE].copy()
    averages, pooled = [], {}
    for keys, part in frame.groupby(["optimizer", "tester", "condition"], sort=False):
        values = dict(zip(part["benchmark"], part["accuracy"], strict=True))
        weights = {b: PAPER_TEST_SIZES[b] for b in values if b in PAPER_TEST_SIZES}
        counts = {
            b: (int(k), int(n))
            for b, k, n in zip(part["benchmark"], part["n_correct"], part["n_items"], strict=True)
        }
        pooled[keys] = intervals.pooled_accuracy_interval(counts, weights)
        averages.append(
            dict(zip(["optimizer", "tester", "condition"], keys, strict=True))
            | {
                "benchmark": WEIGHTED_AVERAGE,
                "n_items": int(part.loc[part["benchmark"].isin(weights), "n_items"].sum()),
                "n_correct": int(part.loc[part["benchmark"].isin(weights), "n_correct"].sum()),
                "weight": sum(weights.values()),
                "accuracy": weighted_average(values, weights),
            }
        )
    frame = pd.concat([frame, pd.DataFrame(averages)], ignore_index=True)
    frame["accuracy"] = (100 * frame["accuracy"]).round(2)
    bounds = [
        intervals.accuracy_interval(int(r.n_correct), int(r.n_items))
        if r.benchmark != WEIGHTED_AVERAGE
        else pooled[(r.optimizer, r.tester, r.condition)]
        for r in frame.itertuples()
    ]
    frame["low"] = [round(100 * low, 2) for low, _ in bounds]
    frame["high"] = [round(100 * high, 2) for _, high in bounds]
    return frame


def accuracy_pages(
    accuracy: pd.DataFrame,
    name: str,
    caption: str,
    title: str,
    published_cells: dict[str, tuple[float, float]] | None = None,
) -> list[FigureResult]:
    """:func:`accuracy_panels` on pages of at most :data:`PANELS_PER_PAGE` panels, in the
    order of ``accuracy`` (``name``, ``name-2``, ...), each with the full caption."""
    keys = list(dict.fromkeys(zip(accuracy["optimizer"], accuracy["tester"], strict=True)))
    chunks = pages(keys, PANELS_PER_PAGE)
    results = []
    for number, chunk in enumerate(chunks, start=1):
        wanted = set(chunk)
        mask = [
            key in wanted for key in zip(accuracy["optimizer"], accuracy["tester"], strict=True)
        ]
        figure = accuracy_panels(accuracy[mask], published_cells)
        heading = page_title(title, number, len(chunks))
        results.append(finish(figure, page_name(name, number), caption, heading))
    return results


def absolute_accuracy_figure(accuracy: pd.DataFrame) -> list[FigureResult]:
    """Notebook 06's accuracy figure in Table 2's shape: one panel per tester, naive and
    optimized accuracy per benchmark family and the weighted average, with intervals and n,
    on as many pages as the panels need. ``accuracy`` is the output of
    :func:`accuracy_with_intervals`."""
    if accuracy.empty:
        return []
    caption = (
        "Bars: accuracy of each tester with the naive and with the optimized instruction; error "
        "bars: 95% Wilson interval (for the weighted average, which weights each benchmark by "
        "its full test-set size as the paper does, their MOVER combination); a red 0 marks a "
        f"bar of height zero; {CHANCE_NOTE}. Compare with {PAPER}, Table 2 (naive -> FIPO)."
    )
    return accuracy_pages(accuracy, "06_accuracy", caption, ACCURACY_TITLE)
