"""Notebooks call, show and explain: no code cell defines a function, a class or a lambda, and
code cells stay short (the work is in ganlib, with tests)."""
import ast
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
MAX_LINES = 15


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_definitions_in_notebooks(path):
    for cell in code_cells(path):
        defined = [type(n).__name__ for n in ast.walk(ast.parse(cell.source))
                   if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))]
        assert not defined, f"{path.name}: move {defined} into ganlib:\n{cell.source}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_are_short(path):
    """Every code cell but the parameters cell (one annotated literal per parameter, as papermill reads them)."""
    for cell in code_cells(path):
        if "parameters" in cell.metadata.get("tags", []):
            continue
        lines = cell.source.strip().splitlines()
        assert len(lines) <= MAX_LINES, f"{path.name}: a code cell of {len(lines)} lines:\n{cell.source}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_run_directory_path_is_built_by_hand(path):
    """The run directory names its files (ganlib.core.paths.RunDir): no cell joins onto ``run``."""
    for cell in code_cells(path):
        joined = [ast.unparse(n) for n in ast.walk(ast.parse(cell.source))
                  if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div) and isinstance(n.left, ast.Name)
                  and n.left.id == "run"]
        assert not joined, f"{path.name}: {joined}: name the file with paths.RunDir instead:\n{cell.source}"
