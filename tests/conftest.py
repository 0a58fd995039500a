"""Shared test setup: every test runs offline against an empty temporary cache.

Tests that need the real checkpoints are marked ``@pytest.mark.weights("name", ...)`` with
catalogue names; they use the user's real cache (``$EVENTSEP_REAL_CACHE``, else the
``EVENTSEP_CACHE`` set when pytest started, else the default user cache) and are skipped when any
named checkpoint is missing there.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")

_REAL_CACHE = os.environ.get("EVENTSEP_REAL_CACHE") or os.environ.get("EVENTSEP_CACHE")


def _real_cache_dir() -> str:
    if _REAL_CACHE:
        return _REAL_CACHE
    import platformdirs

    return platformdirs.user_cache_dir("eventsep")


@pytest.fixture(autouse=True)
def offline_cache(request, tmp_path_factory, monkeypatch):
    """Point EVENTSEP_CACHE/HF_HOME at a fresh temp folder and turn offline mode on.

    Any accidental download then fails loudly instead of reaching the network.
    """
    marker = request.node.get_closest_marker("weights")
    monkeypatch.setenv("EVENTSEP_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    if marker is not None:
        from eventsep.models import hub

        monkeypatch.setenv("EVENTSEP_CACHE", _real_cache_dir())
        missing = [n for n in marker.args if not hub.is_cached(n)]
        if missing:
            pytest.skip(f"real weights not in {_real_cache_dir()}: {', '.join(missing)}")
        return Path(_real_cache_dir())
    cache = tmp_path_factory.mktemp("eventsep-cache")
    monkeypatch.setenv("EVENTSEP_CACHE", str(cache))
    monkeypatch.setenv("HF_HOME", str(cache / "hf"))
    return cache


@pytest.fixture(autouse=True)
def _torch_threads():
    torch.set_num_threads(2)
    yield


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def umask_022():
    """Run the test under umask 022 (files 0o644, folders 0o755), then restore the old one."""
    old = os.umask(0o022)
    yield
    os.umask(old)
