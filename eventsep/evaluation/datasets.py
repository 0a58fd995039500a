"""Catalogue of the benchmark data of Table 1: where each set comes from, its layout, licences.

The catalogue is data, next to the checkpoint catalogue (:mod:`eventsep.models.hub`). For each of
VGGSound, MUSIC and ESC-50 it pins AudioSep's metadata CSV (``evaluation/metadata/<name>_eval.csv``
of github Audio-AGI/AudioSep at commit :data:`AUDIOSEP_COMMIT`, with size and sha256), the folder
layout :func:`eventsep.evaluation.benchmarks.read_benchmark` expects, the licences, and where the
audio comes from: AudioSep's Google Drive folder :data:`DRIVE_FOLDER_ID`, the only published copy of
the
evaluation mixtures. AudioSep's README says to place it under ``evaluation/data/<name>/``; it does
not list the folder's files, their sizes or hashes, so the audio is checked by count and format
(:mod:`eventsep.evaluation.datacheck`), not by hash.

ESC-50 can also be rebuilt from its official archive (:data:`ESC50_ARCHIVE`) following
``esc50_eval.csv``'s source and noise pairs: those mixtures are AudioSep-*like* (same clips and
pairs, our mixing protocol), not AudioSep's files.

Data folder layout (``eventsep download-data --out DIR``, ``eventsep reproduce --data DIR``)::

    DIR/vggsound/vggsound_eval.csv   DIR/vggsound/data/mix_wav/<file_id>.wav, data/s0_wav/...
    DIR/music/music_eval.csv         DIR/music/mixture-<idx>.wav, segment-<idx>.wav
    DIR/esc50/esc50_eval.csv         DIR/esc50/mixture-<idx>.wav, segment-<idx>.wav
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from eventsep.core.errors import BenchmarkError
from eventsep.models.hub import RemoteFile, cache_dir

__all__ = [
    "AUDIOSEP_COMMIT",
    "DATASETS",
    "DRIVE_FOLDER_ID",
    "DRIVE_FOLDER_URL",
    "ESC50_ARCHIVE",
    "Dataset",
    "OfficialArchive",
    "dataset",
    "default_data_dir",
]

AUDIOSEP_COMMIT = "ad119249bb7dba4ab544525b4f8978b94733d186"
"""github Audio-AGI/AudioSep commit that added ``evaluation/metadata/`` (2023-10-19); the three
CSVs are byte-identical at the repository's head 944583f1 (2024-11-26)."""

DRIVE_FOLDER_ID = "1PbCsuvdrzwAZZ_fwIzF0PeVGZkTk0-kL"
"""Google Drive folder of AudioSep's evaluation data (AudioSep README, "Benchmark Evaluation")."""

DRIVE_FOLDER_URL = f"https://drive.google.com/drive/folders/{DRIVE_FOLDER_ID}"

_RAW = "https://raw.githubusercontent.com/Audio-AGI/AudioSep"


def _metadata(name: str, size: int, sha256: str) -> RemoteFile:
    return RemoteFile(
        filename=f"{name}_eval.csv",
        url=f"{_RAW}/{AUDIOSEP_COMMIT}/evaluation/metadata/{name}_eval.csv",
        size=size,
        sha256=sha256,
    )


@dataclass(frozen=True)
class OfficialArchive:
    """An upstream archive a benchmark can be rebuilt from.

    Attributes
    ----------
    url : str
        Download URL (a GitHub archive of a pinned commit).
    filename : str
        Name it is saved under.
    approx_size : int
        Size in bytes as published (approximate: GitHub builds archives on request, so neither
        size nor hash is stable; the content is checked by count instead).
    audio_glob : str
        Where the clips are inside the archive.
    clips : int
        How many clips the archive holds.
    licence : str
    """

    url: str
    filename: str
    approx_size: int
    audio_glob: str
    clips: int
    licence: str


ESC50_COMMIT = "5983fb0c35e751b452e7c562d9207f27b76ddf0d"
"""github karolpiczak/ESC-50 commit the rebuild uses (README v2.0.0 layout: audio/*.wav)."""

ESC50_ARCHIVE = OfficialArchive(
    url=f"https://github.com/karolpiczak/ESC-50/archive/{ESC50_COMMIT}.zip",
    filename=f"ESC-50-{ESC50_COMMIT}.zip",
    approx_size=646_000_000,
    audio_glob="*/audio/*.wav",
    clips=2000,
    licence="CC BY-NC 3.0 (ESC-10 subset: CC BY); attributions in the archive's LICENSE",
)


