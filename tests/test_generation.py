"""Generation backends: batching does not change results; vLLM matches transformers."""

from __future__ import annotations

import importlib.util
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch

from fipo_utils.models.generate import (
    GenerationParams,
    StopInGenerated,
    TransformersGenerator,
    cut_at_stop,
)
from fipo_utils.models.generators import CachedGenerator, make_generator
from fipo_utils.models.loading import load_model

PROMPTS = [
    "Hi",
    "Question: what is 2 plus 2? Answer:",
    "A: the first option B: the second option Answer:",
    "Golden Prompt Silver Prompt Golden Response Silver Response and a much longer text here",
    "The answer is",
]
HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path):
    return load_model(str(tiny_model_dir))


def test_batched_equals_one_at_a_time(tiny) -> None:
    params = GenerationParams(max_new_tokens=8)
    single = TransformersGenerator(tiny.model, tiny.tokenizer, batch_size=1)
    batched = TransformersGenerator(tiny.model, tiny.tokenizer, batch_size=4)
    one_by_one = single.generate(PROMPTS, params)
    assert batched.generate(PROMPTS, params) == one_by_one
    assert len(set(one_by_one)) > 1  # the prompts really produce different texts


def test_option_logprobs_match_a_plain_forward_pass(tiny) -> None:
    batched = TransformersGenerator(tiny.model, tiny.tokenizer, batch_size=5)
    scores = batched.option_logprobs(PROMPTS, ["A", "B"])
    single = TransformersGenerator(tiny.model, tiny.tokenizer, batch_size=1)
    np.testing.assert_allclose(scores, single.option_logprobs(PROMPTS, ["A", "B"]), atol=1e-4)
    ids = tiny.tokenizer(PROMPTS[1], return_tensors="pt")
    with torch.no_grad():
        logprobs = torch.log_softmax(tiny.model(**ids).logits[0, -1], dim=-1)
    # the token the tokenizer writes for the letter after this prompt's "Answer:" cue
    letter = tiny.tokenizer(PROMPTS[1] + " A").input_ids[ids.input_ids.shape[1]]
    assert scores[1][0] == pytest.approx(float(logprobs[letter]), abs=1e-4)


def test_sampling_is_seeded(tiny) -> None:
    gen = TransformersGenerator(tiny.model, tiny.tokenizer, batch_size=4)
    params = GenerationParams(max_new_tokens=8, temperature=0.8, top_p=0.95, seed=3)
    assert gen.generate(PROMPTS, params) == gen.generate(PROMPTS, params)


