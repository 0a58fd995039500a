"""FlowSep's files: the released checkpoints converted to one safetensors file, and read back.

Every function takes the paths it reads and writes; which files those are (the catalogue, the
cache folder) is the model registry's business (:mod:`eventsep.models.registry`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from eventsep.core.errors import CheckpointMismatchError, WeightsNotFoundError
from eventsep.core.heavy import heavy_imports
from eventsep.core.io import atomic_path, write_text_atomic
from eventsep.models.separators.flowsep.config import FLAN_T5_LARGE, FlowSepConfig, full_config
from eventsep.models.separators.flowsep.convert import (
    convert_flowsep_state_dict,
    load_torch_checkpoint,
)
from eventsep.models.separators.flowsep.model import FlowSepModel

__all__ = ["VOCODER_FILE", "convert_flowsep", "converted_name", "load_weights", "read_text_encoder"]

PathLike = str | os.PathLike[str]

#: The BigVGAN generator file inside the released vocoder folder.
VOCODER_FILE = "g_01000000"

#: The T5 config keys the separator builds its text encoder from.
_T5_KEYS = set(FLAN_T5_LARGE) | {"is_gated_act", "dense_act_fn", "initializer_factor"}


def converted_name(use_ema: bool = True) -> str:
    """File name of the converted weights: the EMA UNet (what the reference samples with) or
    the raw training weights."""
    return "flowsep-v2.safetensors" if use_ema else "flowsep-v2-raw.safetensors"


def read_text_encoder(folder: PathLike, *, tokenizer: bool = True) -> tuple[Any, dict[str, Any]]:
    """The tokenizer (None unless ``tokenizer``) and T5 config overrides of a flan-t5 folder."""
    with heavy_imports():
        from transformers import AutoTokenizer, T5Config

    t5 = T5Config.from_pretrained(str(folder)).to_dict()
    tok = AutoTokenizer.from_pretrained(str(folder)) if tokenizer else None
    return tok, {k: v for k, v in t5.items() if k in _T5_KEYS}


def load_weights(model: FlowSepModel, weights: PathLike) -> None:
    """Load the converted safetensors file ``weights`` into ``model``, strictly.

    Raises
    ------
    WeightsNotFoundError
        When ``weights`` is not a file.
    """
    from safetensors.torch import load_file

    path = Path(weights)
    if not path.is_file():
        raise WeightsNotFoundError(
            f"converted FlowSep weights not found at {path}; convert the released checkpoints "
            "with `eventsep convert-flowsep`"
        )
    model.load_state_dict(load_file(str(path)), strict=True)


def _state(path: PathLike) -> dict[str, torch.Tensor]:
    ckpt = load_torch_checkpoint(path)
    return ckpt.get("state_dict", ckpt)


def convert_flowsep(
    target: PathLike,
    *,
    checkpoint: PathLike,
    vae: PathLike | None,
    vocoder: PathLike | None,
    text_encoder: PathLike | None,
    use_ema: bool = True,
) -> Path:
    """Convert the released checkpoints to one safetensors file ``target``; return its path.

    Loads the result strictly into the full-size model, then writes ``target`` and, next to it,
    ``<stem>.report.txt`` listing the keys left over (both atomically, with the umask's
    permissions like every other output, so a shared cache stays readable).

    Parameters
    ----------
    target
        The safetensors file to write (name: :func:`converted_name`).
    checkpoint
        The flow checkpoint ``v2_100k.ckpt``.
    vae
        ``vae.ckpt``; read only when ``checkpoint`` holds no VAE copy (None: not available).
    vocoder
        The BigVGAN folder holding ``g_01000000``; read only when ``checkpoint`` holds no vocoder
        copy (None: not available).
    text_encoder
        The flan-t5 folder whose ``config.json`` sizes the T5 encoder; None: the built-in
        FLAN-T5-large numbers (:data:`FLAN_T5_LARGE`).
    use_ema
        Take the UNet from the EMA copy (what the reference samples with).

    Raises
    ------
    CheckpointMismatchError
        When the checkpoint needs ``vae`` or ``vocoder`` and it is None, or the converted
        weights do not fit the model.
    """
    from safetensors.torch import save_file

    target = Path(target)
    state = _state(checkpoint)
    needs_vae = not any(k.startswith("first_stage_model.encoder.") for k in state)
    needs_voc = not any(k.startswith("first_stage_model.vocoder.") for k in state)
    vae_state = voc_state = None
    if needs_vae:
        if vae is None:
            raise CheckpointMismatchError(
                f"{checkpoint} holds no VAE (first_stage_model.*): pass vae= (vae.ckpt)"
            )
        vae_state = _state(vae)
    if needs_voc:
        if vocoder is None:
            raise CheckpointMismatchError(
                f"{checkpoint} holds no vocoder (first_stage_model.vocoder.*): pass vocoder= "
                f"(the BigVGAN folder holding {VOCODER_FILE})"
            )
        voc_state = load_torch_checkpoint(Path(vocoder) / VOCODER_FILE)["generator"]
    cfg = full_config()
    sd, report = convert_flowsep_state_dict(
        state,
        unet_levels=len(cfg.unet_mult),
        unet_res_blocks=cfg.unet_res_blocks,
        unet_attention_levels=cfg.unet_attention_levels,
        vae_levels=len(cfg.vae_channels),
        vae_state=vae_state,
        vocoder_state=voc_state,
        use_ema=use_ema,
    )
    if text_encoder is not None:
        cfg = FlowSepConfig(t5=read_text_encoder(text_encoder, tokenizer=False)[1])
    model = FlowSepModel(cfg, tokenizer=None)
    result = model.load_state_dict(sd, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointMismatchError(
            f"converted FlowSep weights do not fit: missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )
    tensors = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(target, suffix=".safetensors") as tmp:
        save_file(tensors, tmp, metadata={"source": "flowsep-v2", "ema": str(use_ema)})
    write_text_atomic(target.with_suffix(".report.txt"), report.summary() + "\n")
    return target
