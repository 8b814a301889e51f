"""Datasets into the workspace: validate everything first, then write shards atomically.

A dataset is ``datasets/NAME/VERSION/`` (shards + ``manifest.json``) where VERSION is the content
hash; it is assembled under ``tmp/`` and renamed into place, so a crash never leaves half a dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backends.catalog import DatasetRecord
from backends.datasets import coco, folder, idx, synth
from backends.datasets.classmap import ClassMap
from backends.datasets.preprocess import Size, letterbox, letterbox_image
from backends.datasets.shards import MANIFEST, MANIFEST_SCHEMA, dataset_version, write_shard
from backends.durable import fsync, write_durably
from backends.errors import BadInput
from backends.events import Emit, Log, ProgressReporter
from backends.names import check_name
from backends.workspace import Workspace

SHARD_BYTES = 16 << 20  # 256 images at 128x128 RGB with masks
MAX_SHARD_IMAGES = 8192


def import_coco(
    ws: Workspace,
    *,
    name: str,
    splits: Mapping[str, tuple[Path, Path]],
    class_map: ClassMap,
    size: Size,
    emit: Emit,
    shard_size: int | None = None,
    source: dict[str, Any] | None = None,
    stage: str = "dataset",
) -> DatasetRecord:
    """Import COCO splits (``split -> (annotations.json, images dir)``) as dataset ``name``."""
    check_name(name, "dataset name")
    _check_splits(splits)
    sources = {s: coco.load(ann, images, class_map) for s, (ann, images) in splits.items()}
    return import_sources(
        ws,
        name=name,
        sources=sources,
        class_map=class_map,
        size=size,
        emit=emit,
        params={"splits": {s: [str(a), str(i)] for s, (a, i) in splits.items()}},
        source=source or {},
        shard_size=shard_size,
        stage=stage,
    )


def import_sources(
    ws: Workspace,
    *,
    name: str,
    sources: Mapping[str, coco.CocoSource],
    class_map: ClassMap,
    size: Size,
    emit: Emit,
    params: dict[str, Any],
    source: dict[str, Any],
    shard_size: int | None = None,
    stage: str = "dataset",
) -> DatasetRecord:
    """Validated COCO sources (``split -> source``) as dataset ``name``; ``params`` and
    ``source`` say where they came from (the job key and the manifest)."""
    check_name(name, "dataset name")
    _check_splits(sources)
    ignore = class_map.ignore
    return _assemble(
        ws,
        Layout(name, "segmentation", class_map.classes, size, 3, class_map.ignore),
        {
            s: (len(src.images), coco.samples(src, lambda i, m: letterbox(i, m, size, ignore)))
            for s, src in sources.items()
        },
        params=params,
        extra={"class_map": class_map.to_json()},
        source=source,
        emit=emit,
        shard_size=shard_size,
        stage=stage,
    )


def import_classification(
    ws: Workspace,
    *,
    name: str,
    classes: tuple[str, ...],
    splits: Mapping[str, tuple[int, Iterable[tuple[np.ndarray, int]]]],
    size: Size,
    channels: int,
    source: dict[str, Any],
    emit: Emit,
    shard_size: int | None = None,
    stage: str = "dataset",
) -> DatasetRecord:
    """Import labelled images (``split -> (count, (image, class id)...)``) as ``name``; images
    are letterboxed to ``size``. ``source`` identifies the data (it keys the import job)."""
    check_name(name, "dataset name")
    _check_splits(splits)
    return _assemble(
        ws,
        Layout(name, "classification", classes, size, channels, None),
        {
            s: (count, ((letterbox_image(image, size), label) for image, label in samples))
            for s, (count, samples) in splits.items()
        },
        params={},
        extra={},
        source=source,
        emit=emit,
        shard_size=shard_size,
        stage=stage,
    )


def import_idx(
    ws: Workspace,
    *,
    name: str,
    directory: Path,
    classes: tuple[str, ...] = idx.FASHION_MNIST_CLASSES,
    size: Size = (28, 28),
    limits: Mapping[str, int | None] | None = None,
    emit: Emit,
    shard_size: int | None = None,
) -> DatasetRecord:
    """MNIST-layout IDX files (Fashion-MNIST by default), the first ``limits[split]`` images of
    each split when given (both sets are already shuffled)."""
    limits = limits or {}
    splits = {}
    for split_name, (images_stem, labels_stem) in idx.FASHION_MNIST_FILES.items():
        data = idx.read_split(
            idx.find(directory, images_stem), idx.find(directory, labels_stem), len(classes)
        )
        count = min(len(data.labels), limits.get(split_name) or len(data.labels))
        splits[split_name] = (
            count,
            zip(data.images[:count], data.labels[:count].tolist(), strict=True),
        )
    return import_classification(
        ws,
        name=name,
        classes=classes,
        splits=splits,
        size=size,
        channels=1,
        source={"idx": str(directory), "limits": dict(limits)},
        emit=emit,
        shard_size=shard_size,
    )


def import_folder(
    ws: Workspace,
    *,
    name: str,
    root: Path,
    size: Size,
    channels: int = 3,
    val_fraction: float = 0.2,
    seed: int = 0,
    emit: Emit,
    shard_size: int | None = None,
) -> DatasetRecord:
    """A folder of class folders (see ``backends/datasets/folder.py``)."""
    if channels not in (1, 3):
        raise BadInput(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    classes, splits = folder.scan(root, val_fraction=val_fraction, seed=seed)
    return import_classification(
        ws,
        name=name,
        classes=classes,
        splits={s: (len(f.files), f.images(channels)) for s, f in splits.items()},
        size=size,
        channels=channels,
        source={
            "folder": str(Path(root).resolve()),
            "images": {s: len(f.files) for s, f in splits.items()},
            "val_fraction": val_fraction,
            "seed": seed,
        },
        emit=emit,
        shard_size=shard_size,
    )


@dataclass(frozen=True)
class Layout:
    """What a dataset holds, before any data is written."""

    name: str
    task: str
    classes: tuple[str, ...]
    size: Size
    channels: int
    ignore: int | None  # segmentation's unlabelled pixels; None for classification


def _check_splits(splits: Mapping[str, Any]) -> None:
    if "train" not in splits or "val" not in splits:
        raise BadInput("a dataset needs a train and a val split")


def _assemble(
    ws: Workspace,
    layout: Layout,
    splits: Mapping[str, tuple[int, Iterable[tuple[np.ndarray, Any]]]],
    *,
    params: dict[str, Any],
    extra: dict[str, Any],
    source: dict[str, Any],
    emit: Emit,
    shard_size: int | None,
    stage: str,
) -> DatasetRecord:
    """Write every split's (image, target) samples as shards under ``tmp/``, then move the
    dataset into place and record it; an identical dataset already present is reused."""
    key_params = {**asdict(layout), **params, **extra, "source": source}

    key = hashlib.sha256(json.dumps(key_params, sort_keys=True).encode()).hexdigest()
    with ws.job("dataset", key, key_params) as job_id:
        tmp = ws.temporary(f"dataset-{layout.name}")
        tmp.mkdir()
        try:
            total = sum(count for count, _ in splits.values())
            progress = ProgressReporter(emit, stage, total, "images")
            written = {
                s: _write_split(tmp, s, samples, layout, shard_size, progress)
                for s, (_, samples) in splits.items()
            }
            version = dataset_version(layout.classes, {s: w["shards"] for s, w in written.items()})
            manifest = {
                "schema": MANIFEST_SCHEMA,
                "name": layout.name,
                "version": version,
                "task": layout.task,
                "classes": list(layout.classes),
                "ignore": layout.ignore,
                "image_size": list(layout.size),
                "channels": layout.channels,
                **extra,
                "source": source,
                "splits": written,
            }
            write_durably(tmp / MANIFEST, json.dumps(manifest, indent=1).encode())
            fsync(tmp)
            final = ws.root / "datasets" / layout.name / version
            if final.exists():
                shutil.rmtree(tmp)
                emit(
                    Log(
                        stage=stage,
                        level="info",
                        message=f"{layout.name}@{version} already present",
                    )
                )
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, final)
                fsync(final.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return ws.catalog.add_dataset(
            name=layout.name,
            version=version,
            task=layout.task,
            path=ws.relative(final),
            manifest=manifest,
            job_id=job_id,
        )


def _write_split(
    root: Path,
    split: str,
    samples: Iterable[tuple[np.ndarray, Any]],
    layout: Layout,
    shard_size: int | None,
    progress: ProgressReporter,
) -> dict[str, Any]:
    """Shards of ``shard_size`` images (by default as many as fit in ``SHARD_BYTES``) and the
    split's class histogram: pixels per class for segmentation, images per class otherwise."""
    height, width = layout.size
    per_image = height * width * (layout.channels + (layout.task == "segmentation"))
    shard_size = shard_size or min(MAX_SHARD_IMAGES, max(1, SHARD_BYTES // per_image))
    histogram = np.zeros(256, np.int64)
    images: list[np.ndarray] = []
    targets: list[Any] = []
    # A shard is compressed, hashed and fsynced on a thread of its own while the next one is
    # gathered (zlib and sha256 release the GIL): at 480x512 compression is most of an
    # import's time. One shard is written at a time; the manifest keeps their order.
    with ThreadPoolExecutor(1, thread_name_prefix="shard") as writer:
        written: list[Future[dict[str, Any]]] = []

        def flush() -> None:
            if written:
                written[-1].result()  # one shard in writing at a time; a failed write stops
            path = root / f"{split}-{len(written):05d}.npz"
            stacked, labels = np.stack(images), np.asarray(targets, np.uint8)
            written.append(writer.submit(write_shard, path, stacked, labels))
            images.clear()
            targets.clear()

        for image, target in samples:
            if image.shape != (height, width, layout.channels):
                raise BadInput(
                    f"{split}: an image of shape {image.shape} in a {layout.name} dataset"
                )
            histogram += np.bincount(np.ravel(target), minlength=256)
            images.append(image)
            targets.append(target)
            progress.advance(message=split)
            if len(images) == shard_size:
                flush()
        if images:
            flush()
        shards = [future.result() for future in written]
    n = len(layout.classes)
    entry = {"images": sum(s["images"] for s in shards), "shards": shards}
    if layout.ignore is None:
        return {**entry, "counts": histogram[:n].tolist()}
    return {**entry, "pixels": histogram[:n].tolist(), "ignored": int(histogram[layout.ignore])}


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
