"""The analysis figures. Each builder returns a :class:`FigureResult` (or ``None`` when the
runs hold nothing to draw) whose title and caption say which run, models and item counts it
shows, so a figure copied out of context still tells how much evidence is behind it.

Rules every figure follows (tests/test_figures_render.py checks them): labelled axes, plain
tick labels (no offset or scientific notation), no internal file or field names in any text,
the paper cited by table, and no axis shared by quantities of different scale.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fipo_utils.analysis import published
from fipo_utils.analysis.significance import POOLED
from fipo_utils.evaluation.bootstrap import accuracy_ci_from_counts
from fipo_utils.runs.figure_files import plain_ticks
from fipo_utils.training import plots

# Expected case-type shares of diversified data (the paper's dataset diversification: half
# multiple choice, four template variants, one extra IPL row), percent within each group.
EXPECTED_TYPE_MIX = {
    "main": {0: 25.0, 1: 12.5, 2: 12.5, 3: 25.0, 4: 12.5, 5: 12.5},
    "extra": {6: 25.0, 7: 25.0, 8: 50.0},
}
# How the accuracy panels name the weighted average under its bar.
AVERAGE_LABEL = "weighted avg"
CHEATING_NOTE_PUBLISHED_BOUND = 10.0  # percent: "under 10% of cases"


@dataclass
class FigureResult:
    """A drawn figure, its file name (without extension) and its caption."""

    name: str
    figure: Figure
    caption: str


def _describe(values: pd.Series | list, label: str, limit: int = 4) -> str:
    unique = list(dict.fromkeys(values))
    shown = ", ".join(map(str, unique[:limit])) + (
        f" (+{len(unique) - limit} more)" if len(unique) > limit else ""
    )
    return f"{label}: {shown}"


def _finish(fig: Figure, name: str, caption: str) -> FigureResult:
    """Print the caption under the axes so it travels with the image."""
    # As the figure's bottom label, so constrained layout keeps it clear of tick labels.
    plain_ticks(fig)
    width = int(fig.get_figwidth() * 17)  # characters of 7-point text per line
    fig.supxlabel(textwrap.fill(caption, width), x=0.01, ha="left", fontsize=7)
    return FigureResult(name, fig, caption)


def _accuracy_panels(
    accuracy: pd.DataFrame, published_cells: dict[str, tuple[float, float]] | None = None
) -> Figure:
    """One panel per (optimizer, tester): naive and optimized bars per benchmark.

    ``accuracy`` is long: optimizer, tester, condition, benchmark, accuracy, low, high,
    n_items (percent). A zero-height bar is marked with a red "0"; tick labels carry n.
    ``published_cells`` (benchmark -> (naive, FIPO)) are drawn as black diamonds.
    """
    order = [*published.BENCHMARKS, published.WEIGHTED_AVERAGE]
    panels = list(accuracy.groupby(["optimizer", "tester"], sort=False))
    # at most three panels a row, so a run with many optimizers stays readable
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(max(6, 5.5 * ncols), 4 * nrows),
        layout="constrained",
        squeeze=False,
    )
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
        counts = part.groupby("benchmark")["n_items"].max()
        names = {**published.BENCHMARK_LABELS, published.WEIGHTED_AVERAGE: AVERAGE_LABEL}
        labels = [f"{names.get(b, b)}\nn={int(counts[b])}" for b in benchmarks]
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_ylim(0, 100)
        ax.set_xlabel("benchmark (items evaluated)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"tester {tester}, optimizer {optimizer}", fontsize=9)
        ax.legend(fontsize=7)
    return fig


def accuracy_figure(table2: pd.DataFrame) -> FigureResult | None:
    """Table 2's shape: absolute naive and optimized accuracy per tester and benchmark, with
    intervals and n, and the published naive and FIPO accuracy of the compared tester."""
    ours = table2[table2["kind"] == "ours"] if not table2.empty else table2
    ours = ours[ours["benchmark"].isin([*published.BENCHMARKS, published.WEIGHTED_AVERAGE])]
    if ours.empty:
        return None
    long = pd.concat(
        [
            ours.assign(
                condition=condition,
                accuracy=ours[condition],
                low=ours[f"{condition}_low"],
                high=ours[f"{condition}_high"],
                n_items=ours[f"n_{condition}"],
            )
            for condition in ("naive", "optimized")
        ],
        ignore_index=True,
    )
    long["optimizer"] = long["optimizer"] + (
        " (" + long["run"] + ")" if long["run"].nunique() > 1 else ""
    )
    # The same name can come from two result sources (e.g. the BPO-style rewrite scored by
    # notebook 08 and by the Table 8 run of 09): such panels are told apart by their source.
    shared = long.groupby("optimizer")["source"].transform("nunique") > 1
    long.loc[shared, "optimizer"] = (
        long.loc[shared, "optimizer"] + ", " + long.loc[shared, "source"]
    )
    pub_tester = (
        ours["published_tester"].dropna().iloc[0]
        if ours["published_tester"].notna().any()
        else None
    )
    cells = {}
    if pub_tester in published.TABLE2:
        cells = published.TABLE2[pub_tester]
    fig = _accuracy_panels(long, cells)
    fig.suptitle("Naive and optimized prompts: accuracy per tester (Table 2 shape)")
    caption = (
        f"{_describe(ours['run'], 'Run')}. Bars: our accuracy with the naive and the optimized "
        "instruction; error bars: 95% bootstrap interval over items; a red 0 marks a bar of "
        "height zero; n under each benchmark. The weighted average weights each benchmark by its "
        f"full test-set size, as the paper does. Diamonds: {published.TABLE2_SOURCE}, tester "
        f"{pub_tester}."
    )
    return _finish(fig, "analysis_accuracy", caption)


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
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(view)), 4), layout="constrained")
    lower = (view["optimized"] - view["optimized_low"]).clip(lower=0)
    upper = (view["optimized_high"] - view["optimized"]).clip(lower=0)
    ax.bar(x, view["optimized"], 0.6, yerr=[lower, upper], capsize=3, label="optimized (ours)")
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
    ax.set_xlabel("optimizer / tester")
    ax.set_ylabel("weighted average accuracy (%)")
    ax.set_title("Optimization strategies: weighted average accuracy")
    ax.legend(fontsize=7)
    caption = (
        f"{_describe(view['run'], 'Run')}. Weighted by the paper's test-set sizes over the same "
        f"benchmarks for every bar ({common.replace(',', ', ')})"
        + (f"; left out, evaluated on other benchmarks: {', '.join(left_out)}" if left_out else "")
        + "; "
        f"items per bar: {', '.join(str(int(n)) for n in view['n_optimized'])}. Error bars: 95% "
        f"stratified bootstrap interval. Diamonds: {published.TABLE6_SOURCE}."
    )
    return _finish(fig, "analysis_strategies", caption)


def _loss_of(name: str) -> str | None:
    """The loss a model name says it was trained with (``ipl-ipo-lora`` -> ``ipo``)."""
    parts = name.lower().split("-")
    return next((loss for loss in ("ipo", "dpo", "sft") if loss in parts), None)


def training_curves_figure(
    train_metrics: dict[tuple[str, str], list[dict[str, Any]]],
) -> FigureResult | None:
    """Training curves, one row of panels per trained model and one panel per metric
    (:func:`fipo_utils.training.plots.plot_training_curves`): no two models share an axis,
    IPL rounds continue the step count, and IPO's margin panel carries its target."""
    logs = {k: v for k, v in train_metrics.items() if v}
    keys = [key for key, _ in plots.TRAINING_PANELS]
    if not any(k in r for log in logs.values() for r in log for k in keys):
        return None
    one_run = len({run for run, _ in logs}) == 1
    curves = [
        plots.Curve(log, loss=_loss_of(name), label=name if one_run else f"{name} ({run})")
        for (run, name), log in logs.items()
    ]
    fig = plots.plot_training_curves(curves, "Training curves, one row per trained model")
    steps = {
        name: max((r.get("step", 0) for r in log), default=0) for (_, name), log in logs.items()
    }
    caption = (
        f"{_describe([r for r, _ in logs], 'Run')}. Logged steps per model: "
        + ", ".join(f"{name} {n}" for name, n in steps.items())
        + ". Values as logged by the trainer; IPL rounds continue the step count."
    )
    return _finish(fig, "analysis_training_curves", caption)


