"""notebooks/walkthrough.ipynb runs top to bottom on the demo size (a failing cell fails the test)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "walkthrough.ipynb"
CELL_TIMEOUT_S = 1200


@pytest.mark.slow
def test_the_walkthrough_runs_top_to_bottom(workdir, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    (workdir / "sweeps").symlink_to(ROOT / "sweeps")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel draws inline, as in Jupyter
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, when a cell fails
    images = sum(
        1
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    )
    assert images >= 8  # the figures are shown inline
    assert (workdir / "mlruns" / "optuna.db").is_file()
