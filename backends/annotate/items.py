"""What an export holds, image by image: the image file's bytes, the version's labels where it
has them, and the model's pre-labels where it was asked for them (or recorded them).

A capture's frames go out as the JPEG bytes the board sent (nothing re-encoded: the labelling
tool shows what the camera saw); a labelled version's stored images as lossless PNG, with their
labels, split by split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from backends.acquire.frames import frame_path
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.datasets.preprocess import letterbox_image, resize_mask, unpad
from backends.datasets.shards import split
from backends.errors import BadInput
from backends.formats import Format
from backends.names import check_sha256
from backends.runtimes import LoadedModel, load, predict
from backends.workspace import Workspace


@dataclass(frozen=True)
class Item:
    file: str  # the name under images/
    data: bytes = field(repr=False)
    height: int
    width: int
    split: str | None  # the labelled version's split; None for a capture's frame
    labels: np.ndarray | None = field(repr=False)  # HxW class ids: the version's labels
    prelabel: np.ndarray | None = field(repr=False)  # HxW class ids: the model's

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class Prelabeller:
    """A model's class mask for any image: letterboxed to its input as in evaluation, the
    padding cut off, then scaled (nearest) back to the image's size."""

    def __init__(self, ws: Workspace, artifact: ArtifactRecord) -> None:
        runtimes = Format.of(artifact).runtimes
        if not runtimes:
            raise BadInput(f"artifact {artifact.id} is a {artifact.kind}, which no runtime loads")
        self.artifact = artifact
        self.model: LoadedModel = load(runtimes[0], ws.verify(artifact))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        boxed = letterbox_image(image, self.model.input_size)
        mask = predict(self.model, boxed[None])[0]
        return resize_mask(unpad(mask, (height, width)), (height, width))


def count(dataset: DatasetRecord) -> int:
    if not dataset.labelled:
        return int(dataset.manifest["images"])
    return sum(s["images"] for s in dataset.manifest["splits"].values())


def items(ws: Workspace, dataset: DatasetRecord, model: Prelabeller | None) -> Iterator[Item]:
    """Every image of ``dataset``, in order (a capture's frames, else split by split)."""
    if dataset.labelled:
        yield from _stored(ws, dataset, model)
    else:
        yield from _frames(ws, dataset, model)


def _frames(ws: Workspace, dataset: DatasetRecord, model: Prelabeller | None) -> Iterator[Item]:
    import cv2

    from backends.uncertainty import decode_jpeg

    for frame in dataset.manifest["frames"]:
        path = frame_path(ws.root, frame["sha256"])
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BadInput(
                f"{path}: frame {frame['index']} is missing from the workspace"
            ) from None
        if hashlib.sha256(data).hexdigest() != frame["sha256"]:
            raise BadInput(f"{path}: frame {frame['index']} is damaged (its sha256 differs)")
        height, width = frame["height"], frame["width"]
        prelabel = None
        if model is not None:
            prelabel = model(decode_jpeg(data))
        elif "prelabel" in frame:  # recorded while serving: the served model's mask
            sha = check_sha256(frame["prelabel"].get("sha256"), f"frame {frame['index']} prelabel")
            mask = cv2.imread(
                str(ws.root / "frames" / sha[:2] / f"{sha}.png"), cv2.IMREAD_UNCHANGED
            )
            if mask is None:
                raise BadInput(f"frame {frame['index']}: its recorded pre-label is missing")
            prelabel = resize_mask(mask, (height, width))
        name = f"frame-{frame['index']:06d}-{frame['sha256'][:8]}.jpg"
        yield Item(name, data, height, width, None, None, prelabel)


def _stored(ws: Workspace, dataset: DatasetRecord, model: Prelabeller | None) -> Iterator[Item]:
    import cv2

    root = ws.path(dataset.path)
    for split_name in dataset.manifest["splits"]:
        index = 0
        for images, masks in split(root, split_name).batches(32):
            for image, mask in zip(images, masks, strict=True):
                ok, png = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
                if not ok:
                    raise BadInput(f"{dataset.name}: image {index} of {split_name} is not an image")
                prelabel = model(image) if model is not None else None
                name = f"{split_name}-{index:06d}.png"
                height, width = mask.shape
                yield Item(name, png.tobytes(), height, width, split_name, mask.copy(), prelabel)
                index += 1
