"""Keras 3 reference models for the equivalence tests: built with ``weights=None``, randomised.

Keras runs on its torch backend here; the variable must be set before keras is imported, so
every test module that needs Keras imports it through this module.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

assert keras.backend.backend() == "torch", "set KERAS_BACKEND=torch before anything imports keras"


def build(family: str, alpha: float = 1.0, size: int = 224, minimalistic: bool = False, **kwargs):
    """A Keras application model returning logits (no softmax), random weights not yet set."""
    common = {"weights": None, "input_shape": (size, size, 3), "classifier_activation": None, **kwargs}
    if family == "v1":
        return keras.applications.MobileNet(alpha=alpha, **common)
    if family == "v2":
        return keras.applications.MobileNetV2(alpha=alpha, **common)
    builder = (
        keras.applications.MobileNetV3Large if family == "v3_large" else keras.applications.MobileNetV3Small
    )
    return builder(alpha=alpha, minimalistic=minimalistic, **common)


def randomize(model, seed: int, input_range: tuple[float, float] = (-1.0, 1.0)) -> None:
    """Seeded random weights for every layer, BN moving statistics included (variance > 0).

    Purely random BN statistics make a 50-layer network chaotic: activations grow to logits of
    ~1000 and float32 round-off alone (Keras against float64) reaches 1e-4 relative, so no
    tolerance could tell a bug from noise. Trained networks have moving statistics close to
    the real ones. So the statistics are first measured on a seeded random batch (one training
    pass with momentum 0), then perturbed at random: every tensor still differs per channel and
    per seed, and logits stay in a trained network's range.
    """
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for variable in layer.weights:
            shape, role = tuple(variable.shape), variable.path.split("/")[-1]
            if role in ("gamma", "moving_variance"):
                value = rng.uniform(0.5, 1.5, shape)
            elif role in ("beta", "moving_mean", "bias"):
                value = rng.normal(0.0, 0.1, shape)
            else:  # kernels: (kh, kw, in, out) or depthwise (kh, kw, in, multiplier) or dense (in, out)
                fan_in = (
                    np.prod(shape[:2])
                    if "depthwise" in layer.name or "conv_dw" in layer.name
                    else np.prod(shape[:-1])
                )
                value = rng.normal(0.0, 1.0, shape) * np.sqrt(2.0 / fan_in)
            values.append(value.astype(np.float32))
        if values:
            layer.set_weights(values)
    calibrate_batch_norm(model, rng, input_range)


def calibrate_batch_norm(model, rng: np.random.Generator, input_range: tuple[float, float]) -> None:
    """Set BN moving statistics near the batch statistics of a random input, then perturb them."""
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0  # the moving statistics become this batch's statistics
    size = model.input_shape[1:]
    batch = rng.uniform(*input_range, (1, *size)).astype(
        np.float32
    )  # 1 image: 12k positions per map at 224 px
    model(batch, training=True)
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum
        gamma, beta, mean, variance = layer.get_weights()
        variance = variance * rng.uniform(0.7, 1.4, variance.shape) + 1e-3
        mean = mean + rng.normal(0.0, 0.1, mean.shape) * np.sqrt(variance)
        layer.set_weights([gamma, beta, mean.astype(np.float32), variance.astype(np.float32)])


def logits(model, images_nhwc: np.ndarray) -> np.ndarray:
    """Keras' own forward pass in inference mode, as a NumPy array."""
    out = model(images_nhwc, training=False)
    return np.asarray(out.detach().cpu()) if hasattr(out, "detach") else np.asarray(out)


def count_weights(model) -> int:
    """All of Keras' weights, trainable or not (BN moving statistics included)."""
    return int(sum(np.prod(v.shape) for v in model.weights))
