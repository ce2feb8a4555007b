"""``fipo train``: train an optimizer into a run folder (the code of
``python -m fipo_utils.training``)."""

from __future__ import annotations

import argparse

HELP = "train an optimizer (sft, dpo, ipo, ipl-dpo, ipl-ipo, grpo; LoRA or full) into a run folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fipo_utils.training.launch import STRATEGIES
    from fipo_utils.training.launch import add_arguments as add_train_arguments

    add_train_arguments(parser, strategies=(*STRATEGIES, "grpo"))


def run(args: argparse.Namespace) -> int:
    """Train while holding the run folder's lock, as ``fipo run`` does: two trainings of one
    checkpoint at once would write over each other's files. A missing folder is reported by
    the training (it names the data file it needs), not made."""
    from contextlib import nullcontext
    from pathlib import Path

    from fipo_utils.runs.lock import run_folder_lock
    from fipo_utils.training.launch import main

    if args.strategy == "grpo":  # tester-feedback RL: a later stage than fipo_utils.training
        import json

        from fipo_utils.feedback.grpo import run_from_args
        from fipo_utils.training.distributed import is_main_process

        record = run_from_args(args)
        if is_main_process():
            print(json.dumps({k: v for k, v in record.items() if k != "log_history"}, indent=2))
        return 0

    argv = ["--run-dir", args.run_dir, "--profile", args.profile, "--strategy", args.strategy]
    if args.lora is not None:
        argv.append("--lora" if args.lora else "--full")
    for flag, value in (
        ("--base-model", args.base_model),
        ("--max-rows", args.max_rows),
        ("--max-steps", args.max_steps),
        ("--name", args.name),
    ):
        if value is not None:
            argv += [flag, str(value)]
    for item in args.set:
        argv += ["--set", item]
    present = Path(args.run_dir).is_dir()
    with run_folder_lock(args.run_dir) if present else nullcontext():
        return main(argv)
