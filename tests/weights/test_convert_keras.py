"""Keras -> mobilenets conversion, checked against Keras 3's own outputs.

Every case builds the Keras application with ``weights=None``, randomises all of its weights
with a seed (BN moving mean and variance included), saves it in one of Keras' file layouts,
converts the file, and runs both models on the same input. Acceptance: max |Δ logits| <=
1e-4 x max |logits|.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from keras.src.legacy.saving import legacy_h5_format

from mobilenets.weights.convert import ConversionError, convert_weights
from mobilenets.weights.file_format import load_model, read_metadata
from tests.keras_reference import build, count_weights, logits, randomize

TOLERANCE = 1e-4


def save_keras(model, path: Path) -> Path:
    """Save in the layout the suffix names: legacy .h5 (the official files), .weights.h5, .keras."""
    if path.name.endswith(".weights.h5"):
        model.save_weights(path)
    elif path.suffix == ".keras":
        model.save(path)
    else:
        with h5py.File(path, "w") as handle:  # what keras-applications publishes
            legacy_h5_format.save_weights_to_hdf5_group(handle, model)
    return path


def our_input(keras_input: np.ndarray, rescaled_by_keras: bool) -> torch.Tensor:
    """Keras' NHWC input as our NCHW input; V3's in-model Rescaling maps [0, 255] to [-1, 1]."""
    x = keras_input / 127.5 - 1.0 if rescaled_by_keras else keras_input
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


CASES = [
    # (family, alpha, size, minimalistic, file name, expected arch)
    ("v1", 1.0, 224, False, "mobilenet_1_0_224_tf.h5", "mobilenet_v1"),
    ("v1", 0.5, 224, False, "v1.weights.h5", "mobilenet_v1"),
    ("v1", 0.25, 224, False, "v1.keras", "mobilenet_v1"),
    ("v1", 1.0, 160, False, "v1.keras", "mobilenet_v1"),
    ("v1", 0.5, 160, False, "mobilenet_5_0_160_tf.h5", "mobilenet_v1"),
    ("v1", 0.25, 160, False, "mobilenet_v1_0.25_160.weights.h5", "mobilenet_v1"),
    ("v2", 1.0, 224, False, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5", "mobilenet_v2"),
    ("v2", 0.35, 224, False, "v2.weights.h5", "mobilenet_v2"),
    ("v3_large", 1.0, 224, False, "weights_mobilenet_v3_large_224_1.0_float.h5", "mobilenet_v3_large"),
    ("v3_large", 0.75, 224, False, "v3.weights.h5", "mobilenet_v3_large"),
    ("v3_small", 1.0, 224, False, "v3.keras", "mobilenet_v3_small"),
    ("v3_small", 0.75, 224, False, "weights_mobilenet_v3_small_224_0.75_float.h5", "mobilenet_v3_small"),
    ("v3_large", 1.0, 224, True, "v3m.weights.h5", "mobilenet_v3_large_minimal"),
    ("v3_small", 1.0, 224, True, "v3m.h5", "mobilenet_v3_small_minimal"),
]


@pytest.mark.parametrize(("family", "alpha", "size", "minimalistic", "file_name", "arch"), CASES)
def test_keras_equivalence(
    family: str, alpha: float, size: int, minimalistic: bool, file_name: str, arch: str, tmp_path: Path
) -> None:
    v3 = family.startswith("v3")
    reference = build(family, alpha, size, minimalistic)
    randomize(reference, seed=CASES.index((family, alpha, size, minimalistic, file_name, arch)),
              input_range=(0.0, 255.0) if v3 else (-1.0, 1.0))  # fmt: skip
    src = save_keras(reference, tmp_path / file_name)

    convert_weights(src, tmp_path / "converted.safetensors")
    model = load_model(tmp_path / "converted.safetensors")  # rebuilt from the file alone

    cfg = model.config
    assert (cfg.arch, cfg.width_mult, cfg.default_input_size) == (arch, alpha, size)
    assert (cfg.padding, cfg.bn_eps) == ("tf_same", 1e-3)
    assert cfg.act == ("relu6" if family == "v1" else None)
    # Same widths as Keras at this alpha: every Keras weight, BN statistics included, has a home.
    ours = sum(p.numel() for p in model.parameters())
    ours += sum(
        b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var"))
    )
    assert ours == count_weights(reference)

    rng = np.random.default_rng(1)
    keras_input = rng.uniform(0, 255, (1, size, size, 3)) if v3 else rng.uniform(-1, 1, (1, size, size, 3))
    keras_input = keras_input.astype(np.float32)
    expected = logits(reference, keras_input)
    with torch.no_grad():
        got = model(our_input(keras_input, rescaled_by_keras=v3)).numpy()
    relative = np.abs(got - expected).max() / np.abs(expected).max()
    print(f"{arch} alpha={alpha} {size}px ({file_name}): max rel |Δ logits| = {relative:.2e}")
    assert relative <= TOLERANCE
    # The top classes agree too (a weaker check, but the one users see).
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_preprocessing_and_labels_travel_with_keras_weights(tmp_path: Path) -> None:
    reference = build("v3_small", 0.75, 224)
    src = save_keras(reference, tmp_path / "small.weights.h5")
    convert_weights(src, tmp_path / "small.safetensors")
    meta = read_metadata(tmp_path / "small.safetensors")
    assert meta.preprocess.mean == (0.5, 0.5, 0.5) and meta.preprocess.std == (0.5, 0.5, 0.5)
    assert meta.labels is not None and meta.labels[386] == "African elephant"
    assert meta.source.startswith("keras:small.weights.h5 sha256=")


def test_background_class_of_1001_class_checkpoints_is_dropped(tmp_path: Path) -> None:
    reference = build("v1", 0.25, 128, classes=1001)
    randomize(reference, seed=7)
    src = save_keras(reference, tmp_path / "mobilenet_2_5_128_tf.h5")
    model = convert_weights(src, tmp_path / "v1.safetensors")
    assert model.config.num_classes == 1000
    x = np.random.default_rng(2).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
    expected = logits(reference, x)[:, 1:]  # class 0 is TF-slim's "background"
    with torch.no_grad():
        got = model(our_input(x, rescaled_by_keras=False)).numpy()
    assert np.abs(got - expected).max() <= TOLERANCE * np.abs(expected).max()


def test_a_mis_mapped_tensor_would_be_caught(tmp_path: Path) -> None:
    """The tolerance is tight enough: swapping two channels of one BN's statistics breaks it."""
    reference = build("v1", 0.25, 128)
    randomize(reference, seed=3)
    model = convert_weights(save_keras(reference, tmp_path / "m_128_tf.h5"), tmp_path / "m.safetensors")
    x = np.random.default_rng(4).uniform(-1, 1, (2, 128, 128, 3)).astype(np.float32)
    expected = logits(reference, x)
    variance = model.blocks[6].pw.bn.running_var
    variance[[0, 1]] = variance[[1, 0]].clone()
    with torch.no_grad():
        got = model(our_input(x, rescaled_by_keras=False)).numpy()
    assert np.abs(got - expected).max() > TOLERANCE * np.abs(expected).max()


