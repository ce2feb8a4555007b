"""The training command line: ``python -m fipo_utils.training ...`` (also ``fipo train``),
alone or under ``accelerate launch`` across processes and machines.

It dispatches SFT/DPO/IPO to :mod:`fipo_utils.training.train` and IPL to
:mod:`fipo_utils.training.ipl`; it sits above both so that neither imports the other's caller.
``fipo train`` adds GRPO (:mod:`fipo_utils.feedback`, a later stage) with the same arguments.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from fipo_utils.training.distributed import is_main_process, leave_process_group
from fipo_utils.training.train import train_strategy


def _parse_value(text: str) -> Any:
    """``--set key=value`` values: YAML scalars (numbers, booleans, null, lists)."""
    import yaml

    value = yaml.safe_load(text)
    if isinstance(value, str):  # YAML 1.1 reads 1e-2 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            return value
    return value


STRATEGIES = ("sft", "dpo", "ipo", "ipl-dpo", "ipl-ipo")


def add_arguments(parser: argparse.ArgumentParser, strategies: Sequence[str] = STRATEGIES) -> None:
    parser.add_argument("--run-dir", required=True, help="run folder holding data/ (from 01)")
    parser.add_argument("--profile", default="smoke", help="profile name or YAML path")
    parser.add_argument(
        "--strategy",
        required=True,
        choices=list(strategies),
        help="training strategy",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--lora", dest="lora", action="store_true", default=None, help="LoRA")
    mode.add_argument("--full", dest="lora", action="store_false", help="full fine-tuning")
    parser.add_argument("--base-model", default=None, help="model name, folder or hub id")
    parser.add_argument("--max-rows", type=int, default=None, help="train on the first N rows")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after N steps")
    parser.add_argument(
        "--name", default=None, help="run-folder name (default <strategy>-<lora|full>)"
    )
    parser.add_argument(
        "--data-variant",
        choices=["gen", "partial"],
        default=None,
        help="train on 01's ablation data in data/<variant>/ (default: data/)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any key of the strategy's profile sections (repeatable)",
    )


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Profile-key overrides of the command line: the flags, then every ``--set KEY=VALUE``."""
    overrides = {
        "lora": args.lora,
        "base_model": args.base_model,
        "max_rows": args.max_rows,
        "max_steps": args.max_steps,
    }
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.strip()] = _parse_value(value)
    return overrides


def run_from_args(args: argparse.Namespace) -> dict:
    overrides = overrides_from_args(args)
    if args.strategy.startswith("ipl-"):
        from fipo_utils.training.ipl import run_ipl

        return run_ipl(
            args.run_dir,
            args.profile,
            loss=args.strategy.split("-", 1)[1],
            name=args.name,
            data_variant=args.data_variant,
            **overrides,
        )
    return train_strategy(
        args.run_dir,
        args.profile,
        args.strategy,
        name=args.name,
        data_variant=args.data_variant,
        **overrides,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fipo_utils.training",
        description="Train an optimizer (SFT, DPO, IPO, IPL).",
    )
    add_arguments(parser)
    try:
        record = run_from_args(parser.parse_args(argv))
        if is_main_process():
            print(json.dumps({k: v for k, v in record.items() if k != "log_history"}, indent=2))
    finally:
        leave_process_group()
    return 0
