"""Negative prompts: keep a sound out of the estimate. Pure functions on tensors.

``pipe(waveform, sr, "dog barking", exclude=["speech"])`` (``--exclude speech`` on the command
line) removes the excluded sounds in two places.

1. In time, where the time mask is applied. With ``p_T(t)`` the SED probability of the target's
   class set and ``p_E(t)`` that of the excluded classes (the frame-wise maximum over every
   excluded prompt's set), both turned into soft activities at the mask threshold ``tau``,

   .. math::

       c(t) = \\min(p_T(t) / \\tau, 1), \\qquad e(t) = \\min(p_E(t) / \\tau, 1),

   the frame mask ``m(t)`` becomes

   .. math::

       m'(t) = m(t) \\, \\bigl(1 - \\gamma \\, e(t) \\, (1 - c(t))\\bigr),

   with strength ``gamma`` in [0, 1] (:data:`STRENGTH`, 1). A frame where only the excluded
   sound is active is silenced (``gamma = 1``); a frame where the target is active too
   (``c = 1``) is kept, since cutting it would cut the target.

2. In the estimate. The separator extracts each excluded prompt ``k`` from the same masked input
   as the target, giving ``x_k``; their sum's STFT ``X`` is taken off the target estimate's STFT
   ``S`` by magnitude subtraction with the estimate's phase:

   .. math::

       Y(f, n) = S(f, n) \\,
                 \\max\\Bigl(0,\\ 1 - \\beta \\frac{|X(f, n)|}{|S(f, n)| + \\epsilon}\\Bigr),

   and the estimate is the inverse STFT of ``Y`` (Hann window, :data:`N_FFT` 1024,
   :data:`HOP` 256 samples, ``beta`` = :data:`STRENGTH`). Where the excluded sound dominates a
   time-frequency bin the bin is removed; where the target dominates it is kept almost whole,
   and a bin is never made louder (the gain lies in [0, 1]).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from eventsep.core.errors import ConfigError

__all__ = ["HOP", "N_FFT", "STRENGTH", "exclusion_gate", "subtract_excluded"]

#: default strength ``gamma`` (time mask) and ``beta`` (spectral subtraction)
STRENGTH = 1.0
#: STFT size of the spectral subtraction, in samples (32 ms at 32 kHz)
N_FFT = 1024
#: STFT hop of the spectral subtraction, in samples
HOP = 256
_EPS = 1e-8


def _check_strength(strength: float) -> float:
    if not 0.0 <= float(strength) <= 1.0:
        raise ConfigError(f"exclusion strength must lie in [0, 1], got {strength}")
    return float(strength)


def exclusion_gate(
    target_probs: torch.Tensor,
    excluded_probs: torch.Tensor,
    threshold: float,
    strength: float = STRENGTH,
) -> torch.Tensor:
    """Factor ``1 - gamma e(t) (1 - c(t))`` that multiplies the frame mask (module docstring).

    Parameters
    ----------
    target_probs : torch.Tensor
        ``(frames,)`` SED probability of the target's class set, in [0, 1].
    excluded_probs : torch.Tensor
        ``(frames,)`` SED probability of the excluded classes, in [0, 1].
    threshold : float
        ``tau`` in (0, 1], the time mask's threshold.
    strength : float
        ``gamma`` in [0, 1]; 0 leaves the mask as it is.

    Returns
    -------
    torch.Tensor
        ``(frames,)`` factor in [0, 1].
    """
    if not 0.0 < float(threshold) <= 1.0:
        raise ConfigError(f"threshold must lie in (0, 1], got {threshold}")
    if target_probs.shape != excluded_probs.shape:
        raise ConfigError(
            f"target and excluded probabilities differ in shape: {tuple(target_probs.shape)} "
            f"vs {tuple(excluded_probs.shape)}"
        )
    gamma = _check_strength(strength)
    c = (target_probs / threshold).clamp(0.0, 1.0)
    e = (excluded_probs / threshold).clamp(0.0, 1.0)
    return 1.0 - gamma * e * (1.0 - c)


def subtract_excluded(
    estimate: torch.Tensor,
    excluded: Sequence[torch.Tensor],
    strength: float = STRENGTH,
    n_fft: int = N_FFT,
    hop_length: int = HOP,
) -> torch.Tensor:
    """The estimate with what the separator extracted for the excluded prompts taken off.

    Parameters
    ----------
    estimate : torch.Tensor
        ``(samples,)`` target estimate.
    excluded : sequence of torch.Tensor
        ``(samples,)`` each: the separator's estimate of each excluded prompt from the same input,
        at the same rate.
    strength : float
        ``beta`` in [0, 1]; 0 returns ``estimate`` unchanged.
    n_fft, hop_length : int
        STFT size and hop, in samples.

    Returns
    -------
    torch.Tensor
        ``(samples,)``, the estimate's dtype and device.
    """
    beta = _check_strength(strength)
    if not excluded or beta == 0.0:
        return estimate
    n = estimate.shape[-1]
    for x in excluded:
        if x.shape != estimate.shape:
            raise ConfigError(
                f"excluded estimate has shape {tuple(x.shape)}, the target {tuple(estimate.shape)}"
            )
    if n == 0:
        return estimate
    n_fft = min(int(n_fft), max(2, n))
    hop = max(1, min(int(hop_length), n_fft // 4))
    window = torch.hann_window(n_fft, device=estimate.device, dtype=torch.float64)

    def stft(x: torch.Tensor) -> torch.Tensor:
        return torch.stft(x.double(), n_fft, hop, window=window, center=True, return_complex=True)

    spec = stft(estimate)
    other = stft(torch.stack(list(excluded)).sum(dim=0)).abs()
    gain = (1.0 - beta * other / (spec.abs() + _EPS)).clamp(0.0, 1.0)
    out = torch.istft(spec * gain, n_fft, hop, window=window, center=True, length=n)
    return out.to(estimate.dtype)
