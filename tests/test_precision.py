"""Mixed precision (eventsep.core.precision): networks under autocast, STFTs/mel/fusion in
float32."""

from __future__ import annotations

import math

import pytest
import torch

from eventsep.core.errors import ConfigError
from eventsep.core.precision import autocast_context, autocast_name, float32_region
from eventsep.method.fusion import STFTFusion
from eventsep.method.mapping import LabelMatch
from eventsep.method.pipeline import EventSep
from eventsep.models import sed as sed_module
from eventsep.models.sed import Cnn14SED
from eventsep.models.separators.base import Separation
from eventsep.models.separators.resunet import ResUNet30

SR = 32000


def test_autocast_context_and_float32_region():
    a = torch.randn(8, 8)
    with autocast_context("bf16", "cpu"):
        assert (a @ a).dtype == torch.bfloat16
        with float32_region("cpu"):
            assert (a @ a).dtype == torch.float32
    with autocast_context("fp32", "cpu"):
        assert (a @ a).dtype == torch.float32
    with pytest.raises(ConfigError, match="CUDA"), autocast_context("fp16", "cpu"):
        pass
    with pytest.raises(ConfigError), autocast_context("int8", "cpu"):
        pass
    assert (autocast_name("fp32"), autocast_name("bf16")) == (None, "bf16")


def test_resunet_stft_and_istft_stay_float32_under_bf16():
    m = ResUNet30(channels=(4, 4, 4, 4, 4, 4), condition_size=8).eval()
    x = torch.randn(1, 4000)
    ref = m.stft(x)
    with autocast_context("bf16", "cpu"):
        spec = m.stft(x)
        y = m.istft(spec, 4000)
        out = m(x[:, None], torch.randn(1, 8))
    assert spec.dtype == torch.complex64 and y.dtype == torch.float32
    assert out.dtype == torch.float32
    torch.testing.assert_close(spec, ref, rtol=0, atol=0)  # the STFT itself is untouched


def test_sed_log_mel_stays_float32_under_bf16(monkeypatch):
    seen = []
    inner = sed_module.log_mel

    def spy(*args):
        out = inner(*args)
        seen.append((torch.is_autocast_enabled("cpu"), out.dtype))
        return out

    monkeypatch.setattr(sed_module, "log_mel", spy)
    det = Cnn14SED.tiny_random("att")
    x = 0.1 * torch.randn(SR)
    with autocast_context("bf16", "cpu"):
        probs = det.detect(x, SR)
    assert seen and all(s == (False, torch.float32) for s in seen)
    assert probs.dtype == torch.float32


class _Mapper:
    def __call__(self, prompt: str, method: str = "default") -> LabelMatch:
        return LabelMatch("Dog", 74, 0.9, method, ("Dog",), (74,), True, "")


