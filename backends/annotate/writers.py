"""One writer per labelling tool's import format; each takes an export's items one at a time.

- ``coco``: COCO as CVAT imports it (and writes it): ``annotations/instances_default.json``
  beside ``images/``, category ids from 1, ``licenses`` present, each class region one mask as
  uncompressed RLE with ``iscrowd`` 1.
- ``cvat``: CVAT for images 1.1 (``annotations.xml`` beside ``images/``), each class region one
  ``<mask>`` (RLE in its bounding box).
- ``label-studio``: ``tasks.json`` and ``labelling-config.xml``; labels as annotations and
  pre-labels as predictions, both polygons (editable in Label Studio; holes are lost). Each
  task's data carries the image's sha256, so labels come back to the right image however Label
  Studio renames files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from backends.annotate import shapes
from backends.annotate.items import Item
from backends.datasets.classmap import ClassMap
from backends.errors import BadInput
from backends.palette import PALETTE

IGNORE_NAME = "ignore"  # the category of the pixels training leaves out (don't-care regions)


@dataclass(frozen=True)
class Vocabulary:
    """The classes a labelling tool offers: every class but class 0 (unlabelled pixels are
    class 0), and ``ignore`` for pixels training must leave out."""

    classes: tuple[str, ...]
    ignore: int

    def __post_init__(self) -> None:
        if IGNORE_NAME in self.classes:
            raise BadInput(
                f"a class is called {IGNORE_NAME!r}, the name exports give ignored pixels"
            )

    def categories(self) -> list[tuple[int, str, int]]:
        """(category id from 1, name, class label): classes 1.., then ``ignore``."""
        named = [(i, name, i) for i, name in enumerate(self.classes) if i]
        return [*named, (len(self.classes), IGNORE_NAME, self.ignore)]

    def class_map(self, name: str) -> ClassMap:
        """Labels named as exported -> these classes (an unknown name is an error)."""
        table: dict[str | int, int] = {n: label for _, n, label in self.categories()}
        return ClassMap(name, self.classes, self.ignore, None, {self.classes[0]: 0, **table})

    def colour(self, label: int) -> str:
        r, g, b = (int(c) for c in PALETTE[label % len(PALETTE)])
        return f"#{r:02x}{g:02x}{b:02x}"


Region = tuple[int, str, np.ndarray]  # (category id, name, binary mask)


def regions(vocabulary: Vocabulary, mask: np.ndarray | None) -> list[Region]:
    if mask is None:
        return []
    by_label = {label: (cid, name) for cid, name, label in vocabulary.categories()}
    return [(*by_label[label], binary) for label, binary in shapes.regions(mask, list(by_label))]


class Writer(Protocol):
    def add(self, index: int, item: Item, labels: list[Region], prelabels: list[Region]) -> None:
        """One image (``index`` from 0) with the version's labels and the model's."""

    def finish(self) -> None:
        """Write what is left; the files are flushed by the caller."""


class CocoWriter:
    def __init__(self, root: Path, vocabulary: Vocabulary, title: str) -> None:
        self.file = root / "annotations" / "instances_default.json"
        self.file.parent.mkdir(parents=True)
        self.doc: dict[str, Any] = {
            "licenses": [{"name": "", "id": 0, "url": ""}],
            "info": {
                "contributor": "mllib",
                "description": title,
                "url": "",
                "version": "1.0",
                "year": "",
                "date_created": "",
            },
            "categories": [
                {"id": cid, "name": name, "supercategory": ""}
                for cid, name, _ in vocabulary.categories()
            ],
            "images": [],
            "annotations": [],
        }

    def add(self, index: int, item: Item, labels: list[Region], prelabels: list[Region]) -> None:
        image_id = index + 1
        self.doc["images"].append(
            {
                "id": image_id,
                "width": item.width,
                "height": item.height,
                "file_name": item.file,
                "license": 0,
                "flickr_url": "",
                "coco_url": "",
                "date_captured": 0,
            }
        )
        for cid, _, binary in labels or prelabels:
            left, top, width, height = shapes.bbox(binary)
            self.doc["annotations"].append(
                {
                    "id": len(self.doc["annotations"]) + 1,
                    "image_id": image_id,
                    "category_id": cid,
                    "segmentation": shapes.coco_rle(binary),
                    "area": float(binary.sum()),
                    "bbox": [left, top, width, height],
                    "iscrowd": 1,
                    "attributes": {"occluded": False},
                }
            )

    def finish(self) -> None:
        self.file.write_text(json.dumps(self.doc))


class CvatWriter:
    def __init__(self, root: Path, vocabulary: Vocabulary, title: str, total: int) -> None:
        self.out: BinaryIO = open(root / "annotations.xml", "wb")  # noqa: SIM115 (closed in finish)
        labels = "".join(
            f"<label><name>{escape(name)}</name><color>{vocabulary.colour(label)}</color>"
            "<type>any</type><attributes></attributes></label>"
            for _, name, label in vocabulary.categories()
        )
        self._write(
            '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n<version>1.1</version>\n'
            f"<meta><task><name>{escape(title)}</name><size>{total}</size>"
            f"<mode>annotation</mode><overlap>0</overlap><labels>{labels}</labels></task></meta>\n"
        )

    def _write(self, text: str) -> None:
        self.out.write(text.encode())

    def add(self, index: int, item: Item, labels: list[Region], prelabels: list[Region]) -> None:
        self._write(
            f'<image id="{index}" name={quoteattr(item.file)} width="{item.width}" '
            f'height="{item.height}">\n'
        )
        source = "manual" if labels else "auto"
        for _, name, binary in labels or prelabels:
            (left, top, width, height), runs = shapes.cvat_rle(binary)
            self._write(
                f'<mask label={quoteattr(name)} source="{source}" occluded="0" '
                f'rle="{", ".join(map(str, runs))}" left="{left}" top="{top}" width="{width}" '
                f'height="{height}" z_order="0"></mask>\n'
            )
        self._write("</image>\n")

    def finish(self) -> None:
        self._write("</annotations>\n")
        self.out.close()


class LabelStudioWriter:
    def __init__(
        self, root: Path, vocabulary: Vocabulary, image_url: str, model: str | None
    ) -> None:
        self.root, self.image_url, self.model = root, image_url, model
        self.tasks: list[dict[str, Any]] = []
        (root / "labelling-config.xml").write_text(labelling_config(vocabulary))

    def add(self, index: int, item: Item, labels: list[Region], prelabels: list[Region]) -> None:
        task: dict[str, Any] = {
            "data": {
                "image": self.image_url + item.file,
                "mllib_file": item.file,
                "mllib_sha256": item.sha256,
            },
        }
        if labels:
            task["annotations"] = [{"result": list(_results(item, labels)), "ground_truth": False}]
        if prelabels:
            task["predictions"] = [
                {"model_version": self.model or "", "result": list(_results(item, prelabels))}
            ]
        self.tasks.append(task)

    def finish(self) -> None:
        (self.root / "tasks.json").write_text(json.dumps(self.tasks))


def labelling_config(vocabulary: Vocabulary) -> str:
    """Label Studio's labelling config: polygons (what pre-labels arrive as) and a brush for
    touch-ups, each offering every class and ``ignore``."""
    choices = "".join(
        f"    <Label value={quoteattr(name)} background={quoteattr(vocabulary.colour(label))}/>\n"
        for _, name, label in vocabulary.categories()
    )
    return (
        "<View>\n"
        '  <Image name="image" value="$image" zoom="true"/>\n'
        '  <PolygonLabels name="label" toName="image" strokeWidth="2" opacity="0.4">\n'
        f"{choices}  </PolygonLabels>\n"
        '  <BrushLabels name="brush" toName="image">\n'
        f"{choices}  </BrushLabels>\n"
        "</View>\n"
    )


def _results(item: Item, regions: list[Region]) -> Iterator[dict[str, Any]]:
    """Label Studio polygon results (points in percent of the image) of some regions."""
    for _, name, binary in regions:
        for polygon in shapes.polygons(binary):
            xy = np.asarray(polygon).reshape(-1, 2) * 100 / [item.width, item.height]
            yield {
                "from_name": "label",
                "to_name": "image",
                "type": "polygonlabels",
                "original_width": item.width,
                "original_height": item.height,
                "image_rotation": 0,
                "value": {"points": xy.round(4).tolist(), "closed": True, "polygonlabels": [name]},
            }
