"""Tables 1-3 of the EventSep paper, built from evaluation rows and the experiment registry.

A *run* is the rows of one ``eventsep evaluate`` results folder, keyed by ``(benchmark, config)``
(:func:`load_runs`; ``config`` is an experiment's ``run_name``, :mod:`eventsep.paper.experiments`).
Each table has one row per experiment of :func:`eventsep.paper.experiments.for_table`, in registry
order; each cell is the mean of a metric over a run's rows, skipping undefined values (``null``:
e.g. STOI with fewer than 30 active frames); the ``n`` column gives the number of rows and
``undefined`` lists how many values each mean skipped.

* Table 1: AudioSep / FlowSep / EventSep x VGGSound, MUSIC, ESC-50 x CLAP, CLAP-A, STOI, ESTOI.
* Table 2: VGGSound, AudioSep with a hard or soft SED mask at each threshold, SDRi and SI-SDR.
* Table 3: VGGSound, the fusion rules, CLAP and CLAP-A.

With ``paper=True`` each table gets a ``source`` column and the paper's rows
(:attr:`Experiment.paper <eventsep.paper.experiments.Experiment.paper>`) beside ours; numbers the
paper does not publish are ``nan``. :func:`table_for_benchmarks` puts runs of other benchmarks
(the smoke profile's ``tiny``) into Table 1's column groups.

Both protocols side by side (what notebooks 02-04 show): :func:`comparison` gives, per table row,
benchmark and metric, the paper's number and each protocol's mean (long format, also read by
:mod:`eventsep.paper.reproduction`); :func:`side_by_side` pivots it into one row per experiment with
three sub-columns per metric, ``paper | authors | corrected`` (:func:`sources`);
:func:`flatten` joins the column levels for CSV and Markdown, and :func:`table_notes` gives the
notes printed under each table (what the sources are, the authors protocol's comma-prompt
policy, stand-in benchmarks).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from eventsep.core.errors import ConfigError
from eventsep.evaluation.evaluate import RESULTS_FILE, RUN_FILE, ResultsLog
from eventsep.evaluation.metrics import summarize
from eventsep.paper import authors, experiments

__all__ = [
    "AUTHORS_COMMA_POLICY",
    "BENCHMARKS",
    "METRIC_LABELS",
    "comparison",
    "flatten",
    "load_runs",
    "protocols",
    "side_by_side",
    "sources",
    "stand_ins",
    "table_notes",
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


# ------------------------------------------------------------------ protocols side by side
AUTHORS_COMMA_POLICY = authors.COMMA_PROMPT_POLICY
"""How the authors protocol handles comma prompts; printed under every table and in the report.

