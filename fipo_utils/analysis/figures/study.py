"""The study's headline in Table 6's shape: each optimizer's paired accuracy gain, pooled."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from fipo_utils.analysis.significance import POOLED, PRIMARY
from fipo_utils.inference.figures import (
    FigureResult,
    describe,
    finish,
    interval_errors,
    panel_grid,
)

# The scorings the gain figure shows, in panel order, in words a reader of the paper knows.
GAIN_PANELS = {
    "letter": "multiple choice, option letter (the paper's scoring)",
    "continuation": "multiple choice, option text log-likelihood",
    "strict": "generation, strict answer template",
}


def study_gain_figure(study: pd.DataFrame) -> FigureResult | None:
    """The study's headline: per optimizer and tester, the optimized-minus-naive accuracy of
    all items pooled (Table 6's shape), the primary endpoint's panels first, with the paired
    interval at the family's level; filled markers where the Holm-corrected McNemar test
    calls the difference, hollow where it does not."""
    if study.empty:
        return None
    pooled = study[(study["benchmark"] == POOLED) & study["scoring"].isin(list(GAIN_PANELS))]
    primary = set(pooled.loc[pooled["endpoint"] == PRIMARY, "scoring"])
    # notebook 06's evaluation only: the baselines (08) and the Table 8 run (09) score some of
    # the same optimizer names on other items, which would be other points under one label
    if "source" in pooled.columns:
        pooled = pooled[pooled["source"] == "eval"]
    if pooled.empty:
        return None
    # the primary endpoint leads; secondary scorings follow, labelled so
    scorings = sorted(
        (s for s in GAIN_PANELS if s in set(pooled["scoring"])), key=lambda s: s not in primary
    )
    optimizers = list(dict.fromkeys(pooled["optimizer"]))
    testers = list(dict.fromkeys(pooled["tester"]))
    fig, axes = panel_grid(
        1, len(scorings), (4.2, 1.1 + 0.42 * len(optimizers) * max(1, len(testers) / 1.5))
    )
    markers = ["o", "s", "^", "D"]
    offsets = np.linspace(-0.18, 0.18, len(testers)) if len(testers) > 1 else [0.0]
    counts = []
    for ax, scoring in zip(axes[0], scorings, strict=True):
        view = pooled[pooled["scoring"] == scoring]
        for t, tester in enumerate(testers):
            rows = view[view["tester"] == tester].set_index("optimizer").reindex(optimizers)
            if rows["gain"].isna().all():  # this tester has no cell of this scoring
                continue
            y = np.arange(len(optimizers)) + offsets[t]
            gain, low, high = (
                100 * rows[c] for c in ("gain", "gain_low_family", "gain_high_family")
            )
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
        role = "PRIMARY" if scoring in primary else "secondary"
        ax.set_title(textwrap.fill(f"{role}: {GAIN_PANELS[scoring]}", 34), fontsize=9)
        ax.set_xlabel("optimized minus naive accuracy (points)")
        ax.set_ylabel("prompt optimizer")
        ax.set_yticks(np.arange(len(optimizers)), optimizers, fontsize=8)
        ax.invert_yaxis()
        ax.grid(axis="x", linewidth=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", title="tester", fontsize=8)
    fig.suptitle(
        "Does the optimized prompt change accuracy? All items pooled, per tester",
        x=0.01,
        ha="left",
    )
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
    return finish(fig, "analysis_study_gains", caption)
