"""The command line's error boundary: one line and a documented exit code for what a user can
cause, a traceback for bugs and on request (--debug, MOBILENETS_DEBUG)."""

from __future__ import annotations

import errno
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mobilenets import create_model, save_weights
from mobilenets.cli import build_parser, main
from mobilenets.cli.failures import EXIT_CODES, EXIT_OK, EXIT_PARTIAL, EXIT_SYSTEM, EXIT_USAGE
from mobilenets.images import load_image


def lines_of(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = create_model("mobilenet_v1", width_mult=0.25, resolution_mult=32 / 224, num_classes=2)
    return save_weights(model, tmp_path_factory.mktemp("w") / "m.safetensors", labels=["a", "b"])


def test_help_documents_every_exit_code() -> None:
    epilog = build_parser().epilog or ""
    for code, meaning in EXIT_CODES.items():
        assert f"{code:>3}  {meaning}" in epilog
    assert "--debug" in epilog and "MOBILENETS_DEBUG" in epilog


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("a bug, not the user's doing")

    monkeypatch.setattr("mobilenets.cli.profile.run", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["profile", "mobilenet_v1"])


@pytest.mark.parametrize("how", ["flag-before", "flag-after", "environment"])
def test_debug_shows_the_traceback_of_an_expected_failure(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["profile", "mobilenet_v1", "--width", "inf"]
    if how == "flag-before":
        args = ["--debug", *args]
    elif how == "flag-after":
        args = [*args, "--debug"]
    else:
        monkeypatch.setenv("MOBILENETS_DEBUG", "1")
    with pytest.raises(ValueError, match="width_mult=inf"):
        main(args)


def test_profile_counts_a_huge_input_without_allocating_it(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    assert main(["profile", "mobilenet_v2", "--resolution", "100000", "--json"]) == EXIT_OK
    assert time.perf_counter() - started < 30  # 100000² x 32 channels would be 1.2 TB if allocated
    assert '"input_size"' in capsys.readouterr().out


def test_missing_and_folder_weights_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for target in (tmp_path / "missing.safetensors", tmp_path):
        assert main(["eval", "--data", "digits", "--weights", str(target)]) == EXIT_USAGE
        (line,) = lines_of(capsys)
        assert str(target) in line and ("no such file" in line or "is a folder" in line)


def test_convert_says_a_mobilenets_file_needs_no_conversion(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["convert", str(weights), str(tmp_path / "again.safetensors")]) == EXIT_USAGE
    (line,) = lines_of(capsys)
    assert "is already a mobilenets weight file" in line and "no metadata" not in line


def test_train_pretrained_with_a_foreign_file_says_convert_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.save(create_model("mobilenet_v1_0.25").state_dict(), tmp_path / "w.pth")
    code = main(
        ["train", "--data", "digits", "--pretrained", str(tmp_path / "w.pth"), "--out", str(tmp_path / "r")]
    )
    (line,) = lines_of(capsys)
    assert code == EXIT_USAGE and "mobilenets convert" in line and "w.pth" in line
    assert not (tmp_path / "r").exists()


def test_a_permission_denied_image_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, weights: Path
) -> None:
    # Tests may run as root, whom chmod 000 does not stop: the refusal is injected at the open.
    image = tmp_path / "locked.jpg"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(image)
    real_open = Image.open

    def refuse(path: object, *args: object, **kwargs: object) -> Image.Image:
        if Path(str(path)).name == "locked.jpg":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image, "open", refuse)
    assert main(["predict", str(image), "--weights", str(weights)]) == EXIT_PARTIAL
    error = next(line for line in lines_of(capsys) if "locked.jpg" in line)
    assert "permission denied" in error and "corrupt" not in error


def test_max_pixels_can_go_above_pillows_own_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("1", (20_000, 10_000)).save(path)  # 200 MP: above Pillow's hard limit of 179 MP
    with pytest.raises(ValueError, match="exceeds the limit of 89,478,485"):
        load_image(path)
    assert load_image(path, max_pixels=250_000_000).size == (20_000, 10_000)
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's own setting is back as it was


def test_a_read_only_output_folder_is_one_line(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "a.jpg"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(image)

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "out.csv"))

    monkeypatch.setattr("mobilenets.results_file.open", read_only, raising=False)
    code = main(["predict", str(image), "--weights", str(weights), "--csv", str(tmp_path / "out.csv")])
    (line,) = lines_of(capsys)
    assert code == EXIT_SYSTEM and "out.csv: read-only file system" in line and "writable disk" in line
