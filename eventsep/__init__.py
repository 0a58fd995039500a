"""eventsep: text-queried, time-selective sound separation (EventSep).

A prompt ("dog barking") is mapped to AudioSet classes, a sound event detector finds when they
occur, the rest of the recording is masked in time, and two separators (AudioSep, a mask
separator, and FlowSep, a generative rectified-flow separator) run on the masked audio; their
estimates are fused in the STFT domain.

Heavy submodules are imported lazily, so ``import eventsep`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "EventSep": "eventsep.method.pipeline",
    "EventSepConfig": "eventsep.method.pipeline",
    "EventSepResult": "eventsep.method.pipeline",
    "map_prompt": "eventsep.method.mapping",
    "LabelMatch": "eventsep.method.mapping",
    "audioset_labels": "eventsep.core.labels",
    "load_audio": "eventsep.core.audio",
    "save_audio": "eventsep.core.audio",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'eventsep' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
