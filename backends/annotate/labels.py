"""Labels back from a labelling tool as a new dataset version, with its lineage.

One COCO file, as CVAT, datumaro or Label Studio export it. The images are matched to the
export they came from (``lineage.origin``); then the export's classes name the labels, a
labelled version's images keep the split they were exported from, and the version records what
it labels. What a tool's export cannot carry is said, never dropped silently:

- Label Studio exports images it has no annotation for (not labelled yet, or labelled with the
  brush, which its COCO converter leaves out): they are left out, with a warning.
- A rectangle has no mask: its box is painted with the ignore label, with a warning.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np

from backends.annotate import lineage
from backends.catalog import DatasetRecord
from backends.datasets import coco
from backends.datasets.build import import_sources
from backends.datasets.classmap import ClassMap
from backends.datasets.preprocess import Size
from backends.errors import BadInput
from backends.events import Emit, Log
from backends.names import check_name
from backends.workspace import Workspace

DEFAULT_SIZE = (480, 512)
LABEL_STUDIO = "Label Studio"
LOCAL_FILES_URL = "/data/local-files/?"


def images_dir_for(annotations: Path, file_names: list[str]) -> Path:
    """Where a tool's export keeps its images: ``annotations/instances_SUBSET.json`` beside
    ``images/SUBSET/`` (datumaro, CVAT) or ``images/``, else the JSON's own directory (Label
    Studio's file names start ``images/``): the first of these that holds the first image."""
    parent = Path(annotations).absolute().parent
    subset = Path(annotations).stem.removeprefix("instances_")
    candidates = [parent.parent / "images" / subset, parent.parent / "images", parent]
    if parent.name != "annotations":
        candidates = [parent]
    first = file_names[0] if file_names else ""
    return next((c for c in candidates if (c / first).is_file()), candidates[-1])


def import_labels(
    ws: Workspace,
    *,
    name: str,
    annotations: Path,
    emit: Emit,
    images_dir: Path | None = None,
    class_map: str | None = None,
    size: Size | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    via: dict[str, Any] | None = None,
    where: str | None = None,
) -> DatasetRecord:
    """Import one COCO file of labels as dataset ``name``: train/val as exported, else drawn
    (``val_fraction``, ``seed``); ``via`` records where the file came from when it is not the
    user's (a Label Studio project) and ``where`` names it in messages."""
    check_name(name, "dataset name")
    if not 0 < val_fraction < 1:
        raise BadInput(f"val fraction must be between 0 and 1 (got {val_fraction})")
    src = where or str(annotations)
    data = coco.read(annotations)
    info = data.get("info")
    label_studio = isinstance(info, dict) and info.get("contributor") == LABEL_STUDIO
    if label_studio:
        _served_names(data)
    names = coco.file_names(data, src)
    images_dir = Path(images_dir) if images_dir else images_dir_for(annotations, names)
    files = [images_dir / name for name in names]
    missing = next((i for i, file in enumerate(files) if not file.is_file()), None)
    if missing is not None:
        raise BadInput(
            f"{src}: images[{missing}].file_name: image {files[missing]} not found; pass "
            "--images, the directory the file names are relative to"
        )
    found = lineage.origin(ws, files, near=Path(annotations))
    chosen = _class_map(class_map, found, src)
    source = coco.load(annotations, images_dir, chosen, data)
    source = _labelled_only(source, label_studio, emit, src)
    if source.boxes:
        _warn(
            emit,
            f"{src}: {source.boxes} annotation(s) are rectangles without a mask: their boxes are "
            "painted as ignore (left out of training); draw polygons or use the brush",
        )
    splits = _splits(source, found, val_fraction, seed)
    origin_of = {"labels": found.lineage([i.file for i in source.images])} if found else {}
    return import_sources(
        ws,
        name=name,
        sources=splits,
        class_map=chosen,
        size=size or (found.export.size if found else DEFAULT_SIZE),
        emit=emit,
        params={
            "annotations": str(annotations),
            "images": str(images_dir),
            "val_fraction": val_fraction,
            "seed": seed,
        },
        source={**origin_of, **(via or {"annotations": str(Path(annotations).absolute())})},
    )


