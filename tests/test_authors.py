"""The authors' protocol: each deviation against hand-computed values (docs/protocols.md).

Pure functions of :mod:`eventsep.paper.authors`, its stages' effect in the pipeline (plugged in
with ``EventSep.with_stages``, on the fakes of ``test_pipeline``), in FlowSep (tiny random
weights), in the benchmark fusion and in the metric conventions; and the registry: every
experiment resolves under both protocols.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy import signal

from eventsep.core.audio import resample
from eventsep.core.errors import ConfigError
from eventsep.evaluation.evaluate import MetricConventions, summarize_rows
from eventsep.evaluation.metrics import IntelligibilityResult, stoi
from eventsep.method import masks
from eventsep.method.fusion import FUSION_RULES, FusionConfig, fuse
from eventsep.method.mapping import ClassMember, LabelMatch
from eventsep.method.pipeline import EventSep, EventSepConfig
from eventsep.method.stages import PromptMapping, Stages, TimeMasker
from eventsep.models.separators.flowsep.io import DEFAULT_IO
from eventsep.paper import authors, experiments
from tests.test_pipeline import DOG, FakeAudioSep, FakeDetector, FakeFlowSep, FakeMapper, _mixture

TAU = 0.55


def _pipe(detector: FakeDetector | None = None, mapper=None, **cfg) -> EventSep:
    return EventSep(
        mapper or FakeMapper(),
        detector or FakeDetector(),
        FakeAudioSep(),
        FakeFlowSep(),
        config=EventSepConfig(**cfg),
    )


def _only(**on: bool) -> authors.AuthorsMasker:
    """The authors' masker with only the deviations ``on`` switched on (and the method's
    confidence gate unless ``skip_unconfident=False``)."""
    flags = dict.fromkeys(("double_sigmoid", "formula", "stretch", "demucs_keywords"), False)
    return authors.AuthorsMasker(**{**flags, "skip_unconfident": True, **on})


# --------------------------------------------------------------------------- SED, 2.2-2.4
def test_double_sigmoid_squeezes_probabilities_into_half_to_0731() -> None:
    p = torch.tensor([0.0, 0.5, 1.0])
    want = [0.5, 1 / (1 + math.exp(-0.5)), 1 / (1 + math.exp(-1.0))]
    assert authors.double_sigmoid(p).tolist() == pytest.approx(want, abs=1e-7)
    assert want[2] == pytest.approx(0.7310585786)


def test_authors_mask_is_min_of_p_over_tau_and_one() -> None:
    # detector p = 0, 0.201, 0.9 -> sigmoid 0.5, 0.55008, 0.7109 -> mask 0.90909, 1, 1
    p = authors.double_sigmoid(torch.tensor([0.0, 0.201, 0.9]))
    assert authors.authors_mask(p, TAU).tolist() == pytest.approx([0.5 / TAU, 1.0, 1.0])
    assert 0.5 / TAU == pytest.approx(0.909090909)


@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_pipeline_hard_and_soft_are_one_formula_under_the_authors_masker(kind: str) -> None:
    mix = _mixture(1.0)
    pipe = _pipe()
    match = pipe.map("dog")
    probs = pipe.detect(mix)  # Dog 0.9 in the first half, 0 elsewhere
    theirs = pipe.with_stages(masker=authors.AuthorsMasker())
    out = theirs.mask(mix, probs, match, pipe.config.replace(mask=kind, empty_mask="keep"))
    frames = out.frame_mask
    half = frames.shape[-1] // 2
    assert torch.all(frames[:half] == 1.0)  # sigmoid(0.9) = 0.711 >= 0.55
    assert frames[half:].tolist() == pytest.approx([0.5 / TAU] * (frames.shape[-1] - half))
    # corrected: hard is 0 and soft 0 where p = 0; the mask differs
    corrected = pipe.mask(mix, probs, match, pipe.config.replace(mask=kind))
    assert torch.all(corrected.frame_mask[half:] == 0.0)


def test_double_sigmoid_alone_and_formula_alone() -> None:
    mix = _mixture(1.0)
    pipe = _pipe()
    match, probs = pipe.map("dog"), pipe.detect(mix)
    # second sigmoid with the named hard formula: sigmoid(0) = 0.5 < 0.55, sigmoid(0.9) >= 0.55
    only_sigmoid = pipe.with_stages(masker=_only(double_sigmoid=True)).mask(
        mix, probs, match, pipe.config.replace(mask="hard")
    )
    assert set(only_sigmoid.frame_mask.tolist()) == {0.0, 1.0}
    # authors' formula on single-sigmoid p: hard becomes soft, p = 0.9 / 0.55 -> 1, 0 -> 0
    only_formula = pipe.with_stages(masker=_only(formula=True)).mask(
        mix, probs, match, pipe.config.replace(mask="hard")
    )
    soft = pipe.mask(mix, probs, match, pipe.config.replace(mask="soft"))
    assert torch.equal(only_formula.frame_mask, soft.frame_mask)


def test_stretch_to_samples_is_numpy_interp_on_linspaces() -> None:
    frames = torch.tensor([0.0, 1.0, 0.0])
    assert authors.stretch_to_samples(frames, 5).tolist() == [0.0, 0.5, 1.0, 0.5, 0.0]
    g = torch.Generator().manual_seed(0)
    m = torch.rand(101, generator=g)
    n = 32000
    want = np.interp(np.linspace(0, 1, n), np.linspace(0, 1, 101), m.double().numpy())
    got = authors.stretch_to_samples(m, n)
    assert got.dtype == m.dtype and got.shape == (n,)
    assert np.abs(got.double().numpy() - want).max() < 1e-6
    # the time-aligned interpolation puts frame 100 at 1 s = sample 32000 (past the end)
    timed = masks.frames_to_samples(m, n, 32000, 100.0)
    assert not torch.allclose(timed, got, atol=1e-3)
    assert got[-1] == m[-1] and timed[-1] != m[-1]
    assert authors.stretch_to_samples(torch.tensor([0.3]), 3).tolist() == pytest.approx([0.3] * 3)


def test_pipeline_endpoint_interpolation_stage() -> None:
    mix = _mixture(1.0)
    pipe = _pipe()
    match, probs = pipe.map("dog"), pipe.detect(mix)
    out = pipe.with_stages(masker=_only(stretch=True)).mask(mix, probs, match)
    want = authors.stretch_to_samples(out.frame_mask, mix.shape[-1])
    assert torch.allclose(out.masked, mix * want)
    timed = pipe.mask(mix, probs, match)
    assert torch.equal(timed.frame_mask, out.frame_mask)
    assert not torch.allclose(timed.masked, out.masked)


def test_no_fallback_keeps_an_empty_mask() -> None:
    zero = torch.zeros(7)
    kept, present = masks.resolve_empty(zero, "keep")
    assert torch.equal(kept, zero) and present is False
    restored, _ = masks.resolve_empty(zero, "restore")
    assert torch.equal(restored, torch.ones(7))
    # in the pipeline: Dog never detected, hard mask, no fallback -> silent masked input
    pipe = _pipe(FakeDetector(present=False), mask="hard", empty_mask="keep", mode="audiosep")
    mix = _mixture(0.5)
    result = pipe(mix, 32000, "dog")
    assert not result.target_present and torch.all(result.masked_input == 0)
    assert any("mask kept as it is" in n for n in result.notes)
    restore = _pipe(FakeDetector(present=False), mask="hard", mode="audiosep")(mix, 32000, "dog")
    assert torch.equal(restore.masked_input, restore.mixture)


# ------------------------------------------------------------------------------ prompts 2.5
def test_demucs_keywords_are_the_authors_table() -> None:
    assert authors.DEMUCS_KEYWORDS == (
        "vocals", "vocal", "voice", "singing", "singer",
        "drum", "drums", "snare", "kick", "percussion",
        "bass", "bass guitar",
    )  # fmt: skip
    hits = {
        "child singing": "singing",
        "singing bowl": "singing",
        "playing bass guitar": "bass",
        "Male VOICE": "voice",
        "playing snare drum": "drum",
        "kicking a ball": "kick",
        "dog barking": None,
        "race car, auto racing": None,
    }
    assert {p: authors.demucs_keyword(p) for p in hits} == hits


def test_demucs_keyword_prompts_are_never_masked() -> None:
    mix = _mixture(0.5)
    pipe = _pipe(mode="audiosep").with_stages(masker=_only(demucs_keywords=True))
    routed = pipe(mix, 32000, "child singing")
    assert routed.frame_mask is None and torch.equal(routed.masked_input, routed.mixture)
    assert any("Demucs keyword 'singing'" in n for n in routed.notes)
    masked = pipe(mix, 32000, "dog barking")
    assert masked.frame_mask is not None and not torch.equal(masked.masked_input, masked.mixture)
    corrected = _pipe(mode="audiosep")(mix, 32000, "child singing")
    assert corrected.frame_mask is not None


class PartMapper:
    """Maps each known part to one class (as the authors' cascade does), records the parts."""

    CLASSES = {"race car": 300, "auto racing": 301, "dog": DOG, "child singing": 20}

    def __init__(self) -> None:
        self.parts: list[str] = []

    def __call__(self, prompt: str, method: str = "default") -> LabelMatch:
        self.parts.append(prompt)
        i = self.CLASSES.get(prompt, DOG)
        member = ClassMember(f"c{i}", i, 0.3, "exact name")
        return LabelMatch(
            f"c{i}", i, 0.3, "exact", (f"c{i}",), (i,), prompt != "weak", "", (member,)
        )


def test_comma_prompt_policy_is_stated() -> None:
    text = authors.COMMA_PROMPT_POLICY
    assert "maximum over those classes" in text and "crashes" in text
    assert text in experiments.PROTOCOLS["authors"].notes


def test_comma_prompts_map_each_part_and_take_the_maximum() -> None:
    mapper = PartMapper()
    match = authors.map_comma_prompt(mapper, " race car , auto racing,", "paper")
    assert mapper.parts == ["race car", "auto racing"]
    assert match.indices == (300, 301) and match.method == "comma-split"
    assert [m.index for m in match.members] == [300, 301]
    assert match.confident
    one = authors.map_comma_prompt(mapper, "dog", "paper")
    assert one.indices == (DOG,) and one.method == "exact"
    assert not authors.map_comma_prompt(mapper, "dog, weak", "paper").confident

    class TwoClasses(FakeDetector):
        """Class 300 at 0.9 in the first half, class 301 at 0.4 in the second."""

        def detect(self, waveform, sample_rate):
            probs = torch.zeros(1, 101, 527)
            probs[0, :50, 300] = 0.9
            probs[0, 50:, 301] = 0.4
            return probs

    mix = _mixture(1.0)
    pipe = _pipe(TwoClasses(), PartMapper(), mode="audiosep", mask="soft")
    result = pipe.with_stages(mapper=authors.CommaSplitMapping())(
        mix, 32000, "race car, auto racing"
    )
    assert result.match.indices == (300, 301)
    want = [1.0] * 50 + [0.4 / TAU] * 51  # max over the two classes, min(p / tau, 1)
    assert result.frame_mask.tolist() == pytest.approx(want)
    # corrected path: the whole prompt goes to the mapper once
    whole = PartMapper()
    _pipe(TwoClasses(), whole, mode="audiosep")(mix, 32000, "race car, auto racing")
    assert whole.parts == ["race car, auto racing"]


def test_comma_prompt_with_a_demucs_part_is_not_masked() -> None:
    pipe = _pipe(None, PartMapper(), mode="audiosep").with_stages(
        mapper=authors.CommaSplitMapping(), masker=_only(demucs_keywords=True)
    )
    result = pipe(_mixture(0.5), 32000, "dog, child singing")
    assert result.frame_mask is None


def test_unconfident_match_is_masked_when_the_gate_is_off() -> None:
    mix = _mixture(0.5)
    gated = _pipe(mode="audiosep")(mix, 32000, "xyzzy")
    assert gated.frame_mask is None
    ungated = _pipe(mode="audiosep").with_stages(masker=_only(skip_unconfident=False))
    assert ungated(mix, 32000, "xyzzy").frame_mask is not None
    assert authors.AuthorsMasker().skip_unconfident is False  # the authors' cascade always masks


# ----------------------------------------------------------------------------- FlowSep 3.2
def test_pcm16_round_trip_by_hand_and_as_soundfile_writes_it() -> None:
    x = torch.tensor([0.5, 1.0, -1.0, 1.5, -1.5, 0.3, -1e-6, 0.0])
    want = [0.5, 32767 / 32768, -1.0, 32767 / 32768, -1.0, 9830 / 32768, -1 / 32768, 0.0]
    assert authors.pcm16_round_trip(x).tolist() == pytest.approx(want, abs=0)
    g = np.random.default_rng(0)
    y = g.uniform(-1.1, 1.1, 20000).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, y, 16000, subtype="PCM_16", format="WAV")
    buf.seek(0)
    back, _ = sf.read(buf, dtype="float32")
    assert np.array_equal(authors.pcm16_round_trip(torch.from_numpy(y)).numpy(), back)


