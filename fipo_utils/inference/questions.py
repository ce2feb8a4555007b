"""Rewrites keep the item: an optimizer rewrites an item's question, never its answer options.

FIPO rewrites the task instruction; everything else of the item stays as it was (the
original test script passes the few-shot context and the item's ending through untouched).
Multiple-choice benchmarks keep their options outside the instruction, so they never reach
the optimizer. BBH writes its options into the input (``Options:`` and one line per option):
rewritten whole, the options were lost or changed. Here the input is split into the
question and its options block (:func:`fipo_utils.data.benchmarks.split_options`), only the
question is rewritten, and the block is put back byte for byte (``infer.keep_options``;
``false`` rewrites the whole input).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from fipo_utils.data.benchmarks import BenchmarkItem, split_options
from fipo_utils.inference.registry import Rewrite


def item_parts(item: BenchmarkItem, keep_options: bool = True) -> tuple[str, str]:
    """(what the optimizer rewrites, what is re-attached after it) for one item."""
    return split_options(item) if keep_options else (item.instruction, "")


def rewrite_questions(
    items: Sequence[BenchmarkItem],
    rewrite: Callable[[list[str]], list[Rewrite]],
    keep_options: bool = True,
) -> list[Rewrite]:
    """``rewrite`` the questions of ``items`` and re-attach each item's options block."""
    parts = [item_parts(item, keep_options) for item in items]
    found = rewrite([question for question, _ in parts])
    return [
        replace(result, prompt=result.prompt + block)
        for result, (_, block) in zip(found, parts, strict=True)
    ]
