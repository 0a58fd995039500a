"""The interactive demo: try EventSep on a recording in the browser or in JupyterLab.

- :mod:`eventsep.demo.limits`: what the demo accepts (:class:`DemoLimits`).
- :mod:`eventsep.demo.run`: one run without a server (:func:`run_demo`), its figures and the
  bundled examples; no Gradio needed (the demo notebook uses it headless).
- :mod:`eventsep.demo.app`: the Gradio app (:func:`build_app`) and the server (:func:`serve`,
  ``eventsep demo``); needs the optional extra ``eventsep[demo]``.
"""

from __future__ import annotations

from eventsep.demo.limits import DemoLimits, check_upload
from eventsep.demo.run import (
    DemoExample,
    DemoRun,
    activity_figure,
    list_examples,
    parse_exclusions,
    run_demo,
    spectrogram_figure,
)

__all__ = [
    "DemoExample",
    "DemoLimits",
    "DemoRun",
    "activity_figure",
    "check_upload",
    "list_examples",
    "parse_exclusions",
    "run_demo",
    "spectrogram_figure",
]
