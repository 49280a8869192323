"""The accuracy check every benchmarked path must pass before it can be recommended.

The reference is the eager fp32 model on the same inputs. Each precision has its own test:

- fp32: the largest logit difference within ``1e-4 x`` the logit scale (as ``export``'s parity);
- bf16, fp16, int8: top-1 agreement with fp32 on held-out images, at least 99%.

Agreement is only meaningful on real images with a trained model: on Gaussian noise a network's
top classes sit close together and any rounding reorders them. Without images (``--calib``)
the lower-precision paths are therefore reported as unchecked, and never recommended.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mobilenets.export.calibration import ImageSet
from mobilenets.export.parity import (
    FP32_CHECK_SAMPLES,
    compare_fp32,
    compare_top1,
    predict_in_chunks,
    seeded_inputs,
)
from mobilenets.export.pipeline import eager_predictor
from mobilenets.export.runtimes import Runner
from mobilenets.models.mobilenet import MobileNet

NEEDS_IMAGES = "unchecked: agreement needs real held-out images; pass --calib DIR|digits"


@dataclass(frozen=True)
class CheckSet:
    """The inputs every path of one model is checked on, and the eager fp32 logits for them."""

    inputs: np.ndarray
    reference: np.ndarray
    labels: np.ndarray | None
    images: bool  # real images: agreement is meaningful
    source: str


@dataclass(frozen=True)
class Verdict:
    """A path's check: ``passed`` is None when it could not be checked; ``summary`` is a table cell."""

    passed: bool | None
    summary: str
    report: dict[str, object]


def check_set(model: MobileNet, held_out: ImageSet | None) -> CheckSet:
    """Held-out images when given, else seeded Gaussian inputs in the normalized-pixel range."""
    if held_out is not None and len(held_out):
        inputs, labels, images, source = held_out.inputs, held_out.labels, True, held_out.source
    else:
        inputs = seeded_inputs(tuple(model.preprocess.input_size), FP32_CHECK_SAMPLES)
        labels, images, source = None, False, "Gaussian"
    reference = predict_in_chunks(eager_predictor(model), inputs)
    return CheckSet(inputs, reference, labels, images, source)


def check_path(precision: str, predict: Runner, checks: CheckSet) -> Verdict:
    """Run ``predict`` on the check inputs and judge it by the rule of its ``precision``."""
    if precision == "fp32":
        # fp32 parity needs no labels and no more than a few inputs of any kind.
        count = min(len(checks.inputs), FP32_CHECK_SAMPLES)
        report = compare_fp32(checks.reference[:count], predict_in_chunks(predict, checks.inputs[:count]))
        verdict = "pass" if report["passed"] else "FAIL"
        return Verdict(bool(report["passed"]), f"{verdict} {float(report['relative_diff']):.0e}", report)  # type: ignore[arg-type]
    if not checks.images:
        return Verdict(None, "unchecked", {"kind": precision, "note": NEEDS_IMAGES})
    candidate = predict_in_chunks(predict, checks.inputs)
    report = compare_top1(checks.reference, candidate, checks.labels, precision)
    verdict = "pass" if report["passed"] else "FAIL"
    agreement = 100 * float(report["agreement"])  # type: ignore[arg-type]
    return Verdict(bool(report["passed"]), f"{verdict} {agreement:.1f}% of {report['samples']}", report)
