"""``train.state``: a checkpoint carries a run over a restart exactly, and refuses changed settings.

The round trip is checked the strict way: the step after the restore must give the same bits as
the step the original state takes after the save (it draws from every random generator).
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from mobilenets import create_model
from mobilenets.train.checkpoints import CheckpointManager, load_checkpoint
from mobilenets.train.config import RESUME_MUST_MATCH, TrainConfig
from mobilenets.train.distributed import DistributedContext
from mobilenets.train.state import RESUMED_FIELDS, TrainState, restore_checkpoint, save_checkpoint

CONFIG = TrainConfig(model="mobilenet_v1", width_mult=0.25, resolution=32, batch_size=4, progress=False)
COUNTERS = {
    "epoch": 3,
    "step_in_epoch": 2,
    "global_step": 2,
    "best_top1": 0.625,
    "best_epoch": 2,
    "train_seconds": 12.5,
    "epoch_loss_sum": 3.25,
    "epoch_loss_count": 2,
}


def make_state(seed: int) -> TrainState:
    torch.manual_seed(seed)
    model = create_model("mobilenet_v1", width_mult=0.25, num_classes=3, dropout=0.5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (1 + step))
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=1)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    return TrainState(model, model, optimizer, scheduler, scaler, ema)


def train_step(state: TrainState) -> None:
    """One step that draws from torch's, NumPy's and Python's generators (data, dropout, noise)."""
    state.model.train()
    images = torch.rand(4, 3, 32, 32)
    labels = torch.randint(0, 3, (4,))
    noise = 1.0 + 0.01 * random.random() + 0.01 * float(np.random.rand())
    loss = nn.functional.cross_entropy(state.model(images), labels) * noise
    state.scaler.scale(loss).backward()
    state.scaler.step(state.optimizer)
    state.scaler.update()
    state.optimizer.zero_grad(set_to_none=True)
    state.scheduler.step()
    assert state.ema is not None
    state.ema.update_parameters(state.model)
    state.global_step += 1


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Equal nested structures, tensors compared bit for bit."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def snapshot(state: TrainState) -> dict[str, Any]:
    assert state.ema is not None
    return copy.deepcopy(
        {
            "model": state.model.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "scheduler": {k: v for k, v in state.scheduler.state_dict().items() if k != "lr_lambdas"},
            "scaler": state.scaler.state_dict(),
            "ema": state.ema.state_dict(),
            "lr": [group["lr"] for group in state.optimizer.param_groups],
            **{name: getattr(state, name) for name in RESUMED_FIELDS},
        }
    )


