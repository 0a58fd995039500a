"""The local checkpoint cache and verified downloads of the catalogued files.

What exists is data in :mod:`eventsep.models.catalogue` (re-exported here: :data:`CATALOGUE`,
:func:`entry`, ...). Files live in a cache folder as ``<cache>/<name>/<filename>``; every function
that touches it takes that folder as ``cache_dir`` (``None``: ``$EVENTSEP_CACHE``, else the user
cache folder, e.g. ``~/.cache/eventsep``; see :func:`cache_dir`). Nothing here changes the process
environment, so two callers can use two folders at the same time.

Downloads go through :mod:`pooch` (progress bar, hash check, atomic write: a file only appears
under its final name once it is complete and verified). Offline (``EVENTSEP_OFFLINE=1`` or
``HF_HUB_OFFLINE=1``), or when the network cannot be reached, asking for a missing file raises
:class:`~eventsep.core.errors.WeightsNotFoundError` at once, naming the file, the folder searched
and the command that fetches it.

Where the publisher gives no hash, the catalogue says so (``sha256=None``): the first verified
download records the file's sha256 beside it and later loads check against that record. Every
file is checked (size, then sha256 or md5) by :func:`get` before any loader opens it, so a
pickled checkpoint is never unpickled before its hash has been checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

from eventsep.core.errors import DownloadError, HashMismatchError, WeightsNotFoundError
from eventsep.core.io import default_permissions, write_json_atomic
from eventsep.models.catalogue import (
    _CATALOGUE_DICT,  # noqa: F401 - tests extend the catalogue through the hub
    CATALOGUE,
    DEFAULT_DOWNLOADS,
    Checkpoint,
    RemoteFile,
    entry,
)

__all__ = [
    "CATALOGUE",
    "DEFAULT_DOWNLOADS",
    "Checkpoint",
    "RemoteFile",
    "cache_dir",
    "download",
    "entry",
    "fetch_file",
    "file_hash",
    "get",
    "is_cached",
    "is_offline",
    "local_path",
    "verify_file",
]

#: A cache folder argument: a path, or ``None`` for the default (:func:`cache_dir`).
CacheDir = str | os.PathLike[str] | None

_CONNECT_TIMEOUT_S = 5.0
_READ_TIMEOUT_S = 60.0
_TRUE = {"1", "true", "yes", "on"}


# ------------------------------------------------------------------ settings
def cache_dir(folder: CacheDir = None) -> Path:
    """Return the cache folder: ``folder`` when given, else ``$EVENTSEP_CACHE``, else the user
    cache folder + ``eventsep``."""
    if folder is not None:
        return Path(folder).expanduser()
    env = os.environ.get("EVENTSEP_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("eventsep"))


def is_offline() -> bool:
    """True when ``EVENTSEP_OFFLINE`` or ``HF_HUB_OFFLINE`` is set to a true value."""
    return any(
        os.environ.get(var, "").strip().lower() in _TRUE
        for var in ("EVENTSEP_OFFLINE", "HF_HUB_OFFLINE")
    )


def _package_dir(ckpt: Checkpoint) -> Path | None:
    if not ckpt.package:
        return None
    try:
        module = __import__(ckpt.package)
    except ImportError:
        return None
    folder = Path(module.__file__).resolve().parent / "model"
    return folder if all((folder / f.filename).is_file() for f in ckpt.files) else None


def _root(folder: CacheDir) -> Path:
    return cache_dir(folder)


def local_path(name: str, cache_dir: CacheDir = None) -> Path:
    """Where ``name`` lives (or would live) in the cache folder ``cache_dir``: its file, or its
    folder."""
    ckpt = entry(name)
    folder = _root(cache_dir) / ckpt.name
    return folder if ckpt.is_folder else folder / ckpt.files[0].filename


def is_cached(name: str, cache_dir: CacheDir = None) -> bool:
    """True when every file of ``name`` is present (in the cache folder ``cache_dir`` or a
    bundling package)."""
    ckpt = entry(name)
    if _package_dir(ckpt) is not None:
        return True
    folder = _root(cache_dir) / ckpt.name
    return all((folder / f.filename).is_file() for f in ckpt.files)


# ------------------------------------------------------------------- hashing
def file_hash(path: Path, algorithm: str = "sha256") -> str:
    """Return the hex digest of the file at ``path`` (read in 1 MiB blocks)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _read_stamp(path: Path) -> dict | None:
    try:
        return json.loads(_stamp_path(path).read_text())
    except (OSError, ValueError):
        return None


