"""Classification accuracy: top-1, top-5, per class, and the confusion matrix behind them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from mobilenets.train.distributed import DistributedContext, all_reduce_sum


@dataclass
class EvalResult:
    """Accuracy over a labelled dataset.

    Args:
        confusion: (num_classes, num_classes) counts; row = true class, column = predicted.
        top5_correct: images whose true class is among the 5 highest scores.
        loss_sum: summed cross-entropy (no label smoothing).
        classes: class names, in index order.
    """

    confusion: np.ndarray
    top5_correct: int
    loss_sum: float
    classes: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # unreadable images: path -> reason

    @property
    def count(self) -> int:
        return int(self.confusion.sum())

    @property
    def top1(self) -> float:
        return float(np.trace(self.confusion) / max(1, self.count))

    @property
    def top5(self) -> float:
        return self.top5_correct / max(1, self.count)

    @property
    def loss(self) -> float:
        return self.loss_sum / max(1, self.count)

    @property
    def per_class(self) -> np.ndarray:
        """Accuracy (recall) of each class; NaN for a class with no images."""
        totals = self.confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, np.diag(self.confusion) / totals, np.nan)

    def summary(self) -> dict[str, float]:
        return {"top1": self.top1, "top5": self.top5, "loss": self.loss, "images": self.count}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    num_classes: int,
    *,
    normalize: nn.Module,
    device: torch.device,
    context: DistributedContext | None = None,
    channels_last: bool = False,
    autocast_dtype: torch.dtype | None = None,
    classes: list[str] | None = None,
) -> EvalResult:
    """Run ``model`` over ``loader`` and count its hits; under DDP the counts are summed over ranks.

    Args:
        model: the classifier, switched to eval mode here.
        loader: yields (images (B, 3, H, W) in [0, 1], labels (B,)).
        num_classes: size of the confusion matrix.
        normalize: the model's mean/std normalization.
        device: where to run.
        context: the distributed context; each rank evaluates its own shard.
        channels_last: feed NHWC tensors.
        autocast_dtype: bf16/fp16 autocast, or None for full precision.
        classes: class names to keep in the result.

    Returns:
        The confusion matrix, top-5 hits and loss over the whole dataset.
    """
    model.eval()
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long, device=device)
    totals = torch.zeros(2, dtype=torch.float64, device=device)  # (top-5 hits, summed loss)
    k = min(5, num_classes)
    for images, labels in loader:
        if labels.numel() == 0:
            continue
        images = normalize(images.to(device, non_blocking=True))  # (B, 3, H, W)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        labels = labels.to(device, non_blocking=True)  # (B,)
        with torch.autocast(
            device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None
        ):
            logits = model(images)  # (B, num_classes)
        logits = logits.float()
        predicted = logits.argmax(dim=1)
        confusion += torch.bincount(labels * num_classes + predicted, minlength=num_classes**2).view(
            num_classes, num_classes
        )
        top_k = logits.topk(k, dim=1).indices  # (B, k)
        totals[0] += (top_k == labels[:, None]).any(dim=1).sum()
        totals[1] += nn.functional.cross_entropy(logits, labels, reduction="sum")
    if context is not None:
        confusion = all_reduce_sum(confusion, context)
        totals = all_reduce_sum(totals, context)
    return EvalResult(
        confusion=confusion.cpu().numpy(),
        top5_correct=int(totals[0].item()),
        loss_sum=float(totals[1].item()),
        classes=list(classes or [str(i) for i in range(num_classes)]),
    )
