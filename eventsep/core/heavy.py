"""One lock for the first imports of the heavy third-party packages (transformers, diffusers,
sentence-transformers).

These packages resolve their names lazily on first access, and that resolution is not
thread-safe: two threads building models at once (two pipelines loading in parallel) can get
``ImportError: cannot import name ... from 'transformers'``. Every function-level import of them
in eventsep runs inside :func:`heavy_imports`, so those first resolutions happen one at a time;
later imports are dictionary look-ups and cost nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

__all__ = ["heavy_imports"]

_LOCK = threading.RLock()


@contextlib.contextmanager
def heavy_imports() -> Iterator[None]:
    """Hold the process-wide import lock of the heavy packages for the ``with`` block."""
    with _LOCK:
        yield
