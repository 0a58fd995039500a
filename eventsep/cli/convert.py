"""``eventsep convert-flowsep``: convert the FlowSep reference checkpoints to safetensors."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    # inside: the registry imports the model code (torch), which `eventsep --help` should not pay
    from eventsep.models.registry import convert_flowsep

    path = convert_flowsep(args.models, args.out, use_ema=not args.no_ema)
    print(f"wrote {path}")
    report = path.with_suffix(".report.txt")
    if report.is_file():
        print(report.read_text().rstrip())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``convert-flowsep`` command."""
    p = subparsers.add_parser(
        "convert-flowsep",
        help="convert FlowSep v2_100k.ckpt (+ VAE, BigVGAN, T5) to one safetensors file",
        description=(
            "Reads the cached checkpoints flowsep-v2 (and flowsep-vae / flowsep-bigvgan where "
            "needed), converts them to the diffusers/transformers layout, checks a strict load "
            "and writes flowsep-v2.safetensors plus a report of the keys left over. Loading the "
            "paper models (eventsep.models.registry.load_flowsep) does this on first use."
        ),
    )
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default: <cache>/converted)"
    )
    p.add_argument(
        "--models",
        default="paper",
        metavar="SET",
        help="model set whose checkpoints are read: paper (the cache) or a FOLDER laid out "
        "like the cache",
    )
    p.add_argument(
        "--no-ema", action="store_true", help="use the raw training weights instead of EMA"
    )
    p.set_defaults(func=_run)
