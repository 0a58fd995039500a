"""Frame-wise sound event detection with the PANNs Cnn14 detector (stage 2 of EventSep).

The detector follows Kong et al., "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio
Pattern Recognition" (2020): 32 kHz mono input, log-mel front end (window 1024, hop 320, 64 slaney
mel bands from 50 Hz to 14 kHz), a six-block VGG-like CNN that pools time by 32, and one of two
decision-level heads:

``"max"``
    ``Cnn14_DecisionLevelMax`` (the EventSep paper): a sigmoid per 32-frame segment.
``"att"``
    ``Cnn14_DecisionLevelAtt`` (the authors' code): the classification branch of an attention
    block, again a sigmoid per segment.

The segment probabilities are repeated 32 times and the tail is padded with the last segment, so
the output has one row per STFT frame: ``1 + samples // 320`` rows at 100 frames per second.
The output is a probability once: unlike the authors' code no second sigmoid is applied (theirs
squeezed every probability into [0.5, 0.731]).

Front end
---------
The reference computes the STFT with two frozen ``Conv1d`` layers holding windowed DFT matrices
(``spectrogram_extractor.stft.conv_real/conv_imag``) and stores the mel matrix as a parameter
(``logmel_extractor.melW``). Here the STFT is :func:`torch.stft` (periodic Hann, centred, reflect
padding) and the slaney mel filterbank is computed in NumPy (:func:`mel_filterbank`), so those three
tensors are constants, not state. :meth:`Cnn14SED.from_state_dict` checks them against ours and
drops them; every other key must match exactly (strict loading). Measured against the
reference (audioset_tagging_cnn + torchlibrosa 0.1.0) on white noise: the mel matrix differs by
2e-9, the log-mel by at most 1.1e-5 dB, and frame probabilities of full-size random weights by at
most 7e-6 (25 s, two processing windows); tiny random weights 7e-7 (``tests/test_sed.py``).

Inputs shorter than one 32-frame segment (10,240 samples, 0.32 s) make the reference fail; here
they are zero-padded to that length and the output is cut back to ``1 + samples // 320`` frames.

Long inputs
-----------
Inputs are processed in windows of :data:`CHUNK_FRAMES` frames with :data:`CONTEXT_FRAMES` frames
of context on each side; window starts are multiples of 32 frames so the CNN's pooling grid is the
global one, and the context exceeds the CNN's receptive field, so the result equals processing the
whole input at once (up to float rounding) while memory stays bounded by the window size.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from eventsep.core.audio import resample
from eventsep.core.errors import CheckpointMismatchError, ConfigError, EmptyAudioError
from eventsep.core.precision import float32_region
from eventsep.core.seeding import InitScheme, seeded_init_
from eventsep.models.sed_events import (
    Activity,
    Event,
    class_activity,
    event_timeline,
    top_classes,
)
from eventsep.models.sed_frontend import (
    FRAMES_PER_SECOND,
    HOP_LENGTH,
    N_FFT,
    N_MELS,
    NUM_CLASSES,
    SAMPLE_RATE,
    TIME_POOL,
    _frames_slice,
    log_mel,
    mel_filterbank,
    num_frames,
)

__all__ = [
    "HEADS",
    "check_head",
    "SAMPLE_RATE",
    "HOP_LENGTH",
    "N_FFT",
    "FRAMES_PER_SECOND",
    "NUM_CLASSES",
    "N_MELS",
    "CHUNK_FRAMES",
    "CONTEXT_FRAMES",
    "FRONT_END_KEYS",
    "Event",
    "mel_filterbank",
    "log_mel",
    "num_frames",
    "Cnn14SED",
    "event_timeline",
    "top_classes",
    "Activity",
    "class_activity",
    "RANDOM_INIT",
]

#: frames per processing window (a multiple of 32)
CHUNK_FRAMES = 2048
#: context frames on each side of a window (a multiple of 32, above the receptive field of ~220)
CONTEXT_FRAMES = 256
#: reference checkpoint keys that hold front-end constants (verified, then dropped)
FRONT_END_KEYS = (
    "spectrogram_extractor.stft.conv_real.weight",
    "spectrogram_extractor.stft.conv_imag.weight",
    "logmel_extractor.melW",
)
FULL_WIDTHS = (64, 128, 256, 512, 1024, 2048)
TINY_WIDTHS = (4, 8, 8, 16, 16, 32)
_MIN_SAMPLES = TIME_POOL * HOP_LENGTH  # shorter inputs are zero-padded to one segment


# ------------------------------------------------------------------ front end (pure functions)
#: Decision-level heads of Cnn14: attention ("att", the authors' code) and max pooling.
HEADS: tuple[str, ...] = ("att", "max")


def check_head(head: str) -> str:
    """Return ``head`` if it is one of :data:`HEADS`, else raise :class:`ConfigError`."""
    if head not in HEADS:
        raise ConfigError(f"unknown SED head {head!r}; use one of {', '.join(HEADS)}")
    return head


# ------------------------------------------------------------------------------ the network
class _ConvBlock(nn.Module):
    """Two 3x3 conv + BN + ReLU layers followed by average pooling (reference key names)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, pool: tuple[int, int]) -> torch.Tensor:
        x = F.relu_(self.bn1(self.conv1(x)))
        x = F.relu_(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, kernel_size=pool)


