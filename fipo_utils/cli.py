"""The ``fipo`` command line: one sub-command per module in ``fipo_utils.commands``.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int`` and imports heavy libraries inside ``run`` so ``fipo --help`` is fast.

:func:`main` is the one error boundary: an error the user can fix (the project's own, or a
missing file, invalid YAML, an offline hub id, an unwritable folder; see
:func:`fipo_utils.runs.errors.user_message`) is printed as one line and exits 1; Ctrl-C
exits 130. ``--debug`` (or ``FIPO_DEBUG=1``) shows the traceback instead. Anything else is
a bug and keeps its traceback. Commands run offline unless ``FIPO_ONLINE=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from fipo_utils.runs.errors import user_message
from fipo_utils.runs.paths import offline_by_default

# Order is the order ``fipo --help`` lists them in.
COMMANDS = [
    "diversify",
    "optimize",
    "run",
    "reproduce",
    "carry",
    "train",
    "figures",
    "compare",
    "oirl",
    "doctor",
]
DEBUG_HELP = "show the full traceback of an error instead of one line (also FIPO_DEBUG=1)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fipo", description="FIPO Companion: prompt-optimizer research from notebooks."
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"fipo_utils.commands.{name}")
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        # also accepted after the command; SUPPRESS keeps `fipo --debug CMD` from being reset
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    offline_by_default()  # before any command imports transformers or datasets
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("FIPO_DEBUG", "") not in ("", "0")
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt as stop:
        if debug:
            raise
        reason = str(stop) or "Ctrl-C"
        print(
            f"fipo {args.command}: interrupted ({reason}); finished work is kept and a run's "
            "manifest marks the step interrupted (continue with fipo reproduce --resume RUN)",
            file=sys.stderr,
        )
        return 130
    except Exception as error:
        message = user_message(error)
        if debug or message is None:
            raise
        print(f"fipo {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
