"""Run the numbered notebooks in order with papermill and record how the outputs were made.

``eventsep reproduce --profile smoke|paper [--models SET]`` (and ``make reproduce``) call
:func:`reproduce`. A *run profile* (:class:`Profile`, :mod:`eventsep.paper.profiles`, re-exported
here) says what a run uses: a model set (:mod:`eventsep.models.registry`; ``--models`` overrides
it), benchmarks, device, seed and settings.

1. :func:`check_profile` makes sure everything the profile needs is present *before* any notebook
   runs (the files of its model set, and the benchmark data of the ``paper`` profile; it stops at
   once with the command that gets what is missing).
2. A kernelspec for the running interpreter is written to a private folder, so papermill works in
   a fresh virtual environment where no kernel was ever registered.
3. Each notebook runs with its ``parameters`` cell filled from the :class:`Profile`; the
   executed copy goes to ``<out>/notebooks/``; the outputs each notebook promises
   (:attr:`NotebookSpec.outputs`) are checked to exist and be non-empty.
4. ``<out>/provenance.json`` records package versions, git commit, seed, profile, device, the
   evaluation protocols (:data:`eventsep.paper.experiments.PROTOCOLS` with their overrides),
   per-notebook durations and the output files. It is written after every notebook, so it
   also tells how far a failed run got.

The default output folder is ``figures/runs/<profile>/`` in the repository.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventsep.core.errors import ConfigError, EventSepError
from eventsep.core.io import write_json_atomic
from eventsep.paper.profiles import (
    DATA_ENV,
    PAPER_BENCHMARKS,
    PROFILES,
    SMOKE_CONFIG,
    SMOKE_MAX_CLIPS,
    Profile,
    check_profile,
    get_profile,
)
from eventsep.paper.provenance import provenance, repo_root

__all__ = [
    "DATA_ENV",
    "KERNEL_NAME",
    "NOTEBOOKS",
    "PAPER_BENCHMARKS",
    "PROFILES",
    "SMOKE_CONFIG",
    "SMOKE_MAX_CLIPS",
    "NotebookExecutionError",
    "NotebookSpec",
    "Profile",
    "RunRecord",
    "check_profile",
    "default_out_dir",
    "expected_outputs",
    "get_profile",
    "kernel_for_interpreter",
    "notebooks_dir",
    "provenance",
    "reproduce",
    "select_notebooks",
]

KERNEL_NAME = "eventsep"
"""Name of the kernelspec the runner writes (and ``make lab`` registers)."""


class NotebookExecutionError(EventSepError):
    """A notebook raised, or did not write the outputs it promises."""


# ------------------------------------------------------------------------------ notebooks
@dataclass(frozen=True)
class NotebookSpec:
    """One numbered notebook and the files it must leave in the run folder.

    Attributes
    ----------
    key : str
        Two-digit number used by ``--only`` (``"02"``).
    filename : str
        File name in ``notebooks/``.
    title : str
        What it reproduces.
    outputs : tuple of str
        Paths relative to the run folder that must exist and be non-empty afterwards.
    """

    key: str
    filename: str
    title: str
    outputs: tuple[str, ...]


NOTEBOOKS: tuple[NotebookSpec, ...] = (
    NotebookSpec(
        "00",
        "00_quickstart.ipynb",
        "Quick start: separate one example with the pipeline",
        ("quickstart_separation.png", "quickstart_separation.pdf"),
    ),
    NotebookSpec(
        "01",
        "01_sed_activity.ipynb",
        "Figure 2: spectrogram, frame-wise class activity and time masks",
        ("figure2_sed_activity.png", "figure2_sed_activity.pdf"),
    ),
    NotebookSpec(
        "02",
        "02_overall_results.ipynb",
        "Table 1: AudioSep, FlowSep and EventSep on three benchmarks",
        ("tables/table1_overall.csv", "tables/table1_overall.md"),
    ),
    NotebookSpec(
        "03",
        "03_masking_ablation.ipynb",
        "Table 2: hard and soft time masks before AudioSep",
        (
            "tables/table2_masks.csv",
            "tables/table2_masks.md",
            "table2_masks.png",
            "table2_masks.pdf",
        ),
    ),
    NotebookSpec(
        "04",
        "04_fusion_ablation.ipynb",
        "Table 3: the five STFT fusion rules",
        ("tables/table3_fusion.csv", "tables/table3_fusion.md"),
    ),
    NotebookSpec(
        "05",
        "05_listening_examples.ipynb",
        "Listening examples: mixture, AudioSep, FlowSep and EventSep estimates",
        ("listening/index.html", "listening_examples.png", "listening_examples.pdf"),
    ),
    NotebookSpec(
        "06",
        "06_reproduction_report.ipynb",
        "Reproduction report: every paper number under the authors' and the corrected protocol",
        ("reproduction_report.md", "reproduction_report.html", "tables/reproduction.csv"),
    ),
    NotebookSpec(
        "07",
        "07_demo.ipynb",
        "Interactive demo: the web app inline (headless: one run of its function on an example)",
        ("demo_activity.png", "demo_activity.pdf", "demo/estimate.wav", "demo/report.json"),
    ),
)


def notebooks_dir() -> Path:
    """Return the ``notebooks/`` folder of the source checkout."""
    return repo_root() / "notebooks"


def default_out_dir(profile: str) -> Path:
    """Return ``figures/runs/<profile>/`` in the repository."""
    return repo_root() / "figures" / "runs" / profile


def select_notebooks(
    only: str | Sequence[str] | None = None,
) -> tuple[NotebookSpec, ...]:
    """Return the notebooks to run, in order.

    Parameters
    ----------
    only : str or sequence of str, optional
        Keys such as ``"02,03"`` or ``["2", "03"]``; ``None`` selects every notebook.

    Raises
    ------
    ConfigError
        For a key that names no notebook.
    """
    if only is None:
        return NOTEBOOKS
    if isinstance(only, str):
        only = [part for part in only.split(",")]
    wanted = {k.strip().zfill(2) for k in only if k.strip()}
    known = {spec.key for spec in NOTEBOOKS}
    unknown = sorted(wanted - known)
    if unknown or not wanted:
        raise ConfigError(
            f"--only names no notebook: {', '.join(unknown) or '(empty)'}; "
            f"choose from {', '.join(sorted(known))}"
        )
    return tuple(spec for spec in NOTEBOOKS if spec.key in wanted)


def expected_outputs(specs: Sequence[NotebookSpec], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Return every file the given notebooks must produce under ``out_dir``."""
    out = Path(out_dir)
    files = [out / rel for spec in specs for rel in spec.outputs]
    files += [out / "notebooks" / spec.filename for spec in specs]
    files.append(out / "provenance.json")
    return files


