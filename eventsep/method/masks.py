"""Time masks from frame probabilities (stage 3 of EventSep). Pure functions on tensors.

A mask has one value in [0, 1] per detector frame (frames in the last dimension) and is
interpolated to the audio's sample rate before it multiplies the waveform.

Kinds (``make_mask(kind=...)``), with ``p`` the target class's probability and ``tau`` the
threshold:

``"hard"``
    ``1[p >= tau]`` (paper).
``"soft"``
    ``min(p / tau, 1)`` (paper; tau = 0.55 is the best setting of its Table 2).
``"soft-rel"``
    min-max normalised ``(p - min p) / (max p - min p)``; all ones when p is constant.
``"soft-gauss"``
    ``"soft-rel"`` smoothed with a Gaussian of ``sigma`` frames (5 in the authors' code, where it
    is called ``soft-fade``; that name is accepted too), clipped to [0, 1].
``"soft-fade-th"``
    Thresholded fade (authors' code): frames with ``p > tau`` pass (1); below, ``min(p, tau)`` is
    min-max normalised over ``[min p, tau]`` and Gaussian-smoothed, so quiet stretches fade in and
    out instead of being cut.
``"none"``
    All ones (no time masking).

Gaussian smoothing matches ``scipy.ndimage.gaussian_filter1d`` (truncate 4, ``mode="reflect"``,
i.e. half-sample symmetric extension).

Differences from the authors' code: the mask is applied to probabilities taken once through the
sigmoid (theirs took it twice); and :func:`frames_to_samples` puts frame ``i`` at its true time
``i / frames_per_second`` seconds, whereas theirs stretched the frame vector over the clip
(``np.linspace(0, 1, frames)``), a drift of up to one hop (10 ms) at the end. The ``authors``
protocol's masker stage (:class:`eventsep.paper.authors.AuthorsMasker`) computes both their way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from eventsep.core.errors import ConfigError

__all__ = [
    "EMPTY_MASK_POLICIES",
    "MASK_KINDS",
    "DEFAULT_THRESHOLD",
    "DEFAULT_SIGMA",
    "hard_mask",
    "soft_mask",
    "relative_mask",
    "gaussian_smooth",
    "gaussian_mask",
    "fade_threshold_mask",
    "make_mask",
    "combine_classes",
    "frames_to_samples",
    "check_frame_mask",
    "resolve_empty",
]

MASK_KINDS = ("none", "hard", "soft", "soft-rel", "soft-gauss", "soft-fade-th")
#: What to do when a mask is (numerically) all zero: "restore" (mask of ones, target marked
#: absent, the paper's behaviour), "silence" (the estimate is silent, separators not run) or
#: "keep" (no fallback: the mask is used as it is, as the authors' benchmark code does,
#: docs/protocols.md; the target is still reported absent).
EMPTY_MASK_POLICIES: tuple[str, ...] = ("restore", "silence", "keep")
_ALIASES = {"soft-fade": "soft-gauss"}
DEFAULT_THRESHOLD = 0.55
DEFAULT_SIGMA = 5.0
_FLAT = 1e-12  # max - min below this counts as a constant curve


def _check_tau(threshold: float) -> float:
    tau = float(threshold)
    if not (0.0 < tau <= 1.0) or math.isnan(tau):
        raise ConfigError(f"mask threshold must be in (0, 1], got {threshold}")
    return tau


def hard_mask(probs: torch.Tensor, threshold: float = DEFAULT_THRESHOLD) -> torch.Tensor:
    """``1[p >= threshold]`` as float, same shape as ``probs``."""
    return (probs >= _check_tau(threshold)).to(probs.dtype)


def soft_mask(probs: torch.Tensor, threshold: float = DEFAULT_THRESHOLD) -> torch.Tensor:
    """``min(p / threshold, 1)``, same shape as ``probs`` (p assumed in [0, 1])."""
    return torch.clamp(probs / _check_tau(threshold), 0.0, 1.0)


def relative_mask(probs: torch.Tensor) -> torch.Tensor:
    """Min-max normalise along the last (frame) dimension; constant rows become all ones."""
    lo = probs.amin(dim=-1, keepdim=True)
    hi = probs.amax(dim=-1, keepdim=True)
    span = hi - lo
    flat = span < _FLAT
    out = (probs - lo) / torch.where(flat, torch.ones_like(span), span)
    return torch.where(flat, torch.ones_like(out), out)


def gaussian_smooth(x: torch.Tensor, sigma: float = DEFAULT_SIGMA) -> torch.Tensor:
    """Gaussian smoothing along the last dimension, like ``scipy.ndimage.gaussian_filter1d``.

    Parameters
    ----------
    x : torch.Tensor
        ``(..., frames)``.
    sigma : float
        Standard deviation in frames (0 returns ``x`` unchanged).

    Returns
    -------
    torch.Tensor
        Same shape; kernel radius ``int(4 * sigma + 0.5)``, half-sample symmetric edges.
    """
    if sigma < 0 or math.isnan(sigma):
        raise ConfigError(f"sigma must be >= 0 frames, got {sigma}")
    radius = int(4.0 * float(sigma) + 0.5)
    if sigma == 0 or radius == 0:
        return x.clone()
    n = x.shape[-1]
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(x.dtype)
    # half-sample symmetric extension (d c b a | a b c d | d c b a), repeated if radius > n
    idx = torch.arange(-radius, n + radius) % (2 * n)
    idx = torch.where(idx >= n, 2 * n - 1 - idx, idx)
    padded = x[..., idx]
    flat = padded.reshape(-1, 1, padded.shape[-1])
    out = torch.nn.functional.conv1d(flat, kernel.flip(0).view(1, 1, -1))
    return out.reshape(x.shape)


def gaussian_mask(probs: torch.Tensor, sigma: float = DEFAULT_SIGMA) -> torch.Tensor:
    """``"soft-gauss"``: min-max normalise, Gaussian-smooth (``sigma`` frames), clip to [0, 1]."""
    return torch.clamp(gaussian_smooth(relative_mask(probs), sigma), 0.0, 1.0)


def fade_threshold_mask(
    probs: torch.Tensor, threshold: float = DEFAULT_THRESHOLD, sigma: float = DEFAULT_SIGMA
) -> torch.Tensor:
    """``"soft-fade-th"``: pass frames above ``threshold``, fade the rest.

    ``q = min(p, tau)`` is normalised to ``(q - min q) / (tau - min q)`` (all ones when
    ``tau - min q`` is ~0), Gaussian-smoothed with ``sigma`` frames, then frames with ``p > tau``
    are set to 1 and the result clipped to [0, 1].
    """
    tau = _check_tau(threshold)
    low = torch.clamp(probs, max=tau)
    lo = low.amin(dim=-1, keepdim=True)
    span = tau - lo
    flat = span < _FLAT
    rel = (low - lo) / torch.where(flat, torch.ones_like(span), span)
    rel = torch.where(flat, torch.ones_like(rel), rel)
    smooth = gaussian_smooth(rel, sigma)
    out = torch.where(probs > tau, torch.ones_like(smooth), smooth)
    return torch.clamp(out, 0.0, 1.0)


def make_mask(
    probs: torch.Tensor,
    kind: str = "soft",
    threshold: float = DEFAULT_THRESHOLD,
    sigma: float = DEFAULT_SIGMA,
) -> torch.Tensor:
    """Time mask of a probability curve.

    Parameters
    ----------
    probs : torch.Tensor
        ``(..., frames)`` probabilities in [0, 1] (one class, or classes already combined with
        :func:`combine_classes`).
    kind : str
        One of :data:`MASK_KINDS` (``"soft-fade"`` is accepted as the authors' name of
        ``"soft-gauss"``).
    threshold : float
        ``tau`` in (0, 1] for ``"hard"``, ``"soft"`` and ``"soft-fade-th"``.
    sigma : float
        Gaussian width in frames for ``"soft-gauss"`` and ``"soft-fade-th"``.

    Returns
    -------
    torch.Tensor
        Mask of the same shape, values in [0, 1].
    """
    name = _ALIASES.get(kind, kind)
    p = torch.as_tensor(probs)
    if not torch.is_floating_point(p):
        p = p.float()
    if p.dim() == 0 or p.shape[-1] == 0:
        raise ConfigError(f"need at least one frame of probabilities, got shape {tuple(p.shape)}")
    if name == "none":
        return torch.ones_like(p)
    if name == "hard":
        return hard_mask(p, threshold)
    if name == "soft":
        return soft_mask(p, threshold)
    if name == "soft-rel":
        return relative_mask(p)
    if name == "soft-gauss":
        return gaussian_mask(p, sigma)
    if name == "soft-fade-th":
        return fade_threshold_mask(p, threshold, sigma)
    raise ConfigError(f"unknown mask kind {kind!r}; choose one of {', '.join(MASK_KINDS)}")


def combine_classes(probs: torch.Tensor, indices: Sequence[int], how: str = "max") -> torch.Tensor:
    """Probability curve of a set of classes.

    Parameters
    ----------
    probs : torch.Tensor
        ``(..., frames, classes)`` detector output.
    indices : sequence of int
        Class indices (e.g. ``LabelMatch.indices``); one index gives that class's curve.
    how : {"max", "mean"}
        Frame-wise maximum (default: the target is active when any related class is) or mean.

    Returns
    -------
    torch.Tensor
        ``(..., frames)``.
    """
    if len(indices) == 0:
        raise ConfigError("combine_classes needs at least one class index")
    sel = probs[..., list(indices)]
    if how == "max":
        return sel.amax(dim=-1)
    if how == "mean":
        return sel.mean(dim=-1)
    raise ConfigError(f"unknown reduction {how!r}; use 'max' or 'mean'")


def frames_to_samples(
    mask: torch.Tensor,
    num_samples: int,
    sample_rate: int,
    frames_per_second: float = 100.0,
) -> torch.Tensor:
    """Linear interpolation of a frame mask to one value per sample.

    Frame ``i`` sits at ``i / frames_per_second`` seconds and sample ``n`` at
    ``n / sample_rate`` seconds; samples past the last frame keep its value.

    Parameters
    ----------
    mask : torch.Tensor
        ``(..., frames)``.
    num_samples : int
        Output length in samples.
    sample_rate : int
        Sample rate of the audio the mask will multiply, in Hz.
    frames_per_second : float
        Frame rate of ``mask`` (100 for Cnn14).

    Returns
    -------
    torch.Tensor
        ``(..., num_samples)``, same dtype as ``mask``.
    """
    if num_samples < 0:
        raise ConfigError(f"num_samples must be >= 0, got {num_samples}")
    if sample_rate <= 0 or frames_per_second <= 0:
        raise ConfigError("sample_rate and frames_per_second must be positive")
    m = check_frame_mask(mask)
    frames = m.shape[-1]
    pos = torch.arange(num_samples, dtype=torch.float64) * (frames_per_second / sample_rate)
    pos = pos.clamp(max=frames - 1)
    left = pos.floor().long().clamp(max=frames - 1)
    right = (left + 1).clamp(max=frames - 1)
    frac = (pos - left.double()).to(m.dtype).to(m.device)
    left, right = left.to(m.device), right.to(m.device)
    return m[..., left] * (1 - frac) + m[..., right] * frac


def check_frame_mask(mask: torch.Tensor) -> torch.Tensor:
    """``mask`` as a floating tensor ``(..., frames)`` with at least one frame, for spreading
    over samples (integer and boolean masks become float32).

    Raises
    ------
    ConfigError
        ``mask`` has no frame.
    """
    m = torch.as_tensor(mask)
    if not torch.is_floating_point(m):
        m = m.float()
    if m.shape[-1] == 0:
        raise ConfigError("cannot interpolate an empty mask")
    return m


def resolve_empty(
    mask: torch.Tensor, policy: str = "restore", eps: float = 1e-6
) -> tuple[torch.Tensor, bool | torch.Tensor]:
    """Apply the empty-mask policy.

    A mask whose sum over the last dimension is below ``eps`` means the detector found no
    frame of the target.

    Parameters
    ----------
    mask : torch.Tensor
        ``(..., frames)`` or ``(..., samples)`` mask.
    policy : {"restore", "silence", "keep"}
        ``"restore"`` replaces an empty mask with all ones (paper: the whole clip goes to the
        separators); ``"silence"`` sets it to exactly zero (the output is silence); ``"keep"``
        returns it unchanged (the authors' code has no fallback).
    eps : float
        Threshold on the sum (1e-6 as in the authors' code).

    Returns
    -------
    (torch.Tensor, bool or torch.Tensor)
        The mask to use and ``target_present`` (a bool for 1-D input, a bool tensor of shape
        ``mask.shape[:-1]`` otherwise).
    """
    if policy not in EMPTY_MASK_POLICIES:
        raise ConfigError(
            f"unknown empty-mask policy {policy!r}; use one of {', '.join(EMPTY_MASK_POLICIES)}"
        )
    present = mask.sum(dim=-1) >= eps
    if policy == "keep":
        return mask, bool(present.item()) if mask.dim() == 1 else present
    fill = torch.ones_like(mask) if policy == "restore" else torch.zeros_like(mask)
    out = torch.where(present[..., None], mask, fill)
    if mask.dim() == 1:
        return out, bool(present.item())
    return out, present
