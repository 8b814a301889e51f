"""Labels from outside, refused or said in one line each: damaged exports (a missing image,
ids that do not match, RLE of the wrong size, an unknown class), Label Studio's own quirks
(ids from 0, hashed names, rectangles, unlabelled images), and export records a store brings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from backends.annotate.export import export
from backends.datasets.shards import split
from backends.workspace import Workspace
from tests.conftest import cli
from tests.test_annotate import demo, emit  # noqa: F401 (demo: a fixture the tests use)

# -- bad exports: one line each, naming the file and the field --------------------------------


def labelled_export(tmp_path: Path, ws: Workspace) -> tuple[Path, dict]:
    export(ws, "demo", "coco", tmp_path / "c", emit)
    file = tmp_path / "c/annotations/instances_default.json"
    return file, json.loads(file.read_text())


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d, root: (root / "images" / d["images"][3]["file_name"]).unlink(),
            r"images\[3\]\.file_name: image .*train-000003\.png not found; pass --images",
        ),
        (
            lambda d, root: d["annotations"][0].update(image_id=999),
            r"annotations\[0\] refers to image_id 999, which 'images' lacks",
        ),
        (
            lambda d, root: d["annotations"][1]["segmentation"].update(size=[10, 10]),
            r"annotations\[1\]\.segmentation\.size \[10, 10\] is not the image's \[64, 80\]",
        ),
        (
            lambda d, root: d["annotations"][2]["segmentation"]["counts"].append(5),
            r"annotations\[2\]\.segmentation\.counts sum to 5125 pixels, not the image's 64x80",
        ),
        (
            lambda d, root: (
                d["categories"].append({"id": 9, "name": "dog"})
                or d["annotations"][0].update(category_id=9)
            ),
            r"category 'dog' \(id 9\) is not in class map",
        ),
    ],
)
@pytest.mark.usefixtures("demo")
def test_a_bad_export_is_one_line(ws: Workspace, tmp_path: Path, damage, message) -> None:
    file, doc = labelled_export(tmp_path, ws)
    damage(doc, tmp_path / "c")
    file.write_text(json.dumps(doc))
    out = cli("datasets", "import", "coco", "x", "--annotations", str(file), "-w", str(ws.root))
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"error: {file}") or line.startswith("error:"), line
    assert re.search(message, line), line


@pytest.mark.usefixtures("demo")
def test_label_studio_rectangles_and_unlabelled_images_are_said_not_dropped(
    ws: Workspace, tmp_path: Path
) -> None:
    """Label Studio's COCO: ids from 0, hashed file names, a rectangle with an empty
    segmentation, and images without annotations (unlabelled, or brush strokes its converter
    left out)."""
    _, doc = labelled_export(tmp_path, ws)
    for image in doc["images"]:
        image["id"] -= 1
        image["file_name"] = f"images/3fa2b1c9-{image['file_name']}"
        src = tmp_path / "c/images" / image["file_name"].removeprefix("images/3fa2b1c9-")
        src.rename(tmp_path / "c/images" / image["file_name"].removeprefix("images/"))
    for category in doc["categories"]:
        category["id"] -= 1
    for annotation in doc["annotations"]:
        annotation["image_id"] -= 1
        annotation["category_id"] -= 1
    first = doc["annotations"][0]
    first.update(segmentation=[], bbox=[2, 3, 10, 8], iscrowd=0)
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] not in (5, 6)]
    doc["info"] = {"contributor": "Label Studio"}
    (tmp_path / "c/result.json").write_text(json.dumps(doc))
    out = cli(
        "datasets",
        "import",
        "coco",
        "ls",
        "--annotations",
        str(tmp_path / "c/result.json"),
        "-w",
        str(ws.root),
    )
    assert out.returncode == 0, out.stderr
    assert "1 annotation(s) are rectangles without a mask" in out.stderr
    assert (
        "2 image(s) have no annotations (first: 3fa2b1c9-train-000005.png): left out" in out.stderr
    )
    record = ws.catalog.dataset("ls")
    assert sum(record.images.values()) == 14
    assert record.manifest["source"]["labels"]["matched"] == 14
    image, mask = split(ws.path(record.path), "train").read(0)
    assert (mask[0, 3:11, 2:12] == 255).all()  # the box is painted ignore


@pytest.mark.usefixtures("demo")
def test_an_export_record_from_outside_is_checked_before_it_is_trusted(
    ws: Workspace, tmp_path: Path
) -> None:
    """A store can bring an export record (hashed, but written elsewhere): one whose image
    names would leave a directory, or whose classes are not names, vouches for nothing."""
    from backends.annotate import lineage
    from backends.formats import EXPORT

    good = export(ws, "demo", "coco", tmp_path / "c", emit)
    index = json.loads(ws.verify(good).read_text())
    for damage in (
        lambda i: i["images"][0].update(file="../../etc/passwd"),
        lambda i: i["images"][0].update(sha256="not-a-sha"),
        lambda i: i.update(classes=[1, 2]),
        lambda i: i.update(ignore=1),
        lambda i: i["images"][0].update(split="test"),
    ):
        hostile = json.loads(json.dumps(index))
        damage(hostile)
        ws.write_artifact(
            kind=EXPORT,
            name="export.json",
            meta=good.meta,
            write=lambda p, h=hostile: p.write_text(json.dumps(h)),
        )
    assert [e.record.id for e in lineage.exports(ws)] == [good.id]
