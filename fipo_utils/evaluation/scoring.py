"""Answer extraction and checking for the five benchmarks.

FIPO's repository has no scoring code, so the rules are the companion's own. Generation
benchmarks (GSM8K, BBH) are judged two ways (``SCORINGS``):

* ``strict`` - only the answer template the few-shot examples teach, "The answer is X"
  (FIPO §3.1.2 reports accuracy with such strict templates): an answer in any other
  phrasing is wrong. Strict is the primary scoring, the one compared with published numbers.
* ``lenient`` - the template first, then looser cues ("Answer:", "####", the last number, the
  last option letter), so a model that answers correctly in another phrasing is not marked
  wrong. Small models rarely keep the template, so the gap between the two is worth seeing.

Every function takes arbitrary text and never raises on it: a model can emit anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from fipo_utils.data.answers import (
    LETTERS,
    gold_letter,
    gsm8k_gold_number,
    numbers_in,
    parse_number,
)
from fipo_utils.data.benchmarks import benchmark_family
from fipo_utils.runs.settings import EvaluateSettings

# A continuation that starts a new few-shot question belongs to no answer.
_NEXT_QUESTION = re.compile(r"\n\s*(?:Q|Question)\s*:", re.IGNORECASE)
_ANSWER_IS = re.compile(
    r"(?:the\s+)?(?:final\s+)?answer\s*(?:is|:|=)\s*:?\s*(?P<rest>[^\n]*)", re.IGNORECASE
)
_THE_ANSWER_IS = re.compile(r"the\s+answer\s+is\s*:?\s*(?P<rest>[^\n]*)", re.IGNORECASE)
SCORINGS = ("strict", "lenient")
_PAREN_LETTER = re.compile(r"\(([A-Z])\)")
_LEADING_LETTER = re.compile(r"^\s*\(?([A-Z])(?:\)|\.|:|,|\s*$|\s*\n)")
_BOOLEAN_WORDS = {"true", "false", "yes", "no", "valid", "invalid"}


def first_answer_span(text: str) -> str:
    """The model's answer to the current question: text before it invents the next one."""
    text = text if isinstance(text, str) else ("" if text is None else str(text))
    match = _NEXT_QUESTION.search(text)
    return text[: match.start()] if match and match.start() > 0 else text


def last_answer_phrase(text: str, strict: bool = False) -> str | None:
    """What follows the last "the answer is" / "Answer:" in the text, if anything does;
    ``strict`` accepts only "the answer is"."""
    matches = list((_THE_ANSWER_IS if strict else _ANSWER_IS).finditer(text))
    for match in reversed(matches):
        rest = match.group("rest").strip()
        if rest:
            return rest
    return None


def extract_number(prediction: str, strict: bool = False) -> Decimal | None:
    """GSM8K-style numeric answer: after "The answer is" or "####", else the last number;
    ``strict``: only the first number after "The answer is"."""
    span = first_answer_span(prediction)
    phrase = last_answer_phrase(span, strict)
    if phrase is not None:
        found = numbers_in(phrase)
        if found:
            return found[0]
    if strict:
        return None
    if "####" in span:
        found = numbers_in(span.rsplit("####", 1)[1])
        if found:
            return found[0]
    found = numbers_in(span)
    return found[-1] if found else None


def extract_choice_letter(prediction: str, n_options: int = 26) -> str | None:
    """The option letter a free-text answer picks ("The answer is (B).", "B.", "(C)")."""
    span = first_answer_span(prediction)
    allowed = LETTERS[: max(1, min(n_options, 26))]
    phrase = last_answer_phrase(span)
    if phrase is not None:
        match = _PAREN_LETTER.search(phrase) or _LEADING_LETTER.match(phrase)
        if match and match.group(1) in allowed:
            return match.group(1)
    match = _LEADING_LETTER.match(span)
    if match and match.group(1) in allowed:
        return match.group(1)
    letters = [m for m in _PAREN_LETTER.findall(span) if m in allowed]
    return letters[-1] if letters else None


def _normalize_free_text(text: str) -> str:
    text = text.strip().strip("*").strip()
    text = text.strip("\"'`")
    text = re.sub(r"\s+", " ", text)
    return text.rstrip(".").strip().lower()


