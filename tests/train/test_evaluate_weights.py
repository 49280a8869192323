"""``train.evaluate_weights``: a weights file scored on an image folder, and the report it writes.

The expected predictions are computed here from the model's own logits on each image prepared
with ``preprocess_image`` and the file's preprocessing, independently of the loader and ``evaluate``.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from rich.console import Console

from mobilenets import create_model, load_model, save_weights
from mobilenets.models.preprocess import preprocess_image
from mobilenets.train.evaluate import EvalResult
from mobilenets.train.evaluate_weights import eval_table, evaluate_weights, write_eval_report

CLASSES = ["cat", "dog", "fox"]
COLOURS = {"cat": (220, 40, 40), "dog": (40, 200, 60), "fox": (50, 60, 230)}


def write_images(root: Path, counts: dict[str, int], seed: int = 0) -> list[tuple[Path, int]]:
    """Noisy images of one colour per class; returns (path, label) in sorted order."""
    rng = np.random.default_rng(seed)
    written = []
    for label, name in enumerate(sorted(counts)):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(counts[name]):
            noise = rng.integers(-40, 40, (40, 48, 3))
            pixels = np.clip(np.array(COLOURS[name]) + noise, 0, 255).astype(np.uint8)
            path = root / name / f"{i}.png"
            Image.fromarray(pixels).save(path)
            written.append((path, label))
    return written


def write_weights(path: Path, num_classes: int = 3, labels: list[str] | None = CLASSES) -> Path:
    """A tiny V1 whose BatchNorm statistics come from one batch, so its logits differ by image."""
    torch.manual_seed(0)
    model = create_model(
        "mobilenet_v1", width_mult=0.25, num_classes=num_classes, resolution_mult=32 / 224, bn_momentum=1.0
    )
    with torch.no_grad():
        model.train()(torch.rand(16, 3, 32, 32))  # at initialization the features would be ~1e-16
        if num_classes:
            model.classifier.weight.normal_(0, 1.0)
    return save_weights(model.eval(), path, labels=labels)


def expected_confusion(weights: Path, samples: list[tuple[Path, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(confusion, logits) from the model's logits on each image, prepared one by one."""
    model = load_model(weights)
    batch = torch.stack(
        [preprocess_image(Image.open(p).convert("RGB"), model.preprocess) for p, _ in samples]
    )
    with torch.no_grad():
        logits = model(batch).numpy()
    confusion = np.zeros((3, 3), dtype=np.int64)
    for (_, label), row in zip(samples, logits, strict=True):
        confusion[label, int(row.argmax())] += 1
    return confusion, logits


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    return write_weights(tmp_path / "tiny.safetensors")


def test_a_folder_of_class_folders_is_scored_image_by_image(tmp_path: Path, weights: Path) -> None:
    samples = write_images(tmp_path / "data", {"cat": 3, "dog": 2, "fox": 4})
    result = evaluate_weights(str(tmp_path / "data"), weights, batch_size=len(samples), device="cpu")
    confusion, logits = expected_confusion(weights, samples)
    assert result.classes == CLASSES
    assert np.array_equal(result.confusion, confusion)
    assert result.count == 9 and result.top1 == pytest.approx(np.trace(confusion) / 9)
    assert result.top5 == 1.0  # three classes: the true one is always among the top 5
    labels = np.array([label for _, label in samples])
    log_probs = (
        logits
        - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True))
        - logits.max(1, keepdims=True)
    )
    assert result.loss == pytest.approx(-log_probs[np.arange(9), labels].mean(), rel=1e-4)
    assert result.skipped == {}


