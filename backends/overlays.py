"""Images with their class masks drawn over them, to look at in a notebook or a report: a
colour per class, half blended, void left as it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice

import numpy as np

from backends.catalog import DatasetRecord
from backends.datasets.shards import split
from backends.errors import BadInput
from backends.palette import overlay
from backends.tasks import SEGMENTATION, task_of
from backends.workspace import Workspace


def png(rgb: np.ndarray) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise BadInput(f"an image of shape {rgb.shape} cannot be encoded as PNG")
    return data.tobytes()


@dataclass(frozen=True, kw_only=True)
class LabelledImage:
    """An image of a split (``index`` in it) and its ground-truth mask."""

    index: int
    image: np.ndarray = field(repr=False)  # HxWxC uint8
    truth: np.ndarray = field(repr=False)  # HxW class indices (``ignore`` where unlabelled)
    classes: tuple[str, ...] = ()
    ignore: int = 255

    @property
    def rgb(self) -> np.ndarray:
        return self.image if self.image.shape[-1] == 3 else np.repeat(self.image, 3, axis=-1)

    def panel(self) -> np.ndarray:
        """The image | its ground truth over it, side by side."""
        return np.concatenate([self.rgb, overlay(self.rgb, self.truth, self.ignore)], axis=1)

    def shares(self) -> dict[str, float]:
        """Each class's share of the labelled pixels."""
        labelled = self.truth[self.truth != self.ignore]
        counts = np.bincount(labelled.ravel(), minlength=len(self.classes))
        return {
            name: float(counts[i] / max(1, labelled.size)) for i, name in enumerate(self.classes)
        }

    def _repr_png_(self) -> bytes:  # drawn inline by Jupyter
        return png(self.panel())


def samples(
    ws: Workspace, dataset: DatasetRecord, split_name: str = "val", count: int = 4
) -> list[LabelledImage]:
    """The first ``count`` images of a segmentation dataset's split, with their masks."""
    if task_of(dataset.manifest) is not SEGMENTATION:
        raise BadInput(f"dataset {dataset.name} is for classification: it has no masks to draw")
    if count < 1:
        raise BadInput(f"count must be at least 1, got {count}")
    if split_name not in dataset.manifest.get("splits", {}):
        raise BadInput(f"dataset {dataset.name} has no split {split_name!r} (train, val)")
    chosen = split(ws.path(dataset.path), split_name)
    batches = chosen.batches(16)
    pairs = (pair for images, masks in batches for pair in zip(images, masks, strict=True))
    return [
        LabelledImage(
            index=i,
            image=image,
            truth=mask,
            classes=tuple(dataset.manifest["classes"]),
            ignore=int(dataset.manifest["ignore"]),
        )
        for i, (image, mask) in enumerate(islice(pairs, count))
    ]