@pytest.fixture(scope="module")
def flowsep():
    from eventsep.models.separators.flowsep import FlowSepSeparator

    return FlowSepSeparator.tiny_random(seed=0)


def test_flowsep_pcm16_input_level_and_unseeded_draws(flowsep) -> None:
    g = torch.Generator().manual_seed(1)
    x = 0.3 * torch.randn(16000, generator=g)  # 1 s at 16 kHz: no resampling
    kw = {"segment": "random", "steps": 1}
    base = flowsep.extract(x, 16000, "dog", seed=0, **kw)
    pcm = flowsep.extract(
        x, 16000, "dog", seed=0, io=authors.AuthorsFlowSepIO(unscaled=False), **kw
    )
    same = flowsep.extract(authors.pcm16_round_trip(x), 16000, "dog", seed=0, **kw)
    assert torch.equal(pcm.waveform, same.waveform)
    assert not torch.equal(pcm.waveform, base.waveform)
    # level: the model's output at the 0.5-peak domain, i.e. the restored one times the gain
    peak = flowsep.extract(x, 16000, "dog", seed=0, io=authors.AuthorsFlowSepIO(pcm16=False), **kw)
    gain = 0.5 / float((x - x.mean()).abs().max())
    assert torch.allclose(peak.waveform, base.waveform * gain, rtol=1e-5, atol=1e-7)
    # seeds: an int repeats (pcm and same above), None draws afresh
    a = flowsep.extract(x, 16000, "dog", seed=None, **kw)
    b = flowsep.extract(x, 16000, "dog", seed=None, **kw)
    assert not torch.equal(a.waveform, b.waveform)