# --------------------------------------------------------------------------------- kernel
@contextlib.contextmanager
def kernel_for_interpreter(name: str = KERNEL_NAME) -> Iterator[str]:
    """Provide a Jupyter kernelspec that runs the current interpreter; yield its name.

    The spec is written to a temporary folder put first on ``JUPYTER_PATH`` for the duration, so
    a fresh virtual environment needs no ``ipykernel install`` and the user's kernels are not
    touched.

    Raises
    ------
    ConfigError
        When ``ipykernel`` is not installed in this interpreter.
    """
    try:
        import ipykernel  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "running the notebooks needs ipykernel and papermill: pip install 'eventsep[notebooks]'"
        ) from exc
    old = os.environ.get("JUPYTER_PATH")
    with tempfile.TemporaryDirectory(prefix="eventsep-kernel-") as tmp:
        spec_dir = Path(tmp) / "kernels" / name
        spec_dir.mkdir(parents=True)
        spec = {
            "argv": [
                sys.executable,
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
            ],
            "display_name": f"Python ({name})",
            "language": "python",
            "metadata": {"debugger": False},
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
        os.environ["JUPYTER_PATH"] = os.pathsep.join([tmp, *([old] if old else [])])
        try:
            yield name
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old


@dataclass(frozen=True)
class RunRecord:
    """Result of :func:`reproduce`.

    Attributes
    ----------
    out_dir : Path
        The run folder.
    durations : dict of str to float
        Seconds per notebook key.
    outputs : tuple of Path
        Every file the run produced and checked.
    provenance_path : Path
        The provenance JSON.
    """

    out_dir: Path
    durations: dict[str, float]
    outputs: tuple[Path, ...]
    provenance_path: Path


def _earlier_entries(path: Path, keys: set[str], profile: Profile) -> list[dict[str, Any]]:
    """Entries of notebooks *not* re-run from an earlier provenance file of the same profile.

    A partial run (``--only``) keeps the record of the other notebooks' outputs, each tagged with
    the commit and start time of the run that made it.
    """
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    old_models = old.get("models", old.get("profile_settings", {}).get("pipeline"))
    if old.get("profile") != profile.name or old_models != profile.models:
        return []
    kept = []
    for entry in [*old.get("notebooks", []), *old.get("earlier_notebooks", [])]:
        if entry.get("key") in keys or entry.get("status") != "ok":
            continue
        if any(e.get("key") == entry.get("key") for e in kept):
            continue
        entry = dict(entry)
        entry.setdefault("git_commit", old.get("git_commit"))
        entry.setdefault("started_utc", old.get("started_utc"))
        kept.append(entry)
    return sorted(kept, key=lambda e: str(e.get("key")))


def _check_outputs(spec: NotebookSpec, out_dir: Path) -> list[Path]:
    files = [out_dir / rel for rel in spec.outputs]
    bad = [str(p) for p in files if not p.is_file() or p.stat().st_size == 0]
    if bad:
        raise NotebookExecutionError(
            f"notebook {spec.filename} finished but did not write: {', '.join(bad)}"
        )
    return files


def _execute(
    spec: NotebookSpec,
    source: Path,
    target: Path,
    parameters: dict[str, Any],
    kernel: str,
    timeout: int | None,
) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(
            str(source),
            str(target),
            parameters=parameters,
            kernel_name=kernel,
            cwd=str(source.parent),
            progress_bar=False,
            request_save_on_cell_execute=True,
            execution_timeout=timeout,
        )
    except PapermillExecutionError as exc:
        raise NotebookExecutionError(
            f"notebook {spec.filename} failed in cell {exc.exec_count}: {exc.ename}: "
            f"{exc.evalue} (executed copy with the traceback: {target})"
        ) from None


def reproduce(
    profile: Profile | str = "smoke",
    *,
    only: str | Sequence[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    notebooks: str | os.PathLike[str] | None = None,
    timeout: int | None = None,
    log: Callable[[str], None] = print,
) -> RunRecord:
    """Execute the numbered notebooks for ``profile`` and record provenance.

    Parameters
    ----------
    profile : Profile or str
        A profile or its name (``"smoke"`` / ``"paper"``).
    only : str or sequence of str, optional
        Notebook keys to run (``"02,03"``); default all, in order.
    out_dir : path, optional
        Run folder; default ``figures/runs/<profile>/``.
    notebooks : path, optional
        Folder with the source notebooks; default the repository's ``notebooks/``.
    timeout : int, optional
        Per-cell timeout in seconds (``None``: no limit).
    log : callable
        Receives one line per step.

    Returns
    -------
    RunRecord

    Raises
    ------
    WeightsNotFoundError, BenchmarkError, ConfigError
        Before anything runs, when the profile cannot run.
    NotebookExecutionError
        When a notebook fails or does not write its outputs.
    """
    if isinstance(profile, str):
        profile = get_profile(profile)
    specs = select_notebooks(only)
    source_dir = Path(notebooks) if notebooks is not None else notebooks_dir()
    missing = [s.filename for s in specs if not (source_dir / s.filename).is_file()]
    if missing:
        raise ConfigError(f"notebooks not found in {source_dir}: {', '.join(missing)}")
    check_profile(profile, specs)

    out = Path(out_dir) if out_dir is not None else default_out_dir(profile.name)
    out = out.resolve()
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    parameters = profile.parameters(out)
    record = provenance(profile)
    record["parameters"] = parameters
    record["notebooks"] = []
    earlier = _earlier_entries(out / "provenance.json", {spec.key for spec in specs}, profile)
    if earlier:
        record["earlier_notebooks"] = earlier
    record["status"] = "running"
    prov_path = out / "provenance.json"

    durations: dict[str, float] = {}
    produced: list[Path] = []
    start = time.perf_counter()
    log(f"eventsep reproduce: profile {profile.name}, {len(specs)} notebook(s) -> {out}")
    with kernel_for_interpreter() as kernel:
        for spec in specs:
            target = out / "notebooks" / spec.filename
            log(f"[{spec.key}] {spec.title} ...")
            t0 = time.perf_counter()
            entry: dict[str, Any] = {"key": spec.key, "notebook": spec.filename}
            try:
                _execute(
                    spec,
                    source_dir / spec.filename,
                    target,
                    parameters,
                    kernel,
                    timeout,
                )
                files = _check_outputs(spec, out)
            except BaseException as exc:
                entry.update(status="failed", seconds=round(time.perf_counter() - t0, 2))
                entry["error"] = str(exc) or type(exc).__name__
                record["notebooks"].append(entry)
                record["status"] = "failed"
                record["total_seconds"] = round(time.perf_counter() - start, 2)
                write_json_atomic(prov_path, record, default=str)
                raise
            seconds = time.perf_counter() - t0
            durations[spec.key] = seconds
            produced += [*files, target]
            entry.update(
                status="ok",
                seconds=round(seconds, 2),
                executed_copy=str(target.relative_to(out)),
                outputs=[
                    {"path": str(p.relative_to(out)), "bytes": p.stat().st_size} for p in files
                ],
            )
            record["notebooks"].append(entry)
            record["total_seconds"] = round(time.perf_counter() - start, 2)
            write_json_atomic(prov_path, record, default=str)
            log(f"[{spec.key}] done in {seconds:.1f} s")
    record["status"] = "ok"
    record["total_seconds"] = round(time.perf_counter() - start, 2)
    record["finished_utc"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    write_json_atomic(prov_path, record, default=str)
    log(f"all done in {record['total_seconds']:.1f} s; provenance: {prov_path}")
    return RunRecord(
        out_dir=out,
        durations=durations,
        outputs=tuple(produced),
        provenance_path=prov_path,
    )
