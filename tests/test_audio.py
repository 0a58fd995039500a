"""Audio loading, checking, resampling and atomic saving; every bad input has its typed error."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from eventsep.core.audio import (
    check_waveform,
    find_audio_files,
    fit_length,
    load_audio,
    resample,
    save_audio,
)
from eventsep.core.errors import (
    AudioFileNotFoundError,
    AudioTooLongError,
    CorruptAudioError,
    EmptyAudioError,
    EventSepError,
    NonFiniteAudioError,
    SampleRateError,
    SilentAudioError,
    UnsupportedFormatError,
)


def _tone(sr=16000, seconds=0.5, freq=440.0, channels=1):
    t = np.arange(int(sr * seconds)) / sr
    x = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([x * (c + 1) / channels for c in range(channels)], axis=1)


@pytest.mark.parametrize(
    "ext,subtype", [(".wav", "PCM_16"), (".flac", "PCM_24"), (".ogg", "VORBIS")]
)
def test_load_formats(tmp_path, ext, subtype):
    data = _tone()
    path = tmp_path / f"tone{ext}"
    sf.write(path, data, 16000, subtype=subtype)
    x, sr = load_audio(path)
    assert sr == 16000 and x.dtype == torch.float32 and x.shape == (1, data.shape[0])
    tol = 0.05 if ext == ".ogg" else 1e-3
    assert np.abs(x[0].numpy() - data[:, 0]).max() < tol


def test_load_mp3_example():
    x, sr = load_audio("examples/sounds/dog.mp3")
    assert sr == 48000 and x.shape[0] == 1 and x.shape[1] > 5 * sr
    assert float(x.abs().max()) > 0.01


def test_stereo_mono_mixdown_and_keep_channels(tmp_path):
    data = _tone(channels=2)
    path = tmp_path / "st.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    mono, _ = load_audio(path)
    both, _ = load_audio(path, mono=False)
    assert both.shape == (2, data.shape[0])
    np.testing.assert_allclose(mono[0].numpy(), data.mean(axis=1), atol=1e-6)


def test_load_resamples(tmp_path):
    path = tmp_path / "t.wav"
    sf.write(path, _tone(sr=44100, seconds=1.0), 44100, subtype="FLOAT")
    x, sr = load_audio(path, sample_rate=32000)
    assert sr == 32000 and x.shape == (1, 32000)


def test_resample_preserves_tone_and_length():
    sr = 32000
    t = torch.arange(sr) / sr
    x = torch.sin(2 * torch.pi * 1000 * t).repeat(2, 1)
    y = resample(x, sr, 16000)
    assert y.shape == (2, 16000)
    ref = torch.sin(2 * torch.pi * 1000 * torch.arange(16000) / 16000)
    assert torch.allclose(y[:, 200:-200], ref[200:-200].expand(2, -1), atol=1e-3)
    assert resample(x, sr, sr) is x


def test_resample_removes_content_above_new_nyquist():
    sr = 32000
    t = torch.arange(sr) / sr
    x = torch.sin(2 * torch.pi * 12000 * t)  # above 8 kHz
    y = resample(x, sr, 16000)
    assert float(y[500:-500].abs().max()) < 1e-2


def test_missing_file(tmp_path):
    with pytest.raises(AudioFileNotFoundError, match="no such file"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioFileNotFoundError, match="not a file"):
        load_audio(tmp_path)


def test_corrupt_file(tmp_path):
    path = tmp_path / "bad.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    with pytest.raises(CorruptAudioError):
        load_audio(path)


def test_unsupported_format(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not audio at all\n" * 20)
    with pytest.raises(UnsupportedFormatError, match=".txt"):
        load_audio(path)


def test_empty_file_and_zero_length(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(EmptyAudioError):
        load_audio(empty)
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros((0, 1), np.float32), 16000)
    with pytest.raises(EmptyAudioError):
        load_audio(zero)


def test_nan_and_inf_samples(tmp_path):
    data = _tone()
    data[100, 0] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    with pytest.raises(NonFiniteAudioError, match="1 NaN"):
        load_audio(path)
    with pytest.raises(NonFiniteAudioError):
        check_waveform(torch.tensor([0.0, float("inf")]))


def test_silent_audio():
    assert check_waveform(torch.zeros(100)).shape == (100,)
    with pytest.raises(SilentAudioError):
        check_waveform(torch.zeros(100), allow_silent=False)


def test_too_long(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, _tone(seconds=2.0), 16000)
    with pytest.raises(AudioTooLongError, match="limit of 1 s"):
        load_audio(path, max_seconds=1.0)
    with pytest.raises(AudioTooLongError):
        check_waveform(torch.ones(100), sample_rate=10, max_seconds=5)


@pytest.mark.parametrize("bad", [0, -16000, 16000.5, "16k", None, True])
def test_bad_sample_rate(bad):
    with pytest.raises(SampleRateError):
        resample(torch.ones(10), bad, 16000)


def test_errors_share_a_base_class():
    for err in (AudioFileNotFoundError, CorruptAudioError, EmptyAudioError, SampleRateError):
        assert issubclass(err, EventSepError)


def test_save_roundtrip_and_atomic(tmp_path):
    x = torch.from_numpy(_tone()[:, 0]) * 3.0  # beyond [-1, 1]: float WAV keeps it
    path = save_audio(tmp_path / "out" / "a.wav", x, 16000)
    y, sr = load_audio(path)
    assert sr == 16000 and torch.allclose(y[0], x)
    flac = save_audio(tmp_path / "a.flac", x, 16000)
    z, _ = load_audio(flac)
    assert float(z.abs().max()) <= 1.0  # clipped, not wrapped
    assert not list(tmp_path.rglob("*.part"))


def test_failed_save_leaves_nothing(tmp_path):
    with pytest.raises(NonFiniteAudioError):
        save_audio(tmp_path / "x.wav", torch.tensor([0.0, float("nan")]), 16000)
    with pytest.raises(UnsupportedFormatError):
        save_audio(tmp_path / "x.mp4", torch.ones(10), 16000)
    assert list(tmp_path.iterdir()) == []


def test_find_audio_files(tmp_path):
    (tmp_path / "sub").mkdir()
    sf.write(tmp_path / "sub" / "a.wav", _tone(), 16000)
    (tmp_path / "readme.txt").write_text("x")
    assert find_audio_files(tmp_path) == [tmp_path / "sub" / "a.wav"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(AudioFileNotFoundError, match="no audio file"):
        find_audio_files(tmp_path / "empty")


def test_saved_files_get_normal_permissions(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        path = save_audio(tmp_path / "p.wav", torch.ones(10) * 0.1, 16000)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_fit_length_crops_or_zero_pads_the_last_dimension():
    x = torch.arange(1.0, 7.0).reshape(2, 3)
    assert torch.equal(fit_length(x, 2), x[:, :2])
    assert torch.equal(fit_length(x, 5), torch.tensor([[1, 2, 3, 0, 0], [4, 5, 6, 0, 0.0]]))
    assert torch.equal(fit_length(x, 3), x)
    assert fit_length(x, 0).shape == (2, 0)
