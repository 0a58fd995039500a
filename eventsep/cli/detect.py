"""``eventsep detect``: frame-wise sound event detection of one audio file.

Prints the event timeline of the ``--top`` classes (by peak probability): class, onset and offset
in seconds, peak probability. With ``--prompt`` it also prints the AudioSet classes each prompt
maps to and where they are active. ``--json`` prints the same as one JSON object; ``--plot``
saves Figure 2 of the paper (:func:`eventsep.paper.plot.sed_activity`, the same figure as
``notebooks/01_sed_activity.ipynb``): spectrogram, class-by-frame probabilities, and the hard and
soft time masks of the prompt's classes at the pipeline's ``tau``. ``--events out.tsv`` writes
the event list as a DCASE detection TSV (``filename onset offset event_label confidence``, see
:mod:`eventsep.method.events`): every class by hysteresis thresholds ``--on``/``--off`` with
``--min-duration``, or with ``--prompt`` one event list per prompt (its class set, max over the
members; ``event_label`` is the prompt).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from eventsep.cli.options import add_models_option
from eventsep.core.audio import load_audio
from eventsep.core.errors import ConfigError
from eventsep.core.labels import audioset_labels
from eventsep.method.events import (
    DEFAULT_MIN_DURATION,
    DEFAULT_OFF,
    DEFAULT_ON,
    find_events,
    write_events_tsv,
)
from eventsep.method.mapping import METHODS, PromptMapper
from eventsep.method.pipeline import EventSepConfig
from eventsep.models import registry
from eventsep.models.sed import HEADS, Cnn14SED, class_activity, event_timeline, top_classes
from eventsep.paper import plot
from eventsep.paper.report import save_figure

__all__ = ["register", "run", "detect_report"]

_DEFAULT_THRESHOLD = 0.3  # a class counts as "active" in the timeline at p >= this
_DEFAULTS = EventSepConfig()  # detector head and mapping method follow the pipeline


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``detect`` subcommand."""
    p = subparsers.add_parser(
        "detect",
        help="show which AudioSet sounds occur when (PANNs Cnn14 frame-wise detection)",
        description=(
            "Run the Cnn14 detector on FILE and print the event timeline (class, onset s, "
            "offset s, peak probability) of the classes with the highest peak probability. "
            "With --prompt, also show the classes the prompt maps to and their activity."
        ),
    )
    p.add_argument("file", type=Path, metavar="FILE", help="audio file (any libsndfile format)")
    p.add_argument("--top", type=int, default=10, metavar="N", help="classes to list (10)")
    p.add_argument(
        "--prompt",
        action="append",
        default=[],
        metavar="P",
        help="text prompt to map to AudioSet classes (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument(
        "--head",
        choices=HEADS,
        default=_DEFAULTS.sed_head,
        help="Cnn14 head: att (code) or max (paper)",
    )
    add_models_option(p)
    p.add_argument(
        "--threshold",
        type=float,
        default=_DEFAULT_THRESHOLD,
        help=f"probability at which a class counts as active ({_DEFAULT_THRESHOLD})",
    )
    p.add_argument(
        "--mapping",
        choices=METHODS,
        default=_DEFAULTS.mapping_method,
        help="prompt mapping method",
    )
    p.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="PNG",
        help=(
            "save Figure 2 (spectrogram, class activity, hard/soft masks at the pipeline's "
            f"tau={_DEFAULTS.threshold}); the extension picks the format (default .png)"
        ),
    )
    p.add_argument(
        "--events",
        type=Path,
        default=None,
        metavar="TSV",
        help=(
            "write the events as a DCASE detection TSV (filename, onset, offset, event_label, "
            "confidence); with --prompt, one event list per prompt"
        ),
    )
    p.add_argument(
        "--on",
        type=float,
        default=DEFAULT_ON,
        help=f"--events: probability at which an event starts ({DEFAULT_ON})",
    )
    p.add_argument(
        "--off",
        type=float,
        default=DEFAULT_OFF,
        help=f"--events: probability below which it ends ({DEFAULT_OFF})",
    )
    p.add_argument(
        "--min-duration",
        type=float,
        default=DEFAULT_MIN_DURATION,
        metavar="S",
        help=f"--events: drop events shorter than S seconds ({DEFAULT_MIN_DURATION})",
    )
    p.add_argument(
        "--min-gap",
        type=float,
        default=0.0,
        metavar="S",
        help="--events: merge events of one label less than S seconds apart (0)",
    )
    p.add_argument(
        "--target-span",
        type=float,
        nargs=2,
        action="append",
        default=[],
        metavar=("START", "END"),
        help="with --plot: shade where the target really sounds, in seconds (repeatable)",
    )
    p.set_defaults(func=run)


