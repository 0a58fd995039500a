"""The pipeline's small data types and its one input check.

:class:`TimeMask` and :class:`Separations` are what the mask and separate stages of
:class:`eventsep.method.pipeline.EventSep` return; the ``check_*`` functions are the checks a call
makes once, when its inputs enter the pipeline.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from eventsep.core.audio import check_sample_rate, check_waveform
from eventsep.core.errors import ConfigError
from eventsep.core.prompts import check_prompt
from eventsep.method.config import SED_HEADS
from eventsep.models.separators.base import Separation

__all__ = [
    "CONFIG_FILE",
    "SAMPLE_RATE",
    "Separations",
    "TimeMask",
    "Timer",
    "check_exclude",
    "check_inputs",
    "check_options",
    "detector_registry",
    "span_note",
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


class Timer:
    """Seconds per named stage: ``with timer("sed"): ...`` adds to ``timer.times["sed"]``."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    def __call__(self, name: str) -> _Span:
        return _Span(self, name)

    def add(self, times: Mapping[str, float]) -> None:
        """Add other measured ``times`` (seconds by stage name)."""
        for k, v in times.items():
            self.times[k] = self.times.get(k, 0.0) + v


class _Span:
    def __init__(self, timer: Timer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timer.times[self.name] = self.timer.times.get(self.name, 0.0) + (
            time.perf_counter() - self.t0
        )


def check_inputs(prompt: object, waveform: Any, sample_rate: object) -> tuple[str, Any, int]:
    """The pipeline's one input check: prompt, rate, waveform (mono, finite, not silent).

    Returns ``(prompt, waveform (samples,), sample_rate)``; channels are averaged.
    """
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


def check_exclude(exclude: object) -> tuple[str, ...]:
    """Negative prompts as a tuple of checked strings (one string is one prompt)."""
    if exclude is None:
        return ()
    items = (exclude,) if isinstance(exclude, str) else tuple(exclude)
    return tuple(check_prompt(e) for e in items)


def check_options(separator: Any, name: str, options: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` when ``separator.extract`` cannot take ``options``.

    The gating (``activity``, ``gate_floor``) and precision (``autocast``) options go beyond the
    :class:`~eventsep.models.separators.base.Separator` contract; a separator without them
    cannot honour ``gate_floor > 0`` or ``precision != "fp32"``.
    """
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


def detector_registry(detector: Any, default_head: str) -> dict[str, Any]:
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


def span_note(flowsep: Separation, num_samples: int, sample_rate: int) -> tuple[str, ...]:
    """A note when FlowSep covers less than the input (``num_samples`` at ``sample_rate``)."""
    rate = flowsep.sample_rate
    covered = flowsep.length / max(1, round(num_samples * rate / sample_rate))
    if covered >= 0.999:
        return ()
    return (
        f"FlowSep regenerated {flowsep.length / rate:.2f} s from "
        f"{flowsep.start / rate:.2f} s: the estimate is silent elsewhere",
    )