def _write_stamp(path: Path, sha256: str) -> None:
    st = path.stat()
    stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}
    write_json_atomic(_stamp_path(path), stamp)


def verify_file(path: Path, remote: RemoteFile, *, name: str = "") -> None:
    """Check a cached file against its catalogued size and hash.

    A successful check is remembered in ``<file>.verified`` (size, mtime, sha256), so a
    multi-gigabyte file is hashed once, not on every load. Files without a published hash are
    checked against the sha256 recorded at their first download.

    Raises
    ------
    HashMismatchError
        If the size or hash differs; the message names the file and the command that
        replaces it.
    """
    path = Path(path)
    fix = f"delete it or run `eventsep download {name} --force`" if name else "delete it"
    st = path.stat()
    if remote.size is not None and st.st_size != remote.size:
        raise HashMismatchError(
            f"{path} has {st.st_size} bytes, expected {remote.size}: the file is incomplete "
            f"or corrupt; {fix}."
        )
    stamp = _read_stamp(path)
    if stamp and stamp.get("size") == st.st_size and stamp.get("mtime_ns") == st.st_mtime_ns:
        if remote.sha256 is None or stamp.get("sha256") == remote.sha256:
            return
    sha256 = file_hash(path, "sha256")
    expected = remote.sha256 or (stamp or {}).get("sha256")
    if remote.sha256 is None and remote.md5 is not None:
        if file_hash(path, "md5") != remote.md5:
            raise HashMismatchError(f"{path} does not have the catalogued md5; {fix}.")
    elif expected is not None and sha256 != expected:
        raise HashMismatchError(
            f"{path} has sha256 {sha256}, expected {expected}: the file is corrupt or a "
            f"different version; {fix}."
        )
    _write_stamp(path, sha256)


# ----------------------------------------------------------------- download
class _LocalCopy:
    """pooch downloader for ``file://`` URLs (mirrors on disk, tests)."""

    def __call__(self, url: str, output_file, pooch_obj, check_only: bool = False) -> bool | None:
        source = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
        if check_only:
            return source.is_file()
        if not source.is_file():
            raise FileNotFoundError(f"{source} does not exist")
        if isinstance(output_file, (str, os.PathLike)):
            shutil.copyfile(source, output_file)
        else:
            with open(source, "rb") as fh:
                shutil.copyfileobj(fh, output_file)
        return None


def _offline_error(
    ckpt: Checkpoint, missing: Iterable[RemoteFile], why: str, folder: Path
) -> WeightsNotFoundError:
    names = ", ".join(f.filename for f in missing)
    return WeightsNotFoundError(
        f"{ckpt.name}: {names} not found in {folder} and {why}. Fetch it with "
        f"`eventsep download {ckpt.name}` (or copy the files there, or point EVENTSEP_CACHE "
        "at a folder that has them)."
    )


def fetch_file(
    remote: RemoteFile,
    folder: Path,
    *,
    label: str,
    progress: bool = True,
    unreachable: Callable[[str], Exception] | None = None,
) -> Path:
    """Download ``remote`` into ``folder`` with a progress bar, hash check and atomic placement.

    The file appears under ``folder / remote.filename`` only once complete and (when
    ``remote`` has a hash) verified; a failed or corrupt download leaves nothing under that
    name. ``file://`` URLs are copied (mirrors on disk, tests).

    Parameters
    ----------
    remote
        What to fetch (URL, filename, optional size/hash).
    folder
        Destination folder (created).
    label
        Names the download in error messages (a checkpoint or benchmark name).
    progress
        Show a progress bar.
    unreachable
        Builds the error raised when the network cannot be reached, from a short reason;
        default :class:`~eventsep.core.errors.DownloadError`.

    Raises
    ------
    HashMismatchError
        The downloaded bytes do not match ``remote``'s hash (nothing is kept).
    DownloadError
        The server answered with an error, or (without ``unreachable``) no network.
    """
    import pooch
    import requests

    target = folder / remote.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    scheme = urllib.parse.urlparse(remote.url).scheme
    downloader = (
        _LocalCopy()
        if scheme == "file"
        else pooch.HTTPDownloader(
            progressbar=progress, timeout=(_CONNECT_TIMEOUT_S, _READ_TIMEOUT_S)
        )
    )
    try:
        pooch.retrieve(
            remote.url,
            known_hash=remote.known_hash,
            fname=remote.filename,
            path=folder,
            downloader=downloader,
            progressbar=progress,
        )
    except ValueError as exc:  # pooch's hash mismatch; it has removed the bad download
        raise HashMismatchError(
            f"{label}: the downloaded {remote.filename} does not match the catalogued "
            f"{remote.known_hash}; nothing was kept (a corrupt download or a changed file at "
            f"{remote.url})"
        ) from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        why = f"the network cannot be reached ({type(exc).__name__})"
        if unreachable is not None:
            raise unreachable(why) from exc
        raise DownloadError(f"{label}: downloading {remote.url} failed: {why}") from exc
    except (requests.HTTPError, OSError) as exc:
        raise DownloadError(f"{label}: downloading {remote.url} failed: {exc}") from exc
    default_permissions(target)  # pooch's temporary file was private (0600)
    return target


