"""Writers for the reproduction outputs: figures, tables, listening pages and provenance.

The numbered notebooks (``notebooks/``) call these so that every output of a run has the same
layout and says which profile produced it. A ``smoke`` run (tiny-random weights, bundled examples)
produces numbers that mean nothing; every figure it saves carries a title suffix and a watermark,
and every table a ``profile`` column and a caption saying so.

Layout of one run folder (``figures/runs/<profile>/`` by default)::

    <name>.png, <name>.pdf        figures
    tables/<name>.csv, .md        tables
    listening/index.html          listening page (relative links to listening/audio/*.wav)
    notebooks/NN_*.ipynb          executed notebooks (written by eventsep.reproduce)
    provenance.json               versions, git commit, seed, profile, device, durations
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eventsep.io import atomic_path, write_text_atomic

if TYPE_CHECKING:  # pragma: no cover - imported for type hints only
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "SMOKE_NOTE",
    "ListeningExample",
    "Track",
    "is_smoke",
    "plot_sed_activity",
    "plot_spectrogram",
    "run_suffix",
    "save_figure",
    "table_markdown",
    "write_listening_page",
    "write_table",
]

SMOKE_NOTE = "SMOKE RUN: tiny-random weights, not the paper's results"
"""Text that marks every figure and table of a smoke run."""


def is_smoke(profile: str) -> bool:
    """Return True when ``profile`` produces placeholder numbers (anything but ``paper``)."""
    return profile != "paper"


def run_suffix(profile: str) -> str:
    """Return the suffix appended to titles and captions: empty for ``paper``."""
    return f" [{SMOKE_NOTE}]" if is_smoke(profile) else ""


# ----------------------------------------------------------------------------------- figures
def save_figure(
    fig: Figure,
    out_dir: str | os.PathLike[str],
    name: str,
    *,
    profile: str,
    dpi: int = 150,
    formats: Sequence[str] = ("png", "pdf"),
) -> tuple[Path, ...]:
    """Save ``fig`` as ``<out_dir>/<name>.png`` and ``.pdf``, marking smoke runs.

    For a smoke profile the figure's suptitle gets :data:`SMOKE_NOTE` appended (a suptitle is
    created when there is none) and a faint diagonal watermark is drawn across it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure; modified in place for smoke runs.
    out_dir : path
        Folder for the two files (created if missing).
    name : str
        File stem, e.g. ``"figure2_sed_activity"``.
    profile : str
        ``"paper"`` or ``"smoke"``.
    dpi : int
        Resolution of the PNG in dots per inch.
    formats : sequence of str
        File formats (extensions) to write.

    Returns
    -------
    tuple of Path
        The written paths, in the order of ``formats`` (PNG, PDF by default).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if is_smoke(profile):
        current = fig._suptitle.get_text() if fig._suptitle is not None else ""
        if SMOKE_NOTE not in current:
            title = f"{current}{run_suffix(profile)}" if current else SMOKE_NOTE
            fig.suptitle(title, color="firebrick")
        fig.text(
            0.5,
            0.5,
            "SMOKE RUN",
            fontsize=60,
            color="firebrick",
            alpha=0.12,
            ha="center",
            va="center",
            rotation=30,
            transform=fig.transFigure,
            zorder=1000,
        )
    paths = []
    for ext in formats:
        path = out / f"{name}.{ext}"
        with atomic_path(path, suffix=f".{ext}") as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=ext)
        paths.append(path)
    return tuple(paths)


