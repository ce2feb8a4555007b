"""Diversification: faithful equivalence, type-mix statistics, the fixed mode's fixes, variants,
atomic writes and the ``fipo diversify`` command."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from fipo_utils.data.diversify import (
    diversify_pop,
    diversify_to_dir,
    draw_record,
    expected_shares,
    write_diversified,
)
from fipo_utils.data.pop import PopRecord, load_pop
from fipo_utils.data.template import SLOT_NAMES, load_template


def make_records(n: int, seed: int = 7) -> list[PopRecord]:
    """POP-shaped records made in code, with the awkward cases the original mishandles mixed in:
    prompts and responses containing slot names, golden responses that are a bare letter, and
    records whose two optimized prompts are identical."""
    rng = random.Random(seed)
    words = ["the", "a", "cat", "sum", "river", "prime", "seven", "answer", "list", "why", "how"]
    records = []
    for i in range(n):
        prompt = " ".join(rng.choices(words, k=rng.randint(3, 12))) + "?"
        silver = " ".join(rng.choices(words, k=rng.randint(1, 20)))
        golden = " ".join(rng.choices(words, k=rng.randint(1, 30))) + " é"
        rejected = "Please " + prompt
        chosen = "Carefully and step by step, " + prompt + " Give one answer."
        if i % 17 == 3:
            prompt += " Define S_R, G_R, G_N and P_A in S_P."
        if i % 19 == 5:
            silver += " (see G_R)"
        if i % 23 == 7:
            golden = "A"
        if i % 29 == 11:
            rejected = chosen
        records.append(PopRecord(f"id-{i}", prompt, silver, golden, rejected, chosen))
    return records


def reference_generation(records: list[PopRecord], prompts: dict[str, str], seed: int):
    """An independent transcription of the original script's procedure, written for this test:
    returns the exact (sft, dpo lines, ipl lines) it would have produced."""
    random.seed(seed)
    sft, dpo_lines, ipl_lines = [], [], []
    for rec in records:
        question = rec.raw_prompt
        golden_answer = rec.gpt4_response_based_raw
        silver_answer = rec.text003_response_based_raw
        options = ""
        if random.uniform(0, 1) <= 0.5:
            if random.uniform(0, 1) <= 0.5:
                options = "\nA: " + silver_answer + "\nB: " + golden_answer + "\nAnswer:"
                golden_answer, silver_answer = "B", "A"
                if random.uniform(0, 1) <= 0.2:
                    silver_answer = "B"
            else:
                options = "\nA: " + golden_answer + "\nB: " + silver_answer + "\nAnswer:"
                golden_answer, silver_answer = "A", "B"
                if random.uniform(0, 1) <= 0.2:
                    silver_answer = "A"
            question = question + options
        pick = random.choice([0, 1, 2, 3])
        letter = golden_answer in ["A", "B"]
        fill = ["", prompts["s_r"], prompts["g_r"], prompts["s_r"] + prompts["g_r"]][pick]
        case = [0, 1 if letter else 2, 3, 4 if letter else 5][pick]
        text = prompts["optimizer"].replace("O_C", fill).replace("S_P", question)
        text = text.replace("S_R", silver_answer).replace("G_R", golden_answer)
        text = text.replace("G_N", str(len(rec.gpt4_optimized_prompt.split(" "))))
        wrapped = "<|user|>\n" + text + "<|assistant|>\n"
        sft.append(
            {
                "id": rec.id,
                "conversations": [
                    {"role": "user", "value": wrapped},
                    {"role": "bot", "value": rec.gpt4_optimized_prompt},
                ],
            }
        )
        base = {
            "id": rec.id,
            "prompt": wrapped,
            "rejected": rec.chatgpt_optimized_prompt,
            "chosen": rec.gpt4_optimized_prompt,
        }
        extra_fields = {"s_p": question, "r_p": rec.raw_prompt, "g_r": golden_answer}
        dpo_lines.append(json.dumps(base) + "\n")
        ipl_lines.append(json.dumps({**base, **extra_fields, "p_o": options, "case_type": case}))
        ipl_lines[-1] += "\n"
        if random.choice([4, 5]) == 4:
            text = f"Answer the question with no more than G_N words: {question}"
            good, bad, slot_a, slot_b = golden_answer, silver_answer, "", ""
            case = 6 if letter else 7
        else:
            text = prompts["discriminator"]
            if random.uniform(0, 1) <= 0.5:
                slot_a, slot_b, good, bad = (
                    rec.chatgpt_optimized_prompt,
                    rec.gpt4_optimized_prompt,
                    "B",
                    "A",
                )
            else:
                slot_a, slot_b, good, bad = (
                    rec.gpt4_optimized_prompt,
                    rec.chatgpt_optimized_prompt,
                    "A",
                    "B",
                )
            case = 8
        text = text.replace("R_P", question).replace("P_A", slot_a).replace("P_B", slot_b)
        text = text.replace("G_R", golden_answer).replace("G_N", str(len(good.split(" "))))
        row = {"id": rec.id, "prompt": "<|user|>\n" + text + "<|assistant|>\n"}
        row.update(rejected=bad, chosen=good, **extra_fields, p_o=options, case_type=case)
        ipl_lines.append(json.dumps(row) + "\n")
    return sft, dpo_lines, ipl_lines


@pytest.fixture(scope="module")
def prompts_path(shared_data: Path) -> Path:
    return shared_data / "fipo" / "prompts.json"


@pytest.mark.shared
def test_faithful_mode_writes_exactly_what_the_original_script_wrote(tmp_path, prompts_path):
    records = make_records(200)
    prompts = json.loads(prompts_path.read_text(encoding="utf-8"))
    sft, dpo_lines, ipl_lines = reference_generation(records, prompts, seed=2024)
    data = diversify_pop(
        records, seed=2024, template=load_template(prompts_path), mode="faithful", variant="full"
    )
    out = write_diversified(data, tmp_path / "out")
    assert (out / "dpo.jsonl").read_bytes() == "".join(dpo_lines).encode("utf-8")
    assert (out / "ipl.jsonl").read_bytes() == "".join(ipl_lines).encode("utf-8")
    assert (out / "sft.json").read_bytes() == json.dumps(sft, indent=2).encode("utf-8")
    # The fixture really exercises the quirks being reproduced.
    assert any(json.loads(line)["chosen"] == json.loads(line)["rejected"] for line in ipl_lines)
    assert any(
        "S_R" in r.raw_prompt and r.raw_prompt not in json.loads(line)["prompt"]
        for r, line in zip(records, dpo_lines, strict=True)
    )


@pytest.mark.shared
def test_fixed_mode_matches_faithful_on_records_without_quirks(prompts_path):
    records = [
        r
        for r in make_records(300, seed=3)
        if not any(s in r.raw_prompt + r.text003_response_based_raw for s in SLOT_NAMES)
        and r.gpt4_response_based_raw != "A"
        and r.chosen_prompt != r.rejected_prompt
    ]
    template = load_template(prompts_path)
    faithful = diversify_pop(records, template=template, mode="faithful")
    fixed = diversify_pop(records, template=template, mode="fixed")
    assert fixed.sft == faithful.sft and fixed.dpo == faithful.dpo
    differing = [(a, b) for a, b in zip(fixed.ipl, faithful.ipl, strict=True) if a != b]
    # The only difference left is the relabelled multiple-choice instruction rows.
    assert len(differing) == fixed.summary["relabelled_instruction_rows"] > 0
    for new, old in differing:
        assert old["case_type"] == 6 and old["chosen"] == old["rejected"]
        assert {new["chosen"], new["rejected"]} == {"A", "B"}
        assert {k: v for k, v in new.items() if k != "rejected"} == {
            k: v for k, v in old.items() if k != "rejected"
        }


def test_fixed_mode_has_no_zero_gradient_rows_and_keeps_prompts_intact():
    records = make_records(400)
    data = diversify_pop(records, template=load_template(), mode="fixed")
    assert all(row["chosen"] != row["rejected"] for row in data.dpo + data.ipl)
    identical = sum(r.chosen_prompt == r.rejected_prompt for r in records)
    assert identical > 0
    assert len(data.dpo) == len(records) - identical
    assert data.summary["dropped_chosen_equals_rejected"] >= identical
    assert len(data.sft) == len(records)  # SFT has no rejected side: nothing to drop
    by_id = {r.id: r for r in records}
    for row in data.ipl:
        assert row["r_p"] in row["prompt"] or row["case_type"] in (6, 7, 8)
        assert row["s_p"] in row["prompt"]
        if row["case_type"] != 8:
            assert row["s_p"] == by_id[row["id"]].raw_prompt + row["p_o"]
    # A golden response that is literally "A" in a generation record is not misfiled as MC.
    for row in data.ipl:
        if row["p_o"] == "":
            assert row["case_type"] in (0, 2, 3, 5, 7, 8)


def test_multiple_choice_rows_carry_both_responses_and_letters():
    records = make_records(300)
    data = diversify_pop(records, mode="fixed")
    by_id = {r.id: r for r in records}
    mc_rows = [row for row in data.ipl if row["p_o"]]
    assert mc_rows
    for row in mc_rows:
        record = by_id[row["id"]]
        assert row["g_r"] in ("A", "B")
        golden_line = f"\n{row['g_r']}: {record.golden_response}\n"
        assert golden_line in row["p_o"] + "\n"
        assert row["p_o"].endswith("\nAnswer:")
        assert record.silver_response in row["p_o"]


def test_type_shares_over_20k_records_match_facts_section_3():
    records = [
        PopRecord(str(i), f"Question {i}?", "silver", "golden answer", "rejected", "chosen one")
        for i in range(20_000)
    ]
    for variant, n in (("full", 20_000), ("gen", 10_000), ("partial", 10_000)):
        summary = diversify_pop(records[:n], variant=variant, mode="fixed").summary
        expected = expected_shares(variant)
        for group in ("main", "extra"):
            for case, share in summary["shares"][group].items():
                assert share == pytest.approx(expected[group].get(int(case), 0.0), abs=0.015), (
                    variant,
                    group,
                    case,
                )
        assert summary["rows"] == {"sft": n, "dpo": n, "ipl": 2 * n}
    assert expected_shares("full")["main"] == {
        0: 0.25,
        1: 0.125,
        2: 0.125,
        3: 0.25,
        4: 0.125,
        5: 0.125,
    }
    assert expected_shares("full")["extra"] == {6: 0.25, 7: 0.25, 8: 0.5}


def test_variants_share_the_random_stream_record_by_record():
    records = make_records(200)
    template = load_template()
    full = diversify_pop(records, template=template, variant="full")
    gen = diversify_pop(records, template=template, variant="gen")
    partial = diversify_pop(records, template=template, variant="partial")
    assert all(row["p_o"] == "" for row in gen.ipl)
    assert not any("Draft Response:\n" in row["prompt"] for row in partial.dpo)
    rng = random.Random(2024)
    draws = [draw_record(rng) for _ in records]
    # SFT rows are never dropped, so they line up with the records' draws.
    for d, row in zip(draws, partial.sft, strict=True):
        shown = row["conversations"][0]["value"]
        assert ("Reference Response:\n" in shown) == (d.template_variant in (2, 3))
    for d, row in zip(draws, full.sft, strict=True):
        assert ("Draft Response:\n" in row["conversations"][0]["value"]) == (
            d.template_variant in (1, 3)
        )
    extra_full = [r["case_type"] == 8 for r in full.ipl if r["case_type"] >= 6]
    extra_gen = [r["case_type"] == 8 for r in gen.ipl if r["case_type"] >= 6]
    assert extra_full == extra_gen


def test_a_different_seed_gives_a_different_mix_and_the_same_seed_the_same_rows():
    records = make_records(100)
    assert diversify_pop(records, seed=1).ipl == diversify_pop(records, seed=1).ipl
    assert diversify_pop(records, seed=1).ipl != diversify_pop(records, seed=2).ipl


def test_writes_never_overwrite_and_leave_no_staging_folders(tmp_path):
    data = diversify_pop(make_records(20))
    out = write_diversified(data, tmp_path / "data")
    assert sorted(p.name for p in out.iterdir()) == [
        "dpo.jsonl",
        "ipl.jsonl",
        "sft.json",
        "type_mix.json",
    ]
    before = (out / "ipl.jsonl").read_bytes()
    with pytest.raises(FileExistsError, match="not empty"):
        write_diversified(diversify_pop(make_records(20), seed=5), out)
    assert (out / "ipl.jsonl").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    rows = [json.loads(line) for line in (out / "ipl.jsonl").read_text().splitlines()]
    assert list(rows[0]) == [
        "id",
        "prompt",
        "rejected",
        "chosen",
        "s_p",
        "r_p",
        "g_r",
        "p_o",
        "case_type",
    ]


def test_diversify_to_dir_resumes_with_same_settings_and_refuses_others(tmp_path):
    records = make_records(30)
    first = diversify_to_dir(records, tmp_path / "data", seed=11)
    stamp = (tmp_path / "data" / "dpo.jsonl").stat().st_mtime_ns
    again = diversify_to_dir(records, tmp_path / "data", seed=11)
    assert again == json.loads(json.dumps(first))
    assert (tmp_path / "data" / "dpo.jsonl").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="other settings"):
        diversify_to_dir(records, tmp_path / "data", seed=12)


def run_cli(*argv: str) -> int:
    """``fipo diversify``, through the CLI's error boundary (errors become one line)."""
    from fipo_utils.cli import main

    return main(["diversify", *argv])


