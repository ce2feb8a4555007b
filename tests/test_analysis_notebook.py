"""Notebook 07 and the `fipo figures` / `fipo compare` commands on synthetic run folders."""

from __future__ import annotations

import argparse

import pytest
from analysis_synthetic import make_run

from fipo_utils.commands import compare, figures


def _parse(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.slow
@pytest.mark.notebook
def test_notebook_07_writes_paper_tables_and_figures(tmp_path, run_notebook):
    run = make_run(tmp_path, "20260101-000000-nb")
    other = make_run(tmp_path, "20260102-000000-beside", baselines=False, training=False)
    # the notebook's own profile default (smoke): run_dir is a synthetic run folder
    book = run_notebook(
        "07_analysis",
        tmp_path,
        output="executed.ipynb",
        run_dir=str(run),
        extra_run_dirs=[str(other)],
        figures_dir=str(tmp_path / "figures"),
        confidence=0.9,
    )
    analysis = run / "analysis"
    for name in ("table2_tester_benchmark", "table6_strategies", "table8_bbh_tasks"):
        assert (analysis / f"{name}.csv").stat().st_size > 0
        assert (analysis / f"{name}.md").read_text().startswith(("**run=", "| run"))
    report = (analysis / "report.md").read_text()
    assert "20260102-000000-beside" in report  # the extra run is laid beside
    assert "39.06 -> 40.17" in report and "n=14" in report
    figure_names = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert "analysis_accuracy.svg" in figure_names and len(figure_names) == 14
    assert sorted(p.name for p in (run / "figures").iterdir()) == figure_names
    cells = book["cells"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 7


def test_figures_command_regenerates_into_out(tmp_path, capsys):
    run = make_run(tmp_path, "20260101-000000-cmd", baselines=False, training=False)
    args = _parse(figures, [str(run), "--out", str(tmp_path / "out")])
    assert figures.run(args) == 0
    printed = capsys.readouterr().out
    assert f"report: {run / 'analysis' / 'report.md'}" in printed
    copied = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert copied == sorted(p.name for p in (run / "figures").iterdir())
    assert "analysis_cheating_notes.png" in copied


def test_compare_command_exit_status_tells_identical_from_different(tmp_path, capsys):
    first = make_run(tmp_path, "20260101-000000-a", baselines=False, training=False)
    second = make_run(tmp_path, "20260101-000000-b", baselines=False, training=False)
    third = make_run(
        tmp_path,
        "20260101-000000-c",
        baselines=False,
        training=False,
        optimized={"sft-lora": {"gsm8k": [1, 1, 1, 1]}},
    )
    assert compare.run(_parse(compare, [str(first), str(second)])) == 0
    assert "identical tables" in capsys.readouterr().out
    assert compare.run(_parse(compare, [str(first), str(third)])) == 1
    assert "difference(s)" in capsys.readouterr().out
