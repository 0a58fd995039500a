"""What every separator of the EventSep pipeline provides: the :class:`Separator` contract.

A separator takes a mono waveform at any sample rate and a text prompt, and returns a
:class:`Separation`: its estimate of the prompted sound, already brought back to the input's
level, at the separator's own sample rate, together with the span of the input it covers.
AudioSep covers the whole input; FlowSep regenerates one span (10.24 s) of it.

:meth:`Separator.extract` is the pipeline's entry point and trusts its inputs: the pipeline has
already checked the waveform (finite, not empty, mono) and the prompt (a non-empty string) once,
at its boundary. The separators' own public ``separate`` methods, meant to be called directly,
keep checking what they are given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from eventsep.core.audio import fit_length, resample

__all__ = ["Separation", "Separator"]


@dataclass(frozen=True, eq=False)
class Separation:
    """One separator's estimate of the prompted sound.

    Attributes
    ----------
    waveform : torch.Tensor
        ``(length,)`` float32 at ``sample_rate``, at the level of the input (any gain the
        separator applied internally is undone).
    sample_rate : int
        Rate of ``waveform`` in Hz.
    start : int
        Where the estimate starts, in samples of the input resampled to ``sample_rate``.
    length : int
        Number of samples the estimate covers (``waveform.shape[-1]``).
    """

    waveform: torch.Tensor
    sample_rate: int
    start: int
    length: int

    def placed(self, num_samples: int, sample_rate: int | None = None) -> torch.Tensor:
        """The estimate at its place in a silent signal of the input's duration.

        Parameters
        ----------
        num_samples : int
            Length of the output in samples at ``sample_rate`` (the input's length there).
        sample_rate : int, optional
            Rate of the output in Hz; defaults to :attr:`sample_rate`. The span is resampled
            and its start scaled (rounded) to this rate.

        Returns
        -------
        torch.Tensor
            ``(num_samples,)`` on the device of :attr:`waveform`: zero outside the span.
        """
        rate = self.sample_rate if sample_rate is None else int(sample_rate)
        if self.length <= 0:
            return self.waveform.new_zeros(int(num_samples))
        span = resample(self.waveform[: self.length], self.sample_rate, rate)
        offset = int(round(self.start * rate / self.sample_rate))
        return fit_length(torch.nn.functional.pad(span, (offset, 0)), num_samples)


@runtime_checkable
class Separator(Protocol):
    """A text-queried separator the :class:`~eventsep.method.pipeline.EventSep` pipeline can run.

    Attributes
    ----------
    sample_rate : int
        Rate of the estimates it returns, in Hz.
    """

    sample_rate: int

    def extract(
        self, waveform: torch.Tensor, sample_rate: int, prompt: str, **options: Any
    ) -> Separation:
        """Estimate the sound ``prompt`` describes in ``waveform``.

        Parameters
        ----------
        waveform : torch.Tensor
            ``(samples,)`` mono float32 audio at ``sample_rate``, finite and not empty (not
            checked again here).
        sample_rate : int
            Rate of ``waveform`` in Hz; any rate (the separator resamples).
        prompt : str
            Non-empty text query.
        **options
            Per-call settings of this separator (e.g. FlowSep's ``segment``, ``seed``,
            ``steps``); an unknown one raises ``TypeError``.

        Returns
        -------
        Separation
            The estimate at the input's level, its rate and the span it covers.
        """
        ...
