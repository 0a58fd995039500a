"""Is a benchmark folder complete and usable? One report per benchmark (``eventsep check-data``).

For each row of the metadata CSV the mixture and the reference must exist, decode, have the
expected sample rate and duration, and the folder must hold no mixture/reference files the CSV
does not list. Problems fall into five kinds (:data:`KINDS`):

``missing``
    the CSV, or a listed mixture or reference file, is absent;
``unreadable``
    the file exists but its header or last frames cannot be decoded (truncated, not audio);
``wrong sample rate``
    the file's rate differs from the expected one: the folder's ``benchmark.json`` (sets built by
    ``build-benchmark``), else the catalogue's (:mod:`eventsep.evaluation.datasets`) where
    published, else the rate most files of the set share; a mixture and its reference must also
    agree;
``wrong duration``
    the file's length differs from the expected one (``benchmark.json`` or catalogue, within
    10 ms), or a mixture and its reference differ in length;
``CSV/audio mismatch``
    the CSV cannot be parsed (columns, repeated ids, no rows), or mixture/reference files lie in
    the folder that the CSV does not list (a CSV of another set or version).

A benchmark is *usable* when the CSV has rows and no problem of any kind is found. Whether the CSV
is AudioSep's pinned file is reported as a note (a rebuilt or custom set is usable but not the
paper's data).

Only headers and the last frames of each file are read, so checking the 5004 MUSIC pairs takes
seconds.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from eventsep.core.errors import BenchmarkError
from eventsep.evaluation.benchmarks import _find_metadata, parse_metadata
from eventsep.evaluation.datasets import DATASETS
from eventsep.models.hub import file_hash

__all__ = [
    "KINDS",
    "DataReport",
    "FileInfo",
    "Problem",
    "check_benchmark",
    "check_data",
    "fix_command",
]

KINDS = ("missing", "unreadable", "wrong sample rate", "wrong duration", "CSV/audio mismatch")
"""Problem kinds, in the order the table lists them."""

_DURATION_TOL_S = 0.01
_SEGMENT_RE = re.compile(r"^(mixture|segment)-(.+)\.wav$", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a benchmark folder.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    item : str
        Clip id (CSV ``idx`` / ``file_id``), or ``""`` for the CSV itself.
    detail : str
        What exactly, naming the file.
    """

    kind: str
    item: str
    detail: str


@dataclass(frozen=True)
class FileInfo:
    """What the header of one audio file says (``frames`` counts samples per channel)."""

    sample_rate: int
    frames: int

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class DataReport:
    """The check of one benchmark folder.

    Attributes
    ----------
    name : str
        Benchmark name.
    root : Path
        The folder checked.
    metadata : Path or None
        The CSV used (``None``: none found).
    rows : int
        Rows in the CSV.
    pairs_found : int
        Rows whose mixture and reference are both present and free of problems.
    problems : tuple of Problem
    notes : tuple of str
        Facts that do not make the set unusable (CSV identity, AudioSep-like rebuild).
    """

    name: str
    root: Path
    metadata: Path | None
    rows: int
    pairs_found: int
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def usable(self) -> bool:
        """True when the CSV lists clips and no problem was found."""
        return self.rows > 0 and not self.problems

    def count(self, kind: str) -> int:
        """Number of problems of ``kind``."""
        return sum(p.kind == kind for p in self.problems)

    def table(self, *, examples: int = 3) -> str:
        """Render the report as a small text table (one line per kind, a few examples each)."""
        csv_text = str(self.metadata) if self.metadata else "none found"
        lines = [f"{self.name}: {self.root}  (CSV: {csv_text})"]
        lines.append(f"  {'rows in CSV':<20}{self.rows:>7}")
        lines.append(f"  {'pairs found':<20}{self.pairs_found:>7}")
        for kind in KINDS:
            found = [p for p in self.problems if p.kind == kind]
            shown = "; ".join(p.detail for p in found[:examples])
            more = f" (+{len(found) - examples} more)" if len(found) > examples else ""
            lines.append(f"  {kind:<20}{len(found):>7}" + (f"   {shown}{more}" if found else ""))
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"  => {'usable' if self.usable else 'NOT usable'}")
        return "\n".join(lines)


def _info(path: Path) -> FileInfo:
    """Read the header of ``path`` and decode its last frames; raise ``RuntimeError`` if broken."""
    try:
        info = sf.info(str(path))
        if info.frames <= 0 or info.samplerate <= 0:
            raise RuntimeError("no audio frames")
        with sf.SoundFile(str(path)) as fh:
            fh.seek(max(0, info.frames - 16))
            tail = fh.read(16)
        if len(tail) == 0:
            raise RuntimeError("the last frames cannot be read (truncated file)")
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise RuntimeError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    return FileInfo(int(info.samplerate), int(info.frames))


def _expectations(root: Path, name: str) -> tuple[int | None, float | None, list[str]]:
    """Expected (sample rate, seconds) and notes, from ``benchmark.json`` or the catalogue."""
    notes: list[str] = []
    built = root / "benchmark.json"
    if built.is_file():
        try:
            record = json.loads(built.read_text(encoding="utf-8"))
            protocol = record.get("protocol", {})
            if record.get("note"):
                notes.append(str(record["note"]))
            return protocol.get("sample_rate"), protocol.get("seconds"), notes
        except (OSError, ValueError, AttributeError):
            notes.append(f"{built} cannot be read; expectations from the catalogue")
    entry = DATASETS.get(name)
    if entry is None:
        return None, None, notes
    return entry.sample_rate, entry.seconds, notes


