"""The per-precision peak estimate, from realistic /proc/cpuinfo texts.

Every expected value is worked out here from the published per-instruction figures, not copied from
what the module prints: AVX-512 holds 16 fp32 / int32 lanes, AVX2 8, a 128-bit NEON register 4; a
core has 2 FMA units (the module's stated assumption); VPDPBUSD sums 4 u8 x s8 products per int32
lane; VDPBF16PS 2 bf16 products per fp32 lane; AVX512-FP16 has 32 fp16 lanes; without VNNI the same
int8 work takes VPMADDUBSW + VPMADDWD + VPADDD; Intel gives AMX 1,024 bf16 and 2,048 int8 ops per
cycle per core (an op is a multiply or an add, so half as many MACs); Arm's SMMLA does a 2x8 by 8x2
int8 block product, BFMMLA a 2x4 by 4x2 bf16 one, SDOT 4 int8 products per 32-bit lane.
"""

from __future__ import annotations

import pytest

import mobilenets.bench.cpu_peak as cpu_peak
from mobilenets.bench.cpu_peak import CpuPeak, detect_features, estimate_cpu_peak, parse_cpuinfo

UNITS = 2  # FMA units per core, the module's stated assumption
AVX512_LANES, AVX2_LANES, NEON_LANES = 512 // 32, 256 // 32, 128 // 32  # 32-bit lanes per register


def two_processors(block: str, core_ids: tuple[int, int]) -> str:
    """A /proc/cpuinfo text of 2 logical processors from one block with {n}, {core} placeholders."""
    return "\n".join(block.format(n=n, core=core) for n, core in enumerate(core_ids))


# AMD EPYC Milan (Zen 3), a 2-vCPU cloud VM: one physical core with its SMT sibling.
MILAN = two_processors(
    """processor\t: {n}
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC 7B13
stepping\t: 0
microcode\t: 0x1000065
cpu MHz\t\t: 2449.998
cache size\t: 512 KB
physical id\t: 0
siblings\t: 2
core id\t\t: {core}
cpu cores\t: 1
apicid\t\t: {n}
initial apicid\t: {n}
fpu\t\t: yes
fpu_exception\t: yes
cpuid level\t: 13
wp\t\t: yes
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr \
sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid \
extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes \
xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch \
osvw topoext ssbd ibrs ibpb stibp vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid rdseed \
adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 xsaves clzero xsaveerptr rdpru wbnoinvd arat \
npt nrip_save umip pku ospke vaes vpclmulqdq rdpid fsrm
bugs\t\t: sysret_ss_attrs null_seg spectre_v1 spectre_v2 spec_store_bypass srso
bogomips\t: 4899.99
TLB size\t: 2560 4K pages
clflush size\t: 64
cache_alignment\t: 64
address sizes\t: 48 bits physical, 48 bits virtual
power management:
""",
    (0, 0),
)

# AMD EPYC Genoa (Zen 4): AVX-512 with VNNI and BF16, no AVX512-FP16, no AMX. Two physical cores.
GENOA = two_processors(
    """processor\t: {n}
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9654 96-Core Processor
stepping\t: 1
microcode\t: 0xa10113e
cpu MHz\t\t: 2400.000
cache size\t: 1024 KB
physical id\t: 0
siblings\t: 2
core id\t\t: {core}
cpu cores\t: 2
apicid\t\t: {n}
initial apicid\t: {n}
fpu\t\t: yes
fpu_exception\t: yes
cpuid level\t: 16
wp\t\t: yes
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr \
sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good amd_lbr_v2 nopl \
nonstop_tsc cpuid extd_apicid aperfmperf rapl pni pclmulqdq monitor ssse3 fma cx16 pcid sse4_1 sse4_2 \
x2apic movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a \
misalignsse 3dnowprefetch osvw ibs skinit wdt tce topoext perfctr_core perfctr_nb bpext perfctr_llc \
mwaitx cpb cat_l3 cdp_l3 invpcid_single hw_pstate ssbd mba perfmon_v2 ibrs ibpb stibp ibrs_enhanced \
vmmcall fsgsbase bmi1 avx2 smep bmi2 erms invpcid cqm rdt_a avx512f avx512dq rdseed adx smap \
avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves cqm_llc \
cqm_occup_llc cqm_mbm_total cqm_mbm_local avx512_bf16 clzero irperf xsaveerptr rdpru wbnoinvd \
amd_ppin cppc arat npt lbrv svm_lock nrip_save tsc_scale vmcb_clean flushbyasid decodeassists \
pausefilter pfthreshold avic v_vmsave_vmload vgif x2avic v_spec_ctrl vnmi avx512vbmi umip pku ospke \
avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq la57 rdpid \
overflow_recov succor smca fsrm flush_l1d
bugs\t\t: sysret_ss_attrs spectre_v1 spectre_v2 spec_store_bypass srso
bogomips\t: 4800.00
TLB size\t: 3584 4K pages
clflush size\t: 64
cache_alignment\t: 64
address sizes\t: 52 bits physical, 57 bits virtual
power management: ts ttp tm hwpstate cpb eff_freq_ro [13] [14]
""",
    (0, 1),
)

