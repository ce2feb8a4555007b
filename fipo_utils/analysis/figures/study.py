"""The study's headline in Table 6's shape: each optimizer's paired accuracy gain, pooled."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from fipo_utils.analysis.significance import POOLED, PRIMARY
from fipo_utils.inference.figures import (
    PAGE_INCHES,
    FigureResult,
    describe,
    finish,
    interval_errors,
    page_name,
    page_title,
    pages,
    panel_grid,
)

# The scorings the gain figure shows, in panel order, in words a reader of the paper knows.
GAIN_PANELS = {
    "letter": "multiple choice, option letter (the paper's scoring)",
    "continuation": "multiple choice, option text log-likelihood",
    "strict": "generation, strict answer template",
}
TITLE = "Does the optimized prompt change accuracy? All items pooled, per tester"


def study_gain_figure(study: pd.DataFrame) -> list[FigureResult]:
    """The study's headline: per optimizer and tester, the optimized-minus-naive accuracy of
    all items pooled (Table 6's shape), the primary endpoint's panels first, with the paired
    interval at the family's level; filled markers where the Holm-corrected McNemar test
    calls the difference, hollow where it does not. Two panels a row on one x-range, as
    many pages as the panels need."""
    if study.empty:
        return []
    pooled = study[(study["benchmark"] == POOLED) & study["scoring"].isin(list(GAIN_PANELS))]
    primary = set(pooled.loc[pooled["endpoint"] == PRIMARY, "scoring"])
    # notebook 06's evaluation only: the baselines (08) and the Table 8 run (09) score some of
    # the same optimizer names on other items, which would be other points under one label
    if "source" in pooled.columns:
        pooled = pooled[pooled["source"] == "eval"]
    if pooled.empty:
        return []
    # the primary endpoint leads; secondary scorings follow, labelled so
    scorings = sorted(
        (s for s in GAIN_PANELS if s in set(pooled["scoring"])), key=lambda s: s not in primary
    )
    optimizers = list(dict.fromkeys(pooled["optimizer"]))
    testers = list(dict.fromkeys(pooled["tester"]))
    height = 1.2 + 0.3 * len(optimizers) * max(1, len(testers) / 2)
    rows_per_page = max(1, int((PAGE_INCHES[1] - 0.8) // height))
    chunks = pages(scorings, 2 * rows_per_page)
    # one x-range on every panel: gains of different scorings compare on one scale
    span = 100 * pooled[["gain_low_family", "gain_high_family"]].abs().max().max()
    limit = 1.05 * float(span) if span == span and span > 0 else 1.0
    counts: list[str] = []
    figures = []
    for chunk in chunks:
        ncols = min(2, len(chunk))
        fig, axes = panel_grid(-(-len(chunk) // ncols), ncols, (4.6, height))
        for ax in axes.flat[len(chunk) :]:
            ax.set_visible(False)
        for ax, scoring in zip(axes.flat, chunk, strict=False):
            counts += _gain_panel(ax, pooled, scoring, optimizers, testers, scoring in primary)
            ax.set_xlim(-limit, limit)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", title="tester", fontsize=8)
        figures.append(fig)
    caption = (
        f"{describe(pooled['run'], 'Run')}. Each point is one optimizer's accuracy gain over "
        "the naive prompt on the same items, all benchmarks of that scoring pooled (Table 6's "
        "shape); the primary endpoint declared in the profile leads, secondary scorings are "
        "exploratory. Bars: exact-consistent Tango interval for paired proportions at the Holm "
        "family's Bonferroni level (1 - 0.05/m); filled: the Holm-corrected exact McNemar "
        "test calls the difference at 5%, hollow: it does not. Items per point: "
        + "; ".join(dict.fromkeys(counts))
        + ". The identity optimizer returns the naive prompt: its gain must be 0."
    )
    results = []
    for number, fig in enumerate(figures, start=1):
        fig.suptitle(page_title(TITLE, number, len(figures)), x=0.01, ha="left")
        results.append(finish(fig, page_name("analysis_study_gains", number), caption))
    return results


def _gain_panel(
    ax: Axes,
    pooled: pd.DataFrame,
    scoring: str,
    optimizers: list[str],
    testers: list[str],
    is_primary: bool,
) -> list[str]:
    """One scoring's panel: each tester's gains with their family-level intervals. Returns
    the "tester, kind: n" item counts for the caption."""
    markers = ["o", "s", "^", "D"]
    offsets = np.linspace(-0.18, 0.18, len(testers)) if len(testers) > 1 else [0.0]
    counts = []
    view = pooled[pooled["scoring"] == scoring]
    for t, tester in enumerate(testers):
        rows = view[view["tester"] == tester].set_index("optimizer").reindex(optimizers)
        if rows["gain"].isna().all():  # this tester has no cell of this scoring
            continue
        y = np.arange(len(optimizers)) + offsets[t]
        gain, low, high = (100 * rows[c] for c in ("gain", "gain_low_family", "gain_high_family"))
        ax.errorbar(
            gain,
            y,
            xerr=interval_errors(gain, low, high),
            fmt="none",
            ecolor=f"C{t}",
            capsize=2,
            linewidth=1,
        )
        called = rows["verdict"].isin(["better", "worse"]).to_numpy()
        label: str | None = tester  # one legend entry per tester, on its first points
        for filled in (True, False):
            pick = called if filled else ~called
            if not pick.any():
                continue
            ax.scatter(
                gain[pick],
                y[pick],
                marker=markers[t % len(markers)],
                s=28,
                edgecolors=f"C{t}",
                facecolors=f"C{t}" if filled else "white",
                zorder=3,
                label=label,
            )
            label = None
        kind = GAIN_PANELS[scoring].split(",")[0]
        counts.append(f"{tester}, {kind}: {int(rows['n_items'].max())}")
    ax.axvline(0, color="black", linewidth=0.8)
    role = "PRIMARY" if is_primary else "secondary"
    ax.set_title(textwrap.fill(f"{role}: {GAIN_PANELS[scoring]}", 34), fontsize=9)
    ax.set_xlabel("optimized minus naive accuracy (points)")
    ax.set_ylabel("prompt optimizer")
    ax.set_yticks(np.arange(len(optimizers)), optimizers, fontsize=8)
    ax.invert_yaxis()
    ax.grid(axis="x", linewidth=0.3)
    return counts
