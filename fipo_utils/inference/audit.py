"""An audit of every optimized prompt: did the rewrite keep the task and not give it away?

The paper names one failure mode of FIPO, the "cheating note" (a rewrite that contains the
answer, under 10% of cases, mostly GSM8K and BBH arithmetic). A rewrite can also fail the
task without cheating: drop or change the answer options a BBH instruction lists, lose a
number or a name the question depends on, or ignore the word limit ``G_N``. Accuracy alone
hides all of these, so each rewrite gets one flag per check, stored beside it in
``optimized/<optimizer>/<benchmark>.jsonl``, and :func:`audit_table` counts them.

Checks are textual and conservative: a flag means the check found the problem, no flag does
not prove the rewrite is faithful. Named entities are approximated by capitalised words that
do not start a sentence (no tagger model is downloaded for this).
"""

from __future__ import annotations

import difflib
import re

import pandas as pd

from fipo_utils.data.answers import numbers_in
from fipo_utils.data.benchmarks import BenchmarkItem
from fipo_utils.data.template import count_words
from fipo_utils.inference.optimize import cheating_note

AUDIT_FLAGS = ("gold_leaked", "options_lost", "numbers_lost", "entities_lost", "over_word_limit")
_OPTION_LINE = re.compile(r"^\s*\(([A-Z])\)\s*(.+?)\s*$", re.MULTILINE)
_SENTENCE = re.compile(r"[^.!?:\n]+")
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*")


def listed_options(instruction: str) -> dict[str, str]:
    """Answer options written inside an instruction as ``(A) text`` lines (BBH's format)."""
    return {letter: text for letter, text in _OPTION_LINE.findall(instruction)}


def named_entities(text: str) -> set[str]:
    """Capitalised words and runs of them that do not start a sentence: a proxy for names."""
    found = set()
    for sentence in _SENTENCE.findall(text):
        words = sentence.split(maxsplit=1)
        if len(words) == 2:  # the first word is capitalised by grammar, not by name
            found |= {m.group(0) for m in _CAPITALISED.finditer(words[1])}
    return found


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def audit_prompt(item: BenchmarkItem, optimized: str, word_limit: int | None) -> dict:
    """One audit record for one rewrite of ``item.instruction``.

    ``options_lost``: options listed in the naive instruction whose text the rewrite does not
    contain (multiple-choice benchmarks keep their options outside the instruction, so they
    cannot be lost). ``numbers_lost`` / ``entities_lost``: those of the naive instruction the
    rewrite lacks. ``over_word_limit``: more space-separated words than ``G_N`` (never, for
    an optimizer that had no word limit: ``word_limit=None``).
    """
    naive = item.instruction
    rewritten = _normalise(optimized)
    options = listed_options(naive)
    lost_options = sorted(k for k, v in options.items() if _normalise(v) not in rewritten)
    kept_numbers = set(numbers_in(optimized))
    lost_numbers = sorted({str(n) for n in numbers_in(naive) if n not in kept_numbers})
    lost_entities = sorted(e for e in named_entities(naive) if e.lower() not in rewritten)
    words = count_words(optimized)
    return {
        "gold_leaked": cheating_note(item, optimized),
        "options_lost": lost_options,
        "numbers_lost": lost_numbers,
        "entities_lost": lost_entities,
        "over_word_limit": word_limit is not None and words > word_limit,
        "n_words": words,
    }


def audit_table(records: pd.DataFrame) -> pd.DataFrame:
    """Per benchmark: items, and how many rewrites each audit check flagged (count and %).

    ``records`` are rows of ``optimized/<optimizer>/*.jsonl`` with an ``audit`` column (a
    record of :func:`audit_prompt`); list-valued checks count an item when the list is not
    empty. A last row ``all`` pools the benchmarks.
    """
    flags = pd.DataFrame(
        [{k: bool(a[k]) for k in AUDIT_FLAGS} for a in records["audit"]], index=records.index
    )
    flags["benchmark"] = records["benchmark"].str.split("/").str[0]
    counts = flags.groupby("benchmark")[list(AUDIT_FLAGS)].sum()
    counts.loc["all"] = flags[list(AUDIT_FLAGS)].sum()
    sizes = flags.groupby("benchmark").size()
    sizes.loc["all"] = len(flags)
    table = pd.DataFrame({"n_items": sizes})
    for flag in AUDIT_FLAGS:
        table[flag] = [
            f"{int(c)} ({100 * c / n:.0f}%)" for c, n in zip(counts[flag], sizes, strict=True)
        ]
    return table


def flagged_rewrites(records: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """Up to ``n`` rewrites with at least one flag, naive beside optimized, flags spelled out."""
    found = [
        ", ".join(f"{k}: {a[k]}" if isinstance(a[k], list) else k for k in AUDIT_FLAGS if a[k])
        for a in records["audit"]
    ]
    shown = records.assign(flags=found)
    shown = shown[shown["flags"] != ""]
    return shown[["benchmark", "id", "naive_instruction", "optimized_instruction", "flags"]].head(n)


def word_diff(naive: str, optimized: str) -> str:
    """Word-level diff of two instructions: ``[-removed-]`` and ``{+added+}``, rest as is."""

    old, new = naive.split(), optimized.split()
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new).get_opcodes():
        if op == "equal":
            parts.append(" ".join(old[i1:i2]))
            continue
        if i2 > i1:
            parts.append("[-" + " ".join(old[i1:i2]) + "-]")
        if j2 > j1:
            parts.append("{+" + " ".join(new[j1:j2]) + "+}")
    return " ".join(parts)
