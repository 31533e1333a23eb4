"""The package's layering (docs/architecture.md): subpackages in one order, each importing only its own
layer and the layers below it, no import cycles, and the evaluation and report layers free of torch."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ganlib"
# lowest first: a module may import from its own layer and from those before it
LAYERS = ("core", "data", "formats", "models", "inversion", "codecs", "evaluation", "report", "pipeline", "cli")
TORCH_FREE = ("evaluation", "report")  # importing these must not import torch (the report renders without it)
# imports inside functions, each with the reason it is not at the top of its module
LAZY = {
    ("ganlib.data.datasets", "torchvision.datasets"): "the last-resort Fashion-MNIST download, rarely needed",
}


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, outside any function?) for every import statement of the file; ``from ganlib.x
    import y`` counts as importing ganlib.x.y when that is a module, else ganlib.x."""
    known = modules()
    tree = ast.parse(path.read_text())
    in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f)}
    top = {id(n) for n in ast.walk(tree)} - in_function
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                name = f"{node.module}.{a.name}"
                out.append((name if name in known else node.module, id(node) in top))
    return out


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] not in LAYERS:  # ganlib/__init__ and __main__ (the command line)
        return LAYERS.index("cli")
    return LAYERS.index(parts[1])


def test_every_subpackage_is_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(LAYERS)
    assert {m.split(".")[1] for m in modules() if m.count(".") >= 1} - {"__main__"} == set(LAYERS)


@pytest.mark.parametrize("module", sorted(modules()))
def test_imports_point_down(module):
    for name, _ in imports(modules()[module]):
        if name.startswith("ganlib."):
            assert layer(name) <= layer(module), (f"{module} ({LAYERS[layer(module)]}) imports {name} "
                                                  f"({LAYERS[layer(name)]}), a higher layer")


def test_no_import_inside_a_function_without_a_reason():
    found = {(m, name) for m, path in modules().items() for name, at_top in imports(path) if not at_top}
    assert found == set(LAZY), f"imports inside functions: {sorted(found - set(LAZY))}; gone: {set(LAZY) - found}"


def test_no_import_cycle():
    graph = {m: {n for n, _ in imports(p) if n in modules() and n != m} for m, p in modules().items()}
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for n in sorted(graph[m]):
            assert state.get(n) != 1, f"import cycle: {' -> '.join([*stack, m, n])}"
            if n not in state:
                visit(n, [*stack, m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_the_evaluation_and_report_layers_import_no_torch():
    names = sorted(m for m in modules() if layer(m) in [LAYERS.index(t) for t in TORCH_FREE]
                   and not m.endswith("__main__"))
    code = f"import sys\nfor m in {names!r}:\n    __import__(m)\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", f"importing {names} imports torch"


def test_the_tests_mirror_the_package():
    tests = PACKAGE.parent / "tests"
    assert {p.name for p in tests.iterdir() if p.is_dir() and list(p.glob("test_*.py"))} == {*LAYERS, "system"}
    assert not list(tests.glob("test_*.py")), "unit tests go in the folder of the layer they test, the rest in system/"
