"""Which model a state dict fits: the family from its keys, the width from its shapes.

Loading, converting and error messages all ask the same question of a state dict in our module
names, so it is answered here once: ``infer_config`` finds the config whose model has exactly the
state's shapes; ``load_state_dict_checked`` loads it with errors that name the offending keys
and refuse non-real or non-finite values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from mobilenets.models.mobilenet import MobileNet, MobileNetConfig
from mobilenets.models.registry import parse_model_name
from mobilenets.models.specs import ARCHITECTURES, MQARow

# Width multipliers with published weights somewhere (Keras, TF-slim, timm, torchvision),
# tried in this order when the caller does not name the architecture.
KNOWN_WIDTHS = (1.0, 0.75, 0.5, 0.35, 0.25, 1.25, 1.3, 1.4, 1.5, 2.0)


class ConversionError(ValueError):
    """A foreign weight file that cannot be mapped onto a mobilenets model."""


def family_of(state: dict[str, torch.Tensor]) -> str:
    """'v1', 'v2', 'v3' or 'v4', from which of our module names the state dict has."""
    if "blocks.0.pw.conv.weight" in state:
        return "v1"
    if "head_conv.conv.weight" in state:  # V4's head: a 1x1 conv with BN after pooling
        return "v4"
    if "head_fc.weight" in state or "head_fc.bias" in state:
        return "v3"
    return "v2"


def candidate_archs(state: dict[str, torch.Tensor]) -> list[str]:
    """The architectures whose block count and layer types match ``state``."""
    family = family_of(state)
    if family in ("v1", "v2"):
        return [f"mobilenet_{family}"]
    num_blocks = 1 + max(int(key.split(".")[1]) for key in state if key.startswith("blocks."))
    if family == "v4":
        return _v4_archs(state, num_blocks)
    size = {15: "large", 11: "small"}.get(num_blocks)
    if size is None:
        raise ConversionError(
            f"the weights look like MobileNetV3 but have {num_blocks} blocks; V3-Large has 15 "
            "and V3-Small 11. Other V3 variants are not supported."
        )
    has_se = any(".se." in key for key in state)
    # Minimalistic variants drop SE everywhere; the full ones always have some.
    return [f"mobilenet_v3_{size}" if has_se else f"mobilenet_v3_{size}_minimal"]


def _v4_archs(state: dict[str, torch.Tensor], num_blocks: int) -> list[str]:
    """The V4 tables with ``num_blocks`` rows, with Mobile MQA exactly where ``state`` has it."""
    hybrid = any(key.endswith(".query.weight") for key in state)
    v4 = {name: spec for name, spec in ARCHITECTURES.items() if spec.family == "v4"}
    found = [
        name
        for name, spec in v4.items()
        if len(spec.blocks) == num_blocks and any(isinstance(row, MQARow) for row in spec.blocks) == hybrid
    ]
    if not found:
        counts = ", ".join(f"{name} {len(spec.blocks)}" for name, spec in v4.items())
        raise ConversionError(
            f"the weights look like MobileNetV4{' (hybrid)' if hybrid else ''} but have {num_blocks} "
            f"blocks before the final 1x1 conv; the V4 models have: {counts}."
        )
    return found


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


def load_state_dict_checked(model: MobileNet, state: dict[str, torch.Tensor], strict: bool = True) -> None:
    """``load_state_dict`` with an error that names the first offending keys.

    Raises:
        ValueError: keys are missing or unexpected, or shapes differ.
    """
    check_state_fits(model, {key: tuple(value.shape) for key, value in state.items()}, strict, state)
    own = model.state_dict()
    if not strict:  # a features-only model loads the backbone of a classifier's file: drop the head
        state = {key: value for key, value in state.items() if key in own}
    wrong_type = [
        key for key, value in state.items() if own[key].is_floating_point() and not value.is_floating_point()
    ]
    if wrong_type:
        key = wrong_type[0]
        raise ValueError(
            f"tensor {key} has dtype {state[key].dtype}, where the model holds real numbers "
            f"({own[key].dtype}); the file is damaged or not MobileNet weights"
        )
    broken = [
        key for key, value in state.items() if value.is_floating_point() and not torch.isfinite(value).all()
    ]
    if broken:
        raise ValueError(
            f"the weights hold NaN or infinite values in {len(broken)} tensors (e.g. {broken[0]}): "
            "they come from a run that diverged, or the file is damaged"
        )
    model.load_state_dict(state, strict=strict)


def check_state_fits(
    model: MobileNet,
    shapes: dict[str, tuple[int, ...]],
    strict: bool = True,
    state: dict[str, torch.Tensor] | None = None,
) -> None:
    """Refuse tensors (given by their shapes) that ``model`` cannot load.

    Raises:
        ValueError: keys are missing or unexpected, or shapes differ.
    """
    own = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    mismatched = [
        f"{key}: file {shape} vs model {own[key]}"
        for key, shape in shapes.items()
        if key in own and own[key] != shape
    ]
    missing = [key for key in own if key not in shapes]
    unexpected = [key for key in shapes if key not in own]
    if not strict:
        unexpected = []
    cfg = model.config
    where = f"arch={cfg.arch!r}, width_mult={cfg.width_mult:g}, num_classes={cfg.num_classes}"
    if mismatched:
        raise ValueError(
            f"weights do not fit {where}: shape mismatch at {'; '.join(mismatched[:3])}."
            f"{describe_weights(state) if state else ''} Check the architecture and width "
            "multiplier the weights were trained with."
        )
    if missing or unexpected:
        raise ValueError(
            f"weights do not fit {where}: missing keys {missing[:3]}, unexpected keys {unexpected[:3]}."
            f"{describe_weights(state) if state else ''}"
        )


def describe_weights(state: dict[str, torch.Tensor]) -> str:
    """' The weights look like arch=..., width_mult=...' when a known config fits, else ''."""
    try:
        config = infer_config(state)
    except (ConversionError, ValueError, KeyError, IndexError):
        return ""
    return (
        f" The weights look like arch={config.arch!r}, width_mult={config.width_mult:g}, "
        f"num_classes={config.num_classes}."
    )
