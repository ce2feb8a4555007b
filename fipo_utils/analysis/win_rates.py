"""BPO's delta win rate with an interval, from the per-prompt verdicts notebook 08 writes
(``baselines/bpo_win_rate/<test set>/<rewriter>.jsonl``, ``fipo_utils.baselines.bpo_eval``).

Each prompt scores +1 (win), 0 (tie) or -1 (lose) for the rewrite; the delta win rate is
their mean, and resampling prompts gives its bootstrap interval.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fipo_utils.analysis.results import ResultFileError
from fipo_utils.evaluation import bootstrap
from fipo_utils.runs.io import current_files, read_jsonl

SCORE = {"win": 1, "tie": 0, "lose": -1}


def delta_win_rate_table(
    run_dir: str | Path,
    *,
    seed: int = 2024,
    replicates: int = bootstrap.DEFAULT_REPLICATES,
    level: float = bootstrap.DEFAULT_LEVEL,
) -> pd.DataFrame:
    """One row per (test set, rewriter): counts, rates, delta win rate and its interval."""
    rows = []
    folder = Path(run_dir) / "baselines" / "bpo_win_rate"
    for path in current_files(folder):
        fields = ("id", "test_set", "rewriter", "verdict")
        records = read_jsonl(path, fields, error=ResultFileError)
        if not records:
            continue
        scores = [SCORE[r["verdict"]] for r in records]
        low, high = bootstrap.mean_ci(
            scores,
            seed=seed,
            key=str(path.relative_to(folder)),
            replicates=replicates,
            level=level,
        )
        n = len(scores)
        rows.append(
            {
                "test_set": records[0]["test_set"],
                "rewriter": records[0]["rewriter"],
                "n": n,
                "win_rate": scores.count(1) / n,
                "tie_rate": scores.count(0) / n,
                "lose_rate": scores.count(-1) / n,
                "delta_win_rate": sum(scores) / n,
                "delta_low": low,
                "delta_high": high,
            }
        )
    return pd.DataFrame(rows)