# Intel Xeon Sapphire Rapids, a 2-vCPU VM: one core with its hyper-thread; AMX-BF16 and AMX-INT8
# (no AMX-FP16, which came with Granite Rapids), AVX512-FP16, both VNNI forms.
SAPPHIRE_RAPIDS = two_processors(
    """processor\t: {n}
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
stepping\t: 8
microcode\t: 0xffffffff
cpu MHz\t\t: 2699.998
cache size\t: 107520 KB
physical id\t: 0
siblings\t: 2
core id\t\t: {core}
cpu cores\t: 1
apicid\t\t: {n}
initial apicid\t: {n}
fpu\t\t: yes
fpu_exception\t: yes
cpuid level\t: 31
wp\t\t: yes
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr \
sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid \
tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c \
rdrand hypervisor lahf_lm abm 3dnowprefetch ssbd ibrs ibpb stibp ibrs_enhanced fsgsbase tsc_adjust \
bmi1 hle avx2 smep bmi2 erms invpcid rtm avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb \
avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx_vnni avx512_bf16 arat \
avx512vbmi umip pku ospke waitpkg avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg \
avx512_vpopcntdq la57 rdpid cldemote movdiri movdir64b fsrm md_clear serialize tsxldtrk amx_bf16 \
avx512_fp16 amx_tile amx_int8 arch_capabilities
bugs\t\t: spectre_v1 spectre_v2 spec_store_bypass swapgs eibrs_pbrsb
bogomips\t: 5399.99
clflush size\t: 64
cache_alignment\t: 64
address sizes\t: 52 bits physical, 57 bits virtual
power management:
""",
    (0, 0),
)

# Arm Neoverse V1 (AWS Graviton3): no model name, MHz or core ids in an arm64 /proc/cpuinfo.
NEOVERSE_V1 = two_processors(
    """processor\t: {n}
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt \
fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs paca pacg dcpodp \
svei8mm svebf16 i8mm bf16 dgh rng
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: 0xd40
CPU revision\t: 1
""",
    (0, 1),
)

# Arm Cortex-A72 (AWS Graviton1, Raspberry Pi 4): plain NEON, no dot product, no fp16 arithmetic.
CORTEX_A72 = two_processors(
    """processor\t: {n}
BogoMIPS\t: 166.66
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd08
CPU revision\t: 3
""",
    (0, 1),
)

# The small text of the older test: four hardware threads on two physical cores.
SMALL = """processor\t: 0
model name\t: Example CPU 9000
physical id\t: 0
core id\t: 0
cpu MHz\t\t: 3000.000
flags\t\t: fpu sse sse2 avx avx2 fma avx512f
processor\t: 1
physical id\t: 0
core id\t: 0
processor\t: 2
physical id\t: 0
core id\t: 1
processor\t: 3
physical id\t: 0
core id\t: 1
"""


