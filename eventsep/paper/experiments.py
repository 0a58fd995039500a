"""Every experiment of the paper's Tables 1-3 as data: one registry the CLI, runner and tables read.

An :class:`Experiment` is a named pipeline configuration and everything needed to evaluate it and
to place its numbers: the ``EventSepConfig`` overrides (plain data; fusion settings as a nested
mapping), the metrics its results folder is evaluated with, the table rows it feeds
(:class:`Cell`), a display label, the paper's published numbers where known, and the evaluation
``protocol`` it belongs to. The registry :data:`EXPERIMENTS` is keyed by ``(name, protocol)``
and derived from a few axes, so each change is one edit:

* a Table 1 system: a line in :data:`SYSTEMS`;
* a Table 2 threshold or mask kind: :data:`MASK_THRESHOLDS` / :data:`MASK_KINDS`;
* a Table 3 rule: :data:`eventsep.method.fusion.FUSION_RULES` (display name in
:data:`FUSION_LABELS`,
  else derived from the rule's name);
* a protocol: a :class:`~eventsep.paper.protocols.Protocol` in
  :data:`~eventsep.paper.protocols.PROTOCOLS` (or, from outside the package,
  :func:`register_protocol`); every experiment is then registered under it too, with the
  protocol's overrides under the experiment's own, and run with the protocol's stages.

Consumers: ``eventsep evaluate --config NAME`` (its presets are :func:`names`),
:class:`eventsep.paper.study.Study` (evaluates :func:`for_table`) and :mod:`eventsep.paper.tables`
(one row per experiment of :func:`for_table`).

Names are the results-folder names of earlier runs (``audiosep``, ``audiosep+soft0.55``,
``ensemble-band``, ...). Under the default protocol a folder is named after the experiment;
under another protocol ``<name>@<protocol>`` (:attr:`Experiment.run_name`), so the results of
two protocols never share a folder.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from eventsep.core.errors import ConfigError
from eventsep.evaluation.evaluate import ALL_METRICS
from eventsep.method import fusion
from eventsep.paper.protocols import (
    AUTHORS_OVERRIDES,
    AUTHORS_PROTOCOL,
    AUTHORS_STAGES,
    DEFAULT_PROTOCOL,
    PROTOCOLS,
    Protocol,
    check_protocol,
)

__all__ = [
    "AUTHORS_OVERRIDES",
    "AUTHORS_PROTOCOL",
    "AUTHORS_STAGES",
    "DEFAULT_PROTOCOL",
    "EXPERIMENTS",
    "FUSION_ABLATION",
    "FUSION_LABELS",
    "FUSION_METRICS",
    "MASK_BASELINE",
    "MASK_KINDS",
    "MASK_METRICS",
    "MASK_THRESHOLDS",
    "PAPER",
    "PROTOCOLS",
    "SYSTEMS",
    "TABLES",
    "Cell",
    "Experiment",
    "Protocol",
    "TableSpec",
    "apply_protocol",
    "build_registry",
    "check_protocol",
    "register_protocol",
    "unregister_protocol",
    "for_table",
    "get",
    "names",
    "resolve",
    "table_spec",
]


# ----------------------------------------------------------------------------------- types
@dataclass(frozen=True)
class TableSpec:
    """A results table of the paper.

    Attributes
    ----------
    key : str
        ``"table1"``, ``"table2"``, ``"table3"``.
    title : str
        What the table compares.
    metrics : tuple of str
        Metric keys (:data:`eventsep.evaluation.evaluate.ALL_METRICS`) of its columns; every
        experiment feeding the table is evaluated with at least these.
    benchmarks : tuple of str
        Benchmarks the paper reports it on (column groups of Table 1; Tables 2 and 3 use one).
    row_fields : tuple of str
        Columns that identify a row (the keys of each :attr:`Cell.row`).
    """

    key: str
    title: str
    metrics: tuple[str, ...]
    benchmarks: tuple[str, ...]
    row_fields: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """Where an experiment's numbers go: a row of a table.

    Attributes
    ----------
    table : str
        Key of :data:`TABLES`.
    row : mapping
        Values of the table's :attr:`TableSpec.row_fields` for this row, e.g.
        ``{"system": "AudioSep"}`` or ``{"mask": "soft", "threshold": 0.55}``; the row's other
        columns are the table's metrics (per benchmark for Table 1).
    """

    table: str
    row: Mapping[str, Any]


@dataclass(frozen=True)
class Experiment:
    """One named configuration of the paper's experiments.

    Attributes
    ----------
    name : str
        Stable name (CLI preset, results folder under the default protocol).
    label : str
        Display label (table row, legend).
    overrides : mapping
        ``EventSepConfig`` fields as plain data; ``fusion`` is a mapping of
        :class:`~eventsep.method.fusion.FusionConfig` fields. Empty for ``mixture``.
    metrics : tuple of str
        Metrics the results folder is evaluated with (a folder keeps the metrics it was
        started with, so every consumer must ask for these).
    protocol : str
        Key of :data:`PROTOCOLS`.
    cells : tuple of Cell
        Table rows fed by this experiment (none for ``mixture``; two for ``audiosep``).
    paper : mapping
        The paper's numbers: ``benchmark -> metric -> value``; missing ones are unknown.
    refuse : bool
        Evaluated by re-fusing one ``mode="both"`` run (:meth:`shared_run`) shared with every
        experiment of the same shared run (Table 3: the five rules from one separation per clip).
    separates : bool
        ``False`` for the no-separation baseline (the estimate is the mixture; no model).
    """

    name: str
    label: str
    overrides: Mapping[str, Any]
    metrics: tuple[str, ...]
    protocol: str = DEFAULT_PROTOCOL
    cells: tuple[Cell, ...] = ()
    paper: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    refuse: bool = False
    separates: bool = True

    @property
    def key(self) -> tuple[str, str]:
        """``(name, protocol)``: the registry key."""
        return (self.name, self.protocol)

    @property
    def run_name(self) -> str:
        """Results-folder and ``run.json`` ``config`` name: ``name`` or ``name@protocol``."""
        if self.protocol == DEFAULT_PROTOCOL:
            return self.name
        return f"{self.name}@{self.protocol}"

    def fields(self) -> dict[str, Any]:
        """A fresh copy of :attr:`overrides` (safe to change, JSON-serialisable)."""
        return copy.deepcopy(dict(self.overrides))

    def cell(self, table: str) -> Cell | None:
        """The row this experiment feeds in ``table``, or ``None``."""
        return next((c for c in self.cells if c.table == table), None)

    def shared_run(self) -> dict[str, Any]:
        """Fields of the one ``mode="both"`` run a re-fused experiment is computed from.

        The experiment's fields with ``mode="both"`` and no fusion ``rule``: experiments that
        differ only in their rule share it.
        """
        fields = self.fields()
        fusion_fields = {k: v for k, v in fields.get("fusion", {}).items() if k != "rule"}
        fields.update(mode="both", fusion=fusion_fields)
        return fields

    def paper_value(self, benchmark: str, metric: str) -> float:
        """The paper's ``metric`` on ``benchmark``, ``nan`` where it is not published."""
        return float(self.paper.get(benchmark, {}).get(metric, math.nan))