def ipl_rounds_figure(
    ipl_rounds: dict[tuple[str, str], list[dict[str, Any]]],
) -> FigureResult | None:
    """The statistics of ``rounds.json`` against the round, one line per IPL run
    (:func:`fipo_utils.training.plots.plot_ipl_rounds`), beside the paper's replaced-prompt
    shares and discrimination accuracy."""
    runs = {f"{name} ({run})": records for (run, name), records in ipl_rounds.items() if records}
    keys = [panel.key for panel in plots.IPL_ROUND_PANELS]
    if not any(k in r for records in runs.values() for r in records for k in keys):
        return None
    fig = plots.plot_ipl_rounds(runs, "Iterative preference learning, statistics per round")
    replaced = ", ".join(
        f"{share:.2f}% before round {number}"
        for number, share in plots.PUBLISHED_REPLACED_PERCENT.items()
    )
    caption = (
        f"{_describe([r for r, _ in ipl_rounds], 'Run')}; "
        f"{_describe([n for _, n in ipl_rounds], 'model')}; "
        f"{max(len(v) for v in ipl_rounds.values())} round(s) recorded; labels give the counts "
        "behind each point (replaced of rewritten prompts, held-out judge rows). "
        f"Reference: {published.IPL_SOURCE} (discrimination accuracy "
        f"{plots.PUBLISHED_JUDGE_ACCURACY:g}% on a {plots.PUBLISHED_JUDGE_SPLIT:.0%} split; "
        f"prompts replaced {replaced})."
    )
    return _finish(fig, "analysis_ipl_rounds", caption)


