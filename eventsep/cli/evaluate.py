"""``eventsep evaluate`` and ``eventsep build-benchmark``.

``eventsep evaluate --benchmark NAME [--data DIR] [--config CONFIG] [--protocol PROTOCOL]
[--models paper|tiny-random|FOLDER] --out DIR [--limit N]`` runs one pipeline configuration over
a benchmark and appends one durable row per clip to ``DIR/rows.jsonl`` (see
:mod:`eventsep.evaluation.evaluate`); run it again after an interruption to finish the remaining
clips.

``--config`` is the name of an experiment of :mod:`eventsep.paper.experiments` (``mixture`` is the
no-separation baseline and needs no model), evaluated with the metrics the registry gives it, or
a JSON / TOML file of ``EventSepConfig`` fields (every metric). ``--protocol`` (default
``corrected``) chooses the protocol of :data:`eventsep.paper.experiments.PROTOCOLS`: the experiment
of that protocol, or the protocol's overrides under a file's fields; its CLAP scorer and metric
conventions. Every row and ``run.json`` record the protocol.

``--batch-size N`` separates N clips of similar length together (:meth:`EventSep.batch`).
Under ``torchrun --nproc-per-node N -m eventsep evaluate ...`` each process evaluates its shard
of the clips into its own rows file and rank 0 merges them (:mod:`eventsep.evaluation.distributed`);
``--device cuda`` then means ``cuda:<LOCAL_RANK>``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eventsep.cli.options import add_models_option, add_precision_option
from eventsep.core.batching import check_batch_size
from eventsep.core.errors import ConfigError
from eventsep.evaluation import distributed
from eventsep.evaluation.benchmarks import BuildProtocol, build_benchmark, read_benchmark
from eventsep.evaluation.distributed import evaluate_distributed
from eventsep.evaluation.evaluate import ALL_METRICS, RESULTS_FILE, ResultsLog, summarize_rows
from eventsep.method.pipeline import EventSep, EventSepConfig
from eventsep.models import registry
from eventsep.paper import experiments

__all__ = ["build_separator", "register", "resolve_config"]


def _preset(spec: str, protocol: str | None = None) -> experiments.Experiment | None:
    """The registry experiment ``spec`` names under ``protocol``, or ``None`` (a file).

    ``spec`` may carry its protocol (``eventsep@authors``); a different ``protocol`` raises
    :class:`ConfigError`.
    """
    base = spec.partition("@")[0]
    if not any(e.name == base for e in experiments.EXPERIMENTS.values()):
        return None
    return experiments.get(spec, protocol)


def resolve_config(spec: str, protocol: str | None = None) -> tuple[str, dict[str, Any]]:
    """Turn ``--config`` into ``(run name, EventSepConfig field overrides)``.

    Parameters
    ----------
    spec : str
        An experiment name (:func:`eventsep.paper.experiments.names`) or a path to a ``.json`` /
        ``.toml`` file of fields.
    protocol : str, optional
        Protocol of :data:`eventsep.paper.experiments.PROTOCOLS` (default: the one ``spec`` names,
        else ``corrected``). A file's fields go over the protocol's overrides, and its name
        gets ``@<protocol>`` when that is not the default.
    """
    preset = _preset(spec, protocol)
    if preset is not None:
        return preset.run_name, preset.fields()
    protocol = experiments.check_protocol(protocol)
    path = Path(spec).expanduser()
    if path.suffix.lower() in (".json", ".toml"):
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            if path.suffix.lower() == ".json":
                fields = json.loads(path.read_text(encoding="utf-8"))
            else:
                import tomllib

                fields = tomllib.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"cannot parse config file {path}: {exc}") from exc
        if not isinstance(fields, dict):
            raise ConfigError(f"config file {path} must hold a table of EventSepConfig fields")
        if protocol == experiments.DEFAULT_PROTOCOL:
            return path.stem, fields
        return f"{path.stem}@{protocol}", experiments.apply_protocol(fields, protocol)
    raise ConfigError(
        f"unknown config {spec!r}; use one of {', '.join(experiments.names(protocol))} "
        "or a .json/.toml file"
    )


def build_separator(name: str, fields: Mapping[str, Any], models: str, device: str | None):
    """Return ``separate(waveform, sample_rate, prompt)`` for a resolved configuration.

    ``models`` is the model set (``EventSep.from_pretrained``'s argument). The pipeline has
    the method's stages; :func:`_run` gives it the protocol's (``pipe.with_stages``).
    """
    preset = _preset(name)
    if preset is not None and not preset.separates and dict(fields) == preset.fields():
        return lambda waveform, sample_rate, prompt: waveform
    try:  # unknown names and bad values are ConfigErrors naming the known fields
        config = EventSepConfig().replace(**fields)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"config {name!r}: {exc}") from None
    pipe = EventSep.from_pretrained(models, device=device, config=config)
    return pipe


def _evaluate(args: argparse.Namespace) -> int:
    check_batch_size(args.batch_size)
    rank = distributed.from_env()
    device = distributed.device_for(rank, args.device)
    if rank.world_size > 1:  # started by torchrun: join the others
        distributed.init(device)
    try:
        with distributed.main_first(rank):  # rank 0 may build the tiny benchmark in the cache
            bench = read_benchmark(args.benchmark, args.data, args.metadata)
        name, fields = resolve_config(args.config, args.protocol)
        preset = _preset(args.config, args.protocol)
        if args.metrics:
            metrics = tuple(args.metrics.split(","))
        else:
            metrics = preset.metrics if preset is not None else ALL_METRICS
        return _run(args, bench, name, fields, preset, metrics, rank, device)
    finally:
        distributed.finish()


def _run(
    args: argparse.Namespace,
    bench: Any,
    name: str,
    fields: Mapping[str, Any],
    preset: experiments.Experiment | None,
    metrics: tuple[str, ...],
    rank: Any,
    device: str | None,
) -> int:
    """Load the models and evaluate this process's clips (all of them, or its shard)."""
    protocol = experiments.PROTOCOLS[
        preset.protocol if preset is not None else experiments.check_protocol(args.protocol)
    ]
    if args.precision != "fp32":  # recorded in run.json with the other fields
        fields = {**fields, "precision": args.precision}
    with distributed.main_first(rank):  # downloads and conversions happen once, on rank 0
        # fail before any model loads when another evaluation writes to --out (evaluate() then
        # holds the lock for the whole run; under torchrun rank 0 holds it)
        if rank.is_main:
            with ResultsLog(Path(args.out) / RESULTS_FILE).lock():
                pass
        separate = build_separator(name, fields, args.models, device)
        if callable(getattr(separate, "with_stages", None)):  # the protocol's stages
            separate = separate.with_stages(protocol.make_stages())
    if args.throttle:
        inner = separate

        def separate(waveform, sample_rate, prompt):  # noqa: ANN001, ANN202
            time.sleep(args.throttle)
            return inner(waveform, sample_rate, prompt)

    clap = None
    if {"clap", "clap_a"} & set(metrics):
        clap = registry.load_clap_scorer(args.models, device=device, protocol=protocol.clap)
    run = {
        "benchmark": bench.name,
        "config": name,
        "protocol": protocol.name,
        "metric_conventions": protocol.metrics.to_dict(),
        "config_fields": fields,
        "stages": protocol.describe_stages(),
        "models": args.models,
        "data": str(bench.root),
    }
    rows = evaluate_distributed(
        bench,
        separate,
        args.out,
        rank=rank,
        run=run,
        clap=clap,
        metrics=metrics,
        limit=args.limit,
        progress=not args.quiet,
        batch_size=args.batch_size,
        conventions=protocol.metrics,
    )
    if not rank.is_main:
        return 0
    summary = summarize_rows(rows, metrics, protocol.metrics)
    print(f"{len(rows)} rows in {Path(args.out) / 'rows.jsonl'}")
    for metric, s in summary.items():
        extra = f" ({s.skipped} undefined, skipped)" if s.skipped else ""
        print(f"  {metric:7s} {s.mean:.4f} over {s.count}{extra}")
    return 0


def _build(args: argparse.Namespace) -> int:
    protocol = BuildProtocol(
        seed=args.seed,
        snr_db=args.snr_db,
        seconds=args.seconds,
        clips_per_class=args.clips_per_class,
        mixtures_per_clip=args.mixtures_per_clip,
    )
    out = build_benchmark(args.source, args.out, protocol)
    print(f"benchmark written to {out}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``evaluate`` and ``build-benchmark`` to the ``eventsep`` parser."""

    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a configuration on a benchmark (resumable)",
        description=(
            "Run one pipeline configuration over a benchmark and append one durable row per "
            "clip (ids, prompt, mapped classes, metrics, timings) to OUT/rows.jsonl. Run "
            "the same command again after an interruption: finished clips are kept and not "
            "recomputed. --config names an experiment of the paper's tables ("
            + ", ".join(experiments.names())
            + "), evaluated with the metrics its table needs, or a .json/.toml file of "
            "EventSepConfig fields (every metric)."
        ),
    )
    p.add_argument("--benchmark", required=True, help="vggsound, music, esc50, tiny or folder")
    p.add_argument("--data", default=None, help="folder of the benchmark WAV files")
    p.add_argument("--metadata", default=None, help="metadata CSV (default: found near --data)")
    p.add_argument(
        "--config",
        default="eventsep",
        help="experiment name or .json/.toml file (default: eventsep)",
    )
    p.add_argument(
        "--protocol",
        default=None,
        choices=list(experiments.PROTOCOLS),
        help="evaluation protocol: corrected (this package's defaults) or authors (what the "
        "authors' benchmark code computes); default corrected, or the one --config names",
    )
    add_models_option(p)
    p.add_argument("--out", required=True, help="results folder (rows.jsonl, run.json)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N clips")
    p.add_argument(
        "--metrics",
        default=None,
        help="comma-separated subset of the metrics (default: the experiment's; a file: all)",
    )
    p.add_argument("--device", default=None, help="torch device (default: CPU)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="clips separated together, grouped by length (default 1); the estimates equal "
        "clip-by-clip ones",
    )
    add_precision_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--throttle", type=float, default=0.0, help=argparse.SUPPRESS)
    p.set_defaults(func=_evaluate)

    b = subparsers.add_parser(
        "build-benchmark",
        help="build a benchmark from a folder of class-labelled clips",
        description="Mix each clip with a clip of another class at a fixed SNR (seeded).",
    )
    b.add_argument("--source", required=True, help="manifest.csv + clips, or a folder per class")
    b.add_argument("--out", required=True, help="new benchmark folder")
    b.add_argument("--seed", type=int, default=0, help="seed of clip choice and pairing (0)")
    b.add_argument("--snr-db", type=float, default=0.0, help="target-to-interferer ratio in dB (0)")
    b.add_argument("--seconds", type=float, default=10.0, help="mixture length in seconds (10)")
    b.add_argument(
        "--clips-per-class", type=int, default=None, help="use at most N clips per class (all)"
    )
    b.add_argument(
        "--mixtures-per-clip", type=int, default=1, help="mixtures made from each clip (1)"
    )
    b.set_defaults(func=_build)
