"""What every converter shares: finding the config a state dict fits, and the final fix-ups.

A converter's only job is to rename a foreign state dict onto our module names
(``stem.conv.weight``, ``blocks.3.dw.bn.running_var``, ...). Everything after that is common:

1. ``fix_up``: 1x1-conv heads become ``nn.Linear`` weights, the background class of 1001-class
   TF-slim checkpoints is dropped, and BatchNorm's ``num_batches_tracked`` is filled in.
2. ``state_fit.infer_config``: the family and the V3 variant follow from which keys exist; the width
   multiplier is the one (from the values anyone publishes) that reproduces every shape.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from mobilenets.models.mobilenet import MobileNet, MobileNetConfig
from mobilenets.models.preprocess import PreprocessConfig
from mobilenets.weights.state_fit import ConversionError, load_state_dict_checked


class AmbiguousSourceError(ConversionError):
    """Weights that fit several source models which need different settings, with no hint which.

    The tensors of timm's ``tf_mobilenetv3_large_075`` (TF 'SAME' padding, BN eps 1e-3, pixels
    in [-1, 1]) and ``mobilenetv3_large_075`` (symmetric padding, BN eps 1e-5, ImageNet
    statistics) have the same names and shapes; converting with the wrong settings gives a model
    that loads and runs but computes something else. Converters raise this instead of guessing;
    the message names the file, every candidate with its settings, and how to pick one.

    Args:
        message: the one-line explanation.
        candidates: the source model names the weights fit.
    """

    def __init__(self, message: str, candidates: tuple[str, ...]) -> None:
        super().__init__(message)
        self.candidates = candidates


@dataclass
class Converted:
    """The result of one conversion, before it is written.

    Args:
        state: the state dict in our names, ready for ``load_state_dict``.
        config: the config that rebuilds the model for these weights.
        preprocess: the input preprocessing the source framework used.
        source: a description of where the weights came from.
    """

    state: dict[str, torch.Tensor]
    config: MobileNetConfig
    preprocess: PreprocessConfig
    source: str

    def build(self) -> MobileNet:
        """The model with the converted weights loaded, in eval mode."""
        model = MobileNet(self.config)
        load_state_dict_checked(model, self.state)
        size = self.config.default_input_size
        model.preprocess = dataclasses.replace(self.preprocess, input_size=(self.config.in_chans, size, size))
        return model.eval()


def conv_to_linear(weight: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution kernel (out, in, 1, 1) as the (out, in) matrix of an ``nn.Linear``."""
    if weight.dim() == 4:
        if weight.shape[2:] != (1, 1):
            raise ConversionError(
                f"a head layer has a {tuple(weight.shape[2:])} kernel; only 1x1 maps to Linear"
            )
        return weight[:, :, 0, 0]
    return weight


def fix_up(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Apply the source-independent fixes to a state dict already in our names.

    Args:
        state: renamed tensors (may still hold 1x1-conv heads or 1001 classes).

    Returns:
        A new dict: contiguous float tensors, Linear-shaped heads, 1000 classes where the
        source had TF-slim's extra background class, and a ``num_batches_tracked`` per BN.
    """
    fixed = {key: value.detach().clone().contiguous() for key, value in state.items()}
    for prefix in ("head_fc", "classifier"):
        if f"{prefix}.weight" in fixed:
            fixed[f"{prefix}.weight"] = conv_to_linear(fixed[f"{prefix}.weight"])
    if fixed.get("classifier.weight") is not None and fixed["classifier.weight"].shape[0] == 1001:
        # TF-slim trained with class 0 = "background"; ImageNet-1k's 1000 classes follow it.
        fixed["classifier.weight"] = fixed["classifier.weight"][1:].contiguous()
        fixed["classifier.bias"] = fixed["classifier.bias"][1:].contiguous()
    for key in [k for k in fixed if k.endswith(".running_var")]:
        tracked = key[: -len("running_var")] + "num_batches_tracked"
        fixed.setdefault(tracked, torch.tensor(0, dtype=torch.long))
    return fixed