The text lives in :data:`eventsep.paper.authors.COMMA_PROMPT_POLICY`, next to the code that applies
it (:func:`eventsep.paper.authors.map_comma_prompt`).
"""


def protocols() -> tuple[str, ...]:
    """Registered protocols in column order: every other protocol first, the default last."""
    return tuple(
        sorted(experiments.PROTOCOLS, key=lambda name: name == experiments.DEFAULT_PROTOCOL)
    )


def sources() -> tuple[str, ...]:
    """Sub-columns of every metric: ``("paper", *protocols())``."""
    return ("paper", *protocols())


def stand_ins(table: str, benchmarks: str | Sequence[str], *, fill: bool = False) -> dict[str, str]:
    """Which measured benchmark stands for each benchmark the paper reports ``table`` on.

    Paper benchmarks stand for themselves (and only those ``table`` is published on count).
    Other benchmarks (the smoke profile's ``tiny``) take the paper's slots in order, as in
    :func:`table_for_benchmarks`.

    Parameters
    ----------
    table : str
        Key of :data:`eventsep.paper.experiments.TABLES`.
    benchmarks : str or sequence of str
        Measured benchmarks, in order.
    fill : bool
        Give every paper benchmark a stand-in when the measured ones are not paper
        benchmarks, repeating them (the reproduction report of a smoke run compares every
        paper number with the one tiny benchmark).

    Returns
    -------
    dict
        ``paper benchmark -> measured benchmark``, in the paper's order; paper benchmarks
        without a stand-in are left out.

    Raises
    ------
    ConfigError
        For no benchmark, or more non-paper benchmarks than the table has slots.
    """
    measured = [benchmarks] if isinstance(benchmarks, str) else list(benchmarks)
    if not measured:
        raise ConfigError("no benchmark given")
    published = experiments.table_spec(table).benchmarks
    if set(measured) <= set(BENCHMARKS):
        return {b: b for b in published if b in measured}
    if len(measured) > len(published):
        raise ConfigError(
            f"at most {len(published)} benchmarks fit {table}, got {len(measured)}: "
            f"{', '.join(measured)}"
        )
    if fill:
        return {b: measured[i % len(measured)] for i, b in enumerate(published)}
    return dict(zip(published, measured))


def comparison(
    table: str,
    runs: Runs,
    benchmarks: str | Sequence[str],
    *,
    fill: bool = False,
) -> pd.DataFrame:
    """The paper's numbers of ``table`` beside each protocol's mean, in long format.

    Parameters
    ----------
    table : str
        ``"table1"``, ``"table2"`` or ``"table3"``.
    runs : dict
        ``(benchmark, run name) -> rows`` (:func:`load_runs`), every protocol's runs together.
    benchmarks : str or sequence of str
        Measured benchmarks (see :func:`stand_ins`).
    fill : bool
        Passed to :func:`stand_ins`.

    Returns
    -------
    pandas.DataFrame
        One row per table row (registry order), paper benchmark and metric, with columns: the
        table's row fields, ``experiment`` (its name), ``benchmark`` (the paper's),
        ``measured_on``, ``metric`` (key), ``paper`` (``nan`` where unpublished), then for each
        protocol ``p`` of :func:`protocols`: ``p`` (mean over its rows, undefined values
        skipped; ``nan`` without rows), ``"p n"`` (rows) and ``"p undefined"`` (values skipped).
    """
    spec = experiments.table_spec(table)
    slots = stand_ins(table, benchmarks, fill=fill)
    names = protocols()
    records = []
    for exp in experiments.for_table(table):
        row = dict(exp.cell(table).row)
        for bench, measured in slots.items():
            for metric in spec.metrics:
                record: dict[str, Any] = {
                    **row,
                    "experiment": exp.name,
                    "benchmark": bench,
                    "measured_on": measured,
                    "metric": metric,
                    "paper": exp.paper_value(bench, metric),
                }
                for protocol in names:
                    rows = runs.get((measured, experiments.get(exp.name, protocol).run_name))
                    summary = summarize(r.get(metric) for r in rows or ())
                    record[protocol] = summary.mean if rows else math.nan
                    record[f"{protocol} n"] = len(rows) if rows else 0
                    record[f"{protocol} undefined"] = summary.skipped if rows else 0
                records.append(record)
    return pd.DataFrame.from_records(records)


def _group_title(bench: str, measured: str) -> str:
    title = BENCHMARKS.get(bench, bench)
    return title if bench == measured else f"{measured} as {title}"


def side_by_side(table: str, runs: Runs, benchmarks: str | Sequence[str]) -> pd.DataFrame:
    """``table`` with three sub-columns per metric: the paper, each protocol (:func:`sources`).

    Parameters
    ----------
    table : str
        ``"table1"``, ``"table2"`` or ``"table3"``.
    runs : dict
        ``(benchmark, run name) -> rows`` of every protocol (:func:`load_runs`).
    benchmarks : str or sequence of str
        Measured benchmarks; a non-paper benchmark takes a paper benchmark's slot
        (:func:`stand_ins`) and its column group says so (``"tiny as VGGSound"``).

    Returns
    -------
    pandas.DataFrame
        Index: the table's row fields, in registry order. Columns: a three-level MultiIndex
        ``(benchmark, metric label, source)`` with every metric's ``paper`` and protocol
        columns, then ``(benchmark, "n", protocol)`` row counts; last ``("undefined", "", "")``
        listing the values each mean skipped (``"<protocol> <benchmark> <metric>:<count>"``).
        :func:`flatten` makes it one level for CSV and Markdown.
    """
    long = comparison(table, runs, benchmarks)
    spec = experiments.table_spec(table)
    fields = list(spec.row_fields)
    names = protocols()
    labels = {key: label for label, key in _metrics(table).items()}
    records: list[dict[tuple[str, str, str], Any]] = []
    index: list[tuple[Any, ...]] = []
    for _, group in long.groupby("experiment", sort=False):
        first = group.iloc[0]
        index.append(tuple(first[f] for f in fields))
        record: dict[tuple[str, str, str], Any] = {}
        undefined = []
        for (bench, measured), cells in group.groupby(["benchmark", "measured_on"], sort=False):
            title = _group_title(bench, measured)
            for _, cell in cells.iterrows():
                label = labels[cell["metric"]]
                for source in ("paper", *names):
                    record[(title, label, source)] = cell[source]
                for protocol in names:
                    if cell[f"{protocol} undefined"]:
                        undefined.append(
                            f"{protocol} {title} {label}:{cell[f'{protocol} undefined']}"
                        )
            for protocol in names:
                record[(title, "n", protocol)] = int(cells.iloc[0][f"{protocol} n"])
        record[("undefined", "", "")] = " ".join(undefined)
        records.append(record)
    columns = pd.MultiIndex.from_tuples(list(records[0]), names=["benchmark", "metric", "source"])
    if len(fields) == 1:
        row_index = pd.Index([i[0] for i in index], name=fields[0])
    else:
        row_index = pd.MultiIndex.from_tuples(index, names=fields)
    return pd.DataFrame.from_records(
        [[r[c] for c in columns] for r in records], index=row_index, columns=columns
    )


def flatten(df: pd.DataFrame) -> pd.DataFrame:
    """One header level: index levels become columns, column levels are joined by spaces.

    ``("VGGSound", "CLAP", "paper")`` becomes ``"VGGSound CLAP paper"``; empty levels are
    dropped (``("undefined", "", "")`` becomes ``"undefined"``).
    """
    out = df.reset_index()
    out.columns = [
        " ".join(str(p) for p in (c if isinstance(c, tuple) else (c,)) if str(p))
        for c in out.columns
    ]
    return out


def table_notes(table: str, benchmarks: str | Sequence[str]) -> list[str]:
    """Notes printed under ``table``: the sources, the comma-prompt policy, stand-ins.

    Parameters
    ----------
    table : str
        Key of :data:`eventsep.paper.experiments.TABLES`.
    benchmarks : str or sequence of str
        Measured benchmarks, as given to :func:`side_by_side`.
    """
    notes = ["Sub-columns: paper = the published number"]
    for name in protocols():
        notes[0] += f"; {name} = {experiments.PROTOCOLS[name].description}"
    notes[0] += "."
    notes.append(AUTHORS_COMMA_POLICY)
    moved = {b: m for b, m in stand_ins(table, benchmarks).items() if b != m}
    if moved:
        notes.append(
            "Stand-in benchmarks: "
            + ", ".join(f"{m} sits in {BENCHMARKS.get(b, b)}'s slot" for b, m in moved.items())
            + "; the paper column keeps that benchmark's published numbers, so the two are "
            "not comparable."
        )
    notes.append(
        "Undefined values (e.g. STOI with fewer than 30 active frames) are skipped "
        "in each mean and counted in the undefined column; n counts the clips."
    )
    return notes
