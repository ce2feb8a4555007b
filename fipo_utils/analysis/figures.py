"""The analysis figures. Each builder returns a :class:`FigureResult` (or ``None`` when the
runs hold nothing to draw) whose title and caption say which run, models and item counts it
shows, so a figure copied out of context still tells how much evidence is behind it.
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
from fipo_utils.analysis.tables import KEY, WAVG_PAPER

# Expected case-type shares of diversified data (FACTS section 3), percent within each group.
EXPECTED_TYPE_MIX = {
    "main": {0: 25.0, 1: 12.5, 2: 12.5, 3: 25.0, 4: 12.5, 5: 12.5},
    "extra": {6: 25.0, 7: 25.0, 8: 50.0},
}
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
    width = int(fig.get_figwidth() * 17)  # characters of 7-point text per line
    fig.supxlabel(textwrap.fill(caption, width), x=0.01, ha="left", fontsize=7)
    return FigureResult(name, fig, caption)


def accuracy_delta_figure(scores: pd.DataFrame, table2: pd.DataFrame) -> FigureResult | None:
    """Bars: optimized-minus-naive accuracy per benchmark for each optimizer/tester, with the
    paired bootstrap interval; black diamonds: the published gain of the compared tester."""
    if scores.empty:
        return None
    ours = table2[table2["kind"] == "ours"]
    ours = ours[ours["benchmark"].isin([*published.BENCHMARKS, WAVG_PAPER])]
    if ours.empty:
        return None
    benchmarks = [b for b in [*published.BENCHMARKS, WAVG_PAPER] if b in set(ours["benchmark"])]
    series = list(ours.groupby(KEY, sort=False))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(benchmarks)), 4), layout="constrained")
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(benchmarks))
    for i, (key_values, group) in enumerate(series):
        cells = group.set_index("benchmark").reindex(benchmarks)
        lower = (cells["delta"] - cells["delta_low"]).clip(lower=0).fillna(0)
        upper = (cells["delta_high"] - cells["delta"]).clip(lower=0).fillna(0)
        label = f"{key_values[2]} / {key_values[3]}" + (
            f" ({key_values[0]})" if len(set(ours["run"])) > 1 else ""
        )
        ax.bar(
            x + i * width - 0.4 + width / 2,
            cells["delta"],
            width,
            yerr=[lower, upper],
            capsize=3,
            label=label,
        )
    pub = table2[table2["kind"] == "published"].drop_duplicates(["published_tester", "benchmark"])
    for pub_tester, group in pub.groupby("published_tester", sort=False):
        cells = group.set_index("benchmark").reindex(benchmarks)
        ax.scatter(
            x,
            cells["delta"],
            marker="D",
            color="black",
            zorder=3,
            label=f"published ({pub_tester})",
        )
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(x, [published.BENCHMARK_LABELS.get(b, "weighted avg") for b in benchmarks])
    ax.set_xlabel("benchmark")
    ax.set_ylabel("optimized - naive accuracy (points)")
    ax.set_title("Accuracy gain of optimized over naive prompts")
    ax.legend(fontsize=7)
    counts = ", ".join(
        f"{published.BENCHMARK_LABELS.get(b, 'weighted avg')} n={int(n)}"
        for b, n in ours.groupby("benchmark", sort=False)["n_optimized"].min().items()
    )
    caption = (
        f"{_describe(ours['run'], 'Run')}. {_describe(ours['optimizer'], 'Optimizer')}; "
        f"{_describe(ours['tester'], 'tester')}. "
        f"Items per benchmark (fewest over series): {counts}. "
        "Error bars: 95% paired bootstrap interval over items (absent where per-item predictions "
        f"are missing). Diamonds: {published.TABLE2_SOURCE}."
    )
    return _finish(fig, "analysis_accuracy_delta", caption)


def strategy_figure(strategies: pd.DataFrame) -> FigureResult | None:
    """Weighted-average accuracy per optimizer (paper-size weights) with intervals, our naive
    level as a dashed line, and the published 70B value of the same strategy."""
    if strategies.empty:
        return None
    view = strategies[strategies["benchmark"] == WAVG_PAPER].dropna(subset=["optimized"])
    if view.empty:
        return None
    labels = [f"{r.optimizer}\n{r.tester}" for r in view.itertuples()]
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
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_xlabel("optimizer / tester")
    ax.set_ylabel("weighted average accuracy (%)")
    ax.set_title("Optimization strategies: weighted average accuracy")
    ax.legend(fontsize=7)
    caption = (
        f"{_describe(view['run'], 'Run')}. Weighted by the paper's test-set sizes over the "
        f"benchmarks each run evaluated ({_describe(view['benchmarks'], 'benchmark sets', 2)}); "
        f"items per bar: {', '.join(str(int(n)) for n in view['n_optimized'])}. Error bars: 95% "
        f"stratified bootstrap interval. Diamonds: {published.TABLE6_SOURCE}."
    )
    return _finish(fig, "analysis_strategies", caption)


def _as_percent(key: str, values: list[float]) -> tuple[list[float], str]:
    if "percent" in key or "pct" in key:
        return values, f"{key}"
    if re.search(r"replac|acc|rate|fraction|share", key) and all(0 <= v <= 1 for v in values):
        return [100 * v for v in values], f"{key} (%)"
    return values, key


# The statistics notebook 04 records per round that a reader looks at first; other numeric
# keys are plotted only when none of these is present.
IPL_PREFERRED_STATS = ("replaced_share", "judge_accuracy", "loss_mean")


def ipl_rounds_figure(
    ipl_rounds: dict[tuple[str, str], list[dict[str, Any]]],
) -> FigureResult | None:
    """One panel per numeric statistic in ``rounds.json`` against the round, one line per IPL
    run; the paper's replaced-prompt shares and discrimination accuracy as reference points."""
    if not ipl_rounds:
        return None
    stats: dict[str, dict[tuple[str, str], tuple[list, list]]] = {}
    logged = {k for records in ipl_rounds.values() for r in records for k in r}
    wanted = [k for k in IPL_PREFERRED_STATS if k in logged]
    for ident, records in ipl_rounds.items():
        for index, record in enumerate(records, start=1):
            round_no = record.get("round", index)
            for key, value in record.items():
                if key == "round" or isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                if wanted and key not in wanted:
                    continue
                xs, ys = stats.setdefault(key, {}).setdefault(ident, ([], []))
                xs.append(round_no)
                ys.append(float(value))
    if not stats:
        return None
    keys = [k for k in wanted if k in stats] or sorted(stats)
    fig, axes = plt.subplots(
        1, len(keys), figsize=(3.6 * len(keys), 3.4), squeeze=False, layout="constrained"
    )
    for ax, key in zip(axes[0], keys, strict=True):
        ylabel = key
        for (run, name), (xs, ys) in stats[key].items():
            ys, ylabel = _as_percent(key, ys)
            ax.plot(xs, ys, marker="o", label=f"{name} ({run})")
        if re.search(r"replac", key) and "(%)" in ylabel or "percent" in key and "replac" in key:
            rounds = list(published.IPL_STATS["replaced_percent"])
            ax.scatter(
                rounds,
                list(published.IPL_STATS["replaced_percent"].values()),
                marker="D",
                color="black",
                label="published",
            )
        if re.search(r"discrim|judge", key) and "acc" in key:
            ax.axhline(
                published.IPL_STATS["discrimination_accuracy"],
                color="black",
                linestyle=":",
                label="published (5% split)",
            )
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("round")
        ax.set_ylabel(ylabel)
        ax.set_title(key, fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle("Iterative preference learning, statistics per round")
    caption = (
        f"{_describe([r for r, _ in ipl_rounds], 'Run')}; "
        f"{_describe([n for _, n in ipl_rounds], 'model')}; "
        f"{max(len(v) for v in ipl_rounds.values())} round(s) recorded. "
        f"Reference: {published.IPL_SOURCE} (discrimination accuracy 100% on a 5% split; "
        "prompts replaced 1.25% before round 2, 2.40% before round 3)."
    )
    return _finish(fig, "analysis_ipl_rounds", caption)


TRAINING_METRICS = ("loss", "rewards/margins", "rewards/accuracies", "eval_loss")


def _global_steps(log: list[dict[str, Any]]) -> list[int]:
    """Steps that keep increasing across IPL rounds (each round's trainer restarts at 1)."""
    steps, offset, previous = [], 0, 0
    for index, record in enumerate(log, start=1):
        step = int(record.get("step", index))
        if step < previous:
            offset += previous
        previous = step
        steps.append(offset + step)
    return steps


def training_curves_figure(
    train_metrics: dict[tuple[str, str], list[dict[str, Any]]],
) -> FigureResult | None:
    """Training loss (and preference margins/accuracies where logged) against the step."""
    if not train_metrics:
        return None
    present = [
        m for m in TRAINING_METRICS if any(m in r for log in train_metrics.values() for r in log)
    ]
    if not present:
        return None
    fig, axes = plt.subplots(
        1, len(present), figsize=(3.8 * len(present), 3.4), squeeze=False, layout="constrained"
    )
    for ax, metric in zip(axes[0], present, strict=True):
        for (run, name), log in train_metrics.items():
            steps = _global_steps(log)
            points = [(x, r[metric]) for x, r in zip(steps, log, strict=True) if metric in r]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker=".", label=f"{name} ({run})")
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        ax.set_title(metric, fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle("Training curves")
    steps = {
        name: max((r.get("step", 0) for r in log), default=0)
        for (_, name), log in train_metrics.items()
    }
    caption = (
        f"{_describe([r for r, _ in train_metrics], 'Run')}. Logged steps per model: "
        + ", ".join(f"{name} {n}" for name, n in steps.items())
        + ". Values as written by the trainer (train/<name>/metrics.json)."
    )
    return _finish(fig, "analysis_training_curves", caption)


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
    """Observed case-type shares (within main rows 0-5 and extra rows 6-8) beside FACTS'
    expected mix."""
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
        label="expected (FACTS)",
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
        f"Runs and rows counted ({'; '.join(totals)}), from data/type_mix.json. Expected shares: "
        "FACTS section 3 (main rows 0:25, 1:12.5, 2:12.5, 3:25, 4:12.5, 5:12.5; "
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
        f"{optimized['benchmark'].nunique()} benchmark(s) "
        "(optimized/<optimizer>/<benchmark>.jsonl); words = space-separated tokens."
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
        "optimized prompts flagged by the detector of notebook 05 (field cheating_note). "
        f"Reference: {published.PAPER} reports cheating notes in under 10% of cases."
    )
    return _finish(fig, "analysis_cheating_notes", caption)
