"""The checkpoint catalogue, the cache and verified downloads."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from eventsep.core.errors import HashMismatchError, UnknownModelError, WeightsNotFoundError
from eventsep.models import hub

REQUIRED = {
    "pann-cnn14-max",
    "pann-cnn14-att",
    "audiosep-base",
    "clap-music-speech",
    "clap-630k-fusion",
    "clap-630k-audioset",
    "roberta-base",
    "flowsep-v2",
    "flowsep-vae",
    "flowsep-bigvgan",
    "flan-t5-large",
    "all-minilm-l6-v2",
}


def test_catalogue_lists_every_checkpoint_the_method_needs():
    assert REQUIRED <= set(hub.CATALOGUE)
    for name, ck in hub.CATALOGUE.items():
        assert ck.name == name
        assert ck.files and ck.licence and ck.used_by and ck.source
        for f in ck.files:
            assert f.url.startswith("https://"), f.url
            if f.sha256 is not None:
                assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0


def test_every_remote_url_is_pinned_to_a_commit():
    import re

    for ck in hub.CATALOGUE.values():
        for f in ck.files:
            if "huggingface.co" in f.url:
                assert re.search(r"/resolve/[0-9a-f]{40}/", f.url), f.url
            elif "github.com" in f.url:
                assert re.search(r"/raw/[0-9a-f]{40}/", f.url), f.url
            else:
                assert f.url.startswith("https://zenodo.org/records/"), f.url


def test_panns_files_carry_a_hash_and_the_clap_metric_is_the_original():
    att = hub.entry("pann-cnn14-att").files[0]
    assert att.md5 == "c8281ca2b9967244b91d557aa941e8ca" and att.known_hash.startswith("md5:")
    mx = hub.entry("pann-cnn14-max").files[0]
    assert mx.sha256.startswith("dd3b4043") and mx.size == 327_428_481
    assert "clap-music-speech-hf" not in hub.CATALOGUE  # not shown to hold the 89.98 weights
    for name in ("clap-music-speech", "clap-630k-fusion", "clap-630k-audioset"):
        assert "lukewys/laion_clap" in hub.entry(name).files[0].url
    # no published hash for the 630k files: said so in the entry, not invented
    for name in ("clap-630k-fusion", "clap-630k-audioset"):
        assert hub.entry(name).files[0].sha256 is None
        assert "not published" in hub.entry(name).source


def test_download_all_skips_the_fallbacks_only():
    assert set(hub.CATALOGUE) - set(hub.DEFAULT_DOWNLOADS) == {"flowsep-vae", "flowsep-bigvgan"}
    assert all(hub.entry(n).fallback for n in ("flowsep-vae", "flowsep-bigvgan"))


def test_md5_mismatch_stops_before_anything_is_unpickled(tmp_path, monkeypatch):
    """A local file whose md5 differs: one-line typed error, no torch.load, no file kept."""
    import torch

    monkeypatch.delenv("EVENTSEP_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    src = tmp_path / "Cnn14_DecisionLevelAtt_mAP=0.425.pth"
    torch.save({"model": {}}, src)
    url = src.as_uri()
    att = hub.entry("pann-cnn14-att")
    fake = hub.Checkpoint(
        **{
            **att.__dict__,
            "files": (hub.RemoteFile(src.name, url, md5=att.files[0].md5),),
        }
    )
    monkeypatch.setitem(hub._CATALOGUE_DICT, "pann-cnn14-att", fake)

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load called before the hash was checked")

    monkeypatch.setattr(torch, "load", no_unpickling)
    from eventsep.models.registry import load_detector

    with pytest.raises(HashMismatchError) as info:
        load_detector("paper", head="att")
    assert "\n" not in str(info.value) and "md5:c8281ca2" in str(info.value)
    assert not hub.local_path("pann-cnn14-att").exists()
    # the same bytes put in the cache by hand: refused before loading too
    target = hub.local_path("pann-cnn14-att")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(src.read_bytes())
    monkeypatch.setenv("EVENTSEP_OFFLINE", "1")
    with pytest.raises(HashMismatchError, match="md5"):
        load_detector("paper", head="att")


def test_catalogue_facts_from_reference():
    ck = hub.entry("audiosep-base")
    assert ck.size == 1_264_844_076
    assert ck.files[0].sha256.startswith("f8cda01b")
    assert hub.entry("clap-music-speech").size == 2_352_471_003
    assert hub.entry("pann-cnn14-att").sample_rate == 32000
    assert hub.entry("flowsep-v2").sample_rate == 16000


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("EVENTSEP_CACHE", str(tmp_path / "c"))
    assert hub.cache_dir() == tmp_path / "c"
    assert hub.local_path("flowsep-vae") == tmp_path / "c" / "flowsep-vae" / "vae.ckpt"
    assert hub.local_path("roberta-base") == tmp_path / "c" / "roberta-base"


@pytest.mark.parametrize("var", ["EVENTSEP_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_flags(monkeypatch, var):
    monkeypatch.delenv("EVENTSEP_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert not hub.is_offline()
    monkeypatch.setenv(var, "1")
    assert hub.is_offline()


def test_unknown_name_suggests_close_match():
    with pytest.raises(UnknownModelError, match="pann-cnn14-max"):
        hub.entry("pann-cnn14-mx")


def _no_network(*args, **kwargs):
    raise AssertionError("offline mode opened a network connection")


def test_offline_missing_file_error_is_actionable_without_network(offline_cache, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    with pytest.raises(WeightsNotFoundError) as info:
        hub.get("pann-cnn14-max")
    msg = str(info.value)
    assert "Cnn14_DecisionLevelMax_mAP=0.385.pth" in msg
    assert str(offline_cache / "pann-cnn14-max") in msg
    assert "eventsep download pann-cnn14-max" in msg


def test_cli_download_offline_fails_with_one_line_message(offline_cache):
    proc = subprocess.run(
        [sys.executable, "-m", "eventsep", "download", "pann-cnn14-max"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "eventsep download pann-cnn14-max" in proc.stderr
    assert str(offline_cache) in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_list_models_offline_prints_whole_catalogue():
    proc = subprocess.run(
        [sys.executable, "-m", "eventsep", "list-models"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    for name in REQUIRED:
        assert name in proc.stdout
    assert "missing" in proc.stdout


def test_minilm_resolves_to_bundled_package_offline():
    path = hub.get("all-minilm-l6-v2")
    assert (path / "model.safetensors").is_file()
    assert hub.is_cached("all-minilm-l6-v2")


def _fake_entry(
    monkeypatch,
    source: Path | str,
    *,
    sha256: str | None = None,
    size: int | None = None,
    name: str = "fake-model",
):
    """Add a one-file checkpoint to the catalogue; ``source`` is a local file or a URL."""
    url = source.as_uri() if isinstance(source, Path) else source
    fake = hub.Checkpoint(
        name=name,
        description="test",
        files=(hub.RemoteFile("weights.bin", url, size=size, sha256=sha256),),
        source="test",
        licence="CC0",
        used_by="tests",
    )
    monkeypatch.setitem(hub._CATALOGUE_DICT, name, fake)
    return fake


def test_download_verifies_hash_and_writes_atomically(tmp_path, monkeypatch, umask_022):
    monkeypatch.delenv("EVENTSEP_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    payload = b"weights" * 1000
    src = tmp_path / "mirror.bin"
    src.write_bytes(payload)
    _fake_entry(monkeypatch, src, sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))
    path = hub.download("fake-model", progress=False)
    assert path.read_bytes() == payload
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".part")]
    # readable by every user of a shared cache (pooch's temporary file was 0600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(path.with_name(path.name + ".verified").stat().st_mode) == 0o644
    # A verified file is not fetched again.
    src.unlink()
    assert hub.get("fake-model") == path


def test_download_with_wrong_hash_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.delenv("EVENTSEP_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    src = tmp_path / "mirror.bin"
    src.write_bytes(b"not the weights")
    _fake_entry(monkeypatch, src, sha256="0" * 64, size=None)
    with pytest.raises(HashMismatchError):
        hub.download("fake-model", progress=False)
    assert not hub.local_path("fake-model").exists()


def test_corrupted_cached_file_is_detected(tmp_path, monkeypatch):
    monkeypatch.delenv("EVENTSEP_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    payload = b"\x00\x01" * 5000
    src = tmp_path / "mirror.bin"
    src.write_bytes(payload)
    _fake_entry(monkeypatch, src, sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))
    path = hub.download("fake-model", progress=False)
    # Flip bytes in place, keeping the size: only the hash can tell.
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    monkeypatch.setenv("EVENTSEP_OFFLINE", "1")
    with pytest.raises(HashMismatchError, match="eventsep download fake-model --force"):
        hub.get("fake-model")


def test_unhashed_file_is_pinned_at_first_download(tmp_path, monkeypatch):
    monkeypatch.delenv("EVENTSEP_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    src = tmp_path / "mirror.bin"
    src.write_bytes(b"abc" * 100)
    _fake_entry(monkeypatch, src, sha256=None, size=None)
    path = hub.download("fake-model", progress=False)
    path.write_bytes(b"abd" * 100)  # changed after the first verified download
    with pytest.raises(HashMismatchError):
        hub.get("fake-model")


def test_download_without_network_raises_weights_not_found(monkeypatch):
    """No offline flag, but the host cannot be reached: typed error, quickly."""
    monkeypatch.delenv("EVENTSEP_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    _fake_entry(monkeypatch, "https://127.0.0.1:9/none.bin", name="fake-remote")
    with pytest.raises(WeightsNotFoundError, match="eventsep download fake-remote"):
        hub.download("fake-remote", progress=False)
    assert not hub.local_path("fake-remote").exists()


def test_cache_dir_argument_is_used_and_the_environment_left_alone(tmp_path, monkeypatch):
    monkeypatch.delenv("EVENTSEP_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    payload = b"other weights" * 100
    src = tmp_path / "mirror.bin"
    src.write_bytes(payload)
    _fake_entry(monkeypatch, src, sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))
    folder = tmp_path / "elsewhere"
    env = dict(os.environ)
    assert not hub.is_cached("fake-model", folder)
    path = hub.get("fake-model", cache_dir=folder, progress=False)
    assert path == folder / "fake-model" / "weights.bin" == hub.local_path("fake-model", folder)
    assert path.read_bytes() == payload
    assert hub.is_cached("fake-model", folder) and not hub.is_cached("fake-model")
    assert hub.cache_dir(folder) == folder
    assert dict(os.environ) == env
    # offline, a file missing from the given folder names that folder
    monkeypatch.setenv("EVENTSEP_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match=str(tmp_path / "empty")):
        hub.get("fake-model", cache_dir=tmp_path / "empty")
    with pytest.raises(WeightsNotFoundError, match="downloading was not requested"):
        hub.get("fake-model", cache_dir=tmp_path / "empty", download_missing=False)