def test_headless_keras_file_converts_to_a_headless_model(tmp_path: Path) -> None:
    reference = build("v2", 0.5, 96, include_top=False)
    src = save_keras(reference, tmp_path / "mobilenet_v2_0.5_96_no_top.weights.h5")
    model = convert_weights(src, tmp_path / "v2.safetensors")
    assert model.config.num_classes == 0 and model.config.default_input_size == 96


def test_arch_given_must_fit_and_the_error_says_what_the_file_looks_like(tmp_path: Path) -> None:
    src = save_keras(build("v2", 0.35, 224), tmp_path / "v2.weights.h5")
    with pytest.raises(ConversionError, match=r"look like mobilenet_v2.*width_mult.*--arch"):
        convert_weights(src, tmp_path / "x.safetensors", arch="mobilenet_v2_0.75")
    model = convert_weights(src, tmp_path / "x.safetensors", arch="mobilenet_v2_0.35_192")
    assert model.config.default_input_size == 192  # the name's size wins over the file's


def test_not_a_keras_file_is_refused_clearly(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.h5"
    bogus.write_bytes(b"not hdf5 at all")
    with pytest.raises(ConversionError, match=r"bogus.h5 is not an HDF5 file"):
        convert_weights(bogus, tmp_path / "x.safetensors")


def test_a_legacy_file_listing_a_layer_it_does_not_hold_is_refused(tmp_path: Path) -> None:
    """A half-written official-style .h5: ``layer_names`` names a group that is missing."""
    path = save_keras(build("v1", 0.25, 128, False), tmp_path / "mobilenet_2_5_128_tf.h5")
    with h5py.File(path, "a") as handle:
        group = handle.get("model_weights", handle)
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["layer_names"]]
        victim = next(n for n in names if n in group and group[n].attrs.get("weight_names", []).size)
        del group[victim]
    with pytest.raises(ConversionError, match=rf"lists layer '{victim}' but holds no data for it"):
        convert_weights(path, tmp_path / "x.safetensors")
