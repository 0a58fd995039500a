"""Tests of eventsep.paper.reproduction, .findings and .reproduction_report: verdicts, findings,
every paper number, the written report."""

from __future__ import annotations

import html
import json
import math

import pytest

from eventsep.core.errors import ConfigError
from eventsep.paper import experiments, report, tables
from eventsep.paper import findings as F
from eventsep.paper import reproduction as R
from eventsep.paper import reproduction_report as W

# Tables 1-3 publish 3 systems x 3 benchmarks x 4 metrics, 2 mask rows x 2 metrics and
# 5 rules x 2 metrics
N_PAPER_NUMBERS = 36 + 4 + 10


# ------------------------------------------------------------------------------- compare
def test_compare_within_beyond_and_unmeasured() -> None:
    assert R.compare(0.2838, 0.2850, 0.002) == R.Verdict("reproduced", pytest.approx(0.0012))
    verdict = R.compare(0.2838, 0.2800, 0.002)
    assert verdict.status == "differs" and verdict.difference == pytest.approx(-0.0038)
    assert R.compare(8.901, 8.921, 0.02).status == "reproduced"  # the bound is inclusive
    assert R.compare(8.901, 8.922, 0.02).status == "differs"
    unmeasured = R.compare(0.5, math.nan, 0.002)
    assert unmeasured.status == "not measured" and math.isnan(unmeasured.difference)
    with pytest.raises(ConfigError, match="no paper number"):
        R.compare(math.nan, 0.5, 0.002)
    with pytest.raises(ConfigError, match="tolerance"):
        R.compare(0.5, 0.5, -1.0)


def test_every_metric_of_the_tables_has_a_tolerance() -> None:
    metrics = {m for spec in experiments.TABLES.values() for m in spec.metrics}
    assert metrics <= set(R.TOLERANCES)
    assert all(0 < v < 0.1 for v in R.TOLERANCES.values())


# ------------------------------------------------------------------------------ findings
def _keys(table: str, name: str, bench: str, metric: str) -> set[str]:
    return {f.key for f in F.findings_for(table, experiments.get(name), bench, metric)}


def test_findings_select_the_numbers_the_authors_code_cannot_give() -> None:
    # masked VGGSound runs crash on comma prompts; unmasked ones do not map prompts at all
    assert "comma" in _keys("table1", "eventsep", "vggsound", "clap")
    assert "comma" in _keys("table2", "audiosep+soft0.55", "vggsound", "sdri")
    assert "comma" not in _keys("table1", "flowsep", "vggsound", "clap")
    assert "comma" not in _keys("table1", "eventsep", "music", "clap")
    # hard = soft concerns the masked rows of Table 2 only
    assert "hard=soft" in _keys("table2", "audiosep+hard0.55", "vggsound", "si_sdr")
    assert "hard=soft" not in _keys("table2", "audiosep", "vggsound", "si_sdr")
    # the five rules are one band split; the VGGSound AudioSep CLAP cells come from elsewhere
    assert "one-rule" in _keys("table3", "ensemble-progressive", "vggsound", "clap")
    assert "audiosep-pipeline" in _keys("table1", "audiosep", "vggsound", "clap_a")
    assert "audiosep-pipeline" not in _keys("table1", "audiosep", "vggsound", "stoi")
    # caveats do not block
    assert _keys("table1", "flowsep", "music", "stoi") == {"unseeded"}
    assert _keys("table1", "audiosep", "music", "stoi") == set()
    assert not any(f.blocks for f in F.FINDINGS if f.key in {"unseeded", "dev-note"})
    assert len({f.key for f in F.FINDINGS}) == len(F.FINDINGS)
    assert all(f.expect.startswith("Expect") for f in F.FINDINGS)


def test_paper_numbers_are_every_published_cell() -> None:
    numbers = R.paper_numbers()
    assert len(numbers) == N_PAPER_NUMBERS
    table, exp, bench, metric, value = numbers[0]
    first = (table, exp.name, bench, metric, value)
    assert first == ("table1", "audiosep", "vggsound", "clap", 0.2838)
    assert ("table2", "audiosep+soft0.55", "vggsound", "si_sdr", 8.975) in [
        (t, e.name, b, m, v) for t, e, b, m, v in numbers
    ]
    assert all(math.isfinite(v) for *_, v in numbers)


# -------------------------------------------------------------------------------- assess
def _run(bench: str, name: str, protocol: str, values: dict[str, float]) -> dict:
    exp = experiments.get(name, protocol)
    return {(bench, exp.run_name): [{"id": "0", **values}]}


