"""Writers for the reproduction outputs: figures, tables, listening pages and provenance.

The numbered notebooks (``notebooks/``) call these so that every output of a run has the same
layout and says which run profile (:mod:`eventsep.paper.reproduce`: ``smoke`` or ``paper``) produced
it. A ``smoke`` run (tiny-random weights, bundled examples) produces numbers that mean nothing;
every figure it saves carries a title suffix and a watermark, and every table a ``profile``
column and a caption saying so.

Layout of one run folder (``figures/runs/<profile>/`` by default)::

    <name>.png, <name>.pdf        figures
    tables/<name>.csv, .md        tables
    listening/index.html          listening page (relative links to listening/audio/*.wav)
    notebooks/NN_*.ipynb          executed notebooks (written by eventsep.paper.reproduce)
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

from eventsep.core.errors import ConfigError
from eventsep.core.io import atomic_path, write_text_atomic
from eventsep.paper import reproduce

if TYPE_CHECKING:  # pragma: no cover - imported for type hints only
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "SMOKE_NOTE",
    "ListeningExample",
    "Track",
    "is_smoke",
    "run_suffix",
    "save_figure",
    "table_markdown",
    "write_listening_page",
    "write_table",
]

SMOKE_NOTE = "SMOKE RUN: tiny-random weights, not the paper's results"
"""Text that marks every figure and table of a smoke run."""


def is_smoke(profile: str) -> bool:
    """Return True when the run profile ``profile`` is ``"smoke"`` (placeholder numbers).

    Parameters
    ----------
    profile : str
        The run profile (``"smoke"`` or ``"paper"``), not the model set.

    Raises
    ------
    ConfigError
        For any other name (e.g. a model set such as ``"tiny-random"``).
    """
    if profile not in reproduce.PROFILES:
        raise ConfigError(
            f"unknown run profile {profile!r}; use one of {', '.join(reproduce.PROFILES)} "
            "(the run profile, not the model set)"
        )
    return profile == "smoke"


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


# ------------------------------------------------------------------------------------ tables
def _format_cell(value: Any, digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "–"
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table_markdown(
    df: pd.DataFrame,
    *,
    caption: str | None = None,
    digits: int = 4,
    notes: Sequence[str] = (),
) -> str:
    """Render ``df`` (index ignored) as a GitHub-flavoured Markdown table.

    Floats are printed with ``digits`` decimals, NaN as an en dash. ``caption`` becomes a bold
    line above the table, each of ``notes`` a line below it.
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
    if notes:
        lines.append("")
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def write_table(
    df: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    name: str,
    *,
    profile: str,
    caption: str,
    digits: int = 4,
    notes: Sequence[str] = (),
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
    notes : sequence of str
        Lines printed under the Markdown table (the CSV holds only the data).

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
        table_markdown(table, caption=caption + run_suffix(profile), digits=digits, notes=notes),
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
