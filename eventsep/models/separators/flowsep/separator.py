"""FlowSep (Yuan et al., arXiv 2409.07614): language-queried separation by rectified flow.

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

Sampling (reference ``solve_euler``): x ~ N(0, I) at t = 0, N Euler steps over
``linspace(0, 1, N + 1)``, velocity = UNet([x, mixture latent], t, T5 states)[:, :8]; no guidance.

Differences from the reference, all documented in ``separate``: noise comes from a
``torch.Generator`` seeded per call (drawn on the CPU, so a seed gives the same noise on every
device) instead of the global RNG; the mixture latent is ``posterior.sample()`` by default like the
reference (``latent="mean"`` uses the posterior mean); the attention mask bias is -10000
(diffusers) instead of ``-finfo.max`` (identical after the softmax in float32).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from eventsep.core.dsp import crossfade_window
from eventsep.core.errors import AudioError, ConfigError, EmptyAudioError, NonFiniteAudioError
from eventsep.core.seeding import InitScheme, seeded_init_
from eventsep.models.separators.base import Separation
from eventsep.models.separators.bigvgan import BigVGAN, BigVGANConfig
from eventsep.models.separators.flowsep.io import DEFAULT_IO, FlowSepIO
from eventsep.models.separators.flowsep.mel import (
    log_mel_spectrogram,
    mel_filterbank,
    normalize_segment,
)

__all__ = [
    "FlowSepConfig",
    "FlowSepOutput",
    "FlowSepSeparator",
    "euler_sample",
    "segment_starts",
    "full_config",
    "tiny_config",
    "FLAN_T5_LARGE",
]

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


@dataclass(frozen=True)
class FlowSepOutput:
    """Result of :meth:`FlowSepSeparator.separate`.

    Attributes
    ----------
    waveform
        (length,) float32 at ``sample_rate``: the regenerated span.
    sample_rate
        16000.
    start
        Sample offset of the span in the 16 kHz input.
    length
        Number of samples of the span.
    gain
        Gain the input had when it entered the model (reference preprocessing: mean removed,
        peak scaled to 0.5). ``waveform / gain`` is at the input's level.
    """

    waveform: torch.Tensor
    sample_rate: int
    start: int
    length: int
    gain: float = 1.0


def euler_sample(velocity: Any, x: torch.Tensor, steps: int) -> torch.Tensor:
    """Rectified-flow Euler integration from t = 0 (noise) to t = 1 (data).

    Follows the reference's accumulation exactly: ``t`` starts at 0 and is advanced by ``dt``,
    and each later ``dt`` is ``t_span[k + 1] - t``, in float32.

    Parameters
    ----------
    velocity
        Callable ``(x, t) -> v`` with ``t`` a 0-d float32 tensor on ``x.device``.
    x
        Initial noise (batch, channels, time, freq).
    steps
        Number of Euler steps N >= 1.
    """
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    t_span = torch.linspace(0, 1, steps + 1, device=x.device)
    t = t_span[0]
    dt = t_span[1] - t_span[0]
    for step in range(1, steps + 1):
        x = x + dt * velocity(x, t)
        t = t + dt
        if step < steps:
            dt = t_span[step + 1] - t
    return x


def segment_window(starts: list[int], k: int, segment: int, length: int) -> torch.Tensor:
    """Overlap-add weight ``(length,)`` of segment ``k`` of :func:`segment_starts`'s ``starts``.

    It fades in over the overlap with segment ``k - 1`` and out over the overlap with ``k + 1``
    (raised-cosine, :func:`eventsep.core.dsp.crossfade_window`); ``length`` is the segment's real
    length in samples (the last one may be shorter than ``segment``).
    """
    s = starts[k]
    fade_in = (starts[k - 1] + segment - s) if k > 0 else 0
    fade_out = (s + segment - starts[k + 1]) if k + 1 < len(starts) else 0
    return crossfade_window(length, max(fade_in, 0), max(fade_out, 0))


def segment_starts(num_samples: int, segment: int, overlap: int) -> list[int]:
    """Start offsets of overlapping segments covering ``num_samples`` (last one flush right)."""
    if num_samples <= segment:
        return [0]
    hop = segment - overlap
    starts = list(range(0, num_samples - segment, hop))
    starts.append(num_samples - segment)
    return sorted(set(starts))


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
"""Seeded random weights of :class:`FlowSepSeparator`: every parameter in ``named_parameters``
order, buffers left alone (:func:`eventsep.core.seeding.seeded_init_`)."""


class FlowSepSeparator(nn.Module):
    """FlowSep language-queried separator (16 kHz, 10.24 s segments).

    Use :meth:`from_pretrained` (real weights, converted on first use), :meth:`tiny_random`
    (small random model for tests) or :meth:`from_config` (random full-size weights).
    """

    sample_rate = 16000

    def __init__(self, config: FlowSepConfig, tokenizer: Any) -> None:
        super().__init__()
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

    # ------------------------------------------------------------ builders
    @classmethod
    def from_config(cls, config: FlowSepConfig, tokenizer: Any = None, seed: int = 0):
        """Build with deterministic random weights (:data:`RANDOM_INIT`)."""
        if tokenizer is None:
            from eventsep.models.tiny import tiny_tokenizer

            tokenizer = tiny_tokenizer("t5")
        model = cls(config, tokenizer)
        seeded_init_(model, seed, RANDOM_INIT)
        return model

    @classmethod
    def tiny_random(cls, seed: int = 0) -> FlowSepSeparator:
        """Small random separator (tiny T5 tokenizer, 1.28 s segments); no download."""
        from eventsep.models.tiny import tiny_tokenizer

        tok = tiny_tokenizer("t5")
        return cls.from_config(tiny_config(vocab_size=len(tok)), tok, seed=seed)

    @classmethod
    def from_pretrained(
        cls, device: str | torch.device | None = None, *, use_ema: bool = True
    ) -> FlowSepSeparator:
        """Load the released FlowSep v2 (converted to safetensors on first use, then cached).

        Raises
        ------
        WeightsNotFoundError
            When the checkpoints are neither cached nor downloadable.
        """
        from safetensors.torch import load_file
        from transformers import AutoTokenizer, T5Config

        from eventsep.models import hub
        from eventsep.models.registry import PAPER
        from eventsep.models.separators.flowsep.convert import ConversionReport  # noqa: F401

        path = converted_path(use_ema=use_ema)
        if not path.is_file():
            convert_flowsep(path.parent, use_ema=use_ema)
        t5_dir = hub.get(PAPER.flowsep.text_encoder)
        tokenizer = AutoTokenizer.from_pretrained(str(t5_dir))
        t5 = T5Config.from_pretrained(str(t5_dir)).to_dict()
        keep = set(FLAN_T5_LARGE) | {"is_gated_act", "dense_act_fn", "initializer_factor"}
        config = FlowSepConfig(t5={k: v for k, v in t5.items() if k in keep})
        model = cls(config, tokenizer)
        model.load_state_dict(load_file(str(path)), strict=True)
        if device is not None:
            model.to(device)
        return model

    # ------------------------------------------------------------ stages
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
        from eventsep.core.precision import float32_region

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
    ) -> torch.Tensor:
        """Log-mel (batch, frames, n_mels) -> scaled latent (batch, 8, frames/4, n_mels/4).

        ``mode="sample"`` is the reference's ``posterior.sample()`` (mean + std * noise, noise from
        ``generator`` drawn on the CPU); ``"mean"`` is the posterior mean.
        """
        dist = self.vae.encode(logmel.unsqueeze(1)).latent_dist
        if mode == "mean":
            z = dist.mean
        elif mode == "sample":
            noise = torch.randn(dist.mean.shape, generator=generator, dtype=torch.float32)
            z = dist.mean + dist.std * noise.to(dist.mean)
        else:
            raise ConfigError(f"latent mode must be 'sample' or 'mean', got {mode!r}")
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

    @torch.no_grad()
    def separate_segment(
        self,
        segment: torch.Tensor,
        prompt: str,
        *,
        steps: int = 20,
        generator: torch.Generator | None = None,
        latent: Literal["sample", "mean"] = "sample",
        text: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Regenerate one preprocessed segment (segment_samples,) -> (segment_samples,)."""
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        hidden, mask = text if text is not None else self.encode_text([prompt])
        logmel = self.mel(segment.reshape(1, -1).to(self.device))
        mix = self.encode_latent(logmel, latent, generator)
        noise = torch.randn(mix.shape, generator=generator, dtype=torch.float32).to(mix)
        z = euler_sample(lambda x, t: self.velocity(x, mix, t, hidden, mask), noise, steps)
        return self.vocode(self.decode_latent(z))[0]

    # ------------------------------------------------------------ public API
    @torch.no_grad()
    def separate(
        self,
        waveform: torch.Tensor,
        sample_rate: int,
        prompt: str,
        segment: Literal["random", "full"] = "random",
        seed: int | None = 0,
        steps: int = 20,
        *,
        latent: Literal["sample", "mean"] = "sample",
        overlap_seconds: float = 1.28,
        activity: torch.Tensor | None = None,
        gate_floor: float = 0.0,
        autocast: str | None = None,
    ) -> FlowSepOutput:
        """Regenerate the part of ``waveform`` described by ``prompt``.

        Parameters
        ----------
        waveform
            (samples,) or (1, samples) mono audio at ``sample_rate``; resampled to 16 kHz.
        prompt
            Text query.
        segment
            ``"random"`` (the paper): one 10.24 s segment from a start drawn uniformly with
            ``seed``; ``"full"``: overlapping 10.24 s segments (``overlap_seconds`` overlap,
            raised-cosine cross-fades) covering the whole input; ``"active"``: the 10.24 s
            segment holding the most of ``activity`` (the time mask; default ``|waveform|``).
            Inputs shorter than a segment are zero-padded at the end and the output cropped
            back.
        seed
            Seeds the start, the mixture-latent noise and the initial noise (CPU generator);
            ``None`` draws them unseeded (the authors' benchmark).
        steps
            Euler steps (reference inference: 20).
        latent
            Mixture latent: ``"sample"`` (reference) or ``"mean"`` (posterior mean).
        activity, gate_floor, autocast
            As in :meth:`extract` (``activity`` at ``sample_rate``, like ``waveform``).

        Notes
        -----
        Each segment is preprocessed as in the reference: mean removed, peak scaled to 0.5. In
        ``"random"`` mode the vocoder output is returned as the reference returns it, and
        ``gain`` is the factor that was applied to the input. In ``"full"`` mode every segment's
        output is divided by its own gain and multiplied by one global gain (0.5 / peak of the
        mean-removed input), so levels join up across segments; that global gain is returned.
        :meth:`extract` returns the same estimate divided by ``gain``, at the input's level.
        """
        x = self._prepare(waveform, sample_rate)
        if segment == "active" and activity is None:
            activity = torch.as_tensor(waveform).reshape(-1).float().abs()
        gate = _Gate.make(activity, gate_floor, sample_rate / self.sample_rate, sample_rate)
        return self._separate(
            x,
            prompt,
            segment,
            seed,
            steps,
            latent=latent,
            overlap_seconds=overlap_seconds,
            gate=gate,
            autocast=autocast,
        )

    @torch.no_grad()
    def extract(
        self,
        waveform: torch.Tensor,
        sample_rate: int,
        prompt: str,
        *,
        segment: Literal["random", "full", "active"] = "random",
        seed: int | None = 0,
        steps: int = 20,
        latent: Literal["sample", "mean"] = "sample",
        overlap_seconds: float = 1.28,
        io: FlowSepIO | None = None,
        activity: torch.Tensor | None = None,
        gate_floor: float = 0.0,
        autocast: str | None = None,
    ) -> Separation:
        """The :class:`~eventsep.models.separators.base.Separator` entry point (inputs not
        re-checked).

        Runs :meth:`separate` on a checked input and undoes the reference's peak normalisation,
        so the estimate is at the input's level.

        Parameters
        ----------
        waveform
            ``(samples,)`` finite mono audio at ``sample_rate`` (any rate; resampled to 16 kHz).
        sample_rate
            Input rate in Hz.
        prompt, segment, seed, steps, latent, overlap_seconds
            As in :meth:`separate` (``seed=None``: unseeded).
        io : FlowSepIO, optional
            What is done to the 16 kHz input before the model and which divisor restores the
            output level (:mod:`eventsep.models.separators.flowsep.io`); default: the input
            untouched, the input's level restored.
        activity : Tensor, optional
            The time mask ``(samples,)`` of ``waveform`` in [0, 1]: picks the span of
            ``segment="active"`` and gates segments (``gate_floor``). ``segment="active"``
            without it uses the input's magnitude ``|waveform|``.
        gate_floor : float
            Event gating (:mod:`eventsep.core.gating`): segments where ``activity`` stays below it
            are not generated; 0 (default) generates every segment.
        autocast : {None, "bf16", "fp16"}
            Mixed precision of the text encoder, VAE, UNet and vocoder (mel and the sampler's
            sums stay float32).

        Returns
        -------
        Separation
            The regenerated span at 16 kHz on the input's device, ``start`` and ``length`` in
            16 kHz samples of the input (the whole input for ``segment="full"``).
        """
        from eventsep.core.audio import resample

        x = torch.as_tensor(waveform)
        x16 = resample(x.reshape(-1).float(), sample_rate, self.sample_rate)
        io = io or DEFAULT_IO
        x16 = io.prepare(x16)
        if segment == "active" and activity is None:
            activity = x.reshape(-1).float().abs()
        gate = _Gate.make(activity, gate_floor, sample_rate / self.sample_rate, sample_rate)
        out = self._separate(
            x16,
            prompt,
            segment,
            seed,
            steps,
            latent=latent,
            overlap_seconds=overlap_seconds,
            gate=gate,
            autocast=autocast,
        )
        gain = io.level(out.gain)
        return Separation(out.waveform.to(x.device) / gain, out.sample_rate, out.start, out.length)

    def _separate(
        self,
        x: torch.Tensor,
        prompt: str,
        segment: str,
        seed: int | None,
        steps: int,
        *,
        latent: Literal["sample", "mean"],
        overlap_seconds: float,
        gate: _Gate | None = None,
        autocast: str | None = None,
    ) -> FlowSepOutput:
        """:meth:`separate` of checked ``(samples,)`` float32 audio at 16 kHz."""
        from eventsep.core.precision import autocast_context

        if segment not in ("random", "full", "active"):
            raise ConfigError(f"segment must be 'random', 'full' or 'active', got {segment!r}")
        gate = gate or _Gate()
        with autocast_context(autocast, self.device):
            cfg = self.config
            seg = cfg.segment_samples
            n = x.shape[-1]
            gen = _generator(seed)
            text = self.encode_text([prompt])
            if segment in ("random", "active"):
                if n <= seg:
                    start = 0
                elif segment == "random":
                    start = int(torch.randint(0, n - seg + 1, (1,), generator=gen))
                else:
                    start = gate.most_active(seg, n)
                piece = x[start : start + seg]
                length = piece.shape[-1]
                piece, gain = normalize_segment(piece, cfg.peak)
                if not gate.active([(start, start + seg)])[0]:
                    silent = torch.zeros(length)
                    return FlowSepOutput(silent, self.sample_rate, start, length, gain)
                piece = torch.nn.functional.pad(piece, (0, seg - length))
                out = self.separate_segment(
                    piece, prompt, steps=steps, generator=gen, latent=latent, text=text
                )
                wav = out[:length].float().cpu()
                return FlowSepOutput(wav, self.sample_rate, start, length, gain)
            overlap = min(int(round(overlap_seconds * self.sample_rate)), seg // 2)
            _, global_gain = normalize_segment(x, cfg.peak)
            acc = torch.zeros(n)
            weight = torch.zeros(n)
            starts = segment_starts(n, seg, overlap)
            computed = gate.active([(s, s + seg) for s in starts])
            for k, s in enumerate(starts):
                piece = x[s : s + seg]
                length = piece.shape[-1]
                w = segment_window(starts, k, seg, length)
                weight[s : s + length] += w
                if not computed[k]:  # a silent segment; its random draws are still made
                    self._skip_draws(gen, latent)
                    continue
                piece, gain = normalize_segment(piece, cfg.peak)
                piece = torch.nn.functional.pad(piece, (0, seg - length))
                out = (
                    self.separate_segment(
                        piece, prompt, steps=steps, generator=gen, latent=latent, text=text
                    )[:length]
                    .float()
                    .cpu()
                )
                acc[s : s + length] += w * out * (global_gain / gain)
            wav = acc / weight.clamp_min(1e-8)
            return FlowSepOutput(wav, self.sample_rate, 0, n, global_gain)

    @torch.no_grad()
    def extract_batch(
        self,
        waveforms: list[torch.Tensor],
        sample_rate: int,
        prompts: list[str],
        *,
        segment: Literal["random", "full"] = "random",
        seed: int | None | list[int | None] = 0,
        steps: int = 20,
        latent: Literal["sample", "mean"] = "sample",
        overlap_seconds: float = 1.28,
        max_segments: int | None = None,
        io: FlowSepIO | None = None,
    ) -> list[Separation]:
        """:meth:`extract` of several clips at once: their segments share every model call.

        The segments of all clips (one per clip for ``segment="random"``) go together through
        the mel front end, the VAE encoder, the Euler steps of the UNet, the VAE decoder and
        the vocoder. Randomness stays per clip: clip ``i`` has its own generator seeded with
        ``seed[i]``, which draws the span start, the mixture-latent noise and the initial noise
        of its segments in the order :meth:`extract` draws them, so each result equals
        :meth:`extract` of that clip with that seed up to float rounding.

        Parameters
        ----------
        waveforms : list of Tensor
            ``(samples_i,)`` finite mono audio at ``sample_rate`` (any rate; resampled).
        sample_rate : int
            Input rate in Hz.
        prompts : list of str
            One prompt per waveform.
        segment, steps, latent, overlap_seconds
            As in :meth:`separate`, for every clip.
        seed : int, None or list of them
            One seed for all clips, or one per clip (``None``: unseeded, as in :meth:`extract`).
        io : FlowSepIO, optional
            As in :meth:`extract`, for every clip.
        max_segments : int, optional
            Run at most this many segments through the models at once (bounds memory for
            long inputs with ``segment="full"``); default: all of them.

        Returns
        -------
        list of Separation
            One per waveform, as :meth:`extract` returns it.
        """
        from eventsep.core.audio import resample
        from eventsep.core.batching import pad_batch

        n_items = len(waveforms)
        if len(prompts) != n_items:
            raise ConfigError(f"{len(prompts)} prompts for {n_items} waveforms")
        seeds = [seed] * n_items if seed is None or isinstance(seed, int) else list(seed)
        if len(seeds) != n_items:
            raise ConfigError(f"{len(seeds)} seeds for {n_items} waveforms")
        if segment not in ("random", "full"):
            raise ConfigError(f"segment must be 'random' or 'full', got {segment!r}")
        if latent not in ("sample", "mean"):
            raise ConfigError(f"latent mode must be 'sample' or 'mean', got {latent!r}")
        if steps < 1:
            raise ConfigError(f"steps must be >= 1, got {steps}")
        if n_items == 0:
            return []
        cfg = self.config
        seg = cfg.segment_samples
        overlap = min(int(round(overlap_seconds * self.sample_rate)), seg // 2)
        gens = [_generator(s) for s in seeds]
        devices = [torch.as_tensor(w).device for w in waveforms]
        xs = [
            resample(torch.as_tensor(w).reshape(-1).float(), sample_rate, self.sample_rate)
            for w in waveforms
        ]
        io = io or DEFAULT_IO
        xs = [io.prepare(x) for x in xs]
        # plan: (clip, start, length, gain) per segment, drawing starts as _separate does
        plan: list[tuple[int, int, int, float]] = []
        pieces: list[torch.Tensor] = []
        for i, x in enumerate(xs):
            n = x.shape[-1]
            if segment == "random":
                starts = [0]
                if n > seg:  # the draw of _separate, only for inputs longer than a segment
                    starts = [int(torch.randint(0, n - seg + 1, (1,), generator=gens[i]))]
            else:
                starts = segment_starts(n, seg, overlap)
            for s in starts:
                piece = x[s : s + seg]
                length = piece.shape[-1]
                piece, gain = normalize_segment(piece, cfg.peak)
                pieces.append(piece)
                plan.append((i, s, length, gain))
        # segments shorter than segment_samples (short clips, "full"'s last one) end in zeros,
        # as in _separate; the outputs are cut back to each segment's real length
        padded = pad_batch(pieces, multiple=seg)
        outs = padded.unpad(
            self._segments_batch(
                padded.values,
                [prompts[i] for i, *_ in plan],
                [gens[i] for i, *_ in plan],
                steps=steps,
                latent=latent,
                max_segments=max_segments,
            )
        )
        results: list[Separation] = []
        for i, x in enumerate(xs):
            rows = [(k, p) for k, p in enumerate(plan) if p[0] == i]
            if segment == "random":
                k, (_, start, length, gain) = rows[0]
                wav = outs[k].float().cpu()
                level = io.level(gain)
                results.append(
                    Separation(wav.to(devices[i]) / level, self.sample_rate, start, length)
                )
                continue
            n = x.shape[-1]
            _, global_gain = normalize_segment(x, cfg.peak)
            acc = torch.zeros(n)
            weight = torch.zeros(n)
            starts = [p[1] for _, p in rows]
            for j, (k, (_, s, length, gain)) in enumerate(rows):
                out = outs[k].float().cpu()
                w = segment_window(starts, j, seg, length)
                acc[s : s + length] += w * out * (global_gain / gain)
                weight[s : s + length] += w
            wav = acc / weight.clamp_min(1e-8)
            level = io.level(global_gain)
            results.append(Separation(wav.to(devices[i]) / level, self.sample_rate, 0, n))
        return results

    def _segments_batch(
        self,
        pieces: torch.Tensor,
        prompts: list[str],
        generators: list[torch.Generator],
        *,
        steps: int,
        latent: Literal["sample", "mean"],
        max_segments: int | None,
    ) -> torch.Tensor:
        """:meth:`separate_segment` of ``(S, segment_samples)`` preprocessed segments at once.

        Segment ``k`` draws its mixture-latent noise, then its initial noise, from
        ``generators[k]`` (segments sharing a generator draw in row order), as
        :meth:`separate_segment` does. Returns ``(S, segment_samples)``.
        """
        total = pieces.shape[0]
        group = total if max_segments is None else max(1, int(max_segments))
        unique = list(dict.fromkeys(prompts))
        hidden_u, mask_u = self.encode_text(unique)
        rows = torch.tensor([unique.index(p) for p in prompts], device=hidden_u.device)
        hidden, mask = hidden_u[rows], mask_u[rows]
        means, stds = [], []
        for g in range(0, total, group):
            logmel = self.mel(pieces[g : g + group].to(self.device))
            dist = self.vae.encode(logmel.unsqueeze(1)).latent_dist
            means.append(dist.mean)
            stds.append(dist.std)
        mean, std = torch.cat(means), torch.cat(stds)
        shape = (1, *mean.shape[1:])
        lat_noise, init_noise = [], []
        for k in range(total):  # the draws of separate_segment, segment by segment
            if latent == "sample":
                lat_noise.append(torch.randn(shape, generator=generators[k], dtype=torch.float32))
            init_noise.append(torch.randn(shape, generator=generators[k], dtype=torch.float32))
        if latent == "sample":
            mix = self.scale_factor * (mean + std * torch.cat(lat_noise).to(mean))
        else:
            mix = self.scale_factor * mean
        noise = torch.cat(init_noise).to(mix)
        outs = []
        for g in range(0, total, group):
            sl = slice(g, g + group)
            m, h, a = mix[sl], hidden[sl], mask[sl]
            z = euler_sample(
                lambda x, t, m=m, h=h, a=a: self.velocity(x, m, t, h, a), noise[sl], steps
            )
            outs.append(self.vocode(self.decode_latent(z)))
        return torch.cat(outs)

    def latent_shape(self) -> tuple[int, int, int, int]:
        """Shape of one segment's latent, ``(1, channels, frames / f, n_mels / f)``."""
        cfg = self.config
        f = 2 ** (len(cfg.vae_channels) - 1)
        return (1, cfg.latent_channels, cfg.frames // f, cfg.n_mels // f)

    def _skip_draws(self, gen: torch.Generator, latent: str) -> None:
        """Advance ``gen`` as :meth:`separate_segment` would, so later segments keep their noise."""
        shape = self.latent_shape()
        if latent == "sample":
            torch.randn(shape, generator=gen, dtype=torch.float32)
        torch.randn(shape, generator=gen, dtype=torch.float32)

    def _prepare(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        x = torch.as_tensor(waveform)
        if x.ndim == 2 and x.shape[0] == 1:
            x = x[0]
        if x.ndim != 1:
            raise AudioError(f"FlowSep takes mono audio of shape (samples,), got {tuple(x.shape)}")
        if x.numel() == 0:
            raise EmptyAudioError("audio has no samples")
        x = x.float()
        if not bool(torch.isfinite(x).all()):
            raise NonFiniteAudioError("audio contains NaN or infinite samples")
        if sample_rate != self.sample_rate:
            from eventsep.core.audio import resample

            x = resample(x, sample_rate, self.sample_rate)
        return x


@dataclass(frozen=True, eq=False)
class _Gate:
    """The time mask FlowSep picks and gates its segments with (:mod:`eventsep.core.gating`).

    ``activity`` is at the input's rate, ``scale`` input samples per 16 kHz sample, ``margin``
    in input samples; no activity means every segment is generated.
    """

    activity: torch.Tensor | None = None
    floor: float = 0.0
    scale: float = 1.0
    margin: int = 0

    @classmethod
    def make(
        cls, activity: torch.Tensor | None, floor: float, scale: float, sample_rate: int
    ) -> _Gate:
        from eventsep.core.gating import GATE_MARGIN_SECONDS

        if activity is None:
            return cls()
        a = torch.as_tensor(activity).reshape(-1).float()
        return cls(a, float(floor), float(scale), round(GATE_MARGIN_SECONDS * sample_rate))

    def active(self, spans: list[tuple[int, int]]) -> list[bool]:
        from eventsep.core.gating import active_chunks

        if self.activity is None:
            return [True] * len(spans)
        return active_chunks(self.activity, spans, self.floor, scale=self.scale, margin=self.margin)

    def most_active(self, segment: int, num_samples: int) -> int:
        """Start (16 kHz samples) of the ``segment``-long span with the most activity."""
        from eventsep.core.gating import most_active_start

        if self.activity is None:
            return 0
        window = math.ceil(segment * self.scale)
        step = max(1, round(self.scale * 160))  # one 16 kHz mel hop
        start = most_active_start(self.activity, window, step=step)
        return max(0, min(round(start / self.scale), num_samples - segment))


def converted_path(use_ema: bool = True) -> Path:
    """Where the converted safetensors file lives in the cache."""
    from eventsep.models import hub

    name = "flowsep-v2.safetensors" if use_ema else "flowsep-v2-raw.safetensors"
    return hub.cache_dir() / "converted" / name


def convert_flowsep(out_dir: str | Path | None = None, *, use_ema: bool = True) -> Path:
    """Convert the reference checkpoints to one safetensors file; return its path.

    Reads hub ``flowsep-v2`` (and ``flowsep-vae`` / ``flowsep-bigvgan`` only where the flow
    checkpoint lacks a copy), loads the result strictly into the full-size separator, writes
    ``flowsep-v2.safetensors`` and a ``.report.txt`` listing the keys left over (both atomically,
    with the umask's permissions like every other output, so a shared cache stays readable).
    """
    from safetensors.torch import save_file
    from transformers import T5Config

    from eventsep.core.errors import CheckpointMismatchError
    from eventsep.core.io import atomic_path, write_text_atomic
    from eventsep.models import hub
    from eventsep.models.registry import PAPER
    from eventsep.models.separators.flowsep.convert import (
        convert_flowsep_state_dict,
        load_torch_checkpoint,
    )

    target = (
        converted_path(use_ema) if out_dir is None else Path(out_dir) / converted_path(use_ema).name
    )
    files = PAPER.flowsep
    ckpt = load_torch_checkpoint(hub.get(files.checkpoint))
    state = ckpt.get("state_dict", ckpt)
    needs_vae = not any(k.startswith("first_stage_model.encoder.") for k in state)
    needs_voc = not any(k.startswith("first_stage_model.vocoder.") for k in state)
    vae_state = None
    if needs_vae:
        v = load_torch_checkpoint(hub.get(files.vae))
        vae_state = v.get("state_dict", v)
    voc_state = None
    if needs_voc:
        voc_state = load_torch_checkpoint(Path(hub.get(files.vocoder)) / "g_01000000")["generator"]
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
    try:
        t5 = T5Config.from_pretrained(str(hub.get(files.text_encoder))).to_dict()
        keep = set(FLAN_T5_LARGE) | {"is_gated_act", "dense_act_fn"}
        cfg = FlowSepConfig(t5={k: v for k, v in t5.items() if k in keep})
    except Exception:  # noqa: BLE001 - the built-in FLAN-T5-large numbers are the fallback
        pass
    model = FlowSepSeparator(cfg, tokenizer=None)
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


def _generator(seed: int | None) -> torch.Generator:
    """A CPU generator seeded with ``seed``; ``None``: fresh entropy (unseeded draws)."""
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen
