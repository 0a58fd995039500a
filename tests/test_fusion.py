"""Tests of eventsep.method.fusion: alignment, the five magnitude rules, span overlap-add, high
band."""

from __future__ import annotations

import math

import pytest
import torch

from eventsep.core.audio import resample
from eventsep.core.dsp import crossfade_window
from eventsep.core.errors import ConfigError
from eventsep.method.fusion import (
    FUSION_RULES,
    FusionConfig,
    STFTFusion,
    align_span,
    fuse,
    fuse_segments,
    fusion_weights,
    match_rms,
    overlap_add_span,
)

SR32, SR16 = 32000, 16000


def _noise(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(n, generator=g)


def _sine(freq: float, n: int, sr: int, amp: float = 0.3) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float64) / sr
    return (amp * torch.sin(2 * math.pi * freq * t)).float()


def _band_energy(x: torch.Tensor, sr: int, lo: float, hi: float) -> float:
    spec = torch.fft.rfft(x.double())
    freqs = torch.fft.rfftfreq(x.shape[-1], 1 / sr)
    sel = (freqs >= lo) & (freqs < hi)
    return float((spec[sel].abs() ** 2).sum())


# ------------------------------------------------------------------ weights
def test_weights_values_at_edges():
    n = 513
    rate = fusion_weights("rate", n, SR16, rate=0.3)
    assert torch.allclose(rate, torch.full((n,), 0.7))
    prog = fusion_weights("progressive", n, SR16, rate=0.3)
    assert prog[0].item() == pytest.approx(1.0)
    assert prog[-1].item() == pytest.approx(0.7)
    assert torch.all(prog[1:] <= prog[:-1])  # falls with frequency
    rprog = fusion_weights("reverse-progressive", n, SR16, rate=0.3)
    assert rprog[0].item() == pytest.approx(0.7)
    assert rprog[-1].item() == pytest.approx(1.0)
    band = fusion_weights("band", n, SR16, cutoff_hz=4000.0)
    # bin spacing 15.625 Hz: bins 0..256 (<= 4000 Hz) are AudioSep's
    assert band[:257].eq(1).all() and band[257:].eq(0).all()


def test_band_rules_are_complementary():
    for n, fc in [(513, 4000.0), (513, 1234.5), (129, 7999.0)]:
        band = fusion_weights("band", n, SR16, cutoff_hz=fc)
        rev = fusion_weights("reverse-band", n, SR16, cutoff_hz=fc)
        assert torch.equal(band + rev, torch.ones(n))
        assert set(band.unique().tolist()) <= {0.0, 1.0}
    prog = fusion_weights("progressive", 513, SR16, rate=0.4)
    rprog = fusion_weights("reverse-progressive", 513, SR16, rate=0.4)
    # mirror images of each other; their sum is flat (2 - a)
    assert torch.allclose(prog, rprog.flip(0))
    assert torch.allclose(prog + rprog, torch.full((513,), 1.6))


def test_unknown_rule_and_bad_rate():
    with pytest.raises(ConfigError, match="unknown fusion rule"):
        fusion_weights("median", 513)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        fusion_weights("rate", 513, rate=1.5)
    with pytest.raises(ConfigError):
        FusionConfig(rule="nope")
    with pytest.raises(ConfigError):
        FusionConfig(hop_length=2048)


# ---------------------------------------------------------------- segments
@pytest.mark.parametrize("rule", FUSION_RULES)
def test_identical_segments_return_input(rule):
    a = _noise(16000, 0)
    out = fuse_segments(a, a.clone(), rule, rate=0.3)
    assert out.shape == a.shape
    assert torch.allclose(out, a, atol=1e-6)


def test_rate_zero_returns_audiosep_segment():
    a, f = _noise(12345, 1), _noise(12345, 2)
    out = fuse_segments(a, f, "rate", rate=0.0)
    assert torch.allclose(out, a, atol=1e-6)