def test_stop_strings_end_the_text_before_the_stop(tiny) -> None:
    gen = TransformersGenerator(tiny.model, tiny.tokenizer, batch_size=4)
    free = gen.generate(PROMPTS, GenerationParams(max_new_tokens=12))
    # a stop string taken from inside each free text: the stopped text is its prefix
    stops = tuple({text[len(text) // 2 : len(text) // 2 + 3] for text in free if len(text) > 6})
    stopped = gen.generate(PROMPTS, GenerationParams(max_new_tokens=12, stop=stops))
    assert any(len(s) < len(f) for s, f in zip(stopped, free, strict=True))
    for s, f in zip(stopped, free, strict=True):
        assert f.startswith(s)
        assert not any(stop in s for stop in stops)


def test_a_stop_string_counts_only_inside_the_generated_text(tiny) -> None:
    # the prompt ends on a newline, as a chat prompt does; a reply that opens with the label
    # goes on, one that writes the label on a later line ends (vLLM's reading of ``stop``)
    tokenizer = tiny.tokenizer
    prompt = tokenizer("Rewrite this.\n", add_special_tokens=False).input_ids
    stop = StopInGenerated(tokenizer, ["\nGolden Prompt:"], prompt_length=len(prompt))

    def ends(reply: str) -> bool:
        ids = prompt + tokenizer(reply, add_special_tokens=False).input_ids
        return bool(stop(torch.tensor([ids]), None)[0])

    assert not ends("Golden Prompt:")
    assert not ends("Golden Prompt: count the apples")
    assert ends("Golden Prompt: count the apples\nGolden Prompt:")
    assert ends("count the apples\nGolden Prompt:")


def test_cut_at_stop_takes_the_earliest_stop() -> None:
    text = "Better prompt.\nOriginal Prompt: x\nImproved Prompt: y"
    assert cut_at_stop(text, ("Improved Prompt:", "Original Prompt:")) == "Better prompt.\n"
    assert cut_at_stop(text, ()) == text
    assert cut_at_stop(text, ("absent",)) == text


def test_no_stop_strings_keep_the_cache_key_of_before() -> None:
    plain = GenerationParams(max_new_tokens=8)
    assert "stop" not in plain.as_dict()
    assert GenerationParams(**plain.as_dict()) == plain
    stopped = GenerationParams(max_new_tokens=8, stop=["Golden Prompt:"])  # type: ignore[arg-type]
    assert stopped.stop == ("Golden Prompt:",)
    assert stopped.as_dict()["stop"] == ["Golden Prompt:"]
    assert GenerationParams(**stopped.as_dict()) == stopped


def test_factory_rejects_unknown_backend(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown generation backend"):
        make_generator(str(tiny_model_dir), "onnx")


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed here")
def test_vllm_backend_says_how_to_get_it(tiny_model_dir: Path) -> None:
    with pytest.raises(ImportError, match="vllm"):
        make_generator(str(tiny_model_dir), "vllm")


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.skipif(not HAS_VLLM, reason="vllm is not importable (see `make test-vllm`)")
def test_vllm_matches_transformers_on_smollm2() -> None:
    from fipo_utils.data.template import wrap_prompt

    params = GenerationParams(max_new_tokens=24)
    hf = make_generator("smollm2-135m-instruct", use_cache=False, batch_size=4)
    prompts = [
        wrap_prompt(text, "chat_template", hf.tokenizer)
        for text in (
            "What is the capital of France?",
            "Write one sentence about the sea.",
            "Natalia sold 48 clips in April and half as many in May. How many in total?",
        )
    ]
    expected = hf.generate(prompts, params)
    expected_scores = hf.option_logprobs(prompts, ["A", "B"])
    del hf
    vllm = make_generator(
        "smollm2-135m-instruct",
        "vllm",
        use_cache=False,
        # On CPU, gpu_memory_utilization is the share of RAM vLLM reserves (default 0.92,
        # which fails whenever anything else holds memory); a 135M model needs little.
        backend_options={
            "max_model_len": 2048,
            "enforce_eager": True,
            "gpu_memory_utilization": 0.3,
        },
    )
    try:
        assert vllm.generate(prompts, params) == expected
        np.testing.assert_allclose(
            vllm.option_logprobs(prompts, ["A", "B"]), expected_scores, atol=1e-2
        )
    finally:
        # Stopped here, not by vLLM's exit-time finalizer, which aborted CI once (exit 134)
        # after the test had passed.
        vllm.close()
    # close() terminates the engine process (a kill after a 5 s grace), so it ends soon after
    engines = [p for p in multiprocessing.active_children() if "EngineCore" in p.name]
    for engine in engines:
        engine.join(timeout=30)
    assert not [engine.name for engine in engines if engine.is_alive()]


def test_generator_from_settings_reads_the_profile_keys(monkeypatch) -> None:
    from fipo_utils.models import generators

    calls: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(generators, "make_generator", lambda *a, **kw: calls.append((a, kw)))
    settings = {
        "backend": "vllm",
        "batch_size": "32",
        "tensor_parallel_size": 8,
        "backend_options": {"gpu_memory_utilization": 0.3},
    }
    generators.generator_from_settings("m", settings, {"dtype": "bfloat16"}, show_progress=False)
    generators.generator_from_settings("m", {}, {})
    assert calls == [
        (
            ("m", "vllm"),
            {
                "dtype": "bfloat16",
                "batch_size": 32,
                "tensor_parallel_size": 8,
                "backend_options": {"gpu_memory_utilization": 0.3},
                "batching": "static",
                "show_progress": False,
            },
        ),
        (
            ("m", "transformers"),
            {
                "dtype": "float32",
                "batch_size": 8,
                "tensor_parallel_size": 1,
                "backend_options": {},
                "batching": "static",
            },
        ),
    ]


class _EngineStub:
    """A backend holding an outside resource, as vLLM's engine process is."""

    backend = "stub"
    tokenizer = None

    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_close_reaches_the_backend_behind_the_cache(tmp_path: Path, tiny) -> None:
    from fipo_utils.models.cache import GenerationCache

    inner = _EngineStub()
    wrapped = CachedGenerator(inner, "stub", cache=GenerationCache("stub", "stub", root=tmp_path))
    wrapped.close()
    assert inner.closed == 1
    # transformers generators hold only pooled weights: nothing to stop, nothing raised
    TransformersGenerator(tiny.model, tiny.tokenizer).close()
