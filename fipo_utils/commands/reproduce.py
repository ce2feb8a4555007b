"""``fipo reproduce``: run a profile's whole notebook chain, or resume a run folder."""

from __future__ import annotations

import argparse

HELP = "run the profile's notebook chain into a new run folder, or resume one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        default=None,
        help="profile name or YAML path (default: smoke; with --resume, the run's own)",
    )
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue RUN_DIR from its first step not done",
    )
    parser.add_argument(
        "--runs-root", default=None, help="parent folder of new runs (default runs/)"
    )
    parser.add_argument(
        "--accept-profile-change",
        action="store_true",
        help="with --resume: continue although the profile's values changed since the run "
        "began (the change is recorded in the manifest)",
    )


def run(args: argparse.Namespace) -> int:
    from fipo_utils.runs.runner import reproduce

    run_dir = reproduce(
        args.profile,
        resume=args.resume,
        runs_root=args.runs_root,
        accept_profile_change=args.accept_profile_change,
    )
    print(f"done: {run_dir}")
    for name in ("analysis", "figures"):
        folder = run_dir / name
        if folder.is_dir():
            print(f"{name}: {folder}")
    return 0
