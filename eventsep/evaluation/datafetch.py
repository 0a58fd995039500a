"""Fetch the benchmark data of Table 1 into ``DIR/<name>/`` (``eventsep download-data``).

For each benchmark (:mod:`eventsep.evaluation.datasets`):

1. AudioSep's metadata CSV is downloaded from the pinned commit with
   :func:`eventsep.models.hub.fetch_file` (progress bar, sha256 check, atomic placement) to
   ``DIR/<name>/<name>_eval.csv``.
2. If :func:`eventsep.evaluation.datacheck.check_benchmark` already finds the folder usable,
   nothing else happens.
3. The audio comes from AudioSep's Google Drive folder through :mod:`gdown` (optional extra
   ``eventsep[data]``): the folder is listed, the entries named after the benchmark (a sub-folder
   or an archive such as ``<name>.zip``) are downloaded into ``DIR/.download/<name>/`` (gdown's
   progress bar; ``resume=True`` reuses partial transfers of an earlier run), archives are
   unpacked there, the folder that holds the CSV's first pair is located, and its WAV files are
   moved into ``DIR/<name>/`` one by one (each appears complete or not at all). The result is
   checked by count and format (no hash is published for the audio), and the staging folder is
   removed.
4. ESC-50 can instead be rebuilt (``--rebuild``) from the official ESC-50 archive following
   ``esc50_eval.csv``'s source and noise pairs
   (:func:`eventsep.evaluation.benchmarks.build_pairs_benchmark`,
   5 s, 0 dB, 32 kHz): AudioSep-like mixtures, not AudioSep's files; ``benchmark.json`` says so.

Whenever a step cannot run (offline, ``EVENTSEP_OFFLINE=1``, no network within a few seconds,
gdown missing, Drive quota, an entry not found, a corrupt archive), :class:`DataDownloadError` is
raised at once with one line that names the manual step: which entry of the Drive folder, where
to unpack it, and the ``eventsep check-data`` command that checks the result.
"""

from __future__ import annotations

import csv
import fnmatch
import os
import shutil
import socket
import tarfile
import threading
import urllib.parse
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from eventsep.core.errors import BenchmarkError, DataDownloadError, EventSepError
from eventsep.evaluation.benchmarks import BuildProtocol, build_pairs_benchmark
from eventsep.evaluation.datacheck import DataReport, check_benchmark
from eventsep.evaluation.datasets import (
    DATASETS,
    DRIVE_FOLDER_ID,
    DRIVE_FOLDER_URL,
    Dataset,
    dataset,
)
from eventsep.models.hub import RemoteFile, fetch_file, file_hash, is_offline

__all__ = ["PROBE_TIMEOUT_S", "download_data", "probe", "manual_steps", "resolve_names"]

PROBE_TIMEOUT_S = 4.0
"""Seconds a host gets to accept a connection before a download is declared offline."""

_TIMEOUT = (5.0, 60.0)  # connect, read (seconds)
_ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
_STAGING = ".download"


def resolve_names(names: Sequence[str]) -> list[str]:
    """Expand ``all`` and aliases into catalogue names, in catalogue order, without repeats."""
    wanted = set()
    for n in names or ["all"]:
        wanted |= set(DATASETS) if n.strip().lower() == "all" else {dataset(n).name}
    return [n for n in DATASETS if n in wanted]


def manual_steps(entry: Dataset, out: Path) -> str:
    """One sentence: how to get ``entry``'s audio by hand and check it."""
    folder = out / entry.name
    text = (
        f"by hand: open {DRIVE_FOLDER_URL} in a browser, download its '{entry.name}' entry "
        f"(folder or archive) and unpack it so that {folder / entry.example} exists, with "
        f"{entry.csv_name} beside it (from {entry.metadata.url}); then run "
        f"`eventsep check-data {out} --benchmark {entry.name}`"
    )
    if entry.rebuild is not None:
        text += (
            f"; or rebuild AudioSep-like mixtures from the official archive: "
            f"`eventsep download-data {entry.name} --rebuild --out {out}`"
        )
    return text


