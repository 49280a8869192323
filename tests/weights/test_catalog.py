"""``weights.catalog``: the sources, the published files, and the questions answered from them.

Expected answers come from reading ``OFFICIAL_WEIGHTS`` directly (with the registry's name parser)
or from the publishers' own lists, written out here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from mobilenets.models.registry import parse_model_name
from mobilenets.weights.catalog import (
    OFFICIAL_WEIGHTS,
    SOURCES,
    canonical_name,
    find_official,
    is_official_source,
    published_models,
    published_sizes,
    published_sources,
)


def base_width_size(model: str) -> tuple[str, float, int]:
    base, implied = parse_model_name(model)
    return base, implied.get("width_mult", 1.0), round(224 * implied.get("resolution_mult", 1.0))


def table_by_model() -> dict[tuple[str, float], list[tuple[str, int]]]:
    """(base, width) -> [(source, size)], straight from the table."""
    found: dict[tuple[str, float], list[tuple[str, int]]] = defaultdict(list)
    for entry in OFFICIAL_WEIGHTS:
        base, width, size = base_width_size(entry.model)
        found[(base, width)].append((entry.source, size))
    return found


def test_the_sources() -> None:
    assert SOURCES == ("torchvision", "timm", "keras")
    assert {entry.source for entry in OFFICIAL_WEIGHTS} == set(SOURCES)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ("keras", True),
        ("timm", True),
        ("torchvision", True),
        ("timm:mobilenetv2_100", True),
        ("torchvision:IMAGENET1K_V1", True),
        ("huggingface", False),
        ("Keras", False),
        ("weights.safetensors", False),
        ("", False),
        (Path("keras"), False),  # a Path is always a file
        (None, False),
    ],
)
def test_is_official_source(weights: object, expected: bool) -> None:
    assert is_official_source(weights) is expected


def test_an_existing_file_named_like_a_source_is_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert is_official_source("keras")
    Path("keras").write_bytes(b"")
    assert not is_official_source("keras")


def test_every_entry_is_well_formed() -> None:
    for entry in OFFICIAL_WEIGHTS:
        parse_model_name(entry.model)  # a name the registry knows
        assert entry.source in SOURCES
        assert entry.url.startswith("https://")
        if entry.source == "timm":
            assert entry.timm_model and entry.variant == entry.timm_model
        if entry.source == "torchvision":
            assert entry.release and entry.variant == entry.release
        if entry.sha256_prefix is not None:  # the publisher's file name carries it
            match = re.search(r"-([0-9a-f]{8})\.pth$", entry.url)
            assert match and match[1] == entry.sha256_prefix, entry.url
        if entry.md5 is not None:
            assert re.fullmatch(r"[0-9a-f]{32}", entry.md5)
    variants = [(e.source, base_width_size(e.model), e.variant) for e in OFFICIAL_WEIGHTS]
    assert len(variants) == len(set(variants))  # no file listed twice


def test_file_names() -> None:
    tv = find_official("mobilenet_v2", "torchvision")
    assert tv.file_name == "mobilenet_v2-7ebf99e0.pth"
    hf = find_official("mobilenet_v1", "timm")
    assert hf.timm_model == "mobilenetv1_100" and hf.file_name == "mobilenetv1_100.safetensors"
    assert hf.sha256_prefix is None  # Hugging Face-only: nothing published to check against


def test_published_models_are_the_table_s_architecture_width_pairs() -> None:
    names = published_models()
    assert len(names) == len(set(names))
    assert {base_width_size(name)[:2] for name in names} == set(table_by_model())
    for name in names:
        base, implied = parse_model_name(name)
        assert "resolution_mult" not in implied  # weights do not depend on the input size
        assert (name == base) == ("width_mult" not in implied)  # width 1.0 is the plain name
    keys = [(base_width_size(n)[0], -base_width_size(n)[1]) for n in names]
    assert keys == sorted(keys)  # by architecture, the widest first
    for known in ("mobilenet_v1_0.25", "mobilenet_v1_1.25", "mobilenet_v2_0.35", "mobilenet_v2_1.3",
                  "mobilenet_v3_large_minimal", "mobilenet_v3_small_0.75"):  # fmt: skip
        assert known in names


def test_published_sizes_agree_with_the_table() -> None:
    table = table_by_model()
    for name in published_models():
        expected = sorted({size for _, size in table[base_width_size(name)[:2]]}, reverse=True)
        assert published_sizes(name) == expected
    assert published_sizes("mobilenet_v1_0.25") == [224, 192, 160, 128]  # Keras' V1 files
    assert published_sizes("mobilenet_v2_0.35_96") == [224, 192, 160, 128, 96]  # the size is ignored
    assert published_sizes("mobilenet_v3_small") == [224]
    assert published_sizes("mobilenet_v2_0.6") == []


def test_published_sources_agree_with_the_table() -> None:
    table = table_by_model()
    for name in published_models():
        found = {source for source, _ in table[base_width_size(name)[:2]]}
        assert published_sources(name) == [s for s in SOURCES if s in found]
    assert published_sources("mobilenet_v2") == ["torchvision", "timm", "keras"]
    assert published_sources("mobilenet_v1_1.0_128") == ["timm", "keras"]
    assert published_sources("mobilenet_v1_1.25") == ["timm"]
    assert published_sources("mobilenet_v2_1.3") == ["keras"]
    assert published_sources("mobilenet_v3_small_0.75") == ["timm", "keras"]
    assert published_sources("mobilenet_v2_0.6") == []


def test_canonical_names() -> None:
    assert canonical_name("mobilenet_v2") == "mobilenet_v2_1.0_224"
    assert canonical_name("mobilenet_v1_0.5_160") == "mobilenet_v1_0.5_160"
    assert canonical_name("mobilenet_v3_large_0.75") == "mobilenet_v3_large_0.75_224"


@pytest.mark.parametrize(
    ("model", "source", "url_end"),
    [
        ("mobilenet_v2", "torchvision", "mobilenet_v2-7ebf99e0.pth"),  # the current default first
        ("mobilenet_v2", "torchvision:IMAGENET1K_V1", "mobilenet_v2-b0353104.pth"),
        ("mobilenet_v3_large", "torchvision:IMAGENET1K_V1", "mobilenet_v3_large-8738ca79.pth"),
        ("mobilenet_v3_large", "timm", "mobilenetv3_large_100_ra-f55367f5.pth"),  # timm's own before TF's
        ("mobilenet_v3_large", "timm:tf_mobilenetv3_large_100", "tf_mobilenetv3_large_100-427764d5.pth"),
        ("mobilenet_v1", "timm:mobilenetv1_100.ra4_e3600_r224_in1k", "in1k/resolve/main/model.safetensors"),
        ("mobilenet_v1", "keras", "mobilenet_1_0_224_tf.h5"),
        ("mobilenet_v1_0.5_160", "keras", "mobilenet_5_0_160_tf.h5"),
        ("mobilenet_v2_1.3_96", "keras", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.3_96.h5"),
        ("mobilenet_v3_small_minimal", "keras", "weights_mobilenet_v3_small_minimalistic_224_1.0_float.h5"),
    ],
)  # fmt: skip
def test_find_official(model: str, source: str, url_end: str) -> None:
    entry = find_official(model, source)
    assert entry.url.endswith(url_end)
    assert base_width_size(entry.model) == base_width_size(model)


def test_find_official_lists_what_a_source_has() -> None:
    with pytest.raises(ValueError) as error:
        find_official("mobilenet_v2_1.3", "torchvision")
    message = str(error.value)
    assert (
        "torchvision publishes no weights for 'mobilenet_v2_1.3' (mobilenet_v2, width 1.3, 224 px)" in message
    )
    torchvision_models = sorted({e.model for e in OFFICIAL_WEIGHTS if e.source == "torchvision"})
    assert torchvision_models == ["mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"]
    assert f"It has: {', '.join(torchvision_models)}." in message


def test_find_official_names_the_missing_size() -> None:
    with pytest.raises(
        ValueError, match=r"keras publishes no weights for 'mobilenet_v1_0.5_96' .*96 px"
    ) as error:
        find_official("mobilenet_v1_0.5_96", "keras")
    assert "mobilenet_v1_0.5_128" in str(error.value) and "mobilenet_v1_0.5_224" in str(error.value)


def test_find_official_refuses_an_unknown_variant_and_an_unknown_source() -> None:
    with pytest.raises(ValueError, match="no official timm model of that name") as error:
        find_official("mobilenet_v2", "timm:mobilenetv2_999")
    assert "mobilenetv2_140" in str(error.value)  # what timm does have
    # a real timm model, but of another architecture: the models timm has are listed
    with pytest.raises(ValueError, match="timm publishes no weights for 'mobilenet_v2'") as error:
        find_official("mobilenet_v2", "timm:mobilenetv3_large_100")
    assert "mobilenet_v2_1.4" in str(error.value)
    with pytest.raises(ValueError, match="weights='hub' is unknown; use 'torchvision', 'timm', 'keras'"):
        find_official("mobilenet_v2", "hub")


@pytest.mark.parametrize(
    ("source", "kind", "one_known"),
    [
        ("timm:bogus_model", "timm model", "mobilenetv2_100"),
        ("torchvision:IMAGENET1K_V9", "torchvision release", "IMAGENET1K_V2"),
    ],
)
def test_an_unknown_variant_is_named_as_such(source: str, kind: str, one_known: str) -> None:
    """Not 'publishes no weights for mobilenet_v2' followed by a list holding mobilenet_v2."""
    with pytest.raises(ValueError, match=rf"no official {kind} of that name; known: .*{one_known}"):
        find_official("mobilenet_v2", source)
