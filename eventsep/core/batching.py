"""Batching helpers: group clips by length, pad them into one tensor with a mask, unpad results.

Running many clips through the models together is only worth it if the result is the one a
clip-by-clip run gives. Two facts decide how batches are formed:

- The detector (Cnn14) and AudioSep (ResUNet30) see a clip's end through their STFT (reflect
  padding) and their receptive fields: padding a short clip with zeros changes their output near
  its end. They therefore run on *runs of equal length* (:func:`equal_length_runs`,
  :func:`map_by_length`): a batch of equal-length clips (every benchmark clip lasts 10 s) goes
  through them as one tensor, a batch of mixed lengths as one tensor per length.
- FlowSep regenerates fixed-size segments (10.24 s), zero-padded at the end exactly as for a
  single clip, so the segments of every clip of a batch go through it together, as one
  :class:`PaddedBatch` whose rows are cut back to their real lengths afterwards.

:func:`group_by_length` orders clips by length so that a batch holds clips of equal (or close)
length; :func:`pad_batch` stacks waveforms of any lengths into a :class:`PaddedBatch` (values,
lengths and a boolean mask of the real samples) and :func:`unpad` cuts rows back to their lengths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch

from eventsep.core.errors import ConfigError

__all__ = [
    "PaddedBatch",
    "check_batch_size",
    "equal_length_runs",
    "group_by_length",
    "map_by_length",
    "pad_batch",
    "unpad",
]

T = TypeVar("T")


def check_batch_size(batch_size: object) -> int:
    """``batch_size`` as a positive int, else :class:`~eventsep.core.errors.ConfigError`."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch size must be a positive integer, got {batch_size!r}")
    return batch_size


def group_by_length(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Split items into batches of at most ``batch_size``, similar lengths together.

    Parameters
    ----------
    lengths : sequence of int
        Length of each item (samples, any rate; only their order matters).
    batch_size : int
        Largest batch.

    Returns
    -------
    list of list of int
        Indices into ``lengths``. Items are sorted by length (ties keep their input order, so
        the grouping is deterministic) and cut into consecutive batches; each batch lists its
        indices in input order. Every index appears exactly once.
    """
    size = check_batch_size(batch_size)
    order = sorted(range(len(lengths)), key=lambda i: (int(lengths[i]), i))
    return [sorted(order[k : k + size]) for k in range(0, len(order), size)]


def equal_length_runs(lengths: Sequence[int]) -> list[list[int]]:
    """Indices of items of equal length, one list per distinct length (first-seen order)."""
    runs: dict[int, list[int]] = {}
    for i, n in enumerate(lengths):
        runs.setdefault(int(n), []).append(i)
    return list(runs.values())


def map_by_length(
    fn: Callable[[torch.Tensor, list[int]], Sequence[T]], waveforms: Sequence[torch.Tensor]
) -> list[T]:
    """Apply a batched model to 1-D waveforms of any lengths, one call per distinct length.

    Parameters
    ----------
    fn : callable
        ``fn(stack, indices) -> per-row results``: ``stack`` is ``(len(indices), samples)``, the
        waveforms ``indices`` (all of one length) stacked; returns one result per row.
    waveforms : sequence of torch.Tensor
        ``(samples_i,)`` each.

    Returns
    -------
    list
        ``fn``'s results, in the order of ``waveforms``.
    """
    out: list[T | None] = [None] * len(waveforms)
    for run in equal_length_runs([w.shape[-1] for w in waveforms]):
        rows = fn(torch.stack([waveforms[i] for i in run]), run)
        if len(rows) != len(run):
            raise ValueError(f"batched call returned {len(rows)} rows for {len(run)} inputs")
        for i, row in zip(run, rows, strict=True):
            out[i] = row
    return out  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class PaddedBatch:
    """Waveforms of different lengths in one zero-padded tensor.

    Attributes
    ----------
    values : torch.Tensor
        ``(batch, max_samples)``; row ``i`` holds waveform ``i`` then zeros.
    lengths : tuple[int, ...]
        Real length of each row in samples.
    mask : torch.Tensor
        ``(batch, max_samples)`` bool: True on real samples, False on padding.
    """

    values: torch.Tensor
    lengths: tuple[int, ...]
    mask: torch.Tensor

    def __len__(self) -> int:
        return len(self.lengths)

    def unpad(self, values: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Rows of ``values`` (default :attr:`values`) cut to their lengths; see :func:`unpad`."""
        return unpad(self.values if values is None else values, self.lengths)


def pad_batch(waveforms: Sequence[torch.Tensor], multiple: int = 1) -> PaddedBatch:
    """Stack 1-D waveforms into a zero-padded batch with a mask of the real samples.

    Parameters
    ----------
    waveforms : sequence of torch.Tensor
        ``(samples_i,)`` each, same dtype and device; at least one.
    multiple : int
        Pad the width up to a multiple of this many samples (default 1: the longest length).

    Returns
    -------
    PaddedBatch
    """
    if not waveforms:
        raise ValueError("pad_batch needs at least one waveform")
    for w in waveforms:
        if w.dim() != 1:
            raise ValueError(f"pad_batch takes 1-D waveforms, got shape {tuple(w.shape)}")
    lengths = tuple(int(w.shape[-1]) for w in waveforms)
    width = max(lengths)
    width = -(-width // multiple) * multiple
    first = waveforms[0]
    values = first.new_zeros(len(waveforms), width)
    for i, w in enumerate(waveforms):
        values[i, : lengths[i]] = w
    steps = torch.arange(width, device=first.device)
    mask = steps[None, :] < torch.tensor(lengths, device=first.device)[:, None]
    return PaddedBatch(values, lengths, mask)


def unpad(values: torch.Tensor, lengths: Sequence[int]) -> list[torch.Tensor]:
    """Rows of a padded ``(batch, samples, ...)`` tensor cut to ``lengths`` (views, no copy)."""
    if values.shape[0] != len(lengths):
        raise ValueError(f"{values.shape[0]} rows for {len(lengths)} lengths")
    return [values[i, : int(n)] for i, n in enumerate(lengths)]
