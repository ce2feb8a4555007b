"""``fipo carry``: move a run folder to another machine and resume it there."""

from __future__ import annotations

import argparse

HELP = "pack a run folder (and its cached generations) to move it; unpack it elsewhere"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    pack = actions.add_parser(
        "pack",
        help="copy RUN_DIR and the generation cache into CARRY_DIR with carry.json",
        description="Copy a run folder, with every file's time, size and SHA-256, and the "
        "generation cache into CARRY_DIR. Stop `fipo reproduce` first: a run in use is "
        "refused.",
    )
    pack.add_argument("run_dir", metavar="RUN_DIR")
    pack.add_argument("carry_dir", metavar="CARRY_DIR")
    pack.add_argument(
        "--no-cache", action="store_true", help="carry the run folder only, not the cache"
    )
    pack.add_argument(
        "--with-merged",
        action="store_true",
        help="also copy LoRA checkpoints' merged models (final/*.safetensors); by default "
        "they are recorded and merged again from their adapters on unpack",
    )
    unpack = actions.add_parser(
        "unpack",
        help="restore the run in CARRY_DIR under --runs-root and merge its cache",
        description="Check CARRY_DIR against its carry.json, restore the run folder with "
        "its files' times (so `fipo reproduce --resume` skips what is done) and add the "
        "cache entries this machine lacks. An existing run folder is never overwritten.",
    )
    unpack.add_argument("carry_dir", metavar="CARRY_DIR")
    unpack.add_argument(
        "--runs-root", default=None, help="where the run folder goes (default runs/)"
    )


def run(args: argparse.Namespace) -> int:
    from fipo_utils.runs.carry import pack, unpack
    from fipo_utils.runs.paths import runs_root
    from fipo_utils.training.merged_weights import merged_weight_files, rebuild_merged_weights

    if args.action == "pack":
        rebuilt = None if args.with_merged else merged_weight_files
        summary = pack(args.run_dir, args.carry_dir, with_cache=not args.no_cache, rebuilt=rebuilt)
        print(f"packed {summary}")
    else:
        summary = unpack(
            args.carry_dir, args.runs_root or runs_root(), rebuild=rebuild_merged_weights
        )
        print(f"unpacked {summary}")
        print(f"continue with: fipo reproduce --resume {summary.run_dir}")
    return 0
