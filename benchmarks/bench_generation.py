"""Generation speed: batched vs one prompt at a time, cache reruns, vLLM vs transformers.

``run(quick)`` returns one dict per measured ratio (candidate speed / baseline speed, both
measured in this process). Greedy outputs of every batch size are compared with the
one-at-a-time outputs and the result is reported in ``notes``. Peak memory is the highest
resident set size sampled while a configuration runs.

    python benchmarks/bench_generation.py [--quick]   # transformers, cache; vLLM (full mode)
    FIPO_BENCH_VLLM=1 python benchmarks/bench_generation.py --quick   # vLLM in quick mode too

vLLM rows come from this interpreter when it has vLLM, otherwise from ``.venv-vllm``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
VLLM_PYTHON = PROJECT / ".venv-vllm" / "bin" / "python"
sys.path.insert(0, str(PROJECT))
# vLLM logs to stdout by default, which would corrupt the JSON this script prints there.
os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")

from benchmarks.harness import ratio_row  # noqa: E402
from fipo_utils.data.template import wrap_prompt  # noqa: E402
from fipo_utils.models.cache import GenerationCache  # noqa: E402
from fipo_utils.models.generate import GenerationParams, TransformersGenerator  # noqa: E402
from fipo_utils.models.generators import CachedGenerator  # noqa: E402
from fipo_utils.models.loading import load_model, resolve_model_path  # noqa: E402

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
    """Memory a block adds: the highest resident set size sampled every 5 ms while it runs,
    minus the size when it started (MiB). The process-wide peak would mostly show what
    earlier benchmarks left allocated, not what this batch size needs."""

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = _rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mib())
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def added(self) -> float:
        return self.peak - self.start


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20


CONTEXT = (
    "A farmer keeps records of the crops on each field, the rainfall of every week and the "
    "prices paid at the market, and wants a short summary for the cooperative. "
)


def prompts_for(tokenizer: Any, n: int, mixed: bool = False) -> list[str]:
    """Chat-wrapped prompts; ``mixed`` gives every third one a long context paragraph so
    prompt lengths vary the way real benchmark items (few-shot vs zero-shot) do."""
    texts = [f"{QUESTIONS[i % len(QUESTIONS)]} (variant {i})" for i in range(n)]
    if mixed:
        texts = [CONTEXT * (1 + i % 4) + t if i % 3 == 0 else t for i, t in enumerate(texts)]
    return [wrap_prompt(t, "chat_template", tokenizer) for t in texts]


def timed(generator: Any, prompts: list[str], params: GenerationParams, tokenizer: Any):
    with PeakMemory() as memory:
        start = time.perf_counter()
        outputs = generator.generate(prompts, params)
        seconds = time.perf_counter() - start
    tokens = sum(len(tokenizer(o, add_special_tokens=False).input_ids) for o in outputs)
    return outputs, tokens / seconds, seconds, memory.added


def bench_batching(loaded: Any, quick: bool) -> list[dict]:
    """Batch sizes against one prompt at a time. Tokens/s is a rate, so batch 1 runs on the
    first ``n_single`` prompts only (it is the slow one) and each size on at least one full
    batch; batch 1's outputs are compared with the batched outputs of the same prompts."""
    n_single, n_min = (4, 4) if quick else (8, 16)
    sizes = [8, 32] if quick else [2, 4, 8, 16, 32, 64]
    repeats = 2
    new_tokens = 16 if quick else 32
    params = GenerationParams(max_new_tokens=new_tokens)
    prompts = prompts_for(loaded.tokenizer, max(sizes))
    single = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=1)
    single.generate(prompts[:2], params)  # warm-up
    base_runs = [
        timed(single, prompts[:n_single], params, loaded.tokenizer) for _ in range(repeats)
    ]
    reference = base_runs[0][0]
    rows: list[dict] = []
    speed = [statistics.median(r[1] for r in base_runs)]
    memory = [max(r[3] for r in base_runs)]
    for size in sizes:
        batched = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=size)
        # at least one full batch per size (tokens/s is a rate, so counts may differ)
        subset = prompts[: max(size, n_min)]
        runs = [timed(batched, subset, params, loaded.tokenizer) for _ in range(repeats)]
        same = sum(a == b for a, b in zip(runs[0][0][:n_single], reference, strict=True))
        speed.append(statistics.median([r[1] for r in runs]))
        memory.append(max(r[3] for r in runs))
        rows.append(
            ratio_row(
                f"transformers batch {size} vs 1 ({MODEL}, {len(subset)} prompts, "
                f"{new_tokens} new tokens)",
                "batch_size=1",
                f"batch_size={size}",
                "generated tokens/s",
                [r[1] for r in base_runs],
                [r[1] for r in runs],
                f"greedy outputs identical to one-at-a-time: {same}/{n_single}; "
                f"{speed[-1]:.0f} vs {speed[0]:.0f} tokens/s; memory added while generating "
                f"{memory[-1]:.0f} vs {memory[0]:.0f} MiB",
            )
        )
    rows[-1]["series"] = [
        {
            "x": [1, *sizes],
            "y": {"transformers": speed},
            "xlabel": "batch size",
            "ylabel": "generated tokens/s",
            "log_x": True,
        },
        {
            "x": [1, *sizes],
            "y": {"transformers": memory},
            "xlabel": "batch size",
            "ylabel": "memory added while generating (MiB)",
            "log_x": True,
        },
    ]
    return rows


