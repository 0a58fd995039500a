"""The one run of :class:`eventsep.method.pipeline.EventSep`: items in, results out.

A call (:meth:`EventSep.__call__`) is a batch of one; :meth:`EventSep.batch` gives several items.
Every item goes through the same stages (:mod:`eventsep.method.pipeline.steps`); what a batch
shares is the model calls: the detector and AudioSep run once per distinct input length on the
stacked clips (:func:`eventsep.core.batching.map_by_length`), FlowSep once on the segments of
all clips. Separation is :meth:`EventSep.separate_batch` for one clip and for many.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from eventsep.core.audio import resample
from eventsep.core.batching import map_by_length
from eventsep.core.errors import EventSepError
from eventsep.core.precision import autocast_context
from eventsep.method import exclusion
from eventsep.method.config import EventSepConfig
from eventsep.method.pipeline.parts import (
    Separations,
    TimeMask,
    Timer,
    check_exclude,
    check_inputs,
    span_note,
)
from eventsep.method.result import EventSepResult
from eventsep.models.separators.base import Separation

__all__ = ["BatchRun", "Item"]


@dataclass(frozen=True, eq=False)
class Item:
    """One clip to separate: the input of a run.

    Attributes
    ----------
    waveform : torch.Tensor or np.ndarray
        ``(samples,)`` or ``(channels, samples)`` at ``sample_rate``.
    sample_rate : int
        Hz.
    prompt : str
        The target's description.
    exclude : str or sequence of str
        Negative prompts (:mod:`eventsep.method.exclusion`).
    classes : str, sequence of str or None
        AudioSet classes the mask follows instead of the prompt's mapping.
    probs : torch.Tensor or None
        ``(frames, 527)`` SED probabilities of this waveform, to skip the detector.
    """

    waveform: Any
    sample_rate: Any
    prompt: Any
    exclude: Any = ()
    classes: Any = None
    probs: torch.Tensor | None = None


class BatchRun:
    """The run of :class:`~eventsep.method.pipeline.EventSep` (mixin; not used alone)."""

    def _run(
        self, items: Sequence[Item], cfg: EventSepConfig, on_error: str = "raise"
    ) -> list[EventSepResult | EventSepError]:
        """Results of ``items`` under ``cfg``, in order; a rejected input raises its error, or
        takes the result's place with ``on_error="return"``."""
        results: list[Any] = [None] * len(items)
        checked: dict[int, tuple[str, torch.Tensor, int, tuple[str, ...]]] = {}
        for i, item in enumerate(items):
            try:
                prompt, x, sr = check_inputs(item.prompt, item.waveform, item.sample_rate)
                checked[i] = (prompt, x, sr, check_exclude(item.exclude))
            except EventSepError as exc:
                if on_error == "raise":
                    raise
                results[i] = exc
        ok = list(checked)
        if not ok:
            return results
        self._require(cfg)
        prompts = {i: checked[i][0] for i in ok}
        excluded = {i: checked[i][3] for i in ok}
        timer = Timer()
        t_start = time.perf_counter()
        with torch.inference_mode():
            mixes = {
                i: resample(checked[i][1].to(self.device), checked[i][2], self.sample_rate)
                for i in ok
            }
            with timer("mapping"):
                cache: dict[str, Any] = {}

                def mapped(text: str) -> Any:
                    if text not in cache:
                        cache[text] = self.map(text, cfg)
                    return cache[text]

                matches = {
                    i: mapped(prompts[i])
                    if items[i].classes is None
                    else self.map(prompts[i], cfg, classes=items[i].classes)
                    for i in ok
                }
                ex_matches = {i: tuple(mapped(e) for e in excluded[i]) for i in ok}
            masks, probs = self._masks(items, ok, mixes, prompts, matches, ex_matches, cfg, timer)
            run = [i for i in ok if not masks[i].silent]
            seps = self.separate_batch(
                [masks[i].masked for i in run],
                [prompts[i] for i in run],
                cfg,
                activities=[masks[i].sample_mask for i in run],
            )
            timer.add(seps.pop("seconds"))
            estimates: dict[int, torch.Tensor] = {}
            with timer("fusion") if cfg.mode == "ensemble" else contextlib.nullcontext():
                for k, i in enumerate(run):
                    pair = Separations(seps["audiosep"][k], seps["flowsep"][k])
                    estimates[i] = self.combine(pair, mixes[i].shape[-1], cfg)
            for i in run:
                if excluded[i]:
                    with timer("exclude"):
                        masked = masks[i].masked
                        removed = [self._extract_excluded(masked, e, cfg) for e in excluded[i]]
                        estimates[i] = exclusion.subtract_excluded(estimates[i], removed)
        timer.times["total"] = time.perf_counter() - t_start
        counts = {
            "mapping": len(ok),
            "sed": sum(i in probs for i in ok),
            "exclude": max(1, sum(bool(excluded[i]) for i in run)),
            "total": len(ok),
        }
        for i in ok:
            a = f = None
            if i in estimates:
                k = run.index(i)
                a, f = seps["audiosep"][k], seps["flowsep"][k]
                estimate = estimates[i]
            else:
                estimate = torch.zeros_like(mixes[i])
            share = {
                k: v / max(1, counts.get(k, len(run)))
                for k, v in timer.times.items()
                if k in ("total", "mapping", "sed") or i in estimates
            }
            results[i] = self._result(
                estimate,
                prompts[i],
                cfg,
                matches[i],
                mixes[i],
                masks[i],
                a,
                f,
                all_probs=probs.get(i),
                timings=share,
                exclude=excluded[i],
                exclude_matches=ex_matches[i],
            )
        return results

    def _masks(
        self,
        items: Sequence[Item],
        ok: list[int],
        mixes: dict[int, torch.Tensor],
        prompts: dict[int, str],
        matches: dict[int, Any],
        ex_matches: dict[int, tuple[Any, ...]],
        cfg: EventSepConfig,
        timer: Timer,
    ) -> tuple[dict[int, TimeMask], dict[int, torch.Tensor]]:
        """Stages 2 and 3 of every item: ``({item: TimeMask}, {item: (frames, 527) probs})``.

        The detector runs once on the stacked clips that need it (a single clip: alone);
        items given their ``probs`` skip it.
        """
        masks: dict[int, TimeMask] = {}
        probs: dict[int, torch.Tensor] = {}
        detect = []
        for i in ok:
            skipped = self.mask_skipped(prompts[i], matches[i], cfg)
            if skipped:
                masks[i] = TimeMask(mixes[i], notes=(skipped,))
            else:
                detect.append(i)
        if not detect:
            return masks, probs
        with timer("sed"):
            for i in detect:
                if items[i].probs is not None:
                    probs[i] = items[i].probs
            need = [i for i in detect if i not in probs]
            if len(need) == 1:
                probs[need[0]] = self.detect(mixes[need[0]], cfg)
            elif need:
                detector = self.detector_for(cfg.sed_head)
                with autocast_context(cfg.precision, self.device):
                    rows = map_by_length(
                        lambda stack, _: detector.detect(stack, self.sample_rate).float(),
                        [mixes[i] for i in need],
                    )
                probs.update(zip(need, rows, strict=True))
            for i in detect:
                masks[i] = self.mask(mixes[i], probs[i], matches[i], cfg, exclude=ex_matches[i])
        return masks, probs

    def _result(
        self,
        estimate: torch.Tensor,
        prompt: str,
        cfg: EventSepConfig,
        match: Any,
        mix: torch.Tensor,
        time_mask: TimeMask,
        a: Separation | None,
        f: Separation | None,
        **fields: Any,
    ) -> EventSepResult:
        """The :class:`EventSepResult` of one item, with the notes on gating and FlowSep's span.

        ``fields``: the remaining result fields (``all_probs``, ``timings``, ``exclude``...).
        """
        notes = time_mask.notes
        if cfg.gate_floor > 0 and time_mask.sample_mask is not None and not time_mask.silent:
            notes += (
                f"event gating: chunks where the time mask stays below {cfg.gate_floor:g} were "
                "not computed (silent there)",
            )
        if cfg.mode == "flowsep" and f is not None:
            notes += span_note(f, mix.shape[-1], self.sample_rate)
        return EventSepResult(
            estimate=estimate,
            sample_rate=self.sample_rate,
            prompt=prompt,
            config=cfg,
            match=match,
            mixture=mix,
            masked_input=time_mask.masked,
            audiosep_estimate=None if a is None else a.waveform,
            flowsep_estimate=None if f is None else f.waveform,
            flowsep_start=None if f is None else f.start,
            flowsep_length=None if f is None else f.length,
            class_probs=time_mask.class_probs,
            frame_mask=time_mask.frame_mask,
            frames_per_second=time_mask.frames_per_second,
            target_present=time_mask.target_present,
            notes=notes,
            **fields,
        )
