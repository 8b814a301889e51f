"""Annotate round trips, with the labelling tools' own code on the other side: our exports read
by datumaro and label-studio-sdk's converter, their COCO imported back pixel for pixel (polygon
tracing aside: it loses holes, and exactly the holes), the lineage recorded and shown."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from backends import events as ev
from backends.acquire.frames import CaptureWriter
from backends.annotate import shapes
from backends.annotate.export import export
from backends.annotate.labels import import_labels
from backends.datasets.build import import_coco, synth_dataset
from backends.datasets.classmap import ClassMap
from backends.datasets.shards import split
from backends.errors import BadInput
from backends.workspace import Workspace
from tests import labelling_tools
from tests.conftest import cli

events: list[ev.Event] = []
emit = events.append


def pairs(ws: Workspace, ref: str) -> dict[str, set[str]]:
    """Each split's (image, mask) pairs by content, to compare versions whatever the order."""
    dataset = ws.catalog.dataset(ref)
    out = {}
    for name in dataset.manifest["splits"]:
        seen = set()
        for images, masks in split(ws.path(dataset.path), name).batches(64):
            for image, mask in zip(images, masks, strict=True):
                seen.add(hashlib.sha256(image.tobytes() + mask.tobytes()).hexdigest())
        out[name] = seen
    return out


@pytest.fixture
def demo(ws: Workspace):
    return synth_dataset(ws, images=16, size=(64, 80), emit=emit)


def test_coco_export_comes_back_as_the_same_version_with_its_lineage(
    ws: Workspace, demo, tmp_path: Path
) -> None:
    out = cli(
        "datasets",
        "export",
        "demo",
        "--format",
        "coco",
        "--output",
        str(tmp_path / "c"),
        "-w",
        str(ws.root),
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "c/annotations/instances_default.json").read_text())
    assert [c["id"] for c in doc["categories"]] == [1, 2, 3, 4]  # ids from 1, as CVAT writes
    assert [c["name"] for c in doc["categories"]] == ["person", "vehicle", "animal", "ignore"]
    assert doc["licenses"] and all(a["iscrowd"] == 1 for a in doc["annotations"])
    assert all(isinstance(a["segmentation"]["counts"], list) for a in doc["annotations"])
    assert len(list((tmp_path / "c/images").iterdir())) == 16

    back = cli(
        "datasets",
        "import",
        "coco",
        "back",
        "--annotations",
        str(tmp_path / "c/annotations/instances_default.json"),
        "-w",
        str(ws.root),
    )
    assert back.returncode == 0, back.stderr
    labelled = ws.catalog.dataset("back")
    assert labelled.version == demo.version  # same images, same masks, same splits
    assert labelled.manifest["source"]["labels"] == {
        "export": 1,
        "of": demo.ref,
        "format": "coco",
        "matched": 16,
        "images": 16,
        "exported": 16,
    }
    shown = cli("datasets", "show", "back", "-w", str(ws.root)).stdout
    lineage = shown[shown.index("Lineage") :].splitlines()[1:]
    assert [line.split()[0] for line in lineage] == ["imported", "exported", "labelled"]
    assert f"as coco to {tmp_path / 'c'}" in lineage[1]
    assert "16 of the 16 exported" in lineage[2]


def test_datumaro_reads_our_cvat_and_coco_exports_and_its_coco_comes_back_exact(
    ws: Workspace, demo, tmp_path: Path
) -> None:
    for fmt, reader in (("cvat", "cvat"), ("coco", "coco_instances")):
        export(ws, "demo", fmt, tmp_path / fmt, emit)
        seen = labelling_tools.run(
            "datumaro",
            "datumaro_to_coco.py",
            tmp_path / fmt,
            reader,
            tmp_path / f"dm-{fmt}",
            "mask",
        )
        assert seen["items"] == 16
        assert seen["labels"] == ["person", "vehicle", "animal", "ignore"]
        assert seen["masks"] > 16
        (written,) = (tmp_path / f"dm-{fmt}" / "annotations").glob("instances_*.json")
        record = import_labels(ws, name=f"via-{fmt}", annotations=written, emit=emit)
        assert record.version == demo.version, fmt
        assert record.manifest["source"]["labels"]["format"] == fmt


