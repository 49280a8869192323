"""A generated corpus of bad and odd input files for throwing at the CLI.

The tests feed these to ``mobilenets predict / eval / export / convert / train --pretrained /
train --resume`` and check that every "fail" file is refused with a clean error (no traceback,
no hang, no huge allocation, and no code run from a pickle) and that every "ok" file works.

The files are generated, never committed: broken binaries in the repository would be opaque
(nobody can review what a corrupt JPEG holds, or why it is corrupt), and some of them carry
pickle payloads that must not sit in a checkout. Generation is deterministic (fixed seeds, fixed
timestamps) and takes well under a few seconds; every file is small.

Use from a test::

    from .bad_inputs import make_bad_images, make_bad_weights

    for item in make_bad_weights(tmp_path / "w", marker=tmp_path / "pwned"):
        ...  # run the CLI on item.path; item.expect says "fail" or "ok"

or as a script, to look at the corpus: ``python tests/bad_inputs.py OUT_DIR``.

The pickle payloads create ``marker`` if they are ever unpickled by an unsafe loader; a test
asserts that ``marker`` does not exist afterwards. This module writes them and never loads them.
"""

from __future__ import annotations

import functools
import io
import json
import os
import pickle
import shlex
import shutil
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, features
from safetensors import safe_open

__all__ = ["FAIL", "OK", "BadInput", "make_bad_checkpoints", "make_bad_images", "make_bad_weights"]

FAIL = "fail"
OK = "ok"

# Names that are not valid UTF-8: on Linux os.fsdecode keeps the raw bytes as surrogate escapes.
NON_UTF8_WEIGHTS = os.fsdecode(b"bad\xff\xfe.safetensors")
NON_UTF8_IMAGE = os.fsdecode(b"bad\xff\xfename.jpg")

# Pillow refuses images with more than 2 * MAX_IMAGE_PIXELS (2 * 89,478,485) pixels outright.
BOMB_SIDE = 20_000  # 400 M pixels


@dataclass(frozen=True)
class BadInput:
    """One generated input and what the CLI must do with it."""

    path: Path  # the file (or folder/symlink) made
    kind: str  # short description, e.g. "safetensors truncated mid-tensor"
    expect: str  # "fail" (must be refused with an error) or "ok" (odd but valid: must work)


# -- helpers ------------------------------------------------------------------------------------------
def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _random_bytes(seed: int, size: int) -> bytes:
    return _rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def _fresh(path: Path) -> Path:
    """Remove whatever a previous run left at ``path`` (file, symlink or folder)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    return path


def _write(path: Path, data: bytes) -> Path:
    _fresh(path).write_bytes(data)
    return path


def _torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    """A zip with fixed timestamps, so the bytes do not depend on when it was made."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


class _ShellPayload:
    """Unpickling this runs ``touch marker`` through ``os.system``: the classic pickle exploit."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


class _OpenPayload:
    """Unpickling this calls ``open(marker, "w")``: a payload with no shell, just a builtin."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


@functools.cache
def _small_model_state(width_mult: float) -> tuple[tuple[tuple[str, torch.Tensor], ...], str]:
    """A small V1 (32 px, 10 classes) written by ``save_weights``: its tensors and metadata JSON.

    Cached: the three ``make_*`` functions share it, and the bytes never change for a given α.
    The global RNG is forked so the fixed seed does not disturb the caller's random state.
    """
    import tempfile

    from mobilenets import create_model
    from mobilenets.weights.file_format import save_weights

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = create_model("mobilenet_v1", width_mult=width_mult, resolution_mult=32 / 224, num_classes=10)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_weights(model, Path(tmp) / "valid.safetensors", source="bad_inputs.py")
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = tuple((key, handle.get_tensor(key)) for key in handle.keys())  # noqa: SIM118
    return tensors, json.dumps(metadata)


def _valid_weights(width_mult: float = 0.25) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Fresh copies (callers may change them) of a valid weight file's tensors and metadata."""
    tensors, metadata = _small_model_state(width_mult)
    return dict(tensors), json.loads(metadata)


_SAFETENSORS_DTYPES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.uint8: "U8",
}


