"""FlowSep's hyper-parameters: the released v2 configuration and a tiny one for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eventsep.models.separators.bigvgan import BigVGANConfig

__all__ = ["FLAN_T5_LARGE", "FlowSepConfig", "full_config", "tiny_config"]


#: FLAN-T5-large encoder hyper-parameters (google/flan-t5-large config.json), for building the
#: model when the config file is not cached (random-weight benchmarks).
FLAN_T5_LARGE: dict[str, Any] = {
    "vocab_size": 32128,
    "d_model": 1024,
    "d_kv": 64,
    "d_ff": 2816,
    "num_layers": 24,
    "num_heads": 16,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "feed_forward_proj": "gated-gelu",
    "layer_norm_epsilon": 1e-6,
    "dropout_rate": 0.1,
    "tie_word_embeddings": False,
}


@dataclass(frozen=True)
class FlowSepConfig:
    """Hyper-parameters of the whole separator (defaults: the released FlowSep v2).

    Attributes
    ----------
    segment_samples
        Samples per generated segment at ``sample_rate`` (10.24 s).
    unet_channels, unet_mult, unet_res_blocks, unet_attention_levels, unet_head_dim
        Flow UNet: base width 128, multipliers (1, 2, 3, 5), 2 ResBlocks per level, attention at
        levels 1-3 (downsampling 2, 4, 8), 32 channels per head.
    vae_channels
        Widths of the VAE levels (128, 256, 512); 2 ResBlocks per level.
    text_dim, text_max_length
        T5 hidden size (cross-attention dim) and prompt length in tokens.
    t5
        T5 config overrides (``FLAN_T5_LARGE`` when empty).
    """

    sample_rate: int = 16000
    segment_samples: int = 163840
    n_fft: int = 1024
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float = 8000.0
    peak: float = 0.5
    latent_channels: int = 8
    unet_channels: int = 128
    unet_mult: tuple[int, ...] = (1, 2, 3, 5)
    unet_res_blocks: int = 2
    unet_attention_levels: tuple[int, ...] = (1, 2, 3)
    unet_head_dim: int = 32
    vae_channels: tuple[int, ...] = (128, 256, 512)
    vae_res_blocks: int = 2
    text_dim: int = 1024
    text_max_length: int = 50
    t5: dict[str, Any] = field(default_factory=dict)
    vocoder: BigVGANConfig = field(default_factory=BigVGANConfig)

    @property
    def frames(self) -> int:
        """Mel frames per segment (the reference drops the last centred frame)."""
        return self.segment_samples // self.hop_length

    def unet_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``AudioLDM2UNet2DConditionModel``."""
        n = len(self.unet_mult)
        attn = set(self.unet_attention_levels)
        widths = tuple(self.unet_channels * m for m in self.unet_mult)
        down = tuple("CrossAttnDownBlock2D" if i in attn else "DownBlock2D" for i in range(n))
        up = tuple("CrossAttnUpBlock2D" if i in attn else "UpBlock2D" for i in reversed(range(n)))
        return {
            "in_channels": 2 * self.latent_channels,
            "out_channels": 2 * self.latent_channels,
            "down_block_types": down,
            "up_block_types": up,
            "block_out_channels": widths,
            "layers_per_block": self.unet_res_blocks,
            "cross_attention_dim": [(None, self.text_dim)] * n,
            "attention_head_dim": tuple(w // self.unet_head_dim for w in widths),
            "norm_num_groups": 32,
            "norm_eps": 1e-5,
        }

    def vae_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of diffusers ``AutoencoderKL``."""
        n = len(self.vae_channels)
        return {
            "in_channels": 1,
            "out_channels": 1,
            "down_block_types": ("DownEncoderBlock2D",) * n,
            "up_block_types": ("UpDecoderBlock2D",) * n,
            "block_out_channels": self.vae_channels,
            "layers_per_block": self.vae_res_blocks,
            "latent_channels": self.latent_channels,
            "norm_num_groups": 32,
            "sample_size": 256,
        }


def full_config() -> FlowSepConfig:
    """The released FlowSep v2 configuration (``lass_config/2channel_flow.yaml``)."""
    return FlowSepConfig()


def tiny_config(vocab_size: int = 1000) -> FlowSepConfig:
    """A small configuration of the same architecture for tests (1.28 s segments)."""
    return FlowSepConfig(
        segment_samples=20480,
        unet_channels=32,
        unet_mult=(1, 2),
        unet_attention_levels=(1,),
        unet_head_dim=16,
        vae_channels=(32, 32, 32),
        vae_res_blocks=1,
        text_dim=32,
        t5={
            "vocab_size": vocab_size,
            "d_model": 32,
            "d_kv": 8,
            "d_ff": 64,
            "num_layers": 2,
            "num_heads": 4,
            "relative_attention_num_buckets": 8,
            "relative_attention_max_distance": 20,
            "feed_forward_proj": "gated-gelu",
            "tie_word_embeddings": False,
        },
        vocoder=BigVGANConfig(
            upsample_initial_channel=32,
            resblock_kernel_sizes=(3,),
            resblock_dilation_sizes=((1, 3, 5),),
        ),
    )
