"""What every converter shares: finding the config a state dict fits, and the final fix-ups.

A converter's only job is to rename a foreign state dict onto our module names
(``stem.conv.weight``, ``blocks.3.dw.bn.running_var``, ...). Everything after that is common:

1. ``fix_up``: 1x1-conv heads become ``nn.Linear`` weights, the background class of 1001-class
   TF-slim checkpoints is dropped, and BatchNorm's ``num_batches_tracked`` is filled in.
2. ``infer_config``: the family and the V3 variant follow from which keys exist; the width
   multiplier is the one (from the values anyone publishes) that reproduces every shape.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from mobilenets.model import MobileNet, MobileNetConfig
from mobilenets.preprocess import PreprocessConfig
from mobilenets.registry import parse_model_name

# Width multipliers with published weights somewhere (Keras, TF-slim, timm, torchvision),
# tried in this order when the caller does not name the architecture.
KNOWN_WIDTHS = (1.0, 0.75, 0.5, 0.35, 0.25, 1.25, 1.3, 1.4, 1.5, 2.0)


class ConversionError(ValueError):
    """A foreign weight file that cannot be mapped onto a mobilenets model."""


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
        from mobilenets.weights import load_state_dict_checked

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


def family_of(state: dict[str, torch.Tensor]) -> str:
    """'v1', 'v2' or 'v3', from which of our module names the state dict has."""
    if "blocks.0.pw.conv.weight" in state:
        return "v1"
    if "head_fc.weight" in state or "head_fc.bias" in state:
        return "v3"
    return "v2"


def candidate_archs(state: dict[str, torch.Tensor]) -> list[str]:
    """The architectures whose block count and layer types match ``state``."""
    family = family_of(state)
    if family != "v3":
        return [f"mobilenet_{family}"]
    num_blocks = 1 + max(int(key.split(".")[1]) for key in state if key.startswith("blocks."))
    size = {15: "large", 11: "small"}.get(num_blocks)
    if size is None:
        raise ConversionError(
            f"the weights look like MobileNetV3 but have {num_blocks} blocks; V3-Large has 15 "
            "and V3-Small 11. Other V3 variants are not supported."
        )
    has_se = any(".se." in key for key in state)
    # Minimalistic variants drop SE everywhere; the full ones always have some.
    return [f"mobilenet_v3_{size}" if has_se else f"mobilenet_v3_{size}_minimal"]


def shapes_of(config: MobileNetConfig) -> dict[str, tuple[int, ...]]:
    """Every state-dict shape of the model ``config`` builds (on the meta device: no memory)."""
    with torch.device("meta"):
        model = MobileNet(config)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def mismatches(state: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """Human-readable differences between a state dict and the shapes a model expects."""
    problems = [f"missing {key}" for key in shapes if key not in state]
    problems += [f"unexpected {key}" for key in state if key not in shapes]
    problems += [
        f"{key}: file {tuple(value.shape)} vs model {shapes[key]}"
        for key, value in state.items()
        if key in shapes and tuple(value.shape) != shapes[key]
    ]
    return problems


def config_from_name(name: str, **fields: Any) -> MobileNetConfig:
    """A config from a model name such as 'mobilenet_v1_0.5_160', plus explicit fields."""
    base, implied = parse_model_name(name)
    return MobileNetConfig(arch=base, **{**implied, **fields})


def infer_config(
    state: dict[str, torch.Tensor],
    arch: str | None = None,
    widths: Iterable[float] = KNOWN_WIDTHS,
    **fields: Any,
) -> MobileNetConfig:
    """Find the config whose model has exactly the shapes of ``state``.

    Args:
        state: a fixed-up state dict in our names.
        arch: a model name ('mobilenet_v2_0.35', 'mobilenet_v1_0.5_160') to use instead of
            guessing; its width must fit.
        widths: the width multipliers to try when ``arch`` gives none.
        **fields: config fields the source dictates (padding, bn_eps, act, resolution_mult...).

    Returns:
        The config; ``num_classes`` is read from the classifier (0 without one).

    Raises:
        ConversionError: no candidate fits; names what the weights look like and the first
            offending keys.
    """
    classifier = state.get("classifier.weight")
    fields.setdefault("num_classes", 0 if classifier is None else int(classifier.shape[0]))
    if arch is not None:
        candidates = [config_from_name(arch, **fields)]
    else:
        candidates = [
            MobileNetConfig(arch=name, width_mult=width, **fields)
            for name in candidate_archs(state)
            for width in widths
        ]
    best: tuple[MobileNetConfig, list[str]] | None = None
    for config in candidates:
        problems = mismatches(state, shapes_of(config))
        if not problems:
            return config
        if best is None or len(problems) < len(best[1]):
            best = (config, problems)
    assert best is not None
    config, problems = best
    stem = state.get("stem.conv.weight")
    stem_text = f"its stem has {stem.shape[0]} channels; " if stem is not None else ""
    raise ConversionError(
        f"the weights look like {config.arch} but fit no width multiplier tried "
        f"({stem_text}closest: width_mult={config.width_mult:g}). First differences: "
        f"{'; '.join(problems[:3])}. Pass the exact model name with --arch (e.g. "
        f"'{config.arch}_0.75'), or check that the file holds a MobileNet."
    )
