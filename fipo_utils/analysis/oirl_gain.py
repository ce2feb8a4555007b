"""Prompt-OIRL's gain with its uncertainty: best-of-N minus the best single prompt, averaged
over reward-model seeds, with a paired bootstrap interval over test questions.

A single fit can land either side of the best single prompt on GSM8K (0.246 vs 0.240 on one
machine, 0.231 vs 0.240 on another with the same data), so one number is not a finding. Per
question the seed-averaged best-of-N verdict minus the best single prompt's verdict is one
paired difference; resampling questions gives the interval (``fipo_utils.analysis.bootstrap``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fipo_utils.analysis import bootstrap


def seed_averaged_gain(
    results: dict[str, Any],
    *,
    seed: int = 2024,
    replicates: int = bootstrap.DEFAULT_REPLICATES,
    level: float = bootstrap.DEFAULT_LEVEL,
) -> dict[str, Any]:
    """The gain block of a ``results.json`` written by ``fipo_utils.baselines.oirl.report``."""
    per_question = results["per_question"]
    by_seed = np.asarray(per_question["best_of_n_correct_by_seed"], dtype=float)
    single = np.asarray(per_question["best_single_correct"], dtype=float)
    differences = by_seed.mean(axis=0) - single
    low, high = bootstrap.mean_ci(
        differences,
        seed=seed,
        key=f"oirl/{results.get('dataset')}/{results.get('split')}",
        replicates=replicates,
        level=level,
    )
    return {
        "mean": float(differences.mean()),
        "low": low,
        "high": high,
        "level": level,
        "n_questions": int(len(single)),
        "n_seeds": int(len(by_seed)),
        "by_seed": [float(g) for g in by_seed.mean(axis=1) - single.mean()],
        "distinguishable_from_zero": bool(low > 0 or high < 0),
    }
