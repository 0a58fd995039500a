"""Tests of eventsep.method.pipeline: EventSep built from small fake components, then
tiny-random."""

from __future__ import annotations

import math

import pytest
import torch

from eventsep.core.audio import resample, save_audio
from eventsep.core.errors import (
    AudioFileNotFoundError,
    ConfigError,
    NonFiniteAudioError,
    PromptError,
    SampleRateError,
    SilentAudioError,
)
from eventsep.method.fusion import FusionConfig, fuse
from eventsep.method.mapping import LabelMatch
from eventsep.method.pipeline import EventSep, EventSepConfig, EventSepResult, Separations, TimeMask
from eventsep.models.separators.base import Separation, Separator

DOG = 74


class FakeMapper:
    """Maps every prompt to Dog (unconfident for "xyzzy"); records the method asked for."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    def __call__(self, prompt: str, method: str = "default") -> LabelMatch:
        self.methods.append(method)
        confident = prompt != "xyzzy"
        return LabelMatch(
            "Dog", DOG, 0.9 if confident else 0.1, method, ("Dog",), (DOG,), confident, ""
        )


class FakeDetector(torch.nn.Module):
    """Dog active in the first half of the clip (p=0.9) or never (present=False)."""

    sample_rate = 32000
    frames_per_second = 100

    def __init__(self, present: bool = True, level: float = 0.9) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.present = present
        self.level = level
        self.calls = 0

    def detect(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        self.calls += 1
        frames = math.ceil(waveform.shape[-1] / sample_rate * 100) + 1
        probs = torch.full((1, frames, 527), 0.01)
        probs[0, :, DOG] = 0.0
        if self.present:
            probs[0, : frames // 2, DOG] = self.level
        return probs


class FakeAudioSep(torch.nn.Module):
    """A :class:`Separator` returning half its 32 kHz input."""

    sample_rate = 32000

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def extract(
        self, waveform: torch.Tensor, sample_rate: int, prompt: str, **options
    ) -> Separation:
        assert sample_rate == 32000
        assert set(options) <= {"activity", "gate_floor", "autocast"}
        self.calls += 1
        return Separation(0.5 * waveform, 32000, 0, waveform.shape[-1])


class FakeFlowSep(torch.nn.Module):
    """brown(input at 16 kHz) over 8000 samples from 16 kHz sample 4000; records its options.

    The span is scaled by ``steps / 20`` and moved by ``seed`` samples, so that both show in
    the output; ``segment="full"`` covers the whole input.
    """

    sample_rate = 16000

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0
        self.options: list[dict] = []

    def extract(
        self, waveform, sample_rate, prompt, *, segment="random", seed=0, steps=20, **options
    ):
        assert set(options) <= {"activity", "gate_floor", "autocast"}
        self.calls += 1
        self.options.append({"segment": segment, "seed": seed, "steps": steps})
        x = resample(waveform, sample_rate, 16000)
        if segment == "full":
            start, length = 0, x.shape[-1]
        else:
            start = 4000 + seed
            length = min(8000, x.shape[-1] - start)
        span = brown(x[start : start + length]) * (steps / 20)
        return Separation(span, 16000, start, length)


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


# ------------------------------------------------------------------ per-call settings
# Every EventSepConfig field given to a call takes effect in it (and shows in result.config).


def test_call_setting_mode():
    x = _mixture()
    for mode, runs in [("audiosep", (1, 0)), ("flowsep", (0, 1)), ("both", (1, 1))]:
        pipe = _pipe()
        r = pipe(x, 32000, "dog", mode=mode)
        assert r.config.mode == mode and (pipe.audiosep.calls, pipe.flowsep.calls) == runs
    pipe = _pipe(mode="audiosep")
    r = pipe(x, 32000, "dog", mode="ensemble")
    expected = fuse(r.audiosep_estimate, r.flowsep_estimate, r.flowsep_start, r.flowsep_length)
    assert torch.allclose(r.estimate, expected)


def test_call_setting_mask_and_threshold():
    pipe = EventSep(FakeMapper(), FakeDetector(level=0.3), FakeAudioSep(), FakeFlowSep())
    x = _mixture()
    half = pipe(x, 32000, "dog").frame_mask.shape[0] // 2
    soft = pipe(x, 32000, "dog", mask="soft")
    assert soft.frame_mask[:half] == pytest.approx(0.3 / 0.55)
    hard = pipe(x, 32000, "dog", mask="hard")  # 0.3 < 0.55 everywhere: empty, restored
    assert hard.config.mask == "hard" and hard.target_present is False
    assert torch.equal(hard.frame_mask, torch.ones_like(hard.frame_mask))
    low = pipe(x, 32000, "dog", threshold=0.3)
    assert low.config.threshold == 0.3
    assert torch.equal(low.frame_mask[:half], torch.ones(half))
    assert pipe(x, 32000, "dog", threshold=0.6).frame_mask[:half] == pytest.approx(0.5)


def test_call_setting_empty_mask():
    pipe = _pipe(present=False)
    x = _mixture()
    assert torch.allclose(pipe(x, 32000, "dog").masked_input, x)  # default: restore
    s = pipe(x, 32000, "dog", empty_mask="silence")
    assert s.config.empty_mask == "silence" and torch.equal(s.estimate, torch.zeros_like(x))
    assert pipe.audiosep.calls == 1 and pipe.flowsep.calls == 1  # only the first call ran them


def test_call_setting_fusion():
    pipe = _pipe()
    x = _mixture()
    r = pipe(x, 32000, "dog", fusion={"rule": "band", "cutoff_hz": 2000.0})
    assert r.config.fusion == FusionConfig(rule="band", cutoff_hz=2000.0)
    band = FusionConfig(rule="band", cutoff_hz=2000.0)
    expected = fuse(r.audiosep_estimate, r.flowsep_estimate, 4000, 8000, band)
    assert torch.allclose(r.estimate, expected)
    assert not torch.allclose(r.estimate, pipe(x, 32000, "dog").estimate)


def test_call_setting_flowsep_steps_segment_seed():
    pipe = _pipe()
    x = _mixture()
    base = pipe(x, 32000, "dog", mode="both")
    steps = pipe(x, 32000, "dog", mode="both", flowsep_steps=5)
    seed = pipe(x, 32000, "dog", mode="both", seed=7)
    full = pipe(x, 32000, "dog", mode="both", segment="full")
    assert pipe.flowsep.options == [
        {"segment": "random", "seed": 0, "steps": 20},
        {"segment": "random", "seed": 0, "steps": 5},
        {"segment": "random", "seed": 7, "steps": 20},
        {"segment": "full", "seed": 0, "steps": 20},
    ]
    assert torch.allclose(steps.flowsep_estimate, base.flowsep_estimate / 4)
    assert (seed.flowsep_start, seed.config.seed) == (4007, 7)
    assert (full.flowsep_start, full.flowsep_length, full.config.segment) == (0, 16000, "full")
    assert steps.config.flowsep_steps == 5


def test_call_setting_sed_head():
    heads = {"att": FakeDetector(level=0.9), "max": FakeDetector(level=0.3)}
    pipe = EventSep(FakeMapper(), heads, FakeAudioSep(), FakeFlowSep())
    x = _mixture()
    r = pipe(x, 32000, "dog", sed_head="max")
    assert r.config.sed_head == "max" and float(r.class_probs.max()) == pytest.approx(0.3)
    assert (heads["att"].calls, heads["max"].calls) == (0, 1)
    assert float(pipe(x, 32000, "dog").class_probs.max()) == pytest.approx(0.9)


def test_sed_head_loader_runs_once_on_demand():
    loaded: list[str] = []

    def load_max() -> FakeDetector:
        loaded.append("max")
        return FakeDetector(level=0.3)

    pipe = EventSep(FakeMapper(), {"att": FakeDetector(), "max": load_max}, FakeAudioSep(), None)
    x = _mixture()
    pipe(x, 32000, "dog", mode="audiosep")
    assert loaded == []
    pipe(x, 32000, "dog", mode="audiosep", sed_head="max")
    pipe(x, 32000, "dog", mode="audiosep", sed_head="max")
    assert loaded == ["max"] and isinstance(pipe.detectors["max"], FakeDetector)
    assert pipe.detector is pipe.detectors["att"]  # the default head


def test_sed_head_missing_detector_names_the_fix():
    pipe = _pipe()  # one detector, for the default head
    with pytest.raises(ConfigError, match=r"no detector for SED head 'max'.*detector=\{'att'"):
        pipe(_mixture(), 32000, "dog", sed_head="max")
    assert pipe(_mixture(), 32000, "dog", sed_head="max", mask="none").frame_mask is None
    with pytest.raises(ConfigError, match="unknown SED head"):
        EventSep(FakeMapper(), {"avg": FakeDetector()}, FakeAudioSep(), None)


def test_single_detector_head_must_match_config():
    det = FakeDetector()
    det.head = "max"
    with pytest.raises(ConfigError, match="sed_head='max'"):
        EventSep(FakeMapper(), det, FakeAudioSep(), None)
    pipe = EventSep(FakeMapper(), det, FakeAudioSep(), None, config=EventSepConfig(sed_head="max"))
    assert pipe.detectors == {"max": det}


def test_call_setting_mapping_method():
    pipe = _pipe()
    x = _mixture()
    assert pipe(x, 32000, "dog").match.method == "default"
    r = pipe(x, 32000, "dog", mapping_method="paper")
    assert r.config.mapping_method == "paper" and r.match.method == "paper"
    assert pipe.mapper.methods == ["default", "paper"]


# ------------------------------------------------------------------ stages
def test_stage_map():
    pipe = _pipe()
    assert pipe.map("dog").method == "default"
    assert pipe.map("dog", EventSepConfig(mapping_method="paper")).method == "paper"


def test_stage_detect():
    heads = {"att": FakeDetector(level=0.9), "max": FakeDetector(level=0.3)}
    pipe = EventSep(FakeMapper(), heads, FakeAudioSep(), FakeFlowSep())
    mix = _mixture()
    probs = pipe.detect(mix)
    assert probs.shape == (101, 527) and float(probs[0, DOG]) == pytest.approx(0.9)
    assert float(pipe.detect(mix, EventSepConfig(sed_head="max"))[0, DOG]) == pytest.approx(0.3)


def test_stage_mask():
    pipe = _pipe()
    mix = _mixture()
    probs = pipe.detect(mix)
    tm = pipe.mask(mix, probs, pipe.map("dog"))
    assert isinstance(tm, TimeMask) and tm.target_present and not tm.silent
    assert tm.class_probs.shape == (101, 1) and tm.frames_per_second == 100.0
    assert torch.equal(tm.frame_mask[:50], torch.ones(50)) and float(tm.frame_mask[60]) == 0.0
    assert torch.equal(tm.masked[:8000], mix[:8000]) and tm.masked[-8000:].abs().max() == 0
    empty = torch.zeros_like(probs)
    silent = pipe.mask(mix, empty, pipe.map("dog"), EventSepConfig(empty_mask="silence"))
    assert silent.silent and not silent.target_present and "output is silence" in silent.notes[0]
    restored = pipe.mask(mix, empty, pipe.map("dog"))
    assert not restored.silent and torch.equal(restored.masked, mix)


def test_stage_separate():
    pipe = _pipe()
    masked = _mixture()
    seps = pipe.separate(masked, "dog", EventSepConfig(mode="both"))
    assert isinstance(seps, Separations) and set(seps.seconds) == {"audiosep", "flowsep"}
    a, f = seps.audiosep, seps.flowsep
    assert (a.sample_rate, a.start, a.length) == (32000, 0, 32000)
    assert torch.equal(a.waveform, 0.5 * masked)
    assert (f.sample_rate, f.start, f.length) == (16000, 4000, 8000)
    only = pipe.separate(masked, "dog", EventSepConfig(mode="audiosep"))
    assert only.flowsep is None and pipe.flowsep.calls == 1


def test_stage_combine():
    pipe = _pipe()
    masked = _mixture()
    seps = pipe.separate(masked, "dog", EventSepConfig(mode="both"))
    a, f = seps.audiosep, seps.flowsep
    n = masked.shape[-1]
    assert pipe.combine(seps, n, EventSepConfig(mode="audiosep")) is a.waveform
    assert pipe.combine(seps, n, EventSepConfig(mode="both")) is a.waveform
    placed = pipe.combine(seps, n, EventSepConfig(mode="flowsep"))
    assert torch.equal(placed, f.placed(n, 32000))
    band = EventSepConfig(fusion={"rule": "band"})
    expected = fuse(a.waveform, f.waveform, 4000, 8000, band.fusion)
    assert torch.allclose(pipe.combine(seps, n, band), expected)


def test_call_is_the_stages_in_order():
    pipe = _pipe()
    x = _mixture()
    r = pipe(x, 32000, " dog ")
    cfg = pipe.config
    match = pipe.map("dog", cfg)
    tm = pipe.mask(x, pipe.detect(x, cfg), match, cfg)
    estimate = pipe.combine(pipe.separate(tm.masked, "dog", cfg), x.shape[-1], cfg)
    assert torch.equal(r.estimate, estimate) and torch.equal(r.frame_mask, tm.frame_mask)


# ------------------------------------------------------------------ separator contract
class PlainSeparator:
    """A separator that implements only the Separator protocol (no nn.Module, no separate)."""

    sample_rate = 8000

    def extract(self, waveform, sample_rate, prompt, **options) -> Separation:
        x = resample(waveform, sample_rate, 8000)
        return Separation(-x[800:1600], 8000, 800, 800)


def test_protocol_only_separator_works_in_eventsep():
    assert isinstance(PlainSeparator(), Separator)
    assert isinstance(FakeAudioSep(), Separator) and isinstance(FakeFlowSep(), Separator)
    pipe = EventSep(FakeMapper(), None, PlainSeparator(), None, config=EventSepConfig(mask="none"))
    x = _mixture()
    r = pipe(x, 32000, "dog", mode="audiosep")
    expected = Separation(-resample(x, 32000, 8000)[800:1600], 8000, 800, 800).placed(32000, 32000)
    assert r.estimate.shape == x.shape and torch.equal(r.estimate, expected)
    assert r.estimate[:3000].abs().max() == 0 and r.estimate[3300:6000].abs().max() > 0
    with pytest.raises(ConfigError, match="Separator"):
        EventSep(FakeMapper(), None, object(), None)


def test_separation_placed():
    s = Separation(torch.arange(1.0, 5.0), 4, 2, 4)
    assert torch.equal(s.placed(8), torch.tensor([0, 0, 1, 2, 3, 4, 0, 0.0]))
    assert torch.equal(s.placed(4), torch.tensor([0, 0, 1, 2.0]))  # cut at the end
    assert torch.equal(Separation(torch.zeros(0), 4, 3, 0).placed(5), torch.zeros(5))
    # 800 samples from 0.05 s at 8 kHz -> 1600 samples from 0.05 s at 16 kHz
    up = Separation(0.1 * torch.ones(800), 8000, 400, 800).placed(4000, 16000)
    assert up[:800].abs().max() == 0 and up[2400:].abs().max() == 0
    assert up[900:2300].sub(0.1).abs().max() < 1e-2


# ------------------------------------------------------------------ tiny-random
@pytest.fixture(scope="module")
def tiny() -> EventSep:
    return EventSep.from_pretrained("tiny-random")


def test_tiny_random_end_to_end(tiny):
    pipe = tiny
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

    from eventsep.core.errors import WeightsNotFoundError

    cache = os.environ["EVENTSEP_CACHE"]
    with pytest.raises(WeightsNotFoundError, match=f"not found in {tmp_path}/"):
        EventSep.from_pretrained(tmp_path)  # an empty folder: the checkpoints are looked up there
    assert os.environ["EVENTSEP_CACHE"] == cache


def test_tiny_sed_head_per_call(tiny):
    from eventsep.models.sed import Cnn14SED

    x = _mixture(1.0, 32000)
    att = tiny(x, 32000, "dog barking", mode="audiosep")
    mx = tiny(x, 32000, "dog barking", mode="audiosep", sed_head="max")
    assert (att.config.sed_head, mx.config.sed_head) == ("att", "max")
    assert tiny.detectors["max"].head == "max" and tiny.detector.head == "att"
    ref = Cnn14SED.tiny_random(head="max", seed=0).detect(mx.mixture, 32000)[0]
    torch.testing.assert_close(mx.class_probs, ref[:, list(mx.match.indices)], rtol=0, atol=0)
    assert not torch.allclose(mx.class_probs, att.class_probs)


def test_tiny_mapping_method_per_call(tiny):
    x = _mixture(0.5, 32000)
    paper = tiny(x, 32000, "human talking", mode="audiosep", mask="none", mapping_method="paper")
    default = tiny(x, 32000, "human talking", mode="audiosep", mask="none")
    assert paper.config.mapping_method == "paper"
    assert (paper.match.label, paper.match.method) == ("Hum", "substring")
    assert default.match.label != "Hum" and default.match.method != "substring"


def test_tiny_flowsep_settings_per_call(tiny):
    x = _mixture(1.5, 32000)  # 24000 samples at 16 kHz: more than one 20480-sample segment
    kw = dict(mode="flowsep", mask="none", flowsep_steps=1)
    r = tiny(x, 32000, "dog", seed=3, **kw)
    direct = tiny.flowsep.separate(resample(x, 32000, 16000), 16000, "dog", seed=3, steps=1)
    assert (r.flowsep_start, r.flowsep_length) == (direct.start, direct.length)
    assert direct.start > 0 and direct.length == 20480  # seed 3 draws a later start
    torch.testing.assert_close(r.flowsep_estimate, direct.waveform / direct.gain)
    assert any("silent elsewhere" in n for n in r.notes)
    full = tiny(x, 32000, "dog", segment="full", **kw)
    assert (full.flowsep_start, full.flowsep_length) == (0, 24000)
    assert full.estimate[-100:].abs().max() > 0
    assert not any("silent elsewhere" in n for n in full.notes)


def test_tiny_separators_do_not_check_again(tiny, monkeypatch):
    """The pipeline checks its inputs once; the separators' own checks are not run again."""
    from eventsep.models.separators import audiosep, flowsep

    def fail(*args, **kwargs):
        raise AssertionError("checked twice")

    monkeypatch.setattr(audiosep, "_check_prompts", fail)
    monkeypatch.setattr(flowsep.FlowSepSeparator, "_prepare", fail)
    r = tiny(_mixture(0.5, 32000), 32000, "dog", mode="both", mask="none", flowsep_steps=1)
    assert torch.isfinite(r.estimate).all()
