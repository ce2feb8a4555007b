"""``fipo figures RUN_DIR...``: regenerate the analysis of runs (tables into the first run's
``analysis/``, figures into its ``figures/``), the same as notebook 07 does. Nothing outside
the run folder changes unless asked: ``--out figures/`` also copies the figures into the
project's tracked ``figures/`` (how the README's figures are refreshed). The first run's
``baselines/summary.json`` win rates are recounted from its prediction files first, so the
summary and the files beside it agree."""

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
        help="also copy the figures into this folder (e.g. figures/ to refresh the README's); "
        "default: only the first run's figures/",
    )
    parser.add_argument(
        "--profile", default="smoke", help="profile whose `analysis` section applies"
    )


def run(args: argparse.Namespace) -> int:
    """Holds the run folder's lock while it writes tables and figures into it."""
    from contextlib import nullcontext
    from pathlib import Path

    from fipo_utils.runs.lock import run_folder_lock

    present = Path(args.run_dirs[0]).is_dir()  # a missing run is reported by analyse, not made
    with run_folder_lock(args.run_dirs[0]) if present else nullcontext():
        return _write(args)


def _write(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fipo_utils.analysis.report import (
        AnalysisSettings,
        analyse,
        close_figures,
        write_figures,
        write_tables,
    )
    from fipo_utils.baselines.answers import recount_win_rates
    from fipo_utils.runs.profiles import load_profile
    from fipo_utils.runs.safe_write import check_writable_folder

    settings = AnalysisSettings.from_profile(load_profile(args.profile))
    # every destination is checked before the analysis runs, not after
    if Path(args.run_dirs[0]).is_dir():  # a missing run is reported by analyse, not made
        check_writable_folder(Path(args.run_dirs[0]) / "analysis", "run folder")
    out = check_writable_folder(args.out, "--out") if args.out else None
    recounted = recount_win_rates(args.run_dirs[0]) if Path(args.run_dirs[0]).is_dir() else None
    if recounted is not None:
        print(f"baselines/summary.json win rates recounted from the predictions: {recounted}")
    analysis = analyse(args.run_dirs, settings)
    tables = write_tables(analysis, args.run_dirs[0])
    figures = write_figures(analysis, args.run_dirs[0], out)
    close_figures(analysis)
    print(f"tables ({len(tables)} files): {tables[0].parent}")
    print(f"report: {tables[-1]}")
    print(f"figures ({len(analysis.figures)}): {args.run_dirs[0]}/figures")
    if out is not None:
        print(f"copied into {out}:")
        for path in figures:
            if path.parent.resolve() == out.resolve():
                print(f"  {path}")
    return 0
