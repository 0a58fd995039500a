"""FlowSep (Yuan et al., arXiv 2409.07614) as a separator: clips in, 16 kHz estimates out.

:class:`FlowSepSeparator` is :class:`~eventsep.models.separators.flowsep.model.FlowSepModel`
with the separator's entry points. One code path serves one clip and a batch: :meth:`extract`,
:meth:`separate` and :meth:`extract_batch` all run :meth:`FlowSepSeparator._run`, which

1. plans each clip's segments (:func:`~eventsep.models.separators.flowsep.segments.
   plan_segments`: the random, active or full spans, normalised, gated);
2. draws each segment's noise from its clip's generator, in the order the reference draws it
   (:func:`~eventsep.models.separators.flowsep.sampler.draw_noise`);
3. regenerates the segments the gate keeps (:func:`~eventsep.models.separators.flowsep.sampler.
   regenerate`), ``max_segments`` per model call;
4. joins each clip's outputs (:func:`~eventsep.models.separators.flowsep.segments.assemble`).

A single call runs its segments one per model call (as the reference does), a batch all at once
unless ``max_segments`` says otherwise. Differences from the reference: noise from a per-call
``torch.Generator`` drawn on the CPU instead of the global RNG; the mixture latent is
``posterior.sample()`` by default like the reference (``latent="mean"``: the posterior mean).

What happens to the audio around the model (the 16 kHz input, the output level) is the
:class:`~eventsep.models.separators.flowsep.io.FlowSepIO` adapter's, the one protocol hook.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import torch

from eventsep.core.audio import resample
from eventsep.core.errors import AudioError, ConfigError, EmptyAudioError, NonFiniteAudioError
from eventsep.core.precision import autocast_context
from eventsep.core.seeding import seeded_init_
from eventsep.models.separators.base import Separation
from eventsep.models.separators.flowsep.config import FlowSepConfig, tiny_config
from eventsep.models.separators.flowsep.io import DEFAULT_IO, FlowSepIO
from eventsep.models.separators.flowsep.loading import load_weights, read_text_encoder
from eventsep.models.separators.flowsep.model import RANDOM_INIT, FlowSepModel
from eventsep.models.separators.flowsep.sampler import draw_noise, make_generator, regenerate
from eventsep.models.separators.flowsep.segments import (
    FlowSepOutput,
    SegmentGate,
    SegmentMode,
    assemble,
    plan_segments,
)
from eventsep.models.tiny import tiny_tokenizer

__all__ = ["FlowSepSeparator"]

Seeds = int | None | Sequence[int | None]


class FlowSepSeparator(FlowSepModel):
    """FlowSep language-queried separator (16 kHz, 10.24 s segments).

    Use :meth:`from_pretrained` (converted weights), :meth:`tiny_random` (small random model for
    tests) or :meth:`from_config` (random weights of any size).
    """

    # ------------------------------------------------------------ builders
    @classmethod
    def from_config(
        cls, config: FlowSepConfig, tokenizer: Any = None, seed: int = 0
    ) -> FlowSepSeparator:
        """Build with deterministic random weights (:data:`~eventsep.models.separators.flowsep.
        model.RANDOM_INIT`); the tiny T5 tokenizer when ``tokenizer`` is None."""
        model = cls(config, tiny_tokenizer("t5") if tokenizer is None else tokenizer)
        seeded_init_(model, seed, RANDOM_INIT)
        return model

    @classmethod
    def tiny_random(cls, seed: int = 0) -> FlowSepSeparator:
        """Small random separator (tiny T5 tokenizer, 1.28 s segments); no download."""
        tok = tiny_tokenizer("t5")
        return cls.from_config(tiny_config(vocab_size=len(tok)), tok, seed=seed)

    @classmethod
    def from_pretrained(
        cls,
        weights: str | os.PathLike[str],
        text_encoder: str | os.PathLike[str],
        *,
        device: str | torch.device | None = None,
    ) -> FlowSepSeparator:
        """Load the released FlowSep v2 from its converted file.

        Parameters
        ----------
        weights
            The converted safetensors file (:func:`~eventsep.models.separators.flowsep.loading.
            convert_flowsep`).
        text_encoder
            The flan-t5 folder (tokenizer and ``config.json``).
        device
            Where to move the model (default: stay on the CPU).

        Raises
        ------
        WeightsNotFoundError
            When ``weights`` is not a file.
        """
        tokenizer, t5 = read_text_encoder(text_encoder)
        model = cls(FlowSepConfig(t5=t5), tokenizer)
        load_weights(model, weights)
        if device is not None:
            model.to(device)
        return model

    # ------------------------------------------------------------ public API
    @torch.no_grad()
    def separate(
        self,
        waveform: torch.Tensor,
        sample_rate: int,
        prompt: str,
        segment: SegmentMode = "random",
        seed: int | None = 0,
        steps: int = 20,
        *,
        latent: Literal["sample", "mean"] = "sample",
        overlap_seconds: float = 1.28,
        activity: torch.Tensor | None = None,
        gate_floor: float = 0.0,
        autocast: str | None = None,
    ) -> FlowSepOutput:
        """Regenerate the part of ``waveform`` described by ``prompt`` (checked input).

        Parameters
        ----------
        waveform
            (samples,) or (1, samples) mono audio at ``sample_rate``; resampled to 16 kHz.
        prompt
            Text query.
        segment
            ``"random"`` (the paper): one 10.24 s segment from a start drawn uniformly with
            ``seed``; ``"full"``: overlapping 10.24 s segments (``overlap_seconds`` overlap,
            raised-cosine cross-fades) covering the whole input; ``"active"``: the 10.24 s
            segment holding the most of ``activity`` (the time mask; default ``|waveform|``).
            Inputs shorter than a segment are zero-padded at the end and the output cropped
            back.
        seed
            Seeds the start, the mixture-latent noise and the initial noise (CPU generator);
            ``None`` draws them unseeded (the authors' benchmark).
        steps
            Euler steps (reference inference: 20).
        latent
            Mixture latent: ``"sample"`` (reference) or ``"mean"`` (posterior mean).
        activity, gate_floor, autocast
            As in :meth:`extract` (``activity`` at ``sample_rate``, like ``waveform``).

        Notes
        -----
        Each segment is preprocessed as in the reference: mean removed, peak scaled to 0.5. In
        ``"random"`` mode the vocoder output is returned as the reference returns it, and
        ``gain`` is the factor that was applied to the input. In ``"full"`` mode every segment's
        output is divided by its own gain and multiplied by one global gain (0.5 / peak of the
        mean-removed input), so levels join up across segments; that global gain is returned.
        :meth:`extract` returns the same estimate divided by ``gain``, at the input's level.
        """
        x = self._prepare(waveform, sample_rate)
        if segment == "active" and activity is None:
            activity = torch.as_tensor(waveform).reshape(-1).float().abs()
        gate = SegmentGate.make(activity, gate_floor, sample_rate / self.sample_rate, sample_rate)
        (out,) = self._run(
            [x],
            [prompt],
            [seed],
            [gate],
            segment=segment,
            steps=steps,
            latent=latent,
            overlap_seconds=overlap_seconds,
            max_segments=1,
            autocast=autocast,
        )
        return out

    @torch.no_grad()
    def extract(
        self,
        waveform: torch.Tensor,
        sample_rate: int,
        prompt: str,
        *,
        segment: SegmentMode = "random",
        seed: int | None = 0,
        steps: int = 20,
        latent: Literal["sample", "mean"] = "sample",
        overlap_seconds: float = 1.28,
        io: FlowSepIO | None = None,
        activity: torch.Tensor | None = None,
        gate_floor: float = 0.0,
        autocast: str | None = None,
    ) -> Separation:
        """The :class:`~eventsep.models.separators.base.Separator` entry point (inputs not
        re-checked): :meth:`extract_batch` of one clip, one segment per model call.

        Undoes the reference's peak normalisation, so the estimate is at the input's level.

        Parameters
        ----------
        waveform
            ``(samples,)`` finite mono audio at ``sample_rate`` (any rate; resampled to 16 kHz).
        sample_rate
            Input rate in Hz.
        prompt, segment, seed, steps, latent, overlap_seconds
            As in :meth:`separate` (``seed=None``: unseeded).
        io : FlowSepIO, optional
            What is done to the 16 kHz input before the model and which divisor restores the
            output level (:mod:`eventsep.models.separators.flowsep.io`); default: the input
            untouched, the input's level restored.
        activity : Tensor, optional
            The time mask ``(samples,)`` of ``waveform`` in [0, 1]: picks the span of
            ``segment="active"`` and gates segments (``gate_floor``). ``segment="active"``
            without it uses the input's magnitude ``|waveform|``.
        gate_floor : float
            Event gating (:mod:`eventsep.core.gating`): segments where ``activity`` stays below it
            are not generated; 0 (default) generates every segment.
        autocast : {None, "bf16", "fp16"}
            Mixed precision of the text encoder, VAE, UNet and vocoder (mel and the sampler's
            sums stay float32).

        Returns
        -------
        Separation
            The regenerated span at 16 kHz on the input's device, ``start`` and ``length`` in
            16 kHz samples of the input (the whole input for ``segment="full"``).
        """
        (out,) = self.extract_batch(
            [waveform],
            sample_rate,
            [prompt],
            segment=segment,
            seed=[seed],
            steps=steps,
            latent=latent,
            overlap_seconds=overlap_seconds,
            max_segments=1,
            io=io,
            activity=[activity],
            gate_floor=gate_floor,
            autocast=autocast,
        )
        return out

    @torch.no_grad()
    def extract_batch(
        self,
        waveforms: Sequence[torch.Tensor],
        sample_rate: int,
        prompts: Sequence[str],
        *,
        segment: SegmentMode = "random",
        seed: Seeds = 0,
        steps: int = 20,
        latent: Literal["sample", "mean"] = "sample",
        overlap_seconds: float = 1.28,
        max_segments: int | None = None,
        io: FlowSepIO | None = None,
        activity: Sequence[torch.Tensor | None] | None = None,
        gate_floor: float = 0.0,
        autocast: str | None = None,
    ) -> list[Separation]:
        """:meth:`extract` of several clips at once: their segments share every model call.

        The segments of all clips go together through the mel front end, the VAE encoder, the
        Euler steps of the UNet, the VAE decoder and the vocoder. Randomness stays per clip:
        clip ``i`` has its own generator seeded with ``seed[i]``, which draws the span start,
        the mixture-latent noise and the initial noise of its segments in the order
        :meth:`extract` draws them, so each result equals :meth:`extract` of that clip with
        that seed up to float rounding (batched model calls).

        Parameters
        ----------
        waveforms : sequence of Tensor
            ``(samples_i,)`` finite mono audio at ``sample_rate`` (any rate; resampled).
        sample_rate : int
            Input rate in Hz.
        prompts : sequence of str
            One prompt per waveform.
        segment, steps, latent, overlap_seconds, io, gate_floor, autocast
            As in :meth:`extract`, for every clip.
        seed : int, None or sequence of them
            One seed for all clips, or one per clip (``None``: unseeded, as in :meth:`extract`).
        max_segments : int, optional
            Run at most this many segments through the models at once (bounds memory for
            long inputs with ``segment="full"``); default: all of them.
        activity : sequence of (Tensor or None), optional
            One time mask per clip, as in :meth:`extract` (default: none).

        Returns
        -------
        list of Separation
            One per waveform, as :meth:`extract` returns it.
        """
        n_items = len(waveforms)
        if len(prompts) != n_items:
            raise ConfigError(f"{len(prompts)} prompts for {n_items} waveforms")
        seeds = [seed] * n_items if seed is None or isinstance(seed, int) else list(seed)
        if len(seeds) != n_items:
            raise ConfigError(f"{len(seeds)} seeds for {n_items} waveforms")
        activities = [None] * n_items if activity is None else list(activity)
        if len(activities) != n_items:
            raise ConfigError(f"{len(activities)} activities for {n_items} waveforms")
        _check_options(segment, latent, steps)
        io = io or DEFAULT_IO
        inputs = [torch.as_tensor(w) for w in waveforms]
        xs, gates = [], []
        for x, act in zip(inputs, activities, strict=True):
            x16 = resample(x.reshape(-1).float(), sample_rate, self.sample_rate)
            xs.append(io.prepare(x16))
            if segment == "active" and act is None:
                act = x.reshape(-1).float().abs()
            scale = sample_rate / self.sample_rate
            gates.append(SegmentGate.make(act, gate_floor, scale, sample_rate))
        outs = self._run(
            xs,
            list(prompts),
            seeds,
            gates,
            segment=segment,
            steps=steps,
            latent=latent,
            overlap_seconds=overlap_seconds,
            max_segments=max_segments,
            autocast=autocast,
        )
        return [
            Separation(o.waveform.to(x.device) / io.level(o.gain), o.sample_rate, o.start, o.length)
            for o, x in zip(outs, inputs, strict=True)
        ]

    # ------------------------------------------------------------ the one core
    def _run(
        self,
        xs: list[torch.Tensor],
        prompts: list[str],
        seeds: list[int | None],
        gates: list[SegmentGate],
        *,
        segment: SegmentMode,
        steps: int,
        latent: Literal["sample", "mean"],
        overlap_seconds: float,
        max_segments: int | None,
        autocast: str | None,
    ) -> list[FlowSepOutput]:
        """Separate clips ``xs`` (``(samples_i,)`` float32 at 16 kHz, prepared) with one
        generator per clip; the outputs at the model's level (``gain`` returned)."""
        _check_options(segment, latent, steps)
        if not xs:
            return []
        cfg = self.config
        seg = cfg.segment_samples
        overlap = min(int(round(overlap_seconds * self.sample_rate)), seg // 2)
        shape = self.latent_shape()
        with autocast_context(autocast, self.device):
            plans, pieces, rows, noise = [], [], [], []
            for i, (x, s, gate) in enumerate(zip(xs, seeds, gates, strict=True)):
                gen = make_generator(s)
                clip = plan_segments(
                    x, segment, gate, gen, segment=seg, overlap=overlap, peak=cfg.peak
                )
                plans.append(clip)
                for k, p in enumerate(clip):
                    draws = draw_noise(gen, shape, latent)  # made for skipped segments too
                    if p.active:
                        pieces.append(torch.nn.functional.pad(p.piece, (0, seg - p.length)))
                        rows.append((i, k))
                        noise.append(draws)
            generated = (
                regenerate(
                    self,
                    torch.stack(pieces),
                    [prompts[i] for i, _ in rows],
                    noise,
                    steps=steps,
                    latent=latent,
                    max_segments=max_segments,
                )
                if pieces
                else None
            )
        outputs: list[list[torch.Tensor | None]] = [[None] * len(clip) for clip in plans]
        sr = self.sample_rate
        for r, (i, k) in enumerate(rows):
            outputs[i][k] = generated[r, : plans[i][k].length].float().cpu()
        return [
            assemble(x, segment, clip, out, segment=seg, peak=cfg.peak, sample_rate=sr)
            for x, clip, out in zip(xs, plans, outputs, strict=True)
        ]

    def _prepare(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Checked ``(samples,)`` float32 audio at 16 kHz from mono ``waveform``."""
        x = torch.as_tensor(waveform)
        if x.ndim == 2 and x.shape[0] == 1:
            x = x[0]
        if x.ndim != 1:
            raise AudioError(f"FlowSep takes mono audio of shape (samples,), got {tuple(x.shape)}")
        if x.numel() == 0:
            raise EmptyAudioError("audio has no samples")
        x = x.float()
        if not bool(torch.isfinite(x).all()):
            raise NonFiniteAudioError("audio contains NaN or infinite samples")
        if sample_rate != self.sample_rate:
            x = resample(x, sample_rate, self.sample_rate)
        return x


def _check_options(segment: str, latent: str, steps: int) -> None:
    if segment not in ("random", "full", "active"):
        raise ConfigError(f"segment must be 'random', 'full' or 'active', got {segment!r}")
    if latent not in ("sample", "mean"):
        raise ConfigError(f"latent mode must be 'sample' or 'mean', got {latent!r}")
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
