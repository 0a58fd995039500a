"""Atomic file writing: outputs appear under their final name only once complete.

Every file or folder eventsep writes goes through :func:`atomic_path` (files) or
:func:`atomic_dir` (a folder of files published at once). The temporary name sits beside the
final one (same filesystem, so the rename is atomic), and the result gets the permissions a plain
``open()`` / ``mkdir()`` would give under the process umask (``tempfile`` creates 0600 / 0700,
which would hide shared-cache files from other users).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_dir",
    "atomic_path",
    "default_permissions",
    "write_json_atomic",
    "write_text_atomic",
]


def default_permissions(path: str | os.PathLike) -> None:
    """Give ``path`` the mode a plain ``open()`` / ``mkdir()`` would: 0o666 / 0o777 minus umask.

    For files another library created privately (``tempfile``, downloaders): under the usual
    umask 022 they become readable by every user of a shared cache (0o644, folders 0o755).
    """
    mask = os.umask(0)  # the only way to read the umask: set it and put it back
    os.umask(mask)
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~mask)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    If the block raises, the temporary file is removed and ``path`` is left untouched, so no
    half-written output is ever visible under the final name. The file ends up with mode
    ``0o666 & ~umask`` (0o644 under the usual umask 022), whatever wrote it.

    Parameters
    ----------
    path
        Final destination. Its folder is created if needed.
    suffix
        Extension for the temporary name (some writers infer the format from it).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=final.parent, prefix=f".{final.name}.", suffix=suffix + ".part"
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # after the block: a writer that replaced the file must not keep its own mode
        default_permissions(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; rename it to ``path`` if the block succeeds.

    For outputs made of several files that must appear together (a benchmark: audio plus
    metadata): readers see either no folder or the complete one. ``path`` must not exist or be
    an empty folder (it is replaced). On failure the temporary folder is deleted. The folder gets
    mode ``0o777 & ~umask``.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part"))
    try:
        default_permissions(tmp)
        yield tmp
        if final.exists():
            final.rmdir()  # an empty folder (os.replace onto it fails on Windows)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(
    path: str | os.PathLike,
    data: Any,
    *,
    indent: int = 2,
    default: Callable[[Any], Any] | None = None,
) -> Path:
    """Write ``data`` as UTF-8 JSON to ``path`` atomically; return the path.

    ``default`` converts values JSON cannot hold (e.g. ``str`` for paths), as in
    :func:`json.dumps`.
    """
    text = json.dumps(data, indent=indent, ensure_ascii=False, default=default)
    return write_text_atomic(path, text + "\n")
