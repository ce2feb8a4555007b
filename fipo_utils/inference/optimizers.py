"""The optimizers inference offers by itself: the control, FIPO optimizers and the BPO-style
rewriter. Importing this module registers them (:mod:`fipo_utils.inference.registry`).

* ``identity``: the naive instruction unchanged. Its gain is 0 by construction, so every
  table has a row that measures nothing but the scoring.
* ``neutral-preface``: the naive instruction behind a fixed sentence that asks for nothing
  (:data:`NEUTRAL_PREFACE`). The tester answers it anew, so its gain measures how far a
  harmless change of bytes moves the tester: the yardstick for "every rewrite lowers this
  tester" against "this optimizer writes bad prompts".
* the FIPO family (every unregistered name): ``auto`` (the run's most advanced trained
  checkpoint, else the base), ``base`` (the untrained optimizer base with the FIPO template),
  a checkpoint name of the run, a path or a hub id.
* ``bpo-style``: a fixed "expert prompt engineer" request to a general model
  (:mod:`fipo_utils.inference.rewriters`), BPO's inference without BPO's training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fipo_utils.data.benchmarks import BenchmarkItem
from fipo_utils.data.template import Template, load_template
from fipo_utils.inference.optimize import clean_optimized, optimize_prompts
from fipo_utils.inference.questions import rewrite_questions
from fipo_utils.inference.registry import (
    OptimizerContext,
    OptimizerKind,
    PromptOptimizer,
    Rewrite,
    register_fipo_family,
    register_optimizer,
    resolve_optimizer,
)
from fipo_utils.inference.rewriters import BPO_INSTRUCTION, rewrite_outputs
from fipo_utils.models.generate import GenerationParams
from fipo_utils.models.generators import Generator


def generated_tokens(generator: Generator, text: str) -> int:
    """How many tokens a model generated for ``text`` (to spot replies cut at the limit)."""
    return len(generator.tokenizer(text, add_special_tokens=False).input_ids)


@dataclass
class IdentityOptimizer:
    """The naive instruction as its own rewrite."""

    name: str
    source: str = "the naive prompt unchanged (control)"
    kind: OptimizerKind = OptimizerKind.IDENTITY
    trained: bool = False
    generator: Generator | None = None

    def rewrite(self, items: Sequence[BenchmarkItem]) -> list[Rewrite]:
        return [Rewrite(prompt=item.instruction) for item in items]

    def close(self) -> None:
        return None


# Says nothing about the task and asks for nothing: any change it causes is sensitivity.
NEUTRAL_PREFACE = "Here is the task."


@dataclass
class NeutralPrefaceOptimizer:
    """The naive instruction behind :data:`NEUTRAL_PREFACE`: new bytes, the same meaning."""

    name: str
    source: str = f"the naive prompt behind {NEUTRAL_PREFACE!r} (sensitivity control)"
    kind: OptimizerKind = OptimizerKind.CONTROL
    trained: bool = False
    generator: Generator | None = None

    def rewrite(self, items: Sequence[BenchmarkItem]) -> list[Rewrite]:
        return [Rewrite(prompt=f"{NEUTRAL_PREFACE} {item.instruction}") for item in items]

    def close(self) -> None:
        return None


@dataclass
class ModelOptimizer:
    """What the optimizers that rewrite with one model share: the model, opened on first use
    and released by :meth:`close`."""

    name: str
    source: str  # model path or id
    context: OptimizerContext = field(repr=False)
    generator: Generator | None = field(default=None, init=False)

    def model(self) -> Generator:
        if self.generator is None:
            self.generator = self.context.open_generator(self.source)
        return self.generator

    def close(self) -> None:
        if self.generator is not None:
            self.generator.close()


@dataclass
class FipoOptimizer(ModelOptimizer):
    """A FIPO optimizer: the meta-template around the naive instruction, one reply each.

    ``params`` overrides the context's decoding (a selector samples candidates with it)."""

    kind: OptimizerKind = OptimizerKind.TRAINED
    trained: bool = True
    params: GenerationParams | None = None

    def rewrite(self, items: Sequence[BenchmarkItem]) -> list[Rewrite]:
        return rewrite_questions(items, self.rewrite_texts, self.context.keep_options)

    def rewrite_texts(
        self,
        texts: Sequence[str],
        params: GenerationParams | None = None,
        *,
        responses: Sequence[str | None] | None = None,
        ground_truths: Sequence[str | None] | None = None,
    ) -> list[Rewrite]:
        """Rewrite plain instructions; ``responses`` and ``ground_truths`` fill the template's
        silver and golden slots (the training-time forms; benchmarks pass neither)."""
        generator = self.model()
        found = optimize_prompts(
            generator,
            texts,
            template=_template(self.context),
            fmt=self.context.prompt_format,
            params=params or self.params or self.context.params,
            word_limit=self.context.word_limit,
            responses=responses,
            ground_truths=ground_truths,
            stop_at_labels=self.context.stop_at_labels,
        )
        return [
            Rewrite(
                prompt=result.prompt,
                raw_output=result.raw_output,
                fell_back=result.fell_back,
                word_limit=result.word_limit,
                n_tokens=generated_tokens(generator, result.raw_output),
            )
            for result in found
        ]


