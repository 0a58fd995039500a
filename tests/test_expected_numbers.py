"""The smoke reproduction's numbers stay put: rows and tables of both protocols against
committed values (tests/data/smoke_expected.json) on the tiny-random models.

A refactor must not move a number; this recomputes every table's experiments under the
corrected and the authors' protocol and compares each per-clip row and each table cell.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

from eventsep.paper import experiments, tables
from eventsep.paper.study import Study

EXPECTED = json.loads((Path(__file__).parent / "data" / "smoke_expected.json").read_text())
RTOL = 1e-6  # bit-identical here; the slack is for another CPU's float rounding


def _close(got: Any, want: Any) -> bool:
    if isinstance(want, float) or isinstance(got, float):
        if got is None or want is None:
            return got is want
        if math.isnan(want):
            return math.isnan(got)
        return math.isclose(got, want, rel_tol=RTOL, abs_tol=1e-9)
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(_close(got[k], want[k]) for k in want)
        )
    if isinstance(want, list):
        return len(got) == len(want) and all(_close(g, w) for g, w in zip(got, want))
    return got == want


def _cells(text: str) -> list[list[Any]]:
    def value(cell: str) -> Any:
        try:
            return float(cell)
        except ValueError:
            return cell

    return [[value(c) for c in row] for row in csv.reader(io.StringIO(text))]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], list[dict]]:
    out = tmp_path_factory.mktemp("smoke-numbers")
    study = None
    for protocol in ("corrected", "authors"):
        study = Study(
            "tiny-random",
            out,
            seed=0,
            max_clips=2,
            # the smoke profile's 2 FlowSep steps; the seed also seeds the authors' FlowSep
            config_overrides={"flowsep_steps": 2, "seed": 0},
            protocol=protocol,
        )
        for key in experiments.TABLES:
            study.run_table(key, "tiny")
    return study.runs()


def test_every_run_of_both_protocols_is_there(runs) -> None:
    assert sorted(name for _, name in runs) == sorted(EXPECTED["rows"])


@pytest.mark.parametrize("name", sorted(EXPECTED["rows"]))
def test_per_clip_rows_match_the_committed_values(runs, name: str) -> None:
    got = [{k: v for k, v in row.items() if k != "timing"} for row in runs[("tiny", name)]]
    want = EXPECTED["rows"][name]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        bad = {k: (g.get(k), w[k]) for k in w if not _close(g.get(k), w[k])}
        assert not bad and g.keys() == w.keys(), f"{name} clip {w['id']}: {bad}"


@pytest.mark.parametrize("key", ["table1", "table2", "table3"])
def test_tables_match_the_committed_values(runs, key: str) -> None:
    benchmarks = ("tiny",) if key == "table1" else "tiny"
    got = tables.flatten(tables.side_by_side(key, runs, benchmarks))
    got_cells = _cells(got.to_csv(index=False, float_format="%.6g"))
    want_cells = _cells(EXPECTED["tables"][key])
    assert got_cells[0] == want_cells[0]  # the header
    assert _close(got_cells[1:], want_cells[1:])
