"""The 527 AudioSet classes that PANNs and AudioSep predict, in model output order.

The names ship with the package (``eventsep/data/class_labels_indices.csv``, AudioSet ontology,
CC BY-SA 4.0; see ``eventsep/data/LABELS_SOURCE.md``), so nothing is downloaded.
"""

from __future__ import annotations

import csv
import functools
from importlib import resources

__all__ = ["NUM_CLASSES", "audioset_labels", "audioset_mids", "label_index"]

NUM_CLASSES = 527


@functools.lru_cache(maxsize=1)
def _rows() -> tuple[tuple[int, str, str], ...]:
    text = resources.files("eventsep.data").joinpath("class_labels_indices.csv").read_text("utf-8")
    reader = csv.DictReader(text.splitlines())
    rows = tuple((int(r["index"]), r["mid"], r["display_name"]) for r in reader)
    if [r[0] for r in rows] != list(range(NUM_CLASSES)):
        raise RuntimeError("packaged AudioSet label file is damaged: indices are not 0..526")
    return rows


def audioset_labels() -> tuple[str, ...]:
    """Return the 527 AudioSet display names, index ``i`` being model output ``i``."""
    return tuple(r[2] for r in _rows())


def audioset_mids() -> tuple[str, ...]:
    """Return the 527 AudioSet ontology ids (``/m/...``) in model output order."""
    return tuple(r[1] for r in _rows())


@functools.lru_cache(maxsize=1)
def _index_by_name() -> dict[str, int]:
    return {name.casefold(): i for i, name in enumerate(audioset_labels())}


def label_index(name: str) -> int:
    """Return the output index of an AudioSet display name (case-insensitive).

    Raises
    ------
    KeyError
        If ``name`` is not one of the 527 display names.
    """
    try:
        return _index_by_name()[name.strip().casefold()]
    except KeyError:
        raise KeyError(f"{name!r} is not an AudioSet class display name") from None
