"""V3: h-swish against swish, what squeeze-excite costs, and the efficient last stage (Figure 5)."""

from __future__ import annotations

import copy
import datetime
import statistics
import time
from collections.abc import Callable

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from compute.common import Output, count, markdown_table, millions, percent, ratio
from mobilenets import create_model
from mobilenets.bench.cpu_peak import estimate_cpu_peak
from mobilenets.bench.timing import torch_threads
from mobilenets.cost.profiler import KIND_HARDSWISH, KIND_SE_SCALE, profile
from mobilenets.cost.report import KIND_SE, ProfileReport
from mobilenets.models.layers import ConvBnAct, InvertedResidual, SqueezeExcite, create_activation
from mobilenets.models.mobilenet import MobileNet

PAGE = "v3"
KEY_NUMBERS = ("hswish_gap", "stage_saving")  # the browser test finds these in both languages
MEASURED: frozenset[str] = frozenset(
    {
        "act_table",
        "hswish_vs_swish_large",
        "hswish_vs_swish_large_word",
        "hswish_vs_relu_large",
        "hswish_vs_swish_small",
        "hswish_vs_swish_small_word",
        "se_table",
        "se_time_large",
        "se_time_small",
        "se_time_word",
        "stage_ms_original",
        "stage_ms_efficient",
        "stage_ms_saved",
        "stage_time_share",
        "stage_time_word",
        "hswish_vs_swish_small_word_zh",
        "hswish_vs_swish_large_word_zh",
        "se_time_word_zh",
        "stage_time_word_zh",
    }
)

# Every timing runs on one thread: on a shared machine, two OpenMP threads that wait for each
# other turn any load from another process into a many-fold slowdown; one thread degrades evenly.
THREADS = 1
# Keys whose value is a word that depends on the outcome, and how the Chinese page says it.
WORD_KEYS = (
    "hswish_vs_swish_small_word",
    "hswish_vs_swish_large_word",
    "se_time_word",
    "stage_time_word",
    "stage_params_word",
)
WORDS_ZH = {"faster": "快", "slower": "慢", "more": "多", "less": "少", "fewer": "少"}
MODELS = {"V3-Large": "mobilenet_v3_large", "V3-Small": "mobilenet_v3_small"}


def machine_label() -> str:
    """CPU, threads and date, for the titles of measured figures (make_figures adds them to the text)."""
    return f"{estimate_cpu_peak().cpu_name}, {THREADS} thread, {datetime.date.today()}"


# --------------------------------------------------------------------------------------------
# (a) h-swish
# --------------------------------------------------------------------------------------------

# The package builds V3 with hard-swish and hard-sigmoid (mobilenets.models.layers.ACTIVATIONS);
# swish and sigmoid, which V3 replaces, are not in it, so they come from torch directly.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "ReLU": lambda: create_activation("relu"),
    "ReLU6": lambda: create_activation("relu6"),
    "h-sigmoid": lambda: create_activation("hardsigmoid"),
    "sigmoid": nn.Sigmoid,
    "h-swish": lambda: create_activation("hardswish"),
    "swish": nn.SiLU,  # x · sigmoid(x)
}


def largest_gap(hard: nn.Module, smooth: nn.Module) -> tuple[float, float]:
    """The largest |hard(x) - smooth(x)| on [-8, 8] (step 1e-5, float64), and where it occurs."""
    x = torch.linspace(-8, 8, 1_600_001, dtype=torch.float64)
    gap = (hard(x) - smooth(x)).abs()
    index = int(gap.argmax())
    return float(gap[index]), float(x[index])


def curves_figure(out: Output) -> None:
    x = torch.linspace(-6, 6, 1201)
    acts = {name: make() for name, make in ACTIVATIONS.items()}
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, style in (("ReLU", ":"), ("swish", "-"), ("h-swish", "--")):
        left.plot(x, acts[name](x), style, label=name, linewidth=2)
    left.plot(
        x,
        (acts["h-swish"](x) - acts["swish"](x)) * 5,
        color="grey",
        linewidth=1,
        label="(h-swish − swish) × 5",
    )
    left.set_title("swish, h-swish and ReLU")
    for name, style in (("sigmoid", "-"), ("h-sigmoid", "--")):
        right.plot(x, acts[name](x), style, label=name, linewidth=2)
    right.set_title("sigmoid and h-sigmoid")
    for axis in (left, right):
        axis.axhline(0, color="black", linewidth=0.5)
        axis.axvline(0, color="black", linewidth=0.5)
        axis.grid(alpha=0.3)
        axis.legend()
        axis.set_xlabel("x")
    out.save(fig, "v3_activations")


