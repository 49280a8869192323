"""The package's shape, measured from its source: what issue 14 asked to see before and after.

Prints, for ``src/mobilenets``:
- the number of modules per subpackage (``.`` is the top level);
- the longest functions;
- the function-level imports of the package's own modules, counted (lazy imports of optional
  third-party packages are not counted: they are how an optional dependency stays optional);
- any import cycle, function-level imports included;
- the time ``import mobilenets`` takes once torch is already imported, median of fresh processes.

    python benchmarks/code_layout.py            # figures for the working tree
    python benchmarks/code_layout.py --src DIR  # for another checkout's src/
"""

from __future__ import annotations

import argparse
import ast
import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "mobilenets"
DEFAULT_SRC = Path(__file__).resolve().parents[1] / "src"


@dataclass
class ModuleSource:
    name: str  # dotted, e.g. mobilenets.models.layers
    path: Path
    is_package: bool
    top_level_imports: set[str] = field(default_factory=set)
    function_level_imports: set[str] = field(default_factory=set)
    function_level_count: int = 0


def module_name(src: Path, path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(src).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imported_names(node: ast.Import | ast.ImportFrom, module: ModuleSource, known: set[str]) -> set[str]:
    """The package's own modules an import statement loads (a package's ``__init__`` included)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE}
    base = node.module or ""
    if node.level:  # relative import
        anchor = module.name.split(".")
        if not module.is_package:
            anchor = anchor[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    if base.split(".")[0] != PACKAGE:
        return set()
    targets = set()
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        targets.add(submodule if submodule in known else base)
    return targets


def read_modules(src: Path) -> dict[str, ModuleSource]:
    paths = sorted((src / PACKAGE).rglob("*.py"))
    modules = {}
    for path in paths:
        name, is_package = module_name(src, path)
        modules[name] = ModuleSource(name, path, is_package)
    known = set(modules)
    for module in modules.values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"))
        type_checking_only: set[int] = set()
        for node in ast.walk(tree):
            if _is_type_checking_block(node):
                type_checking_only.update(id(child) for child in ast.walk(node))
        function_nodes: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                function_nodes.update(id(child) for child in ast.walk(node) if child is not node)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom) or id(node) in type_checking_only:
                continue
            targets = _imported_names(node, module, known) - {module.name}
            if not targets:
                continue
            if id(node) in function_nodes:
                module.function_level_imports |= targets
                module.function_level_count += 1
            else:
                module.top_level_imports |= targets
    return modules


def import_graph(modules: dict[str, ModuleSource]) -> dict[str, set[str]]:
    """Module -> the package modules it imports, at file level or inside functions."""
    return {
        name: {t for t in m.top_level_imports | m.function_level_imports if t in modules}
        for name, m in modules.items()
    }


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for successor in graph.get(todo.pop(), ()):
            if successor not in seen:
                seen.add(successor)
                todo.append(successor)
    return seen


def longest_functions(modules: dict[str, ModuleSource], count: int) -> list[tuple[int, str]]:
    lengths = []
    for module in modules.values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lengths.append((node.end_lineno - node.lineno + 1, f"{module.name}.{node.name}"))
    return sorted(lengths, reverse=True)[:count]


def modules_per_subpackage(modules: dict[str, ModuleSource]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for module in modules.values():
        if module.name == PACKAGE or module.name.endswith("__main__"):
            continue
        parts = module.name.split(".")[1:]
        if module.is_package:
            continue
        counts["." if len(parts) == 1 else "/".join(parts[:-1]) + "/"] += 1
    return counts


IMPORT_TIMER = """
import time, torch
start = time.perf_counter()
import mobilenets
elapsed = time.perf_counter() - start
import sys
print(elapsed, *sorted(m for m in sys.modules if m.split('.')[0] in {{'rich', 'onnxruntime', 'openvino',
      'executorch', 'onnx', 'h5py', 'matplotlib', 'kornia'}} and '.' not in m))
"""


def import_seconds(src: Path, repeats: int) -> tuple[float, list[str]]:
    """Median seconds for ``import mobilenets`` after ``import torch``, each in a fresh process."""
    times = []
    heavy: list[str] = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_TIMER.format()],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        ).stdout.split()
        times.append(float(out[0]))
        heavy = out[1:]
    return statistics.median(times), heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help="the src/ folder to measure")
    parser.add_argument("--repeats", type=int, default=7, help="fresh processes for the import time")
    args = parser.parse_args()
    modules = read_modules(args.src)

    print("modules per subpackage:")
    for subpackage, n in sorted(modules_per_subpackage(modules).items()):
        print(f"  {subpackage:<12} {n}")
    print(f"  {'total':<12} {sum(modules_per_subpackage(modules).values())}")

    print("longest functions (lines):")
    for length, name in longest_functions(modules, 5):
        print(f"  {length:4d}  {name}")

    function_level = {n: m.function_level_count for n, m in modules.items() if m.function_level_count}
    print(
        f"function-level imports of the package's own modules: {sum(function_level.values())} "
        f"in {len(function_level)} files"
    )
    cycles = find_cycles(import_graph(modules))
    print(f"import cycles: {len(cycles)}")
    for cycle in cycles:
        print(f"  {len(cycle)} modules: {', '.join(cycle)}")

    seconds, heavy = import_seconds(args.src, args.repeats)
    print(
        f"import mobilenets after import torch: {seconds * 1000:.0f} ms "
        f"(median of {args.repeats} fresh processes)"
    )
    print(f"  optional or heavy packages it loads: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
