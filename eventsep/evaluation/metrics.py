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
  checkpoints (:mod:`eventsep.models.clap`) under one of two protocols. ``"corrected"``: the
  music_speech_audioset 89.98 HTSAT-base model for both scores; audio resampled to 48 kHz, the
  rate the CLAP audio encoder was trained on; consecutive 10 s windows (the last one may be
  shorter and is repeat-padded, as CLAP does for short clips), each embedded and L2-normalised,
  averaged with weights proportional to their lengths, normalised again. No random crop.
  ``"authors"``: 630k-fusion-best for CLAPScore, 630k-audioset-best for CLAPScore-A, the 32 kHz
  samples read as 48 kHz and repeat-padded to 10 s (docs/protocols.md §5.1-5.2).
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from eventsep.core.audio import ArrayLike, paired_float64
from eventsep.core.errors import AudioError
from eventsep.models.clap.scorer import ClapScorer
from eventsep.models.registry import load_clap_scorer

__all__ = [
    "IntelligibilityResult",
    "MetricSummary",
    "clap_score",
    "clap_score_a",
    "estoi",
    "sdr",
    "sdri",
    "seeded_pystoi_noise",
    "si_sdr",
    "stoi",
    "summarize",
]

SDR_EPS = 1e-10
"""Lower clip of both mean powers in :func:`sdr` (AudioSep ``calculate_sdr``)."""
SISDR_EPS = float(np.finfo(np.float32).eps)
"""Epsilon of :func:`si_sdr` (AudioSep uses the float32 eps of its librosa-loaded audio)."""

PYSTOI_NOISE_SEED = 0
"""Seed of the noise pystoi adds in ESTOI's normalisation (see :func:`seeded_pystoi_noise`)."""

STOI_MIN_FRAMES = 30
"""pystoi needs at least this many active frames (384 ms at 10 kHz) for one segment."""


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
    est, ref = paired_float64(estimate, reference)
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
    est, ref = paired_float64(estimate, reference)
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

    est, ref = paired_float64(estimate, reference)
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
    with seeded_pystoi_noise():
        value = float(pystoi_stoi(x, y, fs, extended=extended))
    return IntelligibilityResult(value, active)


_NUMPY_RNG_LOCK = threading.Lock()


@contextlib.contextmanager
def seeded_pystoi_noise(seed: int = PYSTOI_NOISE_SEED) -> Iterator[None]:
    """Make pystoi's ESTOI deterministic for the duration.

    pystoi's ESTOI adds ``eps * N(0, 1)`` noise drawn from numpy's global generator before it
    normalises the spectrogram rows and columns. For near-silent estimates (whose norms are
    close to eps) that noise moves the score far beyond rounding, so one clip scored twice gave
    two values. Inside this block the global generator is seeded with ``seed``; its previous
    state is restored afterwards (under a lock, so threads do not interleave their draws).
    """
    with _NUMPY_RNG_LOCK:
        state = np.random.get_state()  # noqa: NPY002 - pystoi draws from the legacy global RNG
        np.random.seed(seed)  # noqa: NPY002
        try:
            yield
        finally:
            np.random.set_state(state)  # noqa: NPY002


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


@functools.lru_cache(maxsize=1)
def _default_scorer() -> ClapScorer:
    return load_clap_scorer("paper")


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
