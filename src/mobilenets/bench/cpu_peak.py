"""An estimate of this CPU's peak fp32 throughput, to put measured speeds in proportion.

Peak multiply-accumulates per second = SIMD lanes x FMA units per core x cores x clock:
every cycle, each FMA unit of each core does one fused multiply-add on a full vector register.
No real network reaches it (memory traffic, depthwise layers, small tensors), but the share of
it that a backend achieves says how much headroom is left, which raw milliseconds cannot.

Assumptions, shown with every estimate:
- lanes from the widest vector extension in the CPU flags: AVX-512 -> 16 fp32, AVX/AVX2 -> 8,
  SSE/NEON -> 4. (Some cores, e.g. AMD Zen 4, split a 512-bit op into two 256-bit halves;
  the estimate then counts the full width and is optimistic by up to 2x.)
- 2 FMA units per core, as on every x86 server core since Haswell / Zen 1 and on big Arm cores.
- cores: physical cores (from /proc/cpuinfo core ids), capped at the threads used.
- clock: the maximum frequency from sysfs if exposed, else the current MHz in /proc/cpuinfo.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

FMA_UNITS_PER_CORE = 2  # assumed, see the module docstring


@dataclass(frozen=True)
class CpuPeak:
    """The estimate and every factor that went into it."""

    cpu_name: str
    vector_isa: str
    fp32_lanes: int
    fma_units: int
    cores: int
    ghz: float
    clock_source: str

    @property
    def gmacs(self) -> float:
        """Peak fp32 GMAC/s (one FMA = one multiply-accumulate)."""
        return self.fp32_lanes * self.fma_units * self.cores * self.ghz

    def describe(self) -> str:
        """The estimate as a one-line formula, e.g. for a table caption."""
        return (
            f"{self.cpu_name}: {self.vector_isa} {self.fp32_lanes} fp32 lanes x {self.fma_units} FMA units "
            f"(assumed) x {self.cores} cores x {self.ghz:.2f} GHz ({self.clock_source}) "
            f"= {self.gmacs:.0f} GMAC/s peak"
        )


def parse_cpuinfo(text: str) -> dict[str, object]:
    """Model name, flags, physical core count and MHz from the text of /proc/cpuinfo.

    Returns:
        A dict with keys ``name`` (str), ``flags`` (set of str), ``cores`` (int or None),
        ``mhz`` (float or None).
    """
    name, mhz = "", None
    flags: set[str] = set()
    physical: set[tuple[str, str]] = set()
    package = core = ""
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "model name" and not name:
            name = value
        elif key in ("flags", "Features") and not flags:  # x86 / Arm spelling
            flags = set(value.split())
        elif key == "cpu MHz" and mhz is None:
            mhz = float(value)
        elif key == "physical id":
            package = value
        elif key == "core id":
            core = value
            physical.add((package, core))
    return {"name": name, "flags": flags, "cores": len(physical) or None, "mhz": mhz}


def vector_lanes(flags: set[str]) -> tuple[str, int]:
    """The widest fp32 FMA-capable vector extension in ``flags`` and its lanes."""
    if "avx512f" in flags:
        return "AVX-512", 16
    if "avx2" in flags or "fma" in flags or "avx" in flags:
        return "AVX2/FMA", 8
    if "asimd" in flags or "neon" in flags:
        return "NEON", 4
    return "SSE", 4


def _max_mhz_from_sysfs() -> float | None:
    path = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    try:
        return int(path.read_text().strip()) / 1000.0  # kHz -> MHz
    except (OSError, ValueError):
        return None


def estimate_cpu_peak(threads: int | None = None, cpuinfo_text: str | None = None) -> CpuPeak:
    """Estimate the peak fp32 GMAC/s of this machine for ``threads`` threads.

    Args:
        threads: threads the measurement uses; the peak counts ``min(threads, cores)`` cores.
            ``None`` counts every core.
        cpuinfo_text: the text of /proc/cpuinfo (read from the system when ``None``).

    Returns:
        The estimate with its factors.
    """
    if cpuinfo_text is None:
        try:
            cpuinfo_text = Path("/proc/cpuinfo").read_text()
        except OSError:  # not Linux: fall back to defaults
            cpuinfo_text = ""
    info = parse_cpuinfo(cpuinfo_text)
    flags = info["flags"]
    assert isinstance(flags, set)
    isa, lanes = vector_lanes(flags)
    cores = info["cores"] if isinstance(info["cores"], int) else (os.cpu_count() or 1)
    if threads is not None:
        cores = max(1, min(cores, threads))
    mhz, source = _max_mhz_from_sysfs(), "sysfs max"
    if mhz is None and isinstance(info["mhz"], float):
        mhz, source = info["mhz"], "cpuinfo MHz"
    if mhz is None:
        mhz, source = 2000.0, "unknown, assumed 2 GHz"
    name = str(info["name"]) or "unknown CPU"
    name = re.sub(r"\s+", " ", name)
    return CpuPeak(name, isa, lanes, FMA_UNITS_PER_CORE, cores, mhz / 1000.0, source)
