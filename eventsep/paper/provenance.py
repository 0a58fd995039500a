"""Provenance of a reproduction run: package versions, git commit, device, protocols.

:func:`provenance` returns the static part of ``<out>/provenance.json`` that
:func:`eventsep.paper.reproduce.reproduce` writes (re-exported there).
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from eventsep.paper import experiments
from eventsep.paper.profiles import Profile

__all__ = ["provenance", "repo_root"]


def repo_root() -> Path:
    """Return the folder that holds ``eventsep/`` (the repository in a source checkout)."""
    return Path(__file__).resolve().parents[2]


_PACKAGES = (
    "eventsep",
    "torch",
    "numpy",
    "scipy",
    "transformers",
    "diffusers",
    "sentence-transformers",
    "torchmetrics",
    "pystoi",
    "soundfile",
    "soxr",
    "julius",
    "pandas",
    "matplotlib",
    "seaborn",
    "papermill",
    "nbformat",
    "ipykernel",
)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=repo_root(),
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _device_description(device: str) -> str:
    try:
        if device.startswith("cuda") and torch.cuda.is_available():
            return torch.cuda.get_device_name(torch.device(device))
        return f"{platform.processor() or platform.machine()} ({os.cpu_count()} logical CPUs)"
    except (RuntimeError, AssertionError):  # pragma: no cover - description only
        return device


def provenance(profile: Profile) -> dict[str, Any]:
    """Return the static part of a run's provenance record (no durations yet)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    threads, cuda = torch.get_num_threads(), torch.version.cuda
    return {
        "profile": profile.name,
        "models": profile.models,
        "seed": profile.seed,
        "device": profile.device,
        "device_name": _device_description(profile.device),
        "profile_settings": asdict(profile),
        "protocols": {
            name: {"description": p.description, "overrides": dict(p.overrides)}
            for name, p in experiments.PROTOCOLS.items()
        },
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "torch_threads": threads,
        "torch_cuda": cuda,
        "packages": {name: _version(name) for name in _PACKAGES},
        "started_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
