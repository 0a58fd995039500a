"""The model sets as data: which catalogued checkpoints each component of each set loads.

One frozen dataclass per component role (:class:`DetectorFiles`, :class:`AudioSepFiles`,
:class:`FlowSepFiles`, :class:`MapperFiles`, :class:`MetricFiles`), each field a name in
:data:`eventsep.models.hub.CATALOGUE`; a :class:`ModelSet` bundles them, and :data:`MODEL_SETS`
names the sets. Resolving a set and loading its components is :mod:`eventsep.models.registry`'s
job (which re-exports these names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

from eventsep.models import hub
from eventsep.models.clap.scorer import check_clap_protocol
from eventsep.models.sed import check_head

__all__ = [
    "MODEL_SETS",
    "MODEL_SET_NAMES",
    "PAPER",
    "AudioSepFiles",
    "DetectorFiles",
    "FlowSepFiles",
    "MapperFiles",
    "MetricFiles",
    "ModelSet",
]


class _Role:
    """Catalogue names of one component; every field is a name in
    :data:`eventsep.models.hub.CATALOGUE`."""

    def names(self) -> tuple[str, ...]:
        """The catalogue names, in field order."""
        return tuple(getattr(self, f.name) for f in fields(self))  # type: ignore[arg-type]


@dataclass(frozen=True)
class DetectorFiles(_Role):
    """PANNs Cnn14 sound event detector (:class:`eventsep.models.sed.Cnn14SED`), one checkpoint per
    head.

    Attributes
    ----------
    att : str
        ``Cnn14_DecisionLevelAtt`` (the authors' code).
    max : str
        ``Cnn14_DecisionLevelMax`` (the paper's text).
    """

    att: str
    max: str

    def for_head(self, head: str) -> str:
        """The catalogue name of ``head`` (``"att"`` or ``"max"``)."""
        return self.att if check_head(head) == "att" else self.max


@dataclass(frozen=True)
class AudioSepFiles(_Role):
    """AudioSep (:class:`eventsep.models.separators.audiosep.AudioSepSeparator`).

    Attributes
    ----------
    checkpoint : str
        ResUNet30 + CLAP text tower (Lightning checkpoint).
    tokenizer : str
        The CLAP text tower's RoBERTa tokenizer.
    """

    checkpoint: str
    tokenizer: str


@dataclass(frozen=True)
class FlowSepFiles(_Role):
    """FlowSep (:class:`eventsep.models.separators.flowsep.FlowSepSeparator`).

    Attributes
    ----------
    checkpoint : str
        The rectified-flow model (UNet, VAE, T5 encoder, EMA weights).
    vae : str
        The autoencoder, read when the flow checkpoint holds no copy.
    vocoder : str
        BigVGAN generator + config, read when the flow checkpoint holds no copy.
    text_encoder : str
        FLAN-T5 tokenizer and config (its weights are in ``checkpoint``).
    """

    checkpoint: str
    vae: str
    vocoder: str
    text_encoder: str


@dataclass(frozen=True)
class MapperFiles(_Role):
    """Prompt -> AudioSet class mapper (:class:`eventsep.method.mapping.PromptMapper`).

    Attributes
    ----------
    sentence_encoder : str
        The sentence-transformers model that embeds prompts and class names.
    """

    sentence_encoder: str


@dataclass(frozen=True)
class MetricFiles(_Role):
    """Models the evaluation metrics load (:class:`eventsep.models.clap.scorer.ClapScorer`), not
    the pipeline.

    Attributes
    ----------
    clap : str
        LAION-CLAP music_speech_audioset 89.98 (HTSAT-base): both CLAP scores of the
        ``"corrected"`` protocol.
    clap_fusion : str
        LAION-CLAP 630k-fusion-best (fused HTSAT-tiny): CLAPScore of the ``"authors"`` protocol.
    clap_audioset : str
        LAION-CLAP 630k-audioset-best (HTSAT-tiny): CLAPScore-A of the ``"authors"`` protocol.
    tokenizer : str
        The RoBERTa tokenizer of the CLAP text towers.
    """

    clap: str
    clap_fusion: str
    clap_audioset: str
    tokenizer: str

    def for_protocol(self, protocol: str) -> tuple[str, ...]:
        """Catalogue names the scorer of ``protocol`` reads, in the order it reads them.

        Raises
        ------
        ConfigError
            Unknown protocol.
        """
        if check_clap_protocol(protocol) == "corrected":
            return (self.clap, self.tokenizer)
        return (self.clap_fusion, self.clap_audioset, self.tokenizer)


@dataclass(frozen=True)
class ModelSet:
    """The checkpoints one model set loads, per component.

    A component set to ``None`` needs no file: it is built with seeded random weights.

    Attributes
    ----------
    name : str
        Key in :data:`MODEL_SETS`.
    description : str
        One line for help texts.
    mapper : MapperFiles
        Prompt mapper (real in every set).
    detector, audiosep, flowsep : DetectorFiles, AudioSepFiles, FlowSepFiles or None
        The pipeline's models.
    metrics : MetricFiles or None
        The CLAP metric models of both protocols (``None``: tiny random CLAPs).
    """

    name: str
    description: str
    mapper: MapperFiles
    detector: DetectorFiles | None = None
    audiosep: AudioSepFiles | None = None
    flowsep: FlowSepFiles | None = None
    metrics: MetricFiles | None = None

    @property
    def random(self) -> bool:
        """True when the pipeline's models are built with random weights (no checkpoint)."""
        return self.detector is None

    def pipeline_files(self) -> tuple[str, ...]:
        """Catalogue names ``EventSep.from_pretrained`` may load (both detector heads)."""
        roles = (self.detector, self.audiosep, self.flowsep, self.mapper)
        return _unique(n for role in roles if role is not None for n in role.names())

    def files(self) -> tuple[str, ...]:
        """Every catalogue name the set needs: the pipeline's plus the metric models' (both
        protocols), without the fallbacks (:attr:`eventsep.models.hub.Checkpoint.fallback`),
        which are fetched only when needed."""
        extra = self.metrics.names() if self.metrics is not None else ()
        names = _unique((*self.pipeline_files(), *extra))
        return tuple(n for n in names if not hub.entry(n).fallback)


def _unique(names: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


_MINILM = MapperFiles(sentence_encoder="all-minilm-l6-v2")

#: Every named model set. A folder given as a model set loads the ``"paper"`` set from it.
MODEL_SETS: Mapping[str, ModelSet] = MappingProxyType(
    {
        "paper": ModelSet(
            name="paper",
            description="the published checkpoints, from the cache",
            mapper=_MINILM,
            detector=DetectorFiles(att="pann-cnn14-att", max="pann-cnn14-max"),
            audiosep=AudioSepFiles(checkpoint="audiosep-base", tokenizer="roberta-base"),
            flowsep=FlowSepFiles(
                checkpoint="flowsep-v2",
                vae="flowsep-vae",
                vocoder="flowsep-bigvgan",
                text_encoder="flan-t5-large",
            ),
            metrics=MetricFiles(
                clap="clap-music-speech",
                clap_fusion="clap-630k-fusion",
                clap_audioset="clap-630k-audioset",
                tokenizer="roberta-base",
            ),
        ),
        "tiny-random": ModelSet(
            name="tiny-random",
            description="small seeded random models, offline (tests, CI)",
            mapper=_MINILM,
        ),
    }
)
#: Names a model set can be given by (besides a folder).
MODEL_SET_NAMES: tuple[str, ...] = tuple(MODEL_SETS)
#: The published set (also what a folder given as a model set holds).
PAPER: ModelSet = MODEL_SETS["paper"]
