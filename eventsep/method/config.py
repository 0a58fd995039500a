"""Settings of one EventSep run: :class:`EventSepConfig` and the choices of its fields.

The defaults are the paper's best settings; the CLI and the notebooks read theirs from here.
Every field can also be given to a single call of :class:`eventsep.method.pipeline.EventSep`,
where it takes effect for that call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eventsep.core.errors import ConfigError
from eventsep.core.gating import check_floor
from eventsep.core.precision import check_precision
from eventsep.method.fusion import FusionConfig
from eventsep.method.mapping import METHODS as _MAPPING_METHODS
from eventsep.method.masks import EMPTY_MASK_POLICIES, MASK_KINDS
from eventsep.models.sed import HEADS as SED_HEADS

__all__ = [
    "EMPTY_MASK_POLICIES",
    "MODES",
    "SED_HEADS",
    "EventSepConfig",
    "fusion_config",
]

#: What a call returns as ``estimate``: one separator, both (estimate = AudioSep), or the fusion.
MODES: tuple[str, ...] = ("audiosep", "flowsep", "both", "ensemble")
_SEGMENTS = ("random", "full", "active")


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


def fusion_config(value: object, base: FusionConfig) -> FusionConfig:
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
        (``p >= tau``), another kind of :mod:`eventsep.method.masks`, or ``"none"`` (no SED, no
        mask).
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
        band limit), see :class:`eventsep.method.fusion.FusionConfig`. A mapping of its fields is
        accepted too and merged into the defaults (``fusion={"rule": "band"}``).
    flowsep_steps : int
        Euler steps of FlowSep's rectified-flow sampler (20 in the authors' inference script).
    segment : str
        Which 10.24 s span FlowSep regenerates: ``"random"`` start (the reference),
        ``"full"`` (overlapping segments over the whole input) or ``"active"`` (the span where
        the time mask holds the most, i.e. where the target is most active).
    seed : int or None
        Seed of FlowSep's random draws (span start, noise). ``None``: unseeded, fresh entropy on
        every call, as the authors' code (docs/protocols.md); a call or an experiment
        that passes ``seed=<int>`` makes an ``authors`` run repeatable again.
    gate_floor : float
        Event gating (:mod:`eventsep.core.gating`): the separators skip the chunks where the time
        mask stays below this floor; in [0, 1), 0 (the default, and the paper's setting) turns
        gating off. Without a time mask (``mask="none"``, unconfident prompt) nothing is
        skipped. The command line gates at :data:`eventsep.core.gating.CLI_GATE_FLOOR`.
    precision : str
        ``"fp32"`` (default), ``"bf16"`` or ``"fp16"``: the networks run under autocast, STFTs,
        masks and fusion stay float32 (:mod:`eventsep.core.precision`).

    Notes
    -----
    These are the method's own settings. How a prompt is mapped, how the mask is made from the
    probabilities, what FlowSep's input goes through and how the estimates are fused are stages
    (:class:`eventsep.method.stages.Stages`, given to the pipeline), not fields: a protocol of
    :mod:`eventsep.paper.experiments` is a choice of fields and of stages (the ``authors``
    protocol's stages are in :mod:`eventsep.paper.authors`; docs/protocols.md).
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
    seed: int | None = 0
    gate_floor: float = 0.0
    precision: str = "fp32"

    def __post_init__(self) -> None:
        def choose(name: str, value: object, allowed: tuple[str, ...]) -> None:
            if value not in allowed:
                raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")

        choose("mode", self.mode, MODES)
        choose("mask", self.mask, MASK_KINDS)
        choose("SED head", self.sed_head, SED_HEADS)
        choose("mapping method", self.mapping_method, _MAPPING_METHODS)
        choose("empty-mask policy", self.empty_mask, EMPTY_MASK_POLICIES)
        choose("FlowSep segment", self.segment, _SEGMENTS)
        if self.seed is not None and (isinstance(self.seed, bool) or int(self.seed) != self.seed):
            raise ConfigError(f"seed must be an integer or None (unseeded), got {self.seed!r}")
        if not 0.0 < float(self.threshold) <= 1.0:
            raise ConfigError(f"mask threshold must lie in (0, 1], got {self.threshold}")
        object.__setattr__(self, "gate_floor", check_floor(self.gate_floor))
        check_precision(self.precision)
        if int(self.flowsep_steps) < 1:
            raise ConfigError(f"flowsep_steps must be >= 1, got {self.flowsep_steps}")
        object.__setattr__(self, "fusion", fusion_config(self.fusion, FusionConfig()))

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
            changes["fusion"] = fusion_config(changes["fusion"], self.fusion)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-serialisable dict."""
        return dataclasses.asdict(self)
