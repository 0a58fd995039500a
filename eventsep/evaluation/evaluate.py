"""Resumable evaluation of a separator over a benchmark: one durable JSON line per clip.

The harness is decoupled from the pipeline: it takes any callable
``separate(waveform, sample_rate, prompt)`` returning either a Tensor (the 32 kHz estimate) or an
object with an ``estimate`` attribute (``EventSepResult``); ``labels`` and ``target_present`` are
recorded when present.

Durability
----------
Rows go to ``<out>/rows.jsonl``. Each row is written with one ``write`` call on an append-only
descriptor, then flushed and ``fsync``-ed before the next clip starts. On start the file is read
back: a torn last line (no newline, or not valid JSON) is cut off, the ids already present are
skipped. Killing the process at any moment therefore loses at most the clip in progress and never
recomputes a finished one. ``<out>/run.json`` records the benchmark, configuration and model set
(``models``; folders written before it was named so hold it as ``profile``, read the same);
resuming with different settings is refused (:class:`~eventsep.core.errors.ConfigError`).

One writer per folder
---------------------
:func:`evaluate` holds an exclusive lock on ``<out>/rows.jsonl.lock`` (``filelock``: ``flock`` on
POSIX, ``LockFileEx`` on Windows) from before it reads ``run.json`` until its last row is written.
A second evaluation of the same folder stops at once with
:class:`~eventsep.core.errors.ResultsLockedError` and writes nothing, so two runs never append the
same clip twice. The lock belongs to the open file, not to the file's existence: the operating
system releases it when the holder exits in any way (SIGKILL included), so a killed run never
blocks the next one, which resumes as above.

Batches and torchrun
--------------------
``batch_size > 1`` separates clips of similar length together (:func:`evaluate_rows`); each row
is still appended once, as its batch finishes, so resuming works the same. Under ``torchrun``
(:func:`eventsep.evaluation.distributed.evaluate_distributed`) every rank appends the rows of its
shard to its own ``rows.rank<k>.jsonl`` (no cross-process locking) and rank 0 folds them into
``rows.jsonl`` at the end (:func:`merge_rows`). Rows of per-rank files count as done for every
later run, single-process ones included, which merge them too.

Row contents
------------
``id, benchmark, config, protocol, models, prompt, labels, target_present`` and the metrics
``sdr, sdri, si_sdr, stoi, estoi, clap, clap_a`` (``null`` when undefined, with ``stoi_reason`` /
``estoi_reason``), ``stoi_frames``, ``length_adjusted`` (the estimate was cut or zero-padded to the
reference length), ``error`` (a typed input error for this clip, else ``null``) and ``timing``
(seconds for ``load``, ``separate``, ``metrics``). Timings are the only fields that differ
between two runs of a deterministic separator.

Metric conventions
------------------
:class:`MetricConventions` says how undefined values are recorded and averaged: by default an
undefined STOI/ESTOI is ``null`` and every mean skips and counts undefined values; the
``authors`` protocol gives its own STOI function, which keeps pystoi's ``1e-5`` placeholder in
the row, and takes plain means (docs/protocols.md). Both report SDR, SDRi and SI-SDR alike:
SDR is an SNR, SDRi is SDR(estimate) - SDR(mixture), SI-SDR is absolute (not an improvement),
none zero-mean.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from eventsep.core.audio import fit_length, load_audio, resample
from eventsep.core.batching import check_batch_size, group_by_length
from eventsep.core.errors import BenchmarkError, ConfigError, EventSepError
from eventsep.core.io import write_json_atomic
from eventsep.evaluation import metrics as M
from eventsep.evaluation.benchmarks import BENCHMARK_SAMPLE_RATE, BenchmarkItem
from eventsep.evaluation.results import (
    LOCK_FILE,
    RANK_FILE,
    RESULTS_FILE,
    RUN_FILE,
    ResultsLog,
    load_rows,
    merge_rows,
    rank_file,
    rank_files,
    rank_rows,
)
from eventsep.models.clap.scorer import ClapScorer

__all__ = [
    "ALL_METRICS",
    "LOCK_FILE",
    "MetricConventions",
    "RANK_FILE",
    "RESULTS_FILE",
    "RUN_FILE",
    "ResultsLog",
    "StoiValue",
    "check_metrics",
    "evaluate",
    "evaluate_rows",
    "load_rows",
    "merge_rows",
    "rank_file",
    "rank_files",
    "rank_rows",
    "summarize_rows",
]

ALL_METRICS = ("sdr", "sdri", "si_sdr", "stoi", "estoi", "clap", "clap_a")
"""Metrics a row can hold (CLAP ones need a :class:`~eventsep.models.clap.scorer.ClapScorer`)."""
_RUN_KEYS = ("benchmark", "config", "protocol", "models", "metrics")
#: Keys of ``run.json`` written by older versions, and their current names.
_OLD_RUN_KEYS = {"profile": "models"}
#: Value of a ``run.json`` key that older folders (and callers) leave out.
_RUN_DEFAULTS = {"protocol": "corrected"}


#: ``stoi(result, estimate, reference, sample_rate, *, extended) -> float``: the (E)STOI value
#: a protocol records for one clip, given this package's
#: :class:`~eventsep.evaluation.metrics.IntelligibilityResult` (``result``), the estimate and the
#: reference (``(samples,)`` each) at ``sample_rate`` Hz; ``extended`` asks for ESTOI.
StoiValue = Callable[..., float]


@dataclass(frozen=True)
class MetricConventions:
    """How a protocol computes, records and averages its metrics.

    Attributes
    ----------
    stoi : callable or None
        ``None`` (corrected): the row holds this package's STOI/ESTOI, ``null`` when undefined
        (fewer than 30 active reference frames, silent reference) with a ``*_reason``. A
        :data:`StoiValue` function (the authors' is :func:`eventsep.paper.authors.pystoi_value`,
        which keeps pystoi's ``1e-5`` placeholder) gives the value recorded instead; the
        reason is still recorded.
    plain_means : bool
        ``False`` (corrected): every mean skips and counts undefined values. ``True`` (authors):
        SDR, SDRi, SI-SDR, CLAP and CLAP-A are plain means, one undefined value makes the mean
        undefined; STOI and ESTOI skip NaN (``nanmean``) but keep ``1e-5``.
    clap : str
        The CLAP protocol (``"corrected"`` or ``"authors"``,
        :data:`eventsep.models.clap.scorer.CLAP_PROTOCOLS`): which CLAP models and input
        handling score CLAP and CLAP-A (``registry.load_clap_scorer(protocol=...)``).
    """

    stoi: StoiValue | None = None
    plain_means: bool = False
    clap: str = "corrected"

    @property
    def stoi_placeholder(self) -> bool:
        """True when a protocol's own STOI function replaces this package's value."""
        return self.stoi is not None

    def stoi_value(
        self,
        result: Any,
        estimate: torch.Tensor,
        reference: torch.Tensor,
        sample_rate: int,
        *,
        extended: bool,
    ) -> float:
        """The (E)STOI recorded for one clip (``result.value`` unless :attr:`stoi` is set)."""
        if self.stoi is None:
            return result.value
        return self.stoi(result, estimate, reference, sample_rate, extended=extended)

    def summarize(self, values: Iterable[Any], metric: str) -> M.MetricSummary:
        """Mean of one metric's row values under these conventions."""
        values = list(values)
        summary = M.summarize(values)
        if self.plain_means and metric not in ("stoi", "estoi") and summary.skipped:
            return M.MetricSummary(math.nan, summary.count, summary.skipped)
        return summary

    def to_dict(self) -> dict[str, bool]:
        """The conventions as JSON data (recorded in ``run.json``; the CLAP protocol is
        recorded as the run's ``protocol``)."""
        return {"stoi_placeholder": self.stoi_placeholder, "plain_means": self.plain_means}


Separator = Callable[[torch.Tensor, int, str], Any]


def _finite(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


def _labels(result: Any) -> list[str] | None:
    labels = getattr(result, "labels", None)
    if labels is None:
        labels = getattr(result, "match", None)
    if labels is None:
        return None
    if hasattr(labels, "labels"):  # a LabelMatch
        labels = labels.labels
    if isinstance(labels, str):
        return [labels]
    out = []
    for lab in labels:
        out.append(str(getattr(lab, "label", lab)))
    return out


def _present(result: Any) -> bool | None:
    value = getattr(result, "target_present", None)
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return bool(value.all())
    return bool(value)


def _check_run(out_dir: Path, run: Mapping[str, Any]) -> None:
    path = out_dir / RUN_FILE
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            old = None
        if isinstance(old, dict):
            for was, now in _OLD_RUN_KEYS.items():
                if now not in old and was in old:
                    old[now] = old.pop(was)
            # the stage choices of the run (recorded since the stages replaced config fields;
            # older folders without them resume)
            keys = _RUN_KEYS + (("stages",) if "stages" in old and "stages" in run else ())
            diff = [
                k
                for k in keys
                if old.get(k, _RUN_DEFAULTS.get(k)) != run.get(k, _RUN_DEFAULTS.get(k))
            ]
            if diff:
                raise ConfigError(
                    f"{out_dir} holds results of another run ({', '.join(diff)} differ: "
                    f"{[old.get(k) for k in diff]} vs {[run.get(k) for k in diff]}); "
                    "use a new --out or the same settings to resume"
                )
            return
    write_json_atomic(path, dict(run))


def evaluate(
    items: Iterable[BenchmarkItem],
    separate: Separator,
    out_dir: str | os.PathLike,
    *,
    run: Mapping[str, Any] | None = None,
    clap: ClapScorer | None = None,
    metrics: Sequence[str] = ALL_METRICS,
    limit: int | None = None,
    progress: bool = True,
    sample_rate: int = BENCHMARK_SAMPLE_RATE,
    batch_size: int = 1,
    conventions: MetricConventions | None = None,
) -> list[dict[str, Any]]:
    """Run ``separate`` over benchmark items, appending one durable row per clip; resumable.

    Parameters
    ----------
    items : iterable of BenchmarkItem
    separate : callable ``(waveform (samples,) float32 Tensor, sample_rate, prompt) -> result``
        ``result`` is a Tensor at ``sample_rate`` or has ``.estimate`` (and optionally
        ``.sample_rate``, ``.labels``, ``.target_present``).
    out_dir : path
        Results folder (``rows.jsonl``, ``run.json``, ``rows.jsonl.lock``); created if missing.
    run : mapping, optional
        Run description (``benchmark``, ``config``, ``protocol``, ``models``, ...) stored in
        ``run.json``; these four are copied into every row (``None`` when absent).
    clap : ClapScorer, optional
        Needed for ``clap`` / ``clap_a``.
    metrics : sequence of str
        Subset of :data:`ALL_METRICS`.
    limit : int, optional
        Evaluate only the first ``limit`` items.
    progress : bool
        Show a tqdm bar with ETA.
    sample_rate : int
        Rate (Hz) audio is read at and metrics computed at.
    batch_size : int
        Clips separated together (see :func:`evaluate_rows`); rows are still written one per
        clip, once, as each batch finishes.
    conventions : MetricConventions, optional
        How undefined values are recorded (default: the corrected protocol's).

    Returns
    -------
    list of dict
        All rows in the results file for the selected items (old and new), in item order.

    Raises
    ------
    ResultsLockedError
        Another evaluation is writing to ``out_dir`` (nothing is read or written then).
    ConfigError
        Unknown metrics, CLAP metrics without ``clap``, or ``out_dir`` holds another run.
    """
    from tqdm.auto import tqdm

    check_metrics(metrics, clap)
    check_batch_size(batch_size)
    out = Path(out_dir)
    info = {k: v for k, v in (run or {}).items()}
    info["metrics"] = list(metrics)
    log = ResultsLog(out / RESULTS_FILE)
    selected = list(items)
    if limit is not None:
        selected = selected[: max(int(limit), 0)]
    with log.lock():
        _check_run(out, info)
        done = {row["id"]: row for row in log.load(repair=True)}
        for row in rank_rows(out):  # left by an interrupted torchrun evaluation
            done.setdefault(row["id"], row)
        todo = [it for it in selected if it.id not in done]
        bar = tqdm(
            total=len(selected),
            initial=len(selected) - len(todo),
            disable=not progress,
            desc=f"evaluate {info.get('benchmark', '')}/{info.get('config', '')}".rstrip("/"),
            unit="clip",
        )
        try:
            for row in evaluate_rows(
                todo,
                separate,
                info,
                clap,
                metrics,
                sample_rate=sample_rate,
                batch_size=batch_size,
                conventions=conventions,
            ):
                log.append(row)
                done[row["id"]] = row
                bar.update(1)
        finally:
            bar.close()
        if rank_files(out):
            merge_rows(out, [it.id for it in selected])
    return [done[it.id] for it in selected if it.id in done]


def check_metrics(metrics: Sequence[str], clap: ClapScorer | None) -> None:
    """Raise :class:`~eventsep.core.errors.ConfigError` for unknown metrics or CLAP without a
    scorer."""
    unknown = set(metrics) - set(ALL_METRICS)
    if unknown:
        raise ConfigError(f"unknown metric(s) {sorted(unknown)}; choose from {ALL_METRICS}")
    if {"clap", "clap_a"} & set(metrics) and clap is None:
        raise ConfigError("CLAP metrics need a ClapScorer (clap=...)")


def clip_length(item: BenchmarkItem) -> int:
    """Frames of ``item``'s mixture file from its header (0 when it cannot be read)."""
    import soundfile as sf

    try:
        return int(sf.info(str(item.mixture_path)).frames)
    except Exception:  # noqa: BLE001 - loading the clip reports the real error
        return 0


def evaluate_rows(
    todo: Sequence[BenchmarkItem],
    separate: Separator,
    info: Mapping[str, Any],
    clap: ClapScorer | None,
    metrics: Sequence[str],
    *,
    sample_rate: int = BENCHMARK_SAMPLE_RATE,
    batch_size: int = 1,
    conventions: MetricConventions | None = None,
) -> Iterator[dict[str, Any]]:
    """Evaluate ``todo`` and yield one finished row per clip, as soon as its batch is done.

    With ``batch_size > 1`` the clips are grouped by length
    (:func:`eventsep.core.batching.group_by_length`, from the file headers; rows come in the order
    of the batches) and a separator with a ``batch(items, sample_rate, on_error="return")``
    method (:meth:`eventsep.method.pipeline.EventSep.batch`) gets each batch in one call; any other
    separator is called clip by clip. ``timing["separate"]`` is then the clip's share of its
    batch's time. ``conventions`` says how undefined values are recorded (default: corrected).
    """
    size = check_batch_size(batch_size)
    if size == 1:
        groups = [[i] for i in range(len(todo))]
    else:
        groups = group_by_length([clip_length(it) for it in todo], size)
    for group in groups:
        batch = [todo[i] for i in group]
        rows, audio = [], []
        for item in batch:
            row = _new_row(item, info, metrics)
            t0 = time.perf_counter()
            audio.append(_load_item(item, sample_rate))
            row["timing"] = {"load": time.perf_counter() - t0}
            rows.append(row)
        t0 = time.perf_counter()
        results = _separate_all(separate, batch, audio, sample_rate, size)
        share = (time.perf_counter() - t0) / len(batch)
        for item, row, (mix, ref), result in zip(batch, rows, audio, results, strict=True):
            row["timing"]["separate"] = share
            if isinstance(result, EventSepError):  # an input the method rejects: not retried
                row["error"] = f"{type(result).__name__}: {result}"
                yield row
                continue
            _score(row, item, result, mix, ref, clap, metrics, sample_rate, conventions)
            yield row


def _separate_all(
    separate: Separator,
    batch: Sequence[BenchmarkItem],
    audio: Sequence[tuple[torch.Tensor, torch.Tensor]],
    sample_rate: int,
    batch_size: int,
) -> list[Any]:
    """Results (or the typed input error) of ``separate`` for each clip of ``batch``."""
    if batch_size > 1 and callable(getattr(separate, "batch", None)):
        pairs = [(mix, item.prompt) for item, (mix, _) in zip(batch, audio, strict=True)]
        return list(separate.batch(pairs, sample_rate, on_error="return"))
    results: list[Any] = []
    for item, (mix, _) in zip(batch, audio, strict=True):
        try:
            results.append(separate(mix, sample_rate, item.prompt))
        except EventSepError as exc:
            results.append(exc)
    return results


def _new_row(
    item: BenchmarkItem, info: Mapping[str, Any], metrics: Sequence[str]
) -> dict[str, Any]:
    return {
        "id": item.id,
        "benchmark": info.get("benchmark"),
        "config": info.get("config"),
        "protocol": info.get("protocol"),
        "models": info.get("models"),
        "prompt": item.prompt,
        "labels": None,
        "target_present": None,
        **{m: None for m in metrics},
        "error": None,
    }


def _load_item(item: BenchmarkItem, sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixture and reference of ``item``, ``(samples,)`` each at ``sample_rate``."""
    try:
        mix, _ = load_audio(item.mixture_path, sample_rate, mono=True)
        ref, _ = load_audio(item.reference_path, sample_rate, mono=True)
    except EventSepError as exc:
        raise BenchmarkError(
            f"cannot read benchmark audio of clip {item.id!r}: {exc}; rebuild or re-download "
            "the benchmark (eventsep build-benchmark ...)"
        ) from exc
    mix, ref = mix[0], ref[0]
    if mix.shape != ref.shape:
        raise BenchmarkError(
            f"clip {item.id!r}: mixture and reference lengths differ ({mix.shape[-1]} vs "
            f"{ref.shape[-1]} samples); the benchmark is damaged, rebuild it"
        )
    return mix, ref


def _score(
    row: dict[str, Any],
    item: BenchmarkItem,
    result: Any,
    mix: torch.Tensor,
    ref: torch.Tensor,
    clap: ClapScorer | None,
    metrics: Sequence[str],
    sample_rate: int,
    conventions: MetricConventions | None = None,
) -> None:
    """Fill ``row`` with the labels and metrics of ``result`` (a Tensor or an EventSepResult)."""
    timing = row["timing"]
    est = result if isinstance(result, torch.Tensor) else result.estimate
    est = torch.as_tensor(est).detach().float().cpu().reshape(-1)
    est_sr = int(getattr(result, "sample_rate", sample_rate) or sample_rate)
    if est_sr != sample_rate:
        est = resample(est, est_sr, sample_rate)
    n = ref.shape[-1]
    row["length_adjusted"] = est.shape[-1] != n
    est = fit_length(est, n)
    if not isinstance(result, torch.Tensor):
        row["labels"] = _labels(result)
        row["target_present"] = _present(result)

    t0 = time.perf_counter()
    if "sdr" in metrics:
        row["sdr"] = _finite(M.sdr(est, ref))
    if "sdri" in metrics:
        row["sdri"] = _finite(M.sdri(est, ref, mix))
    if "si_sdr" in metrics:
        row["si_sdr"] = _finite(M.si_sdr(est, ref))
    for name, fn in (("stoi", M.stoi), ("estoi", M.estoi)):
        if name in metrics:
            res = fn(est, ref, sample_rate)
            conv = conventions or MetricConventions()
            value = conv.stoi_value(res, est, ref, sample_rate, extended=name == "estoi")
            row[name] = _finite(value)
            row[f"{name}_reason"] = res.reason
            row["stoi_frames"] = res.active_frames
    if clap is not None and {"clap", "clap_a"} <= set(metrics):
        clap_t, clap_a = clap.scores(est, ref, item.prompt, sample_rate)
        row["clap"], row["clap_a"] = _finite(clap_t), _finite(clap_a)
    elif clap is not None and "clap" in metrics:
        row["clap"] = _finite(clap.score(est, item.prompt, sample_rate))
    elif clap is not None and "clap_a" in metrics:
        row["clap_a"] = _finite(clap.score_a(est, ref, sample_rate))
    timing["metrics"] = time.perf_counter() - t0


def summarize_rows(
    rows: Iterable[Mapping[str, Any]],
    metrics: Sequence[str] = ALL_METRICS,
    conventions: MetricConventions | None = None,
) -> dict[str, M.MetricSummary]:
    """Mean of each metric over rows, skipping and counting undefined values (``null``).

    With ``conventions`` (a protocol's :class:`MetricConventions`) its averaging rule applies.
    """
    rows = list(rows)
    conv = conventions or MetricConventions()
    return {m: conv.summarize((r.get(m) for r in rows), m) for m in metrics}
