"""Strict key mapping from the LAION-CLAP training checkpoints to :class:`LaionClap`.

Layout of the published ``.pt`` files (LAION-AI/CLAP ``training/main.py``; checked on twins):
a dict ``{"epoch", "name", "state_dict", "optimizer", ...}`` whose ``state_dict`` keys all start
with ``module.`` (DistributedDataParallel). The optimizer state holds a numpy float64, so the
file is loaded with an allow-list of numpy scalar types (never a full unpickle), after its hash
has been checked by :mod:`eventsep.models.hub`.

Every key is mapped, checked or listed as unused; anything else raises.

LAION key (``module.`` removed) -> eventsep key (:class:`~eventsep.models.clap.model.LaionClap`):

- ``text_branch.X`` -> ``model.text_model.X``;
- ``{text,audio}_projection.{0,2}.P`` -> ``model.{text,audio}_projection.linear{1,2}.P``;
- ``logit_scale_{a,t}`` -> ``model.logit_scale_{a,t}``;
- ``audio_branch.bn0.*`` -> ``model.audio_model.audio_encoder.batch_norm.*``;
- ``audio_branch.{patch_embed,norm,layers.i.downsample}.*`` -> same names under
  ``model.audio_model.audio_encoder.``;
- in ``audio_branch.layers.i.blocks.j.``: ``norm1`` / ``norm2`` -> ``layernorm_before`` /
  ``layernorm_after``; ``attn.qkv.{weight,bias}`` -> split in three rows blocks,
  ``attention.self.{query,key,value}``; ``attn.relative_position_bias_table`` ->
  ``attention.self.relative_position_bias_table``; ``attn.proj`` -> ``attention.output.dense``;
  ``mlp.fc1`` / ``mlp.fc2`` -> ``intermediate.dense`` / ``output.dense``;
- ``audio_branch.spectrogram_extractor.stft.conv_{real,imag}.weight`` -> ``front.conv_{real,imag}``
  and ``audio_branch.logmel_extractor.melW`` -> ``front.mel`` (the stored STFT/mel kernels).

Checked constants: ``...attn.relative_position_index`` and ``text_branch.embeddings.position_ids``
must equal the values the model builds. Unused by the embeddings (dropped): the SED head
``audio_branch.tscam_conv.*`` / ``audio_branch.head.*``, the contrastive-loss MLPs
``text_transform.*`` / ``audio_transform.*``, and the Swin shift masks ``...attn_mask`` (derived
from the window geometry, rebuilt by the model).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import torch

from eventsep.core.errors import CheckpointMismatchError
from eventsep.models.clap.model import LaionClap, clap_config

__all__ = ["UNUSED_PREFIXES", "load_laion_checkpoint", "map_laion_state", "read_laion_state"]

#: LAION keys the embeddings do not use (after ``module.`` is removed).
UNUSED_PREFIXES: tuple[str, ...] = (
    "audio_branch.tscam_conv.",
    "audio_branch.head.",
    "text_transform.",
    "audio_transform.",
)

_ENC = "model.audio_model.audio_encoder."
_BLOCK = re.compile(r"^audio_branch\.layers\.(\d+)\.blocks\.(\d+)\.(.+)$")
_BLOCK_NAMES = {
    "norm1.": "layernorm_before.",
    "norm2.": "layernorm_after.",
    "attn.relative_position_bias_table": "attention.self.relative_position_bias_table",
    "attn.proj.": "attention.output.dense.",
    "mlp.fc1.": "intermediate.dense.",
    "mlp.fc2.": "output.dense.",
}
_CHECKED = ("attn.relative_position_index",)
_DERIVED = ("attn_mask",)
_FRONT = {
    "audio_branch.spectrogram_extractor.stft.conv_real.weight": "front.conv_real",
    "audio_branch.spectrogram_extractor.stft.conv_imag.weight": "front.conv_imag",
    "audio_branch.logmel_extractor.melW": "front.mel",
}
_OPTIONAL_TEXT_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")


def _map_block(layer: str, block: str, rest: str, value: torch.Tensor, out: dict, checks: dict):
    prefix = f"{_ENC}layers.{layer}.blocks.{block}."
    if rest.startswith("attn.qkv."):
        param = rest[len("attn.qkv.") :]
        for name, part in zip(("query", "key", "value"), value.chunk(3, dim=0), strict=True):
            out[f"{prefix}attention.self.{name}.{param}"] = part
        return True
    if rest in _CHECKED:
        checks[f"{prefix}attention.self.relative_position_index"] = value
        return True
    if rest in _DERIVED:
        return True
    for old, new in _BLOCK_NAMES.items():
        if rest.startswith(old):
            out[prefix + new + rest[len(old) :]] = value
            return True
    return False


def map_laion_state(
    state: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Map a LAION-CLAP state dict (``module.`` prefix optional) to :class:`LaionClap` keys.

    Returns
    -------
    mapped : dict
        Weights to load with ``strict=True``.
    checks : dict
        Constant buffers the checkpoint holds, to compare with the model's own.

    Raises
    ------
    CheckpointMismatchError
        A key that is neither mapped, checked nor listed as unused.
    """
    out: dict[str, torch.Tensor] = {}
    checks: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for raw, value in state.items():
        key = raw[len("module.") :] if raw.startswith("module.") else raw
        if key.startswith(UNUSED_PREFIXES):
            continue
        if key.startswith("text_branch."):
            rest = key[len("text_branch.") :]
            target = "model.text_model." + rest
            (checks if rest in _OPTIONAL_TEXT_BUFFERS else out)[target] = value
        elif m := re.match(r"^(text|audio)_projection\.([02])\.(.+)$", key):
            out[f"model.{m[1]}_projection.linear{1 if m[2] == '0' else 2}.{m[3]}"] = value
        elif key in ("logit_scale_a", "logit_scale_t"):
            out["model." + key] = value
        elif key in _FRONT:
            out[_FRONT[key]] = value
        elif key.startswith("audio_branch.bn0."):
            out[_ENC + "batch_norm." + key[len("audio_branch.bn0.") :]] = value
        elif m := _BLOCK.match(key):
            if not _map_block(m[1], m[2], m[3], value, out, checks):
                unknown.append(raw)
        elif key.startswith(("audio_branch.patch_embed.", "audio_branch.layers.")):
            out[_ENC + key[len("audio_branch.") :]] = value
        elif key.startswith("audio_branch.norm."):
            out[_ENC + key[len("audio_branch.") :]] = value
        else:
            unknown.append(raw)
    if unknown:
        raise CheckpointMismatchError(
            f"{len(unknown)} unexpected LAION-CLAP keys, e.g. {unknown[:5]}"
        )
    return out, checks


