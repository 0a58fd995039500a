"""The CLAP scorer: CLAPScore and CLAPScore-A with LAION-CLAP checkpoints, under a protocol.

The metric functions :func:`eventsep.evaluation.metrics.clap_score` and
:func:`~eventsep.evaluation.metrics.clap_score_a` call a :class:`ClapScorer`; the pipeline's
best-of-K reranking can use one directly. ``"corrected"`` and ``"authors"`` differ in the models
they use and in how the audio reaches the encoder (:mod:`eventsep.models.clap.inputs`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from eventsep.core.audio import ArrayLike, as_float64, paired_float64
from eventsep.core.errors import AudioError, ConfigError
from eventsep.core.heavy import heavy_imports
from eventsep.models.clap.inputs import authors_input, corrected_windows
from eventsep.models.clap.keys import load_laion_checkpoint
from eventsep.models.clap.model import LaionClap
from eventsep.models.tiny import tiny_tokenizer

__all__ = [
    "CLAP_MAX_TOKENS",
    "CLAP_PROTOCOLS",
    "ClapScorer",
    "check_clap_protocol",
]

CLAP_PROTOCOLS: tuple[str, ...] = ("corrected", "authors")
"""Protocols a :class:`ClapScorer` implements (model choice and input handling)."""
CLAP_MAX_TOKENS = 77
"""Prompt length in RoBERTa tokens (LAION's tokenizer pads/truncates to 77)."""


def check_clap_protocol(protocol: str) -> str:
    """Return ``protocol`` if a :class:`ClapScorer` implements it.

    Raises
    ------
    ConfigError
        Any other name.
    """
    if protocol not in CLAP_PROTOCOLS:
        raise ConfigError(
            f"unknown CLAP protocol {protocol!r}; use one of {', '.join(CLAP_PROTOCOLS)}"
        )
    return protocol


class ClapScorer:
    """CLAPScore and CLAPScore-A with LAION-CLAP checkpoints, under one protocol.

    ``protocol="corrected"``: one model for both scores (the music_speech_audioset 89.98
    HTSAT-base for real weights); the estimate is resampled to 48 kHz and embedded in
    consecutive 10 s windows whose embeddings are averaged (weights = window lengths).
    ``protocol="authors"``: ``model`` (630k-fusion-best, fused HTSAT-tiny) for CLAPScore and
    ``model_a`` (630k-audioset-best, HTSAT-tiny) for CLAPScore-A; the 32 kHz samples are read as
    48 kHz and repeat-padded to 480,000 samples (:mod:`eventsep.models.clap.inputs`).

    Parameters
    ----------
    model : eventsep.models.clap.LaionClap
        Text tower and audio tower of CLAPScore.
    tokenizer : transformers tokenizer
        RoBERTa tokenizer of the text tower.
    model_a : LaionClap, optional
        Audio tower of CLAPScore-A; default ``model``.
    protocol : {"corrected", "authors"}
    device : str or torch.device, optional
    batch_size : int
        Windows embedded per forward pass.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        model_a: Any | None = None,
        protocol: str = "corrected",
        device: str | torch.device | None = None,
        batch_size: int = 8,
    ) -> None:
        self.protocol = check_clap_protocol(protocol)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.model = model.eval().to(self.device)
        self.model_a = self.model if model_a is None else model_a.eval().to(self.device)
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        self._text_cache: dict[str, torch.Tensor] = {}

    # ---------------------------------------------------------- builders
    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike[str],
        tokenizer: str | os.PathLike[str],
        *,
        model_a: str | os.PathLike[str] | None = None,
        protocol: str = "corrected",
        device: str | torch.device | None = None,
    ) -> ClapScorer:
        """The real scorer of ``protocol`` from its files (hash-checked by the caller:
        :func:`eventsep.models.registry.load_clap_scorer` gets them from the cache).

        Parameters
        ----------
        model : str or path
            LAION-CLAP ``.pt`` of CLAPScore: music_speech_audioset 89.98 (HTSAT-base, unfused)
            for ``"corrected"``, 630k-fusion-best (fused HTSAT-tiny) for ``"authors"``.
        tokenizer : str or path
            The ``roberta-base`` tokenizer folder.
        model_a : str or path, optional
            LAION-CLAP ``.pt`` of CLAPScore-A: 630k-audioset-best (HTSAT-tiny, unfused), required
            for ``"authors"``; ``"corrected"`` scores both with ``model`` (must be ``None``).
        protocol : {"corrected", "authors"}
        device : str or torch.device, optional

        Raises
        ------
        ConfigError
            Unknown protocol, or ``model_a`` given (``"corrected"``) or missing (``"authors"``).
        """
        with heavy_imports():
            from transformers import AutoTokenizer

        check_clap_protocol(protocol)
        if (model_a is None) != (protocol == "corrected"):
            need = "no model_a" if protocol == "corrected" else "model_a (630k-audioset-best)"
            raise ConfigError(f"the {protocol!r} CLAP scorer takes {need}")
        tok = AutoTokenizer.from_pretrained(os.fspath(tokenizer))
        if protocol == "corrected":
            clap = load_laion_checkpoint(model, "htsat-base", fusion=False)
            return cls(clap, tok, protocol=protocol, device=device)
        fused = load_laion_checkpoint(model, "htsat-tiny", fusion=True)
        plain = load_laion_checkpoint(model_a, "htsat-tiny", fusion=False)
        return cls(fused, tok, model_a=plain, protocol=protocol, device=device)

    @classmethod
    def tiny_random(
        cls,
        seed: int = 0,
        device: str | torch.device | None = None,
        protocol: str = "corrected",
    ) -> ClapScorer:
        """Tiny seeded random CLAP(s) with the real front ends, offline (tests, CI).

        Same structure choices as the real scorer: one unfused model for ``"corrected"``; a
        fused model for CLAPScore and an unfused one for CLAPScore-A for ``"authors"``.
        """
        check_clap_protocol(protocol)
        tok = tiny_tokenizer("roberta")
        if protocol == "corrected":
            model = LaionClap.tiny_random(fusion=False, seed=seed, vocab_size=len(tok))
            return cls(model, tok, protocol=protocol, device=device)
        fused = LaionClap.tiny_random(fusion=True, seed=seed, vocab_size=len(tok))
        plain = LaionClap.tiny_random(fusion=False, seed=seed + 1, vocab_size=len(tok))
        return cls(fused, tok, model_a=plain, protocol=protocol, device=device)

    # -------------------------------------------------------- embeddings
    @torch.inference_mode()
    def text_embedding(self, texts: str | Sequence[str]) -> torch.Tensor:
        """L2-normalised text embeddings, shape (n, dim), float32 on CPU; cached per text."""
        items = [texts] if isinstance(texts, str) else list(texts)
        missing = [t for t in dict.fromkeys(items) if t not in self._text_cache]
        if missing:
            enc = self.tokenizer(
                missing,
                padding=True,
                truncation=True,
                max_length=CLAP_MAX_TOKENS,
                return_tensors="pt",
            )
            emb = self.model.text_embedding(
                enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)
            )
            for t, e in zip(missing, emb.float().cpu(), strict=True):
                self._text_cache[t] = e
        return torch.stack([self._text_cache[t] for t in items])

    @torch.inference_mode()
    def audio_embedding(
        self, waveform: ArrayLike, sample_rate: int, *, tower: str = "clap"
    ) -> torch.Tensor:
        """L2-normalised audio embeddings under the scorer's input handling.

        Parameters
        ----------
        waveform : array or Tensor, shape (samples,) or (batch, samples)
        sample_rate : int
            Hz. ``"corrected"`` resamples to 48 kHz; ``"authors"`` ignores it (the samples
            are read as 48 kHz, as in the authors' benchmark).
        tower : {"clap", "clap_a"}
            Which model's audio tower (they differ under ``"authors"``).

        Returns
        -------
        Tensor, shape (dim,) or (batch, dim), float32 on CPU
        """
        model = self.model if tower == "clap" else self.model_a
        x = as_float64(waveform).float()
        single = x.ndim == 1
        if single:
            x = x[None]
        if x.ndim != 2 or x.shape[-1] == 0:
            raise AudioError(f"expected (samples,) or (batch, samples), got {tuple(x.shape)}")
        if self.protocol == "authors":
            windows = authors_input(x)
            owner = torch.arange(x.shape[0])
            weight = torch.ones(x.shape[0])
        else:
            windows, owner, weight = corrected_windows(x, int(sample_rate))
        embs = torch.cat(
            [
                model.audio_embedding(windows[i : i + self.batch_size]).float().cpu()
                for i in range(0, windows.shape[0], self.batch_size)
            ]
        )
        pooled = torch.zeros(x.shape[0], embs.shape[-1])
        pooled.index_add_(0, owner, embs * weight[:, None])
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled[0] if single else pooled

    def _text(self, text: str | Sequence[str] | torch.Tensor) -> torch.Tensor:
        if isinstance(text, torch.Tensor):
            return torch.nn.functional.normalize(text.detach().float().cpu(), dim=-1)
        return self.text_embedding(text)

    @staticmethod
    def _cos_text(audio: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if audio.ndim == 1:
            return (audio * t.reshape(-1)).sum()
        return (audio * t.reshape(-1, audio.shape[-1])).sum(-1)

    # ------------------------------------------------------------ scores
    def score(
        self, estimate: ArrayLike, prompt: str | Sequence[str] | torch.Tensor, sample_rate: int
    ) -> torch.Tensor:
        """CLAPScore: cosine of text and audio embeddings; shape () or (batch,), float32."""
        return self._cos_text(self.audio_embedding(estimate, sample_rate), self._text(prompt))

    def score_a(self, estimate: ArrayLike, reference: ArrayLike, sample_rate: int) -> torch.Tensor:
        """CLAPScore-A: cosine of the estimate's and reference's audio embeddings."""
        est, ref = paired_float64(estimate, reference)
        rows = torch.stack([est, ref]).reshape(-1, est.shape[-1])
        both = self.audio_embedding(rows, sample_rate, tower="clap_a")
        n = both.shape[0] // 2
        cos = (both[:n] * both[n:]).sum(-1)
        return cos[0] if est.ndim == 1 else cos.reshape(est.shape[:-1])

    def scores(
        self,
        estimate: ArrayLike,
        reference: ArrayLike,
        prompt: str | Sequence[str] | torch.Tensor,
        sample_rate: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(CLAPScore, CLAPScore-A)``, with one audio pass where both use the same model.

        Parameters
        ----------
        estimate, reference : array or Tensor, shape (samples,) or (batch, samples)
        prompt : str, sequence of str (one per row), or Tensor of text embeddings
        sample_rate : int

        Returns
        -------
        tuple of Tensor, each shape () or (batch,)
        """
        if self.model_a is not self.model:
            return self.score(estimate, prompt, sample_rate), self.score_a(
                estimate, reference, sample_rate
            )
        est, ref = paired_float64(estimate, reference)
        rows = torch.stack([est, ref]).reshape(-1, est.shape[-1])
        both = self.audio_embedding(rows, sample_rate)
        n = both.shape[0] // 2
        est_emb = both[:n] if est.ndim > 1 else both[0]
        clap = self._cos_text(est_emb, self._text(prompt))
        cos = (both[:n] * both[n:]).sum(-1)
        return clap, (cos[0] if est.ndim == 1 else cos.reshape(est.shape[:-1]))
