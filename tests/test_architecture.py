"""The package's shape, read from its source: few top-level modules, no import cycle, layers that
depend one way, and a light ``import mobilenets``.

The import graph comes from ``benchmarks/code_layout.py``, which parses every module with ``ast``
and counts imports inside functions too (a function-level import that closes a loop is a loop).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from code_layout import DEFAULT_SRC, find_cycles, import_graph, read_modules

MODULES = read_modules(DEFAULT_SRC)
GRAPH = import_graph(MODULES)

# Lowest first. A module may import its own subpackage and anything in a lower layer; never a
# higher layer, nor another subpackage of its own layer (those stay independent of each other).
LAYERS: list[set[str]] = [
    {"printable", "interrupts", "config_dicts", "version", "output_paths", "atomic_files"},
    {"models"},
    {"cost", "weights", "data"},
    {"train", "predict", "export"},
    {"bench"},
    {"demo"},
    {"cli"},
    {"__main__"},
]
# The top-level base modules build on each other in this order (atomic_files checks output paths).
BASE_ORDER = ["printable", "interrupts", "config_dicts", "version", "output_paths", "atomic_files"]
# Imports inside functions, each with the reason it is not at the top of its file. Anything else
# must be a file-level import: these are the only lazy ones the package has.
LAZY_IMPORTS = {
    # `import mobilenets` stays light: the converters load when convert_weights is first used.
    ("mobilenets", "mobilenets.weights.convert"),
    # Building by name never loads the converters or the downloader; only foreign files and
    # official sources do.
    ("mobilenets.weights.create", "mobilenets.weights.convert"),
    ("mobilenets.weights.create", "mobilenets.weights.official"),
    # The old name mobilenets.export.demo_deploy, forwarded without the package importing upwards.
    ("mobilenets.export", "mobilenets.demo"),
    # The observer subclasses torchao's, an optional dependency of int8 ExecuTorch export only.
    ("mobilenets.export.xnnpack_int8", "mobilenets.export.percentile_observer"),
}


def unit(module: str) -> str:
    """The top-level name a module belongs to: its subpackage, or itself at the top level."""
    parts = module.split(".")
    return parts[0] if len(parts) == 1 else parts[1]


def layer_of(name: str) -> int:
    return next(i for i, members in enumerate(LAYERS) if name in members)


def test_at_most_ten_top_level_modules_beside_the_subpackages() -> None:
    top = sorted(p.stem for p in (DEFAULT_SRC / "mobilenets").glob("*.py"))
    subpackages = sorted(
        p.name for p in (DEFAULT_SRC / "mobilenets").iterdir() if (p / "__init__.py").is_file()
    )
    assert len(top) <= 10, top
    # Every unit is placed in a layer, so a new module or subpackage has to be placed too.
    placed = set().union(*LAYERS) | {"__init__"}
    assert set(top) | set(subpackages) <= placed, sorted(set(top) | set(subpackages) - placed)


def test_the_import_graph_has_no_cycle() -> None:
    assert len(MODULES) > 60  # the parser found the package
    assert find_cycles(GRAPH) == []


def test_a_planted_cycle_is_found() -> None:
    """The cycle finder itself: a loop through a function-level import counts."""
    graph = {name: set(targets) for name, targets in GRAPH.items()}
    graph["mobilenets.models.registry"].add("mobilenets.weights.create")  # the loop issue 14 removed
    cycles = find_cycles(graph)
    assert any({"mobilenets.models.registry", "mobilenets.weights.create"} <= set(c) for c in cycles)


def test_dependencies_point_one_way() -> None:
    wrong = []
    for module, targets in GRAPH.items():
        if module == "mobilenets":  # the public face re-exports from below
            continue
        source = unit(module)
        for target in targets:
            if (module, target) in LAZY_IMPORTS and target == "mobilenets.demo":
                continue  # the documented compatibility alias
            destination = unit(target)
            if destination == source:
                continue
            if target == "mobilenets":
                wrong.append(f"{module} imports the package's __init__")
            elif source in BASE_ORDER and destination in BASE_ORDER:
                if BASE_ORDER.index(destination) >= BASE_ORDER.index(source):
                    wrong.append(f"{module} -> {target}")
            elif layer_of(destination) >= layer_of(source):
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_function_level_imports_are_the_documented_lazy_ones() -> None:
    found = {(name, target) for name, m in MODULES.items() for target in m.function_level_imports}
    assert found == LAZY_IMPORTS


HEAVY = ("mobilenets.weights.convert", "mobilenets.weights.official", "mobilenets.export", "mobilenets.bench")
# The runtimes and readers the lazy paths use (the downloader is the only user of urllib.request).
RUNTIMES = ("onnx", "onnxruntime", "openvino", "executorch", "h5py", "rich")


@pytest.mark.parametrize(
    "code",
    [
        "import mobilenets",
        "import mobilenets; mobilenets.create_model('mobilenet_v3_large', num_classes=10)",
        "import mobilenets; mobilenets.profile('mobilenet_v2', 160)",
    ],
)
def test_building_and_profiling_load_no_converter_downloader_or_runtime(code: str) -> None:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    )
    assert "mobilenets.models.mobilenet" in loaded  # the probe ran the package
    offending = [m for m in loaded if m.startswith(HEAVY) or (m.split(".")[0] in RUNTIMES and m in RUNTIMES)]
    assert offending == []


def test_the_old_public_names_still_work() -> None:
    code = (
        "import mobilenets, mobilenets.export as e\n"
        "from mobilenets.train import TrainConfig, fit\n"
        "names = ['FeatureInfo', 'MobileNet', 'MobileNetConfig', 'PreprocessConfig', 'convert_weights',\n"
        "         'create_model', 'list_models', 'load_model', 'make_divisible', 'profile',\n"
        "         'register_model', 'save_weights', '__version__']\n"
        "missing = [n for n in names if not hasattr(mobilenets, n)]\n"
        "missing += [n for n in e.__all__ if not hasattr(e, n)]\n"
        "print(missing)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_layers_cover_every_subpackage_on_disk() -> None:
    on_disk = {p.name for p in Path(DEFAULT_SRC, "mobilenets").iterdir() if (p / "__init__.py").is_file()}
    assert on_disk == {"models", "weights", "data", "cost", "train", "predict", "export", "bench", "cli"}