def plot_spectrogram(
    ax: Axes,
    waveform: np.ndarray | Any,
    sample_rate: int,
    *,
    title: str | None = None,
    n_fft: int = 1024,
    hop: int | None = None,
    max_freq: float | None = None,
    db_range: float = 80.0,
    offset: float = 0.0,
    duration: float | None = None,
) -> Any:
    """Draw a log-magnitude spectrogram with time in seconds and frequency in kHz.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw on.
    waveform : array-like, shape (samples,)
        Mono audio (a torch tensor is accepted).
    sample_rate : int
        Sample rate in Hz.
    title : str, optional
        Axes title.
    n_fft : int
        FFT size in samples (Hann window of the same length).
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


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().float().numpy()
    return np.asarray(x)


# ------------------------------------------------------------------------------------ tables
def _format_cell(value: Any, digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "–"
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table_markdown(df: pd.DataFrame, *, caption: str | None = None, digits: int = 4) -> str:
    """Render ``df`` (index ignored) as a GitHub-flavoured Markdown table.

    Floats are printed with ``digits`` decimals, NaN as an en dash. ``caption`` becomes a bold
    line above the table.
    """
    header = [str(c) for c in df.columns]
    lines = []
    if caption:
        lines += [f"**{caption}**", ""]
    lines.append("| " + " | ".join(header) + " |")
    aligns = [
        "---:" if df[c].dtype.kind in "fiu" else ":---" for c in df.columns
    ]  # numbers right-aligned
    lines.append("| " + " | ".join(aligns) + " |")
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_format_cell(v, digits) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_table(
    df: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    name: str,
    *,
    profile: str,
    caption: str,
    digits: int = 4,
) -> tuple[Path, Path]:
    """Write ``df`` as ``<out_dir>/tables/<name>.csv`` and ``.md`` with a ``profile`` column.

    Parameters
    ----------
    df : pandas.DataFrame
        The table; its index is dropped (reset it first if it carries data).
    out_dir : path
        Run folder; the files go to its ``tables/`` subfolder.
    name : str
        File stem, e.g. ``"table1_overall"``.
    profile : str
        Written into a first column ``profile``; smoke runs also get :data:`SMOKE_NOTE` in the
        Markdown caption.
    caption : str
        Caption of the Markdown table.
    digits : int
        Decimals of floats in the Markdown file (the CSV keeps full precision).

    Returns
    -------
    (Path, Path)
        The CSV and Markdown paths.
    """
    table = df.reset_index(drop=True).copy()
    if "profile" in table.columns:
        table = table.drop(columns="profile")
    table.insert(0, "profile", profile)
    folder = Path(out_dir) / "tables"
    csv_path = folder / f"{name}.csv"
    md_path = folder / f"{name}.md"
    write_text_atomic(csv_path, table.to_csv(index=False))
    write_text_atomic(
        md_path,
        table_markdown(table, caption=caption + run_suffix(profile), digits=digits),
    )
    return csv_path, md_path


# ------------------------------------------------------------------------- listening page
@dataclass(frozen=True)
class Track:
    """One audio player of a listening example.

    Attributes
    ----------
    label : str
        What it is, e.g. ``"Mixture"`` or ``"EventSep"``.
    audio : str
        Path of the WAV file relative to the page's folder.
    image : str or None
        Path of a spectrogram image relative to the page's folder.
    """

    label: str
    audio: str
    image: str | None = None


@dataclass(frozen=True)
class ListeningExample:
    """One mixture with its prompt and the players of every estimate."""

    name: str
    prompt: str
    tracks: tuple[Track, ...]
    description: str = ""
    details: Mapping[str, str] = field(default_factory=dict)


_PAGE_CSS = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }
.smoke { background: #fde2e1; color: #8a1c1c; padding: .6rem 1rem; border-radius: .3rem; }
.example { border-top: 1px solid #ccc; padding: 1rem 0; }
.tracks { display: grid; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); gap: 1rem; }
.track img { width: 100%; }
.track audio { width: 100%; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
dt { font-weight: 600; }
"""


def write_listening_page(
    out_dir: str | os.PathLike[str],
    examples: Iterable[ListeningExample],
    *,
    profile: str,
    title: str = "EventSep listening examples",
    intro: str = "",
) -> Path:
    """Write ``<out_dir>/index.html``: one section per example with audio players.

    Audio and images are linked relatively (they must live under ``out_dir``), so the folder can
    be moved or served as it is.

    Returns
    -------
    Path
        The HTML file.
    """
    out = Path(out_dir)
    esc = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title + run_suffix(profile))}</title>",
        f"<style>{_PAGE_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    if is_smoke(profile):
        parts.append(
            f'<p class="smoke"><strong>{esc(SMOKE_NOTE)}.</strong> The estimates come from '
            "randomly initialised models and only show that the pipeline runs.</p>"
        )
    if intro:
        parts.append(f"<p>{esc(intro)}</p>")
    count = 0
    for example in examples:
        count += 1
        parts.append(f'<section class="example" id="{esc(example.name)}">')
        parts.append(f"<h2>{esc(example.name)}: “{esc(example.prompt)}”</h2>")
        if example.description:
            parts.append(f"<p>{esc(example.description)}</p>")
        if example.details:
            parts.append("<dl>")
            for key, value in example.details.items():
                parts.append(f"<dt>{esc(str(key))}</dt><dd>{esc(str(value))}</dd>")
            parts.append("</dl>")
        parts.append('<div class="tracks">')
        for track in example.tracks:
            for rel in (track.audio, track.image):
                if rel is not None and not (out / rel).is_file():
                    raise FileNotFoundError(f"listening page links to a missing file: {out / rel}")
            parts.append('<div class="track">')
            parts.append(f"<h3>{esc(track.label)}</h3>")
            if track.image:
                parts.append(
                    f'<img src="{esc(track.image)}" alt="spectrogram of {esc(track.label)}">'
                )
            parts.append(
                f'<audio controls preload="none" src="{esc(track.audio)}"></audio>'
                f'<br><a href="{esc(track.audio)}">{esc(Path(track.audio).name)}</a>'
            )
            parts.append("</div>")
        parts.append("</div></section>")
    if count == 0:
        raise ValueError("a listening page needs at least one example")
    parts.append("</body></html>")
    path = out / "index.html"
    write_text_atomic(path, "\n".join(parts) + "\n")
    return path