def load_laion_state(model: Any, state: Mapping[str, torch.Tensor]) -> None:
    """Strictly load a LAION-CLAP state dict into a :class:`~eventsep.models.clap.model.LaionClap`.

    Raises
    ------
    CheckpointMismatchError
        Unknown, missing or wrongly shaped keys, or constants that differ from the model's.
    """
    mapped, checks = map_laion_state(state)
    own = model.state_dict()
    for key, value in checks.items():
        if key not in own:
            raise CheckpointMismatchError(f"checkpoint holds {key}, which the model lacks")
        mine = own[key]
        n = min(mine.shape[-1], value.shape[-1])
        if value.shape[:-1] != mine.shape[:-1] or not torch.equal(
            value[..., :n].long(), mine[..., :n].long()
        ):
            raise CheckpointMismatchError(f"{key} in the checkpoint is not the standard constant")
    for key, mine in own.items():  # buffers the model builds itself
        built = _OPTIONAL_TEXT_BUFFERS + ("relative_position_index",)
        if key not in mapped and key.endswith(built):
            mapped[key] = mine
    bad = [k for k, v in mapped.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if bad:
        raise CheckpointMismatchError(
            "shape mismatch: "
            + ", ".join(f"{k} {tuple(mapped[k].shape)} vs {tuple(own[k].shape)}" for k in bad[:5])
        )
    try:
        model.load_state_dict(mapped, strict=True)
    except RuntimeError as exc:
        raise CheckpointMismatchError(f"LAION-CLAP state dict does not match: {exc}") from exc


def read_laion_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of a LAION-CLAP ``.pt`` (hash it first: :func:`eventsep.models.hub.get`).

    Loaded with ``weights_only=True`` plus the numpy scalar types the optimizer state holds.
    """
    import numpy as np

    safe = [np.dtype, type(np.dtype("float64")), type(np.dtype("int64"))]
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    safe.append(scalar)
    with torch.serialization.safe_globals(safe):
        ckpt = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, Mapping):
        raise CheckpointMismatchError(f"{path} holds no LAION-CLAP state_dict")
    return dict(state)


def load_laion_checkpoint(path: str | os.PathLike[str], kind: str, *, fusion: bool) -> Any:
    """Build a :class:`~eventsep.models.clap.model.LaionClap` of ``kind`` and load ``path``
    strictly."""
    model = LaionClap(clap_config(kind, fusion=fusion))
    load_laion_state(model, read_laion_state(path))
    return model.eval()
