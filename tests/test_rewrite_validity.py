"""Rewrites that are still the task: BBH options kept out of the rewrite and put back verbatim,
stop strings at the template's labels, a validity record per rewrite, and both readings of
every evaluation cell (issue 22, items 1-4)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fipo_utils.analysis.readings import AS_WRITTEN, VALID_ONLY, readings_table, validity_frame
from fipo_utils.analysis.results import collect_runs
from fipo_utils.data.benchmarks import (
    BBH_TASKS,
    OPTIONS_HEADER,
    BenchmarkItem,
    load_benchmark,
    split_options,
)
from fipo_utils.data.template import label_stops, load_template, template_labels
from fipo_utils.evaluation.evaluate import evaluate_run
from fipo_utils.inference.optimize import clean_optimized, optimize_prompts
from fipo_utils.inference.optimize_step import run_optimizer_inference
from fipo_utils.inference.questions import rewrite_questions
from fipo_utils.inference.registry import Rewrite
from fipo_utils.inference.validity import (
    PROBLEMS,
    MissingValidity,
    RewriteValidity,
    rewrite_validity,
    validity_rows,
    validity_table,
)
from fipo_utils.models.generate import GenerationParams, cut_at_stop
from fipo_utils.models.generators import make_generator
from fipo_utils.runs.errors import SettingsError
from fipo_utils.runs.io import read_jsonl
from fipo_utils.runs.profiles import load_profile, section
from fipo_utils.runs.records import RewriteRecord, read_rewrites, write_rewrites
from fipo_utils.runs.settings import EvaluateSettings

GSM = BenchmarkItem(
    id="gsm8k-1",
    benchmark="gsm8k",
    few_shot_context="",
    instruction="Tom has 3 apples and buys 4 more. How many apples does he have?",
    gold="3 + 4 = 7\n#### 7",
)
BBH = BenchmarkItem(
    id="bbh/date_understanding-1",
    benchmark="bbh/date_understanding",
    few_shot_context="",
    instruction="Today is 9/7/2021. What is the date tomorrow in MM/DD/YYYY?\n"
    "Options:\n(A) 09/08/2021\n(B) 09/06/2021",
    gold="(A)",
)


# --- 1. the option split, per BBH task form ----------------------------------------------


@pytest.mark.shared
@pytest.mark.parametrize("task", BBH_TASKS)
def test_every_bbh_input_splits_into_its_question_and_options_verbatim(task: str, shared_data):
    items = load_benchmark(f"bbh/{task}", allow_hub=False).items
    forms = set()
    for item in items:
        question, block = split_options(item)
        assert question + block == item.instruction
        assert "Options:" not in question
        if block:
            assert block.startswith(OPTIONS_HEADER)
            lines = block[len(OPTIONS_HEADER) :].split("\n")
            forms.add("letters" if lines[0].startswith("(A) ") else "dashes")
            assert all(line.startswith(("(", "- ")) for line in lines), item.id
        else:
            forms.add("none")
    # one form per task: "(A) text" lines, "- text" lines, or no options at all
    dashes = {"causal_judgement", "formal_fallacies", "navigate"}
    none = {
        "boolean_expressions",
        "dyck_languages",
        "multistep_arithmetic_two",
        "object_counting",
        "sports_understanding",
        "web_of_lies",
        "word_sorting",
    }
    assert forms == {"dashes" if task in dashes else "none" if task in none else "letters"}


def test_multiple_choice_and_gsm8k_instructions_have_no_block_to_split() -> None:
    piqa = BenchmarkItem("piqa-1", "piqa", "", "Goal: x\nOptions:\n- a", ["a", "b"], "A")
    assert split_options(piqa) == (piqa.instruction, "")  # its options live in item.options
    assert split_options(GSM) == (GSM.instruction, "")


@pytest.mark.parametrize("keep_options", [True, False])
def test_only_the_question_is_rewritten_and_the_options_come_back(keep_options: bool) -> None:
    seen: list[str] = []

    def shout(texts: list[str]) -> list[Rewrite]:  # a rewrite that changes every character
        seen.extend(texts)
        return [Rewrite(prompt=text.upper()) for text in texts]

    (found,) = rewrite_questions([BBH], shout, keep_options)
    question, block = split_options(BBH)
    assert seen == [question if keep_options else BBH.instruction]
    assert found.prompt == (question.upper() + block if keep_options else BBH.instruction.upper())
    check = _validity(found.prompt, BBH)
    assert check.options_preserved is keep_options


@pytest.mark.shared
def test_every_rewrite_keeps_its_options_byte_for_byte(tmp_path: Path, shared_data, monkeypatch):
    monkeypatch.setenv("FIPO_CACHE_DIR", str(tmp_path / "cache"))
    settings = section(
        "tiny",
        "infer",
        optimizer=["base", "bpo-style"],
        benchmarks=["bbh/date_understanding", "bbh/navigate", "piqa"],
        n_items=2,
    )
    run_optimizer_inference(tmp_path, load_profile("tiny"), settings)
    for optimizer in ("base", "bpo-style"):
        for task in ("date_understanding", "navigate"):
            path = tmp_path / "optimized" / optimizer / "bbh" / f"{task}.jsonl"
            for record in read_rewrites(path):
                naive = BenchmarkItem(record.id, record.benchmark, "", record.naive_instruction)
                _, block = split_options(naive)
                assert block and record.optimized_instruction.endswith(block)
                assert record.validity is not None and record.validity["options_preserved"]
        for record in read_rewrites(tmp_path / "optimized" / optimizer / "piqa.jsonl"):
            assert record.validity is not None and record.validity["options_preserved"]


# --- 2. stop strings in the FIPO rewrite path --------------------------------------------


def test_label_stops_are_the_templates_labels_on_a_new_line() -> None:
    stops = label_stops(load_template(None))
    for label in ("Original Prompt:", "Improved Prompt:", "Golden Prompt:", "Draft Response:"):
        assert "\n" + label in stops
    assert "\nReference Response:" in stops and "\n```" in stops
    assert all(stop.startswith("\n") for stop in stops)


@pytest.mark.shared
def test_the_original_templates_own_headers_are_labels_too(shared_data) -> None:
    labels = template_labels(load_template("original"))
    assert {"Sliver Prompt:", "Sliver Response:", "Golden Response:", "Golden Prompt:"} <= set(
        labels
    )


def test_a_reply_that_opens_with_a_label_keeps_its_prompt_and_loses_the_loop() -> None:
    reply = "Golden Prompt: Count the apples Tom has.\nGolden Prompt: Count the apples"
    stopped = cut_at_stop(reply, label_stops(load_template(None)))
    assert clean_optimized(stopped) == "Count the apples Tom has."


class _Recording:
    """The tiny model's generator, recording the decoding each call asked for."""

    def __init__(self, generator: Any) -> None:
        self.generator = generator
        self.tokenizer = generator.tokenizer
        self.params: list[GenerationParams] = []

    def generate(self, prompts: list[str], params: GenerationParams) -> list[str]:
        self.params.append(params)
        return self.generator.generate(prompts, params)


