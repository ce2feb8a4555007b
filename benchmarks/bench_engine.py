"""The evaluation engine at the study's scale: notebook 05's rewriting and notebook 06's
scoring on the study profile's items and settings, today's path against the new one, side
by side in one run.

- **today**: rewrites and answers from transformers' static batches (``backend:
  transformers``); option letters scored by ``encoding.score_options`` (one plain forward
  per prompt); continuations with shared prefixes except on sliding-window testers (Gemma 3
  row by row).
- **new**: rewrites and answers through the ``vllm-server`` backend (vLLM from
  ``.venv-vllm``); letters and continuations on the shared-prefix path, Gemma 3 included
  (rows past its window alone).

Rows: items/s of 05, of 06 and of both (an item of 05 is one rewrite, an item of 06 one
(optimizer, condition, item) answer); identical greedy outputs; the largest score
difference; the CPU flags. Plus vLLM server vs transformers one prompt at a time on the
same mixed-length prompts. Server and model start-up are outside the timings (both paths
warm up on one prompt first) and the server's start-up is reported in the notes.

    python benchmarks/bench_engine.py [--quick] [--items N]

``--items N`` (or ``FIPO_BENCH_ENGINE_ITEMS=N`` through ``benchmarks/run.py``) caps every
benchmark's items and keeps every other study setting (templates, lengths, scorings,
testers): the study's full counts take hours a path on 2 cores. The rows say which.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_generation import prompts_for, vllm_wanted  # noqa: E402
from benchmarks.harness import ratio_row  # noqa: E402
from fipo_utils.models.generate import GenerationParams, TransformersGenerator  # noqa: E402
from fipo_utils.runs.machine import cpu_flags  # noqa: E402

PROFILE = "study"
# SmolLM2 rewrites (05) with its FIPO template; ``identity`` needs no model and is the
# control, so the 06 jobs hold two optimizers' prompts like the study's smallest chain.
OPTIMIZERS = ("base", "identity")
SERVER_OPTIONS = {"max_model_len": 4096, "gpu_memory_utilization": 0.3}
ITEMS_VARIABLE = "FIPO_BENCH_ENGINE_ITEMS"


class TodaysScoring(TransformersGenerator):
    """The transformers backend as it scored before letters shared prefixes: one plain
    forward per prompt for option letters, and sliding-window models row by row."""

    def option_logprobs(self, prompts: Any, options: Any) -> list[list[float]]:
        from fipo_utils.models.encoding import score_options

        return score_options(self.model, self.tokenizer, prompts, options, self.batch_size)

    def _scorer(self) -> Any:
        from fipo_utils.models.loglikelihood import ContinuationScorer, sliding_window

        if getattr(self, "_continuations", None) is None:
            share = sliding_window(self.model) is None
            self._continuations = ContinuationScorer(
                self.model, self.tokenizer, self.batch_size, share_prefix=share
            )
        return self._continuations


class PhaseClock:
    """A generator whose scoring entry points are timed: 06's phases are its generated
    answers (``generate``), continuations (``loglikelihood``) and option letters
    (``option_logprobs``). Everything else passes through. On the new path the first
    scoring call also stops the server and takes the weights from the model pool."""

    PHASES = ("generate", "loglikelihood", "option_logprobs")

    def __init__(self, generator: Any) -> None:
        self._generator = generator
        self.seconds = dict.fromkeys(self.PHASES, 0.0)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._generator, name)
        if name not in self.PHASES:
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        return timed


def phase_note(phases: dict[str, float]) -> str:
    """``answers 12 s, continuations 30 s, letters 4 s``."""
    names = {"generate": "answers", "loglikelihood": "continuations", "option_logprobs": "letters"}
    return ", ".join(f"{names[phase]} {seconds:.0f} s" for phase, seconds in phases.items())


def study(items: int | None) -> dict[str, Any]:
    """The study profile's typed settings and items (``items`` caps every benchmark)."""
    from fipo_utils.data.benchmarks import load_benchmarks
    from fipo_utils.runs.profiles import load_profile
    from fipo_utils.runs.settings import EvaluateSettings, InferSettings, ModelsSettings

    profile = load_profile(PROFILE)
    infer = InferSettings.from_profile(profile)
    n_items = infer.n_items if items is None else items
    loaded, _ = load_benchmarks(list(infer.benchmarks), n_items, seed=infer.sample_seed)
    return {
        "infer": infer,
        "evaluate": EvaluateSettings.from_profile(profile),
        "models": ModelsSettings.from_profile(profile),
        "benchmarks": loaded,
    }