def scramble_generators(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@pytest.fixture
def saved_run(tmp_path: Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """A checkpoint after two steps, the state it holds, and the state one more step leads to."""
    scramble_generators(7)
    state = make_state(0)
    train_step(state)
    train_step(state)
    for name, value in COUNTERS.items():
        setattr(state, name, value)
    manager = CheckpointManager(tmp_path / "checkpoints", keep=2)
    save_checkpoint(state, manager, DistributedContext(), CONFIG.to_dict(), best=True)
    at_save = snapshot(state)
    train_step(state)  # the original run goes on
    return tmp_path / "checkpoints", at_save, snapshot(state)


def test_the_checkpoint_files(saved_run: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    folder, _, _ = saved_run
    assert sorted(p.name for p in folder.iterdir()) == ["best.pt", "ckpt-00000002.pt", "last.pt"]
    saved = load_checkpoint(folder / "ckpt-00000002.pt")
    assert saved["world_size"] == 1 and saved["written_by_rank"] == 0
    assert saved["config"] == CONFIG.to_dict()
    assert {name: saved[name] for name in RESUMED_FIELDS} == COUNTERS


def test_restore_brings_back_every_state_and_counter_exactly(
    saved_run: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    folder, at_save, after_one_more_step = saved_run
    assert at_save["scaler"]["scale"] == 4096.0  # 1024 doubled after each of the two steps
    fresh = make_state(1)  # other initial weights, an untouched optimizer, scheduler and scaler
    assert not torch.equal(fresh.model.stem.conv.weight, at_save["model"]["stem.conv.weight"])
    scramble_generators(99)
    path = folder / "last.pt"
    restore_checkpoint(fresh, path, load_checkpoint(path), CONFIG, DistributedContext())
    assert_same(snapshot(fresh), at_save, "restored")
    train_step(fresh)  # the same data, dropout and noise as the original's next step
    assert_same(snapshot(fresh), after_one_more_step, "next step")


def test_the_random_generators_continue_where_they_were(tmp_path: Path) -> None:
    state = make_state(0)
    scramble_generators(5)
    save_checkpoint(state, CheckpointManager(tmp_path), DistributedContext(), CONFIG.to_dict())
    expected = (torch.rand(3), float(np.random.rand()), random.random())
    scramble_generators(6)
    path = tmp_path / "last.pt"
    restore_checkpoint(make_state(0), path, load_checkpoint(path), CONFIG, DistributedContext())
    drawn = (torch.rand(3), float(np.random.rand()), random.random())
    assert torch.equal(drawn[0], expected[0]) and drawn[1:] == expected[1:]


def test_best_false_writes_no_best_copy_and_no_manager_writes_nothing(tmp_path: Path) -> None:
    state = make_state(0)
    save_checkpoint(state, CheckpointManager(tmp_path / "a"), DistributedContext(), CONFIG.to_dict())
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["ckpt-00000000.pt", "last.pt"]
    save_checkpoint(state, None, DistributedContext(), CONFIG.to_dict())  # a rank other than 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


# A different, valid value for every setting a resume must keep.
CHANGES: dict[str, Any] = {
    "data": "/data/flowers",
    "resolution": 64,
    "val_fraction": 0.1,
    "batch_size": 8,
    "model": "mobilenet_v2",
    "width_mult": 0.5,
    "optimizer": "adamw",
    "seed": 1,
    "augment": "none",
    "epochs": 20,
    "schedule": "step",
    "ema": True,
}


def test_the_changes_cover_every_setting_that_must_match() -> None:
    assert set(CHANGES) == set(RESUME_MUST_MATCH)


@pytest.mark.parametrize("key", sorted(CHANGES))
def test_a_changed_setting_is_refused_naming_it(key: str) -> None:
    saved = {"config": CONFIG.to_dict(), "world_size": 1}
    now = TrainConfig(**{**CONFIG.to_dict(), key: CHANGES[key]})
    state = make_state(0) if key == "batch_size" else None  # one case checks nothing was loaded
    before = copy.deepcopy(state.model.state_dict()) if state else None
    with pytest.raises(ValueError, match=r"cannot resume exactly from ckpt\.pt: settings differ") as error:
        restore_checkpoint(state, Path("ckpt.pt"), saved, now, DistributedContext())  # type: ignore[arg-type]
    old = getattr(CONFIG, key)
    assert f"{key}: checkpoint {old!r} vs now {CHANGES[key]!r}" in str(error.value)
    assert "Resume with the original settings" in str(error.value)
    if state is not None:
        assert_same(state.model.state_dict(), before, "untouched")


def test_every_differing_setting_and_the_process_count_are_named_together() -> None:
    saved = {"config": CONFIG.to_dict(), "world_size": 2}
    now = TrainConfig(**{**CONFIG.to_dict(), "seed": 3, "epochs": 4})
    with pytest.raises(ValueError) as error:
        restore_checkpoint(None, Path("c.pt"), saved, now, DistributedContext())  # type: ignore[arg-type]
    message = str(error.value)
    assert "seed: checkpoint 0 vs now 3" in message
    assert "epochs: checkpoint 10 vs now 4" in message
    assert "processes: checkpoint 2 vs now 1" in message


def test_other_settings_may_change_on_resume(saved_run: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    folder, at_save, _ = saved_run
    changed = TrainConfig(
        **{**CONFIG.to_dict(), "lr": 0.5, "log_every": 1, "workers": 2, "out": "elsewhere", "device": "cpu"}
    )
    fresh = make_state(1)
    path = folder / "last.pt"
    restore_checkpoint(fresh, path, load_checkpoint(path), changed, DistributedContext())
    assert_same(fresh.model.state_dict(), at_save["model"], "model")
