"""Three small ImageFolders built from photos that ship inside installed packages, for ``unseen_data.py``.

No one tuned mobilenets on these: they exist to check that the default training recipe works on
data it has never seen. Every image comes from scikit-image's ``skimage.data`` (the files in its
wheel; none of the pooch downloads) or scikit-learn's ``load_sample_images`` (china, flower), so
building them needs no network. Each set is built differently:

    photos    8 classes: which photo a random crop came from (position, size and aspect random).
    textures  8 classes: which texture or material a randomly rotated, scaled and flipped patch
              shows; grayscale and colour mixed both ways (colour sources sometimes grayed,
              grayscale sources sometimes tinted), with brightness and contrast jitter.
    filters   6 classes: which colour operation was applied to a crop of any of 7 photos
              (original, grayscale, sepia, invert, posterize, solarize). Every operation acts on
              each pixel's colour alone, so the label survives the loader's resize and the default
              random-resized-crop + flip augmentation; blur, sharpen and noise would not (rescaling
              a crop by up to ~3.5x changes how blurred or noisy it looks), so they are left out.
              Only colourful, bright, busy crops are used (``usable_for_filters``), so no
              operation leaves a crop unchanged; the manifest counts the crops per photo.

Honest validation: in ``textures`` and ``filters`` training images come from the left 70% of
every source image and validation images from the right 30%, so no validation pixel was seen in
training (a texture, or a colour operation, looks the same on either side). ``photos`` cannot be
split that way: the right 30% of a photo is other content (the astronaut photo's right edge is
the space shuttle, the camera man's is grass and sky), so its label would not be learnable from
the left. There train and val crops are separate random draws over the whole photo: different
positions, sizes, aspects and files, but overlapping pixels, as in any instance-recognition set.

Every image is written with Pillow at a random size (sides 40-300 px, non-square) in a random
format: JPEG, PNG, WebP, BMP, 8-bit grayscale PNG or RGBA PNG. A grayscale file is only written
where it does not change the label (a gray photo crop is still the same photo; in ``filters`` only
the grayscale class may be stored gray). The RGBA files are opaque, since mobilenets drops alpha.

Everything is drawn from ``numpy.random.default_rng((seed, dataset index))``, so a seed gives the
same files (byte for byte with the same Pillow and codec versions).

``photos`` also has a ``test`` split: 160 more crops per class (1,280 images) that no training run
and no int8 calibration reads. The deployment benchmark judges bf16 and int8 agreement with fp32
on it (``precision_agreement.py``), where 160 images would leave the 99% target inside the noise.
It is drawn from its own stream, ``default_rng((seed, dataset index, TEST_STREAM))``, so adding it
left the train and val files as they were.

    .venv/bin/python benchmarks/unseen_datasets.py --out runs/unseen_data/data   # build all three
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

BUILDER_VERSION = 3  # 3: photos gained its test split
TEST_STREAM = 1  # the test split's own random stream: train and val stay the same files without it
MARKER = ".unseen_datasets"  # written first into every dataset folder: only such folders are ever deleted
TRAIN_SHARE = 0.7  # train crops come from the left 70% of each source, val from the right 30%
MIN_SIDE, MAX_SIDE = 40, 300
FORMATS = ("jpeg", "png", "webp", "bmp", "gray_png", "rgba_png")
FORMAT_WEIGHTS = (0.3, 0.2, 0.15, 0.1, 0.1, 0.15)
SUFFIX = {
    "jpeg": ".jpg",
    "png": ".png",
    "webp": ".webp",
    "bmp": ".bmp",
    "gray_png": ".png",
    "rgba_png": ".png",
}
RESAMPLE = (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS)
Rng = np.random.Generator


# -- sources ----------------------------------------------------------------------------------------
def load_source(name: str) -> np.ndarray:
    """A packaged image as uint8, (H, W) grayscale or (H, W, 3) RGB."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return np.asarray(load_sample_image(f"{name}.jpg"), dtype=np.uint8)
    import skimage.data

    if name == "motorcycle":
        image = skimage.data.stereo_motorcycle()[0]  # the left view only (the right one is a near copy)
    elif name == "retina":
        image = skimage.data.retina()
        side = image.shape[0]
        # The fundus only: the central square inside the round field of view, no black border.
        lo, hi = int(side * 0.25), int(side * 0.75)
        image = image[lo:hi, lo:hi]
    elif name == "page":
        image = skimage.data.page()[:150]  # the typed paragraph, not the blank margin below
    else:
        image = getattr(skimage.data, name)()
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    return image.astype(np.uint8)


