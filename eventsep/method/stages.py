"""The pipeline's replaceable stages: how a prompt is mapped, how a time mask is made, how audio
enters and leaves FlowSep, and how the two estimates are fused.

:class:`Stages` bundles one choice of each; :class:`eventsep.method.pipeline.EventSep` takes one
(``stages=``) and :meth:`~eventsep.method.pipeline.EventSep.with_stages` swaps some of them on
the same loaded models. The defaults here are this package's (corrected) method; a protocol of
:mod:`eventsep.paper.experiments` may bring others (the authors' ones live in
:mod:`eventsep.paper.authors`), and so may any user: a stage is any object with the methods of
its interface below, no registration needed.

=============  ======================================  ==========================================
stage          interface                               default
=============  ======================================  ==========================================
``mapper``     :class:`Mapper`: prompt -> LabelMatch   :class:`PromptMapping` (the whole prompt)
``masker``     :class:`Masker`: probabilities -> mask  :class:`TimeMasker` (``config.mask`` kind)
``flowsep_io`` FlowSep input/level adapter             ``flowsep_io.DEFAULT_IO`` (unchanged)
``fusion``     ``fusion(a32, f16, start, length,       :class:`~eventsep.method.fusion.STFTFusion`
               config=FusionConfig) -> (samples32,)``
=============  ======================================  ==========================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

from eventsep.core.errors import ConfigError
from eventsep.method import masks
from eventsep.method.fusion import STFTFusion
from eventsep.models.separators.flowsep.io import DEFAULT_IO, FlowSepIO

__all__ = ["Mapper", "Masker", "PromptMapping", "Stages", "TimeMasker", "describe"]


@runtime_checkable
class Mapper(Protocol):
    """Stage 1: the AudioSet classes a prompt describes.

    ``map(mapper, prompt, method)`` gets the pipeline's prompt-mapper component
    (``mapper(text, method=...) -> LabelMatch``, :class:`eventsep.method.mapping.PromptMapper`),
    the checked prompt and ``config.mapping_method``; it returns a
    :class:`~eventsep.method.mapping.LabelMatch` (its ``indices`` select the SED classes).
    """

    def map(self, mapper: Callable[..., Any], prompt: str, method: str) -> Any: ...


@runtime_checkable
class Masker(Protocol):
    """Stage 3: from the detector's frame probabilities to a time mask at the audio rate.

    The pipeline calls, in order: :meth:`skip_reason` (a clip may get no mask at all);
    :meth:`target` on the matched classes' probabilities; :meth:`frame_mask` on that curve;
    then applies ``config.empty_mask`` and the exclusion gate (both the method's, on the frame
    mask and on the :meth:`target` curve); finally :meth:`to_samples` spreads the frame mask
    over the samples.
    """

    def skip_reason(self, prompt: str, match: Any, config: Any) -> str | None:
        """Why ``prompt`` (matched to ``match``) gets no time mask, or ``None``."""
        ...

    def target(self, class_probs: torch.Tensor) -> torch.Tensor:
        """``(frames, classes)`` probabilities -> ``(frames,)`` curve of the target."""
        ...

    def frame_mask(self, target: torch.Tensor, config: Any) -> torch.Tensor:
        """``(frames,)`` curve -> ``(frames,)`` mask in [0, 1] (``config.mask``, ``threshold``)."""
        ...

    def to_samples(
        self, frame_mask: torch.Tensor, num_samples: int, sample_rate: int, frames_per_second: float
    ) -> torch.Tensor:
        """``(frames,)`` mask -> ``(num_samples,)`` mask at ``sample_rate`` (Hz)."""
        ...


class PromptMapping:
    """The method's mapper stage: the whole prompt (commas included) goes to the mapper."""

    def map(self, mapper: Callable[..., Any], prompt: str, method: str) -> Any:
        return mapper(prompt, method=method)

    def __repr__(self) -> str:
        return "PromptMapping()"


