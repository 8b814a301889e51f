"""Evaluate a runtime on a dataset split: the confusion matrix over every image.

numpy only (with whichever runtime adapter is passed in): the board agent runs this too.
"""

from __future__ import annotations

from collections.abc import Callable

from backends.datasets.shards import Split
from backends.metrics import ConfusionMatrix
from backends.runtimes import LoadedModel, predict


def evaluate(
    runtime: LoadedModel,
    split: Split,
    *,
    num_classes: int,
    ignore: int | None,
    batch_size: int = 8,
    limit: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> ConfusionMatrix:
    """Argmax of the runtime's probabilities against the masks or labels; ``on_batch(n)`` after
    each batch."""
    total = ConfusionMatrix.empty(num_classes)
    for images, targets in split.batches(batch_size, limit):
        predicted = predict(runtime, images)
        total += ConfusionMatrix.from_labels(targets, predicted, num_classes, ignore)
        if on_batch is not None:
            on_batch(len(images))
    return total
