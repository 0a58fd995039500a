"""Event lists from frame probabilities, in the DCASE TSV format.

:func:`find_events` turns a probability curve into events with two thresholds (hysteresis): an
event is a run of frames with ``p >= off`` that holds at least one frame with ``p >= on``
(``on >= off``), so one noisy dip does not split an event and a weak bump alone does not start
one. Runs closer than ``min_gap`` seconds are merged, then events shorter than ``min_duration``
seconds are dropped. Frame ``i`` spans ``[i, i + 1) / frames_per_second`` seconds.

:func:`write_events_tsv` writes them as DCASE task 4 detection files: tab-separated, a header
line, columns ``filename onset offset event_label`` (seconds, 3 decimals) plus ``confidence``
(the event's peak probability), readable by ``psds_eval`` and ``sed_eval`` (pandas:
``pd.read_csv(path, sep="\\t")``).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from eventsep.core.errors import ConfigError
from eventsep.core.io import atomic_path

__all__ = [
    "COLUMNS",
    "DEFAULT_MIN_DURATION",
    "DEFAULT_OFF",
    "DEFAULT_ON",
    "SoundEvent",
    "find_events",
    "hysteresis_runs",
    "read_events_tsv",
    "write_events_tsv",
]

#: columns of a detection file, in order
COLUMNS = ("filename", "onset", "offset", "event_label", "confidence")
#: probability at which an event starts
DEFAULT_ON = 0.5
#: probability below which it ends
DEFAULT_OFF = 0.3
#: shortest event kept, in seconds
DEFAULT_MIN_DURATION = 0.1


@dataclass(frozen=True)
class SoundEvent:
    """One detected event.

    Attributes
    ----------
    onset, offset : float
        Start and end, in seconds from the start of the file.
    event_label : str
        Class name (or prompt) of the event.
    confidence : float
        Peak probability within the event, in [0, 1].
    """

    onset: float
    offset: float
    event_label: str
    confidence: float


def _check_thresholds(on: float, off: float) -> None:
    if not 0.0 < off <= on <= 1.0:
        raise ConfigError(f"need 0 < off <= on <= 1 for the hysteresis thresholds, got {on}, {off}")


def hysteresis_runs(curve: np.ndarray, on: float, off: float) -> list[tuple[int, int]]:
    """Frame runs ``[start, stop)`` with ``p >= off`` that reach ``p >= on`` somewhere.

    Parameters
    ----------
    curve : numpy.ndarray
        ``(frames,)`` probabilities.
    on, off : float
        Thresholds, ``0 < off <= on <= 1``.
    """
    _check_thresholds(on, off)
    p = np.asarray(curve, dtype=np.float64)
    active = np.concatenate([[False], p >= off, [False]])
    edges = np.flatnonzero(np.diff(active.astype(np.int8)))
    return [
        (int(a), int(b))
        for a, b in zip(edges[::2], edges[1::2], strict=True)
        if float(p[a:b].max()) >= on
    ]


def find_events(
    probs: torch.Tensor | np.ndarray,
    labels: Sequence[str] | Mapping[str, Sequence[int]],
    frames_per_second: float,
    on: float = DEFAULT_ON,
    off: float = DEFAULT_OFF,
    min_duration: float = DEFAULT_MIN_DURATION,
    min_gap: float = 0.0,
) -> list[SoundEvent]:
    """Events of each class (or class set) in ``probs``, sorted by onset.

    Parameters
    ----------
    probs : torch.Tensor or numpy.ndarray
        ``(frames, classes)`` probabilities.
    labels : sequence of str, or mapping of str to sequence of int
        A name per column (one event list per class), or ``{event_label: class indices}``: one
        list per set, its curve the frame-wise maximum over the set (e.g. a prompt's classes).
    frames_per_second : float
        Frame rate of ``probs``.
    on, off : float
        Hysteresis thresholds, ``0 < off <= on <= 1``.
    min_duration : float
        Events shorter than this (seconds) are dropped, after merging.
    min_gap : float
        Events of one label less than this many seconds apart are merged.

    Returns
    -------
    list of SoundEvent
    """
    _check_thresholds(on, off)
    if frames_per_second <= 0 or min_duration < 0 or min_gap < 0:
        raise ConfigError("frames_per_second must be > 0, min_duration and min_gap >= 0")
    p = probs.detach().cpu().numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs)
    if p.ndim != 2:
        raise ConfigError(f"expected (frames, classes) probabilities, got shape {p.shape}")
    if isinstance(labels, Mapping):
        sets = {str(k): list(v) for k, v in labels.items()}
    else:
        if len(labels) != p.shape[1]:
            raise ConfigError(f"{len(labels)} labels for {p.shape[1]} probability columns")
        sets = {str(name): [i] for i, name in enumerate(labels)}
    gap = int(round(min_gap * frames_per_second))
    events: list[SoundEvent] = []
    for label, idx in sets.items():
        if not idx:
            raise ConfigError(f"event label {label!r} has no class")
        curve = p[:, idx].max(axis=1)
        runs: list[list[int]] = []
        for a, b in hysteresis_runs(curve, on, off):
            if runs and a - runs[-1][1] < gap:
                runs[-1][1] = b
            else:
                runs.append([a, b])
        for a, b in runs:
            onset, offset = a / frames_per_second, b / frames_per_second
            if offset - onset < min_duration:
                continue
            events.append(SoundEvent(onset, offset, label, float(curve[a:b].max())))
    events.sort(key=lambda e: (e.onset, e.offset, e.event_label))
    return events


def _check_label(label: str) -> str:
    if any(ch in label for ch in "\t\r\n"):
        raise ConfigError(f"event label {label!r} holds a tab or line break")
    return label


def write_events_tsv(path: str | os.PathLike, events: Sequence[SoundEvent], filename: str) -> None:
    """Write ``events`` of audio file ``filename`` as a DCASE detection TSV (atomically).

    Parameters
    ----------
    path : path
        Output file (``.tsv``); written to a temporary name, then renamed.
    events : sequence of SoundEvent
        From :func:`find_events`.
    filename : str
        The ``filename`` column (the audio file's name, as DCASE metadata lists it).
    """
    _check_label(filename)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE)
    writer.writerow(COLUMNS)
    for e in events:
        writer.writerow(
            [
                filename,
                f"{e.onset:.3f}",
                f"{e.offset:.3f}",
                _check_label(e.event_label),
                f"{e.confidence:.4f}",
            ]
        )
    with atomic_path(path, suffix=".tsv") as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())


def read_events_tsv(path: str | os.PathLike) -> list[tuple[str, SoundEvent]]:
    """Read a file of :func:`write_events_tsv`: ``(filename, SoundEvent)`` per line.

    Raises
    ------
    ConfigError
        Not this format (header, column count, numbers, ``onset <= offset``).
    """
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise ConfigError(f"{path}: header must be {' '.join(COLUMNS)}")
    out = []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(COLUMNS):
            raise ConfigError(f"{path}:{n}: {len(row)} columns, expected {len(COLUMNS)}")
        try:
            onset, offset, conf = float(row[1]), float(row[2]), float(row[4])
        except ValueError:
            raise ConfigError(f"{path}:{n}: onset, offset and confidence must be numbers") from None
        if not 0 <= onset <= offset:
            raise ConfigError(f"{path}:{n}: need 0 <= onset <= offset")
        out.append((row[0], SoundEvent(onset, offset, row[3], conf)))
    return out
