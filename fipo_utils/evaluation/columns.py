"""The columns of evaluation's outputs (docs/CONTRACTS.md, step 06), and the one function
that counts per-item predictions into results rows.

Evaluation (06) and the baselines (08) write them; analysis (07) reads them back. They live
in the lowest stage that writes them, so no writer has to import its reader.

An item can be judged by several scorings (for multiple choice: the option letter's
log-probability, the paper's; for generation: the answer extraction). Each prediction
record names its primary scoring (``scoring``; ``correct`` is that scoring's verdict) and
holds every scoring's verdict in ``correct_by``. ``results.csv`` has one row per scoring,
``primary`` marking the row that paper-shaped tables compare with the published numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fipo_utils.runs.records import CONDITIONS, PREDICTION_FIELDS

__all__ = [
    "CONDITIONS",
    "PREDICTION_FIELDS",
    "RESULT_COLUMNS",
    "VALID_ONLY_RESULTS",
    "result_rows",
]

# The second reading of every cell (the same columns as ``results.csv``): only the items
# whose rewrite is valid, naive and optimized alike, with their own ``n_items``.
VALID_ONLY_RESULTS = "results_valid_only.csv"

RESULT_COLUMNS = (
    "optimizer",
    "tester",
    "benchmark",
    "condition",
    "scoring",
    "primary",
    "n_items",
    "n_correct",
    "accuracy",
)


def result_rows(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accuracy rows, one per (optimizer, tester, benchmark, condition, scoring).

    ``records`` are prediction records with ``scoring``, ``correct`` and (optionally)
    ``correct_by``; a record without ``correct_by`` counts for its primary scoring only.
    """
    groups: dict[tuple[str, str, str, str, str], list[bool]] = {}
    primary: dict[tuple[str, str, str, str, str], bool] = {}
    for record in records:
        verdicts = record.get("correct_by") or {record["scoring"]: record["correct"]}
        for scoring, verdict in verdicts.items():
            key = (
                record["optimizer"],
                record["tester"],
                record["benchmark"],
                record["condition"],
                scoring,
            )
            groups.setdefault(key, []).append(bool(verdict))
            primary[key] = scoring == record["scoring"]
    rows = []
    for key in sorted(groups, key=lambda k: (k[:3], CONDITIONS.index(k[3]), k[4])):
        verdicts = groups[key]
        rows.append(
            dict(zip(RESULT_COLUMNS[:5], key, strict=True))
            | {
                "primary": primary[key],
                "n_items": len(verdicts),
                "n_correct": sum(verdicts),
                "accuracy": sum(verdicts) / len(verdicts) if verdicts else float("nan"),
            }
        )
    return rows
