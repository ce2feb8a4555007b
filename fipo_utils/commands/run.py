"""``fipo run NOTEBOOK [-p name value ...]``: execute one notebook with papermill."""

from __future__ import annotations

import argparse

import yaml

HELP = "run one notebook headlessly (papermill) into a new or given run folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "notebook", help="notebook name in notebooks/ (e.g. 01_diversification) or path"
    )
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="notebook parameter; VALUE is read as YAML (numbers, true/false, [lists])",
    )
    parser.add_argument("--profile", default="smoke", help="profile name or YAML path")
    parser.add_argument(
        "--run-dir", default=None, help="existing run folder to add this step to (default: new)"
    )


def parse_parameters(pairs: list[list[str]]) -> dict:
    parameters = {}
    for name, value in pairs:
        parameters[name] = yaml.safe_load(value) if value != "" else ""
    return parameters


def run(args: argparse.Namespace) -> int:
    from fipo_utils.runs.runner import run_notebook

    parameters = parse_parameters(args.parameter)
    run_dir = parameters.pop("run_dir", None) or args.run_dir
    profile = parameters.pop("profile", None) or args.profile
    folder = run_notebook(args.notebook, parameters, profile=profile, run_dir=run_dir)
    print(f"done: {folder}")
    return 0
