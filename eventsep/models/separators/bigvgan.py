"""BigVGAN v1 generator (Lee et al. 2022) as used by FlowSep: 64 mels, hop 160, 16 kHz.

Anti-aliased multi-periodicity (AMP) residual blocks with SnakeBeta activations: each activation
upsamples by 2 with a Kaiser-windowed sinc filter, applies SnakeBeta, and low-passes back down.
Weight normalisation is folded into plain convolution weights (the converter does the folding), so
the parameter names are those of the original generator after ``remove_weight_norm``:
``conv_pre``, ``ups.{i}.0``, ``resblocks.{k}.convs{1,2}.{j}``,
``resblocks.{k}.activations.{j}.act.{alpha,beta}``, ``activation_post``, ``conv_post``. The sinc
filters are deterministic; they are kept as persistent buffers so that a strict load also checks
them against the checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BigVGANConfig", "BigVGAN", "kaiser_sinc_filter"]


@dataclass(frozen=True)
class BigVGANConfig:
    """Generator hyper-parameters (defaults: FlowSep's ``src/bigvgan/config.json``)."""

    num_mels: int = 64
    upsample_rates: tuple[int, ...] = (5, 4, 2, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 8, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    snake_logscale: bool = True

    @property
    def hop_length(self) -> int:
        """Samples per mel frame (product of the upsampling rates)."""
        return math.prod(self.upsample_rates)


def kaiser_sinc_filter(cutoff: float, half_width: float, kernel_size: int) -> torch.Tensor:
    """Kaiser-windowed sinc low-pass filter, (1, 1, kernel_size), normalised to unit DC gain.

    ``cutoff`` and ``half_width`` are in cycles per sample (0.5 = Nyquist).
    """
    even = kernel_size % 2 == 0
    half = kernel_size // 2
    delta_f = 4 * half_width
    atten = 2.285 * (half - 1) * math.pi * delta_f + 7.95
    if atten > 50.0:
        beta = 0.1102 * (atten - 8.7)
    elif atten >= 21.0:
        beta = 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(kernel_size, beta=beta, periodic=False)
    if even:
        time = torch.arange(-half, half) + 0.5
    else:
        time = torch.arange(kernel_size) - half
    filt = 2 * cutoff * window * torch.sinc(2 * cutoff * time)
    filt = filt / filt.sum()
    return filt.view(1, 1, kernel_size)


def _padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


class SnakeBeta(nn.Module):
    """x + 1/(b + 1e-9) * sin^2(a x), a and b per channel (stored as logs when ``logscale``)."""

    def __init__(self, channels: int, logscale: bool = True) -> None:
        super().__init__()
        self.logscale = logscale
        init = torch.zeros(channels) if logscale else torch.ones(channels)
        self.alpha = nn.Parameter(init.clone())
        self.beta = nn.Parameter(init.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, channels, time) -> same shape."""
        alpha = self.alpha[None, :, None]
        beta = self.beta[None, :, None]
        if self.logscale:
            alpha = torch.exp(alpha)
            beta = torch.exp(beta)
        return x + (1.0 / (beta + 1e-9)) * torch.sin(x * alpha).pow(2)


class _UpSample(nn.Module):
    def __init__(self, ratio: int = 2, kernel_size: int = 12) -> None:
        super().__init__()
        self.ratio = ratio
        self.pad = kernel_size // ratio - 1
        self.pad_left = self.pad * ratio + (kernel_size - ratio) // 2
        self.pad_right = self.pad * ratio + (kernel_size - ratio + 1) // 2
        self.register_buffer("filter", kaiser_sinc_filter(0.5 / ratio, 0.6 / ratio, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        x = self.ratio * F.conv_transpose1d(
            x, self.filter.expand(channels, -1, -1), stride=self.ratio, groups=channels
        )
        return x[..., self.pad_left : -self.pad_right]


class _LowPass(nn.Module):
    def __init__(self, ratio: int = 2, kernel_size: int = 12) -> None:
        super().__init__()
        self.ratio = ratio
        self.pad_left = kernel_size // 2 - int(kernel_size % 2 == 0)
        self.pad_right = kernel_size // 2
        self.register_buffer("filter", kaiser_sinc_filter(0.5 / ratio, 0.6 / ratio, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.expand(channels, -1, -1), stride=self.ratio, groups=channels)


class _DownSample(nn.Module):
    def __init__(self, ratio: int = 2, kernel_size: int = 12) -> None:
        super().__init__()
        self.lowpass = _LowPass(ratio, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class _AntiAliasedActivation(nn.Module):
    def __init__(self, channels: int, logscale: bool) -> None:
        super().__init__()
        self.act = SnakeBeta(channels, logscale)
        self.upsample = _UpSample()
        self.downsample = _DownSample()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.act(self.upsample(x)))


class _AMPBlock(nn.Module):
    def __init__(
        self, channels: int, kernel_size: int, dilations: tuple[int, ...], logscale: bool
    ) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_padding(kernel_size, d))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=_padding(kernel_size))
            for _ in dilations
        )
        self.activations = nn.ModuleList(
            _AntiAliasedActivation(channels, logscale) for _ in range(2 * len(dilations))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2, a1, a2 in zip(
            self.convs1, self.convs2, self.activations[::2], self.activations[1::2], strict=True
        ):
            x = x + c2(a2(c1(a1(x))))
        return x


class BigVGAN(nn.Module):
    """BigVGAN v1 generator: log-mel (batch, num_mels, frames) -> waveform (batch, 1, samples).

    The output has ``hop_length * frames + extra`` samples (the transposed convolutions add a few
    samples; 32 for the FlowSep configuration); callers crop to ``hop_length * frames``.
    """

    def __init__(self, config: BigVGANConfig | None = None) -> None:
        super().__init__()
        cfg = config or BigVGANConfig()
        self.config = cfg
        self.num_kernels = len(cfg.resblock_kernel_sizes)
        ch0 = cfg.upsample_initial_channel
        self.conv_pre = nn.Conv1d(cfg.num_mels, ch0, 7, padding=3)
        self.ups = nn.ModuleList()
        for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes, strict=True)):
            self.ups.append(
                nn.ModuleList(
                    [
                        nn.ConvTranspose1d(
                            ch0 // 2**i, ch0 // 2 ** (i + 1), k, u, padding=(k - u) // 2
                        )
                    ]
                )
            )
        self.resblocks = nn.ModuleList()
        ch = ch0
        for i in range(len(self.ups)):
            ch = ch0 // 2 ** (i + 1)
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes, strict=True):
                self.resblocks.append(_AMPBlock(ch, k, tuple(d), cfg.snake_logscale))
        self.activation_post = _AntiAliasedActivation(ch, cfg.snake_logscale)
        self.conv_post = nn.Conv1d(ch, 1, 7, padding=3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(batch, num_mels, frames) natural-log mel -> (batch, 1, samples) in [-1, 1]."""
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up[0](x)
            xs = self.resblocks[i * self.num_kernels](x)
            for j in range(1, self.num_kernels):
                xs = xs + self.resblocks[i * self.num_kernels + j](x)
            x = xs / self.num_kernels
        x = self.conv_post(self.activation_post(x))
        return torch.tanh(x)
