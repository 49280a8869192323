"""An estimate of this CPU's peak throughput per precision, to put measured speeds in proportion.

Peak multiply-accumulates per second = MACs per cycle per core x cores x clock. The MACs per cycle
depend on the precision: an fp32 FMA, an int8 dot product and a bf16 tile multiply do very different
amounts of work per instruction, and a CPU without instructions for a precision runs it at the fp32
rate after converting. So the estimate reads the CPU's features from the /proc/cpuinfo flags and
gives one peak per precision (fp32, bf16, fp16, int8), each with its formula, so that an int8 path is
compared with the int8 peak and not with the fp32 one. No real network reaches any of them (memory
traffic, depthwise layers, small tensors), but the share that a backend achieves says how much
headroom is left, which raw milliseconds cannot.

Assumptions, shown with every estimate:
- features: the Linux /proc/cpuinfo flags ("flags" on x86, "Features" on Arm). A hypervisor may hide
  some; the estimate only knows what the flags say.
- 2 vector units per core that take FMAs and the dot-product instructions below, one instruction per
  unit per cycle, as on every x86 server core since Haswell / Zen 1 and on big Arm cores. (Some
  parts have fewer 512-bit units, e.g. Ice Lake client and some Xeon SKUs with one; some Arm cores
  have more, e.g. Neoverse V1/V2 with four 128-bit pipes; the estimate is then off by up to 2x.)
- fp32: lanes x 2 FMA units. Lanes from the widest vector extension in the flags: AVX-512 -> 16 fp32,
  AVX/AVX2 -> 8, SSE/NEON -> 4. AMD Zen 4 splits a 512-bit op into two 256-bit halves; the estimate
  counts the full width and is then optimistic by up to 2x, for every precision that uses AVX-512.
- int8 (u8 x s8 products summed into int32), best available of:
  - AMX-INT8: 1,024 MACs/cycle (Intel's figure: 2,048 int8 ops/cycle/core, an op being a multiply
    or an add).
  - AVX-512 VNNI: VPDPBUSD sums 4 u8 x s8 products into each 32-bit lane in one instruction,
    4 x 16 lanes x 2 units = 128 MACs/cycle.
  - AVX-VNNI (the 256-bit VEX form of VPDPBUSD): 4 x 8 x 2 = 64.
  - x86 without VNNI: the same work takes three instructions (VPMADDUBSW, VPMADDWD, VPADDD), so
    4 x int32 lanes x 2 / 3: 21.3 with AVX2, 42.7 with AVX-512BW (integer zmm ops need BW), 10.7
    with SSSE3 alone.
  - Arm i8mm: SMMLA multiplies a 2x8 by an 8x2 int8 block, 32 MACs per 128-bit instruction,
    x 2 units = 64. dotprod: SDOT does 4 MACs per 32-bit lane, 16 per instruction, x 2 = 32.
    Plain NEON: a widening multiply and pairwise adds, counted like x86 without VNNI, 4 x 4 x 2 / 3.
- bf16: AMX-BF16: 512 MACs/cycle (Intel: 1,024 bf16 ops/cycle/core). AVX512-BF16: VDPBF16PS sums
  2 bf16 products into each fp32 lane, 2 x 16 x 2 = 64. Arm BF16: BFMMLA multiplies a 2x4 by a 4x2
  bf16 block, 16 MACs per 128-bit instruction, x 2 = 32. Otherwise not native: bf16 is converted to
  fp32 and runs at the fp32 rate.
- fp16: AMX-FP16: 512 (as AMX-BF16). AVX512-FP16: FMAs on 32 fp16 lanes, 32 x 2 = 64. Arm fp16
  arithmetic (FMLA on 8 fp16 lanes): 8 x 2 = 16. Otherwise not native: converted (F16C on x86) and
  run at the fp32 rate.
- SVE: the vector length is not in the flags, so SVE is counted at 128 bits, the NEON rate (a 256-bit
  SVE core such as Neoverse V1 may do up to 2x more).
- cores: physical cores (from /proc/cpuinfo core ids), capped at the threads used.
- clock: the maximum frequency from sysfs if exposed, else the current MHz in /proc/cpuinfo. All
  precisions use the same clock, although heavy AVX-512 / AMX code may run lower.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

FMA_UNITS_PER_CORE = 2  # assumed, see the module docstring

PRECISIONS = ("fp32", "bf16", "fp16", "int8")

# Canonical feature keys and their display names, in display order: x86 first, then Arm.
FEATURES: dict[str, str] = {
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512F",
    "avx512bw": "AVX-512BW",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX512-BF16",
    "avx512_fp16": "AVX512-FP16",
    "amx_tile": "AMX-TILE",
    "amx_bf16": "AMX-BF16",
    "amx_int8": "AMX-INT8",
    "amx_fp16": "AMX-FP16",
    "neon": "NEON",
    "dotprod": "dotprod",
    "i8mm": "i8mm",
    "sve": "SVE",
    "sve2": "SVE2",
    "arm_bf16": "BF16 (Arm)",
    "fp16": "fp16 arithmetic (Arm)",
}
ARM_FEATURES = frozenset({"neon", "dotprod", "i8mm", "sve", "sve2", "arm_bf16", "fp16"})

# Linux flag spelling -> canonical key. x86 flags are the keys themselves; the Arm ones differ
# ("asimd" is NEON, "asimddp" the dot product) and "bf16"/"fp16" would be ambiguous without a prefix.
_FLAG_TO_FEATURE: dict[str, str] = {key: key for key in FEATURES if key not in ARM_FEATURES}
_FLAG_TO_FEATURE.update(
    {
        "asimd": "neon",  # arm64
        "neon": "neon",  # 32-bit Arm
        "asimddp": "dotprod",
        "i8mm": "i8mm",
        "sve": "sve",
        "sve2": "sve2",
        "bf16": "arm_bf16",
        # FEAT_FP16 sets both (vector and scalar half-precision arithmetic); either one means it.
        "asimdhp": "fp16",
        "fphp": "fp16",
    }
)


def detect_features(flags: set[str]) -> frozenset[str]:
    """The canonical keys of :data:`FEATURES` present in the /proc/cpuinfo ``flags``."""
    return frozenset(_FLAG_TO_FEATURE[flag] for flag in flags if flag in _FLAG_TO_FEATURE)


@dataclass(frozen=True)
class PrecisionPeak:
    """The peak of one precision and how it was reached."""

    precision: str
    macs_per_cycle: float  # per core
    how: str  # the instructions and the per-cycle arithmetic, in words
    native: bool  # False when the CPU has no instructions for it and runs it at the fp32 rate
    gmacs: float  # macs_per_cycle x cores x GHz
    formula: str  # one line, from the instructions to the GMAC/s


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
    features: frozenset[str]
    peaks: dict[str, PrecisionPeak]  # fp32, bf16, fp16 and int8, always

    @property
    def gmacs(self) -> float:
        """Peak fp32 GMAC/s (one FMA = one multiply-accumulate)."""
        return self.peaks["fp32"].gmacs

    def peak(self, precision: str) -> PrecisionPeak:
        """The peak of ``precision``; a precision without its own (e.g. "baseline") gets fp32's."""
        return self.peaks.get(precision, self.peaks["fp32"])

    def feature_line(self) -> str:
        """The CPU's name, the features it has, and those of its architecture that it lacks."""
        arm = bool(self.features & ARM_FEATURES)
        family = [key for key in FEATURES if (key in ARM_FEATURES) == arm]
        present = [FEATURES[key] for key in FEATURES if key in self.features]
        absent = [FEATURES[key] for key in family if key not in self.features]
        return f"{self.cpu_name}: {', '.join(present) or 'none'}; absent: {', '.join(absent) or 'none'}"

    def describe(self) -> str:
        """The feature line, then one "peak <precision>: <formula>" line per precision."""
        lines = [self.feature_line()]
        lines += [f"peak {precision}: {peak.formula}" for precision, peak in self.peaks.items()]
        return "\n".join(lines)


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


