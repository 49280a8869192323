"""The documentation's examples run: every Python and `mobilenets` block of README.md and docs/*.md.

What runs:

- A ```python block runs in-process, in a fresh namespace (so every block must be complete on
  its own, as a reader copies it) and in a fresh temporary working directory.
- A ```bash, ```sh or ```console block that holds a `mobilenets ...` command runs each command
  as ``python -m mobilenets ...`` (this interpreter) in a subprocess, in a fresh temporary
  working directory, and requires exit code 0. The commands of one block share that directory
  and run in order, so a later command may use what an earlier one wrote (train, then eval). In
  a console block only the ``$ `` lines are commands; ``$ echo $?`` followed by a number is the
  exit code the command before it must end with. ``head``, ``cat`` and ``ls`` run as they are;
  any other command (``torchrun``, ``pip``, ...) cannot run here and needs a skip marker.
- A block that cannot run offline, needs files the reader would have, or takes minutes is marked
  on the line just before its fence::

      <!-- docs-test: skip (downloads official weights) -->

  Each becomes a skipped test with that reason (``pytest -ra`` lists and counts them). A marker
  without a reason, an unknown marker, or one that is not right before a fence fails.

The working directory of every block starts with these files, made once per session:

- ``model.safetensors``: ``save_weights(create_model("mobilenet_v1_0.25_128", num_classes=10))``,
  random weights (a small V1, so that export examples take seconds, not a minute);
- ``mobilenet_5_0_160_tf.h5``: a file in the layout of keras-applications' official
  MobileNet (α 0.5, 160 px), written with h5py from a random mobilenets model (no Keras needed);
- ``mobilenet_v1_0.5_160.safetensors``: that file, converted;
- ``chelsea.png``, ``coffee.png``: scikit-image's sample photos;
- ``photos/``: ``astronaut.jpg``, ``rocket.jpg``, ``camera.png``, ``coffee.png`` and
  ``truncated.jpg`` (a JPEG cut short);
- ``damaged.safetensors``: ``model.safetensors`` with ``preprocess.std = [0, 0, 0]`` in its metadata.

``MOBILENETS_CACHE`` points at an empty temporary folder, and ``digits`` is built in.

Speed: the command-line blocks start in the background, two at a time, as soon as the first
block test runs, so they overlap each other and the in-process Python blocks (each command pays
about 2 s for importing torch). They are marked slow, and so are the Python blocks that train or
export (``SLOW_CALLS``). The static checks at the end (links, the support table against
``weights.catalog``) take well under a second.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = ("bash", "sh", "shell", "console")
RUNNABLE_TOOLS = ("head", "cat", "ls")  # shown in console blocks to look at an output; harmless
SLOW_CALLS = ("fit(", "export_model(")
COMMAND_TIMEOUT = 300

FENCE = re.compile(r"^(?P<indent> *)```(?P<language>[\w-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*docs-test:(?P<body>.*?)-->\s*$")
SKIP = re.compile(r"^\s*skip\s*\((?P<reason>.*)\)\s*$")


@dataclass
class Block:
    """One fenced code block of a page."""

    page: str  # relative to the repository root
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    skip_reason: str | None = None
    marker_error: str | None = None  # a malformed marker: the test fails with this
    commands: list[list[str]] = field(default_factory=list)  # shell blocks: argv per command
    expected_codes: list[int] = field(default_factory=list)
    unrunnable: list[str] = field(default_factory=list)  # shell lines this test cannot run

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def is_python(self) -> bool:
        return self.language == "python"

    @property
    def is_cli(self) -> bool:
        return self.language in SHELL_LANGUAGES and bool(self.commands or self.unrunnable)


def _parse_marker(text: str) -> tuple[str | None, str | None]:
    """(skip reason, error) of a ``<!-- docs-test: ... -->`` line."""
    body = MARKER.match(text)
    assert body is not None
    skip = SKIP.match(body["body"])
    if skip is not None and skip["reason"].strip():
        return skip["reason"].strip(), None
    if body["body"].strip().startswith("skip"):
        return None, "a block is skipped without a reason: write <!-- docs-test: skip (why it cannot run) -->"
    return None, f"unknown docs-test marker {text.strip()!r}; write <!-- docs-test: skip (reason) -->"


def _shell_lines(block: Block) -> list[tuple[str, str]]:
    """The command lines of a shell block (continuations joined), each with the line after it."""
    raw = block.code.splitlines()
    lines: list[tuple[str, str]] = []
    pending = ""
    for index, text in enumerate(raw):
        if block.language == "console" and not pending:
            if not text.startswith("$ "):
                continue  # output
            text = text[2:]
        text = text.strip()
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        command, pending = pending + text, ""
        if command and not command.startswith("#"):
            lines.append((command, raw[index + 1] if index + 1 < len(raw) else ""))
    return lines


def _names_mobilenets(argv: list[str]) -> bool:
    return any(token == "mobilenets" or token.endswith("/mobilenets") for token in argv)


def _parse_commands(block: Block) -> None:
    for line, after in _shell_lines(block):
        argv = shlex.split(line, comments=True)
        if not argv:
            continue
        if argv == ["echo", "$?"] and block.language == "console" and block.commands:
            block.expected_codes[-1] = int(after)  # the exit code the page shows for the command before
        elif argv[0] == "mobilenets":
            block.commands.append([sys.executable, "-m", "mobilenets", *argv[1:]])
            block.expected_codes.append(0)
        elif argv[0] in RUNNABLE_TOOLS and block.commands:
            block.commands.append(argv)
            block.expected_codes.append(0)
        elif _names_mobilenets(argv):
            block.unrunnable.append(line)


def parse_page(path: Path) -> tuple[list[Block], list[str]]:
    """Every fenced block of a page, and the errors of markers that precede no fence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    page = str(path.relative_to(ROOT))
    blocks: list[Block] = []
    errors: list[str] = []
    index = 0
    while index < len(lines):
        if MARKER.match(lines[index]) and not FENCE.match(lines[index + 1] if index + 1 < len(lines) else ""):
            errors.append(
                f"{page}:{index + 1}: a docs-test marker must be on the line just before a ``` fence"
            )
        opening = FENCE.match(lines[index])
        if not opening or not opening["language"]:
            index += 1
            continue
        indent = len(opening["indent"])
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        code = "\n".join(line[indent:] for line in lines[index + 1 : end])
        block = Block(page, index + 1, opening["language"], code)
        if index > 0 and MARKER.match(lines[index - 1]):
            block.skip_reason, block.marker_error = _parse_marker(lines[index - 1])
        if block.language in SHELL_LANGUAGES:
            _parse_commands(block)
        blocks.append(block)
        index = end + 1
    return blocks, errors


