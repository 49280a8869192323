"""Training checkpoints: the last K kept, and every RNG state for an exact resume.

A checkpoint holds everything the next step depends on: model, optimizer, scheduler, EMA and
grad-scaler states, the epoch and the step inside it, and the state of every random generator
(Python, NumPy, torch CPU and CUDA). The data order is a pure function of (seed, epoch)
(``data.datasets.EpochSampler``), so the epoch and step are enough to rebuild it.

Writes are atomic (``atomic_files``): a run killed mid-write leaves the previous checkpoint
intact, never a truncated one.
"""

from __future__ import annotations

import io
import pickle
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mobilenets.atomic_files import atomic_write_bytes
from mobilenets.printable import brief
from mobilenets.weights.safe_load import refusal_reason

CHECKPOINT_PATTERN = re.compile(r"^ckpt-(\d{8})\.pt$")
LAST_NAME = "last.pt"
BEST_NAME = "best.pt"  # the checkpoint of the epoch with the best validation top-1, never pruned


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to ``path`` via a temporary file, fsync and rename.

    The object is serialized in memory first and written with plain file writes, so a full disk
    raises ``OSError(ENOSPC)`` naming ``path`` (torch's own writer reports only a position
    mismatch).

    Returns:
        The path written.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getbuffer())


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
        ValueError: the file is missing, unreadable, refers to code (refused before anything in
            it ran), or is not a mobilenets training checkpoint.
    """

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist; pass a run folder or a ckpt-*.pt/last.pt file.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # Never relay torch's own advice here: it suggests weights_only=False, which would run
        # whatever code the file carries.
        raise ValueError(f"{path}: refused to unpickle: {refusal_reason(str(error))}") from None
    except Exception as error:  # a truncated or foreign file
        reason = brief(error)
        raise ValueError(f"{path} is not a readable checkpoint ({reason})") from None
    if not isinstance(state, dict) or state.get("format") != "mobilenets-checkpoint":
        raise ValueError(f"{path} is not a mobilenets training checkpoint.")
    missing = [key for key in CHECKPOINT_KEYS if key not in state]
    if missing:
        raise ValueError(f"{path}: a mobilenets checkpoint without {missing}; it is damaged.")
    return state


# What every checkpoint holds (train_state.save_checkpoint writes these).
CHECKPOINT_KEYS = ("config", "model", "optimizer", "scheduler", "scaler", "ema", "rng", "world_size")


def resumable(folder: Path) -> list[Path]:
    """What ``--resume`` can continue from in a checkpoints ``folder``: the step checkpoints,
    newest first, then ``last.pt``; empty when the run stopped before its first checkpoint."""
    return CheckpointManager(folder).checkpoints()[::-1] + [p for p in (folder / LAST_NAME,) if p.is_file()]


def resume_candidates(resume: str | Path, run_dir: Path) -> list[Path]:
    """The checkpoints ``--resume`` may use, best first.

    ``--resume FILE`` names one file. ``auto`` (this run's folder) and a run folder give every
    step checkpoint, newest first, then ``last.pt``: the newest that loads is used, so a
    truncated or damaged file costs a few steps, not the run.

    Raises:
        ValueError: no checkpoint at all.
    """
    if str(resume) == "auto":
        folder = run_dir / "checkpoints"
    else:
        path = Path(resume)
        if not path.is_dir():
            return [path]
        folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    found = resumable(folder)
    if not found:
        flag = "auto" if str(resume) == "auto" else str(resume)
        raise ValueError(
            f"--resume {flag}: no checkpoint in {folder}; start without --resume (add --overwrite "
            "to replace what the folder holds), or point --resume at a checkpoint file."
        )
    return found


def load_newest(
    candidates: list[Path], map_location: str | torch.device = "cpu"
) -> tuple[Path, dict[str, Any], list[str]]:
    """The newest of ``candidates`` (by global step) that loads.

    ``candidates`` come from ``resume_candidates``: step checkpoints newest first, then
    ``last.pt``. The first step checkpoint that loads is the newest one; ``last.pt`` is loaded
    too, since a failed copy can leave it older, or a damaged step file leave it newer.

    Returns:
        ``(path, checkpoint, skipped)``: the file used, its contents, and a 'PATH: reason'
        line for every candidate tried that could not be loaded.

    Raises:
        ValueError: none of them loads (the message lists why, file by file).
    """
    skipped: list[str] = []
    loaded: list[tuple[Path, dict[str, Any]]] = []
    for path in candidates:
        if loaded and path.name != LAST_NAME and loaded[-1][0].name != LAST_NAME:
            continue  # an older step checkpoint than one that already loaded
        try:
            loaded.append((path, load_checkpoint(path, map_location)))
        except ValueError as error:
            skipped.append(str(error))
    if not loaded:
        raise ValueError(f"no checkpoint could be loaded: {'; '.join(skipped)}")
    # The highest step wins; on a tie the step checkpoint (listed first) is named.
    path, state = max(loaded, key=lambda item: item[1].get("global_step", -1))
    return path, state, skipped
