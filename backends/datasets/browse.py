"""One image at a time from a dataset version, to look at: a labelled split's images with their
masks or labels, or a capture's camera frames. Random access (a shard is read once and kept
while its images are looked at), so stepping and jumping stay fast on a large version."""

from __future__ import annotations

import bisect
import itertools
import threading
from dataclasses import dataclass, field

import numpy as np

from backends.acquire.frames import frame_path
from backends.catalog import DatasetRecord
from backends.datasets.shards import Split, split
from backends.errors import BadInput
from backends.workspace import Workspace


@dataclass(frozen=True)
class View:
    index: int
    image: np.ndarray = field(repr=False)  # H x W x 3 uint8 RGB
    mask: np.ndarray | None = field(repr=False)  # H x W class indices (segmentation)
    label: int | None  # the class (classification)
    caption: str  # what it is: its class, or a frame's capture facts

    def shares(self, classes: int, ignore: int) -> list[float]:
        """Each class's share of the labelled pixels (segmentation), else empty."""
        if self.mask is None:
            return []
        labelled = self.mask[self.mask != ignore]
        counts = np.bincount(labelled.ravel(), minlength=classes)[:classes]
        return (counts / max(1, labelled.size)).tolist()


class Browser:
    """The images of one split of ``dataset`` (a capture has one: its frames)."""

    def __init__(self, ws: Workspace, dataset: DatasetRecord, split_name: str = "val") -> None:
        self.ws, self.dataset = ws, dataset
        self.classes: list[str] = list(dataset.manifest.get("classes", []))
        self.ignore = int(dataset.manifest.get("ignore") or 255)
        self.splits = list(dataset.manifest.get("splits", {})) or ["frames"]
        if split_name not in self.splits:
            split_name = self.splits[-1]
        self.split_name = split_name
        self._shard: tuple[int, tuple[np.ndarray, np.ndarray]] | None = None
        self._reading = threading.Lock()  # one shard read at a time, whichever thread asks
        self._split: Split | None = None
        self._starts: list[int] = []
        if dataset.labelled:
            self._split = split(ws.path(dataset.path), split_name)
            counts = [s["images"] for s in self._split.shards]
            self._starts = [0, *itertools.accumulate(counts)][:-1]

    def __len__(self) -> int:
        if self._split is None:
            return len(self.dataset.manifest["frames"])
        return self._split.size

    def __getitem__(self, index: int) -> View:
        if not 0 <= index < len(self):
            raise BadInput(f"image {index} is not in {self.split_name} (0 to {len(self) - 1})")
        if self._split is None:
            return self._frame(index)
        shard = bisect.bisect_right(self._starts, index) - 1
        with self._reading:
            if self._shard is None or self._shard[0] != shard:
                self._shard = (shard, self._split.read(shard))
            images, targets = self._shard[1]
        image, target = images[index - self._starts[shard]], targets[index - self._starts[shard]]
        rgb = image if image.shape[-1] == 3 else np.repeat(image, 3, axis=-1)
        if target.ndim == 2:
            return View(index, rgb, target, None, f"{self.split_name} image {index}")
        label = int(target)
        name = self.classes[label] if 0 <= label < len(self.classes) else str(label)
        return View(index, rgb, None, label, f"{self.split_name} image {index}: {name}")

    def _frame(self, index: int) -> View:
        from backends.uncertainty import decode_jpeg

        frame = self.dataset.manifest["frames"][index]
        path = frame_path(self.ws.root, frame["sha256"])
        try:
            image = decode_jpeg(path.read_bytes())
        except FileNotFoundError:
            raise BadInput(f"{path}: the frame's file is missing from the workspace") from None
        score = "" if frame["score"] is None else f", entropy {frame['score']:.3f}"
        caption = f"frame {frame['index']}, {frame['width']}x{frame['height']}{score}"
        return View(index, image, None, None, caption)
