"""``mobilenets convert SRC DST``: torchvision / timm / Keras weights -> a mobilenets file."""

from __future__ import annotations

import argparse

from rich.console import Console

from mobilenets.weights.convert import SOURCES, convert_weights


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert torchvision, timm or Keras weights into a mobilenets .safetensors file",
        description="Convert MobileNet weights from torchvision (.pth), timm (.pth/.safetensors) or "
        "Keras (.h5/.weights.h5/.keras). Pickles are read with torch.load(weights_only=True): a "
        "file carrying code is refused, never run.",
        epilog="Exit codes: 0 written; 2 nothing written: the file cannot be converted (unknown "
        "layout, unsupported variant, unsafe pickle), or it fits several source models that need "
        "different settings and nothing says which. timm's tf_mobilenetv3_large/small_* ports (TF "
        "'SAME' padding, BN eps 1e-3, mean/std 0.5) and its own mobilenetv3_large/small_* models "
        "(symmetric padding, BN eps 1e-5, ImageNet mean/std) have identical state dicts: name the "
        "model with --timm-model, or keep timm's config.json beside the file. --arch does not "
        "settle this.",
    )
    parser.add_argument("src", help="the foreign weights file")
    parser.add_argument("dst", help="the .safetensors file to write")
    parser.add_argument(
        "--arch",
        help="our model name, e.g. mobilenet_v1_0.5_160 (default: detected); it fixes the shapes, "
        "not the source model's padding or BN eps",
    )
    parser.add_argument("--source", choices=SOURCES, help="the library that wrote SRC (default: detected)")
    parser.add_argument(
        "--timm-model",
        metavar="NAME",
        help="timm's model name for timm files, e.g. tf_mobilenetv3_large_100 or "
        "mobilenetv3_large_100; decides padding, BN eps and preprocessing (default: from a name "
        "stored in the file or the config.json beside it; required when the weights fit both)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    model = convert_weights(
        args.src, args.dst, arch=args.arch, source=args.source, timm_model=args.timm_model
    )
    cfg, pre = model.config, model.preprocess
    params = sum(p.numel() for p in model.parameters())
    Console().print(
        f"wrote {args.dst}: {cfg.arch} α={cfg.width_mult:g} input {pre.input_size[1]}px, "
        f"{cfg.num_classes} classes, {params:,} parameters; padding={cfg.padding}, bn_eps={cfg.bn_eps:g}"
        f"{f', act={cfg.act}' if cfg.act else ''}; preprocess mean={pre.mean} std={pre.std} "
        f"crop={pre.crop_pct:g} {pre.interpolation}",
        highlight=False,
        soft_wrap=True,
    )
    return 0
