"""Generation speed: batched vs one prompt at a time, cache reruns, vLLM vs transformers.

``run(quick)`` returns one dict per measured ratio (candidate speed / baseline speed, both
measured in this process). Greedy outputs of every batch size are compared with the
one-at-a-time outputs and the result is reported in ``notes``. Peak memory is the highest
resident set size sampled while a configuration runs.

    python benchmarks/bench_generation.py [--quick]          # transformers + cache
    .venv-vllm/bin/python benchmarks/bench_generation.py --quick   # adds vLLM when importable
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# vLLM logs to stdout by default, which would corrupt the JSON this script prints there.
os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")

from benchmarks.harness import ratio_row  # noqa: E402
from fipo_utils.generate import GenerationParams, TransformersGenerator  # noqa: E402
from fipo_utils.generation_cache import GenerationCache  # noqa: E402
from fipo_utils.generators import CachedGenerator  # noqa: E402
from fipo_utils.models import load_model, resolve_model_path  # noqa: E402
from fipo_utils.template import wrap_prompt  # noqa: E402

MODEL = "smollm2-135m-instruct"
QUESTIONS = [
    "What is the capital of France?",
    "Name three primary colors.",
    "Explain photosynthesis in one sentence.",
    "How many legs does a spider have?",
    "Write a haiku about rain.",
    "What is 12 times 12?",
    "Give a synonym for happy.",
    "Why is the sky blue?",
]


class PeakMemory:
    """Highest resident set size (MiB) sampled every 5 ms while the block runs."""

    def __enter__(self) -> PeakMemory:
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            with open("/proc/self/statm") as handle:
                pages = int(handle.read().split()[1])
            self.peak = max(self.peak, pages * 4096 / 2**20)
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def prompts_for(tokenizer: Any, n: int) -> list[str]:
    texts = [f"{QUESTIONS[i % len(QUESTIONS)]} (variant {i})" for i in range(n)]
    return [wrap_prompt(t, "chat_template", tokenizer) for t in texts]


def timed(generator: Any, prompts: list[str], params: GenerationParams, tokenizer: Any):
    with PeakMemory() as memory:
        start = time.perf_counter()
        outputs = generator.generate(prompts, params)
        seconds = time.perf_counter() - start
    tokens = sum(len(tokenizer(o, add_special_tokens=False).input_ids) for o in outputs)
    return outputs, tokens / seconds, seconds, memory.peak


def bench_batching(loaded: Any, quick: bool) -> list[dict]:
    n_prompts = 16 if quick else 64
    sizes = [4, 16] if quick else [2, 4, 8, 16, 32, 64]
    repeats = 2 if quick else 3
    params = GenerationParams(max_new_tokens=16 if quick else 32)
    prompts = prompts_for(loaded.tokenizer, n_prompts)
    single = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=1)
    single.generate(prompts[:2], params)  # warm-up
    records = []
    base_runs = [timed(single, prompts, params, loaded.tokenizer) for _ in range(repeats)]
    reference = base_runs[0][0]
    for size in sizes:
        batched = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=size)
        runs = [timed(batched, prompts, params, loaded.tokenizer) for _ in range(repeats)]
        same = sum(a == b for a, b in zip(runs[0][0], reference, strict=True))
        records.append(
            ratio_row(
                f"transformers batch {size} vs 1 ({MODEL}, {n_prompts} prompts)",
                "batch_size=1",
                f"batch_size={size}",
                "generated tokens/s",
                [r[1] for r in base_runs],
                [r[1] for r in runs],
                f"greedy outputs identical to one-at-a-time: {same}/{n_prompts}; peak RSS "
                f"MiB batch 1: {max(r[3] for r in base_runs):.0f}, batch {size}: "
                f"{max(r[3] for r in runs):.0f}",
            )
        )
    return records


def bench_cache(loaded: Any, quick: bool) -> dict:
    prompts = prompts_for(loaded.tokenizer, 8 if quick else 32)
    params = GenerationParams(max_new_tokens=16)
    inner = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=8)
    first, rerun = [], []
    for _ in range(2 if quick else 3):
        with tempfile.TemporaryDirectory() as folder:
            cache = GenerationCache("bench", "transformers", root=Path(folder))
            gen = CachedGenerator(inner, "bench", cache=cache, show_progress=False)
            start = time.perf_counter()
            outputs = gen.generate(prompts, params)
            first.append(len(prompts) / (time.perf_counter() - start))
            fresh = CachedGenerator(
                inner,
                "bench",
                cache=GenerationCache("bench", "transformers", root=Path(folder)),
                show_progress=False,
            )
            start = time.perf_counter()
            assert fresh.generate(prompts, params) == outputs
            rerun.append(len(prompts) / (time.perf_counter() - start))
    return ratio_row(
        "generation cache: rerun (new process state, read from disk) vs first run",
        "first run (generates)",
        "rerun (served from cache)",
        "prompts/s",
        first,
        rerun,
        "same outputs on rerun; includes reading the JSONL cache file",
    )


def bench_vllm(loaded: Any, quick: bool) -> dict:
    from fipo_utils.generate_vllm import VLLMGenerator

    n_prompts = 16 if quick else 64
    params = GenerationParams(max_new_tokens=16 if quick else 32)
    prompts = prompts_for(loaded.tokenizer, n_prompts)
    hf = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=16)
    start = time.perf_counter()
    # quick mode skips vLLM's warm-up compilation (minutes on a CPU), as the test does
    engine = VLLMGenerator(
        resolve_model_path(MODEL),
        dtype="float32",
        max_model_len=2048,
        enforce_eager=quick,
        gpu_memory_utilization=0.3,  # on CPU: the share of RAM reserved (default 0.92)
    )
    startup = time.perf_counter() - start
    engine.generate(prompts[:2], params)  # warm-up
    repeats = 2 if quick else 3
    hf_runs = [timed(hf, prompts, params, loaded.tokenizer) for _ in range(repeats)]
    vllm_runs = [timed(engine, prompts, params, loaded.tokenizer) for _ in range(repeats)]
    same = sum(a == b for a, b in zip(hf_runs[0][0], vllm_runs[0][0], strict=True))
    return ratio_row(
        f"vLLM vs transformers batch 16 ({MODEL}, {n_prompts} prompts)",
        "transformers batch_size=16",
        "vllm",
        "generated tokens/s",
        [r[1] for r in hf_runs],
        [r[1] for r in vllm_runs],
        f"vLLM engine start-up {startup:.1f} s (not in the ratio; enforce_eager={quick}); "
        f"greedy outputs identical: {same}/{n_prompts}",
    )


def run(quick: bool, vllm_only: bool = False) -> list[dict]:
    loaded = load_model(MODEL)
    records: list[dict] = []
    if not vllm_only:
        records.extend(bench_batching(loaded, quick))
        records.append(bench_cache(loaded, quick))
    if importlib.util.find_spec("vllm") is not None:
        records.append(bench_vllm(loaded, quick))
    return records


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--vllm-only", action="store_true", help="only vLLM vs transformers")
    options = parser.parse_args()
    print(json.dumps(run(options.quick, options.vllm_only), indent=2))
