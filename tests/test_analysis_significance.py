"""Paired statistics of the study tables: exact McNemar, Holm verdicts, the paired interval,
and the item-count calculator, on counts that can be checked by hand."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from analysis_synthetic import make_run

from fipo_utils.analysis.results import collect_runs
from fipo_utils.analysis.significance import (
    half_width_for_items,
    holm,
    items_for_half_width,
    mcnemar_exact_p,
    pilot_sizes,
    study_table,
)
from fipo_utils.analysis.study_tables import study_markdown


def test_exact_mcnemar_is_a_binomial_test_on_discordant_items() -> None:
    # 8 improved, 1 worsened: two-sided P(X <= 1 or X >= 8 | 9, 1/2) = 2 * 10 / 512
    assert mcnemar_exact_p(8, 1) == pytest.approx(20 / 512)
    assert mcnemar_exact_p(3, 3) == pytest.approx(1.0)
    assert mcnemar_exact_p(0, 0) == 1.0  # nothing changed


def test_holm_multiplies_the_smallest_p_by_the_family_size() -> None:
    adjusted, reject = holm(pd.Series([0.01, 0.04, 0.03]))
    assert adjusted.tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert reject.tolist() == [True, False, False]


def test_items_for_half_width() -> None:
    # n = z^2 d / h^2 = 1.96^2 * 0.2 / 0.05^2 = 307.3 -> 308
    assert items_for_half_width(0.2) == 308
    assert items_for_half_width(0.2, half_width=0.1) == 77
    assert items_for_half_width(0.2, gain=0.2) < items_for_half_width(0.2)
    assert items_for_half_width(0.0) == 1
    with pytest.raises(ValueError):
        items_for_half_width(1.5)
    # the inverse: 308 items at discordance 0.2 resolve just under 5 points
    assert half_width_for_items(0.2, 308) == pytest.approx(0.05, abs=2e-4)
    assert half_width_for_items(0.2, 308) <= 0.05


def test_study_table_counts_on_the_synthetic_run(tmp_path: Path) -> None:
    table = study_table(collect_runs([make_run(tmp_path)]))
    answer = table[(table["scoring"] == "answer") & (table["source"] == "eval")]
    ipl = answer[answer["optimizer"] == "ipl-ipo-lora"].set_index("benchmark")
    assert ipl.loc["gsm8k", ["n_items", "n_improved", "n_worsened"]].tolist() == [4, 1, 0]
    assert ipl.loc["gsm8k", "gain"] == pytest.approx(0.25)
    assert ipl.loc["bbh", ["n_items", "n_improved"]].tolist() == [5, 2]  # tasks pooled
    pooled = ipl.loc["pooled"]
    assert (pooled["n_items"], pooled["n_improved"], pooled["n_worsened"]) == (14, 4, 0)
    assert pooled["mcnemar_p"] == pytest.approx(2 * 0.5**4)
    assert pooled["gain_low"] <= pooled["gain"] <= pooled["gain_high"]
    # a second scoring is tested on its own: every item right in both conditions
    lenient = table[table["scoring"] == "lenient"]
    assert (lenient["gain"] == 0).all() and (lenient["verdict"] == "no difference").all()
    assert set(table["verdict"]) <= {"better", "worse", "no difference", "control"}
    # every interval has width, whatever the counts
    assert (table["gain_high"] > table["gain_low"]).all()
    assert (table["gain_high_family"] - table["gain_low_family"] >= table["half_width"] * 2).all()
    # families are keyed by run, source, endpoint and level: 06's cells never share one with 08's
    for family, part in table.groupby(["run", "family"]):
        assert part["source"].nunique() == 1 and part["endpoint"].nunique() == 1, family


def _predictions(optimizer: str, naive: list[bool], optimized: list[bool]) -> list[dict]:
    rows = []
    for condition, flags in (("naive", naive), ("optimized", optimized)):
        for i, ok in enumerate(flags):
            rows.append(
                {
                    "run": "r",
                    "source": "eval",
                    "id": str(i),
                    "benchmark": "piqa",
                    "benchmark_group": "piqa",
                    "optimizer": optimizer,
                    "tester": "t",
                    "condition": condition,
                    "correct": ok,
                    "scoring": "letter",
                    "correct_by": {"letter": ok},
                }
            )
    return rows


def test_verdicts_after_holm() -> None:
    n = 40
    frame = pd.DataFrame(
        _predictions("helps", [False] * n, [True] * n)
        + _predictions("hurts", [True] * n, [False] * n)
        + _predictions("few", [True] * 4 + [False] * (n - 4), [False] * n)
        + _predictions("identity", [True, False] * (n // 2), [True, False] * (n // 2))
    )
    table = study_table(SimpleNamespace(predictions=frame))
    cells = table[table["benchmark"] == "piqa"].set_index("optimizer")
    assert cells.loc["helps", "verdict"] == "better"
    assert cells.loc["hurts", "verdict"] == "worse"
    # the control is reported, but its constant cell does not count in the family
    assert cells.loc["identity", "verdict"] == "control"
    assert cells.loc["identity", "gain"] == 0
    assert cells.loc["identity", "gain_low"] < 0 < cells.loc["identity", "gain_high"]
    assert (cells.loc[["helps", "hurts", "few"], "family_size"] == 3).all()
    # three cells in the family: Holm's adjusted p is at least the raw one
    assert (cells["holm_p"] >= cells["mcnemar_p"]).all()
    # 0 up, 4 down of 40: exact p = 0.125; the family-level interval covers 0 and agrees
    few = cells.loc["few"]
    assert few["mcnemar_p"] == pytest.approx(0.125) and few["verdict"] == "no difference"
    assert few["gain_low_family"] < 0 < few["gain_high_family"]
    assert few["family_level"] == pytest.approx(1 - 0.05 / 3)
    assert (cells["agreement"] == "agree").all()
    # power: the MDE is defined where many verdicts flip, and larger under the correction
    assert cells.loc["helps", "mde"] < cells.loc["helps", "mde_family"] <= 1
    markdown = study_markdown(table)
    assert "▲" in markdown["study_table2"] and "▼" in markdown["study_table6"]
    assert "Family: these 3 cells" in markdown["study_table2"]
    assert "primary endpoint (multiple choice: letter" in markdown["study_table2"]
    assert "Tango score interval" in markdown["study_table2"] and "MDE" in markdown["study_table2"]
    sizes = pilot_sizes(table).set_index("optimizer")
    assert sizes.loc["identity", "discordance"] == 0
    assert sizes.loc["helps", "items_needed"] == items_for_half_width(1.0)


def test_primary_endpoint_and_sources_make_separate_families() -> None:
    frame = pd.DataFrame(
        _predictions("helps", [False] * 10, [True] * 10)
        + [
            {**row, "source": "baselines"}
            for row in _predictions("helps", [False] * 10, [True] * 10)
        ]
    )
    frame["correct_by"] = [{"letter": ok, "continuation": not ok} for ok in frame["correct"]]
    primary = {"multiple_choice": "continuation", "generation": "strict"}
    table = study_table(SimpleNamespace(predictions=frame), primary=primary)
    piqa = table[table["benchmark"] == "piqa"]
    assert set(piqa.loc[piqa["scoring"] == "continuation", "endpoint"]) == {"primary"}
    assert set(piqa.loc[piqa["scoring"] == "letter", "endpoint"]) == {"secondary"}
    assert piqa["family"].nunique() == 4  # two sources x two endpoints
    assert (piqa["family_size"] == 1).all()
    # the primary endpoint's rows come first
    assert table["endpoint"].iloc[0] == "primary"
    markdown = study_markdown(table, primary)["study_table2"]
    assert markdown.index("source=eval") < markdown.index("source=baselines")
    assert markdown.index("primary endpoint") < markdown.index("secondary endpoint")
