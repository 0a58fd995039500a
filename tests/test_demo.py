"""The demo: headless runs, limits, figures, the CLI entry and the web API (gradio_client).

Headless tests use the small fake pipeline of test_pipeline; the API tests start the real Gradio
app on a free local port with the tiny-random models, offline.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from test_pipeline import _pipe

from eventsep.cli import build_parser
from eventsep.core.audio import load_audio, resample, save_audio
from eventsep.core.errors import (
    AudioError,
    AudioFileNotFoundError,
    AudioTooLongError,
    ConfigError,
    CorruptAudioError,
    EmptyAudioError,
    PromptError,
)
from eventsep.demo import (
    DemoLimits,
    activity_figure,
    list_examples,
    parse_exclusions,
    run_demo,
    spectrogram_figure,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _clip(path: Path, seconds: float = 1.0, sr: int = 16000) -> Path:
    g = torch.Generator().manual_seed(0)
    save_audio(path, 0.1 * torch.randn(int(seconds * sr), generator=g), sr)
    return path


class RecordingPipe:
    """Wraps a pipeline and records the per-call settings it was given."""

    def __init__(self, pipe) -> None:
        self.pipe, self.calls = pipe, []
        self.models = "fake"

    def __call__(self, waveform, sample_rate, prompt, **overrides):
        self.calls.append(overrides)
        return self.pipe(waveform, sample_rate, prompt, **overrides)


# ------------------------------------------------------------------ pure helpers
def test_parse_exclusions():
    assert parse_exclusions("speech,  music\n dog  barking ;rain") == [
        "speech",
        "music",
        "dog barking",
        "rain",
    ]
    assert parse_exclusions("") == [] and parse_exclusions(" , \n") == []
    assert parse_exclusions(None) == []
    assert parse_exclusions(["a", " ", "b  c"]) == ["a", "b c"]


@pytest.mark.parametrize("field", ["max_seconds", "max_upload_mb"])
@pytest.mark.parametrize("value", [0, -1.0, "10"])
def test_limits_must_be_positive_numbers(field, value):
    with pytest.raises(ConfigError, match=field):
        DemoLimits(**{field: value})


def test_limits_bytes():
    assert DemoLimits(max_upload_mb=1.5).max_upload_bytes == 1_500_000


def test_list_examples_reads_bundled_mixtures_and_skips_incomplete(tmp_path):
    found = {e.name: e for e in list_examples(EXAMPLES)}
    assert set(found) == {"cat_during_speech", "dog_over_cow", "rooster_after_pig"}
    assert found["dog_over_cow"].prompt == "dog barking"
    assert found["dog_over_cow"].path.is_file()
    mixtures = tmp_path / "mixtures"
    mixtures.mkdir()
    (mixtures / "no_audio.json").write_text('{"prompt": "x"}')
    _clip(mixtures / "no_prompt.wav")
    (mixtures / "no_prompt.json").write_text("{}")
    _clip(mixtures / "ok.wav")
    (mixtures / "ok.json").write_text('{"prompt": "rain"}')
    assert [(e.name, e.prompt) for e in list_examples(tmp_path)] == [("ok", "rain")]
    assert list_examples(tmp_path / "missing") == []


# ------------------------------------------------------------------ headless runs
def test_run_demo_writes_estimate_residual_and_report(tmp_path):
    pipe = RecordingPipe(_pipe())
    src = _clip(tmp_path / "in.wav", seconds=1.0, sr=16000)
    run = run_demo(
        pipe, src, "  dog   barking ", tmp_path / "out", mask="hard", threshold=0.4, mode="both"
    )
    assert pipe.calls == [{"mask": "hard", "threshold": 0.4, "mode": "both"}]
    est, sr = load_audio(run.estimate_path, mono=True)
    res, sr2 = load_audio(run.residual_path, mono=True)
    assert sr == sr2 == 32000 and est.shape == res.shape == (1, 32000)
    x, _ = load_audio(src, mono=True)
    mixture = resample(x, 16000, 32000)
    assert torch.allclose(est + res, mixture, atol=1e-4)
    report = json.loads(run.report_path.read_text())
    assert report == run.report
    assert report["input"] == "in.wav" and report["models"] == "fake"
    assert report["prompt"] == "dog barking" and report["exclude"] == []  # none typed
    assert (report["mode"], report["mask"], report["threshold"]) == ("both", "hard", 0.4)


def test_run_demo_passes_fusion_and_exclusions_only_when_typed(tmp_path):
    pipe = RecordingPipe(_pipe())
    src = _clip(tmp_path / "in.wav")
    run = run_demo(pipe, src, "dog", tmp_path / "a", fusion="band", exclude=" , ")
    assert pipe.calls[-1] == {"fusion": {"rule": "band"}}
    assert run.report["fusion_rule"] == "band"
    run = run_demo(pipe, src, "dog", tmp_path / "b", exclude="speech, music")
    assert pipe.calls[-1] == {"exclude": ["speech", "music"]}
    assert [e["prompt"] for e in run.report["exclude"]] == ["speech", "music"]


def test_run_demo_unconfident_prompt_runs_without_mask_and_says_so(tmp_path):
    run = run_demo(_pipe(), _clip(tmp_path / "in.wav"), "xyzzy", tmp_path / "out")
    assert any("no class confidently" in n for n in run.notes)
    assert run.report["notes"] == list(run.notes)


@pytest.mark.parametrize(
    "content, limits, error, message",
    [
        (b"", DemoLimits(), EmptyAudioError, "the file is empty"),
        (b"RIFF....WAVEfmt garbage", DemoLimits(), CorruptAudioError, "cannot decode audio"),
        ("long", DemoLimits(max_seconds=0.5), AudioTooLongError, "more than the limit of 0.5 s"),
        ("long", DemoLimits(max_upload_mb=0.001), AudioError, "more than the upload limit of"),
    ],
)
def test_run_demo_bad_input_gets_the_cli_errors(tmp_path, content, limits, error, message):
    path = tmp_path / "in.wav"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        _clip(path, seconds=1.0)
    pipe = RecordingPipe(_pipe())
    with pytest.raises(error, match=message) as info:
        run_demo(pipe, path, "dog", tmp_path / "out", limits=limits)
    assert "\n" not in str(info.value)
    assert pipe.calls == []  # refused before the models run
    assert not (tmp_path / "out").exists()


def test_run_demo_prompt_and_setting_errors(tmp_path):
    src = _clip(tmp_path / "in.wav")
    with pytest.raises(PromptError, match="prompt is empty"):
        run_demo(_pipe(), src, "   ", tmp_path / "out")
    with pytest.raises(AudioFileNotFoundError, match="no audio"):
        run_demo(_pipe(), None, "dog", tmp_path / "out")
    with pytest.raises(ConfigError, match="mode"):
        run_demo(_pipe(), src, "dog", tmp_path / "out", mode="karaoke")


def test_figures_show_activity_mask_and_spectrograms(tmp_path):
    src = _clip(tmp_path / "in.wav")
    run = run_demo(_pipe(), src, "dog", tmp_path / "a", mask="soft")
    fig = activity_figure(run)
    spec, heat, mask = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"][:3]
    labels = [line.get_label() for line in mask.get_lines()]
    assert "applied (soft)" in labels
    applied = next(line for line in mask.get_lines() if line.get_label() == "applied (soft)")
    np.testing.assert_allclose(applied.get_ydata(), run.result.frame_mask.numpy())
    assert "dog" in spec.get_title()
    fig2 = spectrogram_figure(run)
    assert [ax.get_title() for ax in fig2.axes[:2]] == ["input", "estimate (ensemble)"]
    off = run_demo(_pipe(), src, "dog", tmp_path / "b", mask="none")
    fig3 = activity_figure(off)
    assert len(fig3.axes) == 1 and "time mask off" in fig3.axes[0].get_title()


# ------------------------------------------------------------------ command line
def test_cli_demo_options_and_safe_defaults(monkeypatch):
    args = build_parser().parse_args(["demo", "--models", "tiny-random"])
    assert (args.host, args.port, args.share) == ("127.0.0.1", None, False)
    assert (args.max_seconds, args.max_upload_mb) == (
        DemoLimits().max_seconds,
        DemoLimits().max_upload_mb,
    )
    seen = {}
    import eventsep.demo.app as app

    monkeypatch.setattr(app, "serve", lambda models, **kw: seen.update(models=models, **kw))
    args = build_parser().parse_args(
        ["demo", "--models", "tiny-random", "--port", "7999", "--max-seconds", "5"]
    )
    assert args.func(args) == 0
    assert seen["models"] == "tiny-random" and seen["port"] == 7999 and seen["block"] is True
    assert seen["host"] == "127.0.0.1" and seen["share"] is False
    assert seen["limits"] == DemoLimits(max_seconds=5.0)


@pytest.mark.parametrize("argv", [["--port", "0"], ["--port", "x"], ["--max-seconds", "-1"]])
def test_cli_demo_rejects_bad_options(argv, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", *argv])
    assert "demo: error" in capsys.readouterr().err


# ------------------------------------------------------------------ web API
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("gradio", reason="the demo extra (gradio) is not installed")
    from eventsep.demo.app import PipelineLoader, serve
    from eventsep.method.pipeline import EventSep

    with pytest.MonkeyPatch.context() as mp:
        for key in ("EVENTSEP_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
            mp.setenv(key, "1")
        mp.setenv("EVENTSEP_CACHE", str(tmp_path_factory.mktemp("cache")))
        pipe = EventSep.from_pretrained("tiny-random").to("cpu")
        pipe.config = pipe.config.replace(flowsep_steps=2)
    loader = PipelineLoader("tiny-random", factory=lambda models, device: pipe)
    srv = serve(
        "tiny-random",
        port=None,
        block=False,
        inline=False,
        quiet=True,
        loader=loader,
        limits=DemoLimits(max_seconds=12.0, max_upload_mb=2.0),
    )
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    from gradio_client import Client

    return Client(server.url, verbose=False, download_files=tmp_path_factory.mktemp("downloads"))


def _predict(client, path, prompt="dog barking", exclude="", mask="soft", tau=0.5):
    from gradio_client import handle_file

    return client.predict(
        handle_file(str(path)), prompt, exclude, mask, tau, "ensemble", "band", api_name="/separate"
    )


def test_server_is_local_private_and_offline(server):
    assert server.url.startswith("http://127.0.0.1:")
    assert getattr(server.app, "share_url", None) is None
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert server.app.analytics_enabled is False
    assert Path(os.environ["GRADIO_TEMP_DIR"]).is_relative_to(server.workdir)


def test_api_separates_an_example(client):
    example = next(e for e in list_examples(EXAMPLES) if e.name == "dog_over_cow")
    activity, spectra, estimate, residual, files, text, status = _predict(client, example.path)
    report = json.loads(text)
    assert activity["type"] == "matplotlib" and activity["plot"].startswith("data:image/png")
    assert spectra["plot"].startswith("data:image/png")
    est, sr = sf.read(estimate)
    res, _ = sf.read(residual)
    assert sr == 32000 and est.shape == res.shape == (320000,)
    assert sorted(Path(f).name for f in files) == ["estimate.wav", "report.json", "residual.wav"]
    assert report["input"] == "dog_over_cow.flac" and report["models"] == "tiny-random"
    assert (report["prompt"], report["mask"], report["threshold"]) == ("dog barking", "soft", 0.5)
    assert report["fusion_rule"] == "band"
    assert report["config"]["fusion"]["rule"] == "band"  # nested settings come back whole
    assert report["match"]["label"] in status


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "in.wav: the file is empty (0 bytes)"),
        (b"RIFF0000WAVEfmt nonsense", "in.wav: cannot decode audio"),
        ("long", "in.wav: lasts 13.0 s, more than the limit of 12 s"),
    ],
)
def test_api_bad_input_gets_one_line(client, tmp_path, content, message):
    from gradio_client.exceptions import AppError

    path = tmp_path / "in.wav"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        _clip(path, seconds=13.0, sr=8000)
    with pytest.raises(AppError) as info:
        _predict(client, path)
    text = str(info.value)
    assert text.startswith(message) and "\n" not in text
    assert str(tmp_path) not in text and "gradio" not in text  # no server paths


def test_api_passes_exclusions(client):
    example = next(e for e in list_examples(EXAMPLES) if e.name == "cat_during_speech")
    *_, text, _ = _predict(client, example.path, prompt="cat", exclude="speech, dog")
    report = json.loads(text)
    assert [e["prompt"] for e in report["exclude"]] == ["speech", "dog"]
    assert "exclude" in report["timings_s"]


def test_api_empty_prompt_is_refused(client):
    from gradio_client.exceptions import AppError

    example = list_examples(EXAMPLES)[0]
    with pytest.raises(AppError, match="prompt is empty"):
        _predict(client, example.path, prompt="  ")


def test_api_refuses_uploads_over_the_size_limit(client, tmp_path):
    path = tmp_path / "big.wav"
    _clip(path, seconds=70.0, sr=8000)  # ~2.2 MB of float32
    assert path.stat().st_size > 2_000_000
    with pytest.raises(Exception, match="(?i)file.*(large|size|exceed)"):
        _predict(client, path)


def test_close_removes_every_temporary_file(tmp_path):
    pytest.importorskip("gradio", reason="the demo extra (gradio) is not installed")
    from eventsep.demo.app import PipelineLoader, serve

    loader = PipelineLoader("fake", factory=lambda models, device: RecordingPipe(_pipe()))
    before = os.environ.get("GRADIO_TEMP_DIR")
    srv = serve(block=False, inline=False, quiet=True, loader=loader)
    from gradio_client import Client

    client = Client(srv.url, verbose=False, download_files=tmp_path / "dl")
    _, _, estimate, *_ = _predict(client, _clip(tmp_path / "in.wav"), prompt="dog")
    assert Path(estimate).is_file()
    assert any(srv.workdir.rglob("estimate.wav")) and any(srv.workdir.rglob("in.wav"))
    srv.close()
    assert not srv.workdir.exists()
    assert os.environ.get("GRADIO_TEMP_DIR") == before
    shutil.rmtree(tmp_path / "dl", ignore_errors=True)


def test_without_gradio_the_demo_says_how_to_install_it(monkeypatch):
    import sys

    from eventsep.cli import main
    from eventsep.demo.app import require_gradio

    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio now fails
    with pytest.raises(ConfigError, match=r"pip install 'eventsep\[demo\]'"):
        require_gradio()
    assert main(["demo", "--models", "tiny-random"]) == 2


def test_old_runs_are_pruned(tmp_path):
    from eventsep.demo.app import _prune

    old, new = tmp_path / "old", tmp_path / "new"
    for run in (old, new):
        run.mkdir()
        (run / "estimate.wav").write_bytes(b"x")
    os.utime(old, (0, 0))
    _prune(tmp_path, max_age_s=3600)
    assert not old.exists() and (new / "estimate.wav").is_file()
    _prune(tmp_path / "missing", max_age_s=1)  # nothing to do
