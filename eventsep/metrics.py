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
  (CLAPScore, arXiv 2407.04936). Audio is resampled to 48 kHz, the rate the CLAP audio encoder was
  trained on. The embedding is deterministic: the clip is cut into consecutive 10 s windows (the
  last one may be shorter and is repeat-padded by the CLAP feature extractor, as CLAP does for
  short clips), each window is embedded and L2-normalised, the window embeddings are averaged with
  weights proportional to their lengths, and the mean is L2-normalised again. No random crop.
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
    "CLAP_SAMPLE_RATE",
    "CLAP_WINDOW_SECONDS",
    "ClapScorer",
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
class ClapScorer:
    """Holds a transformers ``ClapModel``, its feature extractor and tokenizer once.

    Parameters
    ----------
    model : transformers.ClapModel
    feature_extractor : transformers.ClapFeatureExtractor
        Must produce 48 kHz log-mel features matching ``model``.
    tokenizer : transformers tokenizer
        RoBERTa-style tokenizer of the text tower.
    device : str or torch.device, optional
    batch_size : int
        Number of 10 s windows embedded per forward pass.
    """

    def __init__(
        self,
        model: Any,
        feature_extractor: Any,
        tokenizer: Any,
        device: str | torch.device | None = None,
        batch_size: int = 8,
    ) -> None:
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.model = model.eval().to(self.device)
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        self._text_cache: dict[str, torch.Tensor] = {}

    # ---------------------------------------------------------- builders
    @classmethod
    def from_pretrained(
        cls, path: str | None = None, device: str | torch.device | None = None
    ) -> ClapScorer:
        """Load the music_speech HTSAT-base CLAP (``laion/larger_clap_music_and_speech``).

        Parameters
        ----------
        path : str, optional
            A local transformers snapshot; default ``eventsep.hub.get("clap-music-speech-hf")``
            (raises :class:`~eventsep.errors.WeightsNotFoundError` offline when absent).
        """
        from transformers import AutoTokenizer, ClapFeatureExtractor, ClapModel

        if path is None:
            from eventsep import hub
            from eventsep.modelsets import PAPER

            path = str(hub.get(PAPER.metrics.clap))
        model = ClapModel.from_pretrained(path)
        fe = ClapFeatureExtractor.from_pretrained(path)
        tok = AutoTokenizer.from_pretrained(path)
        return cls(model, fe, tok, device=device)

    @classmethod
    def tiny_random(cls, seed: int = 0, device: str | torch.device | None = None) -> ClapScorer:
        """A tiny CLAP with seeded random weights (a few thousand parameters) for tests and CI.

        The audio tower keeps the real front end (48 kHz, 64 mels, 1001 frames per 10 s,
        ``spec_size`` 256) so the windowing and resampling paths are the real ones.
        """
        from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

        from eventsep.tiny import tiny_tokenizer

        tok = tiny_tokenizer("roberta")
        audio = dict(
            patch_embeds_hidden_size=8,
            depths=[1, 1],
            num_attention_heads=[1, 2],
            hidden_size=16,
            window_size=8,
            spec_size=256,
            num_mel_bins=64,
            projection_dim=16,
            enable_fusion=False,
            num_classes=4,
        )
        text = dict(
            vocab_size=len(tok),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=80,
            projection_dim=16,
            pad_token_id=tok.pad_token_id,
        )
        config = ClapConfig(text_config=text, audio_config=audio, projection_dim=16)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = ClapModel(config)
        fe = ClapFeatureExtractor(truncation="rand_trunc", padding="repeatpad")
        return cls(model, fe, tok, device=device)

    # -------------------------------------------------------- embeddings
    @torch.inference_mode()
    def text_embedding(self, texts: str | Sequence[str]) -> torch.Tensor:
        """L2-normalised text embeddings, shape (n, dim), float32 on CPU; cached per text."""
        items = [texts] if isinstance(texts, str) else list(texts)
        missing = [t for t in dict.fromkeys(items) if t not in self._text_cache]
        if missing:
            enc = self.tokenizer(missing, padding=True, truncation=True, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items() if k != "token_type_ids"}
            out = self.model.get_text_features(**enc)
            emb = out.pooler_output if hasattr(out, "pooler_output") else out
            emb = torch.nn.functional.normalize(emb.float(), dim=-1).cpu()
            for t, e in zip(missing, emb, strict=True):
                self._text_cache[t] = e
        return torch.stack([self._text_cache[t] for t in items])

    @torch.inference_mode()
    def audio_embedding(self, waveform: ArrayLike, sample_rate: int) -> torch.Tensor:
        """Deterministic L2-normalised audio embeddings.

        Parameters
        ----------
        waveform : array or Tensor, shape (samples,) or (batch, samples)
        sample_rate : int
            Hz; resampled to 48 kHz.

        Returns
        -------
        Tensor, shape (dim,) or (batch, dim), float32 on CPU
            Length-weighted mean of the normalised embeddings of consecutive 10 s windows,
            normalised again.
        """
        from eventsep.audio import resample

        x = _to_tensor(waveform).float()
        single = x.ndim == 1
        if single:
            x = x[None]
        if x.ndim != 2 or x.shape[-1] == 0:
            raise AudioError(f"expected (samples,) or (batch, samples), got {tuple(x.shape)}")
        if sample_rate != CLAP_SAMPLE_RATE:
            x = resample(x, int(sample_rate), CLAP_SAMPLE_RATE)
        win = int(CLAP_WINDOW_SECONDS * CLAP_SAMPLE_RATE)
        windows: list[np.ndarray] = []
        owner: list[int] = []
        weight: list[float] = []
        for b, row in enumerate(x.numpy()):
            for start in range(0, row.shape[-1], win):
                chunk = row[start : start + win]
                windows.append(chunk)
                owner.append(b)
                weight.append(chunk.shape[-1] / win)
        embs = []
        for i in range(0, len(windows), self.batch_size):
            feats = self.feature_extractor(
                windows[i : i + self.batch_size],
                sampling_rate=CLAP_SAMPLE_RATE,
                truncation="rand_trunc",
                padding="repeatpad",
                return_tensors="pt",
            )
            out = self.model.get_audio_features(
                input_features=feats["input_features"].to(self.device),
                is_longer=feats["is_longer"].to(self.device) if "is_longer" in feats else None,
            )
            emb = out.pooler_output if hasattr(out, "pooler_output") else out
            embs.append(torch.nn.functional.normalize(emb.float(), dim=-1).cpu())
        all_emb = torch.cat(embs)
        owners = torch.tensor(owner)
        weights = torch.tensor(weight, dtype=torch.float32)[:, None]
        pooled = torch.zeros(x.shape[0], all_emb.shape[-1])
        pooled.index_add_(0, owners, all_emb * weights)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled[0] if single else pooled

    # ------------------------------------------------------------ scores
    def score(
        self, estimate: ArrayLike, text: str | Sequence[str] | torch.Tensor, sample_rate: int
    ) -> torch.Tensor:
        """CLAPScore: cosine of text and audio embeddings; shape () or (batch,), float32."""
        audio = self.audio_embedding(estimate, sample_rate)
        if isinstance(text, torch.Tensor):
            t = torch.nn.functional.normalize(text.detach().float().cpu(), dim=-1)
        else:
            t = self.text_embedding(text)
        if audio.ndim == 1:
            return (audio * t.reshape(-1)).sum()
        return (audio * t.reshape(-1, audio.shape[-1])).sum(-1)

    def score_a(self, estimate: ArrayLike, reference: ArrayLike, sample_rate: int) -> torch.Tensor:
        """CLAPScore-A: cosine of the estimate's and reference's audio embeddings."""
        est, ref = _pair(estimate, reference)
        both = self.audio_embedding(torch.stack([est, ref]).reshape(-1, est.shape[-1]), sample_rate)
        n = both.shape[0] // 2
        cos = (both[:n] * both[n:]).sum(-1)
        return cos[0] if est.ndim == 1 else cos.reshape(est.shape[:-1])


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
        Default: the music_speech CLAP from the cache (loaded once).

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
