"""What exists: the model variants, the sources of official weights, and every published file.

One table answers "which variants and weights exist" for the whole package: ``mobilenets
models``, ``create_model(name, weights='keras')``, the README's support table and the tests all
read ``OFFICIAL_WEIGHTS``. Each file is listed with its URL and whatever checksum its publisher
gives:

- torchvision and timm's GitHub releases put the first 8 hex digits of the file's SHA-256 in
  the file name (torch.hub checks exactly that prefix);
- Keras publishes MD5 sums for its MobileNetV3 files (``keras.applications.mobilenet_v3``)
  and none for MobileNet / MobileNetV2;
- timm's Hugging Face-only files (``mobilenetv1_*``, ``mobilenetv4_*``) have no checksum we
  could look up offline.

Nothing here is a made-up hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mobilenets.models.registry import paper_input_size, parse_model_name

# Where official weights come from; ``weights='timm:<timm name>'`` or
# ``'torchvision:<release>'`` picks one file where a source has several.
SOURCES: tuple[str, ...] = ("torchvision", "timm", "keras")

TORCHVISION_URL = "https://download.pytorch.org/models/"
TIMM_RELEASE_URL = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/"
HF_URL = "https://huggingface.co/timm/{name}/resolve/main/model.safetensors"
KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class OfficialWeights:
    """One published weights file.

    Args:
        model: our model name the file converts to ('mobilenet_v1_0.5_160').
        source: 'torchvision', 'timm' or 'keras'.
        url: where the publisher serves it (``file://`` works too, for tests and mirrors).
        sha256_prefix: leading hex digits of its SHA-256, where the publisher gives them.
        md5: its MD5, where that is what the publisher gives.
        timm_model: timm's name, for timm files (decides padding and preprocessing).
        release: torchvision's name for the weights (its ``*_Weights`` enum member, such as
            'IMAGENET1K_V1'), which picks an older file than the default ('torchvision:IMAGENET1K_V1').
        crop_pct: the publisher's evaluation crop, where it differs from the source default
            (torchvision's V2 recipes resize to 232, not 256, before the 224 crop).
    """

    model: str
    source: str
    url: str
    sha256_prefix: str | None = None
    md5: str | None = None
    timm_model: str | None = None
    release: str | None = None
    crop_pct: float | None = None

    @property
    def variant(self) -> str | None:
        """What follows the colon in 'timm:<name>' or 'torchvision:<release>', if anything."""
        return self.timm_model or self.release

    @property
    def file_name(self) -> str:
        if self.timm_model and self.url.endswith("/model.safetensors"):  # a Hugging Face repo (or mirror)
            return f"{self.timm_model}.safetensors"
        return self.url.rsplit("/", 1)[-1]


def _canonical(model: str) -> tuple[str, float, int]:
    """(base, width, input size) of a model name, defaults filled in."""
    base, implied = parse_model_name(model)
    size = round(paper_input_size(base) * implied.get("resolution_mult", 1.0))
    return base, float(implied.get("width_mult", 1.0)), size


def _model_name(base: str, width: float, size: int) -> str:
    return f"{base}_{float(width)}_{size}"  # 'mobilenet_v2_0.35_96', 'mobilenet_v3_large_1.0_224'


def canonical_name(model: str) -> str:
    """The name with width and size spelled out: 'mobilenet_v2' -> 'mobilenet_v2_1.0_224'."""
    return _model_name(*_canonical(model))


def _official_table() -> list[OfficialWeights]:
    return [*_torchvision_files(), *_timm_files(), *_keras_files()]


def _torchvision_files() -> list[OfficialWeights]:
    return [
        # torchvision's current default ("IMAGENET1K_V2" for V2 and V3-Large, "V1" for V3-Small)
        # comes first, so plain 'torchvision' picks it; the older releases follow.
        OfficialWeights(
            "mobilenet_v2",
            "torchvision",
            TORCHVISION_URL + "mobilenet_v2-7ebf99e0.pth",
            "7ebf99e0",
            release="IMAGENET1K_V2",
            crop_pct=224 / 232,
        ),
        OfficialWeights(
            "mobilenet_v3_large",
            "torchvision",
            TORCHVISION_URL + "mobilenet_v3_large-5c1a4163.pth",
            "5c1a4163",
            release="IMAGENET1K_V2",
            crop_pct=224 / 232,
        ),
        OfficialWeights(
            "mobilenet_v3_small",
            "torchvision",
            TORCHVISION_URL + "mobilenet_v3_small-047dcff4.pth",
            "047dcff4",
            release="IMAGENET1K_V1",
        ),
        # The original releases, evaluated with the classic resize-256 / crop-224.
        OfficialWeights(
            "mobilenet_v2",
            "torchvision",
            TORCHVISION_URL + "mobilenet_v2-b0353104.pth",
            "b0353104",
            release="IMAGENET1K_V1",
        ),
        OfficialWeights(
            "mobilenet_v3_large",
            "torchvision",
            TORCHVISION_URL + "mobilenet_v3_large-8738ca79.pth",
            "8738ca79",
            release="IMAGENET1K_V1",
        ),
    ]


def _timm_files() -> list[OfficialWeights]:
    table = []
    timm_release = {  # timm name -> (our model, release file); the suffix is the SHA-256 prefix
        "mobilenetv2_050": ("mobilenet_v2_0.5", "mobilenetv2_050-3d30d450.pth"),
        "mobilenetv2_100": ("mobilenet_v2", "mobilenetv2_100_ra-b33bc2c4.pth"),
        "mobilenetv2_140": ("mobilenet_v2_1.4", "mobilenetv2_140_ra-21a4e913.pth"),
        "mobilenetv3_large_100": ("mobilenet_v3_large", "mobilenetv3_large_100_ra-f55367f5.pth"),
        "mobilenetv3_small_075": ("mobilenet_v3_small_0.75", "mobilenetv3_small_075_lambc-384766db.pth"),
        "mobilenetv3_small_100": ("mobilenet_v3_small", "mobilenetv3_small_100_lamb-266a294c.pth"),
        "tf_mobilenetv3_large_075": ("mobilenet_v3_large_0.75", "tf_mobilenetv3_large_075-150ee8b0.pth"),
        "tf_mobilenetv3_large_minimal_100": (
            "mobilenet_v3_large_minimal", "tf_mobilenetv3_large_minimal_100-8596ae28.pth"
        ),
        "tf_mobilenetv3_small_minimal_100": (
            "mobilenet_v3_small_minimal", "tf_mobilenetv3_small_minimal_100-922a7843.pth"
        ),
        # Listed after timm's own models of the same shape, so 'timm' picks those by default;
        # 'timm:tf_mobilenetv3_large_100' asks for the TF port explicitly.
        "tf_mobilenetv3_large_100": ("mobilenet_v3_large", "tf_mobilenetv3_large_100-427764d5.pth"),
        "tf_mobilenetv3_small_075": ("mobilenet_v3_small_0.75", "tf_mobilenetv3_small_075-da427f52.pth"),
        "tf_mobilenetv3_small_100": ("mobilenet_v3_small", "tf_mobilenetv3_small_100-37f49e2b.pth"),
    }  # fmt: skip
    for timm_name, (model, file_name) in timm_release.items():
        prefix = file_name.rsplit("-", 1)[1].split(".")[0]
        table.append(
            OfficialWeights(model, "timm", TIMM_RELEASE_URL + file_name, prefix, timm_model=timm_name)
        )
    for timm_name, model in (("mobilenetv1_100", "mobilenet_v1"), ("mobilenetv1_125", "mobilenet_v1_1.25")):
        url = HF_URL.format(name=f"{timm_name}.ra4_e3600_r224_in1k")
        table.append(OfficialWeights(model, "timm", url, timm_model=timm_name))
    for tagged, model in _TIMM_V4.items():
        table.append(OfficialWeights(model, "timm", HF_URL.format(name=tagged), timm_model=tagged))
    return table


# MobileNetV4: timm's ImageNet-1k files on the Hugging Face hub, one per published tag (the tag
# is part of the name: 'timm:mobilenetv4_conv_small.e1200_r224_in1k'). Each converts to our
# model at the tag's input size ('_r224' -> 'mobilenet_v4_conv_medium_224'); timm's default
# tag for a model comes first, so plain 'timm' at the paper's size picks it. Left out: the
# ImageNet-12k tags (11,821 classes: 'mobilenetv4_conv_medium.e180_r384_in12k' and the like,
# which convert from a file all the same).
_TIMM_V4 = {
    "mobilenetv4_conv_small.e2400_r224_in1k": "mobilenet_v4_conv_small",
    "mobilenetv4_conv_small.e1200_r224_in1k": "mobilenet_v4_conv_small",
    "mobilenetv4_conv_small.e3600_r256_in1k": "mobilenet_v4_conv_small_256",
    "mobilenetv4_conv_small_050.e3000_r224_in1k": "mobilenet_v4_conv_small_0.5",
    "mobilenetv4_conv_medium.e500_r256_in1k": "mobilenet_v4_conv_medium",
    "mobilenetv4_conv_medium.e500_r224_in1k": "mobilenet_v4_conv_medium_224",
    "mobilenetv4_conv_medium.e250_r384_in12k_ft_in1k": "mobilenet_v4_conv_medium_384",
    "mobilenetv4_conv_large.e600_r384_in1k": "mobilenet_v4_conv_large",
    "mobilenetv4_conv_large.e500_r256_in1k": "mobilenet_v4_conv_large_256",
    "mobilenetv4_hybrid_medium.e200_r256_in12k_ft_in1k": "mobilenet_v4_hybrid_medium",
    "mobilenetv4_hybrid_medium.ix_e550_r256_in1k": "mobilenet_v4_hybrid_medium",
    "mobilenetv4_hybrid_medium.ix_e550_r384_in1k": "mobilenet_v4_hybrid_medium_384",
    "mobilenetv4_hybrid_medium.e500_r224_in1k": "mobilenet_v4_hybrid_medium_224",
    "mobilenetv4_hybrid_large.ix_e600_r384_in1k": "mobilenet_v4_hybrid_large",
    "mobilenetv4_hybrid_large.e600_r384_in1k": "mobilenet_v4_hybrid_large",
    # anti-aliased downsampling: the plain models' tensors, another network
    "mobilenetv4_conv_aa_large.e230_r448_in12k_ft_in1k": "mobilenet_v4_conv_aa_large_448",
    "mobilenetv4_conv_aa_large.e230_r384_in12k_ft_in1k": "mobilenet_v4_conv_aa_large",
    "mobilenetv4_conv_aa_large.e600_r384_in1k": "mobilenet_v4_conv_aa_large",
    "mobilenetv4_conv_blur_medium.e500_r224_in1k": "mobilenet_v4_conv_blur_medium_224",
}


def _keras_files() -> list[OfficialWeights]:
    table = []
    # Keras: V1 and V2 per width and input size (no checksums published), V3 at 224 with MD5s.
    v1_text = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}
    for width, text in v1_text.items():
        for size in (128, 160, 192, 224):
            url = f"{KERAS_URL}mobilenet/mobilenet_{text}_{size}_tf.h5"
            table.append(OfficialWeights(_model_name("mobilenet_v1", width, size), "keras", url))
    for width in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4):
        for size in (96, 128, 160, 192, 224):
            file_name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{width}_{size}.h5"
            table.append(
                OfficialWeights(
                    _model_name("mobilenet_v2", width, size), "keras", KERAS_URL + "mobilenet_v2/" + file_name
                )
            )
    v3_md5 = {  # keras.applications.mobilenet_v3.WEIGHTS_HASHES, include_top files
        ("mobilenet_v3_large", "large", 0.75): "765b44a33ad4005b3ac83185abf1d0eb",
        ("mobilenet_v3_large", "large", 1.0): "59e551e166be033d707958cf9e29a6a7",
        ("mobilenet_v3_large_minimal", "large_minimalistic", 1.0): "675e7b876c45c57e9e63e6d90a36599c",
        ("mobilenet_v3_small", "small", 0.75): "cb65d4e5be93758266aa0a7f2c6708b7",
        ("mobilenet_v3_small", "small", 1.0): "8768d4c2e7dee89b9d02b2d03d65d862",
        ("mobilenet_v3_small_minimal", "small_minimalistic", 1.0): "99cd97fb2fcdad2bf028eb838de69e37",
    }  # fmt: skip
    for (base, keras_name, width), md5 in v3_md5.items():
        url = f"{KERAS_URL}mobilenet_v3/weights_mobilenet_v3_{keras_name}_224_{width}_float.h5"
        table.append(OfficialWeights(_model_name(base, width, 224), "keras", url, md5=md5))
    return table


OFFICIAL_WEIGHTS: list[OfficialWeights] = _official_table()


def _variant_matches(listed: str | None, asked: str) -> bool:
    """Whether 'timm:<asked>' picks a file listed as ``listed``.

    Names and tags: an entry listed without a tag ('mobilenetv1_100') is its model's only file
    and answers any tag; a name without a tag ('mobilenetv4_conv_small') asks for any of the
    model's tags, the first listed (timm's default) winning.
    """
    if listed is None:
        return False
    if listed == asked:
        return True
    if "." not in listed:
        return asked.split(".")[0] == listed
    return "." not in asked and listed.split(".")[0] == asked


def find_official(model: str, source: str) -> OfficialWeights:
    """The official file for a model name and 'torchvision' / 'timm' / 'keras' / 'timm:<name>' /
    'torchvision:<release>'.

    A tagged timm name ('timm:mobilenetv4_conv_small.e3600_r256_in1k') is one file with its own
    input size: with a model name that gives no size ('mobilenet_v4_conv_small'), the tag's size
    is taken; a size in the name must be the tag's.

    Raises:
        ValueError: no such file is published; lists what is.
    """
    source, _, variant = source.partition(":")
    wanted = _canonical(model)
    # A tag names a file; its size then only has to agree with a size the caller spelled out.
    size_free = "." in variant and "resolution_mult" not in parse_model_name(model)[1]
    compared = 2 if size_free else 3  # (base, width) or (base, width, size)
    for entry in OFFICIAL_WEIGHTS:
        if entry.source != source or _canonical(entry.model)[:compared] != wanted[:compared]:
            continue
        if variant and not _variant_matches(entry.variant, variant):
            continue
        return entry
    offered = sorted({e.model for e in OFFICIAL_WEIGHTS if e.source == source})
    variants = sorted({e.variant for e in OFFICIAL_WEIGHTS if e.source == source and e.variant})
    if variant and offered and not any(_variant_matches(known, variant) for known in variants):
        kind = "timm model" if source == "timm" else f"{source} release"
        raise ValueError(
            f"weights={source}:{variant}: no official {kind} of that name; known: {', '.join(variants)}"
        )
    tagged = [e for e in OFFICIAL_WEIGHTS if e.source == source and variant and e.variant == variant]
    if tagged and _canonical(tagged[0].model)[:2] == wanted[:2]:  # the right model at another size
        raise ValueError(
            f"weights={source}:{variant} is for {tagged[0].model} ({_canonical(tagged[0].model)[2]} px), "
            f"not {wanted[2]} px; ask for {tagged[0].model!r}, or for the model without a size."
        )
    if not offered:
        known = ", ".join(repr(name) for name in SOURCES)
        raise ValueError(f"weights={source!r} is unknown; use {known} or a file path")
    raise ValueError(
        f"{source} publishes no weights for {model!r} ({wanted[0]}, width {wanted[1]:g}, {wanted[2]} px). "
        f"It has: {', '.join(offered)}."
    )


def is_official_source(weights: object) -> bool:
    """True for 'torchvision', 'timm', 'keras' or 'timm:<name>' (and not an existing path)."""
    return isinstance(weights, str) and weights.partition(":")[0] in SOURCES and not Path(weights).exists()


def published_models() -> list[str]:
    """Every (architecture, width) with official weights somewhere, in the table's order.

    Weights do not depend on the input size, so each model is named once, without a size
    ('mobilenet_v2_0.35'); ``published_sizes`` gives the sizes its publishers evaluated.
    """
    names: dict[tuple[str, float], str] = {}
    for entry in OFFICIAL_WEIGHTS:
        base, width, _ = _canonical(entry.model)
        names.setdefault((base, width), base if width == 1.0 else f"{base}_{width:g}")
    return sorted(names.values(), key=lambda name: (_canonical(name)[0], -_canonical(name)[1]))


def published_sizes(model: str) -> list[int]:
    """The input sizes with official weights for ``model`` (any source), largest first."""
    base, width, _ = _canonical(model)
    return sorted(
        {size for b, w, size in (_canonical(e.model) for e in OFFICIAL_WEIGHTS) if (b, w) == (base, width)},
        reverse=True,
    )


def published_sources(model: str) -> list[str]:
    """The sources that publish weights for ``model`` at any size, in ``SOURCES`` order."""
    base, width, _ = _canonical(model)
    found = {e.source for e in OFFICIAL_WEIGHTS if _canonical(e.model)[:2] == (base, width)}
    return [source for source in SOURCES if source in found]
