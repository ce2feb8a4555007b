"""The audit of notebook 05's rewrites: optimized prompts that carry the answer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fipo_utils.analysis import published
from fipo_utils.data.benchmarks import BENCHMARK_LABELS, FAMILIES
from fipo_utils.inference.figures import (
    PAGE_INCHES,
    FigureResult,
    describe,
    finish,
    label_panel,
    page_name,
    page_title,
    pages,
    panel_grid,
)

CHEATING_NOTE_PUBLISHED_BOUND = 10.0  # percent: "under 10% of cases"
TITLE = "Cheating notes: optimized prompts that carry the answer"


def cheating_note_figure(optimized: pd.DataFrame) -> list[FigureResult]:
    """Share of optimized prompts flagged as carrying the answer ("cheating notes"): one
    panel per benchmark family, one bar per optimizer with its k/n, the paper's 10% bound,
    and one x-range on every panel so they compare at a glance; as many pages as needed."""
    if optimized.empty:
        return []
    view = optimized.assign(group=optimized["benchmark"].str.split("/").str[0])
    stats = (
        view.groupby(["group", "optimizer"], sort=False)["cheating_note"]
        .agg(["sum", "count"])
        .reset_index()
    )
    stats["rate"] = 100 * stats["sum"] / stats["count"]
    optimizers = list(dict.fromkeys(stats["optimizer"]))
    order = {family: i for i, family in enumerate(FAMILIES)}
    groups = sorted(dict.fromkeys(stats["group"]), key=lambda g: order.get(g, len(order)))
    height = 0.9 + 0.26 * len(optimizers)
    rows_per_page = max(1, int(PAGE_INCHES[1] // height))
    chunks = pages(groups, 2 * rows_per_page)
    # one x-range for every panel: the largest rate, at least the paper's bound, room for k/n
    right = 1.25 * max(float(stats["rate"].max()), CHEATING_NOTE_PUBLISHED_BOUND)
    caption = (
        f"{describe(optimized['run'], 'Run')}; "
        f"{int(stats['sum'].sum())} of {int(stats['count'].sum())} "
        "optimized prompts flagged as carrying the gold answer by the audit of notebook 05; "
        "k/n beside each bar. "
        f"Reference: {published.PAPER} reports cheating notes in under 10% of cases (dotted)."
    )
    results = []
    for number, chunk in enumerate(chunks, start=1):
        ncols = min(2, len(chunk))
        fig, axes = panel_grid(-(-len(chunk) // ncols), ncols, (4.8, height))
        for ax in axes.flat[len(chunk) :]:
            ax.set_visible(False)
        for ax, group in zip(axes.flat, chunk, strict=False):
            part = stats[stats["group"] == group].set_index("optimizer").reindex(optimizers)
            y = np.arange(len(optimizers))
            ax.barh(y, part["rate"].fillna(0), 0.6)
            for yi, rate, k, n in zip(y, part["rate"], part["sum"], part["count"], strict=True):
                if n == n:  # an optimizer that rewrote this benchmark
                    ax.text(rate, yi, f" {int(k)}/{int(n)}", va="center", fontsize=7)
            ax.axvline(
                CHEATING_NOTE_PUBLISHED_BOUND,
                color="black",
                linestyle=":",
                label="paper: under 10%",
            )
            ax.set_yticks(y, optimizers, fontsize=7)
            ax.invert_yaxis()
            ax.set_xlim(0, right)
            label_panel(
                ax,
                "optimized prompts with a cheating note (%)",
                "prompt optimizer",
                BENCHMARK_LABELS.get(group, group),
                title_size=9,
            )
        heading = page_title(TITLE, number, len(chunks))
        results.append(finish(fig, page_name("analysis_cheating_notes", number), caption, heading))
    return results
