"""How a separated estimate becomes CLAP input: the two documented input modes.

Both end in CLAP's own filling of a 10 s window (``repeat_pad``, LAION ``get_audio_features``
with ``data_filling="repeatpad"``): ``floor(480000 / n)`` copies of the ``n`` samples, then zeros
up to 480,000 samples.

``"corrected"``
    The estimate is resampled to 48 kHz (soxr HQ, :func:`eventsep.core.audio.resample`), cut into
    consecutive 10 s windows (the last may be shorter) and each window is repeat-padded. The
    scorer averages the window embeddings with weights proportional to the window lengths. No
    random crop, no int16 step.
``"authors"``
    What the authors' benchmark computes (docs/protocols.md §5.1): the 32 kHz samples
    are passed unchanged, so CLAP reads them as 48 kHz (1.5x speed and pitch); one window,
    repeat-padded to 480,000 samples; no int16 step (``use_tensor=True``). Longer inputs took a
    random crop in the reference (which now crashes there): refused here.
"""

from __future__ import annotations

import torch

from eventsep.core.audio import resample
from eventsep.core.errors import AudioError

__all__ = [
    "CLAP_SAMPLE_RATE",
    "INPUT_MODES",
    "WINDOW_SAMPLES",
    "authors_input",
    "corrected_windows",
    "repeat_pad",
]

CLAP_SAMPLE_RATE = 48000
"""Sample rate (Hz) the CLAP audio tower was trained on."""
WINDOW_SAMPLES = 480_000
"""One CLAP window: 10 s at 48 kHz."""
INPUT_MODES: tuple[str, ...] = ("corrected", "authors")
"""The input modes a scorer accepts."""


def repeat_pad(x: torch.Tensor, length: int = WINDOW_SAMPLES) -> torch.Tensor:
    """CLAP's "repeatpad" filling: ``floor(length / n)`` copies, then zeros up to ``length``.

    Parameters
    ----------
    x : Tensor, shape (n,), 0 < n <= length
    length : int
        Samples of the result.

    Returns
    -------
    Tensor, shape (length,)
    """
    n = int(x.shape[-1])
    if n == 0 or n > length:
        raise AudioError(f"repeat_pad needs 1..{length} samples, got {n}")
    if n == length:
        return x
    copies = x.repeat(length // n)
    return torch.nn.functional.pad(copies, (0, length - copies.shape[-1]))


def corrected_windows(
    x: torch.Tensor, sample_rate: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Corrected input: resample to 48 kHz, consecutive 10 s windows, each repeat-padded.

    Parameters
    ----------
    x : Tensor, shape (batch, samples)
    sample_rate : int
        Hz of ``x``.

    Returns
    -------
    windows : Tensor, shape (n_windows, 480000), float32
    owner : Tensor, shape (n_windows,), int64
        Row of ``x`` each window comes from.
    weight : Tensor, shape (n_windows,), float32
        Window length / 480,000 (the averaging weight).
    """
    x = x.float()
    if sample_rate != CLAP_SAMPLE_RATE:
        x = resample(x, int(sample_rate), CLAP_SAMPLE_RATE)
    windows, owner, weight = [], [], []
    for b, row in enumerate(x):
        for start in range(0, row.shape[-1], WINDOW_SAMPLES):
            chunk = row[start : start + WINDOW_SAMPLES]
            windows.append(repeat_pad(chunk))
            owner.append(b)
            weight.append(chunk.shape[-1] / WINDOW_SAMPLES)
    return (
        torch.stack(windows),
        torch.tensor(owner, dtype=torch.int64),
        torch.tensor(weight, dtype=torch.float32),
    )


def authors_input(x: torch.Tensor) -> torch.Tensor:
    """Authors' input: the samples as they are (32 kHz read as 48 kHz), repeat-padded.

    Parameters
    ----------
    x : Tensor, shape (batch, samples), samples <= 480000

    Returns
    -------
    Tensor, shape (batch, 480000), float32

    Raises
    ------
    AudioError
        More than 480,000 samples (the reference takes a random crop there).
    """
    if x.shape[-1] > WINDOW_SAMPLES:
        raise AudioError(
            f"the authors' CLAP input handling is defined for up to {WINDOW_SAMPLES} samples "
            f"(the reference crops longer input at random); got {x.shape[-1]}"
        )
    return torch.stack([repeat_pad(row.float()) for row in x])
