"""Datasets into the workspace: validate everything first, then write shards atomically.

A dataset is ``datasets/NAME/VERSION/`` (shards + ``manifest.json``) where VERSION is the content
hash; it is assembled under ``tmp/`` and renamed into place, so a crash never leaves half a dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from backends.catalog import DatasetRecord
from backends.datasets import coco, synth
from backends.datasets.classmap import ClassMap
from backends.datasets.preprocess import Size, letterbox
from backends.datasets.shards import MANIFEST, MANIFEST_SCHEMA, dataset_version, write_shard
from backends.errors import BadInput
from backends.events import Emit, Log, ProgressReporter
from backends.workspace import Workspace

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SHARD_SIZE = 256


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise BadInput(
            f"dataset name {name!r} is not allowed: use letters, digits, '.', '_' or '-' "
            "(up to 64, starting with a letter or digit)"
        )
    return name


def import_coco(
    ws: Workspace,
    *,
    name: str,
    splits: Mapping[str, tuple[Path, Path]],
    class_map: ClassMap,
    size: Size,
    emit: Emit,
    shard_size: int = SHARD_SIZE,
    source: dict[str, Any] | None = None,
    stage: str = "dataset",
) -> DatasetRecord:
    """Import COCO splits (``split -> (annotations.json, images dir)``) as dataset ``name``."""
    check_name(name)
    if "train" not in splits or "val" not in splits:
        raise BadInput("a dataset needs a train and a val split")
    sources = {s: coco.load(ann, images, class_map) for s, (ann, images) in splits.items()}
    params = {
        "name": name,
        "size": list(size),
        "class_map": class_map.to_json(),
        "splits": {s: [str(a), str(i)] for s, (a, i) in splits.items()},
        "source": source or {},
    }
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    with ws.job("dataset", key, params) as job_id:
        tmp = ws.temporary(f"dataset-{name}")
        tmp.mkdir()
        try:
            total = sum(len(s.images) for s in sources.values())
            progress = ProgressReporter(emit, stage, total, "images")
            written = {
                s: _write_split(tmp, s, src, class_map, size, shard_size, progress)
                for s, src in sources.items()
            }
            version = dataset_version(
                class_map.classes, {s: w["shards"] for s, w in written.items()}
            )
            manifest = {
                "schema": MANIFEST_SCHEMA,
                "name": name,
                "version": version,
                "task": "segmentation",
                "classes": list(class_map.classes),
                "ignore": class_map.ignore,
                "image_size": list(size),
                "class_map": class_map.to_json(),
                "source": source or {},
                "splits": written,
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
            final = ws.root / "datasets" / name / version
            if final.exists():
                shutil.rmtree(tmp)
                emit(Log(stage=stage, level="info", message=f"{name}@{version} already present"))
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return ws.catalog.add_dataset(
            name=name,
            version=version,
            task="segmentation",
            path=ws.relative(final),
            manifest=manifest,
            job_id=job_id,
        )


def _write_split(
    root: Path,
    split: str,
    source: coco.CocoSource,
    class_map: ClassMap,
    size: Size,
    shard_size: int,
    progress: ProgressReporter,
) -> dict[str, Any]:
    shards: list[dict[str, Any]] = []
    pixels = np.zeros(256, np.int64)
    images, masks = [], []

    def flush() -> None:
        path = root / f"{split}-{len(shards):05d}.npz"
        shards.append(write_shard(path, np.stack(images), np.stack(masks)))
        images.clear()
        masks.clear()

    for image, mask in coco.samples(source):
        image, mask = letterbox(image, mask, size, class_map.ignore)
        pixels += np.bincount(mask.ravel(), minlength=256)
        images.append(image)
        masks.append(mask)
        progress.advance(message=split)
        if len(images) == shard_size:
            flush()
    if images:
        flush()
    return {
        "images": sum(s["images"] for s in shards),
        "shards": shards,
        "pixels": pixels[: class_map.num_classes].tolist(),
        "ignored": int(pixels[class_map.ignore]),
    }


def synth_dataset(
    ws: Workspace,
    *,
    name: str = "demo",
    images: int = 320,
    size: Size = (128, 128),
    seed: int = 0,
    val_fraction: float = 0.2,
    emit: Emit,
    stage: str = "dataset",
) -> DatasetRecord:
    """Generate the synthetic COCO dataset (reused when already generated) and import it."""
    if images < 2:
        raise BadInput(f"--images must be at least 2 (got {images}): one for train, one for val")
    if not 0 < val_fraction < 1:
        raise BadInput(f"val fraction must be between 0 and 1 (got {val_fraction})")
    params = {"images": images, "size": list(size), "seed": seed, "val_fraction": val_fraction}
    tag = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    source_dir = ws.root / "sources" / f"synth-{tag}"
    if not (source_dir / "annotations" / "instances_val.json").exists():
        tmp = ws.temporary(f"synth-{tag}")
        try:
            synth.generate(
                tmp,
                images=images,
                size=size,
                seed=seed,
                val_fraction=val_fraction,
                emit=emit,
                stage=stage,
            )
            shutil.rmtree(source_dir, ignore_errors=True)
            os.replace(tmp, source_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    splits = {
        s: (source_dir / "annotations" / f"instances_{s}.json", source_dir / "images")
        for s in ("train", "val")
    }
    return import_coco(
        ws,
        name=name,
        splits=splits,
        class_map=ClassMap.load("coco-4"),
        size=size,
        emit=emit,
        source={"synth": params},
        stage=stage,
    )