@pytest.mark.parametrize("stop_at_labels", [True, False])
def test_fipo_rewrites_ask_the_backend_to_stop_at_the_labels(
    tiny_model_dir: Path, stop_at_labels: bool
) -> None:
    template = load_template(None)
    generator = _Recording(make_generator(str(tiny_model_dir), use_cache=False))
    params = GenerationParams(max_new_tokens=12)
    found = optimize_prompts(
        generator,
        [GSM.instruction],
        template=template,
        fmt="raw",
        params=params,
        stop_at_labels=stop_at_labels,
    )
    (asked,) = generator.params
    assert asked.stop == (label_stops(template) if stop_at_labels else ())
    assert not any(stop in found[0].raw_output for stop in asked.stop)


# --- 3. the validity record: every check can be true and false -----------------------------


def _validity(rewrite: str, item: BenchmarkItem = GSM, **kwargs: Any) -> RewriteValidity:
    return rewrite_validity(item, item.instruction, rewrite, **kwargs)


def test_a_faithful_finished_rewrite_is_valid() -> None:
    check = _validity(
        "Tom has 3 apples and buys 4 more. Count his apples.",
        n_tokens=9,
        max_new_tokens=10,
        base_rewrite="Tom has 3 apples.",
    )
    assert check.valid and check.problems == ()
    assert check.finished and check.options_preserved and check.numbers_preserved
    assert not (check.label_loop or check.answer_leaked or check.empty or check.same_as_naive)
    assert check.same_as_base is False


def test_a_rewrite_cut_at_the_limit_is_unfinished() -> None:
    assert _validity(GSM.instruction, n_tokens=10, max_new_tokens=10).problems == ("unfinished",)
    assert _validity(GSM.instruction, n_tokens=None, max_new_tokens=10).finished


