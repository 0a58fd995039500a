"""Event gating: which chunks of a long input the separators must compute (pure functions).

The time mask says where the target is active. A separator that works chunk by chunk (AudioSep's
overlapping 10.24 s chunks, FlowSep's 10.24 s segments) can skip every chunk in which the mask
stays below a floor: the masked input there is (nearly) silent, and so is the estimate.

Equivalence with the ungated run
--------------------------------
A chunk is computed when the mask reaches the floor anywhere in the chunk widened by ``margin``
samples on each side (:func:`active_chunks`). The chunk grid is the ungated one, so every sample
within ``margin`` of an *active* sample (mask >= floor) is covered by computed chunks only, with
the same inputs and the same cross-fade weights as without gating: the estimate there is the
ungated one (up to float rounding when chunks are grouped differently). The margin keeps
anything that later looks a few samples around (resampling, STFT fusion) on identical values.

What skipped regions contain
----------------------------
A skipped chunk counts as a chunk whose output is silence: samples covered only by skipped
chunks are exact zeros, and where a skipped chunk overlaps a computed one the computed chunk's
output fades out with its usual cross-fade weight (no click, no re-normalisation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from eventsep.core.errors import ConfigError

__all__ = [
    "CLI_GATE_FLOOR",
    "GATE_MARGIN_SECONDS",
    "active_chunks",
    "check_floor",
    "most_active_start",
]

#: Floor of the time mask the command line gates with by default (the library default is 0: off).
CLI_GATE_FLOOR = 0.05
#: Context kept around active samples when gating, in seconds (covers resampling and fusion).
GATE_MARGIN_SECONDS = 0.25


def check_floor(floor: object) -> float:
    """``floor`` as a float in [0, 1); 0 turns gating off.

    Raises
    ------
    ConfigError
        Not a number in [0, 1).
    """
    try:
        value = float(floor)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"gate_floor must be a number in [0, 1), got {floor!r}") from None
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"gate_floor must lie in [0, 1) (0 = no gating), got {floor!r}")
    return value


def active_chunks(
    activity: torch.Tensor,
    spans: Sequence[tuple[int, int]],
    floor: float,
    *,
    scale: float = 1.0,
    margin: int = 0,
) -> list[bool]:
    """Which chunks must be computed: the mask reaches ``floor`` in the (widened) chunk.

    Parameters
    ----------
    activity : torch.Tensor
        ``(samples_in,)`` time mask per sample of the input, in [0, 1].
    spans : Sequence[tuple[int, int]]
        ``(start, end)`` of each chunk in the separator's samples.
    floor : float
        Gate floor; ``floor <= 0`` computes every chunk.
    scale : float
        Input samples per separator sample (``rate_in / rate_separator``, e.g. 2 for a 16 kHz
        separator given a 32 kHz mask). Chunk bounds are mapped outwards (floor / ceil).
    margin : int
        Widening of each chunk on both sides, in input samples.

    Returns
    -------
    list[bool]
        One flag per span, True where the chunk is computed. A span mapping to no input sample
        is computed (nothing proves it silent).
    """
    if floor <= 0:
        return [True] * len(spans)
    n = int(activity.shape[-1])
    flags = []
    for start, end in spans:
        lo = max(0, math.floor(start * scale) - margin)
        hi = min(n, math.ceil(end * scale) + margin)
        flags.append(hi <= lo or bool(activity[lo:hi].max() >= floor))
    return flags


def most_active_start(activity: torch.Tensor, window: int, *, step: int = 1) -> int:
    """Start of the ``window``-sample span holding the most mask (largest sum of ``activity``).

    Parameters
    ----------
    activity : torch.Tensor
        ``(samples,)`` time mask per sample, in [0, 1].
    window : int
        Span length in samples (>= 1).
    step : int
        Starts are searched on a grid of ``step`` samples (the mask is averaged per block of
        ``step`` samples first), which keeps memory small for long inputs; the last possible
        start ``samples - window`` is always a candidate.

    Returns
    -------
    int
        The earliest start of a span with the largest sum; 0 when ``samples <= window``.
    """
    n = int(activity.shape[-1])
    if window < 1 or step < 1:
        raise ConfigError(f"window and step must be >= 1, got {window}, {step}")
    if n <= window:
        return 0
    a = activity.detach().reshape(-1).to("cpu", torch.float64)
    blocks = -(-n // step)
    padded = torch.nn.functional.pad(a, (0, blocks * step - n))
    per_block = padded.reshape(blocks, step).sum(dim=1)
    span = max(1, window // step)
    csum = torch.cat([per_block.new_zeros(1), per_block.cumsum(0)])
    last = (n - window) // step  # highest grid start that fits
    sums = csum[span : last + span + 1] - csum[: last + 1]
    best = int(torch.argmax(sums))
    start = best * step
    tail = n - window
    if tail != start and float(a[tail:].sum()) > float(a[start : start + window].sum()):
        start = tail
    return min(start, tail)
