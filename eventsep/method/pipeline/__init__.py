"""The EventSep pipeline: one object from prompt and mixture to the separated estimate.

:class:`EventSep` is assembled from components passed in (diffusers style): a prompt mapper, a
sound event detector, the separators AudioSep and FlowSep, and its replaceable stages
(:class:`eventsep.method.stages.Stages`: mapper, masker, FlowSep input adapter, fusion rule).
:meth:`EventSep.from_pretrained` builds it for a model set (:mod:`eventsep.models.registry`):
the ``"paper"`` checkpoints, the ``"tiny-random"`` test models or a local cache folder.

One call runs five stages, each a method of :class:`EventSep`::

    map       prompt --mapper stage--> AudioSet classes (LabelMatch)
    detect    mixture --detector of sed_head--> frame probabilities (frames, 527)
    mask      probabilities --masker stage--> frame mask --> masked mixture
    separate  masked mixture --AudioSep--> 32 kHz estimate (Separation)
              masked mixture --FlowSep---> 16 kHz span estimate (Separation)
    combine   mode "ensemble": both --fusion stage--> 32 kHz estimate (else one of them)

and returns a frozen :class:`EventSepResult` holding every intermediate, so the notebooks can
build the paper's tables (separators alone, with and without the mask, every fusion rule) from
one object: a ``mode="both"`` result can be re-fused with any rule by :meth:`EventSep.fuse`
without running the models again. A call is a batch of one (:meth:`EventSep.batch`).

Modules: :mod:`~eventsep.method.pipeline.eventsep` (the class),
:mod:`~eventsep.method.pipeline.steps` (the five stages),
:mod:`~eventsep.method.pipeline.batching` (the run of one or several items),
:mod:`~eventsep.method.pipeline.loading` (``from_pretrained``),
:mod:`~eventsep.method.pipeline.parts` (result types of the stages, input checks).
"""

from __future__ import annotations

from eventsep.method.config import EMPTY_MASK_POLICIES, MODES, SED_HEADS, EventSepConfig
from eventsep.method.pipeline.eventsep import EventSep
from eventsep.method.pipeline.parts import SAMPLE_RATE, Separations, TimeMask
from eventsep.method.result import EventSepResult
from eventsep.method.stages import Stages

__all__ = [
    "EMPTY_MASK_POLICIES",
    "MODES",
    "SAMPLE_RATE",
    "SED_HEADS",
    "EventSep",
    "EventSepConfig",
    "EventSepResult",
    "Separations",
    "Stages",
    "TimeMask",
]
