"""``mobilenets profile``: tables, machine-readable output, plots, the papers, usage errors."""

import csv
import io
import json
from pathlib import Path

import pytest

from mobilenets.cli import main


def test_by_kind_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "mobilenet_v1", "--by-kind"]) == 0
    out = capsys.readouterr().out
    assert "568,740,352" in out and "94.86" in out and "1.91" in out


def test_width_and_resolution_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "mobilenet_v1", "--width", "0.5", "--resolution", "160", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["input_size"] == [3, 160, 160] and data["totals"]["mult_adds"] == 76_524_800  # Table 6-7 grid
    assert main(["profile", "mobilenet_v1", "--resolution-mult", "0.5714285714", "--csv", "--by-kind"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sum(int(r["mult_adds"]) for r in rows) == 186_400_768  # 128 px, V1 Table 7


def test_plot_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_png = tmp_path / "v1.png"
    assert main(["profile", "mobilenet_v1_0.25", "--by-kind", "--plot", str(out_png)]) == 0
    assert out_png.read_bytes()[:4] == b"\x89PNG"


def test_paper_v1_flags_the_misprint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "--paper", "v1"]) == 0
    out = capsys.readouterr().out
    for text in ("Table 2", "Table 4", "Table 6", "Table 7", "misprint", "1.19", "1.91", "4,867,293,184"):
        assert text in out


def test_paper_v3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "--paper", "v3"]) == 0
    out = capsys.readouterr().out
    assert "216,589,760" in out and "43,399,344" in out and "219" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["profile"], "give a model NAME"),
        (["profile", "--paper", "v2", "--width", "0.5"], "takes no --width"),
        (["profile", "--paper", "v3", "--plot", "x.png"], "only V1 has a width x resolution grid"),
        (["profile", "mobilenet_v1", "--resolution", "8"], "below the minimum"),
        (["profile", "mobilenet_v1_0.75", "--width", "0.5"], "contradicts the model name"),
        (["profile", "mobilenet_v1", "--plot", "kinds.jpg"], "must end in .png"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_thread_setting_is_restored(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    before = torch.get_num_threads()
    assert main(["profile", "mobilenet_v1_0.25", "--csv"]) == 0
    assert main(["profile"]) == 2  # and after an error
    assert torch.get_num_threads() == before
