"""Separation metrics: SDR, SDRi, SI-SDR, STOI, ESTOI, CLAPScore and CLAPScore-A.

Definitions follow the AudioSep evaluation code so that numbers are comparable with the
AudioSep and EventSep papers:

* ``sdr`` is a signal-to-noise ratio, ``10 log10(mean(ref^2) / mean((est - ref)^2))``, each mean
  clipped below at ``1e-10`` (AudioSep ``calculate_sdr``). It equals torchmetrics'
  ``SignalNoiseRatio(zero_mean=False)`` wherever the clipping is inactive.
* ``sdri`` is ``sdr(est, ref) - sdr(mix, ref)``.
* ``si_sdr`` is scale-invariant SDR *without* removing the mean, with the float32 machine epsilon
  added to numerator and denominator (AudioSep ``calculate_sisdr``). It equals torchmetrics'
  ``ScaleInvariantSignalDistortionRatio(zero_mean=False)`` up to that epsilon.
* ``stoi`` / ``estoi`` call pystoi. pystoi silently returns ``1e-5`` when fewer than 30 active
  (non-silent) frames of the reference remain; here that case returns an
  :class:`IntelligibilityResult` with ``value = nan`` and a ``reason`` so averages can skip and
  count it (:func:`summarize`).
* ``clap_score`` is the cosine between the L2-normalised CLAP text and audio embeddings and
  ``clap_score_a`` the cosine between the audio embeddings of estimate and reference
  (CLAPScore, arXiv 2407.04936), computed by a :class:`ClapScorer` with the original LAION-CLAP
  checkpoints (:mod:`eventsep.clap`) under one of two protocols. ``"corrected"``: the
  music_speech_audioset 89.98 HTSAT-base model for both scores; audio resampled to 48 kHz, the
  rate the CLAP audio encoder was trained on; consecutive 10 s windows (the last one may be
  shorter and is repeat-padded, as CLAP does for short clips), each embedded and L2-normalised,
  averaged with weights proportional to their lengths, normalised again. No random crop.
  ``"authors"``: 630k-fusion-best for CLAPScore, 630k-audioset-best for CLAPScore-A, the 32 kHz
  samples read as 48 kHz and repeat-padded to 10 s (shared/AUTHORS_PROTOCOL.md §5.1-5.2).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from eventsep.errors import AudioError

__all__ = [
    "CLAP_PROTOCOLS",
    "CLAP_SAMPLE_RATE",
    "CLAP_WINDOW_SECONDS",
    "ClapScorer",
    "check_clap_protocol",
    "IntelligibilityResult",
    "MetricSummary",
    "clap_score",
    "clap_score_a",
    "estoi",
    "sdr",
    "sdri",
    "si_sdr",
    "stoi",
    "summarize",
]

ArrayLike = np.ndarray | torch.Tensor | Sequence[float]

CLAP_SAMPLE_RATE = 48000
"""Sample rate (Hz) the CLAP audio encoder expects."""
CLAP_WINDOW_SECONDS = 10.0
"""Length (s) of the consecutive windows whose embeddings are averaged."""

SDR_EPS = 1e-10
"""Lower clip of both mean powers in :func:`sdr` (AudioSep ``calculate_sdr``)."""
SISDR_EPS = float(np.finfo(np.float32).eps)
"""Epsilon of :func:`si_sdr` (AudioSep uses the float32 eps of its librosa-loaded audio)."""

STOI_MIN_FRAMES = 30
"""pystoi needs at least this many active frames (384 ms at 10 kHz) for one segment."""


# ------------------------------------------------------------------ helpers
def _to_tensor(x: ArrayLike) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to(device="cpu", dtype=torch.float64)
    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


def _pair(estimate: ArrayLike, reference: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    est, ref = _to_tensor(estimate), _to_tensor(reference)
    if est.shape != ref.shape:
        raise AudioError(
            f"estimate and reference must have the same shape, got {tuple(est.shape)} "
            f"and {tuple(ref.shape)}"
        )
    if est.ndim == 0 or est.shape[-1] == 0:
        raise AudioError("metrics need at least one sample in the last dimension")
    return est, ref


# ------------------------------------------------------------ SDR family
def sdr(estimate: ArrayLike, reference: ArrayLike, eps: float = SDR_EPS) -> torch.Tensor:
    """AudioSep's SDR (an SNR) in dB.

    Parameters
    ----------
    estimate, reference : array or Tensor, shape (..., samples)
        Signals at the same sample rate (the metric does not depend on it).
    eps : float
        Lower clip of the mean signal and error powers.

    Returns
    -------
    Tensor, shape (...), float64
        ``10 log10(max(mean(ref^2), eps) / max(mean((est - ref)^2), eps))``; 0-d for 1-D input.
    """
    est, ref = _pair(estimate, reference)
    num = ref.square().mean(-1).clamp_min(eps)
    den = (est - ref).square().mean(-1).clamp_min(eps)
    return 10.0 * torch.log10(num / den)


def sdri(
    estimate: ArrayLike, reference: ArrayLike, mixture: ArrayLike, eps: float = SDR_EPS
) -> torch.Tensor:
    """SDR improvement in dB: ``sdr(estimate, reference) - sdr(mixture, reference)``.

    Parameters
    ----------
    estimate, reference, mixture : array or Tensor, shape (..., samples)

    Returns
    -------
    Tensor, shape (...), float64
    """
    return sdr(estimate, reference, eps) - sdr(mixture, reference, eps)


def si_sdr(estimate: ArrayLike, reference: ArrayLike, eps: float = SISDR_EPS) -> torch.Tensor:
    """Scale-invariant SDR in dB, without mean removal (AudioSep ``calculate_sisdr``).

    With ``a = (eps + <ref, est>) / (eps + <ref, ref>)``, target ``s = a ref`` and residual
    ``e = est - s``: ``10 log10((eps + |s|^2) / (eps + |e|^2))``.

    Parameters
    ----------
    estimate, reference : array or Tensor, shape (..., samples)

    Returns
    -------
    Tensor, shape (...), float64
    """
    est, ref = _pair(estimate, reference)
    scale = (eps + (ref * est).sum(-1, keepdim=True)) / (eps + ref.square().sum(-1, keepdim=True))
    target = scale * ref
    residual = est - target
    return 10.0 * torch.log10((eps + target.square().sum(-1)) / (eps + residual.square().sum(-1)))


# ------------------------------------------------------------ STOI family
@dataclass(frozen=True)
class IntelligibilityResult:
    """Outcome of one STOI/ESTOI evaluation.

    Attributes
    ----------
    value : float
        The score, or ``nan`` when it is undefined.
    active_frames : int
        Frames (25.6 ms at 10 kHz, 50 % overlap) of the reference left after pystoi removes frames
        more than 40 dB below the loudest one.
    reason : str or None
        Why ``value`` is ``nan`` (``None`` when the score is valid).
    """

    value: float
    active_frames: int
    reason: str | None = None

    @property
    def valid(self) -> bool:
        """True when ``value`` is a real score."""
        return self.reason is None

    def __float__(self) -> float:
        return float(self.value)


def _intelligibility(
    estimate: ArrayLike, reference: ArrayLike, sample_rate: int, extended: bool
) -> IntelligibilityResult | list[IntelligibilityResult]:
    from pystoi import stoi as pystoi_stoi
    from pystoi import utils as pystoi_utils

    est, ref = _pair(estimate, reference)
    if est.ndim > 1:
        flat_e = est.reshape(-1, est.shape[-1])
        flat_r = ref.reshape(-1, ref.shape[-1])
        return [
            _intelligibility(e, r, sample_rate, extended)  # type: ignore[misc]
            for e, r in zip(flat_e, flat_r, strict=True)
        ]
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise AudioError(f"sample_rate must be a positive integer, got {sample_rate}")
    x = ref.numpy()
    y = est.numpy()
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return IntelligibilityResult(math.nan, 0, "non-finite samples")
    fs = 10000
    if int(sample_rate) != fs:
        x = pystoi_utils.resample_oct(x, fs, int(sample_rate))
        y = pystoi_utils.resample_oct(y, fs, int(sample_rate))
    frame = 256
    if not np.any(x) or len(x) <= frame:
        return IntelligibilityResult(math.nan, 0, "silent or too short reference")
    xs, _ = pystoi_utils.remove_silent_frames(x, y, 40, frame, frame // 2)
    active = int(pystoi_utils.stft(xs, frame, 512, overlap=2).shape[0])
    if active < STOI_MIN_FRAMES:
        return IntelligibilityResult(
            math.nan,
            active,
            f"only {active} active reference frames (< {STOI_MIN_FRAMES}) after silence removal",
        )
    value = float(pystoi_stoi(x, y, fs, extended=extended))
    return IntelligibilityResult(value, active)


def stoi(
    estimate: ArrayLike, reference: ArrayLike, sample_rate: int
) -> IntelligibilityResult | list[IntelligibilityResult]:
    """Short-time objective intelligibility (pystoi), with undefined cases made explicit.

    Parameters
    ----------
    estimate, reference : array or Tensor, shape (samples,) or (..., samples)
    sample_rate : int
        Hz; pystoi resamples to 10 kHz.

    Returns
    -------
    IntelligibilityResult, or a flat list of them for batched input.
        ``value`` is ``nan`` with a ``reason`` when fewer than 30 active frames remain (pystoi
        itself would return ``1e-5``) or the reference is silent.
    """
    return _intelligibility(estimate, reference, sample_rate, extended=False)


def estoi(
    estimate: ArrayLike, reference: ArrayLike, sample_rate: int
) -> IntelligibilityResult | list[IntelligibilityResult]:
    """Extended STOI (pystoi ``extended=True``); same conventions as :func:`stoi`."""
    return _intelligibility(estimate, reference, sample_rate, extended=True)


# ------------------------------------------------------------ aggregation
@dataclass(frozen=True)
class MetricSummary:
    """Mean of the finite values of a metric, with how many were used and skipped.

    Attributes
    ----------
    mean : float
        ``nan`` when no value is finite.
    count : int
        Number of finite values averaged.
    skipped : int
        Number of ``None`` / ``nan`` / infinite values left out.
    """

    mean: float
    count: int
    skipped: int


def summarize(values: Iterable[float | None]) -> MetricSummary:
    """Average finite values, counting the undefined ones (``None``, ``nan``, ``inf``)."""
    good: list[float] = []
    skipped = 0
    for v in values:
        if v is None or not math.isfinite(float(v)):
            skipped += 1
        else:
            good.append(float(v))
    mean = float(np.mean(good)) if good else math.nan
    return MetricSummary(mean, len(good), skipped)


# ------------------------------------------------------------------- CLAP
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
    from eventsep.errors import ConfigError

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
    48 kHz and repeat-padded to 480,000 samples (:mod:`eventsep.clap.inputs`).

    Parameters
    ----------
    model : eventsep.clap.LaionClap
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
        cls, protocol: str = "corrected", device: str | torch.device | None = None
    ) -> ClapScorer:
        """The real scorer of ``protocol``, from the cache (:data:`eventsep.modelsets.PAPER`).

        Raises
        ------
        WeightsNotFoundError
            A checkpoint is missing and cannot be downloaded.
        HashMismatchError
            A cached file does not match its catalogued hash (checked before it is read).
        """
        from transformers import AutoTokenizer

        from eventsep import hub
        from eventsep.clap import load_laion_checkpoint
        from eventsep.modelsets import PAPER

        check_clap_protocol(protocol)
        files = PAPER.metrics
        if protocol == "corrected":
            model = load_laion_checkpoint(hub.get(files.clap), "htsat-base", fusion=False)
            tok = AutoTokenizer.from_pretrained(str(hub.get(files.tokenizer)))
            return cls(model, tok, protocol=protocol, device=device)
        fused = load_laion_checkpoint(hub.get(files.clap_fusion), "htsat-tiny", fusion=True)
        plain = load_laion_checkpoint(hub.get(files.clap_audioset), "htsat-tiny", fusion=False)
        tok = AutoTokenizer.from_pretrained(str(hub.get(files.tokenizer)))
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
        from eventsep.clap import LaionClap
        from eventsep.tiny import tiny_tokenizer

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
        from eventsep.clap import authors_input, corrected_windows

        model = self.model if tower == "clap" else self.model_a
        x = _to_tensor(waveform).float()
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
        est, ref = _pair(estimate, reference)
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
        est, ref = _pair(estimate, reference)
        rows = torch.stack([est, ref]).reshape(-1, est.shape[-1])
        both = self.audio_embedding(rows, sample_rate)
        n = both.shape[0] // 2
        est_emb = both[:n] if est.ndim > 1 else both[0]
        clap = self._cos_text(est_emb, self._text(prompt))
        cos = (both[:n] * both[n:]).sum(-1)
        return clap, (cos[0] if est.ndim == 1 else cos.reshape(est.shape[:-1]))


@functools.lru_cache(maxsize=1)
def _default_scorer() -> ClapScorer:
    return ClapScorer.from_pretrained()


def clap_score(
    estimate: ArrayLike,
    text: str | Sequence[str] | torch.Tensor,
    sample_rate: int,
    model: ClapScorer | None = None,
) -> torch.Tensor:
    """CLAPScore of an estimate against a text (or a precomputed text embedding).

    Parameters
    ----------
    estimate : array or Tensor, shape (samples,) or (batch, samples)
    text : str, sequence of str (one per batch row), or Tensor (dim,) / (batch, dim)
    sample_rate : int
        Hz of ``estimate``.
    model : ClapScorer, optional
        Default: the corrected-protocol scorer from the cache (loaded once).

    Returns
    -------
    Tensor, shape () or (batch,)
        Cosine similarity in [-1, 1].
    """
    return (model or _default_scorer()).score(estimate, text, sample_rate)


def clap_score_a(
    estimate: ArrayLike,
    reference: ArrayLike,
    sample_rate: int,
    model: ClapScorer | None = None,
) -> torch.Tensor:
    """CLAPScore-A: cosine of CLAP audio embeddings of estimate and reference.

    Parameters
    ----------
    estimate, reference : array or Tensor, shape (samples,) or (batch, samples)
    sample_rate : int
    model : ClapScorer, optional

    Returns
    -------
    Tensor, shape () or (batch,)
    """
    return (model or _default_scorer()).score_a(estimate, reference, sample_rate)
