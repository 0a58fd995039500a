"""eventsep check-data: one table per benchmark, every problem kind named, exit 0 only if usable."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from eventsep.cli import main
from eventsep.evaluation.datacheck import KINDS, check_benchmark, check_data, fix_command

RATE = 32000


def _wav(path, seconds=1.0, rate=RATE, seed=0):
    rng = np.random.default_rng(seed)
    sf.write(path, (0.1 * rng.standard_normal(int(seconds * rate))).astype("float32"), rate)


def make_segment_benchmark(folder, n=4, *, with_json=True):
    """A small MUSIC/ESC-50-style folder: metadata.csv + mixture/segment pairs, 1 s at 32 kHz."""
    folder.mkdir(parents=True)
    rows = ["idx,caption,src_wav,noise_wav"]
    for i in range(n):
        _wav(folder / f"mixture-{i}.wav", seed=i)
        _wav(folder / f"segment-{i}.wav", seed=100 + i)
        rows.append(f"{i},dog,a{i}.wav,b{i}.wav")
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")
    if with_json:
        protocol = {"sample_rate": RATE, "seconds": 1.0}
        (folder / "benchmark.json").write_text(json.dumps({"protocol": protocol}))
    return folder


def damage(folder):
    """Every problem kind once: missing pair, 16 kHz file, unreadable file, short file, CSV rows
    without audio, and a mixture the CSV does not list."""
    (folder / "segment-1.wav").unlink()  # missing pair
    _wav(folder / "mixture-2.wav", rate=16000)  # wrong sample rate
    (folder / "segment-3.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio")  # unreadable
    _wav(folder / "mixture-0.wav", seconds=0.5)  # wrong duration
    with open(folder / "metadata.csv", "a") as fh:  # CSV rows without audio
        fh.write("7,cat,x.wav,y.wav\n8,cat,x.wav,y.wav\n")
    _wav(folder / "mixture-42.wav")  # audio the CSV does not list


def test_intact_folder_is_usable(tmp_path):
    folder = make_segment_benchmark(tmp_path / "esc50")
    report = check_benchmark("esc50", folder)
    assert report.usable and report.rows == 4 and report.pairs_found == 4
    assert report.problems == ()
    assert any("not AudioSep's esc50_eval.csv" in n for n in report.notes)


def test_damaged_folder_names_every_problem_kind(tmp_path):
    folder = make_segment_benchmark(tmp_path / "esc50")
    damage(folder)
    report = check_benchmark("esc50", folder)
    assert not report.usable
    assert report.rows == 6
    assert {k: report.count(k) for k in KINDS} == {
        "missing": 3,  # segment-1 and rows 7, 8
        "unreadable": 1,
        "wrong sample rate": 1,
        "wrong duration": 1,
        "CSV/audio mismatch": 1,
    }
    assert report.pairs_found == 0  # every original pair is damaged
    details = " | ".join(p.detail for p in report.problems)
    for fragment in (
        "segment-1.wav",
        "mixture-2.wav: 16000 Hz, expected 32000 Hz",
        "segment-3.wav",
        "mixture-0.wav: 0.500 s, expected 1 s",
        "mixture-42.wav is not listed",
    ):
        assert fragment in details
    table = report.table()
    for kind in KINDS:
        assert kind in table
    assert "NOT usable" in table


def test_rate_and_length_without_expectations_follow_the_set(tmp_path):
    folder = make_segment_benchmark(tmp_path / "music", n=5, with_json=False)
    _wav(folder / "segment-4.wav", rate=16000)
    _wav(folder / "segment-3.wav", seconds=2.0)  # the pair's lengths differ
    report = check_benchmark("music", folder)
    assert report.count("wrong sample rate") == 1
    assert report.count("wrong duration") == 1
    assert report.pairs_found == 3


def test_missing_folder_and_missing_csv(tmp_path):
    assert check_benchmark("vggsound", tmp_path / "nope").count("missing") == 1
    (tmp_path / "empty").mkdir()
    report = check_benchmark("vggsound", tmp_path / "empty")
    assert not report.usable and "no metadata CSV" in report.problems[0].detail
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metadata.csv").write_text("a,b\n1,2\n")
    assert check_benchmark("x", tmp_path / "bad").count("CSV/audio mismatch") == 1


def test_vggsound_layout_and_orphans(tmp_path):
    root = tmp_path / "vggsound"
    for sub in ("data/mix_wav", "data/s0_wav"):
        (root / sub).mkdir(parents=True)
    rows = ["file_id,mix_wav,s0_wav,s0_text,s1_wav,s1_text"]
    for i in range(2):
        for sub in ("mix_wav", "s0_wav"):
            _wav(root / "data" / sub / f"clip{i}.wav", seed=i)
        rows.append(f"clip{i},data/mix_wav/clip{i}.wav,data/s0_wav/clip{i}.wav,dog,,cat")
    (root / "vggsound_eval.csv").write_text("\n".join(rows) + "\n")
    assert check_benchmark("vggsound", root).usable
    _wav(root / "data" / "mix_wav" / "stray.wav")
    report = check_benchmark("vggsound", root)
    assert report.count("CSV/audio mismatch") == 1 and "stray.wav" in report.problems[0].detail


def test_check_data_on_a_single_benchmark_folder(tmp_path):
    folder = make_segment_benchmark(tmp_path / "mine")
    (report,) = check_data(folder, ["esc50"])
    assert report.root == folder and report.usable


def test_cli_exit_codes_and_fix_command(tmp_path, capsys):
    make_segment_benchmark(tmp_path / "esc50")
    assert main(["check-data", str(tmp_path), "--benchmark", "esc50"]) == 0
    assert "all 1 benchmark(s) usable" in capsys.readouterr().out
    damage(tmp_path / "esc50")
    assert main(["check-data", str(tmp_path), "--benchmark", "esc50", "--benchmark", "music"]) == 1
    out = capsys.readouterr().out
    assert out.count("rows in CSV") == 2  # one table per benchmark
    for kind in KINDS:
        assert kind in out
    assert f"eventsep download-data music esc50 --out {tmp_path}" in out


def test_fix_command_lists_only_unusable(tmp_path):
    good = check_benchmark("esc50", make_segment_benchmark(tmp_path / "esc50"))
    bad = check_benchmark("music", tmp_path / "music")
    assert fix_command([good, bad], "/d") == "eventsep download-data music --out /d"


@pytest.mark.parametrize("name", ["all", "esc-50"])
def test_cli_accepts_all_and_aliases(tmp_path, name, capsys):
    assert main(["check-data", str(tmp_path), "--benchmark", name]) == 1
    out = capsys.readouterr().out
    assert "esc50:" in out
