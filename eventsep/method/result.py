"""What one EventSep call returns: :class:`EventSepResult`, every intermediate of the run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from eventsep.method.config import EventSepConfig

__all__ = ["EventSepResult"]


@dataclass(frozen=True, eq=False)
class EventSepResult:
    """Everything one EventSep call produced (tensors on the pipeline's device, float32).

    Attributes
    ----------
    estimate : torch.Tensor
        Final estimate, ``(samples32,)`` at ``sample_rate`` (32 kHz), as long as the input.
    sample_rate : int
        Rate of ``estimate``, ``mixture``, ``masked_input`` and ``audiosep_estimate`` (Hz).
    prompt : str
        The text prompt.
    config : EventSepConfig
        The settings used (after per-call overrides).
    match : LabelMatch
        The AudioSet classes the prompt was mapped to.
    mixture : torch.Tensor
        The input, mono, at 32 kHz, ``(samples32,)``.
    masked_input : torch.Tensor
        The mixture after the time mask, ``(samples32,)``; the separators' input.
    audiosep_estimate : torch.Tensor or None
        AudioSep's estimate at 32 kHz, ``(samples32,)``; None in mode ``"flowsep"``.
    flowsep_estimate : torch.Tensor or None
        FlowSep's estimate of its span at 16 kHz, ``(flowsep_length,)``, at the input's level
        (FlowSep undoes its own peak normalisation); None in mode ``"audiosep"``. In mode
        ``"flowsep"`` ``estimate`` is this span upsampled to 32 kHz at its place, silent outside
        the span.
    flowsep_start, flowsep_length : int or None
        The span FlowSep regenerated, in 16 kHz samples of the input.
    class_probs : torch.Tensor or None
        SED probabilities of the matched classes, ``(frames, len(match.indices))``; None when
        the mask is off.
    all_probs : torch.Tensor or None
        SED probabilities of all 527 classes, ``(frames, 527)``.
    frame_mask : torch.Tensor or None
        The time mask per SED frame, ``(frames,)`` in [0, 1], after the empty-mask policy; None
        when the mask is off.
    frames_per_second : float
        SED frame rate (100).
    target_present : bool
        False when the detector found none of the matched classes (the mask was empty).
    timings : Mapping[str, float]
        Seconds per stage (``mapping``, ``sed``, ``audiosep``, ``flowsep``, ``fusion``,
        ``total``).
    notes : tuple[str, ...]
        Human-readable remarks about this run (skipped stages, policies applied).
    exclude : tuple[str, ...]
        Negative prompts of the call (:mod:`eventsep.method.exclusion`); ``estimate`` has them taken
        off, ``audiosep_estimate`` and ``flowsep_estimate`` do not.
    exclude_matches : tuple
        Their :class:`~eventsep.method.mapping.LabelMatch` es.
    """

    estimate: torch.Tensor
    sample_rate: int
    prompt: str
    config: EventSepConfig
    match: Any
    mixture: torch.Tensor
    masked_input: torch.Tensor
    audiosep_estimate: torch.Tensor | None = None
    flowsep_estimate: torch.Tensor | None = None
    flowsep_start: int | None = None
    flowsep_length: int | None = None
    class_probs: torch.Tensor | None = None
    all_probs: torch.Tensor | None = None
    frame_mask: torch.Tensor | None = None
    frames_per_second: float = 100.0
    target_present: bool = True
    timings: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    exclude_matches: tuple[Any, ...] = ()

    @property
    def mask_coverage(self) -> float:
        """Mean of the frame mask (1.0 when no mask was applied)."""
        if self.frame_mask is None or self.frame_mask.numel() == 0:
            return 1.0
        return float(self.frame_mask.float().mean())

    @property
    def residual(self) -> torch.Tensor:
        """Mixture minus estimate at 32 kHz, ``(samples32,)``."""
        return self.mixture - self.estimate

    def report(self) -> dict[str, Any]:
        """A JSON-serialisable summary (classes, scores, mask, span, timings, notes)."""
        m = self.match
        probs = self.class_probs
        return {
            "prompt": self.prompt,
            "mode": self.config.mode,
            "fusion_rule": self.config.fusion.rule if self.config.mode == "ensemble" else None,
            "mask": self.config.mask,
            "threshold": self.config.threshold,
            "classes": [
                {"label": lab, "index": int(idx)}
                for lab, idx in zip(tuple(m.labels), tuple(m.indices), strict=True)
            ],
            "match": {
                "label": m.label,
                "index": int(m.index),
                "score": float(m.score),
                "method": m.method,
                "confident": bool(m.confident),
                "explanation": m.explanation,
                "members": [
                    {
                        "label": c.label,
                        "index": int(c.index),
                        "score": None if c.score != c.score else round(float(c.score), 4),
                        "reason": c.reason,
                    }
                    for c in getattr(m, "members", ())
                ],
            },
            "exclude": [
                {"prompt": p, "classes": list(e.labels), "confident": bool(e.confident)}
                for p, e in zip(self.exclude, self.exclude_matches, strict=True)
            ],
            "class_max_prob": (
                [float(v) for v in probs.max(dim=0).values] if probs is not None else None
            ),
            "target_present": bool(self.target_present),
            "mask_coverage": self.mask_coverage,
            "frames_per_second": float(self.frames_per_second),
            "flowsep_span": (
                None
                if self.flowsep_start is None
                else {
                    "start_s": self.flowsep_start / 16000.0,
                    "length_s": (self.flowsep_length or 0) / 16000.0,
                }
            ),
            "sample_rate": int(self.sample_rate),
            "duration_s": self.estimate.shape[-1] / self.sample_rate,
            "timings_s": {k: round(float(v), 4) for k, v in self.timings.items()},
            "notes": list(self.notes),
            "config": self.config.to_dict(),
        }
