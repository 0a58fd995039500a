"""Audio input and output: load, check, resample, save.

Files are read with :mod:`soundfile` (libsndfile: WAV, FLAC, OGG/Vorbis, Opus, MP3 with
libsndfile >= 1.1) and returned as float32 tensors shaped ``(channels, samples)``. Resampling uses
:mod:`soxr` (high quality, band-limited). Saving is atomic.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from eventsep.core.errors import (
    AudioError,
    AudioFileNotFoundError,
    AudioTooLongError,
    CorruptAudioError,
    EmptyAudioError,
    NonFiniteAudioError,
    SampleRateError,
    SilentAudioError,
    UnsupportedFormatError,
)
from eventsep.core.io import atomic_path

__all__ = [
    "AUDIO_EXTENSIONS",
    "check_sample_rate",
    "check_waveform",
    "find_audio_files",
    "fit_length",
    "load_audio",
    "resample",
    "save_audio",
    "to_mono",
]

#: Extensions eventsep looks for when given a folder.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif")

#: Silence threshold (peak absolute amplitude) used by :func:`check_waveform`.
SILENCE_PEAK = 1e-8


def check_sample_rate(sample_rate: object) -> int:
    """Return ``sample_rate`` as an ``int`` or raise :class:`SampleRateError`."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer, float)):
        raise SampleRateError(f"sample rate must be a positive integer in Hz, got {sample_rate!r}")
    if not math.isfinite(float(sample_rate)) or float(sample_rate) != int(sample_rate):
        raise SampleRateError(f"sample rate must be a whole number of Hz, got {sample_rate!r}")
    if int(sample_rate) <= 0:
        raise SampleRateError(f"sample rate must be positive, got {sample_rate!r}")
    return int(sample_rate)


def check_waveform(
    waveform: torch.Tensor | np.ndarray,
    *,
    allow_silent: bool = True,
    sample_rate: int | None = None,
    max_seconds: float | None = None,
    name: str = "audio",
) -> torch.Tensor:
    """Validate a waveform and return it as a float32 tensor.

    Parameters
    ----------
    waveform
        Samples, last dimension is time: ``(samples,)``, ``(channels, samples)`` or
        ``(batch, channels, samples)``.
    allow_silent
        When False, an all-zero waveform raises :class:`SilentAudioError`.
    sample_rate, max_seconds
        When both are given, audio longer than ``max_seconds`` raises
        :class:`AudioTooLongError`.
    name
        How the audio is called in error messages (e.g. the file name).

    Raises
    ------
    EmptyAudioError, NonFiniteAudioError, SilentAudioError, AudioTooLongError
    """
    x = torch.as_tensor(waveform)
    if not torch.is_floating_point(x):
        x = x.to(torch.float32)
    if x.ndim == 0 or x.shape[-1] == 0 or x.numel() == 0:
        raise EmptyAudioError(f"{name} has no samples")
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise NonFiniteAudioError(f"{name} contains {bad} NaN or infinite samples")
    if not allow_silent and float(x.abs().max()) <= SILENCE_PEAK:
        raise SilentAudioError(f"{name} is silent (all samples are zero): nothing to separate")
    if max_seconds is not None and sample_rate is not None:
        seconds = x.shape[-1] / sample_rate
        if seconds > max_seconds:
            raise AudioTooLongError(
                f"{name} lasts {seconds:.1f} s, more than the limit of {max_seconds:g} s "
                "(raise max_seconds to process it)"
            )
    return x.to(torch.float32)


def to_mono(waveform: torch.Tensor) -> torch.Tensor:
    """Average the channel dimension: ``(channels, samples)`` -> ``(1, samples)``."""
    if waveform.ndim == 1:
        return waveform.unsqueeze(0)
    return waveform.mean(dim=-2, keepdim=True)


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    *,
    mono: bool = True,
    max_seconds: float | None = None,
) -> tuple[torch.Tensor, int]:
    """Read an audio file as float32.

    Parameters
    ----------
    path
        Any file libsndfile reads (WAV, FLAC, OGG, MP3, ...).
    sample_rate
        Resample to this rate (Hz); ``None`` keeps the file's rate.
    mono
        Mix channels down to one (their mean); otherwise keep them.
    max_seconds
        Refuse files longer than this (checked from the header, before decoding).

    Returns
    -------
    waveform : torch.Tensor
        ``(channels, samples)``, float32 in [-1, 1] for integer formats; ``channels`` is 1 when
        ``mono``.
    sample_rate : int
        Rate of the returned waveform in Hz.

    Raises
    ------
    AudioFileNotFoundError, CorruptAudioError, UnsupportedFormatError, EmptyAudioError,
    NonFiniteAudioError, AudioTooLongError, SampleRateError
    """
    p = Path(path)
    if not p.exists():
        raise AudioFileNotFoundError(f"{p}: no such file")
    if not p.is_file():
        raise AudioFileNotFoundError(f"{p}: not a file")
    if p.stat().st_size == 0:
        raise EmptyAudioError(f"{p}: the file is empty (0 bytes)")
    try:
        info = sf.info(str(p))
    except sf.LibsndfileError as exc:
        msg = str(exc).lower()
        if "format" in msg and "recogni" in msg:
            if p.suffix.lower() not in AUDIO_EXTENSIONS:
                raise UnsupportedFormatError(
                    f"{p}: unsupported audio format {p.suffix or '(no extension)'!r}; "
                    f"readable: {', '.join(AUDIO_EXTENSIONS)}"
                ) from exc
        raise CorruptAudioError(f"{p}: cannot decode audio ({exc})") from exc
    if info.frames == 0:
        raise EmptyAudioError(f"{p}: the file holds no samples")
    if max_seconds is not None and info.duration > max_seconds:
        raise AudioTooLongError(
            f"{p}: lasts {info.duration:.1f} s, more than the limit of {max_seconds:g} s"
        )
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise CorruptAudioError(f"{p}: cannot decode audio ({exc})") from exc
    if data.shape[0] == 0:
        raise EmptyAudioError(f"{p}: the file holds no samples")
    x = torch.from_numpy(np.ascontiguousarray(data.T))
    x = check_waveform(x, name=str(p))
    if mono:
        x = to_mono(x)
    if sample_rate is not None and check_sample_rate(sample_rate) != sr:
        x = resample(x, sr, sample_rate)
        sr = sample_rate
    return x, int(sr)


