"""Figures: log spectrograms and Figure 2 of the EventSep paper (detector activity and masks).

:func:`sed_activity` draws one example of Figure 2 on three axes (spectrogram, frame-wise class
activity, time masks); :func:`sed_activity_figure` makes the figure and the axes for any number of
examples. ``eventsep detect --plot`` and ``notebooks/01_sed_activity.ipynb`` both draw with these
two, so they give the same figure for the same input. Only the object-oriented matplotlib API is
used (``matplotlib.figure.Figure``): nothing depends on a GUI backend or on pyplot state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from eventsep.core.errors import ConfigError
from eventsep.core.labels import audioset_labels
from eventsep.method import masks

if TYPE_CHECKING:  # pragma: no cover - imported for type hints only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage

__all__ = ["FIGURE2_TITLE", "sed_activity", "sed_activity_figure", "spectrogram"]

FIGURE2_TITLE = (
    "Figure 2: mixture spectrogram, frame-wise class activity (Cnn14), hard and soft time masks"
)
"""Suptitle of Figure 2 (smoke runs get :data:`eventsep.paper.report.SMOKE_NOTE` appended on
saving)."""


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float().numpy()
    return np.asarray(x)


def spectrogram(
    ax: Axes,
    waveform: np.ndarray | torch.Tensor,
    sample_rate: int,
    *,
    title: str | None = None,
    n_fft: int = 1024,
    hop: int | None = None,
    max_freq: float | None = None,
    db_range: float = 80.0,
    offset: float = 0.0,
    duration: float | None = None,
) -> AxesImage:
    """Draw a log-magnitude spectrogram with time in seconds and frequency in kHz.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw on.
    waveform : numpy.ndarray or torch.Tensor
        ``(samples,)`` mono audio.
    sample_rate : int
        Sample rate in Hz.
    title : str, optional
        Axes title.
    n_fft : int
        FFT size in samples (periodic Hann window of the same length; 32 ms at 32 kHz).
    hop : int, optional
        Hop in samples; default ``n_fft // 4``.
    max_freq : float, optional
        Upper frequency limit of the plot in Hz; default Nyquist.
    db_range : float
        Dynamic range shown below the peak, in dB.
    offset : float
        Time of the first sample in seconds (a span placed inside a longer recording).
    duration : float, optional
        Length of the time axis in seconds (default: the end of the waveform).

    Returns
    -------
    matplotlib.image.AxesImage
        The image, for a colour bar.
    """
    x = np.asarray(_to_numpy(waveform), dtype=np.float64).reshape(-1)
    hop = hop or n_fft // 4
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    frames = 1 + (x.size - n_fft) // hop
    window = np.hanning(n_fft + 1)[:-1]
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * window, axis=-1)).T  # (bins, frames)
    db = 20.0 * np.log10(np.maximum(spec, 1e-10))
    peak = float(db.max()) if np.isfinite(db.max()) else 0.0
    end = offset + x.size / sample_rate
    image = ax.imshow(
        db,
        origin="lower",
        aspect="auto",
        cmap="magma",
        vmin=peak - db_range,
        vmax=peak,
        extent=(offset, end, 0.0, sample_rate / 2000.0),
        interpolation="nearest",
    )
    ax.set_xlim(0.0, end if duration is None else duration)
    if max_freq is not None:
        ax.set_ylim(0.0, max_freq / 1000.0)
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Frequency (kHz)")
    if title:
        ax.set_title(title)
    return image


def sed_activity_figure(
    examples: int = 1, *, fig: Figure | None = None
) -> tuple[Figure, list[tuple[Axes, Axes, Axes]]]:
    """Lay out Figure 2: three axes per example, stacked, titled :data:`FIGURE2_TITLE`.

    Parameters
    ----------
    examples : int
        Number of examples (rows of three panels).
    fig : matplotlib.figure.Figure, optional
        An empty figure to lay out (a notebook passes ``plt.figure()`` so that ``plt.show()``
        displays it); a new ``Figure`` otherwise. Size and layout engine are set here either way.

    Returns
    -------
    (matplotlib.figure.Figure, list of (Axes, Axes, Axes))
        The figure (constrained layout, 12 x 5.5 inches per example) and, per example, the
        spectrogram, activity and mask axes to pass to :func:`sed_activity`.
    """
    from matplotlib.figure import Figure

    if examples < 1:
        raise ConfigError(f"a figure needs at least one example, got {examples}")
    if fig is None:
        fig = Figure()
    fig.set_size_inches(12, 5.5 * examples)
    fig.set_layout_engine("constrained")
    axes = fig.subplots(
        3 * examples, 1, gridspec_kw={"height_ratios": [1.0, 1.2, 0.8] * examples}, squeeze=False
    )[:, 0]
    fig.suptitle(FIGURE2_TITLE)
    return fig, [tuple(axes[3 * k : 3 * k + 3]) for k in range(examples)]


def sed_activity(
    axes: Sequence[Axes],
    waveform: np.ndarray | torch.Tensor,
    sample_rate: int,
    probs: np.ndarray | torch.Tensor,
    mapped: Sequence[int] = (),
    *,
    frames_per_second: float = 100.0,
    threshold: float = 0.55,
    top: int = 5,
    target_spans: Sequence[Sequence[float]] = (),
    title: str | None = None,
    labels: Sequence[str] | None = None,
) -> None:
    """Draw one example of Figure 2 on three axes: spectrogram, class activity, time masks.

    Parameters
    ----------
    axes : sequence of three Axes
        Top: log spectrogram of ``waveform`` (time in s, frequency in kHz up to 16 kHz or
        Nyquist).
        Middle: frame-wise probabilities (heatmap) of the ``mapped`` classes (names in bold,
        marked with an arrow) and then the ``top`` other classes by peak probability. Bottom: the
        mapped classes' combined curve (frame-wise max), ``tau`` and the resulting hard and soft
        masks (:func:`eventsep.method.masks.make_mask`); the target spans shaded.
    waveform : numpy.ndarray or torch.Tensor
        ``(samples,)`` mono mixture.
    sample_rate : int
        Its rate in Hz.
    probs : numpy.ndarray or torch.Tensor
        ``(frames, classes)`` detector probabilities at ``frames_per_second``.
    mapped : sequence of int
        Class indices the prompt was mapped to; none: the bottom panel says there is no mask.
    frames_per_second : float
        Detector frame rate in Hz (100 for Cnn14).
    threshold : float
        ``tau`` of both masks, in (0, 1].
    top : int
        Number of most active classes shown besides the mapped ones (>= 1).
    target_spans : sequence of (start_s, end_s)
        Where the target really sounds, in seconds (shaded in the bottom panel).
    title : str, optional
        Title of the top panel.
    labels : sequence of str, optional
        Class names (``len == classes``); default the 527 AudioSet labels.

    Raises
    ------
    ConfigError
        ``probs`` does not match ``labels``, a class index is out of range, or ``top < 1``.
    """
    if labels is None:
        labels = audioset_labels()
    p = _to_numpy(probs).astype(np.float64)
    if p.ndim != 2 or p.shape[1] != len(labels):
        raise ConfigError(f"probs must be (frames, {len(labels)}), got {p.shape}")
    if top < 1:
        raise ConfigError(f"top must be at least 1, got {top}")
    mapped = list(dict.fromkeys(int(i) for i in mapped))
    if any(not 0 <= i < p.shape[1] for i in mapped):
        raise ConfigError(f"class indices {mapped} outside 0..{p.shape[1] - 1}")
    ax_spec, ax_heat, ax_mask = axes
    frames = p.shape[0]
    duration = frames / float(frames_per_second)
    ranked = [int(i) for i in np.argsort(-p.max(axis=0), kind="stable") if int(i) not in mapped]
    shown = mapped + ranked[:top]

    top_hz = min(16000.0, sample_rate / 2)
    image = spectrogram(ax_spec, waveform, sample_rate, title=title, max_freq=top_hz)
    ax_spec.set_xlim(0.0, duration)
    ax_spec.set_xlabel("")
    bar = ax_spec.figure.colorbar(image, cax=ax_spec.inset_axes((1.01, 0.0, 0.015, 1.0)))
    bar.set_label("dB")

    image = ax_heat.imshow(
        p[:, shown].T,  # (classes, frames)
        origin="upper",
        aspect="auto",
        cmap="viridis",
        vmin=0.0,
        vmax=1.0,
        extent=(0.0, duration, len(shown) - 0.5, -0.5),
        interpolation="nearest",
    )
    ax_heat.set_yticks(range(len(shown)))
    ax_heat.set_yticklabels(
        [("→ " if i in mapped else "") + _short(labels[i]) for i in shown], fontsize="small"
    )
    for tick, idx in zip(ax_heat.get_yticklabels(), shown, strict=True):
        if idx in mapped:
            tick.set_fontweight("bold")
    ax_heat.set_ylabel("AudioSet class")
    bar = ax_heat.figure.colorbar(image, cax=ax_heat.inset_axes((1.01, 0.0, 0.015, 1.0)))
    bar.set_label("probability")

    t = np.arange(frames) / float(frames_per_second)
    for start, end in target_spans:
        ax_mask.axvspan(start, end, color="tab:green", alpha=0.15, lw=0)
    if mapped:
        curve = masks.combine_classes(torch.from_numpy(p), mapped, how="max")
        hard = masks.make_mask(curve, kind="hard", threshold=threshold)
        soft = masks.make_mask(curve, kind="soft", threshold=threshold)
        ax_mask.plot(t, _to_numpy(curve), color="0.3", lw=1.0, label="p (mapped classes)")
        ax_mask.plot(
            t, _to_numpy(hard), color="tab:red", lw=1.4, label=f"hard mask (τ={threshold})"
        )
        ax_mask.plot(t, _to_numpy(soft), color="tab:blue", lw=1.4, ls="--", label="soft mask")
        ax_mask.axhline(threshold, color="0.5", lw=0.8, ls=":", label="τ")
    else:
        note = "no mapped classes: no time mask"
        ax_mask.text(0.5, 0.5, note, transform=ax_mask.transAxes, ha="center", color="0.4")
    if target_spans:
        ax_mask.plot([], [], color="tab:green", alpha=0.3, lw=6, label="target sounds")
    ax_mask.set_xlim(0.0, duration)
    ax_mask.set_ylim(-0.05, 1.05)
    ax_mask.set_xlabel("Time (s)")
    ax_mask.set_ylabel("mask / p")
    if ax_mask.get_legend_handles_labels()[0]:
        ax_mask.legend(
            loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False
        )


def _short(name: str, width: int = 28) -> str:
    """Shorten a class name for an axis label (``"Canidae, dogs, wolves"`` fits)."""
    return name if len(name) <= width else name[: width - 1] + "…"
