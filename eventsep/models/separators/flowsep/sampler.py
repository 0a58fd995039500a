"""FlowSep's sampler: rectified-flow Euler steps from noise to a segment, segments in batches.

Sampling (reference ``solve_euler``): x ~ N(0, I) at t = 0, N Euler steps over
``linspace(0, 1, N + 1)``, velocity = UNet([x, mixture latent], t, T5 states)[:, :8]; no
guidance. Noise comes from a ``torch.Generator`` per clip, drawn on the CPU (so a seed gives the
same noise on every device) instead of the reference's global RNG.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from eventsep.core.errors import ConfigError
from eventsep.models.separators.flowsep.model import FlowSepModel

__all__ = ["SegmentNoise", "draw_noise", "euler_sample", "make_generator", "regenerate"]

LatentMode = Literal["sample", "mean"]


def euler_sample(
    velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor, steps: int
) -> torch.Tensor:
    """Rectified-flow Euler integration from t = 0 (noise) to t = 1 (data).

    Follows the reference's accumulation exactly: ``t`` starts at 0 and is advanced by ``dt``,
    and each later ``dt`` is ``t_span[k + 1] - t``, in float32.

    Parameters
    ----------
    velocity
        Callable ``(x, t) -> v`` with ``t`` a 0-d float32 tensor on ``x.device``.
    x
        Initial noise (batch, channels, time, freq).
    steps
        Number of Euler steps N >= 1.
    """
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    t_span = torch.linspace(0, 1, steps + 1, device=x.device)
    t = t_span[0]
    dt = t_span[1] - t_span[0]
    for step in range(1, steps + 1):
        x = x + dt * velocity(x, t)
        t = t + dt
        if step < steps:
            dt = t_span[step + 1] - t
    return x


def make_generator(seed: int | None) -> torch.Generator:
    """A CPU generator seeded with ``seed``; ``None``: fresh entropy (unseeded draws)."""
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen


@dataclass(frozen=True, eq=False)
class SegmentNoise:
    """The random draws of one segment: ``latent`` (posterior-sample noise, None for
    ``latent="mean"``) and ``initial`` (the sampler's x at t = 0), each ``(1, C, T, F)``."""

    latent: torch.Tensor | None
    initial: torch.Tensor


def draw_noise(
    generator: torch.Generator, shape: Sequence[int], latent: LatentMode
) -> SegmentNoise:
    """One segment's draws from ``generator``, in the reference's order: the mixture-latent
    noise (``latent="sample"`` only), then the initial noise; float32 on the CPU.

    A segment the gate skips still makes its draws, so the later segments of the clip keep the
    noise they have without gating.
    """
    lat = None
    if latent == "sample":
        lat = torch.randn(tuple(shape), generator=generator, dtype=torch.float32)
    return SegmentNoise(lat, torch.randn(tuple(shape), generator=generator, dtype=torch.float32))


@torch.no_grad()
def regenerate(
    model: FlowSepModel,
    pieces: torch.Tensor,
    prompts: Sequence[str],
    noise: Sequence[SegmentNoise],
    *,
    steps: int,
    latent: LatentMode,
    max_segments: int | None = None,
) -> torch.Tensor:
    """Regenerate preprocessed segments: ``(S, segment_samples)`` -> ``(S, segment_samples)``.

    Segment ``k`` is separated with ``prompts[k]`` and the draws ``noise[k]``
    (:func:`draw_noise`). The prompts are encoded once each; the segments go through the mel
    front end, the VAE encoder, the Euler steps of the UNet, the VAE decoder and the vocoder
    ``max_segments`` at a time (default: all at once). With ``max_segments=1`` every model call
    sees one segment, as the reference runs them.
    """
    total = pieces.shape[0]
    group = total if max_segments is None else max(1, int(max_segments))
    unique = list(dict.fromkeys(prompts))
    hidden_u, mask_u = model.encode_text(unique)
    rows = torch.tensor([unique.index(p) for p in prompts], device=hidden_u.device)
    hidden, mask = hidden_u[rows], mask_u[rows]
    outs = []
    for g in range(0, total, group):
        sl = slice(g, g + group)
        part = noise[sl]
        lat_noise = None if latent == "mean" else torch.cat([n.latent for n in part])
        logmel = model.mel(pieces[sl].to(model.device))
        mix = model.encode_latent(logmel, latent, noise=lat_noise)
        x0 = torch.cat([n.initial for n in part]).to(mix)
        h, a = hidden[sl], mask[sl]
        z = euler_sample(lambda x, t, m=mix, h=h, a=a: model.velocity(x, m, t, h, a), x0, steps)
        outs.append(model.vocode(model.decode_latent(z)))
    return torch.cat(outs)
