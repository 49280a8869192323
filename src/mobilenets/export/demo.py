"""The deployment step of ``make demo``: export the trained demo model and time it briefly."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from mobilenets.parity import format_parity
from mobilenets.runtimes import runtime_missing

DEMO_BACKENDS = ("eager", "onnxruntime", "onnxruntime-int8", "openvino", "executorch")


def demo_deploy(
    weights_path: str | Path,
    out_dir: str | Path,
    console: Console | None = None,
    *,
    calib_samples: int = 128,
    bench_seconds: float = 0.3,
) -> list[Path]:
    """Export ``weights_path`` to ONNX (fp32, int8 calibrated on digits) and ExecuTorch, then bench.

    Each export prints its parity line; the bench runs batch 1 on a few backends, briefly
    (well under a minute on two cores). Missing runtimes are skipped with a note.

    Args:
        weights_path: the trained demo model (a mobilenets weight file).
        out_dir: where the exported files and parity reports go.
        console: where to print (a new rich Console by default).
        calib_samples: digits images used for int8 calibration.
        bench_seconds: timed seconds per backend.

    Returns:
        The exported files.
    """
    from mobilenets.bench import run_bench
    from mobilenets.bench_report import bench_table
    from mobilenets.export.pipeline import export_model

    console = console or Console()
    out_dir = Path(out_dir)
    stem = Path(weights_path).stem
    written: list[Path] = []
    missing_onnx = runtime_missing("onnx") or runtime_missing("onnxruntime")
    jobs: list[tuple[str, bool, Path]] = []
    if missing_onnx:
        console.print(f"[yellow]ONNX export skipped: {escape(missing_onnx)}[/]")
    else:
        jobs += [("onnx", False, out_dir / f"{stem}.onnx"), ("onnx", True, out_dir / f"{stem}.int8.onnx")]
    missing_et = runtime_missing("executorch")
    if missing_et:
        console.print(f"[yellow]ExecuTorch export skipped: {escape(missing_et)}[/]")
    else:
        jobs += [
            ("executorch", False, out_dir / f"{stem}.pte"),
            ("executorch", True, out_dir / f"{stem}.int8.pte"),
        ]
    for export_format, int8, path in jobs:
        result = export_model(
            weights_path,
            export_format,  # type: ignore[arg-type]
            out=path,
            int8=int8,
            calib="digits" if int8 else None,
            calib_samples=calib_samples,
        )
        console.print(f"{result.path}: {format_parity(result.parity)}")
        written.append(result.path)
    report = run_bench([weights_path], DEMO_BACKENDS, (1,), threads=None, warmup=3, min_seconds=bench_seconds)
    # A console at least 120 wide for the table, so model and backend names are never elided.
    wide = Console(file=console.file, width=max(console.width, 120), force_terminal=console.is_terminal)
    wide.print(bench_table(report))
    return written
