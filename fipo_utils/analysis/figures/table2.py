"""Table 2's shape: absolute naive and optimized accuracy per tester and benchmark."""

from __future__ import annotations

import pandas as pd

from fipo_utils.analysis import published
from fipo_utils.evaluation.summary_figures import ACCURACY_TITLE, CHANCE_NOTE, accuracy_pages
from fipo_utils.inference.figures import FigureResult, describe


def accuracy_figure(table2: pd.DataFrame) -> list[FigureResult]:
    """Table 2's shape: absolute naive and optimized accuracy per tester and benchmark, with
    intervals and n, and the published naive and FIPO accuracy of the compared tester; as
    many pages as the panels need."""
    ours = table2[table2["kind"] == "ours"] if not table2.empty else table2
    ours = ours[ours["benchmark"].isin([*published.BENCHMARKS, published.WEIGHTED_AVERAGE])]
    if ours.empty:
        return []
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
    cells = published.TABLE2.get(pub_tester, {}) if pub_tester is not None else {}
    caption = (
        f"{describe(ours['run'], 'Run')}. Bars: our accuracy with the naive and the optimized "
        "instruction; error bars: 95% Wilson interval (weighted average: MOVER); a red 0 marks "
        f"a bar of height zero; {CHANCE_NOTE}; n under each benchmark. The weighted average "
        "weights each benchmark by its full test-set size, as the paper does. Diamonds: "
        f"{published.TABLE2_SOURCE}, tester {pub_tester}."
    )
    return accuracy_pages(long, "analysis_accuracy", caption, ACCURACY_TITLE, cells)
