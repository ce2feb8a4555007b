"""Continuous batching for the transformers backend (``batching: continuous``).

Static batches (``TransformersGenerator``) decode until their longest row ends: rows that
stopped early keep occupying the batch, and on the benchmark's prompts most positions of a
long generation are such padding (docs/performance.md). Continuous batching removes a
finished request and admits the next one at every step. transformers (5.x) ships it as
``model.generate_batch``: a scheduler over a paged key/value cache that packs the running
requests' tokens into one forward. This generator hands it token ids and returns texts in
the order given, so callers see the same interface as the static generator.

Greedy outputs are the same as one prompt at a time (``tests/test_generate_continuous.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import GenerationConfig

from fipo_utils.models.generate import GenerationParams, TransformersGenerator, cut_at_stop


class ContinuousGenerator(TransformersGenerator):
    """``TransformersGenerator`` whose ``generate`` runs transformers' continuous batching;
    option and continuation scoring are inherited (they are single forwards, not decoding).
    ``batch_size`` is the number of requests decoded together."""

    page_size = 32  # tokens per cache page: small pages waste little on short prompts

    def _cache_config(self, inputs: list[list[int]], max_new_tokens: int) -> Any:
        """A paged cache sized for ``batch_size`` requests of the longest prompt, explicitly:
        left to itself, transformers sizes the cache from free accelerator memory, and on a
        CPU that took 13.5 GB of RAM for the tiny test model."""
        from transformers import ContinuousBatchingConfig

        longest = max(len(ids) for ids in inputs) + max_new_tokens
        pages = -(-longest // self.page_size)
        return ContinuousBatchingConfig(
            page_size=self.page_size,
            num_blocks=pages * self.batch_size + 1,
            max_requests_per_batch=self.batch_size,
            max_batch_tokens=max(longest, self.batch_size * 16),
            allow_block_sharing=False,
            auto_switch_to_flash=False,
        )

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[str]:
        if not prompts:
            return []
        inputs = [self.tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
        budget = self._budget(params.max_new_tokens, max(len(ids) for ids in inputs))
        config = GenerationConfig(
            max_new_tokens=budget,
            do_sample=not params.greedy,
            temperature=None if params.greedy else params.temperature,
            top_p=None if params.greedy else params.top_p,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        if not params.greedy:
            torch.manual_seed(params.seed)
        outputs = self.model.generate_batch(
            inputs=inputs,
            generation_config=config,
            continuous_batching_config=self._cache_config(inputs, budget),
            warmup=False,
        )
        # request ids are "req_<n>", numbered in the order the inputs were added
        ordered = sorted(outputs.values(), key=lambda o: int(o.request_id.rsplit("_", 1)[1]))
        if len(ordered) != len(prompts):
            raise RuntimeError(f"continuous batching returned {len(ordered)} of {len(prompts)}")
        failed = [o.request_id for o in ordered if o.error]
        if failed:
            raise RuntimeError(f"continuous batching failed for {failed}: {ordered[0].error}")
        # generate_batch has no stop strings: a row decodes to its limit and is cut after
        texts = self.tokenizer.batch_decode(
            [o.generated_tokens for o in ordered], skip_special_tokens=True
        )
        return [cut_at_stop(text, params.stop) for text in texts]