def case_type_counts(mix: Any) -> dict[int, float]:
    """Counts (or shares) per case type 0-8 found in a ``type_mix.json``: a mapping of case
    types, nested under ``counts`` or any other key, or a list of ``{case_type, count}``."""
    if isinstance(mix, list):
        found = {}
        for record in mix:
            if isinstance(record, dict) and "case_type" in record:
                value = record.get("count", record.get("n", record.get("share")))
                if isinstance(value, int | float):
                    found[int(record["case_type"])] = float(value)
        return found
    if not isinstance(mix, dict):
        return {}
    direct = {}
    for key, value in mix.items():
        digits = re.fullmatch(r"(?:case_?|type_?)?(\d)", str(key))
        if digits and isinstance(value, int | float) and not isinstance(value, bool):
            direct[int(digits.group(1))] = float(value)
    if direct:
        return direct
    if "counts" in mix:  # notebook 01: {"counts": {"main": {...}, "extra": {...}}, "shares": ...}
        return case_type_counts(mix["counts"])
    merged: dict[int, float] = {}
    for value in mix.values():
        for case, count in case_type_counts(value).items():
            merged.setdefault(case, count)
    return merged


def type_mix_figure(type_mix: dict[str, Any]) -> FigureResult | None:
    """Observed case-type shares (within main rows 0-5 and extra rows 6-8) beside the
    paper's expected mix."""
    observed = {run: case_type_counts(mix) for run, mix in type_mix.items()}
    observed = {run: counts for run, counts in observed.items() if counts}
    if not observed:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    types = list(range(9))
    width = 0.8 / (len(observed) + 1)
    expected = {**EXPECTED_TYPE_MIX["main"], **EXPECTED_TYPE_MIX["extra"]}
    ax.bar(
        np.arange(9) - 0.4 + width / 2,
        [expected[t] for t in types],
        width,
        color="lightgrey",
        label="expected (paper)",
    )
    totals = []
    for i, (run, counts) in enumerate(observed.items(), start=1):
        shares = []
        for t in types:
            group = EXPECTED_TYPE_MIX["main"] if t < 6 else EXPECTED_TYPE_MIX["extra"]
            total = sum(counts.get(g, 0) for g in group)
            shares.append(100 * counts.get(t, 0) / total if total else np.nan)
        totals.append(f"{run}: {sum(counts.values()):g}")
        ax.bar(np.arange(9) - 0.4 + width / 2 + i * width, shares, width, label=run)
    ax.set_xticks(types)
    ax.set_xlabel("case type (0-5 main rows, 6-8 extra IPL rows)")
    ax.set_ylabel("share within its group (%)")
    ax.set_title("Diversified data: case-type mix")
    ax.legend(fontsize=7)
    caption = (
        f"Runs and rows counted ({'; '.join(totals)}). Expected shares from the paper's dataset "
        "diversification (main rows 0:25, 1:12.5, 2:12.5, 3:25, 4:12.5, 5:12.5; "
        "extra 6:25, 7:25, 8:50)."
    )
    return _finish(fig, "analysis_type_mix", caption)


def _words(text: str) -> int:
    return len(str(text).split())


