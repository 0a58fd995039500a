"""Event gating (eventsep.core.gating): chunk flags, the most active span, and gated separators that
equal the ungated run on active regions (tiny-random models, seconds)."""

from __future__ import annotations

import math

import pytest
import torch

from eventsep.core.errors import ConfigError
from eventsep.core.gating import GATE_MARGIN_SECONDS, active_chunks, check_floor, most_active_start
from eventsep.method.config import EventSepConfig
from eventsep.method.mapping import LabelMatch
from eventsep.method.pipeline import EventSep
from eventsep.models.separators.audiosep import AudioSepSeparator
from eventsep.models.separators.base import Separation
from eventsep.models.separators.chunking import chunk_starts, chunked_apply
from eventsep.models.separators.flowsep import FlowSepSeparator

SR = 32000
DOG = 74


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


# ------------------------------------------------------------------ pure functions
def test_active_chunks_floor_margin_and_scale():
    act = torch.zeros(100)
    act[40:45] = 0.5
    spans = [(0, 30), (25, 55), (50, 80), (75, 100)]
    assert active_chunks(act, spans, 0.0) == [True] * 4  # floor 0: gating off
    assert active_chunks(act, spans, 0.1) == [False, True, False, False]
    assert active_chunks(act, spans, 0.6) == [False] * 4  # mask never reaches the floor
    assert active_chunks(act, spans, 0.1, margin=6) == [False, True, True, False]
    # a 2x slower separator: its span (10, 20) covers mask samples 20..40 (ends exclusive)
    assert active_chunks(act, [(10, 20), (20, 23)], 0.1, scale=2.0) == [False, True]
    assert active_chunks(act, [(60, 70)], 0.1, scale=2.0) == [True]  # past the mask: computed


def test_check_floor():
    assert check_floor(0) == 0.0 and check_floor("0.2") == 0.2
    for bad in (-0.1, 1.0, "x", None):
        with pytest.raises(ConfigError):
            check_floor(bad)
    with pytest.raises(ConfigError):
        EventSepConfig(gate_floor=1.5)
    with pytest.raises(ConfigError):
        EventSepConfig(precision="fp64")
    assert EventSepConfig().gate_floor == 0.0  # the library default: off


def test_most_active_start():
    act = torch.zeros(1000)
    act[600:700] = 1.0
    assert most_active_start(act, 200) == 500  # earliest window holding all of it
    assert most_active_start(act, 200, step=50) == 500
    assert most_active_start(act, 2000) == 0
    tail = torch.zeros(1000)
    tail[990:] = 1.0
    assert most_active_start(tail, 300, step=64) == 700  # the last start is a candidate
    assert most_active_start(torch.ones(1000), 300) == 0  # ties: the earliest


# ------------------------------------------------------------------ chunked_apply
def test_chunked_apply_skipped_chunks_are_silent_and_others_unchanged():
    x = torch.randn(1, 1000, generator=torch.Generator().manual_seed(0))
    spans = chunk_starts(1000, 300, 60)  # starts 0, 240, 480, 720
    fn = lambda v: torch.tanh(v) + 0.1 * v.mean(dim=-1, keepdim=True)  # noqa: E731 - not local
    full = chunked_apply(fn, x, 300, 60)
    gated = chunked_apply(fn, x, 300, 60, active=[True, False, False, True])
    # covered by computed chunks only: identical
    torch.testing.assert_close(gated[:, :240], full[:, :240], rtol=0, atol=0)
    torch.testing.assert_close(gated[:, 780:], full[:, 780:], rtol=0, atol=0)
    # covered by skipped chunks only: exact zeros
    assert torch.count_nonzero(gated[:, 300:720]) == 0
    assert len(spans) == 4
    with pytest.raises(ValueError):
        chunked_apply(fn, x, 300, 60, active=[True])


# ------------------------------------------------------------------ separators
@pytest.fixture(scope="module")
def audiosep() -> AudioSepSeparator:
    # 1.27 s chunks starting every 0.96 s: several chunks in a few seconds of audio
    return AudioSepSeparator.tiny_random(seed=0, chunk_seconds=1.28, overlap_seconds=0.32)


