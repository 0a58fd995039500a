"""The dataset catalogue: pinned AudioSep CSVs, layouts the reader understands, licences."""

from __future__ import annotations

import re

import pytest

from eventsep.core.errors import BenchmarkError
from eventsep.evaluation import datasets
from eventsep.evaluation.benchmarks import parse_metadata

# First data row of each AudioSep CSV at the pinned commit (facts, used as a layout check).
FIRST_ROWS = {
    "vggsound": (
        "file_id,mix_wav,s0_wav,s0_text,s1_wav,s1_text\n"
        "-JUBdOr8Hes_000030+++37Vxf0Wz-3o_000001,"
        "data/mix_wav/-JUBdOr8Hes_000030+++37Vxf0Wz-3o_000001.wav,"
        "data/s0_wav/-JUBdOr8Hes_000030+++37Vxf0Wz-3o_000001.wav,playing accordion,"
        "data/s1_wav/-JUBdOr8Hes_000030+++37Vxf0Wz-3o_000001.wav,sea lion barking\n"
    ),
    "music": "idx,caption,src_wav,noise_wav\n0,accordion,Y1mCi6eWXVbg_0.wav,YX4UWEifacwI_6.wav\n",
    "esc50": "idx,caption,src_wav,noise_wav\n0,dog,1-100032-A-0.wav,5-207836-D-29.wav\n",
}


def test_catalogue_pins_the_three_audiosep_csvs():
    assert list(datasets.DATASETS) == ["vggsound", "music", "esc50"]
    assert {n: d.rows for n, d in datasets.DATASETS.items()} == {
        "vggsound": 1000,
        "music": 5004,
        "esc50": 2000,
    }
    for name, entry in datasets.DATASETS.items():
        meta = entry.metadata
        assert meta.filename == f"{name}_eval.csv"
        assert datasets.AUDIOSEP_COMMIT in meta.url and meta.url.endswith(meta.filename)
        assert re.fullmatch(r"[0-9a-f]{64}", meta.sha256) and meta.size > 10_000
        assert entry.licence and entry.metadata_licence.startswith("MIT")
        assert datasets.DRIVE_FOLDER_ID in entry.audio_source
    assert datasets.DRIVE_FOLDER_ID == "1PbCsuvdrzwAZZ_fwIzF0PeVGZkTk0-kL"
    esc = datasets.dataset("esc50").rebuild
    assert esc is not None and "karolpiczak/ESC-50" in esc.url and esc.clips == 2000
    assert "BY-NC" in esc.licence


@pytest.mark.parametrize("name", list(FIRST_ROWS))
def test_example_path_is_where_the_reader_looks(tmp_path, name):
    entry = datasets.dataset(name)
    csv = tmp_path / entry.csv_name
    csv.write_text(FIRST_ROWS[name])
    (item,) = parse_metadata(name, tmp_path, csv, require_audio=False)
    assert item.mixture_path == tmp_path / entry.example


def test_aliases_and_unknown_names():
    assert datasets.dataset("ESC-50").name == "esc50"
    with pytest.raises(BenchmarkError, match="vggsound, music, esc50"):
        datasets.dataset("audiocaps")


def test_default_data_dir(monkeypatch, tmp_path, offline_cache):
    monkeypatch.delenv("EVENTSEP_DATA", raising=False)
    assert datasets.default_data_dir() == offline_cache / "data"
    monkeypatch.setenv("EVENTSEP_DATA", str(tmp_path))
    assert datasets.default_data_dir() == tmp_path
