"""ResUNet30: AudioSep's text-conditioned complex-mask separation network.

A 2-D residual U-Net on the magnitude STFT of a 32 kHz waveform. Each batch-norm inside a
residual block is followed by an additive FiLM shift computed from the 512-d query embedding.
The network predicts three maps per time-frequency bin: a magnitude mask (sigmoid) and a phase
rotation (the unit vector of two tanh outputs), applied to the mixture STFT and inverted.

The parameter names follow the released ``audiosep_base_4M_steps.ckpt`` (``ss_model.*`` with the
prefix removed) so that checkpoint loads strictly. The checkpoint also stores the convolution
kernels of a conv-based STFT/ISTFT (``base.stft.*``, ``base.istft.*``); they are constant DFT
matrices, and this module computes the same transforms with :func:`torch.stft` /
:func:`torch.istft` instead (see :func:`drop_stft_constants`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from eventsep.core.errors import CheckpointMismatchError
from eventsep.core.precision import float32_region

__all__ = [
    "ResUNet30",
    "FiLM",
    "drop_stft_constants",
    "STFT_CONSTANT_PREFIXES",
    "RELEASED_CHANNELS",
]

#: Encoder widths of the released checkpoint (blocks 1..6); the bottleneck repeats the last one.
RELEASED_CHANNELS: tuple[int, ...] = (32, 64, 128, 256, 384, 384)

#: Key prefixes of the conv-STFT constants stored in the reference checkpoint (prefix ``ss_model.``
#: removed). They are deterministic DFT kernels and are not parameters of this module.
STFT_CONSTANT_PREFIXES: tuple[str, ...] = ("base.stft.", "base.istft.")

_LEAK = 0.01
_MAG_EPS = 1e-10  # floor of |X|^2 before the square root (reference value)
_PHASE_EPS = 1e-10  # floor of the mask's modulus before normalising it to a unit vector


def drop_stft_constants(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return a copy of a ResUNet30 state dict without the conv-STFT/ISTFT constants.

    Parameters
    ----------
    state_dict : Mapping[str, Tensor]
        Keys as in the checkpoint with ``ss_model.`` removed (``base.*``, ``film.*``).

    Returns
    -------
    dict[str, Tensor]
        The same mapping without keys under ``base.stft.`` and ``base.istft.``.
    """
    return {
        k: v
        for k, v in state_dict.items()
        if not any(k.startswith(p) for p in STFT_CONSTANT_PREFIXES)
    }


