"""Rewards from a tester's own answers, for GRPO (:mod:`fipo_utils.feedback.grpo`).

Each completion of the policy is an optimized instruction for one training item. The tester
answers the item asked with it, scored as notebook 06 scores (multiple choice: the gold
option's continuation log-likelihood; generation: the strict answer template), and each
term of the reward is its own trl reward function, so trl logs every term's mean per step
(``rewards/<name>/mean``) and the penalties are reported separately:

- ``tester_correct``: 1 when the tester answers correctly, else 0;
- ``tester_margin``: multiple choice only, the gold option's log-probability minus the best
  other's, clipped to [-1, 1] (a dense signal where correctness is flat);
- ``invalid_rewrite``: 1 when the rewrite fails notebook 05's validity record
  (:func:`fipo_utils.inference.validity.rewrite_validity`: unfinished at the length limit,
  options or numbers lost, a template-label loop, the answer stated, empty);
- ``answer_leak``: 1 when the rewrite states the gold answer (the paper's cheating note);
- ``over_word_limit``: 1 when it is longer than the template's word limit.

The profile's ``grpo.reward`` weights combine them (penalties take negative weights).
Tester scores are cached by (tester, the exact prompt the tester reads), in memory and in
``train/<name>/tester_scores-rank<r>.jsonl``, so a prompt is never scored twice, and
``tester_calls`` counts the prompts really scored (the compute of the comparison).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fipo_utils.data.benchmarks import BenchmarkItem, render_prompt, split_options
from fipo_utils.data.template import Template, count_words
from fipo_utils.inference.optimize import cheating_note, clean_optimized
from fipo_utils.inference.validity import rewrite_validity
from fipo_utils.runs.io import iter_jsonl

REWARD_TERMS = (
    "tester_correct",
    "tester_margin",
    "invalid_rewrite",
    "answer_leak",
    "over_word_limit",
)


@dataclass
class CachedTester:
    """A tester behind a persistent cache of its verdicts."""

    tester: str
    score: Callable[[Sequence[BenchmarkItem], Sequence[str]], list[dict[str, Any]]]
    cache_path: Path | None = None
    calls: int = 0
    _cache: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.cache_path is None:
            return
        for path in sorted(self.cache_path.parent.glob("tester_scores-rank*.jsonl")):
            rows = iter_jsonl(path, ("key", "correct", "margin"), skip_bad_lines=True)
            for _, row in rows:
                self._cache[row["key"]] = {"correct": row["correct"], "margin": row["margin"]}

    def key(self, item: BenchmarkItem, instruction: str) -> str:
        text = f"{self.tester}\n{render_prompt(item, instruction)}"
        return hashlib.sha256(text.encode()).hexdigest()

    def __call__(
        self, items: Sequence[BenchmarkItem], instructions: Sequence[str]
    ) -> list[dict[str, Any]]:
        keys = [self.key(item, text) for item, text in zip(items, instructions, strict=True)]
        todo = sorted({k: i for i, k in enumerate(keys) if k not in self._cache}.values())
        if todo:
            fresh = self.score([items[i] for i in todo], [instructions[i] for i in todo])
            self.calls += len(todo)
            lines = []
            for i, result in zip(todo, fresh, strict=True):
                self._cache[keys[i]] = result
                lines.append(json.dumps({"key": keys[i], **result}) + "\n")
            if self.cache_path is not None:
                self.cache_path.parent.mkdir(parents=True, exist_ok=True)
                with self.cache_path.open("a", encoding="utf-8") as handle:
                    handle.writelines(lines)
        return [self._cache[k] for k in keys]


@dataclass
class RewardFunctions:
    """The reward terms over one batch of completions; trl calls each term by name.

    ``items`` maps a dataset row's ``item_key`` to its benchmark item; ``word_limits`` come
    in the row too (``word_limit``). ``max_completion_length`` tells an unfinished rewrite
    (as many tokens as allowed, no end of sequence) from a finished one; ``template`` is the
    optimizer's, whose labels make a loop. A BBH item's options block is not in the prompt
    the policy rewrites: it is re-attached to the rewrite, as notebook 05 does.
    """

    items: Mapping[str, BenchmarkItem]
    tester: CachedTester
    max_completion_length: int
    eos_token_id: int | None
    template: Template | None = None

    def functions(self) -> list[Callable[..., list[float | None]]]:
        def tester_correct(completions, item_key, **_: Any) -> list[float | None]:
            return [float(s["correct"]) for s in self._scores(completions, item_key)]

        def tester_margin(completions, item_key, **_: Any) -> list[float | None]:
            return [
                None if s["margin"] is None else max(-1.0, min(1.0, s["margin"]))
                for s in self._scores(completions, item_key)
            ]

        def invalid_rewrite(completions, completion_ids, item_key, **_: Any) -> list[float | None]:
            return [
                float(not self._validity(text, ids, key).valid)
                for text, ids, key in zip(completions, completion_ids, item_key, strict=True)
            ]

        def answer_leak(completions, item_key, **_: Any) -> list[float | None]:
            return [
                float(cheating_note(self.items[key], self._rewrite(text, key)))
                for text, key in zip(completions, item_key, strict=True)
            ]

        def over_word_limit(completions, word_limit, **_: Any) -> list[float | None]:
            return [
                float(count_words(clean_optimized(text)) > limit)
                for text, limit in zip(completions, word_limit, strict=True)
            ]

        return [tester_correct, tester_margin, invalid_rewrite, answer_leak, over_word_limit]

    def _rewrite(self, completion: str, key: str) -> str:
        """The instruction the tester reads: the cleaned rewrite of the question (the naive
        question if empty) with the item's options block re-attached."""
        question, block = split_options(self.items[key])
        return (clean_optimized(completion) or question) + block

    def _validity(self, completion: str, ids: Sequence[int], key: str):
        """Notebook 05's validity record of a completion (its token count read as "reached
        the limit without an end of sequence" or not)."""
        item = self.items[key]
        return rewrite_validity(
            item,
            item.instruction,
            self._rewrite(completion, key),
            fell_back=not clean_optimized(completion),
            n_tokens=self.max_completion_length if self._unfinished(ids) else 0,
            max_new_tokens=self.max_completion_length,
            template=self.template,
        )

    def _scores(self, completions: Sequence[str], keys: Sequence[str]) -> list[dict[str, Any]]:
        items = [self.items[key] for key in keys]
        rewrites = [self._rewrite(text, key) for text, key in zip(completions, keys, strict=True)]
        return self.tester(items, rewrites)

    def _unfinished(self, ids: Sequence[int]) -> bool:
        return len(ids) >= self.max_completion_length and (not ids or ids[-1] != self.eos_token_id)


def reward_weights(weights: Mapping[str, float]) -> list[float]:
    """The weight of each term in :data:`REWARD_TERMS` order (a missing term weighs 0)."""
    unknown = sorted(set(weights) - set(REWARD_TERMS))
    if unknown:
        raise KeyError(f"grpo.reward: unknown terms {unknown}; known: {', '.join(REWARD_TERMS)}")
    return [float(weights.get(term, 0.0)) for term in REWARD_TERMS]
