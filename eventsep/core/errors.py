"""Typed errors raised by eventsep.

Every error a user can act on derives from :class:`EventSepError`, so a caller
(or the command line) can catch one class and print its message.
"""

from __future__ import annotations

__all__ = [
    "EventSepError",
    "AudioError",
    "AudioFileNotFoundError",
    "CorruptAudioError",
    "UnsupportedFormatError",
    "EmptyAudioError",
    "SilentAudioError",
    "NonFiniteAudioError",
    "SampleRateError",
    "AudioTooLongError",
    "WeightsError",
    "WeightsNotFoundError",
    "HashMismatchError",
    "DownloadError",
    "UnknownModelError",
    "CheckpointMismatchError",
    "PromptError",
    "ConfigError",
    "BenchmarkError",
    "DataDownloadError",
    "ResultsLockedError",
]


class EventSepError(Exception):
    """Base class of every error eventsep raises on purpose."""


# --------------------------------------------------------------------- audio
class AudioError(EventSepError, ValueError):
    """Audio that cannot be used as it is."""


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    """An input audio path does not exist or is not a file."""


class CorruptAudioError(AudioError):
    """A file exists but cannot be decoded as audio."""


class UnsupportedFormatError(AudioError):
    """A file format (or an output extension) the audio backend cannot handle."""


class EmptyAudioError(AudioError):
    """Audio with zero samples."""


class SilentAudioError(AudioError):
    """Audio whose samples are all (numerically) zero where content is needed."""


class NonFiniteAudioError(AudioError):
    """Audio containing NaN or infinite samples."""


class SampleRateError(AudioError):
    """A sample rate that is not a positive integer or does not fit the request."""


class AudioTooLongError(AudioError):
    """Audio longer than the configured limit (``max_seconds``)."""


# ------------------------------------------------------------------- weights
class WeightsError(EventSepError):
    """Base class for problems with model weights."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """A checkpoint is not in the cache and cannot be downloaded (offline)."""


class HashMismatchError(WeightsError):
    """A downloaded or cached file does not have the catalogued hash."""


class DownloadError(WeightsError):
    """A download failed (network error, HTTP error, interrupted transfer)."""


class UnknownModelError(WeightsError, KeyError):
    """A checkpoint name that is not in the catalogue."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CheckpointMismatchError(WeightsError):
    """A state dict whose keys or shapes do not match the model."""


# ------------------------------------------------------------------- others
class PromptError(EventSepError, ValueError):
    """An empty or unusable text prompt."""


class ConfigError(EventSepError, ValueError):
    """An invalid option or configuration value (unknown mode, fusion rule...)."""


class BenchmarkError(EventSepError):
    """A benchmark folder or metadata file that cannot be read."""


class DataDownloadError(BenchmarkError):
    """Benchmark data that cannot be fetched (offline, no gdown, a source refuses); the message
    names the manual step."""


class ResultsLockedError(EventSepError):
    """A results folder another evaluation is writing to (its lock is held)."""