def _generator(model: str, backend: str, settings: Any, models: Any) -> Any:
    from fipo_utils.models.generate_vllm_server import VLLMServerGenerator
    from fipo_utils.models.generators import make_generator

    options = SERVER_OPTIONS if backend == "vllm-server" else {}
    generator = make_generator(
        model,
        backend,
        dtype=models.dtype,
        batch_size=settings.batch_size,
        use_cache=False,  # every path computes every answer
        backend_options=options,
    )
    if backend == "transformers":
        if not isinstance(generator, TransformersGenerator):
            raise TypeError(f"the transformers backend gave a {type(generator).__name__}")
        return TodaysScoring(generator.model, generator.tokenizer, settings.batch_size)
    if not isinstance(generator, VLLMServerGenerator):
        raise RuntimeError("no vLLM environment for the new path: run `make vllm-env`")
    return generator


def _warm(generator: Any) -> float:
    """Seconds of one tiny generation: the server's start-up on the new path."""
    start = time.perf_counter()
    generator.generate(["Hi"], GenerationParams(max_new_tokens=1))
    return time.perf_counter() - start


def rewrite(path: str, setup: dict[str, Any]) -> dict[str, Any]:
    """Notebook 05 for every optimizer on one path: records, seconds, start-up seconds."""
    from fipo_utils.inference.optimize_step import optimizer_context, validated_record
    from fipo_utils.inference.registry import get_optimizer
    from fipo_utils.models.generators import decoding_params

    infer, models = setup["infer"], setup["models"]
    items = [item for bench in setup["benchmarks"].values() for item in bench.items]
    params = decoding_params(infer)
    generator = _generator(models.optimizer_base, path, infer, models)
    context = dataclasses.replace(
        optimizer_context(None, models, infer, params), open_generator=lambda _: generator
    )
    records: list[dict[str, Any]] = []
    seconds, startup = 0.0, _warm(generator)
    try:
        for name in OPTIMIZERS:
            optimizer = get_optimizer(name, context)
            start = time.perf_counter()
            rewrites = optimizer.rewrite(items)
            seconds += time.perf_counter() - start
            records += [
                validated_record(
                    item, optimizer, done, params.max_new_tokens, context.template
                ).as_dict()
                for item, done in zip(items, rewrites, strict=True)
            ]
    finally:
        generator.close()
    return {"records": records, "seconds": seconds, "startup": startup, "items": len(records)}