def test_band_split_takes_each_band_from_its_source():
    n = 16000
    a = _sine(1000.0, n, SR16) + _sine(6000.0, n, SR16, 0.05)
    f = _sine(1000.0, n, SR16, 0.05) + _sine(6000.0, n, SR16)
    out = fuse_segments(a, f, "band", cutoff_hz=4000.0)
    low = _band_energy(out, SR16, 900, 1100)
    high = _band_energy(out, SR16, 5900, 6100)
    # low band: A's 0.3 sine, high band: F's 0.3 magnitude -> both strong
    assert low == pytest.approx(_band_energy(a, SR16, 900, 1100), rel=0.05)
    assert high == pytest.approx(_band_energy(f, SR16, 5900, 6100), rel=0.05)
    rev = fuse_segments(a, f, "reverse-band", cutoff_hz=4000.0)
    assert _band_energy(rev, SR16, 900, 1100) < 0.05 * low
    assert _band_energy(rev, SR16, 5900, 6100) < 0.05 * high


def test_rate_magnitude_is_weighted_mean():
    # same phase (A and 2A): fused magnitude is (1-a)|A| + a|2A| = (1+a) A
    a = _noise(8000, 3)
    out = fuse_segments(a, 2 * a, "rate", rate=0.25)
    assert torch.allclose(out, 1.25 * a, atol=1e-5)


def test_short_segment_is_handled():
    a = _noise(100, 4)
    out = fuse_segments(a, a.clone(), "progressive")
    assert torch.allclose(out, a, atol=1e-6)


# ---------------------------------------------------------------- alignment
def test_match_rms():
    x, ref = _noise(1000, 5), 3.0 * _noise(700, 6)
    y = match_rms(x, ref)
    assert y.pow(2).mean().sqrt().item() == pytest.approx(ref.pow(2).mean().sqrt().item(), rel=1e-5)
    assert match_rms(torch.zeros(10), ref).abs().max().item() == 0.0


def test_align_span_crops_to_clip():
    a16 = torch.arange(100.0)
    f = torch.ones(50)
    a_seg, f_seg, start, length = align_span(a16, f, 80)
    assert (start, length) == (80, 20)
    assert torch.equal(a_seg, a16[80:]) and f_seg.shape == (20,)
    with pytest.raises(ConfigError):
        align_span(a16, f, -1)


# ---------------------------------------------------------------- overlap-add
def test_overlap_add_span_borders():
    base = torch.zeros(1000)
    seg = torch.ones(200)
    out = overlap_add_span(base, seg, 300, fade=50)
    assert torch.equal(out[:300], torch.zeros(300))
    assert torch.equal(out[500:], torch.zeros(500))
    assert torch.equal(out[350:450], torch.ones(100))
    assert torch.allclose(out[300:350], crossfade_window(200, 50, 50)[:50])
    assert torch.allclose(out[450:500], crossfade_window(200, 50, 50)[150:])
    # a span touching the clip's edges is not faded there
    out0 = overlap_add_span(base, seg, 0, fade=50)
    assert out0[0].item() == 1.0 and out0[199].item() < 0.05
    out_end = overlap_add_span(base, seg, 800, fade=50)
    assert out_end[-1].item() == 1.0 and out_end[800].item() < 0.05
    # pasting the base's own content is a no-op; hard paste replaces exactly
    x = _noise(1000, 7)
    assert torch.allclose(overlap_add_span(x, x[100:400], 100, fade=64), x)
    hard = overlap_add_span(x, seg, 300, fade=0)
    assert torch.equal(hard[300:500], seg) and torch.equal(hard[:300], x[:300])
    with pytest.raises(ValueError):
        overlap_add_span(base, seg, 900)


# ---------------------------------------------------------------- full fusion
def _inputs(n32: int = 64000, start: int = 6000, length: int = 16000):
    a32 = _noise(n32, 10) + _sine(12000.0, n32, SR32, 0.1)
    f16 = _noise(length, 11)
    return a32, f16, start, length