def resample(waveform: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Band-limited resampling along the last dimension (soxr, 'HQ').

    Parameters
    ----------
    waveform
        ``(..., samples)`` float tensor on any device (computed on CPU, returned on the input's
        device and dtype).
    orig_sr, new_sr
        Rates in Hz.

    Returns
    -------
    torch.Tensor
        ``(..., round(samples * new_sr / orig_sr))``.
    """
    orig_sr, new_sr = check_sample_rate(orig_sr), check_sample_rate(new_sr)
    if orig_sr == new_sr:
        return waveform
    x = torch.as_tensor(waveform)
    lead = x.shape[:-1]
    flat = x.detach().reshape(-1, x.shape[-1]).to("cpu", torch.float32).numpy()
    if flat.shape[-1] == 0:
        raise EmptyAudioError("cannot resample audio with no samples")
    # soxr takes (samples, channels).
    out = soxr.resample(np.ascontiguousarray(flat.T), orig_sr, new_sr, quality="HQ")
    out = np.asarray(out, dtype=np.float32).reshape(-1, flat.shape[0]).T
    return torch.from_numpy(np.ascontiguousarray(out)).reshape(*lead, -1).to(x.device, x.dtype)


def fit_length(waveform: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Crop or zero-pad the last dimension to exactly ``num_samples`` samples.

    Parameters
    ----------
    waveform
        ``(..., samples)`` tensor.
    num_samples
        Target length in samples (``>= 0``).

    Returns
    -------
    torch.Tensor
        ``(..., num_samples)``: the first ``num_samples`` samples (a view), or ``waveform``
        followed by zeros.
    """
    n = int(num_samples)
    if waveform.shape[-1] >= n:
        return waveform[..., :n]
    return torch.nn.functional.pad(waveform, (0, n - waveform.shape[-1]))


_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".aiff": "AIFF", ".aif": "AIFF"}


def save_audio(
    path: str | os.PathLike,
    waveform: torch.Tensor | np.ndarray,
    sample_rate: int,
    *,
    subtype: str | None = None,
) -> Path:
    """Write audio atomically (temporary file, then rename).

    Parameters
    ----------
    path
        Destination; the extension picks the format (.wav, .flac, .ogg, .aiff).
    waveform
        ``(samples,)`` or ``(channels, samples)``, float.
    sample_rate
        Rate in Hz.
    subtype
        libsndfile subtype; default float32 for WAV (no clipping), 16-bit PCM otherwise (samples
        are clipped to [-1, 1] first, so nothing wraps around).

    Raises
    ------
    UnsupportedFormatError, EmptyAudioError, NonFiniteAudioError
    """
    p = Path(path)
    fmt = _FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise UnsupportedFormatError(
            f"{p}: cannot write {p.suffix or '(no extension)'!r}; use one of {', '.join(_FORMATS)}"
        )
    sr = check_sample_rate(sample_rate)
    x = check_waveform(waveform, name=str(p)).detach().to("cpu")
    if x.ndim == 1:
        x = x.unsqueeze(0)
    if x.ndim != 2:
        raise UnsupportedFormatError(
            f"{p}: expected (channels, samples), got shape {tuple(x.shape)}"
        )
    if subtype is None:
        subtype = "FLOAT" if fmt == "WAV" else ("VORBIS" if fmt == "OGG" else "PCM_16")
    data = x.T.numpy()
    if subtype.startswith("PCM") or subtype == "VORBIS":
        data = np.clip(data, -1.0, 1.0)
    with atomic_path(p, suffix=p.suffix) as tmp:
        sf.write(str(tmp), data, sr, format=fmt, subtype=subtype)
    return p


def find_audio_files(path: str | os.PathLike) -> list[Path]:
    """Return the audio files at ``path``: the file itself, or a folder's files (recursive).

    Raises
    ------
    AudioFileNotFoundError
        If ``path`` does not exist, or is a folder with no audio file in it.
    """
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.exists():
        raise AudioFileNotFoundError(f"{p}: no such file or folder")
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise AudioFileNotFoundError(
            f"{p}: folder holds no audio file ({', '.join(AUDIO_EXTENSIONS)})"
        )
    return files


# ------------------------------------------------- tensors for metrics and scorers
ArrayLike = np.ndarray | torch.Tensor | Sequence[float]
"""Audio as a numpy array, a tensor or a plain sequence of samples."""


def as_float64(x: ArrayLike) -> torch.Tensor:
    """``x`` as a float64 CPU tensor (detached; arrays and sequences converted), same shape."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(device="cpu", dtype=torch.float64)
    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


def paired_float64(estimate: ArrayLike, reference: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Both signals as float64 tensors of one shape ``(..., samples)``.

    Raises
    ------
    AudioError
        The shapes differ, or the last dimension is empty.
    """
    est, ref = as_float64(estimate), as_float64(reference)
    if est.shape != ref.shape:
        raise AudioError(
            f"estimate and reference must have the same shape, got {tuple(est.shape)} "
            f"and {tuple(ref.shape)}"
        )
    if est.ndim == 0 or est.shape[-1] == 0:
        raise AudioError("metrics need at least one sample in the last dimension")
    return est, ref
