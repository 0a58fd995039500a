"""Shared signal-processing helpers: the Slaney mel scale and filterbank, cross-fade windows.

Both PANNs (SED, 32 kHz) and FlowSep (16 kHz) use ``librosa.filters.mel``'s default filterbank:
band edges equally spaced on the Slaney mel scale (linear below 1 kHz, logarithmic above) and
Slaney area normalisation (each triangle scaled by ``2 / (upper_hz - lower_hz)``).

Every overlap-add in eventsep (AudioSep's chunks, FlowSep's segments, the fused span pasted back
by :func:`eventsep.method.fusion.overlap_add_span`) weights its pieces with
:func:`crossfade_window`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["crossfade_window", "hz_to_mel_slaney", "mel_to_hz_slaney", "slaney_mel_filterbank"]

_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel_slaney(freq: np.ndarray | float) -> np.ndarray:
    """Hz to Slaney mel (linear below 1 kHz, logarithmic above); array in, array out."""
    freq = np.asarray(freq, dtype=np.float64)
    log_mel = _MIN_LOG_MEL + np.log(np.maximum(freq, 1e-12) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(freq >= _MIN_LOG_HZ, log_mel, freq / _F_SP)


def mel_to_hz_slaney(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel_slaney`."""
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(
        mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), _F_SP * mel
    )


def slaney_mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> np.ndarray:
    """Triangular Slaney mel filterbank with Slaney area normalisation.

    Parameters
    ----------
    sample_rate
        Hz; the filterbank covers ``n_fft // 2 + 1`` bins from 0 to ``sample_rate / 2``.
    n_fft
        FFT size.
    n_mels
        Number of bands.
    fmin, fmax
        Lowest and highest band edge, Hz.

    Returns
    -------
    numpy.ndarray
        ``(n_mels, n_fft // 2 + 1)`` float32 weights (bands by bins).
    """
    fft_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz_slaney(
        np.linspace(hz_to_mel_slaney(fmin), hz_to_mel_slaney(fmax), n_mels + 2)
    )
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2 : n_mels + 2] - edges[:n_mels]))[:, None]
    return weights.astype(np.float32)


def crossfade_window(
    length: int,
    fade_in: int = 0,
    fade_out: int = 0,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Weight of one piece of an overlap-add: raised-cosine ramps at its borders, 1 inside.

    The rising ramp over ``fade`` samples is ``sin^2(pi/2 (i + 0.5) / fade)``, ``i = 0..fade-1``
    (the falling one its mirror image), so a falling and a rising ramp over the same samples sum
    to 1 (up to rounding): consecutive pieces cross-fade without a change of level.

    Parameters
    ----------
    length : int
        Piece length in samples.
    fade_in, fade_out : int
        Ramp lengths in samples at the start and at the end, each in ``[0, length]`` (0: no ramp,
        e.g. where the piece touches the signal's edge). Where the two ramps overlap they multiply.
    device, dtype
        Of the result (computed in float64).

    Returns
    -------
    torch.Tensor
        ``(length,)``, values in (0, 1].
    """
    if not (0 <= fade_in <= length and 0 <= fade_out <= length):
        raise ValueError(f"fades ({fade_in}, {fade_out}) must lie in [0, {length}] samples")
    w = torch.ones(length, dtype=torch.float64, device=device)
    for fade, rising in ((fade_in, True), (fade_out, False)):
        if fade:
            n = torch.arange(fade, dtype=torch.float64, device=device)
            ramp = torch.sin(0.5 * math.pi * (n + 0.5) / fade).square()
            if rising:
                w[:fade] *= ramp
            else:
                w[length - fade :] *= ramp.flip(0)
    return w.to(dtype)
