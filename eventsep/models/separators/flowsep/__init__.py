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

from eventsep.models.separators.flowsep.config import (
    FLAN_T5_LARGE,
    FlowSepConfig,
    full_config,
    tiny_config,
)
from eventsep.models.separators.flowsep.io import DEFAULT_IO, FlowSepIO
from eventsep.models.separators.flowsep.loading import convert_flowsep, converted_name
from eventsep.models.separators.flowsep.model import RANDOM_INIT, FlowSepModel
from eventsep.models.separators.flowsep.sampler import euler_sample
from eventsep.models.separators.flowsep.segments import (
    FlowSepOutput,
    segment_starts,
    segment_window,
)
from eventsep.models.separators.flowsep.separator import FlowSepSeparator

__all__ = [
    "DEFAULT_IO",
    "FLAN_T5_LARGE",
    "RANDOM_INIT",
    "FlowSepConfig",
    "FlowSepIO",
    "FlowSepModel",
    "FlowSepOutput",
    "FlowSepSeparator",
    "convert_flowsep",
    "converted_name",
    "euler_sample",
    "full_config",
    "segment_starts",
    "segment_window",
    "tiny_config",
]
