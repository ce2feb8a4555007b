"""The model as its own judge: which of two prompts (slot A or B) does it prefer?

IPL keeps a rewritten prompt only when the model, shown the discriminator template, prefers
it. The decision is read from the first answer token: the next-token log-probability of
``A`` against ``B`` after the prompt. That is the greedy answer restricted to the two legal
letters, so it never fails to parse and costs one forward pass instead of a generation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

LETTERS = ("A", "B")


def letter_token_ids(tokenizer: PreTrainedTokenizerBase) -> tuple[int, int]:
    """First token id of ``A`` and of ``B`` as the model would write them first."""
    ids = []
    for letter in LETTERS:
        encoded = tokenizer(letter, add_special_tokens=False).input_ids
        if not encoded:
            raise ValueError(f"the tokenizer cannot encode {letter!r}")
        ids.append(encoded[0])
    if ids[0] == ids[1]:
        raise ValueError(
            "A and B share their first token: the first-token judge cannot tell them apart"
        )
    return ids[0], ids[1]


@torch.inference_mode()
def judge_letters(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    batch_size: int = 8,
) -> list[str]:
    """``"A"`` or ``"B"`` per (already wrapped) discriminator prompt."""
    id_a, id_b = letter_token_ids(tokenizer)
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    letters: list[str] = []
    for start in range(0, len(prompts), batch_size):
        batch = list(prompts[start : start + batch_size])
        encoded = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False)
        logits = model(**encoded.to(model.device)).logits[:, -1, :]
        letters += [
            "A" if a >= b else "B" for a, b in zip(logits[:, id_a], logits[:, id_b], strict=True)
        ]
    model.train(was_training)
    return letters


def judge_accuracy(predicted: Sequence[str], expected: Sequence[str]) -> float | None:
    """Share of predictions equal to the expected letter; ``None`` for an empty slice."""
    if not expected:
        return None
    hits = sum(p == e.strip() for p, e in zip(predicted, expected, strict=True))
    return hits / len(expected)