# ------------------------------------------------------------------------------------ axes
TABLES: Mapping[str, TableSpec] = {
    t.key: t
    for t in (
        TableSpec(
            "table1",
            "AudioSep, FlowSep and EventSep on three benchmarks",
            ("clap", "clap_a", "stoi", "estoi"),
            ("vggsound", "music", "esc50"),
            ("system",),
        ),
        TableSpec(
            "table2",
            "hard and soft SED time masks before AudioSep",
            ("sdri", "si_sdr"),
            ("vggsound",),
            ("mask", "threshold"),
        ),
        TableSpec(
            "table3",
            "the STFT fusion rules",
            ("clap", "clap_a"),
            ("vggsound",),
            ("fusion",),
        ),
    )
}


def table_spec(table: str) -> TableSpec:
    """Return the :class:`TableSpec` of ``table``; :class:`ConfigError` naming the known ones."""
    try:
        return TABLES[table]
    except KeyError:
        raise ConfigError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}") from None


SYSTEMS: tuple[tuple[str, str, Mapping[str, Any]], ...] = (
    ("audiosep", "AudioSep", {"mode": "audiosep", "mask": "none"}),
    ("flowsep", "FlowSep", {"mode": "flowsep", "mask": "none"}),
    ("eventsep", "EventSep", {"mode": "ensemble"}),
)
"""Table 1 systems: ``(name, label, overrides)``; evaluated with every metric."""

