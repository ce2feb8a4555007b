"""The items tester-feedback RL trains on: benchmark questions no notebook tests on.

A GRPO optimizer is rewarded by a tester's answers, so an item it trains on must never be
one it is later judged on. The split, in order of preference per benchmark:

- a training split of its own (GSM8K ``train.jsonl``, MMLU ``validation``;
  :func:`fipo_utils.data.benchmarks.load_train_split`);
- otherwise the benchmark's test pool minus every item a notebook tests: notebook 05's
  selection (``infer.n_items``, ``infer.sample_seed``, which 06 and 07 score) and, for the
  BBH tasks of Table 8, the whole task (notebook 09 draws its demonstrations, dev and test
  items from all of it).

From what is left, a seeded sample gives ``n_train`` items per benchmark and ``n_dev`` more
for the curves. The split is recorded in the run (``train/<name>/rl_items.json``) and
:func:`check_disjoint` refuses any overlap with the tested ids.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fipo_utils.data.benchmarks import (
    BenchmarkItem,
    BenchmarkMissing,
    expand_names,
    items_for,
    load_benchmark,
    load_benchmarks,
    load_train_split,
)
from fipo_utils.runs.io import write_json_atomic
from fipo_utils.runs.settings import BaselinesSettings, InferSettings


@dataclass(frozen=True)
class RlItems:
    """Training and dev items, where each benchmark's came from, and what was held back."""

    train: list[BenchmarkItem]
    dev: list[BenchmarkItem]
    sources: dict[str, str]
    held_back: dict[str, int]  # benchmark -> tested items left out of its pool

    def as_dict(self) -> dict[str, Any]:
        return {
            "train": [item.id for item in self.train],
            "dev": [item.id for item in self.dev],
            "sources": self.sources,
            "held_back": self.held_back,
        }

    def write(self, path: Path) -> None:
        write_json_atomic(path, self.as_dict())


def notebook_item_ids(profile: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(item ids notebook 05 selects, BBH tasks notebook 09 uses whole) for ``profile``."""
    infer = InferSettings.from_profile(profile)
    loaded, _ = load_benchmarks(infer.benchmarks, infer.n_items, seed=infer.sample_seed)
    ids = {item.id for bench in loaded.values() for item in bench.items}
    tasks: tuple[str, ...] = ()
    if (profile.get("baselines") or {}).get("search") is not None:
        tasks = BaselinesSettings.from_profile(profile).search.tasks
    return ids, {task if task.startswith("bbh/") else f"bbh/{task}" for task in tasks}


def rl_items(
    profile: Mapping[str, Any],
    benchmarks: Sequence[str],
    n_train: int | Mapping[str, int],
    n_dev: int,
    seed: int,
) -> RlItems:
    """Seeded training and dev items of ``benchmarks`` (names or families), disjoint from
    every tested item of ``profile``."""
    tested, whole_tasks = notebook_item_ids(profile)
    train: list[BenchmarkItem] = []
    dev: list[BenchmarkItem] = []
    sources: dict[str, str] = {}
    held_back: dict[str, int] = {}
    for name in expand_names(benchmarks):
        if name in whole_tasks:
            sources[name] = "left out: notebook 09 uses the whole task"
            continue
        try:
            bench = load_train_split(name)
            pool = bench.items
            sources[name] = bench.source
        except BenchmarkMissing:
            bench = load_benchmark(name)
            pool = [item for item in bench.items if item.id not in tested]
            sources[name] = f"{bench.source} (test pool minus notebook 05's items)"
        held_back[name] = len(bench.items) - len(pool)
        wanted = items_for(name, n_train) or 0
        order = random.Random(f"{seed}:{name}").sample(range(len(pool)), len(pool))
        train.extend(pool[i] for i in order[:wanted])
        dev.extend(pool[i] for i in order[wanted : wanted + n_dev])
    split = RlItems(train, dev, sources, held_back)
    check_disjoint(split, tested)
    return split


def check_disjoint(split: RlItems, tested: set[str]) -> None:
    """Raise if a training or dev item is tested, or is both a training and a dev item."""
    train_ids = {item.id for item in split.train}
    dev_ids = {item.id for item in split.dev}
    overlap = sorted((train_ids | dev_ids) & tested)
    if overlap:
        raise ValueError(f"RL items overlap the tested items: {overlap[:5]}")
    both = sorted(train_ids & dev_ids)
    if both:
        raise ValueError(f"RL items are both training and dev items: {both[:5]}")