def test_val_split_or_every_image_of_a_train_and_val_layout(tmp_path: Path, weights: Path) -> None:
    train = write_images(tmp_path / "data" / "train", {"cat": 2, "dog": 2, "fox": 2}, seed=1)
    val = write_images(tmp_path / "data" / "val", {"cat": 1, "dog": 2, "fox": 1}, seed=2)
    only_val = evaluate_weights(str(tmp_path / "data"), weights, batch_size=16, device="cpu")
    assert only_val.count == 4
    assert only_val.confusion.sum(axis=1).tolist() == [1, 2, 1]
    assert np.array_equal(only_val.confusion, expected_confusion(weights, val)[0])
    everything = evaluate_weights(str(tmp_path / "data"), weights, split="all", batch_size=16, device="cpu")
    assert everything.count == 10 and everything.classes == CLASSES  # 'train' is no class
    assert everything.confusion.sum(axis=1).tolist() == [3, 4, 3]
    assert np.array_equal(
        everything.confusion, expected_confusion(weights, train)[0] + expected_confusion(weights, val)[0]
    )


def test_unreadable_images_are_skipped_listed_and_named(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = write_images(tmp_path / "data", {"cat": 2, "dog": 2, "fox": 2})
    broken = tmp_path / "data" / "dog" / "broken.png"
    broken.write_bytes(b"not an image at all")
    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 48, 3), 128, dtype=np.uint8)).save(buffer, format="PNG")
    truncated = tmp_path / "data" / "fox" / "truncated.png"
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])  # a header, half the data
    result = evaluate_weights(str(tmp_path / "data"), weights, batch_size=16, device="cpu")
    assert result.count == 6
    assert set(result.skipped) == {str(broken), str(truncated)}
    assert np.array_equal(result.confusion, expected_confusion(weights, samples)[0])
    stderr = capsys.readouterr().err
    assert f"skipping unreadable image {broken}" in stderr
    assert f"skipping unreadable image {truncated}" in stderr


def test_classes_that_differ_from_the_weights_labels_are_refused(tmp_path: Path, weights: Path) -> None:
    write_images(tmp_path / "data", {"cat": 1, "dog": 1, "fox": 1})
    (tmp_path / "data" / "fox").rename(tmp_path / "data" / "owl")
    with pytest.raises(
        ValueError,
        match=r"class folders 'owl' are not among the weights' 3 classes \('cat', 'dog', 'fox'\)",
    ):
        evaluate_weights(str(tmp_path / "data"), weights, device="cpu")


