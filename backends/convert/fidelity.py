"""Does a converted model still do the job? Compare it with the reference on the same images.

Figures: largest absolute difference of the probabilities, argmax agreement (share of pixels, or
of images for classification, with the same predicted class), and the change of the task's
headline metric against the ground truth (mIoU or top-1 accuracy), per class too (IoU or recall).
Gates by precision: fp32 and fp16 may move the metric by at most a tolerance either way; int8 may
drop it by at most ``max_drop_int8``. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backends.datasets.shards import Split
from backends.formats import Precision
from backends.metrics import ConfusionMatrix
from backends.runtimes import LoadedModel, infer
from backends.tasks import Task


@dataclass(frozen=True)
class FidelityGates:
    max_delta_fp32: float = 0.001
    max_delta_fp16: float = 0.002
    max_drop_int8: float = 0.01

    def judge(self, precision: Precision, delta: float, label: str) -> tuple[bool, str]:
        if precision is Precision.INT8:
            return delta >= -self.max_drop_int8, f"{label} drop <= {self.max_drop_int8}"
        tolerance = self.max_delta_fp16 if precision is Precision.FP16 else self.max_delta_fp32
        return abs(delta) <= tolerance, f"{label} change within ±{tolerance}"


@dataclass(frozen=True)
class Fidelity:
    images: int
    max_abs_diff: float | None  # None when measured on a board: its probabilities stay there
    argmax_agreement: float
    metric: str  # the row key compared: miou or accuracy
    reference: float
    value: float
    delta: float
    delta_per_class: dict[str, float | None]  # IoU (segmentation) or recall (classification)
    passed: bool
    gate: str

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in vars(self).items()}


def check(
    reference: LoadedModel,
    candidate: LoadedModel,
    split: Split,
    *,
    images: int,
    precision: Precision,
    task: Task,
    classes: list[str],
    ignore: int | None,
    gates: FidelityGates,
    batch_size: int = 8,
) -> Fidelity:
    n = len(classes)
    ref_cm, cand_cm = ConfusionMatrix.empty(n), ConfusionMatrix.empty(n)
    max_diff, same, total = 0.0, 0, 0
    for batch, targets in split.batches(batch_size, limit=images):
        ref, cand = infer(reference, batch), infer(candidate, batch)
        max_diff = max(max_diff, float(np.abs(ref - cand).max()))
        ref_label, cand_label = ref.argmax(-1), cand.argmax(-1)
        same += int((ref_label == cand_label).sum())
        total += ref_label.size
        ref_cm += ConfusionMatrix.from_labels(targets, ref_label, n, ignore)
        cand_cm += ConfusionMatrix.from_labels(targets, cand_label, n, ignore)
    return judge(
        ref_cm.summary(classes, task.name),
        cand_cm.summary(classes, task.name),
        images=min(images, split.size),
        max_abs_diff=max_diff,
        argmax_agreement=same / total if total else float("nan"),
        precision=precision,
        task=task,
        classes=classes,
        gates=gates,
    )


def judge(
    ref_fig: dict[str, Any],
    cand_fig: dict[str, Any],
    *,
    images: int,
    max_abs_diff: float | None,
    argmax_agreement: float,
    precision: Precision,
    task: Task,
    classes: list[str],
    gates: FidelityGates,
) -> Fidelity:
    """The fidelity of a candidate from its figures and the reference's on the same images
    (``ConfusionMatrix.summary``): wherever the candidate ran, here or on a board."""
    primary = task.primary
    delta = _minus(cand_fig[primary], ref_fig[primary])
    passed, gate = gates.judge(precision, delta, task.primary_label)
    per_class = task.per_class[0]
    return Fidelity(
        images=images,
        max_abs_diff=max_abs_diff,
        argmax_agreement=argmax_agreement,
        metric=primary,
        reference=_nan(ref_fig[primary]),
        value=_nan(cand_fig[primary]),
        delta=delta,
        delta_per_class={
            c: None if np.isnan(d := _minus(cand_fig[per_class][c], ref_fig[per_class][c])) else d
            for c in classes
        },
        passed=passed,
        gate=gate,
    )


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _minus(a: float | None, b: float | None) -> float:
    return round(_nan(a) - _nan(b), 6)
