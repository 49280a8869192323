"""``weights.catalog``: the sources, the published files, and the questions answered from them.

Expected answers come from reading ``OFFICIAL_WEIGHTS`` directly (with the registry's name parser)
or from the publishers' own lists, written out here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from mobilenets.models.registry import paper_input_size, parse_model_name
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
    size = paper_input_size(base)  # 224, or V4's table size (256 for Conv-M, 384 for Conv-L)
    return base, implied.get("width_mult", 1.0), round(size * implied.get("resolution_mult", 1.0))


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


HF = "/resolve/main/model.safetensors"  # a Hugging Face repo's file


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
        # V4: timm's default tag at the paper's size; a tag picks its file (and its size)
        ("mobilenet_v4_conv_small", "timm", "v4_conv_small.e2400_r224_in1k" + HF),
        ("mobilenet_v4_conv_small", "timm:mobilenetv4_conv_small.e1200_r224_in1k", "e1200_r224_in1k" + HF),
        ("mobilenet_v4_conv_small", "timm:mobilenetv4_conv_small.e3600_r256_in1k", "e3600_r256_in1k" + HF),
        ("mobilenet_v4_conv_small_0.5", "timm", "v4_conv_small_050.e3000_r224_in1k" + HF),
        ("mobilenet_v4_conv_medium", "timm", "v4_conv_medium.e500_r256_in1k" + HF),
        ("mobilenet_v4_conv_medium_224", "timm", "v4_conv_medium.e500_r224_in1k" + HF),
        ("mobilenet_v4_conv_large", "timm:mobilenetv4_conv_large", "v4_conv_large.e600_r384_in1k" + HF),
        ("mobilenet_v4_hybrid_medium", "timm", "v4_hybrid_medium.e200_r256_in12k_ft_in1k" + HF),
        ("mobilenet_v4_hybrid_large", "timm", "v4_hybrid_large.ix_e600_r384_in1k" + HF),
    ],
)  # fmt: skip
def test_find_official(model: str, source: str, url_end: str) -> None:
    entry = find_official(model, source)
    assert entry.url.endswith(url_end)
    if "." in source:  # a tag names one file, at its own size
        assert base_width_size(entry.model)[:2] == base_width_size(model)[:2]
    else:
        assert base_width_size(entry.model) == base_width_size(model)


# timm's MobileNetV4 files with ImageNet-1k classifiers (timm.list_models('mobilenetv4*',
# pretrained=True), less the 11,821-class in12k tags).
TIMM_V4_IN1K = {
    "mobilenetv4_conv_small": ("e2400_r224_in1k", "e1200_r224_in1k", "e3600_r256_in1k"),
    "mobilenetv4_conv_small_050": ("e3000_r224_in1k",),
    "mobilenetv4_conv_medium": ("e500_r256_in1k", "e500_r224_in1k", "e250_r384_in12k_ft_in1k"),
    "mobilenetv4_conv_large": ("e600_r384_in1k", "e500_r256_in1k"),
    "mobilenetv4_hybrid_medium": ("e200_r256_in12k_ft_in1k", "ix_e550_r256_in1k", "ix_e550_r384_in1k",
                                  "e500_r224_in1k"),
    "mobilenetv4_hybrid_large": ("ix_e600_r384_in1k", "e600_r384_in1k"),
    "mobilenetv4_conv_aa_large": ("e230_r448_in12k_ft_in1k", "e230_r384_in12k_ft_in1k", "e600_r384_in1k"),
    "mobilenetv4_conv_blur_medium": ("e500_r224_in1k",),
}  # fmt: skip


def test_timm_v4_files_are_the_published_in1k_tags() -> None:
    v4 = [e for e in OFFICIAL_WEIGHTS if e.timm_model and e.timm_model.startswith("mobilenetv4")]
    assert [e.timm_model for e in v4] == [
        f"{name}.{tag}" for name, tags in TIMM_V4_IN1K.items() for tag in tags
    ]
    for entry in v4:
        assert entry.url == f"https://huggingface.co/timm/{entry.timm_model}/resolve/main/model.safetensors"
        assert entry.sha256_prefix is None and entry.md5 is None  # the hub publishes none we could read
        assert entry.file_name == f"{entry.timm_model}.safetensors"
        base, width, size = base_width_size(entry.model)
        name, tag = entry.timm_model.split(".")
        assert size == int(re.search(r"_r(\d+)_", tag)[1])  # the tag's input size
        assert (base, width) == {"mobilenetv4_conv_small_050": ("mobilenet_v4_conv_small", 0.5)}.get(
            name, (name.replace("mobilenetv4_", "mobilenet_v4_"), 1.0)
        )
    # The first tag of each model is timm's default: plain 'timm' at the paper's size picks it
    # (Conv-L-aa's default is for 448 px, the blur Conv-M's for 224 px: none at the paper's size).
    for name, tags in TIMM_V4_IN1K.items():
        if name in ("mobilenetv4_conv_aa_large", "mobilenetv4_conv_blur_medium"):
            continue
        model = {"mobilenetv4_conv_small_050": "mobilenet_v4_conv_small_0.5"}.get(
            name, name.replace("mobilenetv4_", "mobilenet_v4_")
        )
        assert find_official(model, "timm").timm_model == f"{name}.{tags[0]}"
        assert find_official(model, f"timm:{name}").timm_model == f"{name}.{tags[0]}"
    assert published_sizes("mobilenet_v4_conv_medium") == [384, 256, 224]
    assert published_sources("mobilenet_v4_hybrid_large") == ["timm"]


def test_a_v4_tag_at_another_size_says_which_size_it_is() -> None:
    with pytest.raises(ValueError, match=r"is for mobilenet_v4_conv_small_256 \(256 px\), not 224 px"):
        find_official("mobilenet_v4_conv_small_224", "timm:mobilenetv4_conv_small.e3600_r256_in1k")
    with pytest.raises(ValueError, match="no official timm model of that name"):
        find_official("mobilenet_v4_conv_small", "timm:mobilenetv4_conv_small.e9_r224_in1k")
    assert find_official("mobilenet_v4_conv_aa_large", "timm").timm_model.endswith("e230_r384_in12k_ft_in1k")


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
