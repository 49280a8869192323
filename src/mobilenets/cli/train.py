"""``mobilenets train``: train on a folder of images or the built-in digits; torchrun runs it on N processes.

mobilenets train --data digits --model mobilenet_v1 --width 0.5 --resolution 32 --epochs 30 --out runs/d
torchrun --nproc_per_node 2 -m mobilenets train --data DIR --model mobilenet_v2 --epochs 90 --out runs/x
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import sys
from pathlib import Path

from mobilenets.cli.failures import EXIT_DIVERGED, Terminated
from mobilenets.data.augment import POLICIES
from mobilenets.models.registry import parse_model_name
from mobilenets.train.checkpoints import resumable
from mobilenets.train.config import AMP_MODES, TrainConfig
from mobilenets.train.loop import fit
from mobilenets.train.optim import OPTIMIZERS, SCHEDULES
from mobilenets.train.presets import PRESET_NAMES, describe_preset, find_preset, preset_settings
from mobilenets.train.run_folder import existing_run_files
from mobilenets.weights.file_format import read_metadata

__all__ = ["EXIT_DIVERGED", "config_from_args", "register", "run"]


def _pair(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not two numbers like 0.25,1.0") from None
    return low, high


def register(subparsers: argparse._SubParsersAction) -> None:
    d = TrainConfig()
    parser = subparsers.add_parser(
        "train",
        help="train a MobileNet (also under torchrun for DDP)",
        description="Train a MobileNet from scratch or from pretrained weights. Under "
        "`torchrun --nproc_per_node N -m mobilenets train ...` every process trains a shard (DDP).",
    )
    for add in (_data_arguments, _model_arguments, _recipe_arguments, _speed_arguments, _records_arguments):
        add(parser, d)
    parser.set_defaults(handler=run)


def _data_arguments(parser: argparse.ArgumentParser, d: TrainConfig) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--data", default=d.data, help="'digits' (built in) or an ImageFolder path")
    data.add_argument("--resolution", type=int, help="input size in px (default: 32 for digits, else 224)")
    data.add_argument(
        "--val-fraction", type=float, default=d.val_fraction, help="held-out share without val/"
    )
    data.add_argument("--batch-size", type=int, default=d.batch_size, help="images per step per process")
    data.add_argument("--workers", type=int, default=d.workers, help="data-loader processes")
    data.add_argument("--augment", choices=POLICIES, help=f"augmentation policy (default {d.augment})")
    data.add_argument("--crop-scale", type=_pair, default=d.crop_scale, help="random resized crop area range")
    data.add_argument("--no-hflip", dest="hflip", action="store_false", help="no horizontal flips")


def _model_arguments(parser: argparse.ArgumentParser, d: TrainConfig) -> None:
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        help=f"model name, e.g. mobilenet_v2 or mobilenet_v1_0.5 (default: {d.model}; with --pretrained, "
        "the file's)",
    )
    model.add_argument("--width", dest="width_mult", type=float, help="width multiplier α")
    model.add_argument(
        "--bn-momentum",
        type=float,
        help="BatchNorm momentum, PyTorch convention "
        "(default: 1/steps per epoch, within [family default, 0.1])",
    )
    model.add_argument("--dropout", type=float, help="dropout before the classifier")
    model.add_argument("--pretrained", help="start from this mobilenets .safetensors (head replaced)")
    model.add_argument("--freeze-epochs", type=int, default=0, help="train only the head this many epochs")


def _recipe_arguments(parser: argparse.ArgumentParser, d: TrainConfig) -> None:
    recipe = parser.add_argument_group("recipe")
    recipe.add_argument(
        "--preset",
        choices=PRESET_NAMES,
        help="a published MobileNetV4 ImageNet recipe (AdamW, its lr, decay, schedule, dropout, "
        "RandAugment); 'v4' picks the one of --model. Flags given explicitly win (docs/training.md)",
    )
    # Flags a preset sets default to None here, so that a value given on the command line, even
    # one equal to the default, is told apart from no value; TrainConfig supplies the default.
    recipe.add_argument("--epochs", type=int, help=f"(default {d.epochs})")
    recipe.add_argument("--optimizer", choices=OPTIMIZERS, help=f"(default {d.optimizer})")
    recipe.add_argument(
        "--lr",
        type=float,
        help="peak learning rate (default: 0.1 for sgd, 0.008 rmsprop, 0.001 adamw at a global batch of "
        "64, scaled linearly with the batch (adamw: square root); a tenth with --pretrained)",
    )
    recipe.add_argument(
        "--momentum", type=float, help=f"SGD/RMSprop momentum, AdamW's beta1 (default {d.momentum})"
    )
    recipe.add_argument(
        "--weight-decay",
        type=float,
        help="L2 decay of conv/linear weights (default: 0.01356 / √steps, at least the papers' 4e-5)",
    )
    recipe.add_argument(
        "--no-depthwise-decay", dest="depthwise_decay", action="store_false", help="no decay on depthwise"
    )
    recipe.add_argument("--schedule", choices=SCHEDULES, help=f"(default {d.schedule})")
    recipe.add_argument(
        "--warmup-epochs", type=float, help="linear warmup (default: 5%% of the steps, at most 5 epochs)"
    )
    recipe.add_argument("--min-lr-ratio", type=float, help=f"cosine floor, × lr (default {d.min_lr_ratio})")
    recipe.add_argument("--decay-epochs", type=float, default=d.decay_epochs, help="step schedule period")
    recipe.add_argument("--decay-rate", type=float, default=d.decay_rate, help="step schedule factor")
    recipe.add_argument("--label-smoothing", type=float, help=f"(default {d.label_smoothing})")
    recipe.add_argument(
        "--ema-decay", type=float, help="EMA decay; implies --ema (default: averages over 5%% of the steps)"
    )
    recipe.add_argument(
        "--ema",
        action="store_true",
        default=None,
        help="keep an EMA of the weights; it is evaluated and saved",
    )
    recipe.add_argument(
        "--precise-bn-batches",
        type=int,
        help="training batches that recompute BatchNorm statistics before each evaluation and "
        "weights file (default: a quarter epoch, 256-1024 images)",
    )
    recipe.add_argument(
        "--no-precise-bn",
        dest="precise_bn",
        action="store_false",
        help="evaluate and save with the running BatchNorm statistics as training left them",
    )
    recipe.add_argument("--grad-clip", type=float, help="clip the gradient's global norm")
    recipe.add_argument("--seed", type=int, default=d.seed)


def _speed_arguments(parser: argparse.ArgumentParser, d: TrainConfig) -> None:
    speed = parser.add_argument_group("speed")
    speed.add_argument("--device", default=d.device, help="auto, cpu or cuda")
    speed.add_argument("--amp", choices=AMP_MODES, default=d.amp, help="autocast (auto: bf16/fp16 on CUDA)")
    speed.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    speed.add_argument("--compile", action="store_true", help="torch.compile the model")
    speed.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm under DDP (CUDA)")
    speed.add_argument("--deterministic", action="store_true", help="bitwise-repeatable kernels")
    speed.add_argument("--threads", type=int, help="CPU threads per process")


def _records_arguments(parser: argparse.ArgumentParser, d: TrainConfig) -> None:
    records = parser.add_argument_group("records")
    records.add_argument("--out", default=d.out, help="run folder")
    records.add_argument("--checkpoint-every", type=int, default=0, help="also checkpoint every N steps")
    records.add_argument("--keep-checkpoints", type=int, default=d.keep_checkpoints)
    records.add_argument(
        "--resume",
        help="checkpoint file, run folder, or 'auto': the newest checkpoint in --out that loads",
    )
    records.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the run already in --out first (without it, or --resume, such a folder is refused)",
    )
    records.add_argument("--log-every", type=int, default=d.log_every)
    records.add_argument("--tensorboard", action="store_true", help="also write TensorBoard events")
    records.add_argument("--no-progress", dest="progress", action="store_false")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's settings; with --pretrained, a --model that contradicts the file is refused.

    Flags left out (None) take ``TrainConfig``'s defaults, or the --preset's values.
    """
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    if getattr(args, "preset", None):
        values = _with_preset(args.preset, values)
    if args.pretrained and args.model:
        stored = read_metadata(args.pretrained).config
        base, implied = parse_model_name(args.model)
        width = implied.get("width_mult", stored.width_mult)
        if base != stored.arch or abs(width - stored.width_mult) > 1e-9:
            raise ValueError(
                f"--model {args.model} contradicts --pretrained {args.pretrained}, which holds {stored.arch} "
                f"at width {stored.width_mult:g}; drop --model (the file decides) or pick matching weights."
            )
    return TrainConfig(**values)


