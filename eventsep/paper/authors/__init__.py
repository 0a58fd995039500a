"""What the authors' benchmark code computes, where it differs from this package.

The functions are in :mod:`~eventsep.paper.authors.deviations`, the stages built from them in
:mod:`~eventsep.paper.authors.stages`; everything is importable from here.

Every deviation of the authors' benchmark code that the ``authors`` protocol of
:mod:`eventsep.paper.experiments` switches on is one constant or one pure function here, and the
protocol plugs them into the method as stages (:class:`eventsep.method.stages.Stages`,
built by :func:`authors_stages`) and metric conventions
(:class:`eventsep.evaluation.evaluate.MetricConventions`); docs/protocols.md describes both
protocols (section numbers below, "§", refer to it).

==========================  ======================================  ==========================
stage                       authors' behaviour                      here
==========================  ======================================  ==========================
masker: second sigmoid      sigmoid of the probabilities (§2.2)     :func:`double_sigmoid`
masker: mask formula        hard = soft = ``min(p'/tau, 1)`` (§2.3) :func:`authors_mask`
masker: interpolation       frames stretched over the clip (§2.4)   :func:`stretch_to_samples`
``empty_mask="keep"``       no all-zero fallback (§2.4)             :mod:`eventsep.method.masks`
masker: Demucs keywords     keyword prompts never masked (§2.5)     :func:`demucs_keyword`
mapper: comma prompts       commas split the prompt (§2.5)          :class:`CommaSplitMapping`
masker: no confidence gate  always masks with the cascade's class   :class:`AuthorsMasker`
flowsep_io: input           16-bit PCM round trip (§3.2)            :func:`pcm16_round_trip`
flowsep_io: level           0.5-peak level kept (§3.2)              :class:`AuthorsFlowSepIO`
``seed=None``               unseeded draws (§3.2, §6)               (FlowSep separator)
fusion                      time-domain band split (§4.1)           :class:`BenchmarkFusion`
metric conventions          STOI 1e-5 kept, plain means (§5.4-5.6)  :func:`pystoi_value`
==========================  ======================================  ==========================

Not switched (the tables' notes should say so): CLAP models and their input handling (sections
5.1-5.2) are chosen by ``registry.load_clap_scorer(protocol=...)``; a missing ESC-50/MUSIC
file stops the evaluation (theirs skipped the pair silently, section 1); the committed ESC-50
AudioSep baseline was masked, the registry's is not; their "flowsep" baseline is
AudioSep outside FlowSep's span for clips longer than 10.24 s (none in the three benchmarks);
resampling is soxr HQ where theirs was librosa's soxr_hq; the band split's ``filtfilt`` sees
the span up to the clip's end (:func:`benchmark_fuse`). SDR, SDRi and SI-SDR (absolute, no
zero-mean) are computed alike in both protocols (section 5.5).
"""

from __future__ import annotations

from eventsep.paper.authors.deviations import *  # noqa: F403
from eventsep.paper.authors.deviations import __all__ as _deviations
from eventsep.paper.authors.stages import *  # noqa: F403
from eventsep.paper.authors.stages import __all__ as _stages

__all__ = [*_deviations, *_stages]
