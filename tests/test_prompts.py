"""Negative prompts, explicit class sets, comma prompts and stems, on synthetic components.

The detector returns fixed probabilities (dog in frames 0-49, speech in frames 40-99 of a 1 s
clip) and the fake AudioSep returns fixed signals per prompt, so every number below follows from
the formulas of :mod:`eventsep.method.exclusion` and :mod:`eventsep.method.stems`.
"""

from __future__ import annotations

import math

import pytest
import torch

from eventsep.core.errors import ConfigError, PromptError
from eventsep.core.labels import label_index
from eventsep.method import exclusion, masks
from eventsep.method.mapping import LabelMatch, match_classes
from eventsep.method.pipeline import EventSep, EventSepConfig
from eventsep.models.separators.base import Separation

SR = 32000
DOG, BARK, SPEECH = label_index("Dog"), label_index("Bark"), label_index("Speech")
CAT = label_index("Cat")
T = torch.arange(SR, dtype=torch.float32) / SR
TONE_DOG = 0.3 * torch.sin(2 * math.pi * 440 * T)  # what "dog" sounds like here
TONE_SPEECH = 0.3 * torch.sin(2 * math.pi * 2500 * T)  # and "speech"


class Mapper:
    """ "speech..." -> Speech; "cat..." -> Cat; anything else -> Dog (+ Bark)."""

    def __call__(self, prompt: str, method: str = "default") -> LabelMatch:
        if prompt.startswith("speech"):
            return LabelMatch("Speech", SPEECH, 0.9, "word", ("Speech",), (SPEECH,), True, "")
        if prompt.startswith("cat"):
            return LabelMatch("Cat", CAT, 0.9, "word", ("Cat",), (CAT,), True, "")
        return LabelMatch("Dog", DOG, 0.9, "word", ("Dog", "Bark"), (DOG, BARK), True, "")


