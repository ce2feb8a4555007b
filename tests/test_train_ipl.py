"""IPL round bookkeeping: replacements, rewritten rejected sides, dropped discrimination rows."""

from __future__ import annotations

import json
import random

import pytest
from train_rows import ipl_records, write_run_data

from fipo_utils.data.template import load_template, unwrap_tulu
from fipo_utils.models.generate import GenerationParams
from fipo_utils.models.loading import load_model
from fipo_utils.training.ipl import (
    DISCRIMINATION_CASE,
    IplSettings,
    drop_discrimination_rows,
    rebuild_round_rows,
    split_judge_holdout,
)


class ScriptedGenerator:
    """Answers by prompt kind, and records every call: a rewrite is tagged with a counter."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, GenerationParams]] = []

    def generate(self, prompts, params):
        self.calls.append((len(prompts), params))
        if params.temperature > 0:  # rewrites are sampled
            return [f"Rewritten prompt {i}" for i in range(len(prompts))]
        return ["B" if params.max_new_tokens == 1 else "forty-one apples" for _ in prompts]


def _judge_prefers_new_on_even_rows(prompts):
    """Picks the slot holding 'Rewritten prompt <even>': a known half of the rewrites win."""
    letters = []
    for prompt in prompts:
        a_part = prompt.split("Candidate Prompt B")[0]
        new_in_a = "Rewritten prompt" in a_part
        number = int(prompt.split("Rewritten prompt ")[1].split()[0].strip("`"))
        keep_new = number % 2 == 0
        letters.append("A" if new_in_a == keep_new else "B")
    return letters


def _rebuild(rows, generator, judge, settings):
    """Round 2's rebuild with inputs passed through unwrapped and the project's template."""
    return rebuild_round_rows(
        rows,
        generator=generator,
        judge=judge,
        to_model_input=lambda p: p,
        template=load_template(),
        settings=settings,
        round_index=2,
    )


def test_round_rebuild_replaces_judged_prompts_and_rewrites_rejected_sides():
    rows = ipl_records(n_per_case=4)
    settings = IplSettings(rewrite=GenerationParams(max_new_tokens=16, temperature=0.8, top_p=0.95))
    generator = ScriptedGenerator()
    edit = _rebuild(rows, generator, _judge_prefers_new_on_even_rows, settings)
    optimizer_rows = [r for r in edit.rows if r["case_type"] <= 5]
    assert edit.n_optimizer_rows == 24
    assert edit.n_replaced == 12 and edit.replaced_share == 0.5
    replaced = [r for r in optimizer_rows if r["s_p"].startswith("Rewritten prompt")]
    assert len(replaced) == 12
    # every judged rewrite is recorded, kept or not, with the judge's letter
    assert len(edit.decisions) == 24 and sum(d["kept"] for d in edit.decisions) == 12
    assert all(d["verdict"] in ("A", "B") and d["rewrite"] for d in edit.decisions)
    assert all(int(r["s_p"].split()[2]) % 2 == 0 for r in replaced)
    # the options suffix stays attached to a replaced multiple-choice prompt
    assert all(r["s_p"].endswith(r["p_o"]) for r in replaced)
    for row in optimizer_rows:
        text = unwrap_tulu(row["prompt"])
        assert row["s_p"] in text
        if row["case_type"] in (1, 2, 4, 5):  # the re-answer is the new silver response
            expected = "B" if row["p_o"] else "forty-one apples"
            assert f"\n{expected}\n" in text
    instruction = [r for r in edit.rows if r["case_type"] in (6, 7)]
    assert edit.n_instruction_rewritten == len(instruction) == 8
    assert all(
        r["rejected"] == ("B" if r["case_type"] == 6 else "forty-one apples") for r in instruction
    )
    # chosen sides are never touched
    originals = {r["id"]: r for r in rows}
    assert all(r["chosen"] == originals[r["id"]]["chosen"] for r in edit.rows)
    assert (edit.n_discrimination_before, edit.n_discrimination_after) == (4, 2)
    assert sum(r["case_type"] == DISCRIMINATION_CASE for r in edit.rows) == 2
    # inputs are not modified in place
    assert rows == ipl_records(n_per_case=4)
    # sampled rewrite, then greedy answers: 1 token for multiple choice, longer otherwise
    rewrite_params = generator.calls[0][1]
    assert (rewrite_params.temperature, rewrite_params.top_p) == (0.8, 0.95)
    assert {p.max_new_tokens for _, p in generator.calls[1:]} == {1, settings.answer_max_new_tokens}


def test_holdout_and_dropping_touch_only_discrimination_rows():
    rows = ipl_records(n_per_case=10)
    kept, held = split_judge_holdout(rows, 0.2, seed=1)
    assert len(held) == 2 and all(r["case_type"] == DISCRIMINATION_CASE for r in held)
    assert len(kept) == len(rows) - 2 and not {r["id"] for r in held} & {r["id"] for r in kept}
    dropped = drop_discrimination_rows(kept, 0.5, random.Random(0))
    assert sum(r["case_type"] == DISCRIMINATION_CASE for r in dropped) == 4
    assert len(dropped) == len(kept) - 4
    assert split_judge_holdout(rows, 0.0, seed=1) == (rows, [])


@pytest.mark.slow
def test_ipl_runs_rounds_on_the_tiny_model_and_resumes_at_the_first_unfinished(tmp_path):
    run_dir = write_run_data(tmp_path / "run", ipl_per_case=2)
    common = {"max_steps": 2, "max_rows": 100, "batch_size": 4, "prompt_format": "tulu"}
    common["eval_rows"] = 3
    first = run_ipl_rounds(run_dir, rounds=1, **common)
    assert [r["round"] for r in first["rounds"]] == [1]
    round_1 = run_dir / "checkpoints" / "ipl-ipo-lora" / "round_1" / "final" / "model.safetensors"
    written = round_1.stat().st_mtime_ns

    record = run_ipl_rounds(run_dir, rounds=2, **common)
    assert round_1.stat().st_mtime_ns == written  # round 1 was not trained again
    one, two = record["rounds"]
    assert two["start_model"] == one["final_dir"]
    assert two["n_optimizer_rows"] == 12
    assert 0.0 <= two["replaced_share"] <= 1.0
    assert two["n_discrimination_after"] == two["n_discrimination_before"] // 2 + (
        two["n_discrimination_before"] % 2
    )
    assert one["n_judge_holdout"] == 1 and one["judge_accuracy"] in (0.0, 1.0)
    assert one["loss_first"] is not None and two["loss_last"] is not None
    # a held-out eval split, the same rows every round, never trained on
    assert one["n_eval_rows"] == two["n_eval_rows"] == 3
    for entry in (one, two):
        assert any("eval_loss" in h for h in entry["log_history"])
    saved = json.loads((run_dir / "train" / "ipl-ipo-lora" / "rounds.json").read_text())
    assert [r["round"] for r in saved["rounds"]] == [1, 2]
    data_2 = run_dir / "train" / "ipl-ipo-lora" / "round_2" / "data.jsonl"
    assert sum(1 for _ in data_2.open()) == two["n_rows"]
    final = load_model(str(run_dir / "checkpoints" / "ipl-ipo-lora" / "final"))
    assert final.source.endswith("round_2/final")


def run_ipl_rounds(run_dir, rounds, **overrides):
    from fipo_utils.training.ipl import run_ipl

    return run_ipl(run_dir, "tiny", "ipo", rounds=rounds, **overrides)


class OriginalScriptedGenerator:
    """For ``procedure: original``: every call sampled; one-token calls are the judge (``a``
    for even-numbered rewrites, which sit in slot A) or a multiple-choice re-answer (``B``)."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], GenerationParams]] = []

    def generate(self, prompts, params):
        self.calls.append((list(prompts), params))
        if params.max_new_tokens == 16:
            return [f"Golden Prompt: Rewritten prompt {i}" for i in range(len(prompts))]
        if params.max_new_tokens == 1:
            return [self._one_token(p) for p in prompts]
        return ["forty-one apples" for _ in prompts]

    @staticmethod
    def _one_token(prompt: str) -> str:
        if "Candidate Prompt B" not in prompt:  # a re-answer, not the judge
            return " B"
        number = int(prompt.split("Rewritten prompt ")[1].split()[0].strip("`"))
        return " a" if number % 2 == 0 else " A."


