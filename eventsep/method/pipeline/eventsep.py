"""The :class:`EventSep` class: components, stages and the entry points of a run."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch

from eventsep.core.audio import load_audio
from eventsep.core.errors import ConfigError, EventSepError
from eventsep.method.config import EventSepConfig
from eventsep.method.pipeline import loading
from eventsep.method.pipeline.batching import BatchRun, Item
from eventsep.method.pipeline.parts import SAMPLE_RATE, detector_registry
from eventsep.method.pipeline.steps import StageSteps
from eventsep.method.result import EventSepResult
from eventsep.method.stages import Stages
from eventsep.method.stems import separate_stems
from eventsep.models.separators.base import Separator

__all__ = ["EventSep"]


class EventSep(StageSteps, BatchRun):
    """Text-queried, time-selective separation: SED time mask, AudioSep + FlowSep, STFT fusion.

    Parameters
    ----------
    mapper : callable
        ``mapper(prompt, method=...) -> LabelMatch`` with ``method`` one of ``"default"``,
        ``"paper"`` (e.g. :class:`eventsep.method.mapping.PromptMapper`).
    detector : detector, mapping or None
        Sound event detector with ``detect(waveform, sample_rate) -> (batch, frames, 527)`` and
        ``frames_per_second`` (:class:`eventsep.models.sed.Cnn14SED`), used for its ``head``
        (else for ``config.sed_head``); or a mapping from SED head (``"att"``, ``"max"``) to a
        detector or a zero-argument function that loads one on first use. Needed unless
        ``mask="none"``; a call asks for the head of its ``sed_head``.
    audiosep : Separator or None
        :class:`eventsep.models.separators.audiosep.AudioSepSeparator` or anything that
        implements :class:`eventsep.models.separators.base.Separator`; needed for every mode but
        ``"flowsep"``.
    flowsep : Separator or None
        :class:`eventsep.models.separators.flowsep.FlowSepSeparator` (or another
        :class:`~eventsep.models.separators.base.Separator` taking ``segment``, ``seed`` and
        ``steps``); needed for ``"flowsep"``, ``"both"`` and ``"ensemble"``.
    fuser : callable, optional
        ``fuser(audiosep_32k, flowsep_16k, start, length, config=FusionConfig) -> Tensor``;
        the fusion stage (replaces ``stages.fusion`` when given).
    config : EventSepConfig, optional
        Default settings of every call; defaults to the paper's best.
    stages : Stages, optional
        The replaceable stages (mapper, masker, FlowSep input adapter, fusion); defaults to
        the method's (:class:`eventsep.method.stages.Stages`).

    Notes
    -----
    A call runs five stages, each a method that can also be called alone: :meth:`map`,
    :meth:`detect`, :meth:`mask`, :meth:`separate` and :meth:`combine` (mode-dependent choice,
    placement or fusion of the estimates). Every :class:`EventSepConfig` field given to a call
    takes effect for that call, or raises :class:`~eventsep.core.errors.ConfigError`. A call is
    a batch of one (:mod:`eventsep.method.pipeline.batching`).

    Examples
    --------
    >>> pipe = EventSep.from_pretrained("tiny-random")  # doctest: +SKIP
    >>> result = pipe(waveform, 44100, "dog barking")  # doctest: +SKIP
    >>> result.estimate.shape, result.match.label, result.target_present  # doctest: +SKIP
    """

    #: Rate of the result, of the SED input and of AudioSep (Hz).
    sample_rate: int = SAMPLE_RATE

    from_pretrained = classmethod(loading.from_pretrained)

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
        stages: Stages | None = None,
    ) -> None:
        for name, sep in (("audiosep", audiosep), ("flowsep", flowsep)):
            if sep is not None and not isinstance(sep, Separator):
                raise ConfigError(
                    f"{name} must implement eventsep.models.separators.base.Separator "
                    "(a sample_rate and extract(waveform, sample_rate, prompt, **options)); "
                    f"got {type(sep).__name__}"
                )
        stages = Stages() if stages is None else _checked(stages)
        self.stages = stages if fuser is None else stages.replace(fusion=fuser)
        self.mapper = mapper
        self.config = config or EventSepConfig()
        self.detectors: dict[str, Any] = detector_registry(detector, self.config.sed_head)
        self.audiosep = audiosep
        self.flowsep = flowsep
        self.models = models
        self._device: torch.device | None = None
        for module in self._modules():
            module.eval()

    @property
    def fuser(self) -> Callable[..., torch.Tensor]:
        """The fusion stage (``self.stages.fusion``)."""
        return self.stages.fusion

    def with_stages(self, stages: Stages | None = None, **changes: Any) -> EventSep:
        """A pipeline on the same loaded models with other stages.

        ``stages`` replaces all of them (default: this pipeline's), ``changes`` replace some on
        top (``masker=...``, ``mapper=...``, ``flowsep_io=...``, ``fusion=...``). The models,
        detectors (shared, loaders included), config and device are shared with ``self``.
        """
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        base = self.stages if stages is None else _checked(stages)
        new.stages = base.replace(**changes) if changes else base
        return new

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
        """Separate what ``prompt`` describes from ``waveform`` (a batch of one).

        Parameters
        ----------
        waveform : torch.Tensor or np.ndarray
            ``(samples,)`` or ``(channels, samples)`` (channels are averaged), any rate.
        sample_rate : int
            Rate of ``waveform`` in Hz.
        prompt : str
            Text description of the target sound (a comma is part of it: one prompt, unless
            the mapper stage splits it).
        exclude : str or sequence of str
            Negative prompts: sounds to keep out of the estimate
            (:mod:`eventsep.method.exclusion`: their active frames are attenuated in the time
            mask, and what the separator extracts for them is taken off the estimate).
        classes : str or sequence of str, optional
            AudioSet class names the time mask follows instead of the prompt's mapping
            (``"Dog; Bark"`` or ``["Dog", "Bark"]``,
            :func:`eventsep.method.mapping.match_classes`); the separators still get ``prompt``.
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
        cfg = self.config.replace(**overrides) if overrides else self.config
        item = Item(waveform, sample_rate, prompt, exclude=exclude, classes=classes, probs=probs)
        return self._run([item], cfg)[0]

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
        input length on the stacked clips (:func:`eventsep.core.batching.map_by_length`),
        FlowSep once on the segments of all clips (UNet, VAE and vocoder), with one random
        generator per clip seeded with ``config.seed``, so every result equals what
        :meth:`__call__` returns for that item alone (up to float rounding, 1e-4 relative in
        the tests). Mapping, masking and fusion are per item (cheap). Use
        :func:`eventsep.core.batching.group_by_length` to form batches of similar lengths.

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
        if on_error not in ("raise", "return"):
            raise ConfigError(f"on_error must be 'raise' or 'return', got {on_error!r}")
        cfg = self.config.replace(**overrides) if overrides else self.config
        run: list[Item] = []
        for waveform, prompt in items:
            run.append(Item(waveform, sample_rate, prompt))
        return self._run(run, cfg, on_error)

    def separate_file(
        self, path: str | os.PathLike, prompt: str, **overrides: Any
    ) -> EventSepResult:
        """Load an audio file (any rate, channels averaged) and run :meth:`__call__` on it."""
        x, sr = load_audio(path, mono=True)
        return self(x[0], sr, prompt, **overrides)

    def separate_stems(
        self, waveform: torch.Tensor, sample_rate: int, prompts: Any, **options: Any
    ) -> Any:
        """One stem per prompt plus the residual, one SED pass shared.

        See :func:`eventsep.method.stems.separate_stems` (``exclude=``, ``classes=`` and config
        fields are accepted); returns its :class:`~eventsep.method.stems.Stems`.
        """
        return separate_stems(self, waveform, sample_rate, prompts, **options)

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


def _checked(stages: Any) -> Stages:
    """``stages`` if it is a :class:`Stages`.

    Raises
    ------
    ConfigError
        Anything else.
    """
    if not isinstance(stages, Stages):
        raise ConfigError(
            f"stages must be an eventsep.method.stages.Stages, got {type(stages).__name__}"
        )
    return stages