class _Detector(torch.nn.Module):
    frames_per_second = 100

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 527)
        self.autocast: list[bool] = []

    def detect(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        self.autocast.append(torch.is_autocast_enabled("cpu"))
        frames = math.ceil(waveform.shape[-1] / sample_rate * 100) + 1
        rows = waveform.shape[0] if waveform.dim() == 2 else 1
        return torch.sigmoid(self.lin(torch.ones(rows, frames, 4)))  # bf16 under autocast


class _Sep(torch.nn.Module):
    def __init__(self, rate: int) -> None:
        super().__init__()
        self.sample_rate = rate
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.options: list[dict] = []

    def extract(self, waveform, sample_rate, prompt, **options) -> Separation:  # noqa: ANN001
        self.options.append(options)
        from eventsep.core.audio import resample

        y = resample(waveform, sample_rate, self.sample_rate)
        return Separation(0.5 * y, self.sample_rate, 0, y.shape[-1])


def test_pipeline_bf16_runs_models_under_autocast_and_fuses_in_float32():
    seen = []
    inner = STFTFusion()

    def fuser(a, f, start, length, config):  # noqa: ANN001, ANN202
        seen.append((torch.is_autocast_enabled("cpu"), a.dtype, f.dtype))
        return inner(a, f, start, length, config=config)

    det, a, f = _Detector(), _Sep(SR), _Sep(16000)
    pipe = EventSep(_Mapper(), det, a, f, fuser=fuser)
    x = 0.1 * torch.randn(SR, generator=torch.Generator().manual_seed(0))
    out = pipe(x, SR, "dog", precision="bf16", segment="full")
    assert det.autocast == [True]
    assert a.options[-1] == {"autocast": "bf16"} and f.options[-1]["autocast"] == "bf16"
    assert seen == [(False, torch.float32, torch.float32)]
    assert out.estimate.dtype == torch.float32 and out.all_probs.dtype == torch.float32
    pipe(x, SR, "dog")  # fp32 (default): no extra option reaches the separators
    assert a.options[-1] == {} and "autocast" not in f.options[-1]
    with pytest.raises(ConfigError):
        pipe(x, SR, "dog", precision="fp16")  # CPU


# ------------------------------------------------------------------ CPU speed-ups, same outputs
def test_resunet_fast_path_equals_plain_computation():
    """channels-last weights + fused BN/FiLM/activation == the plain expression, NCHW weights."""
    import copy

    import torch.nn.functional as F

    from eventsep.models.separators import resunet

    torch.manual_seed(0)
    m = ResUNet30(channels=(4, 4, 8, 8, 8, 8), condition_size=8).eval()
    for mod in m.modules():  # non-trivial running statistics
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.normal_(0, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.normal_(1, 0.1)
            mod.bias.data.normal_(0, 0.1)
    fast = copy.deepcopy(m).to(memory_format=torch.channels_last)
    x = 0.1 * torch.randn(1, 1, 20000)
    cond = torch.randn(1, 8)

    def plain(bn, h, beta):  # noqa: ANN001, ANN202 - the expression before the fast path
        return F.leaky_relu(bn(h) + beta, 0.01)

    with torch.inference_mode():
        y_fast = fast(x, cond)
        orig = resunet.bn_film_act
        resunet.bn_film_act = plain
        try:
            y_plain = m(x, cond)
        finally:
            resunet.bn_film_act = orig
        y_batch = fast(x.repeat(2, 1, 1), cond.repeat(2, 1))  # per-row shifts: unfused branch
    torch.testing.assert_close(y_fast, y_plain, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(y_batch[:1], y_plain, rtol=1e-5, atol=1e-6)


def test_evaluate_precision_flag_reaches_the_config_fields(tmp_path, monkeypatch):
    import json

    from eventsep.cli import evaluate as cli_evaluate
    from eventsep.cli import main
    from eventsep.core.audio import save_audio

    bench = tmp_path / "bench"
    bench.mkdir()
    noise = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    save_audio(bench / "segment-0.wav", 0.1 * noise[0], 16000, subtype="FLOAT")
    save_audio(bench / "mixture-0.wav", 0.1 * noise.sum(0), 16000, subtype="FLOAT")
    (bench / "metadata.csv").write_text("idx,caption,src_wav,noise_wav\n0,dog,a.wav,b.wav\n")
    seen = []

    def build(name, fields, models, device):  # noqa: ANN001, ANN202
        seen.append(dict(fields))
        return lambda w, sr, p: w

    monkeypatch.setattr(cli_evaluate, "build_separator", build)
    out = tmp_path / "out"
    args = ["evaluate", "--benchmark", "folder", "--data", str(bench), "--out", str(out)]
    assert main([*args, "--config", "audiosep+soft0.55", "--precision", "bf16", "--quiet"]) == 0
    assert seen[-1]["precision"] == "bf16"
    assert json.loads((out / "run.json").read_text())["config_fields"]["precision"] == "bf16"


def test_batch_runs_models_under_the_precision():
    det, a = _Detector(), _Sep(SR)
    pipe = EventSep(_Mapper(), det, a, None)
    x = 0.1 * torch.randn(SR, generator=torch.Generator().manual_seed(1))
    out = pipe.batch([(x, "dog"), (x, "dog")], SR, mode="audiosep", precision="bf16")
    assert det.autocast == [True]
    assert all(r.estimate.dtype == torch.float32 for r in out)
