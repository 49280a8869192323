"""Parity checks after export: is the exported file the same model as the eager one?

- fp32: the largest absolute logit difference must stay within ``1e-4 x`` the logit scale
  (the largest absolute logit of the eager model on the same inputs). A relative bound is the
  only fair one: logits of a digits model are ~10, those of an untrained model ~1e-3.
- int8: quantization changes the numbers on purpose, so what matters is the decision: the
  share of held-out images on which the int8 and float models pick the same top-1 class, and
  both accuracies when the images are labelled.

Every export writes its report as JSON beside the file (``model.onnx.parity.json``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mobilenets.atomic_files import atomic_write_bytes

FP32_RELATIVE_TOLERANCE = 1e-4
INT8_MIN_AGREEMENT = 0.99
FP32_CHECK_SAMPLES = 8  # fp32 parity needs no more inputs than this
CHUNK = 32  # evaluate in chunks so large held-out sets do not need one huge batch

Predictor = Callable[[np.ndarray], np.ndarray]


def predict_in_chunks(predict: Predictor, inputs: np.ndarray) -> np.ndarray:
    """``predict`` over ``inputs`` in chunks, so a large held-out set never forms one huge batch."""
    return np.concatenate(
        [np.asarray(predict(inputs[i : i + CHUNK]), dtype=np.float32) for i in range(0, len(inputs), CHUNK)]
    )


def seeded_inputs(input_size: tuple[int, ...], count: int) -> np.ndarray:
    """``count`` seeded standard-normal inputs: the normalized-pixel range, the same every run.

    What a check runs on when no real images were given; fp32 parity needs nothing more.
    """
    generator = torch.Generator().manual_seed(0)
    return torch.randn((count, *input_size), generator=generator).numpy()


def fp32_parity(reference: Predictor, candidate: Predictor, inputs: np.ndarray) -> dict[str, object]:
    """Compare two float predictors on the same inputs.

    Args:
        reference: the eager model (NCHW float32 -> logits).
        candidate: the exported file's runner.
        inputs: (N, C, H, W) float32.

    Returns:
        A report: ``max_abs_diff``, ``logit_scale``, ``relative_diff``, ``tolerance``,
        ``top1_agreement``, ``samples`` and ``passed``.
    """
    return compare_fp32(predict_in_chunks(reference, inputs), predict_in_chunks(candidate, inputs))


def compare_fp32(expected: np.ndarray, actual: np.ndarray) -> dict[str, object]:
    """``fp32_parity`` on logits already computed: (N, classes) each."""
    if expected.shape != actual.shape:
        raise ValueError(f"output shapes differ: eager {expected.shape} vs exported {actual.shape}")
    max_diff = float(np.abs(expected - actual).max())
    scale = float(np.abs(expected).max())
    relative = max_diff / scale if scale > 0 else max_diff
    return {
        "kind": "fp32",
        "samples": len(expected),
        "max_abs_diff": max_diff,
        "logit_scale": scale,
        "relative_diff": relative,
        "tolerance": FP32_RELATIVE_TOLERANCE,
        "top1_agreement": float((expected.argmax(1) == actual.argmax(1)).mean()),
        "passed": relative <= FP32_RELATIVE_TOLERANCE,
    }


def int8_agreement(
    float_model: Predictor,
    int8_model: Predictor,
    inputs: np.ndarray,
    labels: np.ndarray | None = None,
    minimum: float = INT8_MIN_AGREEMENT,
) -> dict[str, object]:
    """Top-1 agreement of an int8 model with its float original on a held-out set.

    Args:
        float_model: the float predictor (eager or the fp32 export).
        int8_model: the quantized file's runner.
        inputs: (N, C, H, W) float32 held-out images, never used for calibration.
        labels: (N,) true classes, if known: both accuracies are reported.
        minimum: the agreement below which ``passed`` is False.

    Returns:
        A report: ``agreement``, ``samples``, ``float_accuracy`` and ``int8_accuracy`` (or
        ``None``), ``disagreements`` and ``passed``.
    """
    float_logits = predict_in_chunks(float_model, inputs)
    return compare_top1(float_logits, predict_in_chunks(int8_model, inputs), labels, "int8", minimum)


def compare_top1(
    expected: np.ndarray,
    actual: np.ndarray,
    labels: np.ndarray | None = None,
    kind: str = "int8",
    minimum: float = INT8_MIN_AGREEMENT,
) -> dict[str, object]:
    """Top-1 agreement of a lower-precision model's logits (``kind``: int8, bf16, fp16) with fp32's.

    Besides the counts, the report gives the float model's margin (top-1 minus top-2 softmax
    probability) as a median over all images and over the differing ones. Rounding can only
    reorder classes that the float model nearly ties, so the two medians say whether a failing
    share comes from an undecided model (differing margins near 0 while most images sit far
    from it: a model that trains longer agrees more) or from the low-precision path itself.
    """
    float_top1, low_top1 = expected.argmax(1), actual.argmax(1)
    differ = float_top1 != low_top1
    agreement = float((~differ).mean())
    margins = top2_margins(expected)
    return {
        "kind": kind,
        "samples": len(expected),
        "agreement": agreement,
        "disagreements": int(differ.sum()),
        "float_margin_median": float(np.median(margins)) if len(margins) else None,
        "float_margin_median_differing": float(np.median(margins[differ])) if differ.any() else None,
        "float_accuracy": None if labels is None else float((float_top1 == labels).mean()),
        f"{kind}_accuracy": None if labels is None else float((low_top1 == labels).mean()),
        "minimum": minimum,
        "passed": agreement >= minimum,
    }


def top2_margins(logits: np.ndarray) -> np.ndarray:
    """Per row of ``logits``: the softmax probability of the top class minus that of the second."""
    if logits.shape[1] < 2:
        return np.ones(len(logits))  # one class: nothing to reorder
    exponentials = np.exp(logits - logits.max(1, keepdims=True))
    probabilities = exponentials / exponentials.sum(1, keepdims=True)
    top2 = np.sort(probabilities, 1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def parity_path(exported: str | Path) -> Path:
    """Where the report for an exported file lives: ``<file>.parity.json``."""
    return Path(f"{exported}.parity.json")


def write_parity(exported: str | Path, report: dict[str, object]) -> Path:
    """Write ``report`` beside ``exported``; returns the report's path."""

    path = parity_path(exported)
    atomic_write_bytes(path, (json.dumps(report, indent=2) + "\n").encode())
    return path


