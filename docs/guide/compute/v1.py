"""V1, the network: Table 1 from the built model, Table 2 by layer type, Table 4's full convolution."""

from __future__ import annotations

import torch
from torch import nn

from compute.common import Output, comparison_markdown, count, markdown_table, percent
from mobilenets import create_model
from mobilenets.cost.plots import plot_breakdown
from mobilenets.cost.profiler import profile
from mobilenets.cost.reproduce import compare_with_paper

PAGE = "v1"
MEASURED: frozenset[str] = frozenset()  # every number on this page is a count
KEY_NUMBERS = ("mult_adds", "standard_share")  # the browser test finds these in both languages


def table1(model: nn.Module) -> str:
    """The paper's Table 1 (type / stride, filter shape, input size), read off the built layers."""
    rows: list[list[str]] = []

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
        shape = tuple(inputs[0].shape[1:])
        size = (
            " × ".join(str(side) for side in (shape[1], shape[2], shape[0]))
            if len(shape) == 3
            else str(shape[0])
        )
        if isinstance(module, nn.Linear):
            rows.append(["FC / s1", f"{module.in_features} × {module.out_features}", size])
            return
        assert isinstance(module, nn.Conv2d)
        k, stride = module.kernel_size[0], module.stride[0]
        if module.groups == module.in_channels and module.groups > 1:
            rows.append([f"Conv dw / s{stride}", f"{k} × {k} × {module.in_channels} dw", size])
        else:
            rows.append(
                [f"Conv / s{stride}", f"{k} × {k} × {module.in_channels} × {module.out_channels}", size]
            )

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    with torch.inference_mode():
        model.eval()(torch.zeros(1, 3, 224, 224))
    for handle in handles:
        handle.remove()
    return markdown_table(["type / stride", "filter shape", "input size"], rows)


def make(out: Output) -> dict[str, str]:
    model = create_model("mobilenet_v1")
    report = profile(model, 224)
    full = profile("mobilenet_v1_conv", 224)
    tables = {comparison.title.split(":")[0]: comparison for comparison in compare_with_paper("v1")}
    standard = report.share("standard 3x3")
    breakdown = out.save_path("v1_breakdown")
    plot_breakdown(report, breakdown)
    return {
        "table1": table1(model),
        "layers": str(len(report.layers)),
        "mult_adds": count(report.total_mult_adds),
        "params": count(report.model_params),
        "pointwise_share": percent(report.share("pointwise 1x1").mult_adds_pct / 100),
        "depthwise_share": percent(report.share("depthwise 3x3").mult_adds_pct / 100),
        "standard_share": percent(standard.mult_adds_pct / 100),
        "standard_mult_adds": count(standard.mult_adds),
        "table2": comparison_markdown(tables["V1 Table 2"]),
        "table4": comparison_markdown(tables["V1 Table 4"]),
        "full_mult_adds": count(full.total_mult_adds),
        "full_params": count(full.model_params),
        "saving_mult_adds": f"{full.total_mult_adds / report.total_mult_adds:.1f}",
        "saving_params": f"{full.model_params / report.model_params:.1f}",
    }
