"""``eventsep reproduce``: run the numbered notebooks with papermill for one run profile.

``--profile smoke|paper`` is the run profile (models, benchmarks, settings); ``--models`` overrides
only its model set.
"""

from __future__ import annotations

import argparse

from eventsep.cli.options import add_models_option

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "reproduce",
        help="run the paper's notebooks (figures, tables, listening page) with papermill",
        description=(
            "Execute the numbered notebooks in order with papermill. Executed copies, figures "
            "(PNG and PDF), tables (CSV and Markdown; paper | authors' protocol | corrected "
            "protocol), the listening page, the reproduction report (reproduction_report.md and "
            ".html: every paper number with its status) and provenance.json go to "
            "figures/runs/<profile>/ (or --out). The 'paper' run profile needs the real weights "
            "(eventsep download --models paper) and the benchmark data (--data or "
            "$EVENTSEP_DATA) and stops before running anything when either is missing; the "
            "'smoke' run profile runs offline on tiny-random models and the bundled examples, "
            "and marks every output as a smoke run. --models swaps the run profile's model set."
        ),
    )
    parser.add_argument(
        "--profile",
        choices=("smoke", "paper"),
        default="paper",
        help="run profile: paper: real weights and benchmark data; smoke: offline tiny-random, "
        "bundled examples (default: paper)",
    )
    add_models_option(
        parser,
        default=None,
        default_help="the run profile's: smoke -> tiny-random, paper -> paper",
        deprecated_profile=False,
    )
    parser.add_argument(
        "--only",
        metavar="KEYS",
        default=None,
        help="comma-separated notebook numbers to run, e.g. 02,03 (default: all)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="run folder (default: figures/runs/<profile>)",
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="benchmark folder with vggsound/, music/, esc50/ (default: $EVENTSEP_DATA)",
    )
    parser.add_argument(
        "--device",
        default=None,
        help="torch device (default: cuda if available for paper, cpu)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    parser.add_argument(
        "--max-clips",
        type=int,
        default=None,
        metavar="N",
        help="evaluate at most N clips per benchmark (default: all)",
    )
    parser.add_argument(
        "--notebooks",
        metavar="DIR",
        default=None,
        help="folder of the source notebooks",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=None,
        metavar="S",
        help="per-cell timeout in seconds",
    )
    parser.add_argument(
        "--no-fetch",
        action="store_true",
        help="do not fetch missing weights and benchmark data first (default: fetch them when "
        "the network answers; offline the run stops with the commands that fetch them)",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="list the notebooks and their outputs, run nothing",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``eventsep reproduce`` with parsed ``args``; return the exit code."""
    # inside: the paper layer imports the model code (torch), which `eventsep --help` should not
    # pay for
    from eventsep.paper import reproduce as rep
    from eventsep.paper.provision import provision

    if args.list:
        for spec in rep.select_notebooks(args.only):
            print(f"{spec.key}  {spec.filename:30s} {spec.title}")
            for rel in spec.outputs:
                print(f"      -> {rel}")
        return 0
    profile = rep.get_profile(
        args.profile,
        models=args.models,
        data_dir=args.data,
        device=args.device,
        seed=args.seed,
        max_clips=args.max_clips,
    )
    if not args.no_fetch:
        profile = provision(profile, rep.select_notebooks(args.only))
    record = rep.reproduce(
        profile,
        only=args.only,
        out_dir=args.out,
        notebooks=args.notebooks,
        timeout=args.timeout,
    )
    print(f"wrote {len(record.outputs)} files under {record.out_dir}")
    return 0
