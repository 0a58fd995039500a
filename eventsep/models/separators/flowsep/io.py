"""How audio enters and leaves FlowSep: the input adapter a protocol may replace.

FlowSep resamples its input to 16 kHz, normalises each segment to a peak, generates, and divides
the result by the normalisation gain so the estimate has the input's level. A
:class:`FlowSepIO` decides the two protocol-dependent steps around that: what is done to the
16 kHz input before the model (:meth:`FlowSepIO.prepare`) and which divisor brings the generated
audio back (:meth:`FlowSepIO.level`). The default is the method's own choice (no change to the
input, the input's level restored); :mod:`eventsep.paper.authors` has the authors' variant.
"""

from __future__ import annotations

import torch

__all__ = ["DEFAULT_IO", "FlowSepIO"]


class FlowSepIO:
    """The method's FlowSep input/output: the input untouched, the input's level restored.

    Subclass it and override either method to change one step; pass the instance as
    ``io=`` to :meth:`FlowSepSeparator.extract` or ``extract_batch``.
    """

    def prepare(self, waveform: torch.Tensor) -> torch.Tensor:
        """The 16 kHz input as the model sees it, ``(samples,)`` float, before normalisation."""
        return waveform

    def level(self, gain: float) -> float:
        """The divisor of the generated audio, given the peak-normalisation ``gain`` applied to
        the input (dimensionless, > 0); ``gain`` itself restores the input's level."""
        return gain

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    @property
    def is_default(self) -> bool:
        """True when neither step is overridden (callers may then omit ``io=``)."""
        cls = type(self)
        return cls.prepare is FlowSepIO.prepare and cls.level is FlowSepIO.level


DEFAULT_IO = FlowSepIO()
"""The shared default instance (stateless)."""
