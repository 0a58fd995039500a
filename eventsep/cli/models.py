"""``eventsep list-models`` and ``eventsep download``: the checkpoint catalogue and cache."""

from __future__ import annotations

import argparse
import json

from eventsep.models import hub

__all__ = ["register"]


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _list(args: argparse.Namespace) -> int:
    rows = []
    for name, ck in hub.CATALOGUE.items():
        state = "cached" if hub.is_cached(name) else "missing"
        rows.append(
            {
                "name": name,
                "status": state,
                "size": ck.size,
                "sha256": [f.sha256 for f in ck.files],
                "licence": ck.licence,
                "source": ck.source,
                "used_by": ck.used_by,
                "path": str(hub.local_path(name)),
            }
        )
    if args.json:
        print(json.dumps({"cache": str(hub.cache_dir()), "models": rows}, indent=2))
        return 0
    print(f"cache folder: {hub.cache_dir()}" + ("  (offline)" if hub.is_offline() else ""))
    width = max(len(r["name"]) for r in rows)
    print(f"{'name':<{width}}  {'status':<7}  {'size':>9}  hash      licence / used by")
    for r, ck in zip(rows, hub.CATALOGUE.values()):
        hashed = (
            "sha256"
            if all(f.sha256 for f in ck.files)
            else ("partial" if any(f.sha256 for f in ck.files) else "none")
        )
        print(
            f"{r['name']:<{width}}  {r['status']:<7}  {_size(r['size']):>9}  {hashed:<8}  "
            f"{r['licence']}\n{'':<{width}}  {ck.description}; used by {ck.used_by}"
        )
    return 0


def _download(args: argparse.Namespace) -> int:
    # inside: the registry imports the model code (torch), which `eventsep --help` should not pay
    from eventsep.models import registry as modelsets

    names = list(hub.DEFAULT_DOWNLOADS) if args.all else list(args.names)
    folder = None
    if args.models is not None:
        model_set, folder = modelsets.resolve(args.models)
        names = list(dict.fromkeys([*names, *model_set.files()]))
    if not names:
        raise SystemExit(
            "eventsep download: name one or more checkpoints, or pass --models SET or --all"
        )
    for name in names:
        hub.entry(name)  # fail on unknown names before downloading anything
    for name in names:
        path = hub.download(name, force=args.force, progress=not args.quiet, cache_dir=folder)
        print(f"{name}: {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``list-models`` and ``download`` to the ``eventsep`` parser."""
    p = sub.add_parser(
        "list-models",
        help="show every checkpoint in the catalogue and whether it is cached",
        description="Show the checkpoint catalogue: name, cached/missing, size, hash, licence.",
    )
    p.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    p.set_defaults(func=_list)

    p = sub.add_parser(
        "download",
        help="download checkpoints into the cache (EVENTSEP_CACHE)",
        description=(
            "Download checkpoints into the cache folder ($EVENTSEP_CACHE), verifying each "
            "file's hash. Fails at once when offline (EVENTSEP_OFFLINE=1 or HF_HUB_OFFLINE=1)."
        ),
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="catalogue names (see list-models)")
    p.add_argument(
        "--models",
        default=None,
        metavar="SET",
        help="also every checkpoint of a model set: paper, tiny-random (nothing to download) or "
        "a FOLDER (the paper set, downloaded into that folder instead of the cache)",
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="download every checkpoint some protocol uses (not the fallbacks flowsep-vae and "
        "flowsep-bigvgan, which are fetched only when flowsep-v2 lacks them)",
    )
    p.add_argument("--force", action="store_true", help="delete cached copies and fetch again")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_download)
