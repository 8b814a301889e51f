"""Where a segmentation model fails: the validation images with the lowest IoU, each with its
ground truth and prediction, to look at rather than read about.

The split is streamed batch by batch and only the ``count`` worst images are kept (copies), so
this runs on a 5,000-image set in the memory of one batch and those images.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from backends.bench.local import check_sizes, runtime_options
from backends.bench.stage import BenchStep
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.datasets.shards import split
from backends.errors import BadInput
from backends.events import Emit, ProgressReporter
from backends.formats import Format
from backends.metrics import ConfusionMatrix
from backends.overlays import LabelledImage
from backends.palette import overlay
from backends.runtimes import infer, load
from backends.tasks import SEGMENTATION, task_of
from backends.workspace import Workspace


@dataclass(frozen=True, kw_only=True)
class FailureImage(LabelledImage):
    """A validation image with its mIoU (over the classes in its truth or its prediction) and
    the model's prediction beside the ground truth."""

    miou: float
    prediction: np.ndarray = field(repr=False)

    def panel(self) -> np.ndarray:
        """image | ground truth over it | prediction over it, side by side."""
        return np.concatenate([super().panel(), overlay(self.rgb, self.prediction, self.ignore)], 1)


def lowest_iou(
    ws: Workspace,
    artifact: ArtifactRecord,
    dataset: DatasetRecord,
    emit: Emit,
    *,
    runtime: str | None = None,
    count: int = 4,
    batch_size: int = 8,
) -> list[FailureImage]:
    """The ``count`` validation images where ``artifact`` (on ``runtime``; default the first
    that loads its format) scores the lowest mIoU, worst first."""
    if task_of(dataset.manifest) is not SEGMENTATION:
        raise BadInput(
            f"dataset {dataset.name} is for classification: failure images are for "
            "segmentation (read the confusion matrix of a classification run)"
        )
    if count < 1:
        raise BadInput(f"count must be at least 1, got {count}")
    runtimes = Format.of(artifact).runtimes
    if not runtimes:
        raise BadInput(f"artifact {artifact.id} is a {artifact.kind}, which no runtime loads")
    check_sizes(artifact, dataset)
    chosen = runtime or runtimes[0]
    loaded = load(chosen, ws.verify(artifact), **runtime_options(chosen, BenchStep(), artifact))
    classes: Sequence[str] = dataset.manifest["classes"]
    ignore = int(dataset.manifest["ignore"])
    val = split(ws.path(dataset.path), "val")
    progress = ProgressReporter(emit, "failures", val.size, "images")
    worst: list[tuple[float, int, FailureImage]] = []  # a heap of the count worst, by -miou
    index = 0
    for images, truths in val.batches(batch_size):
        predicted = infer(loaded, images).argmax(-1)
        for image, truth, prediction in zip(images, truths, predicted, strict=True):
            index += 1
            miou = ConfusionMatrix.from_labels(truth, prediction, len(classes), ignore).miou
            if np.isnan(miou):  # nothing labelled in it: no score to rank it by
                continue
            if len(worst) == count and -miou <= worst[0][0]:
                continue  # better than every image kept
            item = FailureImage(
                index=index - 1,
                miou=float(miou),
                image=image.copy(),  # copies, so that the batch it came from is let go
                truth=truth.copy(),
                prediction=prediction.astype(truth.dtype),
                classes=tuple(classes),
                ignore=ignore,
            )
            entry = (-float(miou), -index, item)
            if len(worst) < count:
                heapq.heappush(worst, entry)
            else:
                heapq.heapreplace(worst, entry)
        progress.advance(len(images))
    return [item for _, _, item in sorted(worst, key=lambda entry: (-entry[0], -entry[1]))]
