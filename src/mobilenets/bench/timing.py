"""Latency and throughput of a model across backends, put in proportion to the CPU's peak.

For every model and batch size, all backends are prepared first and then timed in turns
(``rounds``, in a new seeded order each round): on a shared or throttling machine, a slow spell
then hits every backend alike instead of the one that happened to run during it. Each backend
is warmed up (first calls allocate, compile, pick kernels), then called repeatedly for at
least ``min_seconds``; the median and 90th-percentile latency come from those calls.

Achieved GMAC/s = the model's multiply-accumulates (attention matmuls included) x batch / median
latency, and its share of the estimated peak of the path's own precision (``cpu_peak.py``: fp32,
bf16, fp16 or int8, each from the instructions this CPU has) says how close it gets to the
hardware limit.

Every path is also checked against the eager fp32 model (``checks.py``), and the peers' default
paths (``peer_defaults.py``) are timed beside ours, so a recommendation can name the fastest of
our paths that passes its check and compare it with what a user gets without mobilenets.
"""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from mobilenets.bench.backend import Backend, Call, ExportCache
from mobilenets.bench.checks import CheckSet, check_path, check_set
from mobilenets.bench.cpu_peak import CpuPeak, estimate_cpu_peak
from mobilenets.bench.registry import get_backend
from mobilenets.cost.profiler import profile
from mobilenets.export.calibration import calibration_sets, require_calib_for_held_out
from mobilenets.models.mobilenet import MobileNet
from mobilenets.weights.create import create_model

SETTLE_SECONDS = 0.2
DEFAULT_BACKENDS = ("eager", "channels_last", "onnxruntime", "onnxruntime-int8", "openvino", "executorch")


@dataclass
class BenchResult:
    """One (model, backend, batch) measurement, or a skipped one with the reason in ``note``."""

    model: str
    backend: str
    precision: str
    batch: int
    threads: int
    median_ms: float | None = None
    p90_ms: float | None = None
    images_per_s: float | None = None
    gmacs_per_s: float | None = None
    peak_share: float | None = None
    calls: int = 0
    note: str = ""
    peer: bool = False  # a peer's default path, the comparison
    check: str = ""  # the accuracy check in a few words: 'pass 3e-07', 'pass 100.0% of 450', 'unchecked'
    check_passed: bool | None = None
    check_report: dict[str, object] = field(default_factory=dict)


@dataclass
class BenchReport:
    """All results of one run, with what is needed to read them."""

    results: list[BenchResult]
    peak: CpuPeak
    threads: int
    macs: dict[str, int] = field(default_factory=dict)
    date: str = ""
    check_source: dict[str, str] = field(default_factory=dict)  # model -> what its paths were checked on

    def to_dict(self) -> dict[str, object]:
        return {
            "date": self.date,
            "threads": self.threads,
            "cpu": {
                "name": self.peak.cpu_name,
                "features": sorted(self.peak.features),
                "cores": self.peak.cores,
                "ghz": self.peak.ghz,
                "clock_source": self.peak.clock_source,
                "peaks": {name: asdict(peak) for name, peak in self.peak.peaks.items()},
                "description": self.peak.describe(),
            },
            "macs_per_image": self.macs,
            "checked_on": self.check_source,
            "results": [asdict(r) for r in self.results],
        }


