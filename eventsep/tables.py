"""Tables 1-3 of the EventSep paper, built from evaluation rows and the experiment registry.

A *run* is the rows of one ``eventsep evaluate`` results folder, keyed by ``(benchmark, config)``
(:func:`load_runs`; ``config`` is an experiment's ``run_name``, :mod:`eventsep.experiments`).
Each table has one row per experiment of :func:`eventsep.experiments.for_table`, in registry
order; each cell is the mean of a metric over a run's rows, skipping undefined values (``null``:
e.g. STOI with fewer than 30 active frames); the ``n`` column gives the number of rows and
``undefined`` lists how many values each mean skipped.

* Table 1: AudioSep / FlowSep / EventSep x VGGSound, MUSIC, ESC-50 x CLAP, CLAP-A, STOI, ESTOI.
* Table 2: VGGSound, AudioSep with a hard or soft SED mask at each threshold, SDRi and SI-SDR.
* Table 3: VGGSound, the fusion rules, CLAP and CLAP-A.

With ``paper=True`` each table gets a ``source`` column and the paper's rows
(:attr:`Experiment.paper <eventsep.experiments.Experiment.paper>`) beside ours; numbers the
paper does not publish are ``nan``. :func:`table_for_benchmarks` puts runs of other benchmarks
(the smoke profile's ``tiny``) into Table 1's column groups.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from eventsep import experiments
from eventsep.errors import ConfigError
from eventsep.evaluate import RESULTS_FILE, RUN_FILE, ResultsLog
from eventsep.metrics import summarize

__all__ = [
    "BENCHMARKS",
    "METRIC_LABELS",
    "load_runs",
    "table1",
    "table2",
    "table3",
    "table_for_benchmarks",
]

Runs = Mapping[tuple[str, str], Sequence[Mapping[str, Any]]]

BENCHMARKS = {"vggsound": "VGGSound", "music": "MUSIC", "esc50": "ESC-50"}
"""Display names of the paper's benchmarks, in Table 1's column order."""
METRIC_LABELS = {
    "sdr": "SDR",
    "sdri": "SDRi",
    "si_sdr": "SI-SDR",
    "stoi": "STOI",
    "estoi": "ESTOI",
    "clap": "CLAP",
    "clap_a": "CLAP-A",
}
"""Column names of the metrics."""


def _metrics(table: str) -> dict[str, str]:
    """``column label -> metric key`` of ``table``."""
    return {METRIC_LABELS[m]: m for m in experiments.table_spec(table).metrics}


def load_runs(root: str | os.PathLike) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Read every results folder under ``root`` (``*/run.json`` + ``rows.jsonl``, or ``root``).

    Returns
    -------
    dict
        ``(benchmark, config) -> rows``; folders of the same pair are merged by clip id.
    """
    base = Path(root)
    folders = [base] if (base / RUN_FILE).is_file() else sorted(base.glob(f"**/{RUN_FILE}"))
    runs: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for item in folders:
        folder = item if item.is_dir() else item.parent
        info = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
        rows = ResultsLog(folder / RESULTS_FILE).load(repair=False)
        key = (str(info.get("benchmark")), str(info.get("config")))
        merged = runs.setdefault(key, {})
        for row in rows:
            merged.setdefault(row["id"], row)
    return {k: list(v.values()) for k, v in runs.items()}


