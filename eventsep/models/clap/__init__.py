"""LAION-CLAP for the CLAPScore metrics: the original checkpoints, loaded strictly.

- :mod:`eventsep.models.clap.model`: :class:`LaionClap`, transformers' ``ClapModel``
(HTSAT-tiny/base,
  with or without feature fusion) plus the mel front ends of the LAION code.
- :mod:`eventsep.models.clap.keys`: the key mapping from the LAION training checkpoints
  (``{"epoch", "state_dict", "optimizer", ...}``, ``module.``-prefixed keys).
- :mod:`eventsep.models.clap.inputs`: the two documented ways of feeding audio to CLAP
  (``"corrected"``: resample to 48 kHz; ``"authors"``: 32 kHz samples read as 48 kHz).
"""

from eventsep.models.clap.inputs import INPUT_MODES, authors_input, corrected_windows, repeat_pad
from eventsep.models.clap.keys import load_laion_checkpoint, load_laion_state, map_laion_state
from eventsep.models.clap.model import CLAP_KINDS, LaionClap, clap_config

__all__ = [
    "CLAP_KINDS",
    "INPUT_MODES",
    "LaionClap",
    "authors_input",
    "clap_config",
    "corrected_windows",
    "load_laion_checkpoint",
    "load_laion_state",
    "map_laion_state",
    "repeat_pad",
]