def test_pipeline_passes_the_flowsep_io_stage_only_when_not_the_default() -> None:
    class Recording(FakeFlowSep):
        seen: list[dict] = []

        def extract(self, waveform, sample_rate, prompt, **options):
            self.seen.append(options)
            return super().extract(waveform, sample_rate, prompt, segment="random")

    pipe = EventSep(FakeMapper(), FakeDetector(), FakeAudioSep(), Recording(), config=None)
    mix = _mixture(1.0)
    pipe(mix, 32000, "dog")
    pipe.with_stages(flowsep_io=authors.AuthorsFlowSepIO())(mix, 32000, "dog", seed=None)
    assert pipe.flowsep.seen[0] == {"segment": "random", "seed": 0, "steps": 20}
    io = pipe.flowsep.seen[1].pop("io")
    assert pipe.flowsep.seen[1] == {"segment": "random", "seed": None, "steps": 20}
    assert isinstance(io, authors.AuthorsFlowSepIO) and io.pcm16 and io.unscaled


@pytest.mark.parametrize(
    "bad",
    [
        {"seed": 1.5},
        {"fusion": {"rule": "wavelet"}},
        {"fusion": {"path": "benchmark"}},  # the benchmark path is a fusion stage now
    ],
)
def test_settings_reject_unknown_values(bad) -> None:
    with pytest.raises(ConfigError):
        EventSepConfig().replace(**bad)


