"""FlowSep (Yuan et al., arXiv 2409.07614): language-queried separation by rectified flow.

One job per module:

- :mod:`.config`: hyper-parameters (:class:`FlowSepConfig`, the released and a tiny one);
- :mod:`.model`: the networks (T5, VAE, flow UNet, BigVGAN) and one call per stage;
- :mod:`.mel`: the log-mel front end and segment normalisation;
- :mod:`.sampler`: the rectified-flow Euler sampler and the batched regeneration of segments;
- :mod:`.segments`: segment planning, gating and overlap-add;
- :mod:`.io`: the input/output adapter a protocol may replace (:class:`FlowSepIO`);
- :mod:`.separator`: :class:`FlowSepSeparator` (``separate``, ``extract``, ``extract_batch``);
- :mod:`.convert`: key conversion of the released checkpoints;
- :mod:`.loading`: conversion to one safetensors file and loading it back, from given paths.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the submodule defining it. Imported on first access, so that importing one
#: light submodule (``flowsep.io`` for a protocol's adapter) does not build the whole stack.
_EXPORTS = {
    "FLAN_T5_LARGE": "config",
    "FlowSepConfig": "config",
    "full_config": "config",
    "tiny_config": "config",
    "DEFAULT_IO": "io",
    "FlowSepIO": "io",
    "convert_flowsep": "loading",
    "converted_name": "loading",
    "RANDOM_INIT": "model",
    "FlowSepModel": "model",
    "euler_sample": "sampler",
    "FlowSepOutput": "segments",
    "segment_starts": "segments",
    "segment_window": "segments",
    "FlowSepSeparator": "separator",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
