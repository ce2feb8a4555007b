"""Which items a search may look at: demonstrations and a dev split, disjoint from test.

BBH ships one pool per task (no training split), so the search side is carved out of it:
a seeded shuffle gives ``n_demos`` demonstrations (what APE induces instructions from and
OPRO shows as exemplars) and ``dev_size`` dev items (what candidates are scored on); the
methods are compared on items drawn from the rest. Every method, searched or not, answers
the same test items, so the comparison is paired.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from fipo_utils.data.benchmarks import BenchmarkItem, select


@dataclass(frozen=True)
class SearchSplit:
    demos: list[BenchmarkItem]
    dev: list[BenchmarkItem]
    test: list[BenchmarkItem]

    def search_ids(self) -> set[str]:
        return {item.id for item in self.demos + self.dev}


def split_for_search(
    items: list[BenchmarkItem],
    *,
    n_demos: int,
    dev_size: int,
    n_test: int | None,
    seed: int,
) -> SearchSplit:
    """Demonstrations, dev and test items; test is ``n_test`` of the remaining items (all when
    None), in dataset order. Raises when the pool is too small for a non-empty test side."""
    if n_demos + dev_size >= len(items):
        raise ValueError(
            f"{items[0].benchmark if items else 'benchmark'}: {len(items)} items cannot give "
            f"{n_demos} demonstrations + {dev_size} dev items and still leave test items"
        )
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    search = set(order[: n_demos + dev_size])
    rest = [item for i, item in enumerate(items) if i not in search]
    return SearchSplit(
        demos=[items[i] for i in order[:n_demos]],
        dev=[items[i] for i in order[n_demos : n_demos + dev_size]],
        test=select(rest, n_test, seed),
    )


def short_answer(item: BenchmarkItem) -> str:
    """The gold answer as a demonstration shows it (GSM8K: the number after ``####``)."""
    return item.gold.rpartition("####")[2].strip() if "####" in item.gold else item.gold.strip()


def with_instruction(item: BenchmarkItem, instruction: str) -> str:
    """The question a tester sees under a task-level instruction (APE's and OPRO's place for
    it: before the question, the few-shot context and answer cue unchanged)."""
    return f"{instruction}\n\n{item.instruction}" if instruction.strip() else item.instruction
