"""The ImageNet-1k class names, shipped with the package (``imagenet_classes.tsv``).

The file lists the 1000 ILSVRC-2012 classes in training-index order, the order every
torchvision, timm and Keras ImageNet classifier uses: a WordNet synset id, then its lemmas
("tench, Tinca tinca"). A class's display name is its first lemma.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

NUM_IMAGENET_CLASSES = 1000


@cache
def imagenet_synsets_and_lemmas() -> tuple[tuple[str, str], ...]:
    """(synset id, all lemmas) per class, in index order."""
    text = resources.files("mobilenets.weights").joinpath("imagenet_classes.tsv").read_text(encoding="utf8")
    rows = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            synset, lemmas = line.split("\t", 1)
            rows.append((synset, lemmas))
    if len(rows) != NUM_IMAGENET_CLASSES:
        raise RuntimeError(
            f"imagenet_classes.tsv has {len(rows)} classes, expected 1000: reinstall the package"
        )
    return tuple(rows)


def imagenet_labels() -> list[str]:
    """The 1000 display names, e.g. ``labels[386] == 'African elephant'``."""
    return [lemmas.split(", ")[0] for _, lemmas in imagenet_synsets_and_lemmas()]