def test_audiosep_gated_equals_ungated_on_active_region(audiosep):
    n = 5 * SR
    x = 0.1 * torch.randn(n, generator=torch.Generator().manual_seed(1))
    act = torch.zeros(n)
    act[int(0.2 * SR) : int(0.5 * SR)] = 1.0  # active in chunk 0 only
    calls = []
    inner = audiosep.separator.forward
    audiosep.separator.forward = lambda m, c: calls.append(m.shape[-1]) or inner(m, c)
    try:
        full = audiosep.extract(x, SR, "dog barking").waveform
        calls.clear()
        gated = audiosep.extract(x, SR, "dog barking", activity=act, gate_floor=0.05).waveform
    finally:
        del audiosep.separator.forward
    spans = chunk_starts(n, audiosep.chunk, audiosep.overlap)
    assert len(calls) == 1 < len(spans)  # one of five chunks computed
    active = act >= 0.05
    assert _rel(gated[active], full[active]) < 1e-4
    # only skipped chunks cover everything after chunk 0: exact zeros there
    assert torch.count_nonzero(gated[spans[0][1] :]) == 0
    # no activity / floor 0: bit-for-bit today's output
    same = audiosep.extract(x, SR, "dog barking", activity=act, gate_floor=0.0).waveform
    torch.testing.assert_close(same, full, rtol=0, atol=0)


@pytest.fixture(scope="module")
def flowsep() -> FlowSepSeparator:
    return FlowSepSeparator.tiny_random(seed=0)


