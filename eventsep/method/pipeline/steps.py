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

        A batch of one of :meth:`separate_batch` (see there for the options passed).

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
        out = self.separate_batch([masked], [prompt], config, activities=[activity])
        return Separations(out["audiosep"][0], out["flowsep"][0], out["seconds"])

    def separate_batch(
        self,
        masked: Sequence[torch.Tensor],
        prompts: Sequence[str],
        config: EventSepConfig | None = None,
        *,
        activities: Sequence[torch.Tensor | None] | None = None,
    ) -> dict[str, Any]:
        """Stage 4 for several clips: ``{"audiosep": [...], "flowsep": [...], "seconds": {...}}``.

        AudioSep's estimates are placed over each whole input at :attr:`sample_rate`; FlowSep
        gets :meth:`flowsep_options`. Several clips share each separator's ``extract_batch``
        call (networks under ``config.precision``) unless a setting gives each clip its own
        time mask (``gate_floor > 0``, ``segment="active"``) or the separator has no
        ``extract_batch``; then, as for a single clip, each runs through ``extract``, which
        gets the options beyond the :class:`~eventsep.models.separators.base.Separator`
        contract only when a setting asks for them: ``activity`` and ``gate_floor`` when
        ``config.gate_floor > 0`` (and ``activity`` for ``segment="active"``), ``autocast``
        when ``config.precision`` is not ``"fp32"``.
        """
        cfg = config or self.config
        n = len(masked)
        activities = list(activities) if activities is not None else [None] * n
        timer = Timer()
        a: list[Separation | None] = [None] * n
        f: list[Separation | None] = [None] * n
        shared = n > 1 and cfg.gate_floor <= 0 and cfg.segment != "active"
        extra: dict[str, Any] = {}
        if cfg.precision != "fp32":
            extra["autocast"] = autocast_name(cfg.precision)
        gates = [
            {"activity": act, "gate_floor": cfg.gate_floor}
            if act is not None and cfg.gate_floor > 0
            else {}
            for act in activities
        ]
        if n and cfg.mode != "flowsep":
            with timer("audiosep"):
                if shared and hasattr(self.audiosep, "extract_batch"):
                    with autocast_context(cfg.precision, self.device):
                        outs = self.audiosep.extract_batch(list(masked), self.sample_rate, prompts)
                else:
                    outs = []
                    for x, p, gate in zip(masked, prompts, gates, strict=True):
                        check_options(self.audiosep, "AudioSep", {**extra, **gate})
                        outs.append(self.audiosep.extract(x, self.sample_rate, p, **extra, **gate))
                for k, (x, out) in enumerate(zip(masked, outs, strict=True)):
                    m = x.shape[-1]
                    a[k] = Separation(out.placed(m, self.sample_rate), self.sample_rate, 0, m)
        if n and cfg.mode != "audiosep":
            options = self.flowsep_options(cfg)
            with timer("flowsep"):
                if shared and hasattr(self.flowsep, "extract_batch"):
                    with autocast_context(cfg.precision, self.device):
                        f = list(
                            self.flowsep.extract_batch(
                                list(masked), self.sample_rate, prompts, **options
                            )
                        )
                else:
                    for k, (x, p, act) in enumerate(zip(masked, prompts, activities, strict=True)):
                        own = dict(gates[k])
                        if cfg.segment == "active" and act is not None:
                            own["activity"] = act
                        check_options(self.flowsep, "FlowSep", {**extra, **own})
                        f[k] = self.flowsep.extract(
                            x, self.sample_rate, p, **options, **extra, **own
                        )
        return {"audiosep": a, "flowsep": f, "seconds": timer.times}

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
