"""A small digits classifier trained in seconds, for deployment tests and benchmarks.

The real demo model comes from the training module (``mobilenets train``); until that is
merged, this plain loop gives the int8 checks a model whose predictions mean something.
It trains on the digits' training split only; the held-out split stays unseen.

    .venv/bin/python benchmarks/quick_digits.py OUT.safetensors [--epochs 8]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from mobilenets import PreprocessConfig, create_model
from mobilenets.digits import CLASS_NAMES, split_digits
from mobilenets.preprocess import INCEPTION_MEAN, INCEPTION_STD, preprocess_image
from mobilenets.weights import save_weights


def train_quick_digits(
    path: str | Path, arch: str = "mobilenet_v1_0.5", size: int = 32, epochs: int = 10, seed: int = 0
) -> Path:
    """Train ``arch`` on the digits' training split at ``size`` px and save it to ``path``.

    Returns:
        The weight file, with the digits' labels and a crop-free preprocessing config.
    """
    torch.manual_seed(seed)
    # One thread: these tensors are too small to split, and extra threads only wait on each
    # other (badly so on a shared machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    # BN momentum 0.1: V1's Keras default (0.01) would leave the running statistics of a
    # run this short mostly at their initial values, and eval mode would then be broken.
    # ReLU6 for V1 (as in the TF weights): bounded activations quantize to int8 far better.
    extra = {"act": "relu6"} if arch.startswith("mobilenet_v1") else {}
    model = create_model(
        arch, num_classes=10, resolution_mult=size / 224, dropout=0.0, bn_momentum=0.1, **extra
    )
    model.preprocess = PreprocessConfig(
        input_size=(3, size, size), mean=INCEPTION_MEAN, std=INCEPTION_STD, crop_pct=1.0
    )
    train, _ = split_digits(size=32)
    # The same transform the exporters use on calibration images, so train and export agree.
    inputs = torch.stack([preprocess_image(Image.fromarray(img), model.preprocess) for img in train.images])
    targets = torch.from_numpy(train.labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * int(np.ceil(len(inputs) / 64))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _epoch in range(epochs):
        order = torch.randperm(len(inputs))
        for start in range(0, len(inputs), 64):
            batch = order[start : start + 64]
            loss = loss_fn(model(inputs[batch]), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    torch.set_num_threads(threads)
    return save_weights(
        model, path, labels=CLASS_NAMES, source=f"benchmarks/quick_digits.py, {epochs} epochs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="train a small digits model quickly")
    parser.add_argument("out")
    parser.add_argument("--arch", default="mobilenet_v1_0.5")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    print(train_quick_digits(args.out, args.arch, args.size, args.epochs))


if __name__ == "__main__":
    main()
