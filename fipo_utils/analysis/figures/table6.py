"""Table 6's shape: the weighted-average accuracy of each optimization strategy."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fipo_utils.analysis import published
from fipo_utils.data.benchmarks import chance_accuracy
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
    labels = [f"{r.optimizer} / {r.tester}" for r in view.itertuples()]
    y = np.arange(len(view))
    fig, axes = panel_grid(1, 1, (7.5, 1.4 + 0.3 * len(view)))
    ax = axes[0][0]
    errors = interval_errors(view["optimized"], view["optimized_low"], view["optimized_high"])
    ax.barh(y, view["optimized"], 0.6, xerr=errors, capsize=3, label="optimized (ours)")
    ax.scatter(view["naive"], y, marker="|", s=300, color="red", zorder=3, label="naive (ours)")
    ax.scatter(
        view["published_70B"],
        y,
        marker="D",
        color="black",
        zorder=3,
        label="published 70B (Tulu2-7B tester)",
    )
    ax.axvline(
        view["published_naive"].iloc[0],
        color="black",
        linestyle=":",
        linewidth=0.8,
        label="published naive",
    )
    chance = chance_accuracy(common.split(","))
    if chance:
        ax.axvline(chance, color="grey", linestyle="-.", linewidth=0.9, label="chance")
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    label_panel(
        ax,
        "weighted average accuracy (%)",
        "optimizer / tester",
        "Optimization strategies: weighted average accuracy",
        legend=False,
    )
    # beside the axes, where no bar runs under it
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    caption = (
        f"{describe(view['run'], 'Run')}. Weighted by the paper's test-set sizes over the same "
        f"benchmarks for every bar ({common.replace(',', ', ')})"
        + (f"; left out, evaluated on other benchmarks: {', '.join(left_out)}" if left_out else "")
        + "; "
        f"items per bar: {', '.join(str(int(n)) for n in view['n_optimized'])}. Error bars: 95% "
        f"intervals ({intervals.POOLED_METHOD}). Diamonds: {published.TABLE6_SOURCE}. "
        + (
            f"Dash-dotted: chance, a random option on every item ({chance:.1f}%)."
            if chance
            else "No chance line: BBH's tasks have no single chance level."
        )
    )
    return finish(fig, "analysis_strategies", caption)