@dataclass(frozen=True)
class Dataset:
    """One benchmark of Table 1 as published by AudioSep.

    Attributes
    ----------
    name : str
        Catalogue key and folder name (``DIR/<name>/``).
    title : str
        One line for tables.
    metadata : RemoteFile
        AudioSep's ``<name>_eval.csv`` at :data:`AUDIOSEP_COMMIT` (size and sha256 pinned).
    rows : int
        Rows (clips) in that CSV.
    layout : str
        ``"vggsound"``: ``mix_wav`` / ``s0_wav`` paths in the CSV, relative to ``DIR/<name>``;
        ``"segment"``: ``mixture-<idx>.wav`` / ``segment-<idx>.wav`` in ``DIR/<name>``.
    example : str
        A path of the first CSV row, relative to ``DIR/<name>`` (what a complete folder holds).
    audio_source : str
        Where the audio comes from.
    drive_names : tuple of str
        Lower-case names (folder or archive stem) the set has in the Drive folder.
    licence : str
        Licence of the audio's origin, as its publisher states it.
    metadata_licence : str
    sample_rate, seconds : int or float or None
        Expected format of every file where published; ``None``: not published, so
        :mod:`eventsep.evaluation.datacheck` only requires every file of the set to agree.
    rebuild : OfficialArchive or None
        Archive an AudioSep-like copy can be rebuilt from.
    """

    name: str
    title: str
    metadata: RemoteFile
    rows: int
    layout: str
    example: str
    audio_source: str
    drive_names: tuple[str, ...]
    licence: str
    metadata_licence: str = "MIT (github Audio-AGI/AudioSep)"
    sample_rate: int | None = None
    seconds: float | None = None
    rebuild: OfficialArchive | None = None

    @property
    def csv_name(self) -> str:
        """File name of the metadata CSV inside ``DIR/<name>``."""
        return self.metadata.filename


_DRIVE = f"AudioSep's Google Drive folder {DRIVE_FOLDER_ID} (evaluation/data/{{name}})"

_ENTRIES = (
    Dataset(
        name="vggsound",
        title="VGGSound (AudioSep evaluation mixtures, 1000 clips)",
        metadata=_metadata(
            "vggsound", 243_745, "741dfb8069ca5a2de38714c5ab685800c15021753a32cab7b41d415d22e2ccd3"
        ),
        rows=1000,
        layout="vggsound",
        example="data/mix_wav/-JUBdOr8Hes_000030+++37Vxf0Wz-3o_000001.wav",
        audio_source=_DRIVE.format(name="vggsound"),
        drive_names=("vggsound", "vgg-sound", "vgg_sound"),
        licence="CC BY 4.0 (VGGSound; copyright of the audio stays with the YouTube owners)",
    ),
    Dataset(
        name="music",
        title="MUSIC (AudioSep evaluation mixtures, 5004 clips)",
        metadata=_metadata(
            "music", 266_704, "5b0f12bc6b9848b24c8a6efc003ba4b9bb6b8d87e41a33edd75ec7d97d86d0f0"
        ),
        rows=5004,
        layout="segment",
        example="mixture-0.wav",
        audio_source=_DRIVE.format(name="music"),
        drive_names=("music",),
        licence="no licence published (MUSIC lists YouTube video ids; the audio's copyright "
        "stays with the video owners)",
    ),
    Dataset(
        name="esc50",
        title="ESC-50 (AudioSep evaluation mixtures, 2000 clips)",
        metadata=_metadata(
            "esc50", 100_987, "bbb4fda3fb0152b814776e5371e9d521f70cdcd90aaf9aabe40c924cea1550fb"
        ),
        rows=2000,
        layout="segment",
        example="mixture-0.wav",
        audio_source=_DRIVE.format(name="esc50")
        + f"; or AudioSep-like, rebuilt from github karolpiczak/ESC-50 at {ESC50_COMMIT[:8]}",
        drive_names=("esc50", "esc-50", "esc_50"),
        licence="CC BY-NC 3.0 (ESC-50; ESC-10 subset CC BY)",
        rebuild=ESC50_ARCHIVE,
    ),
)

_DICT = {d.name: d for d in _ENTRIES}
#: Every benchmark dataset by name (read-only view).
DATASETS: Mapping[str, Dataset] = MappingProxyType(_DICT)

_ALIASES = {"esc-50": "esc50", "esc_50": "esc50", "vgg-sound": "vggsound", "musicsep": "music"}


def dataset(name: str) -> Dataset:
    """Return the catalogue entry of benchmark ``name`` (aliases such as ``esc-50`` accepted).

    Raises
    ------
    BenchmarkError
        For a name that is not catalogued; the message lists the known names.
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _DICT:
        raise BenchmarkError(
            f"unknown benchmark {name!r}; the data catalogue has {', '.join(_DICT)}"
        )
    return _DICT[key]


def default_data_dir() -> Path:
    """Return ``$EVENTSEP_DATA``, else ``<eventsep cache>/data`` (where data is fetched to)."""
    env = os.environ.get("EVENTSEP_DATA")
    if env:
        return Path(env).expanduser()
    return cache_dir() / "data"