@dataclass
class BpoStyleOptimizer(ModelOptimizer):
    """The BPO-style rewriter: a fixed request wraps the instruction."""

    kind: OptimizerKind = OptimizerKind.REWRITER
    trained: bool = False

    def rewrite(self, items: Sequence[BenchmarkItem]) -> list[Rewrite]:
        return rewrite_questions(items, self.rewrite_texts, self.context.keep_options)

    def rewrite_texts(self, naive: Sequence[str]) -> list[Rewrite]:
        generator = self.model()
        found = rewrite_outputs(
            generator,
            naive,
            fmt=self.context.prompt_format,
            params=self.context.rewriter_params or self.context.params,
            instruction=self.context.rewriter_instruction or BPO_INSTRUCTION,
        )
        return [
            Rewrite(
                prompt=new,
                raw_output=raw,
                fell_back=not clean_optimized(raw),
                n_tokens=generated_tokens(generator, raw),
            )
            for new, raw in found
        ]


def _template(context: OptimizerContext) -> Template:
    if context.template is None:
        context.template = load_template(None)
    return context.template


@register_optimizer(
    "identity", kind=OptimizerKind.IDENTITY, summary="the naive prompt unchanged (control)"
)
def build_identity(name: str, context: OptimizerContext) -> PromptOptimizer:
    return IdentityOptimizer(name)


@register_optimizer(
    "neutral-preface",
    kind=OptimizerKind.CONTROL,
    summary="the naive prompt behind a fixed neutral sentence (prompt-sensitivity control)",
)
def build_neutral_preface(name: str, context: OptimizerContext) -> PromptOptimizer:
    return NeutralPrefaceOptimizer(name)


@register_optimizer(
    "bpo-style",
    kind=OptimizerKind.REWRITER,
    summary="the BPO-style rewriter (fixed expert-prompt-engineer request)",
)
def build_bpo_style(name: str, context: OptimizerContext) -> PromptOptimizer:
    return BpoStyleOptimizer(name, context.rewriter_model or context.base_model, context)


@register_fipo_family
def build_fipo(name: str, context: OptimizerContext) -> PromptOptimizer:
    return fipo_optimizer(name, context)


def fipo_optimizer(spec: str, context: OptimizerContext, **fields: Any) -> FipoOptimizer:
    """A FIPO optimizer as its own type, for selectors that sample from it; ``fields``
    (``name``, ``params``) override the resolved ones."""
    resolved, source = resolve_optimizer(context.run_dir, spec, context.base_model)
    optimizer = FipoOptimizer(resolved, source, context, trained=source != context.base_model)
    return replace(optimizer, **fields)