def _safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None) -> bytes:
    """A safetensors file, written here rather than by ``safetensors.torch.save_file``.

    The library keeps the metadata in a hash map, so the header's key order (and the file's
    bytes) changes from run to run; sorting the keys here makes the corpus reproducible. The
    layout is the format's own: little-endian u64 header length, JSON header padded with spaces
    to 8 bytes, then the tensors' bytes back to back in header order.
    """
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = dict(sorted(metadata.items()))
    chunks = []
    offset = 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().contiguous().cpu()
        data = tensor.reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {
            "dtype": _SAFETENSORS_DTYPES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)


def _safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None) -> Path:
    return _write(path, _safetensors_bytes(tensors, metadata))


def _collector(folder: Path) -> tuple[Path, list[BadInput], Callable[[str, str, bytes, str], None]]:
    """The folder (created), the list of inputs made, and ``add(name, kind, data, expect)``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out: list[BadInput] = []

    def add(name: str, kind: str, data: bytes, expect: str) -> None:
        out.append(BadInput(_write(folder / name, data), kind, expect))

    return folder, out, add


# -- weights ------------------------------------------------------------------------------------------
def make_bad_weights(folder: Path, marker: Path) -> list[BadInput]:
    """Weight files that every loader (predict, eval, export, convert, train --pretrained) must refuse.

    Args:
        folder: where to write them (created).
        marker: the file the pickle payloads would create if they ever ran.

    Returns:
        The files made, all ``expect="fail"``.
    """
    folder, out, add_any = _collector(folder)

    def add(name: str, kind: str, data: bytes) -> None:
        add_any(name, kind, data, FAIL)

    tensors, metadata = _valid_weights()
    valid = _safetensors_bytes(tensors, metadata)
    header_len = struct.unpack("<Q", valid[:8])[0]
    data_start = 8 + header_len

    # -- broken safetensors framing
    add("st-empty.safetensors", "safetensors empty (0 bytes)", b"")
    add(
        "st-truncated-header.safetensors", "safetensors truncated in the header", valid[: 8 + header_len // 2]
    )
    mid_tensor = data_start + (len(valid) - data_start) // 2
    add("st-truncated-tensor.safetensors", "safetensors truncated mid-tensor", valid[:mid_tensor])
    add("st-random.safetensors", "safetensors random bytes", _random_bytes(1, 4096))
    # A reader that trusts the length field would try to allocate an exabyte.
    add("st-huge-header-len.safetensors", "safetensors header length 2**60", struct.pack("<Q", 2**60) + b"{}")
    not_json = b"this header is not JSON at all"
    add(
        "st-header-not-json.safetensors",
        "safetensors header not JSON",
        struct.pack("<Q", len(not_json)) + not_json,
    )
    # A well-formed header whose tensor claims 4 MB of data in a file that holds 16 bytes.
    past_end = json.dumps(
        {
            "__metadata__": {"format": "mobilenets"},
            "classifier.weight": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]},
        }
    ).encode()
    add(
        "st-offsets-past-end.safetensors",
        "safetensors tensor offsets past the end of the file",
        struct.pack("<Q", len(past_end)) + past_end + bytes(16),
    )

    def add_st(name: str, kind: str, st_tensors: dict[str, torch.Tensor], md: dict[str, str] | None) -> None:
        out.append(BadInput(_safetensors(folder / name, st_tensors, md), kind, FAIL))

    # A valid safetensors file from another project: no metadata, nothing MobileNet-like.
    generator = torch.Generator().manual_seed(2)
    foreign = {
        "encoder.layers.0.attn.q_proj.weight": torch.randn(16, 16, generator=generator),
        "encoder.layers.0.attn.q_proj.bias": torch.randn(16, generator=generator),
        "lm_head.weight": torch.randn(32, 16, generator=generator),
    }
    add_st("st-foreign-keys.safetensors", "safetensors without metadata, non-MobileNet keys", foreign, None)
    missing = dict(tensors)
    del missing[sorted(missing)[len(missing) // 2]]
    add_st("st-missing-tensor.safetensors", "mobilenets metadata, one tensor removed", missing, metadata)
    # Metadata and tensors from different widths: the shapes cannot fit the model the metadata builds.
    # (Tensors of α=0.5 would be 3.3 MB, over the size budget, so the mismatch goes both ways with
    # smaller models: metadata α=0.5 over α=0.25 tensors, and metadata α=0.25 over α=0.3 tensors.)
    wide_md = dict(metadata)
    wide_md["config"] = json.dumps({**json.loads(metadata["config"]), "width_mult": 0.5})
    add_st(
        "st-width-0.5-tensors-0.25.safetensors", "metadata width 0.5, tensors of width 0.25", tensors, wide_md
    )
    wider_tensors, _ = _valid_weights(0.3)
    add_st(
        "st-width-0.25-tensors-0.3.safetensors",
        "metadata width 0.25, tensors of width 0.3",
        wider_tensors,
        metadata,
    )

    # -- metadata variants: valid tensors, one metadata field wrong
    def with_field(field: str, raw: str) -> dict[str, str]:
        return {**metadata, field: raw}

    def with_json(field: str, key: str, value: Any) -> dict[str, str]:
        # json.dumps writes float('inf') / float('nan') as Infinity / NaN, which Python's json reads back.
        return with_field(field, json.dumps({**json.loads(metadata[field]), key: value}))

    metadata_cases: list[tuple[str, str, dict[str, str]]] = [
        ("md-config-not-json", "config not JSON", with_field("config", "{arch: mobilenet_v1,")),
        ("md-config-list", "config JSON is a list", with_field("config", json.dumps(["mobilenet_v1", 0.25]))),
        ("md-arch-unknown", "config arch unknown", with_json("config", "arch", "mobilenet_v9")),
        # α=64 would build a model with tens of GB of parameters if nothing checked it first.
        ("md-width-64", "config width_mult 64", with_json("config", "width_mult", 64.0)),
        ("md-width-inf", "config width_mult Infinity", with_json("config", "width_mult", float("inf"))),
        ("md-width-neg", "config width_mult -1", with_json("config", "width_mult", -1.0)),
        ("md-width-zero", "config width_mult 0", with_json("config", "width_mult", 0.0)),
        # A 2e9-way classifier is a multi-TB allocation.
        (
            "md-classes-huge",
            "config num_classes 2000000000",
            with_json("config", "num_classes", 2_000_000_000),
        ),
        ("md-classes-neg", "config num_classes -3", with_json("config", "num_classes", -3)),
        ("md-classes-str", "config num_classes a string", with_json("config", "num_classes", "ten")),
        ("md-config-unknown-key", "config unknown key", with_json("config", "frobnicate", 1)),
        ("md-pre-unknown-key", "preprocess unknown key", with_json("preprocess", "foo", 1)),
        (
            "md-pre-size-huge",
            "preprocess input_size 100000",
            with_json("preprocess", "input_size", [3, 100_000, 100_000]),
        ),
        ("md-pre-size-zero", "preprocess input_size 0", with_json("preprocess", "input_size", [3, 0, 0])),
        # Normalizing divides by std: zeros make every input inf/NaN.
        ("md-pre-std-zero", "preprocess std zeros", with_json("preprocess", "std", [0.0, 0.0, 0.0])),
        ("md-pre-mean-nan", "preprocess mean NaN", with_json("preprocess", "mean", [float("nan")] * 3)),
        ("md-pre-crop-zero", "preprocess crop_pct 0", with_json("preprocess", "crop_pct", 0.0)),
        ("md-pre-crop-7", "preprocess crop_pct 7", with_json("preprocess", "crop_pct", 7.0)),
        (
            "md-pre-interp-sinc",
            "preprocess interpolation sinc",
            with_json("preprocess", "interpolation", "sinc"),
        ),
        ("md-labels-dict", "labels a dict", with_field("labels", json.dumps({"0": "a"}))),
        (
            "md-labels-count",
            "labels 3 names for 10 classes",
            with_field("labels", json.dumps(["a", "b", "c"])),
        ),
        ("md-labels-ints", "labels list of ints", with_field("labels", json.dumps(list(range(10))))),
        ("md-labels-not-json", "labels not JSON", with_field("labels", "cat, dog, ...")),
        ("md-format-version-99", "format_version 99", with_field("format_version", "99")),
        ("md-format-other", "format other", with_field("format", "other")),
    ]
    for name, kind, md in metadata_cases:
        add_st(f"{name}.safetensors", f"metadata: {kind}", tensors, md)

    # -- pickled PyTorch files
    state_bytes = _torch_bytes(tensors)
    add("pth-empty.pth", "pth empty (0 bytes)", b"")
    add("pth-random.pth", "pth random bytes", _random_bytes(3, 4096))
    add(
        "pth-truncated-zip.pth",
        "pth truncated zip (torch.save cut in half)",
        state_bytes[: len(state_bytes) // 2],
    )
    add("pth-list-of-ints.pth", "pth holding a list of ints", _torch_bytes([1, 2, 3]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        linear = torch.nn.Linear(8, 4)
    add("pth-linear.pth", "pth state dict of nn.Linear", _torch_bytes(linear.state_dict()))
    # A raw (non-zip) pickle, as older torch wrote: os.system would run on an unsafe load.
    add(
        "pth-payload.pth",
        "pth payload pickle (os.system)",
        pickle.dumps({"state_dict": _ShellPayload(marker)}),
    )
    # The same attack inside torch.save's zip container, wrapped like a real checkpoint.
    add(
        "pt-payload-zip.pt",
        "pt torch.save zip with payload (open)",
        _torch_bytes({"model": _OpenPayload(marker)}),
    )
    add("pytorch_model.bin", "bin random bytes", _random_bytes(5, 4096))

    # -- Keras files
    add("keras-random.h5", "h5 random bytes", _random_bytes(6, 4096))
    try:
        import h5py
    except ImportError:  # optional: the Keras extra may be absent
        h5py = None
    if h5py is not None:
        path = _fresh(folder / "keras-no-layers.h5")
        # track_times=False keeps the bytes free of creation timestamps.
        with h5py.File(path, "w", track_order=True) as h5:
            h5.attrs["note"] = "valid HDF5, but no Keras model_weights or layer_names"
            h5.create_dataset("data/values", data=np.arange(16, dtype=np.float32), track_times=False)
        out.append(BadInput(path, "h5 valid HDF5 without Keras layers", FAIL))
    add("keras-random.keras", "keras random bytes", _random_bytes(7, 4096))
    keras_zip = _zip_bytes(
        {
            "metadata.json": json.dumps({"keras_version": "3.0.0"}).encode(),
            "config.json": json.dumps({"class_name": "Functional", "config": {}}).encode(),
        }
    )
    add("keras-no-weights.keras", "keras zip without model.weights.h5", keras_zip)

    # -- other
    path = _fresh(folder / "folder.safetensors")
    path.mkdir()
    out.append(BadInput(path, "folder named .safetensors", FAIL))
    add("weights.txt", "text file", b"these are not weights\n")
    add(NON_UTF8_WEIGHTS, "non-UTF-8 file name, random bytes", _random_bytes(8, 4096))
    return out


# -- images -------------------------------------------------------------------------------------------
def _pattern(height: int, width: int, channels: int, seed: int) -> np.ndarray:
    """A smooth gradient plus mild noise: real structure, so codecs do real (lossy) work."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack(
        [(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)), ((x + y) * 3) % 256], -1
    )
    noise = _rng(seed).integers(-20, 21, (height, width, 3))
    image = np.clip(base + noise, 0, 255).astype(np.uint8)
    return image[..., :channels] if channels < 3 else image