def format_parity(report: dict[str, object]) -> str:
    """One line for the terminal, e.g. ``fp32 parity: max |Δ| 2.1e-06 = 1.3e-07 x logit scale ... PASS``."""
    verdict = "PASS" if report["passed"] else "FAIL"
    if report["kind"] == "fp32":
        return (
            f"fp32 parity on {report['samples']} inputs: max |Δ| {report['max_abs_diff']:.2e} "
            f"= {report['relative_diff']:.2e} x logit scale {report['logit_scale']:.3g} "
            f"(limit {report['tolerance']:.0e}): {verdict}"
        )
    kind = str(report["kind"])
    samples = int(report["samples"])  # type: ignore[call-overload]
    line = (
        f"{kind} top-1 agreement with float on {samples} held-out image{'' if samples == 1 else 's'}: "
        f"{100 * float(report['agreement']):.2f}% ({report['disagreements']} differ; "  # type: ignore[arg-type]
        f"limit {100 * float(report['minimum']):.0f}%): {verdict}"  # type: ignore[arg-type]
    )
    if not report["passed"] and report.get("float_margin_median_differing") is not None:
        line += (
            f"; float top-1 minus top-2 probability, median {report['float_margin_median_differing']:.3f}"
            f" on the differing images vs {report['float_margin_median']:.3f} on all"
        )
    minimum = float(report["minimum"])  # type: ignore[arg-type]
    if 0 < minimum < 1 and samples * (1 - minimum) < 1:
        # Below 1 / (1 - minimum) images one differing image already fails, and none passes:
        # the verdict cannot tell a path at the limit from a perfect one.
        enough = math.ceil(round(1 / (1 - minimum), 6))
        line += (
            f"; {samples} image{'' if samples == 1 else 's'} cannot show {100 * minimum:.0f}% agreement "
            f"(one image is more than {100 * (1 - minimum):.0f}%): check on {enough} or more "
            "(a bigger --calib folder, or --held-out DIR)"
        )
    if report.get("float_accuracy") is not None:
        line += (
            f"; accuracy float {100 * float(report['float_accuracy']):.2f}%"  # type: ignore[arg-type]
            f", {kind} {100 * float(report[f'{kind}_accuracy']):.2f}%"  # type: ignore[arg-type]
        )
    return line