REMOVED = (
    "double_sigmoid",
    "mask_formula",
    "mask_interpolation",
    "comma_prompts",
    "demucs_keywords",
    "skip_unconfident",
    "flowsep_input",
    "flowsep_level",
)


@pytest.mark.parametrize("name", REMOVED)
def test_the_config_has_no_authors_only_field(name: str) -> None:
    import dataclasses

    assert name not in {f.name for f in dataclasses.fields(EventSepConfig)}
    with pytest.raises(ConfigError, match="unknown EventSep option"):
        EventSepConfig().replace(**{name: True})


def test_stages_reject_objects_without_their_interface() -> None:
    with pytest.raises(ConfigError, match="stage masker"):
        Stages(masker=object())
    with pytest.raises(ConfigError, match="stage mapper"):
        Stages(mapper=lambda prompt: prompt)
    with pytest.raises(ConfigError, match="unknown stage"):
        Stages().replace(detector=None)
    with pytest.raises(ConfigError, match="stages must be"):
        _pipe().with_stages(stages={"masker": TimeMasker()})


# --------------------------------------------------------------------------- ensembles 4.1
def _noise(n: int, seed: int) -> torch.Tensor:
    return 0.1 * torch.randn(n, generator=torch.Generator().manual_seed(seed))


def test_band_split_is_scipy_butterworth_6_filtfilt() -> None:
    a, f = _noise(8000, 0), _noise(8000, 1)
    b_lo, a_lo = signal.butter(6, 0.25, btype="low")
    b_hi, a_hi = signal.butter(6, 0.25, btype="high")
    want = signal.filtfilt(b_lo, a_lo, a.double().numpy()) + signal.filtfilt(
        b_hi, a_hi, f.double().numpy()
    )
    got = authors.band_split(a, f, 4000.0, 32000)
    assert got.dtype == torch.float32
    assert np.abs(got.double().numpy() - want).max() < 1e-7


