"""Profiles: inheritance, explicit nulls, parameter overrides."""

from pathlib import Path

import pytest
import yaml

from fipo_utils.runs.profiles import available_profiles, load_profile, section


def test_shipped_profiles_load_and_share_every_section():
    names = available_profiles()
    assert {"smoke", "paper", "tiny"} <= set(names)
    # ``sizing`` records the pilot behind a study profile's item counts; it drives no step
    sections = {n: set(load_profile(n)) - {"sizing"} for n in names}
    assert all(s == sections["smoke"] for s in sections.values())


def test_paper_profile_carries_the_papers_settings():
    paper = load_profile("paper")
    assert paper["preference"]["beta"] == 0.01
    assert paper["preference"]["learning_rate"] == 5e-7
    assert paper["sft"]["learning_rate"] == 2e-5
    assert paper["infer"]["temperature"] == 0.8 and paper["infer"]["top_p"] == 0.95
    assert paper["models"]["prompt_format"] == "tulu"


def test_explicit_null_in_a_child_profile_overrides_the_parent(tmp_path: Path):
    child = tmp_path / "child.yaml"
    child.write_text(yaml.safe_dump({"inherits": "smoke", "infer": {"n_items": None}}))
    assert load_profile("smoke")["infer"]["n_items"] is not None
    assert load_profile(str(child))["infer"]["n_items"] is None
    assert load_profile("paper")["infer"]["n_items"] is None, "paper runs the full test sets"


def test_notebook_parameters_left_at_none_keep_the_profile_value():
    base = load_profile("smoke")["infer"]
    merged = section("smoke", "infer", n_items=None, max_new_tokens=7)
    assert merged["n_items"] == base["n_items"]
    assert merged["max_new_tokens"] == 7


def test_unknown_profile_names_the_available_ones():
    with pytest.raises(FileNotFoundError, match="smoke"):
        load_profile("no-such-profile")


def test_paper_training_settings_do_not_inherit_smoke_step_caps():
    from fipo_utils.training.strategies import settings_from_profile

    for strategy in ("sft", "dpo", "ipo"):
        paper = settings_from_profile("paper", strategy)
        assert paper.max_steps == -1, strategy
        assert paper.batch_size == 2 and paper.global_batch == 512 and paper.max_length == 2048
        assert paper.max_rows is None
    assert settings_from_profile("paper", "dpo").learning_rate == 5e-7
    smoke = settings_from_profile("smoke", "dpo")
    assert smoke.max_steps > 0 and smoke.batch_size < 8