def plot_sed_activity(
    axes: Sequence[Axes],
    result: Any,
    *,
    threshold: float = 0.55,
    top: int = 5,
    target_spans: Sequence[Sequence[float]] = (),
    title: str | None = None,
) -> None:
    """Draw one example of Figure 2 on three axes: spectrogram, class activity, time masks.

    Parameters
    ----------
    axes : sequence of three Axes
        Top: log spectrogram of the mixture. Middle: frame-wise probabilities (heatmap) of the
        ``top`` classes by peak probability plus the classes the prompt was mapped to (their
        names in bold, marked with an arrow). Bottom: the mapped classes' combined curve
        (frame-wise max), ``tau``, and the resulting hard and soft masks.
    result : EventSepResult
        A pipeline result with ``all_probs`` ``(frames, 527)`` and ``match``.
    threshold : float
        ``tau`` of both masks.
    top : int
        Number of most active classes shown besides the mapped ones.
    target_spans : sequence of (start_s, end_s)
        Where the target really sounds (shaded in the bottom panel), in seconds.
    title : str, optional
        Title of the top panel.
    """
    from eventsep import masks
    from eventsep.labels import audioset_labels

    if result.all_probs is None:
        raise ValueError("plot_sed_activity needs a result computed with a time mask (all_probs)")
    ax_spec, ax_heat, ax_mask = axes
    probs = _to_numpy(result.all_probs).astype(np.float64)  # (frames, 527)
    frames = probs.shape[0]
    fps = float(result.frames_per_second)
    duration = frames / fps
    names = audioset_labels()
    mapped = [int(i) for i in result.match.indices]
    ranked = [int(i) for i in np.argsort(-probs.max(axis=0)) if int(i) not in mapped][:top]
    shown = mapped + ranked

    image = plot_spectrogram(
        ax_spec, result.mixture, result.sample_rate, title=title, max_freq=16000
    )
    ax_spec.set_xlim(0.0, duration)
    ax_spec.set_xlabel("")
    bar = ax_spec.figure.colorbar(image, cax=ax_spec.inset_axes((1.01, 0.0, 0.015, 1.0)))
    bar.set_label("dB")

    heat = probs[:, shown].T  # (classes, frames)
    image = ax_heat.imshow(
        heat,
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
        [("→ " if i in mapped else "") + _short(names[i]) for i in shown], fontsize="small"
    )
    for tick, idx in zip(ax_heat.get_yticklabels(), shown, strict=True):
        if idx in mapped:
            tick.set_fontweight("bold")
    ax_heat.set_ylabel("AudioSet class")
    bar = ax_heat.figure.colorbar(image, cax=ax_heat.inset_axes((1.01, 0.0, 0.015, 1.0)))
    bar.set_label("probability")

    curve = masks.combine_classes(result.all_probs.float().cpu(), mapped, how="max")
    hard = masks.make_mask(curve, kind="hard", threshold=threshold)
    soft = masks.make_mask(curve, kind="soft", threshold=threshold)
    t = np.arange(frames) / fps
    for start, end in target_spans:
        ax_mask.axvspan(start, end, color="tab:green", alpha=0.15, lw=0)
    ax_mask.plot(t, _to_numpy(curve), color="0.3", lw=1.0, label="p (mapped classes)")
    ax_mask.plot(t, _to_numpy(hard), color="tab:red", lw=1.4, label=f"hard mask (τ={threshold})")
    ax_mask.plot(t, _to_numpy(soft), color="tab:blue", lw=1.4, ls="--", label="soft mask")
    ax_mask.axhline(threshold, color="0.5", lw=0.8, ls=":", label="τ")
    if target_spans:
        ax_mask.plot([], [], color="tab:green", alpha=0.3, lw=6, label="target sounds")
    ax_mask.set_xlim(0.0, duration)
    ax_mask.set_ylim(-0.05, 1.05)
    ax_mask.set_xlabel("Time (s)")
    ax_mask.set_ylabel("mask / p")
    ax_mask.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)


def _short(name: str, width: int = 28) -> str:
    """Shorten a class name for an axis label (``"Canidae, dogs, wolves"`` fits)."""
    return name if len(name) <= width else name[: width - 1] + "…"
