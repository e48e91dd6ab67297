"""The notebooks in notebooks/ run top to bottom in a clean kernel of this environment."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def execute(notebook, cwd: Path) -> None:
    """Like "Restart and Run All": a new kernel, every cell in order; a failing cell raises.

    The kernel "python3" is this interpreter (jupyter_client starts ``sys.executable``
    for it), so the notebook runs against the project's environment.
    """
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=None, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()


def test_there_is_a_notebook():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb file"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_runs_from_a_clean_kernel(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    execute(notebook, tmp_path)
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors


@pytest.mark.slow
def test_a_failing_cell_fails_the_run(tmp_path):
    """The check above can fail: an error planted in a cell stops the run and raises."""
    notebook = nbformat.read(NOTEBOOKS[0], as_version=4)
    notebook.cells.insert(1, nbformat.v4.new_code_cell('raise RuntimeError("planted")'))
    with pytest.raises(CellExecutionError, match="planted"):
        execute(notebook, tmp_path)