def test_original_procedure_judges_and_re_answers_as_the_original_script():
    rows = ipl_records(n_per_case=4)
    settings = IplSettings(
        rewrite=GenerationParams(max_new_tokens=16, temperature=0.8, top_p=0.95),
        procedure="original",
    )
    generator = OriginalScriptedGenerator()
    edit = rebuild_round_rows(
        rows,
        generator=generator,
        judge=lambda prompts: ["A"] * len(prompts),  # the original never asks the log-prob judge
        to_model_input=lambda p: p,
        template=load_template(),
        settings=settings,
        round_index=2,
    )
    rewrites, judge = generator.calls[0], generator.calls[1]
    assert all(p.startswith("<|user|>") for p in rewrites[0])  # the optimizer input is wrapped
    # the judge: new prompt always in slot A, no chat wrapping, one sampled token
    assert all("Rewritten prompt" in q.split("Candidate Prompt B")[0] for q in judge[0])
    assert not any("<|user|>" in q for q in judge[0])
    assert (judge[1].max_new_tokens, judge[1].temperature, judge[1].top_p) == (1, 0.8, 0.95)
    # only a plain "a" keeps the new prompt ("A." does not), and the echo prefix is stripped
    assert edit.n_replaced == 12
    replaced = [r for r in edit.rows if r["s_p"].startswith("Rewritten prompt")]
    assert all(int(r["s_p"].split()[2]) % 2 == 0 for r in replaced)
    # re-answers: sampled; a kept prompt unwrapped, instruction rows as stored (wrapped)
    assert all(params.temperature == 0.8 for _, params in generator.calls[2:])
    silver_calls, instruction_calls = generator.calls[2:4], generator.calls[4:]
    assert not any(p.startswith("<|user|>") for prompts, _ in silver_calls for p in prompts)
    assert all(p.startswith("<|user|>") for prompts, _ in instruction_calls for p in prompts)
    case_6 = [r for r in edit.rows if r["case_type"] == 6]
    assert case_6 and all(r["rejected"] == "b" for r in case_6)
    silver_mc = [r for r in edit.rows if r["case_type"] in (1, 4)]
    assert all("\nb\n" in unwrap_tulu(r["prompt"]) for r in silver_mc)
    assert edit.n_zero_gradient_dropped == 0
    # the decision records keep what the judge sampled, so "A." (kept old) is visible
    assert {d["sampled"] for d in edit.decisions} >= {"a"}
    assert all(
        d["verdict"] == ("A" if d["sampled"].lower() == "a" else "B") for d in edit.decisions
    )


