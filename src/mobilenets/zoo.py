"""The published variants: the width/resolution combinations with official weights somewhere.

These are the models ``mobilenets models`` and ``make demo`` list, and the README's table.
"""

from __future__ import annotations

ZOO = (
    # V1: the paper's Table 6/7 widths; Keras publishes weights for each at 128-224 px.
    "mobilenet_v1",
    "mobilenet_v1_0.75",
    "mobilenet_v1_0.5",
    "mobilenet_v1_0.25",
    "mobilenet_v1_1.0_160",
    # V2: Keras publishes 0.35-1.4; torchvision and timm the 1.0.
    "mobilenet_v2",
    "mobilenet_v2_0.35",
    "mobilenet_v2_1.4",
    # V3: Table 3 of the paper, and the minimalistic variants.
    "mobilenet_v3_large",
    "mobilenet_v3_large_0.75",
    "mobilenet_v3_small",
    "mobilenet_v3_small_0.75",
    "mobilenet_v3_large_minimal",
    "mobilenet_v3_small_minimal",
)