def _number(value: float) -> str:
    """1024 -> "1,024", 21.333 -> "21.3": whole numbers without a decimal point."""
    return f"{value:,.0f}" if value == round(value) else f"{value:,.1f}"


# Each rate function returns (MACs per cycle per core, how in words, native).
_Rate = tuple[float, str, bool]


def _fp32_rate(isa: str, lanes: int, units: int, features: frozenset[str]) -> _Rate:
    macs = float(lanes * units)
    sve = ", SVE counted as 128-bit" if "sve" in features else ""
    how = f"{isa}: {lanes} fp32 lanes x {units} FMA units (assumed{sve})"
    return macs, f"{how} = {_number(macs)} MACs/cycle", True


def _int8_rate(features: frozenset[str], units: int) -> _Rate:
    sve = " (SVE counted as 128-bit)" if "sve" in features else ""
    if "amx_int8" in features:
        return 1024.0, "AMX-INT8 tiles: 1,024 MACs/cycle (2,048 int8 ops, Intel)", True
    if "avx512_vnni" in features:
        macs = 4.0 * 16 * units
        how = f"AVX-512 VNNI VPDPBUSD: 4 u8xs8 MACs x 16 int32 lanes x {units} units"
        return macs, f"{how} = {_number(macs)} MACs/cycle", True
    if "avx_vnni" in features:
        macs = 4.0 * 8 * units
        how = f"AVX-VNNI VPDPBUSD (256-bit): 4 u8xs8 MACs x 8 int32 lanes x {units} units"
        return macs, f"{how} = {_number(macs)} MACs/cycle", True
    if "i8mm" in features:
        macs = 32.0 * units
        how = f"i8mm SMMLA: 32 int8 MACs per 128-bit instruction x {units} units{sve}"
        return macs, f"{how} = {_number(macs)} MACs/cycle", True
    if "dotprod" in features:
        macs = 16.0 * units
        how = f"dotprod SDOT: 16 int8 MACs per 128-bit instruction x {units} units{sve}"
        return macs, f"{how} = {_number(macs)} MACs/cycle", True
    if "neon" in features:
        macs = 4.0 * 4 * units / 3
        how = (
            f"NEON without dotprod: widening multiply and pairwise adds, 3 instructions for "
            f"4 int8 MACs x 4 int32 lanes x {units} units (assumed as on x86 without VNNI){sve}"
        )
        return macs, f"{how} = {_number(macs)} MACs/cycle", True
    # x86 without VNNI: VPMADDUBSW (u8xs8 -> pairs summed to int16), VPMADDWD (pairs -> int32),
    # VPADDD (accumulate): three instructions for what VPDPBUSD does in one. Integer zmm
    # instructions need AVX-512BW, ymm ones AVX2; before that only 128-bit SSSE3.
    isa, lanes = ("SSSE3", 4)
    if "avx512bw" in features:
        isa, lanes = "AVX-512BW", 16
    elif "avx2" in features:
        isa, lanes = "AVX2", 8
    macs = 4.0 * lanes * units / 3
    how = (
        f"no VNNI: {isa} VPMADDUBSW + VPMADDWD + VPADDD, 3 instructions for "
        f"4 u8xs8 MACs x {lanes} int32 lanes x {units} units"
    )
    return macs, f"{how} = {_number(macs)} MACs/cycle", True


