"""``eventsep download-data`` and ``eventsep check-data``: the benchmark data of Table 1.

``eventsep download-data [vggsound|music|esc50|all ...] [--out DIR] [--rebuild]`` fetches
AudioSep's metadata CSVs and evaluation audio (:mod:`eventsep.evaluation.datafetch`); ``eventsep
check-data PATH [--benchmark NAME ...]`` prints one table per benchmark and exits 0 only when every
requested
benchmark is usable (:mod:`eventsep.evaluation.datacheck`).
"""

from __future__ import annotations

import argparse

from eventsep.evaluation import datafetch
from eventsep.evaluation.datacheck import check_data, fix_command
from eventsep.evaluation.datasets import DATASETS, DRIVE_FOLDER_URL, default_data_dir

__all__ = ["register"]


def _list() -> int:
    print(f"audio: {DRIVE_FOLDER_URL} (AudioSep's evaluation data; no published hashes)")
    for d in DATASETS.values():
        print(
            f"{d.name:<9} {d.rows:>5} rows  {d.csv_name} ({d.metadata.size} B, sha256 "
            f"{d.metadata.sha256[:12]}...)  layout: {d.name}/{d.example}"
        )
        print(f"{'':<9} licence: {d.licence}; CSV: {d.metadata_licence}")
        if d.rebuild is not None:
            print(
                f"{'':<9} --rebuild: AudioSep-like, from {d.rebuild.url} "
                f"(about {d.rebuild.approx_size / 1e6:.0f} MB, {d.rebuild.licence})"
            )
    return 0


def _download(args: argparse.Namespace) -> int:
    if args.list:
        return _list()
    out = args.out or default_data_dir()
    reports = datafetch.download_data(
        args.names, out, rebuild=args.rebuild, progress=not args.quiet
    )
    print(f"data ready under {out}: {', '.join(r.name for r in reports)}")
    print(f"use it with `eventsep reproduce --data {out}` (or EVENTSEP_DATA={out})")
    return 0


def _check(args: argparse.Namespace) -> int:
    names = datafetch.resolve_names(args.benchmark or ["all"])
    reports = check_data(args.path, names)
    for report in reports:
        print(report.table())
        print()
    bad = [r for r in reports if not r.usable]
    if not bad:
        print(f"all {len(reports)} benchmark(s) usable")
        return 0
    print(
        f"{len(bad)} of {len(reports)} benchmark(s) not usable: {', '.join(r.name for r in bad)}; "
        f"fix with `{fix_command(bad, args.path)}`"
    )
    return 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``download-data`` and ``check-data`` to the ``eventsep`` parser."""
    p = sub.add_parser(
        "download-data",
        help="fetch the benchmark data of Table 1 (AudioSep's CSVs and evaluation audio)",
        description=(
            "Fetch AudioSep's metadata CSVs (pinned commit, sha256-checked) and the evaluation "
            "audio from AudioSep's Google Drive folder (through gdown: pip install "
            "'eventsep[data]') into DIR/<name>/, with progress bars, resumable transfers and "
            "atomic placement; the result is checked with check-data. Offline, or when Drive "
            "refuses (quota), it stops at once and names the manual step. --rebuild makes "
            "AudioSep-like ESC-50 mixtures from the official ESC-50 archive instead (same "
            "clips and pairs, not the identical files)."
        ),
    )
    p.add_argument(
        "names",
        nargs="*",
        default=["all"],
        metavar="NAME",
        help="vggsound, music, esc50 or all (default: all)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="data folder (default: $EVENTSEP_DATA, else <cache>/data)",
    )
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="ESC-50: rebuild AudioSep-like mixtures from the official archive (~646 MB)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--list", action="store_true", help="show the data catalogue, fetch nothing")
    p.set_defaults(func=_download)

    p = sub.add_parser(
        "check-data",
        help="check benchmark folders: missing, unreadable, wrong rate/duration, mismatches",
        description=(
            "Check the benchmark folders under PATH (PATH/<name>/, or PATH itself for one "
            "--benchmark): rows in the CSV, pairs found, missing, unreadable, wrong sample rate, "
            "wrong duration, CSV/audio mismatch. Exit code 0 only when every requested "
            "benchmark is usable, else 1."
        ),
    )
    p.add_argument("path", metavar="PATH", help="data folder (as given to reproduce --data)")
    p.add_argument(
        "--benchmark",
        action="append",
        metavar="NAME",
        help="vggsound, music, esc50 or all; repeat for several (default: all)",
    )
    p.set_defaults(func=_check)
