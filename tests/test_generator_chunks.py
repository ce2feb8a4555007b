"""How many prompts a cached generator hands its backend per call (the GPU review's C1)."""

from __future__ import annotations

import pytest

from fipo_utils.models import generate_vllm
from fipo_utils.models.generators import make_generator


class EngineStandIn:
    """Takes VLLMGenerator's place, so the wrapping is checked without vLLM installed."""

    backend = "vllm"
    tokenizer = None

    def __init__(self, model_path: str, **options) -> None:
        self.model_path = model_path


@pytest.mark.parametrize(("backend", "expected"), [("vllm", 4096), ("transformers", 32)])
def test_vllm_is_handed_thousands_of_prompts_per_call(monkeypatch, backend, expected) -> None:
    monkeypatch.setattr(generate_vllm, "VLLMGenerator", EngineStandIn)
    generator = make_generator("tiny-random", backend, show_progress=False)
    assert generator.chunk_size == expected
    assert make_generator("tiny-random", backend, chunk_size=7).chunk_size == 7
