"""``fipo diversify``: POP records -> sft.json, dpo.jsonl, ipl.jsonl and type_mix.json."""

from __future__ import annotations

import argparse
import sys

HELP = "Diversify POP records into SFT, DPO and IPL training data (the FIPO paper's method)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input",
        help="POP data: a JSONL or JSON-list file, 'sample' (the shipped sample) or a hub id",
    )
    parser.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    parser.add_argument("--seed", type=int, default=2024, help="random seed (default: 2024)")
    parser.add_argument(
        "--template",
        default=None,
        help="template JSON shaped like the original prompts.json (default: the project's own)",
    )
    parser.add_argument(
        "--mode",
        choices=["fixed", "faithful"],
        default="fixed",
        help="faithful: the original script's rows byte for byte; fixed (default): no slot "
        "corruption, no chosen == rejected rows",
    )
    parser.add_argument(
        "--variant",
        choices=["full", "gen", "partial"],
        default="full",
        help="full (default), gen (no multiple choice) or partial (no silver-response variants)",
    )
    parser.add_argument(
        "--keep-duplicate-ids",
        action="store_true",
        help="keep records whose id repeats an earlier one (listed) instead of failing",
    )
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip malformed records (and list them) instead of failing",
    )


def run(args: argparse.Namespace) -> int:
    from fipo_utils.data.diversify import diversify_pop, records_fingerprint, write_diversified
    from fipo_utils.data.pop import load_pop_report
    from fipo_utils.data.template import load_template

    template = load_template(args.template)
    loaded = load_pop_report(
        args.input, skip_invalid=args.skip_invalid, keep_duplicate_ids=args.keep_duplicate_ids
    )
    if loaded.skipped:
        print(loaded.skip_report(), file=sys.stderr)
    if loaded.duplicates:
        lines = ", ".join(str(item.line) for item in loaded.duplicates)
        print(f"{loaded.source}: kept duplicate ids at lines {lines}", file=sys.stderr)
    data = diversify_pop(
        loaded.records, seed=args.seed, template=template, mode=args.mode, variant=args.variant
    )
    data.summary.update(
        input_sha256=records_fingerprint(loaded.records),
        template=args.template or "default",
        skipped_input_records=len(loaded.skipped),
    )
    out = write_diversified(data, args.out)
    rows = data.summary["rows"]
    print(
        f"wrote {out}: sft {rows['sft']}, dpo {rows['dpo']}, ipl {rows['ipl']} rows "
        f"from {data.summary['n_records']} records (mode {args.mode}, variant {args.variant})"
    )
    return 0
