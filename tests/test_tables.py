"""Tests of eventsep.tables: means skip undefined values, paper numbers sit beside ours."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from eventsep import tables
from eventsep.evaluate import ResultsLog


def _rows(values: dict[str, list[float | None]]) -> list[dict]:
    n = len(next(iter(values.values())))
    return [{"id": str(i), **{k: v[i] for k, v in values.items()}} for i in range(n)]


def test_table1_means_skip_undefined_and_add_paper_rows() -> None:
    runs = {
        ("vggsound", "eventsep"): _rows(
            {"clap": [0.3, 0.5], "clap_a": [0.8, 0.9], "stoi": [0.6, None], "estoi": [0.5, 0.7]}
        )
    }
    df = tables.table1(runs, paper=True)
    ours = df[(df.system == "EventSep") & (df.source == "ours")].iloc[0]
    assert ours["VGGSound CLAP"] == pytest.approx(0.4)
    assert ours["VGGSound STOI"] == pytest.approx(0.6)  # the undefined row is skipped
    assert ours["VGGSound n"] == 2
    assert "VGGSound STOI:1" in ours["undefined"]
    assert math.isnan(ours["MUSIC CLAP"])
    paper = df[(df.system == "EventSep") & (df.source == "paper")].iloc[0]
    assert paper["VGGSound CLAP"] == pytest.approx(0.3549)
    assert paper["ESC-50 ESTOI"] == pytest.approx(0.5999)
    assert len(df) == 6
    assert "source" not in tables.table1(runs).columns


def test_table2_and_table3_configs_and_paper_numbers() -> None:
    runs = {
        ("vggsound", "audiosep+soft0.55"): _rows({"sdri": [8.0, 10.0], "si_sdr": [7.0, 9.0]}),
        ("vggsound", "ensemble-band"): _rows({"clap": [0.25, 0.35], "clap_a": [0.7, 0.9]}),
    }
    t2 = tables.table2(runs, paper=True)
    soft = t2[(t2["mask"] == "soft") & (t2.threshold == 0.55)]
    assert soft[soft.source == "ours"].iloc[0]["SDRi"] == pytest.approx(9.0)
    assert soft[soft.source == "paper"].iloc[0]["SI-SDR"] == pytest.approx(8.975)
    assert len(t2) == 18  # (none + 2 masks x 4 taus) x (ours, paper)
    t3 = tables.table3(runs, paper=True)
    band = t3[t3.fusion == "Band-split"]
    assert band[band.source == "ours"].iloc[0]["CLAP-A"] == pytest.approx(0.8)
    assert band[band.source == "paper"].iloc[0]["CLAP-A"] == pytest.approx(0.8009)


def test_load_runs_and_write_tables(tmp_path: Path) -> None:
    folder = tmp_path / "results" / "a"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"benchmark": "music", "config": "flowsep"}))
    log = ResultsLog(folder / "rows.jsonl")
    for row in _rows({"clap": [0.1, 0.3], "clap_a": [0.5, 0.5], "stoi": [0.4, 0.4]}):
        log.append(row)
    runs = tables.load_runs(tmp_path / "results")
    assert list(runs) == [("music", "flowsep")] and len(runs[("music", "flowsep")]) == 2
    paths = tables.write_tables(runs, tmp_path / "out", profile="smoke")
    assert sorted(p.name for p in paths) == sorted(
        f"{n}.{e}"
        for n in ("table1_overall", "table2_masks", "table3_fusion")
        for e in ("csv", "md")
    )
    md = (tmp_path / "out" / "tables" / "table1_overall.md").read_text()
    assert "0.2000" in md and "0.3222" in md  # ours (MUSIC FlowSep CLAP) and the paper's
