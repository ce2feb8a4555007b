"""The on-disk generation cache: hits, misses, keys, and resuming after a crash."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from fipo_utils.models.cache import GenerationCache, model_identity
from fipo_utils.models.generate import GenerationParams, TransformersGenerator
from fipo_utils.models.generators import CachedGenerator
from fipo_utils.models.loading import load_model

PROMPTS = [f"Question: what is {i} plus {i}? Answer:" for i in range(6)]
GREEDY = GenerationParams(max_new_tokens=6)


class CountingGenerator:
    """The real tiny-model generator, counting the prompts it is asked for and able to
    fail on a chosen call, as a crash in the middle of a run would."""

    def __init__(self, inner: TransformersGenerator, fail_on_call: int | None = None) -> None:
        self.inner, self.backend, self.tokenizer = inner, inner.backend, inner.tokenizer
        self.prompts_seen: list[str] = []
        self.calls = 0
        self.fail_on_call = fail_on_call

    def generate(self, prompts, params):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("simulated crash")
        self.prompts_seen.extend(prompts)
        return self.inner.generate(prompts, params)

    def option_logprobs(self, prompts, options):
        self.prompts_seen.extend(prompts)
        return self.inner.option_logprobs(prompts, options)


@pytest.fixture(scope="module")
def tiny_generator(tiny_model_dir: Path) -> TransformersGenerator:
    loaded = load_model(str(tiny_model_dir))
    return TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=4)


def cached(inner, tmp_path: Path, model_id: str = "tiny", chunk: int = 2) -> CachedGenerator:
    cache = GenerationCache(model_id=model_id, backend=inner.backend, root=tmp_path)
    return CachedGenerator(inner, model_id, cache=cache, chunk_size=chunk, show_progress=False)


def test_miss_then_hit_across_instances(tiny_generator, tmp_path: Path) -> None:
    first_inner = CountingGenerator(tiny_generator)
    first = cached(first_inner, tmp_path)
    outputs = first.generate(PROMPTS + PROMPTS[:2], GREEDY)  # duplicates generated once
    assert (first.stats.hits, first.stats.misses) == (0, 8)
    assert len(first_inner.prompts_seen) == 6
    assert outputs == tiny_generator.generate(PROMPTS + PROMPTS[:2], GREEDY)

    second_inner = CountingGenerator(tiny_generator)  # a new process: reads the files
    second = cached(second_inner, tmp_path)
    assert second.generate(PROMPTS, GREEDY) == outputs[:6]
    assert (second.stats.hits, second.stats.misses) == (6, 0)
    assert second_inner.prompts_seen == []


def test_keys_separate_params_models_and_tasks(tiny_generator, tmp_path: Path) -> None:
    inner = CountingGenerator(tiny_generator)
    gen = cached(inner, tmp_path)
    gen.generate(PROMPTS[:2], GREEDY)
    gen.generate(PROMPTS[:2], GenerationParams(max_new_tokens=3))
    gen.option_logprobs(PROMPTS[:2], ["A", "B"])
    assert gen.stats.misses == 6 and gen.stats.hits == 0
    other_model = cached(CountingGenerator(tiny_generator), tmp_path, model_id="other")
    other_model.generate(PROMPTS[:2], GREEDY)
    assert other_model.stats.misses == 2
    scores = gen.option_logprobs(PROMPTS[:2], ["A", "B"])
    assert gen.stats.hits == 2 and scores == tiny_generator.option_logprobs(PROMPTS[:2], ["A", "B"])


def test_crash_loses_only_the_batch_in_flight(tiny_generator, tmp_path: Path) -> None:
    crashing = cached(CountingGenerator(tiny_generator, fail_on_call=3), tmp_path, chunk=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashing.generate(PROMPTS, GREEDY)
    # two chunks of two finished before the crash and are on disk
    resumed_inner = CountingGenerator(tiny_generator)
    resumed = cached(resumed_inner, tmp_path, chunk=2)
    outputs = resumed.generate(PROMPTS, GREEDY)
    assert resumed_inner.prompts_seen == PROMPTS[4:]
    assert (resumed.stats.hits, resumed.stats.misses) == (4, 2)
    assert outputs == tiny_generator.generate(PROMPTS, GREEDY)


def test_torn_last_line_is_healed_so_the_next_entry_is_not_glued_on(
    tiny_generator, tmp_path: Path
) -> None:
    gen = cached(CountingGenerator(tiny_generator), tmp_path)
    gen.generate(PROMPTS[:2], GREEDY)
    files = list(tmp_path.rglob("*.jsonl"))
    assert len(files) == 1
    complete = files[0].read_bytes()
    with files[0].open("a") as handle:
        handle.write('{"k": "abc", "v": "half a rec')  # a crash in the middle of a write
    again = cached(CountingGenerator(tiny_generator), tmp_path)
    again.generate(PROMPTS[:3], GREEDY)
    assert (again.stats.hits, again.stats.misses) == (2, 1)
    text = files[0].read_bytes()
    assert text.startswith(complete) and b"half a rec" not in text and text.endswith(b"\n")
    # the entry appended after the crash is readable: a fresh reader hits all three
    third = cached(CountingGenerator(tiny_generator), tmp_path)
    third.generate(PROMPTS[:3], GREEDY)
    assert (third.stats.hits, third.stats.misses) == (3, 0)


def test_model_identity_changes_with_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    before = model_identity(str(copy))
    assert before == model_identity(str(copy)) and str(copy.resolve()) in before
    weights = copy / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # retrained in place
    assert model_identity(str(copy)) != before
    assert model_identity("org/hub-model") == "org/hub-model"
