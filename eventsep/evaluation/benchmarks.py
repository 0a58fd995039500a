"""Separation benchmarks in the AudioSep evaluation format: readers, a builder, a tiny benchmark.

Format
------
A benchmark is a folder of WAV files plus a metadata CSV. Two layouts exist, as in the AudioSep
evaluation code (``evaluation/evaluate_*.py``):

* VGGSound style, columns ``file_id,mix_wav,s0_wav,s0_text,s1_wav,s1_text``: the mixture is
  ``<root>/<mix_wav>``, the reference ``<root>/<s0_wav>``, the query ``s0_text``.
* MUSIC / ESC-50 style, columns ``idx,caption,src_wav,noise_wav``: the mixture is
  ``<root>/mixture-<idx>.wav``, the reference ``<root>/segment-<idx>.wav``, the query ``caption``.

Audio is read at 32 kHz mono. The metadata CSV is looked for as ``<root>/metadata.csv``, then
``<root>/<name>_eval.csv``, then ``<root>/../../metadata/<name>_eval.csv`` (the AudioSep
repository layout ``evaluation/data/<name>`` + ``evaluation/metadata/<name>_eval.csv``), unless
given explicitly.

Builder protocol (:func:`build_benchmark`)
------------------------------------------
From a folder of class-labelled clips (a ``manifest.csv`` with columns ``file,label``, else one
subfolder per label, else one file per label named after it):

1. Clips are sorted by (label, path). With ``clips_per_class`` set, that many targets per class are
   drawn without replacement by a ``numpy.random.default_rng(seed)`` generator, in label order.
2. Each target gets ``mixtures_per_clip`` interferers, drawn uniformly from the clips of *other*
   labels by the same generator.
3. Both clips are read at ``sample_rate`` (32 kHz) mono, cut to their first ``seconds`` (10 s) and
   zero-padded to that length.
4. The interferer is scaled so that the target-to-interferer energy ratio is ``snr_db`` (0 dB);
   mixture = target + interferer. If the mixture peak exceeds 0.99, mixture and target are scaled
   down by the same factor (no clipping; SNR and SDR unchanged).
5. ``segment-<idx>.wav`` (target, the reference) and ``mixture-<idx>.wav`` are written as float32
   WAV, with ``metadata.csv`` (``idx,caption,src_wav,noise_wav,noise_caption,snr_db``) and
   ``benchmark.json`` (the protocol). The folder is built under a temporary name and renamed at
   the end, so a half-built benchmark never appears.

The tiny benchmark (:func:`tiny_benchmark`) applies this protocol to the bundled CC0 recordings in
``examples/`` (10 animal sounds) with 5 s clips, one mixture per clip, seed 0, and caches it under
``<cache>/benchmarks/``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from eventsep.core.audio import find_audio_files, fit_length, load_audio, save_audio
from eventsep.core.errors import BenchmarkError, EventSepError
from eventsep.core.io import atomic_dir
from eventsep.evaluation.examples import examples_dir
from eventsep.models.hub import cache_dir

__all__ = [
    "BENCHMARK_SAMPLE_RATE",
    "KNOWN_BENCHMARKS",
    "Benchmark",
    "BenchmarkItem",
    "BuildProtocol",
    "build_benchmark",
    "build_pairs_benchmark",
    "parse_metadata",
    "read_benchmark",
    "tiny_benchmark",
]

BENCHMARK_SAMPLE_RATE = 32000
"""Sample rate (Hz) benchmark audio is read at (AudioSep's rate)."""

KNOWN_BENCHMARKS = ("vggsound", "music", "esc50", "tiny", "folder")
"""Names ``read_benchmark`` accepts (``folder``: any folder in the format, with ``data_dir``)."""

_ALIASES = {"esc-50": "esc50", "esc_50": "esc50", "vgg-sound": "vggsound", "musicsep": "music"}
_VGG_COLUMNS = ("file_id", "mix_wav", "s0_wav", "s0_text")
_SEGMENT_COLUMNS = ("idx", "caption")
_BUILD_HINT = "eventsep build-benchmark --source RAW_CLIPS_DIR --out DIR"


@dataclass(frozen=True)
class BenchmarkItem:
    """One evaluation clip.

    Attributes
    ----------
    id : str
        Unique within the benchmark (``file_id`` or ``idx``).
    prompt : str
        Text query naming the target source.
    mixture_path, reference_path : Path
        WAV files of the mixture and the clean target.
    """

    id: str
    prompt: str
    mixture_path: Path
    reference_path: Path


@dataclass(frozen=True)
class Benchmark:
    """A readable benchmark: its name, folder, metadata file and items (in CSV order)."""

    name: str
    root: Path
    metadata: Path
    items: tuple[BenchmarkItem, ...]
    sample_rate: int = BENCHMARK_SAMPLE_RATE

    def __iter__(self) -> Iterator[BenchmarkItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def _canonical(name: str) -> str:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in KNOWN_BENCHMARKS:
        raise BenchmarkError(
            f"unknown benchmark {name!r}; choose one of {', '.join(KNOWN_BENCHMARKS)}"
        )
    return key


def _find_metadata(root: Path, name: str) -> Path | None:
    for cand in (
        root / "metadata.csv",
        root / f"{name}_eval.csv",
        root.parent.parent / "metadata" / f"{name}_eval.csv",
    ):
        if cand.is_file():
            return cand
    return None


def parse_metadata(
    name: str, root: Path, metadata: Path, *, require_audio: bool = True
) -> tuple[BenchmarkItem, ...]:
    """Read the items a benchmark's metadata CSV lists (in CSV order).

    Parameters
    ----------
    name : str
        Benchmark name (for messages).
    root : Path
        Folder the audio paths are relative to.
    metadata : Path
        The CSV (VGGSound or MUSIC / ESC-50 columns, see the module docstring).
    require_audio : bool
        Raise when a listed mixture or reference file is absent (``False``: list them anyway,
        for :mod:`eventsep.evaluation.datacheck`).

    Raises
    ------
    BenchmarkError
        Unreadable CSV, unknown columns, no rows, repeated ids, or (``require_audio``) audio
        missing.
    """
    try:
        with open(metadata, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = tuple(reader.fieldnames or ())
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BenchmarkError(f"cannot read benchmark metadata {metadata}: {exc}") from exc
    items: list[BenchmarkItem] = []
    if all(c in header for c in _VGG_COLUMNS):
        for r in rows:
            items.append(
                BenchmarkItem(
                    id=r["file_id"],
                    prompt=r["s0_text"],
                    mixture_path=root / r["mix_wav"],
                    reference_path=root / r["s0_wav"],
                )
            )
    elif all(c in header for c in _SEGMENT_COLUMNS):
        for r in rows:
            idx = r["idx"].strip()
            items.append(
                BenchmarkItem(
                    id=idx,
                    prompt=r["caption"],
                    mixture_path=root / f"mixture-{idx}.wav",
                    reference_path=root / f"segment-{idx}.wav",
                )
            )
    else:
        raise BenchmarkError(
            f"{metadata} has columns {list(header)}; expected {list(_VGG_COLUMNS)} (VGGSound "
            f"style) or {list(_SEGMENT_COLUMNS)} (MUSIC / ESC-50 style)"
        )
    if not items:
        raise BenchmarkError(f"benchmark metadata {metadata} lists no clips")
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        raise BenchmarkError(f"benchmark metadata {metadata} repeats clip ids")
    if not require_audio:
        return tuple(items)
    missing = [p for it in items for p in (it.mixture_path, it.reference_path) if not p.is_file()]
    if missing:
        raise BenchmarkError(
            f"benchmark {name!r} at {root}: {len(missing)} audio file(s) missing, e.g. "
            f"{missing[0]}; point --data at the folder holding the WAV files or rebuild it with "
            f"`{_BUILD_HINT}`"
        )
    return tuple(items)


def read_benchmark(
    name: str,
    data_dir: str | os.PathLike | None = None,
    metadata: str | os.PathLike | None = None,
) -> Benchmark:
    """Read a benchmark in the AudioSep evaluation format.

    Parameters
    ----------
    name : str
        ``vggsound``, ``music``, ``esc50``, ``tiny`` (bundled, built on first use; ``data_dir``
        not needed) or ``folder`` (any folder in the format).
    data_dir : path, optional
        Folder holding the WAV files (AudioSep: ``evaluation/data/<name>``).
    metadata : path, optional
        The metadata CSV; found next to the data when omitted (see module docstring).

    Returns
    -------
    Benchmark

    Raises
    ------
    BenchmarkError
        Unknown name, folder or CSV missing, unreadable CSV, or listed audio missing. The message
        names the command that fixes it.
    """
    key = _canonical(name)
    if key == "tiny" and data_dir is None:
        data_dir = tiny_benchmark()
    if data_dir is None:
        raise BenchmarkError(
            f"benchmark {name!r} needs --data DIR: the folder of its mixture/segment WAV files "
            f"(AudioSep layout: evaluation/data/{key} with evaluation/metadata/{key}_eval.csv), "
            f"or build one from raw clips with `{_BUILD_HINT}`"
        )
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise BenchmarkError(
            f"benchmark folder {root} does not exist; pass the folder of the {key} WAV files "
            f"with --data, or build one with `{_BUILD_HINT}`"
        )
    meta = Path(metadata).expanduser() if metadata is not None else _find_metadata(root, key)
    if meta is None or not meta.is_file():
        raise BenchmarkError(
            f"no metadata CSV for benchmark {key!r} (looked for {root / 'metadata.csv'}, "
            f"{root / (key + '_eval.csv')}, "
            f"{root.parent.parent / 'metadata' / (key + '_eval.csv')}); "
            f"pass --metadata PATH or rebuild with `{_BUILD_HINT}`"
        )
    return Benchmark(key, root, meta, parse_metadata(key, root, meta))


# ------------------------------------------------------------------- builder
@dataclass(frozen=True)
class BuildProtocol:
    """Parameters of :func:`build_benchmark` (see the module docstring for the protocol)."""

    seed: int = 0
    snr_db: float = 0.0
    seconds: float = 10.0
    sample_rate: int = BENCHMARK_SAMPLE_RATE
    clips_per_class: int | None = None
    mixtures_per_clip: int = 1
    peak: float = 0.99


def _list_clips(source: Path) -> list[tuple[str, Path]]:
    manifest = source / "manifest.csv"
    if manifest.is_file():
        with open(manifest, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"file", "label"} <= set(reader.fieldnames):
                raise BenchmarkError(f"{manifest} needs columns file,label")
            clips = [(r["label"].strip(), source / r["file"].strip()) for r in reader]
    else:
        files = find_audio_files(source)
        subdirs = {f.parent for f in files}
        if subdirs == {source}:
            clips = [(f.stem, f) for f in files]
        else:
            clips = [(f.parent.name, f) for f in files if f.parent != source]
    missing = [p for _, p in clips if not p.is_file()]
    if missing:
        raise BenchmarkError(f"clip listed but missing: {missing[0]}")
    return sorted(clips, key=lambda c: (c[0], str(c[1])))


def _write_mixture(
    folder: Path,
    idx: int | str,
    s: torch.Tensor,
    v: torch.Tensor,
    protocol: BuildProtocol,
    where: str,
) -> None:
    """Mix target ``s`` and interferer ``v`` (steps 4-5 of the protocol); write the pair."""
    es, ev = float(s.square().sum()), float(v.square().sum())
    if es == 0.0 or ev == 0.0:
        raise BenchmarkError(f"silent clip in {where}")
    gain = (es / ev / 10 ** (protocol.snr_db / 10)) ** 0.5
    mix = s + gain * v
    peak = float(mix.abs().max())
    scale = protocol.peak / peak if peak > protocol.peak else 1.0
    for stem, wave in (("segment", s), ("mixture", mix)):
        save_audio(
            folder / f"{stem}-{idx}.wav",
            (wave * scale).float(),
            protocol.sample_rate,
            subtype="FLOAT",
        )


def _clip_reader(protocol: BuildProtocol):
    """Return ``clip(path)``: the file at the protocol's rate, mono, cut/padded (cached)."""
    n = int(round(protocol.seconds * protocol.sample_rate))
    cache: dict[Path, torch.Tensor] = {}

    def clip(path: Path) -> torch.Tensor:
        if path not in cache:
            try:
                x, _ = load_audio(path, protocol.sample_rate, mono=True)
            except EventSepError as exc:
                raise BenchmarkError(f"cannot read clip {path}: {exc}") from exc
            cache[path] = fit_length(x[0].to(torch.float64), n)
        return cache[path]

    return clip


def build_benchmark(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    protocol: BuildProtocol = BuildProtocol(),
) -> Path:
    """Build a benchmark (MUSIC / ESC-50 layout) from a folder of class-labelled clips.

    Parameters
    ----------
    source : path
        ``manifest.csv`` (``file,label``) + clips, or one subfolder per label, or one file per
        label.
    out_dir : path
        Must not exist yet (or be empty); created atomically.
    protocol : BuildProtocol

    Returns
    -------
    Path
        ``out_dir``.
    """
    src = Path(source).expanduser()
    out = Path(out_dir).expanduser()
    if not src.is_dir():
        raise BenchmarkError(f"source folder {src} does not exist")
    if out.exists() and any(out.iterdir()):
        raise BenchmarkError(f"{out} exists and is not empty; choose a new --out")
    clips = _list_clips(src)
    labels = sorted({label for label, _ in clips})
    if len(labels) < 2:
        raise BenchmarkError(f"{src} needs clips of at least two labels, found {labels}")
    rng = np.random.default_rng(protocol.seed)
    by_label = {lab: [p for l2, p in clips if l2 == lab] for lab in labels}
    targets: list[tuple[str, Path]] = []
    for lab in labels:
        paths = by_label[lab]
        if protocol.clips_per_class is not None and protocol.clips_per_class < len(paths):
            chosen = sorted(rng.choice(len(paths), protocol.clips_per_class, replace=False))
            paths = [paths[i] for i in chosen]
        targets.extend((lab, p) for p in paths)

    clip = _clip_reader(protocol)

    # The audio files and metadata.csv go into a temporary folder that is renamed to `out` only
    # when complete (a folder-level atomic rename: a reader sees no benchmark or a whole one).
    with atomic_dir(out) as tmp:
        rows = []
        idx = 0
        for lab, path in targets:
            others = [c for c in clips if c[0] != lab]
            for _ in range(protocol.mixtures_per_clip):
                nlab, npath = others[int(rng.integers(len(others)))]
                _write_mixture(tmp, idx, clip(path), clip(npath), protocol, f"{path} or {npath}")
                rows.append(
                    {
                        "idx": idx,
                        "caption": lab,
                        "src_wav": os.path.relpath(path, src),
                        "noise_wav": os.path.relpath(npath, src),
                        "noise_caption": nlab,
                        "snr_db": protocol.snr_db,
                    }
                )
                idx += 1
        with open(tmp / "metadata.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        (tmp / "benchmark.json").write_text(
            json.dumps(
                {"protocol": asdict(protocol), "source": str(src), "items": len(rows)}, indent=2
            )
            + "\n",
            encoding="utf-8",
        )
    return out


def build_pairs_benchmark(
    source: str | os.PathLike,
    pairs: Sequence[tuple[str, str, str, str]],
    out_dir: str | os.PathLike,
    protocol: BuildProtocol = BuildProtocol(),
    *,
    note: str = "",
) -> Path:
    """Build a benchmark (MUSIC / ESC-50 layout) from given (target, interferer) pairs.

    Unlike :func:`build_benchmark` nothing is drawn: row ``(idx, caption, src, noise)`` mixes
    ``<source>/<src>`` with ``<source>/<noise>`` by steps 3-5 of the protocol (``seed``,
    ``clips_per_class`` and ``mixtures_per_clip`` are unused) into ``segment-<idx>.wav`` and
    ``mixture-<idx>.wav``. Used to rebuild AudioSep-like ESC-50 mixtures from the official
    archive following ``esc50_eval.csv``.

    Parameters
    ----------
    source : path
        Folder the ``src`` / ``noise`` paths are relative to.
    pairs : sequence of (idx, caption, src, noise)
    out_dir : path
        Must not exist yet (or be empty); created atomically.
    protocol : BuildProtocol
    note : str
        Recorded in ``benchmark.json`` (what the mixtures are and are not).

    Returns
    -------
    Path
        ``out_dir``.
    """
    src = Path(source).expanduser()
    out = Path(out_dir).expanduser()
    if not pairs:
        raise BenchmarkError("no pairs to build")
    if out.exists() and any(out.iterdir()):
        raise BenchmarkError(f"{out} exists and is not empty; choose a new --out")
    absent = [p for row in pairs for p in (row[2], row[3]) if not (src / p).is_file()]
    if absent:
        raise BenchmarkError(f"{len(absent)} clip(s) missing under {src}, e.g. {absent[0]}")
    clip = _clip_reader(protocol)
    with atomic_dir(out) as tmp:
        for idx, _, target, noise in pairs:
            _write_mixture(tmp, idx, clip(src / target), clip(src / noise), protocol, target)
        with open(tmp / "metadata.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["idx", "caption", "src_wav", "noise_wav", "snr_db"])
            writer.writerows([*row, protocol.snr_db] for row in pairs)
        record = {"protocol": asdict(protocol), "source": str(src), "items": len(pairs)}
        if note:
            record["note"] = note
        (tmp / "benchmark.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return out


# ---------------------------------------------------------------------- tiny
TINY_PROTOCOL = BuildProtocol(seed=0, snr_db=0.0, seconds=5.0, mixtures_per_clip=1)
"""Protocol of the bundled tiny benchmark: 5 s clips, 0 dB, one mixture per clip, seed 0."""


def _fingerprint(source: Path, protocol: BuildProtocol) -> str:
    h = hashlib.sha256(json.dumps(asdict(protocol), sort_keys=True).encode())
    for label, path in _list_clips(source):
        h.update(f"{label}\0{path.relative_to(source)}\0{path.stat().st_size}\n".encode())
    return h.hexdigest()[:12]


def tiny_benchmark(
    source: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    protocol: BuildProtocol = TINY_PROTOCOL,
) -> Path:
    """Build (once) and return the tiny benchmark made from the bundled example recordings.

    Parameters
    ----------
    source : path, optional
        Default :func:`eventsep.evaluation.examples.examples_dir`.
    root : path, optional
        Parent folder; default ``<eventsep cache>/benchmarks``.
    protocol : BuildProtocol

    Returns
    -------
    Path
        ``<root>/tiny-<fingerprint>``; the fingerprint covers the protocol and the clip list, so
        a change in either builds a new folder.
    """
    src = Path(source) if source is not None else examples_dir(check=False)
    if not src.is_dir():
        raise BenchmarkError(
            f"the bundled examples folder {src} is missing; reinstall eventsep from its source "
            "tree, or set EVENTSEP_EXAMPLES to a folder of labelled clips"
        )
    if root is None:
        root = cache_dir() / "benchmarks"
    out = Path(root) / f"tiny-{_fingerprint(src, protocol)}"
    if (out / "metadata.csv").is_file():
        return out
    try:
        return build_benchmark(src, out, protocol)
    except BenchmarkError:
        if (out / "metadata.csv").is_file():  # built concurrently by another process
            return out
        raise
