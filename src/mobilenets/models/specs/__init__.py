"""The papers' architecture tables, as data: one module per generation, one table per model.

Every table can be read next to its paper and ticked off row by row. Channel counts are the
paper's values at width multiplier 1.0; the builder (``models.mobilenet``) scales them.
"""

import dataclasses

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


def anti_aliased(spec: ArchSpec, kind: str) -> ArchSpec:
    """A V4 table with anti-aliased downsampling in the body (timm's ``conv_aa_*`` / ``conv_blur_*``):
    the same layers and weights, and about 45% more Mult-Adds, as strided convs run at stride 1."""
    return dataclasses.replace(spec, anti_alias=kind, paper=f"{spec.paper}, anti-aliased ({kind} pool)")


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
    "mobilenet_v4_conv_aa_medium": anti_aliased(MOBILENET_V4_CONV_MEDIUM, "avg"),
    "mobilenet_v4_conv_blur_medium": anti_aliased(MOBILENET_V4_CONV_MEDIUM, "blur"),
    "mobilenet_v4_conv_aa_large": anti_aliased(MOBILENET_V4_CONV_LARGE, "avg"),
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
    "anti_aliased",
    "full_convolution",
    "minimalistic",
]
