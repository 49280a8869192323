"""Where the ExecuTorch XNNPACK time goes, per operator kind, fp32 beside int8.

Acceptance 2 of the deployment issue asks int8 to take at most 0.6x the fp32 latency. This
script explains the models that miss it: it exports each model as fp32 and int8 ``.pte``
(the same exports ``mobilenets bench`` times), runs each with ExecuTorch's event tracer on,
and sums XNNPACK's per-operator times by kind (the tracer reports each delegate operator by
XNNPACK's own name, such as "Convolution (NHWC, QC8) DWConv").

The tracer adds its own cost per operator, so the totals exceed plain latency; compare the
kinds with each other and fp32 with int8, not with `deploy_latency.py`'s figures. Each kind
shows its fastest of ``--repeats`` alternating fp32/int8 runs.

    .venv/bin/python benchmarks/int8_op_profile.py [--models mobilenet_v3_small,mobilenet_v3_large]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from mobilenets import create_model
from mobilenets.bench.backend import ExportCache

# Tracer rows that are not XNNPACK operators: program loading and the delegate/method totals.
NOT_OPERATORS = {"Program::load_method", "Method::init", "DELEGATE_CALL", "Method::execute", "OPERATOR_CALL"}


def profile_pte(path: Path, threads: int, runs: int) -> dict[str, tuple[float, int]]:
    """Milliseconds per operator kind (the sum of each operator's median) and operator counts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bindings and devtools flag themselves experimental
        from executorch.devtools import Inspector
        from executorch.extension.pybindings import portable_lib

        portable_lib._unsafe_reset_threadpool(threads)
        module = portable_lib._load_for_executorch(str(path), enable_etdump=True, debug_buffer_size=0)
        image = torch.randn(1, 3, 224, 224)
        for _ in range(runs):
            module.forward([image])
        trace = path.with_suffix(".etdp")
        module.write_etdump_result_to_file(str(trace))
        frame = Inspector(etdump_path=str(trace)).to_dataframe()
    kinds: dict[str, list[float]] = defaultdict(list)
    for name, raw in zip(frame["event_name"], frame["raw"], strict=True):
        kind = re.sub(r"\s*#\d+$", "", str(name))  # "Multiply (ND) #3" -> "Multiply (ND)"
        if kind in NOT_OPERATORS or kind.startswith("native_call"):
            continue
        kinds[kind].append(float(np.median(raw)) if len(raw) else 0.0)
    return {kind: (sum(times), len(times)) for kind, times in kinds.items()}


def family(kind: str) -> str:
    """The operator kind without its precision, so fp32 and int8 rows line up."""
    if "DWConv" in kind:
        return "depthwise conv"
    if "GEMM" in kind and "Convolution" in kind:
        return "stem conv (IGEMM)"
    if "GEMM" in kind:
        return "1x1 conv / linear (GEMM)"
    return re.sub(r"\s*\(.*\)", "", kind)


def main() -> None:
    parser = argparse.ArgumentParser(description="per-operator ExecuTorch XNNPACK profile, fp32 vs int8")
    parser.add_argument("--models", default="mobilenet_v3_small,mobilenet_v3_large,mobilenet_v2")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30, help="traced runs per program and repeat")
    parser.add_argument("--repeats", type=int, default=3, help="alternating fp32/int8 repeats")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models.split(","):
            torch.manual_seed(0)
            cache = ExportCache(create_model(name).eval(), Path(scratch) / name)
            rows: dict[str, dict[str, tuple[float, int]]] = defaultdict(dict)
            # fp32 and int8 alternate, and each kind keeps its fastest repeat: on a shared machine
            # a burst of load during one program's run would otherwise pass for a slow kernel.
            for _repeat in range(args.repeats):
                for precision, kind in (("fp32", "pte"), ("int8", "pte-int8")):
                    totals: dict[str, tuple[float, int]] = defaultdict(lambda: (0.0, 0))
                    for op, (ms, count) in profile_pte(cache.get(kind), args.threads, args.runs).items():
                        ms_sum, count_sum = totals[family(op)]
                        totals[family(op)] = (ms_sum + ms, count_sum + count)
                    for op, (ms, count) in totals.items():
                        best = rows[op].get(precision)
                        rows[op][precision] = (ms, count) if best is None or ms < best[0] else best
            print(f"\n### {name}, batch 1, {args.threads} threads (ms summed over operators, best repeat)\n")
            print("| operator kind | fp32 ms (ops) | int8 ms (ops) | int8 / fp32 |")
            print("|---|---|---|---|")
            totals = {"fp32": 0.0, "int8": 0.0}
            by_cost = sorted(rows.items(), key=lambda item: -max(v[0] for v in item[1].values()))
            for op, by_precision in by_cost:
                cells = []
                for precision in ("fp32", "int8"):
                    ms, count = by_precision.get(precision, (0.0, 0))
                    totals[precision] += ms
                    cells.append(f"{ms:.3f} ({count})" if count else "-")
                fp32_ms, int8_ms = (by_precision.get(p, (0.0, 0))[0] for p in ("fp32", "int8"))
                ratio = f"{int8_ms / fp32_ms:.2f}" if fp32_ms > 0 and int8_ms > 0 else "-"
                print(f"| {op} | {cells[0]} | {cells[1]} | {ratio} |")
            print(f"| **all operators** | {totals['fp32']:.3f} | {totals['int8']:.3f} | "
                  f"{totals['int8'] / totals['fp32']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
