"""Evaluation protocols: named bundles of config fields, pipeline stages and metric conventions.

A :class:`Protocol` says how every experiment of :mod:`eventsep.paper.experiments` is run under
it: the ``EventSepConfig`` fields it sets (the method's own settings), the pipeline's stages
(:class:`eventsep.method.stages.Stages`) and its :class:`MetricConventions` (STOI function,
averaging, CLAP protocol). :data:`PROTOCOLS` holds the two built-in ones, ``corrected`` (this
package's method) and ``authors`` (what the authors' benchmark code computes, its stages in
:mod:`eventsep.paper.authors`; docs/protocols.md); a user adds one with
:func:`eventsep.paper.experiments.register_protocol`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eventsep.core.errors import ConfigError
from eventsep.evaluation.evaluate import MetricConventions
from eventsep.method.config import EventSepConfig
from eventsep.method.stages import Stages, describe
from eventsep.paper import authors

__all__ = [
    "AUTHORS_OVERRIDES",
    "AUTHORS_PROTOCOL",
    "AUTHORS_STAGES",
    "DEFAULT_PROTOCOL",
    "PROTOCOLS",
    "Protocol",
    "check_protocol",
]

DEFAULT_PROTOCOL = "corrected"
"""The protocol of every results folder written before protocols were named."""
AUTHORS_PROTOCOL = "authors"
"""The protocol that computes what the authors' benchmark code computes."""


@dataclass(frozen=True)
class Protocol:
    """An evaluation protocol: a named bundle of config fields, stages and metric conventions.

    Attributes
    ----------
    name : str
        Registry key and results-folder suffix (``<experiment>@<name>``) when not the default.
    description : str
        One sentence for help texts and reports.
    overrides : mapping
        ``EventSepConfig`` fields (the method's own settings only) every separating experiment
        gets under this protocol; the experiment's own fields win (a ``fusion`` mapping is
        merged field by field).
    stages : Stages, callable or None
        The pipeline's stages under this protocol (:class:`eventsep.method.stages.Stages`), or
        a zero-argument function that builds them; ``None``: the method's default stages.
        :class:`eventsep.paper.study.Study` and ``eventsep evaluate`` run the protocol's
        experiments on ``pipe.with_stages(protocol.make_stages())``.
    metrics : MetricConventions
        How its rows compute and record STOI (:attr:`MetricConventions.stoi`), how its tables
        average, and its CLAP protocol (:attr:`MetricConventions.clap`).
    notes : tuple of str
        Sentences the tables' notes quote for this protocol.
    """

    name: str
    description: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    stages: Stages | Callable[[], Stages] | None = None
    metrics: MetricConventions = field(default_factory=MetricConventions)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "@" in self.name:
            raise ConfigError(
                f"a protocol name is a non-empty string without '@', got {self.name!r}"
            )
        fields = {k: v for k, v in self.overrides.items()}
        try:
            EventSepConfig().replace(**fields)
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"protocol {self.name!r}: bad overrides ({exc})") from exc
        if self.stages is not None and not (
            isinstance(self.stages, Stages) or callable(self.stages)
        ):
            raise ConfigError(
                f"protocol {self.name!r}: stages must be a Stages, a function returning one, "
                f"or None; got {type(self.stages).__name__}"
            )

    @property
    def clap(self) -> str:
        """The CLAP protocol given to ``registry.load_clap_scorer`` (:attr:`metrics` ``.clap``)."""
        return self.metrics.clap

    def make_stages(self) -> Stages:
        """The protocol's :class:`~eventsep.method.stages.Stages` (built if a factory)."""
        if self.stages is None:
            return Stages()
        stages = self.stages if isinstance(self.stages, Stages) else self.stages()
        if not isinstance(stages, Stages):
            raise ConfigError(
                f"protocol {self.name!r}: its stages factory returned {type(stages).__name__}, "
                "not a Stages"
            )
        return stages

    def describe_stages(self) -> dict[str, str]:
        """The stage choices as JSON data (recorded as ``stages`` in ``run.json``)."""
        return describe(self.make_stages())


AUTHORS_OVERRIDES: Mapping[str, Any] = {
    # the authors' cascade (exact name, substring, MiniLM); the comma split, the Demucs
    # keywords and the always-masking are stages (eventsep.paper.authors.authors_stages)
    "mapping_method": "paper",
    # Att head, no all-zero fallback (the second sigmoid, hard = soft and the stretched frames
    # are the AuthorsMasker stage)
    "sed_head": "att",
    "empty_mask": "keep",
    # one random 10.24 s span, 20 Euler steps, unseeded (pass seed=<int> to a call to repeat a
    # run); the PCM16 input and 0.5-peak output are the AuthorsFlowSepIO stage
    "segment": "random",
    "flowsep_steps": 20,
    "seed": None,
    # the authors' code runs both separators over every chunk: no event gating
    "gate_floor": 0.0,
    # committed a = 0.1 and f_c = 4 kHz; the band split for every rule is the BenchmarkFusion stage
    "fusion": {"rate": 0.1, "cutoff_hz": 4000.0},
}
"""``EventSepConfig`` fields of the ``authors`` protocol (its stages: :data:`AUTHORS_STAGES`);
docs/protocols.md explains each deviation."""

AUTHORS_STAGES: Callable[[], Stages] = authors.authors_stages
"""The ``authors`` protocol's stages (:func:`eventsep.paper.authors.authors_stages`)."""

PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            DEFAULT_PROTOCOL,
            "this package's pipeline and metrics with their documented defaults",
        ),
        Protocol(
            AUTHORS_PROTOCOL,
            "what the authors' benchmark code computes (docs/protocols.md): double "
            "sigmoid, hard = soft mask, stretched frames, Demucs-keyword and comma-prompt "
            "routing, FlowSep's PCM16 input and 0.5-peak output unseeded, the time-domain "
            "band split for every ensemble, their CLAP models and STOI conventions",
            overrides=AUTHORS_OVERRIDES,
            stages=AUTHORS_STAGES,
            metrics=MetricConventions(
                stoi=authors.pystoi_value, plain_means=True, clap=AUTHORS_PROTOCOL
            ),
            notes=(
                authors.COMMA_PROMPT_POLICY,
                "Every ensemble (EventSep in Table 1, all five rules of Table 3) is the authors' "
                "benchmark band split: AudioSep low-passed and FlowSep high-passed at 4 kHz "
                "(Butterworth order 6, filtfilt), so the five Table 3 rows are computed alike.",
                "FlowSep is unseeded and left at its 0.5-peak level: FlowSep and ensemble "
                "cells change from run to run.",
                "STOI/ESTOI keep pystoi's 1e-5 for clips with fewer than 30 active frames; "
                "SDR, SDRi, SI-SDR (absolute), CLAP and CLAP-A are plain means.",
            ),
        ),
    )
}
"""Evaluation protocols; every experiment is registered under each (:func:`register_protocol`
adds one)."""


def check_protocol(protocol: str | None) -> str:
    """Return ``protocol`` (``None``: the default); :class:`ConfigError` naming the known ones."""
    protocol = DEFAULT_PROTOCOL if protocol is None else protocol
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    return protocol
