"""Tests of eventsep.paper.tables: means skip undefined values, paper numbers sit beside ours."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from eventsep.core.errors import ConfigError
from eventsep.evaluation.evaluate import ResultsLog
from eventsep.paper import experiments, report, tables


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


def test_load_runs_then_a_written_table_holds_ours_and_the_papers(tmp_path: Path) -> None:
    folder = tmp_path / "results" / "a"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"benchmark": "music", "config": "flowsep"}))
    log = ResultsLog(folder / "rows.jsonl")
    for row in _rows({"clap": [0.1, 0.3], "clap_a": [0.5, 0.5], "stoi": [0.4, 0.4]}):
        log.append(row)
    runs = tables.load_runs(tmp_path / "results")
    assert list(runs) == [("music", "flowsep")] and len(runs[("music", "flowsep")]) == 2
    table = tables.table1(runs, paper=True)
    _, md_path = report.write_table(table, tmp_path, "t1", profile="smoke", caption="T1")
    md = md_path.read_text()
    assert "0.2000" in md and "0.3222" in md  # ours (MUSIC FlowSep CLAP) and the paper's


def _keys(df, columns: list[str]) -> list[tuple]:
    """Row-identifying values of ``df``, NaN read back as ``None``."""
    nan_to_none = lambda v: None if isinstance(v, float) and math.isnan(v) else v  # noqa: E731
    return [tuple(nan_to_none(v) for v in r) for r in df[columns].itertuples(index=False)]


def test_rows_follow_the_registry_in_order_with_each_experiments_run() -> None:
    for table, builder, row_fields in (
        ("table1", tables.table1, ["system"]),
        ("table2", tables.table2, ["mask", "threshold"]),
        ("table3", tables.table3, ["fusion"]),
    ):
        entries = experiments.for_table(table)
        # a distinct value per experiment, in every metric its table shows, on every benchmark
        runs = {
            (bench, exp.run_name): _rows({m: [float(i)] for m in experiments.TABLES[table].metrics})
            for i, exp in enumerate(entries)
            for bench in experiments.TABLES[table].benchmarks
        }
        df = builder(runs)
        assert _keys(df, row_fields) == [tuple(e.cell(table).row.values()) for e in entries]
        first_metric = next(c for c in df.columns if c not in row_fields)
        assert df[first_metric].tolist() == [float(i) for i in range(len(entries))]
        counts = [c for c in df.columns if c == "n" or str(c).endswith(" n")]
        assert len(counts) == len(experiments.TABLES[table].benchmarks)
        assert (df[counts] == 1).all().all()


def test_table_for_benchmarks_renames_groups_of_other_benchmarks() -> None:
    runs = {
        ("tiny", "eventsep"): _rows(
            {"clap": [0.5], "clap_a": [0.6], "stoi": [0.7], "estoi": [0.8]}
        ),
        ("vggsound", "eventsep"): _rows({"clap": [0.9]}),  # not shown: not asked for
    }
    df = tables.table_for_benchmarks(tables.table1, runs, ["tiny"], paper=True)
    assert list(df.columns) == [
        "system",
        "tiny CLAP",
        "tiny CLAP-A",
        "tiny STOI",
        "tiny ESTOI",
        "tiny n",
        "undefined",
    ]
    assert df.set_index("system").loc["EventSep", "tiny CLAP"] == pytest.approx(0.5)
    same = tables.table_for_benchmarks(tables.table1, runs, ["vggsound"], paper=False)
    assert same.equals(tables.table1(runs))
    with pytest.raises(ConfigError, match="at most 3"):
        tables.table_for_benchmarks(tables.table1, runs, ["a", "b", "c", "d"])


# ------------------------------------------------------------------ protocols side by side
def test_protocols_put_the_default_last_and_sources_start_with_the_paper() -> None:
    assert tables.protocols()[-1] == experiments.DEFAULT_PROTOCOL
    assert set(tables.protocols()) == set(experiments.PROTOCOLS)
    assert tables.sources() == ("paper", *tables.protocols())
    assert tables.sources() == ("paper", "authors", "corrected")


def test_stand_ins_map_paper_slots_to_measured_benchmarks() -> None:
    assert tables.stand_ins("table1", ["vggsound", "esc50"]) == {
        "vggsound": "vggsound",
        "esc50": "esc50",
    }
    assert tables.stand_ins("table1", ["tiny"]) == {"vggsound": "tiny"}
    assert tables.stand_ins("table1", "tiny", fill=True) == {
        "vggsound": "tiny",
        "music": "tiny",
        "esc50": "tiny",
    }
    # a paper benchmark never stands in for another; Tables 2 and 3 take only VGGSound
    assert tables.stand_ins("table1", ["vggsound"], fill=True) == {"vggsound": "vggsound"}
    assert tables.stand_ins("table2", ["music", "vggsound"]) == {"vggsound": "vggsound"}
    assert tables.stand_ins("table2", ["music"]) == {}
    assert tables.stand_ins("table2", "tiny") == {"vggsound": "tiny"}
    with pytest.raises(ConfigError, match="at most 1"):
        tables.stand_ins("table3", ["a", "b"])
    with pytest.raises(ConfigError, match="no benchmark"):
        tables.stand_ins("table1", [])


def _both(table: str, bench: str, values: dict[str, dict[str, list]]) -> dict:
    """Runs of ``experiment -> protocol -> metric values`` for every metric of ``table``."""
    runs = {}
    for name, by_protocol in values.items():
        for protocol, vals in by_protocol.items():
            exp = experiments.get(name, protocol)
            runs[(bench, exp.run_name)] = _rows(
                {m: vals for m in experiments.TABLES[table].metrics}
            )
    return runs


def test_comparison_puts_the_paper_beside_each_protocol() -> None:
    runs = _both(
        "table3",
        "vggsound",
        {"ensemble-band": {"authors": [0.3, None], "corrected": [0.2, 0.4]}},
    )
    df = tables.comparison("table3", runs, "vggsound")
    assert len(df) == 5 * 2  # five rules x (CLAP, CLAP-A)
    band = df[(df.experiment == "ensemble-band") & (df.metric == "clap_a")].iloc[0]
    assert band["fusion"] == "Band-split" and band["benchmark"] == band["measured_on"]
    assert band["paper"] == pytest.approx(0.8009)
    assert band["authors"] == pytest.approx(0.3)  # the undefined value is skipped ...
    assert band["authors undefined"] == 1 and band["authors n"] == 2  # ... and counted
    assert band["corrected"] == pytest.approx(0.3) and band["corrected n"] == 2
    rate = df[df.experiment == "ensemble-rate"].iloc[0]
    assert math.isnan(rate["authors"]) and rate["authors n"] == 0


def test_side_by_side_has_three_sub_columns_per_metric() -> None:
    runs = _both(
        "table1",
        "tiny",
        {
            "audiosep": {"authors": [0.1], "corrected": [0.2]},
            "eventsep": {"authors": [0.5], "corrected": [0.6]},
        },
    )
    df = tables.side_by_side("table1", runs, ["tiny"])
    assert df.index.tolist() == ["AudioSep", "FlowSep", "EventSep"]
    assert df.columns.names == ["benchmark", "metric", "source"]
    group = "tiny as VGGSound"
    assert [c[2] for c in df.columns[:3]] == ["paper", "authors", "corrected"]
    assert df.loc["AudioSep", (group, "CLAP", "paper")] == pytest.approx(0.2838)
    assert df.loc["AudioSep", (group, "CLAP", "authors")] == pytest.approx(0.1)
    assert df.loc["EventSep", (group, "ESTOI", "corrected")] == pytest.approx(0.6)
    assert math.isnan(df.loc["FlowSep", (group, "CLAP", "corrected")])
    assert df.loc["FlowSep", (group, "n", "authors")] == 0
    flat = tables.flatten(df)
    assert list(flat.columns[:4]) == [
        "system",
        f"{group} CLAP paper",
        f"{group} CLAP authors",
        f"{group} CLAP corrected",
    ]
    assert flat.columns[-1] == "undefined"
    # paper benchmarks keep their own names; Table 2's rows are (mask, threshold)
    soft = {"audiosep+soft0.55": {"corrected": [7.0]}}
    t2 = tables.side_by_side("table2", _both("table2", "vggsound", soft), "vggsound")
    assert t2.index.names == ["mask", "threshold"]
    assert t2.loc[("soft", 0.55), ("VGGSound", "SI-SDR", "paper")] == pytest.approx(8.975)
    assert t2.loc[("soft", 0.55), ("VGGSound", "SDRi", "corrected")] == pytest.approx(7.0)
    assert list(tables.flatten(t2).columns[:2]) == ["mask", "threshold"]


def test_table_notes_state_sources_comma_policy_and_stand_ins(tmp_path: Path) -> None:
    notes = tables.table_notes("table1", ["tiny"])
    assert tables.AUTHORS_COMMA_POLICY in notes
    assert "comma" in tables.AUTHORS_COMMA_POLICY
    assert all(f"{p} = " in notes[0] for p in tables.protocols())
    assert any("tiny sits in VGGSound's slot" in n for n in notes)
    assert not any("slot" in n for n in tables.table_notes("table1", ["vggsound"]))
    df = tables.flatten(tables.side_by_side("table3", {}, "vggsound"))
    _, md = report.write_table(df, tmp_path, "t3", profile="paper", caption="T3", notes=notes)
    text = md.read_text()
    assert "VGGSound CLAP authors" in text
    assert text.rstrip().endswith(notes[-1])
    assert f"- {tables.AUTHORS_COMMA_POLICY}" in text
