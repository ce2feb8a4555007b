"""``fipo figures RUN_DIR...``: regenerate the analysis of runs (tables into the first run's
``analysis/``, figures into its ``figures/``) and copy the figures into the project's
``figures/`` folder, the same as notebook 07 does."""

from __future__ import annotations

import argparse

HELP = "regenerate tables and figures of runs (paper-shaped, beside the published numbers)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dirs",
        nargs="+",
        metavar="RUN_DIR",
        help="run folders; the first receives the tables, the others are laid beside it",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="folder the figures are copied into (default: the project's figures/)",
    )
    parser.add_argument(
        "--profile", default="smoke", help="profile whose `analysis` section applies"
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fipo_utils.analysis.report import (
        AnalysisSettings,
        analyse,
        close_figures,
        write_figures,
        write_tables,
    )
    from fipo_utils.runs.paths import FIGURES_DIR
    from fipo_utils.runs.profiles import load_profile

    settings = AnalysisSettings.from_profile(load_profile(args.profile))
    analysis = analyse(args.run_dirs, settings)
    out = args.out or FIGURES_DIR
    tables = write_tables(analysis, args.run_dirs[0])
    figures = write_figures(analysis, args.run_dirs[0], out)
    close_figures(analysis)
    print(f"tables ({len(tables)} files): {tables[0].parent}")
    print(f"report: {tables[-1]}")
    print(f"figures ({len(analysis.figures)}): {out} and {args.run_dirs[0]}/figures")
    for path in figures:
        if path.parent.resolve() == Path(out).resolve():
            print(f"  {path}")
    return 0
