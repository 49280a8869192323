"""The agreement report: the float margins that explain a failing share."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mobilenets.export.parity import compare_top1, format_parity


def test_agreement_reports_the_float_margins_of_differing_images() -> None:
    # Rows 0-2: confident (logit gap 4); row 3 nearly ties (gap 0.1), and it is the one that flips.
    float_logits = np.array([[4, 0, -1], [0, 4, -1], [-1, 0, 4], [2.0, 2.1, -1]], np.float32)
    int8_logits = float_logits.copy()
    int8_logits[3] = [2.1, 2.0, -1]
    report = compare_top1(float_logits, int8_logits)
    probabilities = torch.softmax(torch.from_numpy(float_logits), 1)
    top2 = probabilities.topk(2, 1).values
    expected = (top2[:, 0] - top2[:, 1]).numpy()  # independent of parity.top2_margins
    assert report["float_margin_median_differing"] == pytest.approx(expected[3], rel=1e-5)
    assert report["float_margin_median"] == pytest.approx(float(np.median(expected)), rel=1e-5)
    line = format_parity(report)
    assert "FAIL" in line and f"median {expected[3]:.3f} on the differing images" in line
    agreeing = compare_top1(float_logits, float_logits)
    assert agreeing["float_margin_median_differing"] is None
    assert "differing images" not in format_parity(agreeing)