def _csv_note(name: str, metadata: Path, rows: int) -> str | None:
    entry = DATASETS.get(name)
    if entry is None:
        return None
    if file_hash(metadata) == entry.metadata.sha256:
        return f"CSV is AudioSep's {entry.csv_name} (sha256 matches the catalogue)"
    return (
        f"CSV is not AudioSep's {entry.csv_name} ({rows} rows, the paper's set has "
        f"{entry.rows}): results are not comparable to the paper's"
    )


def _rel(path: Path, root: Path) -> str:
    return os.path.relpath(path, root)


def _orphans(root: Path, layout_ids: set[str], listed: set[Path], vgg: bool) -> list[Path]:
    """Mixture/reference files in ``root`` that the CSV does not list."""
    if vgg:
        candidates = [
            p
            for sub in ("data/mix_wav", "data/s0_wav")
            if (root / sub).is_dir()
            for p in (root / sub).glob("*.wav")
        ]
        return sorted(p for p in candidates if p.resolve() not in listed)
    out = []
    for p in root.glob("*.wav"):
        m = _SEGMENT_RE.match(p.name)
        if m and m.group(2) not in layout_ids:
            out.append(p)
    return sorted(out)


def check_benchmark(
    name: str,
    root: str | os.PathLike,
    *,
    metadata: str | os.PathLike | None = None,
) -> DataReport:
    """Check one benchmark folder; never raises for a damaged folder (it reports instead).

    Parameters
    ----------
    name : str
        Benchmark name (``vggsound``, ``music``, ``esc50`` or any name for a custom folder).
    root : path
        The folder of its audio (``DIR/<name>``).
    metadata : path, optional
        The CSV; found as :func:`eventsep.evaluation.benchmarks.read_benchmark` finds it when
        omitted.

    Returns
    -------
    DataReport
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        problem = Problem("missing", "", f"folder {root} does not exist")
        return DataReport(name, root, None, 0, 0, (problem,))
    meta = Path(metadata).expanduser() if metadata is not None else _find_metadata(root, name)
    if meta is None or not meta.is_file():
        problem = Problem("missing", "", f"no metadata CSV in {root}")
        return DataReport(name, root, None, 0, 0, (problem,))
    try:
        items = parse_metadata(name, root, meta, require_audio=False)
    except BenchmarkError as exc:
        problem = Problem("CSV/audio mismatch", "", str(exc))
        return DataReport(name, root, meta, 0, 0, (problem,))

    rate, seconds, notes = _expectations(root, name)
    problems: list[Problem] = []
    infos: dict[str, tuple[FileInfo, FileInfo]] = {}
    bad: set[str] = set()
    for it in items:
        absent = [p for p in (it.mixture_path, it.reference_path) if not p.is_file()]
        if absent:
            what = " and ".join(str(_rel(p, root)) for p in absent)
            problems.append(Problem("missing", it.id, f"{it.id}: {what}"))
            bad.add(it.id)
            continue
        pair = []
        for p in (it.mixture_path, it.reference_path):
            try:
                pair.append(_info(p))
            except RuntimeError as exc:
                problems.append(Problem("unreadable", it.id, f"{_rel(p, root)}: {exc}"))
                bad.add(it.id)
        if len(pair) == 2:
            infos[it.id] = (pair[0], pair[1])

    if rate is None and infos:  # not published: the rate most files share
        rate = Counter(i.sample_rate for pair in infos.values() for i in pair).most_common(1)[0][0]
    by_id = {it.id: it for it in items}
    for key, (mix, ref) in infos.items():
        it = by_id[key]
        for info, path in ((mix, it.mixture_path), (ref, it.reference_path)):
            if rate is not None and info.sample_rate != rate:
                problems.append(
                    Problem(
                        "wrong sample rate",
                        key,
                        f"{_rel(path, root)}: {info.sample_rate} Hz, expected {rate} Hz",
                    )
                )
                bad.add(key)
            elif seconds is not None and abs(info.seconds - seconds) > _DURATION_TOL_S:
                problems.append(
                    Problem(
                        "wrong duration",
                        key,
                        f"{_rel(path, root)}: {info.seconds:.3f} s, expected {seconds:g} s",
                    )
                )
                bad.add(key)
        if key not in bad and mix.frames != ref.frames:
            problems.append(
                Problem(
                    "wrong duration",
                    key,
                    f"{key}: mixture {mix.seconds:.3f} s but reference {ref.seconds:.3f} s",
                )
            )
            bad.add(key)

    listed = {p.resolve() for it in items for p in (it.mixture_path, it.reference_path)}
    vgg = any(it.mixture_path.name != f"mixture-{it.id}.wav" for it in items)
    for path in _orphans(root, set(by_id), listed, vgg):
        problems.append(
            Problem("CSV/audio mismatch", "", f"{_rel(path, root)} is not listed in the CSV")
        )
    note = _csv_note(name, meta, len(items))
    if note:
        notes.insert(0, note)
    found = sum(1 for it in items if it.id not in bad)
    return DataReport(name, root, meta, len(items), found, tuple(problems), tuple(notes))


def check_data(path: str | os.PathLike, names: Sequence[str]) -> list[DataReport]:
    """Check the benchmarks ``names`` under the data folder ``path`` (``path/<name>``).

    When a single name is given and ``path`` is itself a benchmark folder (it holds a metadata
    CSV and no ``<name>`` sub-folder), ``path`` is checked.
    """
    base = Path(path).expanduser()
    reports = []
    for name in names:
        root = base / name
        if len(names) == 1 and not root.is_dir() and _find_metadata(base, name) is not None:
            root = base
        reports.append(check_benchmark(name, root))
    return reports


def fix_command(reports: Sequence[DataReport], out: str | os.PathLike) -> str:
    """The one command that fetches what the unusable ``reports`` lack into ``out``."""
    names = [r.name for r in reports if not r.usable]
    return f"eventsep download-data {' '.join(names) or 'all'} --out {out}"