class Detector(torch.nn.Module):
    """Dog p=0.9 in frames 0-49, speech p=0.8 in frames 40-99, else 0; 100 frames per second."""

    frames_per_second = 100

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def detect(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        self.calls += 1
        frames = math.ceil(waveform.shape[-1] / sample_rate * 100) + 1
        probs = torch.zeros(1, frames, 527)
        probs[0, :50, DOG] = 0.9
        probs[0, 40:100, SPEECH] = 0.8
        return probs


class Separator(torch.nn.Module):
    """Fixed outputs: "speech..." -> the speech tone; else a leaky dog estimate (dog + speech)."""

    sample_rate = SR

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.prompts: list[str] = []

    def extract(self, waveform: torch.Tensor, sample_rate: int, prompt: str) -> Separation:
        self.prompts.append(prompt)
        n = waveform.shape[-1]
        out = TONE_SPEECH if prompt.startswith("speech") else TONE_DOG + TONE_SPEECH
        return Separation(out[:n].clone(), SR, 0, n)


def _pipe(**cfg) -> EventSep:
    cfg.setdefault("mode", "audiosep")
    return EventSep(Mapper(), Detector(), Separator(), None, config=EventSepConfig(**cfg))


def _mix() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return TONE_DOG + TONE_SPEECH + 0.01 * torch.randn(SR, generator=g)


# ------------------------------------------------------------------ pure functions
def test_exclusion_gate_follows_the_formula() -> None:
    target = torch.tensor([0.0, 0.55, 0.2, 0.0])
    excluded = torch.tensor([0.9, 0.9, 0.9, 0.0])
    gate = exclusion.exclusion_gate(target, excluded, threshold=0.55)
    c = 0.2 / 0.55
    torch.testing.assert_close(gate, torch.tensor([0.0, 1.0, c, 1.0]))
    half = exclusion.exclusion_gate(target, excluded, threshold=0.55, strength=0.5)
    torch.testing.assert_close(half, torch.tensor([0.5, 1.0, 1 - 0.5 * (1 - c), 1.0]))


def test_exclusion_gate_checks_its_arguments() -> None:
    with pytest.raises(ConfigError, match="strength"):
        exclusion.exclusion_gate(torch.zeros(3), torch.zeros(3), 0.5, strength=1.5)
    with pytest.raises(ConfigError, match="shape"):
        exclusion.exclusion_gate(torch.zeros(3), torch.zeros(4), 0.5)


def test_subtraction_removes_the_excluded_tone() -> None:
    y = exclusion.subtract_excluded(TONE_DOG + TONE_SPEECH, [TONE_SPEECH])
    err = float(((y - TONE_DOG) ** 2).mean() / (TONE_DOG**2).mean())
    assert err < 1e-3
    # nothing excluded, or strength 0: the estimate itself
    same = exclusion.subtract_excluded(TONE_DOG, [torch.zeros(SR)])
    torch.testing.assert_close(same, TONE_DOG, atol=1e-6, rtol=0)
    assert exclusion.subtract_excluded(TONE_DOG, [TONE_DOG], strength=0.0) is TONE_DOG
    # excluding the whole estimate leaves (almost) nothing; no bin is made louder
    assert float(exclusion.subtract_excluded(TONE_DOG, [TONE_DOG]).abs().max()) < 1e-6
    louder = exclusion.subtract_excluded(TONE_DOG, [3 * TONE_SPEECH])
    assert float((louder**2).sum()) <= float((TONE_DOG**2).sum()) * 1.001


# ------------------------------------------------------------------ pipeline
def test_exclude_attenuates_the_mask_and_subtracts_the_estimate() -> None:
    pipe = _pipe()
    base = pipe(_mix(), SR, "dog barking")
    r = pipe(_mix(), SR, "dog barking", exclude=["speech"])
    probs = r.all_probs
    target = masks.combine_classes(probs, [DOG, BARK])
    gate = exclusion.exclusion_gate(target, probs[:, SPEECH], 0.55)
    torch.testing.assert_close(r.frame_mask, base.frame_mask * gate)
    # frames 0-49: dog (with or without speech) -> kept; the mask is 0 elsewhere already
    torch.testing.assert_close(r.frame_mask[:50], base.frame_mask[:50])
    torch.testing.assert_close(r.frame_mask[:50], base.frame_mask[:50])
    # the estimate: AudioSep's (leaky) dog minus what it extracts for "speech"
    expected = exclusion.subtract_excluded(TONE_DOG + TONE_SPEECH, [TONE_SPEECH])
    torch.testing.assert_close(r.estimate, expected)
    assert pipe.audiosep.prompts[-2:] == ["dog barking", "speech"]
    assert r.exclude == ("speech",) and r.exclude_matches[0].label == "Speech"
    rep = r.report()
    assert rep["exclude"] == [{"prompt": "speech", "classes": ["Speech"], "confident": True}]
    assert "exclude" in r.timings


def test_exclude_silences_speech_frames_when_the_mask_is_restored() -> None:
    # "cat" is never detected: the empty mask is restored to ones, then speech frames go
    r = _pipe()(_mix(), SR, "cat meowing", exclude=["speech"])
    assert not r.target_present
    assert float(r.frame_mask[40:100].abs().max()) == 0.0
    torch.testing.assert_close(r.frame_mask[:40], torch.ones(40))
    torch.testing.assert_close(r.frame_mask[100:], torch.ones(r.frame_mask.shape[0] - 100))


def test_exclude_accepts_one_string_and_rejects_empty() -> None:
    pipe = _pipe(mask="none")
    r = pipe(_mix(), SR, "dog", exclude="speech")
    assert r.exclude == ("speech",) and r.frame_mask is None
    with pytest.raises(PromptError):
        pipe(_mix(), SR, "dog", exclude=[" "])


def test_classes_name_the_set_explicitly() -> None:
    r = _pipe()(_mix(), SR, "my dog", classes="Dog; Speech")
    assert r.match.method == "classes" and r.match.indices == (DOG, SPEECH)
    assert r.class_probs.shape[-1] == 2
    assert r.report()["match"]["members"][1]["reason"] == "named in classes"
    assert match_classes(["Dog"]).members[0].label == "Dog"


def test_comma_prompt_is_one_prompt_through_the_pipeline() -> None:
    from eventsep.method.mapping import PromptMapper

    pipe = EventSep(
        PromptMapper(), Detector(), Separator(), None, config=EventSepConfig(mode="audiosep")
    )
    r = pipe(_mix(), SR, "race car, auto racing")
    assert r.match.label == "Race car, auto racing"
    assert pipe.audiosep.prompts == ["race car, auto racing"]


# ------------------------------------------------------------------ stems
def test_stems_share_one_sed_pass_and_sum_back_to_the_mixture() -> None:
    pipe = _pipe()
    out = pipe.separate_stems(_mix(), SR, ["dog barking", "speech"], exclude=["speech"])
    assert pipe.detector.calls == 1  # two prompts, one negative prompt: one SED pass
    assert out.prompts == ("dog barking", "speech")
    assert out.stems.shape == (2, SR) and out.stems.dtype == torch.float64
    assert torch.equal(out.stems.sum(dim=0) + out.residual, out.mixture)
    assert torch.equal(out.stems[1] + out.stems[0] + out.residual, out.mixture)  # any order
    torch.testing.assert_close(out.mixture, _mix().double(), atol=2.0**-41, rtol=0)
    # each stem equals the single call with the same settings
    single = _pipe()(_mix(), SR, "dog barking", exclude=["speech"])
    torch.testing.assert_close(out["dog barking"], single.estimate.double(), atol=1e-12, rtol=0)
    with pytest.raises(KeyError, match="no stem"):
        out["cat"]


def test_stems_check_their_prompts() -> None:
    pipe = _pipe()
    with pytest.raises(PromptError, match="twice"):
        pipe.separate_stems(_mix(), SR, ["dog", "dog "])
    with pytest.raises(PromptError, match="at least one"):
        pipe.separate_stems(_mix(), SR, [])
    with pytest.raises(ConfigError, match="entries"):
        pipe.separate_stems(_mix(), SR, ["dog", "speech"], classes=["Dog"])


def test_stems_with_mask_off_run_no_detector() -> None:
    pipe = _pipe(mask="none")
    out = pipe.separate_stems(_mix(), SR, ["dog", "speech"])
    assert pipe.detector.calls == 0
    assert torch.equal(out.stems.sum(dim=0) + out.residual, out.mixture)
