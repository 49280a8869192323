"""Training end to end on small data: files written, guards, fine-tuning, pre-flight errors."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mobilenets import create_model
from mobilenets.cli import main
from mobilenets.data.datasets import ArrayDataset, DataSplits
from mobilenets.data.digits import CLASS_NAMES, split_digits
from mobilenets.train import NonFiniteLossError, TrainConfig, fit
from mobilenets.train.checkpoints import load_checkpoint
from mobilenets.weights.file_format import load_model, save_weights
from tests.data.test_data import make_folder

TINY = {"model": "mobilenet_v1", "width_mult": 0.25, "resolution": 32, "batch_size": 32, "progress": False}


def tiny_digits(train: int = 256, val: int = 96) -> DataSplits:
    """A slice of the built-in digits: enough to learn something in seconds."""
    full_train, held_out = split_digits(32)
    return DataSplits(
        ArrayDataset(full_train.images[:train], full_train.labels[:train], CLASS_NAMES),
        ArrayDataset(held_out.images[:val], held_out.labels[:val], CLASS_NAMES),
        CLASS_NAMES,
        "tiny digits",
    )


def test_fit_learns_and_leaves_every_record(tmp_path: Path) -> None:
    config = TrainConfig(
        **{**TINY, "batch_size": 16}, epochs=2, lr=0.05, warmup_epochs=0, bn_momentum=0.1, augment="crop",
        hflip=False, crop_scale=(0.6, 1.0), ema_decay=0.9, checkpoint_every=5, keep_checkpoints=2,
        tensorboard=True, out=str(tmp_path),
    )  # fmt: skip
    result = fit(config, tiny_digits(train=512))
    assert result.best_top1 > 0.25  # 10 classes: chance is 0.1
    files = {p.name for p in tmp_path.iterdir()}
    assert {
        "best.safetensors",
        "metrics.jsonl",
        "metrics.csv",
        "curves.png",
        "confusion.png",
        "summary.json",
    } <= files
    assert any((tmp_path / "tensorboard").iterdir())
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2] and all("ema_top1" in r for r in epochs)
    assert any(r["kind"] == "train" and r["lr"] > 0 for r in records)
    steps = sorted(int(p.stem.split("-")[1]) for p in (tmp_path / "checkpoints").glob("ckpt-*.pt"))
    assert steps == [60, 64]  # 32 steps an epoch, every 5 steps and every epoch; the newest 2 kept
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert best["epoch"] == result.best_epoch and best["best_top1"] == result.best_top1
    model = load_model(result.best_weights)
    assert model.labels == CLASS_NAMES and model.preprocess.input_size == (3, 32, 32)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["best_top1"] == pytest.approx(result.best_top1)


class PoisonAfter(ArrayDataset):
    """Digits that turn into NaN after ``clean`` images have been served."""

    def __init__(self, base: ArrayDataset, clean: int) -> None:
        super().__init__(base.images.permute(0, 2, 3, 1).numpy(), base.labels.numpy(), base.classes)
        self.served, self.clean = 0, clean

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = super().__getitem__(index)
        self.served += 1
        return (image * float("nan") if self.served > self.clean else image), label


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    splits = tiny_digits()
    splits.train = PoisonAfter(splits.train, clean=4 * 32)  # type: ignore[arg-type]
    config = TrainConfig(**TINY, epochs=1, checkpoint_every=2, out=str(tmp_path))
    with pytest.raises(
        NonFiniteLossError, match=r"loss became nan at epoch 1, step 5 .*ckpt-00000004.pt|last.pt"
    ):
        fit(config, splits)
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert last["global_step"] == 4
    assert all(torch.isfinite(t).all() for t in last["model"].values() if t.is_floating_point())


def test_fine_tuning_replaces_the_head_and_freezes_the_backbone_first(tmp_path: Path) -> None:
    torch.manual_seed(0)
    pretrained = create_model("mobilenet_v1_0.25", resolution_mult=32 / 224, num_classes=1000)
    save_weights(pretrained, tmp_path / "pre.safetensors")
    config = TrainConfig(
        **TINY,
        pretrained=str(tmp_path / "pre.safetensors"),
        freeze_epochs=1,
        epochs=2,
        out=str(tmp_path / "run"),
    )
    fit(config, tiny_digits(train=64, val=32))
    after_frozen = load_checkpoint(tmp_path / "run" / "checkpoints" / "ckpt-00000002.pt")["model"]
    final = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["model"]
    before = pretrained.state_dict()
    assert after_frozen["classifier.weight"].shape == (10, 256)  # the new 10-class head
    for key in (
        "stem.conv.weight",
        "blocks.5.dw.conv.weight",
        "blocks.5.pw.bn.weight",
        "blocks.5.dw.bn.running_mean",
    ):
        assert torch.equal(after_frozen[key], before[key]), key  # epoch 1: backbone and its BN untouched
        assert not torch.equal(final[key], before[key]), key  # epoch 2: all of it trains
    assert not torch.equal(after_frozen["classifier.weight"], final["classifier.weight"])


def test_resume_with_different_settings_is_refused(tmp_path: Path) -> None:
    fit(TrainConfig(**TINY, epochs=1, out=str(tmp_path)), tiny_digits(train=64, val=32))
    config = TrainConfig(**{**TINY, "batch_size": 16}, epochs=1, out=str(tmp_path), resume="auto")
    with pytest.raises(ValueError, match=r"settings differ \(batch_size: checkpoint 32 vs now 16\)"):
        fit(config, tiny_digits(train=64, val=32))


def test_unreadable_images_are_skipped_during_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_folder(tmp_path / "data", {"a": 12, "b": 12})
    (data / "a" / "truncated.png").write_bytes((data / "a" / "0.png").read_bytes()[:60])
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--model", "mobilenet_v1_0.25", "--resolution", "32"]
    argv += [
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--val-fraction",
        "0.25",
        "--out",
        str(out),
        "--no-progress",
    ]
    code = main(argv)
    assert code == 0
    assert f"skipping unreadable image {data / 'a' / 'truncated.png'}" in capsys.readouterr().err
    skipped = json.loads((out / "summary.json").read_text())["skipped_images"]
    assert list(skipped) == [str(data / "a" / "truncated.png")] and "truncated" in next(
        iter(skipped.values())
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "{tmp}/missing"], "data directory {tmp}/missing does not exist"),
        (
            ["--data", "{tmp}/data", "--batch-size", "64"],
            "batch_size=64 is larger than the training set: 12 images",
        ),
        (["--data", "{tmp}/emptyclass"], "class folder(s) {tmp}/emptyclass/c contain no readable images"),
        (
            ["--data", "{tmp}/mismatch"],
            "train and val have different classes: only in train ['b'], only in val ['c']",
        ),
        (["--epochs", "0"], "epochs=0 is out of range"),
        (["--freeze-epochs", "1"], "freeze_epochs=1 needs pretrained weights"),
        (
            ["--data", "{tmp}/tabbed"],
            "the class folder 'tab\\tname' cannot name a class in a weights file (it holds a control",
        ),
        (["--data", "{tmp}/long"], "cannot name a class in a weights file (it is 240 characters long"),
    ],
)
def test_pre_flight_errors_come_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    make_folder(tmp_path / "data", {"a": 8, "b": 8}, size=8)
    make_folder(tmp_path / "emptyclass", {"a": 2, "b": 2}, size=8)
    (tmp_path / "emptyclass" / "c").mkdir()
    make_folder(tmp_path / "mismatch" / "train", {"a": 2, "b": 2}, size=8)
    make_folder(tmp_path / "mismatch" / "val", {"a": 2, "c": 2}, size=8)
    make_folder(tmp_path / "tabbed", {"a": 8, "tab\tname": 8}, size=8)  # a weights file could not hold these
    make_folder(tmp_path / "long", {"a": 8, "x" * 240: 8}, size=8)
    out = tmp_path / "run"
    argv = ["train", *[a.replace("{tmp}", str(tmp_path)) for a in args], "--out", str(out), "--no-progress"]
    assert main(argv) == 2
    assert message.replace("{tmp}", str(tmp_path)) in capsys.readouterr().err
    assert not out.exists()  # nothing written: the run never started


def test_eval_command_reports_accuracy_and_writes_the_confusion_matrix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fit(TrainConfig(**TINY, epochs=1, out=str(tmp_path)), tiny_digits(train=64, val=32))
    assert (
        main(
            [
                "eval",
                "--data",
                "digits",
                "--weights",
                str(tmp_path / "best.safetensors"),
                "--out",
                str(tmp_path / "e"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "top-1" in out and "top-5" in out and "on 450 images" in out
    report = json.loads((tmp_path / "e" / "eval.json").read_text())
    assert report["images"] == 450 and set(report["per_class"]) == set(CLASS_NAMES)
    confusion = np.array(report["confusion"])
    assert confusion.sum() == 450 and report["top1"] == pytest.approx(np.trace(confusion) / 450)
    assert (tmp_path / "e" / "confusion.png").stat().st_size > 1000


def test_eval_on_an_image_folder_checks_the_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_folder(tmp_path / "data", {"cat": 3, "dog": 2})
    model = create_model("mobilenet_v1_0.25", resolution_mult=32 / 224, num_classes=2)
    weights = save_weights(model, tmp_path / "w.safetensors", labels=["cat", "dog"])
    assert main(["eval", "--data", str(data), "--weights", str(weights)]) == 0
    report = json.loads((tmp_path / "eval-w" / "eval.json").read_text())  # beside the weights
    assert report["images"] == 5 and np.array(report["confusion"]).sum(axis=1).tolist() == [3, 2]
    # No val/: every image is scored, and the user is told they may be training images.
    assert f"note: {data} has no val/ folder" in capsys.readouterr().err
    other = save_weights(model, tmp_path / "other.safetensors", labels=["ant", "bee"])
    assert main(["eval", "--data", str(data), "--weights", str(other)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "class folders 'cat', 'dog' are not among the weights' 2 classes ('ant', 'bee')" in line


def test_a_mistyped_model_name_is_refused_before_the_data_is_read(tmp_path: Path) -> None:
    config = TrainConfig(
        data=str(tmp_path / "no-such-folder"), model="mobilenet_v5", out=str(tmp_path / "run")
    )
    with pytest.raises(ValueError, match=r"unknown model 'mobilenet_v5'\. Did you mean 'mobilenet_v2'"):
        fit(config)  # not "data directory ... does not exist": the name is checked first
    assert not (tmp_path / "run").exists()
