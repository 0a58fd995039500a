"""What the demo accepts: upload size and duration limits, checked before any decoding."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from eventsep.core.errors import AudioError, ConfigError

__all__ = ["DemoLimits", "check_upload"]


@dataclass(frozen=True)
class DemoLimits:
    """Limits of one demo run.

    Attributes
    ----------
    max_seconds : float
        Longest input accepted, in seconds (checked from the file header, before decoding).
    max_upload_mb : float
        Largest upload accepted, in megabytes (10**6 bytes); the web server refuses larger
        uploads too.
    """

    max_seconds: float = 30.0
    max_upload_mb: float = 20.0

    def __post_init__(self) -> None:
        for name in ("max_seconds", "max_upload_mb"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value > 0):
                raise ConfigError(f"demo limit {name} must be a positive number, got {value!r}")

    @property
    def max_upload_bytes(self) -> int:
        """``max_upload_mb`` in bytes."""
        return int(self.max_upload_mb * 1_000_000)


def check_upload(path: str | os.PathLike, limits: DemoLimits) -> None:
    """Refuse a file larger than ``limits.max_upload_mb`` (one-line :class:`AudioError`).

    The duration limit is checked by :func:`eventsep.core.audio.load_audio` (``max_seconds``), which
    raises :class:`~eventsep.core.errors.AudioTooLongError`; missing, empty and corrupt files raise
    the
    same errors as on the command line.
    """
    p = Path(path)
    if p.is_file() and p.stat().st_size > limits.max_upload_bytes:
        raise AudioError(
            f"{p}: {p.stat().st_size / 1e6:.1f} MB, more than the upload limit of "
            f"{limits.max_upload_mb:g} MB"
        )
