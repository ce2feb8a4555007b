"""The benchmark runner's report: table rendering, scaling plots, and the README table
staying in step with the newest committed results (no measuring here: tests never time)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import run as bench_run
from benchmarks.harness import ratio_row


def _report(rows: list[dict]) -> dict:
    return {
        "date": "2026-01-01T00-00-00Z",
        "quick": True,
        "machine": {"cpu": "test cpu", "cores": 2, "torch": "x"},
        "results": rows,
    }


def test_readme_table_is_the_newest_results_table():
    """The README shows what the newest run wrote, rendered again from its JSON."""
    newest = bench_run.latest_report()
    report = json.loads(newest.read_text(encoding="utf-8"))
    markdown = bench_run.markdown_table(report)
    assert newest.with_suffix(".md").read_text(encoding="utf-8") == markdown
    block = bench_run.readme_block()
    assert block.startswith(markdown), f"README table is not {newest.name}'s; rerun --update-readme"
    rest = block.removeprefix(markdown).strip()
    if rest:  # only the scaling-curve image of the same run may follow the table
        assert (
            rest == f"![benchmark scaling curves](benchmarks/results/{report['date']}-scaling.png)"
        )
        assert (bench_run.RESULTS_DIR / f"{report['date']}-scaling.png").is_file()


def test_newest_results_cover_every_benchmark_area():
    report = json.loads(bench_run.latest_report().read_text(encoding="utf-8"))
    areas = {row["area"] for row in report["results"]}
    modules = {path.stem.removeprefix("bench_") for path in bench_run.discover(None)}
    pending = set(bench_run.NOT_YET_MEASURED)
    assert areas | pending == modules
    assert not areas & pending, "a measured area is still listed in NOT_YET_MEASURED"
    readme = bench_run.README.read_text(encoding="utf-8")
    for area in pending:
        assert f"`{area}` area is not measured yet" in readme
    assert not [row for row in report["results"] if "error" in row]


def test_latest_report_skips_one_off_measurements(tmp_path: Path):
    """One-off scripts write ``<time>-<name>.json`` beside the suite's reports; the
    README table must keep following the suite's own newest report."""
    (tmp_path / "2026-01-01T00-00-00Z.json").write_text("{}", encoding="utf-8")
    (tmp_path / "2026-01-02T00-00-00Z.json").write_text("{}", encoding="utf-8")
    (tmp_path / "2026-01-03T00-00-00Z-letter-scorer-fix.json").write_text("{}", encoding="utf-8")
    assert bench_run.latest_report(tmp_path).name == "2026-01-02T00-00-00Z.json"


def test_ratio_row_says_candidate_wins_above_one_for_costs_and_speeds():
    speeds = ratio_row("s", "b", "c", "tokens/s", [10.0, 10.0, 10.0], [20.0, 40.0, 30.0])
    assert (speeds["ratio_min"], speeds["ratio_median"], speeds["ratio_max"]) == (2.0, 3.0, 4.0)
    costs = ratio_row("c", "b", "c", "s", [10.0, 8.0], [2.0, 4.0], higher_is_better=False)
    assert (costs["ratio_min"], costs["ratio_max"]) == (2.0, 5.0)


def test_markdown_table_renders_skipped_and_failed_rows():
    rows = [
        {**ratio_row("fast", "old", "new", "s", [2.0], [1.0], "n", higher_is_better=False)},
        {
            "name": "vllm",
            "baseline": "hf",
            "candidate": "vllm",
            "ratio_min": None,
            "ratio_median": None,
            "ratio_max": None,
            "notes": "skipped: no venv",
        },
        {"name": "bench_x failed", "error": "RuntimeError: boom\n  at a|b"},
    ]
    for row, area in zip(rows, ("gen", "gen", "x"), strict=True):
        row["area"] = area
    lines = bench_run.markdown_table(_report(rows)).splitlines()
    assert lines[4] == "| gen | fast | old | new | 2.00 | 2.00 | 2.00 | n |"
    assert lines[5] == "| gen | vllm | hf | vllm | n/a | n/a | n/a | skipped: no venv |"
    assert lines[6] == "| x | bench_x failed | | | | | | RuntimeError: boom at a\\|b |"
    assert len(lines) == 7  # the traceback's newline did not split the row


def test_scaling_plot_draws_one_panel_per_series(tmp_path: Path):
    pytest.importorskip("matplotlib")
    one = {"x": [1, 2], "y": {"a": [1.0, 2.0]}, "xlabel": "n", "ylabel": "s"}
    rows = [
        {"area": "gen", "name": "r1", "series": [one, {**one, "ylabel": "MiB"}]},
        {"area": "data", "name": "r2", "series": one},
        {"area": "data", "name": "r3"},
    ]
    assert [s["ylabel"] for row in rows for s in bench_run.series_of(row)] == ["s", "MiB", "s"]
    target = tmp_path / "curves.png"
    assert bench_run.plot_series(_report(rows), target)
    assert target.stat().st_size > 1000
    assert not bench_run.plot_series(_report([rows[2]]), tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_update_readme_replaces_only_the_block(tmp_path: Path):
    readme = tmp_path / "README.md"
    readme.write_text(
        f"intro\n{bench_run.README_START}\nold table\n{bench_run.README_END}\noutro\n"
    )
    bench_run.update_readme("new table\n", readme)
    assert readme.read_text() == (
        f"intro\n{bench_run.README_START}\nnew table\n{bench_run.README_END}\noutro\n"
    )
    assert bench_run.readme_block(readme) == "new table\n"
    readme.write_text("no markers")
    with pytest.raises(SystemExit, match="no <!-- benchmark-table:start -->"):
        bench_run.update_readme("x", readme)


def test_merge_keeps_other_areas_and_says_when_they_were_measured():
    old = {**_report([]), "date": "D1", "seconds_per_area": {"bench_data": 5.0}}
    old["results"] = [
        {**ratio_row("tok", "a", "b", "s", [1.0], [2.0]), "area": "data"},
        {**ratio_row("old gen", "a", "b", "s", [1.0], [2.0]), "area": "generation"},
    ]
    new = {**_report([]), "date": "D2", "seconds_per_area": {"bench_generation": 9.0}}
    new["results"] = [{**ratio_row("new gen", "a", "b", "s", [1.0], [3.0]), "area": "generation"}]
    merged = bench_run.merge_reports(old, new)
    assert [row["name"] for row in merged["results"]] == ["tok", "new gen"]
    assert merged["area_dates"] == {"data": "D1", "generation": "D2"}
    assert merged["seconds_per_area"] == {"bench_data": 5.0, "bench_generation": 9.0}
    header = bench_run.markdown_table(merged).splitlines()[0]
    assert header.startswith("Measured D2 (quick mode)")
    assert header.endswith("Areas measured earlier in the same mode: data: D1.")
    again = bench_run.merge_reports(merged, {**new, "date": "D3"})  # dates carry over
    assert again["area_dates"] == {"data": "D1", "generation": "D3"}
    with pytest.raises(SystemExit, match="other mode"):
        bench_run.merge_reports({**old, "quick": False}, new)
    # rows measured on another CPU keep its name in the header
    elsewhere = {**old, "machine": {**old["machine"], "cpu": "other cpu"}}
    header = bench_run.markdown_table(bench_run.merge_reports(elsewhere, new)).splitlines()[0]
    assert header.endswith("Areas measured earlier in the same mode: data: D1 on other cpu.")