def prompt_length_figure(optimized: pd.DataFrame) -> FigureResult | None:
    """Word counts of naive and optimized instructions, per optimizer."""
    if optimized.empty:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
    naive = optimized.drop_duplicates(["benchmark", "id"])["naive_instruction"].map(_words)
    bins = np.histogram_bin_edges(
        np.concatenate([naive, optimized["optimized_instruction"].map(_words)]), bins=20
    )
    ax.hist(naive, bins=bins, alpha=0.5, label=f"naive (n={len(naive)})")
    for optimizer, group in optimized.groupby("optimizer", sort=False):
        words = group["optimized_instruction"].map(_words)
        ax.hist(words, bins=bins, alpha=0.5, label=f"{optimizer} (n={len(words)})")
    ax.set_xlabel("instruction length (words)")
    ax.set_ylabel("items")
    ax.set_title("Instruction length before and after optimization")
    ax.legend(fontsize=7)
    caption = (
        f"{_describe(optimized['run'], 'Run')}; {_describe(optimized['optimizer'], 'optimizer')}; "
        f"{len(optimized)} rewritten instructions over "
        f"{optimized['benchmark'].nunique()} benchmark(s); words = space-separated tokens."
    )
    return _finish(fig, "analysis_prompt_lengths", caption)


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
    fig, ax = plt.subplots(figsize=(max(5, 1.0 * len(stats)), 3.6), layout="constrained")
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
    ax.set_xlabel("optimizer / benchmark")
    ax.set_ylabel("optimized prompts with a cheating note (%)")
    ax.set_title("Cheating notes: optimized prompts that carry the answer")
    ax.legend(fontsize=7)
    caption = (
        f"{_describe(optimized['run'], 'Run')}; "
        f"{int(stats['sum'].sum())} of {int(stats['count'].sum())} "
        "optimized prompts flagged as carrying the gold answer by the audit of notebook 05. "
        f"Reference: {published.PAPER} reports cheating notes in under 10% of cases."
    )
    return _finish(fig, "analysis_cheating_notes", caption)


