"""The columns of evaluation's outputs (docs/CONTRACTS.md, step 06), defined once.

Evaluation (06) and the baselines (08) write them; analysis (07) reads them back. They live
in the lowest stage that writes them, so no writer has to import its reader.
"""

RESULT_COLUMNS = (
    "optimizer",
    "tester",
    "benchmark",
    "condition",
    "n_items",
    "n_correct",
    "accuracy",
)
PREDICTION_FIELDS = ("id", "benchmark", "optimizer", "tester", "condition", "correct")
CONDITIONS = ("naive", "optimized")
