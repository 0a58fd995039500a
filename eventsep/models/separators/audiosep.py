"""AudioSep: text-queried separation with a CLAP text embedding and a FiLM-conditioned ResUNet30.

:class:`AudioSepSeparator` bundles the query encoder (:mod:`eventsep.models.separators.clap_text`)
and the separator (:mod:`eventsep.models.separators.resunet`), loads the released Lightning
checkpoint
``audiosep_base_4M_steps.ckpt`` strictly, and separates inputs of any length at bounded memory with
cross-faded chunks (:mod:`eventsep.models.separators.chunking`).

Differences from the reference code (github Audio-AGI/AudioSep), all deliberate:

- STFT/ISTFT by :func:`torch.stft`/:func:`torch.istft` instead of stored conv kernels (relative L2
  difference of the separated waveform about 1e-6 in float32).
- Chunked inference computes each chunk once and cross-fades overlaps; inputs shorter than a chunk
  are processed whole (the reference returns zeros up to 5 s), inputs shorter than the STFT's
  reflect padding (1024 samples) are zero-padded and cropped.
- Prompts are padded to the longest in the batch rather than to 512 tokens (same embedding).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from eventsep.core.audio import resample
from eventsep.core.batching import map_by_length
from eventsep.core.errors import (
    CheckpointMismatchError,
    ConfigError,
    EmptyAudioError,
    NonFiniteAudioError,
    PromptError,
    SampleRateError,
)
from eventsep.core.gating import GATE_MARGIN_SECONDS, active_chunks
from eventsep.core.heavy import heavy_imports
from eventsep.core.prompts import check_prompt
from eventsep.core.seeding import InitScheme, seeded_init_
from eventsep.models.separators.base import Separation
from eventsep.models.separators.chunking import chunk_starts, chunked_apply
from eventsep.models.separators.clap_text import (
    AUDIOSEP_QUERY_PREFIX,
    ClapTextEncoder,
    clap_text_config,
    clap_text_state_from_audiosep,
)
from eventsep.models.separators.resunet import RELEASED_CHANNELS, ResUNet30
from eventsep.models.tiny import tiny_tokenizer

if TYPE_CHECKING:  # transformers is heavy: imported where a model is built
    from transformers import ClapTextConfig

__all__ = [
    "AudioSepSeparator",
    "ClapTextEncoder",
    "RANDOM_INIT",
    "ResUNet30",
    "chunk_geometry",
]

SAMPLE_RATE = 32000
SS_PREFIX = "ss_model."

_AUTOCAST = {None: None, "none": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: ResUNet30 widths of the tiny-random test model.
TINY_CHANNELS = (4, 4, 8, 8, 8, 8)


def _random_value(key: str, value: torch.Tensor, gen: torch.Generator) -> torch.Tensor | None:
    """AudioSep's random weights (:data:`RANDOM_INIT`): floating tensors only.

    Norm layers get weight ``1 + 0.1 n``, bias ``0.1 n``, running mean ``0.1 n`` and running
    variance ``0.5 + u``; other tensors get ``n / sqrt(fan_in)`` (``n`` standard normal, ``u``
    uniform on [0, 1)).
    """
    if not value.is_floating_point():
        return None
    shape = value.shape
    norm = any(t in key for t in ("bn", "LayerNorm", "layer_norm", "norm"))
    if key.endswith("running_var"):
        return 0.5 + torch.rand(shape, generator=gen)
    if key.endswith("running_mean") or (norm and key.endswith("bias")):
        return 0.1 * torch.randn(shape, generator=gen)
    if norm and key.endswith("weight") and value.dim() == 1:
        return 1.0 + 0.1 * torch.randn(shape, generator=gen)
    fan_in = value[0].numel() if value.dim() > 1 else max(int(shape[0]), 1)
    return torch.randn(shape, generator=gen) / math.sqrt(fan_in)


RANDOM_INIT = InitScheme(_random_value, order="sorted")
"""Seeded random weights of the AudioSep modules (ResUNet30, CLAP text tower), in sorted key
order: ``seeded_init_(module, seed, RANDOM_INIT)`` (:mod:`eventsep.core.seeding`)."""


def chunk_geometry(
    chunk_seconds: float, overlap_seconds: float, hop_length: int = 320, time_blocks: int = 32
) -> tuple[int, int]:
    """Chunk and overlap lengths (samples at 32 kHz) aligned to the ResUNet frame grid.

    Chunk starts are multiples of ``time_blocks * hop_length`` samples (10,240 = 0.32 s), so a
    chunk's STFT frames and pooling cells coincide with those of the whole signal, and a full
    chunk has an exact multiple of 32 frames (no time padding inside the U-Net).

    Returns
    -------
    tuple[int, int]
        ``(chunk, overlap)`` in samples; defaults 10.24 s / 1.28 s give (327,360, 40,640).
    """
    grid = hop_length * time_blocks
    over = max(1, round(overlap_seconds * SAMPLE_RATE / grid))
    hop = max(1, round((chunk_seconds - overlap_seconds) * SAMPLE_RATE / grid))
    chunk = (hop + over) * grid - hop_length
    return chunk, chunk - hop * grid


class AudioSepSeparator(nn.Module):
    """Text-queried source separation at 32 kHz (AudioSep).

    Parameters
    ----------
    separator : ResUNet30
        The separation network.
    text_encoder : ClapTextEncoder
        Prompt encoder whose embedding width equals ``separator.condition_size``.
    chunk_seconds, overlap_seconds : float
        Chunked inference geometry (see :func:`chunk_geometry`).
    batch_chunks : int
        Full chunks processed together (raise on GPU for throughput).
    autocast : {None, "bf16", "fp16"}
        Mixed precision for the U-Net (STFT, masks and ISTFT stay float32).
    """

    sample_rate: int = SAMPLE_RATE

    def __init__(
        self,
        separator: ResUNet30,
        text_encoder: ClapTextEncoder,
        *,
        chunk_seconds: float = 10.24,
        overlap_seconds: float = 1.28,
        batch_chunks: int = 1,
        autocast: str | None = None,
    ) -> None:
        super().__init__()
        if text_encoder.embed_dim != separator.condition_size:
            raise ValueError(
                f"text embedding width {text_encoder.embed_dim} != separator condition size "
                f"{separator.condition_size}"
            )
        if autocast not in _AUTOCAST:
            raise ConfigError(f"autocast must be one of None, 'bf16', 'fp16', got {autocast!r}")
        # channels-last convolutions: no layout reorders around oneDNN on the CPU (faster);
        # values are the same (the layout changes, not the numbers)
        self.separator = separator.to(memory_format=torch.channels_last).eval()
        self.text_encoder = text_encoder.eval()
        self.chunk, self.overlap = chunk_geometry(
            chunk_seconds, overlap_seconds, separator.hop_length, separator.time_downsample
        )
        self.batch_chunks = int(batch_chunks)
        self.autocast = autocast

    # ---------------------------------------------------------------- builders
    @classmethod
    def tiny_random(cls, seed: int = 0, **kwargs: object) -> AudioSepSeparator:
        """Small random model for tests: ResUNet widths :data:`TINY_CHANNELS`, 2-layer text tower.

        Needs no download: the tokenizer is :func:`eventsep.models.tiny.tiny_tokenizer` ("roberta").
        """
        tok = tiny_tokenizer("roberta")
        cfg = clap_text_config(
            vocab_size=len(tok),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            projection_dim=32,
        )
        text = seeded_init_(ClapTextEncoder(cfg, tok), seed, RANDOM_INIT)
        sep = ResUNet30(channels=TINY_CHANNELS, condition_size=32)
        sep = seeded_init_(sep, seed + 1, RANDOM_INIT)
        return cls(sep, text, **kwargs).eval()

    @classmethod
    def from_state_dict(
        cls,
        state_dict: Mapping[str, torch.Tensor],
        tokenizer: object,
        *,
        channels: Sequence[int] | None = None,
        text_config: ClapTextConfig | None = None,
        **kwargs: object,
    ) -> AudioSepSeparator:
        """Build the model from a Lightning ``state_dict`` (keys as in the checkpoint).

        ``channels`` and ``text_config`` default to the released configuration
        (:data:`~eventsep.models.separators.resunet.RELEASED_CHANNELS`, :func:`clap_text_config`);
        other values serve reduced test checkpoints. The condition size follows the text
        projection width.

        Loading is strict: every ``ss_model.*`` key except the conv-STFT constants and every
        CLAP text key must match; the CLAP audio tower and loss heads
        (:data:`eventsep.models.separators.clap_text.IGNORED_QUERY_PREFIXES`) are ignored by name;
        any key outside ``ss_model.`` / ``query_encoder.model.`` raises.

        Raises
        ------
        CheckpointMismatchError
            On any missing, unexpected or mis-shaped weight.
        """
        stray = [k for k in state_dict if not k.startswith((SS_PREFIX, AUDIOSEP_QUERY_PREFIX))]
        if stray:
            raise CheckpointMismatchError(f"unexpected keys in AudioSep checkpoint: {stray[:10]}")
        ss = {k[len(SS_PREFIX) :]: v for k, v in state_dict.items() if k.startswith(SS_PREFIX)}
        text_config = clap_text_config() if text_config is None else text_config
        sep = ResUNet30(
            channels=RELEASED_CHANNELS if channels is None else channels,
            condition_size=text_config.projection_dim,
        )
        sep.load_checkpoint_state(ss)
        text = ClapTextEncoder(text_config, tokenizer)
        text.load_text_state(clap_text_state_from_audiosep(state_dict))
        return cls(sep, text, **kwargs).eval()

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike[str], tokenizer: object, **kwargs: object
    ) -> AudioSepSeparator:
        """Load ``audiosep_base_4M_steps.ckpt`` (Lightning format, key ``state_dict``).

        ``tokenizer`` is the CLAP text tower's tokenizer object (RoBERTa); keyword arguments go
        to :meth:`from_state_dict` and the constructor.
        """
        try:
            ckpt = torch.load(Path(path), map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # noqa: BLE001 - Lightning pickles hyper-parameters; hash-checked file
            ckpt = torch.load(Path(path), map_location="cpu", weights_only=False, mmap=True)
        if not isinstance(ckpt, Mapping) or "state_dict" not in ckpt:
            raise CheckpointMismatchError(f"{path}: not a Lightning checkpoint (no 'state_dict')")
        return cls.from_state_dict(ckpt["state_dict"], tokenizer, **kwargs)

    @classmethod
    def from_pretrained(
        cls,
        checkpoint: str | os.PathLike[str],
        tokenizer: str | os.PathLike[str],
        device: torch.device | str | None = None,
        **kwargs: object,
    ) -> AudioSepSeparator:
        """The released AudioSep from its files.

        Parameters
        ----------
        checkpoint : str or path
            ``audiosep_base_4M_steps.ckpt`` (catalogue name ``audiosep-base``), hash-checked by
            the caller (:func:`eventsep.models.registry.load_audiosep` gets it from the cache).
        tokenizer : str or path
            The ``roberta-base`` tokenizer folder (read with ``AutoTokenizer``).
        device : str or torch.device, optional
            Where to put the model (default CPU).
        **kwargs
            Passed to :meth:`from_checkpoint`.
        """
        with heavy_imports():
            from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(os.fspath(tokenizer))
        model = cls.from_checkpoint(checkpoint, tok, **kwargs)
        return model.to(device) if device is not None else model

    # ---------------------------------------------------------------- inference
    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return next(self.separator.parameters()).device

    @torch.no_grad()
    def encode_text(self, prompts: str | Sequence[str]) -> torch.Tensor:
        """Prompts -> L2-normalised CLAP text embeddings ``(n, 512)`` (``(n, 32)`` tiny)."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        _check_prompts(prompts)
        return self.text_encoder.encode(prompts)

    @torch.no_grad()
    def separate_32k(
        self,
        mixture: torch.Tensor,
        condition: torch.Tensor,
        autocast: str | None = "default",
        *,
        activity: torch.Tensor | None = None,
        gate_floor: float = 0.0,
        activity_scale: float = 1.0,
        gate_margin: int = 0,
    ) -> torch.Tensor:
        """Separate 32 kHz waveforms given query embeddings, chunk by chunk.

        Parameters
        ----------
        mixture : Tensor
            ``(batch, samples)`` at 32 kHz, any ``samples >= 1``.
        condition : Tensor
            ``(batch, condition_size)``.
        autocast : {"default", None, "bf16", "fp16"}
            Mixed precision; "default" uses the constructor's setting.
        activity : Tensor, optional
            Event gating (:mod:`eventsep.core.gating`): the time mask ``(samples_in,)`` of the
            input, shared by every row. Chunks where it stays below ``gate_floor`` (chunk widened by
            ``gate_margin`` mask samples each side) are not computed; what they hold is
            described in :mod:`eventsep.core.gating`.
        gate_floor : float
            Gate floor; 0 (default) computes every chunk.
        activity_scale : float
            Mask samples per 32 kHz sample (``rate_in / 32000``).
        gate_margin : int
            Context around active samples, in mask samples.

        Returns
        -------
        Tensor
            ``(batch, samples)`` float32 on the parameters' device.
        """
        mode = self.autocast if autocast == "default" else autocast
        if mode not in _AUTOCAST:
            raise ConfigError(f"autocast must be one of None, 'bf16', 'fp16', got {mode!r}")
        device = self.device
        x = mixture.to(device, torch.float32)
        cond = condition.to(device, torch.float32)
        batch, num = x.shape
        min_len = self.separator.n_fft // 2 + 1
        if num < min_len:
            x = torch.nn.functional.pad(x, (0, min_len - num))

        def run(chunk: torch.Tensor) -> torch.Tensor:
            reps = chunk.shape[0] // batch
            return self.separator(chunk[:, None], cond.repeat(reps, 1))[:, 0]

        dtype = _AUTOCAST[mode]
        ctx = (
            torch.autocast(device_type=device.type, dtype=dtype)
            if dtype is not None
            else contextlib.nullcontext()
        )
        active = None
        if activity is not None and gate_floor > 0:
            spans = chunk_starts(x.shape[-1], self.chunk, self.overlap)
            active = active_chunks(
                activity, spans, gate_floor, scale=activity_scale, margin=gate_margin
            )
        with ctx:
            out = chunked_apply(
                run, x, self.chunk, self.overlap, batch_chunks=self.batch_chunks, active=active
            )
        return out[:, :num].float()

    @torch.no_grad()
    def separate(
        self,
        waveform: torch.Tensor,
        sample_rate: int,
        prompt: str | Sequence[str],
        *,
        autocast: str | None = "default",
    ) -> torch.Tensor:
        """Extract the sound a text prompt describes.

        Parameters
        ----------
        waveform : Tensor
            ``(samples,)`` or ``(batch, samples)`` mono audio at ``sample_rate`` Hz.
        sample_rate : int
            Input rate in Hz; resampled to 32 kHz when different.
        prompt : str or Sequence[str]
            One prompt for all inputs, or a list: with a 1-D waveform, one output per prompt; with
            a batch, one prompt per row (same length as the batch).
        autocast : {"default", None, "bf16", "fp16"}
            Mixed precision override.

        Returns
        -------
        Tensor
            32 kHz separated audio on the input's device: ``(samples32,)`` for a 1-D waveform and a
            single string prompt, else ``(n, samples32)``.

        Raises
        ------
        EmptyAudioError, NonFiniteAudioError, SampleRateError, PromptError
        """
        x = torch.as_tensor(waveform)
        if x.dim() not in (1, 2):
            raise ValueError(f"waveform must be (samples,) or (batch, samples), got {x.shape}")
        if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate <= 0:
            raise SampleRateError(f"sample_rate must be a positive int, got {sample_rate!r}")
        if x.shape[-1] == 0 or x.numel() == 0:
            raise EmptyAudioError("waveform has no samples")
        if not torch.isfinite(x).all():
            raise NonFiniteAudioError("waveform contains NaN or infinite samples")
        single = x.dim() == 1 and isinstance(prompt, str)
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        x2 = x[None] if x.dim() == 1 else x
        if x.dim() == 1:
            x2 = x2.expand(len(prompts), -1)
        elif len(prompts) == 1:
            prompts = prompts * x2.shape[0]
        elif len(prompts) != x2.shape[0]:
            raise PromptError(f"{len(prompts)} prompts for a batch of {x2.shape[0]} waveforms")
        _check_prompts(prompts)
        out = self._separate(x2, prompts, sample_rate, autocast).to(x.device)
        return out[0] if single else out

    @torch.no_grad()
    def extract(
        self,
        waveform: torch.Tensor,
        sample_rate: int,
        prompt: str,
        *,
        autocast: str | None = "default",
        activity: torch.Tensor | None = None,
        gate_floor: float = 0.0,
    ) -> Separation:
        """The :class:`~eventsep.models.separators.base.Separator` entry point (inputs not
        re-checked).

        Parameters
        ----------
        waveform : Tensor
            ``(samples,)`` finite mono audio at ``sample_rate`` Hz (any rate; resampled).
        sample_rate : int
            Input rate in Hz.
        prompt : str
            Non-empty text query.
        autocast : {"default", None, "bf16", "fp16"}
            Mixed precision override.
        activity : Tensor, optional
            Event gating: the time mask ``(samples,)`` of ``waveform`` in [0, 1]; chunks where
            it stays below ``gate_floor`` are skipped (:mod:`eventsep.core.gating`).
        gate_floor : float
            Gate floor; 0 (default) computes every chunk.

        Returns
        -------
        Separation
            ``(samples32,)`` at 32 kHz on the input's device, covering the whole input
            (``start=0``).
        """
        x = torch.as_tensor(waveform)
        gate = {}
        if activity is not None and gate_floor > 0:
            gate = {
                "activity": activity,
                "gate_floor": float(gate_floor),
                "activity_scale": sample_rate / SAMPLE_RATE,
                "gate_margin": round(GATE_MARGIN_SECONDS * sample_rate),
            }
        out = self._separate(x.reshape(1, -1), [prompt], sample_rate, autocast, **gate)
        out = out[0].to(x.device)
        return Separation(out, SAMPLE_RATE, 0, int(out.shape[-1]))

    @torch.no_grad()
    def extract_batch(
        self,
        waveforms: Sequence[torch.Tensor],
        sample_rate: int,
        prompts: Sequence[str],
        *,
        autocast: str | None = "default",
    ) -> list[Separation]:
        """:meth:`extract` of several clips at once (inputs not re-checked).

        Clips of equal length go through the text encoder and the ResUNet as one batch (their
        chunks together); different lengths run one after the other
        (:func:`eventsep.core.batching.map_by_length`: zero padding would change the estimate near
        a clip's end). Each result equals :meth:`extract` of that clip up to float rounding.

        Parameters
        ----------
        waveforms : sequence of Tensor
            ``(samples_i,)`` finite mono audio at ``sample_rate`` Hz.
        sample_rate : int
            Input rate in Hz.
        prompts : sequence of str
            One prompt per waveform.
        autocast : {"default", None, "bf16", "fp16"}
            Mixed precision override.

        Returns
        -------
        list of Separation
            One per waveform, as :meth:`extract` returns it.
        """
        if len(prompts) != len(waveforms):
            raise PromptError(f"{len(prompts)} prompts for {len(waveforms)} waveforms")
        flat = [torch.as_tensor(w).reshape(-1) for w in waveforms]

        def run(stack: torch.Tensor, idx: list[int]) -> list[Separation]:
            out = self._separate(stack, [prompts[i] for i in idx], sample_rate, autocast)
            out = out.to(stack.device)
            return [Separation(row, SAMPLE_RATE, 0, int(row.shape[-1])) for row in out]

        return map_by_length(run, flat)

    def _separate(
        self,
        waveform: torch.Tensor,
        prompts: Sequence[str],
        sample_rate: int,
        autocast: str | None,
        **gate: object,
    ) -> torch.Tensor:
        """Checked ``(n, samples)`` audio and ``n`` prompts -> ``(n, samples32)`` estimates.

        ``gate``: the event-gating arguments of :meth:`separate_32k`.
        """
        unique = list(dict.fromkeys(prompts))
        emb = self.text_encoder.encode(unique)
        cond = emb[torch.tensor([unique.index(p) for p in prompts], device=emb.device)]
        x = waveform.float()
        if sample_rate != SAMPLE_RATE:
            x = resample(x, sample_rate, SAMPLE_RATE)
        return self.separate_32k(x, cond, autocast=autocast, **gate)


def _check_prompts(prompts: Sequence[object]) -> None:
    if not prompts:
        raise PromptError("no prompt given: describe the sound to separate, e.g. 'dog barking'")
    for prompt in prompts:
        check_prompt(prompt)
