"""download-data offline: file:// fixtures, a mocked gdown, corrupt archives, no network."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from eventsep.cli import main
from eventsep.core.errors import BenchmarkError, DataDownloadError
from eventsep.evaluation import datacheck, datafetch, datasets
from eventsep.models.hub import RemoteFile

RATE = 32000


def _wav(path: Path, seconds=1.0, rate=RATE, seed=0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sf.write(path, (0.1 * rng.standard_normal(int(seconds * rate))).astype("float32"), rate)


@pytest.fixture
def online(monkeypatch):
    """Downloads allowed; the network probe answers without touching the network."""
    monkeypatch.delenv("EVENTSEP_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(datafetch, "probe", lambda url, timeout=4.0: None)


@pytest.fixture
def fake_esc50(tmp_path, monkeypatch):
    """Replace the esc50 entry by one whose CSV (2 rows) is a local file:// fixture."""
    src = tmp_path / "remote"
    src.mkdir()
    csv = src / "esc50_eval.csv"
    csv.write_text(
        "idx,caption,src_wav,noise_wav\n0,dog,1-1-A-0.wav,1-2-A-1.wav\n1,rain,1-3-A-2.wav,1-1-A-0.wav\n"
    )
    payload = csv.read_bytes()
    entry = dataclasses.replace(
        datasets.dataset("esc50"),
        metadata=RemoteFile(
            "esc50_eval.csv", csv.as_uri(), len(payload), hashlib.sha256(payload).hexdigest()
        ),
        rows=2,
    )
    monkeypatch.setitem(datasets._DICT, "esc50", entry)
    return entry


def _drive_zip(path: Path, top: str = "esc50") -> Path:
    """A small 'Drive' archive: <top>/mixture-i.wav + segment-i.wav for the 2 fixture rows."""
    stage = path.parent / "stage"
    for i in range(2):
        _wav(stage / top / f"mixture-{i}.wav", seed=i)
        _wav(stage / top / f"segment-{i}.wav", seed=10 + i)
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(stage.rglob("*.wav")):
            zf.write(f, f.relative_to(stage).as_posix())
    shutil.rmtree(stage)
    return path


def _fake_gdown(archive: Path, calls: list, fail: Exception | None = None):
    """A gdown stand-in: the folder lists one archive; download copies it (or raises)."""

    def download_folder(**kw):
        calls.append(("list", kw))
        return [types.SimpleNamespace(id="file-id", path=archive.name, local_path="")]

    def download(id, output, **kw):
        calls.append(("get", kw))
        if fail is not None:
            raise fail
        shutil.copyfile(archive, output)
        return output

    return types.SimpleNamespace(download_folder=download_folder, download=download)


def _no_final_files(out: Path) -> bool:
    return not list((out / "esc50").glob("*.wav")) if (out / "esc50").exists() else True


# --------------------------------------------------------------------------- offline paths
def test_offline_fails_at_once_with_one_line_and_no_file(tmp_path):
    with pytest.raises(DataDownloadError) as info:
        datafetch.download_data(["esc50"], tmp_path / "data")
    msg = str(info.value)
    assert "\n" not in msg and "downloads are off" in msg
    assert datasets.DRIVE_FOLDER_URL in msg and "eventsep check-data" in msg
    assert "--rebuild" in msg  # ESC-50 names the official-archive alternative
    assert not (tmp_path / "data" / "esc50" / "esc50_eval.csv").exists()


def test_unreachable_network_fails_with_the_manual_step(tmp_path, monkeypatch, fake_esc50):
    monkeypatch.delenv("EVENTSEP_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    entry = dataclasses.replace(
        fake_esc50, metadata=dataclasses.replace(fake_esc50.metadata, url="https://127.0.0.1:9/x")
    )
    monkeypatch.setitem(datasets._DICT, "esc50", entry)
    with pytest.raises(DataDownloadError, match="cannot be reached") as info:
        datafetch.download_data(["esc50"], tmp_path)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "esc50" / "esc50_eval.csv").exists()


