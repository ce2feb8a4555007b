"""Train/test splits of an OIRL table: the released one and a leak-free one by question text.

The released MAWPS and SVAMP rows come from overlapping cross-validation folds, so most
"test" questions also appear among the training rows: a reward model can memorise them.
The leak-free split keeps every row of one question text on one side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from fipo_utils.baselines.oirl.table import OirlTable

SPLITS = ("original", "leak-free")


@dataclass(frozen=True)
class Split:
    name: str
    train: np.ndarray  # row indices
    test: np.ndarray  # row indices
    note: str


def normalize_question(text: str) -> str:
    """Case and whitespace folded, so 'Mary has 3 .' and 'mary has 3.' count as one text."""
    return re.sub(r"\s+", " ", re.sub(r"\s+([.,?!])", r"\1", text)).strip().lower()


def leaking_rows(questions: list[str], train: np.ndarray, test: np.ndarray) -> int:
    """How many training rows share their (normalized) text with some test row."""
    keys = [normalize_question(q) for q in questions]
    test_keys = {keys[i] for i in test}
    return sum(keys[i] in test_keys for i in train)


def original_split(table: OirlTable) -> Split:
    train = np.flatnonzero(~table.original_test)
    test = np.flatnonzero(table.original_test)
    leaks = leaking_rows(table.questions, train, test)
    return Split(
        "original", train, test, f"released split; {leaks} training rows share text with test"
    )


def leak_free_split(table: OirlTable, seed: int = 2024) -> Split:
    """The released split when it is already clean (GSM8K), else a seeded split by text.

    Question groups are shuffled with ``seed`` and moved to the test side until it holds at
    least as many rows as the released test split, so both splits test a similar amount.
    """
    original = original_split(table)
    if leaking_rows(table.questions, original.train, original.test) == 0:
        return Split(
            "leak-free", original.train, original.test, "released split has no shared text"
        )
    keys = np.asarray([normalize_question(q) for q in table.questions], dtype=object)
    unique, group = np.unique(keys, return_inverse=True)
    sizes = np.bincount(group)
    order = np.random.default_rng(seed).permutation(len(unique))
    target = len(original.test)
    is_test_group = np.zeros(len(unique), dtype=bool)
    taken = 0
    for g in order:
        if taken >= target:
            break
        is_test_group[g] = True
        taken += sizes[g]
    test_mask = is_test_group[group]
    return Split(
        "leak-free",
        np.flatnonzero(~test_mask),
        np.flatnonzero(test_mask),
        f"re-split by question text (seed {seed}): {int(is_test_group.sum())} of "
        f"{len(unique)} distinct texts held out",
    )


def make_split(table: OirlTable, name: str, seed: int = 2024) -> Split:
    if name == "original":
        return original_split(table)
    if name == "leak-free":
        return leak_free_split(table, seed)
    raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
