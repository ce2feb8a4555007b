"""What APE and OPRO share: the budget, answering and scoring on dev, candidate cleaning.

A candidate instruction is scored by the tester answering every dev item under it (the same
prompt rendering and answer checking as evaluation, ``fipo_utils.evaluation.scoring``);
its score is the dev accuracy. Scores are memoised per search, so a candidate proposed twice
costs one scoring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fipo_utils.baselines.search.split import SearchSplit, short_answer, with_instruction
from fipo_utils.data.benchmarks import BenchmarkItem, render_prompt
from fipo_utils.data.template import wrap_prompt
from fipo_utils.evaluation.scoring import is_correct
from fipo_utils.inference.optimize import clean_optimized
from fipo_utils.models.generate import GenerationParams

MAX_INSTRUCTION_CHARS = 400
# Labels small proposers put before their answer ("New instruction:", "Variation:").
_LABEL = re.compile(
    r"^\s*(?:(?:new|rephrased|rewritten|improved|the)\s+)?(?:instruction|variation)\s*:\s*", re.I
)


@dataclass(frozen=True)
class SearchBudget:
    """Profile keys ``baselines.search`` (docs/baselines.md): how much a search may spend."""

    n_demos: int = 3  # demonstrations shown to the proposer
    dev_size: int = 4  # dev items each candidate is scored on
    n_candidates: int = 3  # APE: instructions proposed
    resample_rounds: int = 0  # APE: rounds of variations of the best candidate
    n_steps: int = 2  # OPRO: meta-prompt iterations
    per_step: int = 2  # OPRO: instructions proposed per step
    keep_top: int = 5  # OPRO: best instructions shown in the meta-prompt
    propose_max_new_tokens: int = 48
    temperature: float = 1.0  # proposals are sampled (seeded): greedy would repeat itself
    top_p: float = 0.95

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> SearchBudget:
        known = cls.__dataclass_fields__
        unknown = sorted(
            set(settings) - set(known) - {"tasks", "proposer", "n_items", "cache_generations"}
        )
        if unknown:
            raise ValueError(f"baselines.search: unknown keys {unknown}; known: {sorted(known)}")
        return cls(**{k: v for k, v in settings.items() if k in known})

    def proposal_params(self, seed: int) -> GenerationParams:
        return GenerationParams(self.propose_max_new_tokens, self.temperature, self.top_p, seed)


@dataclass(frozen=True)
class SearchInputs:
    """What one search (APE or OPRO) works with: the proposer model, the dev scorer (the
    tester), the task's split, the budget, the proposer's chat format and the seed."""

    proposer: Any
    scorer: DevScorer
    split: SearchSplit
    budget: SearchBudget
    fmt: str
    seed: int


@dataclass
class SearchResult:
    """A search's outcome: the best instruction, its dev score and every scored candidate."""

    method: str
    best_instruction: str
    best_dev_accuracy: float
    candidates: list[dict[str, Any]] = field(default_factory=list)


def answer_items(
    generator: Any,
    items: list[BenchmarkItem],
    questions: list[str],
    fmt: str,
    params: GenerationParams,
) -> list[tuple[str, str]]:
    """(tester input, answer) per item, the item's question replaced by ``questions``."""
    prompts = [
        wrap_prompt(render_prompt(item, text), fmt, generator.tokenizer)
        for item, text in zip(items, questions, strict=True)
    ]
    return list(zip(prompts, generator.generate(prompts, params), strict=True))


class DevScorer:
    """Dev accuracy of instructions with one tester, memoised by instruction text."""

    def __init__(self, tester: Any, split: SearchSplit, fmt: str, params: GenerationParams) -> None:
        self.tester, self.split, self.fmt, self.params = tester, split, fmt, params
        self.scores: dict[str, float] = {}

    def __call__(self, instruction: str) -> float:
        if instruction not in self.scores:
            dev = self.split.dev
            answers = answer_items(
                self.tester,
                dev,
                [with_instruction(i, instruction) for i in dev],
                self.fmt,
                self.params,
            )
            right = [
                is_correct(item.benchmark, prediction, item.gold)
                for item, (_, prediction) in zip(dev, answers, strict=True)
            ]
            self.scores[instruction] = sum(right) / len(right)
        return self.scores[instruction]


def demonstrations(items: list[BenchmarkItem]) -> str:
    """Input/answer pairs as the proposer reads them."""
    return "\n\n".join(f"Input: {item.instruction}\nAnswer: {short_answer(item)}" for item in items)


def clean_instruction(raw: str) -> str:
    """The instruction in a proposer's reply: its first non-empty line after label and quote
    removal, cut at a sentence end near ``MAX_INSTRUCTION_CHARS``; "" when nothing is left."""
    text = clean_optimized(raw)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    line = clean_optimized(_LABEL.sub("", clean_optimized(lines[0])))
    if len(line) > MAX_INSTRUCTION_CHARS:
        cut = line[:MAX_INSTRUCTION_CHARS]
        end = max(cut.rfind(". "), cut.rfind("? "), cut.rfind("! "))
        line = cut[: end + 1] if end > 0 else cut
    return re.sub(r"\s+", " ", line).strip()


def propose(
    proposer: Any, requests: list[str], fmt: str, budget: SearchBudget, seed: int
) -> list[str]:
    """One sampled reply per request, each with its own seed, cleaned to an instruction."""
    replies = []
    for k, request in enumerate(requests):
        wrapped = wrap_prompt(request, fmt, proposer.tokenizer)
        replies.extend(proposer.generate([wrapped], budget.proposal_params(seed + k)))
    return [clean_instruction(reply) for reply in replies]