MASK_BASELINE = "audiosep"
"""The system Table 2 shows unmasked in its first row."""
MASK_KINDS: tuple[str, ...] = ("hard", "soft")
"""Table 2 mask kinds (:data:`eventsep.method.masks.MASK_KINDS`), applied before AudioSep."""
MASK_THRESHOLDS: tuple[float, ...] = (0.55, 0.60, 0.65, 0.70)
"""Table 2 thresholds tau."""
MASK_METRICS: tuple[str, ...] = ("sdr", "sdri", "si_sdr")
"""Metrics the masked AudioSep variants are evaluated with."""

FUSION_LABELS: Mapping[str, str] = {
    "rate": "Rate-weighted",
    "band": "Band-split",
    "reverse-band": "Reverse band-split",
    "progressive": "Progressive",
    "reverse-progressive": "Reverse progressive",
}
"""Display names of the rules of :data:`eventsep.method.fusion.FUSION_RULES` (others: derived)."""
FUSION_ABLATION: Mapping[str, Any] = {"rate": 0.1}
"""Fusion fields of every Table 3 experiment: the ablation used a = 0.1 (code default 0.3)."""
FUSION_METRICS: tuple[str, ...] = ("clap", "clap_a")
"""Metrics the fusion rules are evaluated with."""

PAPER: Mapping[str, Mapping[str, Mapping[str, float]]] = {
    # Table 1 of the paper (also in the authors' README)
    "audiosep": {
        "vggsound": {"clap": 0.2838, "clap_a": 0.7881, "stoi": 0.6408, "estoi": 0.5790},
        "music": {"clap": 0.3497, "clap_a": 0.8830, "stoi": 0.6973, "estoi": 0.6325},
        "esc50": {"clap": 0.4426, "clap_a": 0.7700, "stoi": 0.6976, "estoi": 0.5998},
    },
    "flowsep": {
        "vggsound": {"clap": 0.3222, "clap_a": 0.7344, "stoi": 0.4278, "estoi": 0.3429},
        "music": {"clap": 0.2083, "clap_a": 0.7108, "stoi": 0.4534, "estoi": 0.3615},
        "esc50": {"clap": 0.3545, "clap_a": 0.6332, "stoi": 0.4569, "estoi": 0.3290},
    },
    "eventsep": {
        "vggsound": {"clap": 0.3549, "clap_a": 0.8199, "stoi": 0.6403, "estoi": 0.5786},
        "music": {"clap": 0.3494, "clap_a": 0.8832, "stoi": 0.6969, "estoi": 0.6321},
        "esc50": {"clap": 0.4433, "clap_a": 0.7705, "stoi": 0.6977, "estoi": 0.5999},
    },
    # Table 2 (VGGSound): only the tau = 0.55 rows are published in REFERENCE.md
    "audiosep+soft0.55": {"vggsound": {"sdri": 8.901, "si_sdr": 8.975}},
    "audiosep+hard0.55": {"vggsound": {"sdri": 8.876, "si_sdr": 8.847}},
    # Table 3 (VGGSound)
    "ensemble-rate": {"vggsound": {"clap": 0.3396, "clap_a": 0.7979}},
    "ensemble-band": {"vggsound": {"clap": 0.3396, "clap_a": 0.8009}},
    "ensemble-reverse-band": {"vggsound": {"clap": 0.3394, "clap_a": 0.8011}},
    "ensemble-progressive": {"vggsound": {"clap": 0.3398, "clap_a": 0.7977}},
    "ensemble-reverse-progressive": {"vggsound": {"clap": 0.3387, "clap_a": 0.8009}},
}
"""The paper's numbers by experiment name: ``name -> benchmark -> metric -> value``."""