def bbh_is_correct(prediction: str, target: str, strict: bool = False) -> bool:
    """BBH: options ``(X)``, booleans, numbers, and free text (Dyck tails, sorted words);
    ``strict``: judged only on what follows "the answer is"."""
    span = first_answer_span(prediction)
    phrase = last_answer_phrase(span, strict)
    if strict and phrase is None:
        return False
    target_text = str(target).strip()
    option = _PAREN_LETTER.fullmatch(target_text)
    if option:
        if phrase is not None and strict:
            match = _PAREN_LETTER.search(phrase) or _LEADING_LETTER.match(phrase)
            return match is not None and match.group(1) == option.group(1)
        return extract_choice_letter(span) == option.group(1)
    target_number = parse_number(target_text)
    if target_number is not None and re.fullmatch(r"-?[\d,]+(?:\.\d+)?", target_text):
        if phrase is not None:
            found = numbers_in(phrase)
            return bool(found) and found[0] == target_number
        found = numbers_in(span)
        return bool(found) and found[-1] == target_number
    normalized_target = _normalize_free_text(target_text)
    if normalized_target in _BOOLEAN_WORDS:
        candidates = phrase if phrase is not None else span
        words = re.findall(r"[A-Za-z]+", candidates.lower())
        words = [w for w in words if w in _BOOLEAN_WORDS]
        if not words:
            return False
        return (words[0] if phrase is not None else words[-1]) == normalized_target
    if phrase is not None:
        return _normalize_free_text(phrase) == normalized_target
    lines = [line for line in span.strip().splitlines() if line.strip()]
    return bool(lines) and _normalize_free_text(lines[-1]) == normalized_target


def is_correct(benchmark: str, prediction: str, gold: str | int, strict: bool = False) -> bool:
    """Whether a model's raw text answers a benchmark item correctly.

    ``benchmark`` is ``gsm8k``, ``bbh/<task>``, ``mmlu``, ``piqa`` or ``cosmosqa``;
    ``gold`` is the dataset's own field (GSM8K's full solution ending in ``#### N``, BBH's
    target, the letter or 0-based index of the right option). ``strict`` accepts a
    generation benchmark's answer only in the "The answer is X" template (multiple choice
    is unaffected). Never raises on any ``prediction``; an unknown ``benchmark`` name is a
    programming error and raises.
    """
    family = benchmark_family(benchmark)
    if family not in {"gsm8k", "bbh", "mmlu", "piqa", "cosmosqa"}:
        raise ValueError(
            f"unknown benchmark {benchmark!r}: expected gsm8k, bbh/<task>, mmlu, piqa or cosmosqa"
        )
    try:
        text = prediction if isinstance(prediction, str) else str(prediction or "")
        if family == "gsm8k":
            expected = gsm8k_gold_number(gold)
            found = extract_number(text, strict)
            return expected is not None and found is not None and found == expected
        if family == "bbh":
            return bbh_is_correct(text, str(gold), strict)
        expected_letter = gold_letter(gold)
        return expected_letter is not None and extract_choice_letter(text) == expected_letter
    except Exception:  # noqa: BLE001 - a model's text must never crash an evaluation
        return False


def generation_verdicts(benchmark: str, prediction: str, gold: str | int) -> dict[str, bool]:
    """Every scoring's verdict on a generation benchmark's answer, ``{"strict", "lenient"}``."""
    return {
        "strict": is_correct(benchmark, prediction, gold, strict=True),
        "lenient": is_correct(benchmark, prediction, gold),
    }


def generation_scoring(settings: EvaluateSettings | Mapping[str, Any]) -> str:
    """The primary scoring of generation benchmarks from a step's ``scoring`` key (typed
    settings or a section's mapping)."""
    if isinstance(settings, EvaluateSettings):
        scoring = settings.scoring
    else:
        scoring = settings.get("scoring", EvaluateSettings.scoring)
    if scoring not in SCORINGS:
        raise ValueError(f"scoring {scoring!r}: use one of {SCORINGS}")
    return scoring
