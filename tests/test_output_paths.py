"""output_paths: what kind of file a path is, and refusing output paths before any work is done."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobilenets.output_paths import check_output_file, special_file_kind


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path: a Unix socket's path must fit in 108 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="mn", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


# special_file_kind


def test_dev_null_is_a_device() -> None:
    assert special_file_kind(Path("/dev/null")) == "a device"


def test_fifo_is_a_pipe(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    assert special_file_kind(fifo) == "a pipe (FIFO)"


def test_unix_socket_is_a_socket(short_dir: Path) -> None:
    path = short_dir / "s.json"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        assert special_file_kind(path) == "a socket"


def test_link_to_a_device_is_a_device(tmp_path: Path) -> None:
    link = tmp_path / "null.json"
    link.symlink_to("/dev/null")
    assert special_file_kind(link) == "a device"


def test_regular_file_folder_and_missing_path_are_not_special(tmp_path: Path) -> None:
    regular = tmp_path / "a.json"
    regular.write_text("{}")
    broken = tmp_path / "broken.json"
    broken.symlink_to(tmp_path / "nowhere")
    assert special_file_kind(regular) is None
    assert special_file_kind(tmp_path) is None
    assert special_file_kind(tmp_path / "missing.json") is None
    assert special_file_kind(broken) is None


# check_output_file: valid paths


def test_a_new_file_in_an_existing_folder_is_returned_and_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    assert check_output_file(out, (".json",), "--json") == Path(os.path.realpath(out))
    assert list(tmp_path.iterdir()) == []


def test_an_existing_regular_file_may_be_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    out.write_text("old")
    assert check_output_file(str(out), (".json",), "--json") == out.resolve()
    assert out.read_text() == "old"


def test_suffix_is_compared_without_case(tmp_path: Path) -> None:
    out = tmp_path / "OUT.JSON"
    assert check_output_file(out, (".json",), "--json") == out.resolve()


def test_any_of_several_suffixes_is_accepted(tmp_path: Path) -> None:
    for name in ("m.onnx", "m.pte"):
        assert check_output_file(tmp_path / name, (".onnx", ".pte"), "--out").name == name


def test_a_symbolic_link_returns_its_target(tmp_path: Path) -> None:
    real = tmp_path / "data" / "real.json"
    real.parent.mkdir()
    real.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert check_output_file(link, (".json",), "--json") == real.resolve()


# check_output_file: refused paths


def test_wrong_suffix_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "results.txt"
    with pytest.raises(ValueError, match=r"--json .*results\.txt: the file name must end in \.json$"):
        check_output_file(out, (".json",), "--json")


def test_no_suffix_is_refused_and_every_allowed_suffix_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"must end in \.onnx or \.pte"):
        check_output_file(tmp_path / "model", (".onnx", ".pte"), "--out")


def test_a_folder_is_refused_even_with_the_right_suffix(tmp_path: Path) -> None:
    folder = tmp_path / "looks_like.json"
    folder.mkdir()
    with pytest.raises(
        ValueError, match=r"looks_like\.json: is a folder; give a file path, e\.g\. .*out\.json"
    ):
        check_output_file(folder, (".json",), "--json")
    with pytest.raises(ValueError, match="is a folder"):
        check_output_file(tmp_path, (".json",), "--json")


def test_dev_null_is_refused() -> None:
    with pytest.raises(ValueError, match="is a device, not a regular file"):
        check_output_file("/dev/null", (".json",), "--json")


def test_a_link_to_dev_null_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "out.json"
    link.symlink_to("/dev/null")
    with pytest.raises(ValueError, match="is a device"):
        check_output_file(link, (".json",), "--json")
    assert link.is_symlink()  # the link itself is left alone


def test_a_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"is a pipe \(FIFO\), not a regular file"):
        check_output_file(fifo, (".json",), "--json")


def test_a_missing_parent_folder_is_refused_and_not_created(tmp_path: Path) -> None:
    out = tmp_path / "typo" / "out.json"
    with pytest.raises(ValueError, match=r"the folder .*typo does not exist; create it first"):
        check_output_file(out, (".json",), "--json")
    assert not (tmp_path / "typo").exists()


def test_create_parent_accepts_a_missing_folder_but_creates_nothing_before_the_work(tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "out.json"
    assert check_output_file(out, (".json",), "--json", create_parent=True) == out
    assert list(tmp_path.iterdir()) == []


def test_a_parent_that_is_a_file_is_refused_even_with_create_parent(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "out.json"
    for create_parent in (False, True):
        with pytest.raises(ValueError, match="does not exist"):
            check_output_file(out, (".json",), "--json", create_parent=create_parent)


def test_a_protected_input_is_refused_and_left_intact(tmp_path: Path) -> None:
    source = tmp_path / "weights.json"
    source.write_text("precious")
    with pytest.raises(ValueError, match=r"which this command reads; writing would destroy it"):
        check_output_file(source, (".json",), "--json", protect=[source])
    assert source.read_text() == "precious"


def test_a_protected_input_is_refused_through_a_symbolic_link(tmp_path: Path) -> None:
    source = tmp_path / "inputs" / "weights.json"
    source.parent.mkdir()
    source.write_text("precious")
    link = tmp_path / "out.json"
    link.symlink_to(source)
    with pytest.raises(ValueError, match="which this command reads"):
        check_output_file(link, (".json",), "--json", protect=[str(source)])
    # and the other way round: the input named through a link, the output by its real path
    with pytest.raises(ValueError, match="which this command reads"):
        check_output_file(source, (".json",), "--json", protect=[link])


def test_a_protected_input_is_refused_through_a_hard_link(tmp_path: Path) -> None:
    source = tmp_path / "a.json"
    source.write_text("precious")
    other_name = tmp_path / "b.json"
    os.link(source, other_name)
    with pytest.raises(ValueError, match="which this command reads"):
        check_output_file(other_name, (".json",), "--json", protect=[source])


def test_protect_lets_other_paths_through(tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text("{}")
    existing = tmp_path / "old.json"
    existing.write_text("{}")
    protect = [source, tmp_path / "missing.json"]
    assert check_output_file(tmp_path / "new.json", (".json",), "--json", protect=protect).name == "new.json"
    assert check_output_file(existing, (".json",), "--json", protect=protect) == existing.resolve()
