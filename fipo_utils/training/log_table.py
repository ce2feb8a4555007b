"""The trainer's log as a table, and a trainer that does not print it line by line.

transformers' ``Trainer`` prints every log record as a Python dict when its progress bar
is off (``PrinterCallback``). In a notebook executed by the runner that is hundreds of lines
a reader scrolls past; the same records, one row per optimizer step with the training and
held-out columns side by side, read as a table at the end of the step.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from fipo_utils.runs.kernel_output import progress_shown

# Shown first when present; every other numeric column follows in the trainer's order.
_LEADING = ["step", "epoch", "round", "loss", "eval_loss", "learning_rate", "grad_norm"]
# Run totals and throughput: one value per run, not a curve.
_RUN_SUMMARY = ("train_runtime", "train_samples_per_second", "train_steps_per_second")
_THROUGHPUT = ("_runtime", "_samples_per_second", "_steps_per_second")


def quiet_trainer(trainer: Any) -> Any:
    """Drop the trainer's per-step dict printing where progress output is off (runner
    kernels); an interactive session keeps it as its progress feedback."""
    from transformers.trainer_callback import PrinterCallback

    if not progress_shown():
        trainer.remove_callback(PrinterCallback)
    return trainer


def log_table(log_history: list[dict[str, Any]], max_rows: int | None = 40) -> pd.DataFrame:
    """One row per logged step (training and evaluation records of a step merged), numbers
    only, throughput and run totals left out. Longer logs keep every k-th step and the last
    one, so the table stays one screen while the curves above show every point."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in log_history:
        if "step" not in record or any(key in record for key in _RUN_SUMMARY):
            continue
        key = (record.get("round"), record["step"])
        row = rows.setdefault(key, {})
        for name, value in record.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if name.endswith(_THROUGHPUT):
                continue
            row[name] = value
    table = pd.DataFrame(list(rows.values()))
    if table.empty:
        return table
    leading = [c for c in _LEADING if c in table.columns]
    table = table[leading + [c for c in table.columns if c not in leading]]
    if "step" in table.columns:
        table["step"] = table["step"].astype(int)
    if max_rows is not None and len(table) > max_rows:
        every = -(-len(table) // max_rows)
        keep = sorted({*range(0, len(table), every), len(table) - 1})
        table = table.iloc[keep]
    return table.reset_index(drop=True)