def bn_film_act(bn: nn.BatchNorm2d, x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``leaky_relu(bn(x) + beta)`` in as few passes over ``x`` as possible.

    In eval mode with one FiLM shift for the whole batch, ``beta`` joins the batch-norm bias (one
    pass instead of two); the activation runs in place on the fresh result. Equal to the plain
    expression up to float rounding (about 1e-7 relative).

    Parameters
    ----------
    bn : nn.BatchNorm2d
        The block's batch norm.
    x : Tensor
        ``(batch, channels, frames, bins)``.
    beta : Tensor
        FiLM shift ``(batch or 1, channels, 1, 1)``.
    """
    if not bn.training and beta.shape[0] == 1 and bn.affine and bn.track_running_stats:
        bias = bn.bias + beta.reshape(-1).to(bn.bias.dtype)
        y = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bias, False, 0.0, bn.eps)
    else:
        y = bn(x) + beta
    return F.leaky_relu_(y, _LEAK)


class ConvBlockRes(nn.Module):
    """Pre-activation residual block: (BN + FiLM shift, leaky ReLU, 3x3 conv) twice.

    Parameters
    ----------
    in_channels, out_channels : int
        Feature maps in and out; a biased 1x1 convolution maps the skip path when they differ.
    momentum : float
        Batch-norm momentum (only matters in training).
    """

    def __init__(self, in_channels: int, out_channels: int, momentum: float = 0.01) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels, momentum=momentum)
        self.bn2 = nn.BatchNorm2d(out_channels, momentum=momentum)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.shortcut: nn.Module | None = (
            nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )

    def forward(self, x: torch.Tensor, beta1: torch.Tensor, beta2: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Parameters
        ----------
        x : Tensor
            ``(batch, in_channels, frames, bins)``.
        beta1, beta2 : Tensor
            FiLM shifts ``(batch, in_channels, 1, 1)`` and ``(batch, out_channels, 1, 1)``.

        Returns
        -------
        Tensor
            ``(batch, out_channels, frames, bins)``.
        """
        h = self.conv1(bn_film_act(self.bn1, x, beta1))
        h = self.conv2(bn_film_act(self.bn2, h, beta2))
        skip = x if self.shortcut is None else self.shortcut(x)
        return h.add_(skip)


class EncoderBlock(nn.Module):
    """Residual block followed by average pooling; returns (pooled, unpooled)."""

    def __init__(
        self, in_channels: int, out_channels: int, pool: tuple[int, int], momentum: float
    ) -> None:
        super().__init__()
        self.conv_block1 = ConvBlockRes(in_channels, out_channels, momentum)
        self.pool = pool

    def forward(
        self, x: torch.Tensor, film: Mapping[str, torch.Tensor], name: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(batch, in, T, F)`` -> ``((batch, out, T/pt, F/pf), (batch, out, T, F))``."""
        h = self.conv_block1(
            x, film[f"{name}->conv_block1->beta1"], film[f"{name}->conv_block1->beta2"]
        )
        pooled = h if self.pool == (1, 1) else F.avg_pool2d(h, kernel_size=self.pool)
        return pooled, h


class DecoderBlock(nn.Module):
    """Transposed-conv upsampling (after BN + FiLM + leaky ReLU), skip concat, residual block.

    ``bn2`` exists only because the released checkpoint stores it (and a matching FiLM layer
    ``beta2``); neither is used in the computation, as in the reference.
    """

    def __init__(
        self, in_channels: int, out_channels: int, up: tuple[int, int], momentum: float
    ) -> None:
        super().__init__()
        self.conv1 = nn.ConvTranspose2d(in_channels, out_channels, up, stride=up, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels, momentum=momentum)
        self.conv_block2 = ConvBlockRes(out_channels * 2, out_channels, momentum)
        self.bn2 = nn.BatchNorm2d(in_channels, momentum=momentum)  # stored, unused

    def forward(
        self,
        x: torch.Tensor,
        skip: torch.Tensor,
        film: Mapping[str, torch.Tensor],
        name: str,
    ) -> torch.Tensor:
        """``x`` ``(batch, in, T, F)``, ``skip`` ``(batch, out, T*ut, F*uf)`` -> like ``skip``."""
        h = self.conv1(bn_film_act(self.bn1, x, film[f"{name}->beta1"]))
        h = torch.cat((h, skip), dim=1)
        return self.conv_block2(
            h, film[f"{name}->conv_block2->beta1"], film[f"{name}->conv_block2->beta2"]
        )


class ResUNetBase(nn.Module):
    """The U-Net body (state-dict prefix ``base.``); conditioning arrives as FiLM shifts."""

    def __init__(
        self, channels: Sequence[int], n_fft: int, momentum: float, output_channels: int = 1
    ) -> None:
        super().__init__()
        if len(channels) != 6:
            raise ValueError(f"ResUNet30 needs 6 encoder widths, got {len(channels)}")
        c = list(channels)
        self.bn0 = nn.BatchNorm2d(n_fft // 2 + 1, momentum=momentum)
        self.pre_conv = nn.Conv2d(1, c[0], 1)
        pools = [(2, 2)] * 5 + [(1, 2)]
        ins = [c[0], *c[:-1]]
        for i in range(6):
            self.add_module(f"encoder_block{i + 1}", EncoderBlock(ins[i], c[i], pools[i], momentum))
        self.conv_block7a = EncoderBlock(c[5], c[5], (1, 1), momentum)
        # Decoder i mirrors encoder 7-i: upsample by that encoder's pool, output its width.
        dec_in = [c[5], c[5], c[4], c[3], c[2], c[1]]
        dec_out = [c[5], c[4], c[3], c[2], c[1], c[0]]
        for i in range(6):
            self.add_module(
                f"decoder_block{i + 1}", DecoderBlock(dec_in[i], dec_out[i], pools[5 - i], momentum)
            )
        self.after_conv = nn.Conv2d(c[0], output_channels * 3, 1)


def film_layer_sizes(base: ResUNetBase) -> dict[str, int]:
    """Names and widths of the FiLM shifts a :class:`ResUNetBase` consumes (pre-order).

    A residual block contributes ``<path>->beta1`` (its input width) and ``<path>->beta2`` (its
    output width); a decoder block contributes ``beta1`` and ``beta2`` for its own ``bn1``/``bn2``
    before those of its residual block.
    """
    sizes: dict[str, int] = {}

    def visit(module: nn.Module, path: list[str]) -> None:
        if isinstance(module, (ConvBlockRes, DecoderBlock)):
            prefix = "->".join(path)
            sizes[f"{prefix}->beta1"] = module.bn1.num_features
            sizes[f"{prefix}->beta2"] = module.bn2.num_features
        for child_name, child in module.named_children():
            visit(child, [*path, child_name])

    for name, child in base.named_children():
        visit(child, [name])
    return sizes


class FiLM(nn.Module):
    """One ``Linear(condition_size, width)`` per conditioned batch-norm (additive shift only).

    Each linear is registered under its shift name (``encoder_block1->conv_block1->beta1``), so
    the state-dict keys read ``<name>.weight`` / ``<name>.bias`` as in the checkpoint.
    """

    def __init__(self, sizes: Mapping[str, int], condition_size: int) -> None:
        super().__init__()
        self.names = tuple(sizes)
        for name, width in sizes.items():
            self.add_module(name, nn.Linear(condition_size, width))

    def forward(self, condition: torch.Tensor) -> dict[str, torch.Tensor]:
        """``condition`` ``(batch, condition_size)`` -> name -> shift ``(batch, width, 1, 1)``."""
        return {n: self.get_submodule(n)(condition)[:, :, None, None] for n in self.names}


class ResUNet30(nn.Module):
    """AudioSep's separator: FiLM-conditioned ResUNet with a complex ratio mask.

    Parameters
    ----------
    channels : Sequence[int]
        Widths of the six encoder blocks; the default is the released checkpoint's.
    condition_size : int
        Width of the query embedding (512 for CLAP).
    n_fft : int
        FFT size and (periodic Hann) window length in samples (2048 at 32 kHz).
    hop_length : int
        STFT hop in samples (320 at 32 kHz, i.e. 100 frames/s).
    momentum : float
        Batch-norm momentum (training only).

    Notes
    -----
    The time axis is padded to a multiple of 32 frames (five 2x poolings) and the top frequency bin
    is dropped inside the U-Net (1024 bins), then restored as a zero logit row.
    """

    time_downsample: int = 32

    def __init__(
        self,
        channels: Sequence[int] = RELEASED_CHANNELS,
        condition_size: int = 512,
        n_fft: int = 2048,
        hop_length: int = 320,
        momentum: float = 0.01,
    ) -> None:
        super().__init__()
        self.channels = tuple(int(c) for c in channels)
        self.condition_size = int(condition_size)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.base = ResUNetBase(self.channels, self.n_fft, momentum)
        self.film = FiLM(film_layer_sizes(self.base), self.condition_size)
        self.register_buffer(
            "window", torch.hann_window(self.n_fft, periodic=True), persistent=False
        )

    # ------------------------------------------------------------------ loading
    def load_checkpoint_state(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load a ``ss_model.*`` state dict (prefix removed) strictly.

        The conv-STFT constants (:data:`STFT_CONSTANT_PREFIXES`) are dropped; every other key must
        match exactly.

        Raises
        ------
        CheckpointMismatchError
            If keys are missing or unexpected, or a shape differs.
        """
        sd = drop_stft_constants(state_dict)
        try:
            self.load_state_dict(sd, strict=True)
        except RuntimeError as exc:
            raise CheckpointMismatchError(f"ResUNet30 state dict does not match: {exc}") from exc

    # ------------------------------------------------------------------ compute
    def stft(self, waveform: torch.Tensor) -> torch.Tensor:
        """Complex STFT, centred with reflect padding.

        Parameters
        ----------
        waveform : Tensor
            ``(batch, samples)`` float, ``samples > n_fft // 2``.

        Returns
        -------
        Tensor
            Complex ``(batch, frames, n_fft // 2 + 1)``, ``frames = 1 + samples // hop_length``.
        """
        with float32_region(waveform.device):
            spec = torch.stft(
                waveform.float(),
                self.n_fft,
                hop_length=self.hop_length,
                win_length=self.n_fft,
                window=self.window.to(waveform.device),
                center=True,
                pad_mode="reflect",
                return_complex=True,
            )
        return spec.transpose(1, 2)

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Inverse of :meth:`stft`: complex ``(batch, frames, bins)`` -> ``(batch, length)``."""
        with float32_region(spec.device):
            return self._istft(spec, length)

    def _istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        return torch.istft(
            spec.transpose(1, 2),
            self.n_fft,
            hop_length=self.hop_length,
            win_length=self.n_fft,
            window=self.window.to(spec.device),
            center=True,
            length=length,
        )

    def unet(self, magnitude: torch.Tensor, film: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Map a magnitude spectrogram to mask logits.

        Parameters
        ----------
        magnitude : Tensor
            ``(batch, 1, frames, bins)`` with ``bins = n_fft // 2 + 1``.
        film : Mapping[str, Tensor]
            Output of :class:`FiLM`.

        Returns
        -------
        Tensor
            ``(batch, 3, frames, bins)``: magnitude-mask logit and two phase logits.
        """
        b = self.base
        frames = magnitude.shape[2]
        x = b.bn0(magnitude.transpose(1, 3)).transpose(1, 3)
        pad = -frames % self.time_downsample
        x = F.pad(x, (0, 0, 0, pad))[..., :-1]
        x = b.pre_conv(x)
        skips = []
        for i in range(1, 7):
            x, s = getattr(b, f"encoder_block{i}")(x, film, f"encoder_block{i}")
            skips.append(s)
        x, _ = b.conv_block7a(x, film, "conv_block7a")
        for i in range(1, 7):
            x = getattr(b, f"decoder_block{i}")(x, skips[6 - i], film, f"decoder_block{i}")
        x = b.after_conv(x)
        return F.pad(x, (0, 1))[:, :, :frames]

    def forward(self, mixture: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """Separate the queried source.

        Parameters
        ----------
        mixture : Tensor
            ``(batch, 1, samples)`` at 32 kHz, ``samples > n_fft // 2`` (1024).
        condition : Tensor
            ``(batch, condition_size)`` query embedding.

        Returns
        -------
        Tensor
            ``(batch, 1, samples)`` separated waveform.
        """
        if mixture.dim() != 3 or mixture.shape[1] != 1:
            raise ValueError(f"mixture must be (batch, 1, samples), got {tuple(mixture.shape)}")
        length = mixture.shape[-1]
        spec = self.stft(mixture[:, 0])
        power = spec.real.square() + spec.imag.square()
        mag = power.clamp_min(_MAG_EPS).sqrt()
        cos_x, sin_x = spec.real / mag, spec.imag / mag
        mag = mag[:, None]  # (batch, 1, frames, bins)

        film = self.film(condition)
        logits = self.unet(mag, film).float()
        gain = torch.sigmoid(logits[:, 0])
        m_re, m_im = torch.tanh(logits[:, 1]), torch.tanh(logits[:, 2])
        m_abs = (m_re.square() + m_im.square()).sqrt().clamp_min(_PHASE_EPS)
        cos_m, sin_m = m_re / m_abs, m_im / m_abs
        out_mag = F.relu(mag[:, 0] * gain)
        out = torch.complex(
            out_mag * (cos_x * cos_m - sin_x * sin_m), out_mag * (sin_x * cos_m + cos_x * sin_m)
        )
        return self.istft(out, length)[:, None]
