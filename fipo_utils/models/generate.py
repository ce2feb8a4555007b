"""Text generation behind one small interface, so training (IPL), inference and evaluation
share the same batching and the same decoding settings.

This module holds the transformers backend. Prompts are complete model inputs (already
wrapped in the chat format they need): wrapping is the template module's job, so the
exact bytes a model sees are decided in one place. Turning those bytes into token ids (the
special tokens training added, an option letter's token in context) is
:mod:`fipo_utils.models.encoding`'s job, shared with the vLLM backend and the IPL judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase, StoppingCriteria

from fipo_utils.models.encoding import encode_like_training, option_targets
from fipo_utils.models.window import capped_new_tokens, model_window
from fipo_utils.runs.kernel_output import progress_shown


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings; ``temperature == 0`` means greedy (the smoke default).

    The paper samples at temperature 0.8 and top-p 0.95 (the ``paper`` profile).
    """

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 2024
    # Generation ends at the first of these strings, which is not part of the output (as
    # vLLM's ``stop``); a rewrite stops at the template's next label instead of looping.
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop", tuple(self.stop))

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def as_dict(self) -> dict:
        """The settings as a cache key; no stop strings leaves the key as it was without the
        field, so completions cached before stop strings existed are still found."""
        values = asdict(self)
        if not self.stop:
            del values["stop"]
        else:
            values["stop"] = list(self.stop)
        return values


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the earliest stop string. :class:`StopInGenerated` ends decoding on one
    but keeps it in the output; vLLM leaves it out: this makes both read the same."""
    ends = [text.find(s) for s in stop if s and s in text]
    return text[: min(ends)] if ends else text


class StopInGenerated(StoppingCriteria):
    """Ends a row once its generated text contains a stop string, as vLLM's ``stop`` does.

    transformers' own ``stop_strings`` also match a stop string that begins in the prompt: a
    chat prompt ends on a newline, so the stop ``"\\nGolden Prompt:"`` would end a reply that
    opens with ``Golden Prompt:``. Only the last tokens are decoded each step (enough to hold
    the longest stop string), so the check stays cheap for long replies.
    """

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, stop: Sequence[str], prompt_length: int
    ) -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.prompt_length = prompt_length
        # a token decodes to at least one character, so this many hold any stop string
        self.window = max((len(s) for s in self.stop), default=0) + 1

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        start = max(self.prompt_length, input_ids.shape[1] - self.window)
        tails = self.tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=True)
        found = [any(s in tail for s in self.stop) for tail in tails]
        return torch.tensor(found, dtype=torch.bool, device=input_ids.device)


class TransformersGenerator:
    """Batched generation with left padding; batches are formed from prompts of similar
    length so short prompts do not pay for a long neighbour's padding."""

    backend = "transformers"

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        batch_size: int = 8,
        show_progress: bool = False,
    ) -> None:
        # Any: transformers' annotations make ``generate`` and ``generate_batch`` look like
        # tensors to mypy (PreTrainedModel's ``__getattr__`` returns a Tensor or Module)
        self.model: Any = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.show_progress = show_progress
        self._capped: set[int] = set()  # budgets already said to be capped
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"

    def close(self) -> None:
        """Nothing to stop: the weights belong to the model pool (``fipo_utils.models.pool``),
        which frees them on eviction."""

    def _scorer(self) -> Any:
        """The shared-prefix scorer (``fipo_utils.models.loglikelihood``), made once: its
        prefix cache carries a benchmark's few-shot context from one call to the next."""
        from fipo_utils.models.loglikelihood import ContinuationScorer

        if getattr(self, "_continuations", None) is None:
            self._continuations = ContinuationScorer(self.model, self.tokenizer, self.batch_size)
        return self._continuations

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        """Continuation scoring (``fipo_utils.models.loglikelihood``), prefixes shared."""
        return self._scorer().score(requests)

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[str]:
        """Return one completion per prompt, in the order given, special tokens removed."""
        if not prompts:
            return []
        lengths = [len(encode_like_training(self.tokenizer, p)) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: lengths[i])
        outputs: list[str | None] = [None] * len(prompts)
        batches = range(0, len(order), self.batch_size)
        for start in tqdm(
            batches, desc="generate", disable=not (self.show_progress and progress_shown())
        ):
            index = order[start : start + self.batch_size]
            texts = self._generate_batch([prompts[i] for i in index], params)
            for i, text in zip(index, texts, strict=True):
                outputs[i] = text
        return [text or "" for text in outputs]

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[str], params: GenerationParams) -> list[str]:
        encoded = self.tokenizer.pad(
            {"input_ids": [encode_like_training(self.tokenizer, p) for p in prompts]},
            padding=True,
            return_tensors="pt",
        ).to(self.model.device)
        kwargs: dict = {
            "max_new_tokens": self._budget(params.max_new_tokens, encoded["input_ids"].shape[1]),
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if params.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            torch.manual_seed(params.seed)
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        if params.stop:
            prompt_length = encoded["input_ids"].shape[1]
            kwargs["stopping_criteria"] = [
                StopInGenerated(self.tokenizer, params.stop, prompt_length)
            ]
        generated = self.model.generate(**encoded, **kwargs)
        new_tokens = generated[:, encoded["input_ids"].shape[1] :]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [cut_at_stop(text, params.stop) for text in texts]

    def _budget(self, requested: int, prompt_tokens: int) -> int:
        """``requested`` capped at the model's window; the cap is said once per budget."""
        log = None if requested in self._capped else print
        capped = capped_new_tokens(requested, model_window(self.model.config), prompt_tokens, log)
        if capped < requested:
            self._capped.add(requested)
        return capped

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> list[list[float]]:
        """Log-probability of each option (e.g. the letters ``A``-``D``) as the next token.

        Multiple-choice benchmarks are scored by the highest of these, as the original scripts
        read the answer letter (the paper, §3.1.2, names strict answer templates and accuracy). The
        token scored is the one the tokenizer produces for the option right after the prompt
        (``fipo_utils.models.encoding.option_targets``), only the item's own options compete.
        Each letter is a one-token continuation of its context, scored on the shared-prefix
        path: a prompt's letters are one row, and the prompts' common few-shot prefix runs
        once (``encoding.score_options`` is the plain forward pass it equals).
        """
        per_prompt = [option_targets(self.tokenizer, prompt, options) for prompt in prompts]
        requests = [(context, [token]) for targets in per_prompt for context, token in targets]
        flat = iter(self._scorer().score_tokens(requests))
        return [[next(flat) for _ in targets] for targets in per_prompt]
