"""Convert the FlowSep reference checkpoints to the component layout used here.

Sources (Lightning / HiFi-GAN style files from the authors):

- ``v2_100k.ckpt`` (hub ``flowsep-v2``), ``state_dict`` with

  - ``model_ema.<flattened>``: EMA copy of the flow UNet; the name of parameter
    ``model.diffusion_model.a.b.c`` is ``model_ema.diffusion_modela_b_c`` (dots removed). Inference
    in the reference runs inside ``ema_scope``, so these are the weights used.
  - ``model.diffusion_model.*``: the raw (non-EMA) UNet, used only with ``use_ema=False``.
  - ``first_stage_model.{encoder,decoder,quant_conv,post_quant_conv}.*``: the KL autoencoder, and
    ``first_stage_model.vocoder.*``: BigVGAN after ``remove_weight_norm``. Because the reference
    loads ``v2_100k.ckpt`` strictly after building the VAE from ``vae.ckpt`` and the vocoder from
    ``g_01000000``, these copies are the ones inference runs with; they are preferred here, and the
    separate files are only used when a copy is missing.
  - ``cond_stage_models.0.model.*``: the FLAN-T5-large encoder (``T5EncoderModel`` layout).
  - ``scale_factor``: latent scale (1 / std of the training latents).
  - left over by design: ``first_stage_model.loss.*`` (LPIPS / discriminator), ``logvar``,
    ``model_ema.decay``, ``model_ema.num_updates``.

- ``vae.ckpt`` (hub ``flowsep-vae``): ``state_dict`` with ``encoder.*`` ... (no prefix).
- ``g_01000000`` (hub ``flowsep-bigvgan``): ``{"generator": ...}`` with weight-norm pairs
  ``weight_g`` / ``weight_v``, folded here into ``weight``.

Targets: diffusers ``AutoencoderKL`` (``vae.*``), diffusers ``AudioLDM2UNet2DConditionModel``
(``unet.*``), transformers ``T5EncoderModel`` (``text_encoder.*``), :class:`BigVGAN`
(``vocoder.*``) and ``scale_factor``: exactly the ``state_dict`` of ``FlowSepSeparator``.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from eventsep.core.errors import CheckpointMismatchError

__all__ = [
    "ConversionReport",
    "unet_key_map",
    "convert_unet",
    "vae_key",
    "convert_vae",
    "convert_vocoder",
    "fold_weight_norm",
    "convert_flowsep_state_dict",
    "load_torch_checkpoint",
]

_RESBLOCK = {
    "in_layers.0": "norm1",
    "in_layers.2": "conv1",
    "emb_layers.1": "time_emb_proj",
    "out_layers.0": "norm2",
    "out_layers.3": "conv2",
    "skip_connection": "conv_shortcut",
}


@dataclass
class ConversionReport:
    """What a conversion used and what it left over (reference key names)."""

    used: dict[str, int] = field(default_factory=dict)
    left_over: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Multi-line human-readable report."""
        lines = [f"{name}: {n} tensors" for name, n in self.used.items()]
        if self.left_over:
            groups: dict[str, int] = {}
            for k in self.left_over:
                head = ".".join(k.split(".")[:2])
                groups[head] = groups.get(head, 0) + 1
            lines.append(f"left over: {len(self.left_over)} keys")
            lines += [f"  {g}.*: {n}" for g, n in sorted(groups.items())]
        lines += self.notes
        return "\n".join(lines)


