"""The reproduction report written out: Markdown, a self-contained HTML page and the CSV rows.

:func:`write_report` renders the frame of :func:`eventsep.paper.reproduction.assess` as
``reproduction_report.md`` and ``reproduction_report.html`` in the run folder and saves the rows
as ``tables/reproduction.csv``; :func:`report_markdown` and :func:`report_html` return the texts.
A smoke run's report opens with :data:`SMOKE_BANNER`.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from eventsep.core.io import write_text_atomic
from eventsep.paper import experiments, report, tables
from eventsep.paper.findings import FINDINGS, Finding
from eventsep.paper.reproduction import (
    DIFFERS,
    NOT_FROM_CODE,
    NOT_MEASURED,
    REFERENCE_PROTOCOL,
    REPORT_NAME,
    REPRODUCED,
    TOLERANCE_REASON,
    TOLERANCES,
    status_counts,
)

__all__ = ["SMOKE_BANNER", "report_html", "report_markdown", "write_report"]

SMOKE_BANNER = (
    f"{report.SMOKE_NOTE}. This report was made by the smoke profile: tiny random models on the "
    "tiny benchmark built from the bundled examples, standing in for every paper benchmark. "
    "Every measured number and every status below is meaningless; the report only shows that "
    "both protocols run end to end and that every paper number is accounted for."
)
"""First paragraph of a smoke run's report (contains :data:`eventsep.paper.report.SMOKE_NOTE`)."""


# -------------------------------------------------------------------------------- writing
_TABLE_TITLES = {
    "table1": "Table 1",
    "table2": "Table 2",
    "table3": "Table 3",
}


