"""Figures for the diversified data: case-type mix, length distributions, variant comparison.

Each function takes what a notebook already has (a ``type_mix.json`` summary or a data
folder) and returns a matplotlib figure; saving is left to ``fipo_utils.runs.figure_files``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from fipo_utils.data.diversify import CASE_NAMES
from fipo_utils.data.template import count_words, unwrap_tulu
from fipo_utils.runs.figure_files import plain_ticks
from fipo_utils.runs.io import read_jsonl


def type_mix_table(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per case type: group, name, count, observed and expected share."""
    rows = []
    for group in ("main", "extra"):
        for case, count in summary["counts"][group].items():
            rows.append(
                {
                    "group": group,
                    "case_type": int(case),
                    "name": CASE_NAMES[int(case)],
                    "count": count,
                    "share": summary["shares"][group][case],
                    "expected": summary["expected_shares"][group][case],
                }
            )
    return pd.DataFrame(rows)


def plot_type_mix(summary: dict[str, Any], title: str = "") -> Figure:
    """Observed vs expected share of each case type, main rows and extra IPL rows side by side."""
    table = type_mix_table(summary)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    for ax, group in zip(axes, ("main", "extra"), strict=True):
        part = table[table["group"] == group]
        positions = range(len(part))
        ax.bar([p - 0.2 for p in positions], part["share"], width=0.4, label="observed")
        ax.bar([p + 0.2 for p in positions], part["expected"], width=0.4, label="expected")
        ax.set_xticks(list(positions), [str(c) for c in part["case_type"]])
        ax.set_xlabel("case type")
        ax.set_ylabel("share of rows")
        ax.set_title(f"{group} rows (n={int(part['count'].sum())})")
    axes[0].legend()
    fig.suptitle(title or f"Case-type mix ({summary.get('variant', '?')}, {summary.get('mode')})")
    fig.tight_layout()
    return plain_ticks(fig)


def length_frame(data_dir: str | Path) -> pd.DataFrame:
    """Word counts of each IPL row's prompts and answers, for the length plots."""
    fields = ("case_type", "r_p", "s_p", "prompt", "chosen", "rejected")
    rows = [
        {
            "case_type": row["case_type"],
            "raw prompt": count_words(row["r_p"]),
            "prompt with options": count_words(row["s_p"]),
            "rendered input": count_words(unwrap_tulu(row["prompt"])),
            "chosen": count_words(row["chosen"]),
            "rejected": count_words(row["rejected"]),
        }
        for row in read_jsonl(Path(data_dir) / "ipl.jsonl", fields)
    ]
    return pd.DataFrame(rows)


def plot_length_distributions(lengths: pd.DataFrame) -> Figure:
    """Histograms of word counts; optimizer rows (cases 0-5) only, where chosen is a prompt."""
    main = lengths[lengths["case_type"] <= 5]
    columns = ["raw prompt", "prompt with options", "rendered input", "chosen", "rejected"]
    # three panels a row keeps the figure within a page's width
    nrows = -(-len(columns) // 3)
    fig, grid = plt.subplots(nrows, 3, figsize=(9.6, 3.0 * nrows), sharey=True, squeeze=False)
    axes = grid.flat
    for ax in list(axes)[len(columns) :]:
        ax.set_visible(False)
    for ax, column in zip(grid.flat, columns, strict=False):
        ax.hist(main[column], bins=min(30, max(5, len(main) // 4)), color="tab:blue", alpha=0.8)
        ax.set_title(column)
        ax.set_xlabel("words")
        ax.set_ylabel("optimizer rows")
    fig.suptitle("Length distributions (words, split on single spaces)")
    fig.tight_layout()
    return plain_ticks(fig)


def plot_variant_mixes(summaries: dict[str, dict[str, Any]]) -> Figure:
    """Grouped bars: each variant's share of every case type, main and extra rows."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    width = 0.8 / max(1, len(summaries))
    for ax, group in zip(axes, ("main", "extra"), strict=True):
        for index, (variant, summary) in enumerate(summaries.items()):
            shares = summary["shares"][group]
            cases = [int(c) for c in shares]
            offset = (index - (len(summaries) - 1) / 2) * width
            ax.bar([c + offset for c in cases], list(shares.values()), width=width, label=variant)
            ax.set_xticks(cases, [str(c) for c in cases])
        ax.set_xlabel("case type")
        ax.set_ylabel("share of rows")
        ax.set_title(f"{group} rows")
    axes[0].legend(title="variant")
    fig.suptitle("Case-type mix of the ablation variants")
    fig.tight_layout()
    return plain_ticks(fig)