def time_calls(call: Call, warmup: int, min_seconds: float, min_calls: int = 5) -> list[float]:
    """Run ``call`` ``warmup`` times untimed, then at least ``min_calls`` times and ``min_seconds``.

    Returns:
        The latency of every timed call, in seconds.
    """
    for _ in range(warmup):
        call()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < min_calls or time.perf_counter() - start < min_seconds:
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return samples


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile with linear interpolation (numpy's default rule)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run PyTorch with ``threads`` intra-op threads, restoring the previous setting after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _model_name(source: str | Path | MobileNet) -> str:
    if isinstance(source, MobileNet):
        return source.config.arch
    return Path(str(source)).name if Path(str(source)).is_file() else str(source)


def run_bench(
    models: list[str | Path | MobileNet],
    backends: list[str] | tuple[str, ...] = DEFAULT_BACKENDS,
    batches: list[int] | tuple[int, ...] = (1,),
    threads: int | None = None,
    *,
    warmup: int = 5,
    min_seconds: float = 1.0,
    rounds: int = 1,
    workdir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    calib: str | Path | None = None,
    calib_samples: int = 256,
    held_out: str | Path | None = None,
) -> BenchReport:
    """Time every model on every backend at every batch size.

    Args:
        models: registry names, weight files or models.
        backends: names from ``backends.BACKENDS``; missing runtimes are skipped with a note.
        batches: batch sizes.
        threads: threads for every backend (default: all cores).
        warmup: untimed calls before each timing round.
        min_seconds: timed seconds per backend per round.
        rounds: timing rounds, interleaved across backends.
        workdir: where exported files go (default: a temporary folder, removed after).
        progress: called with a short message before each step.
        calib: a folder of images or 'digits', split as ``mobilenets export --calib`` splits it:
            the int8 files are calibrated on one part, and every path is checked on the
            held-out part. Without it, int8 files are calibrated on noise (fine for timing) and
            only fp32 paths can be checked.
        calib_samples: at most this many images calibrate.
        held_out: a folder of images to check every path on instead of a quarter of ``calib``.

    Returns:
        The report: one result per (model, backend, batch), skipped ones included.
    """
    threads = threads or os.cpu_count() or 1
    require_calib_for_held_out(calib, held_out)
    if threads < 1 or any(b < 1 for b in batches) or rounds < 1:
        raise ValueError(f"threads={threads}, batches={list(batches)}, rounds={rounds}: all must be >= 1")
    selected = [get_backend(name) for name in backends]  # unknown names fail before any work
    say = progress or (lambda _message: None)
    report = BenchReport(
        [], estimate_cpu_peak(threads), threads, date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    )
    timing = Timing(warmup, min_seconds, rounds, say)
    with contextlib.ExitStack() as stack:
        scratch = Path(workdir) if workdir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        stack.enter_context(torch_threads(threads))
        for index, source in enumerate(models):
            model = source if isinstance(source, MobileNet) else create_model(source)
            model, name = model.eval(), _model_name(source)
            input_size = tuple(model.preprocess.input_size)
            # Every multiply-add the CPU does: the papers' conv + linear convention, plus the
            # V4 hybrids' attention matmuls (Q·Kᵀ, attention·V), which cost time like any other.
            cost = profile(model, input_size)
            macs = cost.total_mult_adds + cost.attention_mult_adds
            report.macs[name] = macs
            calibration, check_images = (
                calibration_sets(calib, model.preprocess, model.labels, calib_samples, held_out)
                if calib
                else (None, None)
            )
            checks = check_set(model, check_images)
            kind = "held-out images" if checks.images else "Gaussian inputs"
            report.check_source[name] = f"{len(checks.inputs)} {kind} ({checks.source})"
            cache = ExportCache(
                model, scratch / f"model{index}", None if calibration is None else calibration.inputs
            )
            for batch in batches:
                report.results += _bench_batch(
                    model, name, macs, batch, selected, threads, cache, timing, report, checks
                )
    return report


@dataclass(frozen=True)
class Timing:
    """How each backend is timed: untimed calls, timed seconds per round, rounds; and a progress line."""

    warmup: int
    min_seconds: float
    rounds: int
    say: Callable[[str], None]


def _bench_batch(
    model: MobileNet,
    name: str,
    macs: int,
    batch: int,
    selected: list[Backend],
    threads: int,
    cache: ExportCache,
    timing: Timing,
    report: BenchReport,
    checks: CheckSet,
) -> list[BenchResult]:
    """One row per backend at one batch size: prepared, then timed in rounds interleaved across them."""
    warmup, min_seconds, rounds, say = timing.warmup, timing.min_seconds, timing.rounds, timing.say
    inputs = torch.randn(batch, *model.preprocess.input_size, generator=torch.Generator().manual_seed(0))
    calls: dict[str, Call] = {}
    rows: dict[str, BenchResult] = {}
    for backend in selected:
        row = BenchResult(name, backend.name, backend.precision, batch, threads, peer=backend.peer)
        rows[backend.name] = row
        row.note = backend.missing() or ""
        if row.note:
            continue
        say(f"{name} batch {batch}: preparing {backend.name}")
        try:
            prepared = backend.prepare(model, inputs, threads, cache)
            say(f"{name} batch {batch}: checking {backend.name}")
            row.precision = prepared.precision  # what ran: OpenVINO's default may pick bf16
            verdict = check_path(row.precision, prepared.predict, checks)
        except Exception as error:  # a runtime that cannot take this model: report, go on
            row.note = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:160]}"
            continue
        row.check, row.check_passed, row.check_report = verdict.summary, verdict.passed, verdict.report
        calls[backend.name] = prepared.call
    samples: dict[str, list[float]] = {key: [] for key in calls}
    order = list(calls)
    shuffle = random.Random(0)
    for round_index in range(rounds):
        # A new order every round: each path follows a different one each time, so whatever a
        # path leaves behind (spinning workers, a cold cache) does not always fall on the same
        # neighbour.
        shuffle.shuffle(order)
        for key in order:
            call = calls[key]
            say(f"{name} batch {batch}: timing {key} (round {round_index + 1}/{rounds})")
            samples[key] += time_calls(call, warmup, min_seconds)
            # ONNX Runtime's idle workers keep spinning for a while after a run and would take
            # a core from whichever path is timed next; let them settle first.
            time.sleep(SETTLE_SECONDS)
    for key, values in samples.items():
        row = rows[key]
        median = statistics.median(values)
        row.median_ms, row.p90_ms = 1e3 * median, 1e3 * percentile(values, 0.9)
        row.images_per_s = batch / statistics.fmean(values)
        row.gmacs_per_s = macs * batch / median / 1e9
        row.peak_share = row.gmacs_per_s / report.peak.peak(row.precision).gmacs
        row.calls = len(values)
    return list(rows.values())


def best_result(
    report: BenchReport, model: str, batch: int, precision: str | None = None, *, peer: bool | None = None
) -> BenchResult | None:
    """The fastest measured result for ``model`` at ``batch``, of ``precision`` and role if given."""
    measured = [
        r
        for r in report.results
        if r.model == model
        and r.batch == batch
        and (precision is None or r.precision == precision)
        and (peer is None or r.peer == peer)
        and r.median_ms is not None
    ]
    return min(measured, key=lambda r: r.median_ms or 0.0, default=None)