def test_band_split_by_hand() -> None:
    n, sr = 32000, 32000
    t = torch.arange(n, dtype=torch.float64) / sr
    low_tone = torch.sin(2 * math.pi * 500 * t).float()
    high_tone = torch.sin(2 * math.pi * 10000 * t).float()
    inner = slice(2000, -2000)
    # AudioSep keeps its 500 Hz, loses its 10 kHz; FlowSep the reverse
    assert torch.allclose(
        authors.band_split(low_tone, low_tone * 0, 4000, sr)[inner], low_tone[inner], atol=1e-3
    )
    assert authors.band_split(high_tone, high_tone * 0, 4000, sr)[inner].abs().max() < 1e-3
    assert torch.allclose(
        authors.band_split(high_tone * 0, high_tone, 4000, sr)[inner], high_tone[inner], atol=1e-3
    )
    # |H_lo|^2 + |H_hi|^2 = 1 for a Butterworth pair with filtfilt: x, x gives x back
    x = _noise(n, 2)
    assert torch.allclose(authors.band_split(x, x, 4000, sr)[inner], x[inner], atol=1e-4)
    with pytest.raises(ConfigError):
        authors.band_split(x, x, 16000, sr)


def test_benchmark_ensemble_names() -> None:
    a, f = _noise(4000, 0), _noise(4000, 1)
    assert torch.equal(authors.benchmark_ensemble(a, f, "audiosep"), a)
    assert torch.equal(authors.benchmark_ensemble(a, f, "flowsep"), f)
    blend = authors.benchmark_ensemble(a, f, "ensemble_a", rate=0.1)
    assert torch.allclose(blend, 0.9 * a + 0.1 * f, atol=1e-7)
    split = authors.band_split(a, f, 4000.0, 32000)
    for name in ("ensemble-a", "ensemble_b", "ensemble-e", "anything"):
        assert torch.equal(authors.benchmark_ensemble(a, f, name, rate=0.1), split)
    assert set(authors.BENCHMARK_RULE_NAMES) == set(FUSION_RULES)
    assert "ensemble_a" not in authors.BENCHMARK_RULE_NAMES.values()


