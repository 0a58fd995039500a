"""Run profiles of a reproduction: what a run uses, and the check that it can run.

A *run profile* (:class:`Profile`, built by :func:`get_profile`) says what a reproduction run
uses: a model set (:mod:`eventsep.models.registry`; ``--models`` overrides it), benchmarks,
device, seed and settings. :func:`check_profile` makes sure everything it needs is present before
any notebook runs. Used by the notebook runner (:mod:`eventsep.paper.reproduce`, which re-exports
these names) and by :mod:`eventsep.paper.provision`, which fetches what the check would miss.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventsep.core.errors import BenchmarkError, ConfigError, WeightsNotFoundError
from eventsep.evaluation.datacheck import check_benchmark
from eventsep.evaluation.examples import examples_dir as _examples_dir
from eventsep.models import registry as modelsets
from eventsep.paper import experiments

__all__ = [
    "DATA_ENV",
    "PAPER_BENCHMARKS",
    "PROFILES",
    "RESULT_NOTEBOOKS",
    "SMOKE_CONFIG",
    "SMOKE_MAX_CLIPS",
    "Profile",
    "check_profile",
    "get_profile",
    "needs_benchmark_data",
]

PROFILES = ("smoke", "paper")
"""Run profiles (not model sets: see :mod:`eventsep.models.registry`)."""

PAPER_BENCHMARKS: tuple[str, ...] = experiments.table_spec("table1").benchmarks
"""Benchmarks of Table 1 (Table 2 and 3 use the first one, VGGSound)."""

SMOKE_MAX_CLIPS = 2
"""Clips of the tiny benchmark the smoke profile evaluates (CI time)."""

SMOKE_CONFIG: dict[str, Any] = {"flowsep_steps": 2}
"""EventSepConfig overrides of the smoke profile: 2 FlowSep Euler steps instead of 20."""

DATA_ENV = "EVENTSEP_DATA"
"""Environment variable naming the folder that holds one sub-folder per benchmark."""


RESULT_NOTEBOOKS = frozenset({"02", "03", "04", "06"})
"""Notebooks that evaluate on benchmarks (the others need no benchmark data)."""


def needs_benchmark_data(specs: Sequence[Any] | None = None) -> bool:
    """True when one of the notebooks ``specs`` (objects with a ``key``; default: all, which
    include the result notebooks) evaluates on benchmarks (:data:`RESULT_NOTEBOOKS`)."""
    return specs is None or any(spec.key in RESULT_NOTEBOOKS for spec in specs)


# ------------------------------------------------------------------------------- profiles
@dataclass(frozen=True)
class Profile:
    """A run profile: what a reproduction run uses; its fields become the notebooks' parameters.

    Attributes
    ----------
    name : str
        The run profile: ``"smoke"`` (tiny-random models, bundled examples, offline) or
        ``"paper"``.
    models : str
        The model set (argument of ``EventSep.from_pretrained``): ``"tiny-random"``, ``"paper"``
        or a folder of checkpoints (absolute path).
    benchmarks : tuple of str
        Benchmarks of Table 1; Tables 2 and 3 use the first.
    data_dir : str or None
        Folder with one sub-folder per benchmark (paper profile).
    device : str
        Torch device for every model.
    seed : int
        Seed of every random draw (FlowSep noise and segment start, benchmark sampling).
    max_clips : int or None
        Clips per benchmark (``None``: all).
    config_overrides : dict
        ``EventSepConfig`` fields every pipeline of the run uses (the smoke profile lowers
        FlowSep's sampler steps to keep CI short; the paper profile uses the paper's defaults).
    examples_dir : str
        Bundled example recordings and mixtures.
    """

    name: str
    models: str
    benchmarks: tuple[str, ...]
    data_dir: str | None
    device: str
    seed: int = 0
    max_clips: int | None = None
    config_overrides: dict[str, Any] = field(default_factory=dict)
    examples_dir: str = field(default_factory=lambda: str(_examples_dir(check=False)))

    def parameters(self, out_dir: str | os.PathLike[str]) -> dict[str, Any]:
        """Return the papermill parameters (JSON-serialisable) for a run writing to ``out_dir``."""
        out = Path(out_dir).resolve()
        return {
            "profile": self.name,
            "models": self.models,
            "benchmarks": list(self.benchmarks),
            "data_dir": self.data_dir,
            "device": self.device,
            "seed": self.seed,
            "max_clips": self.max_clips,
            "config_overrides": dict(self.config_overrides),
            "examples_dir": self.examples_dir,
            "out_dir": str(out),
            "results_dir": str(out / "results"),
        }


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def get_profile(
    name: str,
    *,
    models: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
    seed: int = 0,
    max_clips: int | None = None,
) -> Profile:
    """Build the run profile called ``name``.

    ``models`` overrides the profile's model set (smoke: ``"tiny-random"``, paper: ``"paper"``);
    ``data_dir`` defaults to ``$EVENTSEP_DATA`` for the paper profile; ``device`` to CUDA when
    available for the paper profile and CPU for the smoke profile.

    Raises
    ------
    ConfigError
        For an unknown profile name or model set.
    """
    chosen = None if models is None else modelsets.canonical(models)
    if name == "smoke":
        return Profile(
            name="smoke",
            models=chosen or "tiny-random",
            benchmarks=("tiny",),
            data_dir=None,
            device=device or "cpu",
            seed=seed,
            max_clips=SMOKE_MAX_CLIPS if max_clips is None else max_clips,
            config_overrides=dict(SMOKE_CONFIG),
        )
    if name == "paper":
        data = data_dir if data_dir is not None else os.environ.get(DATA_ENV) or None
        return Profile(
            name="paper",
            models=chosen or "paper",
            benchmarks=PAPER_BENCHMARKS,
            data_dir=str(Path(data).expanduser().resolve()) if data else None,
            device=device or _default_device(),
            seed=seed,
            max_clips=max_clips,
        )
    raise ConfigError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")


def _missing_benchmarks(data_dir: str | None, names: Sequence[str]) -> list[str]:
    """Return ``"<name>: <reason>"`` for each benchmark under ``data_dir`` that is not usable.

    The check is :func:`eventsep.evaluation.datacheck.check_benchmark` (the table ``eventsep
    check-data`` prints): missing, unreadable, wrong sample rate or duration, CSV/audio mismatch.
    """
    if data_dir is None:
        return [f"{name}: no data folder given" for name in names]
    missing = []
    for name in names:
        report = check_benchmark(name, Path(data_dir) / name)
        if not report.usable:
            first = report.problems[0].detail if report.problems else "the CSV lists no clips"
            missing.append(
                f"{name}: {len(report.problems)} problem(s), {report.pairs_found}/{report.rows} "
                f"pairs usable, e.g. {first}"
            )
    return missing


def check_profile(profile: Profile, specs: Sequence[Any] | None = None) -> None:
    """Fail fast when ``profile`` cannot run: missing weights or benchmark data.

    Every run needs ``examples/`` and the files of its model set
    (:func:`eventsep.models.registry.required_files`: none to download for ``tiny-random``, every
    paper checkpoint for ``paper`` or a folder). When a notebook of
    :data:`RESULT_NOTEBOOKS` is selected (``specs``: the
    :class:`~eventsep.paper.reproduce.NotebookSpec` about to run; default all), benchmarks other
    than the bundled ``tiny`` need their folders under ``data_dir``.

    Raises
    ------
    WeightsNotFoundError
        Naming the missing checkpoints and the command that downloads them.
    BenchmarkError
        Naming the missing benchmark folders and how to get them.
    ConfigError
        When the examples folder is missing.
    """
    if not Path(profile.examples_dir).is_dir():
        raise ConfigError(
            f"examples folder not found: {profile.examples_dir} "
            "(run from a source checkout of eventsep)"
        )
    missing = modelsets.missing_files(profile.models)
    if missing:
        raise WeightsNotFoundError(
            f"the {profile.name} profile's model set {profile.models!r} needs checkpoints that "
            f"are not in {modelsets.cache_of(profile.models)}: {', '.join(missing)}; get them "
            f"with `eventsep download --models {profile.models}`"
        )
    needs_data = needs_benchmark_data(specs)
    external = [b for b in profile.benchmarks if b != "tiny"]  # tiny is bundled
    if not needs_data or not external:
        return
    absent = _missing_benchmarks(profile.data_dir, external)
    if absent:
        bad = [a.split(":", 1)[0] for a in absent]
        folder = profile.data_dir or "DIR"
        where = profile.data_dir or f"${DATA_ENV} (not set)"
        raise BenchmarkError(
            f"the {profile.name} profile needs the benchmarks {', '.join(external)} as folders "
            f"<DIR>/{{{','.join(external)}}} in the AudioSep evaluation format "
            f"(metadata CSV + mixture/segment WAV files) under {where}; missing: "
            + "; ".join(absent)
            + f". Fetch them with `eventsep download-data {' '.join(bad)} --out {folder}` "
            f"(check with `eventsep check-data {folder}`)"
            + ("" if profile.data_dir else f", then pass `--data {folder}` or set {DATA_ENV}")
        )
