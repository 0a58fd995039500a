"""Figures of detector activity (Figure 2 of the EventSep paper).

Uses the object-oriented matplotlib API (``matplotlib.figure.Figure``), so nothing depends on a
GUI backend or on pyplot state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from eventsep.errors import ConfigError

__all__ = ["activity", "log_spectrogram"]


def log_spectrogram(
    waveform: torch.Tensor | np.ndarray, sample_rate: int, floor_db: float = 80.0
) -> tuple[np.ndarray, float, int]:
    """Log-magnitude STFT for display.

    Parameters
    ----------
    waveform : torch.Tensor or numpy.ndarray
        ``(samples,)`` mono audio.
    sample_rate : int
        In Hz.
    floor_db : float
        Dynamic range kept below the maximum, in dB.

    Returns
    -------
    (numpy.ndarray, float, int)
        ``(bins, frames)`` magnitude in dB (relative to the maximum), hop in seconds, n_fft.
        The window is about 32 ms (a power of two) with 75 % overlap.
    """
    x = torch.as_tensor(waveform, dtype=torch.float32).reshape(-1).cpu()
    n_fft = 2 ** max(6, round(math.log2(sample_rate * 0.032)))
    hop = n_fft // 4
    if x.numel() < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - x.numel()))
    spec = torch.stft(
        x, n_fft, hop, window=torch.hann_window(n_fft), center=True, return_complex=True
    ).abs()
    db = 20.0 * torch.log10(spec + 1e-8)
    db = torch.clamp(db - db.max(), min=-floor_db)
    return db.numpy(), hop / sample_rate, n_fft


def activity(
    waveform: torch.Tensor | np.ndarray,
    sample_rate: int,
    probs: torch.Tensor | np.ndarray,
    labels: Sequence[str],
    top: int = 10,
    highlight: Sequence[int] | None = None,
    mask: torch.Tensor | np.ndarray | None = None,
    frames_per_second: float = 100.0,
    fig=None,
    title: str | None = None,
):
    """Spectrogram over a class-by-frame probability heatmap (and optionally the mask).

    Parameters
    ----------
    waveform : torch.Tensor or numpy.ndarray
        ``(samples,)`` mono audio.
    sample_rate : int
        Its rate in Hz.
    probs : torch.Tensor or numpy.ndarray
        ``(frames, classes)`` detector probabilities at ``frames_per_second``.
    labels : sequence of str
        Class names (``len == classes``).
    top : int
        Classes by highest peak probability shown below the highlighted ones.
    highlight : sequence of int, optional
        Class indices to show first and mark with ``*`` (e.g. the classes a prompt maps to).
    mask : torch.Tensor or numpy.ndarray, optional
        ``(frames,)`` or ``(samples,)`` time mask drawn as a third row.
    frames_per_second : float
        Detector frame rate (100 for Cnn14).
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (cleared first); a new one otherwise.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    p = (
        probs.detach().float().cpu().numpy()
        if isinstance(probs, torch.Tensor)
        else np.asarray(probs)
    )
    if p.ndim != 2 or p.shape[1] != len(labels):
        raise ConfigError(f"probs must be (frames, {len(labels)}), got {p.shape}")
    if top < 1:
        raise ConfigError("top must be at least 1")
    chosen: list[int] = []
    for i in list(highlight or []) + [int(i) for i in np.argsort(-p.max(axis=0), kind="stable")]:
        if i not in chosen:
            chosen.append(int(i))
        if len(chosen) >= top + len(set(highlight or [])):
            break
    marked = set(highlight or [])
    spec, hop_s, _ = log_spectrogram(waveform, sample_rate)
    duration = torch.as_tensor(waveform).reshape(-1).shape[0] / sample_rate
    rows = 3 if mask is not None else 2
    ratios = [3, max(2, 0.35 * len(chosen))] + ([1] if mask is not None else [])
    if fig is None:
        fig = Figure(figsize=(10, 2.2 + 0.25 * len(chosen) + (1.0 if mask is not None else 0)))
    else:
        fig.clear()
    axes = fig.subplots(rows, 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    ax_spec, ax_act = axes[0], axes[1]

    nyquist = sample_rate / 2
    khz = nyquist >= 2000
    top_f = nyquist / 1000 if khz else nyquist
    im = ax_spec.imshow(
        spec,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0, spec.shape[1] * hop_s, 0, top_f),
        interpolation="nearest",
    )
    ax_spec.set_ylabel("frequency (kHz)" if khz else "frequency (Hz)")
    ax_spec.set_title(title or "log spectrogram (dB)")
    fig.colorbar(im, ax=ax_spec, pad=0.01, label="dB")

    heat = p[:, chosen].T
    im2 = ax_act.imshow(
        heat,
        origin="upper",
        aspect="auto",
        cmap="viridis",
        vmin=0,
        vmax=1,
        extent=(0, p.shape[0] / frames_per_second, len(chosen) - 0.5, -0.5),
        interpolation="nearest",
    )
    names = [("* " if i in marked else "") + _short(labels[i]) for i in chosen]
    ax_act.set_yticks(range(len(chosen)), names, fontsize=8)
    ax_act.set_ylabel("class")
    fig.colorbar(im2, ax=ax_act, pad=0.01, label="probability")

    if mask is not None:
        m = (
            mask.detach().float().cpu().numpy()
            if isinstance(mask, torch.Tensor)
            else np.asarray(mask)
        )
        m = m.reshape(-1)
        rate = frames_per_second if m.shape[0] <= p.shape[0] + 1 else m.shape[0] / duration
        ax_mask = axes[2]
        ax_mask.plot(np.arange(m.shape[0]) / rate, m, color="tab:red", lw=1)
        ax_mask.set_ylim(-0.05, 1.05)
        ax_mask.set_ylabel("mask")
        fig.colorbar(im2, ax=ax_mask, pad=0.01).ax.set_visible(False)  # align widths
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, duration)
    fig.tight_layout()
    return fig


def _short(name: str, width: int = 32) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