def _fmt(value: Any, digits: int, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return str(value)


def _digits(metric: str) -> int:
    return 3 if metric in ("sdri", "si_sdr") else 4


def _rows(assessed: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and formatted cells of the report's main table."""
    names = tables.protocols()
    header = ["table", "row", "benchmark", "metric", "paper"]
    for p in names:
        header += [p, f"Δ {p}"]
    header += ["tolerance", "status", "notes"]
    body = []
    for _, r in assessed.iterrows():
        d = _digits(r["metric"])
        bench = tables.BENCHMARKS.get(r["benchmark"], r["benchmark"])
        if r["measured_on"] != r["benchmark"]:
            bench += f" ({r['measured_on']})"
        cells = [
            _TABLE_TITLES.get(r["table"], r["table"]),
            r["row"],
            bench,
            tables.METRIC_LABELS.get(r["metric"], r["metric"]),
            _fmt(r["paper"], d),
        ]
        for p in names:
            cells += [_fmt(r[p], d), _fmt(r[f"{p} diff"], d, signed=True)]
        marks = " ".join(f"[{k}]" for k in str(r["findings"]).split())
        cells += [f"±{_fmt(r['tolerance'], d)}", r["status"], marks]
        body.append(cells)
    return header, body


def _info_lines(info: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in info.items() if v not in (None, "", [], {})]


def _intro(profile: str) -> list[str]:
    names = tables.protocols()
    lines = [
        "Every number the paper publishes in Tables 1-3, with the value each evaluation "
        "protocol measured. "
        + "; ".join(f"{p}: {experiments.PROTOCOLS[p].description}" for p in names)
        + ".",
        f"The status compares the {REFERENCE_PROTOCOL} protocol's value with the paper's: "
        f"'{REPRODUCED}' within the tolerance shown, '{DIFFERS}' beyond it (Δ = measured − "
        f"paper), '{NOT_FROM_CODE}' where the authors' benchmark code cannot have computed the "
        f"number (reason in the notes), '{NOT_MEASURED}' where no run holds it.",
        "Tolerances: "
        + ", ".join(f"±{v:g} {tables.METRIC_LABELS.get(k, k)}" for k, v in TOLERANCES.items())
        + f" ({TOLERANCE_REASON}).",
        tables.AUTHORS_COMMA_POLICY,
    ]
    if report.is_smoke(profile):
        lines.insert(0, SMOKE_BANNER)
    return lines


def _used_findings(assessed: pd.DataFrame, findings: Sequence[Finding]) -> list[Finding]:
    used = {k for keys in assessed["findings"] for k in str(keys).split()}
    return [f for f in findings if f.key in used]


def report_markdown(
    assessed: pd.DataFrame,
    *,
    profile: str,
    info: Mapping[str, Any] | None = None,
    findings: Sequence[Finding] = FINDINGS,
) -> str:
    """The report as Markdown.

    Parameters
    ----------
    assessed : pandas.DataFrame
        Output of :func:`assess`.
    profile : str
        Run profile (``"smoke"`` marks the report as a smoke run at the top).
    info : mapping, optional
        Provenance lines (models, benchmarks, seed, git commit, ...), printed as a list.
    findings : sequence of Finding
        Where the notes' texts come from.
    """
    smoke = report.is_smoke(profile)
    title = "# Reproduction report" + (" [SMOKE]" if smoke else "")
    lines = [title, ""]
    intro = _intro(profile)
    if smoke:
        lines += [f"> **{intro.pop(0)}**", ""]
    for paragraph in intro:
        lines += [paragraph, ""]
    lines += ["## Summary", ""]
    for status, count in status_counts(assessed).items():
        lines.append(f"- {status}: {count} of {len(assessed)}")
    lines.append("")
    if info:
        lines += ["## Run", ""]
        lines += [f"- {k}: {v}" for k, v in _info_lines(info)]
        lines.append("")
    header, body = _rows(assessed)
    lines += ["## Every paper number", ""]
    lines.append("| " + " | ".join(header) + " |")
    numeric = range(4, len(header) - 2)  # paper .. tolerance; status and notes are text
    lines.append(
        "| " + " | ".join("---:" if i in numeric else ":---" for i in range(len(header))) + " |"
    )
    for cells in body:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines.append("")
    used = _used_findings(assessed, findings)
    if used:
        lines += ["## Notes, and what to expect with the real weights and data", ""]
        for f in used:
            kind = "cannot come from the authors' code" if f.blocks else "caveat"
            lines.append(f"- **[{f.key}]** ({kind}) {f.text} {f.expect}")
        lines.append("")
    return "\n".join(lines)


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 90rem; margin: 2rem auto; padding: 0 1rem; }
.smoke { background: #fde2e1; color: #8a1c1c; padding: .6rem 1rem; border-radius: .3rem;
         font-weight: bold; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .5rem; text-align: right; }
th:nth-child(-n+4), td:nth-child(-n+4), td:nth-last-child(-n+2) { text-align: left; }
td.reproduced { background: #e3f4e1; }
td.differs { background: #fff1d6; }
td.not-reproducible { background: #eee; }
td.not-measured { color: #888; }
"""


_STATUS_CSS = {
    REPRODUCED: "reproduced",
    DIFFERS: "differs",
    NOT_FROM_CODE: "not-reproducible",
    NOT_MEASURED: "not-measured",
}


def report_html(
    assessed: pd.DataFrame,
    *,
    profile: str,
    info: Mapping[str, Any] | None = None,
    findings: Sequence[Finding] = FINDINGS,
) -> str:
    """The report as a self-contained HTML page (same content as :func:`report_markdown`)."""
    esc = html.escape
    smoke = report.is_smoke(profile)
    title = "Reproduction report" + (" [SMOKE]" if smoke else "")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    intro = _intro(profile)
    if smoke:
        parts.append(f'<p class="smoke">{esc(intro.pop(0))}</p>')
    parts += [f"<p>{esc(p)}</p>" for p in intro]
    parts.append("<h2>Summary</h2><ul>")
    parts += [
        f"<li>{esc(s)}: {n} of {len(assessed)}</li>" for s, n in status_counts(assessed).items()
    ]
    parts.append("</ul>")
    if info:
        parts.append("<h2>Run</h2><ul>")
        parts += [f"<li>{esc(k)}: {esc(v)}</li>" for k, v in _info_lines(info)]
        parts.append("</ul>")
    header, body = _rows(assessed)
    status_col = header.index("status")
    parts.append("<h2>Every paper number</h2><table><thead><tr>")
    parts += [f"<th>{esc(h)}</th>" for h in header]
    parts.append("</tr></thead><tbody>")
    for cells in body:
        parts.append("<tr>")
        for i, cell in enumerate(cells):
            css = f' class="{_STATUS_CSS[cell]}"' if i == status_col else ""
            parts.append(f"<td{css}>{esc(cell)}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    used = _used_findings(assessed, findings)
    if used:
        parts.append("<h2>Notes, and what to expect with the real weights and data</h2><ul>")
        for f in used:
            kind = "cannot come from the authors' code" if f.blocks else "caveat"
            parts.append(
                f"<li><b>[{esc(f.key)}]</b> ({esc(kind)}) {esc(f.text)} {esc(f.expect)}</li>"
            )
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    assessed: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    *,
    profile: str,
    info: Mapping[str, Any] | None = None,
    findings: Sequence[Finding] = FINDINGS,
) -> tuple[Path, Path, Path]:
    """Write ``reproduction_report.md``, ``.html`` and ``tables/reproduction.csv``.

    Parameters
    ----------
    assessed : pandas.DataFrame
        Output of :func:`assess`.
    out_dir : path
        The run folder.
    profile : str
        Run profile; also the CSV's first column.
    info : mapping, optional
        Provenance lines for the report.
    findings : sequence of Finding
        Where the notes come from.

    Returns
    -------
    (Path, Path, Path)
        The Markdown, HTML and CSV paths.
    """
    out = Path(out_dir)
    md = write_text_atomic(
        out / f"{REPORT_NAME}.md",
        report_markdown(assessed, profile=profile, info=info, findings=findings),
    )
    page = write_text_atomic(
        out / f"{REPORT_NAME}.html",
        report_html(assessed, profile=profile, info=info, findings=findings),
    )
    table = assessed.copy()
    table.insert(0, "profile", profile)
    csv = write_text_atomic(out / "tables" / "reproduction.csv", table.to_csv(index=False))
    return md, page, csv
