"""Notebooks 00 (tour) and 01 (diversification) run headless through papermill."""

from __future__ import annotations

import json

import pytest

from fipo_utils.data.pop import SAMPLE_POP_PATH, load_pop
from fipo_utils.runs.paths import reference_path

pytestmark = [pytest.mark.slow, pytest.mark.notebook]


def test_tour_notebook_shows_versions_records_variants_and_wrappings(
    tmp_path, run_notebook, notebook_text
):
    book = run_notebook("00_tour", tmp_path, run_dir=str(tmp_path), profile="smoke")
    report = json.loads((tmp_path / "tour" / "environment.json").read_text())
    assert report["packages"]["transformers"] and report["sample_pop"]
    text = notebook_text(book)
    for variant in ("none (test time)", "silver", "golden", "silver + golden"):
        assert f"===== variant: {variant} =====" in text
    record = load_pop(SAMPLE_POP_PATH)[0]
    assert record.golden_response in text and record.chosen_prompt in text
    # Tulu wrapping and SmolLM2's own chat template (ChatML turns), with token counts.
    assert "<|im_start|>user" in text and "<|im_start|>assistant" in text
    assert "===== tulu:" in text and "<|user|>\n" in text
    # the template the chain renders with this profile (smoke: diversify.template null, the
    # project's own wording), not the original strings, even when those are present
    assert "template used by the chain with this profile: the project's default" in text
    assert "Sliver Prompt:" not in text
    original = reference_path("fipo", "prompts.json")
    assert f"original template (reference data): {original or 'not present'}" in text


def test_diversification_notebook_writes_data_figures_and_ablations(tmp_path, run_notebook):
    # One execution (kernels are slow to start): profile defaults plus one overridden key.
    run_notebook(
        "01_diversification", tmp_path, run_dir=str(tmp_path), profile="smoke", max_records=25
    )
    data = tmp_path / "data"
    summary = json.loads((data / "type_mix.json").read_text())
    assert summary["n_records"] == 25 and summary["rows"]["sft"] == 25
    assert summary["mode"] == "fixed" and summary["variant"] == "full"
    assert len(json.loads((data / "sft.json").read_text())) == 25
    assert len((data / "ipl.jsonl").read_text().splitlines()) == summary["rows"]["ipl"]
    gen = json.loads((data / "gen" / "type_mix.json").read_text())
    partial = json.loads((data / "partial" / "type_mix.json").read_text())
    assert gen["counts"]["main"]["1"] == gen["counts"]["main"]["4"] == 0
    assert sum(gen["counts"]["main"].values()) == 25
    assert sum(partial["counts"]["main"][c] for c in ("1", "2", "4", "5")) == 0
    for figure in ("01_type_mix", "01_lengths", "01_variant_mix"):
        assert (tmp_path / "figures" / f"{figure}.png").stat().st_size > 0
