"""Where a segmentation model fails: the validation images with the lowest IoU, each with its
ground truth and prediction, to look at rather than read about.

The split is streamed batch by batch and only the ``count`` worst images are kept (copies), so
this runs on a 5,000-image set in the memory of one batch and those images.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from backends.bench.local import check_sizes, runtime_options
from backends.bench.rows import BenchmarkRow
from backends.bench.stage import BenchStep
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.datasets.shards import split
from backends.errors import BadInput
from backends.events import Emit, ProgressReporter
from backends.formats import Format
from backends.metrics import ConfusionMatrix
from backends.overlays import LabelledImage
from backends.palette import overlay
from backends.runtimes import load, predict
from backends.tasks import SEGMENTATION, task_of
from backends.workspace import Workspace

if TYPE_CHECKING:
    from backends.report import Picture


@dataclass(frozen=True, kw_only=True)
class FailureImage(LabelledImage):
    """A validation image with its mIoU (over the classes in its truth or its prediction) and
    the model's prediction beside the ground truth."""

    miou: float
    prediction: np.ndarray = field(repr=False)

    def panel(self) -> np.ndarray:
        """image | ground truth over it | prediction over it, side by side."""
        return np.concatenate([super().panel(), overlay(self.rgb, self.prediction, self.ignore)], 1)


@dataclass(frozen=True, kw_only=True)
class DifferingImage(LabelledImage):
    """A validation image where two models (say fp32 and int8) disagree, with both
    predictions and the share of pixels where they differ."""

    differing: float  # share of the image's pixels where the two predictions differ
    first: np.ndarray = field(repr=False)
    second: np.ndarray = field(repr=False)

    def panel(self) -> np.ndarray:
        """first's prediction | second's prediction | the image with the differing pixels in
        white."""
        marked = self.rgb.copy()
        marked[self.first != self.second] = 255
        first, second = (overlay(self.rgb, p, self.ignore) for p in (self.first, self.second))
        return np.concatenate([first, second, marked], 1)


Scored = TypeVar("Scored")
Model = tuple[
    ArtifactRecord, str | None
]  # an artifact and the runtime to run it on (None: the first)


class _Lowest:
    """Keeps the ``count`` images where the first model scores the lowest mIoU."""

    def __init__(self, classes: tuple[str, ...], ignore: int, count: int) -> None:
        self.classes, self.ignore, self.count = classes, ignore, count
        self.scored: list[tuple] = []

    def add(self, index: int, image: np.ndarray, truth: np.ndarray, first: np.ndarray) -> None:
        miou = ConfusionMatrix.from_labels(truth, first, len(self.classes), self.ignore).miou
        if not np.isnan(miou):  # nothing labelled in it: no score to rank it by
            self.scored = _kept([*self.scored, (float(miou), index, image, truth, first)],
                                self.count)  # fmt: skip

    def images(self) -> list[FailureImage]:
        return [
            FailureImage(index=index, miou=score, image=image, truth=truth, prediction=first,
                         classes=self.classes, ignore=self.ignore)
            for score, index, image, truth, first in self.scored
        ]  # fmt: skip


