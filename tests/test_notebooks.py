"""The example notebooks, run top to bottom in a real Jupyter kernel on tiny settings (their
parameters cell overridden, as papermill does), against real parts: sshd boards, an S3 server,
real VOC annotations. Stored without outputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT
from tests.voc import voc_coco

pytestmark = pytest.mark.slow
NOTEBOOKS = ROOT / "examples" / "notebooks"
TINY = {"images": 24, "size": (64, 64), "epochs": 1, "runs": 3,
        "targets": ("onnx:fp32", "tflite:int8")}  # fmt: skip


def execute(name: str, cwd: Path, **parameters: Any) -> nbformat.NotebookNode:
    """Run ``name`` in ``cwd`` with ``parameters`` set after its parameters cell."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    (at,) = [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
    given = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    notebook.cells.insert(at + 1, nbformat.v4.new_code_cell(given))
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()  # fmt: skip
    return notebook


def outputs(notebook: nbformat.NotebookNode, mime: str) -> list[str]:
    return [
        str(out["data"][mime])
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if mime in out.get("data", {})
    ]


def test_notebooks_are_stored_without_outputs_and_take_parameters() -> None:
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == ["boards.ipynb", "coco.ipynb", "quickstart.ipynb", "storage.ipynb"]
    for name in names:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(notebook)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), name
        assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1, name


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, nbformat.NotebookNode]:
    """The quickstart, run once; the boards and storage notebooks use its workspace."""
    cwd = tmp_path_factory.mktemp("notebooks")
    return cwd, execute("quickstart.ipynb", cwd, workspace="ws", **TINY)


def test_quickstart_draws_progress_the_table_and_images(quickstart) -> None:
    cwd, notebook = quickstart
    html = outputs(notebook, "text/html")
    assert any("<progress" in h for h in html)  # the progress bar, in Jupyter
    (table,) = [h for h in html if "<table" in h]
    for software in ("TensorFlow fp32", "ONNX Runtime fp32", "LiteRT int8"):
        assert software in table
    assert len(outputs(notebook, "image/png")) == 1 + 3  # the heatmap, three failure images
    assert (cwd / "ws" / "catalog.sqlite").is_file()


def test_coco_imports_real_annotations(tmp_path: Path) -> None:
    annotations, _ = voc_coco(tmp_path / "voc")
    notebook = execute(
        "coco.ipynb",
        tmp_path,
        workspace="ws",
        train_annotations=str(annotations),
        val_annotations=str(annotations),
        images_dir=str(annotations.parent / "img"),
        val_images_dir=str(annotations.parent / "img"),
        size=(96, 128),
    )
    text = "".join(outputs(notebook, "text/plain")) + "".join(
        out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", [])
    )
    assert "val: 1 images; void" in text and "person" in text
    assert len(outputs(notebook, "image/png")) == 1  # the one val image, its mask over it


def test_boards_deploys_and_benchmarks_on_an_sshd_board(
    quickstart, fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd, _ = quickstart
    monkeypatch.setenv("MLLIB_KNOWN_HOSTS", str(fleet.known_hosts))  # the kernel inherits it
    devices = fleet.devices_toml(cwd / "devices.toml")
    notebook = execute("boards.ipynb", cwd, workspace="ws", devices=str(devices), board="alpha",
                       runs=3)  # fmt: skip
    (table,) = [h for h in outputs(notebook, "text/html") if "<table" in h]
    assert "alpha" in table and "LiteRT" in table
    text = "".join(outputs(notebook, "text/plain"))
    assert "'deployed'" in text or "'already current'" in text


def test_storage_pushes_and_pulls_through_s3(quickstart, s3, tmp_path: Path) -> None:
    cwd, _ = quickstart
    creds = s3.creds_json(tmp_path / "creds.json")
    notebook = execute("storage.ipynb", cwd, workspace="ws", creds=str(creds), entry="seaweed",
                       create_bucket=True, dataset="demo")  # fmt: skip
    printed = "".join(
        out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", [])
    )
    assert "file(s) sent" in printed and "pulled demo@" in printed
    assert os.path.isdir(cwd / "ws-elsewhere")
