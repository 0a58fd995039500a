"""Bundled example recordings and the example mixtures built from them.

``examples/`` (beside the package in a source checkout, or ``$EVENTSEP_EXAMPLES``) holds short
CC0 recordings listed in ``manifest.csv`` (file, AudioSet label, source, licence) and a few
mixtures with known event time spans. :func:`build_mixture` rebuilds any mixture from the
recordings deterministically, so the target (reference) signal is always available too.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from eventsep.core.audio import load_audio, save_audio
from eventsep.core.errors import EventSepError
from eventsep.core.io import write_json_atomic

__all__ = [
    "EXAMPLE_SAMPLE_RATE",
    "MIXTURES",
    "ExampleSound",
    "MixtureSpec",
    "Placement",
    "active_spans",
    "build_mixture",
    "examples_dir",
    "load_example",
    "sounds",
    "write_mixtures",
]

#: Sample rate of the example mixtures (AudioSep's and the detector's rate), in Hz.
EXAMPLE_SAMPLE_RATE = 32000


def examples_dir(*, check: bool = True) -> Path:
    """Return the examples folder (``$EVENTSEP_EXAMPLES`` or ``<repo>/examples``).

    Parameters
    ----------
    check : bool
        Require the folder's ``manifest.csv`` (the bundled recordings); without the check any
        path is returned (e.g. ``$EVENTSEP_EXAMPLES`` naming a folder of labelled clips).

    Raises
    ------
    EventSepError
        If ``check`` and the folder cannot be found (e.g. a wheel install without a source
        checkout).
    """
    env = os.environ.get("EVENTSEP_EXAMPLES")
    folder = Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "examples"
    if check and not (folder / "manifest.csv").is_file():
        raise EventSepError(
            f"example recordings not found in {folder}: run from a source checkout of eventsep "
            "or set EVENTSEP_EXAMPLES to its examples/ folder"
        )
    return folder


@dataclass(frozen=True)
class ExampleSound:
    """One bundled recording: path relative to ``examples/``, AudioSet label, provenance."""

    file: str
    label: str
    source: str
    licence: str

    @property
    def path(self) -> Path:
        return examples_dir() / self.file

    @property
    def name(self) -> str:
        return Path(self.file).stem


def sounds() -> dict[str, ExampleSound]:
    """Return the bundled recordings by short name (``"dog"``, ``"speech"``, ...)."""
    with open(examples_dir() / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = [ExampleSound(**row) for row in csv.DictReader(fh)]
    return {r.name: r for r in rows}


@dataclass(frozen=True)
class Placement:
    """Where one recording goes in a mixture.

    Attributes
    ----------
    sound
        Short name from :func:`sounds`.
    offset
        Start time in the mixture, seconds.
    gain_db
        Gain applied to the peak-normalised (0.5) recording, dB.
    target
        True for the source the prompt asks for.
    """

    sound: str
    offset: float
    gain_db: float = 0.0
    target: bool = False


@dataclass(frozen=True)
class MixtureSpec:
    """A mixture: name, prompt, duration (s), and its placements."""

    name: str
    prompt: str
    duration: float
    placements: tuple[Placement, ...]

    @property
    def target(self) -> Placement:
        return next(p for p in self.placements if p.target)


#: The example mixtures: the target sound occupies only part of the recording.
MIXTURES: tuple[MixtureSpec, ...] = (
    MixtureSpec(
        "dog_over_cow",
        "dog barking",
        10.0,
        (Placement("cow", 0.2, -3.0), Placement("dog", 4.5, 0.0, target=True)),
    ),
    MixtureSpec(
        "rooster_after_pig",
        "a rooster crowing",
        10.0,
        (Placement("pig", 0.0, -2.0), Placement("rooster", 6.8, 0.0, target=True)),
    ),
    MixtureSpec(
        "cat_during_speech",
        "cat meowing",
        10.0,
        (Placement("speech", 0.0, -4.0), Placement("cat", 3.0, 0.0, target=True)),
    ),
)


def active_spans(
    x: torch.Tensor, sample_rate: int, *, frame: float = 0.05, floor_db: float = -35.0
) -> list[tuple[float, float]]:
    """Time spans (s) where a signal's frame RMS is within ``floor_db`` of its loudest frame.

    Parameters
    ----------
    x
        ``(samples,)`` signal.
    sample_rate
        Hz.
    frame
        Frame length in seconds.
    floor_db
        Activity threshold relative to the loudest frame, dB.
    """
    hop = max(1, int(frame * sample_rate))
    n = x.shape[-1] // hop
    if n == 0:
        return []
    rms = x[: n * hop].reshape(n, hop).pow(2).mean(-1).sqrt()
    level = 20 * torch.log10(rms / rms.max().clamp_min(1e-12) + 1e-12)
    active = (level > floor_db).numpy()
    spans: list[tuple[float, float]] = []
    start = None
    for i, on in enumerate(np.append(active, False)):
        if on and start is None:
            start = i
        elif not on and start is not None:
            spans.append((round(start * hop / sample_rate, 3), round(i * hop / sample_rate, 3)))
            start = None
    return spans


def build_mixture(spec: MixtureSpec | str) -> dict:
    """Build a mixture from the bundled recordings.

    Returns
    -------
    dict
        ``mixture`` and ``target`` tensors ``(samples,)`` at :data:`EXAMPLE_SAMPLE_RATE`,
        ``sample_rate``, and ``info`` (JSON-ready: prompt, placements with labels and active
        spans in seconds).
    """
    if isinstance(spec, str):
        spec = {m.name: m for m in MIXTURES}[spec]
    sr = EXAMPLE_SAMPLE_RATE
    n = int(round(spec.duration * sr))
    mixture = torch.zeros(n)
    target = torch.zeros(n)
    catalogue = sounds()
    placed = []
    for p in spec.placements:
        snd = catalogue[p.sound]
        x, _ = load_audio(snd.path, sample_rate=sr)
        x = x[0] - x[0].mean()
        x = x / x.abs().max().clamp_min(1e-9) * 0.5 * 10 ** (p.gain_db / 20)
        start = int(round(p.offset * sr))
        seg = x[: max(0, n - start)]
        track = torch.zeros(n)
        track[start : start + seg.shape[0]] = seg
        mixture += track
        if p.target:
            target += track
        placed.append(
            {
                "sound": p.sound,
                "file": snd.file,
                "label": snd.label,
                "offset_s": p.offset,
                "gain_db": p.gain_db,
                "target": p.target,
                "spans_s": active_spans(track, sr),
            }
        )
    info = {
        "name": spec.name,
        "prompt": spec.prompt,
        "sample_rate": sr,
        "duration_s": spec.duration,
        "target_label": spec.target and catalogue[spec.target.sound].label,
        "target_spans_s": next(p["spans_s"] for p in placed if p["target"]),
        "sources": placed,
    }
    return {"mixture": mixture, "target": target, "sample_rate": sr, "info": info}


def write_mixtures(out_dir: str | os.PathLike | None = None) -> list[Path]:
    """Write each example mixture as ``<name>.flac`` + ``<name>.json``; return the audio paths."""
    out = Path(out_dir) if out_dir is not None else examples_dir() / "mixtures"
    paths = []
    for spec in MIXTURES:
        built = build_mixture(spec)
        path = save_audio(out / f"{spec.name}.flac", built["mixture"], built["sample_rate"])
        write_json_atomic(out / f"{spec.name}.json", built["info"])
        paths.append(path)
    return paths


def load_example(name: str) -> tuple[torch.Tensor, int, dict]:
    """Load a bundled example mixture: ``(waveform (samples,), sample_rate, info)``."""
    folder = examples_dir() / "mixtures"
    names = [m.name for m in MIXTURES]
    if name not in names:
        raise EventSepError(f"unknown example {name!r}; choose from {', '.join(names)}")
    x, sr = load_audio(folder / f"{name}.flac")
    info = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    return x[0], sr, info
