"""Official weights: download once, verify, convert once, keep the converted file.

``create_model('mobilenet_v2', weights='torchvision')`` comes here. Which files exist, with their
URLs and checksums, is ``catalog.OFFICIAL_WEIGHTS``. A file with a published checksum must match
it. Files without one are accepted, and the SHA-256 actually received is written into the
converted file's ``source`` metadata, so later copies can be compared.
Cache layout (``$MOBILENETS_CACHE``, default ``~/.cache/mobilenets``)::

    downloads/<original file name>           what the publisher serves, kept as downloaded
    converted/<model>-<tag>.safetensors      the mobilenets file, built once; the tag is the source
                                             ('torchvision-IMAGENET1K_V1' with torchvision's release,
                                             the model name for timm)
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from mobilenets.weights.catalog import OfficialWeights, canonical_name, find_official
from mobilenets.weights.convert import convert_weights
from mobilenets.weights.file_format import read_metadata, save_weights


class WeightsDownloadError(RuntimeError):
    """An official file could not be fetched or failed its checksum."""


def cache_dir() -> Path:
    """``$MOBILENETS_CACHE``, or ``~/.cache/mobilenets``."""
    return Path(os.environ.get("MOBILENETS_CACHE") or Path.home() / ".cache" / "mobilenets")


def verify_checksum(path: Path, entry: OfficialWeights) -> str:
    """Check ``path`` against the published checksum; returns its SHA-256.

    Raises:
        WeightsDownloadError: the file differs from what the publisher lists.
    """
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha256.update(chunk)
            md5.update(chunk)
    digest = sha256.hexdigest()
    if entry.sha256_prefix and not digest.startswith(entry.sha256_prefix):
        raise WeightsDownloadError(
            f"{path}: SHA-256 {digest} does not start with the published {entry.sha256_prefix}; "
            f"the file is corrupt or not the official one. Delete it and download {entry.url} again."
        )
    if entry.md5 and md5.hexdigest() != entry.md5:
        raise WeightsDownloadError(
            f"{path}: MD5 {md5.hexdigest()} differs from the published {entry.md5}; delete it "
            f"and download {entry.url} again."
        )
    return digest


def download(entry: OfficialWeights, destination: Path) -> None:
    """Fetch ``entry.url`` to ``destination`` atomically (a partial file never stays behind).

    Raises:
        WeightsDownloadError: no network or the server refused; says where to put a manual copy.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    print(f"mobilenets: downloading {entry.url}", file=sys.stderr)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(entry.url, timeout=60) as response:
            shutil.copyfileobj(response, out)
        os.replace(temporary, destination)
    except (urllib.error.URLError, OSError, ValueError) as error:
        Path(temporary).unlink(missing_ok=True)
        reason = getattr(error, "reason", error)
        raise WeightsDownloadError(
            f"could not download {entry.url} ({reason}). Without network access, download that "
            f"URL on another machine and place the file at {destination}; mobilenets will verify "
            "and convert it from there."
        ) from None


def fetch_official(model: str, source: str) -> Path:
    """The converted mobilenets file for official weights: cached, or downloaded and converted.

    Args:
        model: our model name ('mobilenet_v2', 'mobilenet_v1_0.5_160').
        source: 'torchvision', 'timm', 'keras', 'timm:<timm model name>' or
            'torchvision:<release>' ('torchvision:IMAGENET1K_V1').

    Returns:
        Path to the ``.safetensors`` file under ``cache_dir()/converted``.
    """
    entry = find_official(model, source)
    tag = entry.timm_model or "-".join(filter(None, (entry.source, entry.release)))
    converted = cache_dir() / "converted" / f"{canonical_name(entry.model)}-{tag}.safetensors"
    if converted.is_file():
        return converted
    original = cache_dir() / "downloads" / entry.file_name
    if not original.is_file():
        download(entry, original)
    try:
        verify_checksum(original, entry)
    except WeightsDownloadError:
        original.unlink(missing_ok=True)  # never keep (or reuse) a file that failed its check
        raise
    built = convert_weights(
        original,
        converted,
        arch=canonical_name(entry.model),
        source=entry.source,
        timm_model=entry.timm_model,
    )
    if entry.crop_pct is not None:
        built.preprocess = dataclasses.replace(built.preprocess, crop_pct=entry.crop_pct)
        save_weights(built, converted, source=read_metadata(converted).source)
    return converted
