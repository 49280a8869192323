"""ExecuTorch's and torchao's notices about themselves are dropped; everything else still shows."""

from __future__ import annotations

import logging
import os
import sys

import pytest

from mobilenets.export.foreign_noise import foreign_notices_muted


def test_known_notices_are_dropped_and_other_output_is_kept(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with foreign_notices_muted():
        # What importing ExecuTorch and starting XNNPACK print on an x86 machine without a GPU.
        os.write(2, b"[cpuinfo_utils.cpp:87] Failed to open midr file /sys/devices/soc0/image_version\n")
        os.write(2, b"[threadpool.cpp:66] Resetting threadpool to 2 threads.\n")
        os.write(
            2, b"Failed to load /x/torchao/_C_mxfp8.so: Could not load this library: /x/torchao/_C_mxfp8.so\n"
        )
        logging.getLogger("torchao").warning("Failed to load /x/torchao/_C_cutlass_90a.abi3.so")
        # What must still reach the user: any other native line, and other loggers' warnings.
        os.write(2, b"XNN Runtime creation failed with code: xnn_status_unsupported_parameter\n")
        logging.getLogger("mobilenets.test").warning("a warning of someone else's")
        print("a line of someone else's", file=sys.stderr)
    err = capfd.readouterr().err
    assert "cpuinfo_utils" not in err and "threadpool" not in err and "torchao" not in err
    assert "XNN Runtime creation failed" in err and "a line of someone else's" in err
    assert [record.getMessage() for record in caplog.records] == ["a warning of someone else's"]


def test_the_logger_levels_are_restored(capfd: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("torchao")
    before = logger.level
    with pytest.raises(RuntimeError), foreign_notices_muted():
        raise RuntimeError("a failure inside the block")
    assert logger.level == before
    os.write(2, b"[cpuinfo_utils.cpp:1] after the block\n")  # no longer filtered
    assert "after the block" in capfd.readouterr().err