def _served_names(data: dict[str, Any]) -> None:
    """Label Studio names an image it did not copy into the export by its URL: an image it
    served from local files (``/data/local-files/?d=images/x.png``, as mllib's label-studio
    export sets up) becomes the path it was served from, relative to the export (--images)."""
    for info in data["images"]:
        name = info.get("file_name") if isinstance(info, dict) else None
        if isinstance(name, str) and name.startswith(LOCAL_FILES_URL):
            query = urllib.parse.urlsplit(name).query
            info["file_name"] = urllib.parse.parse_qs(query).get("d", [name])[0]


def _class_map(ref: str | None, found: lineage.Origin | None, src: str) -> ClassMap:
    if ref is not None:
        return ClassMap.load(ref)
    if found is not None:
        dataset = found.export.index["dataset"]
        return found.export.vocabulary.class_map(f"{dataset['name']}@{dataset['version'][:8]}")
    raise BadInput(
        f"{src}: its images match no export of this workspace, so the classes are unknown: "
        "pass --class-map (a built-in map or a JSON file)"
    )


def _labelled_only(
    source: coco.CocoSource, label_studio: bool, emit: Emit, src: str
) -> coco.CocoSource:
    """Label Studio's images without annotations, left out and said."""
    if not label_studio:
        return source
    emit(Log(stage="dataset", level="info", message=(
        f"{src} is Label Studio's COCO export, which leaves brush strokes out: if the brush was "
        "used, `datasets pull-labels label-studio` reads them")))  # fmt: skip
    kept = tuple(image for image in source.images if image.annotations)
    left = len(source.images) - len(kept)
    if left:
        first = next(i.file.name for i in source.images if not i.annotations)
        _warn(
            emit,
            f"{src}: {left} image(s) have no annotations (first: {first}): "
            "left out. They are not labelled yet, or were labelled with the brush, which Label "
            "Studio's COCO export leaves out: `datasets pull-labels label-studio` reads brushes",
        )
    if not kept:
        raise BadInput(f"{src}: no image has an annotation: nothing to import")
    return dataclasses.replace(source, images=kept)


def _splits(
    source: coco.CocoSource, found: lineage.Origin | None, val_fraction: float, seed: int
) -> dict[str, coco.CocoSource]:
    """train and val: each image's exported split where it had one, else a seeded draw. The
    images are put in the export's order (the tool's order after them), so the same labels
    make the same version however the tool ordered its file."""
    entries = found.entries if found else {}
    position = {e["file"]: i for i, e in enumerate(found.export.index["images"])} if found else {}

    def order(numbered: tuple[int, coco.CocoImage]) -> tuple[int, int]:
        entry = entries.get(numbered[1].file)
        return (0, position[entry["file"]]) if entry else (1, numbered[0])

    images = [image for _, image in sorted(enumerate(source.images), key=order)]
    draw = np.random.default_rng(seed).random(len(images)) < val_fraction
    chosen: dict[str, list[coco.CocoImage]] = {"train": [], "val": []}
    for image, to_val in zip(images, draw, strict=True):
        exported = entries.get(image.file, {}).get("split")
        chosen[exported if exported in chosen else ("val" if to_val else "train")].append(image)
    if len(source.images) < 2:
        raise BadInput("one labelled image cannot make a train and a val split: label another")
    for split, other in (("train", "val"), ("val", "train")):
        if not chosen[split]:  # a small draw left one split empty: move one image over
            chosen[split].append(chosen[other].pop())
    return {s: dataclasses.replace(source, images=tuple(images)) for s, images in chosen.items()}


def _warn(emit: Emit, message: str) -> None:
    emit(Log(stage="dataset", level="warning", message=message))
