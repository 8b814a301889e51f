"""Run reports: ``results.json`` (everything) and ``results.md`` (the table people read)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_report(directory: Path, run: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _atomic_write(directory / "results.json", json.dumps({**run, "rows": rows}, indent=1))
    _atomic_write(directory / "results.md", markdown(run, rows))


def markdown(run: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    classes: list[str] = run.get("classes", [])
    head = [
        "Software",
        "Hardware",
        "Images",
        "Pixel accuracy",
        "mIoU",
        "Similarity",
        *(f"IoU {c}" for c in classes),
        "Inference (ms/image)",
    ]
    lines = [
        f"# mllib run {run['run_id']}",
        "",
        f"Dataset `{run['dataset']}`, model artifact {run.get('model', '-')}.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in rows:
        cells = [
            row["software"],
            row["hardware"],
            str(row["images"]),
            _num(row["pixel_accuracy"]),
            _num(row["miou"]),
            _num(row["similarity"]),
            *(_num(row["iou"].get(c)) for c in classes),
            _num(row["inference_ms"], 2),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Pixel accuracy excludes the ignore label; similarity is the IoU pooled over the "
        "foreground classes (the original mllib's figure); rows of a confusion matrix are "
        "the true class.",
        "",
    ]
    return "\n".join(lines)


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
