"""OpenVINO must not leave the process on a freed signal stack (the crash behind a CI worker).

OpenVINO's CPU plugin gives the thread an alternate signal stack per ``Core`` and restores the
previous one when that Core goes. Two Cores released out of order left the thread on a freed
stack; the next signal Python handled (here the SIGCHLD torch's DataLoader listens for) killed
the process. The child process below does what a bench run does, then receives a signal.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    """
    import gc, signal, subprocess, sys
    from pathlib import Path
    from mobilenets import create_model
    from mobilenets.export.onnx_export import export_onnx_plain
    from mobilenets.export.runtimes import openvino_compiled

    model = create_model("mobilenet_v3_small", num_classes=4, resolution_mult=32 / 224).eval()
    path = export_onnx_plain(model, Path(sys.argv[1]), (3, 32, 32), 1)
    first = openvino_compiled(path, threads=1, batch=1)
    second = openvino_compiled(path, threads=1, precision=None, batch=1)
    del first  # released before the one made after it: out of order
    gc.collect()
    del second
    gc.collect()
    signal.signal(signal.SIGCHLD, lambda *_: None)  # as torch's DataLoader does
    subprocess.run([sys.executable, "-c", "pass"], check=True)  # the child's exit delivers SIGCHLD
    print("survived")
    """
)


@pytest.mark.slow  # about 10 s: two OpenVINO compiles in a fresh interpreter
def test_two_compiled_models_released_out_of_order_leave_signals_deliverable(tmp_path: Path) -> None:
    pytest.importorskip("openvino", reason="needs the deploy extra")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "m.onnx")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and "survived" in result.stdout, (result.returncode, result.stderr[-2000:])
