"""Metrics from one confusion matrix (rows = true class, columns = predicted).

Segmentation (counts are pixels), comparable with the original mllib's table:
- pixel accuracy: correct pixels / all pixels, the ignore label excluded;
- IoU per class: TP / (TP + FP + FN), NaN for a class absent from both truth and prediction;
- mIoU: mean of the per-class IoUs that are defined;
- similarity: the original's pooled foreground IoU, sum of TP over classes 1..N-1 divided by the
  sum of their unions.
The original's "Accuracy" averaged a running per-image accuracy with the background included; ours
pools pixels over the whole set, which weighs every pixel equally.

Classification (counts are images): top-1 accuracy; per class precision TP / (TP + FP) and recall
TP / (TP + FN), NaN where undefined; macro F1, the mean over classes of 2PR / (P + R), a class
with no F1 defined counting as 0 (as scikit-learn's ``zero_division=0``).
numpy only, Python 3.8: this module also runs on boards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ConfusionMatrix:
    matrix: np.ndarray  # int64, num_classes x num_classes

    @classmethod
    def empty(cls, num_classes: int) -> ConfusionMatrix:
        return cls(np.zeros((num_classes, num_classes), np.int64))

    @classmethod
    def from_labels(
        cls, true: np.ndarray, predicted: np.ndarray, num_classes: int, ignore: int | None = 255
    ) -> ConfusionMatrix:
        true, predicted = np.ravel(true), np.ravel(predicted)
        keep = true < num_classes
        if ignore is not None and ignore < num_classes:
            keep &= true != ignore
        # one code per (true, predicted) pair, in the narrowest type that holds it: at 480x512
        # this is a fifth of the time of int64 codes
        kind = np.uint16 if num_classes <= 256 else np.int64
        codes = true.astype(kind) * kind(num_classes) + predicted.astype(kind)
        counts = np.bincount(codes[keep], minlength=num_classes**2)
        return cls(counts.reshape(num_classes, num_classes))

    def __add__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        return ConfusionMatrix(self.matrix + other.matrix)

    @property
    def num_classes(self) -> int:
        return self.matrix.shape[0]

    @property
    def pixels(self) -> int:
        return int(self.matrix.sum())

    @property
    def pixel_accuracy(self) -> float:
        total = self.matrix.sum()
        return float(np.trace(self.matrix) / total) if total else float("nan")

    def _tp_union(self) -> tuple[np.ndarray, np.ndarray]:
        tp = np.diag(self.matrix).astype(np.float64)
        union = self.matrix.sum(0) + self.matrix.sum(1) - tp
        return tp, union

    @property
    def iou(self) -> np.ndarray:
        return _ratio(*self._tp_union())

    @property
    def miou(self) -> float:
        iou = self.iou
        return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")

    @property
    def similarity(self) -> float:
        tp, union = self._tp_union()
        denominator = union[1:].sum()
        return float(tp[1:].sum() / denominator) if denominator else float("nan")

    @property
    def precision(self) -> np.ndarray:
        return _ratio(np.diag(self.matrix), self.matrix.sum(0))

    @property
    def recall(self) -> np.ndarray:
        return _ratio(np.diag(self.matrix), self.matrix.sum(1))

    @property
    def macro_f1(self) -> float:
        p, r = self.precision, self.recall
        with np.errstate(invalid="ignore"):
            f1 = np.nan_to_num(2 * p * r / (p + r))
        return float(f1.mean()) if self.num_classes else float("nan")

    def normalised(self) -> np.ndarray:
        """Row-normalised (recall per true class); rows with no pixels stay zero."""
        rows = self.matrix.sum(1, keepdims=True)
        return np.divide(self.matrix, rows, out=np.zeros(self.matrix.shape), where=rows > 0)

    def summary(
        self, class_names: list[str] | tuple[str, ...], task: str = "segmentation"
    ) -> dict[str, Any]:
        """JSON-ready figures of ``task`` (NaN becomes None)."""
        if task == "classification":
            return {
                "accuracy": _finite(self.pixel_accuracy),
                "macro_f1": _finite(self.macro_f1),
                "precision": _per_class(class_names, self.precision),
                "recall": _per_class(class_names, self.recall),
                "confusion": self.matrix.tolist(),
            }
        return {
            "pixel_accuracy": _finite(self.pixel_accuracy),
            "miou": _finite(self.miou),
            "similarity": _finite(self.similarity),
            "iou": _per_class(class_names, self.iou),
            "confusion": self.matrix.tolist(),
            "pixels": self.pixels,
        }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def _per_class(names: list[str] | tuple[str, ...], values: np.ndarray) -> dict[str, float | None]:
    return {name: _finite(v) for name, v in zip(names, values)}


def _finite(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)
