"""The model as its own judge: which of two prompts (slot A or B) does it prefer?

IPL keeps a rewritten prompt only when the model, shown the discriminator template, prefers
it. The decision is read from the first answer token: the log-probability of ``A`` against
``B`` as the token the model would write right after the prompt, scored by the same function
as the multiple-choice benchmarks (``fipo_utils.models.encoding.score_options``). That is the
greedy answer restricted to the two legal letters, so it never fails to parse and costs one
forward pass instead of a generation.
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from fipo_utils.models.encoding import score_options

LETTERS = ("A", "B")


def judge_scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    batch_size: int = 8,
) -> list[tuple[float, float]]:
    """Log-probabilities of ``A`` and ``B`` as the answer to each (already wrapped)
    discriminator prompt: the judge's verdict and how sure it was (IPL records both)."""
    scores = score_options(model, tokenizer, prompts, LETTERS, batch_size=batch_size)
    return [(float(a), float(b)) for a, b in scores]


def verdict(scores: tuple[float, float]) -> str:
    """The letter the judge prefers (``A`` on a tie, as a greedy pick of the first option)."""
    return "A" if scores[0] >= scores[1] else "B"


def judge_letters(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    batch_size: int = 8,
) -> list[str]:
    """``"A"`` or ``"B"`` per (already wrapped) discriminator prompt."""
    return [verdict(s) for s in judge_scores(model, tokenizer, prompts, batch_size)]


def judge_accuracy(predicted: Sequence[str], expected: Sequence[str]) -> float | None:
    """Share of predictions equal to the expected letter; ``None`` for an empty slice."""
    if not expected:
        return None
    hits = sum(p == e.strip() for p, e in zip(predicted, expected, strict=True))
    return hits / len(expected)
