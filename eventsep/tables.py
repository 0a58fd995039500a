"""Tables 1-3 of the EventSep paper, built from evaluation rows, with the paper's numbers as data.

A *run* is the rows of one ``eventsep evaluate`` results folder, keyed by ``(benchmark, config)``
(:func:`load_runs`). Each table cell is the mean of a metric over a run's rows, skipping
undefined values (``null``: e.g. STOI with fewer than 30 active frames); the ``n`` column gives
the number of rows and ``undefined`` lists how many values each mean skipped.

* Table 1: AudioSep / FlowSep / EventSep x VGGSound, MUSIC, ESC-50 x CLAP, CLAP-A, STOI, ESTOI
  (configs ``audiosep``, ``flowsep``, ``eventsep``).
* Table 2: VGGSound, AudioSep with a hard or soft SED mask, tau 0.55-0.70, SDRi and SI-SDR
  (configs ``audiosep+hard0.55`` ...).
* Table 3: VGGSound, the five fusion rules, CLAP and CLAP-A (configs ``ensemble-rate`` ...).

With ``paper=True`` each table gets a ``source`` column and the paper's rows beside ours.
Paper numbers: Table 1 and Table 3 from the EventSep paper (also in the authors' README); of
Table 2 only the tau = 0.55 rows are published in REFERENCE.md, the other cells are ``nan``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from eventsep.evaluate import RESULTS_FILE, RUN_FILE, ResultsLog
from eventsep.metrics import summarize

__all__ = [
    "BENCHMARKS",
    "FUSION_RULES",
    "MASK_THRESHOLDS",
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "PAPER_TABLE3",
    "SYSTEMS",
    "load_runs",
    "table1",
    "table2",
    "table3",
    "write_tables",
]

Runs = Mapping[tuple[str, str], Sequence[Mapping[str, Any]]]

BENCHMARKS = {"vggsound": "VGGSound", "music": "MUSIC", "esc50": "ESC-50"}
SYSTEMS = {"AudioSep": "audiosep", "FlowSep": "flowsep", "EventSep": "eventsep"}
MASK_THRESHOLDS = (0.55, 0.60, 0.65, 0.70)
FUSION_RULES = {
    "Rate-weighted": "ensemble-rate",
    "Band-split": "ensemble-band",
    "Reverse band-split": "ensemble-reverse-band",
    "Progressive": "ensemble-progressive",
    "Reverse progressive": "ensemble-reverse-progressive",
}
_T1_METRICS = {"CLAP": "clap", "CLAP-A": "clap_a", "STOI": "stoi", "ESTOI": "estoi"}
_T2_METRICS = {"SDRi": "sdri", "SI-SDR": "si_sdr"}
_T3_METRICS = {"CLAP": "clap", "CLAP-A": "clap_a"}

#: Table 1 of the paper: (system, benchmark) -> (CLAP, CLAP-A, STOI, ESTOI).
PAPER_TABLE1: Mapping[tuple[str, str], tuple[float, float, float, float]] = {
    ("AudioSep", "vggsound"): (0.2838, 0.7881, 0.6408, 0.5790),
    ("FlowSep", "vggsound"): (0.3222, 0.7344, 0.4278, 0.3429),
    ("EventSep", "vggsound"): (0.3549, 0.8199, 0.6403, 0.5786),
    ("AudioSep", "music"): (0.3497, 0.8830, 0.6973, 0.6325),
    ("FlowSep", "music"): (0.2083, 0.7108, 0.4534, 0.3615),
    ("EventSep", "music"): (0.3494, 0.8832, 0.6969, 0.6321),
    ("AudioSep", "esc50"): (0.4426, 0.7700, 0.6976, 0.5998),
    ("FlowSep", "esc50"): (0.3545, 0.6332, 0.4569, 0.3290),
    ("EventSep", "esc50"): (0.4433, 0.7705, 0.6977, 0.5999),
}
#: Table 2 of the paper (VGGSound): (mask, tau) -> (SDRi, SI-SDR); only tau 0.55 is known here.
PAPER_TABLE2: Mapping[tuple[str, float], tuple[float, float]] = {
    ("soft", 0.55): (8.901, 8.975),
    ("hard", 0.55): (8.876, 8.847),
}
#: Table 3 of the paper (VGGSound): fusion rule -> (CLAP, CLAP-A).
PAPER_TABLE3: Mapping[str, tuple[float, float]] = {
    "Rate-weighted": (0.3396, 0.7979),
    "Band-split": (0.3396, 0.8009),
    "Reverse band-split": (0.3394, 0.8011),
    "Progressive": (0.3398, 0.7977),
    "Reverse progressive": (0.3387, 0.8009),
}


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


def table1(runs: Runs, *, paper: bool = False) -> pd.DataFrame:
    """Table 1: one row per system, columns ``<benchmark> <metric>`` and ``<benchmark> n``."""
    records = []
    for system, config in SYSTEMS.items():
        parts = [
            _cells(runs.get((bench, config)), _T1_METRICS, f"{title} ")
            for bench, title in BENCHMARKS.items()
        ]
        records.append({"system": system, "source": "ours", **_merge_undefined(parts)})
        if paper:
            row: dict[str, Any] = {"system": system, "source": "paper"}
            for bench, title in BENCHMARKS.items():
                vals = PAPER_TABLE1.get((system, bench), (math.nan,) * 4)
                row.update({f"{title} {m}": v for m, v in zip(_T1_METRICS, vals, strict=True)})
                row[f"{title} n"] = None
            row["undefined"] = ""
            records.append(row)
    return _finish(records, paper)


def table2(runs: Runs, *, benchmark: str = "vggsound", paper: bool = False) -> pd.DataFrame:
    """Table 2: AudioSep without mask, then hard / soft masks at each tau; SDRi and SI-SDR."""
    records = []
    specs: list[tuple[str, float | None, str]] = [("none", None, "audiosep")]
    specs += [(k, t, f"audiosep+{k}{t:.2f}") for k in ("hard", "soft") for t in MASK_THRESHOLDS]
    for mask, tau, config in specs:
        base = {"mask": mask, "threshold": tau}
        cells = _cells(runs.get((benchmark, config)), _T2_METRICS)
        records.append({**base, "source": "ours", **cells})
        if paper:
            vals = PAPER_TABLE2.get((mask, tau), (math.nan, math.nan)) if tau else (math.nan,) * 2
            row = {**base, "source": "paper", **dict(zip(_T2_METRICS, vals, strict=True))}
            records.append({**row, "n": None, "undefined": ""})
    return _finish(records, paper)


def table3(runs: Runs, *, benchmark: str = "vggsound", paper: bool = False) -> pd.DataFrame:
    """Table 3: the five fusion rules; CLAP and CLAP-A."""
    records = []
    for rule, config in FUSION_RULES.items():
        cells = _cells(runs.get((benchmark, config)), _T3_METRICS)
        records.append({"fusion": rule, "source": "ours", **cells})
        if paper:
            vals = PAPER_TABLE3[rule]
            row = {"fusion": rule, "source": "paper", **dict(zip(_T3_METRICS, vals, strict=True))}
            records.append({**row, "n": None, "undefined": ""})
    return _finish(records, paper)


def _finish(records: list[dict[str, Any]], paper: bool) -> pd.DataFrame:
    df = pd.DataFrame.from_records(records)
    undefined = df.pop("undefined")
    df["undefined"] = undefined
    if not paper:
        df = df.drop(columns="source")
    return df


def write_tables(
    runs: Runs, out_dir: str | os.PathLike, *, profile: str, paper: bool = True
) -> list[Path]:
    """Write Tables 1-3 as ``<out_dir>/tables/table{1,2,3}_*.csv`` and ``.md``; return the paths."""
    from eventsep.report import write_table

    specs = [
        (
            "table1_overall",
            table1(runs, paper=paper),
            "Table 1: CLAPScore, CLAPScore-A, STOI, ESTOI",
        ),
        (
            "table2_masks",
            table2(runs, paper=paper),
            "Table 2: SED masks before AudioSep (VGGSound)",
        ),
        ("table3_fusion", table3(runs, paper=paper), "Table 3: fusion rules (VGGSound)"),
    ]
    paths: list[Path] = []
    for name, df, caption in specs:
        paths.extend(write_table(df, out_dir, name, profile=profile, caption=caption))
    return paths
