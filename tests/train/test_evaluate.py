"""``train.evaluate``: top-1, top-5, per-class accuracy, loss and the confusion matrix.

A stub model returns fixed logits for each image (the image carries its row number), so every
expected count below is worked out by hand, and the loss with plain NumPy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mobilenets import create_model
from mobilenets.data.augment import Normalize
from mobilenets.train.distributed import DistributedContext
from mobilenets.train.evaluate import EvalResult, evaluate

# Six classes, eight images. Row i is the logits for image i; LABELS[i] its true class.
LOGITS = np.array(
    [
        [5.0, 4.0, 3.0, 2.0, 1.0, 0.0],  # true 0: top-1 0 (hit)
        [0.0, 5.0, 4.0, 3.0, 2.0, 1.0],  # true 0: top-1 1; 0 is last of six: top-5 miss
        [1.0, 0.0, 5.0, 4.0, 3.0, 2.0],  # true 1: top-1 2; 1 is last: top-5 miss
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],  # true 5: top-1 5 (hit)
        [0.0, 3.0, 1.0, 2.0, 5.0, 4.0],  # true 1: top-1 4; 1 is 4th: top-5 hit
        [2.0, 0.0, 1.0, 5.0, 3.0, 4.0],  # true 3: top-1 3 (hit)
        [0.5, 0.0, 3.0, 1.0, 2.0, 4.0],  # true 2: top-1 5; 2 is 2nd: top-5 hit
        [4.0, 5.0, 3.0, 2.0, 1.0, 0.0],  # true 0: top-1 1; 0 is 2nd: top-5 hit
    ],
    dtype=np.float32,
)
LABELS = np.array([0, 0, 1, 5, 1, 3, 2, 0])
NUM_CLASSES = 6
# Rows: true class, columns: predicted class.
CONFUSION = np.array(
    [
        [1, 2, 0, 0, 0, 0],  # class 0: images 0 (->0), 1 (->1), 7 (->1)
        [0, 0, 1, 0, 1, 0],  # class 1: images 2 (->2), 4 (->4)
        [0, 0, 0, 0, 0, 1],  # class 2: image 6 (->5)
        [0, 0, 0, 1, 0, 0],  # class 3: image 5 (->3)
        [0, 0, 0, 0, 0, 0],  # class 4: no images
        [0, 0, 0, 0, 0, 1],  # class 5: image 3 (->5)
    ]
)
TOP1_HITS = 3  # images 0, 3, 5
TOP5_HITS = 6  # all but images 1 and 2


def numpy_cross_entropy_sum(logits: np.ndarray, labels: np.ndarray) -> float:
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].sum())


class FixedLogits(nn.Module):
    """Returns LOGITS[i] for an image whose pixels all hold i; records the mode it ran in."""

    def __init__(self, logits: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("table", torch.from_numpy(logits))
        self.modes: list[bool] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        rows = images[:, 0, 0, 0].round().long()
        return self.table[rows]


def stub_loader(batch_size: int, count: int = len(LABELS)) -> DataLoader:
    images = torch.arange(count, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 3, 2, 2).contiguous()
    return DataLoader(TensorDataset(images, torch.from_numpy(LABELS[:count])), batch_size=batch_size)


def run(batch_size: int = 3, **kwargs: object) -> tuple[EvalResult, FixedLogits]:
    model = FixedLogits(LOGITS).train()
    result = evaluate(
        model,
        stub_loader(batch_size),
        NUM_CLASSES,
        normalize=nn.Identity(),
        device=torch.device("cpu"),
        **kwargs,  # type: ignore[arg-type]
    )
    return result, model


def test_the_hand_built_fixture_is_consistent() -> None:
    """The comments above, checked with NumPy (guards the fixture, not the code)."""
    predicted = LOGITS.argmax(axis=1)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=int)
    np.add.at(confusion, (LABELS, predicted), 1)
    assert np.array_equal(confusion, CONFUSION)
    top5 = np.argsort(-LOGITS, axis=1)[:, :5]
    assert int((top5 == LABELS[:, None]).any(axis=1).sum()) == TOP5_HITS


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_counts_do_not_depend_on_the_batching(batch_size: int) -> None:
    result, model = run(batch_size)
    assert np.array_equal(result.confusion, CONFUSION)
    assert result.count == 8
    assert result.top5_correct == TOP5_HITS
    assert result.top1 == pytest.approx(TOP1_HITS / 8)
    assert result.top5 == pytest.approx(TOP5_HITS / 8)
    expected_loss = numpy_cross_entropy_sum(LOGITS, LABELS)
    assert result.loss_sum == pytest.approx(expected_loss, rel=1e-6)
    assert result.loss == pytest.approx(expected_loss / 8, rel=1e-6)
    assert model.modes and not any(model.modes)  # switched to eval mode before the first batch


def test_per_class_accuracy_is_recall_with_nan_for_a_class_without_images() -> None:
    result, _ = run()
    per_class = result.per_class
    expected = [1 / 3, 0 / 2, 0 / 1, 1 / 1, math.nan, 1 / 1]
    assert per_class.shape == (NUM_CLASSES,)
    np.testing.assert_allclose(per_class, expected, equal_nan=True)


def test_summary_and_class_names() -> None:
    result, _ = run()
    assert result.classes == ["0", "1", "2", "3", "4", "5"]  # the default names
    summary = result.summary()
    assert summary["images"] == 8
    assert summary["top1"] == pytest.approx(3 / 8) and summary["top5"] == pytest.approx(6 / 8)
    assert summary["loss"] == pytest.approx(numpy_cross_entropy_sum(LOGITS, LABELS) / 8, rel=1e-6)
    names = ["ant", "bee", "cat", "dog", "eel", "fox"]
    named, _ = run(classes=names)
    assert named.classes == names


def test_a_single_process_context_and_channels_last_change_nothing() -> None:
    result, _ = run(context=DistributedContext(), channels_last=True)
    assert np.array_equal(result.confusion, CONFUSION) and result.top5_correct == TOP5_HITS


def test_empty_batches_are_skipped() -> None:
    """A batch whose images all failed to load arrives empty (``collate_skipping``)."""
    model = FixedLogits(LOGITS)
    empty = (torch.empty(0, 3, 1, 1), torch.empty(0, dtype=torch.long))
    images = torch.full((2, 3, 2, 2), 0.0)
    images[1] = 3.0
    batches = [empty, (images, torch.tensor([0, 5])), empty]
    result = evaluate(
        model,
        batches,  # type: ignore[arg-type]
        NUM_CLASSES,
        normalize=nn.Identity(),
        device=torch.device("cpu"),
    )
    assert result.count == 2 and result.top1 == 1.0 and result.top5_correct == 2
    assert len(model.modes) == 1  # the empty batches never reached the model


def test_with_fewer_than_five_classes_top5_counts_every_image() -> None:
    logits = np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]], dtype=np.float32)
    images = torch.tensor([0.0, 1.0]).view(-1, 1, 1, 1).expand(-1, 3, 2, 2)
    labels = torch.tensor([0, 2])  # both wrong at top-1
    result = evaluate(
        FixedLogits(logits),
        [(images, labels)],  # type: ignore[arg-type]
        3,
        normalize=nn.Identity(),
        device=torch.device("cpu"),
    )
    assert result.top1 == 0.0 and result.top5 == 1.0
    assert np.array_equal(result.confusion, [[0, 0, 1], [0, 0, 0], [1, 0, 0]])


def test_an_empty_dataset_gives_zeros_not_a_division_error() -> None:
    result = EvalResult(confusion=np.zeros((3, 3), dtype=np.int64), top5_correct=0, loss_sum=0.0)
    assert (result.count, result.top1, result.top5, result.loss) == (0, 0.0, 0.0, 0.0)
    assert np.isnan(result.per_class).all()


def test_a_real_model_matches_its_own_logits_computed_by_hand() -> None:
    """A tiny MobileNet: the result must be what argmax, top-k and cross-entropy of its logits give."""
    torch.manual_seed(0)
    model = create_model("mobilenet_v3_small", width_mult=0.25, num_classes=7).eval()
    with torch.no_grad():
        model.classifier.weight.normal_(0, 2.0)  # spread the logits so the predictions differ
    images = torch.rand(10, 3, 32, 32)
    labels = torch.tensor([0, 1, 2, 3, 4, 5, 6, 0, 1, 2])
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    with torch.no_grad():
        normalized = (images - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
        logits = model(normalized).numpy()
    result = evaluate(
        model,
        DataLoader(TensorDataset(images, labels), batch_size=10),
        7,
        normalize=Normalize(mean, std),
        device=torch.device("cpu"),
    )
    truth = labels.numpy()
    predicted = logits.argmax(axis=1)
    confusion = np.zeros((7, 7), dtype=int)
    np.add.at(confusion, (truth, predicted), 1)
    assert np.array_equal(result.confusion, confusion)
    top5 = np.argsort(-logits, axis=1)[:, :5]
    assert result.top5_correct == int((top5 == truth[:, None]).any(axis=1).sum())
    assert result.loss_sum == pytest.approx(numpy_cross_entropy_sum(logits, truth), rel=1e-5)