class _Differing:
    """Keeps the ``count`` images where two models' predictions differ on the most pixels."""

    def __init__(self, classes: tuple[str, ...], ignore: int, count: int) -> None:
        self.classes, self.ignore, self.count = classes, ignore, count
        self.scored: list[tuple] = []

    def add(
        self, index: int, image: np.ndarray, truth: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> None:
        differing = float(np.mean(a != b))
        if differing > 0:
            self.scored = _kept([*self.scored, (-differing, index, image, truth, (a, b))],
                                self.count)  # fmt: skip

    def images(self) -> list[DifferingImage]:
        return [
            DifferingImage(index=index, differing=-score, image=image, truth=truth, first=a,
                           second=b, classes=self.classes, ignore=self.ignore)
            for score, index, image, truth, (a, b) in self.scored
        ]  # fmt: skip


def lowest_iou(
    ws: Workspace,
    artifact: ArtifactRecord,
    dataset: DatasetRecord,
    emit: Emit,
    *,
    runtime: str | None = None,
    count: int = 4,
    batch_size: int = 8,
    limit: int | None = None,
) -> list[FailureImage]:
    """The ``count`` validation images (of the first ``limit``; default all) where
    ``artifact`` (on ``runtime``; default the first that loads its format) scores the lowest
    mIoU, worst first."""
    lowest = _Lowest(*_check(dataset, count), count)
    for index, image, truth, (prediction,) in _predicted(
        ws, [(artifact, runtime)], dataset, emit, batch_size, limit
    ):
        lowest.add(index, image, truth, prediction)
    return lowest.images()


def most_different(
    ws: Workspace,
    first: Model,
    second: Model,
    dataset: DatasetRecord,
    emit: Emit,
    *,
    count: int = 4,
    batch_size: int = 8,
    limit: int | None = None,
) -> list[DifferingImage]:
    """The ``count`` validation images (of the first ``limit``; default all) where two
    (artifact, runtime) predictions differ on the most pixels, most first (images where they
    agree everywhere are left out)."""
    differing = _Differing(*_check(dataset, count), count)
    models = [first, second]
    for index, image, truth, (a, b) in _predicted(ws, models, dataset, emit, batch_size, limit):
        differing.add(index, image, truth, a, b)
    return differing.images()


def _check(dataset: DatasetRecord, count: int) -> tuple[tuple[str, ...], int]:
    if task_of(dataset.manifest) is not SEGMENTATION:
        raise BadInput(
            f"dataset {dataset.name} is for classification: failure images are for "
            "segmentation (read the confusion matrix of a classification run)"
        )
    if count < 1:
        raise BadInput(f"count must be at least 1, got {count}")
    return tuple(dataset.manifest["classes"]), int(dataset.manifest["ignore"])


def _kept(scored: list[Scored], count: int) -> list[Scored]:
    """The ``count`` lowest (score, index, ...) entries: worst first, earlier images first
    among equals. Called per image, so only ``count`` + 1 images are ever held."""
    return sorted(scored, key=lambda entry: entry[:2])[:count]  # type: ignore[index]


def _predicted(
    ws: Workspace,
    models: Sequence[Model],
    dataset: DatasetRecord,
    emit: Emit,
    batch_size: int,
    limit: int | None = None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray, list[np.ndarray]]]:
    """(index, image, truth, each model's class map) per validation image, streamed batch by
    batch; images and maps are copies, so the batch they came from is let go."""
    loaded = []
    for artifact, runtime in models:
        runtimes = Format.of(artifact).runtimes
        if not runtimes:
            raise BadInput(f"artifact {artifact.id} is a {artifact.kind}, which no runtime loads")
        check_sizes(artifact, dataset)
        chosen = runtime or runtimes[0]
        options = runtime_options(chosen, BenchStep(), artifact)
        loaded.append(load(chosen, ws.verify(artifact), **options))
    val = split(ws.path(dataset.path), "val")
    total = val.size if limit is None else min(limit, val.size)
    progress = ProgressReporter(emit, "failures", total, "images")
    index = 0
    for images, truths in val.batches(batch_size):
        if index >= total:
            break
        images, truths = images[: total - index], truths[: total - index]
        predicted = [predict(model, images).astype(truths.dtype) for model in loaded]
        for offset, (image, truth) in enumerate(zip(images, truths, strict=True)):
            yield index, image.copy(), truth.copy(), [p[offset].copy() for p in predicted]
            index += 1
        progress.advance(len(images))


def report_pictures(
    ws: Workspace,
    rows: Sequence[BenchmarkRow],
    dataset: DatasetRecord,
    count: int,
    emit: Emit,
) -> list[Picture]:
    """For the report of a segmentation run: the ``count`` images where the reference row
    (TensorFlow fp32 here) scores lowest, and for each int8 row measured here the images
    where it differs most from the reference; none for classification or without a
    reference."""
    from backends.bench.compare import reference_row, row_label
    from backends.overlays import png
    from backends.report import SCANNED, Picture

    reference = reference_row(rows)
    if count == 0 or reference is None or task_of(dataset.manifest) is not SEGMENTATION:
        return []
    catalog = ws.catalog
    int8 = [r for r in rows if r.board is None and r.ok and r.precision == "int8"]
    models = [(catalog.artifact(r.artifact), r.runtime) for r in (reference, *int8)]
    classes, ignore = _check(dataset, count)
    lowest = _Lowest(classes, ignore, count)
    differing = [_Differing(classes, ignore, count) for _ in int8]
    # one pass over the images, each model loaded once: the reference's failures and where
    # each int8 row differs from it
    for index, image, truth, (first, *others) in _predicted(ws, models, dataset, emit, 8, SCANNED):
        lowest.add(index, image, truth, first)
        for scorer, other in zip(differing, others, strict=True):
            scorer.add(index, image, truth, first, other)
    pictures = [
        Picture(
            f"failure-{i + 1}.png",
            png(image.panel()),
            f"{row_label(reference)}: image {image.index}, mIoU {image.miou:.3f} "
            "(image | ground truth | prediction)",
        )
        for i, image in enumerate(lowest.images())
    ]
    for k, (row, scorer) in enumerate(zip(int8, differing, strict=True)):
        pictures += [
            Picture(
                f"differs-{k + 1}-{i + 1}.png",
                png(image.panel()),
                f"{row_label(reference)} | {row_label(row)} | the {image.differing:.1%} of "
                f"pixels where they differ, in white: image {image.index}",
            )
            for i, image in enumerate(scorer.images())
        ]
    return pictures
