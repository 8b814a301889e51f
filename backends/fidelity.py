"""Does a converted model still do the job? Compare it with the reference on the same images.

Figures: largest absolute difference of the probabilities, argmax agreement (share of pixels
with the same predicted class), and the change of mIoU against the ground truth (per class too).
Gates by precision: fp32 and fp16 may move mIoU by at most a tolerance either way; int8 may drop
it by at most ``max_drop_int8``. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backends.datasets.shards import Split
from backends.formats import Precision
from backends.metrics import ConfusionMatrix
from backends.runtimes import Runtime, infer


@dataclass(frozen=True)
class FidelityGates:
    max_delta_fp32: float = 0.001
    max_delta_fp16: float = 0.002
    max_drop_int8: float = 0.01

    def judge(self, precision: Precision, delta: float) -> tuple[bool, str]:
        if precision is Precision.INT8:
            return delta >= -self.max_drop_int8, f"mIoU drop <= {self.max_drop_int8}"
        tolerance = self.max_delta_fp16 if precision is Precision.FP16 else self.max_delta_fp32
        return abs(delta) <= tolerance, f"mIoU change within ±{tolerance}"


@dataclass(frozen=True)
class Fidelity:
    images: int
    max_abs_diff: float
    argmax_agreement: float
    reference_miou: float
    miou: float
    delta_miou: float
    delta_iou: dict[str, float | None]
    passed: bool
    gate: str

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in vars(self).items()}


def check(
    reference: Runtime,
    candidate: Runtime,
    split: Split,
    *,
    images: int,
    precision: Precision,
    classes: list[str],
    ignore: int,
    gates: FidelityGates,
    batch_size: int = 8,
) -> Fidelity:
    n = len(classes)
    ref_cm, cand_cm = ConfusionMatrix.empty(n), ConfusionMatrix.empty(n)
    max_diff, same, total = 0.0, 0, 0
    for batch, masks in split.batches(batch_size, limit=images):
        ref, cand = infer(reference, batch), infer(candidate, batch)
        max_diff = max(max_diff, float(np.abs(ref - cand).max()))
        ref_label, cand_label = ref.argmax(-1), cand.argmax(-1)
        same += int((ref_label == cand_label).sum())
        total += ref_label.size
        ref_cm += ConfusionMatrix.from_labels(masks, ref_label, n, ignore)
        cand_cm += ConfusionMatrix.from_labels(masks, cand_label, n, ignore)
    delta = cand_cm.miou - ref_cm.miou
    passed, gate = gates.judge(precision, delta)
    delta_iou = {
        c: None if np.isnan(d) else round(float(d), 6)
        for c, d in zip(classes, cand_cm.iou - ref_cm.iou, strict=True)
    }
    return Fidelity(
        images=min(images, split.size),
        max_abs_diff=max_diff,
        argmax_agreement=same / total if total else float("nan"),
        reference_miou=ref_cm.miou,
        miou=cand_cm.miou,
        delta_miou=delta,
        delta_iou=delta_iou,
        passed=passed,
        gate=gate,
    )
