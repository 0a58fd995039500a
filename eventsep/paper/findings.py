"""What the authors' code tells about the paper's numbers: facts that block or qualify a number.

A :class:`Finding` selects the published numbers it concerns (by table, experiment, benchmark,
metric, masking and mode); :data:`FINDINGS` are the facts read from the authors' repository at
``c329038`` (docs/protocols.md explains the protocols they come from). The reproduction report
(:mod:`eventsep.paper.reproduction`) marks a number ``not reproducible from the authors' code``
when a finding with ``blocks=True`` applies to it, and prints every applying finding as a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eventsep.method.config import EventSepConfig
from eventsep.paper.experiments import Experiment

__all__ = ["FINDINGS", "Finding", "findings_for"]


@dataclass(frozen=True)
class Finding:
    """A fact about the authors' code that bears on some of the paper's numbers.

    A selector left ``None`` matches everything.

    Attributes
    ----------
    key : str
        Short label used as a footnote mark.
    text : str
        The fact and where it comes from.
    blocks : bool
        ``True``: the authors' benchmark code cannot have computed the numbers it applies to.
    expect : str
        What a reader with the real weights and data should expect for these numbers.
    tables, experiments, benchmarks, metrics : tuple of str, optional
        The table keys, experiment names, paper benchmarks and metric keys it applies to.
    masked : bool, optional
        Only experiments whose pipeline applies a time mask (``True``) or none (``False``).
    modes : tuple of str, optional
        Only experiments with one of these ``EventSepConfig.mode`` values.
    """

    key: str
    text: str
    expect: str
    blocks: bool
    tables: tuple[str, ...] | None = None
    experiments: tuple[str, ...] | None = None
    benchmarks: tuple[str, ...] | None = None
    metrics: tuple[str, ...] | None = None
    masked: bool | None = None
    modes: tuple[str, ...] | None = None

    def applies(self, table: str, experiment: Experiment, benchmark: str, metric: str) -> bool:
        """Whether this finding concerns ``metric`` of ``experiment`` on ``benchmark``."""
        fields = experiment.fields()
        mode = fields.get("mode", EventSepConfig.mode)
        mask = fields.get("mask", EventSepConfig.mask)
        checks = (
            (self.tables, table),
            (self.experiments, experiment.name),
            (self.benchmarks, benchmark),
            (self.metrics, metric),
            (self.modes, mode),
        )
        if any(allowed is not None and value not in allowed for allowed, value in checks):
            return False
        if self.masked is not None and (mask != "none") != self.masked:
            return False
        return True


FINDINGS: tuple[Finding, ...] = (
    Finding(
        "comma",
        "Every masked VGGSound run of the authors' benchmark aborts at data row 60, the first of "
        "110 prompts with a comma ('race car, auto racing'): the prompt is split into several "
        "classes and the mask interpolation gets a 2-D array it cannot take. The published "
        "number came from other code. Our authors-protocol run applies the comma-prompt policy "
        "stated above instead.",
        expect=(
            "Expect a difference: the rows without commas are computed as the authors' code "
            "computes them, the comma rows by the stated policy, and how the paper's code "
            "treated them is unknown."
        ),
        blocks=True,
        benchmarks=("vggsound",),
        masked=True,
    ),
    Finding(
        "hard=soft",
        "The authors' code computes one mask, min(sigmoid(p)/tau, 1), for both 'hard' and "
        "'soft' (the mask kind is only checked against 'none'), yet Table 2 reports different "
        "numbers for the two kinds.",
        expect=(
            "Expect the authors protocol's hard and soft rows to be equal at every tau; the paper's"
            " gap between them cannot be reproduced from their code."
        ),
        blocks=True,
        tables=("table2",),
        masked=True,
    ),
    Finding(
        "one-rule",
        "In the authors' benchmark path the five committed rule names all run the same "
        "time-domain Butterworth band split (order 6, filtfilt) at f_c; only the literal name "
        "'ensemble_a' gives a blend. The five rows therefore measure one configuration, and "
        "their spread (about 0.001) is the noise of unseeded FlowSep draws.",
        expect=(
            "Expect the authors protocol's five rows to agree with each other within about 0.001 "
            "(FlowSep noise aside, they are one computation)."
        ),
        blocks=True,
        tables=("table3",),
    ),
    Finding(
        "audiosep-pipeline",
        "This cell equals a run recorded in the authors' dev_note.md (at d659573) of a separate "
        "AudioSep evaluation pipeline whose evaluators are not in their repository; it most "
        "likely uses another CLAP pipeline than the EventSep cells it is compared with.",
        expect=(
            "Expect a difference: the authors protocol scores this cell with the same CLAP models "
            "as every other cell."
        ),
        blocks=True,
        tables=("table1",),
        experiments=("audiosep",),
        benchmarks=("vggsound",),
        metrics=("clap", "clap_a"),
    ),
    Finding(
        "unseeded",
        "FlowSep is sampled without a seed in the authors' code (noise and, for long clips, the "
        "segment start): their own value of this cell changes from run to run by about 0.001.",
        expect=(
            "Expect the paper's value within about 0.001 at best: the paper's own draw cannot be "
            "repeated."
        ),
        blocks=False,
        modes=("flowsep", "ensemble", "both"),
    ),
    Finding(
        "ours-undefined",
        "No active run of the authors' benchmark defines 'Ours'; the committed settings are a "
        "soft mask at tau 0.55 and the band split at 4 kHz (their README's values differ from "
        "AudioSep by at most 0.0007 here, which fits that rule).",
        expect=(
            "Expect the authors protocol (soft mask, band split) to be close to the AudioSep row, "
            "as the paper's values are."
        ),
        blocks=False,
        tables=("table1",),
        experiments=("eventsep",),
        benchmarks=("music", "esc50"),
    ),
    Finding(
        "masked-baseline",
        "The authors' committed ESC-50 AudioSep run applies the soft time mask (tau 0.55), "
        "while Table 1 presents AudioSep alone; this package's AudioSep row is unmasked.",
        expect="Expect a small difference if the paper's cell is the masked run.",
        blocks=False,
        tables=("table1",),
        experiments=("audiosep",),
        benchmarks=("esc50",),
    ),
    Finding(
        "dev-note",
        "The authors' dev_note.md records a different AudioSep CLAPScore for this benchmark "
        "(MUSIC 0.3142, ESC-50 0.3253) than Table 1 publishes.",
        expect="Expect either value; which run produced the published one is not recorded.",
        blocks=False,
        tables=("table1",),
        experiments=("audiosep",),
        benchmarks=("music", "esc50"),
        metrics=("clap",),
    ),
)
"""What the authors' code tells about the paper's numbers (their repository at ``c329038``)."""


def findings_for(
    table: str,
    experiment: Experiment,
    benchmark: str,
    metric: str,
    findings: Sequence[Finding] = FINDINGS,
) -> tuple[Finding, ...]:
    """The findings that apply to ``metric`` of ``experiment`` on ``benchmark`` in ``table``."""
    return tuple(f for f in findings if f.applies(table, experiment, benchmark, metric))
