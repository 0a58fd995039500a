"""LAION-CLAP as transformers' ``ClapModel`` plus the LAION code's two mel front ends.

The LAION training code (github LAION-AI/CLAP) computes the audio input in two ways:

- **unfused** HTSAT: inside the model, with torchlibrosa: a conv1d STFT whose kernels (Hann-
  windowed DFT, 1024 points, hop 480, centre, reflect padding) and the Slaney mel matrix
  ``melW`` (64 bins, 50-14,000 Hz) are stored in the checkpoint; power spectrum, ``melW``,
  ``10 log10(max(x, 1e-10))``. :class:`LibrosaMel` reads the stored kernels.
- **fused** HTSAT: in the data pipeline, with torchaudio: ``torch.stft`` power spectrum, HTK mel
  filters without normalisation, the same dB conversion; the same mel repeated four times when
  the clip is not longer than 10 s (``longer=False``). :func:`fusion_mel` computes it.

Both then go through BatchNorm over the mel bins, the 1001 -> 1024 frame bicubic resize, the
Swin transformer, the average-pooled latent and the projection MLP; transformers' ``ClapModel``
implements that part (:func:`clap_config` gives its configuration for each checkpoint kind).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from eventsep.core.heavy import heavy_imports
from eventsep.models.separators.clap_text import clap_text_config

if TYPE_CHECKING:  # transformers is heavy: imported where a model is built
    from transformers import ClapConfig

__all__ = ["CLAP_KINDS", "LaionClap", "LibrosaMel", "clap_config", "fusion_mel"]

N_FFT = 1024
HOP = 480
N_MELS = 64
F_MIN, F_MAX = 50.0, 14000.0
AMIN = 1e-10

#: HTSAT sizes of the LAION model configs (``HTSAT-tiny.json``, ``HTSAT-base.json``).
CLAP_KINDS: dict[str, dict[str, Any]] = {
    "htsat-tiny": dict(patch_embeds_hidden_size=96, depths=[2, 2, 6, 2], hidden_size=768),
    "htsat-base": dict(patch_embeds_hidden_size=128, depths=[2, 2, 12, 2], hidden_size=1024),
}


def clap_config(
    kind: str,
    *,
    fusion: bool,
    audio: dict[str, Any] | None = None,
    text: dict[str, Any] | None = None,
    projection_dim: int = 512,
) -> ClapConfig:
    """``ClapConfig`` of a LAION-CLAP checkpoint kind.

    Parameters
    ----------
    kind : {"htsat-tiny", "htsat-base"}
    fusion : bool
        Feature fusion (``aff_2d``), as ``CLAP_Module(enable_fusion=True)`` builds it.
    audio, text : dict, optional
        Overrides of the audio / text sub-configs (tiny test models).
    projection_dim : int
        Width of the joint embedding (512 in every LAION checkpoint).
    """
    if kind not in CLAP_KINDS:
        raise ValueError(f"unknown CLAP kind {kind!r}; use one of {', '.join(CLAP_KINDS)}")
    audio_cfg: dict[str, Any] = dict(
        **CLAP_KINDS[kind],
        num_attention_heads=[4, 8, 16, 32],
        window_size=8,
        spec_size=256,
        num_mel_bins=N_MELS,
        patch_size=4,
        patch_stride=[4, 4],
        projection_dim=projection_dim,
        enable_fusion=fusion,
        fusion_type="aff_2d" if fusion else None,
        projection_hidden_act="relu",
        layer_norm_eps=1e-5,
    )
    audio_cfg.update(audio or {})
    text_cfg = clap_text_config(**{"projection_dim": projection_dim, **(text or {})}).to_dict()
    with heavy_imports():
        from transformers import ClapConfig

    return ClapConfig(text_config=text_cfg, audio_config=audio_cfg, projection_dim=projection_dim)


def _dft_kernels() -> tuple[torch.Tensor, torch.Tensor]:
    n = np.arange(N_FFT)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)  # periodic Hann
    k = np.arange(N_FFT // 2 + 1)[:, None]
    angle = 2 * np.pi * k * n[None, :] / N_FFT
    real = (np.cos(angle) * window)[:, None, :]
    imag = (-np.sin(angle) * window)[:, None, :]
    return torch.tensor(real, dtype=torch.float32), torch.tensor(imag, dtype=torch.float32)


def _mel_matrix(norm: str | None, scale: str) -> torch.Tensor:
    with heavy_imports():
        from transformers.audio_utils import mel_filter_bank

    fb = mel_filter_bank(
        num_frequency_bins=N_FFT // 2 + 1,
        num_mel_filters=N_MELS,
        min_frequency=F_MIN,
        max_frequency=F_MAX,
        sampling_rate=48000,
        norm=norm,
        mel_scale=scale,
    )
    return torch.tensor(fb, dtype=torch.float32)  # (513, 64)


class LibrosaMel(nn.Module):
    """The unfused model's log-mel front end, with the kernels stored in the checkpoint.

    Buffers ``conv_real`` / ``conv_imag`` (513, 1, 1024) and ``mel`` (513, 64) start at the
    values torchlibrosa computes and are replaced by the checkpoint's on loading.
    """

    def __init__(self) -> None:
        super().__init__()
        real, imag = _dft_kernels()
        self.register_buffer("conv_real", real)
        self.register_buffer("conv_imag", imag)
        self.register_buffer("mel", _mel_matrix("slaney", "slaney"))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(batch, samples) at 48 kHz -> log-mel (batch, 1, frames, 64) in dB."""
        x = F.pad(wave[:, None, :], (N_FFT // 2, N_FFT // 2), mode="reflect")
        real = F.conv1d(x, self.conv_real, stride=HOP)
        imag = F.conv1d(x, self.conv_imag, stride=HOP)
        power = (real.square() + imag.square()).transpose(1, 2)[:, None]  # (b, 1, t, 513)
        return 10.0 * torch.log10(torch.clamp(power @ self.mel, min=AMIN))


_HTK = None


def fusion_mel(wave: torch.Tensor) -> torch.Tensor:
    """The fused model's log-mel (torchaudio path of the LAION data code).

    Parameters
    ----------
    wave : Tensor, shape (batch, samples) at 48 kHz

    Returns
    -------
    Tensor, shape (batch, frames, 64), dB (``10 log10(max(power, 1e-10))``)
    """
    global _HTK
    if _HTK is None:
        _HTK = _mel_matrix(None, "htk")
    window = torch.hann_window(N_FFT, device=wave.device, dtype=wave.dtype)
    spec = (
        torch.stft(
            wave,
            N_FFT,
            hop_length=HOP,
            win_length=N_FFT,
            window=window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        .abs()
        .pow(2.0)
    )  # (b, 513, t)
    mel = spec.transpose(1, 2) @ _HTK.to(wave.device, wave.dtype)
    return 10.0 * torch.log10(torch.clamp(mel, min=AMIN))


class LaionClap(nn.Module):
    """One LAION-CLAP checkpoint: text and audio embeddings (L2-normalised).

    Parameters
    ----------
    config : ClapConfig
        From :func:`clap_config`; ``audio_config.enable_fusion`` picks the front end.
    """

    def __init__(self, config: ClapConfig) -> None:
        super().__init__()
        with heavy_imports():
            from transformers import ClapModel

        self.model = ClapModel(config).eval()
        self.front = LibrosaMel()
        self.fusion = bool(config.audio_config.enable_fusion)

    @property
    def device(self) -> torch.device:
        return self.front.mel.device

    def text_embedding(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token ids (n, tokens) -> unit vectors (n, 512): RoBERTa pooler, projection MLP."""
        out = self.model.text_model(input_ids=input_ids, attention_mask=attention_mask)
        return F.normalize(self.model.text_projection(out.pooler_output), dim=-1)

    def audio_embedding_from_features(
        self, features: torch.Tensor, is_longer: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Log-mel features (n, 1 or 4, frames, 64) -> unit vectors (n, 512).

        ``is_longer`` (n,) bool selects the fusion branch per row (fused models only).
        """
        if self.fusion and is_longer is None:
            is_longer = torch.zeros(features.shape[0], dtype=torch.bool, device=features.device)
        out = self.model.audio_model(
            input_features=features,
            is_longer=is_longer[:, None] if is_longer is not None else None,
        )
        return F.normalize(self.model.audio_projection(out.pooler_output), dim=-1)

    def audio_embedding(self, windows: torch.Tensor) -> torch.Tensor:
        """10 s windows (n, 480000) at 48 kHz -> unit vectors (n, 512).

        Unfused: the stored-kernel front end. Fused: :func:`fusion_mel` four times,
        ``longer=False`` (a window never exceeds 10 s).
        """
        windows = windows.to(self.device, torch.float32)
        if self.fusion:
            mel = fusion_mel(windows)
            feats = mel[:, None].expand(-1, 4, -1, -1).contiguous()
        else:
            feats = self.front(windows)
        return self.audio_embedding_from_features(feats)

    @classmethod
    def tiny_random(cls, *, fusion: bool, seed: int = 0, vocab_size: int = 600) -> LaionClap:
        """A small CLAP with seeded random weights and the real front end (tests, CI)."""
        config = clap_config(
            "htsat-tiny",
            fusion=fusion,
            audio=dict(
                patch_embeds_hidden_size=8,
                depths=[1, 1],
                num_attention_heads=[1, 2],
                hidden_size=16,
            ),
            text=dict(
                vocab_size=vocab_size,
                hidden_size=16,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=32,
                max_position_embeddings=80,
            ),
            projection_dim=16,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = cls(config)
        return model.eval()


def n_params(model: nn.Module) -> int:
    """Number of parameters (for reports)."""
    return sum(math.prod(p.shape) for p in model.parameters())