# -------------------------------------------------------------------------------- registry
def _definitions() -> list[Experiment]:
    """Every experiment under the default protocol, in table order, derived from the axes."""
    table2_rows = {MASK_BASELINE: Cell("table2", {"mask": "none", "threshold": None})}
    out = [
        Experiment("mixture", "Mixture (no separation)", {}, tuple(ALL_METRICS), separates=False)
    ]
    for name, label, overrides in SYSTEMS:
        cells = (Cell("table1", {"system": label}),)
        if name in table2_rows:
            cells += (table2_rows[name],)
        out.append(Experiment(name, label, dict(overrides), tuple(ALL_METRICS), cells=cells))
    for kind in MASK_KINDS:
        for tau in MASK_THRESHOLDS:
            out.append(
                Experiment(
                    f"audiosep+{kind}{tau:.2f}",
                    f"AudioSep, {kind} mask, tau {tau:.2f}",
                    {"mode": "audiosep", "mask": kind, "threshold": tau},
                    MASK_METRICS,
                    cells=(Cell("table2", {"mask": kind, "threshold": tau}),),
                )
            )
    for rule in fusion.FUSION_RULES:
        label = FUSION_LABELS.get(rule, rule.replace("-", " ").capitalize())
        out.append(
            Experiment(
                f"ensemble-{rule}",
                label,
                {"mode": "ensemble", "fusion": {**FUSION_ABLATION, "rule": rule}},
                FUSION_METRICS,
                cells=(Cell("table3", {"fusion": label}),),
                refuse=True,
            )
        )
    return out


def _merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``; a ``fusion`` mapping in both is merged field by field."""
    out = copy.deepcopy(dict(base))
    for key, value in top.items():
        if key == "fusion" and isinstance(out.get(key), Mapping) and isinstance(value, Mapping):
            out[key] = {**out[key], **copy.deepcopy(dict(value))}
        else:
            out[key] = copy.deepcopy(value)
    return out


def _check(registry: Mapping[tuple[str, str], Experiment]) -> None:
    """Raise :class:`ConfigError` where an experiment could only give a silent NaN cell."""
    rows: dict[tuple[str, str], str] = {}
    for exp in registry.values():
        for cell in exp.cells:
            spec = table_spec(cell.table)
            missing = sorted(set(spec.metrics) - set(exp.metrics))
            if missing:
                raise ConfigError(
                    f"experiment {exp.run_name!r} feeds {cell.table} but is not evaluated "
                    f"with {missing}"
                )
            if set(cell.row) != set(spec.row_fields):
                raise ConfigError(
                    f"experiment {exp.run_name!r}: a {cell.table} row needs "
                    f"{list(spec.row_fields)}, got {sorted(cell.row)}"
                )
            where = (exp.protocol, f"{cell.table} {sorted(cell.row.items(), key=str)}")
            if where in rows:
                raise ConfigError(f"{rows[where]!r} and {exp.run_name!r} fill the same row")
            rows[where] = exp.run_name


def apply_protocol(fields: Mapping[str, Any], protocol: str | None = None) -> dict[str, Any]:
    """``EventSepConfig`` fields with ``protocol``'s overrides under them (fields win)."""
    return _merge(PROTOCOLS[check_protocol(protocol)].overrides, fields)


def _entries(protocol: Protocol) -> dict[tuple[str, str], Experiment]:
    """Every experiment of :func:`_definitions` under ``protocol`` (its overrides under the
    experiment's own, not for ``mixture``), with the paper's numbers of :data:`PAPER`."""
    out: dict[tuple[str, str], Experiment] = {}
    for exp in _definitions():
        overrides = exp.overrides
        if exp.separates:
            overrides = _merge(protocol.overrides, exp.overrides)
        entry = replace(
            exp,
            protocol=protocol.name,
            overrides=overrides,
            paper=copy.deepcopy(dict(PAPER.get(exp.name, {}))),
        )
        out[entry.key] = entry
    return out