@pytest.fixture(autouse=True)
def no_sysfs_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock comes from the text, not from this machine's sysfs."""
    monkeypatch.setattr(cpu_peak, "_max_mhz_from_sysfs", lambda: None)


def absent_part(peak: CpuPeak) -> list[str]:
    """The display names after "absent: " in the feature line."""
    return peak.feature_line().split("; absent: ")[1].split(", ")


def present_part(peak: CpuPeak) -> list[str]:
    return peak.feature_line().split("; absent: ")[0].split(": ", 1)[1].split(", ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MILAN, {"avx2", "fma"}),
        (GENOA, {"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16"}),
        (
            SAPPHIRE_RAPIDS,
            {"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16"}
            | {"amx_tile", "amx_bf16", "amx_int8"},
        ),
        (NEOVERSE_V1, {"neon", "dotprod", "i8mm", "sve", "arm_bf16", "fp16"}),
        (CORTEX_A72, {"neon"}),
    ],
    ids=["milan", "genoa", "sapphire_rapids", "neoverse_v1", "cortex_a72"],
)
def test_detect_features(text: str, expected: set[str]) -> None:
    flags = parse_cpuinfo(text)["flags"]
    assert isinstance(flags, set)
    assert detect_features(flags) == expected
    assert estimate_cpu_peak(cpuinfo_text=text).features == expected
    assert set(expected) <= set(cpu_peak.FEATURES)  # every canonical key has a display name


def test_detect_features_arm_spellings() -> None:
    assert detect_features({"asimd", "asimddp", "i8mm", "sve", "sve2", "bf16", "fphp"}) == {
        "neon",
        "dotprod",
        "i8mm",
        "sve",
        "sve2",
        "arm_bf16",
        "fp16",
    }
    assert detect_features({"asimdhp"}) == {"fp16"}
    assert detect_features({"f16c", "avx", "sse4_2", "unknown_flag"}) == frozenset()


def test_sapphire_rapids_amx() -> None:
    peak = estimate_cpu_peak(threads=2, cpuinfo_text=SAPPHIRE_RAPIDS)
    cores, ghz = 1, 2.699998  # one core and its hyper-thread; cpu MHz of the text
    assert (peak.cores, peak.ghz, peak.clock_source) == (cores, pytest.approx(ghz), "cpuinfo MHz")
    fp32 = AVX512_LANES * UNITS
    bf16 = 1024 / 2  # AMX-BF16: 1,024 ops = 512 multiply-adds
    int8 = 2048 / 2  # AMX-INT8: 2,048 ops = 1,024 multiply-adds
    fp16 = 32 * UNITS  # AVX512-FP16: 32 lanes per zmm; SPR has no AMX-FP16
    for precision, macs in (("fp32", fp32), ("bf16", bf16), ("int8", int8), ("fp16", fp16)):
        assert peak.peak(precision).macs_per_cycle == pytest.approx(macs), precision
        assert peak.peak(precision).gmacs == pytest.approx(macs * cores * ghz), precision
        assert peak.peak(precision).native, precision
    assert peak.peak("int8").gmacs == pytest.approx(2 * peak.peak("bf16").gmacs)
    assert peak.peak("int8").gmacs == pytest.approx(1024 / 32 * peak.peak("fp32").gmacs)
    assert "AMX-BF16" in peak.peak("bf16").how and "AMX-INT8" in peak.peak("int8").how
    assert "AVX512-FP16" in peak.peak("fp16").how
    assert {"AMX-BF16", "AMX-INT8", "AVX512-FP16", "AVX-512 VNNI"} <= set(present_part(peak))
    assert absent_part(peak) == ["AMX-FP16"]