def test_benchmark_fuse_pastes_the_split_span_into_audiosep() -> None:
    a32 = _noise(32000, 0)
    f16 = _noise(6000, 1)
    start16, length16 = 3000, 6000  # 32 kHz samples 6000 .. 18000
    out = authors.benchmark_fuse(a32, f16, start16, length16, "ensemble-b")
    assert out.shape == a32.shape
    assert torch.equal(out[:6000], a32[:6000]) and torch.equal(out[18000:], a32[18000:])
    f32 = resample(f16, 16000, 32000)
    want = authors.band_split(a32[6000:18000], f32, 4000.0, 32000)
    assert torch.equal(out[6000:18000], want)
    # a span past the end: AudioSep zero-padded, cut back to its length
    late = authors.benchmark_fuse(a32, f16, 14000, 6000, "flowsep")
    assert late.shape == a32.shape and torch.equal(late[28000:], f32[:4000])


def test_benchmark_fusion_stage_computes_every_rule_alike() -> None:
    a32, f16 = _noise(32000, 0), _noise(6000, 1)
    bench = authors.BenchmarkFusion()
    outs = [
        bench(a32, f16, 3000, 6000, config=FusionConfig(rule=r, rate=0.1)) for r in FUSION_RULES
    ]
    want = authors.benchmark_fuse(a32, f16, 3000, 6000, "ensemble-a", rate=0.1)
    assert torch.equal(outs[0], want)
    assert all(torch.equal(o, outs[0]) for o in outs)
    stft = [fuse(a32, f16, 3000, 6000, FusionConfig(rule=r, rate=0.1)) for r in FUSION_RULES]
    assert not torch.equal(stft[0], stft[1])
    assert not torch.equal(outs[0], stft[1])


# ------------------------------------------------------------------------------ metrics 5
def test_stoi_placeholder_and_plain_means() -> None:
    ref, est = _noise(6000, 0), _noise(6000, 1)  # 0.19 s at 32 kHz: < 30 active frames
    res = stoi(est, ref, 32000)
    assert math.isnan(res.value) and res.reason
    assert authors.pystoi_value(res, est, ref, 32000, extended=False) == authors.PYSTOI_UNDEFINED
    valid = IntelligibilityResult(0.7, 40)
    assert authors.pystoi_value(valid, est, ref, 32000, extended=False) == 0.7
    rows = [{"sdr": 1.0, "stoi": 1e-5}, {"sdr": None, "stoi": None}, {"sdr": 3.0, "stoi": 0.6}]
    corrected = summarize_rows(rows, ("sdr", "stoi"))
    assert corrected["sdr"].mean == 2.0 and corrected["stoi"].mean == pytest.approx(0.300005)
    plain = summarize_rows(rows, ("sdr", "stoi"), MetricConventions(plain_means=True))
    assert math.isnan(plain["sdr"].mean)  # a NaN propagates through np.mean
    assert plain["stoi"].mean == pytest.approx((1e-5 + 0.6) / 2)  # nanmean keeps 1e-5
    assert experiments.PROTOCOLS["authors"].metrics == MetricConventions(
        stoi=authors.pystoi_value, plain_means=True, clap="authors"
    )
    assert experiments.PROTOCOLS["corrected"].metrics == MetricConventions()


# ------------------------------------------------------------------------------ registry
def test_every_table_experiment_resolves_under_both_protocols() -> None:
    for protocol in ("corrected", "authors"):
        for table in experiments.TABLES:
            for exp in experiments.for_table(table, protocol):
                config = EventSepConfig().replace(**exp.fields())
                assert exp.protocol == protocol
                if protocol == "authors":
                    assert config.mapping_method == "paper" and config.empty_mask == "keep"
                    assert config.fusion.rate == 0.1 and config.seed is None
                    assert exp.run_name == f"{exp.name}@authors"
                else:
                    assert config.replace(mode="ensemble", mask="soft", threshold=0.55, fusion={
                        "rule": "rate", "rate": 0.3
                    }) == EventSepConfig()  # fmt: skip


