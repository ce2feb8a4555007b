"""Optimizer inference: rewrite prompts with a FIPO optimizer (notebook 05, ``fipo optimize``).

At test time the template carries no responses (the paper's testing phase): only the naive prompt
and
the word limit ``G_N``. For benchmarks the optimizer sees only the final task instruction;
few-shot examples and options stay as they are, so naive and optimized prompts differ only
where the paper allows.

Word limit at test time: no chosen prompt exists to count, so ``G_N`` is twice the naive
instruction's word count, clamped to [minimum, maximum] (smoke and paper: 30 and 300). It
gives short instructions room to become instructive and keeps long passages from growing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from fipo_utils.data.answers import gold_letter, gsm8k_gold_number, numbers_in
from fipo_utils.data.benchmarks import BenchmarkItem, benchmark_family
from fipo_utils.data.template import (
    Template,
    count_words,
    label_stops,
    render_optimizer_prompt,
    wrap_prompt,
)
from fipo_utils.models.generate import GenerationParams

# `auto` picks the most advanced trained optimizer (fipo_utils.inference.registry): IPL
# (iterated preference learning) beats a single preference round (IPO before DPO: the paper's
# best single strategy), which beats SFT.
STRATEGY_ORDER = ("ipl", "ipo", "dpo", "sft")
_LABELS = re.compile(
    r"^\s*(?:\*\*|#+\s*)?(?:the\s+)?(?:golden|improved|optimized|optimised|new|rewritten|original|silver|sliver)"
    r"\s+prompt\s*(?:\*\*)?\s*:\s*(?:\*\*)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class WordLimit:
    factor: float = 2.0
    minimum: int = 30
    maximum: int = 300

    def __call__(self, naive_prompt: str) -> int:
        wanted = round(self.factor * count_words(naive_prompt))
        return max(self.minimum, min(self.maximum, wanted))


@dataclass(frozen=True)
class Optimized:
    raw_output: str
    prompt: str  # cleaned; the naive prompt where cleaning left nothing
    fell_back: bool
    word_limit: int


def clean_optimized(raw: str) -> str:
    """The prompt inside an optimizer's reply: labels, code fences and quotes removed."""
    text = raw.strip()
    text = re.sub(r"^```[a-zA-Z]*\n?", "", text)
    text = re.sub(r"\n?```\s*$", "", text).strip()
    previous = None
    while previous != text:
        previous = text
        text = _LABELS.sub("", text).strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
            text = text[1:-1].strip()
    return text


def optimizer_inputs(
    template: Template,
    prompts: Sequence[str],
    *,
    fmt: str,
    tokenizer: Any,
    word_limit: WordLimit,
    responses: Sequence[str | None] | None = None,
    ground_truths: Sequence[str | None] | None = None,
) -> tuple[list[str], list[int]]:
    """Rendered and chat-wrapped optimizer inputs, and the word limit used for each."""
    inputs, limits = [], []
    for i, prompt in enumerate(prompts):
        limit = word_limit(prompt)
        text = render_optimizer_prompt(
            template,
            prompt,
            silver_response=responses[i] if responses else None,
            golden_response=ground_truths[i] if ground_truths else None,
            word_limit=limit,
        )
        inputs.append(wrap_prompt(text, fmt, tokenizer))
        limits.append(limit)
    return inputs, limits


def optimize_prompts(
    generator: Any,
    prompts: Sequence[str],
    *,
    template: Template,
    fmt: str,
    params: GenerationParams,
    word_limit: WordLimit | None = None,
    responses: Sequence[str | None] | None = None,
    ground_truths: Sequence[str | None] | None = None,
    stop_at_labels: bool = True,
) -> list[Optimized]:
    """Rewrite each prompt. Optional responses / ground truths fill the template's silver and
    golden slots (as in training); benchmarks pass neither (the test-time form).

    ``stop_at_labels`` ends each reply at the template's next label (:func:`label_stops`),
    where a small model would otherwise echo the template until the token limit; the
    original test script stops at the limit only (``False``)."""
    word_limit = word_limit or WordLimit()
    if stop_at_labels:
        params = replace(params, stop=tuple(dict.fromkeys([*params.stop, *label_stops(template)])))
    inputs, limits = optimizer_inputs(
        template,
        prompts,
        fmt=fmt,
        tokenizer=generator.tokenizer,
        word_limit=word_limit,
        responses=responses,
        ground_truths=ground_truths,
    )
    results = []
    for prompt, raw, limit in zip(prompts, generator.generate(inputs, params), limits, strict=True):
        cleaned = clean_optimized(raw)
        results.append(Optimized(raw, cleaned or prompt, not cleaned, limit))
    return results


def cheating_note(item: BenchmarkItem, optimized: str) -> bool:
    """Whether an optimized instruction gives away the item's answer (the paper's "cheating notes").

    Numbers: the gold number appears in the rewrite but not in the naive instruction.
    Options: the rewrite states the gold letter as the answer, or (multiple choice, whose
    options the optimizer never saw) quotes the gold option's text. Other BBH targets: the
    rewrite states the target as the answer, or contains a multi-word target the naive
    instruction lacks.
    """
    text, naive = optimized or "", item.instruction
    family = benchmark_family(item.benchmark)
    gold = item.gold.strip()
    number = gsm8k_gold_number(gold) if family == "gsm8k" else None
    if family == "bbh" and re.fullmatch(r"-?\d[\d,]*", gold):
        number = gsm8k_gold_number(gold)
    if number is not None:
        return number in numbers_in(text) and number not in numbers_in(naive)
    letter = gold_letter(gold) if (family != "bbh" or re.fullmatch(r"\([A-Z]\)", gold)) else None
    if letter is not None:
        stated = re.search(
            rf"(?:answer|option|choice)\s*(?:is|:|=)?\s*\(?{letter}\)?(?![A-Za-z])", text
        )
        if stated:
            return True
        if item.kind == "multiple_choice":
            option = item.options[ord(letter) - ord("A")].strip().lower()
            return len(option) > 3 and option in text.lower() and option not in naive.lower()
        return False
    target = re.escape(gold.lower())
    if re.search(rf"answer\s*(?:is|:)\s*\W*{target}(?![a-z])", text.lower()):
        return True
    return " " in gold and gold.lower() in text.lower() and gold.lower() not in naive.lower()
