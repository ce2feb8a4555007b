"""Notebook 01's diversified data: the case-type mix of each run beside the expected one."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from fipo_utils.data.diversify import VARIANTS, expected_shares
from fipo_utils.inference.figures import FigureResult, finish, label_panel, panel_grid


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


def _variant(type_mix: dict[str, Any]) -> str:
    """The diversification variant the runs share ("full" when they name none or differ)."""
    named = {str(m.get("variant")) for m in type_mix.values() if isinstance(m, dict)}
    return named.pop() if len(named) == 1 and named <= set(VARIANTS) else "full"


def type_mix_figure(type_mix: dict[str, Any]) -> FigureResult | None:
    """Observed case-type shares (within main rows 0-5 and extra rows 6-8) beside the
    paper's expected mix."""
    observed = {run: case_type_counts(mix) for run, mix in type_mix.items()}
    observed = {run: counts for run, counts in observed.items() if counts}
    if not observed:
        return None
    variant = _variant(type_mix)
    groups = {
        g: {t: 100 * s for t, s in shares.items()} for g, shares in expected_shares(variant).items()
    }
    fig, axes = panel_grid(1, 1, (7, 3.6))
    ax = axes[0][0]
    types = list(range(9))
    width = 0.8 / (len(observed) + 1)
    expected = {**groups["main"], **groups["extra"]}
    ax.bar(
        np.arange(9) - 0.4 + width / 2,
        [expected.get(t, 0.0) for t in types],
        width,
        color="lightgrey",
        label="expected (paper)",
    )
    totals = []
    for i, (run, counts) in enumerate(observed.items(), start=1):
        shares = []
        for t in types:
            group = range(6) if t < 6 else range(6, 9)
            total = sum(counts.get(g, 0) for g in group)
            shares.append(100 * counts.get(t, 0) / total if total else np.nan)
        totals.append(f"{run}: {sum(counts.values()):g}")
        ax.bar(np.arange(9) - 0.4 + width / 2 + i * width, shares, width, label=run)
    ax.set_xticks(types)
    label_panel(
        ax,
        "case type (0-5 main rows, 6-8 extra IPL rows)",
        "share within its group (%)",
        "Diversified data: case-type mix",
    )
    shown = {g: ", ".join(f"{t}:{s:g}" for t, s in shares.items()) for g, shares in groups.items()}
    caption = (
        f"Runs and rows counted ({'; '.join(totals)}). Expected shares from the paper's dataset "
        f"diversification{'' if variant == 'full' else f', {variant} variant'} "
        f"(main rows {shown['main']}; extra {shown['extra']})."
    )
    return finish(fig, "analysis_type_mix", caption)
