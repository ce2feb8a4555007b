"""The seed-spread table: one strategy's seeds side by side per primary cell."""

from __future__ import annotations

import pandas as pd
import pytest

from fipo_utils.analysis.seed_spread import PROFILE_SEED, seed_spread_markdown, seed_spread_table
from fipo_utils.runs.names import seeded_name, split_seed


def _row(optimizer: str, gain: float, **extra) -> dict:
    return {
        "run": "r",
        "source": "eval",
        "optimizer": optimizer,
        "tester": "smol",
        "benchmark": "pooled",
        "scoring": "continuation",
        "endpoint": "primary",
        "verdict": "no difference",
        "gain": gain,
        "gain_low": gain - 0.05,
        "gain_high": gain + 0.05,
        "n_items": 70,
        **extra,
    }


def test_seeds_of_one_strategy_sit_side_by_side_with_their_spread() -> None:
    study = pd.DataFrame(
        [
            _row("sft-lora-seed2", 0.04),
            _row("sft-lora", 0.01),
            _row("sft-lora-seed10", -0.02),
            _row("dpo-lora", 0.03),  # one seed only: no spread to show
            _row("sft-lora", 0.30, endpoint="secondary", scoring="letter"),  # not primary
            _row("identity", 0.0, verdict="control"),
        ]
    )
    table = seed_spread_table(study)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["optimizer"] == "sft-lora" and row["n_seeds"] == 3
    assert row["seeds"] == f"{PROFILE_SEED}, 2, 10"  # profile seed first, then numeric
    assert row["gains"] == "+1.0, +4.0, -2.0"
    assert row["gain_mean"] == pytest.approx(1.0)
    assert row["gain_sd"] == pytest.approx(3.0)
    assert (row["gain_min"], row["gain_max"]) == (-2.0, 4.0)
    assert row["item_half_width"] == pytest.approx(5.0)
    assert "| sft-lora |" in seed_spread_markdown(table)


def test_without_several_seeds_the_table_is_empty_and_says_how_to_get_one() -> None:
    study = pd.DataFrame([_row("sft-lora", 0.01), _row("dpo-lora", 0.03)])
    table = seed_spread_table(study)
    assert table.empty and "gain_sd" in table.columns
    assert "seeds:" in seed_spread_markdown(table)
    assert seed_spread_table(pd.DataFrame()).empty


def test_seeded_names_round_trip() -> None:
    assert seeded_name("sft-lora", None) == "sft-lora"
    assert seeded_name("sft-lora", 7) == "sft-lora-seed7"
    assert split_seed("sft-lora-seed7") == ("sft-lora", 7)
    assert split_seed("sft-lora") == ("sft-lora", None)
    assert split_seed("seedling") == ("seedling", None)
