"""The papers' architecture tables, as data: one module per generation, one table per model.

Every table can be read next to its paper and ticked off row by row. Channel counts are the
paper's values at width multiplier 1.0; the builder (``models.mobilenet``) scales them.
"""

from mobilenets.models.specs.rows import (
    ArchSpec,
    BlockSpec,
    ConvRow,
    Family,
    FusedIBRow,
    MQARow,
    Row,
    UIBRow,
    V4Row,
)
from mobilenets.models.specs.v1 import MOBILENET_V1, full_convolution
from mobilenets.models.specs.v2 import MOBILENET_V2
from mobilenets.models.specs.v3 import MOBILENET_V3_LARGE, MOBILENET_V3_SMALL, minimalistic
from mobilenets.models.specs.v4 import (
    MOBILENET_V4_CONV_LARGE,
    MOBILENET_V4_CONV_MEDIUM,
    MOBILENET_V4_CONV_SMALL,
    MOBILENET_V4_HYBRID_LARGE,
    MOBILENET_V4_HYBRID_MEDIUM,
)

ARCHITECTURES: dict[str, ArchSpec] = {
    "mobilenet_v1": MOBILENET_V1,
    "mobilenet_v1_conv": full_convolution(MOBILENET_V1),
    "mobilenet_v2": MOBILENET_V2,
    "mobilenet_v3_large": MOBILENET_V3_LARGE,
    "mobilenet_v3_small": MOBILENET_V3_SMALL,
    "mobilenet_v3_large_minimal": minimalistic(MOBILENET_V3_LARGE),
    "mobilenet_v3_small_minimal": minimalistic(MOBILENET_V3_SMALL),
    "mobilenet_v4_conv_small": MOBILENET_V4_CONV_SMALL,
    "mobilenet_v4_conv_medium": MOBILENET_V4_CONV_MEDIUM,
    "mobilenet_v4_conv_large": MOBILENET_V4_CONV_LARGE,
    "mobilenet_v4_hybrid_medium": MOBILENET_V4_HYBRID_MEDIUM,
    "mobilenet_v4_hybrid_large": MOBILENET_V4_HYBRID_LARGE,
}

__all__ = [
    "ARCHITECTURES",
    "MOBILENET_V1",
    "MOBILENET_V2",
    "MOBILENET_V3_LARGE",
    "MOBILENET_V3_SMALL",
    "MOBILENET_V4_CONV_LARGE",
    "MOBILENET_V4_CONV_MEDIUM",
    "MOBILENET_V4_CONV_SMALL",
    "MOBILENET_V4_HYBRID_LARGE",
    "MOBILENET_V4_HYBRID_MEDIUM",
    "ArchSpec",
    "BlockSpec",
    "ConvRow",
    "Family",
    "FusedIBRow",
    "MQARow",
    "Row",
    "UIBRow",
    "V4Row",
    "full_convolution",
    "minimalistic",
]