def activation_ns(sizes: dict[str, int], rounds: int) -> dict[str, dict[str, float]]:
    """Median ns per element of each activation (out of place, float32), per tensor size.

    Every round times every activation once, so a slow spell of a shared machine hits all alike.
    """
    acts = {name: make() for name, make in ACTIVATIONS.items()}
    result: dict[str, dict[str, float]] = {}
    for size_name, numel in sizes.items():
        x = torch.randn(numel)
        calls = max(1, 2**22 // numel)  # each sample does about 4 M elements of work
        samples: dict[str, list[float]] = {name: [] for name in acts}
        with torch.inference_mode():
            for act in acts.values():  # warm up: first calls allocate
                act(x)
            for _ in range(rounds):
                for name, act in acts.items():
                    start = time.perf_counter()
                    for _ in range(calls):
                        act(x)
                    samples[name].append((time.perf_counter() - start) / (calls * numel) * 1e9)
        result[size_name] = {name: statistics.median(values) for name, values in samples.items()}
    return result


def activation_figure(out: Output, ns: dict[str, dict[str, float]]) -> None:
    names = list(ACTIVATIONS)
    fig, axes = plt.subplots(1, len(ns), figsize=(10, 3.6))
    for axis, (size_name, per_act) in zip(axes, ns.items(), strict=True):
        colors = ["tab:orange" if "h-" in name else "tab:blue" for name in names]
        axis.barh(names, [per_act[name] for name in names], color=colors)
        axis.invert_yaxis()
        axis.set_xlabel("ns per element (median)")
        axis.set_title(size_name, fontsize=10)
    fig.suptitle(f"Activation cost on the CPU: {machine_label()}", fontsize=10)
    fig.tight_layout()
    out.save(fig, "v3_activation_cost")


def faster_or_slower(hard: float, smooth: float) -> tuple[str, str]:
    """'1.8', 'faster' when the hard version takes 1/1.8 of the time; '1.2', 'slower' if it takes more."""
    if hard <= smooth:
        return ratio(smooth / hard, 1), "faster"
    return ratio(hard / smooth, 1), "slower"


# --------------------------------------------------------------------------------------------
# (b) squeeze-excite
# --------------------------------------------------------------------------------------------


def without_se(model: MobileNet) -> MobileNet:
    """A copy of the model with every SqueezeExcite replaced by the identity (timing only)."""
    stripped = copy.deepcopy(model)
    for block in stripped.blocks:
        if isinstance(block, InvertedResidual) and isinstance(block.se, SqueezeExcite):
            block.se = nn.Identity()
    return stripped


def interleaved_ms(calls: dict[str, Callable[[], object]], rounds: int, per_round: int) -> dict[str, float]:
    """Median ms per call of each callable; each round runs every callable ``per_round`` times in turn."""
    with torch.inference_mode():
        for call in calls.values():  # warm up
            call()
            call()
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(rounds):
            for name, call in calls.items():
                start = time.perf_counter()
                for _ in range(per_round):
                    call()
                samples[name].append(1000 * (time.perf_counter() - start) / per_round)
    return {name: statistics.median(values) for name, values in samples.items()}


def se_rows(rounds: int) -> tuple[list[list[str]], dict[str, float]]:
    """One table row per V3 model: SE's counted share and its measured share of eager latency."""
    rows, time_shares = [], {}
    image = torch.randn(1, 3, 224, 224)
    for label, name in MODELS.items():
        model = create_model(name).eval()
        counted = profile(model, 224)
        elementwise = profile(model, 224, elementwise=True)
        se = counted.share(KIND_SE)
        scale = elementwise.share(KIND_SE_SCALE)
        hswish = elementwise.share(KIND_HARDSWISH)
        stripped = without_se(model)
        ms = interleaved_ms(
            {"with": lambda m=model: m(image), "without": lambda m=stripped: m(image)}, rounds, 3
        )
        time_share = 1 - ms["without"] / ms["with"]
        time_shares[label] = time_share
        rows.append(
            [
                label,
                str(se.layers // 2),
                f"{count(se.mult_adds)} ({percent(se.mult_adds_pct / 100)}%)",
                f"{count(se.params)} ({percent(se.params_pct / 100)}%)",
                count(scale.mult_adds),
                count(hswish.mult_adds),
                f"{ms['with']:.2f} / {ms['without']:.2f}",
                f"{percent(time_share, 1)}%",
            ]
        )
    return rows, time_shares


# --------------------------------------------------------------------------------------------
# (c) the last stage, V3 Figure 5
# --------------------------------------------------------------------------------------------


class LastStageNet(nn.Module):
    """V3-Large's stem and bottlenecks, then the original (V2-style) last stage of Figure 5.

    The package builds only the redesigned stage, so the original is assembled here from its
    blocks: the V2 bottleneck 160 -> 960 (1x1) -> 3x3 depthwise -> 320 (linear 1x1), a 1x1 to
    1280 on the 7x7 map, then pooling and the classifier.
    """

    def __init__(self, model: MobileNet) -> None:
        super().__init__()
        self.stem, self.blocks = model.stem, model.blocks
        self.bottleneck = InvertedResidual(160, 320, 960, kernel_size=3, act="hardswish")
        self.final_conv = ConvBnAct(320, 1280, 1, act="hardswish")
        self.classifier = nn.Linear(1280, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.final_conv(self.bottleneck(self.blocks(self.stem(x))))  # (B, 1280, 7, 7)
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


def stage_cost(report: ProfileReport, after: str) -> tuple[int, int]:
    """Mult-Adds and parameters of the layers that run after the last rows whose name starts ``after``."""
    names = [layer.name for layer in report.layers]
    start = max(i for i, name in enumerate(names) if name.startswith(after)) + 1
    layers = report.layers[start:]
    return sum(layer.mult_adds for layer in layers), sum(layer.params for layer in layers)


def stage_rows(report: ProfileReport, after: str) -> list[list[str]]:
    names = [layer.name for layer in report.layers]
    start = max(i for i, name in enumerate(names) if name.startswith(after)) + 1
    return [
        [
            f"`{layer.name}`",
            layer.kind,
            "×".join(map(str, layer.output_shape)),
            count(layer.mult_adds),
            count(layer.params),
        ]
        for layer in report.layers[start:]
    ]


def make(out: Output) -> dict[str, str]:
    with torch_threads(THREADS):
        return compute(out)


def compute(out: Output) -> dict[str, str]:
    numbers: dict[str, str] = {}
    # (a) curves, gaps and cost per element
    curves_figure(out)
    gap, where = largest_gap(nn.Hardswish(), nn.SiLU())
    sig_gap, sig_where = largest_gap(nn.Hardsigmoid(), nn.Sigmoid())
    numbers |= {
        "hswish_gap": f"{gap:.4f}",
        "hswish_gap_at": f"{where:.2f}",
        "hsigmoid_gap": f"{sig_gap:.4f}",
        "hsigmoid_gap_at": f"{sig_where:.2f}",
    }
    # 16 MiB, not more: glibc hands larger blocks out by mmap, so every call would also pay page faults.
    sizes = {"1 MiB tensor (2^18 floats)": 2**18, "16 MiB tensor (2^22 floats)": 2**22}
    ns = activation_ns(sizes, rounds=5 if out.quick else 25)
    activation_figure(out, ns)
    small, large = (ns[name] for name in sizes)
    numbers["act_table"] = markdown_table(
        ["activation", *[f"ns / element, {name}" for name in sizes]],
        [[name, *[f"{ns[size][name]:.3f}" for size in sizes]] for name in ACTIVATIONS],
    )
    numbers["hswish_vs_swish_small"], numbers["hswish_vs_swish_small_word"] = faster_or_slower(
        small["h-swish"], small["swish"]
    )
    numbers["hswish_vs_swish_large"], numbers["hswish_vs_swish_large_word"] = faster_or_slower(
        large["h-swish"], large["swish"]
    )
    numbers["hswish_vs_relu_large"] = ratio(large["h-swish"] / large["ReLU"], 1)

    # (b) squeeze-excite
    rows, time_shares = se_rows(rounds=3 if out.quick else 15)
    numbers["se_table"] = markdown_table(
        [
            "model",
            "SE blocks",
            "SE Mult-Adds (share)",
            "SE params (share)",
            "SE scale ops",
            "h-swish ops",
            "ms with / without SE",
            "SE share of time",
        ],
        rows,
    )
    large_model = create_model("mobilenet_v3_large").eval()
    large_report = profile(large_model, 224)
    small_report = profile("mobilenet_v3_small")
    numbers["se_ma_share_large"] = percent(large_report.share(KIND_SE).mult_adds_pct / 100)
    numbers["se_ma_share_small"] = percent(small_report.share(KIND_SE).mult_adds_pct / 100)
    numbers["se_param_share_large"] = percent(large_report.share(KIND_SE).params_pct / 100, 1)
    numbers["se_param_share_small"] = percent(small_report.share(KIND_SE).params_pct / 100, 1)
    numbers["se_time_large"] = percent(time_shares["V3-Large"], 1)
    numbers["se_time_small"] = percent(time_shares["V3-Small"], 1)
    counted_share = large_report.share(KIND_SE).mult_adds_pct / 100
    numbers["se_time_word"] = "more" if time_shares["V3-Large"] > counted_share else "less"

    # (c) the last stage: original (V2-style) against the redesign
    original_model = LastStageNet(large_model).eval()
    original_report = profile(original_model, (3, 224, 224))
    original_ma, original_params = stage_cost(original_report, "blocks.")
    efficient_ma, efficient_params = stage_cost(large_report, "blocks.")
    saving = original_ma - efficient_ma
    numbers |= {
        "stage_original_table": markdown_table(
            ["layer", "kind", "output", "Mult-Adds", "params"], stage_rows(original_report, "blocks.")
        ),
        "stage_efficient_table": markdown_table(
            ["layer", "kind", "output", "Mult-Adds", "params"], stage_rows(large_report, "blocks.")
        ),
        "stage_original": count(original_ma),
        "stage_efficient": count(efficient_ma),
        "stage_saving": count(saving),
        "stage_saving_m": millions(saving),
        "stage_saving_vs_paper": percent(saving / 30e6 - 1, 0),
        "stage_original_params": count(original_params),
        "stage_efficient_params": count(efficient_params),
        "stage_params_diff": count(abs(efficient_params - original_params)),
        "stage_params_word": "more" if efficient_params > original_params else "fewer",
        "stage_original_total": count(original_report.total_mult_adds),
        "stage_total_share": percent(saving / original_report.total_mult_adds, 1),
        "v3_large_mult_adds": count(large_report.total_mult_adds),
    }
    image = torch.randn(1, 3, 224, 224)
    ms = interleaved_ms(
        {"original": lambda: original_model(image), "efficient": lambda: large_model(image)},
        rounds=3 if out.quick else 15,
        per_round=3,
    )
    saved_ms = ms["original"] - ms["efficient"]
    numbers |= {
        "stage_ms_original": f"{ms['original']:.2f}",
        "stage_ms_efficient": f"{ms['efficient']:.2f}",
        "stage_ms_saved": f"{abs(saved_ms):.2f}",
        "stage_time_share": percent(abs(saved_ms) / ms["original"], 1),
        "stage_time_word": "less" if saved_ms > 0 else "more",
    }
    stage_figure(out, original_ma, efficient_ma, ms)
    for key in WORD_KEYS:  # the Chinese page reads the same comparison in its own words
        numbers[f"{key}_zh"] = WORDS_ZH[numbers[key]]
    return numbers


def stage_figure(out: Output, original_ma: int, efficient_ma: int, ms: dict[str, float]) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    labels = ["original\n(V2-style)", "efficient\n(V3)"]
    left.bar(labels, [original_ma / 1e6, efficient_ma / 1e6], color=["tab:grey", "tab:green"])
    left.set_ylabel("Mult-Adds of the last stage (M)")
    left.set_title("counted (profiler)", fontsize=10)
    right.bar(labels, [ms["original"], ms["efficient"]], color=["tab:grey", "tab:green"])
    right.set_ylabel("whole V3-Large, ms per image (median)")
    right.set_title(f"measured, batch 1, eager PyTorch\n{machine_label()}", fontsize=9)
    fig.tight_layout()
    out.save(fig, "v3_last_stage")