def _bf16_rate(features: frozenset[str], units: int, fp32_macs: float) -> _Rate:
    if "amx_bf16" in features:
        return 512.0, "AMX-BF16 tiles: 512 MACs/cycle (1,024 bf16 ops, Intel)", True
    if "avx512_bf16" in features:
        macs = 2.0 * 16 * units
        how = f"AVX512-BF16 VDPBF16PS: 2 bf16 MACs x 16 fp32 lanes x {units} units"
        return macs, f"{how} = {_number(macs)} MACs/cycle", True
    if "arm_bf16" in features:
        macs = 16.0 * units
        sve = " (SVE counted as 128-bit)" if "sve" in features else ""
        how = f"BF16 BFMMLA: 16 bf16 MACs per 128-bit instruction x {units} units{sve}"
        return macs, f"{how} = {_number(macs)} MACs/cycle", True
    how = f"no bf16 instructions: converted and run at the fp32 rate, {_number(fp32_macs)} MACs/cycle"
    return fp32_macs, how, False


def _fp16_rate(features: frozenset[str], flags: set[str], units: int, fp32_macs: float) -> _Rate:
    if "amx_fp16" in features:
        return 512.0, "AMX-FP16 tiles: 512 MACs/cycle (1,024 fp16 ops, Intel)", True
    if "avx512_fp16" in features:
        macs = 32.0 * units
        how = f"AVX512-FP16 VFMADD*PH: 32 fp16 lanes x {units} FMA units"
        return macs, f"{how} = {_number(macs)} MACs/cycle", True
    if "fp16" in features:
        macs = 8.0 * units
        sve = " (SVE counted as 128-bit)" if "sve" in features else ""
        how = f"fp16 FMLA: 8 fp16 lanes per 128-bit instruction x {units} FMA units{sve}"
        return macs, f"{how} = {_number(macs)} MACs/cycle", True
    # F16C (x86) only converts between fp16 and fp32; the arithmetic stays fp32.
    convert = "converted (F16C)" if "f16c" in flags else "converted"
    how = f"no fp16 arithmetic: {convert} and run at the fp32 rate, {_number(fp32_macs)} MACs/cycle"
    return fp32_macs, how, False


def _precision_peaks(
    flags: set[str], cores: int, ghz: float, clock_source: str, units: int = FMA_UNITS_PER_CORE
) -> dict[str, PrecisionPeak]:
    """One :class:`PrecisionPeak` per precision in :data:`PRECISIONS` for a CPU with ``flags``."""
    features = detect_features(flags)
    isa, lanes = vector_lanes(flags)
    fp32 = _fp32_rate(isa, lanes, units, features)
    rates = {
        "fp32": fp32,
        "bf16": _bf16_rate(features, units, fp32[0]),
        "fp16": _fp16_rate(features, flags, units, fp32[0]),
        "int8": _int8_rate(features, units),
    }
    peaks = {}
    for precision in PRECISIONS:
        macs, how, native = rates[precision]
        gmacs = macs * cores * ghz
        formula = f"{how} x {cores} cores x {ghz:.2f} GHz ({clock_source}) = {gmacs:,.0f} GMAC/s"
        peaks[precision] = PrecisionPeak(precision, macs, how, native, gmacs, formula)
    return peaks


def estimate_cpu_peak(threads: int | None = None, cpuinfo_text: str | None = None) -> CpuPeak:
    """Estimate the peak GMAC/s per precision of this machine for ``threads`` threads.

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
    ghz = mhz / 1000.0
    return CpuPeak(
        name,
        isa,
        lanes,
        FMA_UNITS_PER_CORE,
        cores,
        ghz,
        source,
        detect_features(flags),
        _precision_peaks(flags, cores, ghz, source),
    )