def test_cli_offline_prints_one_line_no_traceback(tmp_path, capsys):
    assert main(["download-data", "all", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("eventsep download-data: error: vggsound:")
    assert "Traceback" not in err


def test_csv_with_wrong_hash_is_not_kept(tmp_path, online, fake_esc50, monkeypatch):
    bad = dataclasses.replace(
        fake_esc50, metadata=dataclasses.replace(fake_esc50.metadata, sha256="0" * 64)
    )
    monkeypatch.setitem(datasets._DICT, "esc50", bad)
    with pytest.raises(DataDownloadError, match="corrupt"):
        datafetch.download_data(["esc50"], tmp_path)
    assert not (tmp_path / "esc50" / "esc50_eval.csv").exists()


def test_without_gdown_the_message_names_the_extra(tmp_path, online, fake_esc50, monkeypatch):
    monkeypatch.setattr(datafetch, "_gdown", lambda: None)
    with pytest.raises(DataDownloadError, match=r"eventsep\[data\]") as info:
        datafetch.download_data(["esc50"], tmp_path)
    assert "esc50/mixture-0.wav exists" in str(info.value)
    assert (tmp_path / "esc50" / "esc50_eval.csv").is_file()  # the CSV came through


# ---------------------------------------------------------------------------- Drive (gdown)
def test_drive_archive_is_fetched_unpacked_checked_and_placed(
    tmp_path, online, fake_esc50, monkeypatch
):
    calls: list = []
    archive = _drive_zip(tmp_path / "esc50.zip")
    monkeypatch.setattr(datafetch, "_gdown", lambda: _fake_gdown(archive, calls))
    out = tmp_path / "data"
    (report,) = datafetch.download_data(["esc50"], out, log=lambda line: None)
    assert report.usable and report.rows == 2 and report.pairs_found == 2
    assert sorted(p.name for p in (out / "esc50").glob("*.wav")) == [
        "mixture-0.wav",
        "mixture-1.wav",
        "segment-0.wav",
        "segment-1.wav",
    ]
    assert not (out / ".download" / "esc50").exists()  # staging removed
    (kind, listing), (_, get) = calls
    assert listing["id"] == datasets.DRIVE_FOLDER_ID and listing["skip_download"]
    assert get["resume"] is True and get["timeout"]
    # a second run finds the set complete and downloads nothing
    datafetch.download_data(["esc50"], out, log=lambda line: None)
    assert len(calls) == 2


def test_corrupted_archive_leaves_no_audio_and_is_deleted(
    tmp_path, online, fake_esc50, monkeypatch
):
    archive = _drive_zip(tmp_path / "esc50.zip")
    data = bytearray(archive.read_bytes())
    data[60:400] = b"\x00" * 340  # damage the first member's bytes
    archive.write_bytes(bytes(data))
    monkeypatch.setattr(datafetch, "_gdown", lambda: _fake_gdown(archive, []))
    out = tmp_path / "data"
    with pytest.raises(DataDownloadError, match="corrupt") as info:
        datafetch.download_data(["esc50"], out, log=lambda line: None)
    assert "\n" not in str(info.value)
    assert _no_final_files(out)
    assert not (out / ".download" / "esc50" / "esc50.zip").exists()  # fetched again next time


def test_drive_quota_stops_with_the_manual_step(tmp_path, online, fake_esc50, monkeypatch):
    quota = RuntimeError(
        "Too many users have viewed or downloaded this file recently.\nRetry later"
    )
    monkeypatch.setattr(datafetch, "_gdown", lambda: _fake_gdown(tmp_path / "esc50.zip", [], quota))
    with pytest.raises(DataDownloadError, match="Google Drive refused esc50.zip: Too many") as info:
        datafetch.download_data(["esc50"], tmp_path / "data", log=lambda line: None)
    assert "\n" not in str(info.value) and "open https://drive.google.com" in str(info.value)
    assert _no_final_files(tmp_path / "data")


def test_drive_without_a_matching_entry(tmp_path, online, fake_esc50, monkeypatch):
    archive = _drive_zip(tmp_path / "clotho.zip", top="clotho")
    monkeypatch.setattr(datafetch, "_gdown", lambda: _fake_gdown(archive, []))
    with pytest.raises(DataDownloadError, match="no entry named esc50 .*clotho.zip"):
        datafetch.download_data(["esc50"], tmp_path / "data", log=lambda line: None)


# -------------------------------------------------------------------------- ESC-50 rebuild
def test_esc50_rebuild_from_the_official_archive(tmp_path, online, fake_esc50, monkeypatch):
    official = tmp_path / "ESC-50-abc.zip"
    stage = tmp_path / "official"
    for i, name in enumerate(("1-1-A-0.wav", "1-2-A-1.wav", "1-3-A-2.wav")):
        _wav(stage / "ESC-50-abc" / "audio" / name, seconds=5.0, rate=44100, seed=i)
    with zipfile.ZipFile(official, "w") as zf:
        for f in sorted(stage.rglob("*")):
            zf.write(f, f.relative_to(stage).as_posix())
        zf.writestr("ESC-50-abc/meta/esc50.csv", "filename\n")
    arch = dataclasses.replace(
        datasets.ESC50_ARCHIVE, url=official.as_uri(), filename=official.name, clips=3
    )
    monkeypatch.setitem(datasets._DICT, "esc50", dataclasses.replace(fake_esc50, rebuild=arch))
    out = tmp_path / "data"
    (report,) = datafetch.download_data(["esc50"], out, rebuild=True, log=lambda line: None)
    assert report.usable and report.pairs_found == 2
    record = json.loads((out / "esc50" / "benchmark.json").read_text())
    assert "AudioSep-like" in record["note"] and "not AudioSep's files" in record["note"]
    assert any("AudioSep-like" in n for n in report.notes)
    info = sf.info(str(out / "esc50" / "mixture-1.wav"))
    assert info.samplerate == RATE and info.frames == 5 * RATE
    # the CSV kept is AudioSep's (pinned), the rebuild's own metadata.csv is not placed
    assert not (out / "esc50" / "metadata.csv").exists()


def test_rebuild_archive_with_wrong_clip_count_is_rejected(
    tmp_path, online, fake_esc50, monkeypatch
):
    official = tmp_path / "ESC-50-abc.zip"
    with zipfile.ZipFile(official, "w") as zf:
        zf.writestr("ESC-50-abc/audio/readme.txt", "no clips")
    arch = dataclasses.replace(
        datasets.ESC50_ARCHIVE, url=official.as_uri(), filename=official.name, clips=3
    )
    monkeypatch.setitem(datasets._DICT, "esc50", dataclasses.replace(fake_esc50, rebuild=arch))
    with pytest.raises(DataDownloadError, match="holds 0 clips, expected 3"):
        datafetch.download_data(["esc50"], tmp_path / "data", rebuild=True, log=lambda line: None)
    assert not (tmp_path / "data" / ".download" / official.name).exists()


def test_names_resolve_in_catalogue_order():
    assert datafetch.resolve_names(["esc-50", "vggsound"]) == ["vggsound", "esc50"]
    assert datafetch.resolve_names(["all"]) == ["vggsound", "music", "esc50"]
    with pytest.raises(BenchmarkError):
        datafetch.resolve_names(["clotho"])


def test_probe_reports_a_refused_port():
    assert "cannot be reached" in datafetch.probe("https://127.0.0.1:9/x", timeout=3.0)
    assert datafetch.probe("file:///tmp/x") is None


# ------------------------------------------------------------------------ make reproduce
def test_provision_offline_fetches_nothing_and_names_every_command(tmp_path, monkeypatch):
    from eventsep.core.errors import WeightsNotFoundError
    from eventsep.models import registry as modelsets
    from eventsep.paper import reproduce as rep
    from eventsep.paper.provision import provision

    monkeypatch.setenv("EVENTSEP_DATA", str(tmp_path / "data"))
    profile = rep.get_profile("paper", device="cpu")
    lines: list[str] = []
    with pytest.raises(WeightsNotFoundError) as info:  # fresh clone: no weights, no data
        provision(profile, log=lines.append)
    msg = str(info.value)
    assert "\n" not in msg and "downloads are off" in msg
    assert "`eventsep download --models paper`" in msg
    assert f"`eventsep download-data vggsound music esc50 --out {tmp_path / 'data'}`" in msg
    assert sum(line.startswith("data check:") for line in lines) == 3
    assert not (tmp_path / "data").exists()  # nothing fetched, nothing written

    monkeypatch.setattr(modelsets, "missing_files", lambda models: [])
    with pytest.raises(DataDownloadError, match="lacks benchmark data vggsound, music, esc50"):
        provision(profile, log=lines.append)
    ready = dataclasses.replace(profile, data_dir=str(tmp_path / "data"))
    with pytest.raises(BenchmarkError) as info:  # the library check names the same command
        rep.check_profile(ready)
    assert f"eventsep download-data vggsound music esc50 --out {tmp_path / 'data'}" in str(
        info.value
    )


def test_provision_fetches_missing_data_when_online(tmp_path, online, fake_esc50, monkeypatch):
    from eventsep.models import registry as modelsets
    from eventsep.paper import reproduce as rep
    from eventsep.paper.provision import provision

    monkeypatch.setattr(modelsets, "missing_files", lambda models: [])
    archive = _drive_zip(tmp_path / "esc50.zip")
    monkeypatch.setattr(datafetch, "_gdown", lambda: _fake_gdown(archive, []))
    profile = dataclasses.replace(
        rep.get_profile("paper", data_dir=tmp_path / "data", device="cpu"), benchmarks=("esc50",)
    )
    provision(profile, log=lambda line: None)
    assert datacheck.check_benchmark("esc50", tmp_path / "data" / "esc50").usable
    rep.check_profile(profile)  # no error: weights (patched) and data present


def test_cli_list_shows_the_catalogue_offline(capsys):
    assert main(["download-data", "--list"]) == 0
    out = capsys.readouterr().out
    for name, rows in (("vggsound", 1000), ("music", 5004), ("esc50", 2000)):
        assert f"{name}" in out and f"{rows} rows" in out
    assert datasets.DRIVE_FOLDER_ID in out and "AudioSep-like" in out
