"""The example notebook runs from top to bottom (so that it never rots)."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from conftest import REPO


def test_the_example_notebook_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VERBATIM_REPO", str(REPO))
    notebook = nbformat.read(REPO / "python" / "examples" / "tour.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    text = "\n".join(str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", "")) for output in outputs)
    assert "1 documents" in text and "link" in text, text
    assert any("image/png" in output.get("data", {}) for output in outputs) or "Figure" in text
