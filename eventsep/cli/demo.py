"""``eventsep demo``: the interactive web demo on this machine (Gradio, ``eventsep[demo]``).

Binds to 127.0.0.1 and makes no public link unless ``--share``; uploads above ``--max-upload-mb``
and inputs longer than ``--max-seconds`` are refused with one line; uploads and outputs live in a
temporary folder removed when the server stops (Ctrl-C).
"""

from __future__ import annotations

import argparse

from eventsep.cli.options import add_models_option
from eventsep.demo import app  # app.serve is looked up when the command runs (tests replace it)
from eventsep.demo.limits import DemoLimits

__all__ = ["register", "run"]


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"port must be in 1..65535, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    d = DemoLimits()
    p = subparsers.add_parser(
        "demo",
        help="try EventSep in the browser (local Gradio web app)",
        description=(
            "Start a local web app: upload, record or pick an example, type a prompt, and "
            "listen to the estimate and the residual beside the activity plot, spectrograms "
            "and JSON report. Needs the optional extra: pip install 'eventsep[demo]'."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_models_option(p)
    p.add_argument(
        "--port", type=_port, default=None, help="TCP port; None: the first free one from 7860"
    )
    p.add_argument(
        "--host",
        default=app.DEFAULT_HOST,
        help="address to bind to; 0.0.0.0 exposes the demo to your network",
    )
    p.add_argument(
        "--share", action="store_true", help="also make a public Gradio share link (network)"
    )
    p.add_argument(
        "--max-seconds", type=_positive, default=d.max_seconds, help="longest input, in seconds"
    )
    p.add_argument(
        "--max-upload-mb", type=_positive, default=d.max_upload_mb, help="largest upload, in MB"
    )
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (CPU if not set)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve the demo until interrupted; return the exit code."""
    limits = DemoLimits(max_seconds=args.max_seconds, max_upload_mb=args.max_upload_mb)
    app.serve(
        args.models,
        host=args.host,
        port=args.port,
        share=args.share,
        limits=limits,
        device=args.device,
        block=True,
    )
    return 0
