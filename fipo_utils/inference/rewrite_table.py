"""The rewrites notebook 05 wrote, as one table.

``optimized/<optimizer>/<benchmark>.jsonl`` holds one record per item (BBH tasks one folder
deeper); earlier versions a rerun moved aside (``.prev-`` copies) are history, not rewrites,
and are left out.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fipo_utils.runs.io import current_files
from fipo_utils.runs.records import REWRITE_FIELDS, read_rewrites


def read_rewrite_table(optimizer_dir: str | Path) -> pd.DataFrame:
    """Every current rewrite record under ``optimizer_dir`` (``optimized/<optimizer>``), one
    row each, files in sorted order; with the record's columns and no rows when there is none
    (a run whose benchmarks are all missing locally), so callers can select columns."""
    records = [
        record.as_dict() for path in current_files(optimizer_dir) for record in read_rewrites(path)
    ]
    return pd.DataFrame(records, columns=list(REWRITE_FIELDS))