def _fail(entry: Dataset, out: Path, why: str) -> DataDownloadError:
    why = " ".join(why.split())  # one line, whatever the source printed
    return DataDownloadError(f"{entry.name}: {why}. Get it {manual_steps(entry, out)}")


def probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Return why ``url``'s host cannot be reached within ``timeout`` s, or ``None`` if it can.

    The connection (DNS included, which no socket timeout covers) runs in a daemon thread that is
    abandoned after ``timeout``, so an unplugged machine answers in seconds.
    """
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    result: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((parsed.hostname, port), timeout=timeout).close()
            result.append(None)
        except OSError as exc:
            result.append(f"{parsed.hostname} cannot be reached ({type(exc).__name__})")

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        return f"no answer from {parsed.hostname} within {timeout:g} s"
    return result[0]


def _network_check(entry: Dataset, out: Path, url: str) -> None:
    if is_offline():
        raise _fail(entry, out, "downloads are off (EVENTSEP_OFFLINE/HF_HUB_OFFLINE)")
    why = probe(url)
    if why:
        raise _fail(entry, out, f"the network cannot be reached: {why}")


def _gdown() -> ModuleType | None:
    try:
        import gdown
    except ImportError:
        return None
    return gdown


# ---------------------------------------------------------------------------------- CSV
def _fetch_csv(entry: Dataset, out: Path, progress: bool) -> Path:
    folder = out / entry.name
    target = folder / entry.csv_name
    if target.is_file() and file_hash(target) == entry.metadata.sha256:
        return target
    target.unlink(missing_ok=True)  # a different or damaged copy: fetch the pinned one
    _network_check(entry, out, entry.metadata.url)
    return _fetch(entry, out, entry.metadata, folder, progress, what=entry.csv_name)


def _fetch(
    entry: Dataset, out: Path, remote: RemoteFile, folder: Path, progress: bool, *, what: str
) -> Path:
    """``hub.fetch_file`` of ``remote`` into ``folder``; any failure becomes ``_fail``'s error."""
    try:
        return fetch_file(
            remote,
            folder,
            label=entry.name,
            progress=progress,
            unreachable=lambda why: _fail(entry, out, why),
        )
    except DataDownloadError:
        raise
    except EventSepError as exc:
        raise _fail(entry, out, f"fetching {what} failed: {exc}") from exc


# -------------------------------------------------------------------------------- audio
def _is_archive(path: Path) -> bool:
    return path.name.lower().endswith(_ARCHIVES)


def _stem(name: str) -> str:
    low = name.lower()
    for ext in _ARCHIVES:
        if low.endswith(ext):
            return low[: -len(ext)]
    return low


def _matches(entry: Dataset, drive_path: str) -> bool:
    parts = [_stem(p) for p in Path(drive_path).parts]
    return any(p in entry.drive_names for p in parts)


def _unpack(archive: Path, into: Path, *, members: str | None = None) -> None:
    """Unpack ``archive`` into ``into`` (paths kept inside it); ``members``: a glob filter."""
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise zipfile.BadZipFile(f"member {bad} is corrupt")
                names = [n for n in zf.namelist() if members is None or fnmatch.fnmatch(n, members)]
                zf.extractall(into, members=names)
        else:
            with tarfile.open(archive) as tf:
                chosen = [
                    m
                    for m in tf.getmembers()
                    if members is None or fnmatch.fnmatch(m.name, members)
                ]
                tf.extractall(into, members=chosen, filter="data")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise BenchmarkError(f"archive {archive.name} is corrupt ({exc})") from exc