def test_genoa_avx512_bf16_and_vnni_without_amx() -> None:
    peak = estimate_cpu_peak(threads=2, cpuinfo_text=GENOA)
    cores, ghz = 2, 2.4
    fp32 = AVX512_LANES * UNITS
    bf16 = 2 * AVX512_LANES * UNITS  # VDPBF16PS: 2 bf16 products per fp32 lane
    int8 = 4 * AVX512_LANES * UNITS  # VPDPBUSD: 4 u8 x s8 products per int32 lane
    assert peak.peak("fp32").gmacs == pytest.approx(fp32 * cores * ghz)
    assert peak.gmacs == peak.peak("fp32").gmacs
    assert peak.peak("bf16").gmacs == pytest.approx(bf16 * cores * ghz)
    assert peak.peak("int8").gmacs == pytest.approx(int8 * cores * ghz)
    assert "VDPBF16PS" in peak.peak("bf16").how and "AMX" not in peak.peak("bf16").how
    assert "VNNI" in peak.peak("int8").how and "AMX" not in peak.peak("int8").how
    # No AVX512-FP16 on Zen 4: fp16 is converted and runs at the fp32 rate.
    assert not peak.peak("fp16").native
    assert peak.peak("fp16").gmacs == pytest.approx(peak.peak("fp32").gmacs)
    assert peak.peak("bf16").native and peak.peak("int8").native
    absent = absent_part(peak)
    assert {"AMX-BF16", "AMX-INT8", "AMX-FP16", "AVX512-FP16"} <= set(absent)
    assert "AVX512-BF16" not in absent and "AVX-512 VNNI" not in absent
    assert not set(absent) & {"NEON", "SVE", "BF16 (Arm)"}  # only x86 features are listed absent


def test_milan_avx2_without_bf16_fp16_or_vnni() -> None:
    peak = estimate_cpu_peak(threads=2, cpuinfo_text=MILAN)
    cores, ghz = 1, 2.449998
    fp32 = AVX2_LANES * UNITS
    int8 = 4 * AVX2_LANES * UNITS / 3  # VPMADDUBSW + VPMADDWD + VPADDD for VPDPBUSD's work
    assert (peak.vector_isa, peak.fp32_lanes, peak.fma_units, peak.cores) == ("AVX2/FMA", 8, 2, cores)
    assert peak.gmacs == pytest.approx(fp32 * cores * ghz)
    for precision in ("bf16", "fp16"):
        assert not peak.peak(precision).native
        assert peak.peak(precision).gmacs == pytest.approx(peak.gmacs)
        assert "fp32 rate" in peak.peak(precision).how
    assert peak.peak("int8").macs_per_cycle == pytest.approx(int8)
    assert peak.peak("int8").gmacs == pytest.approx(int8 * cores * ghz)
    assert "VPMADDUBSW" in peak.peak("int8").how and "VNNI" in peak.peak("int8").how
    assert peak.feature_line().startswith("AMD EPYC 7B13: AVX2, FMA; absent: AVX-512F, ")
    assert {"AVX-512 VNNI", "AVX512-BF16", "AMX-BF16", "AMX-INT8"} <= set(absent_part(peak))


def test_formulas_differ_between_cpus() -> None:
    by_cpu = {
        name: estimate_cpu_peak(threads=2, cpuinfo_text=text)
        for name, text in (("milan", MILAN), ("genoa", GENOA), ("spr", SAPPHIRE_RAPIDS))
    }
    for precision in ("bf16", "int8"):
        hows = {peak.peak(precision).how for peak in by_cpu.values()}
        assert len(hows) == 3, precision  # three different instruction paths


def test_neoverse_v1_i8mm_bf16_sve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_peak.os, "cpu_count", lambda: 2)  # no core ids in an arm64 cpuinfo
    peak = estimate_cpu_peak(cpuinfo_text=NEOVERSE_V1)
    cores, ghz = 2, 2.0  # no MHz in the text and no sysfs: the stated 2 GHz default
    assert (peak.cores, peak.ghz, peak.clock_source) == (cores, ghz, "unknown, assumed 2 GHz")
    assert (peak.vector_isa, peak.fp32_lanes) == ("NEON", NEON_LANES)
    rates = {
        "fp32": NEON_LANES * UNITS,
        "int8": (2 * 8) * 2 * UNITS,  # SMMLA: a 2x8 by 8x2 int8 block, 32 MACs per instruction
        "bf16": (2 * 4) * 2 * UNITS,  # BFMMLA: a 2x4 by 4x2 bf16 block, 16 MACs per instruction
        "fp16": 2 * NEON_LANES * UNITS,  # FMLA on 8 fp16 lanes of a 128-bit register
    }
    for precision, macs in rates.items():
        assert peak.peak(precision).gmacs == pytest.approx(macs * cores * ghz), precision
        assert peak.peak(precision).native, precision
    assert "SMMLA" in peak.peak("int8").how and "BFMMLA" in peak.peak("bf16").how
    assert "128-bit" in peak.peak("fp32").how  # SVE's vector length is unknown: counted as 128-bit
    assert peak.feature_line().startswith("unknown CPU: NEON, dotprod, i8mm, SVE, BF16 (Arm)")
    assert absent_part(peak) == ["SVE2"]  # only Arm features are listed absent


