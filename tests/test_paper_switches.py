"""Every switch of docs/DIVERGENCES.md, exercised on the tiny model or the tiny profile:
the template used from training to testing, the original template strings, prompt
truncation, tf32, full fine-tuning for IPL, and the original IPL procedure."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest
from train_rows import ipl_records

from fipo_utils.data.template import (
    DEFAULT_TEMPLATE_PATH,
    ORIGINAL,
    load_template,
    resolve_template_path,
)
from fipo_utils.models.generate import GenerationParams, TransformersGenerator
from fipo_utils.models.loading import load_model
from fipo_utils.runs.profiles import TEMPLATE_STEPS, inherit_template, load_profile
from fipo_utils.training.ipl import IplSettings, ipl_settings, rebuild_round_rows
from fipo_utils.training.strategies import _common_arguments, settings_from_profile
from fipo_utils.training.train import prepare_examples


def test_testing_steps_use_the_template_the_data_was_rendered_with() -> None:
    profile = copy.deepcopy(load_profile("tiny"))
    for step in TEMPLATE_STEPS:
        profile[step]["template"] = None
    profile["diversify"]["template"] = "/data/prompts.json"
    inherit_template(profile)
    assert {profile[step]["template"] for step in TEMPLATE_STEPS} == {"/data/prompts.json"}
    # a step that names its own template keeps it
    profile["infer"]["template"] = "/elsewhere.json"
    assert inherit_template(profile)["infer"]["template"] == "/elsewhere.json"


def test_the_paper_profile_runs_the_original_template_throughout() -> None:
    paper = load_profile("paper")
    assert paper["diversify"]["template"] == ORIGINAL
    assert all(paper[step]["template"] == ORIGINAL for step in TEMPLATE_STEPS)


def test_original_template_loads_the_reference_prompts_json(shared_data: Path) -> None:
    path, note = resolve_template_path(ORIGINAL)
    assert path == shared_data / "fipo" / "prompts.json" and "original" in note
    template = load_template(ORIGINAL)
    assert "Sliver" in template.optimizer + template.s_r  # the original's typo, byte for byte


def test_original_template_falls_back_to_the_projects_wording_and_says_so(
    monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FIPO_DATA_DIR", str(tmp_path))
    path, note = resolve_template_path(ORIGINAL)
    assert path == DEFAULT_TEMPLATE_PATH and "not under the reference data" in note
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert load_template(ORIGINAL) == load_template()
    assert any("project's own wording" in str(w.message) for w in caught)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path):
    return load_model(str(tiny_model_dir))


def test_original_truncation_cuts_a_prompt_only_when_prompt_and_response_overflow(tiny) -> None:
    tok = tiny.tokenizer
    prompt = "<|user|>\n" + "Question: how many apples are left? " * 6 + "<|assistant|>\n"
    rows = [{"prompt": prompt, "chosen": "The answer is 42.", "rejected": "Ten."}]
    n_prompt = len(tok(prompt, add_special_tokens=False).input_ids)
    common = {"prompt_format": "tulu", "max_prompt_length": n_prompt // 2}
    roomy = {**common, "max_length": n_prompt + 40}
    tight = {**common, "max_length": n_prompt + 2}
    project = settings_from_profile("tiny", "dpo", **roomy)
    original = settings_from_profile("tiny", "dpo", truncation="original", **roomy)
    # project: every prompt capped; original: left alone while prompt + response fit
    assert prepare_examples(project, rows, tok)[0]["prompt"] != prompt
    assert prepare_examples(original, rows, tok)[0]["prompt"] == prompt
    overflowing = settings_from_profile("tiny", "dpo", truncation="original", **tight)
    cut = prepare_examples(overflowing, rows, tok)[0]["prompt"]
    assert len(tok(cut, add_special_tokens=False).input_ids) <= n_prompt // 2
    assert cut.endswith("<|assistant|>\n")  # the end (assistant tag) is what stays
    with pytest.raises(ValueError, match="truncation"):
        settings_from_profile("tiny", "dpo", truncation="middle")


def test_tf32_reaches_the_trainer_on_gpus_only(tmp_path: Path) -> None:
    import torch

    paper = settings_from_profile("paper", "ipo")
    assert paper.tf32 and paper.truncation == "original"
    arguments = _common_arguments(paper, str(tmp_path))
    assert arguments["tf32"] == (True if torch.cuda.is_available() else None)
    assert not settings_from_profile("tiny", "ipo").tf32


def test_ipl_lora_switch_gives_full_fine_tuning_for_ipl_alone() -> None:
    paper = load_profile("paper")
    ipl, settings = ipl_settings(paper, "ipo")
    assert ipl.procedure == "original" and settings.lora is False
    assert f"ipl-{settings.name}" == "ipl-ipo-full" and settings.epochs == 1
    assert settings_from_profile(paper, "ipo").lora  # DPO/IPO/SFT keep train.lora
    tiny = copy.deepcopy(load_profile("tiny"))
    assert ipl_settings(tiny, "ipo")[1].lora  # unset: train.lora
    tiny["ipl"]["lora"] = False
    assert ipl_settings(tiny, "ipo")[1].name == "ipo-full"


def test_original_ipl_procedure_rebuilds_a_round_with_the_tiny_model(tiny) -> None:
    rows = ipl_records(n_per_case=1)
    generator = TransformersGenerator(tiny.model, tiny.tokenizer, batch_size=8)
    edits = {}
    for procedure in ("original", "project"):
        settings = IplSettings(
            rewrite=GenerationParams(max_new_tokens=6, temperature=0.8, top_p=0.95),
            answer_max_new_tokens=6,
            procedure=procedure,
        )
        edits[procedure] = rebuild_round_rows(
            rows,
            generator=generator,
            judge=lambda prompts: ["B"] * len(prompts),
            to_model_input=lambda p: p,
            template=load_template(),
            settings=settings,
            round_index=2,
        )
    original = edits["original"]
    assert original.n_optimizer_rows == 6
    # multiple-choice re-answers are letters: lower-cased, or a random upper-case one
    case_6 = [r for r in original.rows if r["case_type"] == 6]
    assert all(r["rejected"] in ("a", "b", "A", "B") for r in case_6)
    assert original.n_zero_gradient_dropped == 0
    assert all(r["rejected"] != r["chosen"] for r in edits["project"].rows)


def test_paper_profile_generates_as_long_as_the_original_test_script() -> None:
    paper, smoke = load_profile("paper"), load_profile("smoke")
    assert paper["infer"]["max_new_tokens"] == paper["evaluate"]["max_new_tokens"] == 4096
    assert smoke["evaluate"]["max_new_tokens"] < 4096
    assert paper["evaluate"]["scoring"] == smoke["evaluate"]["scoring"] == "strict"
    assert paper["sft"]["warmup_ratio"] == 0.1  # the paper's; the original script's 0.04 is a key
    assert settings_from_profile("paper", "sft", warmup_ratio=0.04).warmup_ratio == 0.04