def bench_generation_length(loaded: Any) -> dict:
    """Batch 32 against batch 1 as the number of new tokens grows (full mode only).

    On a CPU the batched run is compute-bound and pays for every prompt token in its
    prefill, while one prompt at a time is bound by reading the weights once per new token;
    longer generations amortize the prefill, so the ratio climbs with the length.
    """
    lengths, n_single, n_batched = [16, 32, 64, 128], 8, 32
    prompts = prompts_for(loaded.tokenizer, n_batched)
    single = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=1)
    batched = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=32)
    base, cand = [], []
    for length in lengths:
        params = GenerationParams(max_new_tokens=length)
        base.append(timed(single, prompts[:n_single], params, loaded.tokenizer)[1])
        cand.append(timed(batched, prompts, params, loaded.tokenizer)[1])
    row = ratio_row(
        f"transformers batch 32 vs 1 by generation length ({MODEL})",
        "batch_size=1",
        "batch_size=32",
        "generated tokens/s",
        base,
        cand,
        "one pair per length "
        + ", ".join(f"{n}: {c / b:.1f}x" for n, b, c in zip(lengths, base, cand, strict=True)),
    )
    row["series"] = {
        "x": lengths,
        "y": {"batch 32 / batch 1": [c / b for b, c in zip(base, cand, strict=True)]},
        "xlabel": "max new tokens",
        "ylabel": "speed-up (tokens/s ratio)",
        "log_x": True,
    }
    return row


def bench_bucketing(loaded: Any, quick: bool) -> dict:
    """Length-bucketed batches against batches formed in arrival order, on prompts whose
    lengths vary: unbucketed batches pad every short prompt to its longest neighbour."""
    n_prompts, repeats = (16, 2) if quick else (24, 2)
    params = GenerationParams(max_new_tokens=8 if quick else 32)
    prompts = prompts_for(loaded.tokenizer, n_prompts, mixed=True)
    generator = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=8)

    class ArrivalOrder:
        """The same generator fed one arrival-order chunk at a time, so nothing is sorted
        across chunks (inside a chunk of ``batch_size`` there is a single batch)."""

        def generate(self, texts: list[str], params: GenerationParams) -> list[str]:
            out: list[str] = []
            for start in range(0, len(texts), generator.batch_size):
                out.extend(generator.generate(texts[start : start + generator.batch_size], params))
            return out

    arrival = [timed(ArrivalOrder(), prompts, params, loaded.tokenizer) for _ in range(repeats)]
    bucketed = [timed(generator, prompts, params, loaded.tokenizer) for _ in range(repeats)]
    same = sum(a == b for a, b in zip(arrival[0][0], bucketed[0][0], strict=True))
    lengths = [len(loaded.tokenizer(p).input_ids) for p in prompts]
    return ratio_row(
        f"length-bucketed vs arrival-order batches (batch 8, {n_prompts} mixed-length prompts)",
        "batches in arrival order",
        "batches of similar length",
        "prompts/s",
        [n_prompts / r[2] for r in arrival],
        [n_prompts / r[2] for r in bucketed],
        f"prompt lengths {min(lengths)}-{max(lengths)} tokens; same greedy outputs "
        f"{same}/{n_prompts} (left padding can flip a near-tie)",
    )


