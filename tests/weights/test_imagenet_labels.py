"""imagenet_labels: the 1000 ILSVRC-2012 classes in training-index order, named by their first lemma.

The expected entries are the well-known ImageNet-1k class order (torchvision, timm and Keras
all share it), written out here rather than read from the shipped file.
"""

from __future__ import annotations

import re

import pytest

from mobilenets.weights.imagenet_labels import (
    NUM_IMAGENET_CLASSES,
    imagenet_labels,
    imagenet_synsets_and_lemmas,
)

KNOWN = [  # (index, WordNet synset, display name)
    (0, "n01440764", "tench"),
    (1, "n01443537", "goldfish"),
    (2, "n01484850", "great white shark"),
    (207, "n02099601", "golden retriever"),
    (281, "n02123045", "tabby"),
    (340, "n02391049", "zebra"),
    (386, "n02504458", "African elephant"),
    (388, "n02510455", "giant panda"),
    (954, "n07753592", "banana"),
    (999, "n15075141", "toilet tissue"),
]


def test_there_are_1000_classes() -> None:
    assert NUM_IMAGENET_CLASSES == 1000
    assert len(imagenet_labels()) == 1000
    assert len(imagenet_synsets_and_lemmas()) == 1000


@pytest.mark.parametrize(("index", "synset", "name"), KNOWN)
def test_known_classes_are_at_their_imagenet_index(index: int, synset: str, name: str) -> None:
    assert imagenet_synsets_and_lemmas()[index][0] == synset
    assert imagenet_labels()[index] == name


def test_display_name_is_the_first_lemma() -> None:
    rows = imagenet_synsets_and_lemmas()
    assert rows[0][1] == "tench, Tinca tinca"
    assert rows[281][1] == "tabby, tabby cat"
    assert rows[999][1] == "toilet tissue, toilet paper, bathroom tissue"
    assert imagenet_labels() == [lemmas.split(", ")[0] for _, lemmas in rows]


def test_first_lemmas_repeat_where_imagenet_repeats_them() -> None:
    # ImageNet's two cranes (the bird and the machine) and two maillots share a first lemma
    labels = imagenet_labels()
    synsets = [synset for synset, _ in imagenet_synsets_and_lemmas()]
    assert (labels[134], synsets[134]) == ("crane", "n02012849")
    assert (labels[517], synsets[517]) == ("crane", "n03126707")
    assert (labels[638], labels[639]) == ("maillot", "maillot")
    assert len(set(labels)) < 1000


def test_synsets_are_unique_wordnet_noun_ids_in_sorted_order() -> None:
    synsets = [synset for synset, _ in imagenet_synsets_and_lemmas()]
    assert all(re.fullmatch(r"n\d{8}", synset) for synset in synsets)
    assert len(set(synsets)) == 1000
    assert synsets == sorted(synsets)  # ILSVRC-2012 numbers its classes in sorted synset order


def test_labels_are_clean_printable_names() -> None:
    for name in imagenet_labels():
        assert name and name == name.strip()
        assert "\t" not in name and "," not in name
        assert all(ord(c) >= 32 for c in name)


def test_labels_is_a_fresh_list_each_call() -> None:
    first = imagenet_labels()
    first[0] = "changed"
    assert imagenet_labels()[0] == "tench"
