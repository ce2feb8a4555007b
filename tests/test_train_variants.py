"""Training on 01's ablation data (``data_variant``): which file, which optimizer name."""

from __future__ import annotations

from pathlib import Path

import pytest

from fipo_utils.analysis.tables import parse_optimizer
from fipo_utils.runs.folders import MissingStepOutput
from fipo_utils.training.train import variant_data_path, variant_name


def test_variant_names_parse_as_table6_ablations() -> None:
    assert variant_name("sft-lora", None) == "sft-lora"
    assert variant_name("sft-lora", "gen") == "sft-gen-lora"
    assert variant_name("ipl-ipo-full", "partial") == "ipl-ipo-partial-full"
    parsed = parse_optimizer(variant_name("ipl-ipo-lora", "gen"))
    assert (parsed["strategy"], parsed["ablation"], parsed["kind"]) == ("ipl-ipo", "gen", "lora")


def test_variant_data_comes_from_the_ablation_folder(tmp_path: Path) -> None:
    (tmp_path / "data" / "gen").mkdir(parents=True)
    (tmp_path / "data" / "sft.json").write_text("[]")
    (tmp_path / "data" / "gen" / "sft.json").write_text("[]")
    assert variant_data_path(tmp_path, "data/sft.json", None) == tmp_path / "data" / "sft.json"
    assert variant_data_path(tmp_path, "data/sft.json", "gen") == tmp_path / "data/gen/sft.json"
    with pytest.raises(MissingStepOutput, match="partial"):
        variant_data_path(tmp_path, "data/sft.json", "partial")