def build_registry() -> dict[tuple[str, str], Experiment]:
    """Build ``(name, protocol) -> Experiment`` from the axes of this module.

    Every experiment of :func:`_definitions` is registered under each protocol of
    :data:`PROTOCOLS` with the protocol's overrides under its own (not for ``mixture``) and
    the paper's numbers of :data:`PAPER`.

    Raises
    ------
    ConfigError
        When an experiment feeds a table it is not evaluated for, or two fill one row.
    """
    registry: dict[tuple[str, str], Experiment] = {}
    for protocol in PROTOCOLS.values():
        registry.update(_entries(protocol))
    _check(registry)
    return registry


EXPERIMENTS: dict[tuple[str, str], Experiment] = build_registry()
"""The registry: ``(name, protocol) -> Experiment``."""


def register_protocol(protocol: Protocol, *, replace_existing: bool = False) -> Protocol:
    """Add ``protocol`` to :data:`PROTOCOLS` and every experiment under it to the registry.

    A protocol can come from outside the package: its stages are any
    :class:`eventsep.method.stages.Stages`, its metric conventions any
    :class:`~eventsep.evaluation.evaluate.MetricConventions`; ``Study(..., protocol=name)`` and
    ``eventsep evaluate --protocol name`` then run it.

    Raises
    ------
    ConfigError
        ``protocol`` is not a :class:`Protocol`, or its name is taken (unless
        ``replace_existing``; the built-in protocols cannot be replaced).
    """
    if not isinstance(protocol, Protocol):
        raise ConfigError(f"register_protocol needs a Protocol, got {type(protocol).__name__}")
    if protocol.name in PROTOCOLS and (
        not replace_existing or protocol.name in (DEFAULT_PROTOCOL, AUTHORS_PROTOCOL)
    ):
        raise ConfigError(f"protocol {protocol.name!r} is already registered")
    entries = _entries(protocol)
    _check(entries)
    if protocol.name in PROTOCOLS:
        unregister_protocol(protocol.name)
    PROTOCOLS[protocol.name] = protocol
    EXPERIMENTS.update(entries)
    return protocol


def unregister_protocol(name: str) -> None:
    """Remove a protocol added by :func:`register_protocol` and its experiments."""
    if name in (DEFAULT_PROTOCOL, AUTHORS_PROTOCOL):
        raise ConfigError(f"the built-in protocol {name!r} cannot be removed")
    PROTOCOLS.pop(name, None)
    for key in [k for k in EXPERIMENTS if k[1] == name]:
        del EXPERIMENTS[key]


# --------------------------------------------------------------------------------- lookups
def names(protocol: str | None = None) -> tuple[str, ...]:
    """Run names (:attr:`Experiment.run_name`) of every experiment, or of one protocol's."""
    wanted = None if protocol is None else check_protocol(protocol)
    return tuple(e.run_name for e in EXPERIMENTS.values() if wanted in (None, e.protocol))


def get(name: str, protocol: str | None = None) -> Experiment:
    """Return the experiment ``name`` of ``protocol`` (default :data:`DEFAULT_PROTOCOL`).

    ``name`` may be a run name ``<name>@<protocol>`` (then ``protocol`` must be ``None`` or
    the same).

    Raises
    ------
    ConfigError
        For an unknown name or protocol, listing the known ones.
    """
    base, sep, suffix = name.partition("@")
    if sep:
        if protocol not in (None, suffix):
            raise ConfigError(f"{name!r} names protocol {suffix!r}, not {protocol!r}")
        protocol = suffix
    protocol = check_protocol(protocol)
    try:
        return EXPERIMENTS[(base, protocol)]
    except KeyError:
        raise ConfigError(
            f"unknown experiment {name!r} (protocol {protocol!r}); known: "
            f"{', '.join(names(protocol))}"
        ) from None


def for_table(table: str, protocol: str | None = None) -> tuple[Experiment, ...]:
    """The experiments feeding ``table`` under ``protocol``, in row order."""
    table_spec(table)
    protocol = check_protocol(protocol)
    return tuple(
        e for e in EXPERIMENTS.values() if e.protocol == protocol and e.cell(table) is not None
    )


def resolve(items: Iterable[Experiment | str], protocol: str | None = None) -> list[Experiment]:
    """Experiments for a mix of :class:`Experiment` objects and names (looked up by :func:`get`)."""
    return [item if isinstance(item, Experiment) else get(item, protocol) for item in items]
