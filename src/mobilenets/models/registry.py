"""Model names: ``build_model``, ``list_models`` and ``register_model``.

Base names map to a paper table. A TF-slim style suffix adds alpha and the input resolution:
``mobilenet_v1_0.75_192`` is V1 at width 0.75 for 192 px input, ``mobilenet_v2_1.4`` is V2
at width 1.4 for the default 224 px, ``mobilenet_v4_conv_medium_224`` is V4 Conv-M at 224 px
instead of its paper's 256.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable
from typing import Any

from mobilenets.models.mobilenet import MobileNet, MobileNetConfig
from mobilenets.models.specs import ARCHITECTURES

ModelFactory = Callable[..., MobileNet]
_MODELS: dict[str, ModelFactory] = {}

_VARIANT = re.compile(r"^(?P<base>[a-z0-9_]+?)(?:_(?P<alpha>\d+\.\d+))?(?:_(?P<size>\d+))?$")


def register_model(name: str, factory: ModelFactory) -> None:
    """Register ``factory`` under ``name``; names are unique."""
    if name in _MODELS:
        raise ValueError(f"model name {name!r} is already registered")
    _MODELS[name] = factory


def paper_input_size(base: str) -> int:
    """The input side at resolution multiplier 1: the paper table's (224, or V4's 256 / 384)."""
    spec = ARCHITECTURES.get(base)
    return spec.input_size if spec is not None else 224


def list_models(pattern: str | None = None) -> list[str]:
    """The registered base names, optionally filtered by a shell-style pattern ('*v3*')."""
    names = sorted(_MODELS)
    return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def parse_model_name(name: str) -> tuple[str, dict[str, Any]]:
    """Split a full name into its base name and the keyword arguments its suffix implies.

    Returns:
        ``(base, kwargs)``, e.g. ``('mobilenet_v1', {'width_mult': 0.75, 'resolution_mult':
        192 / 224})`` for ``'mobilenet_v1_0.75_192'``.
    """
    if name in _MODELS:
        return name, {}
    match = _VARIANT.match(name)
    if match and match["base"] in _MODELS and (match["alpha"] or match["size"]):
        implied: dict[str, Any] = {}
        if match["alpha"]:
            implied["width_mult"] = float(match["alpha"])
        if match["size"]:
            implied["resolution_mult"] = int(match["size"]) / paper_input_size(match["base"])
        return match["base"], implied
    close = difflib.get_close_matches(name, list(_MODELS), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(
        f"unknown model {name!r}.{hint} Known models: {', '.join(list_models())}; a suffix "
        "such as '_0.75_192' sets width and resolution."
    )


def build_model(name: str, **kwargs: Any) -> MobileNet:
    """Build a model by name with random weights (``mobilenets.create_model`` also loads weights).

    Args:
        name: a base name from ``list_models()``, optionally with a width/resolution suffix.
        **kwargs: any ``MobileNetConfig`` field (``width_mult``, ``num_classes``, ...); one that
            contradicts the name's suffix is refused.
    """
    base, implied = parse_model_name(name)
    for key, value in implied.items():
        given = kwargs.get(key)
        if given is not None and abs(given - value) > 1e-9:
            raise ValueError(
                f"{key}={given} contradicts the model name {name!r}, which implies {key}="
                f"{value:g}. Use the base name {base!r} with {key}, or drop {key}."
            )
    if "num_classes" in kwargs and kwargs.get("features_only"):
        raise ValueError(
            f"num_classes={kwargs['num_classes']} contradicts features_only=True: a features-only "
            "model has no classifier. Drop one of the two."
        )
    return _MODELS[base](**{**implied, **kwargs})


def _factory(arch: str) -> ModelFactory:
    def build(**kwargs: Any) -> MobileNet:
        return MobileNet(MobileNetConfig(arch=arch, **kwargs))

    build.__name__ = arch
    build.__doc__ = f"{arch}: {ARCHITECTURES[arch].paper}."
    return build


for _arch in ARCHITECTURES:
    register_model(_arch, _factory(_arch))