def _with_preset(name: str, values: dict[str, object]) -> dict[str, object]:
    """``values`` completed by the preset: what the command line gave is kept, the rest is the preset's."""
    if values.get("pretrained"):
        raise ValueError(
            f"--preset {name} is a from-scratch ImageNet recipe; it does not apply to fine-tuning "
            "--pretrained weights. Drop --preset (the fine-tuning defaults) or --pretrained."
        )
    model = str(values.get("model", TrainConfig.model))
    preset = find_preset(name, model)
    batch = values.get("batch_size", TrainConfig.batch_size)
    assert isinstance(batch, int)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun: the lr follows the global batch
    epochs = values.get("epochs")
    assert epochs is None or isinstance(epochs, int)
    settings = preset_settings(preset, batch, world_size, epochs)
    given = {key for key in settings if key in values}
    if values.get("ema_decay") is not None:
        given.add("ema")
    applied = {key: values.get(key, value) for key, value in settings.items()}
    if os.environ.get("RANK", "0") == "0":  # rank 0 alone prints, as the run does
        print(describe_preset(preset, applied, given))
    return {**settings, **values}


def line_buffered_stdout() -> None:
    """Progress goes out line by line even into a log file or a pipe (a long run shows it is alive)."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=True)


def run(args: argparse.Namespace) -> int:

    line_buffered_stdout()
    config = config_from_args(args)
    try:
        fit(config)
    except (KeyboardInterrupt, Terminated) as interrupt:
        raise type(interrupt)(_how_to_continue(config)) from None
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        resume = f"once there is space: {_how_to_continue(config)}"
        raise OSError(error.errno, f"{error.strerror}; {resume}", error.filename) from error
    return 0


def _how_to_continue(config: TrainConfig) -> str:
    """What survives a stopped run, and the command that picks it up.

    The same command is needed, not only ``--resume auto``: the checkpoint holds the weights and
    the optimizer, the command holds the data and the model. With no checkpoint there is nothing
    to resume: a run stopped that early leaves no folder behind, or one that must be replaced.
    """
    out = Path(config.out)
    found = resumable(out / "checkpoints")  # what --resume auto would pick up
    if found:
        swap = " in place of --overwrite" if config.overwrite else ""
        return (
            f"the newest checkpoint is {found[0]}; continue with the same command and "
            f"--resume auto{swap} (--out {out})"
        )
    if existing_run_files(out):  # what makes the same command refuse the folder
        return (
            f"no checkpoint was written yet; start again with the same command and --overwrite (--out {out})"
        )
    return "no checkpoint was written yet; start again with the same command"