def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, idat: bytes, bit_depth: int = 8, color_type: int = 2) -> bytes:
    """A PNG from hand-made chunks: the header says anything we like about the pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _png_bomb(side: int) -> bytes:
    """A complete, valid 1-bit PNG of side x side black pixels: ~50 KB on disk, side² decoded.

    Deflating the 50 MB of rows takes a quarter of a second; instead one block of rows is
    deflated once, ended with a full flush (byte-aligned, history reset, so it decodes on its
    own), and repeated. The zlib wrapper needs the Adler-32 of the whole uncompressed data.
    """
    row = bytes(1 + (side + 7) // 8)  # filter byte 0, then the packed (all-zero) pixels
    rows_per_block = 1000
    assert side % rows_per_block == 0
    block = row * rows_per_block
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate, no zlib header
    compressed = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(side // rows_per_block):
        adler = zlib.adler32(block, adler)
    # zlib header (deflate, 32K window), the repeated blocks, an empty final block, the checksum.
    stream = b"\x78\xda" + compressed * (side // rows_per_block) + b"\x03\x00" + struct.pack(">I", adler)
    return _png(side, side, stream, bit_depth=1, color_type=0)


def _bmp_claiming(width: int, height: int, payload: bytes) -> bytes:
    """A 24-bit BMP header for width x height pixels, followed by only ``payload``."""
    row = (width * 3 + 3) & ~3
    image_size = row * height
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, image_size, 2835, 2835, 0, 0)
    header = struct.pack("<2sIHHI", b"BM", 14 + len(info) + image_size, 0, 0, 14 + len(info))
    return header + info + payload


def make_bad_images(folder: Path) -> list[BadInput]:
    """Images for predict/eval: broken ones to refuse, odd-but-valid ones that must work.

    Args:
        folder: where to write them (created).

    Returns:
        The files made; ``expect`` is "fail" or "ok" per file.
    """
    folder, out, add = _collector(folder)

    rgb = Image.fromarray(_pattern(64, 64, 3, seed=10))
    # Truncation cases need an image whose compressed data is much larger than its headers.
    noisy = Image.fromarray(_rng(11).integers(0, 256, (96, 96, 3), dtype=np.uint8))
    jpeg = _encode(noisy, "JPEG", quality=90)
    png = _encode(noisy, "PNG")

    # -- fail
    add("empty.jpg", "empty file .jpg", b"", FAIL)
    add("random.jpg", "random bytes .jpg", _random_bytes(12, 4096), FAIL)
    add("text.png", "text file named .png", b"just some text, not an image\n", FAIL)
    add("page.jpg", "HTML page named .jpg", b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n", FAIL)
    add("truncated.jpg", "JPEG truncated to 60%", jpeg[: len(jpeg) * 6 // 10], FAIL)
    # 200 bytes ends inside the quantization / Huffman tables, before any scan data.
    add("header-only.jpg", "JPEG header only (200 bytes)", jpeg[:200], FAIL)
    add("truncated.png", "PNG truncated mid-IDAT", png[: len(png) // 2], FAIL)
    # Overwrite bytes in the middle of the deflate stream of a structured (well compressed) image.
    structured = bytearray(_encode(rgb, "PNG"))
    idat = structured.index(b"IDAT") + 4
    idat_len = struct.unpack(">I", structured[idat - 8 : idat - 4])[0]
    middle = idat + idat_len // 2
    structured[middle : middle + 16] = bytes(b ^ 0xFF for b in structured[middle : middle + 16])
    add("corrupt-idat.png", "PNG with corrupted IDAT data", bytes(structured), FAIL)
    gif = _encode(noisy.convert("P"), "GIF")
    add("truncated.gif", "GIF truncated", gif[: len(gif) // 2], FAIL)
    add("garbage.tiff", "TIFF header then garbage", b"II*\x00\x08\x00\x00\x00" + _random_bytes(13, 512), FAIL)
    # Declares 4096x4096 (50 MB decoded) but holds 64 bytes of pixels.
    add("short.bmp", "BMP header claiming 4096x4096, little data", _bmp_claiming(4096, 4096, bytes(64)), FAIL)
    # Decompression bomb: 400 M pixels, over twice Pillow's default limit, so Pillow refuses it too.
    add(
        "bomb.png",
        f"PNG decompression bomb {BOMB_SIDE}x{BOMB_SIDE} 1-bit",
        _png_bomb(BOMB_SIDE),
        FAIL,
    )
    link = _fresh(folder / "dangling.jpg")
    link.symlink_to("does-not-exist.jpg")
    out.append(BadInput(link, "broken symlink .jpg", FAIL))
    directory = _fresh(folder / "folder.jpg")
    directory.mkdir()
    out.append(BadInput(directory, "directory named .jpg", FAIL))
    add("random.webp", "random bytes .webp", _random_bytes(14, 2048), FAIL)
    add("empty.png", "empty file .png", b"", FAIL)
    # Only the header is a bomb: 900 M pixels declared, a few bytes of data. Refuse before decoding.
    add(
        "bomb-header.png",
        "PNG header declaring 30000x30000, tiny IDAT",
        _png(30_000, 30_000, zlib.compress(bytes(64))),
        FAIL,
    )
    bad_crc = bytearray(_encode(rgb, "PNG"))
    bad_crc[29] ^= 0xFF  # the IHDR chunk's CRC (signature 8 + length 4 + type 4 + data 13)
    add("bad-ihdr-crc.png", "PNG with a wrong IHDR CRC", bytes(bad_crc), FAIL)
    add("zero-width.png", "PNG declaring 0x64 pixels", _png(0, 64, zlib.compress(b"")), FAIL)
    # Chunks in order and CRCs right, but the image data is missing altogether.
    no_idat = _encode(rgb, "PNG")
    add("no-idat.png", "PNG without IDAT", no_idat[:33] + _png_chunk(b"IEND", b""), FAIL)
    add(
        "header-only.gif",
        "GIF header and screen descriptor only",
        b"GIF89a" + struct.pack("<HHBBB", 64, 64, 0, 0, 0),
        FAIL,
    )
    tiff = _encode(noisy, "TIFF")
    add("truncated.tiff", "TIFF truncated mid-strip", tiff[: len(tiff) // 2], FAIL)
    if features.check("webp"):
        webp = _encode(noisy, "WEBP", quality=90)
        add("truncated.webp", "WebP truncated", webp[: len(webp) // 2], FAIL)
    loop = _fresh(folder / "loop.jpg")
    loop.symlink_to("loop.jpg")  # opening it fails with ELOOP
    out.append(BadInput(loop, "symlink pointing at itself", FAIL))

    # -- ok: valid but unusual modes, codecs, sizes and names
    gray16 = (_pattern(48, 48, 1, seed=15)[..., 0].astype(np.uint16) * 257).copy()
    add("gray16.png", "16-bit grayscale PNG (I;16)", _encode(Image.fromarray(gray16), "PNG"), OK)
    add("bilevel.png", "1-bit PNG", _encode(rgb.convert("1"), "PNG"), OK)
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    add(
        "palette-transparent.png",
        "palette PNG with transparency",
        _encode(palette, "PNG", transparency=0),
        OK,
    )
    alpha = Image.fromarray(_pattern(64, 64, 1, seed=16)[..., 0])
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    add("rgba.png", "RGBA PNG", _encode(rgba, "PNG"), OK)
    add("la.png", "LA PNG", _encode(rgba.convert("LA"), "PNG"), OK)
    add("cmyk.jpg", "CMYK JPEG", _encode(rgb.convert("CMYK"), "JPEG"), OK)
    add("gray.jpg", "grayscale JPEG", _encode(rgb.convert("L"), "JPEG"), OK)
    add("progressive.jpg", "progressive JPEG", _encode(rgb, "JPEG", progressive=True), OK)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    wide = Image.fromarray(_pattern(48, 80, 3, seed=17))
    add("exif-rotated.jpg", "JPEG with EXIF orientation 6", _encode(wide, "JPEG", exif=exif), OK)
    add("one-pixel.png", "1x1 PNG", _encode(Image.new("RGB", (1, 1), (200, 30, 60)), "PNG"), OK)
    add(
        "tall-1x3000.png",
        "1x3000 PNG (extreme aspect)",
        _encode(Image.fromarray(_pattern(3000, 1, 3, 18)), "PNG"),
        OK,
    )
    frames = [rgb.convert("P"), rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT).convert("P")]
    animated = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    add("animated.gif", "animated GIF (2 frames)", animated, OK)
    float_image = Image.fromarray(_pattern(32, 32, 1, seed=19)[..., 0].astype(np.float32) / 255.0)
    add("float32.tiff", "32-bit float TIFF (F)", _encode(float_image, "TIFF"), OK)
    add("plain.bmp", "BMP", _encode(rgb, "BMP"), OK)
    add("plain.ppm", "PPM", _encode(rgb, "PPM"), OK)
    if features.check("webp"):
        add("plain.webp", "WebP", _encode(rgb, "WEBP", quality=80), OK)
    add("UPPER.JPG", "uppercase .JPG suffix", _encode(rgb, "JPEG"), OK)
    add(NON_UTF8_IMAGE, "valid JPEG with a non-UTF-8 name", _encode(rgb, "JPEG"), OK)
    add("ünïcode name ✓.png", "valid PNG, name with spaces and unicode", _encode(rgb, "PNG"), OK)
    # Pillow identifies images by content, so a PNG named .jpg must still load.
    add("png-named.jpg", "PNG content with a .jpg suffix", _encode(rgb, "PNG"), OK)
    return out


# -- training checkpoints -----------------------------------------------------------------------------
def make_bad_checkpoints(folder: Path, marker: Path) -> list[BadInput]:
    """Files (and folders) that ``train --resume`` must refuse.

    Args:
        folder: where to write them (created).
        marker: the file the pickle payload would create if it ever ran.

    Returns:
        The inputs made, all ``expect="fail"``.
    """
    folder, out, add_any = _collector(folder)

    def add(name: str, kind: str, data: bytes) -> None:
        add_any(name, kind, data, FAIL)

    tensors, metadata = _valid_weights()
    # Shaped like a real checkpoint (format, config, model, counters) so the cut lands in tensor data.
    looks_real = _torch_bytes(
        {"format": "mobilenets-checkpoint", "config": {}, "model": tensors, "epoch": 1, "global_step": 10}
    )
    add("ckpt-empty.pt", "checkpoint empty (0 bytes)", b"")
    add("ckpt-random.pt", "checkpoint random bytes", _random_bytes(20, 4096))
    add("ckpt-truncated.pt", "checkpoint truncated zip", looks_real[: len(looks_real) // 2])
    add("ckpt-state-dict.pt", "plain state dict, not a training checkpoint", _torch_bytes(tensors))
    add(
        "ckpt-missing-keys.pt",
        "format mobilenets-checkpoint but only format + empty config",
        _torch_bytes({"format": "mobilenets-checkpoint", "config": {}}),
    )
    add(
        "ckpt-payload.pt",
        "checkpoint with payload pickle (os.system)",
        _torch_bytes({"format": "mobilenets-checkpoint", "config": _ShellPayload(marker)}),
    )
    out.append(
        BadInput(
            _safetensors(folder / "ckpt-weights.safetensors", tensors, metadata),
            "mobilenets weights (.safetensors) passed as a checkpoint",
            FAIL,
        )
    )
    add("ckpt-format-other.pt", "dict with format other", _torch_bytes({"format": "other", "config": {}}))
    add("ckpt-list.pt", "torch.save of a list", _torch_bytes([1, 2, 3]))
    # --resume also takes a run folder: one whose last.pt is empty, and one with no checkpoint at all.
    run = _fresh(folder / "run-empty-last")
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    out.append(BadInput(run, "run folder whose checkpoints/last.pt is empty", FAIL))
    empty_run = _fresh(folder / "run-no-checkpoints")
    empty_run.mkdir()
    out.append(BadInput(empty_run, "run folder without checkpoints", FAIL))
    return out


# -- script -------------------------------------------------------------------------------------------
def _printable(path: Path, root: Path) -> str:
    """The relative name, with undecodable bytes shown as escapes instead of crashing print()."""
    return os.fsencode(path.relative_to(root)).decode("utf-8", "backslashreplace")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python tests/bad_inputs.py OUT_DIR", file=sys.stderr)
        return 2
    root = Path(args[0])
    marker = root / "PAYLOAD-RAN"
    groups = {
        "weights": make_bad_weights(root / "weights", marker),
        "images": make_bad_images(root / "images"),
        "checkpoints": make_bad_checkpoints(root / "checkpoints", marker),
    }
    for items in groups.values():
        for item in items:
            print(f"{_printable(item.path, root)}\t{item.expect}\t{item.kind}")
    summary = ", ".join(
        f"{group} {len(items)} ({sum(i.expect == FAIL for i in items)} fail)"
        for group, items in groups.items()
    )
    print(f"# {summary}", file=sys.stderr)
    if marker.exists():  # cannot happen: nothing here unpickles; checked anyway
        print(f"# {marker} exists: a payload ran!", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
