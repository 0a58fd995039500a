"""Events from frame probabilities: runs of active frames, top classes, a class set's activity.

Pure functions on ``(frames, classes)`` probabilities (:meth:`eventsep.models.sed.Cnn14SED.detect`
output, 100 frames per second by default). Re-exported by :mod:`eventsep.models.sed`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from eventsep.core.errors import ConfigError
from eventsep.models.sed_frontend import FRAMES_PER_SECOND

__all__ = ["Activity", "Event", "class_activity", "event_timeline", "top_classes"]


@dataclasses.dataclass(frozen=True)
class Event:
    """One contiguous stretch of activity of one class.

    Attributes
    ----------
    label : str
        AudioSet display name.
    index : int
        Class index (0-526).
    onset, offset : float
        Start and end in seconds (``offset`` exclusive: end of the last active frame).
    peak : float
        Highest frame probability inside the event.
    """

    label: str
    index: int
    onset: float
    offset: float
    peak: float


def event_timeline(
    probs: torch.Tensor | np.ndarray,
    labels: Sequence[str],
    threshold: float = 0.3,
    frames_per_second: float = FRAMES_PER_SECOND,
    classes: Sequence[int] | None = None,
    min_duration: float = 0.0,
) -> list[Event]:
    """Turn frame probabilities into events: runs of frames with ``p >= threshold``.

    Parameters
    ----------
    probs : torch.Tensor or numpy.ndarray
        ``(frames, classes)`` probabilities.
    labels : sequence of str
        Class names, ``len(labels) == classes``.
    threshold : float
        Activity threshold in [0, 1].
    frames_per_second : float
        Frame rate; frame ``i`` spans ``[i, i + 1) / frames_per_second`` seconds.
    classes : sequence of int, optional
        Only these class indices (default: all).
    min_duration : float
        Drop events shorter than this many seconds.

    Returns
    -------
    list of Event
        Sorted by onset, then by descending peak.
    """
    p = probs.detach().cpu().numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs)
    if p.ndim != 2:
        raise ConfigError(f"expected (frames, classes) probabilities, got shape {p.shape}")
    idx = range(p.shape[1]) if classes is None else classes
    events: list[Event] = []
    for c in idx:
        active = np.concatenate([[False], p[:, c] >= threshold, [False]])
        edges = np.flatnonzero(np.diff(active.astype(np.int8)))
        for on, off in zip(edges[::2], edges[1::2], strict=True):
            onset, offset = on / frames_per_second, off / frames_per_second
            if offset - onset < min_duration:
                continue
            peak = float(p[on:off, c].max())
            events.append(Event(str(labels[c]), int(c), float(onset), float(offset), peak))
    events.sort(key=lambda e: (e.onset, -e.peak))
    return events


def top_classes(probs: torch.Tensor | np.ndarray, k: int = 10) -> list[int]:
    """Indices of the ``k`` classes with the highest peak frame probability, highest first.

    ``probs`` is ``(frames, classes)``.
    """
    p = probs.detach().cpu().numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs)
    if p.ndim != 2:
        raise ConfigError(f"expected (frames, classes) probabilities, got shape {p.shape}")
    peak = p.max(axis=0)
    order = np.argsort(-peak, kind="stable")
    return [int(i) for i in order[: max(0, int(k))]]


@dataclasses.dataclass(frozen=True)
class Activity:
    """Activity of a set of classes (e.g. the classes a prompt maps to), combined by max.

    Attributes
    ----------
    peak : float
        Highest combined frame probability.
    active_seconds : float
        Time with combined probability ``>= threshold``, in seconds.
    events : tuple of (float, float, float)
        ``(onset s, offset s, peak)`` for each active stretch.
    """

    peak: float
    active_seconds: float
    events: tuple[tuple[float, float, float], ...]


def class_activity(
    probs: torch.Tensor | np.ndarray,
    indices: Sequence[int],
    threshold: float = 0.3,
    frames_per_second: float = FRAMES_PER_SECOND,
) -> Activity:
    """Where any of ``indices`` is active: frame-wise max over the classes, then thresholded.

    ``probs`` is ``(frames, classes)``.
    """
    p = probs.detach().cpu().numpy() if isinstance(probs, torch.Tensor) else np.asarray(probs)
    if p.ndim != 2 or len(indices) == 0:
        raise ConfigError("need (frames, classes) probabilities and at least one class index")
    curve = p[:, list(indices)].max(axis=1)[:, None]
    events = event_timeline(curve, ["target"], threshold, frames_per_second)
    active = float((curve >= threshold).sum() / frames_per_second)
    spans = tuple((e.onset, e.offset, e.peak) for e in events)
    return Activity(float(curve.max()), active, spans)
