"""The committed notebooks: no outputs, one documented parameters cell, the project kernel."""
import ast
from pathlib import Path

import nbformat
import papermill
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_the_pipeline_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == ["01_data", "02_train_gan", "02b_train_encoder", "02c_train_classifier",
                                       "03_invert", "03b_tradeoff", "04_baselines", "04b_residual", "04c_realism",
                                       "05_results"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs"
    assert nb.metadata.kernelspec.name == "ganlib"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_parameters_cell_of_annotated_literals(path):
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    lines = [line for line in cells[0].source.splitlines() if line.strip()]
    for line in lines:
        statement = ast.parse(line).body[0]
        assert isinstance(statement, ast.AnnAssign), line
        ast.literal_eval(statement.value)
        assert "  # " in line, f"{path.name}: parameter without a trailing comment: {line}"
    documented = papermill.inspect_notebook(str(path))
    assert set(documented) == {ast.parse(line).body[0].target.id for line in lines}
    assert all(p["help"] for p in documented.values())
    assert "profile" in documented