def _cells(
    rows: Sequence[Mapping[str, Any]] | None, metrics: Mapping[str, str], prefix: str = ""
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    skipped = []
    for label, key in metrics.items():
        if not rows:
            out[prefix + label] = math.nan
            continue
        s = summarize(r.get(key) for r in rows)
        out[prefix + label] = s.mean
        if s.skipped:
            skipped.append(f"{prefix}{label}:{s.skipped}")
    out[prefix + "n"] = len(rows) if rows else 0
    out.setdefault("undefined", "")
    if skipped:
        out["undefined"] = " ".join(skipped)
    return out


def _merge_undefined(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    undefined = []
    for p in parts:
        if p.get("undefined"):
            undefined.append(p["undefined"])
        row.update({k: v for k, v in p.items() if k != "undefined"})
    row["undefined"] = " ".join(undefined)
    return row


def table1(
    runs: Runs, *, paper: bool = False, protocol: str = experiments.DEFAULT_PROTOCOL
) -> pd.DataFrame:
    """Table 1: one row per system, columns ``<benchmark> <metric>`` and ``<benchmark> n``."""
    metrics = _metrics("table1")
    benchmarks = {b: BENCHMARKS[b] for b in experiments.table_spec("table1").benchmarks}
    records = []
    for exp in experiments.for_table("table1", protocol):
        key = dict(exp.cell("table1").row)
        parts = [
            _cells(runs.get((bench, exp.run_name)), metrics, f"{title} ")
            for bench, title in benchmarks.items()
        ]
        records.append({**key, "source": "ours", **_merge_undefined(parts)})
        if paper:
            row: dict[str, Any] = {**key, "source": "paper"}
            for bench, title in benchmarks.items():
                row.update({f"{title} {m}": exp.paper_value(bench, k) for m, k in metrics.items()})
                row[f"{title} n"] = None
            row["undefined"] = ""
            records.append(row)
    return _finish(records, paper)


def _single_benchmark_table(
    table: str, runs: Runs, benchmark: str, paper: bool, protocol: str
) -> pd.DataFrame:
    """One row per experiment of ``table`` on ``benchmark``; paper rows from its benchmark."""
    metrics = _metrics(table)
    published = experiments.table_spec(table).benchmarks[0]
    records = []
    for exp in experiments.for_table(table, protocol):
        key = dict(exp.cell(table).row)
        cells = _cells(runs.get((benchmark, exp.run_name)), metrics)
        records.append({**key, "source": "ours", **cells})
        if paper:
            values = {m: exp.paper_value(published, k) for m, k in metrics.items()}
            records.append({**key, "source": "paper", **values, "n": None, "undefined": ""})
    return _finish(records, paper)


def table2(
    runs: Runs,
    *,
    benchmark: str = "vggsound",
    paper: bool = False,
    protocol: str = experiments.DEFAULT_PROTOCOL,
) -> pd.DataFrame:
    """Table 2: AudioSep without mask, then each mask kind at each tau; SDRi and SI-SDR."""
    return _single_benchmark_table("table2", runs, benchmark, paper, protocol)


def table3(
    runs: Runs,
    *,
    benchmark: str = "vggsound",
    paper: bool = False,
    protocol: str = experiments.DEFAULT_PROTOCOL,
) -> pd.DataFrame:
    """Table 3: the fusion rules; CLAP and CLAP-A."""
    return _single_benchmark_table("table3", runs, benchmark, paper, protocol)


def _finish(records: list[dict[str, Any]], paper: bool) -> pd.DataFrame:
    df = pd.DataFrame.from_records(records)
    undefined = df.pop("undefined")
    df["undefined"] = undefined
    if not paper:
        df = df.drop(columns="source")
    return df


def table_for_benchmarks(
    builder: Callable[..., pd.DataFrame],
    runs: Runs,
    benchmarks: Sequence[str],
    *,
    paper: bool = False,
) -> pd.DataFrame:
    """Build a multi-benchmark table (:func:`table1`) for any benchmarks.

    :func:`table1` has one column group per paper benchmark (VGGSound, MUSIC, ESC-50). For other
    benchmarks (the smoke profile's ``tiny``) their runs are put in the paper benchmarks' slots,
    the column groups are renamed to the benchmarks' own names, unused groups are dropped, and
    the paper's rows are left out (they would sit under the wrong heading).

    Parameters
    ----------
    builder : callable ``(runs, paper=...) -> DataFrame``
    runs : dict
        ``(benchmark, config) -> rows`` (:func:`load_runs`).
    benchmarks : sequence of str
        Benchmarks to show, in order (at most as many as the paper has).
    paper : bool
        Add the paper's rows (only when ``benchmarks`` are all paper benchmarks).

    Raises
    ------
    ConfigError
        For more benchmarks than the table has column groups.
    """
    slots = list(BENCHMARKS)
    if set(benchmarks) <= set(slots):
        return builder(runs, paper=paper)
    if len(benchmarks) > len(slots):
        raise ConfigError(f"at most {len(slots)} benchmarks fit the table, got {len(benchmarks)}")
    moved = {
        (slots[benchmarks.index(bench)], config): rows
        for (bench, config), rows in runs.items()
        if bench in benchmarks
    }
    table = builder(moved, paper=False)
    rename: dict[str, str] = {}
    drop: list[str] = []
    for i, slot in enumerate(slots):
        title = BENCHMARKS[slot]
        for column in table.columns:
            if str(column).startswith(title + " "):
                if i < len(benchmarks):
                    rename[column] = benchmarks[i] + str(column)[len(title) :]
                else:
                    drop.append(column)
    return table.drop(columns=drop).rename(columns=rename)
