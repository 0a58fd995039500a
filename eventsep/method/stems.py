"""Several targets in one call: one stem per prompt, plus the residual.

:func:`separate_stems` runs the pipeline once per prompt on one mixture with the models loaded
once and one SED pass shared by every prompt (and every negative prompt). The residual is the
mixture minus the sum of the stems, so ``stems.sum(0) + residual == mixture`` holds exactly, in
any summation order: the stems and the mixture are float64 on a grid of ``2**-40`` (below
float32 resolution for any sample above 2**-16, about -96 dBFS; smaller samples move by at most
``2**-41``), where sums and differences of signals below ``2**12`` in magnitude are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from eventsep.core.audio import check_sample_rate, check_waveform, resample
from eventsep.core.errors import ConfigError, PromptError
from eventsep.core.prompts import check_prompt
from eventsep.method.result import EventSepResult

__all__ = ["Stems", "separate_stems"]

_GRID_BITS = 40  # stems and mixture are multiples of 2**-40 (see the module docstring)


def _on_grid(x: torch.Tensor) -> torch.Tensor:
    """``x`` as float64 rounded to a multiple of ``2**-40`` (exact scaling by powers of 2)."""
    scale = float(2**_GRID_BITS)
    return torch.round(x.detach().to("cpu", torch.float64) * scale) / scale


@dataclass(frozen=True, eq=False)
class Stems:
    """What :func:`separate_stems` returns.

    Attributes
    ----------
    prompts : tuple of str
        One per stem, in call order.
    results : tuple of EventSepResult
        The pipeline's result of each prompt (matches, masks, notes, timings).
    stems : torch.Tensor
        ``(len(prompts), samples32)`` float64, each prompt's estimate at ``sample_rate``.
    residual : torch.Tensor
        ``(samples32,)`` float64, ``mixture - stems.sum(0)``.
    mixture : torch.Tensor
        ``(samples32,)`` float64, the mono input at ``sample_rate``.
    sample_rate : int
        32000 Hz.
    """

    prompts: tuple[str, ...]
    results: tuple[EventSepResult, ...]
    stems: torch.Tensor
    residual: torch.Tensor
    mixture: torch.Tensor
    sample_rate: int

    def __getitem__(self, prompt: str) -> torch.Tensor:
        """The stem of ``prompt``, ``(samples32,)``."""
        try:
            return self.stems[self.prompts.index(prompt)]
        except ValueError:
            raise KeyError(f"no stem for {prompt!r}; stems: {list(self.prompts)}") from None


def separate_stems(
    pipe: Any,
    waveform: torch.Tensor,
    sample_rate: int,
    prompts: Sequence[str],
    *,
    exclude: str | Sequence[str] = (),
    classes: Sequence[str | Sequence[str] | None] | None = None,
    **overrides: Any,
) -> Stems:
    """Separate one stem per prompt from ``waveform`` in one pass.

    Parameters
    ----------
    pipe : EventSep
        The pipeline (models already loaded).
    waveform : torch.Tensor or np.ndarray
        ``(samples,)`` or ``(channels, samples)`` (channels averaged), any rate.
    sample_rate : int
        Rate of ``waveform`` in Hz.
    prompts : sequence of str
        The targets, at least one, all different.
    exclude : str or sequence of str
        Negative prompts applied to every stem.
    classes : sequence, optional
        One entry per prompt: explicit class names (``"Dog; Bark"``) or None to map the prompt.
    **overrides
        :class:`~eventsep.method.config.EventSepConfig` fields for this call.

    Returns
    -------
    Stems

    Raises
    ------
    PromptError
        No prompt, an empty one, or the same prompt twice.
    ConfigError
        ``classes`` does not have one entry per prompt.
    """
    texts = tuple(check_prompt(p) for p in prompts)
    if not texts:
        raise PromptError("give at least one prompt")
    if len(set(texts)) != len(texts):
        raise PromptError(f"the same prompt is given twice: {list(texts)}")
    per_class = [None] * len(texts) if classes is None else list(classes)
    if len(per_class) != len(texts):
        raise ConfigError(f"classes has {len(per_class)} entries for {len(texts)} prompts")
    cfg = pipe.config.replace(**overrides) if overrides else pipe.config
    sr = check_sample_rate(sample_rate)
    x = check_waveform(waveform, allow_silent=False, name="input audio")
    if x.ndim == 2:
        x = x.mean(dim=0)
    rate = pipe.sample_rate
    pipe._require(cfg)  # checks the components; loads a lazy detector outside inference mode
    with torch.inference_mode():
        mix = resample(x.to(pipe.device), sr, rate)
        # the one SED pass every prompt (and negative prompt) shares
        probs = pipe.detect(mix, cfg) if cfg.mask != "none" else None
    results = tuple(
        pipe(mix, rate, p, exclude=exclude, classes=c, probs=probs, **overrides)
        for p, c in zip(texts, per_class, strict=True)
    )
    mixture = _on_grid(results[0].mixture)
    stems = torch.stack([_on_grid(r.estimate) for r in results])
    return Stems(
        prompts=texts,
        results=results,
        stems=stems,
        residual=mixture - stems.sum(dim=0),
        mixture=mixture,
        sample_rate=rate,
    )