class TimeMasker:
    """The method's masker stage (:mod:`eventsep.method.masks`).

    The matched classes are combined by a frame-wise max, the mask is ``config.mask`` at
    ``config.threshold``, and frame ``i`` sits at ``i / frames_per_second`` seconds
    (:func:`eventsep.method.masks.frames_to_samples`).

    Parameters
    ----------
    skip_unconfident : bool
        Give no mask to a prompt that matched no class confidently (``match.confident``).
    """

    def __init__(self, *, skip_unconfident: bool = True) -> None:
        self.skip_unconfident = bool(skip_unconfident)

    def skip_reason(self, prompt: str, match: Any, config: Any) -> str | None:
        if self.skip_unconfident and not bool(getattr(match, "confident", True)):
            return (
                f"prompt matched no class confidently (best: {match.label!r}, score "
                f"{float(match.score):.2f}): time masking skipped"
            )
        return None

    def target(self, class_probs: torch.Tensor) -> torch.Tensor:
        # several matched classes: the target is active where any of them is
        return masks.combine_classes(class_probs, range(class_probs.shape[-1]), how="max")

    def frame_mask(self, target: torch.Tensor, config: Any) -> torch.Tensor:
        return masks.make_mask(target, kind=config.mask, threshold=config.threshold)

    def to_samples(
        self, frame_mask: torch.Tensor, num_samples: int, sample_rate: int, frames_per_second: float
    ) -> torch.Tensor:
        return masks.frames_to_samples(
            frame_mask, num_samples, sample_rate, frames_per_second=frames_per_second
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(skip_unconfident={self.skip_unconfident})"


@dataclass(frozen=True)
class Stages:
    """One choice of each replaceable stage (defaults: this package's method).

    Attributes
    ----------
    mapper : Mapper
        Prompt -> LabelMatch.
    masker : Masker
        Frame probabilities -> time mask, and when a clip gets none.
    flowsep_io : FlowSepIO
        What FlowSep's 16 kHz input goes through and the level its estimate is returned at
        (:class:`eventsep.models.separators.flowsep.io.FlowSepIO`); passed to FlowSep as
        ``io=`` only when it is not the default.
    fusion : callable
        ``fusion(audiosep (samples32,), flowsep (span16,), start, length, config=FusionConfig)
        -> (samples32,)``: the rule of ``mode="ensemble"`` and of :meth:`EventSep.fuse`.
    """

    mapper: Mapper = field(default_factory=PromptMapping)
    masker: Masker = field(default_factory=TimeMasker)
    flowsep_io: FlowSepIO = DEFAULT_IO
    fusion: Callable[..., torch.Tensor] = field(default_factory=STFTFusion)

    def __post_init__(self) -> None:
        checks = (
            ("mapper", Mapper, "map(mapper, prompt, method)"),
            ("masker", Masker, "skip_reason, target, frame_mask and to_samples"),
        )
        for name, kind, what in checks:
            if not isinstance(getattr(self, name), kind):
                raise ConfigError(
                    f"stage {name} must have {what}; got {type(getattr(self, name)).__name__}"
                )
        for name in ("prepare", "level"):
            if not callable(getattr(self.flowsep_io, name, None)):
                raise ConfigError(
                    f"stage flowsep_io must have prepare(waveform) and level(gain); got "
                    f"{type(self.flowsep_io).__name__}"
                )
        if not callable(self.fusion):
            raise ConfigError(f"stage fusion must be callable, got {type(self.fusion).__name__}")

    def replace(self, **changes: Any) -> Stages:
        """A copy with some stages changed; unknown names raise :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(known)}")
        return dataclasses.replace(self, **changes)

    def flowsep_options(self) -> dict[str, Any]:
        """``{"io": ...}`` when FlowSep's adapter is not the default, else ``{}`` (so any
        Separator without an ``io`` option works with the default stages)."""
        if getattr(self.flowsep_io, "is_default", False):
            return {}
        return {"io": self.flowsep_io}


def describe(stages: Stages) -> dict[str, str]:
    """The stage choices as JSON data (``repr`` of each), as results folders record them."""
    return {f.name: _describe(getattr(stages, f.name)) for f in dataclasses.fields(stages)}


def _describe(stage: Any) -> str:
    text = repr(stage)
    if " object at 0x" in text:  # default object repr: the class is what identifies it
        return f"{type(stage).__module__}.{type(stage).__qualname__}"
    return text
