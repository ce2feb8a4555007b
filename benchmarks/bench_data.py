"""Data-layer speed: diversification rendering, and tokenizing SFT rows with ``datasets``.

Three ratios (candidate speed / baseline speed, measured in this process):

1. Diversifying 30,000 POP-shaped records: ``fixed`` mode (single-pass slot substitution)
   against ``faithful`` mode (the original's chained ``str.replace``): what the fix costs.
2. Tokenizing the SFT rows with the SmolLM2 tokenizer: ``datasets`` batched ``map`` against a
   per-record Python loop.
3. A second identical ``map`` served from the ``datasets`` cache against the first ``map``.

Run alone with ``python benchmarks/bench_data.py [--quick]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import ratio_row  # noqa: E402
from fipo_utils.data.diversify import diversify_pop, write_diversified  # noqa: E402
from fipo_utils.data.pop import PopRecord  # noqa: E402
from fipo_utils.data.template import load_template  # noqa: E402

WORDS = [
    *("the", "a", "an", "of", "to", "and", "in", "is", "it", "for", "on", "with", "as", "at"),
    *("by", "this", "that", "what", "how", "why", "which", "number", "explain", "list"),
    *("compute", "answer", "question", "step", "total", "price", "train", "apples", "river"),
]


def synthetic_records(n: int, seed: int = 0) -> list[PopRecord]:
    """POP-shaped records with realistic lengths (prompts ~15 words, responses ~60)."""
    rng = random.Random(seed)

    def text(low: int, high: int) -> str:
        return " ".join(rng.choices(WORDS, k=rng.randint(low, high)))

    return [
        PopRecord(
            f"syn-{i}",
            text(5, 30) + "?",
            text(5, 80),
            text(20, 120),
            text(8, 30),
            text(15, 60),
        )
        for i in range(n)
    ]


def timed(function: Callable[[], Any]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def bench_diversify(records: list[PopRecord], repeats: int, sizes: list[int]) -> dict:
    """Both modes on all records (the ratio), and on growing prefixes (the scaling curve:
    diversification is one pass per record, so seconds should grow linearly)."""
    template = load_template()

    def seconds(mode: str, n: int) -> float:
        return timed(lambda: diversify_pop(records[:n], mode=mode, template=template))

    faithful, fixed = [], []
    for _ in range(repeats):
        faithful.append(len(records) / seconds("faithful", len(records)))
        fixed.append(len(records) / seconds("fixed", len(records)))
    row = ratio_row(
        f"diversify {len(records)} POP records",
        "faithful (chained str.replace)",
        "fixed (single-pass regex substitution)",
        "records/s",
        faithful,
        fixed,
        "Same random draws; output rows only differ where text contains slot names.",
    )
    row["series"] = {
        "x": sizes,
        "y": {mode: [seconds(mode, n) for n in sizes] for mode in ("faithful", "fixed")},
        "xlabel": "POP records",
        "ylabel": "seconds",
        "log_x": True,
    }
    return row


def bench_tokenize(sft_path: Path, repeats: int) -> list[dict]:
    from datasets import load_dataset

    from fipo_utils.models.loading import load_tokenizer

    tokenizer = load_tokenizer("smollm2-135m-instruct")

    def rows_text(conversations: list[dict]) -> str:
        return conversations[0]["value"] + conversations[1]["value"]

    def tokenize_batch(batch: dict) -> dict:
        return tokenizer([rows_text(c) for c in batch["conversations"]], truncation=False)

    rows = json.loads(sft_path.read_text(encoding="utf-8"))
    loop, mapped, first_map, cached_map = [], [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            dataset = load_dataset("json", data_files=str(sft_path), cache_dir=cache)["train"]
            loop.append(
                len(rows) / timed(lambda: [tokenizer(rows_text(r["conversations"])) for r in rows])
            )

            def tokenize_all(dataset=dataset):
                return dataset.map(tokenize_batch, batched=True, batch_size=1000)

            seconds = timed(tokenize_all)
            mapped.append(len(rows) / seconds)
            first_map.append(len(rows) / seconds)
            again = timed(tokenize_all)
            cached_map.append(len(rows) / again)
    return [
        ratio_row(
            f"tokenize {len(rows)} SFT rows (SmolLM2 tokenizer)",
            "per-record Python loop",
            "datasets batched map (batch 1000)",
            "rows/s",
            loop,
            mapped,
            "The map includes writing its Arrow cache file; the loop keeps results in memory.",
        ),
        ratio_row(
            f"repeat map over {len(rows)} SFT rows",
            "first datasets map (computes, writes cache)",
            "second identical map (served from the datasets cache)",
            "rows/s",
            first_map,
            cached_map,
            "Fingerprint-based cache hit: nothing is re-tokenized.",
        ),
    ]


def run(quick: bool) -> list[dict]:
    n_records, n_tokenized, repeats = (3_000, 600, 3) if quick else (30_000, 30_000, 3)
    sizes = [300, 1_000, 3_000] if quick else [1_000, 3_000, 10_000, 30_000]
    records = synthetic_records(n_records)
    results = [bench_diversify(records, repeats, sizes)]
    with tempfile.TemporaryDirectory() as folder:
        data = diversify_pop(records[:n_tokenized])
        out = write_diversified(data, Path(folder) / "data")
        results.extend(bench_tokenize(out / "sft.json", repeats))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    print(json.dumps(run(parser.parse_args().quick), indent=2))
