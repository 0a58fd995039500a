"""STFT fusion of the AudioSep and FlowSep estimates (pure functions).

EventSep runs AudioSep (32 kHz, whole clip) and FlowSep (16 kHz, one 10.24 s span) on the same
masked mixture and fuses them. The steps, all on tensors:

1. Alignment: resample AudioSep's 32 kHz estimate to 16 kHz, crop the span FlowSep regenerated
   (``start``, ``length`` in 16 kHz samples) and scale FlowSep to that span's RMS
   (:func:`align_span`, :func:`match_rms`).
2. Fusion in the STFT domain (:func:`fuse_segments`): per frequency bin the magnitude is
   ``w(f) |A| + (1 - w(f)) |F|`` with AudioSep's phase, where ``w`` is the AudioSep weight of the
   rule (:func:`fusion_weights`):

   - ``rate``: ``w = 1 - a`` at every frequency;
   - ``band``: ``w = 1`` for ``f <= f_c``, 0 above (FlowSep above f_c);
   - ``reverse-band``: ``w = 0`` for ``f <= f_c``, 1 above (FlowSep below f_c);
   - ``progressive``: ``w = 1 - a f / f_nyq``, falling linearly from 1 to ``1 - a``;
   - ``reverse-progressive``: ``w = 1 - a + a f / f_nyq``, rising from ``1 - a`` to 1.

3. ISTFT, then a cross-faded overlap-add of the fused span back into the full-length estimate
   (:func:`overlap_add_span`), and the result is returned at 32 kHz (:func:`fuse`).

Keeping AudioSep's content above 8 kHz
--------------------------------------
FlowSep only covers 0-8 kHz. The authors' code resamples the whole AudioSep estimate to 16 kHz
and back, so their final output is band-limited to 8 kHz everywhere, also outside the span.
Here, by default, the fused span only changes the 0-8 kHz band: the change made at 16 kHz,
``d = fused - A16`` (zero outside the span), is upsampled to 32 kHz and added to the untouched
32 kHz AudioSep estimate, ``out = A32 + up(d)``. This is a complementary split: ``A32`` equals
its low band ``up(A16)`` plus its high band ``A32 - up(A16)``, and only the low band is replaced,
so identical inputs (or ``a = 0``) give back ``A32`` itself, full band. ``bandlimit_8k=True``
returns ``up(A16 + d)`` instead, the authors' behaviour.

Which of the authors' two code paths this follows
-------------------------------------------------
The authors implement the ensembles twice. Their inference script (``inference.py``) does what
the paper describes and what this module implements: 16 kHz STFT (n_fft 1024, hop 256, Hann),
RMS matching of FlowSep to the AudioSep span, magnitude rules with AudioSep's phase, defaults
``a = 0.3`` and ``f_c = 4000 Hz``, the span pasted back without cross-fade, the whole output
resampled 16 -> 32 kHz and clipped to [-1, 1]. Their benchmark scripts instead upsample FlowSep to
32 kHz, do no RMS matching and no STFT: only the literal name ``"ensemble_a"`` is a time-domain
blend ``(1-a) A + a F``; every other name, including the hyphenated ``ensemble-a`` ...
``ensemble-e`` the benchmark ran, is the same 6th-order Butterworth split at f_c (``filtfilt``:
AudioSep low-passed plus FlowSep high-passed), so all five rules are identical there. The
inference path is implemented by the STFT functions here; ``bandlimit_8k=True,
crossfade=0, clip=True`` reproduces it (up to the resampler).

The benchmark path is not a setting of this module: it is the ``authors`` protocol's fusion
stage (:class:`eventsep.paper.authors.BenchmarkFusion`, plugged in through
:class:`eventsep.method.stages.Stages`), which takes the same :class:`FusionConfig`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from eventsep.core.audio import fit_length, resample
from eventsep.core.dsp import crossfade_window
from eventsep.core.errors import ConfigError

__all__ = [
    "FUSION_RULES",
    "FusionConfig",
    "STFTFusion",
    "align_span",
    "fuse",
    "fuse_segments",
    "fusion_weights",
    "match_rms",
    "overlap_add_span",
]

#: The five magnitude rules, in the order of the paper's Table 3.
FUSION_RULES: tuple[str, ...] = (
    "rate",
    "band",
    "reverse-band",
    "progressive",
    "reverse-progressive",
)

_RMS_EPS = 1e-12


def _check_rule(rule: str) -> None:
    if rule not in FUSION_RULES:
        raise ConfigError(f"unknown fusion rule {rule!r}; choose one of {', '.join(FUSION_RULES)}")


def _check_rate(rate: float) -> None:
    if not (0.0 <= float(rate) <= 1.0) or math.isnan(float(rate)):
        raise ConfigError(f"fusion rate must lie in [0, 1], got {rate}")


@dataclass(frozen=True)
class FusionConfig:
    """Parameters of the STFT fusion; defaults are the authors' inference defaults.

    Attributes
    ----------
    rule : str
        One of :data:`FUSION_RULES`; ``rate`` is the rule of the authors' example command.
    rate : float
        ``a`` in [0, 1] (code default 0.3; the paper's ablation used 0.1).
    cutoff_hz : float
        ``f_c`` in Hz for the band rules.
    n_fft, hop_length : int
        STFT size and hop at 16 kHz, in samples.
    crossfade : int
        Cross-fade ramp at the span's inner borders, in 16 kHz samples (0 = hard paste).
    bandlimit_8k : bool
        Band-limit the whole output to 8 kHz as the authors' code does.
    clip : bool
        Clip the output to [-1, 1] as the authors' code does.
    """

    rule: str = "rate"
    rate: float = 0.3
    cutoff_hz: float = 4000.0
    n_fft: int = 1024
    hop_length: int = 256
    crossfade: int = 512
    bandlimit_8k: bool = False
    clip: bool = False

    def __post_init__(self) -> None:
        _check_rule(self.rule)
        _check_rate(self.rate)
        if self.cutoff_hz < 0:
            raise ConfigError(f"cutoff_hz must be >= 0, got {self.cutoff_hz}")
        if self.hop_length <= 0 or self.n_fft <= 0 or self.hop_length > self.n_fft:
            raise ConfigError(
                f"need 0 < hop_length <= n_fft, got n_fft={self.n_fft}, hop={self.hop_length}"
            )
        if self.crossfade < 0:
            raise ConfigError(f"crossfade must be >= 0 samples, got {self.crossfade}")


def fusion_weights(
    rule: str,
    num_bins: int,
    sample_rate: int = 16000,
    *,
    rate: float = 0.3,
    cutoff_hz: float = 4000.0,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """AudioSep magnitude weight per frequency bin for one fusion rule.

    Parameters
    ----------
    rule : str
        One of :data:`FUSION_RULES`.
    num_bins : int
        Number of STFT bins, ``n_fft // 2 + 1``; bin ``k`` is at ``k * (sr / 2) / (num_bins - 1)``
        Hz.
    sample_rate : int
        Sample rate of the STFT input in Hz (16000 for the EventSep fusion).
    rate : float
        ``a`` in [0, 1]: FlowSep's share for ``rate`` and the slope of the progressive rules.
    cutoff_hz : float
        ``f_c`` in Hz for the band rules; bins with ``f <= f_c`` are "low".

    Returns
    -------
    torch.Tensor
        Shape ``(num_bins,)``, values in [0, 1]. FlowSep's weight is ``1 - w``.
    """
    _check_rule(rule)
    _check_rate(rate)
    if num_bins < 2:
        raise ConfigError(f"need at least 2 frequency bins, got {num_bins}")
    a = float(rate)
    freqs = torch.linspace(0.0, sample_rate / 2.0, num_bins, device=device, dtype=torch.float64)
    f_norm = freqs / freqs[-1]
    if rule == "rate":
        w = torch.full_like(freqs, 1.0 - a)
    elif rule == "band":
        w = (freqs <= float(cutoff_hz)).to(torch.float64)
    elif rule == "reverse-band":
        w = (freqs > float(cutoff_hz)).to(torch.float64)
    elif rule == "progressive":
        w = 1.0 - a * f_norm
    else:  # reverse-progressive
        w = (1.0 - a) + a * f_norm
    return w.to(dtype)


def match_rms(x: torch.Tensor, reference: torch.Tensor, eps: float = _RMS_EPS) -> torch.Tensor:
    """Scale ``x`` so that its RMS equals the RMS of ``reference``.

    Parameters
    ----------
    x, reference : torch.Tensor
        Shape ``(samples,)`` each (lengths may differ).
    eps : float
        Added to the mean square of both and to the denominator, as in the authors' code, so a
        silent ``x`` stays silent and a silent ``reference`` gives silence.

    Returns
    -------
    torch.Tensor
        ``x * rms(reference) / (rms(x) + eps)``, shape of ``x``.
    """
    rms_ref = torch.sqrt(torch.mean(reference.double() ** 2) + eps)
    rms_x = torch.sqrt(torch.mean(x.double() ** 2) + eps)
    return (x.double() * (rms_ref / (rms_x + eps))).to(x.dtype)


def align_span(
    audiosep_16k: torch.Tensor, flowsep: torch.Tensor, start: int, length: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Crop the span FlowSep regenerated out of the 16 kHz AudioSep estimate.

    Parameters
    ----------
    audiosep_16k : torch.Tensor
        AudioSep estimate resampled to 16 kHz, shape ``(samples16,)``.
    flowsep : torch.Tensor
        FlowSep estimate of the span, shape ``(span_samples,)`` at 16 kHz.
    start : int
        Offset of the span in ``audiosep_16k`` (16 kHz samples), ``>= 0``.
    length : int, optional
        Span length in 16 kHz samples; defaults to ``len(flowsep)``.

    Returns
    -------
    tuple
        ``(a_seg, f_seg, start, length)``: AudioSep's span, FlowSep cropped to the same length
        (not yet RMS matched), and the span actually used. Where FlowSep ran on a padded input
        and its span reaches past the end of the clip, the span is cut at the end of the clip
        (the authors pad AudioSep with zeros instead, which lengthens the output).
    """
    start = int(start)
    length = int(flowsep.shape[-1] if length is None else length)
    if start < 0 or length < 0:
        raise ConfigError(
            f"FlowSep span must have start >= 0 and length >= 0, got {start}, {length}"
        )
    total = int(audiosep_16k.shape[-1])
    start = min(start, total)
    length = max(0, min(length, int(flowsep.shape[-1]), total - start))
    return audiosep_16k[start : start + length], flowsep[:length], start, length


def fuse_segments(
    a_seg: torch.Tensor,
    f_seg: torch.Tensor,
    rule: str = "rate",
    *,
    rate: float = 0.3,
    cutoff_hz: float = 4000.0,
    sample_rate: int = 16000,
    n_fft: int = 1024,
    hop_length: int = 256,
) -> torch.Tensor:
    """Fuse two aligned segments in the STFT domain with AudioSep's phase.

    Both are transformed with a periodic Hann window, ``center=True`` and zero padding (librosa's
    defaults), combined as ``w |A| + (1 - w) |F|`` (``w`` from :func:`fusion_weights`) with the
    phase of ``A``, and transformed back.

    Parameters
    ----------
    a_seg, f_seg : torch.Tensor
        AudioSep and (RMS-matched) FlowSep segments, shape ``(samples,)`` each, same length.
    rule, rate, cutoff_hz
        See :func:`fusion_weights`.
    sample_rate : int
        Sample rate of both segments in Hz.
    n_fft, hop_length : int
        STFT size and hop in samples.

    Returns
    -------
    torch.Tensor
        Fused segment, shape ``(samples,)``, dtype of ``a_seg``.
    """
    if a_seg.shape != f_seg.shape or a_seg.dim() != 1:
        raise ValueError(
            f"segments must be 1-D and equal in shape, got {a_seg.shape}, {f_seg.shape}"
        )
    if hop_length <= 0 or n_fft <= 0 or hop_length > n_fft:
        raise ConfigError(f"need 0 < hop_length <= n_fft, got n_fft={n_fft}, hop={hop_length}")
    n = a_seg.shape[-1]
    if n == 0:
        return a_seg.clone()
    # torch.stft needs the padded input to hold one frame; pad short segments with zeros.
    work = max(n, n_fft // 2 + 1)
    a = torch.nn.functional.pad(a_seg.double(), (0, work - n))
    f = torch.nn.functional.pad(f_seg.double().to(a.device), (0, work - n))
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64, device=a.device)
    kwargs = dict(n_fft=n_fft, hop_length=hop_length, window=window, center=True)
    spec_a = torch.stft(a, pad_mode="constant", return_complex=True, **kwargs)
    spec_f = torch.stft(f, pad_mode="constant", return_complex=True, **kwargs)
    w = fusion_weights(
        rule,
        spec_a.shape[0],
        sample_rate,
        rate=rate,
        cutoff_hz=cutoff_hz,
        device=a.device,
        dtype=torch.float64,
    )[:, None]
    magnitude = w * spec_a.abs() + (1.0 - w) * spec_f.abs()
    phase = torch.polar(torch.ones_like(magnitude), spec_a.angle())
    fused = torch.istft(magnitude * phase, length=work, **kwargs)
    return fused[:n].to(a_seg.dtype)


def overlap_add_span(
    base: torch.Tensor, segment: torch.Tensor, start: int, fade: int = 0
) -> torch.Tensor:
    """Paste ``segment`` into ``base`` at ``start`` with cross-faded borders.

    ``out = base`` outside the span and ``out = (1 - w) base + w segment`` inside, with ``w``
    from :func:`eventsep.core.dsp.crossfade_window` (no ramp at a border that is the clip's edge).

    Parameters
    ----------
    base : torch.Tensor
        Full-length signal, shape ``(samples,)``.
    segment : torch.Tensor
        Replacement, shape ``(span,)`` with ``start + span <= samples``.
    start : int
        Offset of the span in samples.
    fade : int
        Ramp length in samples (clipped to half the span; 0 = hard paste, the authors' behaviour).

    Returns
    -------
    torch.Tensor
        New tensor, shape and dtype of ``base``.
    """
    start = int(start)
    span = int(segment.shape[-1])
    if start < 0 or start + span > base.shape[-1]:
        raise ValueError(f"span [{start}, {start + span}) outside signal of {base.shape[-1]}")
    out = base.clone()
    if span == 0:
        return out
    fade = max(0, min(int(fade), span // 2))
    w = crossfade_window(
        span,
        fade if start > 0 else 0,
        fade if start + span < base.shape[-1] else 0,
        device=base.device,
        dtype=torch.float64,
    )
    old = base[start : start + span].double()
    out[start : start + span] = (old + w * (segment.double().to(base.device) - old)).to(base.dtype)
    return out


def _resample(x: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    return resample(x, orig_sr, new_sr)


def fuse(
    audiosep: torch.Tensor,
    flowsep: torch.Tensor,
    start: int,
    length: int | None = None,
    config: FusionConfig | None = None,
    *,
    audiosep_rate: int = 32000,
    flowsep_rate: int = 16000,
) -> torch.Tensor:
    """Fuse a full-length AudioSep estimate with FlowSep's span; EventSep's last stage.

    Parameters
    ----------
    audiosep : torch.Tensor
        AudioSep estimate, shape ``(samples32,)`` at ``audiosep_rate`` (32 kHz).
    flowsep : torch.Tensor
        FlowSep estimate of its span, shape ``(span16,)`` at ``flowsep_rate`` (16 kHz).
    start : int
        Start of the span in ``flowsep_rate`` samples of the (resampled) input.
    length : int, optional
        Span length in ``flowsep_rate`` samples; defaults to ``len(flowsep)``.
    config : FusionConfig, optional
        Rule and parameters (default ``FusionConfig()``). The STFT runs at ``flowsep_rate``;
        ``config.crossfade`` is in ``flowsep_rate`` samples; ``config.bandlimit_8k=False`` keeps
        AudioSep's content above ``flowsep_rate / 2`` (only the band FlowSep covers changes),
        ``True`` returns ``flowsep_rate`` content resampled up, as the authors' code does;
        ``config.clip`` clips the output to [-1, 1].
    audiosep_rate, flowsep_rate : int
        Sample rates in Hz.

    Returns
    -------
    torch.Tensor
        Fused estimate, shape ``(samples32,)`` at ``audiosep_rate``, same length as ``audiosep``.
    """
    if audiosep.dim() != 1 or flowsep.dim() != 1:
        raise ValueError(
            f"fuse expects 1-D waveforms, got {tuple(audiosep.shape)} and {tuple(flowsep.shape)}"
        )
    c = FusionConfig() if config is None else config
    n32 = audiosep.shape[-1]
    a16 = _resample(audiosep, audiosep_rate, flowsep_rate)
    a_seg, f_seg, start, length = align_span(a16, flowsep.to(a16.device), start, length)
    f_seg = match_rms(f_seg, a_seg)
    fused = fuse_segments(
        a_seg,
        f_seg,
        c.rule,
        rate=c.rate,
        cutoff_hz=c.cutoff_hz,
        sample_rate=flowsep_rate,
        n_fft=c.n_fft,
        hop_length=c.hop_length,
    )
    if c.bandlimit_8k:
        out16 = overlap_add_span(a16, fused, start, c.crossfade)
        out = fit_length(_resample(out16, flowsep_rate, audiosep_rate), n32)
    else:
        delta = overlap_add_span(torch.zeros_like(a16), fused - a_seg, start, c.crossfade)
        out = audiosep + fit_length(_resample(delta, flowsep_rate, audiosep_rate), n32)
    if c.clip:
        out = out.clamp(-1.0, 1.0)
    return out.to(audiosep.dtype)


class STFTFusion:
    """The fuser component of :class:`eventsep.EventSep`: :func:`fuse` with a fixed config.

    Parameters
    ----------
    config : FusionConfig, optional
        Fusion parameters; defaults to ``FusionConfig()``.
    """

    def __init__(self, config: FusionConfig | None = None) -> None:
        self.config = config or FusionConfig()

    def __call__(
        self,
        audiosep: torch.Tensor,
        flowsep: torch.Tensor,
        start: int,
        length: int | None = None,
        *,
        config: FusionConfig | None = None,
    ) -> torch.Tensor:
        """Fuse with :func:`fuse`; ``config`` replaces ``self.config`` for this call only."""
        return fuse(audiosep, flowsep, start, length, self.config if config is None else config)

    def __repr__(self) -> str:
        # the pipeline passes each call's config.fusion, so the fallback config is named only
        # when it is not the default (results folders record this text)
        return "STFTFusion()" if self.config == FusionConfig() else f"STFTFusion({self.config!r})"