# ---------------------------------------------------------------------- UNet
def unet_key_map(
    num_levels: int, num_res_blocks: int, attention_levels: Iterable[int]
) -> dict[str, str]:
    """Module-prefix map from the reference openai-style UNet to diffusers' AudioLDM2 UNet.

    Each attention level holds, after every ResBlock, a self-attention-only SpatialTransformer
    (``extra_sa_layer``) then a cross-attention one: diffusers ``attentions.{2j}`` (cross-attention
    dim ``None``, double self-attention) and ``attentions.{2j+1}``.
    """
    attn = set(attention_levels)
    m = {
        "time_embed.0": "time_embedding.linear_1",
        "time_embed.2": "time_embedding.linear_2",
        "input_blocks.0.0": "conv_in",
        "out.0": "conv_norm_out",
        "out.2": "conv_out",
        "middle_block.0": "mid_block.resnets.0",
        "middle_block.1": "mid_block.attentions.0",
        "middle_block.2": "mid_block.attentions.1",
        "middle_block.3": "mid_block.resnets.1",
    }
    idx = 1
    for level in range(num_levels):
        for j in range(num_res_blocks):
            m[f"input_blocks.{idx}.0"] = f"down_blocks.{level}.resnets.{j}"
            if level in attn:
                m[f"input_blocks.{idx}.1"] = f"down_blocks.{level}.attentions.{2 * j}"
                m[f"input_blocks.{idx}.2"] = f"down_blocks.{level}.attentions.{2 * j + 1}"
            idx += 1
        if level != num_levels - 1:
            m[f"input_blocks.{idx}.0.op"] = f"down_blocks.{level}.downsamplers.0.conv"
            idx += 1
    idx = 0
    for up, level in enumerate(reversed(range(num_levels))):
        for i in range(num_res_blocks + 1):
            m[f"output_blocks.{idx}.0"] = f"up_blocks.{up}.resnets.{i}"
            nxt = 1
            if level in attn:
                m[f"output_blocks.{idx}.1"] = f"up_blocks.{up}.attentions.{2 * i}"
                m[f"output_blocks.{idx}.2"] = f"up_blocks.{up}.attentions.{2 * i + 1}"
                nxt = 3
            if level and i == num_res_blocks:
                m[f"output_blocks.{idx}.{nxt}.conv"] = f"up_blocks.{up}.upsamplers.0.conv"
            idx += 1
    return m


def _map_prefix(key: str, prefixes: Mapping[str, str]) -> str | None:
    parts = key.split(".")
    for n in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:n])
        if head in prefixes:
            target = prefixes[head]
            rest = ".".join(parts[n:])
            if ".resnets." in target:
                for old, new in _RESBLOCK.items():
                    if rest.startswith(old + "."):
                        rest = new + rest[len(old) :]
                        break
                else:
                    return None
            return f"{target}.{rest}"
    return None


