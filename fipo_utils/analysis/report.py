"""Notebook 07 and ``fipo figures`` in one place: collect runs, build the paper-shaped
tables and the figures, write them into the run folder (``analysis/``, ``figures/``) and
regenerate the figures into the project's ``figures/`` folder.

Analysis outputs are derived from the result files and are rewritten on every analysis of a
run (the result files themselves are never touched).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from fipo_utils.analysis import figures as report_figures
from fipo_utils.analysis import (
    gates,
    published,
    readings,
    seed_spread,
    significance,
    study_tables,
    tables,
)
from fipo_utils.analysis.results import RunCollection, collect_runs
from fipo_utils.runs.figure_files import save_figure
from fipo_utils.runs.folders import MissingStepOutput
from fipo_utils.runs.paths import runs_root
from fipo_utils.runs.settings import AnalysisSettings  # also reached as report.AnalysisSettings

ANALYSIS_FOLDER = "analysis"


def ci_options(settings: AnalysisSettings) -> tables.CIOptions:
    """How the analysis draws its intervals: at the settings' confidence level."""
    return tables.CIOptions(settings.confidence)


@dataclass
class Analysis:
    """Tables (frames and Markdown) and figures of one analysis."""

    collection: RunCollection
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    markdown: dict[str, str] = field(default_factory=dict)
    figures: list[report_figures.FigureResult] = field(default_factory=list)


def latest_analysable_run(root: str | Path | None = None) -> Path:
    """The newest run folder (by name, which starts with its UTC time) holding a results
    table: what notebook 07 analyses when ``run_dir`` is left empty."""
    root = Path(root or runs_root())
    candidates = sorted(
        p
        for p in root.glob("*")
        if any((p / s / "results.csv").exists() for s in ("eval", "baselines"))
    )
    if not candidates:
        raise MissingStepOutput(
            f"no run under {root} has eval/results.csv or baselines/results.csv: run notebooks "
            "00-06 first (`fipo reproduce`), or pass run_dir"
        )
    return candidates[-1]


def build_tables(collection: RunCollection, settings: AnalysisSettings) -> Analysis:
    """Every table of the analysis, as frames and as Markdown."""
    ci = ci_options(settings)
    scores = tables.benchmark_scores(collection, ci)
    overall = tables.overall_scores(collection, scores, ci)
    table2 = tables.tester_benchmark_table(scores, overall, settings.table2_reference_tester)
    table6 = tables.strategy_table(overall)
    table8 = tables.bbh_task_table(collection, ci, settings.table8_reference_tester)
    gate_rows = gates.gate_table(collection)
    study = gates.with_gate_marks(
        significance.study_table(collection, primary=settings.primary, level=settings.confidence),
        gate_rows,
    )
    spread = seed_spread.seed_spread_table(study)
    validity, unvalidated = readings.validity_frame(collection)
    both_readings = readings.readings_table(collection)
    analysis = Analysis(collection)
    analysis.tables = {
        "results_tidy": collection.all_results,
        "benchmark_scores": pd.concat([scores, overall], ignore_index=True),
        "table2_tester_benchmark": table2,
        "table6_strategies": table6,
        "table8_bbh_tasks": table8,
        "study_significance": study,
        "gates": gate_rows,
        "seed_spread": spread,
        "rewrite_validity": validity,
        "readings": both_readings,
    }
    analysis.markdown = {
        "table2_tester_benchmark": tables.tester_benchmark_markdown(table2),
        "table6_strategies": tables.strategy_markdown(table6),
        "table8_bbh_tasks": tables.bbh_task_markdown(table8),
        **study_tables.study_markdown(study, settings.primary),
        "seed_spread": seed_spread.seed_spread_markdown(spread),
        "gates": gates.gates_markdown(gate_rows),
        "rewrite_validity": readings.validity_markdown(validity, unvalidated),
        "readings": readings.readings_markdown(both_readings),
    }
    return analysis


def build_figures(analysis: Analysis) -> list[report_figures.FigureResult]:
    """Every figure the runs hold data for (a missing input skips its figure); built once per
    analysis, so a later call returns the same figures."""
    if analysis.figures:
        return analysis.figures
    collection = analysis.collection
    candidates = [
        *report_figures.accuracy_figure(analysis.tables["table2_tester_benchmark"]),
        report_figures.strategy_figure(analysis.tables["table6_strategies"]),
        *report_figures.study_gain_figure(analysis.tables["study_significance"]),
        report_figures.ipl_rounds_figure(collection.ipl_rounds),
        *report_figures.training_curves_figure(collection.train_metrics),
        report_figures.type_mix_figure(collection.type_mix),
        report_figures.prompt_length_figure(collection.optimized),
        *report_figures.cheating_note_figure(collection.optimized),
    ]
    analysis.figures = [f for f in candidates if f is not None]
    return analysis.figures


