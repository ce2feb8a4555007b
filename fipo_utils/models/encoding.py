"""Prompt text -> token ids at inference exactly as training saw it, and option letters as
the model would write them.

Two rules every generation, option-scoring and judge call goes through, whatever the
backend:

* **Special tokens as in training.** trl tokenizes a plain-text prompt with the tokenizer's
  default ``add_special_tokens=True``, so a SentencePiece model (Gemma, Llama 2, Tulu 2)
  trains with ``<bos>`` in front; the original FIPO code also kept the tokenizer's default at
  inference. A prompt rendered by a chat template that already starts with the BOS text is
  encoded without adding another, so there is never a second BOS.
* **An option letter in context.** The token a model emits for ``B`` after ``"...\\n"`` is
  not the token of the string ``"B"`` alone: SentencePiece writes ``▁B`` at the start of a
  text but ``B`` after a newline. The letter's token is therefore read off the encoding of
  prompt + letter: the first token after the part it shares with the encoded prompt. That
  token is scored in the context that precedes it, which is the whole prompt unless the
  letter merges with the prompt's last characters. The letter follows the prompt as its
  answers are written: right after a newline or space (the Tulu ``<|assistant|>\\n`` tag, a
  chat template's turn), after a space when the prompt ends on a cue such as ``Answer:``
  (the few-shot examples read ``Answer: A``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


def starts_with_bos(tokenizer: PreTrainedTokenizerBase, text: str) -> bool:
    """Whether ``text`` already carries the BOS token as text (a chat template wrote it)."""
    bos = tokenizer.bos_token
    return bool(bos) and text.startswith(bos)


def encode_like_training(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Token ids of a complete model input with the special tokens training added (once)."""
    return tokenizer(text, add_special_tokens=not starts_with_bos(tokenizer, text)).input_ids


def adds_special_tokens(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the tokenizer adds tokens of its own to a text (BOS for SentencePiece models).

    Byte-level tokenizers such as SmolLM2's add nothing, so their inference input did not
    change when inference started adding special tokens: cache keys use this to stay valid.
    """
    probe = "A"
    return len(tokenizer(probe).input_ids) != len(
        tokenizer(probe, add_special_tokens=False).input_ids
    )


def common_prefix_length(first: Sequence[int], second: Sequence[int]) -> int:
    """How many leading token ids two encodings share."""
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return length


def answer_spelling(prompt: str, option: str) -> str:
    """The option as written after ``prompt``: bare after whitespace, else after one space."""
    return option if not prompt or prompt[-1].isspace() else " " + option


def option_targets(
    tokenizer: PreTrainedTokenizerBase, prompt: str, options: Sequence[str]
) -> list[tuple[tuple[int, ...], int]]:
    """For each option, the context it is scored in and the token the model would emit.

    The token is the first one where ``encode(prompt + option)`` departs from
    ``encode(prompt)``; the context is everything before it. Raises ``ValueError`` when an
    option adds no token, or when two options share their token in the same context (the
    first-token score could not tell them apart).
    """
    prompt_ids = encode_like_training(tokenizer, prompt)
    targets: list[tuple[tuple[int, ...], int]] = []
    for option in options:
        full = encode_like_training(tokenizer, prompt + answer_spelling(prompt, option))
        shared = common_prefix_length(prompt_ids, full)
        if shared >= len(full):
            raise ValueError(f"option {option!r} adds no token after the prompt {prompt[-40:]!r}")
        targets.append((tuple(full[:shared]), full[shared]))
    if len(set(targets)) != len(targets):
        raise ValueError(
            f"options {list(options)} share their first token after the prompt "
            f"{prompt[-40:]!r}: the first-token score cannot tell them apart"
        )
    return targets


@torch.inference_mode()
def score_options(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    options: Sequence[str],
    batch_size: int = 8,
) -> list[list[float]]:
    """Log-probability of each option's in-context token (``option_targets``) per prompt.

    Contexts are deduplicated, so the usual case (every option continues the whole prompt)
    costs one forward pass per prompt, batched with left padding.
    """
    per_prompt = [option_targets(tokenizer, prompt, options) for prompt in prompts]
    contexts = sorted({context for targets in per_prompt for context, _ in targets}, key=len)
    last_logprobs: dict[tuple[int, ...], torch.Tensor] = {}
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    was_training = model.training
    model.eval()
    for start in range(0, len(contexts), batch_size):
        batch = contexts[start : start + batch_size]
        width = max(len(c) for c in batch)
        ids = torch.tensor([[pad_id] * (width - len(c)) + list(c) for c in batch])
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in batch])
        # Positions count real tokens only, as generate() does with left padding.
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        logits = model(
            input_ids=ids.to(model.device),
            attention_mask=mask.to(model.device),
            position_ids=positions.to(model.device),
            logits_to_keep=1,  # only the next token is scored: skip the vocabulary elsewhere
        )
        logprobs = torch.log_softmax(logits.logits[:, -1, :].float(), dim=-1).cpu()
        for row, context in enumerate(batch):
            last_logprobs[context] = logprobs[row]
    model.train(was_training)
    return [
        [float(last_logprobs[context][token]) for context, token in targets]
        for targets in per_prompt
    ]
