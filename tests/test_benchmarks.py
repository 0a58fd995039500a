"""Tests of eventsep.evaluation.benchmarks: AudioSep-format readers, the seeded builder, the tiny
benchmark."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eventsep.core.audio import load_audio, save_audio
from eventsep.core.errors import BenchmarkError
from eventsep.evaluation import benchmarks as B
from eventsep.evaluation.examples import examples_dir

SR = 32000


def _clips(folder: Path) -> Path:
    """Three labels x two clips of 1 s coloured noise, one subfolder per label."""
    rng = np.random.default_rng(0)
    for label in ("bird", "dog", "rain"):
        for k in range(2):
            x = torch.as_tensor(rng.standard_normal(SR).astype(np.float32) * (0.1 + 0.1 * k))
            save_audio(folder / label / f"{label}{k}.wav", x, SR)
    return folder


def test_build_benchmark_protocol(tmp_path: Path) -> None:
    src = _clips(tmp_path / "raw")
    proto = B.BuildProtocol(seed=3, snr_db=5.0, seconds=2.0)
    out = B.build_benchmark(src, tmp_path / "bench", proto)
    bench = B.read_benchmark("folder", out)
    assert len(bench) == 6
    meta = list(csv.DictReader(open(out / "metadata.csv")))
    for item, row in zip(bench, meta, strict=True):
        assert row["caption"] != row["noise_caption"]  # interferer of another class
        mix, _ = load_audio(item.mixture_path, SR)
        ref, _ = load_audio(item.reference_path, SR)
        assert mix.shape == ref.shape == (1, 2 * SR)  # padded to the protocol length
        noise = (mix - ref).double()
        snr = 10 * torch.log10(ref.double().square().sum() / noise.square().sum())
        assert float(snr) == pytest.approx(5.0, abs=1e-3)
    assert json.loads((out / "benchmark.json").read_text())["protocol"]["seed"] == 3
    again = B.build_benchmark(src, tmp_path / "bench2", proto)
    assert (again / "metadata.csv").read_text() == (out / "metadata.csv").read_text()
    with pytest.raises(BenchmarkError, match="not empty"):
        B.build_benchmark(src, out, proto)


def test_read_vggsound_layout(tmp_path: Path) -> None:
    root = tmp_path / "evaluation" / "data" / "vggsound"
    x = torch.zeros(100)
    for sub in ("mix_wav", "s0_wav"):
        save_audio(root / "data" / sub / "a+++b.wav", x, SR)
    meta = tmp_path / "evaluation" / "metadata"
    meta.mkdir(parents=True)
    (meta / "vggsound_eval.csv").write_text(
        "file_id,mix_wav,s0_wav,s0_text,s1_wav,s1_text\n"
        "a+++b,data/mix_wav/a+++b.wav,data/s0_wav/a+++b.wav,playing accordion,x.wav,sea lion\n"
    )
    bench = B.read_benchmark("VGGSound", root)  # metadata found in the AudioSep layout
    (item,) = bench.items
    assert item.id == "a+++b" and item.prompt == "playing accordion"
    assert item.mixture_path == root / "data" / "mix_wav" / "a+++b.wav"


def test_reader_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="needs --data"):
        B.read_benchmark("esc50")
    with pytest.raises(BenchmarkError, match="does not exist"):
        B.read_benchmark("music", tmp_path / "nope")
    with pytest.raises(BenchmarkError, match="no metadata CSV"):
        B.read_benchmark("music", tmp_path)
    (tmp_path / "metadata.csv").write_text("idx,caption,src_wav,noise_wav\n0,violin,a,b\n")
    with pytest.raises(BenchmarkError, match="missing.*build-benchmark"):
        B.read_benchmark("music", tmp_path)
    (tmp_path / "metadata.csv").write_text("foo,bar\n1,2\n")
    with pytest.raises(BenchmarkError, match="columns"):
        B.read_benchmark("esc50", tmp_path)
    with pytest.raises(BenchmarkError, match="unknown benchmark"):
        B.read_benchmark("audiocaps2", tmp_path)


def test_tiny_benchmark_from_examples_is_cached(tmp_path: Path) -> None:
    first = B.tiny_benchmark(root=tmp_path)
    stamp = (first / "metadata.csv").stat().st_mtime_ns
    assert B.tiny_benchmark(root=tmp_path) == first
    assert (first / "metadata.csv").stat().st_mtime_ns == stamp
    bench = B.read_benchmark("tiny", first)
    labels = {row["label"] for row in csv.DictReader(open(examples_dir() / "manifest.csv"))}
    assert len(bench) == len(labels) >= 10
    assert {it.prompt for it in bench} == labels
    mix, sr = load_audio(bench.items[0].mixture_path)
    assert sr == SR and mix.shape[-1] == int(B.TINY_PROTOCOL.seconds * SR)
