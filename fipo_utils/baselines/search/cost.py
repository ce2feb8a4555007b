"""What a method spends: model calls, tokens read and generated, wall time.

Search methods (APE, OPRO) spend their compute once per task, trained rewriters (FIPO, BPO)
once in training and then on every query. :class:`CountingGenerator` sits in front of any
generator and counts what passes through it, so every method is measured the same way.
Tokens are counted with the model's tokenizer whether or not the generation cache answered
the call: the count is the compute the method needs, the wall time is what this run paid.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from fipo_utils.models.generate import GenerationParams


@dataclass
class Cost:
    """Compute of one method on one task; ``add`` sums costs of several parts."""

    calls: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    cached_calls: int = 0  # calls the generation cache answered (their wall time is ~0)

    def add(self, other: Cost) -> Cost:
        return Cost(
            self.calls + other.calls,
            self.prompt_tokens + other.prompt_tokens,
            self.generated_tokens + other.generated_tokens,
            self.seconds + other.seconds,
            self.cached_calls + other.cached_calls,
        )

    def as_dict(self) -> dict[str, float | int]:
        return {**asdict(self), "seconds": round(self.seconds, 3)}


class CountingGenerator:
    """A generator that counts its calls into ``cost`` (replace ``cost`` to start a new tally).

    ``option_logprobs`` counts one call and the prompt tokens per prompt (it generates none).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.tokenizer = inner.tokenizer
        self.cost = Cost()

    def _tokens(self, texts: Sequence[str]) -> int:
        if not texts:
            return 0
        encoded = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return sum(len(ids) for ids in encoded)

    def _hits(self) -> int:
        stats = getattr(self.inner, "stats", None)
        return stats.hits if stats is not None else 0

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[str]:
        start, hits = time.perf_counter(), self._hits()
        outputs = self.inner.generate(prompts, params)
        seconds = time.perf_counter() - start
        self.cost = self.cost.add(
            Cost(
                len(prompts),
                self._tokens(prompts),
                self._tokens(outputs),
                seconds,
                self._hits() - hits,
            )
        )
        return outputs

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> list[list[float]]:
        start, hits = time.perf_counter(), self._hits()
        scores = self.inner.option_logprobs(prompts, options)
        seconds = time.perf_counter() - start
        self.cost = self.cost.add(
            Cost(len(prompts), self._tokens(prompts), 0, seconds, self._hits() - hits)
        )
        return scores

    def take(self) -> Cost:
        """The tally so far, and start a new one."""
        spent, self.cost = self.cost, Cost()
        return spent

    def close(self) -> None:
        self.inner.close()