@pytest.mark.parametrize("rule", FUSION_RULES)
def test_fuse_identical_inputs_returns_audiosep(rule):
    a32, _, start, length = _inputs()
    f16 = resample(a32, SR32, SR16)[start : start + length]
    out = fuse(a32, f16, start, length, FusionConfig(rule=rule))
    assert out.shape == a32.shape
    assert torch.allclose(out, a32, atol=1e-5)


def test_fuse_rate_zero_returns_audiosep():
    a32, f16, start, length = _inputs()
    out = fuse(a32, f16, start, length, FusionConfig(rule="rate", rate=0.0))
    assert torch.allclose(out, a32, atol=1e-5)


def test_fuse_changes_only_the_span_and_low_band():
    a32, f16, start, length = _inputs()
    out = fuse(a32, f16, start, length, FusionConfig(rule="rate", rate=0.5, crossfade=256))
    diff = out - a32
    s32, e32 = 2 * start, 2 * (start + length)
    margin = 400  # resampler filter support, in 32 kHz samples
    assert diff[: s32 - margin].abs().max().item() < 1e-6
    assert diff[e32 + margin :].abs().max().item() < 1e-6
    assert diff[s32 + 1024 : e32 - 1024].abs().max().item() > 1e-2  # the span did change
    # nothing above FlowSep's band changed: AudioSep's 12 kHz tone is intact
    assert _band_energy(diff, SR32, 8500, 16000) < 1e-6 * _band_energy(a32, SR32, 8500, 16000)


def test_bandlimit_8k_reproduces_authors_band_limit():
    a32, f16, start, length = _inputs()
    high_in = _band_energy(a32, SR32, 8500, 16000)
    kept = fuse(a32, f16, start, length, FusionConfig(bandlimit_8k=False, crossfade=0))
    limited = fuse(a32, f16, start, length, FusionConfig(bandlimit_8k=True, crossfade=0, clip=True))
    assert _band_energy(kept, SR32, 8500, 16000) == pytest.approx(high_in, rel=1e-3)
    assert _band_energy(limited, SR32, 8500, 16000) < 1e-3 * high_in
    assert limited.shape == a32.shape and limited.abs().max() <= 1.0
    # below 8 kHz both agree (they differ only by the high band)
    assert _band_energy(kept - limited, SR32, 0, 7500) < 1e-3 * _band_energy(kept, SR32, 0, 7500)


def test_fuse_odd_length_and_span_past_end():
    a32 = _noise(32001, 12)
    f16 = _noise(16000, 13)
    out = fuse(a32, f16, 10000, 16000, FusionConfig(rule="band"))
    assert out.shape == (32001,)
    assert torch.isfinite(out).all()
    # start beyond the clip: nothing to fuse
    assert torch.allclose(fuse(a32, f16, 20000, 16000), a32, atol=1e-6)


def test_stft_fusion_component_overrides():
    a32, f16, start, length = _inputs()
    fuser = STFTFusion(FusionConfig(rule="progressive", rate=0.3))
    assert torch.allclose(
        fuser(a32, f16, start, length),
        fuse(a32, f16, start, length, FusionConfig(rule="progressive")),
    )
    assert torch.allclose(
        fuser(a32, f16, start, length, config=FusionConfig(rate=0.0)), a32, atol=1e-5
    )
    assert "progressive" in repr(fuser)


def test_fuse_expected_slice():
    """Pins the numbers of one fusion (rule 'band') so a change of any step shows up."""
    a32, f16, start, length = _inputs()
    out = fuse(a32, f16, start, length, FusionConfig(rule="band", cutoff_hz=4000.0))
    s = 2 * start + 8000
    got = out[s : s + 4]
    ref = torch.tensor(EXPECTED_BAND_SLICE)
    assert torch.allclose(got, ref, atol=1e-4), got.tolist()
    assert out.double().pow(2).mean().item() == pytest.approx(EXPECTED_BAND_MS, rel=1e-4)


# computed once with soxr HQ resampling (eventsep.core.audio.resample)
EXPECTED_BAND_SLICE = [-0.024198, 0.117984, 0.171974, 0.143495]
EXPECTED_BAND_MS = 0.0146193549
