"""The baselines' optimizers, registered with the one optimizer registry on import.

* ``fipo-single``: one greedy rewrite by the FIPO optimizer the step names (plain FIPO,
  notebook 08's reference row);
* ``oirl-best-of-n`` (selector): Prompt-OIRL's fixed prompts appended to the question, the
  offline reward model choosing one per question;
* ``fipo-x-oirl`` (selector): N sampled FIPO rewrites per question, the reward model keeping
  the best;
* ``ape`` and ``opro`` (search): one instruction per task, searched on dev items with one
  tester (:mod:`fipo_utils.baselines.search`), put in front of every test item.

Selectors need the step's ``reward`` (a :class:`~.oirl.reward_model.RewardModel`) and, for
Prompt-OIRL, ``oirl_prompts`` in ``context.resources``; searchers need ``proposer``,
``scorer``, ``split``, ``budget`` and ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fipo_utils.baselines.oirl.rerank import choose_best, score_candidates
from fipo_utils.baselines.search.ape import run_ape
from fipo_utils.baselines.search.candidates import SearchInputs, SearchResult
from fipo_utils.baselines.search.opro import run_opro
from fipo_utils.baselines.search.split import with_instruction
from fipo_utils.data.benchmarks import BenchmarkItem
from fipo_utils.inference.optimizers import FipoOptimizer, fipo_optimizer
from fipo_utils.inference.registry import (
    OptimizerContext,
    OptimizerKind,
    PromptOptimizer,
    Rewrite,
    register_optimizer,
)
from fipo_utils.models.generate import GenerationParams
from fipo_utils.models.generators import Generator


@register_optimizer(
    "fipo-single",
    kind=OptimizerKind.TRAINED,
    summary="one greedy rewrite by the step's FIPO optimizer",
)
def build_fipo_single(name: str, context: OptimizerContext) -> PromptOptimizer:
    return fipo_optimizer(context.fipo_spec, context, name=name)


@dataclass
class OirlBestOfN:
    """Prompt-OIRL: per question, the fixed prompt the reward model scores highest."""

    name: str
    context: OptimizerContext = field(repr=False)
    source: str = "Prompt-OIRL's prompts, chosen per question by the offline reward model"
    kind: OptimizerKind = OptimizerKind.SELECTOR
    trained: bool = False
    generator: Generator | None = None

    def rewrite(self, items: Sequence[BenchmarkItem]) -> list[Rewrite]:
        prompts: list[str] = list(self.context.resource("oirl_prompts"))
        questions = [item.instruction for item in items]
        scores = score_candidates(
            self.context.resource("reward"), questions, [prompts] * len(items)
        )
        return [
            Rewrite(
                prompt=f"{question}\n{prompts[k]}",
                details={"oirl_prompt": prompts[k], "oirl_scores": [float(x) for x in s]},
            )
            for question, k, s in zip(questions, choose_best(scores), scores, strict=True)
        ]

    def close(self) -> None:
        return None


@dataclass
class FipoTimesOirl:
    """FIPO x OIRL: ``n_candidates`` sampled FIPO rewrites per question, the reward model
    keeping the best (the first on a tie)."""

    name: str
    fipo: FipoOptimizer
    n_candidates: int
    temperature: float
    top_p: float
    context: OptimizerContext = field(repr=False)
    kind: OptimizerKind = OptimizerKind.SELECTOR
    trained: bool = False

    @property
    def source(self) -> str:
        return self.fipo.source

    @property
    def generator(self) -> Generator | None:
        return self.fipo.generator

    def rewrite(self, items: Sequence[BenchmarkItem]) -> list[Rewrite]:
        questions = [item.instruction for item in items]
        base = self.context.params
        samples = [
            self.fipo.rewrite_texts(
                questions,
                GenerationParams(base.max_new_tokens, self.temperature, self.top_p, base.seed + k),
            )
            for k in range(self.n_candidates)
        ]
        candidates = [[sample[i].prompt for sample in samples] for i in range(len(items))]
        scores = score_candidates(self.context.resource("reward"), questions, candidates)
        return [
            Rewrite(
                prompt=group[k],
                details={"candidates": group, "scores": [float(x) for x in s]},
            )
            for group, k, s in zip(candidates, choose_best(scores), scores, strict=True)
        ]

    def close(self) -> None:
        self.fipo.close()


@register_optimizer(
    "fipo-x-oirl",
    kind=OptimizerKind.SELECTOR,
    summary="N sampled FIPO rewrites per question, the reward model keeps the best",
)
def build_fipo_x_oirl(name: str, context: OptimizerContext) -> PromptOptimizer:
    sampling = context.resource("sampling")
    return FipoTimesOirl(
        name,
        fipo_optimizer(context.fipo_spec, context),
        int(sampling["n_candidates"]),
        float(sampling["temperature"]),
        float(sampling["top_p"]),
        context,
    )


@register_optimizer(
    "oirl-best-of-n",
    kind=OptimizerKind.SELECTOR,
    summary="Prompt-OIRL: the reward model picks one of its fixed prompts per question",
)
def build_oirl_best_of_n(name: str, context: OptimizerContext) -> PromptOptimizer:
    return OirlBestOfN(name, context)


Search = Callable[[SearchInputs], SearchResult]


@dataclass
class SearchedInstruction:
    """APE or OPRO: one instruction searched on the split's dev items with the step's
    tester, then put in front of every item (``result`` keeps every scored candidate)."""

    name: str
    search: Search
    context: OptimizerContext = field(repr=False)
    kind: OptimizerKind = OptimizerKind.SEARCH
    trained: bool = False
    generator: Generator | None = None
    result: SearchResult | None = None

    @property
    def source(self) -> str:
        return f"{self.name} search on dev items"

    def rewrite(self, items: Sequence[BenchmarkItem]) -> list[Rewrite]:
        context = self.context
        self.result = self.search(
            SearchInputs(
                proposer=context.resource("proposer"),
                scorer=context.resource("scorer"),
                split=context.resource("split"),
                budget=context.resource("budget"),
                fmt=context.prompt_format,
                seed=int(context.resource("seed")),
            )
        )
        best = self.result.best_instruction
        details = {"best_instruction": best, "dev_accuracy": self.result.best_dev_accuracy}
        return [Rewrite(prompt=with_instruction(item, best), details=details) for item in items]

    def close(self) -> None:
        return None


def _searcher(search: Search) -> Callable[[str, OptimizerContext], PromptOptimizer]:
    def build(name: str, context: OptimizerContext) -> PromptOptimizer:
        return SearchedInstruction(name, search, context)

    return build


register_optimizer(
    "ape", kind=OptimizerKind.SEARCH, summary="APE: instructions induced from demonstrations"
)(_searcher(run_ape))
register_optimizer(
    "opro", kind=OptimizerKind.SEARCH, summary="OPRO: a meta-prompt of scored instructions"
)(_searcher(run_opro))


def searched_candidates(optimizer: PromptOptimizer) -> list[dict[str, Any]]:
    """Every candidate a search optimizer scored (none for other kinds)."""
    result = getattr(optimizer, "result", None)
    return list(result.candidates) if result is not None else []
