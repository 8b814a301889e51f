"""A deterministic synthetic COCO-format dataset: the embedded default.

Polygon shapes of several COCO categories (people with a separate head polygon, vehicles,
star-shaped animals, and chairs that the coco-4 map sends to void) on textured backgrounds, plus
occasional crowd regions as uncompressed RLE. It is written as real files (PNG images and
``instances_*.json``) and imported through the same COCO loader as real data.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from backends.events import Emit, ProgressReporter

CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 3, "name": "car", "supercategory": "vehicle"},
    {"id": 6, "name": "bus", "supercategory": "vehicle"},
    {"id": 17, "name": "cat", "supercategory": "animal"},
    {"id": 18, "name": "dog", "supercategory": "animal"},
    {"id": 62, "name": "chair", "supercategory": "furniture"},
]
# OpenCV hue ranges (0-180) per category: colour and shape both carry the class.
_HUES = {1: (0, 12), 3: (100, 125), 6: (100, 125), 17: (45, 75), 18: (45, 75), 62: (140, 170)}


def generate(
    out: Path,
    *,
    images: int,
    size: tuple[int, int],
    seed: int,
    val_fraction: float,
    emit: Emit,
    stage: str = "dataset",
) -> dict[str, Path]:
    """Write ``out/images/*.png`` and one annotation file per split; return split -> file."""
    import cv2

    rng = np.random.default_rng(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(exist_ok=True)
    n_val = max(1, round(images * val_fraction))
    splits: dict[str, dict[str, Any]] = {
        s: {"images": [], "annotations": [], "categories": CATEGORIES} for s in ("train", "val")
    }
    progress = ProgressReporter(emit, stage, images, "images")
    ann_id = 1
    for image_id in range(1, images + 1):
        split = "val" if image_id > images - n_val else "train"
        pixels, anns = _scene(rng, size)
        file_name = f"synth-{image_id:06d}.png"
        cv2.imwrite(str(out / "images" / file_name), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
        splits[split]["images"].append(
            {"id": image_id, "file_name": file_name, "height": size[0], "width": size[1]}
        )
        for ann in anns:
            splits[split]["annotations"].append({"id": ann_id, "image_id": image_id, **ann})
            ann_id += 1
        progress.advance()
    files = {}
    for name, doc in splits.items():
        files[name] = out / "annotations" / f"instances_{name}.json"
        files[name].write_text(json.dumps(doc))
    return files


def _scene(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, list[dict]]:
    import cv2

    h, w = size
    pixels = _background(rng, size)
    anns: list[dict[str, Any]] = []
    if rng.random() < 0.1:
        anns.append(_crowd(rng, pixels))
    for _ in range(int(rng.integers(1, 5))):
        category = CATEGORIES[int(rng.integers(len(CATEGORIES)))]["id"]
        scale = rng.uniform(0.2, 0.5) * min(h, w)
        centre = (rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h)
        polygons = _shape(category, centre, scale, rng)
        colour = _colour(category, rng)
        for polygon in polygons:
            cv2.fillPoly(pixels, [np.round(polygon).astype(np.int32)], colour)
        flat = [[round(float(v), 2) for v in polygon.reshape(-1)] for polygon in polygons]
        xs, ys = np.concatenate(polygons)[:, 0], np.concatenate(polygons)[:, 1]
        anns.append(
            {
                "category_id": category,
                "segmentation": flat,
                "iscrowd": 0,
                "area": float(sum(_polygon_area(p) for p in polygons)),
                "bbox": [float(xs.min()), float(ys.min()), float(np.ptp(xs)), float(np.ptp(ys))],
            }
        )
    return pixels, anns


def _background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = size
    base = rng.uniform(60, 200, 3)
    coarse = rng.normal(0, 30, (max(2, h // 16), max(2, w // 16), 3))
    texture = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    stripes = 20 * np.sin(np.arange(w) / rng.uniform(3, 12) + rng.uniform(0, 6))[None, :, None]
    grain = rng.normal(0, 8, (h, w, 3))
    hsv = np.clip(base + texture + stripes + grain, 0, 255).astype(np.uint8)
    hsv[..., 1] //= 3  # backgrounds are desaturated; objects are saturated
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _colour(category: int, rng: np.random.Generator) -> tuple[int, int, int]:
    import cv2

    low, high = _HUES[category]
    hsv = np.array(
        [[[rng.integers(low, high), rng.integers(150, 256), rng.integers(120, 256)]]], np.uint8
    )
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def _shape(
    category: int, centre: tuple[float, float], s: float, rng: np.random.Generator
) -> list[np.ndarray]:
    cx, cy = centre
    if category == 1:  # person: a tall body and a separate head polygon
        body = _ellipse(cx, cy + 0.1 * s, 0.18 * s, 0.38 * s)
        return [body, _ellipse(cx, cy - 0.4 * s, 0.12 * s, 0.12 * s)]
    if category in (3, 6):  # vehicle: a long body with a cabin on top
        length = 1.0 if category == 3 else 1.4
        half, top = 0.5 * length * s, cy - 0.15 * s
        return [
            np.array(
                [
                    [cx - half, cy + 0.15 * s],
                    [cx + half, cy + 0.15 * s],
                    [cx + half, top],
                    [cx + 0.25 * s, top],
                    [cx + 0.15 * s, top - 0.2 * s],
                    [cx - 0.25 * s, top - 0.2 * s],
                    [cx - 0.35 * s, top],
                    [cx - half, top],
                ]
            )
        ]
    if category in (17, 18):  # animal: a star with 5 to 8 spikes
        spikes = int(rng.integers(5, 9))
        angles = np.linspace(0, 2 * math.pi, 2 * spikes, endpoint=False) + rng.uniform(0, 1)
        radii = np.where(np.arange(2 * spikes) % 2 == 0, 0.45 * s, 0.22 * s)
        return [np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)]
    # chair (void in coco-4): a small upright frame
    return [
        np.array(
            [
                [cx - 0.2 * s, cy - 0.3 * s],
                [cx - 0.1 * s, cy - 0.3 * s],
                [cx - 0.1 * s, cy],
                [cx + 0.2 * s, cy],
                [cx + 0.2 * s, cy + 0.3 * s],
                [cx - 0.2 * s, cy + 0.3 * s],
            ]
        )
    ]


def _ellipse(cx: float, cy: float, rx: float, ry: float, points: int = 16) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, points, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _polygon_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _crowd(rng: np.random.Generator, pixels: np.ndarray) -> dict[str, Any]:
    """A block of small people annotated as one crowd region (uncompressed RLE, iscrowd=1)."""
    import cv2

    h, w = pixels.shape[:2]
    bh, bw = int(h * rng.uniform(0.2, 0.3)), int(w * rng.uniform(0.3, 0.5))
    top, left = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
    region = np.zeros((h, w), np.uint8)
    for x in np.linspace(left + bw * 0.1, left + bw * 0.9, 4):
        for polygon in _shape(1, (x, top + bh * 0.55), bh * 0.8, rng):
            cv2.fillPoly(pixels, [np.round(polygon).astype(np.int32)], _colour(1, rng))
            cv2.fillPoly(region, [np.round(polygon).astype(np.int32)], 1)
    flat = region.reshape(-1, order="F")  # COCO RLE runs go down columns
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts.insert(0, 0)  # runs always start with a (possibly empty) run of zeros
    return {
        "category_id": 1,
        "iscrowd": 1,
        "segmentation": {"counts": counts, "size": [h, w]},
        "area": float(region.sum()),
        "bbox": [left, top, bw, bh],
    }
