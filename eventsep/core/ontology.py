"""The AudioSet ontology: parent/child links between the 632 sound classes.

The ontology ships with the package (``eventsep/data/ontology.json``, CC BY-SA 4.0, see
``eventsep/data/ONTOLOGY_SOURCE.md``). 527 of its classes are detector outputs
(:func:`eventsep.core.labels.audioset_labels`); the others are abstract groups ("Human voice",
"Music genre") or classes without enough examples. Walking the links through those, a detector
class has detector descendants: *Dog* has *Bark*, *Yip*, *Howl*, *Bow-wow*, *Growling* and
*Whimper (dog)* (its child *Bay* is no detector output).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from eventsep.core.labels import audioset_mids

__all__ = [
    "Node",
    "ancestors",
    "detector_descendants",
    "detector_parents",
    "nodes",
]


@dataclass(frozen=True)
class Node:
    """One ontology class.

    Attributes
    ----------
    mid : str
        Ontology id, e.g. ``"/m/0bt9lr"``.
    name : str
        Display name.
    children : tuple of str
        Ids of its children, in ontology order.
    index : int or None
        Detector output index (0-526), or None when the detector has no such output.
    """

    mid: str
    name: str
    children: tuple[str, ...]
    index: int | None


@functools.lru_cache(maxsize=1)
def nodes() -> dict[str, Node]:
    """All 632 ontology classes by id (loaded once from the packaged JSON)."""
    text = resources.files("eventsep.data").joinpath("ontology.json").read_text("utf-8")
    index = {mid: i for i, mid in enumerate(audioset_mids())}
    out = {
        item["id"]: Node(item["id"], item["name"], tuple(item["child_ids"]), index.get(item["id"]))
        for item in json.loads(text)
    }
    missing = set(index) - set(out)
    if missing:
        raise RuntimeError(f"packaged ontology lacks {len(missing)} detector classes")
    return out


@functools.lru_cache(maxsize=1)
def _parents() -> dict[str, tuple[str, ...]]:
    parents: dict[str, list[str]] = {}
    for node in nodes().values():
        for child in node.children:
            parents.setdefault(child, []).append(node.mid)
    return {k: tuple(v) for k, v in parents.items()}


def _mid(index: int) -> str:
    return audioset_mids()[int(index)]


@functools.cache
def detector_descendants(index: int, max_depth: int = 2) -> tuple[tuple[int, int], ...]:
    """Detector classes below class ``index``, breadth first, each once.

    Abstract groups without a detector output are walked through but not counted as a level,
    so *Music* reaches the genres under the abstract *Music genre* at depth 1.

    Parameters
    ----------
    index : int
        Detector output index of the class.
    max_depth : int
        Deepest level of detector classes returned (1: children only).

    Returns
    -------
    tuple of (index, depth)
        Detector indices below ``index`` (not ``index`` itself) with their depth (1 = child).
    """
    table = nodes()
    seen = {_mid(index)}
    out: list[tuple[int, int]] = []
    frontier = [(_mid(index), 0)]
    while frontier:
        nxt = []
        for mid, depth in frontier:
            for child in table[mid].children:
                if child in seen:
                    continue
                seen.add(child)
                node = table[child]
                level = depth + (node.index is not None)
                if node.index is not None:
                    out.append((node.index, level))
                if level < max_depth:
                    nxt.append((child, level))
        frontier = nxt
    return tuple(out)


def _walk_up(index: int, *, stop_at_detector: bool = False) -> Iterator[Node]:
    """Nodes above detector class ``index``, level by level (nearest first), each once.

    With ``stop_at_detector`` the walk does not climb past a node that is a detector class.
    """
    table, parents = nodes(), _parents()
    frontier = list(parents.get(_mid(index), ()))
    seen: set[str] = set()
    while frontier:
        nxt: list[str] = []
        for mid in frontier:
            if mid in seen:
                continue
            seen.add(mid)
            node = table[mid]
            yield node
            if not (stop_at_detector and node.index is not None):
                nxt.extend(parents.get(mid, ()))
        frontier = nxt


def ancestors(index: int) -> tuple[str, ...]:
    """Display names of every class above detector class ``index`` (nearest first)."""
    return tuple(node.name for node in _walk_up(index))


def detector_parents(index: int) -> tuple[int, ...]:
    """Detector indices of the nearest detector classes above class ``index``."""
    above = _walk_up(index, stop_at_detector=True)
    return tuple(node.index for node in above if node.index is not None)