def test_a_scoring_judge_leaves_its_log_probabilities_in_the_decisions():
    """The log-probability judge's scores, not only its letter, reach ``judge.jsonl``: a
    reader sees how close each keep-or-replace call was."""
    rows = ipl_records(n_per_case=2)
    settings = IplSettings(
        rewrite=GenerationParams(max_new_tokens=16, temperature=0.8, top_p=0.95),
        judge_orders="single",
    )

    def scores(prompts):  # A clearly preferred on even positions, B barely on odd ones
        return [(-0.1, -3.0) if i % 2 == 0 else (-0.70, -0.69) for i in range(len(prompts))]

    edit = _rebuild(rows, ScriptedGenerator(), scores, settings)
    first, second = edit.decisions[0], edit.decisions[1]
    assert (first["verdict"], first["logprob_A"], first["logprob_B"]) == ("A", -0.1, -3.0)
    assert (second["verdict"], second["logprob_A"], second["logprob_B"]) == ("B", -0.70, -0.69)
    assert all(
        d["kept"] == ((d["verdict"] == "A") == (d["rewrite_slot"] == "A"))
        for d in edit.decisions
        if d["rewrite"] != d["current"]
    )


class _AnswersTheGoldenLetter(ScriptedGenerator):
    def generate(self, prompts, params):
        texts = super().generate(prompts, params)
        return ["A" if params.max_new_tokens == 1 else text for text in texts]