def analyse(run_dirs: list[str | Path], settings: AnalysisSettings) -> Analysis:
    """Collect ``run_dirs`` and build every table and figure."""
    analysis = build_tables(collect_runs(run_dirs), settings)
    build_figures(analysis)
    return analysis


def write_tables(analysis: Analysis, run_dir: str | Path) -> list[Path]:
    """CSV for every table and Markdown for the paper-shaped ones under ``run_dir/analysis/``,
    plus the published tables as CSV and a ``report.md`` that strings them together."""
    folder = Path(run_dir) / ANALYSIS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    # report.md lists the figures: build them first, so notebook 07 (tables, then figures)
    # writes the same report as `fipo figures` (tables and figures together)
    build_figures(analysis)
    written = []
    for name, frame in analysis.tables.items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        written.append(path)
    for name, text in analysis.markdown.items():
        path = folder / f"{name}.md"
        path.write_text(text + "\n", encoding="utf-8")
        written.append(path)
    for name, frame in (
        ("published_table2", published.table2_frame()),
        ("published_table6", published.table6_frame()),
        ("published_table8", published.table8_frame()),
    ):
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        written.append(path)
    path = folder / "report.md"
    path.write_text(report_markdown(analysis), encoding="utf-8")
    written.append(path)
    return written


def report_markdown(analysis: Analysis) -> str:
    """One page: runs, the three paper-shaped tables, and every figure with its caption."""
    runs = ", ".join(f"`{r}`" for r in analysis.collection.runs)
    parts = [
        f"# Analysis of {runs}",
        "Accuracy in percent. The study tables come first and lead with the primary endpoint "
        "declared in the profile (`analysis.primary`); every other scoring is secondary. Their "
        "gains carry an exact-consistent Tango interval at the Holm family's Bonferroni "
        "level, the exact McNemar test after Holm, and the minimum detectable effect at 80% "
        "power; accuracies carry Wilson intervals. The paper-shaped tables use each "
        "benchmark's paper scoring (the results' `primary` flag); weighted averages carry the "
        "MOVER combination of their "
        "benchmarks' intervals and their effective n. Published numbers: "
        f"{published.PAPER}. `{published.WEIGHTED_AVERAGE}` is the paper's weighted average: "
        "benchmarks weighted by their full test-set sizes.",
    ]
    titles = {
        "gates": "Did each trained optimizer learn? (the gates of notebooks 02-05 and 10)",
        "study_table6": "Every optimizer, each scoring's benchmarks pooled (Table 6 shape)",
        "study_table2": "Every optimizer per benchmark (Table 2 shape)",
        "seed_spread": "Between-seed spread of the gains (strategies trained with several seeds)",
        "table2_tester_benchmark": "Tester x benchmark (Table 2 shape, paper scoring)",
        "table6_strategies": "Strategies (Table 6 shape, paper scoring and weights)",
        "table8_bbh_tasks": "BBH tasks (Table 8 shape)",
    }
    for name, title in titles.items():
        parts += [f"## {title}", analysis.markdown[name]]
    parts.append("## Figures")
    for result in analysis.figures:
        parts += [f"![{result.name}](../figures/{result.name}.png)", f"*{result.caption}*"]
    return "\n\n".join(parts) + "\n"


def write_figures(
    analysis: Analysis, run_dir: str | Path, figures_dir: str | Path | None
) -> list[Path]:
    """Save every figure into the run folder (PNG and SVG) and, unless ``figures_dir`` is
    None, copy those files into it (the project's ``figures/``): rendered once, so the two
    copies are byte-identical."""
    written = []
    for result in analysis.figures:
        saved = save_figure(result.figure, run_dir, result.name)
        written += saved
        if figures_dir is not None:
            folder = Path(figures_dir)
            folder.mkdir(parents=True, exist_ok=True)
            written += [Path(shutil.copyfile(path, folder / path.name)) for path in saved]
    return written


def close_figures(analysis: Analysis) -> None:
    for result in analysis.figures:
        plt.close(result.figure)


def compare_runs(first: str | Path, second: str | Path, settings: AnalysisSettings) -> list[str]:
    """Differences between the tables of two runs analysed on their own (run names ignored);
    an empty list means identical tables - the determinism check for two same-seed runs."""
    left = build_tables(collect_runs([first]), settings)
    right = build_tables(collect_runs([second]), settings)
    problems = []
    for name in left.tables:
        for problem in tables.tables_identical(left.tables[name], right.tables[name]):
            problems.append(f"{name}: {problem}")
    return problems
