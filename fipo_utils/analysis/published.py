"""The FIPO paper's published numbers as data, so any run can be laid beside them.

Source: Lu et al., "FIPO: Free-form Instruction-oriented Prompt Optimization with Preference
Dataset and Modular Fine-tuning Schema", arXiv 2402.11811 v4. Accuracies are in percent as
printed (Table 8 prints fractions; they are converted to percent here so every table shares
one unit). Each table carries its source string; tables built from these name it.
"""

from __future__ import annotations

import re

import pandas as pd

from fipo_utils.data import benchmarks
from fipo_utils.training import plots as training_plots

PAPER = benchmarks.PAPER

# The five benchmarks of Table 2, in the paper's column order.
BENCHMARKS = ("gsm8k", "bbh", "piqa", "cosmosqa", "mmlu")
BENCHMARK_LABELS = benchmarks.BENCHMARK_LABELS

# The weights of the paper's "weighted average" and its benchmark name (facts about the
# benchmarks, kept with them).
PAPER_TEST_SIZES = benchmarks.PAPER_TEST_SIZES
WEIGHTED_AVERAGE = benchmarks.WEIGHTED_AVERAGE
weighted_average = benchmarks.weighted_average

TABLE2_SOURCE = f"{PAPER}, Table 2 (optimizer IPL-IPO-70B; naive -> FIPO)"
# tester -> benchmark -> (naive, FIPO); WEIGHTED_AVERAGE is the printed weighted average.
TABLE2 = {
    "Llama2-7B": {
        "gsm8k": (8.89, 11.70),
        "bbh": (31.21, 33.50),
        "piqa": (62.78, 69.37),
        "cosmosqa": (43.09, 52.11),
        "mmlu": (46.58, 54.56),
        WEIGHTED_AVERAGE: (41.73, 48.10),
    },
    "Tulu2-13B": {
        "gsm8k": (39.06, 40.17),
        "bbh": (36.49, 40.26),
        "piqa": (76.62, 78.58),
        "cosmosqa": (55.13, 57.68),
        "mmlu": (57.43, 59.10),
        WEIGHTED_AVERAGE: (52.53, 54.79),
    },
    "Baichuan2-13B": {
        "gsm8k": (46.81, 48.12),
        "bbh": (37.95, 39.95),
        "piqa": (68.56, 74.77),
        "cosmosqa": (51.88, 56.88),
        "mmlu": (57.46, 58.32),
        WEIGHTED_AVERAGE: (52.36, 54.35),
    },
}

TABLE6_SOURCE = f"{PAPER}, Table 6 (strategies; tester Tulu2-7B; weighted average)"
TABLE6_TESTER = "Tulu2-7B"
# One row per (strategy, optimizer size, epoch/round); epoch None = the strategy's final model.
TABLE6 = [
    {"strategy": "naive", "size": None, "epoch": None, WEIGHTED_AVERAGE: 47.79},
    {"strategy": "sft", "size": "13B", "epoch": None, WEIGHTED_AVERAGE: 44.93},
    {"strategy": "sft", "size": "70B", "epoch": None, WEIGHTED_AVERAGE: 46.96},
    {"strategy": "dpo", "size": "13B", "epoch": None, WEIGHTED_AVERAGE: 42.69},
    {"strategy": "dpo", "size": "70B", "epoch": None, WEIGHTED_AVERAGE: 49.07},
    {"strategy": "ipo", "size": "13B", "epoch": None, WEIGHTED_AVERAGE: 44.93},
    {"strategy": "ipo", "size": "70B", "epoch": None, WEIGHTED_AVERAGE: 50.94},
    {"strategy": "ipl-dpo", "size": "70B", "epoch": 1, WEIGHTED_AVERAGE: 48.12},
    {"strategy": "ipl-dpo", "size": "70B", "epoch": 2, WEIGHTED_AVERAGE: 48.23},
    {"strategy": "ipl-dpo", "size": "70B", "epoch": 3, WEIGHTED_AVERAGE: 48.10},
    {"strategy": "ipl-ipo", "size": "70B", "epoch": 1, WEIGHTED_AVERAGE: 48.30},
    {"strategy": "ipl-ipo", "size": "70B", "epoch": 2, WEIGHTED_AVERAGE: 50.81},
    {"strategy": "ipl-ipo", "size": "70B", "epoch": 3, WEIGHTED_AVERAGE: 52.13},
    {"strategy": "ipl-ipo-gen", "size": "70B", "epoch": 3, WEIGHTED_AVERAGE: 50.23},
    {"strategy": "ipl-ipo-partial", "size": "70B", "epoch": 3, WEIGHTED_AVERAGE: 49.59},
]
# Table 6's per-benchmark columns, given for the naive prompts and IPL-IPO 70B epoch 3.
TABLE6_PER_BENCHMARK = {
    "naive": {"gsm8k": 24.77, "bbh": 36.21, "piqa": 73.35, "cosmosqa": 51.17, "mmlu": 51.22},
    "ipl-ipo-70b-e3": {
        "gsm8k": 26.67,
        "bbh": 39.60,
        "piqa": 77.11,
        "cosmosqa": 56.71,
        "mmlu": 56.02,
    },
}

