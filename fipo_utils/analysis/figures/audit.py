"""The audit of notebook 05's rewrites: optimized prompts that carry the answer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fipo_utils.analysis import published
from fipo_utils.inference.figures import FigureResult, describe, finish, label_panel, panel_grid

CHEATING_NOTE_PUBLISHED_BOUND = 10.0  # percent: "under 10% of cases"


def cheating_note_figure(optimized: pd.DataFrame) -> FigureResult | None:
    """Share of optimized prompts flagged as carrying the answer ("cheating notes") per
    benchmark and optimizer, with k/n counts on the bars and the paper's 10% bound."""
    if optimized.empty:
        return None
    view = optimized.assign(group=optimized["benchmark"].str.split("/").str[0])
    stats = (
        view.groupby(["optimizer", "group"], sort=False)["cheating_note"]
        .agg(["sum", "count"])
        .reset_index()
    )
    fig, axes = panel_grid(1, 1, (1.0 * len(stats), 3.6), min_width=5)
    ax = axes[0][0]
    x = np.arange(len(stats))
    rates = 100 * stats["sum"] / stats["count"]
    ax.bar(x, rates, 0.6)
    for xi, rate, k, n in zip(x, rates, stats["sum"], stats["count"], strict=True):
        ax.text(xi, rate, f"{int(k)}/{int(n)}", ha="center", va="bottom", fontsize=7)
    ax.axhline(
        CHEATING_NOTE_PUBLISHED_BOUND, color="black", linestyle=":", label="paper: under 10%"
    )
    ax.set_xticks(
        x,
        [f"{o}\n{g}" for o, g in zip(stats["optimizer"], stats["group"], strict=True)],
        fontsize=7,
    )
    label_panel(
        ax,
        "optimizer / benchmark",
        "optimized prompts with a cheating note (%)",
        "Cheating notes: optimized prompts that carry the answer",
    )
    caption = (
        f"{describe(optimized['run'], 'Run')}; "
        f"{int(stats['sum'].sum())} of {int(stats['count'].sum())} "
        "optimized prompts flagged as carrying the gold answer by the audit of notebook 05. "
        f"Reference: {published.PAPER} reports cheating notes in under 10% of cases."
    )
    return finish(fig, "analysis_cheating_notes", caption)
