"""Model files from outside the workspace (``bench FILE``, ``convert FILE``): recognised by their
suffix through the formats table, and checked to be what they claim before the catalog holds
them. An empty, truncated or foreign file is one line naming it and what it is not."""

from __future__ import annotations

import importlib
import json
import zipfile
from pathlib import Path

from backends.catalog import ArtifactRecord, DatasetRecord
from backends.errors import BadInput
from backends.formats import FORMATS, RUNTIMES, Format, check_precision
from backends.workspace import Workspace


def import_model_file(
    ws: Workspace, path: Path, precision: str, dataset: DatasetRecord | None = None
) -> ArtifactRecord:
    """Check ``path`` and copy it into the workspace as an artifact (no parent; ``dataset``,
    when given, is what it will be measured against)."""
    fmt = format_of_file(path)
    check_model_file(path, fmt)
    meta = {"precision": check_precision(fmt, precision).value}
    if dataset is not None:
        meta["task"] = dataset.task
    return ws.import_file(path, fmt.kind, meta, dataset_id=dataset.id if dataset else None)


def format_of_file(path: Path) -> Format:
    """The format a file's suffix says (the first runnable format owns it: tflite, not edgetpu)."""
    owners: dict[str, Format] = {}
    for fmt in FORMATS.values():
        if fmt.runtimes:
            owners.setdefault(Path(fmt.file_name).suffix, fmt)
    if path.suffix not in owners:
        raise BadInput(f"{path}: unknown model file type; use one of {', '.join(sorted(owners))}")
    return owners[path.suffix]


def check_model_file(path: Path, fmt: Format) -> None:
    """Refuse a file that is not a whole model of ``fmt``: missing, empty, of another kind, or
    cut short."""
    if not path.is_file():
        raise BadInput(f"{path}: no such model file")
    runtime = RUNTIMES[fmt.runtimes[0]].label
    problem = "the file is empty" if path.stat().st_size == 0 else None
    check = _CHECKS.get(fmt.name)
    if problem is None and check is not None:
        problem = check(path)
    if problem is not None:
        raise BadInput(f"{path}: cannot be loaded by {runtime}: not a {fmt.name} model ({problem})")


def _keras(path: Path) -> str | None:
    """A .keras file is a zip archive with config.json (and the weights) inside."""
    if not zipfile.is_zipfile(path):
        return "a .keras file is a zip archive, and this is not one (or it is cut short)"
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            if damaged is not None:
                return f"{damaged} inside it is damaged"
            if "config.json" not in archive.namelist():
                return "it has no config.json (is it a Keras 2 .h5 file renamed?)"
            json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        return f"the archive is damaged ({exc})"
    return None


def _onnx(path: Path) -> str | None:
    """An ONNX ModelProto with a graph; parsed with onnx where installed, else ONNX Runtime."""
    try:
        import onnx
    except ImportError:
        return _loads(path, "onnxruntime")
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:
        return f"it does not parse as ONNX ({_first_line(exc)}); is it complete?"
    if model.ir_version <= 0 or not model.graph.node or not model.graph.input:
        return "it parses, but holds no graph (no nodes or inputs)"
    return None


def _tflite(path: Path) -> str | None:
    """A TFLite flatbuffer: the TFL3 identifier, then the interpreter's own verifier."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if len(head) < 8 or head[4:8] != b"TFL3":
        return "it lacks the TFL3 identifier of a TFLite flatbuffer"
    return _loads(path, "litert")


def _loads(path: Path, runtime: str) -> str | None:
    """Whether the runtime that runs the file accepts it (skipped where it is not installed:
    the runtime checks again where it runs)."""
    spec = RUNTIMES[runtime]
    try:
        adapter = importlib.import_module(spec.adapter)
        adapter.load(path, threads=1)
    except ImportError:
        return None
    except Exception as exc:
        return f"{_first_line(exc)}; is it complete?"
    return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


_CHECKS = {"keras": _keras, "onnx": _onnx, "tflite": _tflite}