def collect() -> tuple[list[Block], list[Block], list[str]]:
    python_blocks: list[Block] = []
    cli_blocks: list[Block] = []
    errors: list[str] = []
    for path in PAGES:
        blocks, page_errors = parse_page(path)
        errors += page_errors
        for block in blocks:
            if block.marker_error:
                errors.append(f"{block.id}: {block.marker_error}")
            if block.is_python:
                python_blocks.append(block)
            elif block.is_cli or (block.skip_reason is not None and block.language in SHELL_LANGUAGES):
                cli_blocks.append(block)
    return python_blocks, cli_blocks, errors


PYTHON_BLOCKS, CLI_BLOCKS, MARKER_ERRORS = collect()


def _params(blocks: list[Block], slow: bool | None = None) -> list:
    params = []
    for block in blocks:
        marks: list = []
        if block.skip_reason is not None and block.marker_error is None:
            marks.append(pytest.mark.skip(reason=f"{block.id}: docs-test: skip ({block.skip_reason})"))
        elif slow or (slow is None and any(call in block.code for call in SLOW_CALLS)):
            marks.append(pytest.mark.slow)
        params.append(pytest.param(block, id=block.id, marks=marks))
    return params


# -- the files every block starts with ------------------------------------------------------------


def _write_keras_v1_file(path: Path) -> None:
    """An HDF5 file in the layout of keras-applications' MobileNet weights (Keras 2 ``.h5``).

    One group per layer with weights, in model order, named as Keras names them (``conv1``,
    ``conv1_bn``, ``conv_dw_1``, ...), each listing its arrays in ``weight_names``, in Keras'
    shapes; the 1000-class head is a 1x1 convolution (``conv_preds``), as in Keras.
    """
    import h5py
    import torch

    import mobilenets

    torch.manual_seed(0)
    model = mobilenets.create_model("mobilenet_v1_0.5_160", act="relu6", padding="tf_same", bn_eps=1e-3)
    layers: list[tuple[str, dict[str, torch.Tensor]]] = []
    block_names = iter(f"{kind}_{i}" for i in range(1, 14) for kind in ("conv_dw", "conv_pw"))
    name = "conv1"
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            weight = module.weight.detach()
            if module.groups > 1:  # depthwise: (C, 1, kh, kw) -> (kh, kw, C, 1)
                layers.append((name, {"depthwise_kernel": weight.permute(2, 3, 0, 1)}))
            else:  # (out, in, kh, kw) -> (kh, kw, in, out)
                layers.append((name, {"kernel": weight.permute(2, 3, 1, 0)}))
        elif isinstance(module, torch.nn.BatchNorm2d):
            roles = {"gamma": module.weight, "beta": module.bias}
            roles |= {"moving_mean": module.running_mean, "moving_variance": module.running_var}
            layers.append((f"{name}_bn", {role: value.detach() for role, value in roles.items()}))
            name = next(block_names, "conv_preds")
        elif isinstance(module, torch.nn.Linear):
            kernel = module.weight.detach().t()[None, None]  # (1, 1, in, out)
            layers.append(("conv_preds", {"kernel": kernel, "bias": module.bias.detach()}))
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [layer.encode() for layer, _ in layers]
        handle.attrs["backend"] = b"tensorflow"
        for layer, arrays in layers:
            group = handle.create_group(layer)
            group.attrs["weight_names"] = [f"{layer}/{role}:0".encode() for role in arrays]
            for role, value in arrays.items():
                group.create_dataset(f"{layer}/{role}:0", data=value.contiguous().numpy())


