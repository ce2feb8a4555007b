"""Generation lengths bounded by the model's context window.

A token budget past the window (``--max-new-tokens 99999999999``) cannot be generated: a
model with learned positions fails on it, one with rotary positions degrades and
generation runs on without bound. The budget is capped at what the window leaves after the
prompt, with one line saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# config attributes that hold the context window, by model family
_WINDOW_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


def model_window(config: Any) -> int | None:
    """The model's context window in tokens, or ``None`` when its config does not say."""
    for key in _WINDOW_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def capped_new_tokens(
    requested: int,
    window: int | None,
    prompt_tokens: int,
    log: Callable[[str], None] | None = print,
) -> int:
    """``requested``, or what the window leaves after ``prompt_tokens`` (at least 1) when
    that is less; ``log`` gets one line when the budget is capped."""
    if window is None:
        return requested
    room = max(1, window - prompt_tokens)
    if requested <= room:
        return requested
    if log is not None:
        log(
            f"max_new_tokens {requested} is past the model's window of {window} tokens "
            f"(prompt: {prompt_tokens}): capped at {room}"
        )
    return room
