"""``fipo doctor --gpu``: check every GPU code path of the paper profile in about ten
minutes on one GPU (docs/gpu.md); ``--dry-run`` runs the same steps on CPU."""

from __future__ import annotations

import argparse

HELP = "check the paper profile's GPU code paths (--gpu), or their plumbing on CPU (--dry-run)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gpu", action="store_true", required=True, help="the GPU check")
    parser.add_argument(
        "--dry-run", action="store_true", help="on CPU with the tiny model; skip CUDA-only steps"
    )
    parser.add_argument("--out", default="gpu-check", help="folder for logs and the report")
    parser.add_argument("--only", nargs="*", default=None, metavar="STEP", help="these steps")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fipo_utils.doctor.run import run_check

    records = run_check(Path(args.out), dry_run=args.dry_run, only=args.only)
    print((Path(args.out) / "report.md").read_text(encoding="utf-8"))
    return 0 if all(r["status"] in ("ok", "skipped") for r in records) else 1