def test_polygons_lose_holes_and_nothing_else(ws: Workspace, tmp_path: Path) -> None:
    """A ring (a hole inside a class region) through Label Studio's polygons and its own
    converter: every changed pixel is in the hole, and every hole pixel changed."""
    images = tmp_path / "src" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(3)
    ring = np.zeros((60, 70), np.uint8)
    cv2.circle(ring, (30, 30), 20, 1, -1)
    cv2.circle(ring, (30, 30), 8, 0, -1)
    hole = np.zeros_like(ring)
    cv2.circle(hole, (30, 30), 8, 1, -1)
    blob = np.zeros_like(ring)
    cv2.ellipse(blob, (55, 45), (10, 6), 20, 0, 360, 1, -1)
    doc = {
        "images": [],
        "annotations": [],
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}],
    }
    for i in range(4):
        cv2.imwrite(str(images / f"{i}.png"), rng.integers(0, 255, (60, 70, 3), np.uint8))
        doc["images"].append({"id": i, "file_name": f"{i}.png", "height": 60, "width": 70})
        for category, mask in ((1, ring), (2, blob)):
            doc["annotations"].append(
                {
                    "id": len(doc["annotations"]),
                    "image_id": i,
                    "category_id": category,
                    "segmentation": shapes.coco_rle(mask > 0),
                }
            )
    (tmp_path / "src/all.json").write_text(json.dumps(doc))
    source = import_coco(
        ws,
        name="rings",
        splits={s: (tmp_path / "src/all.json", images) for s in ("train", "val")},
        class_map=ClassMap.load("coco-4"),
        size=(60, 70),
        emit=emit,
    )
    export(ws, "rings", "label-studio", tmp_path / "ls", emit)
    tasks = json.loads((tmp_path / "ls/tasks.json").read_text())
    for i, task in enumerate(tasks):
        task["id"] = i + 1  # as Label Studio's JSON export numbers them
    (tmp_path / "tasks.json").write_text(json.dumps(tasks))
    labelling_tools.run(
        "label-studio",
        "label_studio_to_coco.py",
        tmp_path / "ls/labelling-config.xml",
        tmp_path / "tasks.json",
        tmp_path / "ls-coco",
    )
    back = import_labels(
        ws,
        name="rings-back",
        annotations=tmp_path / "ls-coco/result.json",
        images_dir=tmp_path / "ls",
        emit=emit,
    )
    assert back.manifest["source"]["labels"]["matched"] == 8
    before, after = (split(ws.path(d.path), "val").read(0)[1] for d in (source, back))
    changed = before != after
    assert len(after) == 4 and changed.sum() == 4 * hole.sum()
    assert (changed == (hole > 0)[None]).all()
    assert (after[changed] == 1).all()  # the hole took the ring's class
    iou = ((before == 1) & (after == 1)).sum() / ((before == 1) | (after == 1)).sum()
    print(
        f"polygon round trip: {changed.sum()} of {changed.size} pixels changed, "
        f"person IoU {iou:.4f}"
    )
    assert iou > 0.8


def capture(ws: Workspace, frames: list[np.ndarray]) -> str:
    writer = CaptureWriter(ws, "bench", {"board": "cam", "camera": "/dev/video0"})
    for i, frame in enumerate(frames):
        data = cv2.imencode(".jpg", frame[..., ::-1])[1].tobytes()
        writer.add(
            ev.Frame(
                stage="acquire",
                index=i,
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                width=frame.shape[1],
                height=frame.shape[0],
                captured=1.0 + i,
                board="cam",
            ),
            data,
        )
    return writer.finish(partial=False, reason="done", job_id=None).ref


