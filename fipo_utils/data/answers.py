"""How benchmark items state their gold answers, and the numbers in a text.

Reading a gold answer is a fact about the data, needed before any model answers: the
optimizer's cheating check (inference, 05) looks for the gold in a rewritten prompt, and
answer checking (evaluation, 06) compares a prediction with it. Both use these functions.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NUMBER = re.compile(r"-?\$?\s?\d[\d,]*(?:\.\d+)?|-?\$?\s?\.\d+")


def parse_number(text: str) -> Decimal | None:
    """``"$1,234.50"`` -> ``Decimal("1234.50")``; ``None`` when it is not a number."""
    cleaned = text.replace(",", "").replace("$", "").replace(" ", "").rstrip(".")
    if not cleaned or cleaned in {"-", "."}:
        return None
    try:
        return Decimal(cleaned)
    except (InvalidOperation, ValueError):
        return None


def numbers_in(text: str) -> list[Decimal]:
    values = []
    for match in _NUMBER.finditer(text):
        value = parse_number(match.group(0))
        if value is not None:
            values.append(value)
    return values


def gsm8k_gold_number(gold: str | int | float) -> Decimal | None:
    """The number after ``####`` in a GSM8K solution (or the value itself)."""
    if isinstance(gold, int | float):
        return Decimal(str(gold))
    text = str(gold)
    tail = text.rsplit("####", 1)[1] if "####" in text else text
    found = numbers_in(tail)
    return found[-1] if found else None


def gold_letter(gold: str | int) -> str | None:
    """A multiple-choice gold given as a letter ("B", "(B)") or a 0-based index (1, "1")."""
    if isinstance(gold, bool):
        return None
    if isinstance(gold, int):
        return LETTERS[gold] if 0 <= gold < 26 else None
    text = str(gold).strip().strip("()").strip()
    if text.isdigit():
        index = int(text)
        return LETTERS[index] if index < 26 else None
    return text.upper() if len(text) == 1 and text.upper() in LETTERS else None