def accuracy_with_intervals(summary: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Notebook 06's summary with accuracy in percent and a 95% bootstrap interval per row.

    ``summary`` has one row per optimizer, tester, condition and benchmark family with
    ``n_items`` and ``n_correct`` (``fipo_utils.evaluation.evaluate.summarize``). Its weighted
    average is replaced by the paper's, the one notebook 07 reports: each family weighted by
    the paper's full test-set size (BBH: all 6,511 items, even when a few tasks were run).
    That row's interval is left empty: counts alone cannot resample a weighted mean
    (notebook 07 computes it from the items).
    """
    frame = summary[summary["benchmark"] != published.WEIGHTED_AVERAGE].copy()
    averages = []
    for keys, part in frame.groupby(["optimizer", "tester", "condition"], sort=False):
        values = dict(zip(part["benchmark"], part["accuracy"], strict=True))
        weights = {
            b: published.PAPER_TEST_SIZES[b] for b in values if b in published.PAPER_TEST_SIZES
        }
        averages.append(
            dict(zip(["optimizer", "tester", "condition"], keys, strict=True))
            | {
                "benchmark": published.WEIGHTED_AVERAGE,
                "n_items": int(part.loc[part["benchmark"].isin(weights), "n_items"].sum()),
                "n_correct": int(part.loc[part["benchmark"].isin(weights), "n_correct"].sum()),
                "weight": sum(weights.values()),
                "accuracy": published.weighted_average(values, weights),
            }
        )
    frame = pd.concat([frame, pd.DataFrame(averages)], ignore_index=True)
    frame["accuracy"] = (100 * frame["accuracy"]).round(2)
    bounds = [
        accuracy_ci_from_counts(
            r.n_correct,
            r.n_items,
            seed=seed,
            key=f"{r.optimizer}/{r.tester}/{r.condition}/{r.benchmark}",
        )
        if r.benchmark != published.WEIGHTED_AVERAGE
        else (float("nan"), float("nan"))
        for r in frame.itertuples()
    ]
    frame["low"] = [round(100 * low, 2) for low, _ in bounds]
    frame["high"] = [round(100 * high, 2) for _, high in bounds]
    return frame


def absolute_accuracy_figure(accuracy: pd.DataFrame) -> FigureResult | None:
    """Notebook 06's accuracy figure in Table 2's shape: one panel per tester, naive and
    optimized accuracy per benchmark family and the weighted average, with intervals and n.
    ``accuracy`` is the output of :func:`accuracy_with_intervals`."""
    if accuracy.empty:
        return None
    fig = _accuracy_panels(accuracy)
    fig.suptitle("Naive and optimized prompts: accuracy per tester (Table 2 shape)")
    caption = (
        "Bars: accuracy of each tester with the naive and with the optimized instruction; error "
        "bars: 95% bootstrap interval over items (none for the weighted average, which weights "
        "each benchmark by its full test-set size as the paper does); a red 0 marks a bar of "
        f"height zero. Compare with {published.TABLE2_SOURCE}."
    )
    return _finish(fig, "06_accuracy", caption)


# The scorings the gain figure shows, in panel order, in words a reader of the paper knows.
GAIN_PANELS = {
    "letter": "multiple choice, option letter (the paper's scoring)",
    "continuation": "multiple choice, option text log-likelihood",
    "strict": "generation, strict answer template",
}


def study_gain_figure(study: pd.DataFrame) -> FigureResult | None:
    """The study's headline: per optimizer and tester, the optimized-minus-naive accuracy of
    all items pooled (Table 6's shape), with its 95% paired interval; filled markers where the
    Holm-corrected McNemar test calls the difference, hollow where it does not."""
    if study.empty:
        return None
    pooled = study[(study["benchmark"] == POOLED) & study["scoring"].isin(list(GAIN_PANELS))]
    # notebook 06's evaluation only: the baselines (08) and the Table 8 run (09) score some of
    # the same optimizer names on other items, which would be other points under one label
    if "source" in pooled.columns:
        pooled = pooled[pooled["source"] == "eval"]
    if pooled.empty:
        return None
    scorings = [s for s in GAIN_PANELS if s in set(pooled["scoring"])]
    optimizers = list(dict.fromkeys(pooled["optimizer"]))
    testers = list(dict.fromkeys(pooled["tester"]))
    fig, axes = plt.subplots(
        1,
        len(scorings),
        figsize=(4.2 * len(scorings), 1.1 + 0.42 * len(optimizers) * max(1, len(testers) / 1.5)),
        layout="constrained",
        squeeze=False,
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
            gain, low, high = (100 * rows[c] for c in ("gain", "gain_low", "gain_high"))
            ax.errorbar(
                gain,
                y,
                xerr=[(gain - low).clip(lower=0), (high - gain).clip(lower=0)],
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
        ax.set_title(textwrap.fill(GAIN_PANELS[scoring], 34), fontsize=9)
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
        f"{_describe(pooled['run'], 'Run')}. Each point is one optimizer's accuracy gain over "
        "the naive prompt on the same items, all benchmarks of that scoring pooled (Table 6's "
        "shape); bars: 95% paired bootstrap interval over items; filled: the Holm-corrected "
        "exact McNemar test calls the difference at 5%, hollow: it does not. Items per point: "
        + "; ".join(dict.fromkeys(counts))
        + ". The identity optimizer returns the naive prompt: its gain must be 0."
    )
    return _finish(fig, "analysis_study_gains", caption)


def table8_figure(
    accuracy: pd.DataFrame, cost: pd.DataFrame, tasks: list[str]
) -> FigureResult | None:
    """Notebook 09's Table 8 run, one row of panels per tester: each method's task-average
    accuracy beside Table 8's published number, its paired gain over the naive prompt, and
    what it cost (one-off search or training seconds, and seconds per query)."""
    ours = accuracy[accuracy["source"] == "ours"]
    if ours.empty:
        return None
    testers = list(dict.fromkeys(ours["tester"]))
    fig, axes = plt.subplots(
        len(testers),
        3,
        figsize=(13, 0.9 + 0.38 * ours.groupby("tester").size().max() * len(testers)),
        layout="constrained",
        squeeze=False,
    )
    for row, tester in zip(axes, testers, strict=True):
        view = ours[ours["tester"] == tester].set_index("label")
        y = np.arange(len(view))
        acc_ax, gain_ax, cost_ax = row
        errors = [
            (view["accuracy"] - view["accuracy_low"]).clip(lower=0),
            (view["accuracy_high"] - view["accuracy"]).clip(lower=0),
        ]
        acc_ax.barh(y, view["accuracy"], xerr=errors, color="C0", alpha=0.7, label="ours, 95% CI")
        reference = view["published_tester"].dropna()
        acc_ax.scatter(
            view["published"],
            y,
            color="black",
            marker="x",
            label=f"Table 8, {reference.iloc[0] if len(reference) else 'published'} (6 tasks)",
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
            xerr=[
                (gains["gain"] - gains["gain_low"]).clip(lower=0),
                (gains["gain_high"] - gains["gain"]).clip(lower=0),
            ],
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
    )
    return _finish(fig, "09_table8", caption)
