"""``datasets export``: a dataset version out for labelling, with pre-labels, recorded.

The export is written beside ``--output`` under a temporary name, flushed, and renamed into
place whole. Its record (an ``export`` artifact: the dataset version, the format, the model that
pre-labelled it, and each image's file, sha256 and split) is what lets the labels that come back
find the version they label (``backends/annotate/lineage.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from backends.annotate import EXPORT_FORMATS, LOCAL_FILES
from backends.annotate import items as source
from backends.annotate.writers import (
    CocoWriter,
    CvatWriter,
    LabelStudioWriter,
    Vocabulary,
    Writer,
    regions,
)
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.errors import BadInput
from backends.events import Emit, Log, ProgressReporter
from backends.formats import EXPORT
from backends.tasks import SEGMENTATION, task_of
from backends.workspace import Workspace, hash_path

INDEX = "mllib-export.json"


def export(
    ws: Workspace,
    ref: str,
    fmt: str,
    output: Path,
    emit: Emit,
    *,
    prelabel: int | None = None,
    image_url: str = LOCAL_FILES,
) -> ArtifactRecord:
    """Export dataset ``ref`` as ``fmt`` into the new directory ``output``."""
    if fmt not in EXPORT_FORMATS:
        raise BadInput(f"export format {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    dataset = ws.catalog.dataset(ref)
    model = ws.catalog.artifact(prelabel) if prelabel is not None else None
    vocabulary, size, classes_from = _vocabulary(ws, dataset, model)
    if model is not None and dataset.labelled and fmt != "label-studio":
        raise BadInput(
            f"{dataset.name}@{dataset.version[:8]} is labelled: a {fmt} export carries its "
            "labels; pre-labels go beside labels only in label-studio (as predictions)"
        )
    output = Path(output).absolute()
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise BadInput(f"{output}: exists and is not an empty directory; choose a new one")
    if not output.parent.is_dir():
        raise BadInput(f"{output.parent}: no such directory to export into")
    params = {"dataset": dataset.id, "format": fmt, "output": str(output), "prelabel": prelabel}
    with ws.job("export", uuid.uuid4().hex, params) as job_id:
        tmp = output.parent / f".{output.name}.partial-{uuid.uuid4().hex[:8]}"
        try:
            index = _write(ws, dataset, fmt, tmp, vocabulary, model, image_url, emit)
            index |= {
                "dataset": {"id": dataset.id, "name": dataset.name, "version": dataset.version},
                "format": fmt,
                "prelabel": prelabel,
                "classes_from": classes_from,
                "classes": list(vocabulary.classes),
                "ignore": vocabulary.ignore,
                "size": size,
            }
            (tmp / INDEX).write_text(json.dumps(index, indent=1))
            digest, _ = hash_path(tmp, durable=True)
            if output.exists():
                output.rmdir()  # empty, checked above
            os.replace(tmp, output)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        meta = {
            "format": fmt,
            "output": str(output),
            "output_sha256": digest,
            "images": len(index["images"]),
            "prelabel": prelabel,
        }
        record = ws.write_artifact(
            kind=EXPORT,
            name="export.json",
            write=lambda path: path.write_text(json.dumps(index, indent=1)),
            parent_id=prelabel,
            job_id=job_id,
            dataset_id=dataset.id,
            meta=meta,
        )
    emit(Log(stage="export", level="info", message=_summary(dataset, fmt, output, index)))
    return record


def _vocabulary(
    ws: Workspace, dataset: DatasetRecord, model: ArtifactRecord | None
) -> tuple[Vocabulary, list[int] | None, str]:
    """The classes to label with, the training size labels come back at, and where both came
    from: the version itself, else the model that pre-labels it (``--prelabel`` or the one a
    recording ran)."""
    if dataset.labelled:
        if task_of(dataset.manifest) is not SEGMENTATION:
            raise BadInput(
                f"{dataset.name} is a classification dataset: exports are for segmentation "
                "masks (captures and segmentation versions)"
            )
        return _from(dataset), dataset.manifest["image_size"], dataset.ref
    recorded = dataset.manifest["capture"].get("model")
    chosen = model or (ws.catalog.artifact(recorded) if isinstance(recorded, int) else None)
    if chosen is None or chosen.dataset_id is None:
        raise BadInput(
            f"{dataset.name}@{dataset.version[:8]} is a capture with no model: pass --prelabel "
            "ARTIFACT, whose dataset's classes the labels will use"
        )
    trained_on = ws.catalog.dataset_by_id(chosen.dataset_id)
    return _from(trained_on), trained_on.manifest["image_size"], trained_on.ref


def _from(dataset: DatasetRecord) -> Vocabulary:
    return Vocabulary(tuple(dataset.manifest["classes"]), int(dataset.manifest["ignore"]))


def _write(
    ws: Workspace,
    dataset: DatasetRecord,
    fmt: str,
    root: Path,
    vocabulary: Vocabulary,
    model: ArtifactRecord | None,
    image_url: str,
    emit: Emit,
) -> dict[str, Any]:
    """The export's files under ``root``; returns its index (each image's file, sha256 and
    split)."""
    total = source.count(dataset)
    (root / "images").mkdir(parents=True)
    title = f"{dataset.name}@{dataset.version[:8]}"
    writer: Writer
    if fmt == "coco":
        writer = CocoWriter(root, vocabulary, title)
    elif fmt == "cvat":
        writer = CvatWriter(root, vocabulary, title, total)
    else:
        writer = LabelStudioWriter(root, vocabulary, image_url, model and f"artifact {model.id}")
    prelabeller = source.Prelabeller(ws, model) if model is not None else None
    progress = ProgressReporter(emit, "export", total, "images")
    images = []
    labelled = prelabelled = 0
    for index, item in enumerate(source.items(ws, dataset, prelabeller)):
        (root / "images" / item.file).write_bytes(item.data)
        labels, prelabels = regions(vocabulary, item.labels), regions(vocabulary, item.prelabel)
        writer.add(index, item, labels, prelabels)
        labelled += bool(labels)
        prelabelled += bool(prelabels)
        images.append({"file": item.file, "sha256": item.sha256, "split": item.split})
        progress.advance(message=item.file)
    writer.finish()
    return {"images": images, "labelled": labelled, "prelabelled": prelabelled}


def _summary(dataset: DatasetRecord, fmt: str, output: Path, index: dict[str, Any]) -> str:
    count = len(index["images"])
    what = f"{index['labelled']} with labels" if dataset.labelled else "frames"
    pre = f", {index['prelabelled']} pre-labelled" if index["prelabelled"] else ""
    return f"exported {count} images ({what}{pre}) of {dataset.ref} as {fmt} to {output}"
