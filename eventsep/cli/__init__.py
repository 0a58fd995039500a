"""The ``eventsep`` command line.

Each subcommand lives in its own module ``eventsep.cli.<name>`` that defines
``register(subparsers)``; the parser sets ``func`` to a callable ``(args) -> int``. Library errors
(:class:`~eventsep.core.errors.EventSepError`) are printed as one line and give exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from eventsep import __version__
from eventsep.core.errors import EventSepError

__all__ = ["build_parser", "main"]

#: Subcommand modules, in the order ``eventsep --help`` lists them.
COMMANDS = ("separate", "detect", "evaluate", "reproduce", "convert", "models", "data", "demo")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``eventsep`` argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="eventsep",
        description=(
            "EventSep: separate the sound a text prompt describes, only where it happens. "
            "Run `eventsep COMMAND --help` for each command's options."
        ),
    )
    parser.add_argument("--version", action="version", version=f"eventsep {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"eventsep.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"eventsep.cli.{name}":
                continue  # subcommand not part of this build
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 success, 2 usage or input error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EventSepError as exc:
        print(f"eventsep {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"eventsep {args.command}: interrupted", file=sys.stderr)
        return 130