TABLE8_SOURCE = f"{PAPER}, Table 8 (average accuracy over six BBH tasks)"
# "epistemic" is part of BIG-bench, not of the 27 BBH task files; runs without it average
# over the tasks they have, and the table says how many.
TABLE8_TASKS = (
    "penguins_in_a_table",
    "geometric_shapes",
    "epistemic",
    "object_counting",
    "temporal_sequences",
    "causal_judgement",
)
TABLE8_METHODS = ("naive", "APE", "PromptAgent", "GPT-4 rewrite", "FIPO")
_TABLE8_FRACTIONS = {
    "Llama2-7B": (0.468, 0.492, 0.541, 0.531, 0.567),
    "Tulu2-7B": (0.447, 0.489, 0.524, 0.547, 0.554),
    "Llama3-70B": (0.666, 0.676, 0.687, 0.665, 0.692),
    "Qwen2-72B": (0.680, 0.687, 0.722, 0.691, 0.731),
    "GPT-3.5": (0.513, 0.681, 0.790, 0.680, 0.732),
    "GPT-4o": (0.762, 0.797, 0.820, 0.813, 0.844),
}
TABLE8 = {
    tester: {m: round(100 * v, 1) for m, v in zip(TABLE8_METHODS, values, strict=True)}
    for tester, values in _TABLE8_FRACTIONS.items()
}

IPL_SOURCE = f"{PAPER}, section on iterative preference learning"
# Discrimination accuracy on a held-out 5% split, and the share of prompts the model
# replaced with its own rewrite before rounds 2 and 3 (percent); kept with the IPL figures.
IPL_STATS = {
    "discrimination_accuracy": training_plots.PUBLISHED_JUDGE_ACCURACY,
    "discrimination_split": training_plots.PUBLISHED_JUDGE_SPLIT,
    "replaced_percent": training_plots.PUBLISHED_REPLACED_PERCENT,
}


def table2_frame() -> pd.DataFrame:
    """Table 2 as a tidy frame: tester, benchmark, naive, optimized, delta (percent)."""
    rows = [
        {"tester": t, "benchmark": b, "naive": n, "optimized": o, "delta": round(o - n, 2)}
        for t, cells in TABLE2.items()
        for b, (n, o) in cells.items()
    ]
    return pd.DataFrame(rows)


def table6_frame() -> pd.DataFrame:
    """Table 6's weighted-average rows as a frame, one row per published strategy."""
    return pd.DataFrame(TABLE6)


def table8_frame() -> pd.DataFrame:
    """Table 8 as a tidy frame: tester, method, accuracy (percent)."""
    return pd.DataFrame(
        [
            {"tester": t, "method": m, "accuracy": a}
            for t, row in TABLE8.items()
            for m, a in row.items()
        ]
    )


def _squash(name: str) -> str:
    """Lower-case alphanumerics of a model name's last path part (hub ids and folder names)."""
    last = re.split(r"/|--", name.strip())[-1]
    return re.sub(r"[^a-z0-9]", "", last.lower())


def match_published_tester(tester: str, published: list[str] | tuple[str, ...]) -> str | None:
    """The published tester a model name refers to (``meta-llama/Llama-2-7b-hf`` ->
    ``Llama2-7B``), or ``None`` when it is none of them (e.g. SmolLM2 in the smoke run)."""
    squashed = _squash(tester)
    for name in published:
        if _squash(name) and _squash(name) in squashed:
            return name
    return None