def to_pil(array: np.ndarray) -> Image.Image:
    return Image.fromarray(array).convert("RGB")


# -- shared geometry and writing --------------------------------------------------------------------
@dataclass(frozen=True)
class Region:
    """A column band of a source image: x in [left, right), all rows."""

    left: int
    right: int
    height: int

    @property
    def width(self) -> int:
        return self.right - self.left


def split_regions(width: int, height: int, disjoint: bool = True) -> dict[str, Region]:
    """The regions train and val crops come from: left 70% / right 30%, or the whole image for both."""
    if not disjoint:
        return {"train": Region(0, width, height), "val": Region(0, width, height)}
    cut = round(width * TRAIN_SHARE)
    return {"train": Region(0, cut, height), "val": Region(cut, width, height)}


def random_box(rng: Rng, region: Region, side_range: tuple[float, float]) -> tuple[int, int, int, int]:
    """A random non-square box inside ``region``: area ~ side fraction^2 of its short side, aspect 1/2..2."""
    short = min(region.width, region.height)
    side = short * rng.uniform(*side_range)
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    w = min(region.width, max(16, round(side * math.sqrt(aspect))))
    h = min(region.height, max(16, round(side / math.sqrt(aspect))))
    x = region.left + int(rng.integers(0, region.width - w + 1))
    y = int(rng.integers(0, region.height - h + 1))
    return x, y, x + w, y + h


def output_size(rng: Rng, width: int, height: int) -> tuple[int, int]:
    """A random size with the crop's aspect ratio and both sides in [MIN_SIDE, MAX_SIDE]."""
    long_side = int(rng.integers(2 * MIN_SIDE, MAX_SIDE + 1))
    scale = long_side / max(width, height)
    w, h = round(width * scale), round(height * scale)
    return min(MAX_SIDE, max(MIN_SIDE, w)), min(MAX_SIDE, max(MIN_SIDE, h))


def resize_random(rng: Rng, image: Image.Image) -> Image.Image:
    size = output_size(rng, *image.size)
    return image.resize(size, RESAMPLE[int(rng.integers(len(RESAMPLE)))])


def choose_format(rng: Rng, allow_gray: bool) -> str:
    weights = np.array(FORMAT_WEIGHTS)
    if not allow_gray:
        weights[FORMATS.index("gray_png")] = 0.0
    return FORMATS[int(rng.choice(len(FORMATS), p=weights / weights.sum()))]


def save_image(rng: Rng, image: Image.Image, stem: Path, fmt: str) -> Path:
    """Write ``image`` (RGB) as ``stem`` + the format's suffix; returns the path."""
    path = stem.with_suffix(SUFFIX[fmt])
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jpeg":
        image.save(path, "JPEG", quality=int(rng.integers(70, 96)))
    elif fmt == "webp":
        image.save(path, "WEBP", quality=int(rng.integers(70, 96)), method=4)
    elif fmt == "bmp":
        image.save(path, "BMP")
    elif fmt == "gray_png":
        image.convert("L").save(path, "PNG")
    elif fmt == "rgba_png":
        rgba = image.convert("RGBA")  # alpha 255: opaque
        rgba.save(path, "PNG")
    else:
        image.save(path, "PNG")
    return path


def is_gray(image: Image.Image) -> bool:
    array = np.asarray(image, dtype=np.int16)
    return bool(np.abs(array - array[..., :1]).max() <= 1)


# -- (A) photos: which photo a crop came from -------------------------------------------------------
PHOTO_SOURCES = ("astronaut", "chelsea", "coffee", "rocket", "camera", "motorcycle", "china", "flower")


def make_photo(rng: Rng, source: np.ndarray, region: Region, label: str) -> tuple[Image.Image, bool]:
    box = random_box(rng, region, (0.3, 0.95))
    image = resize_random(rng, to_pil(source).crop(box))
    return image, True  # a gray copy of a photo crop is still that photo


# -- (B) textures: which material a rotated patch shows ---------------------------------------------
TEXTURE_SOURCES = (
    "brick",
    "grass",
    "gravel",
    "moon",
    "page",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)