def score(path: str, setup: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Notebook 06 for every tester on one path, over the same rewrites."""
    from fipo_utils.evaluation.columns import CONDITIONS
    from fipo_utils.evaluation.evaluate import _answer, _job, mc_scorings, only_benchmarks
    from fipo_utils.models.generators import decoding_params

    settings, models = setup["evaluate"], setup["models"]
    benchmarks = setup["benchmarks"]
    index = {name: {i.id: i for i in bench.items} for name, bench in benchmarks.items()}
    wanted = only_benchmarks(records, settings.benchmarks)
    mc = mc_scorings(settings.mc_scoring)
    answers: dict[str, list[dict[str, Any]]] = {}
    phases = dict.fromkeys(PhaseClock.PHASES, 0.0)
    seconds = startup = 0.0
    for tester in settings.tester_names(models):
        jobs = [
            _job(index, benchmarks, record, condition, tester)
            for record in wanted
            for condition in CONDITIONS
        ]
        generator = _generator(tester, path, settings, models)
        try:
            startup += _warm(generator)
            clock = PhaseClock(generator)
            start = time.perf_counter()
            _answer(clock, jobs, models.format_for(tester), decoding_params(settings), mc)
            seconds += time.perf_counter() - start
        finally:
            generator.close()
        for phase, spent in clock.seconds.items():
            phases[phase] += spent
        answers[tester] = jobs
    count = sum(len(jobs) for jobs in answers.values())
    return {
        "answers": answers,
        "seconds": seconds,
        "startup": startup,
        "items": count,
        "phases": phases,
    }


def _compare_scores(today: dict[str, Any], new: dict[str, Any]) -> tuple[int, int, float]:
    """(identical generated answers, generated answers, largest score difference)."""
    same = total = 0
    largest = 0.0
    for tester, jobs in today["answers"].items():
        for old, fresh in zip(jobs, new["answers"][tester], strict=True):
            if "generated" in old:
                total += 1
                same += old["generated"] == fresh["generated"]
            for key in ("option_logprobs", "continuation_logprobs"):
                for a, b in zip(old.get(key) or [], fresh.get(key) or [], strict=True):
                    largest = max(largest, abs(a - b))
    return same, total, largest


def bench_study_paths(items: int | None) -> list[dict]:
    setup = study(items)
    written = {path: rewrite(path, setup) for path in ("transformers", "vllm-server")}
    old_rewrites = [r["optimized_instruction"] for r in written["transformers"]["records"]]
    new_rewrites = [r["optimized_instruction"] for r in written["vllm-server"]["records"]]
    same_rewrites = sum(a == b for a, b in zip(old_rewrites, new_rewrites, strict=True))
    # both paths score today's rewrites, so 06 compares like with like
    records = written["transformers"]["records"]
    scored = {path: score(path, setup, records) for path in ("transformers", "vllm-server")}
    same, total, largest = _compare_scores(scored["transformers"], scored["vllm-server"])
    flags = " ".join(f for f in cpu_flags() if f.startswith(("avx", "amx")))
    size = f"{items} items per benchmark" if items is not None else "study items"
    today, new = "transformers static batches, plain letter scoring", "vllm-server, shared prefixes"

    def rates(step: dict[str, dict[str, Any]] | None) -> tuple[list[float], list[float]]:
        """[today's], [new] items/s of one step (``None``: 05 and 06 together)."""
        paths = ("transformers", "vllm-server")
        steps = [written, scored] if step is None else [step]
        today_rate, new_rate = (
            [sum(s[p]["items"] for s in steps) / sum(s[p]["seconds"] for s in steps)] for p in paths
        )
        return today_rate, new_rate

    startups = (
        f"server start-up {written['vllm-server']['startup']:.0f} s (05), "
        f"{scored['vllm-server']['startup']:.0f} s (06 testers), not timed"
    )
    rewrites = f"greedy rewrites identical {same_rewrites}/{len(old_rewrites)}"
    answers = f"generated answers identical {same}/{total}; largest score difference {largest:.2e}"
    split = (
        f"06 phases today: {phase_note(scored['transformers']['phases'])}; "
        f"new: {phase_note(scored['vllm-server']['phases'])}"
    )
    steps = [
        (f"05 rewriting ({len(old_rewrites)} rewrites)", written, f"{rewrites}; {startups}"),
        (f"06 scoring ({scored['transformers']['items']} answers)", scored, f"{answers}; {split}"),
        ("05 + 06", None, f"{rewrites}; {answers}"),
    ]
    rows = []
    for title, step, notes in steps:
        today_rate, new_rate = rates(step)
        name = f"{title}, {PROFILE} profile, {size}"
        rows.append(
            ratio_row(
                name, today, new, "items/s", today_rate, new_rate, f"{notes}; CPU flags {flags}"
            )
        )
    return rows


def bench_server_vs_one_at_a_time(quick: bool) -> dict:
    """vLLM server vs transformers one prompt at a time, same mixed-length prompts."""
    from fipo_utils.models.generators import make_generator

    n, params = (8 if quick else 64), GenerationParams(max_new_tokens=32 if quick else 64)
    model = "smollm2-135m-instruct"
    single = make_generator(model, use_cache=False, batch_size=1)
    prompts = prompts_for(single.tokenizer, n, mixed=True)
    start = time.perf_counter()
    expected = single.generate(prompts, params)
    one_at_a_time = n / (time.perf_counter() - start)
    del single
    served = make_generator(model, "vllm-server", use_cache=False, backend_options=SERVER_OPTIONS)
    try:
        startup = _warm(served)
        start = time.perf_counter()
        texts = served.generate(prompts, params)
        server = n / (time.perf_counter() - start)
    finally:
        served.close()
    same = sum(a == b for a, b in zip(expected, texts, strict=True))
    return ratio_row(
        f"generation, {n} mixed-length prompts, {params.max_new_tokens} new tokens ({model})",
        "transformers one prompt at a time",
        "vllm-server (continuous batching, .venv-vllm)",
        "prompts/s",
        [one_at_a_time],
        [server],
        notes=f"greedy outputs identical {same}/{n}; server start-up {startup:.0f} s, not timed",
    )


def _skipped(reason: str) -> list[dict]:
    return [
        {
            "name": "evaluation engine: today's path vs vllm-server and shared prefixes",
            "baseline": "transformers",
            "candidate": "vllm-server",
            "unit": "items/s",
            "ratio_min": None,
            "ratio_median": None,
            "ratio_max": None,
            "notes": f"skipped: {reason}",
        }
    ]


def run(quick: bool, items: int | None = None) -> list[dict]:
    """The rows; like the generation area's vLLM rows, off in the quick mode unless
    ``FIPO_BENCH_VLLM=1`` (every path starts a server: 1-8 minutes each on 2 cores).
    ``FIPO_BENCH_ENGINE_ITEMS=N`` caps every benchmark's items as ``--items`` does, for a run
    through ``benchmarks/run.py`` (the study's full counts take hours on 2 cores)."""
    from fipo_utils.models.vllm_server import vllm_python

    if items is None and os.environ.get(ITEMS_VARIABLE):
        items = int(os.environ[ITEMS_VARIABLE])

    if not vllm_wanted(quick):
        return _skipped("vLLM rows are off in the quick mode (FIPO_BENCH_VLLM=1 turns them on)")
    if vllm_python() is None:
        return _skipped("no vLLM environment (run `make vllm-env`)")
    rows = bench_study_paths(items if items is not None else (2 if quick else None))
    rows.append(bench_server_vs_one_at_a_time(quick))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--items", type=int, default=None, help="cap every benchmark's items")
    parser.add_argument("--json-out", help="write the rows here instead of stdout")
    options = parser.parse_args()
    rows = run(options.quick, options.items)
    if options.json_out:
        Path(options.json_out).write_text(json.dumps(rows, indent=2))
    else:
        print(json.dumps(rows, indent=2))
