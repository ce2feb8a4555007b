"""Text generation behind one small interface, so training (IPL), inference and evaluation
share the same batching and the same decoding settings.

This module holds the transformers backend. Prompts are complete model inputs (already
wrapped in the chat format they need): wrapping is the template module's job, so the
exact bytes a model sees are decided in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings; ``temperature == 0`` means greedy (the smoke default).

    The paper samples at temperature 0.8 and top-p 0.95 (the ``paper`` profile).
    """

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 2024

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def as_dict(self) -> dict:
        return asdict(self)


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
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.show_progress = show_progress
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"

    def close(self) -> None:
        """Nothing to stop: the weights belong to the model pool (``fipo_utils.models.pool``),
        which frees them on eviction."""

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        """Continuation scoring (``fipo_utils.models.loglikelihood``), prefixes shared."""
        from fipo_utils.models.loglikelihood import ContinuationScorer

        if getattr(self, "_scorer", None) is None:
            self._scorer = ContinuationScorer(self.model, self.tokenizer, self.batch_size)
        return self._scorer.score(requests)

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[str]:
        """Return one completion per prompt, in the order given, special tokens removed."""
        if not prompts:
            return []
        lengths = [len(self.tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: lengths[i])
        outputs: list[str | None] = [None] * len(prompts)
        batches = range(0, len(order), self.batch_size)
        for start in tqdm(batches, desc="generate", disable=not self.show_progress):
            index = order[start : start + self.batch_size]
            texts = self._generate_batch([prompts[i] for i in index], params)
            for i, text in zip(index, texts, strict=True):
                outputs[i] = text
        return [text or "" for text in outputs]

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[str], params: GenerationParams) -> list[str]:
        encoded = self.tokenizer(
            prompts, return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self.model.device)
        kwargs: dict = {
            "max_new_tokens": params.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if params.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            torch.manual_seed(params.seed)
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        generated = self.model.generate(**encoded, **kwargs)
        new_tokens = generated[:, encoded["input_ids"].shape[1] :]
        return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> list[list[float]]:
        """Next-token log-probability of each option (e.g. the letters ``A``-``D``) per prompt.

        Multiple-choice benchmarks are scored by the highest of these (FIPO section 5). An
        option's score is the best of its spellings with and without a leading space, since
        tokenizers split "Answer: B" and "Answer:B" differently.
        """
        if not prompts:
            return []
        variants = [option_token_ids(self.tokenizer, option) for option in options]
        lengths = [len(self.tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: lengths[i])
        scores: list[list[float]] = [[] for _ in prompts]
        batches = range(0, len(order), self.batch_size)
        for start in tqdm(batches, desc="score options", disable=not self.show_progress):
            index = order[start : start + self.batch_size]
            logprobs = self._next_token_logprobs([prompts[i] for i in index])
            for row, i in enumerate(index):
                scores[i] = [max(float(logprobs[row, t]) for t in ids) for ids in variants]
        return scores

    @torch.inference_mode()
    def _next_token_logprobs(self, prompts: list[str]) -> torch.Tensor:
        encoded = self.tokenizer(
            prompts, return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self.model.device)
        logits = self.model(**encoded).logits[:, -1, :].float()
        return torch.log_softmax(logits, dim=-1).cpu()


def option_token_ids(tokenizer: PreTrainedTokenizerBase, option: str) -> list[int]:
    """First token of each spelling of an option (``"B"`` and ``" B"``), duplicates removed."""
    ids: list[int] = []
    for spelling in (option, " " + option):
        tokens = tokenizer(spelling, add_special_tokens=False).input_ids
        if tokens and tokens[0] not in ids:
            ids.append(tokens[0])
    if not ids:
        raise ValueError(f"option {option!r} encodes to no token")
    return ids
