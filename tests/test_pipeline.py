"""Tests of eventsep.pipeline: EventSep built from small fake components, then tiny-random."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from eventsep.audio import resample, save_audio
from eventsep.errors import (
    AudioFileNotFoundError,
    ConfigError,
    NonFiniteAudioError,
    PromptError,
    SampleRateError,
    SilentAudioError,
)
from eventsep.fusion import FusionConfig, fuse
from eventsep.mapping import LabelMatch
from eventsep.pipeline import EventSep, EventSepConfig, EventSepResult
from eventsep.separators.flowsep import FlowSepOutput

DOG = 74


class FakeMapper:
    def __call__(self, prompt: str) -> LabelMatch:
        confident = prompt != "xyzzy"
        return LabelMatch(
            "Dog", DOG, 0.9 if confident else 0.1, "fake", ("Dog",), (DOG,), confident, ""
        )


class FakeDetector(torch.nn.Module):
    """Dog active in the first half of the clip (p=0.9) or never (present=False)."""

    sample_rate = 32000
    frames_per_second = 100

    def __init__(self, present: bool = True) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.present = present
        self.calls = 0

    def detect(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        self.calls += 1
        frames = math.ceil(waveform.shape[-1] / sample_rate * 100) + 1
        probs = torch.full((1, frames, 527), 0.01)
        probs[0, :, DOG] = 0.0
        if self.present:
            probs[0, : frames // 2, DOG] = 0.9
        return probs


class FakeAudioSep(torch.nn.Module):
    sample_rate = 32000

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def separate(self, waveform: torch.Tensor, sample_rate: int, prompt: str) -> torch.Tensor:
        assert sample_rate == 32000
        self.calls += 1
        return 0.5 * waveform


class FakeFlowSep(torch.nn.Module):
    """Returns brown(input) over 8000 samples from 16 kHz sample 4000, with gain 4."""

    sample_rate = 16000

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def separate(self, waveform, sample_rate, prompt, segment="random", seed=0, steps=20):
        assert sample_rate == 16000
        self.calls += 1
        start, length = 4000, min(8000, waveform.shape[-1] - 4000)
        span = 4.0 * brown(waveform[start : start + length])
        return FlowSepOutput(span, 16000, start, length, gain=4.0)


def brown(x: torch.Tensor) -> torch.Tensor:
    """A spectral change (integration) so that FlowSep differs from AudioSep in shape."""
    return 0.05 * torch.cumsum(x, dim=-1)


def _pipe(present: bool = True, **cfg) -> EventSep:
    return EventSep(
        FakeMapper(),
        FakeDetector(present),
        FakeAudioSep(),
        FakeFlowSep(),
        config=EventSepConfig(**cfg),
    )


def _mixture(seconds: float = 1.0, sr: int = 32000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(int(seconds * sr), generator=g)


# ------------------------------------------------------------------ config
def test_config_defaults_are_the_papers_best():
    c = EventSepConfig()
    assert (c.mode, c.mask, c.threshold) == ("ensemble", "soft", 0.55)
    assert (c.fusion.rule, c.fusion.rate, c.fusion.cutoff_hz) == ("rate", 0.3, 4000.0)
    assert (c.fusion.n_fft, c.fusion.hop_length, c.flowsep_steps) == (1024, 256, 20)
    assert (c.segment, c.empty_mask, c.mapping_method, c.sed_head) == (
        "random",
        "restore",
        "default",
        "att",
    )
    assert c.fusion == FusionConfig()
    assert c.to_dict()["threshold"] == 0.55


@pytest.mark.parametrize(
    "bad",
    [
        {"mode": "karaoke"},
        {"fusion": {"rule": "median"}},
        {"mask": "fuzzy"},
        {"threshold": 0.0},
        {"fusion": {"rate": 2.0}},
        {"fusion": {"window": 3}},
        {"empty_mask": "ignore"},
        {"flowsep_steps": 0},
        {"segment": "half"},
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ConfigError):
        EventSepConfig(**bad)


def test_config_replace_unknown_option():
    with pytest.raises(ConfigError, match="unknown EventSep option"):
        EventSepConfig().replace(colour="red")
    assert EventSepConfig().replace(mode="both").mode == "both"
    # the former flat fusion names point at the nested FusionConfig
    with pytest.raises(ConfigError, match=r"fusion=\{'rule'"):
        EventSepConfig().replace(fusion_rule="band")


def test_config_fusion_is_one_nested_config():
    c = EventSepConfig(fusion={"rule": "band", "rate": 0.1})
    assert c.fusion == FusionConfig(rule="band", rate=0.1)
    # a mapping is merged into the current settings, a FusionConfig replaces them
    assert c.replace(fusion={"cutoff_hz": 2000.0}).fusion == FusionConfig(
        rule="band", rate=0.1, cutoff_hz=2000.0
    )
    assert c.replace(fusion=FusionConfig()).fusion == FusionConfig()
    assert EventSepConfig(**c.to_dict()) == c  # JSON round trip


# ------------------------------------------------------------------ calls
def test_ensemble_call_with_soft_mask():
    pipe = _pipe()
    x16 = _mixture(1.0, 16000)  # input at 16 kHz: the pipeline works at 32 kHz
    r = pipe(x16, 16000, "  dog   barking ")
    assert isinstance(r, EventSepResult)
    assert r.prompt == "dog barking"
    mix = resample(x16, 16000, 32000)
    assert r.sample_rate == 32000 and r.estimate.shape == mix.shape
    assert torch.allclose(r.mixture, mix)
    # mask: p=0.9 >= tau in the first half (soft -> 1), 0.01/0.55 afterwards
    frames = r.frame_mask.shape[0]
    assert r.all_probs.shape == (frames, 527) and r.class_probs.shape == (frames, 1)
    assert torch.allclose(r.frame_mask[: frames // 2], torch.ones(frames // 2))
    assert torch.equal(r.frame_mask[frames // 2 + 1 :], torch.zeros(frames - frames // 2 - 1))
    assert r.target_present is True
    assert r.mask_coverage == pytest.approx((frames // 2) / frames)
    # separators saw the masked input
    assert torch.allclose(r.audiosep_estimate, 0.5 * r.masked_input)
    assert r.masked_input[:8000].abs().max() > 0.05  # unmasked start
    assert r.masked_input[-8000:].abs().max() == 0.0  # masked end
    assert (r.flowsep_start, r.flowsep_length) == (4000, 8000)
    f_in = resample(r.masked_input, 32000, 16000)
    assert torch.allclose(r.flowsep_estimate, brown(f_in[4000:12000]), atol=1e-6)  # gain undone
    expected = fuse(r.audiosep_estimate, r.flowsep_estimate, 4000, 8000)
    assert torch.allclose(r.estimate, expected)
    assert set(r.timings) >= {"mapping", "sed", "audiosep", "flowsep", "fusion", "total"}
    assert r.notes == ()
    rep = r.report()
    assert rep["classes"] == [{"label": "Dog", "index": DOG}]
    assert rep["target_present"] is True and rep["flowsep_span"]["start_s"] == 0.25
    assert rep["class_max_prob"] == [pytest.approx(0.9)]


def test_audiosep_mode_without_mask():
    pipe = _pipe()
    x = _mixture()
    r = pipe(x, 32000, "dog", mode="audiosep", mask="none")
    assert torch.equal(r.estimate, 0.5 * x)
    assert r.frame_mask is None and r.all_probs is None and r.flowsep_estimate is None
    assert pipe.detector.calls == 0 and pipe.flowsep.calls == 0
    assert any("SED not run" in n for n in r.notes)
    assert r.mask_coverage == 1.0
    assert pipe.config.mode == "ensemble"  # overrides do not stick


def test_both_mode_and_refusion():
    pipe = _pipe()
    x = _mixture()
    both = pipe(x, 32000, "dog", mode="both")
    assert torch.equal(both.estimate, both.audiosep_estimate)
    ens = pipe(x, 32000, "dog")
    assert torch.allclose(pipe.fuse(both), ens.estimate)
    assert torch.allclose(pipe.fuse(both, rule="rate", rate=0.0), both.audiosep_estimate, atol=1e-5)
    band = pipe.fuse(both, rule="band")
    assert not torch.allclose(band, ens.estimate)
    with pytest.raises(ConfigError):
        pipe.fuse(pipe(x, 32000, "dog", mode="audiosep"))


def test_flowsep_mode_places_span():
    pipe = _pipe()
    x = _mixture()
    r = pipe(x, 32000, "dog", mode="flowsep", mask="none")
    assert r.audiosep_estimate is None and pipe.audiosep.calls == 0
    assert r.estimate.shape == x.shape
    assert r.estimate[:7000].abs().max() < 1e-3 and r.estimate[-7000:].abs().max() < 1e-3
    x16 = resample(x, 32000, 16000)
    expected = resample(brown(x16[4000:12000]), 16000, 32000)
    assert torch.allclose(r.estimate[8000:24000], expected, atol=1e-6)
    assert any("silent elsewhere" in n for n in r.notes)


def test_target_absent_restore_and_silence():
    x = _mixture()
    r = _pipe(present=False)(x, 32000, "dog")
    assert r.target_present is False
    assert torch.equal(r.frame_mask, torch.ones_like(r.frame_mask))
    assert torch.allclose(r.masked_input, r.mixture)
    assert any("not detected" in n and "restored" in n for n in r.notes)
    pipe = _pipe(present=False, empty_mask="silence")
    s = pipe(x, 32000, "dog")
    assert s.target_present is False and torch.equal(s.estimate, torch.zeros_like(x))
    assert pipe.audiosep.calls == 0 and pipe.flowsep.calls == 0
    assert s.report()["mask_coverage"] == 0.0


def test_unconfident_prompt_skips_masking():
    pipe = _pipe()
    r = pipe(_mixture(), 32000, "xyzzy")
    assert r.frame_mask is None and pipe.detector.calls == 0
    assert any("time masking skipped" in n for n in r.notes)


def test_input_errors():
    pipe = _pipe()
    x = _mixture()
    with pytest.raises(PromptError):
        pipe(x, 32000, "   ")
    with pytest.raises(PromptError):
        pipe(x, 32000, None)
    with pytest.raises(SilentAudioError):
        pipe(torch.zeros(32000), 32000, "dog")
    bad = x.clone()
    bad[10] = float("nan")
    with pytest.raises(NonFiniteAudioError):
        pipe(bad, 32000, "dog")
    with pytest.raises(ConfigError, match="unknown mode"):
        pipe(x, 32000, "dog", mode="karaoke")
    with pytest.raises(ConfigError, match="unknown fusion rule"):
        pipe(x, 32000, "dog", fusion={"rule": "median"})
    with pytest.raises(SampleRateError):
        pipe(x, 0, "dog")
    no_flow = EventSep(FakeMapper(), FakeDetector(), FakeAudioSep(), None)
    with pytest.raises(ConfigError, match="FlowSep"):
        no_flow(x, 32000, "dog")
    assert no_flow(x, 32000, "dog", mode="audiosep").estimate.shape == x.shape


def test_stereo_input_is_averaged():
    pipe = _pipe()
    x = _mixture()
    r = pipe(torch.stack([x, 3 * x]), 32000, "dog", mode="audiosep", mask="none")
    assert torch.allclose(r.estimate, 0.5 * 2 * x)


def test_separate_file(tmp_path):
    pipe = _pipe()
    x = _mixture(0.5, 16000)
    save_audio(tmp_path / "m.wav", x, 16000)
    r = pipe.separate_file(tmp_path / "m.wav", "dog", mode="audiosep")
    assert r.estimate.shape == (16000,)
    with pytest.raises(AudioFileNotFoundError):
        pipe.separate_file(tmp_path / "missing.wav", "dog")
    with pytest.raises(PromptError):
        pipe.separate_file(tmp_path / "m.wav", "")


def test_device_and_reuse():
    pipe = _pipe()
    assert pipe.to("cpu") is pipe and pipe.device == torch.device("cpu")
    det = pipe.detector
    pipe(_mixture(), 32000, "dog")
    pipe(_mixture(seed=1), 32000, "cat")
    assert pipe.detector is det and det.calls == 2
    assert "EventSep(" in repr(pipe)


def test_from_pretrained_unknown_model_set(tmp_path):
    with pytest.raises(ConfigError, match="unknown model set"):
        EventSep.from_pretrained("nonsense")
    with pytest.raises(ConfigError, match="unknown model set"):
        EventSep.from_pretrained(tmp_path / "missing-folder")


# ------------------------------------------------------------------ tiny-random
_HAVE_ALL = all(
    importlib.util.find_spec(m) is not None
    for m in ("eventsep.mapping", "eventsep.sed", "eventsep.separators.audiosep")
)


@pytest.mark.skipif(not _HAVE_ALL, reason="components not all present yet")
def test_tiny_random_end_to_end():
    pipe = EventSep.from_pretrained("tiny-random")
    assert pipe.models == "tiny-random" and "models='tiny-random'" in repr(pipe)
    x = _mixture(1.0, 32000)
    r = pipe(x, 32000, "dog barking", mode="both", flowsep_steps=2)
    assert r.estimate.shape == x.shape and torch.equal(r.estimate, r.audiosep_estimate)
    assert r.match.label in r.match.labels
    assert r.all_probs.shape[-1] == 527 and r.class_probs.shape[-1] == len(r.match.indices)
    assert r.flowsep_estimate.shape == (r.flowsep_length,)
    fused = pipe.fuse(r)
    assert fused.shape == x.shape and torch.isfinite(fused).all()
    assert torch.allclose(pipe.fuse(r, rate=0.0), r.audiosep_estimate, atol=1e-5)


def test_from_pretrained_folder_is_the_checkpoint_cache(tmp_path):
    import os

    from eventsep.errors import WeightsNotFoundError

    cache = os.environ["EVENTSEP_CACHE"]
    with pytest.raises(WeightsNotFoundError, match=str(tmp_path / "pann-cnn14")):
        EventSep.from_pretrained(tmp_path)  # an empty folder: the detector is looked up there
    assert os.environ["EVENTSEP_CACHE"] == cache
