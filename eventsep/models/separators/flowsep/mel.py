"""Log-mel front end and waveform preprocessing of FlowSep.

FlowSep's VAE works on log-magnitude mel spectrograms of 16 kHz audio: STFT with n_fft = window =
1024 (periodic Hann, centred, reflect padding), hop 160, 64 Slaney mel bands from 0 to 8000 Hz
(the ``librosa.filters.mel`` default: Slaney scale, Slaney area normalisation), natural log of the
mel magnitudes clamped at 1e-5. A 10.24 s segment (163,840 samples) gives 1025 frames; the
reference keeps the first 1024 (``frames_for``).
"""

from __future__ import annotations

import torch

from eventsep.core.dsp import slaney_mel_filterbank

__all__ = [
    "mel_filterbank",
    "log_mel_spectrogram",
    "normalize_segment",
]


def mel_filterbank(
    sample_rate: int = 16000,
    n_fft: int = 1024,
    n_mels: int = 64,
    fmin: float = 0.0,
    fmax: float = 8000.0,
) -> torch.Tensor:
    """Slaney mel filterbank with Slaney area normalisation (librosa's default).

    Returns
    -------
    torch.Tensor
        (n_mels, n_fft // 2 + 1) float32 weights.
    """
    return torch.from_numpy(slaney_mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax))


def log_mel_spectrogram(
    waveform: torch.Tensor,
    mel_basis: torch.Tensor,
    n_fft: int = 1024,
    hop_length: int = 160,
    clamp: float = 1e-5,
    num_frames: int | None = None,
) -> torch.Tensor:
    """Log-magnitude mel spectrogram as FlowSep's VAE expects it.

    Parameters
    ----------
    waveform
        (batch, samples) float, 16 kHz; clipped to [-1, 1] as the reference does.
    mel_basis
        (n_mels, n_fft // 2 + 1) from :func:`mel_filterbank`.
    num_frames
        Keep this many frames (zero-pad or crop); ``None`` keeps ``samples // hop`` frames,
        i.e. drops the final centred frame like the reference (1025 -> 1024 for 10.24 s).

    Returns
    -------
    torch.Tensor
        (batch, frames, n_mels) natural-log mel magnitudes.
    """
    x = waveform.clamp(-1.0, 1.0).float()
    window = torch.hann_window(n_fft, periodic=True, device=x.device, dtype=x.dtype)
    spec = torch.stft(
        x,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=n_fft,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    mag = spec.abs()  # (batch, bins, frames)
    mel = torch.matmul(mel_basis.to(mag), mag)
    logmel = torch.log(torch.clamp(mel, min=clamp)).transpose(1, 2)
    if num_frames is None:
        num_frames = x.shape[-1] // hop_length
    frames = logmel.shape[1]
    if frames >= num_frames:
        return logmel[:, :num_frames]
    return torch.nn.functional.pad(logmel, (0, 0, 0, num_frames - frames))


def normalize_segment(segment: torch.Tensor, peak: float = 0.5) -> tuple[torch.Tensor, float]:
    """Remove the mean and scale the peak to ``peak`` (the reference's ``normalize_wav``).

    Parameters
    ----------
    segment
        (samples,) float waveform.

    Returns
    -------
    tuple
        The normalised segment and the gain applied after mean removal
        (``peak / (max|x - mean| + 1e-8)``).
    """
    centred = segment - segment.mean()
    gain = peak / (float(centred.abs().max()) + 1e-8)
    return centred * gain, gain
