"""Paper-shaped tables from a :class:`~fipo_utils.analysis.results.RunCollection`, ours beside the
published numbers, each of our cells with item counts and a confidence interval.

Units: every table is in accuracy percent (the paper's unit). Conventions (docs/analysis.md):
a benchmark's accuracy pools its items (BBH tasks pooled into ``bbh``); the weighted average
is the paper's: each benchmark weighted by its full test-set size, printed with its weights
and effective n. Intervals: Wilson for an accuracy, exact-consistent Tango for a
per-benchmark paired gain (:mod:`fipo_utils.evaluation.intervals`), their MOVER
combination for averages over benchmarks or tasks. Ours is compared with the paper by gains only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fipo_utils.analysis import published
from fipo_utils.analysis.results import RunCollection
from fipo_utils.data.benchmarks import WEIGHTED_AVERAGE
from fipo_utils.evaluation import intervals

KEY = ["run", "source", "optimizer", "tester"]


@dataclass(frozen=True)
class CIOptions:
    """How intervals are drawn: their confidence level (every interval of these tables is a
    closed-form score interval, :mod:`fipo_utils.evaluation.intervals`; nothing is resampled)."""

    level: float = 0.95


def _pooled(results: pd.DataFrame) -> pd.DataFrame:
    """Counts per run/source/optimizer/tester/condition/benchmark group. An aggregate row
    (``bbh``) is dropped where per-task rows (``bbh/<task>``) exist, so no item counts twice."""
    has_tasks = results["benchmark"] != results["benchmark_group"]
    task_groups = set(
        map(tuple, results.loc[has_tasks, [*KEY, "condition", "benchmark_group"]].to_numpy())
    )
    aggregate = results.apply(
        lambda r: (
            (not has_tasks[r.name])
            and (
                r["run"],
                r["source"],
                r["optimizer"],
                r["tester"],
                r["condition"],
                r["benchmark_group"],
            )
            in task_groups
        ),
        axis=1,
    )
    kept = results.loc[~aggregate] if len(results) else results
    return kept.groupby([*KEY, "condition", "benchmark_group"], as_index=False)[
        ["n_items", "n_correct"]
    ].sum()


def _naive_counts(
    pooled: pd.DataFrame, run: str, source: str, optimizer: str, tester: str, group: str
):
    """Naive-prompt counts for a cell: the optimizer's own naive rows, else the same run's
    naive rows for that tester and benchmark (naive prompts do not depend on the optimizer)."""
    naive = pooled[
        (pooled["run"] == run)
        & (pooled["tester"] == tester)
        & (pooled["benchmark_group"] == group)
        & (pooled["condition"] == "naive")
    ]
    own = naive[(naive["source"] == source) & (naive["optimizer"] == optimizer)]
    chosen = own if len(own) else naive.sort_values(["source", "optimizer"])
    if not len(chosen):
        return None
    return chosen.iloc[0]


def _paired_differences(
    predictions: pd.DataFrame, run: str, source: str, optimizer: str, tester: str, group: str
) -> np.ndarray | None:
    """Per-item optimized-minus-naive scores, matched by (benchmark, id); None if absent."""
    if predictions.empty:
        return None
    cell = predictions[
        (predictions["run"] == run)
        & (predictions["tester"] == tester)
        & (predictions["benchmark_group"] == group)
    ]
    optimized = cell[
        (cell["source"] == source)
        & (cell["optimizer"] == optimizer)
        & (cell["condition"] == "optimized")
    ]
    naive = cell[cell["condition"] == "naive"]
    own_naive = naive[(naive["source"] == source) & (naive["optimizer"] == optimizer)]
    if len(own_naive):
        naive = own_naive
    naive = naive.drop_duplicates(["benchmark", "id"])
    if optimized.empty or naive.empty:
        return None
    paired = optimized.merge(naive, on=["benchmark", "id"], suffixes=("_opt", "_naive"))
    if paired.empty:
        return None
    return (
        paired["correct_opt"].astype(float).to_numpy()
        - paired["correct_naive"].astype(float).to_numpy()
    )


def benchmark_scores(collection: RunCollection, ci: CIOptions = CIOptions()) -> pd.DataFrame:
    """One row per run/source/optimizer/tester/benchmark group with naive and optimized
    accuracy (fractions), item counts, intervals, and the paired optimized-minus-naive gain.

    The gain's interval needs per-item predictions; without them it is NaN (a results
    table alone cannot pair items).
    """
    pooled = _pooled(collection.results)
    rows = []
    for _, cell in pooled[pooled["condition"] == "optimized"].iterrows():
        run, source, opt, tester, group = (cell[k] for k in [*KEY, "benchmark_group"])
        row = {**{k: cell[k] for k in KEY}, "benchmark": group}
        row.update(_accuracy_cells("optimized", cell, ci))
        naive = _naive_counts(pooled, run, source, opt, tester, group)
        row.update(_accuracy_cells("naive", naive, ci))
        row["delta"] = row["optimized"] - row["naive"]
        diffs = _paired_differences(collection.predictions, run, source, opt, tester, group)
        row["n_paired"] = 0 if diffs is None else len(diffs)
        row["delta_low"], row["delta_high"] = (
            (np.nan, np.nan)
            if diffs is None
            else intervals.paired_difference_interval(*intervals.discordant_counts(diffs), ci.level)
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


SCORE_COLUMNS = [
    *KEY,
    "benchmark",
    "n_optimized",
    "optimized_correct",
    "optimized",
    "optimized_low",
    "optimized_high",
    "n_naive",
    "naive_correct",
    "naive",
    "naive_low",
    "naive_high",
    "delta",
    "n_paired",
    "delta_low",
    "delta_high",
]


def _accuracy_cells(condition: str, counts, ci: CIOptions) -> dict:
    if counts is None or not counts["n_items"]:
        return {
            f"n_{condition}": 0,
            f"{condition}_correct": 0,
            condition: np.nan,
            f"{condition}_low": np.nan,
            f"{condition}_high": np.nan,
        }
    n, k = int(counts["n_items"]), int(counts["n_correct"])
    low, high = intervals.accuracy_interval(k, n, ci.level)
    return {
        f"n_{condition}": n,
        f"{condition}_correct": k,
        condition: k / n,
        f"{condition}_low": low,
        f"{condition}_high": high,
    }


def overall_scores(
    collection: RunCollection, scores: pd.DataFrame, ci: CIOptions = CIOptions()
) -> pd.DataFrame:
    """The paper's weighted average per run/source/optimizer/tester: benchmarks weighted by
    the paper's test-set sizes (benchmarks outside Table 2 left out), with the MOVER
    combination of the benchmarks' Wilson (accuracy) and paired (gain) intervals. One
    weighting only, so every table and figure means the same thing by "weighted average"."""
    rows = []
    for key_values, group in scores.groupby(KEY, sort=False):
        by_bench = group.set_index("benchmark")
        for label, weights in (
            (
                WEIGHTED_AVERAGE,
                {
                    b: published.PAPER_TEST_SIZES[b]
                    for b in by_bench.index
                    if b in published.PAPER_TEST_SIZES
                },
            ),
        ):
            row = dict(zip(KEY, key_values, strict=True))
            row["benchmark"] = label
            row["benchmarks"] = ",".join(sorted(weights))
            row["n_optimized"] = int(sum(by_bench.loc[b, "n_optimized"] for b in weights))
            row["weights"], row["n_effective"] = stated_weights(
                weights, {b: int(by_bench.loc[b, "n_optimized"]) for b in weights}
            )
            row["n_naive"] = int(sum(by_bench.loc[b, "n_naive"] for b in weights))
            for condition in ("optimized", "naive"):
                values = {b: by_bench.loc[b, condition] for b in weights}
                row[condition] = published.weighted_average(values, weights)
                counts = {
                    b: (
                        int(by_bench.loc[b, f"{condition}_correct"]),
                        int(by_bench.loc[b, f"n_{condition}"]),
                    )
                    for b in weights
                }
                row[f"{condition}_low"], row[f"{condition}_high"] = (
                    intervals.pooled_accuracy_interval(counts, weights, ci.level)
                )
            row["delta"] = row["optimized"] - row["naive"]
            run, source, optimizer, tester = key_values
            found = {
                b: _paired_differences(collection.predictions, run, source, optimizer, tester, b)
                for b in weights
            }
            diffs = {b: d for b, d in found.items() if d is not None}
            complete = weights and len(diffs) == len(found)
            row["n_paired"] = int(sum(len(d) for d in diffs.values()))
            row["delta_low"], row["delta_high"] = (
                intervals.pooled_paired_interval(
                    {b: intervals.discordant_counts(d) for b, d in diffs.items()}, weights, ci.level
                )
                if complete
                else (np.nan, np.nan)
            )
            if len(weights) == 1:  # one stratum: the benchmark's own cell and its intervals
                (only,) = weights
                interval_columns = [c for c in SCORE_COLUMNS if c.endswith(("_low", "_high"))]
                row.update({c: by_bench.loc[only, c] for c in interval_columns})
            rows.append(row)
    return pd.DataFrame(
        rows,
        columns=[*KEY, "benchmark", "benchmarks", *SCORE_COLUMNS[5:], "weights", "n_effective"],
    )


def stated_weights(weights: Mapping[str, float], n_items: Mapping[str, int]) -> tuple[str, float]:
    """The weights of a stratified average as shares (``mmlu:59%,piqa:8%``) and its
    effective n, ``1 / sum(w_b**2 / n_b)`` for normalised weights ``w_b`` (Kish): the item
    count of an unweighted sample as precise. Test-set weights on subsampled benchmarks put
    a few items of a big benchmark in charge: 20 MMLU items at 59% leave about 46 effective
    items of 110."""
    total = sum(weights.values())
    if not total or not all(n_items.get(b) for b in weights):
        return "", float("nan")
    shares = {b: w / total for b, w in weights.items()}
    text = ",".join(f"{b}:{100 * shares[b]:.0f}%" for b in sorted(shares))
    return text, 1 / sum(shares[b] ** 2 / n_items[b] for b in shares)


# --- Table 2: tester x benchmark --------------------------------------------------------

TABLE2_COLUMNS = [*published.BENCHMARKS, WEIGHTED_AVERAGE]
# the only comparison of ours with a published row: gains, never accuracies of other testers
GAIN_VS_PUBLISHED = "our gain - published gain"
# What the paper-shaped tables are, in each of their captions: the statistics that decide
# whether a gain is real live in the study tables (study_tables.py), not here.
PAPER_SHAPED = (
    "Descriptive, in the paper's scoring of each benchmark (option letter for multiple "
    "choice, strict template for generation): a secondary endpoint wherever the profile's "
    "`analysis.primary` names another scoring. No test, Holm family or minimum detectable "
    "effect here; study_table2.md and study_table6.md carry them for the primary endpoint."
)
VALUE_COLUMNS = ["naive", "optimized", "delta"]


def _percent(frame: pd.DataFrame) -> pd.DataFrame:
    """Fractions to percent for every accuracy-like column."""
    frame = frame.copy()
    for column in frame.columns:
        if column in VALUE_COLUMNS or column.endswith(("_low", "_high")):
            frame[column] = frame[column] * 100
    return frame


def tester_benchmark_table(
    scores: pd.DataFrame, overall: pd.DataFrame, reference_tester: str = "Tulu2-13B"
) -> pd.DataFrame:
    """Table 2's shape as a long frame: for each of our run/optimizer/tester rows, our cells
    (``kind`` = ``ours``), the published row of the same tester (or ``reference_tester``
    when the paper has none, e.g. SmolLM2), and ``our gain - published gain``: our
    optimized-minus-naive gain against the paper's (its IPL-IPO 70B row minus its naive row).
    Accuracies of different testers are never subtracted: only the gains compare. Percent.
    """
    ours = _percent(pd.concat([scores, overall], ignore_index=True))
    ours = ours[ours["benchmark"].isin(TABLE2_COLUMNS)]
    pub = published.table2_frame()
    frames = []
    for key_values, group in ours.groupby(KEY, sort=False):
        tester = key_values[3]
        pub_tester = (
            published.match_published_tester(tester, tuple(published.TABLE2)) or reference_tester
        )
        ident = {**dict(zip(KEY, key_values, strict=True)), "published_tester": pub_tester}
        mine = group.assign(kind="ours", **{k: v for k, v in ident.items() if k not in KEY})
        theirs = (
            pub[pub["tester"] == pub_tester]
            .drop(columns="tester")
            .assign(kind="published", **ident)
        )
        merged = mine.merge(theirs, on="benchmark", suffixes=("", "_pub"), how="left")
        diff = merged[["benchmark"]].assign(kind=GAIN_VS_PUBLISHED, **ident)
        diff["delta"] = merged["delta"] - merged["delta_pub"]
        frames += [mine, theirs[theirs["benchmark"].isin(mine["benchmark"])], diff]
    columns = ["kind", *KEY, "published_tester", "benchmark", "benchmarks", *SCORE_COLUMNS[5:]]
    if not frames:
        return pd.DataFrame(columns=columns)
    table = pd.concat(frames, ignore_index=True).reindex(columns=columns)
    table["source_note"] = np.where(table["kind"] == "published", published.TABLE2_SOURCE, "")
    return table


def _ci_text(low: float, high: float) -> str:
    return "" if pd.isna(low) else f" [{low:.1f}, {high:.1f}]"


def _cell_text(row: pd.Series) -> str:
    """One Markdown cell: naive -> optimized (delta), intervals and item counts for ours."""
    if pd.isna(row.get("optimized")) and pd.isna(row.get("delta")):
        return ""
    if row["kind"] == "ours":
        return (
            f"{row['naive']:.2f}{_ci_text(row['naive_low'], row['naive_high'])} -> "
            f"{row['optimized']:.2f}{_ci_text(row['optimized_low'], row['optimized_high'])}; "
            f"Δ {row['delta']:+.2f}{_ci_text(row['delta_low'], row['delta_high'])}; "
            f"n={int(row['n_optimized'])}"
        )
    if row["kind"] == GAIN_VS_PUBLISHED:
        return f"Δ {row['delta']:+.2f}"
    return f"{row['naive']:.2f} -> {row['optimized']:.2f}; Δ {row['delta']:+.2f}"


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    header = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for values in frame.itertuples(index=False):
        cells = ["" if (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def tester_benchmark_markdown(table: pd.DataFrame) -> str:
    """Table 2 as Markdown: one line per kind and model, one column per benchmark."""
    if table.empty:
        return "_No optimized-vs-naive results to show._"
    table = table.assign(cell=table.apply(_cell_text, axis=1))
    table["row"] = table.apply(
        lambda r: f"{r['kind']}: {r['tester'] if r['kind'] == 'ours' else r['published_tester']}",
        axis=1,
    )
    blocks = []
    for key_values, group in table.groupby(KEY, sort=False):
        wide = group.pivot_table(
            index="row", columns="benchmark", values="cell", aggfunc="first", sort=False
        )
        wide = wide.reindex(columns=[c for c in TABLE2_COLUMNS if c in wide.columns])
        wide.columns = [published.BENCHMARK_LABELS.get(c, c) for c in wide.columns]
        title = ", ".join(f"{k}={v}" for k, v in zip(KEY, key_values, strict=True))
        blocks.append(f"**{title}**\n\n" + markdown_table(wide.reset_index()))
    blocks.append(
        f"*{PAPER_SHAPED} Ours: accuracies with the {intervals.ACCURACY_METHOD} interval, the "
        f"gain Δ with the {intervals.PAIRED_METHOD} interval for paired proportions (per "
        f"benchmark) or the {intervals.POOLED_METHOD} ("
        f"`{WEIGHTED_AVERAGE}`, its weights and effective n in benchmark_scores.csv), all "
        f"95%, unadjusted. `{GAIN_VS_PUBLISHED}`: our gain minus the paper's gain; accuracies "
        "of different testers are never subtracted.*"
    )
    return "\n\n".join(blocks)


# --- Table 6: strategies -----------------------------------------------------------------

_STRATEGY = re.compile(
    r"^(?P<strategy>ipl-ipo|ipl-dpo|sft|dpo|ipo)(?:-(?P<ablation>gen|partial))?"
    r"(?:-(?P<kind>lora|full))?(?:-seed(?P<seed>\d+))?(?:[/_-]+round[_-]?(?P<round>\d+))?"
)


def parse_optimizer(name: str) -> dict:
    """Strategy, ablation, LoRA/full, training seed and IPL round encoded in an optimizer
    name (``ipl-ipo-lora/round_2`` -> ipl-ipo, lora, round 2; ``dpo-lora-seed7`` -> dpo,
    lora, seed 7); other names (``base``, ``bpo``) come back as their own strategy."""
    match = _STRATEGY.match(name)
    if not match:
        return {"strategy": name, "ablation": None, "kind": None, "seed": None, "round": None}
    parts = match.groupdict()
    parts["round"] = int(parts["round"]) if parts["round"] else None
    parts["seed"] = int(parts["seed"]) if parts["seed"] else None
    return parts


def _published_strategy(name: str) -> dict:
    """Table 6 rows an optimizer compares with: same strategy (and ablation), 13B and 70B;
    IPL at the same round, or round 3 (the paper's final) when the name gives none."""
    parsed = parse_optimizer(name)
    strategy = parsed["strategy"] + (f"-{parsed['ablation']}" if parsed["ablation"] else "")
    epoch = None
    if strategy.startswith("ipl"):
        epoch = parsed["round"] or 3
    table = published.table6_frame()
    cells: dict[str, float | str] = {}
    for size in ("13B", "70B"):
        hit = table[(table["strategy"] == strategy) & (table["size"] == size)]
        hit = hit[hit["epoch"].isna()] if epoch is None else hit[hit["epoch"] == epoch]
        cells[f"published_{size}"] = float(hit[WEIGHTED_AVERAGE].iloc[0]) if len(hit) else np.nan
    label = strategy if epoch is None else f"{strategy} e{epoch}"
    matched = any(not np.isnan(float(cells[f"published_{size}"])) for size in ("13B", "70B"))
    cells["published_row"] = label if matched else ""
    return cells


def strategy_table(overall: pd.DataFrame) -> pd.DataFrame:
    """Table 6's shape: per optimizer and tester, our weighted averages (paper sizes and
    evaluated items) with intervals and the gain over naive, beside the published weighted
    average of the same strategy (13B and 70B optimizers, tester Tulu2-7B) and its gain over
    the published naive 47.79. Percent."""
    if overall.empty:
        return pd.DataFrame()
    naive_pub = float(
        published.table6_frame().query("strategy == 'naive'")[WEIGHTED_AVERAGE].iloc[0]
    )
    rows = []
    ours = _percent(overall)
    for _, row in ours.iterrows():
        record = row.to_dict()
        record["strategy"] = parse_optimizer(row["optimizer"])["strategy"]
        record.update(_published_strategy(row["optimizer"]))
        record["published_naive"] = naive_pub
        record["published_delta_70B"] = record["published_70B"] - naive_pub
        record["delta_minus_published_delta_70B"] = record["delta"] - record["published_delta_70B"]
        rows.append(record)
    table = pd.DataFrame(rows)
    table["published_source"] = published.TABLE6_SOURCE
    return table


def _number(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.2f}"


def strategy_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "_No optimized-vs-naive results to show._"
    view = table.assign(
        ours=table.apply(
            lambda r: f"{r['optimized']:.2f}{_ci_text(r['optimized_low'], r['optimized_high'])}",
            axis=1,
        ),
        naive_ours=table.apply(lambda r: f"{r['naive']:.2f}", axis=1),
        items=table.apply(
            lambda r: f"{int(r['n_optimized'])} (effective {r['n_effective']:.0f})", axis=1
        ),
        gain=table.apply(
            lambda r: f"{r['delta']:+.2f}{_ci_text(r['delta_low'], r['delta_high'])}", axis=1
        ),
        published=table.apply(
            lambda r: (
                ""
                if not r["published_row"]
                else f"{r['published_row']}: 13B {_number(r['published_13B'])}, "
                f"70B {_number(r['published_70B'])} (naive {r['published_naive']:.2f})"
            ),
            axis=1,
        ),
        gain_vs_published=table.apply(
            lambda r: (
                ""
                if pd.isna(r["delta_minus_published_delta_70B"])
                else f"{r['delta_minus_published_delta_70B']:+.2f}"
            ),
            axis=1,
        ),
    )
    columns = {
        "run": "run",
        "optimizer": "optimizer",
        "tester": "tester",
        "benchmark": "weighting",
        "weights": "weights (paper test sizes)",
        "items": "items (effective n)",
        "naive_ours": "naive (ours)",
        "ours": "optimized (ours)",
        "gain": "gain (ours)",
        "published": "published",
        "gain_vs_published": "gain - published 70B gain",
    }
    return (
        markdown_table(view[list(columns)].rename(columns=columns))
        + f"\n\n*{PAPER_SHAPED} The paper's weighted average (benchmarks weighted by their "
        "full test-set sizes, FIPO Table 2), so a few items of a large benchmark carry most of the "
        "weight: the effective n (Kish) says how many unweighted items it is worth. Intervals: "
        f"{intervals.POOLED_METHOD} (Zou and Donner 2008) of the benchmarks. Gains are "
        "compared with the paper's gains only.*"
    )


# --- Table 8: per-task BBH ----------------------------------------------------------------


def bbh_task_table(
    collection: RunCollection, ci: CIOptions = CIOptions(), reference_tester: str = "Tulu2-7B"
) -> pd.DataFrame:
    """Table 8's shape: average accuracy over BBH tasks per method (naive, each optimizer)
    and tester, beside the published row. Uses the paper's six tasks where the run has any
    of them, otherwise all the BBH tasks it has (the ``tasks`` column says which). The
    average is the unweighted mean of per-task accuracies, the interval stratified by task.
    """
    results = collection.results
    bbh = results[results["benchmark"].str.startswith("bbh/")].copy()
    columns = [
        "kind",
        "run",
        "tester",
        "published_tester",
        "method",
        "source",
        "tasks",
        "n_tasks",
        "n_items",
        "accuracy",
        "accuracy_low",
        "accuracy_high",
    ]
    if bbh.empty:
        return pd.DataFrame(columns=columns)
    bbh["task"] = bbh["benchmark"].str.split("/", n=1).str[1]
    rows = []
    for (run, tester), group in bbh.groupby(["run", "tester"], sort=False):
        six = [t for t in published.TABLE8_TASKS if t in set(group["task"])]
        tasks = six or sorted(set(group["task"]))
        pub_tester = (
            published.match_published_tester(tester, tuple(published.TABLE8)) or reference_tester
        )
        group = group[group["task"].isin(tasks)]
        naive = group[group["condition"] == "naive"].sort_values(["source", "optimizer"])
        # Naive prompts do not depend on the optimizer: count each task's naive items once.
        first = naive.groupby("task")[["source", "optimizer"]].first()
        naive = naive[
            [
                first.loc[t, "source"] == s and first.loc[t, "optimizer"] == o
                for t, s, o in zip(naive["task"], naive["source"], naive["optimizer"], strict=True)
            ]
        ]
        # the naive row's source is where its answers came from (eval, table8 or both)
        methods = [("naive", ",".join(sorted(set(naive["source"]))), naive)]
        optimized = group[group["condition"] == "optimized"]
        for (source, optimizer), cells in optimized.groupby(["source", "optimizer"], sort=False):
            methods.append((optimizer, source, cells))
        for method, source, cells in methods:
            per_task = cells.groupby("task")[["n_items", "n_correct"]].sum()
            per_task = per_task[per_task["n_items"] > 0]
            if per_task.empty:
                continue
            counts = {t: (int(r.n_correct), int(r.n_items)) for t, r in per_task.iterrows()}
            low, high = intervals.pooled_accuracy_interval(
                counts, dict.fromkeys(counts, 1.0), ci.level
            )
            rows.append(
                {
                    "kind": "ours",
                    "run": run,
                    "tester": tester,
                    "published_tester": pub_tester,
                    "method": method,
                    "source": source,
                    "tasks": ",".join(per_task.index),
                    "n_tasks": len(per_task),
                    "n_items": int(per_task["n_items"].sum()),
                    "accuracy": 100 * float((per_task["n_correct"] / per_task["n_items"]).mean()),
                    "accuracy_low": 100 * low,
                    "accuracy_high": 100 * high,
                }
            )
        for method, value in published.TABLE8[pub_tester].items():
            rows.append(
                {
                    "kind": "published",
                    "run": run,
                    "tester": tester,
                    "published_tester": pub_tester,
                    "method": method,
                    "source": published.TABLE8_SOURCE,
                    "tasks": ",".join(published.TABLE8_TASKS),
                    "n_tasks": 6,
                    "accuracy": value,
                }
            )
    table = pd.DataFrame(rows).reindex(columns=columns)
    return pd.concat([table, _bbh_differences(table)], ignore_index=True)


def _bbh_differences(table: pd.DataFrame) -> pd.DataFrame:
    """Our gain against the paper's: each FIPO strategy's average minus our naive average on
    the same tasks, beside the published FIPO (IPL-IPO 70B) minus the published naive of the
    compared tester. Baselines such as BPO have no published counterpart in Table 8 and get
    none; a tester scored on none of Table 8's tasks gets none either (its fallback tasks
    are not what the paper averaged). Accuracies of different testers are never
    subtracted."""
    rows = []
    for _, group in table.groupby(["run", "tester"], sort=False):
        pub = group[group["kind"] == "published"].set_index("method")["accuracy"]
        ours = group[group["kind"] == "ours"]
        naive = ours[ours["method"] == "naive"]
        for _, row in ours[ours["method"] != "naive"].iterrows():
            strategy = parse_optimizer(row["method"])["kind"] is not None or row[
                "method"
            ].startswith(("sft", "dpo", "ipo", "ipl", "fipo"))
            same_tasks = naive[naive["tasks"] == row["tasks"]]
            if not (_on_table8_tasks(row["tasks"]) and strategy and len(same_tasks)):
                continue
            gain = row["accuracy"] - float(same_tasks["accuracy"].iloc[0])
            rows.append(
                {
                    **row.to_dict(),
                    "kind": GAIN_VS_PUBLISHED,
                    "accuracy": gain - (pub["FIPO"] - pub["naive"]),
                    "accuracy_low": np.nan,
                    "accuracy_high": np.nan,
                    "source": "vs published FIPO gain (IPL-IPO 70B minus naive)",
                }
            )
    return pd.DataFrame(rows, columns=table.columns)


def _on_table8_tasks(tasks: str) -> bool:
    return bool(set(tasks.split(",")) & set(published.TABLE8_TASKS))


def _tasks_note(row: pd.Series) -> str:
    """How many of Table 8's tasks a cell averages, or which other tasks stand in."""
    n = int(row["n_tasks"])
    if _on_table8_tasks(row["tasks"]):
        return f"{n} Table 8 task{'s' if n > 1 else ''}"
    return f"not Table 8's tasks: {row['tasks'].replace(',', ', ')}"


def bbh_task_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "_No BBH task results in these runs._"
    view = table.assign(
        value=table.apply(
            lambda r: (
                (
                    f"{r['accuracy']:+.2f}"
                    if r["kind"] == GAIN_VS_PUBLISHED
                    else f"{r['accuracy']:.2f}"
                )
                + (_ci_text(r["accuracy_low"], r["accuracy_high"]) if r["kind"] == "ours" else "")
                + (f" (n={int(r['n_items'])}, {_tasks_note(r)})" if r["kind"] == "ours" else "")
            ),
            axis=1,
        ),
        row=table.apply(
            lambda r: (
                f"{r['kind']}: {r['tester'] if r['kind'] == 'ours' else r['published_tester']}"
            ),
            axis=1,
        ),
    )
    blocks = []
    # one tester per view: its own row, its published tester's row and the gains compared
    for (run, tester), group in view.groupby(["run", "tester"], sort=False):
        wide = group.pivot(index="row", columns="method", values="value")
        wide = wide.reindex(index=list(dict.fromkeys(group["row"])))
        blocks.append(
            f"**run={run}, tester={tester}**\n\n"
            + markdown_table(wide.reset_index())
            + f"\n\n*{PAPER_SHAPED} Ours: task-average accuracy with the "
            f"{intervals.POOLED_METHOD} of its tasks; "
            f"`{GAIN_VS_PUBLISHED}`: our method minus our naive, minus the paper's FIPO minus "
            "its naive.*"
        )
    return "\n\n".join(blocks)


def tables_identical(
    first: pd.DataFrame, second: pd.DataFrame, ignore: Iterable[str] = ("run",)
) -> list[str]:
    """Differences between two tables, ignoring the ``ignore`` columns; empty when equal."""
    a = first.drop(columns=[c for c in ignore if c in first.columns]).reset_index(drop=True)
    b = second.drop(columns=[c for c in ignore if c in second.columns]).reset_index(drop=True)
    if list(a.columns) != list(b.columns):
        return [f"columns differ: {list(a.columns)} vs {list(b.columns)}"]
    if a.shape != b.shape:
        return [f"shapes differ: {a.shape} vs {b.shape}"]
    problems = []
    for column in a.columns:
        left, right = a[column], b[column]
        same = (left == right) | (left.isna() & right.isna())
        for index in np.flatnonzero(~same.to_numpy()):
            problems.append(
                f"row {index}, column {column}: {left.iloc[index]!r} vs {right.iloc[index]!r}"
            )
    return problems