def _locate(entry: Dataset, staging: Path) -> Path | None:
    """The folder under ``staging`` that holds the CSV's first pair (``entry.example``)."""
    if (staging / entry.example).is_file():
        return staging
    tail = Path(entry.example).name
    for found in sorted(staging.rglob(tail)):
        root = found
        for _ in Path(entry.example).parts:
            root = root.parent
        if (root / entry.example).is_file():
            return root
    return None


def _place(source_root: Path, folder: Path) -> int:
    """Move every WAV file under ``source_root`` to the same place under ``folder``."""
    moved = 0
    for path in sorted(source_root.rglob("*.wav")):
        dest = folder / path.relative_to(source_root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)  # same filesystem: the file appears whole or not at all
        moved += 1
    return moved


def _fetch_drive(entry: Dataset, out: Path, progress: bool, log: Callable[[str], None]) -> None:
    gdown = _gdown()
    if gdown is None:
        raise _fail(
            entry,
            out,
            "the Google Drive client gdown is not installed (pip install 'eventsep[data]')",
        )
    _network_check(entry, out, "https://drive.google.com")
    staging = out / _STAGING / entry.name
    staging.mkdir(parents=True, exist_ok=True)
    try:
        listing = gdown.download_folder(
            id=DRIVE_FOLDER_ID,
            output=str(staging) + os.sep,
            quiet=True,
            skip_download=True,
            timeout=_TIMEOUT,
        )
    except Exception as exc:  # gdown raises many kinds (HTTP, parsing, quota)
        raise _fail(entry, out, f"listing the Google Drive folder failed: {exc}") from exc
    chosen = [f for f in listing if _matches(entry, f.path)]
    if not chosen:
        seen = sorted({Path(f.path).parts[0] for f in listing})[:12]
        raise _fail(
            entry,
            out,
            f"the Google Drive folder has no entry named {entry.drive_names[0]} "
            f"(it lists {', '.join(seen) or 'nothing'})",
        )
    log(f"{entry.name}: downloading {len(chosen)} file(s) from Google Drive into {staging}")
    for f in chosen:
        target = staging / f.path
        if target.is_file():
            continue  # finished in an earlier run (gdown publishes only complete files)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            gdown.download(
                id=f.id,
                output=str(target),
                quiet=not progress,
                resume=True,
                timeout=_TIMEOUT,
                retries=2,
            )
        except Exception as exc:  # quota ("Too many users ..."), permission, network
            raise _fail(entry, out, f"Google Drive refused {f.path}: {exc}") from exc
    unpacked = out / _STAGING / f"{entry.name}.unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    for f in chosen:
        target = staging / f.path
        if _is_archive(target):
            try:
                _unpack(target, unpacked)
            except BenchmarkError as exc:
                target.unlink(missing_ok=True)  # fetch it again next time
                raise _fail(entry, out, f"{exc}; it was deleted, run the command again") from exc
    root = (_locate(entry, unpacked) if unpacked.is_dir() else None) or _locate(entry, staging)
    if root is None:
        raise _fail(
            entry,
            out,
            f"the downloaded files hold no {Path(entry.example).name} "
            "(the Drive folder's layout differs from AudioSep's evaluation/data)",
        )
    moved = _place(root, out / entry.name)
    log(f"{entry.name}: placed {moved} audio files in {out / entry.name}")


# ------------------------------------------------------------------------ ESC-50 rebuild
REBUILD_NOTE = (
    "AudioSep-like ESC-50 mixtures rebuilt from the official ESC-50 archive following "
    "esc50_eval.csv's source/noise pairs (5 s, 0 dB, 32 kHz, eventsep's mixing): same clips "
    "and pairs, not AudioSep's files; numbers are not identical to the paper's"
)