def _write_images(folder: Path) -> None:
    from PIL import Image
    from skimage import data

    photos = folder / "photos"
    photos.mkdir()
    Image.fromarray(data.chelsea()).save(folder / "chelsea.png")
    Image.fromarray(data.coffee()).save(folder / "coffee.png")
    Image.fromarray(data.astronaut()).save(photos / "astronaut.jpg", quality=90)
    Image.fromarray(data.rocket()).save(photos / "rocket.jpg", quality=90)
    Image.fromarray(data.camera()).save(photos / "camera.png")
    shutil.copy(folder / "coffee.png", photos / "coffee.png")
    whole = (photos / "astronaut.jpg").read_bytes()
    (photos / "truncated.jpg").write_bytes(whole[: len(whole) // 2])


def _write_damaged(source: Path, path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(source), "pt") as handle:
        metadata = dict(handle.metadata())
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    preprocess = json.loads(metadata["preprocess"])
    preprocess["std"] = [0.0, 0.0, 0.0]
    metadata["preprocess"] = json.dumps(preprocess)
    save_file(tensors, str(path), metadata=metadata)


@pytest.fixture(scope="session")
def setup_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder whose contents every block's working directory starts with (see the docstring)."""
    import mobilenets

    folder = tmp_path_factory.mktemp("docs-setup")
    model = mobilenets.create_model("mobilenet_v1_0.25_128", num_classes=10)
    mobilenets.save_weights(model, folder / "model.safetensors")
    _write_keras_v1_file(folder / "mobilenet_5_0_160_tf.h5")
    mobilenets.convert_weights(
        folder / "mobilenet_5_0_160_tf.h5", folder / "mobilenet_v1_0.5_160.safetensors"
    )
    _write_images(folder)
    _write_damaged(folder / "model.safetensors", folder / "damaged.safetensors")
    return folder


def _working_directory(setup: Path, parent: Path, name: str) -> Path:
    folder = parent / re.sub(r"[^\w.-]", "_", name)
    shutil.copytree(setup, folder)
    return folder


# -- command-line blocks, run in the background ---------------------------------------------------


@dataclass
class CommandResult:
    argv: list[str]
    expected: int
    code: int
    output: str


def _run_cli_block(block: Block, folder: Path, env: dict[str, str]) -> list[CommandResult]:
    results = []
    for argv, expected in zip(block.commands, block.expected_codes, strict=True):
        done = subprocess.run(
            argv, cwd=folder, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
        results.append(CommandResult(argv, expected, done.returncode, done.stdout + done.stderr))
        if done.returncode != expected:
            break  # the rest of the block depends on this one
    return results


@pytest.fixture(scope="session")
def cli_runs(
    request: pytest.FixtureRequest, setup_files: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[list[CommandResult]]]]:
    """Futures of the selected command-line blocks, started two at a time in the background."""
    selected = {
        item.callspec.params["block"].id
        for item in request.session.items
        if hasattr(item, "callspec") and isinstance(item.callspec.params.get("block"), Block)
    }
    env = {**os.environ, "MOBILENETS_CACHE": str(tmp_path_factory.mktemp("docs-cache")), "COLUMNS": "120"}
    parent = tmp_path_factory.mktemp("docs-cli")
    futures: dict[str, Future[list[CommandResult]]] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for block in CLI_BLOCKS:
            if block.id in selected and block.skip_reason is None and block.marker_error is None:
                if block.unrunnable:
                    continue  # the test reports it
                folder = _working_directory(setup_files, parent, block.id)
                futures[block.id] = pool.submit(_run_cli_block, block, folder, env)
        yield futures
        for future in futures.values():
            future.cancel()


# -- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", _params(PYTHON_BLOCKS))
def test_python_block(
    block: Block,
    cli_runs: dict[str, Future],
    setup_files: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Starting ``cli_runs`` first lets the command-line blocks run while these do."""
    assert block.marker_error is None, f"{block.id}: {block.marker_error}"
    folder = _working_directory(setup_files, tmp_path, "work")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("MOBILENETS_CACHE", str(tmp_path / "cache"))
    code = compile(block.code, f"{block.page}, block at line {block.line}", "exec")
    exec(code, {"__name__": "__docs__"})


@pytest.mark.parametrize("block", _params(CLI_BLOCKS, slow=True))
def test_cli_block(block: Block, cli_runs: dict[str, Future]) -> None:
    assert block.marker_error is None, f"{block.id}: {block.marker_error}"
    assert not block.unrunnable, (
        f"{block.id}: cannot run {block.unrunnable} here (only `mobilenets ...`, "
        f"{', '.join(RUNNABLE_TOOLS)} and `echo $?`); mark the block <!-- docs-test: skip (reason) -->"
    )
    results = cli_runs[block.id].result(timeout=COMMAND_TIMEOUT * len(block.commands))
    for result in results:
        shown = shlex.join(
            ["mobilenets", *result.argv[3:]] if result.argv[0] == sys.executable else result.argv
        )
        assert result.code == result.expected, (
            f"{block.id}: `{shown}` exited with {result.code}, the page says {result.expected}:\n"
            + result.output[-3000:]
        )
    assert len(results) == len(block.commands)


def test_markers_are_well_formed() -> None:
    """A skip needs a reason, and a marker must sit on the line just before a fence."""
    assert not MARKER_ERRORS, "\n".join(MARKER_ERRORS)


def test_the_docs_have_examples_to_run() -> None:
    """Guards the parser: if it stopped finding blocks, every test above would pass vacuously."""
    runnable_python = [b for b in PYTHON_BLOCKS if b.skip_reason is None]
    runnable_cli = [b for b in CLI_BLOCKS if b.skip_reason is None]
    assert len(runnable_python) >= 10, [b.id for b in runnable_python]
    assert sum(len(b.commands) for b in runnable_cli) >= 15, [b.id for b in runnable_cli]
    readme = [b for b in PYTHON_BLOCKS + CLI_BLOCKS if b.page == "README.md" and b.skip_reason is None]
    assert len(readme) >= 4


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in PAGES[1:] if f"(docs/{p.name})" not in readme]
    assert not missing, f"README.md does not link {missing}"


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    anchors = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^#{1,6} (.+)$", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading[1].strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def test_local_links_resolve() -> None:
    """Relative links in the README, docs/ and benchmarks/ pages point at files and headings that exist."""
    pages = [
        *PAGES,
        ROOT / "benchmarks" / "README.md",
        *sorted((ROOT / "benchmarks" / "results").glob("*.md")),
    ]
    broken = []
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+://", target):
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (page.parent / file_part).resolve() if file_part else page
            if not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_readme_support_table_matches_the_catalog() -> None:
    """The README's table of variants and sources is what ``weights.catalog`` publishes."""
    import torch

    import mobilenets
    from mobilenets.weights.catalog import SOURCES, published_models, published_sizes, published_sources

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Supported models and official weights", 1)[1].split("\n## ", 1)[0]
    header = next(line for line in section.splitlines() if line.startswith("| model |"))
    columns = [cell.strip().lower() for cell in header.strip("|").split("|")]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| `")
    ]
    names = [row[0].strip("`") for row in rows]
    assert names == published_models()
    for row in rows:
        name = row[0].strip("`")
        marks = {source: row[columns.index(source)] for source in SOURCES}
        assert [s for s in SOURCES if marks[s] == "✓"] == published_sources(name), name
        assert all(mark in ("✓", "—") for mark in marks.values()), row
        assert [int(size) for size in row[columns.index("input sizes")].split(", ")] == published_sizes(name)
        with torch.device("meta"):
            model = mobilenets.create_model(name)
        assert row[columns.index("α")] == f"{model.config.width_mult:g}", name
        assert row[columns.index("parameters")] == f"{sum(p.numel() for p in model.parameters()):,}", name
