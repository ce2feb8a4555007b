"""Did each trained optimizer learn? The "did it learn" gates beside the study's numbers.

Notebooks 02-04 and 10 gate every checkpoint they train against the untrained base on
held-out rows (:mod:`fipo_utils.training.gate`, ``checkpoints/<name>/gate.json``), and 05
adds whether its benchmark rewrites differ from the base's. A gain measured for an optimizer
that failed its gate measures the base model, not training, so the study tables mark such
optimizers, and an optimizer that was trained but never gated, beside their cells.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fipo_utils.analysis.results import RunCollection
from fipo_utils.analysis.tables import markdown_table
from fipo_utils.training.gate import read_gate

PASSED, FAILED, NOT_GATED, UNTRAINED = "passed", "failed", "not gated", "untrained"
# What the study tables print after an optimizer's name; a passed gate or an untrained
# optimizer (identity, base, the controls, the BPO-style rewriter) carries no mark.
MARKS = {FAILED: " [gate failed]", NOT_GATED: " [not gated]"}
GATE_COLUMNS = ["run", "optimizer", "gate", "label", "checks"]


def gate_status(run_dir: Path, optimizer: str) -> tuple[str, str]:
    """(status, the gate's own words) of one optimizer of notebook 05 in ``run_dir``."""
    from fipo_utils.inference.registry import registered_optimizers

    if optimizer == "base" or optimizer in registered_optimizers():
        return UNTRAINED, "not trained: nothing to gate"
    result = read_gate(run_dir / "checkpoints" / optimizer)
    if result is None:
        return NOT_GATED, "trained, but no gate record (checkpoints/<name>/gate.json)"
    return (PASSED if result.passed else FAILED), result.label()


def gate_table(collection: RunCollection) -> pd.DataFrame:
    """One row per run and optimizer that notebook 05 rewrote with: its gate status, the
    gate's verdict in words and every check (base -> trained, threshold, n)."""
    rows = []
    optimized = collection.optimized
    if optimized.empty:
        return pd.DataFrame(columns=GATE_COLUMNS)
    for run, part in optimized.groupby("run", sort=False):
        run_dir = collection.run_dirs[str(run)]
        for optimizer in dict.fromkeys(part["optimizer"]):
            status, label = gate_status(run_dir, optimizer)
            result = read_gate(run_dir / "checkpoints" / optimizer)
            checks = "" if result is None else "; ".join(c.describe() for c in result.checks)
            rows.append([run, optimizer, status, label, checks])
    return pd.DataFrame(rows, columns=GATE_COLUMNS)


def with_gate_marks(study: pd.DataFrame, gates: pd.DataFrame) -> pd.DataFrame:
    """``study`` with a ``gate`` column (notebook 06's cells; other sources score their own
    optimizers) and each marked optimizer's name followed by its mark."""
    if study.empty:
        return study.assign(gate=pd.Series(dtype=str))
    status = {(r.run, r.optimizer): r.gate for r in gates.itertuples()}
    gate = [
        status.get((run, optimizer), "") if source == "eval" else ""
        for run, source, optimizer in zip(
            study["run"], study["source"], study["optimizer"], strict=True
        )
    ]
    return study.assign(gate=gate)


def marked_optimizer(optimizer: str, gate: str) -> str:
    """The optimizer's name as a study table prints it: with its gate mark, if any."""
    return optimizer + MARKS.get(gate, "")


def gates_markdown(gates: pd.DataFrame) -> str:
    """The gates as a Markdown table with a caption that says what a failed gate means."""
    if gates.empty:
        return "_No optimizer rewrote a benchmark (notebook 05), so there is nothing to gate._"
    failed = sorted(set(gates.loc[gates["gate"] == FAILED, "optimizer"]))
    unchecked = sorted(set(gates.loc[gates["gate"] == NOT_GATED, "optimizer"]))
    caption = (
        "*Did it learn: each trained optimizer against the untrained base on held-out rows "
        "(notebooks 02-04, 10) and on notebook 05's rewrites (share differing from the "
        "base's). A gain of an optimizer whose gate failed measures the base model, not "
        "training; the study tables mark it [gate failed], and a trained optimizer without a "
        "gate record [not gated]. "
        + (f"Failed: {', '.join(failed)}. " if failed else "No gate failed. ")
        + (f"Not gated: {', '.join(unchecked)}." if unchecked else "")
        + "*"
    )
    return markdown_table(gates) + "\n\n" + caption