def test_cli_writes_the_four_files(tmp_path, capsys):
    assert run_cli("sample", "--out", str(tmp_path / "out"), "--variant", "gen") == 0
    summary = json.loads((tmp_path / "out" / "type_mix.json").read_text())
    n = len(load_pop("sample"))
    assert summary["rows"] == {"sft": n, "dpo": n, "ipl": 2 * n}
    assert summary["variant"] == "gen" and summary["mode"] == "fixed"
    assert len(json.loads((tmp_path / "out" / "sft.json").read_text())) == n
    assert "wrote" in capsys.readouterr().out


@pytest.mark.shared
def test_cli_faithful_mode_reproduces_the_reference_on_a_pop_file(tmp_path, prompts_path):
    records = make_records(60, seed=1)
    source = tmp_path / "pop.jsonl"
    source.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records), "utf-8")
    code = run_cli(
        str(source),
        "--out",
        str(tmp_path / "out"),
        "--mode",
        "faithful",
        "--template",
        str(prompts_path),
        "--seed",
        "2024",
    )
    assert code == 0
    prompts = json.loads(prompts_path.read_text(encoding="utf-8"))
    _, dpo_lines, ipl_lines = reference_generation(records, prompts, seed=2024)
    assert (tmp_path / "out" / "ipl.jsonl").read_text("utf-8") == "".join(ipl_lines)
    assert (tmp_path / "out" / "dpo.jsonl").read_text("utf-8") == "".join(dpo_lines)


def test_cli_on_malformed_input_fails_naming_line_and_field_and_writes_nothing(tmp_path, capsys):
    lines = [json.dumps(r.to_dict()) for r in make_records(5)]
    lines[3] = lines[3].replace('"gpt4_optimized_prompt"', '"gpt4_optimised_prompt"')
    source = tmp_path / "pop.jsonl"
    source.write_text("\n".join(lines) + "\n", "utf-8")
    out = tmp_path / "out"
    assert run_cli(str(source), "--out", str(out)) != 0
    error = capsys.readouterr().err
    assert "pop.jsonl, line 4, field 'gpt4_optimized_prompt'" in error and "missing" in error
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["pop.jsonl"]
    # With --skip-invalid the bad line is reported and the rest is written.
    assert run_cli(str(source), "--out", str(out), "--skip-invalid") == 0
    assert "skipped 1 invalid record" in capsys.readouterr().err
    assert json.loads((out / "type_mix.json").read_text())["n_records"] == 4
