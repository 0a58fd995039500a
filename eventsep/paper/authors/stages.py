"""The authors' protocol as pipeline stages (:class:`eventsep.method.stages.Stages`).

Each class implements one stage interface of :mod:`eventsep.method.stages` with the functions
of :mod:`eventsep.paper.authors.deviations`; :func:`authors_stages` bundles them for the
``authors`` protocol of :mod:`eventsep.paper.experiments`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from eventsep.method.fusion import FusionConfig
from eventsep.method.stages import Stages, TimeMasker
from eventsep.models.separators.flowsep.io import FlowSepIO
from eventsep.paper.authors.deviations import (
    BENCHMARK_RULE_NAMES,
    authors_mask,
    benchmark_fuse,
    demucs_keyword,
    double_sigmoid,
    map_comma_prompt,
    pcm16_round_trip,
    stretch_to_samples,
)

__all__ = [
    "AuthorsFlowSepIO",
    "AuthorsMasker",
    "BenchmarkFusion",
    "CommaSplitMapping",
    "authors_stages",
]


class AuthorsFlowSepIO(FlowSepIO):
    """FlowSep input/output as the authors' benchmark has it (§3.2 steps 2 and 5).

    Parameters
    ----------
    pcm16 : bool
        Round the 16 kHz input to 16-bit PCM (:func:`pcm16_round_trip`), as their script writes
        it to a WAV file before FlowSep reads it.
    unscaled : bool
        Return the estimate at the level the model saw (peak-normalised input), not at the
        input's level.
    """

    def __init__(self, *, pcm16: bool = True, unscaled: bool = True) -> None:
        self.pcm16 = pcm16
        self.unscaled = unscaled

    def prepare(self, waveform: torch.Tensor) -> torch.Tensor:
        return pcm16_round_trip(waveform) if self.pcm16 else waveform

    def level(self, gain: float) -> float:
        return 1.0 if self.unscaled else gain

    @property
    def is_default(self) -> bool:
        return not (self.pcm16 or self.unscaled)

    def __repr__(self) -> str:
        return f"AuthorsFlowSepIO(pcm16={self.pcm16}, unscaled={self.unscaled})"


class CommaSplitMapping:
    """The authors' mapper stage: a prompt is mapped part by part (:func:`map_comma_prompt`)."""

    def map(self, mapper: Callable[..., Any], prompt: str, method: str) -> Any:
        return map_comma_prompt(mapper, prompt, method)

    def __repr__(self) -> str:
        return "CommaSplitMapping()"


class AuthorsMasker(TimeMasker):
    """The authors' masker stage (§2.2-2.5); each deviation can be switched off alone.

    Parameters
    ----------
    double_sigmoid : bool
        The matched classes' max curve goes through a second sigmoid (:func:`double_sigmoid`).
    formula : bool
        Every mask kind but ``"none"`` is ``min(p / tau, 1)`` (:func:`authors_mask`).
    stretch : bool
        Frames are stretched from the first to the last sample (:func:`stretch_to_samples`).
    demucs_keywords : bool
        A prompt with a Demucs keyword (:func:`demucs_keyword`) is never masked.
    skip_unconfident : bool
        Skip the mask of an unconfident match (``False``: the authors' cascade always masks).
    """

    def __init__(
        self,
        *,
        double_sigmoid: bool = True,
        formula: bool = True,
        stretch: bool = True,
        demucs_keywords: bool = True,
        skip_unconfident: bool = False,
    ) -> None:
        super().__init__(skip_unconfident=skip_unconfident)
        self.double_sigmoid = bool(double_sigmoid)
        self.formula = bool(formula)
        self.stretch = bool(stretch)
        self.demucs_keywords = bool(demucs_keywords)

    def skip_reason(self, prompt: str, match: Any, config: Any) -> str | None:
        if self.demucs_keywords:
            key = demucs_keyword(prompt)
            if key is not None:
                return (
                    f"prompt contains the Demucs keyword {key!r}: not masked (the authors' "
                    "routing with Demucs off)"
                )
        return super().skip_reason(prompt, match, config)

    def target(self, class_probs: torch.Tensor) -> torch.Tensor:
        target = super().target(class_probs)
        return double_sigmoid(target) if self.double_sigmoid else target

    def frame_mask(self, target: torch.Tensor, config: Any) -> torch.Tensor:
        if self.formula and config.mask != "none":
            return authors_mask(target, config.threshold)
        return super().frame_mask(target, config)

    def to_samples(
        self, frame_mask: torch.Tensor, num_samples: int, sample_rate: int, frames_per_second: float
    ) -> torch.Tensor:
        if self.stretch:
            return stretch_to_samples(frame_mask, num_samples)
        return super().to_samples(frame_mask, num_samples, sample_rate, frames_per_second)

    def __repr__(self) -> str:
        return (
            f"AuthorsMasker(double_sigmoid={self.double_sigmoid}, formula={self.formula}, "
            f"stretch={self.stretch}, demucs_keywords={self.demucs_keywords}, "
            f"skip_unconfident={self.skip_unconfident})"
        )


class BenchmarkFusion:
    """The authors' fusion stage: :func:`benchmark_fuse` under each rule's committed name.

    Each :class:`~eventsep.method.fusion.FusionConfig` rule is looked up in
    :data:`BENCHMARK_RULE_NAMES`; as none of those is ``"ensemble_a"``, every rule is the band
    split at ``config.cutoff_hz`` (§4.1). ``n_fft``, ``hop_length``, ``crossfade``,
    ``bandlimit_8k`` and ``clip`` play no part. Signature of the fusion stage:
    ``(audiosep (samples32,), flowsep (span16,), start, length, config=) -> (samples32,)``.
    """

    def __call__(
        self,
        audiosep: torch.Tensor,
        flowsep: torch.Tensor,
        start: int,
        length: int | None = None,
        *,
        config: FusionConfig | None = None,
    ) -> torch.Tensor:
        c = FusionConfig() if config is None else config
        return benchmark_fuse(
            audiosep,
            flowsep,
            start,
            length,
            BENCHMARK_RULE_NAMES[c.rule],
            rate=c.rate,
            cutoff_hz=c.cutoff_hz,
        )

    def __repr__(self) -> str:
        return "BenchmarkFusion()"


def authors_stages() -> Stages:
    """The ``authors`` protocol's stages: comma-split mapping, :class:`AuthorsMasker`, PCM16
    input and 0.5-peak level (:class:`AuthorsFlowSepIO`), :class:`BenchmarkFusion`."""
    return Stages(
        mapper=CommaSplitMapping(),
        masker=AuthorsMasker(),
        flowsep_io=AuthorsFlowSepIO(pcm16=True, unscaled=True),
        fusion=BenchmarkFusion(),
    )
