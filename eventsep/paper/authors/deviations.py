"""The authors' deviations as constants and pure functions on tensors (docs/protocols.md).

Each function computes one step the way the authors' benchmark code does; the stages of
:mod:`eventsep.paper.authors.stages` plug them into the method. Section numbers ("§") refer to
docs/protocols.md.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from eventsep.core.audio import resample
from eventsep.core.errors import AudioError, ConfigError
from eventsep.evaluation.metrics import seeded_pystoi_noise
from eventsep.method import masks

__all__ = [
    "BENCHMARK_MODES",
    "BENCHMARK_RULE_NAMES",
    "BUTTERWORTH_ORDER",
    "COMMA_PROMPT_POLICY",
    "DEMUCS_KEYWORDS",
    "PCM16_SCALE",
    "PYSTOI_UNDEFINED",
    "authors_mask",
    "band_split",
    "benchmark_ensemble",
    "benchmark_fuse",
    "demucs_keyword",
    "double_sigmoid",
    "map_comma_prompt",
    "pcm16_round_trip",
    "pystoi_value",
    "split_prompt",
    "stretch_to_samples",
]

# ------------------------------------------------------------------------------- constants
DEMUCS_KEYWORDS: tuple[str, ...] = (
    "vocals",
    "vocal",
    "voice",
    "singing",
    "singer",
    "drum",
    "drums",
    "snare",
    "kick",
    "percussion",
    "bass",
    "bass guitar",
)
"""The keys of the authors' Demucs routing table (``utils/text_utils.py``, §2.5), in its order.

A prompt part that contains any of them as a plain, case-insensitive substring is routed to
Demucs; with Demucs off the clip is then not masked. ``"vocals"``, ``"drums"`` and
``"bass guitar"`` add nothing to ``"vocal"``, ``"drum"`` and ``"bass"`` (substrings)."""

COMMA_PROMPT_POLICY = (
    "Comma prompts (authors' protocol): the authors' code splits a prompt on commas, maps each "
    "part to an AudioSet class and then crashes building the mask (110 of VGGSound's 1000 rows, "
    "so the paper's numbers for them came from other code). Here each part is mapped with the "
    "authors' cascade (exact name, substring, MiniLM), the SED probability of the prompt is the "
    "frame-wise maximum over those classes (taken after the second sigmoid), and a prompt with a "
    "Demucs keyword in any part is not masked at all, as a one-part prompt with one is."
)
"""The policy :func:`map_comma_prompt` implements, in words the tables' notes can quote."""

PCM16_SCALE = 32768
"""Full scale of 16-bit PCM: libsndfile writes ``floor(32768 x)`` clipped to int16 and reads
``q / 32768`` (measured with soundfile 0.12 / libsndfile 1.2.2)."""

PYSTOI_UNDEFINED = 1e-5
"""What pystoi returns, with only a warning, when fewer than 30 active frames remain (§5.4)."""

BUTTERWORTH_ORDER = 6
"""Order of the Butterworth low- and high-pass of the benchmark band split (§4.1)."""

BENCHMARK_MODES: tuple[str, ...] = ("audiosep", "flowsep", "ensemble_a")
"""Names the authors' ``blend_ensemble`` treats specially; any other name is the band split."""

BENCHMARK_RULE_NAMES: dict[str, str] = {
    "rate": "ensemble-a",
    "band": "ensemble-b",
    "reverse-band": "ensemble-c",
    "progressive": "ensemble-d",
    "reverse-progressive": "ensemble-e",
}
"""The name each Table 3 rule was committed under in ``benchmark.py`` (§4.1, B:341-400).

All five are hyphenated, so none is ``"ensemble_a"``: the benchmark ran the band split for each."""


# ------------------------------------------------------------------------------------- SED
def double_sigmoid(probs: torch.Tensor) -> torch.Tensor:
    """``sigmoid(p)`` of probabilities that already passed a sigmoid (§2.2).

    Parameters
    ----------
    probs : torch.Tensor
        ``(..., frames)`` probabilities in [0, 1].

    Returns
    -------
    torch.Tensor
        Same shape, values in [0.5, 0.731].
    """
    return torch.sigmoid(torch.as_tensor(probs))