def detect_report(
    waveform,
    sample_rate: int,
    detector,
    prompts: list[str],
    top: int = 10,
    threshold: float = _DEFAULT_THRESHOLD,
    mapping: str = "default",
) -> tuple[dict, object]:
    """Detection summary as a JSON-ready dict, plus the ``(frames, 527)`` probabilities."""
    if top < 1:
        raise ConfigError(f"--top must be at least 1, got {top}")
    if not 0 < threshold <= 1:
        raise ConfigError(f"--threshold must be in (0, 1], got {threshold}")
    labels = audioset_labels()
    probs = detector.detect(waveform, sample_rate)[0]
    fps = detector.frames_per_second
    best = top_classes(probs, top)
    peaks = probs.max(dim=0).values
    report: dict = {
        "duration_s": round(waveform.shape[-1] / sample_rate, 3),
        "frames": int(probs.shape[0]),
        "frames_per_second": fps,
        "threshold": threshold,
        "top": [{"label": labels[i], "index": i, "peak": round(float(peaks[i]), 4)} for i in best],
        "events": [
            {
                "label": e.label,
                "index": e.index,
                "onset": round(e.onset, 2),
                "offset": round(e.offset, 2),
                "peak": round(e.peak, 4),
            }
            for e in event_timeline(probs, labels, threshold, fps, classes=best)
        ],
        "prompts": [],
    }
    if prompts:
        for prompt, match in zip(prompts, PromptMapper(mapping).map_many(prompts), strict=True):
            act = class_activity(probs, match.indices, threshold, fps)
            report["prompts"].append(
                {
                    "prompt": prompt,
                    "labels": list(match.labels),
                    "indices": list(match.indices),
                    "score": round(match.score, 4),
                    "rule": match.method,
                    "confident": match.confident,
                    "explanation": match.explanation,
                    "peak": round(act.peak, 4),
                    "active_seconds": round(act.active_seconds, 2),
                    "events": [[round(a, 2), round(b, 2), round(c, 4)] for a, b, c in act.events],
                }
            )
    return report, probs


def _print_text(report: dict, path: Path) -> None:
    print(f"{path}: {report['duration_s']:.2f} s, {report['frames']} frames")
    print(f"top classes by peak probability (active at p >= {report['threshold']}):")
    for t in report["top"]:
        print(f"  {t['peak']:.3f}  {t['label']}")
    print("events:")
    if not report["events"]:
        print("  (none above the threshold)")
    print(f"  {'onset':>7} {'offset':>7}  {'peak':>5}  class")
    for e in report["events"]:
        print(f"  {e['onset']:7.2f} {e['offset']:7.2f}  {e['peak']:.3f}  {e['label']}")
    for p in report["prompts"]:
        flag = "" if p["confident"] else "  [not confident: masking would be skipped]"
        print(f"prompt {p['prompt']!r} -> {', '.join(p['labels'])} ({p['rule']}){flag}")
        print(f"  {p['explanation']}")
        print(f"  peak {p['peak']:.3f}, active {p['active_seconds']:.2f} s")
        for a, b, c in p["events"]:
            print(f"  {a:7.2f} {b:7.2f}  {c:.3f}")


def _save_plot(
    args: argparse.Namespace, waveform, sample_rate: int, probs, fps: float, report: dict
) -> Path:
    """Save Figure 2 to ``args.plot`` atomically (smoke-marked for tiny-random); return it."""
    mapped = [i for p in report["prompts"] if p["confident"] for i in p["indices"]]
    prompts = ", ".join(f"“{p}”" for p in args.prompt)
    fig, (axes,) = plot.sed_activity_figure(1)
    plot.sed_activity(
        axes,
        waveform,
        sample_rate,
        probs,
        mapped,
        frames_per_second=fps,
        threshold=_DEFAULTS.threshold,
        top=args.top,
        target_spans=[tuple(span) for span in args.target_span],
        title=f"{args.file.stem}: {prompts}" if prompts else args.file.stem,
    )
    # random weights make a smoke figure: marked as such, like the notebooks' smoke runs
    profile = "smoke" if registry.resolve(args.models)[0].random else "paper"
    ext = args.plot.suffix.lstrip(".") or "png"
    (path,) = save_figure(fig, args.plot.parent, args.plot.stem, profile=profile, formats=(ext,))
    return path


def _write_events(args: argparse.Namespace, probs, fps: float, report: dict) -> int:
    """Write the ``--events`` TSV; return the number of events written."""
    if report["prompts"]:
        labels: object = {p["prompt"]: p["indices"] for p in report["prompts"]}
    else:
        labels = audioset_labels()
    events = find_events(probs, labels, fps, args.on, args.off, args.min_duration, args.min_gap)
    write_events_tsv(args.events, events, args.file.name)
    return len(events)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``eventsep detect``."""
    # check the event options before any model loads
    find_events(np.zeros((1, 1)), ["x"], 1.0, args.on, args.off, args.min_duration, args.min_gap)
    waveform, sr = load_audio(args.file, Cnn14SED.sample_rate, mono=True)
    detector = registry.load_detector(args.models, head=args.head)
    report, probs = detect_report(
        waveform[0], sr, detector, list(args.prompt), args.top, args.threshold, args.mapping
    )
    report = {"file": str(args.file), "head": args.head, "models": args.models, **report}
    if args.events is not None:
        report["events_tsv"] = str(args.events)
        report["events_written"] = _write_events(args, probs, detector.frames_per_second, report)
    if args.plot is not None:
        report["plot"] = str(
            _save_plot(args, waveform[0], sr, probs, detector.frames_per_second, report)
        )
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        _print_text(report, args.file)
        if args.plot is not None:
            print(f"figure: {args.plot}")
        if args.events is not None:
            print(f"event list: {args.events} ({report['events_written']} events)")
    return 0
