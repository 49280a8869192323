"""Loading foreign checkpoints never runs code from them."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from mobilenets import create_model
from mobilenets.cli import main
from mobilenets.weights.safe_load import UnsafeCheckpointError, load_any_state_dict, load_pickled_state_dict


class Payload:
    """Unpickling this would create ``marker``: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:  # the pickle protocol: "call this to rebuild me"
        return (Path.touch, (self.marker,))


def write_malicious_checkpoint(path: Path, marker: Path, *, torch_format: bool) -> Path:
    """A checkpoint that looks like a state dict but carries a payload."""
    content = {"features.0.0.weight": torch.zeros(4, 3, 3, 3), "extra": Payload(marker)}
    if torch_format:
        torch.save(content, path)  # the zip format torch.save writes
    else:
        with open(path, "wb") as handle:  # a bare pickle, as old checkpoints are
            pickle.dump(content, handle)
    # Sanity check that the payload is real: plain pickle would run it.
    assert not marker.exists()
    return path


@pytest.mark.parametrize("torch_format", [True, False])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path, torch_format: bool) -> None:
    marker = tmp_path / "PWNED"
    path = write_malicious_checkpoint(tmp_path / "evil.pth", marker, torch_format=torch_format)
    with pytest.raises(
        UnsafeCheckpointError, match=r"evil.pth: refused to unpickle.*(before anything|nothing in it)"
    ):
        load_pickled_state_dict(path)
    assert not marker.exists()


def test_payload_is_real(tmp_path: Path) -> None:
    """Control: unpickling the same file without the guard does run the payload."""
    marker = tmp_path / "PWNED"
    path = write_malicious_checkpoint(tmp_path / "evil.pkl", marker, torch_format=False)
    with open(path, "rb") as handle:
        pickle.load(handle)  # deliberately unsafe, to prove the payload works
    assert marker.exists()


def test_every_entry_point_refuses_the_payload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "PWNED"
    path = write_malicious_checkpoint(tmp_path / "evil.pt", marker, torch_format=True)
    assert main(["convert", str(path), str(tmp_path / "out.safetensors")]) == 2
    assert "refused to unpickle" in capsys.readouterr().err
    with pytest.raises(UnsafeCheckpointError):
        create_model("mobilenet_v2", weights=path)
    assert main(["predict", str(tmp_path), "--weights", str(path)]) == 2
    assert not marker.exists()
    assert not (tmp_path / "out.safetensors").exists()


def test_training_checkpoints_are_unwrapped(tmp_path: Path) -> None:
    state = {"conv_stem.weight": torch.ones(2)}
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "c.pth")
    loaded = load_any_state_dict(tmp_path / "c.pth")
    assert list(loaded) == ["conv_stem.weight"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.pth", b"", "not a readable PyTorch checkpoint"),
        ("junk.pth", b"\x80\x02garbage", "refused to unpickle.*nothing in it was run"),
        ("junk.safetensors", b"garbage!", "not a readable safetensors file"),
        ("weights.npz", b"x", "unknown weights format '.npz'"),
    ],
)
def test_unreadable_files_name_the_problem(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_any_state_dict(tmp_path / name)


def test_a_tensor_list_is_not_a_state_dict(tmp_path: Path) -> None:
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(ValueError, match=r"holds no state dict \(found list\)"):
        load_any_state_dict(tmp_path / "list.pt")
