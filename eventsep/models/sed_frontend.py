"""The Cnn14 detector's front end as pure functions: 32 kHz audio -> log-mel frames.

Constants of the PANNs front end (window 1024, hop 320, 64 slaney mel bands from 50 Hz to 14 kHz,
100 frames per second) and the functions :class:`eventsep.models.sed.Cnn14SED` computes its input
with (:func:`mel_filterbank`, :func:`log_mel`, :func:`num_frames`). Re-exported by
:mod:`eventsep.models.sed`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from eventsep.core.dsp import slaney_mel_filterbank

__all__ = [
    "AMIN",
    "FRAMES_PER_SECOND",
    "F_MAX",
    "F_MIN",
    "HOP_LENGTH",
    "NUM_CLASSES",
    "N_FFT",
    "N_MELS",
    "SAMPLE_RATE",
    "TIME_POOL",
    "log_mel",
    "mel_filterbank",
    "num_frames",
]

SAMPLE_RATE = 32000
N_FFT = 1024
HOP_LENGTH = 320
N_MELS = 64
F_MIN = 50.0
F_MAX = 14000.0
NUM_CLASSES = 527
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH  # 100
TIME_POOL = 32  # the CNN pools time by 2**5
AMIN = 1e-10


def mel_filterbank(
    sample_rate: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    n_mels: int = N_MELS,
    fmin: float = F_MIN,
    fmax: float = F_MAX,
) -> np.ndarray:
    """Slaney-style triangular mel filterbank with slaney area normalisation.

    Same definition as ``librosa.filters.mel(htk=False, norm="slaney")``: band edges equally
    spaced on the slaney mel scale (linear below 1 kHz, logarithmic above), each triangle scaled
    by ``2 / (upper_hz - lower_hz)``.

    Parameters
    ----------
    sample_rate : int
        Sample rate in Hz.
    n_fft : int
        FFT size; the filterbank covers ``n_fft // 2 + 1`` bins from 0 to ``sample_rate / 2``.
    n_mels : int
        Number of mel bands.
    fmin, fmax : float
        Lowest and highest band edge in Hz.

    Returns
    -------
    numpy.ndarray
        ``(n_fft // 2 + 1, n_mels)`` float32 weights (bins by bands), ready for ``power @ W``.
    """
    return np.ascontiguousarray(slaney_mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax).T)


def num_frames(num_samples: int, hop_length: int = HOP_LENGTH) -> int:
    """Number of centred STFT frames (and detector output rows) for ``num_samples`` samples."""
    return 1 + int(num_samples) // hop_length


def _frames_slice(waveform: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Samples that frames ``start..stop-1`` of the centred STFT see, reflect-padded at the edges.

    ``waveform`` is ``(batch, samples)``; the result is ``(batch, (stop-start-1)*hop + n_fft)``.
    """
    half = N_FFT // 2
    n = waveform.shape[-1]
    lo = start * HOP_LENGTH - half
    hi = (stop - 1) * HOP_LENGTH + half
    piece = waveform[:, max(lo, 0) : min(hi, n)]
    pad_left, pad_right = max(0, -lo), max(0, hi - n)
    if pad_left or pad_right:
        piece = F.pad(piece[:, None, :], (pad_left, pad_right), mode="reflect")[:, 0, :]
    return piece


def log_mel(waveform: torch.Tensor, melw: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Log-mel power spectrogram of already padded audio (no centring inside).

    Parameters
    ----------
    waveform : torch.Tensor
        ``(batch, samples)`` audio, padded so that frame ``i`` is
        ``waveform[:, i*320 : i*320 + 1024]``.
    melw : torch.Tensor
        ``(513, 64)`` mel filterbank.
    window : torch.Tensor
        ``(1024,)`` periodic Hann window.

    Returns
    -------
    torch.Tensor
        ``(batch, frames, 64)`` log-mel power in dB (``10 log10(max(mel, 1e-10))``, ref 1).
    """
    spec = torch.stft(
        waveform,
        n_fft=N_FFT,
        hop_length=HOP_LENGTH,
        win_length=N_FFT,
        window=window,
        center=False,
        return_complex=True,
    )
    power = spec.real.square() + spec.imag.square()  # (batch, bins, frames)
    mel = torch.matmul(power.transpose(1, 2), melw)
    return 10.0 * torch.log10(torch.clamp(mel, min=AMIN))
