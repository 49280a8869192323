"""Checkpoint files: atomic writes, rotation, and random-state round trips."""

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from mobilenets.checkpoint import (
    CheckpointManager,
    atomic_save,
    load_checkpoint,
    resolve_resume,
    rng_state,
    set_rng_state,
)


def test_atomic_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = atomic_save({"x": torch.arange(3)}, tmp_path / "a.pt")
    assert torch.equal(torch.load(path)["x"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]


def test_a_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    path = atomic_save({"version": 1}, tmp_path / "a.pt")

    class Unpicklable:
        def __reduce__(self) -> tuple[object, ...]:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_save({"version": 2, "bad": Unpicklable()}, path)
    assert torch.load(path)["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]


def test_manager_keeps_the_last_k_and_a_last_copy(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, keep=2)
    for step in (5, 10, 15, 20):
        manager.save({"format": "mobilenets-checkpoint", "step": step}, step)
    assert [p.name for p in manager.checkpoints()] == ["ckpt-00000015.pt", "ckpt-00000020.pt"]
    assert manager.latest() == tmp_path / "last.pt"
    assert load_checkpoint(manager.latest())["step"] == 20  # type: ignore[arg-type]
    assert resolve_resume(str(tmp_path), tmp_path) == tmp_path / "last.pt"


def test_load_refuses_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"not a mobilenets training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"--resume auto found no checkpoint"):
        resolve_resume("auto", tmp_path / "run")


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    atomic_save({"rng": rng_state()}, tmp_path / "r.pt")
    expected = (random.random(), np.random.rand(), torch.rand(2))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    set_rng_state(torch.load(tmp_path / "r.pt", weights_only=True)["rng"])
    again = (random.random(), np.random.rand(), torch.rand(2))
    assert again[0] == expected[0] and again[1] == expected[1] and torch.equal(again[2], expected[2])
