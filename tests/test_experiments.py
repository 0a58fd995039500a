"""The experiment registry: names, data, lookups, and the three consumers reading it alike.

The consumers are the CLI presets (``eventsep evaluate --config NAME``), the notebooks' runner
(:class:`eventsep.paper.study.Study`, whose :meth:`~eventsep.paper.study.Study.plan` is what
``run_table`` evaluates) and the table builders (:mod:`eventsep.paper.tables`).
"""

from __future__ import annotations

import math

import pytest

from eventsep.cli import build_parser
from eventsep.cli.evaluate import resolve_config
from eventsep.core.errors import ConfigError
from eventsep.method import fusion
from eventsep.method.pipeline import EventSepConfig
from eventsep.paper import experiments, tables
from eventsep.paper.study import Study

BUILDERS = {"table1": tables.table1, "table2": tables.table2, "table3": tables.table3}

# the results-folder names of earlier runs; they must not change
NAMES = (
    "mixture",
    "audiosep",
    "flowsep",
    "eventsep",
    *(f"audiosep+{k}{t}" for k in ("hard", "soft") for t in ("0.55", "0.60", "0.65", "0.70")),
    *(
        f"ensemble-{r}"
        for r in ("rate", "band", "reverse-band", "progressive", "reverse-progressive")
    ),
)


def _evaluate_help() -> str:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices["evaluate"].description


def _one_row(metrics: tuple[str, ...], value: float) -> list[dict]:
    return [{"id": "0", **{m: value for m in metrics}}]


def _consumers_agree(table: str, protocol: str = experiments.DEFAULT_PROTOCOL) -> list[str]:
    """Check every experiment of ``table`` reaches all three consumers; return its run names."""
    entries = experiments.for_table(table, protocol)
    run_names = [e.run_name for e in entries]
    assert run_names, table
    # 1. CLI: a preset with the registry's fields, listed in the help
    description = _evaluate_help()
    for exp in entries:
        assert resolve_config(exp.run_name) == (exp.run_name, exp.fields())
        assert exp.run_name in description
    # 2. the notebooks' runner evaluates exactly these
    study = Study("tiny-random", "unused", protocol=protocol)
    assert [e.run_name for e in study.plan(table)] == run_names
    # 3. the table has a row per experiment, filled from its own results folder
    spec = experiments.TABLES[table]
    runs = {
        (bench, exp.run_name): _one_row(spec.metrics, float(i + 1))
        for i, exp in enumerate(entries)
        for bench in spec.benchmarks
    }
    df = BUILDERS[table](runs, protocol=protocol)
    assert len(df) == len(entries)
    metric = next(c for c in df.columns if c not in spec.row_fields)
    assert df[metric].tolist() == [float(i + 1) for i in range(len(entries))]  # no NaN cell
    return run_names


def _rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(experiments, "EXPERIMENTS", experiments.build_registry())


# ------------------------------------------------------------------------------- the data
def test_names_are_the_results_folders_of_earlier_runs() -> None:
    assert experiments.names("corrected") == NAMES
    assert experiments.names() == (*NAMES, *(f"{n}@authors" for n in NAMES))
    assert {e.protocol for e in experiments.EXPERIMENTS.values()} == {"corrected", "authors"}
    corrected = [e for e in experiments.EXPERIMENTS.values() if e.protocol == "corrected"]
    assert all(e.run_name == e.name for e in corrected)


def test_overrides_are_the_paper_settings() -> None:
    get = experiments.get
    assert get("mixture").fields() == {} and not get("mixture").separates
    assert get("audiosep").fields() == {"mode": "audiosep", "mask": "none"}
    assert get("flowsep").fields() == {"mode": "flowsep", "mask": "none"}
    assert get("eventsep").fields() == {"mode": "ensemble"}
    assert get("audiosep+hard0.65").fields() == {
        "mode": "audiosep",
        "mask": "hard",
        "threshold": 0.65,
    }
    band = get("ensemble-band")
    assert band.fields() == {"mode": "ensemble", "fusion": {"rate": 0.1, "rule": "band"}}
    assert band.refuse and band.label == "Band-split"
    # the five rules share one mode="both" run with the ablation's rate
    shared = {str(e.shared_run()) for e in experiments.for_table("table3")}
    assert shared == {str({"mode": "both", "fusion": {"rate": 0.1}})}
    assert [e.fields()["fusion"]["rule"] for e in experiments.for_table("table3")] == list(
        fusion.FUSION_RULES
    )


@pytest.mark.parametrize("name", NAMES)
def test_every_experiment_is_a_valid_config(name: str) -> None:
    exp = experiments.get(name)
    config = EventSepConfig().replace(**exp.fields())
    for key, value in exp.fields().items():
        if key == "fusion":
            assert {k: getattr(config.fusion, k) for k in value} == value
        else:
            assert getattr(config, key) == value


def test_fields_are_copies() -> None:
    fields = experiments.get("ensemble-rate").fields()
    fields["fusion"]["rule"] = "band"
    assert experiments.get("ensemble-rate").fields()["fusion"]["rule"] == "rate"