@pytest.mark.slow  # the trained workspace
def test_a_capture_goes_out_with_the_models_prelabels_and_comes_back_labelled(
    app_ws: Path, tmp_path: Path
) -> None:
    """Frames of a capture, pre-labelled by the trained model, through CVAT's format and
    datumaro: the labels that come back are the model's masks, letterboxed as every import
    is, and the chain runs captured -> exported -> labelled."""
    from backends.annotate.items import Prelabeller
    from backends.datasets.preprocess import letterbox

    ws = Workspace.open(app_ws)
    tiny = ws.catalog.dataset("tiny")
    val = split(ws.path(tiny.path), "val").read(0)[0][:6]
    frames = [cv2.resize(f, (96, 72)) for f in val]  # another size than the model's input
    ref = capture(ws, frames)
    model = next(a for a in ws.catalog.artifacts("tflite") if a.meta.get("precision") == "fp32")
    out = cli(
        "datasets",
        "export",
        ref,
        "--format",
        "cvat",
        "--prelabel",
        str(model.id),
        "--output",
        str(tmp_path / "cvat"),
        "-w",
        str(app_ws),
    )
    assert out.returncode == 0, out.stderr
    xml = (tmp_path / "cvat/annotations.xml").read_text()
    assert 'source="auto"' in xml and "<mask label=" in xml
    labelling_tools.run(
        "datumaro", "datumaro_to_coco.py", tmp_path / "cvat", "cvat", tmp_path / "dm", "mask"
    )
    back = import_labels(
        ws,
        name="bench-labelled",
        emit=emit,
        val_fraction=0.5,
        annotations=tmp_path / "dm/annotations/instances_annotations.json",
    )
    assert back.manifest["image_size"] == tiny.manifest["image_size"]
    assert back.manifest["classes"] == tiny.manifest["classes"]
    predict = Prelabeller(ws, model)
    expected = set()
    for frame in (
        cv2.imread(str(p))[..., ::-1] for p in sorted((tmp_path / "cvat/images").iterdir())
    ):
        image, mask = letterbox(frame, predict(frame), tuple(tiny.manifest["image_size"]), 255)
        expected.add(hashlib.sha256(image.tobytes() + mask.tobytes()).hexdigest())
    got = pairs(ws, back.ref)
    assert got["train"] | got["val"] == expected and got["train"] and got["val"]
    shown = cli("datasets", "show", back.ref, "-w", str(app_ws)).stdout
    steps = [line.split()[0] for line in shown[shown.index("Lineage") :].splitlines()[1:]]
    assert steps == ["captured", "exported", "labelled"]
    assert (
        f"{len(frames)} frames from board cam" in shown
        and f"pre-labelled by artifact {model.id}" in shown
    )


def test_brush_masks_decode_as_label_studios_encoder_wrote_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    masks = [rng.random((30, 41)) < p for p in (0.0, 0.02, 0.5, 1.0)]
    blob = np.zeros((30, 41), bool)
    blob[5:20, 3:30] = True
    masks.append(blob)
    (tmp_path / "m.json").write_text(
        json.dumps(
            [{"height": 30, "width": 41, "pixels": m.astype(int).ravel().tolist()} for m in masks]
        )
    )
    encoded = labelling_tools.run("label-studio", "brush_encode.py", tmp_path / "m.json")
    for mask, rle in zip(masks, encoded, strict=True):
        assert (shapes.brush_decode(rle, 30, 41, "r") == mask).all()
    with pytest.raises(BadInput, match="r.rle holds 4920 values, not the 20x41"):
        shapes.brush_decode(encoded[0], 20, 41, "r")
    with pytest.raises(BadInput, match="ends early"):
        shapes.brush_decode(encoded[4][:6], 30, 41, "r")


@pytest.mark.slow  # the trained workspace
def test_a_recordings_masks_are_its_default_prelabels(app_ws: Path, tmp_path: Path) -> None:
    """serve --record keeps the served model's mask of each frame: an export without
    --prelabel sends those, scaled to the frame, with the classes of the model's dataset."""
    from pycocotools import mask as mask_utils

    ws = Workspace.open(app_ws)
    model = ws.catalog.artifacts("tflite")[0]
    writer = CaptureWriter(ws, "rec", {"board": "cam", "camera": "0", "model": model.id})
    frame = np.zeros((48, 64, 3), np.uint8)
    data = cv2.imencode(".jpg", frame)[1].tobytes()
    writer.add(
        ev.Frame(
            stage="serve",
            index=0,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            width=64,
            height=48,
            captured=1.0,
            board="cam",
        ),
        data,
    )
    served = np.zeros((24, 32), np.uint8)
    served[6:12, 8:20] = 2  # the model's mask, at its own resolution
    writer.add_prelabel(served)
    ref = writer.finish(partial=False, reason="done", job_id=None).ref
    export(ws, ref, "coco", tmp_path / "rec", emit)
    doc = json.loads((tmp_path / "rec/annotations/instances_default.json").read_text())
    (annotation,) = doc["annotations"]
    assert doc["categories"][annotation["category_id"] - 1]["name"] == "vehicle"
    decoded = mask_utils.decode(mask_utils.frPyObjects(annotation["segmentation"], 48, 64))
    expected = np.zeros((48, 64), np.uint8)
    expected[12:24, 16:40] = 1
    assert (decoded == expected).all()