def test_options_must_stay_verbatim() -> None:
    kept = _validity("Find the date after 9/7/2021." + split_options(BBH)[1], BBH)
    assert kept.options_preserved and kept.valid
    lost = _validity("Find the date after 9/7/2021.\nOptions:\n(A) 09/08/2021", BBH)
    assert not lost.options_preserved and "options_lost" in lost.problems


def test_changed_numbers_are_lost_and_added_numbers_listed() -> None:
    changed = _validity("Tom has 3 apples and buys 5 more. How many?")
    assert not changed.numbers_preserved and changed.numbers_lost == ("4",)
    assert changed.numbers_added == ("5",) and "numbers_lost" in changed.problems
    added = _validity("Tom has 3 apples and buys 4 more, 2 times. How many?")
    assert added.numbers_preserved and added.numbers_added == ("2",) and added.valid


def test_a_template_label_inside_the_rewrite_is_a_loop() -> None:
    loop = _validity("Tom has 3 apples and buys 4 more.\nImproved Prompt: Tom has 3 and 4")
    assert loop.label_loop and "label_loop" in loop.problems
    assert not _validity("Tom has 3 apples and buys 4 more; improve your count.").label_loop


def test_a_stated_answer_is_a_leak() -> None:
    leak = _validity("Tom has 3 apples and buys 4 more, 7 in total. How many?")
    assert leak.answer_leaked and "answer_leaked" in leak.problems
    assert not _validity("Tom has 3 apples and buys 4 more. How many?").answer_leaked
    assert not rewrite_validity(None, "Say 7", "Say 7 now").answer_leaked  # no item, no gold


def test_empty_and_identical_rewrites() -> None:
    fell_back = _validity(GSM.instruction, fell_back=True)
    assert fell_back.empty and fell_back.problems == ("empty",)
    same = _validity(GSM.instruction, base_rewrite=GSM.instruction)
    # identical to the naive prompt or to the base describes; it does not invalidate
    assert same.same_as_naive and same.same_as_base and same.valid and not same.empty
    assert _validity(GSM.instruction).same_as_base is None


def test_the_record_round_trips_and_an_incomplete_one_names_the_field() -> None:
    check = _validity(
        "Tom has 3 apples and buys 5 more.\nImproved Prompt:", n_tokens=10, max_new_tokens=10
    )
    stored = check.as_dict()
    assert stored["valid"] is False and stored["problems"] == list(check.problems)
    assert RewriteValidity.from_dict(stored) == check
    del stored["numbers_preserved"]
    with pytest.raises(ValueError, match=r"x.jsonl, line 3: validity field 'numbers_preserved'"):
        RewriteValidity.from_dict(stored, "x.jsonl, line 3")


# --- 4. both readings, and what the primary reading does with an invalid rewrite -----------


def _record(item: BenchmarkItem, rewrite: str, validity: RewriteValidity | None) -> RewriteRecord:
    return RewriteRecord(
        id=item.id,
        benchmark=item.benchmark,
        optimizer="sft-lora",
        naive_instruction=item.instruction,
        optimized_instruction=rewrite,
        raw_output=rewrite,
        cheating_note=False,
        fell_back=False,
        word_limit=40,
        cut_at_max_new_tokens=False,
        audit={},
        validity=None if validity is None else validity.as_dict(),
    )


def _gsm8k_run(run_dir: Path, with_validity: bool = True) -> list[BenchmarkItem]:
    """Two GSM8K rewrites of sft-lora: the first faithful, the second with a changed number."""
    items = load_benchmark("gsm8k", 2, allow_hub=False).items
    good = items[0].instruction + " Think step by step."
    bad = re.sub(r"\d+", "12345", items[1].instruction, count=1)
    records = [
        _record(
            item, text, rewrite_validity(item, item.instruction, text) if with_validity else None
        )
        for item, text in ((items[0], good), (items[1], bad))
    ]
    write_rewrites(run_dir / "optimized" / "sft-lora" / "gsm8k.jsonl", records)
    return items


def _evaluate(run_dir: Path, **overrides: Any) -> dict[str, Any]:
    profile = load_profile("tiny")
    return evaluate_run(run_dir, profile, section(profile, "evaluate", **overrides))


def _optimized_n(frame: Any, condition: str = "optimized") -> int:
    rows = frame[(frame["condition"] == condition) & frame["primary"].astype(bool)]
    return int(rows["n_items"].sum())


