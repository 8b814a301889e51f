"""A colleague's COCO export is outside input: file names stay inside the images directory, RLE
and polygons are checked against their image, and nothing from pycocotools or numpy escapes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from backends.datasets import coco
from backends.datasets.classmap import ClassMap
from backends.errors import BadInput
from tests.conftest import cli

H, W = 40, 50


def _doc(segmentation: object, file_name: str = "a.png") -> dict:
    return {
        "images": [{"id": 7, "file_name": file_name, "height": H, "width": W}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "segmentation": segmentation}],
        "categories": [{"id": 1, "name": "person"}],
    }


def _load(tmp_path: Path, doc: dict) -> coco.CocoSource:
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True, exist_ok=True)
    for name in ("a.png", "sub/b.png"):
        cv2.imwrite(str(images / name), np.zeros((H, W, 3), np.uint8))
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    return coco.load(path, images, ClassMap.load("coco-4"))


def _rle(counts: list[int], size: list[int] | None = None) -> dict:
    return {"counts": counts, "size": size or [H, W]}


FULL = [0, H * W]  # every pixel set: a valid uncompressed RLE


@pytest.mark.parametrize(
    ("file_name", "message"),
    [
        ("../outside.png", "leaves the images directory"),
        ("sub/../../outside.png", "leaves the images directory"),
        ("/etc/passwd", "leaves the images directory"),
        ("", "leaves the images directory"),
    ],
)
def test_file_names_cannot_leave_the_images_directory(
    tmp_path: Path, file_name: str, message: str
) -> None:
    (tmp_path / "outside.png").write_bytes(b"not yours")
    with pytest.raises(BadInput, match=rf"images\[0\]\.file_name .* {message}"):
        _load(tmp_path, _doc([], file_name))


def test_subfolders_as_cvat_writes_them_are_fine(tmp_path: Path) -> None:
    source = _load(tmp_path, _doc(_rle(FULL), "sub/b.png"))
    (image,) = source.images
    assert image.file == tmp_path / "images" / "sub" / "b.png"
    assert coco.semantic_mask(image, source.lookup).all()


@pytest.mark.parametrize(
    ("segmentation", "message"),
    [
        (_rle([-5, H * W + 5]), r"counts must be non-negative whole numbers"),
        (_rle([0, H * W - 1]), rf"counts sum to {H * W - 1} pixels, not the image's 40x50"),
        (_rle([0, H * W + 1]), "counts sum to"),
        (_rle(FULL, [W, H]), r"size \[50, 40\] is not the image's \[40, 50\]"),
        (_rle(FULL, [H]), "size .* is not the image's"),
        ({"counts": FULL}, "size None is not the image's"),
        (_rle([0, 1.5]), "non-negative whole numbers"),
        (_rle([True, H * W]), "non-negative whole numbers"),
        ({"counts": "", "size": [H, W]}, "is not a compressed COCO RLE string|sum to 0"),
        ({"counts": "\u00e9\u00e9", "size": [H, W]}, "must be a list of run lengths"),
        ({"counts": "0000", "size": [H, W]}, "counts sum to 0 pixels"),
        ({"counts": 42, "size": [H, W]}, "must be a list of run lengths"),
        ([[1, 2, 3, 4, 5, 6, 7]], r"\[0\] must be a list of x,y pairs"),
        ([[1, 2, "3", 4, 5, 6]], r"\[0\] holds something that is not a finite"),
        ([[1, 2, float("nan"), 4, 5, 6]], "not a finite number"),
        ([[1, 2, None, 4, 5, 6]], "not a finite number"),
        ([[1, 2, True, 4, 5, 6]], "not a finite number"),
        ([5], r"\[0\] must be a list of x,y pairs"),
        ("polygon", "must be a polygon list or an RLE object"),
    ],
)
def test_bad_segmentations_name_the_annotation(
    tmp_path: Path, segmentation: object, message: str
) -> None:
    with pytest.raises(BadInput, match=rf"annotations\[0\]\.segmentation.*({message})"):
        _load(tmp_path, _doc(segmentation))


def test_a_valid_compressed_rle_string_still_loads(tmp_path: Path) -> None:
    from pycocotools import mask as mask_utils

    mask = np.zeros((H, W), np.uint8)
    mask[5:20, 10:30] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    source = _load(tmp_path, _doc({"counts": rle["counts"].decode(), "size": [H, W]}))
    assert (coco.semantic_mask(source.images[0], source.lookup) == mask).all()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["images"][0].update(height=0),
        lambda d: d["images"][0].update(width=10**9),
        lambda d: d["images"].append(dict(d["images"][0])),  # the same id twice
        lambda d: d["annotations"][0].update(image_id=99),
    ],
)
def test_bad_image_entries_are_one_error(tmp_path: Path, mutate) -> None:
    doc = _doc(_rle(FULL))
    mutate(doc)
    with pytest.raises(BadInput):
        _load(tmp_path, doc)


def test_a_bad_export_is_one_line_from_the_cli(tmp_path: Path) -> None:
    doc = _doc(_rle([0, 7]))
    _load(tmp_path, _doc(_rle(FULL)))  # writes the images
    (tmp_path / "instances.json").write_text(json.dumps(doc))
    out = cli(
        "datasets", "import", "coco", "bad",
        "--train", str(tmp_path / "instances.json"),
        "--val", str(tmp_path / "instances.json"),
        "--images", str(tmp_path / "images"),
        "-w", str(tmp_path / "ws"),
    )  # fmt: skip
    assert out.returncode == 2 and "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert "instances.json: annotations[0].segmentation.counts sum to 7 pixels" in line