def test_a_folder_with_some_of_the_classes_is_scored_against_all_outputs(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A test folder without 'dog': its images keep the weights' output order (fox is output 2,
    # not 1), and dog's row is empty.
    samples = write_images(tmp_path / "data", {"cat": 2, "fox": 3})
    result = evaluate_weights(str(tmp_path / "data"), weights, batch_size=16, device="cpu")
    assert result.classes == ["cat", "dog", "fox"] and result.count == 5
    assert result.confusion.sum(axis=1).tolist() == [2, 0, 3]
    in_output_order = [(path, {0: 0, 1: 2}[label]) for path, label in samples]
    assert np.array_equal(result.confusion, expected_confusion(weights, in_output_order)[0])
    assert "no images of 1 of the weights' 3 classes ('dog')" in capsys.readouterr().err


def test_a_class_count_that_differs_from_the_outputs_is_refused(tmp_path: Path) -> None:
    write_images(tmp_path / "data", {"cat": 1, "dog": 1, "fox": 1})
    four = write_weights(tmp_path / "four.safetensors", num_classes=4, labels=None)
    with pytest.raises(ValueError, match="the weights have 4 outputs but the data has 3 classes"):
        evaluate_weights(str(tmp_path / "data"), four, device="cpu")


def test_a_headless_model_and_missing_data_are_refused(tmp_path: Path, weights: Path) -> None:
    headless = write_weights(tmp_path / "headless.safetensors", num_classes=0, labels=None)
    with pytest.raises(ValueError, match="has no classifier") as error:
        evaluate_weights(str(tmp_path), headless, device="cpu")
    assert str(headless) in str(error.value)
    with pytest.raises(ValueError, match="does not exist; pass an ImageFolder path or 'digits'"):
        evaluate_weights(str(tmp_path / "absent"), weights, device="cpu")


@pytest.mark.slow
def test_the_digits_are_scored_on_their_held_out_quarter(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    from mobilenets.data.digits import split_digits

    ten = write_weights(tmp_path / "digits.safetensors", num_classes=10, labels=[str(d) for d in range(10)])
    result = evaluate_weights("digits", ten, batch_size=512, device="cpu")
    assert result.classes == [str(d) for d in range(10)]
    per_digit = np.bincount(load_digits().target)  # scikit-learn's 1,797 scans
    assert result.count == math.ceil(per_digit.sum() / 4)  # 450
    assert (np.abs(result.confusion.sum(axis=1) - per_digit / 4) <= 1).all()  # stratified
    _, held_out = split_digits(32)
    model = load_model(ten)
    mean = torch.tensor(model.preprocess.mean).view(1, 3, 1, 1)
    std = torch.tensor(model.preprocess.std).view(1, 3, 1, 1)
    images = torch.from_numpy(held_out.images).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        predicted = model((images - mean) / std).argmax(1).numpy()
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (held_out.labels, predicted), 1)
    assert np.array_equal(result.confusion, confusion)


# -- the report ------------------------------------------------------------------------------------
def hand_result() -> EvalResult:
    return EvalResult(
        confusion=np.array([[2, 1, 0], [0, 3, 0], [0, 0, 0]]),
        top5_correct=5,
        loss_sum=2.5,
        classes=["čaj", "dog", "fox"],
        skipped={"data/dog/x.png": "not an image"},
    )


def test_the_report_holds_the_numbers_of_the_result(tmp_path: Path) -> None:
    png, report = write_eval_report(hand_result(), tmp_path / "out", "held out")
    assert png == tmp_path / "out" / "confusion.png" and report == tmp_path / "out" / "eval.json"
    raw = report.read_bytes()
    assert "čaj".encode() in raw  # UTF-8, not \u escapes
    data = json.loads(raw)
    assert data["images"] == 6
    assert data["top1"] == pytest.approx(5 / 6)  # (2 + 3) / 6
    assert data["top5"] == pytest.approx(5 / 6)
    assert data["loss"] == pytest.approx(2.5 / 6)
    assert data["per_class"]["čaj"] == pytest.approx(2 / 3) and data["per_class"]["dog"] == 1.0
    assert math.isnan(data["per_class"]["fox"])  # no images of that class
    assert data["confusion"] == [[2, 1, 0], [0, 3, 0], [0, 0, 0]]
    assert data["skipped"] == {"data/dog/x.png": "not an image"}
    image = Image.open(png)
    image.load()
    assert image.format == "PNG" and image.size == (550, 550)  # 3 classes: the 5-inch minimum at 110 dpi


def test_the_report_of_an_evaluation_matches_it(tmp_path: Path, weights: Path) -> None:
    write_images(tmp_path / "data", {"cat": 2, "dog": 2, "fox": 2})
    result = evaluate_weights(str(tmp_path / "data"), weights, batch_size=8, device="cpu")
    _, report = write_eval_report(result, tmp_path / "report", "tiny")
    data = json.loads(report.read_text())
    assert data["confusion"] == result.confusion.tolist()
    assert data["images"] == 6 and data["top1"] == pytest.approx(np.trace(result.confusion) / 6)


def test_the_table_has_a_row_per_class_and_a_dash_for_an_empty_one() -> None:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(eval_table(hand_result()))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "top-1 83.33%" in text and "top-5 83.33%" in text
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if cells[0] in ("čaj", "dog", "fox"):
            rows[cells[0]] = cells[1:]
    assert rows == {
        "čaj": ["3", "2", "66.67%"],  # images, correct, accuracy
        "dog": ["3", "3", "100.00%"],
        "fox": ["0", "0", "-"],
    }