def test_metrics_and_cells() -> None:
    audiosep = experiments.get("audiosep")
    assert [c.table for c in audiosep.cells] == ["table1", "table2"]  # Table 2's baseline row
    assert audiosep.cell("table2").row == {"mask": "none", "threshold": None}
    assert audiosep.metrics == ("sdr", "sdri", "si_sdr", "stoi", "estoi", "clap", "clap_a")
    assert experiments.get("audiosep+soft0.55").metrics == ("sdr", "sdri", "si_sdr")
    assert experiments.get("ensemble-progressive").metrics == ("clap", "clap_a")
    assert experiments.get("mixture").cells == ()
    for exp in experiments.EXPERIMENTS.values():
        for cell in exp.cells:
            assert set(experiments.TABLES[cell.table].metrics) <= set(exp.metrics)


def test_paper_numbers_by_experiment() -> None:
    assert experiments.get("eventsep").paper_value("esc50", "estoi") == pytest.approx(0.5999)
    assert experiments.get("audiosep+soft0.55").paper_value("vggsound", "si_sdr") == 8.975
    assert experiments.get("ensemble-band").paper_value("vggsound", "clap_a") == 0.8009
    assert math.isnan(experiments.get("audiosep+soft0.60").paper_value("vggsound", "sdri"))
    assert math.isnan(experiments.get("audiosep").paper_value("vggsound", "sdri"))
    assert set(experiments.PAPER) <= set(experiments.names())  # no number for a lost name


def test_lookups_raise_config_error_with_the_known_names() -> None:
    with pytest.raises(ConfigError, match="audiosep\\+soft0.55"):
        experiments.get("audiosep+soft0.50")
    with pytest.raises(ConfigError, match="unknown protocol 'other'; choose one of corrected"):
        experiments.get("eventsep", "other")
    with pytest.raises(ConfigError, match="unknown protocol"):
        experiments.get("eventsep@other")
    with pytest.raises(ConfigError, match="table1, table2, table3"):
        experiments.for_table("table4")
    with pytest.raises(ConfigError, match="names protocol"):
        experiments.get("eventsep@corrected", "other")
    assert experiments.get("eventsep@corrected") is experiments.get("eventsep")


def test_a_table_fed_with_too_few_metrics_fails_at_build(monkeypatch) -> None:
    monkeypatch.setattr(experiments, "MASK_METRICS", ("sdr", "si_sdr"))
    with pytest.raises(ConfigError, match="audiosep\\+hard0.55.*table2.*sdri"):
        experiments.build_registry()


# ---------------------------------------------------------------------- the three consumers
@pytest.mark.parametrize("table", ["table1", "table2", "table3"])
def test_cli_runner_and_tables_agree(table: str) -> None:
    _consumers_agree(table)


def test_an_extra_threshold_reaches_all_three_consumers(monkeypatch) -> None:
    monkeypatch.setattr(experiments, "MASK_THRESHOLDS", (*experiments.MASK_THRESHOLDS, 0.75))
    _rebuild(monkeypatch)
    names = _consumers_agree("table2")
    assert names[-5:] == [f"audiosep+soft{t}" for t in ("0.55", "0.60", "0.65", "0.70", "0.75")]
    assert "audiosep+hard0.75" in names
    assert resolve_config("audiosep+hard0.75")[1]["threshold"] == 0.75


def test_an_extra_fusion_rule_reaches_all_three_consumers(monkeypatch) -> None:
    monkeypatch.setattr(fusion, "FUSION_RULES", (*fusion.FUSION_RULES, "mid-band"))
    _rebuild(monkeypatch)
    names = _consumers_agree("table3")
    assert names[-1] == "ensemble-mid-band"
    extra = experiments.get("ensemble-mid-band")
    assert extra.label == "Mid band"  # derived display name
    assert extra.fields()["fusion"] == {"rate": 0.1, "rule": "mid-band"}
    assert tables.table3({}).fusion.tolist()[-1] == "Mid band"


def test_a_protocol_is_data_and_gets_its_own_results_folders(monkeypatch) -> None:
    authors = experiments.Protocol(
        "authors",
        "the authors' code paths",
        {"fusion": {"bandlimit_8k": True}, "flowsep_steps": 10},
    )
    monkeypatch.setattr(experiments, "PROTOCOLS", {**experiments.PROTOCOLS, "authors": authors})
    _rebuild(monkeypatch)
    assert experiments.names("corrected") == NAMES  # the default protocol is unchanged
    assert experiments.names("authors") == tuple(f"{n}@authors" for n in NAMES)
    band = experiments.get("ensemble-band", "authors")
    assert band.key == ("ensemble-band", "authors") and band.run_name == "ensemble-band@authors"
    # the protocol's fields sit under the experiment's own; fusion merged field by field
    assert band.fields() == {
        "fusion": {"bandlimit_8k": True, "rate": 0.1, "rule": "band"},
        "flowsep_steps": 10,
        "mode": "ensemble",
    }
    assert experiments.get("mixture@authors").fields() == {}
    assert band.paper == experiments.get("ensemble-band").paper
    for table in BUILDERS:
        assert all(n.endswith("@authors") for n in _consumers_agree(table, "authors"))