def _cache_once(inner: Any, prompts: list[str], params: GenerationParams) -> tuple[float, float]:
    """Seconds of a first cached run and of a rerun through a fresh cache object (what a
    new kernel sees: everything read back from the JSONL file)."""
    with tempfile.TemporaryDirectory() as folder:
        cache = GenerationCache("bench", "transformers", root=Path(folder))
        gen = CachedGenerator(inner, "bench", cache=cache, show_progress=False)
        start = time.perf_counter()
        outputs = gen.generate(prompts, params)
        first = time.perf_counter() - start
        fresh = CachedGenerator(
            inner,
            "bench",
            cache=GenerationCache("bench", "transformers", root=Path(folder)),
            show_progress=False,
        )
        start = time.perf_counter()
        if fresh.generate(prompts, params) != outputs:
            raise AssertionError("cached rerun returned different outputs")
        return first, time.perf_counter() - start


def bench_cache(loaded: Any, quick: bool) -> dict:
    params = GenerationParams(max_new_tokens=16)
    inner = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=8)
    sizes = [8] if quick else [4, 16, 48]
    repeats = 2
    timings = {
        n: [_cache_once(inner, prompts_for(loaded.tokenizer, n), params) for _ in range(repeats)]
        for n in sizes
    }
    largest = timings[sizes[-1]]
    row = ratio_row(
        f"generation cache: rerun vs first run ({sizes[-1]} prompts)",
        "first run (generates)",
        "rerun (served from cache)",
        "s",
        [first for first, _ in largest],
        [rerun for _, rerun in largest],
        "same outputs on rerun (checked); the rerun reads the JSONL cache file from disk; "
        f"rerun costs {100 * statistics.median(r / f for f, r in largest):.3f}% of the first",
        higher_is_better=False,
    )
    if len(sizes) > 1:
        row["series"] = {
            "x": sizes,
            "y": {
                "first run": [statistics.median(f for f, _ in timings[n]) for n in sizes],
                "cached rerun": [statistics.median(r for _, r in timings[n]) for n in sizes],
            },
            "xlabel": "prompts (items)",
            "ylabel": "seconds",
            "log_x": True,
        }
    return row


def bench_vllm(quick: bool) -> list[dict]:
    """vLLM against the batched transformers backend on the same prompts, and the start-up
    of each (engine build vs ``from_pretrained``) as its own row."""
    from fipo_utils.models.generate_vllm import VLLMGenerator

    n_prompts, repeats = (32, 2) if quick else (64, 2)
    params = GenerationParams(max_new_tokens=32)
    start = time.perf_counter()
    loaded = load_model(MODEL)
    hf_startup = time.perf_counter() - start
    prompts = prompts_for(loaded.tokenizer, n_prompts)
    hf = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=32)
    start = time.perf_counter()
    engine = VLLMGenerator(
        resolve_model_path(MODEL),
        dtype="float32",
        max_model_len=2048,
        # eager on CPU: compiling the graphs costs minutes (462 s seen) for a 135M model
        enforce_eager=True,
        gpu_memory_utilization=0.3,  # on CPU: the share of RAM reserved (default 0.92)
    )
    vllm_startup = time.perf_counter() - start
    try:
        engine.generate(prompts[:2], params)  # warm-up
        hf_runs = [timed(hf, prompts, params, loaded.tokenizer) for _ in range(repeats)]
        vllm_runs = [timed(engine, prompts, params, loaded.tokenizer) for _ in range(repeats)]
    finally:
        engine.close()
    same = sum(a == b for a, b in zip(hf_runs[0][0], vllm_runs[0][0], strict=True))
    return [
        ratio_row(
            f"vLLM vs transformers batch 32 ({MODEL}, {n_prompts} prompts, 32 new tokens)",
            "transformers batch_size=32",
            "vllm (continuous batching)",
            "generated tokens/s",
            [r[1] for r in hf_runs],
            [r[1] for r in vllm_runs],
            f"greedy outputs identical: {same}/{n_prompts}; enforce_eager; memory not "
            "compared: vLLM's engine runs in its own process and reserves its KV cache "
            "(30% of RAM here) up front",
        ),
        ratio_row(
            f"vLLM engine start-up vs transformers load ({MODEL})",
            "transformers from_pretrained",
            "vLLM engine build",
            "s",
            [hf_startup],
            [vllm_startup],
            f"{vllm_startup:.1f} s vs {hf_startup:.1f} s; paid once per notebook, so vLLM "
            "pays off only on long generation jobs",
            higher_is_better=False,
        ),
    ]


def vllm_wanted(quick: bool) -> bool:
    """``FIPO_BENCH_VLLM=1/0`` forces vLLM on or off; by default only the full mode runs it
    (its engine start-up alone is 1-8 minutes on 2 cores)."""
    choice = os.environ.get("FIPO_BENCH_VLLM", "")
    return choice == "1" if choice in ("0", "1") else not quick


