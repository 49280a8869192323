"""Checkpoint files: atomic writes, rotation, and random-state round trips."""

import errno
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mobilenets import atomic_files
from mobilenets.atomic_files import remove_stale_temp_files
from mobilenets.train.checkpoints import (
    CHECKPOINT_KEYS,
    CheckpointManager,
    atomic_save,
    load_checkpoint,
    load_newest,
    resume_candidates,
    rng_state,
    set_rng_state,
)


def fake_checkpoint(step: int) -> dict[str, Any]:
    """A dict with every key a training checkpoint has (the values do not matter here)."""
    return {"format": "mobilenets-checkpoint", "step": step, **dict.fromkeys(CHECKPOINT_KEYS, 0)}


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
        manager.save(fake_checkpoint(step), step)
    assert [p.name for p in manager.checkpoints()] == ["ckpt-00000015.pt", "ckpt-00000020.pt"]
    assert manager.latest() == tmp_path / "last.pt"
    assert load_checkpoint(manager.latest())["step"] == 20  # type: ignore[arg-type]
    assert resume_candidates(str(tmp_path), tmp_path) == [
        tmp_path / "ckpt-00000020.pt",
        tmp_path / "ckpt-00000015.pt",
        tmp_path / "last.pt",
    ]


def test_load_refuses_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"not a mobilenets training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"--resume auto: no checkpoint in"):
        resume_candidates("auto", tmp_path / "run")


def test_resume_falls_back_to_the_newest_checkpoint_that_loads(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path / "checkpoints", keep=3)
    for step in (10, 20, 30):
        manager.save(fake_checkpoint(step), step)
    # A damaged newest file and last.pt (a disk error, a copy cut short): the run loses 10 steps.
    for name in ("ckpt-00000030.pt", "last.pt"):
        path = tmp_path / "checkpoints" / name
        path.write_bytes(path.read_bytes()[:100])
    used, saved, skipped = load_newest(resume_candidates("auto", tmp_path))
    assert used.name == "ckpt-00000020.pt" and saved["step"] == 20
    assert len(skipped) == 2 and "ckpt-00000030.pt" in skipped[0] and "last.pt" in skipped[1]


def test_resume_prefers_an_intact_last_pt_over_an_older_step_checkpoint(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path / "checkpoints", keep=3)
    for step in (10, 20, 30):
        manager.save({**fake_checkpoint(step), "global_step": step}, step)
    newest = tmp_path / "checkpoints" / "ckpt-00000030.pt"
    newest.write_bytes(newest.read_bytes()[:100])  # last.pt, a copy of step 30, is intact
    used, saved, skipped = load_newest(resume_candidates("auto", tmp_path))
    assert used.name == "last.pt" and saved["global_step"] == 30 and len(skipped) == 1


def test_no_loadable_checkpoint_lists_each_reason(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"no checkpoint could be loaded: .*last.pt"):
        load_newest(resume_candidates("auto", tmp_path))


def test_a_code_payload_is_refused_without_advising_weights_only_false(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self) -> tuple[object, ...]:
            return (print, ("this must never run",))

    torch.save({"format": "mobilenets-checkpoint", "x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="refused to unpickle") as caught:
        load_checkpoint(tmp_path / "evil.pt")
    assert "weights_only=False" not in str(caught.value) and "'print', which is code" in str(caught.value)


def test_stale_temporary_files_are_removed(tmp_path: Path) -> None:
    atomic_save({"x": 1}, tmp_path / "a.pt")
    stale = [tmp_path / ".ckpt-00000010.pt.k3j2h1_x.tmp", tmp_path / ".last.pt.zz9abc00.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    (tmp_path / "notes.tmp").write_text("not ours: no leading dot")
    (tmp_path / ".notes.tmp").write_text("not ours: no 8-character random part")
    assert sorted(remove_stale_temp_files(tmp_path)) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.tmp", "a.pt", "notes.tmp"]


def test_a_full_disk_names_the_file_and_keeps_the_previous_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = atomic_save({"version": 1}, tmp_path / "a.pt")

    def disk_full(file: Any, data: Any) -> None:
        file.write(bytes(data)[:10])  # a partial write, as a filling disk leaves
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_files, "write_bytes", disk_full)
    with pytest.raises(OSError) as caught:
        atomic_save({"version": 2}, path)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)
    assert torch.load(path)["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]  # the partial temporary file is gone


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