def test_cortex_a72_plain_neon() -> None:
    peak = estimate_cpu_peak(threads=1, cpuinfo_text=CORTEX_A72)
    ghz = 2.0
    int8 = 4 * NEON_LANES * UNITS / 3  # counted like x86 without VNNI: three instructions
    assert peak.peak("int8").gmacs == pytest.approx(int8 * ghz)
    assert "dotprod" in peak.peak("int8").how
    for precision in ("bf16", "fp16"):
        assert not peak.peak(precision).native
        assert peak.peak(precision).gmacs == pytest.approx(NEON_LANES * UNITS * ghz)
    assert absent_part(peak) == ["dotprod", "i8mm", "SVE", "SVE2", "BF16 (Arm)", "fp16 arithmetic (Arm)"]


def test_unknown_precision_is_fp32_and_describe() -> None:
    peak = estimate_cpu_peak(threads=2, cpuinfo_text=SAPPHIRE_RAPIDS)
    assert set(peak.peaks) == {"fp32", "bf16", "fp16", "int8"}
    assert peak.peak("baseline") == peak.peaks["fp32"]
    lines = peak.describe().splitlines()
    assert lines[0] == peak.feature_line() and "Intel(R) Xeon(R) Platinum 8481C" in lines[0]
    assert len(lines) == 1 + 4  # the feature line, then one line per precision, in this order
    for line, precision in zip(lines[1:], ("fp32", "bf16", "fp16", "int8"), strict=True):
        formula = peak.peaks[precision].formula
        assert line == f"peak {precision}: {formula}"
        assert formula.startswith(peak.peaks[precision].how)
        assert " x 1 cores x 2.70 GHz (cpuinfo MHz) = " in formula
        assert formula.endswith(f"= {peak.peaks[precision].gmacs:,.0f} GMAC/s")


def test_peak_estimate_from_cpuinfo() -> None:
    """Moved from test_bench.py: core count, lanes and the thread cap."""
    info = parse_cpuinfo(SMALL)
    assert info["cores"] == 2  # four hardware threads on two physical cores
    peak = estimate_cpu_peak(threads=8, cpuinfo_text=SMALL)
    assert (peak.fp32_lanes, peak.fma_units, peak.cores) == (16, 2, 2)
    assert peak.clock_source == "cpuinfo MHz"
    assert peak.gmacs == pytest.approx(16 * 2 * 2 * 3.0)
    assert "16 fp32 lanes" in peak.describe() and "Example CPU 9000" in peak.describe()
    assert estimate_cpu_peak(threads=1, cpuinfo_text=SMALL.replace(" avx512f", "")).fp32_lanes == 8
    assert estimate_cpu_peak(threads=1, cpuinfo_text=SMALL).cores == 1


def test_sysfs_max_clock_preferred(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_peak, "_max_mhz_from_sysfs", lambda: 3700.0)
    peak = estimate_cpu_peak(threads=2, cpuinfo_text=GENOA)
    assert (peak.ghz, peak.clock_source) == (3.7, "sysfs max")
    assert peak.peak("int8").gmacs == pytest.approx(4 * AVX512_LANES * UNITS * 2 * 3.7)
    assert "(sysfs max)" in peak.peak("int8").formula