def _fetch(ckpt: Checkpoint, remote: RemoteFile, folder: Path, progress: bool) -> Path:
    target = fetch_file(
        remote,
        folder,
        label=ckpt.name,
        progress=progress,
        unreachable=lambda why: _offline_error(ckpt, [remote], why, folder),
    )
    verify_file(target, remote, name=ckpt.name)
    return target


def download(
    name: str, *, force: bool = False, progress: bool = True, cache_dir: CacheDir = None
) -> Path:
    """Download (if needed) and verify every file of ``name``; return :func:`local_path`.

    Parameters
    ----------
    name
        Catalogue name.
    force
        Delete cached files first and fetch them again.
    progress
        Show a progress bar per file.
    cache_dir
        The cache folder (default: :func:`cache_dir`).

    Raises
    ------
    WeightsNotFoundError
        Offline (or no network) and a file is missing.
    HashMismatchError
        A cached or downloaded file does not match its catalogued hash.
    DownloadError
        The server answered with an error.
    """
    ckpt = entry(name)
    folder = _root(cache_dir) / ckpt.name
    if force:
        for f in ckpt.files:
            for p in (folder / f.filename, _stamp_path(folder / f.filename)):
                p.unlink(missing_ok=True)
    elif (pkg := _package_dir(ckpt)) is not None:
        return pkg
    missing = [f for f in ckpt.files if not (folder / f.filename).is_file()]
    for f in ckpt.files:
        if f not in missing:
            verify_file(folder / f.filename, f, name=ckpt.name)
    if missing and is_offline():
        why = "downloads are off (EVENTSEP_OFFLINE/HF_HUB_OFFLINE)"
        raise _offline_error(ckpt, missing, why, folder)
    folder.mkdir(parents=True, exist_ok=True)
    for f in missing:
        _fetch(ckpt, f, folder, progress)
    return local_path(name, cache_dir)


def get(
    name: str,
    *,
    download_missing: bool = True,
    progress: bool = True,
    cache_dir: CacheDir = None,
) -> Path:
    """Return the local path of checkpoint ``name`` in the cache folder ``cache_dir`` (default:
    :func:`cache_dir`), downloading it when allowed.

    A single-file checkpoint resolves to the file, a multi-file one to its folder. A package
    that bundles the files (``Checkpoint.package``) is used before the cache.

    Raises
    ------
    WeightsNotFoundError
        The files are missing and cannot be downloaded (offline, no network, or
        ``download_missing=False``).
    HashMismatchError
        A cached file does not match its catalogued hash.
    """
    ckpt = entry(name)
    pkg = _package_dir(ckpt)
    if pkg is not None:
        return pkg
    if not download_missing:
        folder = _root(cache_dir) / ckpt.name
        missing = [f for f in ckpt.files if not (folder / f.filename).is_file()]
        if missing:
            raise _offline_error(ckpt, missing, "downloading was not requested", folder)
        for f in ckpt.files:
            verify_file(folder / f.filename, f, name=ckpt.name)
        return local_path(name, cache_dir)
    return download(name, progress=progress, cache_dir=cache_dir)