def make_texture(rng: Rng, source: np.ndarray, region: Region, label: str) -> tuple[Image.Image, bool]:
    # An inner box w x h, rotated by a random angle: cut the square that holds every rotation of it.
    short = min(region.width, region.height)
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    diagonal_max = short * rng.uniform(0.35, 1.0)
    # w^2 + h^2 = diagonal^2, w / h = aspect
    h = diagonal_max / math.sqrt(1 + aspect * aspect)
    w = h * aspect
    outer = math.ceil(diagonal_max)
    x = region.left + int(rng.integers(0, region.width - outer + 1))
    y = int(rng.integers(0, region.height - outer + 1))
    patch = to_pil(source).crop((x, y, x + outer, y + outer))
    patch = patch.rotate(float(rng.uniform(0, 360)), resample=Image.Resampling.BICUBIC)
    left, top = (outer - w) / 2, (outer - h) / 2
    patch = patch.crop((round(left), round(top), round(left + w), round(top + h)))
    if rng.random() < 0.5:
        patch = ImageOps.mirror(patch)
    if rng.random() < 0.5:
        patch = ImageOps.flip(patch)
    array = np.asarray(patch, dtype=np.float32)
    colour_source = source.ndim == 3
    if colour_source and rng.random() < 0.4:
        array = np.repeat(array @ np.array([0.299, 0.587, 0.114], np.float32)[:, None], 3, axis=2)
    elif not colour_source and rng.random() < 0.4:
        array = array * rng.uniform(0.55, 1.0, size=3).astype(np.float32)  # a random tint
    # Brightness and contrast jitter, +-15%.
    mean = array.mean()
    array = (array - mean) * rng.uniform(0.85, 1.15) + mean * rng.uniform(0.85, 1.15)
    image = Image.fromarray(np.clip(array + 0.5, 0, 255).astype(np.uint8))
    image = resize_random(rng, image)
    return image, is_gray(image)


# -- (C) filters: which colour operation was applied -------------------------------------------------
# Not rocket: nearly all of it is night sky, too dark for 'solarize' to change (see below).
FILTER_SOURCES = ("astronaut", "chelsea", "coffee", "motorcycle", "china", "flower", "immunohistochemistry")
SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], np.float32)


def _sepia(image: Image.Image) -> Image.Image:
    array = np.asarray(image, dtype=np.float32) @ SEPIA.T
    return Image.fromarray(np.clip(array + 0.5, 0, 255).astype(np.uint8))


FILTERS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "original": lambda image: image,
    "grayscale": lambda image: image.convert("L").convert("RGB"),
    "sepia": _sepia,
    "invert": ImageOps.invert,
    "posterize": lambda image: ImageOps.posterize(image, 2),  # 4 levels per channel
    "solarize": lambda image: ImageOps.solarize(image, threshold=128),
}


def usable_for_filters(crop: Image.Image) -> bool:
    """Colourful, bright and busy enough that every operation visibly changes it.

    A near-gray crop looks the same under 'grayscale' and 'original', a dark one the same under
    'solarize' (which only inverts pixels >= 128) and a flat one the same under 'posterize'.
    """
    array = np.asarray(crop, dtype=np.float32)
    chroma = (array.max(axis=2) - array.min(axis=2)).mean()
    bright = (array.max(axis=2) >= 128).mean()
    return bool(chroma >= 20 and bright >= 0.25 and array.mean(axis=2).std() >= 20)


def make_filter_source(rng: Rng, sources: list[np.ndarray], split: str) -> tuple[Image.Image, int]:
    """A usable crop of a random source photo's ``split`` region, and which source it came from.

    Sources and crops are drawn together until one passes ``usable_for_filters``, so a region with
    few usable crops (the right of flower and china is dark or gray) simply contributes fewer.
    """
    for _ in range(10_000):
        which = int(rng.integers(len(sources)))
        source = sources[which]
        region = split_regions(source.shape[1], source.shape[0])[split]
        crop = to_pil(source).crop(random_box(rng, region, (0.25, 0.9)))
        if usable_for_filters(crop):
            return crop, which
    raise RuntimeError("no usable crop in 10,000 tries; loosen usable_for_filters")


# -- building ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetSpec:
    name: str
    classes: tuple[str, ...]
    train_per_class: int
    val_per_class: int
    description: str
    test_per_class: int = 0  # a third split that neither training nor calibration reads


SPECS = {
    "photos": DatasetSpec(
        "photos",
        PHOTO_SOURCES,
        60,
        20,
        "which of 8 photos a random crop (30-95% of the short side) came from",
        test_per_class=160,
    ),
    "textures": DatasetSpec(
        "textures",
        ("brick", "grass", "gravel", "moon", "page", "hubble", "ihc", "retina"),
        60,
        20,
        "which of 8 textures a rotated, flipped, scaled patch shows; gray/colour mixed both ways",
    ),
    "filters": DatasetSpec(
        "filters", tuple(FILTERS), 80, 25, "which of 6 colour operations was applied to a crop of 7 photos"
    ),
}
DATASET_INDEX = {name: index for index, name in enumerate(SPECS)}


