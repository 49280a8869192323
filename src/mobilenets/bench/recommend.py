"""The fastest path on the machine at hand, chosen by measurement, never by a table.

Which path wins depends on the CPU: on one with AMX, OpenVINO's bf16 beats every fp32 path; on
an AVX2 EPYC, int8 XNNPACK may. So ``mobilenets bench --recommend`` times every installed path
here, checks each against the eager fp32 model, and names the fastest of ours that passed,
with its ratio to the fastest peer default (what a user gets without mobilenets).
"""

from __future__ import annotations

from dataclasses import dataclass

from mobilenets.bench.registry import BACKENDS
from mobilenets.bench.timing import BenchReport, BenchResult, best_result


@dataclass(frozen=True)
class Recommendation:
    """For one model and batch: our fastest checked path, the fastest peer default, the paths passed over."""

    model: str
    batch: int
    best: BenchResult | None
    best_peer: BenchResult | None
    # Ours and faster than ``best``, but not recommendable: failed or could not be checked.
    passed_over: tuple[BenchResult, ...]

    @property
    def ratio(self) -> float | None:
        """Our best latency / the best peer default's (at most 1.0 means we are no slower)."""
        if (
            self.best is None
            or self.best_peer is None
            or not self.best.median_ms
            or not self.best_peer.median_ms
        ):
            return None
        return self.best.median_ms / self.best_peer.median_ms

    def lines(self) -> list[str]:
        """The recommendation in words, one line each."""
        head = f"{self.model}, batch {self.batch}: "
        if self.best is None:
            unchecked = [row.backend for row in self.passed_over if row.check_passed is None]
            if unchecked:  # bf16, fp16 and int8 are judged on images only
                return [
                    head + f"no path of ours passed its check; {', '.join(unchecked)} could not be "
                    "checked without images: pass --calib DIR (or digits)"
                ]
            return [head + "no path of ours passed its check; see the table's check column"]
        best = self.best
        text = f"{head}use {best.backend} ({best.precision}), {best.median_ms:.2f} ms, check {best.check}"
        peer = self.best_peer
        if peer is not None and self.ratio is not None:
            text += (
                f"; {self.ratio:.2f}x the fastest peer default, {peer.backend} "
                f"({peer.precision}, {peer.median_ms:.2f} ms)"
            )
        lines = [text]
        for row in self.passed_over:
            why = "failed its check" if row.check_passed is False else "could not be checked"
            lines.append(f"  not {row.backend} ({row.precision}, {row.median_ms:.2f} ms): {why}: {row.check}")
        return lines


def recommend(
    report: BenchReport, model: str, batch: int, candidates: tuple[str, ...] | None = None
) -> Recommendation:
    """Our fastest path for ``model`` at ``batch`` that passed its check.

    Args:
        report: a bench report with the paths timed and checked.
        model: the model's name in the report.
        batch: the batch size.
        candidates: only these backends may be recommended (``export --format auto``: those
            that write a file); default: all of ours.
    """
    ours = [
        row
        for row in report.results
        if row.model == model
        and row.batch == batch
        and not row.peer
        and row.median_ms is not None
        and (candidates is None or row.backend in candidates)
    ]
    ours.sort(key=lambda row: row.median_ms or 0.0)
    best = next((row for row in ours if row.check_passed), None)
    passed_over = tuple(
        row
        for row in ours
        if row.check_passed is not True and (best is None or (row.median_ms or 0) < (best.median_ms or 0))
    )
    return Recommendation(model, batch, best, best_result(report, model, batch, peer=True), passed_over)


def recommendations(report: BenchReport) -> list[Recommendation]:
    """One recommendation per model and batch in the report, in their order."""
    pairs = dict.fromkeys((row.model, row.batch) for row in report.results)
    return [recommend(report, model, batch) for model, batch in pairs]


def file_candidates(int8: bool | None = None, export_format: str | None = None) -> tuple[str, ...]:
    """Our paths that are an exported file (what ``export --format auto`` can write).

    Args:
        int8: only int8 paths (True), only float ones (False), or both (None).
        export_format: only paths of this format ('onnx' or 'executorch'), or both (None).
    """
    names = []
    for name, cls in BACKENDS.items():
        if cls.peer or cls.export_as is None:
            continue
        file_format, is_int8 = cls.export_as
        if (int8 is None or is_int8 == int8) and (export_format is None or file_format == export_format):
            names.append(name)
    return tuple(names)
