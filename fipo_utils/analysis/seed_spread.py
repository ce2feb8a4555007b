"""How much of a gain is the training seed's: the between-seed spread of each primary gain.

An item-level interval (:mod:`fipo_utils.evaluation.intervals`) says how much a gain would
move on other items of the benchmark; it says nothing about how much it would move if the
optimizer were trained again with another seed (data order, LoRA initialisation, dropout).
A strategy trained with several seeds (chain entries with ``seeds:``, optimizers named
``<name>-seed<N>`` beside the profile seed's ``<name>``) answers that: this table puts the
gains of one strategy's seeds side by side, cell by cell (same tester, benchmark and
primary scoring, the same items), with their mean, standard deviation and range beside the
item-level 95% half-width. A between-seed SD of the size of that half-width means a second
training run moves the gain as much as other items would.
"""

from __future__ import annotations

import pandas as pd

from fipo_utils.analysis.significance import CONTROL, PRIMARY
from fipo_utils.analysis.tables import markdown_table
from fipo_utils.runs.names import split_seed

PROFILE_SEED = "profile"  # the label of the run trained with the profile's own seed
CELL = ["run", "source", "optimizer", "tester", "benchmark", "scoring"]
COLUMNS = [
    *CELL,
    "n_seeds",
    "seeds",
    "gains",
    "gain_mean",
    "gain_sd",
    "gain_min",
    "gain_max",
    "item_half_width",
    "n_items",
]


def seed_spread_table(study: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy and primary-endpoint cell that has two or more seeds: the
    gains (points) of every seed, their mean, SD (``ddof=1``) and range, and the median
    item-level 95% half-width of those gains. Empty (with its columns) when no strategy
    has more than one seed."""
    if study.empty:
        return pd.DataFrame(columns=COLUMNS)
    cells = study[(study["endpoint"] == PRIMARY) & (study["verdict"] != CONTROL)]
    split = cells["optimizer"].map(split_seed)
    cells = cells.assign(
        optimizer=split.str[0],
        seed=split.map(lambda parts: PROFILE_SEED if parts[1] is None else str(parts[1])),
    )
    rows = []
    for key, part in cells.groupby(CELL, sort=True):
        if part["seed"].nunique() < 2:
            continue
        part = part.sort_values("seed", key=lambda s: s.map(_seed_order))
        gains = 100 * part["gain"]
        rows.append(
            {
                **dict(zip(CELL, key, strict=True)),
                "n_seeds": len(part),
                "seeds": ", ".join(part["seed"]),
                "gains": ", ".join(f"{g:+.1f}" for g in gains),
                "gain_mean": gains.mean(),
                "gain_sd": gains.std(ddof=1),
                "gain_min": gains.min(),
                "gain_max": gains.max(),
                "item_half_width": (100 * (part["gain_high"] - part["gain_low"]) / 2).median(),
                "n_items": int(part["n_items"].max()),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS).round(2)


def _seed_order(seed: str) -> tuple[int, int]:
    """The profile seed first, then the others in numeric order."""
    return (0, 0) if seed == PROFILE_SEED else (1, int(seed))


def seed_spread_markdown(table: pd.DataFrame) -> str:
    """The table as Markdown (``analysis/seed_spread.md``) with what its columns mean."""
    caption = (
        "*Between-seed spread of each primary-endpoint gain (points): one strategy trained "
        f"with several seeds (`<name>-seed<N>`; `{PROFILE_SEED}` = the profile's seed), every "
        "seed's optimizer scored on the same items by the same tester. `gain_sd`: standard "
        "deviation over seeds (ddof 1); `item_half_width`: the median over seeds of the 95% "
        "exact-consistent Tango half-width, the spread other items would give. A `gain_sd` "
        "near `item_half_width` means retraining moves a gain as much as resampling items.*"
    )
    if table.empty:
        return (
            "_No strategy was trained with more than one seed (a chain entry with `seeds:` "
            "trains `<name>-seed<N>` beside `<name>`)._\n\n" + caption
        )
    return markdown_table(table) + "\n\n" + caption