class _AttBlock(nn.Module):
    """Attention head; only the sigmoid classification branch ``cla`` gives frame outputs.

    ``att`` (attention logits) and ``bn_att`` only matter for clip-level output; they are kept
    so that the reference checkpoint loads strictly.
    """

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.att = nn.Conv1d(n_in, n_out, 1, bias=True)
        self.cla = nn.Conv1d(n_in, n_out, 1, bias=True)
        self.bn_att = nn.BatchNorm1d(n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.cla(x))  # (batch, classes, segments)


class Cnn14SED(nn.Module):
    """PANNs Cnn14 frame-wise detector with a DecisionLevelMax or DecisionLevelAtt head.

    Parameters
    ----------
    head : {"max", "att"}
        Decision-level head: ``"max"`` (paper) or ``"att"`` (authors' code).
    widths : sequence of int
        Output channels of the six conv blocks; ``(64, 128, 256, 512, 1024, 2048)`` for the
        published model, smaller for tests.
    num_classes : int
        Number of output classes (527).

    Attributes
    ----------
    sample_rate : int
        32000 Hz.
    frames_per_second : int
        100 (one row per 320-sample hop).
    """

    sample_rate: int = SAMPLE_RATE
    frames_per_second: int = FRAMES_PER_SECOND

    def __init__(
        self,
        head: str = "att",
        widths: Sequence[int] = FULL_WIDTHS,
        num_classes: int = NUM_CLASSES,
    ) -> None:
        super().__init__()
        check_head(head)
        if len(widths) != 6:
            raise ConfigError(f"Cnn14 needs six block widths, got {len(widths)}")
        self.head = head
        self.widths = tuple(int(w) for w in widths)
        self.num_classes = num_classes
        self.bn0 = nn.BatchNorm2d(N_MELS)
        channels = (1, *self.widths)
        for i in range(6):
            setattr(self, f"conv_block{i + 1}", _ConvBlock(channels[i], channels[i + 1]))
        self.fc1 = nn.Linear(self.widths[-1], self.widths[-1], bias=True)
        if head == "max":
            self.fc_audioset = nn.Linear(self.widths[-1], num_classes, bias=True)
        else:
            self.att_block = _AttBlock(self.widths[-1], num_classes)
        self.register_buffer("melw", torch.from_numpy(mel_filterbank()), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)
        self.eval()

    # --------------------------------------------------------------------- constructors
    @classmethod
    def from_state_dict(
        cls,
        state_dict: Mapping[str, torch.Tensor],
        head: str = "att",
        *,
        check_front_end: bool = True,
    ) -> Cnn14SED:
        """Build a detector from a state dict in the reference (audioset_tagging_cnn) layout.

        Parameters
        ----------
        state_dict : mapping
            The ``"model"`` entry of ``Cnn14_DecisionLevel{Max,Att}_mAP=*.pth`` (or the same keys).
            Channel widths are read from the tensors, so reduced test models load too.
        head : {"max", "att"}
            Which head the state dict holds.
        check_front_end : bool
            Compare the stored STFT/mel constants (when present) with ours and raise if they
            differ by more than 1e-4; they are dropped either way.

        Raises
        ------
        CheckpointMismatchError
            Missing or unexpected keys, wrong shapes, or a different front end.
        """
        sd = dict(state_dict)
        front = {k: sd.pop(k) for k in FRONT_END_KEYS if k in sd}
        try:
            widths = [sd[f"conv_block{i + 1}.conv1.weight"].shape[0] for i in range(6)]
            n_classes = (
                sd["fc_audioset.weight"].shape[0]
                if head == "max"
                else sd["att_block.cla.weight"].shape[0]
            )
        except KeyError as err:
            raise CheckpointMismatchError(
                f"state dict is not a Cnn14 DecisionLevel-{head} model: missing {err}"
            ) from None
        model = cls(head=head, widths=widths, num_classes=n_classes)
        if check_front_end and front:
            model._check_front_end(front)
        try:
            model.load_state_dict(sd, strict=True)
        except RuntimeError as err:
            raise CheckpointMismatchError(f"Cnn14 ({head}) state dict mismatch: {err}") from None
        return model.eval()

    def _check_front_end(self, front: Mapping[str, torch.Tensor]) -> None:
        melw = front.get("logmel_extractor.melW")
        if melw is not None:
            err = (melw.detach().float().cpu() - self.melw).abs().max().item()
            if melw.shape != self.melw.shape or err > 1e-4:
                raise CheckpointMismatchError(f"mel filterbank differs from ours (max {err:.2e})")
        real = front.get("spectrogram_extractor.stft.conv_real.weight")
        imag = front.get("spectrogram_extractor.stft.conv_imag.weight")
        if real is not None and imag is not None:
            n = torch.arange(N_FFT, dtype=torch.float64)
            k = torch.arange(N_FFT // 2 + 1, dtype=torch.float64)[:, None]
            ang = -2.0 * math.pi * k * n / N_FFT
            win = self.window.double()
            exp_re, exp_im = torch.cos(ang) * win, torch.sin(ang) * win
            got_re, got_im = real.detach().double().cpu()[:, 0], imag.detach().double().cpu()[:, 0]
            if got_re.shape != exp_re.shape:
                raise CheckpointMismatchError("stored STFT kernels have an unexpected shape")
            err = max((got_re - exp_re).abs().max().item(), (got_im - exp_im).abs().max().item())
            if err > 1e-4:
                raise CheckpointMismatchError(f"stored STFT kernels differ from ours ({err:.2e})")

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        head: str = "att",
        device: str | torch.device | None = None,
    ) -> Cnn14SED:
        """Load a PANNs checkpoint file (its ``"model"`` state dict) strictly.

        Parameters
        ----------
        path : str or path
            The published ``Cnn14_DecisionLevelAtt_mAP=0.425.pth`` for ``head="att"``
            (catalogue name ``pann-cnn14-att``) or ``Cnn14_DecisionLevelMax_mAP=0.385.pth`` for
            ``head="max"`` (``pann-cnn14-max``), hash-checked by the caller
            (:func:`eventsep.models.registry.load_detector` gets it from the cache).
        head : {"att", "max"}
            The decision-level head the file holds.
        device : str or torch.device, optional
            Where to put the model (default CPU).

        Raises
        ------
        CheckpointMismatchError
            The file does not hold the expected keys.
        """
        path = Path(path)
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # older pickles with numpy scalars; the file is hash-checked by hub
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
        sd = ckpt.get("model", ckpt) if isinstance(ckpt, Mapping) else None
        if not isinstance(sd, Mapping):
            raise CheckpointMismatchError(f"{path} holds no 'model' state dict")
        model = cls.from_state_dict(sd, head=head)
        return model.to(device) if device is not None else model

    @classmethod
    def tiny_random(cls, head: str = "att", seed: int = 0) -> Cnn14SED:
        """A small detector with deterministic random weights (same code path, for tests).

        Block widths are ``(4, 8, 8, 16, 16, 32)``; every parameter and BatchNorm statistic is
        drawn from a generator seeded with ``seed`` in ``state_dict`` key order.
        """
        return seeded_init_(cls(head=head, widths=TINY_WIDTHS), seed, RANDOM_INIT).eval()

    # ----------------------------------------------------------------------------- forward
    def _segments(self, logmel: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, 64)`` log-mel -> ``(batch, frames // 32, classes)`` probabilities."""
        x = logmel[:, None]  # (batch, 1, frames, mels)
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        for i in range(6):
            block = getattr(self, f"conv_block{i + 1}")
            x = block(x, (2, 2) if i < 5 else (1, 1))
        x = x.mean(dim=3)  # (batch, channels, segments)
        x = F.max_pool1d(x, 3, stride=1, padding=1) + F.avg_pool1d(x, 3, stride=1, padding=1)
        x = F.relu(self.fc1(x.transpose(1, 2)))  # (batch, segments, channels)
        if self.head == "max":
            return torch.sigmoid(self.fc_audioset(x))
        return self.att_block(x.transpose(1, 2)).transpose(1, 2)

    @torch.no_grad()
    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """Frame probabilities of 32 kHz audio.

        Parameters
        ----------
        waveform : torch.Tensor
            ``(batch, samples)`` or ``(samples,)`` audio at 32 kHz.

        Returns
        -------
        torch.Tensor
            ``(batch, 1 + samples // 320, 527)`` probabilities in [0, 1] (``(frames, 527)`` for
            1-D input), 100 frames per second; frame ``i`` is centred at ``i * 0.01`` s.

        Raises
        ------
        EmptyAudioError
            ``samples == 0``.
        """
        squeeze = waveform.dim() == 1
        x = waveform[None] if squeeze else waveform
        if x.dim() != 2:
            raise ConfigError(f"expected (batch, samples) audio, got shape {tuple(waveform.shape)}")
        n = x.shape[-1]
        if n == 0:
            raise EmptyAudioError("cannot detect events in audio with zero samples")
        total = num_frames(n)
        x = x.to(dtype=torch.float32, device=self.window.device)
        if n < _MIN_SAMPLES:  # the CNN needs one 32-frame segment; pad with silence, crop after
            x = F.pad(x, (0, _MIN_SAMPLES - n))
        probs = self._forward_chunked(x)[:, :total]
        return probs[0] if squeeze else probs

    def _forward_chunked(self, x: torch.Tensor) -> torch.Tensor:
        total = num_frames(x.shape[-1])
        out = torch.empty(x.shape[0], total, self.num_classes, dtype=torch.float32, device=x.device)
        for core in range(0, total, CHUNK_FRAMES):
            core_end = min(core + CHUNK_FRAMES, total)
            start = max(0, core - CONTEXT_FRAMES)
            stop = min(total, core_end + CONTEXT_FRAMES)
            with float32_region(x.device):  # the front end stays float32 under autocast
                logmel = log_mel(_frames_slice(x, start, stop), self.melw, self.window)
            seg = self._segments(logmel)  # (batch, (stop-start)//32, classes)
            frames = seg.repeat_interleave(TIME_POOL, dim=1)
            if frames.shape[1] < stop - start:  # tail frames copy the last segment
                tail = frames[:, -1:].expand(-1, stop - start - frames.shape[1], -1)
                frames = torch.cat([frames, tail], dim=1)
            out[:, core:core_end] = frames[:, core - start : core_end - start]
        return out

    @torch.no_grad()
    def detect(self, waveform: torch.Tensor | np.ndarray, sample_rate: int) -> torch.Tensor:
        """Frame probabilities of audio at any sample rate and length.

        Parameters
        ----------
        waveform : torch.Tensor or numpy.ndarray
            ``(samples,)`` or ``(batch, samples)`` audio.
        sample_rate : int
            Its sample rate in Hz; resampled to 32 kHz when different.

        Returns
        -------
        torch.Tensor
            ``(batch, frames, 527)`` probabilities at 100 frames per second (batch 1 for 1-D
            input), ``frames = 1 + samples_32k // 320``.
        """
        x = torch.as_tensor(waveform, dtype=torch.float32)
        if x.dim() == 1:
            x = x[None]
        if int(sample_rate) != SAMPLE_RATE:
            x = resample(x, int(sample_rate), SAMPLE_RATE)
        return self.forward(x)


def _random_value(key: str, ref: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Cnn14's random weights (:data:`RANDOM_INIT`), one uniform float64 draw per tensor.

    Conv/linear weights are uniform with a He fan-in scale (so probabilities spread over
    (0, 1) instead of sitting at 0.5), biases small, BatchNorm weights in [0.5, 1.5], running means
    around 0 and running variances in [0.5, 1.5] (so BN is not the identity);
    ``num_batches_tracked`` is zero (no draw).
    """
    shape = ref.shape
    if key.endswith("num_batches_tracked"):
        return torch.zeros_like(ref)
    u = torch.rand(shape, generator=gen, dtype=torch.float64)
    if key.endswith("running_var"):
        return 0.5 + u
    if key.endswith("running_mean"):
        return 0.2 * (u - 0.5)
    if ref.dim() == 1 and ("bn" in key.split(".")[-2]):
        return 0.5 + u if key.endswith("weight") else 0.2 * (u - 0.5)
    if key.endswith("bias"):
        return 0.1 * (u - 0.5)
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return (2.0 * u - 1.0) * math.sqrt(6.0 / fan_in)


RANDOM_INIT = InitScheme(_random_value)
"""Seeded random weights of :class:`Cnn14SED` (every state-dict entry, in state-dict order),
used by :meth:`Cnn14SED.tiny_random` and the reference-equivalence checks."""