def test_assess_gives_each_paper_number_a_status_from_the_authors_protocol() -> None:
    runs = {
        # within tolerance under the authors protocol; far off under the corrected one
        **_run("music", "audiosep", "authors", {"clap": 0.3507, "stoi": 0.6}),
        **_run("music", "audiosep", "corrected", {"clap": 0.30}),
        # masked VGGSound: measured, but the authors' code cannot have given it
        **_run("vggsound", "audiosep+soft0.55", "authors", {"sdri": 8.901, "si_sdr": 8.975}),
    }
    df = R.assess(runs, ["vggsound", "music", "esc50"])
    assert len(df) == N_PAPER_NUMBERS
    assert set(df.status) <= set(R.STATUSES)
    row = df[(df.experiment == "audiosep") & (df.benchmark == "music")].set_index("metric")
    assert row.loc["clap", "status"] == "reproduced"
    assert row.loc["clap", "authors diff"] == pytest.approx(0.001)
    assert row.loc["clap", "corrected diff"] == pytest.approx(-0.0497)
    assert row.loc["clap", "findings"] == "dev-note"
    assert row.loc["stoi", "status"] == "differs"
    assert row.loc["stoi", "authors diff"] == pytest.approx(0.6 - 0.6973)
    assert row.loc["estoi", "status"] == "not measured"
    soft = df[df.experiment == "audiosep+soft0.55"]
    assert set(soft.status) == {"not reproducible from the authors' code"}
    assert (soft["authors diff"].abs() < 1e-9).all()  # measured values are kept
    counts = R.status_counts(df)
    assert sum(counts.values()) == N_PAPER_NUMBERS and counts["reproduced"] == 1


def test_assess_with_a_stand_in_benchmark_compares_every_number_with_it() -> None:
    runs = _run("tiny", "flowsep", "authors", {"clap": 0.3, "clap_a": 0.7, "stoi": 0.4})
    df = R.assess(runs, ["tiny"])
    assert len(df) == N_PAPER_NUMBERS and set(df.measured_on) == {"tiny"}
    flow = df[(df.experiment == "flowsep") & (df.metric == "clap")]
    assert flow.benchmark.tolist() == ["vggsound", "music", "esc50"]
    assert flow.authors.tolist() == pytest.approx([0.3, 0.3, 0.3])


# ------------------------------------------------------------------------------- writing
def test_smoke_report_is_marked_and_lists_every_number(tmp_path) -> None:
    df = R.assess({}, ["tiny"])
    info = R.run_info(
        profile="smoke",
        models="tiny-random",
        benchmarks=["tiny"],
        seed=0,
        max_clips=2,
        config_overrides={"flowsep_steps": 2},
    )
    assert info["stand-ins"] == "tiny for VGGSound, tiny for MUSIC, tiny for ESC-50"
    md_path, html_path, csv_path = W.write_report(df, tmp_path, profile="smoke", info=info)
    assert md_path.name == "reproduction_report.md" and html_path.suffix == ".html"
    md = md_path.read_text()
    assert md.startswith("# Reproduction report [SMOKE]")
    assert report.SMOKE_NOTE in md.split("## Summary")[0]
    assert tables.AUTHORS_COMMA_POLICY in md and "±0.002 CLAP" in md
    table_rows = [line for line in md.splitlines() if line.startswith("| Table ")]
    assert len(table_rows) == N_PAPER_NUMBERS
    assert all(any(s in line for s in R.STATUSES) for line in table_rows)
    assert "[comma]" in md and "**[comma]**" in md  # the mark and its note
    comma = next(f for f in F.FINDINGS if f.key == "comma")
    assert comma.expect in md and html.escape(comma.expect) in html_path.read_text()
    page = html_path.read_text()
    assert html.escape(report.SMOKE_NOTE) in page and 'class="smoke"' in page
    assert page.count('<td class="') == N_PAPER_NUMBERS
    csv = csv_path.read_text().splitlines()
    assert csv[0].startswith("profile,table,row,") and len(csv) == N_PAPER_NUMBERS + 1


def test_paper_report_is_not_marked_smoke_and_reads_provenance(tmp_path) -> None:
    prov = tmp_path / "provenance.json"
    record = {"git_commit": "abc123", "git_dirty": True, "packages": {"torch": "2"}}
    prov.write_text(json.dumps(record))
    info = R.run_info(
        profile="paper",
        models="paper",
        benchmarks=["vggsound", "music", "esc50"],
        seed=0,
        max_clips=None,
        config_overrides={},
        provenance_path=prov,
    )
    assert info["git commit"] == "abc123 (with uncommitted changes)"
    assert info["clips per benchmark"] == "all" and info["stand-ins"] == ""
    md = W.report_markdown(R.assess({}, ["vggsound"]), profile="paper", info=info)
    assert "SMOKE" not in md and "- git commit: abc123" in md
    assert "- stand-ins" not in md  # empty lines are left out
    with pytest.raises(ConfigError, match="run profile"):
        W.report_markdown(R.assess({}, ["vggsound"]), profile="tiny-random")