def authors_mask(probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """The authors' mask for every kind but ``"none"`` (§2.3): ``min(p / tau, 1)``.

    Their ``mask_mode`` is only compared with ``"none"``, so "hard" and "soft" both compute this.
    Applied to double-sigmoid probabilities (:func:`double_sigmoid`) it never falls below
    ``0.5 / tau``.

    Parameters
    ----------
    probs : torch.Tensor
        ``(..., frames)``; the authors pass :func:`double_sigmoid` of the detector output.
    threshold : float
        ``tau`` in (0, 1].
    """
    return masks.soft_mask(torch.as_tensor(probs), threshold)


def stretch_to_samples(mask: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Endpoint-aligned linear interpolation of frames to samples (§2.4).

    Frame ``i`` of ``F`` sits at ``i / (F - 1)`` and sample ``n`` of ``N`` at ``n / (N - 1)``
    of the clip (``np.interp(linspace(0, 1, N), linspace(0, 1, F), mask)``), so the first and
    last frames land on the first and last samples whatever the frame rate.

    Parameters
    ----------
    mask : torch.Tensor
        ``(..., frames)``.
    num_samples : int
        ``N``, output length.

    Returns
    -------
    torch.Tensor
        ``(..., num_samples)``, dtype of ``mask``.
    """
    m = masks.check_frame_mask(mask)
    frames = m.shape[-1]
    if num_samples < 0:
        raise ConfigError(f"num_samples must be >= 0, got {num_samples}")
    if frames == 1 or num_samples <= 1:
        return m[..., :1].expand(*m.shape[:-1], num_samples).clone()
    pos = torch.linspace(0.0, 1.0, num_samples, dtype=torch.float64) * (frames - 1)
    left = pos.floor().long().clamp(max=frames - 2)
    frac = (pos - left.double()).to(m.device)
    left = left.to(m.device)
    lo, hi = m[..., left].double(), m[..., left + 1].double()
    return (lo + (hi - lo) * frac).to(m.dtype)


# ----------------------------------------------------------------------------- prompts
def split_prompt(prompt: str) -> list[str]:
    """The authors' prompt parts: split on commas, stripped, empty parts dropped (§2.5)."""
    return [part.strip() for part in str(prompt).split(",") if part.strip()]


def demucs_keyword(prompt: str) -> str | None:
    """The first Demucs keyword (:data:`DEMUCS_KEYWORDS`) contained in ``prompt``, else ``None``.

    Case-insensitive plain substring test, as the authors' routing (§2.5): "singing bowl" and
    "playing bass guitar" hit, so do "kicking" and "bassoon".
    """
    text = str(prompt).lower()
    return next((key for key in DEMUCS_KEYWORDS if key in text), None)


def map_comma_prompt(mapper: Callable[..., Any], prompt: str, method: str) -> Any:
    """Map a prompt part by part (:data:`COMMA_PROMPT_POLICY`).

    Parameters
    ----------
    mapper : callable
        ``mapper(text, method=...) -> LabelMatch`` (:class:`eventsep.method.mapping.PromptMapper`).
    prompt : str
        The whole prompt.
    method : str
        Mapping method of each part (the authors' cascade is ``"paper"``).

    Returns
    -------
    LabelMatch
        The mapper's match for a one-part prompt; for several parts one match whose
        ``indices`` are the parts' classes in order (repeats dropped), ``label`` the first
        part's, ``confident`` only if every part's is, ``method`` ``"comma-split"``.
    """
    parts = split_prompt(prompt)
    if len(parts) <= 1:
        return mapper(parts[0] if parts else prompt, method=method)
    matches = [mapper(part, method=method) for part in parts]
    indices: list[int] = []
    labels: list[str] = []
    for match in matches:
        for index, label in zip(match.indices, match.labels, strict=True):
            if index not in indices:
                indices.append(int(index))
                labels.append(label)
    members: list[Any] = []
    for match in matches:  # the parts' class members (mapping.ClassMember), no repeats
        for member in getattr(match, "members", ()):
            if all(m.index != member.index for m in members):
                members.append(member)
    why = "; ".join(f"{part!r}: {m.explanation}" for part, m in zip(parts, matches, strict=True))
    extra = {"members": tuple(members)} if hasattr(matches[0], "members") else {}
    return dataclasses.replace(
        matches[0],
        method="comma-split",
        labels=tuple(labels),
        indices=tuple(indices),
        **extra,
        confident=all(bool(getattr(m, "confident", True)) for m in matches),
        explanation=f"comma prompt, max over the parts' classes ({why})",
    )


# ----------------------------------------------------------------------------- FlowSep
def pcm16_round_trip(waveform: torch.Tensor) -> torch.Tensor:
    """The 16-bit WAV write and read of FlowSep's input (§3.2 step 2), without a file.

    ``clip(floor(32768 x), -32768, 32767) / 32768``: what ``soundfile.write`` (PCM_16) followed
    by a float read gives (soundfile 0.12, libsndfile 1.2.2; ``tests/test_authors.py`` checks
    the two agree).

    Parameters
    ----------
    waveform : torch.Tensor
        ``(..., samples)`` float audio.

    Returns
    -------
    torch.Tensor
        Same shape, dtype and device; multiples of ``1 / 32768`` in ``[-1, 1 - 1/32768]``.
    """
    x = torch.as_tensor(waveform)
    scaled = torch.floor(x.float() * float(PCM16_SCALE))
    q = scaled.clamp(-PCM16_SCALE, PCM16_SCALE - 1)
    return (q / PCM16_SCALE).to(x.dtype)


# -------------------------------------------------------------------------- ensembles
def band_split(
    low_from: torch.Tensor,
    high_from: torch.Tensor,
    cutoff_hz: float = 4000.0,
    sample_rate: int = 32000,
) -> torch.Tensor:
    """``lowpass(low_from) + highpass(high_from)``: the benchmark ensemble (§4.1).

    Butterworth of order :data:`BUTTERWORTH_ORDER` at ``Wn = cutoff_hz / (sample_rate / 2)``
    (``scipy.signal.butter``), run forwards and backwards (``scipy.signal.filtfilt`` with its
    default odd padding), in float64. No RMS matching, no clipping.

    Parameters
    ----------
    low_from, high_from : torch.Tensor
        ``(samples,)`` each, same length (AudioSep's and FlowSep's span at ``sample_rate``).
    cutoff_hz : float
        ``f_c`` in Hz, in (0, sample_rate / 2).
    sample_rate : int
        Hz.

    Returns
    -------
    torch.Tensor
        ``(samples,)``, dtype and device of ``low_from``.
    """
    from scipy import signal

    if low_from.shape != high_from.shape or low_from.dim() != 1:
        raise AudioError(
            f"band split needs two 1-D signals of one length, got {tuple(low_from.shape)} "
            f"and {tuple(high_from.shape)}"
        )
    wn = float(cutoff_hz) / (sample_rate / 2.0)
    if not 0.0 < wn < 1.0:
        raise ConfigError(f"cutoff {cutoff_hz} Hz must lie in (0, {sample_rate / 2}) Hz")
    pad = 3 * (BUTTERWORTH_ORDER + 1)
    if low_from.shape[-1] <= pad:
        raise AudioError(f"band split needs more than {pad} samples, got {low_from.shape[-1]}")
    b_lo, a_lo = signal.butter(BUTTERWORTH_ORDER, wn, btype="low")
    b_hi, a_hi = signal.butter(BUTTERWORTH_ORDER, wn, btype="high")
    low = signal.filtfilt(b_lo, a_lo, low_from.detach().cpu().double().numpy())
    high = signal.filtfilt(b_hi, a_hi, high_from.detach().cpu().double().numpy())
    out = torch.from_numpy(np.ascontiguousarray(low + high))
    return out.to(low_from.device, low_from.dtype)


def benchmark_ensemble(
    audiosep: torch.Tensor,
    flowsep: torch.Tensor,
    mode: str,
    *,
    rate: float = 0.3,
    cutoff_hz: float = 4000.0,
    sample_rate: int = 32000,
) -> torch.Tensor:
    """The authors' ``blend_ensemble`` on two aligned spans (§4.1).

    ``"audiosep"``: ``audiosep``; ``"flowsep"``: ``flowsep``; exactly ``"ensemble_a"``:
    ``rate * flowsep + (1 - rate) * audiosep`` (time domain); any other name:
    :func:`band_split` (AudioSep below ``cutoff_hz``, FlowSep above).

    Parameters
    ----------
    audiosep, flowsep : torch.Tensor
        ``(samples,)`` each at ``sample_rate``.
    mode : str
        The authors' ensemble name (:data:`BENCHMARK_RULE_NAMES` gives the committed ones).
    """
    if mode == "audiosep":
        return audiosep.clone()
    if mode == "flowsep":
        return flowsep.clone()
    if mode == "ensemble_a":
        a = float(rate)
        return (a * flowsep.double() + (1.0 - a) * audiosep.double()).to(audiosep.dtype)
    return band_split(audiosep, flowsep, cutoff_hz, sample_rate)


def benchmark_fuse(
    audiosep: torch.Tensor,
    flowsep: torch.Tensor,
    start: int,
    length: int | None,
    mode: str,
    *,
    rate: float = 0.3,
    cutoff_hz: float = 4000.0,
    audiosep_rate: int = 32000,
    flowsep_rate: int = 16000,
) -> torch.Tensor:
    """The authors' benchmark fusion (§3.3, §4.1): AudioSep with FlowSep's span re-mixed.

    FlowSep's span is resampled to ``audiosep_rate``; it starts at
    ``int(start * audiosep_rate / flowsep_rate)``; AudioSep's estimate over the span and the
    resampled FlowSep go through :func:`benchmark_ensemble`, and the result is pasted into a copy
    of AudioSep's estimate (zero-padded where the span passes its end, then cut back).

    Parameters
    ----------
    audiosep : torch.Tensor
        ``(samples32,)`` at ``audiosep_rate``.
    flowsep : torch.Tensor
        ``(span16,)`` at ``flowsep_rate`` (at whatever level FlowSep returned it).
    start, length : int
        Span start and length in ``flowsep_rate`` samples (``length`` ``None``: all of it).
    mode, rate, cutoff_hz
        As in :func:`benchmark_ensemble`.

    Returns
    -------
    torch.Tensor
        ``(samples32,)``, dtype of ``audiosep``.

    Notes
    -----
    The authors' FlowSep output also covers the zero padding past the end of a clip shorter than
    10.24 s and ``filtfilt`` sees it; here the span ends with the clip, which changes the last
    few milliseconds of such clips.
    """
    n = int(audiosep.shape[-1])
    span = flowsep if length is None else flowsep[: int(length)]
    if span.shape[-1] == 0:
        return audiosep.clone()
    f = resample(span.to(audiosep.device, audiosep.dtype), flowsep_rate, audiosep_rate)
    offset = int(int(start) * (audiosep_rate / float(flowsep_rate)))
    stop = offset + f.shape[-1]
    a = torch.nn.functional.pad(audiosep, (0, max(0, stop - n)))
    mixed = benchmark_ensemble(
        a[offset:stop], f, mode, rate=rate, cutoff_hz=cutoff_hz, sample_rate=audiosep_rate
    )
    out = a.clone()
    out[offset:stop] = mixed
    return out[:n]


# ----------------------------------------------------------------------------- metrics
def pystoi_value(
    result: Any,
    estimate: Sequence[float] | np.ndarray | torch.Tensor,
    reference: Sequence[float] | np.ndarray | torch.Tensor,
    sample_rate: int,
    *,
    extended: bool,
) -> float:
    """The (E)STOI value the authors' evaluation records for one clip (§5.4).

    A valid :class:`eventsep.evaluation.metrics.IntelligibilityResult` keeps its value; for an
    undefined one pystoi itself is asked, as their ``compute_stoi`` does, so the cases this package
    marks
    undefined get pystoi's answer (``1e-5`` when fewer than 30 active frames remain); an
    exception gives ``nan``.
    """
    if getattr(result, "reason", None) is None:
        return float(result.value)
    import warnings

    from pystoi import stoi as pystoi_stoi

    est = np.asarray(torch.as_tensor(estimate).detach().cpu().double().numpy())
    ref = np.asarray(torch.as_tensor(reference).detach().cpu().double().numpy())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with seeded_pystoi_noise():
                return float(pystoi_stoi(ref, est, int(sample_rate), extended=extended))
    except Exception:  # noqa: BLE001 - the authors' compute_stoi turns any failure into NaN
        return math.nan
