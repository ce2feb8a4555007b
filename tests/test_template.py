"""The modular template: loading, validation, byte-exact rendering, slot safety, chat wrapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fipo_utils.data.template import (
    SLOT_NAMES,
    Template,
    TemplateError,
    count_words,
    load_template,
    render_discriminator_prompt,
    render_instruction_prompt,
    render_optimizer_prompt,
    substitute_sequential,
    unwrap_tulu,
    wrap_prompt,
    wrap_tulu,
)

PROMPT = "List three prime numbers greater than 10."
SILVER = "11, 13, 15"
GOLDEN = "11, 13 and 17 are prime numbers greater than 10."
CHOSEN = "Name three prime numbers that are greater than 10 and check that each is prime."


@pytest.fixture(scope="module")
def original(shared_data: Path) -> Template:
    return load_template(shared_data / "fipo" / "prompts.json")


@pytest.fixture(scope="module")
def original_strings(shared_data: Path) -> dict[str, str]:
    return json.loads((shared_data / "fipo" / "prompts.json").read_text(encoding="utf-8"))


def original_optimizer_text(p: dict[str, str], optional: str, prompt, silver, golden, n) -> str:
    """How the original script built an optimizer input (transcribed for comparison)."""
    text = p["optimizer"].replace("O_C", optional)
    text = text.replace("S_P", prompt).replace("S_R", silver).replace("G_R", golden)
    return text.replace("G_N", str(n))


@pytest.mark.shared
@pytest.mark.parametrize("variant", ["none", "silver", "golden", "both"])
def test_optimizer_rendering_with_original_prompts_is_byte_identical(
    original, original_strings, variant
):
    blocks = {
        "none": "",
        "silver": original_strings["s_r"],
        "golden": original_strings["g_r"],
        "both": original_strings["s_r"] + original_strings["g_r"],
    }
    n = len(CHOSEN.split(" "))
    rendered = render_optimizer_prompt(
        original,
        PROMPT,
        silver_response=SILVER if variant in ("silver", "both") else None,
        golden_response=GOLDEN if variant in ("golden", "both") else None,
        word_limit=n,
    )
    expected = original_optimizer_text(original_strings, blocks[variant], PROMPT, SILVER, GOLDEN, n)
    assert rendered.encode("utf-8") == expected.encode("utf-8")
    assert "Sliver Prompt:\n" + PROMPT + "\n```" in rendered  # the original's typo is kept
    assert f"less than {n} words" in rendered
    assert (SILVER in rendered) == (variant in ("silver", "both"))
    assert (GOLDEN in rendered) == (variant in ("golden", "both"))


@pytest.mark.shared
def test_discriminator_rendering_with_original_prompts_is_byte_identical(
    original, original_strings
):
    rendered = render_discriminator_prompt(original, PROMPT, "Prompt one.", "Prompt two.", GOLDEN)
    expected = (
        original_strings["discriminator"]
        .replace("R_P", PROMPT)
        .replace("P_A", "Prompt one.")
        .replace("P_B", "Prompt two.")
        .replace("G_R", GOLDEN)
        .replace("G_N", "1")
    )
    assert rendered == expected
    assert rendered.endswith("Only answer with A or B.\n")


@pytest.mark.shared
def test_tulu_wrapped_original_rendering_matches_the_original_bytes(original, original_strings):
    rendered = wrap_tulu(render_optimizer_prompt(original, PROMPT, word_limit=5))
    expected = "<|user|>\n" + original_optimizer_text(original_strings, "", PROMPT, "", "", 5)
    assert rendered == expected + "<|assistant|>\n"
    assert rendered.endswith("etc.).\n<|assistant|>\n")


def test_original_instruction_wording_is_used_when_a_file_has_none(tmp_path):
    data = {
        "optimizer": "Improve S_P.O_C Under G_N words.",
        "s_r": " Draft: S_R.",
        "g_r": " Ref: G_R.",
        "discriminator": "R_P vs P_A / P_B given G_R",
    }
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    template = load_template(path)
    assert render_instruction_prompt(template, "Q?", word_limit=4) == (
        "Answer the question with no more than 4 words: Q?"
    )
    assert render_optimizer_prompt(
        template, "x", silver_response="s", golden_response="g", word_limit=3
    ) == ("Improve x. Draft: s. Ref: g. Under 3 words.")


def test_default_template_has_every_slot_and_its_own_wording():
    template = load_template()
    assert {"S_P", "O_C", "G_N"} <= {s for s in SLOT_NAMES if s in template.optimizer}
    assert "S_R" in template.s_r and "G_R" in template.g_r
    assert all(s in template.discriminator for s in ("R_P", "P_A", "P_B", "G_R"))
    assert "Sliver" not in template.optimizer  # our own words, not the original's
    both = render_optimizer_prompt(
        template, PROMPT, silver_response=SILVER, golden_response=GOLDEN, word_limit=9
    )
    assert both.index(SILVER) < both.index(GOLDEN)  # silver block first, as in the paper
    assert not any(slot in both for slot in SLOT_NAMES)


def test_inserted_text_that_contains_slot_names_is_kept_intact():
    template = load_template()
    tricky = "Explain the variables S_R, G_R and G_N in this formula: S_P = O_C * R_P."
    rendered = render_optimizer_prompt(
        template, tricky, silver_response="uses G_N", golden_response="P_A P_B", word_limit=12
    )
    assert tricky in rendered
    assert "uses G_N" in rendered and "P_A P_B" in rendered
    assert "fewer than 12 words" in rendered
    # The original's chained replace rewrites the prompt: that is what fixed mode avoids.
    sequential = substitute_sequential(
        template.optimizer.replace("O_C", template.s_r + template.g_r),
        [("S_P", tricky), ("S_R", "uses G_N"), ("G_R", "P_A P_B"), ("G_N", "12")],
    )
    assert tricky not in sequential


slot_free_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60).filter(
    lambda s: not any(slot in s for slot in SLOT_NAMES) and "_" not in s
)


@settings(max_examples=60, deadline=None)
@given(prompt=slot_free_text, silver=slot_free_text, golden=slot_free_text)
def test_single_pass_equals_sequential_when_no_text_contains_a_slot(prompt, silver, golden):
    template = load_template()
    skeleton = template.optimizer.replace("O_C", template.s_r + template.g_r)
    single = render_optimizer_prompt(
        template, prompt, silver_response=silver, golden_response=golden, word_limit=7
    )
    sequential = substitute_sequential(
        skeleton, [("S_P", prompt), ("S_R", silver), ("G_R", golden), ("G_N", "7")]
    )
    assert single == sequential


@settings(max_examples=60, deadline=None)
@given(prompt=st.text(alphabet="SGRNPOC_AB x", max_size=40))
def test_single_pass_never_rewrites_the_naive_prompt(prompt):
    template = Template(
        optimizer="<S_P>|O_C|G_N", s_r="S_R", g_r="G_R", discriminator="R_P P_A P_B"
    )
    rendered = render_optimizer_prompt(template, prompt, word_limit=3)
    assert rendered == f"<{prompt}>||3"


def test_count_words_splits_on_single_spaces_like_the_original():
    assert count_words("B") == 1
    assert count_words("two words") == 2
    assert count_words("double  space") == 3
    assert count_words("line\nbreak here") == 2


def test_tulu_wrap_round_trips_and_rejects_unwrapped_text():
    text = "Rewrite this prompt."
    assert wrap_tulu(text) == "<|user|>\nRewrite this prompt.<|assistant|>\n"
    assert unwrap_tulu(wrap_tulu(text)) == text
    with pytest.raises(ValueError, match="not a Tulu-wrapped"):
        unwrap_tulu(text)


def test_wrap_prompt_formats_and_their_errors():
    # The chat_template path with the real SmolLM2 tokenizer runs in the tour notebook test
    # (tests/test_notebooks_00_01.py); here the formats that need no tokenizer.
    assert wrap_prompt("x", "raw") == "x"
    assert wrap_prompt("x", "tulu") == wrap_tulu("x")
    with pytest.raises(ValueError, match="needs a tokenizer"):
        wrap_prompt("x", "chat_template")
    with pytest.raises(ValueError, match="unknown prompt format"):
        wrap_prompt("x", "alpaca")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a valid UTF-8 JSON"),
        ('["a list"]', "JSON object of strings"),
        ('{"optimizer": "S_P O_C", "s_r": "S_R", "g_r": "G_R"}', "'discriminator' is missing"),
        (
            '{"optimizer": 3, "s_r": "S_R", "g_r": "G_R", "discriminator": "R_P P_A P_B"}',
            "'optimizer' must be a string, got int",
        ),
        (
            '{"optimizer": "S_P only", "s_r": "S_R", "g_r": "G_R", "discriminator": "R_P P_A P_B"}',
            "'optimizer' lacks slot\\(s\\) \\['O_C'\\]",
        ),
        (
            '{"optimizer": "S_P O_C", "s_r": "S_R", "g_r": "G_R", "discriminator": "R_P P_A P_B",'
            ' "optimiser": "x"}',
            "unknown field",
        ),
    ],
)
def test_bad_template_files_name_the_file_and_field(tmp_path, content, message):
    path = tmp_path / "bad_template.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TemplateError, match=message) as info:
        load_template(path)
    assert "bad_template.json" in str(info.value)


def test_prompt_format_for_gives_each_model_its_own_format():
    from fipo_utils.data.template import prompt_format_for

    models = {"prompt_format": "chat_template", "prompt_formats": {"gemma3-270m": "raw"}}
    assert prompt_format_for(models, "gemma3-270m") == "raw"
    assert prompt_format_for(models, "/models/converted/gemma3-270m") == "raw"  # a path
    assert prompt_format_for(models, "smollm2-135m-instruct") == "chat_template"
    assert prompt_format_for({"prompt_format": "tulu"}, "anything") == "tulu"
