"""What a task (segmentation, classification) measures, and how tables and gates show it.

The task belongs to the dataset (its manifest says which) and every benchmark row carries it.
Everything downstream — the reference comparison, gates, fidelity, report and app tables — asks
this table instead of naming a metric, so both tasks share one pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from backends.errors import BadInput


@dataclass(frozen=True)
class Task:
    name: str
    primary: str  # the row key that deltas, the max_drop gate and fidelity compare
    primary_label: str
    accuracy: str  # the row key of the task's accuracy
    metrics: tuple[tuple[str, str], ...]  # (row key, column header), in table order
    per_class: tuple[str, str]  # (row key of a class -> value map, what it is called)
    note: str  # what the figures mean, for reports


SEGMENTATION = Task(
    name="segmentation",
    primary="miou",
    primary_label="mIoU",
    accuracy="pixel_accuracy",
    metrics=(("pixel_accuracy", "Accuracy"), ("similarity", "Similarity"), ("miou", "mIoU")),
    per_class=("iou", "IoU per class"),
    note="Accuracy is pixel accuracy without the ignore label; similarity is the IoU pooled over "
    "the foreground classes (the original mllib's figure); mIoU is the mean per-class IoU.",
)
CLASSIFICATION = Task(
    name="classification",
    primary="accuracy",
    primary_label="Top-1",
    accuracy="accuracy",
    metrics=(("accuracy", "Top-1"), ("macro_f1", "Macro F1")),
    per_class=("recall", "Recall per class"),
    note="Top-1 is the share of images whose most probable class is the true one; macro F1 "
    "averages each class's F1 (a class never predicted counts 0).",
)
TASKS = {task.name: task for task in (SEGMENTATION, CLASSIFICATION)}
UNLABELLED = "unlabelled"  # a dataset of camera frames without labels yet: no task measures it
HEADLINES = {f"val_{task.primary}": task for task in TASKS.values()}  # training's epoch figure
LABELS = {key: label for task in TASKS.values() for key, label in task.metrics}


def task_of(record: Mapping[str, Any]) -> Task:
    """The task of a dataset manifest or a result row (older ones are segmentation)."""
    name = record.get("task", SEGMENTATION.name)
    if name == UNLABELLED:
        raise BadInput(
            f"dataset {record.get('name')}@{record.get('version')} is camera frames without "
            "labels: label them (docs/acquire.md) before training or benchmarking on it"
        )
    if name not in TASKS:
        raise BadInput(f"unknown task {name!r}: mllib knows {', '.join(TASKS)}")
    return TASKS[name]


def metric_columns(tasks: Iterable[str]) -> list[tuple[str, str]]:
    """The metric columns a table of rows of these tasks needs, in TASKS order."""
    present = set(tasks) or {SEGMENTATION.name}
    return [column for task in TASKS.values() if task.name in present for column in task.metrics]


def delta_label(tasks: Iterable[str]) -> str:
    """``ΔmIoU`` or ``ΔTop-1`` when the rows share a task; ``Δ`` when they mix."""
    present = {TASKS[name] for name in tasks}
    return f"Δ{present.pop().primary_label}" if len(present) == 1 else "Δ"
