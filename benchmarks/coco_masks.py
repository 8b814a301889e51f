"""COCO -> semantic mask throughput: mllib's loader vs the naive per-annotation loop.

The baseline is what most scripts (and the original mllib) do: ``COCO.annToMask`` for every
annotation, then one full-image boolean assignment per annotation. Both sides paint in the same
order, and the masks are checked to be identical before any time is reported.

    .venv/bin/python benchmarks/coco_masks.py [--images 200] [--per-image 15]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from backends.datasets import coco
from backends.datasets.classmap import ClassMap

CATEGORIES = [
    {"id": i, "name": n}
    for i, n in [(1, "person"), (3, "car"), (18, "dog"), (62, "chair"), (44, "bottle")]
]


def make_annotations(images: int, per_image: int, h: int, w: int, seed: int = 0) -> dict:
    """COCO-like statistics: polygon instances of assorted sizes, ~5% crowd RLEs."""
    rng = np.random.default_rng(seed)
    doc: dict = {"images": [], "annotations": [], "categories": CATEGORIES}
    ann_id = 1
    for image_id in range(1, images + 1):
        doc["images"].append(
            {"id": image_id, "file_name": f"{image_id}.jpg", "height": h, "width": w}
        )
        for _ in range(per_image):
            cat = CATEGORIES[int(rng.integers(len(CATEGORIES)))]["id"]
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(5, min(h, w) / 3)
            if rng.random() < 0.05:
                region = np.zeros((h, w), np.uint8)
                region[int(cy / 2) : int(cy), int(cx / 2) : int(cx)] = 1
                rle = mask_utils.encode(np.asfortranarray(region))
                seg, crowd = {"counts": rle["counts"].decode(), "size": [h, w]}, 1
            else:
                t = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(8, 30))))
                radius = r * rng.uniform(0.5, 1.0, t.size)
                poly = np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], 1)
                seg, crowd = [np.clip(poly, 0, [w - 1, h - 1]).ravel().round(2).tolist()], 0
            doc["annotations"].append(
                {
                    "id": ann_id,
                    "image_id": image_id,
                    "category_id": cat,
                    "segmentation": seg,
                    "iscrowd": crowd,
                }
            )
            ann_id += 1
    return doc


def naive(doc: dict, lookup: dict[int, int]) -> list[np.ndarray]:
    api = COCO()
    api.dataset = doc
    api.createIndex()
    out = []
    for info in doc["images"]:
        anns = api.loadAnns(api.getAnnIds(imgIds=[info["id"]]))
        masks = [api.annToMask(a) for a in anns]
        order = sorted(
            range(len(anns)),
            key=lambda i: (not anns[i]["iscrowd"], -int(masks[i].sum()), anns[i]["id"]),
        )
        mask = np.zeros((info["height"], info["width"]), np.uint8)
        for i in order:
            mask[masks[i] > 0] = lookup[anns[i]["category_id"]]
        out.append(mask)
    return out


def ours(doc: dict, lookup: dict[int, int]) -> list[np.ndarray]:
    sizes = {i["id"]: (i["height"], i["width"]) for i in doc["images"]}
    by_image: dict[int, list] = {}
    for ann in doc["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(coco.instance(ann, *sizes[ann["image_id"]]))
    return [
        coco.semantic_mask(
            coco.CocoImage(
                i["id"], None, i["height"], i["width"], tuple(by_image.get(i["id"], []))
            ),
            lookup,
        )
        for i in doc["images"]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--per-image", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    doc = make_annotations(args.images, args.per_image, 480, 640)
    lookup = ClassMap.load("coco-4").lookup(CATEGORIES, "benchmark")
    assert all((a == b).all() for a, b in zip(naive(doc, lookup), ours(doc, lookup), strict=True))
    timings = {}
    for name, fn in (("naive per-annotation loop", naive), ("mllib loader", ours)):
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn(doc, lookup)
            best = min(best, time.perf_counter() - start)
        timings[name] = best
        print(
            f"{name:<28} {args.images / best:8.1f} images/s  ({best * 1000 / args.images:.2f} "
            f"ms/image, {args.per_image} annotations/image, 480x640)"
        )
    ratio = timings["naive per-annotation loop"] / timings["mllib loader"]
    print(f"speed-up mllib / naive: {ratio:.2f}x (identical masks checked)")


if __name__ == "__main__":
    main()
