"""Set up what a reproduction run needs before it starts: weights and benchmark data.

``eventsep reproduce`` (and so ``make reproduce``) calls :func:`provision` before
:func:`eventsep.paper.profiles.check_profile`. On a machine with network it fetches the missing
checkpoints of the profile's model set (:func:`eventsep.models.hub.download`, progress bars, hash
checks) and, when a results notebook (:data:`RESULT_NOTEBOOKS`) runs, the benchmark folders that
:mod:`eventsep.evaluation.datacheck` finds incomplete
(:func:`eventsep.evaluation.datafetch.download_data`). Offline
(``EVENTSEP_OFFLINE=1`` or no answer from the network within a few seconds) it fetches nothing and
raises one error naming every command that fetches what is missing. A source that refuses (Drive
quota) raises one :class:`~eventsep.core.errors.DataDownloadError` naming the manual step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from eventsep.core.errors import DataDownloadError, WeightsNotFoundError
from eventsep.evaluation import datacheck, datafetch
from eventsep.evaluation.datasets import DATASETS, default_data_dir
from eventsep.models import hub
from eventsep.models import registry as modelsets
from eventsep.paper.profiles import RESULT_NOTEBOOKS, Profile, needs_benchmark_data

__all__ = ["RESULT_NOTEBOOKS", "provision"]

_PROBE_URL = "https://huggingface.co"


def provision(
    profile: Profile, specs: Sequence | None = None, *, log: Callable[[str], None] = print
) -> Profile:
    """Fetch what ``profile`` lacks; return the profile with its data folder set.

    Parameters
    ----------
    profile : eventsep.paper.profiles.Profile
    specs : sequence of NotebookSpec, optional
        Notebooks about to run (default: all).
    log : callable
        Receives one line per step.

    Returns
    -------
    Profile
        ``profile``, with ``data_dir`` set to :func:`eventsep.evaluation.datasets.default_data_dir`
        when it had none and benchmark data is needed.

    Raises
    ------
    DataDownloadError, WeightsNotFoundError, DownloadError, HashMismatchError
        A download that was attempted and failed (one line naming what to do).
    """
    external = [b for b in profile.benchmarks if b in DATASETS]
    needs_data = bool(external) and needs_benchmark_data(specs)
    if needs_data and profile.data_dir is None:
        profile = dataclasses.replace(profile, data_dir=str(default_data_dir().resolve()))
    missing = modelsets.missing_files(profile.models)
    bad = []
    if needs_data:
        reports = datacheck.check_data(Path(profile.data_dir), external)
        bad = [r.name for r in reports if not r.usable]
        for r in reports:
            log(f"data check: {r.name}: " + ("usable" if r.usable else _summary(r)))
    if not missing and not bad:
        return profile
    why = (
        "downloads are off (EVENTSEP_OFFLINE/HF_HUB_OFFLINE)"
        if hub.is_offline()
        else datafetch.probe(_PROBE_URL)
    )
    if why:
        raise _offline(profile, missing, bad, why)
    if missing:
        log(f"fetching {len(missing)} checkpoint(s) of model set {profile.models!r}")
        _, folder = modelsets.resolve(profile.models)
        for name in missing:
            hub.download(name, progress=True, cache_dir=folder)
    if bad:
        log(f"fetching benchmark data into {profile.data_dir}: {', '.join(bad)}")
        datafetch.download_data(bad, profile.data_dir, log=log)
    return profile


def _offline(profile, missing: list[str], bad: list[str], why: str) -> Exception:
    """One error naming every command that fetches what ``profile`` lacks."""
    steps, lacks = [], []
    if missing:
        lacks.append(f"checkpoints {', '.join(missing)}")
        steps.append(f"`eventsep download --models {profile.models}`")
    if bad:
        lacks.append(f"benchmark data {', '.join(bad)} in {profile.data_dir}")
        steps.append(f"`eventsep download-data {' '.join(bad)} --out {profile.data_dir}`")
    text = (
        f"the {profile.name} profile lacks {' and '.join(lacks)}, and {why}: run "
        f"{' and '.join(steps)} on a machine with network (or copy the files here), then run "
        "again"
    )
    return WeightsNotFoundError(text) if missing else DataDownloadError(text)


def _summary(report) -> str:
    if report.rows == 0 and report.problems:
        return report.problems[0].detail
    counts = [f"{report.count(k)} {k}" for k in datacheck.KINDS if report.count(k)]
    return f"{report.pairs_found}/{report.rows} pairs found; " + ", ".join(counts)
