"""Continuous batching (transformers' generate_batch) against one prompt at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from fipo_utils.models.generate import GenerationParams, TransformersGenerator
from fipo_utils.models.generate_continuous import ContinuousGenerator
from fipo_utils.models.generators import make_generator


def test_greedy_outputs_equal_one_at_a_time(tiny_model_dir: Path) -> None:
    from fipo_utils.models.pool import get_model

    loaded = get_model(str(tiny_model_dir))
    # lengths differ, so rows finish and are refilled at different steps
    prompts = [f"Item {i}: " + "the quick brown fox " * (1 + i % 4) for i in range(6)]
    params = GenerationParams(max_new_tokens=12)
    one = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size=1)
    continuous = ContinuousGenerator(loaded.model, loaded.tokenizer, batch_size=4)
    expected = one.generate(prompts, params)
    assert continuous.generate(prompts, params) == expected
    assert continuous.generate([], params) == []


def test_make_generator_selects_batching(tiny_model_dir: Path) -> None:
    generator = make_generator(str(tiny_model_dir), use_cache=False, batching="continuous")
    assert isinstance(generator, ContinuousGenerator)
    with pytest.raises(ValueError, match="batching"):
        make_generator(str(tiny_model_dir), use_cache=False, batching="dynamic")
