"""One MobileNet module, built from a paper table (``models.specs``) and a config.

The same class builds V1, V2, V3 and V4; the family and the row types decide the blocks and how
channel counts are rounded under the width multiplier. The interface follows timm:
``forward_features`` -> ``forward_head`` -> logits, plus a ``features_only`` mode.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from mobilenets.config_dicts import config_from_dict, config_to_dict
from mobilenets.models.layers import (
    ConvBnAct,
    ConvOptions,
    DepthwiseSeparable,
    InvertedResidual,
    PaddingMode,
    create_activation,
    make_divisible,
)
from mobilenets.models.mobile_mqa import MobileMQA
from mobilenets.models.preprocess import PreprocessConfig
from mobilenets.models.specs import (
    ARCHITECTURES,
    ArchSpec,
    BlockSpec,
    ConvRow,
    FusedIBRow,
    MQARow,
    Row,
    UIBRow,
)
from mobilenets.models.uib import FusedInvertedBottleneck, UniversalInvertedBottleneck

MIN_INPUT_SIZE = 32  # five stride-2 stages reduce 32 px to a single 1x1 cell
# The official models span α 0.25-1.4; α = 4 (16x the parameters of α = 1) leaves ample room,
# and beyond it a typo (64 for 0.64) would allocate gigabytes.
MAX_WIDTH_MULT = 4.0
# The papers run 96-512 px and segmentation backbones up to 2048: 4096 px a side is ample, and
# bounds what a typo (or a damaged weights file) can make a forward pass allocate.
MAX_INPUT_SIZE = 4096
FEATURE_REDUCTIONS = (2, 4, 8, 16, 32)


@dataclass(frozen=True)
class FamilyDefaults:
    """Defaults that differ by generation, chosen to match the reference weights."""

    bn_eps: float
    bn_momentum: float
    dropout: float


# V1: Keras (the only published PyTorch-convertible V1 weights): BN eps 1e-3, Keras momentum
# 0.99 (0.01 in PyTorch's convention), dropout 1e-3. V2: torchvision's BN defaults and dropout.
# V3: torchvision and TF both use eps 1e-3 and momentum 0.01, dropout 0.2. V4: timm's weights
# (the only ones) use PyTorch's BN defaults; dropout 0.2 as for V2/V3 (the training presets set
# the paper's per-model rates).
FAMILY_DEFAULTS = {
    "v1": FamilyDefaults(bn_eps=1e-3, bn_momentum=0.01, dropout=1e-3),
    "v2": FamilyDefaults(bn_eps=1e-5, bn_momentum=0.1, dropout=0.2),
    "v3": FamilyDefaults(bn_eps=1e-3, bn_momentum=0.01, dropout=0.2),
    "v4": FamilyDefaults(bn_eps=1e-5, bn_momentum=0.1, dropout=0.2),
}


@dataclass(frozen=True)
class MobileNetConfig:
    """Everything needed to rebuild a model; ``None`` fields take the family default.

    Args:
        arch: a key of ``specs.ARCHITECTURES``, e.g. 'mobilenet_v2'.
        width_mult: alpha, the width multiplier: every layer's channels scale by it.
        resolution_mult: rho; sets the default input size to round(paper size * rho), where the
            paper size is 224 for V1-V3 and the table's own input for V4 (256 for Conv-M, 384
            for Conv-L). Any input of at least 32x32 still works: the network is fully
            convolutional up to pooling.
        depth_multiplier: depthwise channel multiplier in the *Keras* sense: each input
            channel of a depthwise conv gets this many filters. Beware the naming trap:
            TF-slim's ``depth_multiplier`` argument is the width multiplier alpha.
        min_depth: V1 only: no layer gets fewer channels than this (TF-slim's rule).
        dropout: dropout before the classifier.
        num_classes: classifier outputs; 0 makes the model headless (pooled features out).
        in_chans: input image channels.
        global_pool: 'avg' or 'max'.
        act: V1 only: 'relu' as in the paper, or 'relu6' as in the TF/Keras weights.
        padding: 'symmetric' or 'tf_same' (see ``layers.ConvOptions``).
        bn_eps: BatchNorm epsilon.
        bn_momentum: BatchNorm momentum (PyTorch convention).
        features_only: return multi-scale feature maps instead of logits.
        out_indices: which of the reduction-2/4/8/16/32 maps to return (indices 0-4).
    """

    arch: str = "mobilenet_v2"
    width_mult: float = 1.0
    resolution_mult: float = 1.0
    depth_multiplier: int = 1
    min_depth: int | None = None
    dropout: float | None = None
    num_classes: int = 1000
    in_chans: int = 3
    global_pool: Literal["avg", "max"] = "avg"
    act: str | None = None
    padding: PaddingMode = "symmetric"
    bn_eps: float | None = None
    bn_momentum: float | None = None
    features_only: bool = False
    out_indices: tuple[int, ...] = field(default=(0, 1, 2, 3, 4))

    @property
    def spec(self) -> ArchSpec:
        return ARCHITECTURES[self.arch]

    @property
    def default_input_size(self) -> int:
        return round(self.spec.input_size * self.resolution_mult)

    def validate(self) -> None:
        """Raise a ValueError naming the parameter, its value and what is allowed."""
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch={self.arch!r} is unknown; choose one of {sorted(ARCHITECTURES)}")
        family, paper_size = self.spec.family, self.spec.input_size
        _require(
            math.isfinite(self.width_mult) and 0 < self.width_mult <= MAX_WIDTH_MULT,
            "width_mult",
            self.width_mult,
            f"a number in (0, {MAX_WIDTH_MULT:g}]",
        )
        _require(
            math.isfinite(self.resolution_mult) and 0 < self.resolution_mult <= MAX_INPUT_SIZE / paper_size,
            "resolution_mult",
            self.resolution_mult,
            f"a number in (0, {MAX_INPUT_SIZE / paper_size:.2f}] (input size at most {MAX_INPUT_SIZE} px)",
        )
        _require(
            self.default_input_size >= MIN_INPUT_SIZE,
            "resolution_mult",
            self.resolution_mult,
            f">= {MIN_INPUT_SIZE / paper_size:.4f} (input size {MIN_INPUT_SIZE} px is the minimum)",
        )
        _require(
            isinstance(self.depth_multiplier, int) and self.depth_multiplier >= 1,
            "depth_multiplier",
            self.depth_multiplier,
            "an integer >= 1",
        )
        _require(self.num_classes >= 0, "num_classes", self.num_classes, ">= 0 (0 is headless)")
        _require(self.in_chans >= 1, "in_chans", self.in_chans, ">= 1")
        _require(self.global_pool in ("avg", "max"), "global_pool", self.global_pool, "'avg' or 'max'")
        _require(
            self.padding in ("symmetric", "tf_same"), "padding", self.padding, "'symmetric' or 'tf_same'"
        )
        if self.dropout is not None:
            _require(0.0 <= self.dropout < 1.0, "dropout", self.dropout, "0 <= dropout < 1")
        if self.bn_eps is not None:
            _require(self.bn_eps > 0, "bn_eps", self.bn_eps, "> 0")
        if self.bn_momentum is not None:
            _require(0.0 <= self.bn_momentum <= 1.0, "bn_momentum", self.bn_momentum, "0 <= m <= 1")
        if family == "v4" and self.depth_multiplier != 1:
            raise ValueError(
                f"depth_multiplier={self.depth_multiplier} contradicts arch={self.arch!r}: V4's "
                "blocks have no depthwise channel multiplier (neither the paper nor the released "
                "weights). Drop depth_multiplier, or use width_mult."
            )
        if not self.spec.separable and self.depth_multiplier != 1:
            raise ValueError(
                f"depth_multiplier={self.depth_multiplier} contradicts arch={self.arch!r}: that "
                "network has no depthwise convolutions. Drop depth_multiplier."
            )
        if family == "v1":
            _require(self.act in (None, "relu", "relu6"), "act", self.act, "'relu' or 'relu6' for V1")
            if self.min_depth is not None:
                _require(self.min_depth >= 1, "min_depth", self.min_depth, ">= 1")
        else:
            if self.act is not None:
                raise ValueError(
                    f"act={self.act!r} contradicts arch={self.arch!r}: only V1 takes act; the "
                    "V2-V4 activations are fixed by the paper's table. Drop the act argument."
                )
            if self.min_depth is not None:
                raise ValueError(
                    f"min_depth={self.min_depth} contradicts arch={self.arch!r}: min_depth is "
                    "V1's rounding rule; V2-V4 round with make_divisible. Drop min_depth."
                )
        for index in self.out_indices:
            _require(
                0 <= index < len(FEATURE_REDUCTIONS),
                "out_indices",
                self.out_indices,
                f"indices 0-{len(FEATURE_REDUCTIONS) - 1} (reductions {FEATURE_REDUCTIONS})",
            )
        if not self.features_only and tuple(self.out_indices) != (0, 1, 2, 3, 4):
            raise ValueError(
                f"out_indices={self.out_indices} contradicts features_only=False: "
                "out_indices selects feature maps; pass features_only=True as well."
            )

    def resolved(self) -> MobileNetConfig:
        """This config with every ``None`` replaced by the family default."""
        defaults = FAMILY_DEFAULTS[self.spec.family]
        v1 = self.spec.family == "v1"
        return dataclasses.replace(
            self,
            out_indices=tuple(self.out_indices),
            dropout=defaults.dropout if self.dropout is None else self.dropout,
            bn_eps=defaults.bn_eps if self.bn_eps is None else self.bn_eps,
            bn_momentum=defaults.bn_momentum if self.bn_momentum is None else self.bn_momentum,
            act=(self.act or "relu") if v1 else None,
            min_depth=(self.min_depth or 8) if v1 else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MobileNetConfig:
        """The config from ``to_dict``'s output; unknown keys are refused (``config_dicts``)."""
        return config_from_dict(cls, data)


def _require(ok: bool, name: str, value: object, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{name}={value!r} is out of range; allowed: {allowed}")


@dataclass(frozen=True)
class FeatureInfo:
    """One feature map that ``features_only`` can return."""

    num_chs: int
    reduction: int
    module: str


class MobileNet(nn.Module):
    """MobileNet V1, V2, V3 or V4 built from ``config``.

    Layout (module names are stable; converters and the profiler rely on them):
    ``stem`` -> ``blocks.0`` ... ``blocks.N`` -> ``final_conv`` (V2-V4) -> ``global_pool``
    -> ``head_conv`` (V4) or ``head_fc`` + ``head_act`` (V3) -> ``dropout`` -> ``classifier``.
    """

    def __init__(self, config: MobileNetConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        config = dataclasses.replace(config or MobileNetConfig(), **kwargs)
        config.validate()
        self.config = config.resolved()
        cfg, spec = self.config, self.config.spec
        assert cfg.bn_eps is not None and cfg.bn_momentum is not None and cfg.dropout is not None
        plain = ConvOptions(cfg.padding, cfg.bn_eps, cfg.bn_momentum)
        options = dataclasses.replace(plain, anti_alias=spec.anti_alias)  # type: ignore[arg-type]
        size = cfg.default_input_size
        self.preprocess = PreprocessConfig(input_size=(cfg.in_chans, size, size))
        if cfg.in_chans != 3:  # ImageNet statistics only exist for RGB
            gray = (0.5,) * cfg.in_chans
            self.preprocess = dataclasses.replace(self.preprocess, mean=gray, std=gray)
        self.labels: list[str] | None = None  # class names, when the weights come with them

        # 1. Stem: a full 3x3 stride-2 convolution.
        stem_act = cfg.act if spec.family == "v1" and cfg.act else spec.stem_act
        channels = self._scale(spec.stem_channels)
        if spec.family == "v4" and cfg.width_mult < 1:
            channels = spec.stem_channels  # timm keeps V4's stem whole below alpha 1 ("fix_stem")
        self.stem = ConvBnAct(cfg.in_chans, channels, 3, 2, act=stem_act, options=plain)  # never anti-aliased

        # 2. Body: one block per table row repeat; record where each reduction ends.
        trunk: list[tuple[str, int, int]] = [("stem", channels, 2)]  # (module, channels, reduction)
        reduction = 2
        blocks: list[nn.Module] = []
        paper_channels = spec.stem_channels  # the table's own widths, at alpha = 1
        for row in spec.blocks:
            out_channels = self._scale(row.out)
            for repeat in range(row.repeats if isinstance(row, BlockSpec) else 1):
                stride = row.stride if repeat == 0 else 1
                blocks.append(self._make_block(row, channels, paper_channels, out_channels, stride, options))
                channels, paper_channels = out_channels, row.out
                reduction *= stride
                trunk.append((f"blocks.{len(blocks) - 1}", channels, reduction))
        self.blocks = nn.Sequential(*blocks)

        # 3. The last 1x1 conv (V2: 1280, V3: 960 / 576). V2 never narrows it (alpha < 1 keeps
        #    1280 wide, as in both reference codes); V3 scales it like the body.
        self.final_conv: nn.Module = nn.Identity()
        if spec.final_conv_channels:
            if spec.family == "v2":
                width = make_divisible(spec.final_conv_channels * max(1.0, cfg.width_mult))
            else:
                width = self._scale(spec.final_conv_channels)
            self.final_conv = ConvBnAct(channels, width, 1, act=spec.final_conv_act, options=options)
            channels = width
            trunk.append(("final_conv", channels, reduction))

        # The feature map at reduction r is the output of the last trunk module at that reduction.
        last_at = {red: FeatureInfo(chs, red, name) for name, chs, red in trunk}
        self.feature_info = [last_at[red] for red in FEATURE_REDUCTIONS]
        self._feature_modules = {self.feature_info[i].module for i in cfg.out_indices}
        self.num_features = channels

        # 4. Head: pool, then V3's 1x1 "NBN" layer (as a Linear: identical after 1x1 pooling)
        #    or V4's 1x1 conv with BN, both 1280 / 1024 wide for every alpha; dropout, classifier.
        self.head_conv: nn.Module = nn.Identity()
        self.head_fc: nn.Module = nn.Identity()
        self.head_act: nn.Module = nn.Identity()
        if spec.head_hidden and not cfg.features_only:
            if spec.head_norm:
                self.head_conv = ConvBnAct(channels, spec.head_hidden, 1, act=spec.head_act, options=options)
            else:
                self.head_fc = nn.Linear(channels, spec.head_hidden)
                self.head_act = create_activation(spec.head_act)
            self.num_features = spec.head_hidden
        self.global_pool: nn.Module = nn.Identity()
        self.dropout: nn.Module = nn.Identity()
        self.classifier: nn.Module = nn.Identity()
        if not cfg.features_only:
            self.global_pool = self._make_pool(cfg.global_pool)
            self.dropout = nn.Dropout(cfg.dropout)
            self.reset_classifier(cfg.num_classes)
        self._init_weights()

    # -- construction helpers -------------------------------------------------------------
    def _scale(self, channels: int) -> int:
        """Channels at width multiplier alpha: V1 truncates (TF-slim), V2-V4 round to 8."""
        cfg = self.config
        if cfg.spec.family == "v1":
            assert cfg.min_depth is not None
            return max(int(channels * cfg.width_mult), cfg.min_depth)
        return make_divisible(channels * cfg.width_mult)

    def _make_block(
        self,
        row: Row,
        in_chs: int,
        paper_in_chs: int,
        out_chs: int,
        stride: int,
        options: ConvOptions,
    ) -> nn.Module:
        cfg = self.config
        if not isinstance(row, BlockSpec):
            return self._make_v4_block(row, in_chs, paper_in_chs, out_chs, options)
        if row.expand is None:
            assert cfg.act is not None
            if not cfg.spec.separable:
                # V1 Table 4's "Conv MobileNet": the dw + pw pair as one full k x k conv.
                return ConvBnAct(in_chs, out_chs, row.kernel, stride, act=cfg.act, options=options)
            return DepthwiseSeparable(
                in_chs, out_chs, stride, row.kernel, cfg.depth_multiplier, cfg.act, options
            )
        # V2's t is a ratio already. The V3 table gives the expanded width at alpha = 1; what
        # scales is its ratio to the block's (paper) input width, applied to the rounded input.
        # This reproduces Table 3's alpha = 0.75 models (torchvision scales the absolute width).
        ratio = float(row.expand) if cfg.spec.family == "v2" else row.expand / paper_in_chs
        expanded = in_chs if ratio == 1 else make_divisible(in_chs * ratio)
        se_channels = make_divisible(expanded * cfg.depth_multiplier / 4) if row.se else 0
        return InvertedResidual(
            in_chs,
            out_chs,
            expanded,
            stride,
            row.kernel,
            se_channels,
            cfg.depth_multiplier,
            row.act,
            options,
        )

    def _make_v4_block(
        self,
        row: ConvRow | FusedIBRow | UIBRow | MQARow,
        in_chs: int,
        paper_in_chs: int,
        out_chs: int,
        options: ConvOptions,
    ) -> nn.Module:
        spec = self.config.spec
        act, scale = spec.block_act, spec.layer_scale
        if isinstance(row, ConvRow):
            return ConvBnAct(in_chs, out_chs, row.kernel, row.stride, act=act, options=options)
        if isinstance(row, MQARow):
            plain = dataclasses.replace(options, anti_alias=None)  # keys and values keep a plain stride
            return MobileMQA(
                in_chs, out_chs, row.heads, row.key_dim, row.kv_stride, row.kv_kernel, plain, scale
            )
        # The table gives the expanded width at alpha = 1; its ratio to the block's input is what
        # scales (timm's exp_ratio), rounded to 8 like every other width.
        expanded = make_divisible(in_chs * row.expanded / paper_in_chs)
        if isinstance(row, FusedIBRow):
            return FusedInvertedBottleneck(in_chs, out_chs, expanded, row.kernel, row.stride, act, options)
        return UniversalInvertedBottleneck(
            in_chs, out_chs, expanded, row.start_dw, row.mid_dw, row.stride, act, options, scale
        )

    @staticmethod
    def _make_pool(kind: str) -> nn.Module:
        return nn.AdaptiveAvgPool2d(1) if kind == "avg" else nn.AdaptiveMaxPool2d(1)

    def _init_weights(self) -> None:
        # Kaiming (fan-out) for convs and small-normal for linears, as the reference codes do.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    # -- public interface -----------------------------------------------------------------
    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier (e.g. for fine-tuning); 0 removes it (headless).

        Args:
            num_classes: new number of outputs.
            global_pool: optionally switch pooling to 'avg' or 'max'.
        """
        _require(num_classes >= 0, "num_classes", num_classes, ">= 0 (0 is headless)")
        if self.config.features_only:
            raise ValueError(
                "reset_classifier contradicts features_only=True: a features-only model has no "
                "head. Build the model without features_only to classify."
            )
        if global_pool is not None:
            _require(global_pool in ("avg", "max"), "global_pool", global_pool, "'avg' or 'max'")
            self.global_pool = self._make_pool(global_pool)
            self.config = dataclasses.replace(self.config, global_pool=global_pool)  # type: ignore[arg-type]
        self.classifier = nn.Identity()
        if num_classes:
            linear = nn.Linear(self.num_features, num_classes)
            nn.init.normal_(linear.weight, 0, 0.01)
            nn.init.zeros_(linear.bias)
            self.classifier = linear
        self.config = dataclasses.replace(self.config, num_classes=num_classes)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError if ``x`` is not a (B, in_chans, H >= 32, W >= 32) batch."""
        expected = self.config.in_chans
        if x.dim() != 4:
            raise ValueError(
                f"input has shape {tuple(x.shape)}; expected a 4-D batch (B, {expected}, H, W). "
                "Add a batch dimension with x.unsqueeze(0)."
            )
        if x.shape[1] != expected:
            raise ValueError(
                f"input has {x.shape[1]} channels; this model takes in_chans={expected}. "
                f"Convert the images, or build the model with in_chans={x.shape[1]}."
            )
        height, width = x.shape[-2], x.shape[-1]
        if height < MIN_INPUT_SIZE or width < MIN_INPUT_SIZE:
            raise ValueError(
                f"input size {height}x{width} is below the minimum {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}: "
                "five stride-2 stages need at least 32 px. Resize the images up."
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_chans, H, W) -> (B, C, H/32, W/32) feature map before pooling."""
        self.check_input(x)
        x = self.stem(x)
        x = self.blocks(x)
        return self.final_conv(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """(B, C, h, w) feature map -> (B, num_classes) logits, or (B, num_features) if pre_logits."""
        x = self.head_conv(self.global_pool(x)).flatten(1)  # (B, C)
        x = self.head_act(self.head_fc(x))
        if pre_logits:
            return x
        return self.classifier(self.dropout(x))

    def forward_intermediates(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps selected by ``out_indices``, shallowest first."""
        self.check_input(x)
        maps = []
        remaining = len(self._feature_modules)
        for name, module in self._trunk():
            x = module(x)
            if name in self._feature_modules:
                maps.append(x)
                remaining -= 1
                if remaining == 0:
                    break
        return maps

    def _trunk(self) -> list[tuple[str, nn.Module]]:
        modules: list[tuple[str, nn.Module]] = [("stem", self.stem)]
        modules += [(f"blocks.{i}", block) for i, block in enumerate(self.blocks)]
        modules.append(("final_conv", self.final_conv))
        return modules

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if self.config.features_only:
            return self.forward_intermediates(x)
        return self.forward_head(self.forward_features(x))
