"""The five stages of one clip (map, detect, mask, separate, combine), as methods of
:class:`eventsep.method.pipeline.EventSep` (this mixin is not used alone).

Each stage reads its settings from an :class:`~eventsep.method.config.EventSepConfig` and its
replaceable parts from ``self.stages`` (:class:`eventsep.method.stages.Stages`): the mapper,
the masker, FlowSep's input adapter and the fusion rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from eventsep.core.errors import ConfigError
from eventsep.core.precision import autocast_context, autocast_name
from eventsep.method import exclusion, masks
from eventsep.method.config import EventSepConfig, fusion_config
from eventsep.method.fusion import FusionConfig
from eventsep.method.mapping import match_classes
from eventsep.method.pipeline.parts import Separations, TimeMask, Timer, check_options
from eventsep.method.result import EventSepResult
from eventsep.models.separators.base import Separation

__all__ = ["StageSteps"]

_EMPTY_NOTES = {
    "restore": "mask restored to all ones",
    "silence": "output is silence",
    "keep": "mask kept as it is",
}


class StageSteps:
    """The stage methods of :class:`~eventsep.method.pipeline.EventSep`."""

    def map(
        self,
        prompt: str,
        config: EventSepConfig | None = None,
        classes: str | Sequence[str] | None = None,
    ) -> Any:
        """Stage 1: the AudioSet classes ``prompt`` describes, by ``config.mapping_method``.

        Returns the mapper stage's :class:`~eventsep.method.mapping.LabelMatch`
        (``self.stages.mapper.map(self.mapper, prompt, method)``); with ``classes``, the
        explicitly named set (:func:`eventsep.method.mapping.match_classes`) instead.
        """
        if classes is not None:
            return match_classes(classes)
        cfg = config or self.config
        return self.stages.mapper.map(self.mapper, prompt, cfg.mapping_method)

    def mask_skipped(self, prompt: str, match: Any, config: EventSepConfig | None = None):
        """Why the time mask is skipped for ``prompt`` (None: it is applied).

        ``mask="none"`` skips it; else the masker stage's ``skip_reason`` decides.
        """
        cfg = config or self.config
        if cfg.mask == "none":
            return "time mask off: SED not run"
        return self.stages.masker.skip_reason(prompt, match, cfg)

    def detect(self, mixture: torch.Tensor, config: EventSepConfig | None = None) -> torch.Tensor:
        """Stage 2: frame probabilities of all classes by the detector of ``config.sed_head``.

        Parameters
        ----------
        mixture : torch.Tensor
            ``(samples32,)`` at :attr:`sample_rate`.

        Returns
        -------
        torch.Tensor
            ``(frames, 527)`` float32 probabilities.
        """
        cfg = config or self.config
        detector = self.detector_for(cfg.sed_head)
        with autocast_context(cfg.precision, mixture.device):
            probs = detector.detect(mixture, self.sample_rate)
        return probs[0].float()

    def mask(
        self,
        mixture: torch.Tensor,
        probs: torch.Tensor,
        match: Any,
        config: EventSepConfig | None = None,
        exclude: Sequence[Any] = (),
    ) -> TimeMask:
        """Stage 3: the time mask of the matched classes, applied to ``mixture``.

        The masker stage combines the matched classes' probabilities into one curve and turns
        it into a frame mask (``config.mask`` at ``config.threshold``); the empty-mask policy
        ``config.empty_mask`` is applied, frames of excluded sounds are attenuated
        (:func:`eventsep.method.exclusion.exclusion_gate`) and the masker spreads the frame
        mask over the samples.

        Parameters
        ----------
        mixture : torch.Tensor
            ``(samples32,)`` at :attr:`sample_rate`.
        probs : torch.Tensor
            ``(frames, 527)`` from :meth:`detect`.
        match : LabelMatch
            From :meth:`map`; its ``indices`` select the classes.
        exclude : sequence of LabelMatch
            Matches of negative prompts; the confident ones attenuate the mask.
        """
        cfg = config or self.config
        masker = self.stages.masker
        fps = float(self.detector_for(cfg.sed_head).frames_per_second)
        class_probs = probs[:, list(match.indices)]
        target = masker.target(class_probs)
        frame_mask = masker.frame_mask(target, cfg)
        frame_mask, present = masks.resolve_empty(frame_mask, policy=cfg.empty_mask)
        ex_idx = sorted({i for m in exclude if bool(m.confident) for i in m.indices})
        if ex_idx:
            ex_probs = masks.combine_classes(probs, ex_idx, how="max")
            frame_mask = frame_mask * exclusion.exclusion_gate(target, ex_probs, cfg.threshold)
        per_sample = masker.to_samples(frame_mask, mixture.shape[-1], self.sample_rate, fps)
        per_sample = per_sample.to(mixture.device, mixture.dtype)
        notes: tuple[str, ...] = ()
        if not present:
            what = _EMPTY_NOTES[cfg.empty_mask]
            notes = (f"target {match.label!r} not detected (mask empty): {what}",)
        return TimeMask(
            masked=mixture * per_sample,
            frame_mask=frame_mask,
            class_probs=class_probs,
            frames_per_second=fps,
            target_present=bool(present),
            silent=not present and cfg.empty_mask == "silence",
            notes=notes,
            sample_mask=per_sample,
        )

    def flowsep_options(self, config: EventSepConfig | None = None) -> dict[str, Any]:
        """FlowSep's ``extract`` options: ``segment``, ``seed``, ``steps`` and, only when the
        FlowSep input stage is not the default, ``io`` (so any Separator without it works)."""
        cfg = config or self.config
        options: dict[str, Any] = {
            "segment": cfg.segment,
            "seed": cfg.seed,
            "steps": cfg.flowsep_steps,
        }
        return {**options, **self.stages.flowsep_options()}

    def separate(
        self,
        masked: torch.Tensor,
        prompt: str,
        config: EventSepConfig | None = None,
        *,
        activity: torch.Tensor | None = None,
    ) -> Separations:
        """Stage 4: run the separators ``config.mode`` needs on the masked mixture.

        AudioSep's estimate is placed over the whole input at :attr:`sample_rate`; FlowSep gets
        :meth:`flowsep_options`. Options beyond the
        :class:`~eventsep.models.separators.base.Separator` contract are passed only when a
        setting asks for them: ``activity`` and ``gate_floor`` when ``config.gate_floor > 0``
        (and ``activity`` for ``segment="active"``), ``autocast`` when ``config.precision`` is
        not ``"fp32"``.

        Parameters
        ----------
        masked : torch.Tensor
            ``(samples32,)`` at :attr:`sample_rate` (:attr:`TimeMask.masked`).
        prompt : str
            The (checked) text prompt.
        activity : torch.Tensor, optional
            ``(samples32,)`` time mask (:attr:`TimeMask.sample_mask`) for event gating and
            ``segment="active"``; None (no mask) computes everything.
        """
        cfg = config or self.config
        timer = Timer()
        a = f = None
        extra: dict[str, Any] = {}
        if cfg.precision != "fp32":
            extra["autocast"] = autocast_name(cfg.precision)
        gate: dict[str, Any] = {}
        if activity is not None and cfg.gate_floor > 0:
            gate = {"activity": activity, "gate_floor": cfg.gate_floor}
        if cfg.mode != "flowsep":
            check_options(self.audiosep, "AudioSep", {**extra, **gate})
            with timer("audiosep"):
                out = self.audiosep.extract(masked, self.sample_rate, prompt, **extra, **gate)
                n = masked.shape[-1]
                a = Separation(out.placed(n, self.sample_rate), self.sample_rate, 0, n)
        if cfg.mode != "audiosep":
            flow_gate = dict(gate)
            if cfg.segment == "active" and activity is not None:
                flow_gate["activity"] = activity
            options = {**self.flowsep_options(cfg), **extra, **flow_gate}
            check_options(self.flowsep, "FlowSep", {**extra, **flow_gate})
            with timer("flowsep"):
                f = self.flowsep.extract(masked, self.sample_rate, prompt, **options)
        return Separations(a, f, timer.times)

    def combine(
        self, separations: Separations, num_samples: int, config: EventSepConfig | None = None
    ) -> torch.Tensor:
        """Stage 5: the estimate of ``config.mode`` at :attr:`sample_rate`, ``(num_samples,)``.

        ``"audiosep"`` and ``"both"``: AudioSep's; ``"flowsep"``: FlowSep's span at its place,
        silent elsewhere; ``"ensemble"``: both fused by the fusion stage with ``config.fusion``.
        """
        cfg = config or self.config
        a, f = separations.audiosep, separations.flowsep
        if cfg.mode == "flowsep":
            return f.placed(num_samples, self.sample_rate)
        if cfg.mode == "ensemble":
            return self.fuser(a.waveform, f.waveform, f.start, f.length, config=cfg.fusion)
        return a.waveform

    def fuse(
        self, result: EventSepResult, fusion: FusionConfig | None = None, **fields: Any
    ) -> torch.Tensor:
        """Fuse the two estimates of a ``mode="both"`` (or ``"ensemble"``) result again.

        ``fusion`` replaces the result's fusion settings; ``fields`` are
        :class:`~eventsep.method.fusion.FusionConfig` fields changed on top (``rule="band"``,
        ``rate=0.1``, ...), so all five rules of Table 3 come from one run of the separators.
        Returns the 32 kHz estimate, ``(samples32,)``; a call's ``exclude`` is not applied
        again (the stored estimates are from before it).
        """
        if result.audiosep_estimate is None or result.flowsep_estimate is None:
            raise ConfigError("re-fusing needs a result of mode 'both' or 'ensemble'")
        config = fusion_config(fields, fusion or result.config.fusion)
        with torch.inference_mode():
            return self.fuser(
                result.audiosep_estimate,
                result.flowsep_estimate,
                result.flowsep_start,
                result.flowsep_length,
                config=config,
            )

    def _extract_excluded(
        self, masked: torch.Tensor, prompt: str, cfg: EventSepConfig
    ) -> torch.Tensor:
        """The separator's estimate of a negative prompt, ``(samples32,)`` (AudioSep if any)."""
        if self.audiosep is not None:
            out = self.audiosep.extract(masked, self.sample_rate, prompt)
            return out.placed(masked.shape[-1], self.sample_rate)
        seps = self.separate(masked, prompt, cfg)
        return self.combine(seps, masked.shape[-1], cfg)
