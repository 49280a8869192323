"""The command line: the zoo table and usage errors."""

import subprocess
import sys

import pytest

from mobilenets.cli import main


def test_models_command_prints_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "mobilenet_v1_0.25", "mobilenet_v3_small"]) == 0
    out = capsys.readouterr().out
    assert "470,072" in out and "2,542,856" in out and "(1, 1000)" in out


def test_unknown_model_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "mobilenet_v4"]) == 2
    assert "unknown model 'mobilenet_v4'" in capsys.readouterr().err


def test_console_script_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mobilenets", "models", "mobilenet_v2"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "3,504,872" in result.stdout
