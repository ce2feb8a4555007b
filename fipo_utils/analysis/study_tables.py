"""The study's tables in Markdown (``study_table2.md``, ``study_table6.md``) from
:func:`fipo_utils.analysis.significance.study_table`.

One block per run, source (notebook 06's ``eval``, 08's ``baselines``, 09's ``table8``: never
mixed, since they score other items) and endpoint, the primary one first. Each block's
caption names its endpoint, its Holm family and size ``m``, the interval methods and levels,
and the power: a reader of any one block can tell what a "no difference" rules out.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from fipo_utils.analysis import published
from fipo_utils.analysis.gates import marked_optimizer
from fipo_utils.analysis.results import SOURCES
from fipo_utils.analysis.significance import CONTROL, METHODS, POOLED, PRIMARY
from fipo_utils.analysis.tables import TABLE2_COLUMNS, markdown_table
from fipo_utils.runs.settings import PAPER_PRIMARY

SOURCE_STEPS = {"eval": "notebook 06", "baselines": "notebook 08", "table8": "notebook 09"}
DISAGREES = " †"


def _points(value: float) -> str:
    return "—" if pd.isna(value) else f"{100 * value:.0f}"


def study_cell(row: pd.Series) -> str:
    """One cell: naive -> optimized accuracy, the gain with its family-level interval, the
    Holm p-value with the verdict mark, the family-level MDE and the item count (percent)."""
    mark = {"better": " ▲", "worse": " ▼"}.get(row["verdict"], "")
    test = "control" if row["verdict"] == CONTROL else f"p_Holm={row['holm_p']:.2g}{mark}"
    flag = "" if row["agreement"] == "agree" else DISAGREES
    return (
        f"{100 * row['naive']:.1f} -> {100 * row['optimized']:.1f}; "
        f"Δ {100 * row['gain']:+.1f} "
        f"[{100 * row['gain_low_family']:+.1f}, {100 * row['gain_high_family']:+.1f}]{flag}; "
        f"{test}; MDE {_points(row['mde_family'])}; n={int(row['n_items'])}"
    )


def _endpoint_label(part: pd.DataFrame, primary: Mapping[str, str]) -> str:
    if (part["endpoint"] == PRIMARY).all():
        return (
            f"primary endpoint (multiple choice: {primary['multiple_choice']}, "
            f"generation: {primary['generation']})"
        )
    return f"secondary endpoint, scoring={part['scoring'].iloc[0]} (exploratory)"


def _caption(part: pd.DataFrame, level: str, primary: Mapping[str, str]) -> str:
    tested = part[part["verdict"] != CONTROL]
    m = int(tested["family_size"].max()) if len(tested) else 0
    confidence = float((tested if len(tested) else part)["family_level"].min())
    weights = ""
    if level == POOLED:
        weights = (
            " Pooled cells join every benchmark's items of that scoring: a stratified estimate "
            "weighted by item counts (" + "; ".join(sorted(set(part["weights"]))) + "), so its "
            "effective n is the n printed."
        )
    return (
        f"*{_endpoint_label(part, primary)}. Family: these {m} cells (Holm over exact "
        "McNemar p-values; the identity control's constant cells are "
        f"shown but not counted). Δ: optimized minus naive accuracy in points, with the "
        f"{METHODS['gain']} at the family's Bonferroni level {100 * confidence:.2f}% "
        f"(1 - 0.05/m), the simultaneous level Holm's verdicts need; the 95% interval is in "
        f"study_significance.csv. ▲/▼: better/worse after Holm at 5%. MDE: minimum detectable "
        f"effect in points ({METHODS['mde']}, level 0.05/m) at the cell's discordance; — = "
        f"too few verdicts flip for any effect to be detectable, the interval bounds the gain. "
        f"†: Holm rejects while the Bonferroni-level interval touches 0 (Holm is less "
        f"strict than Bonferroni; the interval excludes 0 exactly where p < 0.05/m). "
        f"[gate failed]: the optimizer did not pass its did-it-learn gate, so its cells "
        f"measure the base model, not training; [not gated]: trained, never gated "
        f"(gates.md).{weights}*"
    )


def _blocks(study: pd.DataFrame, level: str, primary: Mapping[str, str]) -> list[str]:
    cells = study[(study["benchmark"] == POOLED) == (level == POOLED)]
    order = {source: i for i, (source, _) in enumerate(SOURCES)}
    blocks = []
    groups = cells.groupby(["run", "source"], sort=False)
    for (run, source), part in sorted(groups, key=lambda g: (g[0][0], order.get(g[0][1], 9))):
        roles = [PRIMARY, *sorted(set(part.loc[part["endpoint"] != PRIMARY, "scoring"]))]
        for role in roles:
            chosen = (
                part[part["endpoint"] == PRIMARY]
                if role == PRIMARY
                else part[(part["endpoint"] != PRIMARY) & (part["scoring"] == role)]
            )
            if chosen.empty:
                continue
            if "gate" in chosen.columns:  # a trained optimizer that did not pass its gate
                chosen = chosen.assign(
                    optimizer=[
                        marked_optimizer(o, g)
                        for o, g in zip(chosen["optimizer"], chosen["gate"], strict=True)
                    ]
                )
            if level == POOLED:
                index, columns = ["scoring", "optimizer"], "tester"
            else:
                index, columns = ["tester", "optimizer"], "benchmark"
            # one cell per key: pivot raises where two rows would share one
            wide = chosen.pivot(index=index, columns=columns, values="cell")
            if level != POOLED:
                known = [c for c in TABLE2_COLUMNS if c in wide.columns]
                wide = wide.reindex(columns=known + sorted(set(wide.columns) - set(known)))
                wide.columns = [published.BENCHMARK_LABELS.get(c, c) for c in wide.columns]
            step = SOURCE_STEPS.get(source, source)
            title = f"**run={run}, source={source} ({step}), {_endpoint_label(chosen, primary)}**"
            blocks.append(
                "\n\n".join(
                    [title, markdown_table(wide.reset_index()), _caption(chosen, level, primary)]
                )
            )
    return blocks


def study_markdown(study: pd.DataFrame, primary: Mapping[str, str] | None = None) -> dict[str, str]:
    """``study_table2``: Table 2's shape, one line per tester and optimizer, one column per
    benchmark. ``study_table6``: Table 6's shape, one line per optimizer, one column per
    tester, each scoring's benchmarks pooled."""
    if study.empty:
        empty = "_No paired naive/optimized predictions to show._"
        return {"study_table2": empty, "study_table6": empty}
    primary = dict(PAPER_PRIMARY if primary is None else primary)
    study = study.assign(cell=study.apply(study_cell, axis=1))
    return {
        "study_table2": "\n\n".join(_blocks(study, "benchmark", primary)),
        "study_table6": "\n\n".join(_blocks(study, POOLED, primary)),
    }
