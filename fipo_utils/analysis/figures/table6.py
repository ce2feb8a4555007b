"""Table 6's shape: the weighted-average accuracy of each optimization strategy."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from fipo_utils.analysis import published
from fipo_utils.evaluation import intervals
from fipo_utils.inference.figures import (
    FigureResult,
    describe,
    finish,
    interval_errors,
    label_panel,
    panel_grid,
)


def strategy_figure(strategies: pd.DataFrame) -> FigureResult | None:
    """Weighted-average accuracy per optimizer (paper-size weights) with intervals, our naive
    level as a dashed line, and the published 70B value of the same strategy."""
    if strategies.empty:
        return None
    view = strategies[strategies["benchmark"] == published.WEIGHTED_AVERAGE].dropna(
        subset=["optimized"]
    )
    if view.empty:
        return None
    # a weighted average over other benchmarks is another quantity: keep the commonest set
    common = view["benchmarks"].value_counts().index[0]
    left_out = sorted(set(view.loc[view["benchmarks"] != common, "optimizer"]))
    view = view[view["benchmarks"] == common]
    labels = [textwrap.fill(f"{r.optimizer} / {r.tester}", 16) for r in view.itertuples()]
    x = np.arange(len(view))
    fig, axes = panel_grid(1, 1, (1.3 * len(view), 4), min_width=5)
    ax = axes[0][0]
    errors = interval_errors(view["optimized"], view["optimized_low"], view["optimized_high"])
    ax.bar(x, view["optimized"], 0.6, yerr=errors, capsize=3, label="optimized (ours)")
    ax.scatter(x, view["naive"], marker="_", s=400, color="red", zorder=3, label="naive (ours)")
    ax.scatter(
        x,
        view["published_70B"],
        marker="D",
        color="black",
        zorder=3,
        label="published 70B (Tulu2-7B tester)",
    )
    ax.axhline(
        view["published_naive"].iloc[0],
        color="black",
        linestyle=":",
        linewidth=0.8,
        label="published naive",
    )
    ax.set_xticks(x, labels, fontsize=7, rotation=30, ha="right")
    label_panel(
        ax,
        "optimizer / tester",
        "weighted average accuracy (%)",
        "Optimization strategies: weighted average accuracy",
    )
    caption = (
        f"{describe(view['run'], 'Run')}. Weighted by the paper's test-set sizes over the same "
        f"benchmarks for every bar ({common.replace(',', ', ')})"
        + (f"; left out, evaluated on other benchmarks: {', '.join(left_out)}" if left_out else "")
        + "; "
        f"items per bar: {', '.join(str(int(n)) for n in view['n_optimized'])}. Error bars: 95% "
        f"intervals ({intervals.POOLED_METHOD}). Diamonds: {published.TABLE6_SOURCE}."
    )
    return finish(fig, "analysis_strategies", caption)