def test_the_authors_protocol_brings_the_authors_stages() -> None:
    stages = experiments.PROTOCOLS["authors"].make_stages()
    assert isinstance(stages.mapper, authors.CommaSplitMapping)
    masker = stages.masker
    assert isinstance(masker, authors.AuthorsMasker)
    assert (masker.double_sigmoid, masker.formula, masker.stretch) == (True, True, True)
    assert (masker.demucs_keywords, masker.skip_unconfident) == (True, False)
    io = stages.flowsep_io
    assert isinstance(io, authors.AuthorsFlowSepIO) and io.pcm16 and io.unscaled
    assert isinstance(stages.fusion, authors.BenchmarkFusion)
    described = experiments.PROTOCOLS["authors"].describe_stages()
    assert described["masker"].startswith("AuthorsMasker(") and "Benchmark" in described["fusion"]
    assert described != experiments.PROTOCOLS["corrected"].describe_stages()


def test_corrected_defaults_are_unchanged() -> None:
    c = EventSepConfig()
    assert (c.mapping_method, c.empty_mask, c.seed, c.segment) == (
        "default",
        "restore",
        0,
        "random",
    )
    stages = experiments.PROTOCOLS["corrected"].make_stages()
    assert isinstance(stages.mapper, PromptMapping)
    assert type(stages.masker) is TimeMasker and stages.masker.skip_unconfident
    assert stages.flowsep_io is DEFAULT_IO and stages.flowsep_options() == {}
    assert repr(stages.fusion).startswith("STFTFusion(")
    assert experiments.PROTOCOLS["corrected"].overrides == {}
    assert experiments.apply_protocol({"mode": "audiosep"}, "authors")["mode"] == "audiosep"
    assert experiments.apply_protocol({"seed": 3}, "authors")["seed"] == 3  # a seed repeats it


# ---------------------------------------------------------------- end to end, tiny benchmark
def _rows(folder) -> list[dict]:
    from eventsep.evaluation.evaluate import load_rows

    return load_rows(folder)


@pytest.mark.slow
def test_evaluate_cli_under_both_protocols(tmp_path) -> None:
    import json

    from eventsep.cli import main

    # the tiny-random detector gives p in [0.95, 0.998]: at tau 0.99 the corrected hard mask
    # keeps some frames, the authors' one is min(sigmoid(p) / 0.99, 1) ~ 0.73 everywhere
    spec = tmp_path / "hard099.json"
    spec.write_text(json.dumps({"mode": "audiosep", "mask": "hard", "threshold": 0.99}))

    def run(config: str, protocol: str, name: str) -> list[dict]:
        out = tmp_path / f"{name}-{protocol}"
        argv = ["evaluate", "--benchmark", "tiny", "--config", config, "--protocol", protocol]
        argv += ["--models", "tiny-random", "--out", str(out), "--limit", "2", "--quiet"]
        assert main([*argv, "--metrics", "sdr,si_sdr,stoi"]) == 0
        info = json.loads((out / "run.json").read_text())
        suffix = "" if protocol == "corrected" else "@authors"
        assert info["protocol"] == protocol and info["config"] == name + suffix
        if protocol == "authors":
            assert "double_sigmoid" not in info["config_fields"]
            assert info["stages"]["masker"].startswith("AuthorsMasker(")
            assert info["metric_conventions"] == {"stoi_placeholder": True, "plain_means": True}
        rows = _rows(out)
        assert [r["protocol"] for r in rows] == [protocol, protocol]
        assert [r["prompt"] for r in rows] == ["Bark", "Crowing, cock-a-doodle-doo"]
        return rows

    masked = {p: run(str(spec), p, "hard099") for p in ("corrected", "authors")}
    plain = {p: run("audiosep", p, "audiosep") for p in ("corrected", "authors")}
    # the authors' masker changes the masked AudioSep run ...
    for a, c in zip(masked["authors"], masked["corrected"], strict=True):
        assert abs(a["si_sdr"] - c["si_sdr"]) > 1e-3
    # ... and nothing changes AudioSep without a mask
    for a, c in zip(plain["authors"], plain["corrected"], strict=True):
        assert a["sdr"] == pytest.approx(c["sdr"], abs=1e-9)
        assert a["si_sdr"] == pytest.approx(c["si_sdr"], abs=1e-9)


