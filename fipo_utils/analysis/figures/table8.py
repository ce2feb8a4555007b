"""Notebook 09's Table 8 run: accuracy, paired gain and cost of each method per tester."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fipo_utils.data.benchmarks import bbh_tasks_chance
from fipo_utils.inference.figures import FigureResult, finish, interval_errors, panel_grid


def table8_figure(
    accuracy: pd.DataFrame, cost: pd.DataFrame, tasks: list[str]
) -> FigureResult | None:
    """Notebook 09's Table 8 run, one row of panels per tester: each method's task-average
    accuracy beside Table 8's published number, its paired gain over the naive prompt, and
    what it cost (one-off search or training seconds, and seconds per query). A dotted line
    marks the task-average accuracy of answering at random (:func:`bbh_tasks_chance`)."""
    ours = accuracy[accuracy["source"] == "ours"]
    if ours.empty:
        return None
    chance = bbh_tasks_chance(tasks)
    testers = list(dict.fromkeys(ours["tester"]))
    rows = ours.groupby("tester").size().max()
    fig, axes = panel_grid(
        len(testers), 3, (10 / 3, (0.9 + 0.38 * rows * len(testers)) / len(testers))
    )
    for row, tester in zip(axes, testers, strict=True):
        view = ours[ours["tester"] == tester].set_index("label")
        y = np.arange(len(view))
        acc_ax, gain_ax, cost_ax = row
        errors = interval_errors(view["accuracy"], view["accuracy_low"], view["accuracy_high"])
        acc_ax.barh(y, view["accuracy"], xerr=errors, color="C0", alpha=0.7, label="ours, 95% CI")
        reference = view["published_tester"].dropna()
        acc_ax.scatter(
            view["published"],
            y,
            color="black",
            marker="x",
            label=f"Table 8, {reference.iloc[0] if len(reference) else 'published'} (6 tasks)",
        )
        if chance is not None:
            acc_ax.axvline(
                chance, color="grey", linestyle=":", linewidth=1.2, label=f"chance {chance:.0f}%"
            )
        acc_ax.set_yticks(y, view.index)
        acc_ax.set_xlabel("accuracy, mean over tasks (%)")
        n_items = int(view["n_items"].max())
        gain_ax.set_title(f"tester {tester}: {n_items} test items", fontsize=9)
        acc_ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, frameon=False)
        gains = view.drop(index=[i for i in view.index if i == "naive"])
        gy = np.array([list(view.index).index(i) for i in gains.index])
        gain_ax.errorbar(
            gains["gain"],
            gy,
            xerr=interval_errors(gains["gain"], gains["gain_low"], gains["gain_high"]),
            fmt="o",
            color="C1",
            capsize=2,
        )
        gain_ax.axvline(0, color="grey", linewidth=0.8)
        gain_ax.set_yticks(y, [""] * len(y))
        gain_ax.set_ylim(acc_ax.get_ylim())
        gain_ax.set_xlabel("gain over naive, points (95% paired CI)")
        spent = cost[cost["tester"] == tester].set_index("label").reindex(view.index)
        cost_ax.barh(
            y - 0.2,
            spent["one_off_seconds"],
            height=0.4,
            color="C2",
            label="one-off: training or search",
        )
        cost_ax.barh(
            y + 0.2,
            spent["per_query_seconds"],
            height=0.4,
            color="C3",
            label="per query: rewrite + answer",
        )
        cost_ax.set_xscale("symlog", linthresh=1)
        cost_ax.set_yticks(y, [""] * len(y))
        cost_ax.set_ylim(acc_ax.get_ylim())
        cost_ax.set_xlabel("seconds on this machine")
        cost_ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, frameon=False)
    caption = (
        f"Table 8 as a run on {', '.join(tasks)}: every method answers the same test items "
        "(strict answer check); APE and OPRO searched on dev items only. Published crosses "
        "are Table 8's averages over its six BBH tasks with the paper's testers, a scale and task "
        "set this run does not share: compare methods within a row, not with the crosses."
        + (
            f" Dotted: answering at random ({chance:.0f}%: 1/k of a task's k options, 0 for "
            "free-form answers, averaged over the tasks)."
            if chance is not None
            else ""
        )
    )
    return finish(fig, "09_table8", caption)
