"""Model loading: a second ``make_generator`` for the same model from the in-process pool
against loading it afresh (what every call did before ``fipo_utils.models.pool``).

Notebook 08 asks for its base model as rewriter and again as tester, and a re-run notebook
cell asks again; this measures what such a repeat request costs. Both sides are measured in
this process after one untimed warm-up load (GGUF conversion, OS file cache), each repeat
pairing a fresh load (pool off) with a pooled one. Seconds, so the ratio is fresh / pooled.

    python benchmarks/bench_models.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import ratio_row  # noqa: E402
from fipo_utils.models import pool as model_pool  # noqa: E402
from fipo_utils.models.generators import make_generator  # noqa: E402

MODEL = "smollm2-135m-instruct"


def _seconds_to_make() -> float:
    start = time.perf_counter()
    generator = make_generator(MODEL, show_progress=False)
    seconds = time.perf_counter() - start
    del generator
    return seconds


def bench_second_generator(quick: bool) -> dict:
    repeats = 3 if quick else 5
    fresh: list[float] = []
    pooled: list[float] = []
    try:
        model_pool.set_capacity(1)
        model_pool.clear()
        _seconds_to_make()  # warm-up: conversion on a cold cache, weights into the page cache
        for _ in range(repeats):
            model_pool.set_capacity(0)  # every request loads: the behaviour before the pool
            fresh.append(_seconds_to_make())
            model_pool.set_capacity(1)
            _seconds_to_make()  # the first request of a process loads and fills the pool
            pooled.append(_seconds_to_make())
    finally:
        model_pool.set_capacity(None)
        model_pool.clear()
    return ratio_row(
        f"second make_generator for the same model in one process ({MODEL})",
        "fresh load (pool off)",
        "from the pool",
        "seconds",
        fresh,
        pooled,
        f"median {statistics.median(fresh):.2f} s fresh vs "
        f"{statistics.median(pooled) * 1000:.1f} ms from the pool; {repeats} repeats",
        higher_is_better=False,
    )


def run(quick: bool) -> list[dict]:
    return [bench_second_generator(quick)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    print(json.dumps(run(options.quick), indent=2))
