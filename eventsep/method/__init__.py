"""Layer 3, method: :class:`~eventsep.method.config.EventSepConfig`, the pipeline and its
stages (map, detect, mask, separate, combine), mapping, masks, fusion, exclusion, stems, events
and the result.

Imports :mod:`eventsep.core` and :mod:`eventsep.models`.
"""
