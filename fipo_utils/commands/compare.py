"""``fipo compare RUN_A RUN_B``: do two runs give identical analysis tables? (The
determinism check: two smoke runs with the same seed must.)"""

from __future__ import annotations

import argparse

HELP = "compare the analysis tables of two runs; exit 1 and list differences if they differ"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("first", metavar="RUN_A")
    parser.add_argument("second", metavar="RUN_B")
    parser.add_argument(
        "--profile", default="smoke", help="profile whose `analysis` section applies"
    )


def run(args: argparse.Namespace) -> int:
    from fipo_utils.analysis.report import AnalysisSettings, compare_runs
    from fipo_utils.runs.profiles import load_profile

    settings = AnalysisSettings.from_profile(load_profile(args.profile))
    problems = compare_runs(args.first, args.second, settings)
    if not problems:
        print(f"identical tables: {args.first} and {args.second}")
        return 0
    print(f"{len(problems)} difference(s) between {args.first} and {args.second}:")
    for problem in problems[:50]:
        print(f"  {problem}")
    return 1
