"""Overlap-add chunked inference for waveform-to-waveform models of any input length.

A long signal is cut into chunks of ``chunk`` samples that overlap by ``overlap`` samples; each
chunk is processed exactly once; consecutive outputs are cross-faded over the overlap with
complementary raised-cosine ramps (``sin^2`` rising, ``cos^2`` falling, summing to exactly 1), so
the result is a convex combination of chunk outputs and equals ``fn`` on the whole signal wherever
``fn`` is local. Peak memory is one group of chunks plus the output buffer, whatever the length.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from eventsep.core.dsp import crossfade_window

__all__ = ["chunk_starts", "chunked_apply"]


def chunk_starts(num_samples: int, chunk: int, overlap: int) -> list[tuple[int, int]]:
    """Chunk boundaries that tile ``[0, num_samples)``.

    Parameters
    ----------
    num_samples : int
        Signal length in samples (>= 1).
    chunk : int
        Chunk length in samples.
    overlap : int
        Overlap between consecutive chunks in samples, ``0 <= overlap < chunk``.

    Returns
    -------
    list[tuple[int, int]]
        ``(start, end)`` pairs. Starts are multiples of ``hop = chunk - overlap``; every chunk has
        ``chunk`` samples except the last, which ends at ``num_samples`` and has more than
        ``overlap`` samples, so consecutive chunks always overlap by exactly ``overlap``. A signal
        no longer than ``chunk`` is one chunk.
    """
    if num_samples < 1:
        raise ValueError("num_samples must be >= 1")
    if not 0 <= overlap < chunk:
        raise ValueError(f"need 0 <= overlap < chunk, got overlap={overlap}, chunk={chunk}")
    if num_samples <= chunk:
        return [(0, num_samples)]
    hop = chunk - overlap
    n = math.ceil((num_samples - chunk) / hop) + 1
    return [(i * hop, min(i * hop + chunk, num_samples)) for i in range(n)]


def chunked_apply(
    fn: Callable[[torch.Tensor], torch.Tensor],
    waveform: torch.Tensor,
    chunk: int,
    overlap: int,
    *,
    batch_chunks: int = 1,
    out_device: torch.device | str | None = None,
    active: Sequence[bool] | None = None,
) -> torch.Tensor:
    """Apply a length-preserving waveform model chunk by chunk with cross-faded overlap-add.

    Parameters
    ----------
    fn : Callable[[Tensor], Tensor]
        Maps ``(n, length)`` to ``(n, length)`` for any ``length`` in ``(overlap, chunk]``; row
        ``r`` of the input is chunk ``r // batch`` of waveform row ``r % batch``. Called once per
        group of chunks; ``fn`` sees each chunk exactly once.
    waveform : Tensor
        ``(batch, samples)``.
    chunk : int
        Chunk length in samples.
    overlap : int
        Cross-fade length in samples, ``0 <= overlap < chunk``. Chunk starts are multiples of
        ``chunk - overlap`` (choose it as a multiple of the model's frame grid to keep the frames
        of every chunk aligned with those of the whole signal).
    batch_chunks : int
        How many full-length chunks go through ``fn`` together (GPU throughput vs memory).
    out_device : device, optional
        Where the output buffer lives (default: the input's device).
    active : Sequence[bool], optional
        One flag per chunk of :func:`chunk_starts` (event gating, :mod:`eventsep.core.gating`):
        chunks flagged False are not computed and count as silent chunks, so samples they alone
        cover are exact zeros and a computed neighbour fades out over the overlap as usual.
        Default: every chunk is computed.

    Returns
    -------
    Tensor
        ``(batch, samples)`` float32. With one chunk (``samples <= chunk``) this is exactly
        ``fn(waveform)``.
    """
    if waveform.dim() != 2:
        raise ValueError(f"waveform must be (batch, samples), got {tuple(waveform.shape)}")
    if batch_chunks < 1:
        raise ValueError("batch_chunks must be >= 1")
    batch, num = waveform.shape
    spans = chunk_starts(num, chunk, overlap)
    if active is not None and len(active) != len(spans):
        raise ValueError(f"{len(active)} gate flags for {len(spans)} chunks")
    keep = [True] * len(spans) if active is None else [bool(a) for a in active]
    if len(spans) == 1:
        return fn(waveform).float() if keep[0] else waveform.new_zeros(waveform.shape).float()
    out_device = waveform.device if out_device is None else torch.device(out_device)
    out = torch.zeros(batch, num, dtype=torch.float32, device=out_device)

    def add(idx: int, y: torch.Tensor) -> None:
        start, end = spans[idx]
        fade_in = overlap if idx > 0 else 0
        fade_out = overlap if idx < len(spans) - 1 else 0
        w = crossfade_window(end - start, fade_in, fade_out, device=out_device)
        out[:, start:end] += y.to(out_device, torch.float32) * w

    full = [i for i, (s, e) in enumerate(spans) if e - s == chunk and keep[i]]
    rest = [i for i, (s, e) in enumerate(spans) if e - s != chunk and keep[i]]
    for g in range(0, len(full), batch_chunks):
        group = full[g : g + batch_chunks]
        x = torch.cat([waveform[:, spans[i][0] : spans[i][1]] for i in group], dim=0)
        y = fn(x)
        for j, i in enumerate(group):
            add(i, y[j * batch : (j + 1) * batch])
    for i in rest:
        add(i, fn(waveform[:, spans[i][0] : spans[i][1]]))
    return out
