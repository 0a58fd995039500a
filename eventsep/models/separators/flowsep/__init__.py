"""FlowSep (Yuan et al., arXiv 2409.07614): language-queried separation by rectified flow."""

from eventsep.models.separators.flowsep.separator import *  # noqa: F403
from eventsep.models.separators.flowsep.separator import (  # noqa: F401
    FLAN_T5_LARGE,
    FlowSepConfig,
    FlowSepOutput,
    FlowSepSeparator,
    convert_flowsep,
    converted_path,
    euler_sample,
    full_config,
    segment_starts,
    tiny_config,
)
