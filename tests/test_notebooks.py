"""The numbered notebooks: committed clean, parameterised, and (marked) the smoke reproduction.

The end-to-end test is marked ``notebooks`` so it can be selected (``pytest -m notebooks``) or
left out (``-m "not notebooks"``); it runs every notebook with the smoke profile through
``eventsep.paper.reproduce`` and checks every promised file exists and is non-empty.
"""

from __future__ import annotations

import html
import json

import nbformat
import pandas as pd
import pytest

from eventsep.paper import reproduce as rep
from eventsep.paper.report import SMOKE_NOTE

NOTEBOOK_FILES = sorted(rep.notebooks_dir().glob("*.ipynb"))


def test_notebook_set_matches_the_runner() -> None:
    assert [p.name for p in NOTEBOOK_FILES] == [s.filename for s in rep.NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_notebook_is_committed_clean(path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert cell.get("outputs") == [], f"{path.name}: a code cell carries outputs"
        assert cell.get("execution_count") is None, f"{path.name}: execution count stored"
    assert "widgets" not in nb.metadata, f"{path.name}: widget state stored"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_notebook_has_one_parameters_cell_with_the_runner_names(path) -> None:
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    assert tagged[0].cell_type == "code"
    names = set()
    for line in tagged[0].source.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            names.add(line.split("=", 1)[0].strip())
    expected = set(rep.get_profile("smoke").parameters("/tmp"))
    assert names == expected, f"{path.name}: parameters {sorted(names ^ expected)} differ"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert nb.metadata["kernelspec"]["name"] == rep.KERNEL_NAME


def test_notebook_cells_import_heavy_code_from_eventsep() -> None:
    # No model or metric code in cells: no torch.nn, no training loops, no STFT maths.
    for path in NOTEBOOK_FILES:
        nb = nbformat.read(path, as_version=4)
        source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        for banned in ("torch.nn", "torch.stft", "np.fft", "\ndef ", "\nclass ", "librosa"):
            assert banned not in source, f"{path.name} contains {banned!r}"
        assert "from eventsep" in source


@pytest.mark.notebooks
def test_smoke_reproduction_end_to_end(tmp_path) -> None:
    out = tmp_path / "smoke"
    record = rep.reproduce("smoke", out_dir=out, log=lambda line: None)
    expected = rep.expected_outputs(rep.NOTEBOOKS, out)
    empty = [str(p) for p in expected if not p.is_file() or p.stat().st_size == 0]
    assert not empty, f"missing or empty outputs: {empty}"

    prov = json.loads(record.provenance_path.read_text())
    assert prov["status"] == "ok" and prov["profile"] == "smoke"
    assert [n["key"] for n in prov["notebooks"]] == [s.key for s in rep.NOTEBOOKS]
    assert all(n["seconds"] > 0 for n in prov["notebooks"])

    # every table says it is a smoke run and holds numbers for the tiny benchmark
    for name in ("table1_overall", "table2_masks", "table3_fusion"):
        md = (out / "tables" / f"{name}.md").read_text()
        assert SMOKE_NOTE in md
        csv = (out / "tables" / f"{name}.csv").read_text().splitlines()
        assert csv[0].startswith("profile,") and all(r.startswith("smoke,") for r in csv[1:])
        assert len(csv) >= 4  # a header and at least three rows
    t1 = (out / "tables" / "table1_overall.csv").read_text()
    assert "tiny as VGGSound CLAP" in t1 and "AudioSep" in t1 and "EventSep" in t1

    # the listening page links 3 examples x 4 tracks of audio that exist
    page = (out / "listening" / "index.html").read_text()
    assert html.escape(SMOKE_NOTE) in page
    assert page.count("<audio ") == 12
    assert len(list((out / "listening" / "audio").glob("*.wav"))) == 12

    # Tables 1-3 show paper | authors | corrected per metric, both protocols measured,
    # and their notes state the authors protocol's comma-prompt policy
    from eventsep.paper import reproduction, tables

    for name in ("table1_overall", "table2_masks", "table3_fusion"):
        header = (out / "tables" / f"{name}.csv").read_text().splitlines()[0].split(",")
        for source in tables.sources():
            assert any(h.endswith(f" {source}") for h in header), (name, source)
        assert tables.AUTHORS_COMMA_POLICY in (out / "tables" / f"{name}.md").read_text()
    t1_rows = pd.read_csv(out / "tables" / "table1_overall.csv")
    for protocol in tables.protocols():
        assert t1_rows[f"tiny as VGGSound CLAP {protocol}"].notna().all(), protocol
        assert (t1_rows[f"tiny as VGGSound n {protocol}"] == rep.SMOKE_MAX_CLIPS).all()

    # the reproduction report: marked smoke, every paper number with a status
    md = (out / "reproduction_report.md").read_text()
    assert md.startswith("# Reproduction report [SMOKE]") and SMOKE_NOTE in md
    assert html.escape(SMOKE_NOTE) in (out / "reproduction_report.html").read_text()
    assessed = pd.read_csv(out / "tables" / "reproduction.csv")
    numbers = reproduction.paper_numbers()
    assert len(assessed) == len(numbers) == 50
    listed = set(zip(assessed.table, assessed.experiment, assessed.benchmark, assessed.metric))
    assert listed == {(t, e.name, b, m) for t, e, b, m, _ in numbers}
    assert set(assessed.status) <= set(reproduction.STATUSES)
    assert assessed.authors.notna().all() and assessed.corrected.notna().all()
    assert (assessed.status == reproduction.NOT_FROM_CODE).sum() == 20  # comma, hard=soft, ...
    table_rows = [line for line in md.splitlines() if line.startswith("| Table ")]
    assert len(table_rows) == 50

    # the executed notebooks carry outputs and the injected parameters
    nb = nbformat.read(out / "notebooks" / "01_sed_activity.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