def vllm_rows(quick: bool) -> list[dict]:
    """vLLM rows from this interpreter when it has vLLM, else from the project's
    ``.venv-vllm`` (``make vllm-env``), which pins its own transformers."""
    if importlib.util.find_spec("vllm") is not None:
        return bench_vllm(quick)
    if not VLLM_PYTHON.exists():
        return [
            {
                "name": "vLLM vs transformers",
                "baseline": "transformers",
                "candidate": "vllm",
                "unit": "generated tokens/s",
                "ratio_min": None,
                "ratio_median": None,
                "ratio_max": None,
                "notes": f"skipped: no vLLM here and no {VLLM_PYTHON} (run `make vllm-env`)",
            }
        ]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "vllm.json"
        command = [str(VLLM_PYTHON), __file__, "--vllm-only", "--json-out", str(out)]
        env = {**os.environ, "PYTHONPATH": str(PROJECT)}
        done = subprocess.run(
            command + (["--quick"] if quick else []), env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"vLLM benchmark failed in {VLLM_PYTHON}:\n{done.stderr[-3000:]}")
        return json.loads(out.read_text())


def bench_continuous(loaded: Any, quick: bool) -> list[dict]:
    """Batch 32: static padded batches vs transformers' continuous batching
    (``batching: continuous``) vs one prompt at a time, on prompts of mixed length whose
    answers end at different steps. Outputs are compared on the prompts all three run."""
    from fipo_utils.models.generate_continuous import ContinuousGenerator

    n_single, size = (4, 32) if quick else (8, 32)
    params = GenerationParams(max_new_tokens=16 if quick else 32)
    # More requests than slots: a finished row's slot can only be refilled from a queue, so
    # with as many prompts as slots continuous batching has nothing to gain by construction.
    prompts = prompts_for(loaded.tokenizer, (2 if quick else 3) * size, mixed=True)
    single = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=1)
    static = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=size)
    continuous = ContinuousGenerator(loaded.model, loaded.tokenizer, batch_size=size)
    single.generate(prompts[:1], params)  # warm-up
    one, one_speed, _, _ = timed(single, prompts[:n_single], params, loaded.tokenizer)
    fixed, static_speed, _, _ = timed(static, prompts, params, loaded.tokenizer)
    flowing, cont_speed, _, _ = timed(continuous, prompts, params, loaded.tokenizer)
    same_single = sum(a == b for a, b in zip(flowing[:n_single], one, strict=True))
    same_static = sum(a == b for a, b in zip(flowing, fixed, strict=True))
    label = f"({MODEL}, {len(prompts)} mixed-length prompts, {params.max_new_tokens} new tokens)"
    equal = f"greedy outputs equal: continuous vs one-at-a-time {same_single}/{n_single}, "
    equal += f"continuous vs static {same_static}/{len(prompts)}"
    return [
        ratio_row(
            f"batch {size}: static batching vs one at a time {label}",
            "one prompt at a time",
            f"static batch {size}",
            "tokens/s",
            [one_speed],
            [static_speed],
        ),
        ratio_row(
            f"batch {size}: continuous batching vs one at a time {label}",
            "one prompt at a time",
            f"continuous batching, {size} requests",
            "tokens/s",
            [one_speed],
            [cont_speed],
            notes=equal,
        ),
        ratio_row(
            f"batch {size}: continuous vs static batching {label}",
            f"static batch {size}",
            f"continuous batching, {size} requests",
            "tokens/s",
            [static_speed],
            [cont_speed],
        ),
    ]


def run(quick: bool, vllm_only: bool = False) -> list[dict]:
    if vllm_only:
        return bench_vllm(quick)
    loaded = load_model(MODEL)
    records = bench_batching(loaded, quick)
    if not quick:
        records.append(bench_generation_length(loaded))
    records.append(bench_bucketing(loaded, quick))
    records.extend(bench_continuous(loaded, quick))
    records.append(bench_cache(loaded, quick))
    if vllm_wanted(quick):
        del loaded
        try:
            records.extend(vllm_rows(quick))
        except Exception as error:  # noqa: BLE001 - keep the transformers rows measured above
            records.append({"name": "vLLM vs transformers", "error": f"{error}"[-500:]})
    return records


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--vllm-only", action="store_true", help="only vLLM vs transformers")
    parser.add_argument("--json-out", help="write the rows here instead of stdout")
    options = parser.parse_args()
    rows = run(options.quick, options.vllm_only)
    if options.json_out:
        Path(options.json_out).write_text(json.dumps(rows, indent=2))
    else:
        print(json.dumps(rows, indent=2))
