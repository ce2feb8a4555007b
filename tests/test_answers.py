"""Answer checking on realistic model outputs, and property tests that it never raises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fipo_utils.data.answers import gold_letter
from fipo_utils.evaluation.evaluate import is_correct
from fipo_utils.evaluation.scoring import extract_choice_letter, extract_number

GSM8K_GOLD = (
    "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
    "She makes 9 * 2 = $<<9*2=18>>18.\n#### 18"
)
BIG_GOLD = "So the total is 1200 + 34 = <<1200+34=1234>>1234.\n#### 1234"


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("She has 16 - 3 - 4 = 9 eggs left. 9 * 2 = 18. The answer is 18.", True),
        ("The answer is $18.", True),
        ("The answer is 18 dollars.", True),
        ("The answer is: 18", True),
        ("9 eggs are sold for $2 each, so she makes $18 every day.", True),
        ("Let's think step by step. 16 - 3 = 13, 13 - 4 = 9, 9 * 2 = 18\n#### 18", True),
        ("The answer is 18.00.", True),
        ("**The answer is 18**", True),
        ("The answer is 9. She sells 9 eggs for 18 dollars.", False),  # the stated answer wins
        ("She makes 18 dollars.\n\nQ: Tom has 5 apples. How many?\nA: The answer is 5.", True),
        ("She makes 9 * 2 = 19 dollars. The answer is 19.", False),
        ("I don't know.", False),
        ("", False),
        ("The answer is eighteen.", False),
    ],
)
def test_gsm8k(prediction: str, expected: bool) -> None:
    assert is_correct("gsm8k", prediction, GSM8K_GOLD) is expected


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("The answer is 1,234.", True),
        ("The total cost is $1,234.", True),
        ("The answer is 1234 apples.", True),
        ("The answer is 1,243.", False),
        ("12 + 34 = 46. The answer is 46.", False),
    ],
)
def test_gsm8k_commas_and_units(prediction: str, expected: bool) -> None:
    assert is_correct("gsm8k", prediction, BIG_GOLD) is expected


def test_gsm8k_negative_and_decimal_golds() -> None:
    assert is_correct("gsm8k", "The answer is -5.", "... #### -5")
    assert is_correct("gsm8k", "So she pays $2.50 in total. The answer is 2.5", "#### 2.5")
    assert not is_correct("gsm8k", "The answer is 5.", "... #### -5")


@pytest.mark.parametrize(
    ("task", "prediction", "target", "expected"),
    [
        ("date_understanding", "Today is 12/24/1937. So the answer is (B).", "(B)", True),
        ("date_understanding", "So the answer is (C).", "(B)", False),
        ("date_understanding", "The date tomorrow is 12/25/1937, that is (B)", "(B)", True),
        ("date_understanding", "So the answer is B.", "(B)", True),
        ("hyperbaton", "Option (A) is wrong. So the answer is (B).", "(B)", True),
        ("hyperbaton", "Option (A) is right, (B) is wrong. So the answer is (A).", "(B)", False),
        ("boolean_expressions", "not True = False. So the answer is False.", "False", True),
        ("boolean_expressions", "Z = True. So the answer is True.", "False", False),
        ("boolean_expressions", "A = True, B = False, so Z = False", "False", True),
        ("causal_judgement", "He did it on purpose. So the answer is Yes.", "Yes", True),
        ("causal_judgement", "So the answer is no.", "Yes", False),
        ("sports_understanding", "So the answer is yes.", "yes", True),
        (
            "formal_fallacies",
            "The argument is deductively valid. So the answer is valid.",
            "valid",
            True,
        ),
        ("formal_fallacies", "So the answer is invalid.", "valid", False),
        ("object_counting", "1 + 1 + 2 + 4 = 8. So the answer is 8.", "8", True),
        ("object_counting", "I count 7 items. So the answer is 7.", "8", False),
        ("multistep_arithmetic_two", "(-3 - 8) = -11. So the answer is -11.", "-11", True),
        ("multistep_arithmetic_two", "So the answer is 11.", "-11", False),
        ("dyck_languages", "We close them in order. So the answer is ] ].", "] ]", True),
        ("dyck_languages", "So the answer is ] ) ].", "] ]", False),
        (
            "word_sorting",
            "Sorted: So the answer is apple banana cherry.",
            "apple banana cherry",
            True,
        ),
        ("word_sorting", "So the answer is banana apple cherry.", "apple banana cherry", False),
        (
            "web_of_lies",
            "So the answer is Yes.\n\nQ: Does Fidel lie?\nA: So the answer is No.",
            "Yes",
            True,
        ),
        ("ruin_names", "So the answer is (C).", "(C)", True),
        ("movie_recommendation", "So the answer is Monsters, Inc.", "Monsters, Inc", True),
    ],
)
def test_bbh(task: str, prediction: str, target: str, expected: bool) -> None:
    assert is_correct(f"bbh/{task}", prediction, target) is expected


@pytest.mark.parametrize("benchmark", ["mmlu", "piqa", "cosmosqa"])
@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("B", "B", True),
        ("B", 1, True),
        ("B", "1", True),
        (" B", "B", True),
        ("B. Protein kinases", "B", True),
        ("(B)", "B", True),
        ("The answer is (B).", "B", True),
        ("The answer is B", 1, True),
        ("Answer: B", "B", True),
        ("Let's see: option (A) is false, option (C) too. The correct answer is (B).", "B", True),
        ("A", "B", False),
        ("The answer is (A).", 1, False),
        ("A dog would not do that.", "A", False),  # an article is not an option letter
        ("I am not sure.", "B", False),
        ("", "A", False),
    ],
)
def test_multiple_choice(benchmark: str, prediction: str, gold: str | int, expected: bool) -> None:
    assert is_correct(benchmark, prediction, gold) is expected


def test_helpers() -> None:
    assert extract_number("It costs $1,000,000.50 in total.") == extract_number("1000000.5")
    assert extract_number("no digits here") is None
    assert extract_choice_letter("The answer is (E).", n_options=4) is None
    assert gold_letter(0) == "A" and gold_letter("(C)") == "C" and gold_letter("xyz") is None


def test_unknown_benchmark_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown benchmark"):
        is_correct("squad", "x", "y")


@settings(max_examples=300, deadline=None)
@given(
    benchmark=st.sampled_from(
        [
            "gsm8k",
            "bbh/date_understanding",
            "bbh/object_counting",
            "bbh/word_sorting",
            "bbh/boolean_expressions",
            "mmlu",
            "piqa",
            "cosmosqa",
        ]
    ),
    prediction=st.text(),
    gold=st.one_of(st.text(), st.integers(-5, 40), st.sampled_from(["#### 12", "(B)", "True"])),
)
def test_never_raises(benchmark: str, prediction: str, gold: str | int) -> None:
    assert is_correct(benchmark, prediction, gold) in (True, False)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789,.$-() ABanswerIs:\n#Q")), max_size=80))
def test_extractors_never_raise_on_answer_like_text(text: str) -> None:
    extract_number(text)
    extract_choice_letter(text)
    assert is_correct("gsm8k", text, "#### 3") in (True, False)


@pytest.mark.parametrize(
    ("benchmark", "prediction", "gold", "strict", "lenient"),
    [
        ("gsm8k", "She has 18 left. The answer is 18.", "#### 18", True, True),
        ("gsm8k", "She has 18 left.", "#### 18", False, True),
        ("gsm8k", "So #### 18", "#### 18", False, True),
        ("gsm8k", "Answer: 18", "#### 18", False, True),
        ("gsm8k", "the answer is: $18", "#### 18", True, True),
        ("bbh/date_understanding", "So the answer is (B).", "(B)", True, True),
        ("bbh/date_understanding", "It is (B) then.", "(B)", False, True),
        ("bbh/web_of_lies", "Answer: Yes", "Yes", False, True),
        ("bbh/web_of_lies", "So the answer is Yes.", "Yes", True, True),
        ("bbh/word_sorting", "The answer is apple banana.", "apple banana", True, True),
    ],
)
def test_strict_counts_only_the_answer_template_and_lenient_also_looser_cues(
    benchmark: str, prediction: str, gold: str, strict: bool, lenient: bool
) -> None:
    from fipo_utils.evaluation.scoring import generation_verdicts

    assert generation_verdicts(benchmark, prediction, gold) == {
        "strict": strict,
        "lenient": lenient,
    }
