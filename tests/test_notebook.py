"""docs/quickstart.ipynb runs top to bottom in a real Jupyter kernel (nbclient): the Python API end to end."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from experiments.records.run_record import RunRecord

from .conftest import REPO, cli_env

pytestmark = pytest.mark.slow


def test_quickstart_notebook_runs_in_a_real_kernel(tmp_path, monkeypatch):
    notebook = nbformat.read(REPO / "docs" / "quickstart.ipynb", as_version=4)
    for name, value in cli_env().items():
        monkeypatch.setenv(name, value)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("data", {}).get("text/plain", "")) + o.get("text", "") for o in outputs)
    assert "'ok'" in text  # the first run's status
    assert "trainer.max_epoch: no such key; did you mean trainer.max_epochs=3?" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2  # the comparison's figures
    (sweep,) = Path(tmp_path, "outputs", "multirun").glob("*/*")
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1", "2", "3"]
    assert len([d for d in Path(tmp_path, "outputs", "runs").glob("*/*") if RunRecord.exists(d)]) == 1
    assert os.environ["WANDB_MODE"] == "offline"
