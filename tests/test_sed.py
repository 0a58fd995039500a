"""Tests of eventsep.models.sed: Cnn14 detector (both heads), front end, chunking, event timeline.

The expected slices were computed once by loading ``Cnn14SED.tiny_random(head, seed=0)``'s state
dict into the reference ``Cnn14_DecisionLevel{Max,Att}`` (audioset_tagging_cnn
``pytorch/models.py`` with torchlibrosa, block widths reduced the same way): the reference gave
the same numbers within 7e-7 (full-size random weights: within 7e-6 on 25 s of noise).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eventsep.core.errors import CheckpointMismatchError, ConfigError, EmptyAudioError
from eventsep.models import sed
from eventsep.models.sed import Cnn14SED, event_timeline, mel_filterbank, num_frames

ROWS = [0, 100, 200, 300]
COLS = [0, 74, 137, 300, 526]
EXPECTED = {
    "max": [
        [0.38544201, 0.16768159, 0.61471421, 0.38166556, 0.61803997],
        [0.32416192, 0.21746539, 0.68876606, 0.42773837, 0.60684890],
        [0.35012808, 0.24002317, 0.70270109, 0.37338015, 0.59068495],
        [0.45318624, 0.32357112, 0.65421593, 0.37625864, 0.59849381],
    ],
    "att": [
        [0.09430640, 0.13614722, 0.55985415, 0.17413764, 0.96218985],
        [0.03276221, 0.14081322, 0.72378355, 0.22761439, 0.96644932],
        [0.05351107, 0.16017130, 0.68314099, 0.22139943, 0.94500017],
        [0.24579832, 0.25200832, 0.62851393, 0.23530596, 0.80979282],
    ],
}
EXPECTED_MEAN = {"max": 0.49506348, "att": 0.50414020}


def _noise(n: int, batch: int = 2, seed: int = 1234) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(batch, n, generator=g)


@pytest.mark.parametrize("head", ["max", "att"])
def test_tiny_random_matches_reference_slice(head: str) -> None:
    model = Cnn14SED.tiny_random(head, seed=0)
    probs = model(_noise(3 * 32000 + 123))
    assert probs.shape == (2, 301, 527)
    got = probs[0, ROWS][:, COLS]
    torch.testing.assert_close(got, torch.tensor(EXPECTED[head]), atol=1e-4, rtol=0)
    assert abs(probs.mean().item() - EXPECTED_MEAN[head]) < 1e-5


@pytest.mark.parametrize("head", ["max", "att"])
def test_output_is_a_probability_once(head: str) -> None:
    # a second sigmoid would squeeze everything into [0.5, 0.731]
    probs = Cnn14SED.tiny_random(head)(_noise(32000))
    assert probs.min() >= 0 and probs.max() <= 1
    assert probs.min() < 0.1 and probs.max() > 0.9


@pytest.mark.parametrize("n", [1, 100, 513, 5000, 10239, 10240, 32000, 32000 * 2 + 319])
def test_frame_count_equals_reference(n: int) -> None:
    probs = Cnn14SED.tiny_random()(torch.zeros(1, n) + 0.01)
    assert probs.shape == (1, 1 + n // 320, 527)
    assert num_frames(n) == 1 + n // 320


def test_tail_frames_repeat_last_segment() -> None:
    # like the reference: frames past the last full 32-frame segment copy its value
    n = 32000 + 5 * 320  # 106 frames: 3 segments (96 frames) + 10 padded
    probs = Cnn14SED.tiny_random()(_noise(n, batch=1))[0]
    assert probs.shape[0] == 106
    assert torch.equal(probs[95:], probs[95:96].expand(11, -1))
    assert torch.equal(probs[64:96], probs[64:65].expand(32, -1))


def test_chunked_equals_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    model = Cnn14SED.tiny_random("att", seed=3)
    x = _noise(32000 * 12 + 77, batch=1, seed=5)
    monkeypatch.setattr(sed, "CHUNK_FRAMES", 10**6)
    whole = model(x)
    monkeypatch.setattr(sed, "CHUNK_FRAMES", 96)  # 13 windows, 256 context frames each side
    chunked = model(x)
    assert chunked.shape == whole.shape == (1, 1201, 527)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=0)


def test_batch_items_are_independent() -> None:
    model = Cnn14SED.tiny_random("max")
    x = _noise(20000)
    both = model(x)
    torch.testing.assert_close(both[1], model(x[1]), atol=1e-6, rtol=0)


def test_one_dimensional_input_and_detect() -> None:
    model = Cnn14SED.tiny_random()
    x = _noise(16000, batch=1)[0]
    assert model(x).shape == (51, 527)
    out = model.detect(x.numpy(), 32000)
    assert out.shape == (1, 51, 527)


def test_detect_resamples() -> None:
    pytest.importorskip("soxr")
    model = Cnn14SED.tiny_random()
    out = model.detect(_noise(8000, batch=1)[0], 16000)  # 0.5 s -> 16000 samples at 32 kHz
    assert out.shape == (1, 51, 527)


def test_empty_and_bad_shapes() -> None:
    model = Cnn14SED.tiny_random()
    with pytest.raises(EmptyAudioError):
        model(torch.zeros(1, 0))
    with pytest.raises(ConfigError):
        model(torch.zeros(1, 1, 100))
    with pytest.raises(ConfigError):
        Cnn14SED(head="avg")


def test_mel_filterbank_properties() -> None:
    w = mel_filterbank()
    assert w.shape == (513, 64) and w.dtype == np.float32
    assert (w >= 0).all()
    freqs = np.linspace(0, 16000, 513)
    assert w[freqs < 50].sum() == 0 and w[freqs > 14000].sum() == 0
    peaks = freqs[w.argmax(axis=0)]
    assert (np.diff(peaks) >= 0).all()
    # slaney normalisation: each triangle has area 2 / (upper - lower) * (upper - lower) / 2 = 1
    areas = w.sum(axis=0) * (freqs[1] - freqs[0])
    assert np.allclose(areas[32:], 1.0, atol=0.02)  # wide bands: sampled area ~ 1
    # first band of librosa.filters.mel(sr=32000, n_fft=1024, n_mels=64, fmin=50, fmax=14000);
    # the whole matrix matched librosa 0.11 within 2e-9 when this test was written
    assert w[:4, 0].tolist() == pytest.approx([0.0, 0.0, 0.00428909, 0.01501181], abs=1e-7)


def _reference_layout(model: Cnn14SED) -> dict[str, torch.Tensor]:
    sd = dict(model.state_dict())
    n = torch.arange(1024, dtype=torch.float64)
    k = torch.arange(513, dtype=torch.float64)[:, None]
    ang = -2 * np.pi * k * n / 1024
    win = torch.hann_window(1024, periodic=True, dtype=torch.float64)
    sd["spectrogram_extractor.stft.conv_real.weight"] = (torch.cos(ang) * win)[:, None].float()
    sd["spectrogram_extractor.stft.conv_imag.weight"] = (torch.sin(ang) * win)[:, None].float()
    sd["logmel_extractor.melW"] = torch.from_numpy(mel_filterbank())
    return sd


@pytest.mark.parametrize("head", ["max", "att"])
def test_from_state_dict_strict(head: str) -> None:
    src = Cnn14SED.tiny_random(head, seed=1)
    sd = _reference_layout(src)
    loaded = Cnn14SED.from_state_dict(sd, head=head)
    assert loaded.widths == sed.TINY_WIDTHS
    x = _noise(8000, batch=1)
    torch.testing.assert_close(loaded(x), src(x), atol=0, rtol=0)
    expected_keys = {k for k in sd if k not in sed.FRONT_END_KEYS}
    assert set(loaded.state_dict()) == expected_keys

    missing = dict(sd)
    missing.pop("conv_block3.bn2.running_var")
    with pytest.raises(CheckpointMismatchError):
        Cnn14SED.from_state_dict(missing, head=head)
    extra = dict(sd, **{"fc2.weight": torch.zeros(1)})
    with pytest.raises(CheckpointMismatchError):
        Cnn14SED.from_state_dict(extra, head=head)
    bad_mel = dict(sd, **{"logmel_extractor.melW": sd["logmel_extractor.melW"] * 1.1})
    with pytest.raises(CheckpointMismatchError):
        Cnn14SED.from_state_dict(bad_mel, head=head)
    other = "att" if head == "max" else "max"
    with pytest.raises(CheckpointMismatchError):
        Cnn14SED.from_state_dict(sd, head=other)


def test_event_timeline() -> None:
    probs = np.zeros((100, 3), dtype=np.float32)
    probs[10:20, 0] = 0.9
    probs[15, 0] = 0.95
    probs[50:52, 0] = 0.5
    probs[30:100, 2] = 0.4
    events = event_timeline(probs, ["a", "b", "c"], threshold=0.3)
    assert [(e.label, e.onset, e.offset) for e in events] == [
        ("a", 0.1, 0.2),
        ("c", 0.3, 1.0),
        ("a", 0.5, 0.52),
    ]
    assert events[0].peak == pytest.approx(0.95)
    assert event_timeline(probs, "abc", threshold=0.3, min_duration=0.05)[-1].label == "c"
    assert event_timeline(probs, "abc", classes=[1]) == []
    with pytest.raises(ConfigError):
        event_timeline(probs[:, 0], "abc")


@pytest.mark.weights
@pytest.mark.parametrize("head", ["max", "att"])
def test_pretrained_detects_a_tone_free_signal(head: str) -> None:
    from eventsep.core.errors import WeightsNotFoundError
    from eventsep.models import hub

    try:
        path = hub.get(f"pann-cnn14-{head}", download_missing=False)
    except WeightsNotFoundError:
        pytest.skip("PANNs checkpoint not cached")
    model = Cnn14SED.from_pretrained(path, head)
    probs = model(_noise(32000 * 2, batch=1))[0]
    assert probs.shape == (201, 527)
    assert 0 <= probs.min() and probs.max() <= 1


# ------------------------------------------------------------- summaries, plot and CLI
def test_top_classes_and_activity() -> None:
    from eventsep.models.sed import class_activity, top_classes

    probs = np.zeros((200, 5), dtype=np.float32)
    probs[:, 3] = 0.9
    probs[50:80, 1] = 0.6
    probs[120:130, 4] = 0.7
    assert top_classes(probs, 3) == [3, 4, 1]
    act = class_activity(probs, [1, 4], threshold=0.5)
    assert act.peak == pytest.approx(0.7)
    assert act.active_seconds == pytest.approx(0.4)
    assert act.events == ((0.5, 0.8, pytest.approx(0.6)), (1.2, 1.3, pytest.approx(0.7)))
    with pytest.raises(ConfigError):
        class_activity(probs, [])


def _wav(tmp_path, seconds: float = 1.5, sr: int = 16000):
    sf = pytest.importorskip("soundfile")
    path = tmp_path / "clip.wav"
    sf.write(path, _noise(int(seconds * sr), batch=1)[0].numpy(), sr)
    return path


def test_cli_detect_json(tmp_path, capsys) -> None:
    import json

    from eventsep.cli import main

    path = _wav(tmp_path)
    png = tmp_path / "fig" / "act.png"
    code = main(
        ["detect", str(path), "--models", "tiny-random", "--top", "3", "--json"]
        + ["--prompt", "a dog barks", "--head", "max", "--plot", str(png)]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 151 and report["head"] == "max"
    assert len(report["top"]) == 3
    peaks = [t["peak"] for t in report["top"]]
    assert peaks == sorted(peaks, reverse=True)
    assert {e["label"] for e in report["events"]} <= {t["label"] for t in report["top"]}
    (prompt,) = report["prompts"]
    assert prompt["labels"][:2] in (["Dog", "Bark"], ["Bark", "Dog"]) and prompt["confident"]
    assert png.is_file() and png.stat().st_size > 1000


def test_cli_detect_text_and_errors(tmp_path, capsys) -> None:
    from eventsep.cli import main

    path = _wav(tmp_path)
    assert main(["detect", str(path), "--models", "tiny-random", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "151 frames" in out and "onset" in out
    assert main(["detect", str(tmp_path / "missing.wav"), "--models", "tiny-random"]) == 2
    assert main(["detect", str(path), "--models", "tiny-random", "--top", "0"]) == 2
    assert main(["detect", str(path), "--models", "tiny-random", "--prompt", "  "]) == 2


def test_cli_detect_models_folder_is_the_checkpoint_cache(tmp_path, capsys, monkeypatch) -> None:
    import dataclasses
    import json
    import os

    from eventsep.cli import main
    from eventsep.cli.detect import detect_report
    from eventsep.core.audio import load_audio
    from eventsep.models import hub
    from eventsep.models.registry import PAPER

    path = _wav(tmp_path)
    models = tmp_path / "models"
    name = PAPER.detector.for_head("max")
    # the stand-in file is not the published one: take its catalogued size and hash away
    entry = hub.entry(name)
    unhashed = dataclasses.replace(entry.files[0], size=None, sha256=None, md5=None)
    monkeypatch.setitem(hub._CATALOGUE_DICT, name, dataclasses.replace(entry, files=(unhashed,)))
    ckpt = models / name / hub.entry(name).files[0].filename
    ckpt.parent.mkdir(parents=True)
    saved = Cnn14SED.tiny_random("max", seed=1)  # not the tiny-random set's seed-0 weights
    torch.save({"model": saved.state_dict()}, ckpt)
    cache = os.environ["EVENTSEP_CACHE"]

    argv = ["detect", str(path), "--models", str(models), "--head", "max", "--top", "4", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["models"] == str(models.resolve()) and report["head"] == "max"
    waveform, sr = load_audio(path, Cnn14SED.sample_rate, mono=True)
    expected, _ = detect_report(waveform[0], sr, saved, [], top=4)
    assert {k: report[k] for k in expected} == expected
    assert os.environ["EVENTSEP_CACHE"] == cache  # the folder is passed down, never exported

    # the other head's checkpoint is not in the folder: one error line naming where it looked
    assert main(["detect", str(path), "--models", str(models), "--head", "att"]) == 2
    err = capsys.readouterr().err
    assert "pann-cnn14-att" in err and str(models) in err


def test_cli_detect_deprecated_profile_alias(tmp_path, capsys) -> None:
    import json

    from eventsep.cli import main

    path = _wav(tmp_path)
    assert main(["detect", str(path), "--profile", "tiny-random", "--top", "2", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["models"] == "tiny-random"
    warnings = [line for line in captured.err.splitlines() if "deprecated" in line]
    assert len(warnings) == 1 and "--models tiny-random" in warnings[0]