def test_flowsep_full_gated_equals_ungated_and_keeps_the_noise(flowsep):
    seg = flowsep.config.segment_samples  # 1.28 s at 16 kHz
    n32 = 5 * seg  # 32 kHz samples: 3.2 s, four segments at 16 kHz
    x = 0.1 * torch.randn(n32, generator=torch.Generator().manual_seed(2))
    act = torch.zeros(n32)
    act[: int(0.2 * SR)] = 1.0
    act[-int(0.2 * SR) :] = 1.0  # first and last segment active, middle ones skipped
    kw = {"segment": "full", "steps": 1, "seed": 3}
    full = flowsep.extract(x, SR, "dog", **kw)
    gated = flowsep.extract(x, SR, "dog", activity=act, gate_floor=0.05, **kw)
    a16 = act[::2] >= 0.05
    # the last segment comes after skipped ones: equal too, so the noise stream is kept
    assert _rel(gated.waveform[a16], full.waveform[a16]) < 1e-4
    mid = slice(seg, seg * 3 // 2)  # covered by skipped segments only
    assert torch.count_nonzero(gated.waveform[mid]) == 0
    assert torch.count_nonzero(full.waveform[mid]) > 0


def test_flowsep_active_segment_and_gated_random_span(flowsep):
    seg = flowsep.config.segment_samples
    n32 = 8 * seg
    x = 0.1 * torch.randn(n32, generator=torch.Generator().manual_seed(4))
    act = torch.zeros(n32)
    act[5 * seg : 5 * seg + SR // 2] = 1.0  # 0.5 s of target from 32 kHz sample 5*seg
    out = flowsep.extract(x, SR, "dog", segment="active", activity=act, steps=1)
    start32 = 2 * out.start
    assert out.length == seg
    assert start32 <= 5 * seg and 5 * seg + SR // 2 <= start32 + 2 * seg  # the span holds it
    assert out.start == (5 * seg + SR // 2) // 2 - seg  # the earliest span holding all of it
    # segment="random" with a span where the mask stays below the floor: exact zeros
    quiet = flowsep.extract(x, SR, "dog", segment="random", seed=0, steps=1)
    silent = flowsep.extract(
        x, SR, "dog", segment="random", seed=0, steps=1, activity=torch.zeros(n32), gate_floor=0.1
    )
    assert (silent.start, silent.length) == (quiet.start, quiet.length)
    assert torch.count_nonzero(silent.waveform) == 0
    with pytest.raises(ConfigError):
        flowsep.extract(x, SR, "dog", segment="middle", steps=1)


# ------------------------------------------------------------------ pipeline
class _Mapper:
    def __call__(self, prompt: str, method: str = "default") -> LabelMatch:
        return LabelMatch("Dog", DOG, 0.9, method, ("Dog",), (DOG,), True, "")


class _Detector(torch.nn.Module):
    """Dog active (p = 0.9) between 2 s and 4 s, absent elsewhere."""

    sample_rate = SR
    frames_per_second = 100

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def detect(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        frames = math.ceil(waveform.shape[-1] / sample_rate * 100) + 1
        rows = waveform.shape[0] if waveform.dim() == 2 else 1
        probs = torch.zeros(rows, frames, 527)
        probs[:, 200:400, DOG] = 0.9
        return probs


def test_pipeline_gated_ensemble_equals_ungated_on_active_region(audiosep, flowsep):
    pipe = EventSep(_Mapper(), _Detector(), audiosep, flowsep)
    n = 6 * SR
    x = 0.1 * torch.randn(n, generator=torch.Generator().manual_seed(5))
    kw = {"segment": "active", "flowsep_steps": 1}
    full = pipe(x, SR, "dog", **kw)
    gated = pipe(x, SR, "dog", gate_floor=0.05, **kw)
    on = torch.zeros(n, dtype=torch.bool)
    on[2 * SR : 4 * SR] = True  # where the mask is 1
    for name in ("estimate", "audiosep_estimate"):
        a, b = getattr(gated, name), getattr(full, name)
        assert _rel(a[on], b[on]) < 1e-4, name
    assert gated.flowsep_start == full.flowsep_start
    assert any("event gating" in n for n in gated.notes)
    assert not any("event gating" in n for n in full.notes)
    # AudioSep's last chunk (4.8 s on) is skipped; it alone covers 5.11 s on: exact zeros
    assert torch.count_nonzero(gated.audiosep_estimate[int(5.2 * SR) :]) == 0
    # segment="active" regenerates a span inside the event (tiny FlowSep: 1.28 s spans)
    start_s = full.flowsep_start / 16000
    assert 1.9 <= start_s and start_s + full.flowsep_length / 16000 <= 4.1
    assert GATE_MARGIN_SECONDS > 0


def test_pipeline_refuses_gating_for_a_separator_without_the_option():
    class Plain(torch.nn.Module):
        sample_rate = SR

        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def extract(self, waveform, sample_rate, prompt):  # noqa: ANN001, ANN201
            return Separation(waveform, SR, 0, waveform.shape[-1])

    pipe = EventSep(_Mapper(), _Detector(), Plain(), None)
    x = 0.1 * torch.randn(5 * SR, generator=torch.Generator().manual_seed(6))
    assert pipe(x, SR, "dog", mode="audiosep").estimate.shape == x.shape  # ungated: fine
    with pytest.raises(ConfigError, match="gate_floor=0"):
        pipe(x, SR, "dog", mode="audiosep", gate_floor=0.1)


def test_batch_with_gating_equals_single_gated_calls(audiosep):
    pipe = EventSep(_Mapper(), _Detector(), audiosep, None)
    g = torch.Generator().manual_seed(7)
    xs = [0.1 * torch.randn(5 * SR, generator=g), 0.1 * torch.randn(6 * SR, generator=g)]
    kw = {"mode": "audiosep", "gate_floor": 0.05}
    batch = pipe.batch([(x, "dog") for x in xs], SR, **kw)
    for x, got in zip(xs, batch, strict=True):
        one = pipe(x, SR, "dog", **kw)
        torch.testing.assert_close(got.estimate, one.estimate, rtol=1e-5, atol=1e-7)
        assert torch.count_nonzero(got.estimate[int(5.2 * SR) :]) == 0  # skipped chunk