@pytest.mark.slow  # the tiny tester answers every prompt
@pytest.mark.shared
@pytest.mark.parametrize("mode", ["keep", "naive", "drop"])
def test_invalid_rewrites_mode_decides_the_primary_reading(
    tmp_path: Path, shared_data, monkeypatch, mode: str
):
    monkeypatch.setenv("FIPO_CACHE_DIR", str(tmp_path / "cache"))
    items = _gsm8k_run(tmp_path)
    out = _evaluate(tmp_path, invalid_rewrites=mode)
    assert _optimized_n(out["results"]) == (1 if mode == "drop" else 2)
    # the valid-only reading: the one valid item, both conditions, in every mode
    assert _optimized_n(out["valid_only"]) == _optimized_n(out["valid_only"], "naive") == 1
    tester = next((tmp_path / "eval" / "predictions" / "sft-lora").iterdir())
    predictions = read_jsonl(tester / "gsm8k.jsonl")
    asked = {(p["id"], p["condition"]): p["prompt"] for p in predictions}
    invalid = items[1].id
    if mode == "drop":
        assert {key[0] for key in asked} == {items[0].id}
    elif mode == "naive":
        assert asked[(invalid, "optimized")] == asked[(invalid, "naive")]
    else:
        assert "12345" in asked[(invalid, "optimized")]


@pytest.mark.slow  # the tiny tester answers every prompt
@pytest.mark.shared
def test_notebook_07_tables_show_both_readings_and_the_validity_counts(
    tmp_path: Path, shared_data, monkeypatch
):
    monkeypatch.setenv("FIPO_CACHE_DIR", str(tmp_path / "cache"))
    _gsm8k_run(tmp_path)
    _evaluate(tmp_path)
    table = readings_table(collect_runs([tmp_path]))
    cells = table[table["optimizer"] == "sft-lora"]
    assert set(cells["reading"]) == {AS_WRITTEN, VALID_ONLY}
    by_reading = cells.groupby("reading")["n_items"].first()
    assert by_reading[AS_WRITTEN] == 2 and by_reading[VALID_ONLY] == 1
    validity, skipped = validity_frame(collect_runs([tmp_path]))
    assert skipped == []
    row = validity.set_index("optimizer").loc["sft-lora"]
    assert row["n_rewrites"] == 2 and row["valid"] == 1
    assert row["numbers_lost"] == "1 (50%)" and row["unfinished"] == "0 (0%)"


@pytest.mark.slow  # the tiny tester answers every prompt
@pytest.mark.shared
def test_a_run_older_than_validity_records_reads_in_keep_mode_and_fails_clearly_otherwise(
    tmp_path: Path, shared_data, monkeypatch
):
    monkeypatch.setenv("FIPO_CACHE_DIR", str(tmp_path / "cache"))
    _gsm8k_run(tmp_path, with_validity=False)
    out = _evaluate(tmp_path)
    assert _optimized_n(out["results"]) == 2 and out["valid_only"].empty
    with pytest.raises(
        ValueError, match=r"optimized/sft-lora: rewrite gsm8k-\d+ .*has no validity"
    ):
        _evaluate(tmp_path, invalid_rewrites="naive")
    with pytest.raises(MissingValidity, match="rerun 05_batch_inference"):
        validity_rows(tmp_path)
    assert validity_frame(collect_runs([tmp_path]))[1] == [tmp_path.name]


def test_invalid_rewrites_takes_only_its_three_modes() -> None:
    profile = load_profile("tiny")
    assert EvaluateSettings.from_profile(profile).invalid_rewrites == "keep"
    with pytest.raises(SettingsError, match="evaluate.invalid_rewrites: expected one of keep"):
        EvaluateSettings.from_section({"max_new_tokens": 8, "invalid_rewrites": "fix"}, profile)


def test_validity_table_counts_per_optimizer() -> None:
    rows = []
    for name, texts in (("base", ["a 3 4", "b"]), ("sft-lora", ["a 3 4", "Improved Prompt: 3"])):
        for i, text in enumerate(texts):
            check = rewrite_validity(None, "3 and 4", text)
            rows.append(
                {"optimizer": name, "benchmark": "gsm8k", "id": str(i), "invalid": not check.valid}
                | {problem: problem in check.problems for problem in PROBLEMS}
                | {"numbers_added": False, "same_as_naive": check.same_as_naive}
                | {"same_as_base": None if name == "base" else i == 0}
            )
    table = validity_table(pd.DataFrame(rows)).set_index("optimizer")
    assert table.loc["base", "valid"] == 1 and table.loc["base", "same_as_base"] == "-"
    assert table.loc["sft-lora", "label_loop"] == "1 (50%)"
    assert table.loc["sft-lora", "same_as_base"] == "1 (50%)"
