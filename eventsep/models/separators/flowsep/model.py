"""FlowSep's networks and their one-step calls: T5 text, log-mel, VAE, flow UNet, vocoder.

Assembled from maintained components:

- text: transformers ``T5EncoderModel`` (FLAN-T5-large), prompts padded/truncated to 50 tokens;
  the padding mask is passed to every cross-attention.
- VAE: diffusers ``AutoencoderKL`` (1 -> 8 latent channels, 4x down in time and frequency) on the
  log-mel of :mod:`eventsep.models.separators.flowsep.mel`; latents are multiplied by
  ``scale_factor``.
- flow model: diffusers ``AudioLDM2UNet2DConditionModel``. Each attention level of the reference
  UNet holds a self-attention-only transformer (``extra_sa_layer``) before the cross-attention
  one; diffusers represents this exactly with ``cross_attention_dim=(None, 1024)`` per block
  (``double_self_attention``). 16 input channels (noisy latent ++ mixture latent), 16 outputs of
  which the first 8 are the velocity. The time in [0, 1] goes unscaled into the sinusoidal
  embedding (both use [cos, sin] ordering and ``10000^(-i/half)`` frequencies).
- vocoder: :class:`eventsep.models.separators.bigvgan.BigVGAN` (v1, own module).

The attention mask bias is -10000 (diffusers) instead of the reference's ``-finfo.max``
(identical after the softmax in float32). The separator built on these calls is
:class:`eventsep.models.separators.flowsep.separator.FlowSepSeparator`.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import nn

from eventsep.core.errors import ConfigError
from eventsep.core.heavy import heavy_imports
from eventsep.core.precision import float32_region
from eventsep.core.seeding import InitScheme
from eventsep.models.separators.bigvgan import BigVGAN
from eventsep.models.separators.flowsep.config import FLAN_T5_LARGE, FlowSepConfig
from eventsep.models.separators.flowsep.mel import log_mel_spectrogram, mel_filterbank

__all__ = ["FlowSepModel", "RANDOM_INIT"]


def _random_value(name: str, p: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """FlowSep's random weights (:data:`RANDOM_INIT`), one parameter at a time.

    Weights ~ N(0, 1/fan_in) (vocoder: 0.5x, its conv_post 0.2x); biases ~ N(0, 0.02);
    1-d norm scales ~ 1 + N(0, 0.1); SnakeBeta log-parameters ~ N(0, 0.1).
    """
    shape = p.shape
    if p.ndim >= 2:
        fan_in = math.prod(shape[1:])
        if "ups." in name and p.ndim == 3:  # ConvTranspose1d: (in, out, k)
            fan_in = shape[0] * shape[2] // 2
        val = torch.randn(shape, generator=g) / math.sqrt(max(fan_in, 1))
        if name.startswith("vocoder."):
            # keep the random vocoder out of tanh saturation
            val = val * (0.2 if "conv_post" in name else 0.5)
        return val
    if name.endswith("bias"):
        return 0.02 * torch.randn(shape, generator=g)
    if name.endswith((".alpha", ".beta")):
        return 0.1 * torch.randn(shape, generator=g)
    return 1.0 + 0.1 * torch.randn(shape, generator=g)


RANDOM_INIT = InitScheme(_random_value, order="parameters")
"""Seeded random weights of :class:`FlowSepModel`: every parameter in ``named_parameters``
order, buffers left alone (:func:`eventsep.core.seeding.seeded_init_`)."""


class FlowSepModel(nn.Module):
    """FlowSep's components (16 kHz, ``config.segment_samples`` segments) and one call per stage.

    The ``state_dict`` is exactly the converted checkpoint's (``text_encoder.*``, ``unet.*``,
    ``vae.*``, ``vocoder.*``, ``scale_factor``). Every stage takes and returns batches.
    """

    sample_rate = 16000

    def __init__(self, config: FlowSepConfig, tokenizer: Any) -> None:
        super().__init__()
        # heavy optional dependencies, imported when a model is built
        with heavy_imports():
            from diffusers import AutoencoderKL
            from diffusers.pipelines.audioldm2.modeling_audioldm2 import (
                AudioLDM2UNet2DConditionModel,
            )
            from transformers import T5Config, T5EncoderModel

        if config.sample_rate != self.sample_rate:
            raise ConfigError("FlowSep runs at 16 kHz")
        self.config = config
        self.tokenizer = tokenizer
        self.text_encoder = T5EncoderModel(T5Config(**(config.t5 or FLAN_T5_LARGE)))
        self.unet = AudioLDM2UNet2DConditionModel(**config.unet_kwargs())
        self.vae = AutoencoderKL(**config.vae_kwargs())
        self.vocoder = BigVGAN(config.vocoder)
        self.register_buffer("scale_factor", torch.tensor(1.0))
        self.register_buffer(
            "mel_basis",
            mel_filterbank(
                config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax
            ),
            persistent=False,
        )
        self.eval()

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return self.scale_factor.device

    @torch.no_grad()
    def encode_text(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """T5 hidden states (batch, 50, text_dim) and mask (batch, 50) float (1 = token)."""
        batch = self.tokenizer(
            prompts,
            max_length=self.config.text_max_length,
            padding="max_length",
            truncation=True,
            return_tensors="pt",
        )
        ids = batch["input_ids"].to(self.device)
        mask = batch["attention_mask"].to(self.device)
        hidden = self.text_encoder(input_ids=ids, attention_mask=mask)[0]
        return hidden, mask.float()

    @torch.no_grad()
    def mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """(batch, segment_samples) -> log-mel (batch, frames, n_mels), always float32."""
        with float32_region(waveform.device):
            return log_mel_spectrogram(
                waveform.float(),
                self.mel_basis,
                self.config.n_fft,
                self.config.hop_length,
                num_frames=self.config.frames,
            )

    @torch.no_grad()
    def encode_latent(
        self,
        logmel: torch.Tensor,
        mode: Literal["sample", "mean"] = "sample",
        generator: torch.Generator | None = None,
        *,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Log-mel (batch, frames, n_mels) -> scaled latent (batch, 8, frames/4, n_mels/4).

        ``mode="sample"`` is the reference's ``posterior.sample()``: mean + std * ``noise``, a
        standard normal of the latent's shape; without ``noise`` it is drawn from ``generator``
        on the CPU. ``"mean"`` is the posterior mean (``generator`` and ``noise`` unused).
        """
        if mode not in ("sample", "mean"):
            raise ConfigError(f"latent mode must be 'sample' or 'mean', got {mode!r}")
        dist = self.vae.encode(logmel.unsqueeze(1)).latent_dist
        if mode == "mean":
            z = dist.mean
        else:
            if noise is None:
                noise = torch.randn(dist.mean.shape, generator=generator, dtype=torch.float32)
            z = dist.mean + dist.std * noise.to(dist.mean)
        return self.scale_factor * z.float()

    @torch.no_grad()
    def velocity(
        self,
        x: torch.Tensor,
        mixture_latent: torch.Tensor,
        t: torch.Tensor,
        hidden: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """Flow velocity (batch, 8, T, F) at time ``t`` (0-d or (batch,) tensor in [0, 1])."""
        tt = t.reshape(-1).float().expand(x.shape[0])
        out = self.unet(
            torch.cat([x, mixture_latent], dim=1),
            tt,
            encoder_hidden_states=hidden,
            encoder_attention_mask=mask,
        ).sample
        return out[:, : self.config.latent_channels].float()

    @torch.no_grad()
    def decode_latent(self, latent: torch.Tensor) -> torch.Tensor:
        """Scaled latent -> log-mel (batch, frames, n_mels)."""
        return self.vae.decode(latent / self.scale_factor).sample.squeeze(1).float()

    @torch.no_grad()
    def vocode(self, logmel: torch.Tensor) -> torch.Tensor:
        """Log-mel (batch, frames, n_mels) -> waveform (batch, frames * hop) in [-1, 1]."""
        wav = self.vocoder(logmel.transpose(1, 2)).squeeze(1).float()
        return wav[:, : logmel.shape[1] * self.config.hop_length]

    def latent_shape(self) -> tuple[int, int, int, int]:
        """Shape of one segment's latent, ``(1, channels, frames / f, n_mels / f)``."""
        cfg = self.config
        f = 2 ** (len(cfg.vae_channels) - 1)
        return (1, cfg.latent_channels, cfg.frames // f, cfg.n_mels // f)