def _rebuild(entry: Dataset, out: Path, progress: bool, log: Callable[[str], None]) -> None:
    arch = entry.rebuild
    if arch is None:
        raise BenchmarkError(f"{entry.name} has no official archive to rebuild from")
    staging = out / _STAGING
    archive = staging / arch.filename
    if not archive.is_file():
        _network_check(entry, out, arch.url)
        log(
            f"{entry.name}: downloading the official archive "
            f"(about {arch.approx_size / 1e6:.0f} MB)"
        )
        _fetch(entry, out, RemoteFile(arch.filename, arch.url), staging, progress, what=arch.url)
    clips = staging / f"{entry.name}.official"
    shutil.rmtree(clips, ignore_errors=True)
    try:
        _unpack(archive, clips, members=arch.audio_glob)
    except BenchmarkError as exc:
        archive.unlink(missing_ok=True)
        raise _fail(entry, out, f"{exc}; it was deleted, run the command again") from exc
    wavs = list(clips.rglob("*.wav"))
    if len(wavs) != arch.clips:
        archive.unlink(missing_ok=True)
        raise _fail(
            entry,
            out,
            f"the official archive holds {len(wavs)} clips, expected {arch.clips}; "
            "it was deleted, run the command again",
        )
    audio_dir = wavs[0].parent
    with open(out / entry.name / entry.csv_name, newline="", encoding="utf-8") as fh:
        pairs = [(r["idx"], r["caption"], r["src_wav"], r["noise_wav"]) for r in csv.DictReader(fh)]
    built = staging / f"{entry.name}.rebuilt"
    shutil.rmtree(built, ignore_errors=True)
    log(f"{entry.name}: mixing {len(pairs)} AudioSep-like pairs (5 s, 0 dB, 32 kHz)")
    protocol = BuildProtocol(seconds=5.0, snr_db=0.0)
    build_pairs_benchmark(audio_dir, pairs, built, protocol, note=REBUILD_NOTE)
    _place(built, out / entry.name)
    os.replace(built / "benchmark.json", out / entry.name / "benchmark.json")
    shutil.rmtree(built, ignore_errors=True)
    shutil.rmtree(clips, ignore_errors=True)


# ------------------------------------------------------------------------------ driver
def download_data(
    names: Sequence[str],
    out: str | os.PathLike,
    *,
    rebuild: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[DataReport]:
    """Fetch the CSV and audio of each benchmark into ``out/<name>``; return the final checks.

    Parameters
    ----------
    names : sequence of str
        Benchmark names or ``all``.
    out : path
        Data folder (``eventsep reproduce --data``).
    rebuild : bool
        ESC-50: rebuild AudioSep-like mixtures from the official archive instead of using
        AudioSep's Drive files (other benchmarks are fetched as usual).
    progress : bool
        Progress bars.
    log : callable
        Receives one line per step.

    Raises
    ------
    DataDownloadError
        Offline, no gdown, a source refuses, or the result is still incomplete; one line naming
        the manual step.
    """
    base = Path(out).expanduser().resolve()
    reports = []
    for name in resolve_names(names):
        entry = dataset(name)
        _fetch_csv(entry, base, progress)
        report = check_benchmark(entry.name, base / entry.name)
        if report.usable:  # a complete copy is never replaced (not even by --rebuild)
            log(f"{entry.name}: complete ({report.rows} pairs) in {base / entry.name}")
            reports.append(report)
            continue
        if rebuild and entry.rebuild is not None:
            _rebuild(entry, base, progress, log)
        else:
            _fetch_drive(entry, base, progress, log)
        report = check_benchmark(entry.name, base / entry.name)
        if not report.usable:
            kinds = ", ".join(f"{p.kind}: {p.detail}" for p in report.problems[:2])
            raise _fail(
                entry,
                base,
                f"after the download {len(report.problems)} problem(s) remain ({kinds})",
            )
        shutil.rmtree(base / _STAGING / entry.name, ignore_errors=True)
        shutil.rmtree(base / _STAGING / f"{entry.name}.unpacked", ignore_errors=True)
        log(f"{entry.name}: complete ({report.rows} pairs) in {base / entry.name}")
        reports.append(report)
    return reports