def convert_unet(
    state: Mapping[str, torch.Tensor], prefix_map: Mapping[str, str]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename a reference UNet state dict (keys relative to ``diffusion_model.``).

    Returns the diffusers state dict and the keys that matched no rule.
    """
    out: dict[str, torch.Tensor] = {}
    left: list[str] = []
    for k, v in state.items():
        new = _map_prefix(k, prefix_map)
        if new is None:
            left.append(k)
        else:
            out[new] = v
    return out, left


def ema_unet_state(state: Mapping[str, torch.Tensor], unet_keys: Iterable[str]) -> dict:
    """Pick the EMA copy of each ``model.diffusion_model.<key>`` from ``model_ema.*``.

    ``unet_keys`` are the reference UNet keys (relative to ``diffusion_model.``), taken from the
    raw copy in the checkpoint; the EMA name is ``model_ema.diffusion_model`` + key without dots.
    """
    out = {}
    for k in unet_keys:
        ema = "model_ema.diffusion_model" + k.replace(".", "")
        if ema not in state:
            raise CheckpointMismatchError(f"EMA weight {ema!r} for UNet key {k!r} is missing")
        out[k] = state[ema]
    return out


# ----------------------------------------------------------------------- VAE
_VAE_ATTN = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}
_VAE_RES = {"nin_shortcut": "conv_shortcut"}


def vae_key(key: str, num_levels: int) -> str | None:
    """Reference LDM autoencoder key -> diffusers ``AutoencoderKL`` key (None: no rule)."""
    m = re.fullmatch(r"(quant_conv|post_quant_conv)\.(weight|bias)", key)
    if m:
        return key
    m = re.fullmatch(r"(encoder|decoder)\.(conv_in|conv_out)\.(weight|bias)", key)
    if m:
        return key
    m = re.fullmatch(r"(encoder|decoder)\.norm_out\.(weight|bias)", key)
    if m:
        return f"{m[1]}.conv_norm_out.{m[2]}"
    m = re.fullmatch(r"encoder\.down\.(\d+)\.block\.(\d+)\.(\w+)\.(weight|bias)", key)
    if m:
        return f"encoder.down_blocks.{m[1]}.resnets.{m[2]}.{_VAE_RES.get(m[3], m[3])}.{m[4]}"
    m = re.fullmatch(r"encoder\.down\.(\d+)\.downsample\.conv\.(weight|bias)", key)
    if m:
        return f"encoder.down_blocks.{m[1]}.downsamplers.0.conv.{m[2]}"
    m = re.fullmatch(r"decoder\.up\.(\d+)\.block\.(\d+)\.(\w+)\.(weight|bias)", key)
    if m:
        up = num_levels - 1 - int(m[1])
        return f"decoder.up_blocks.{up}.resnets.{m[2]}.{_VAE_RES.get(m[3], m[3])}.{m[4]}"
    m = re.fullmatch(r"decoder\.up\.(\d+)\.upsample\.conv\.(weight|bias)", key)
    if m:
        return f"decoder.up_blocks.{num_levels - 1 - int(m[1])}.upsamplers.0.conv.{m[2]}"
    m = re.fullmatch(r"(encoder|decoder)\.mid\.block_([12])\.(\w+)\.(weight|bias)", key)
    if m:
        res = _VAE_RES.get(m[3], m[3])
        return f"{m[1]}.mid_block.resnets.{int(m[2]) - 1}.{res}.{m[4]}"
    m = re.fullmatch(r"(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(weight|bias)", key)
    if m:
        return f"{m[1]}.mid_block.attentions.0.{_VAE_ATTN[m[2]]}.{m[3]}"
    return None


def convert_vae(
    state: Mapping[str, torch.Tensor], num_levels: int
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename a reference autoencoder state dict; 1x1 attention convs become linear weights."""
    out: dict[str, torch.Tensor] = {}
    left: list[str] = []
    for k, v in state.items():
        new = vae_key(k, num_levels)
        if new is None:
            left.append(k)
            continue
        if ".mid_block.attentions." in new and new.endswith("weight") and v.ndim == 4:
            v = v[:, :, 0, 0]
        out[new] = v
    return out, left


# ------------------------------------------------------------------- vocoder
def fold_weight_norm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace ``x.weight_g`` / ``x.weight_v`` pairs by ``x.weight = g * v / ||v||`` (dim 0)."""
    out = {}
    for k, v in state.items():
        if k.endswith(".weight_v"):
            base = k[: -len("_v")]
            g = state[base + "_g"]
            out[base] = torch._weight_norm(v.float(), g.float(), 0).to(v.dtype)
        elif not k.endswith(".weight_g"):
            out[k] = v
    return out


def convert_vocoder(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """BigVGAN generator state (weight-normed or not, ``_orig_mod.`` stripped) -> our keys."""
    clean = {k.replace("_orig_mod.", ""): v for k, v in state.items()}
    return fold_weight_norm(clean)


# --------------------------------------------------------------- whole model
def load_torch_checkpoint(path: str | Path) -> dict:
    """Load a ``.ckpt`` / generator file on CPU; plain tensors first, full unpickling as fallback.

    Whoever hands the path in verifies the file first (``eventsep.models.hub`` checks the
    catalogued sha256 of every download).
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError):
        return torch.load(path, map_location="cpu", weights_only=False)