def test_project_procedure_drops_rows_whose_re_answer_equals_the_chosen_side():
    rows = ipl_records(n_per_case=4)
    edits = {}
    for procedure in ("project", "original"):
        settings = IplSettings(
            rewrite=GenerationParams(max_new_tokens=16, temperature=0.8, top_p=0.95),
            procedure=procedure,
        )
        edits[procedure] = _rebuild(
            rows, _AnswersTheGoldenLetter(), _judge_prefers_new_on_even_rows, settings
        )
    # the 4 multiple-choice instruction rows re-answer "A" == chosen: no gradient, dropped
    project = edits["project"]
    assert project.n_zero_gradient_dropped == 4
    assert not [r for r in project.rows if r["case_type"] == 6]
    assert all(r["rejected"] != r["chosen"] for r in project.rows)
    # the original trained them (its lower-casing made them "a" != "A")
    assert [r["rejected"] for r in edits["original"].rows if r["case_type"] == 6] == ["a"] * 4


def test_an_unknown_ipl_procedure_is_refused():
    with pytest.raises(ValueError, match="ipl.procedure"):
        IplSettings.from_mapping({"procedure": "faithful"})


def _always_a(prompts):
    """A judge with pure position bias: slot A, whatever it holds."""
    return ["A"] * len(prompts)


def test_judging_both_slot_orders_keeps_no_rewrite_for_a_position_biased_judge():
    """The first reference run's judge answered "A" in 52 of 59 verdicts and replaced half the
    prompts; judged in both orders, a rewrite must win twice, which slot bias never does."""
    rows = ipl_records(n_per_case=4)
    params = GenerationParams(max_new_tokens=16, temperature=0.8, top_p=0.95)
    both = _rebuild(rows, ScriptedGenerator(), _always_a, IplSettings(rewrite=params))
    single = _rebuild(
        rows, ScriptedGenerator(), _always_a, IplSettings(rewrite=params, judge_orders="single")
    )
    assert both.n_replaced == 0
    assert all(d["rewrite_slot"] == "both" and not d["wins_both"] for d in both.decisions)
    assert all(d["verdict_swapped"] == "A" for d in both.decisions)
    # one random order: the rewrite wins wherever it happened to sit in slot A
    assert single.n_replaced == sum(d["rewrite_slot"] == "A" for d in single.decisions) > 0
    # a judge that prefers the same rewrites in either slot keeps them in both modes
    consistent = _rebuild(
        rows, ScriptedGenerator(), _judge_prefers_new_on_even_rows, IplSettings(rewrite=params)
    )
    assert consistent.n_replaced == 12


def test_an_unknown_judge_order_is_refused():
    with pytest.raises(ValueError, match="judge_orders"):
        IplSettings(judge_orders="twice")


def test_judge_intervals_say_whether_the_judge_beats_chance():
    from fipo_utils.training.ipl_report import judge_intervals, judge_verdict

    record = {
        "rounds": [
            {"round": 1, "judge_accuracy": 0.5, "n_judge_holdout": 8},
            {"round": 2, "judge_accuracy": 1.0, "n_judge_holdout": 20},
            {"round": 3, "judge_accuracy": None, "n_judge_holdout": 0},
        ]
    }
    table = judge_intervals(record)
    assert table["correct"].tolist() == [4, 20, 0]
    assert table["beats_chance"].tolist() == [False, True, False]
    # Wilson for 20/20 at 95%: lower end 0.839, upper 1
    assert table.loc[1, "wilson_low"] == pytest.approx(0.8389, abs=1e-3)
    assert table.loc[0, "wilson_low"] < 0.5 < table.loc[0, "wilson_high"]
    lines = judge_verdict(table)
    assert "does NOT beat chance" in lines[0] and "used by round 2" in lines[0]
    assert "beats chance: 20/20" in lines[1] and "not measured" in lines[2]