def build_dataset(name: str, root: Path, seed: int = 0) -> dict[str, object]:
    """Write dataset ``name`` as ``root/train/CLASS/*`` and ``root/val/CLASS/*``; returns its manifest.

    ``root`` must be empty, missing, or a folder this function wrote (it holds ``MARKER``, written
    first, so a build that stopped half-way is replaced too); it is replaced.
    """
    spec = SPECS[name]
    if root.exists():
        if any(root.iterdir()) and not (root / MARKER).is_file():
            raise FileExistsError(
                f"{root} is not empty and was not built here (no {MARKER}); not deleting it"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("built by benchmarks/unseen_datasets.py; safe to delete\n")
    rng = np.random.default_rng((seed, DATASET_INDEX[name]))
    counts: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    sizes: list[tuple[int, int]] = []
    source_counts: dict[str, Counter[str]] = {"train": Counter(), "val": Counter()}

    def write(
        split: str, label: str, index: int, image: Image.Image, allow_gray: bool, draw: Rng = rng
    ) -> None:
        fmt = choose_format(draw, allow_gray)
        save_image(draw, image, root / split / label / f"{label}_{index:04d}", fmt)
        counts[split] += 1
        formats[fmt] += 1
        sizes.append(image.size)

    if name in ("photos", "textures"):
        test_rng = np.random.default_rng((seed, DATASET_INDEX[name], TEST_STREAM))
        sources = PHOTO_SOURCES if name == "photos" else TEXTURE_SOURCES
        make = make_photo if name == "photos" else make_texture
        for label, source_name in zip(spec.classes, sources, strict=True):
            source = load_source(source_name)
            regions = split_regions(source.shape[1], source.shape[0], disjoint=name != "photos")
            for split, count in (("train", spec.train_per_class), ("val", spec.val_per_class)):
                for index in range(count):
                    image, allow_gray = make(rng, source, regions[split], label)
                    write(split, label, index, image, allow_gray)
            for index in range(spec.test_per_class):  # from val's region, on its own stream
                image, allow_gray = make(test_rng, source, regions["val"], label)
                write("test", label, index, image, allow_gray, test_rng)
    else:
        sources = [load_source(source_name) for source_name in FILTER_SOURCES]
        for split, count in (("train", spec.train_per_class), ("val", spec.val_per_class)):
            for label, operation in FILTERS.items():
                for index in range(count):
                    crop, which = make_filter_source(rng, sources, split)
                    source_counts[split][FILTER_SOURCES[which]] += 1
                    image = operation(resize_random(rng, crop))
                    write(split, label, index, image, allow_gray=label == "grayscale")
    widths, heights = [s[0] for s in sizes], [s[1] for s in sizes]
    manifest: dict[str, object] = {
        "name": name,
        "builder_version": BUILDER_VERSION,
        "seed": seed,
        "description": spec.description,
        "classes": list(spec.classes),
        "train_images": counts["train"],
        "val_images": counts["val"],
        "test_images": counts["test"],
        "formats": dict(sorted(formats.items())),
        "width_range": [min(widths), max(widths)],
        "height_range": [min(heights), max(heights)],
        "square_images": sum(w == h for w, h in sizes),
        "sources": list(
            FILTER_SOURCES if name == "filters" else PHOTO_SOURCES if name == "photos" else TEXTURE_SOURCES
        ),
        "split": (
            "train, val and test: separate random crops of the whole photo (overlapping pixels)"
            if name == "photos"
            else f"train from the left {TRAIN_SHARE:.0%} of each source image, val from the right "
            f"{1 - TRAIN_SHARE:.0%} (disjoint pixels)"
        ),
    }
    if name == "filters":  # photos and textures: one source per class, every class the same count
        manifest["crops_per_source"] = {split: dict(sorted(c.items())) for split, c in source_counts.items()}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def ensure_dataset(name: str, root: Path, seed: int = 0) -> dict[str, object]:
    """The dataset at ``root``, built only when missing or built by another seed or builder version."""
    manifest_path = root / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("seed") == seed and manifest.get("builder_version") == BUILDER_VERSION:
            return manifest
    return build_dataset(name, root, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/unseen_data/data", help="parent folder of the datasets")
    parser.add_argument("--datasets", nargs="*", default=list(SPECS), choices=list(SPECS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name in args.datasets:
        manifest = build_dataset(name, Path(args.out) / name, args.seed)
        print(json.dumps(manifest))


if __name__ == "__main__":
    main()