def _strip(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def convert_flowsep_state_dict(
    ckpt: Mapping[str, torch.Tensor],
    *,
    unet_levels: int,
    unet_res_blocks: int,
    unet_attention_levels: Iterable[int],
    vae_levels: int,
    vae_state: Mapping[str, torch.Tensor] | None = None,
    vocoder_state: Mapping[str, torch.Tensor] | None = None,
    use_ema: bool = True,
) -> tuple[dict[str, torch.Tensor], ConversionReport]:
    """Convert the flat ``state_dict`` of ``v2_100k.ckpt`` to ``FlowSepSeparator`` keys.

    Parameters
    ----------
    ckpt
        The checkpoint's ``state_dict``.
    vae_state
        ``vae.ckpt``'s ``state_dict``, used only where ``ckpt`` has no ``first_stage_model`` copy.
    vocoder_state
        ``g_01000000``'s ``generator`` dict, used only where ``ckpt`` has no vocoder copy.
    use_ema
        Take the UNet from ``model_ema.*`` (what the reference samples with).

    Returns
    -------
    tuple
        The separator state dict and a :class:`ConversionReport`.
    """
    report = ConversionReport()
    consumed: set[str] = set()
    out: dict[str, torch.Tensor] = {}

    raw_unet = _strip(ckpt, "model.diffusion_model.")
    if not raw_unet:
        raise CheckpointMismatchError("no 'model.diffusion_model.*' keys: not a FlowSep checkpoint")
    consumed |= {"model.diffusion_model." + k for k in raw_unet}
    if use_ema:
        unet_ref = ema_unet_state(ckpt, raw_unet)
        consumed |= {"model_ema.diffusion_model" + k.replace(".", "") for k in raw_unet}
        report.notes.append("UNet: EMA weights (model_ema.*)")
    else:
        unet_ref = raw_unet
        report.notes.append("UNet: raw training weights (model.diffusion_model.*), not EMA")
    prefix_map = unet_key_map(unet_levels, unet_res_blocks, unet_attention_levels)
    unet, left = convert_unet(unet_ref, prefix_map)
    if left:
        raise CheckpointMismatchError(f"UNet keys with no conversion rule: {left[:5]} ...")
    out.update({"unet." + k: v for k, v in unet.items()})
    report.used["unet"] = len(unet)

    vae_ref = {
        k: v
        for k, v in _strip(ckpt, "first_stage_model.").items()
        if k.split(".")[0] in ("encoder", "decoder", "quant_conv", "post_quant_conv")
    }
    if vae_ref:
        consumed |= {"first_stage_model." + k for k in vae_ref}
        report.notes.append("VAE: first_stage_model.* of the flow checkpoint")
    elif vae_state is not None:
        vae_ref = {
            k: v
            for k, v in vae_state.items()
            if k.split(".")[0] in ("encoder", "decoder", "quant_conv", "post_quant_conv")
        }
        report.notes.append("VAE: vae.ckpt")
    else:
        raise CheckpointMismatchError("no VAE weights (first_stage_model.* or vae.ckpt)")
    vae, left = convert_vae(vae_ref, vae_levels)
    if left:
        raise CheckpointMismatchError(f"VAE keys with no conversion rule: {left[:5]} ...")
    out.update({"vae." + k: v for k, v in vae.items()})
    report.used["vae"] = len(vae)

    voc_ref = _strip(ckpt, "first_stage_model.vocoder.")
    if voc_ref:
        consumed |= {"first_stage_model.vocoder." + k for k in voc_ref}
        report.notes.append("vocoder: first_stage_model.vocoder.* of the flow checkpoint")
    elif vocoder_state is not None:
        voc_ref = dict(vocoder_state)
        report.notes.append("vocoder: g_01000000 (weight norm folded)")
    else:
        raise CheckpointMismatchError("no vocoder weights (first_stage_model.vocoder.* or g_*)")
    voc = convert_vocoder(voc_ref)
    out.update({"vocoder." + k: v for k, v in voc.items()})
    report.used["vocoder"] = len(voc)

    t5 = _strip(ckpt, "cond_stage_models.0.model.")
    if not t5:
        raise CheckpointMismatchError("no T5 weights (cond_stage_models.0.model.*)")
    consumed |= {"cond_stage_models.0.model." + k for k in t5}
    if "encoder.embed_tokens.weight" not in t5 and "shared.weight" in t5:
        t5["encoder.embed_tokens.weight"] = t5["shared.weight"]
    out.update({"text_encoder." + k: v for k, v in t5.items()})
    report.used["text_encoder"] = len(t5)

    if "scale_factor" not in ckpt:
        raise CheckpointMismatchError("no 'scale_factor' in the checkpoint")
    out["scale_factor"] = ckpt["scale_factor"].reshape(()).float()
    consumed.add("scale_factor")
    report.notes.append(f"scale_factor = {float(out['scale_factor']):.6f}")
    report.left_over = sorted(k for k in ckpt if k not in consumed)
    return out, report
