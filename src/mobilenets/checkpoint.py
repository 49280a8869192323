"""Training checkpoints: atomic writes, the last K kept, and every RNG state for an exact resume.

A checkpoint holds everything the next step depends on: model, optimizer, scheduler, EMA and
grad-scaler states, the epoch and the step inside it, and the state of every random generator
(Python, NumPy, torch CPU and CUDA). The data order is a pure function of (seed, epoch)
(``data.EpochSampler``), so the epoch and step are enough to rebuild it.

Writes go to a temporary file in the same folder, are fsync'ed, then renamed over the target:
a run killed mid-write leaves the previous checkpoint intact, never a truncated one.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_PATTERN = re.compile(r"^ckpt-(\d{8})\.pt$")
LAST_NAME = "last.pt"
BEST_NAME = "best.pt"  # the checkpoint of the epoch with the best validation top-1, never pruned


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to ``path`` via a temporary file, fsync and rename.

    Returns:
        The path written.
    """
    return atomic_write_file(path, lambda tmp: torch.save(obj, tmp))


def atomic_write_file(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)``, fsync the result and rename it over ``path``.

    The temporary file sits in the target's folder, so the rename never crosses filesystems.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb") as file:
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # The rename itself lives in the directory entry: sync that too, or a power cut can lose it.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


# -- random state -----------------------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    """The state of every generator a training step draws from, in plain types and tensors.

    NumPy's state is stored as a list rather than its ndarray so the checkpoint loads with
    ``torch.load(weights_only=True)``, which never runs pickled code.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (kind, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` saved."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# -- the checkpoint folder --------------------------------------------------------------------------
class CheckpointManager:
    """Writes ``ckpt-STEP.pt`` files into ``folder``, keeps the newest ``keep``, mirrors the newest
    as ``last.pt`` and the best epoch's as ``best.pt``.

    Args:
        folder: where checkpoints go (created on first save).
        keep: how many step-numbered checkpoints to keep (``last.pt`` is one more).
    """

    def __init__(self, folder: str | Path, keep: int = 3) -> None:
        if keep < 1:
            raise ValueError(f"keep={keep} must be at least 1")
        self.folder = Path(folder)
        self.keep = keep

    def save(self, state: dict[str, Any], global_step: int, best: bool = False) -> Path:
        """Write one checkpoint, refresh ``last.pt`` (and ``best.pt`` when ``best``), then prune
        the oldest step checkpoints beyond ``keep``."""
        path = atomic_save(state, self.folder / f"ckpt-{global_step:08d}.pt")
        # A hard link would be cheaper, but a second atomic copy survives any filesystem.
        atomic_save(state, self.folder / LAST_NAME)
        if best:
            atomic_save(state, self.folder / BEST_NAME)
        for old in self.checkpoints()[: -self.keep]:
            old.unlink(missing_ok=True)
        return path

    def checkpoints(self) -> list[Path]:
        """Step-numbered checkpoints, oldest first."""
        if not self.folder.is_dir():
            return []
        found = [p for p in self.folder.iterdir() if CHECKPOINT_PATTERN.match(p.name)]
        return sorted(found, key=lambda p: int(CHECKPOINT_PATTERN.match(p.name)[1]))  # type: ignore[index]

    def latest(self) -> Path | None:
        last = self.folder / LAST_NAME
        if last.is_file():
            return last
        found = self.checkpoints()
        return found[-1] if found else None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by ``CheckpointManager`` (tensors and plain types only).

    Raises:
        ValueError: the file is missing or not a mobilenets training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist; pass a run folder or a ckpt-*.pt/last.pt file.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # a truncated or foreign file
        raise ValueError(f"{path} is not a readable checkpoint ({error})") from None
    if not isinstance(state, dict) or state.get("format") != "mobilenets-checkpoint":
        raise ValueError(f"{path} is not a mobilenets training checkpoint.")
    return state


def resolve_resume(resume: str | Path, run_dir: Path) -> Path:
    """``--resume`` may name a checkpoint file, a run folder, or ``auto`` (this run's latest)."""
    if str(resume) == "auto":
        latest = CheckpointManager(run_dir / "checkpoints").latest()
        if latest is None:
            raise ValueError(f"--resume auto found no checkpoint under {run_dir / 'checkpoints'}.")
        return latest
    path = Path(resume)
    if path.is_dir():
        folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        latest = CheckpointManager(folder).latest()
        if latest is None:
            raise ValueError(f"--resume {path}: no checkpoint found in {folder}.")
        return latest
    return path
