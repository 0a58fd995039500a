"""Which 10.24 s segments FlowSep generates for a clip, and how their outputs join up.

A clip (``(samples,)`` float32 at 16 kHz) is cut into segments of ``segment_samples``:

- ``"random"`` (the paper): one segment from a start drawn uniformly with the clip's generator;
- ``"active"``: the segment holding the most of the time mask;
- ``"full"``: overlapping segments covering the clip (:func:`segment_starts`), joined by
  overlap-add with raised-cosine cross-fades (:func:`segment_window`).

Clips shorter than a segment give one segment at 0. Each segment is preprocessed as in the
reference (mean removed, peak scaled to 0.5, :func:`~eventsep.models.separators.flowsep.mel.
normalize_segment`); a :class:`SegmentGate` marks the segments where the time mask stays below its
floor, which are not generated (:mod:`eventsep.core.gating`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from eventsep.core.dsp import crossfade_window
from eventsep.core.gating import GATE_MARGIN_SECONDS, active_chunks, most_active_start
from eventsep.models.separators.flowsep.mel import normalize_segment

__all__ = [
    "FlowSepOutput",
    "PlannedSegment",
    "SegmentGate",
    "SegmentMode",
    "assemble",
    "plan_segments",
    "segment_starts",
    "segment_window",
]

SegmentMode = Literal["random", "full", "active"]


@dataclass(frozen=True)
class FlowSepOutput:
    """Result of :meth:`FlowSepSeparator.separate`.

    Attributes
    ----------
    waveform
        (length,) float32 at ``sample_rate``: the regenerated span.
    sample_rate
        16000.
    start
        Sample offset of the span in the 16 kHz input.
    length
        Number of samples of the span.
    gain
        Gain the input had when it entered the model (reference preprocessing: mean removed,
        peak scaled to 0.5). ``waveform / gain`` is at the input's level.
    """

    waveform: torch.Tensor
    sample_rate: int
    start: int
    length: int
    gain: float = 1.0


def segment_starts(num_samples: int, segment: int, overlap: int) -> list[int]:
    """Start offsets of overlapping segments covering ``num_samples`` (last one flush right)."""
    if num_samples <= segment:
        return [0]
    hop = segment - overlap
    starts = list(range(0, num_samples - segment, hop))
    starts.append(num_samples - segment)
    return sorted(set(starts))


def segment_window(starts: list[int], k: int, segment: int, length: int) -> torch.Tensor:
    """Overlap-add weight ``(length,)`` of segment ``k`` of :func:`segment_starts`'s ``starts``.

    It fades in over the overlap with segment ``k - 1`` and out over the overlap with ``k + 1``
    (raised-cosine, :func:`eventsep.core.dsp.crossfade_window`); ``length`` is the segment's real
    length in samples (the last one may be shorter than ``segment``).
    """
    s = starts[k]
    fade_in = (starts[k - 1] + segment - s) if k > 0 else 0
    fade_out = (s + segment - starts[k + 1]) if k + 1 < len(starts) else 0
    return crossfade_window(length, max(fade_in, 0), max(fade_out, 0))


@dataclass(frozen=True, eq=False)
class SegmentGate:
    """The time mask FlowSep picks and gates its segments with (:mod:`eventsep.core.gating`).

    ``activity`` is at the input's rate, ``scale`` input samples per 16 kHz sample, ``margin``
    in input samples; no activity means every segment is generated.
    """

    activity: torch.Tensor | None = None
    floor: float = 0.0
    scale: float = 1.0
    margin: int = 0

    @classmethod
    def make(
        cls, activity: torch.Tensor | None, floor: float, scale: float, sample_rate: int
    ) -> SegmentGate:
        """The gate of ``activity`` ``(samples,)`` at ``sample_rate`` Hz (None: no gating)."""
        if activity is None:
            return cls()
        a = torch.as_tensor(activity).reshape(-1).float()
        return cls(a, float(floor), float(scale), round(GATE_MARGIN_SECONDS * sample_rate))

    def active(self, spans: list[tuple[int, int]]) -> list[bool]:
        """Whether each ``(start, end)`` span (16 kHz samples) is generated."""
        if self.activity is None:
            return [True] * len(spans)
        return active_chunks(self.activity, spans, self.floor, scale=self.scale, margin=self.margin)

    def most_active(self, segment: int, num_samples: int) -> int:
        """Start (16 kHz samples) of the ``segment``-long span with the most activity."""
        if self.activity is None:
            return 0
        window = math.ceil(segment * self.scale)
        step = max(1, round(self.scale * 160))  # one 16 kHz mel hop
        start = most_active_start(self.activity, window, step=step)
        return max(0, min(round(start / self.scale), num_samples - segment))


@dataclass(frozen=True, eq=False)
class PlannedSegment:
    """One segment of a clip: ``piece`` ``(length,)`` normalised by ``gain``, from ``start``
    (16 kHz samples); ``active`` False when the gate skips it."""

    start: int
    length: int
    gain: float
    piece: torch.Tensor
    active: bool


def plan_segments(
    x: torch.Tensor,
    mode: SegmentMode,
    gate: SegmentGate,
    generator: torch.Generator,
    *,
    segment: int,
    overlap: int,
    peak: float,
) -> list[PlannedSegment]:
    """The segments of clip ``x`` ``(samples,)`` at 16 kHz, in time order.

    ``"random"`` draws its start from ``generator`` (only for clips longer than ``segment``,
    before any other draw of the clip); ``overlap`` (samples) applies to ``"full"``.
    """
    n = x.shape[-1]
    if mode == "full":
        starts = segment_starts(n, segment, overlap)
    elif n <= segment:
        starts = [0]
    elif mode == "random":
        starts = [int(torch.randint(0, n - segment + 1, (1,), generator=generator))]
    else:
        starts = [gate.most_active(segment, n)]
    active = gate.active([(s, s + segment) for s in starts])
    plans = []
    for s, on in zip(starts, active, strict=True):
        piece, gain = normalize_segment(x[s : s + segment], peak)
        plans.append(PlannedSegment(s, piece.shape[-1], gain, piece, on))
    return plans


def assemble(
    x: torch.Tensor,
    mode: SegmentMode,
    plans: list[PlannedSegment],
    outputs: list[torch.Tensor | None],
    *,
    segment: int,
    peak: float,
    sample_rate: int = 16000,
) -> FlowSepOutput:
    """Join the generated ``outputs`` (``(length,)`` float32 CPU each, None where skipped).

    ``"random"`` / ``"active"``: the one segment's output as the model gave it (zeros when
    skipped), with its own gain. ``"full"``: each segment's output divided by its gain and
    multiplied by one global gain (``peak`` / peak of the mean-removed clip), cross-faded; that
    global gain is returned.
    """
    if mode != "full":
        (p,), (out,) = plans, outputs
        wav = torch.zeros(p.length) if out is None else out
        return FlowSepOutput(wav, sample_rate, p.start, p.length, p.gain)
    n = x.shape[-1]
    _, global_gain = normalize_segment(x, peak)
    acc = torch.zeros(n)
    weight = torch.zeros(n)
    starts = [p.start for p in plans]
    for k, (p, out) in enumerate(zip(plans, outputs, strict=True)):
        w = segment_window(starts, k, segment, p.length)
        weight[p.start : p.start + p.length] += w
        if out is not None:
            acc[p.start : p.start + p.length] += w * out * (global_gain / p.gain)
    return FlowSepOutput(acc / weight.clamp_min(1e-8), sample_rate, 0, n, global_gain)