@pytest.mark.slow
def test_study_runs_table3_under_both_protocols(tmp_path, monkeypatch) -> None:
    from eventsep.models import registry as modelsets
    from eventsep.models.clap.scorer import ClapScorer
    from eventsep.paper.study import Study

    asked: list[dict] = []

    def load_clap_scorer(models, *, device=None, **options):
        asked.append(options)
        return ClapScorer.tiny_random(seed=0, protocol=options["protocol"])

    monkeypatch.setattr(modelsets, "load_clap_scorer", load_clap_scorer)
    values: dict[str, list[float]] = {}
    for protocol in ("corrected", "authors"):
        study = Study(
            "tiny-random",
            tmp_path / "results",
            protocol=protocol,
            max_clips=1,
            config_overrides={"flowsep_steps": 2},
        )
        study.run_table("table3", "tiny")
        values[protocol] = []
        for exp in study.plan("table3"):
            rows = _rows(tmp_path / "results" / "tiny" / exp.run_name)
            assert [r["protocol"] for r in rows] == [protocol]
            values[protocol].append(rows[0]["clap_a"])
    assert asked == [{"protocol": "corrected"}, {"protocol": "authors"}]
    # authors: all five rules are the one band split of one separation; corrected: they differ
    assert len(set(values["authors"])) == 1
    assert len(set(values["corrected"])) > 1


def test_a_results_folder_keeps_its_protocol(tmp_path) -> None:
    import json

    from eventsep.evaluation.evaluate import evaluate
    from tests.test_evaluate import _bench, _Half

    bench = _bench(tmp_path / "bench", n=1)
    out = tmp_path / "old"
    out.mkdir()
    old = {"benchmark": "folder", "config": "half", "models": "m", "metrics": ["sdr"]}
    (out / "run.json").write_text(json.dumps(old))  # written before protocols were recorded
    run = {**old, "protocol": "corrected"}
    rows = evaluate(bench, _Half(), out, run=run, metrics=["sdr"], progress=False)
    assert rows[0]["protocol"] == "corrected"  # an old folder is the corrected protocol's
    with pytest.raises(ConfigError, match="protocol differ"):
        evaluate(bench, _Half(), out, run={**old, "protocol": "authors"}, metrics=["sdr"])
    # the authors' conventions: a too-short clip's STOI is pystoi's 1e-5, not null
    from eventsep.core.audio import save_audio
    from eventsep.evaluation import benchmarks

    short = tmp_path / "short"
    short.mkdir()
    save_audio(short / "segment-0.wav", _noise(6000, 0), 32000, subtype="FLOAT")
    save_audio(short / "mixture-0.wav", _noise(6000, 1), 32000, subtype="FLOAT")
    (short / "metadata.csv").write_text("idx,caption,src_wav,noise_wav\n0,dog,a.wav,b.wav\n")
    bench = benchmarks.read_benchmark("folder", short)
    conv = MetricConventions(stoi=authors.pystoi_value, plain_means=True)
    for folder, conventions in ((short / "c", None), (short / "a", conv)):
        row = evaluate(
            bench, _Half(), folder, metrics=["stoi"], progress=False, conventions=conventions
        )[0]
        assert row["stoi_reason"] and row["stoi_frames"] < 30
        assert row["stoi"] == (None if conventions is None else authors.PYSTOI_UNDEFINED)


@pytest.mark.parametrize("table", ["table1", "table2", "table3"])
def test_cli_runner_and_tables_agree_under_the_authors_protocol(table: str) -> None:
    from tests.test_experiments import _consumers_agree

    names = _consumers_agree(table, "authors")
    assert names and all(n.endswith("@authors") for n in names)
