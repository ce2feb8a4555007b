"""Items whose verdict the optimized prompt flipped: the evidence behind an accuracy change.

A gain of two points on 100 items can be 2 items fixed and none broken, or 12 fixed and 10
broken; only the second says the rewrites change a tester's answers a lot in both
directions. Every item is answered under both conditions with the same context, so the pairs
are read from ``eval/predictions/<optimizer>/<tester>/<benchmark>.jsonl`` by item id, using
each record's primary verdict (``correct``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fipo_utils.inference.audit import word_diff
from fipo_utils.runs.io import current_files
from fipo_utils.runs.records import read_predictions

FIXED = "naive wrong -> optimized right"
BROKEN = "naive right -> optimized wrong"


def paired_predictions(run_dir: str | Path) -> pd.DataFrame:
    """One row per (optimizer, tester, benchmark, item): both prompts, predictions, verdicts."""
    folder = Path(run_dir) / "eval" / "predictions"
    rows = [
        record.as_dict()
        for path in current_files(folder, "*/*/*.jsonl")  # <optimizer>/<tester>/[...]/<name>
        for record in read_predictions(path)
    ]
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    keys = ["optimizer", "tester", "benchmark", "id"]
    wide = frame.pivot_table(
        index=keys,
        columns="condition",
        values=["prompt", "prediction", "correct"],
        aggfunc="first",
    )
    wide.columns = [f"{condition}_{value}" for value, condition in wide.columns]
    gold = frame.groupby(keys)["gold"].first()
    return wide.join(gold).reset_index()


def differing_lines(naive: str, optimized: str) -> tuple[str, str]:
    """The lines of two prompts between the leading and trailing lines they share.

    The two conditions of an item share the few-shot context before the instruction and the
    options and answer cue after it, so what is left is each condition's instruction, whole
    (a line that holds the instruction and something else is kept entire).
    """
    old, new = naive.splitlines(), optimized.splitlines()
    shortest = min(len(old), len(new))
    start = 0
    while start < shortest and old[start] == new[start]:
        start += 1
    end = 0
    while end < shortest - start and old[-1 - end] == new[-1 - end]:
        end += 1
    return "\n".join(old[start : len(old) - end]), "\n".join(new[start : len(new) - end])


def flipped_items(pairs: pd.DataFrame) -> pd.DataFrame:
    """The pairs whose verdict differs between the naive and the optimized prompt, with each
    condition's instruction in full (the context both share left out) and their word diff."""
    if pairs.empty:
        return pairs
    naive = pairs["naive_correct"].astype(bool)
    optimized = pairs["optimized_correct"].astype(bool)
    flipped = pairs[naive != optimized].copy()
    flipped.insert(0, "flip", [FIXED if ok else BROKEN for ok in optimized[naive != optimized]])
    parts = [
        differing_lines(a, b)
        for a, b in zip(flipped["naive_prompt"], flipped["optimized_prompt"], strict=True)
    ]
    flipped["naive_instruction"] = [a for a, _ in parts]
    flipped["optimized_instruction"] = [b for _, b in parts]
    flipped["word_diff"] = [word_diff(a, b) for a, b in parts]
    columns = ["flip", "optimizer", "tester", "benchmark", "id", "naive_instruction"]
    columns += ["optimized_instruction", "word_diff", "naive_prediction", "optimized_prediction"]
    columns += ["gold"]
    return flipped[columns].sort_values(["flip", "benchmark", "id"], ignore_index=True)


def flip_counts(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer, tester and benchmark family: items, fixed, broken and the net change."""
    if pairs.empty:
        return pairs
    naive = pairs["naive_correct"].astype(bool)
    optimized = pairs["optimized_correct"].astype(bool)
    frame = pairs.assign(
        family=pairs["benchmark"].str.split("/").str[0],
        fixed=~naive & optimized,
        broken=naive & ~optimized,
    )
    counts = frame.groupby(["optimizer", "tester", "family"]).agg(
        n_items=("id", "size"), fixed=("fixed", "sum"), broken=("broken", "sum")
    )
    counts["net"] = counts["fixed"] - counts["broken"]
    return counts.reset_index().rename(columns={"family": "benchmark"})
