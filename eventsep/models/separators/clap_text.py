"""CLAP text tower (RoBERTa + projection MLP) used as AudioSep's query encoder.

The text embedding of LAION-CLAP (HTSAT-base audio / RoBERTa text, the checkpoint AudioSep trained
with) is ``normalize(Linear(512,512)(ReLU(Linear(768,512)(roberta_pooler(tokens)))))``. This
module runs it through :class:`transformers.ClapTextModelWithProjection` and loads weights from
either of two layouts:

- the AudioSep Lightning checkpoint (``query_encoder.model.text_branch.*`` and
  ``query_encoder.model.text_projection.{0,2}.*``), see :func:`clap_text_state_from_audiosep`;
- the transformers conversion ``laion/larger_clap_music_and_speech`` (``text_model.*``,
  ``text_projection.linear{1,2}.*``), see :meth:`ClapTextEncoder.from_hf_dir`.

Tokenisation follows the reference: ``roberta-base`` byte-level BPE, truncation at 512 tokens. The
reference pads every prompt to 512 tokens; this module pads to the longest prompt in the batch,
which gives the same embedding (padded positions are masked out of attention and the pooler reads
the first token) at a fraction of the cost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from eventsep.core.errors import CheckpointMismatchError, WeightsNotFoundError
from eventsep.core.heavy import heavy_imports

if TYPE_CHECKING:  # transformers is heavy: imported where a model is built
    from transformers import ClapTextConfig

__all__ = [
    "clap_text_config",
    "clap_text_state_from_audiosep",
    "ClapTextEncoder",
    "AUDIOSEP_QUERY_PREFIX",
    "IGNORED_QUERY_PREFIXES",
]

#: Prefix of the CLAP model inside the AudioSep Lightning checkpoint.
AUDIOSEP_QUERY_PREFIX = "query_encoder.model."

#: CLAP parts in the AudioSep checkpoint that the text query path does not use (prefix above
#: removed): the HTSAT audio tower and its projection, the contrastive-loss MLPs and temperatures.
IGNORED_QUERY_PREFIXES: tuple[str, ...] = (
    "audio_branch.",
    "audio_projection.",
    "audio_transform.",
    "text_transform.",
    "logit_scale_a",
    "logit_scale_t",
)

# Buffers of the transformers embeddings that older RoBERTa checkpoints may or may not store.
_OPTIONAL_BUFFERS = ("text_model.embeddings.position_ids", "text_model.embeddings.token_type_ids")

MAX_TOKENS = 512


def clap_text_config(**overrides: object) -> ClapTextConfig:
    """ClapTextConfig of the LAION-CLAP RoBERTa text tower (``roberta-base`` + 512-d projection).

    ``layer_norm_eps`` is RoBERTa's 1e-5, the value the CLAP text branch was trained with
    (``ClapTextConfig``'s own default is 1e-12). Keyword arguments override fields (tiny models).
    """
    values: dict[str, object] = dict(
        vocab_size=50265,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act="gelu",
        max_position_embeddings=514,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        projection_dim=512,
        projection_hidden_act="relu",
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )
    values.update(overrides)
    with heavy_imports():
        from transformers import ClapTextConfig

    return ClapTextConfig(**values)


def clap_text_state_from_audiosep(
    state_dict: Mapping[str, torch.Tensor], prefix: str = AUDIOSEP_QUERY_PREFIX
) -> dict[str, torch.Tensor]:
    """Map AudioSep/LAION-CLAP text keys to :class:`ClapTextModelWithProjection` keys.

    ``<prefix>text_branch.X`` -> ``text_model.X``; ``<prefix>text_projection.0.P`` ->
    ``text_projection.linear1.P``; ``<prefix>text_projection.2.P`` -> ``text_projection.linear2.P``.
    Keys under :data:`IGNORED_QUERY_PREFIXES` are skipped; any other key under ``prefix`` raises.

    Raises
    ------
    CheckpointMismatchError
        On a key under ``prefix`` that is neither text tower nor a known ignored part.
    """
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if rest.startswith("text_branch."):
            out["text_model." + rest[len("text_branch.") :]] = value
        elif rest.startswith("text_projection.0."):
            out["text_projection.linear1." + rest[len("text_projection.0.") :]] = value
        elif rest.startswith("text_projection.2."):
            out["text_projection.linear2." + rest[len("text_projection.2.") :]] = value
        elif rest.startswith(IGNORED_QUERY_PREFIXES):
            continue
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointMismatchError(f"unexpected CLAP keys in checkpoint: {unknown[:10]}")
    return out


class ClapTextEncoder(nn.Module):
    """Prompts -> L2-normalised CLAP text embeddings ``(n, projection_dim)``.

    Parameters
    ----------
    config : ClapTextConfig
        Text tower configuration (:func:`clap_text_config` for the real one).
    tokenizer : object, optional
        A transformers tokenizer with RoBERTa's special ids (``<s>``=0, ``<pad>``=1, ``</s>``=2).
        Needed for :meth:`encode`, not for :meth:`forward`.
    """

    def __init__(self, config: ClapTextConfig, tokenizer: object | None = None) -> None:
        super().__init__()
        with heavy_imports():
            from transformers import ClapTextModelWithProjection

        self.model = ClapTextModelWithProjection(config).eval()
        self.tokenizer = tokenizer

    @property
    def embed_dim(self) -> int:
        """Width of the embedding (512 for the real model)."""
        return int(self.model.config.projection_dim)

    def load_text_state(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Strictly load ``text_model.*`` / ``text_projection.*`` weights.

        ``embeddings.position_ids`` / ``embeddings.token_type_ids`` are constant buffers
        (``arange`` / zeros); when absent they keep their constructed values, when present they
        must equal them.

        Raises
        ------
        CheckpointMismatchError
            Missing, unexpected or wrongly shaped weights, or non-standard buffers.
        """
        own = self.model.state_dict()
        sd = dict(state_dict)
        for name in _OPTIONAL_BUFFERS:
            if name in sd:
                given, expected = sd[name], own[name]
                n = min(given.shape[-1], expected.shape[-1])
                if not torch.equal(given.reshape(-1)[:n].long(), expected.reshape(-1)[:n].long()):
                    raise CheckpointMismatchError(f"{name} in the checkpoint is not the default")
            sd[name] = own[name]
        try:
            self.model.load_state_dict(sd, strict=True)
        except RuntimeError as exc:
            raise CheckpointMismatchError(f"CLAP text state dict does not match: {exc}") from exc

    @classmethod
    def from_audiosep_state(
        cls, state_dict: Mapping[str, torch.Tensor], tokenizer: object | None = None
    ) -> ClapTextEncoder:
        """Build the real-size encoder from an AudioSep checkpoint's ``state_dict``."""
        enc = cls(clap_text_config(), tokenizer)
        enc.load_text_state(clap_text_state_from_audiosep(state_dict))
        return enc

    @classmethod
    def from_hf_dir(cls, path: str | Path, tokenizer: object | None = None) -> ClapTextEncoder:
        """Build the encoder from a transformers ``ClapModel`` directory.

        Reads ``model.safetensors`` (or ``pytorch_model.bin``) and keeps ``text_model.*`` and
        ``text_projection.*``. The architecture is :func:`clap_text_config`; the directory's
        ``config.json`` is checked for matching sizes, and its ``layer_norm_eps`` is not used
        (RoBERTa's 1e-5 is, as in the model AudioSep was trained with).

        Raises
        ------
        WeightsNotFoundError
            If the directory holds no weight file.
        CheckpointMismatchError
            If sizes or keys disagree.
        """
        path = Path(path)
        config = clap_text_config()
        cfg_file = path / "config.json"
        if cfg_file.is_file():
            text_cfg = json.loads(cfg_file.read_text()).get("text_config", {})
            for field in ("hidden_size", "num_hidden_layers", "vocab_size", "projection_dim"):
                if field in text_cfg and text_cfg[field] != getattr(config, field):
                    raise CheckpointMismatchError(
                        f"{cfg_file}: text_config.{field}={text_cfg[field]}, "
                        f"expected {getattr(config, field)}"
                    )
        if (path / "model.safetensors").is_file():
            from safetensors.torch import load_file

            full = load_file(str(path / "model.safetensors"))
        elif (path / "pytorch_model.bin").is_file():
            full = torch.load(path / "pytorch_model.bin", map_location="cpu", weights_only=True)
        else:
            raise WeightsNotFoundError(
                f"no model.safetensors or pytorch_model.bin in {path} (CLAP text weights)"
            )
        text = {k: v for k, v in full.items() if k.startswith(("text_model.", "text_projection."))}
        enc = cls(config, tokenizer)
        enc.load_text_state(text)
        return enc

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token ids ``(n, tokens)`` and mask ``(n, tokens)`` -> unit vectors ``(n, dim)``."""
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return F.normalize(out.text_embeds, dim=-1)

    def tokenize(self, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenise like the reference (truncation at 512), padding to the longest prompt."""
        if self.tokenizer is None:
            raise RuntimeError("ClapTextEncoder has no tokenizer; pass one to the constructor")
        enc = self.tokenizer(
            list(prompts),
            padding="longest",
            truncation=True,
            max_length=MAX_TOKENS,
            return_tensors="pt",
        )
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        """Prompts -> ``(len(prompts), dim)`` float32 unit vectors on the module's device."""
        device = next(self.parameters()).device
        tokens = self.tokenize(prompts)
        return self(tokens["input_ids"].to(device), tokens["attention_mask"].to(device)).float()
