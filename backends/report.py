"""Run reports: ``results.json`` (everything), ``results.md`` (the tables people read), one
confusion-matrix PNG per row, and optionally JUnit XML for CI."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from backends.bench.rows import BenchmarkRow, BenchmarkRun
from backends.tasks import TASKS, delta_label, metric_columns

if TYPE_CHECKING:
    from backends.sweep import Ranked

# The report's failure images are found among the first SCANNED validation images: one more
# pass over all of a 5,000-image split would cost as much as the benchmark itself.
SCANNED = 64


@dataclass(frozen=True)
class Picture:
    """A PNG of the report, with what it shows."""

    name: str
    png: bytes
    caption: str


def write_report(
    directory: Path,
    run: BenchmarkRun,
    junit: Path | None = None,
    pictures: Sequence[Picture] = (),
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    from backends.plots import confusion_png, latency_png

    data = run.to_json()
    for row, row_json in zip(run.rows, data["rows"], strict=True):
        title = f"{row.label} — {row.hardware}"
        if row.confusion:
            row_json["confusion_png"] = png_name(row)
            confusion_png(directory / png_name(row), row.confusion, list(run.classes), title)
        if row.latency is not None and _has_histogram(row):
            row_json["latency_png"] = png_name(row, "latency")
            latency_png(directory / png_name(row, "latency"), row.latency, title)
    ranked = _ranked(run)
    if ranked:
        from backends import sweep

        sweep.png(directory / sweep.PNG, ranked, _headline(run))
        data["sweep"] = [
            {"row": r.row.name, "variant": r.row.variant, "p50_ms": r.p50_ms,
             "headline": r.headline, "pareto_front": r.front}
            for r in ranked
        ]  # fmt: skip
    for picture in pictures:
        (directory / picture.name).write_bytes(picture.png)  # the directory is placed whole
    data["pictures"] = [{"png": p.name, "caption": p.caption} for p in pictures]
    _atomic_write(directory / "results.json", json.dumps(data, indent=1))
    _atomic_write(directory / "results.md", markdown(run, pictures))
    if junit is not None:
        _atomic_write(junit, junit_xml(run))


def png_name(row: BenchmarkRow, what: str = "confusion") -> str:
    """A picture of a row (its confusion matrix, its latency histogram), beside results.md."""
    return f"{what}-{_slug(row.name)}.png"


def markdown(run: BenchmarkRun, pictures: Sequence[Picture] = ()) -> str:
    rows, classes = run.rows, list(run.classes)
    names = [r.task for r in rows]
    columns, delta = metric_columns(names), delta_label(names)
    tasks = [t for t in TASKS.values() if t.name in names]
    compared = (
        f" {delta} is against TensorFlow fp32." if any(r.delta is not None for r in rows) else ""
    )
    head = [
        "Software",
        "Hardware",
        "Images",
        *(header for _, header in columns),
        delta,
        "p50 (ms)",
        "p99 (ms)",
        "Inference time (ms)",
        "Size (MB)",
        "Status",
    ]
    lines = [
        f"# mllib run {run.run_id}",
        "",
        f"Dataset `{run.dataset}`; validation split, every image.{compared}",
        "",
        _table(head, [_main_cells(r, columns) for r in rows]),
        "",
    ]
    if run.gate_failures:
        lines += ["## Gates missed", "", *(f"- {f}" for f in run.gate_failures), ""]
    ranked = _ranked(run)
    if ranked:
        from backends import sweep

        lines += sweep.markdown(ranked, _headline(run))
    for task in tasks:
        key, title = task.per_class
        lines += [
            f"## {title}",
            "",
            _table(
                ["Software", "Hardware", *classes],
                [
                    [r.label, r.hardware, *(_num((r.metric(key) or {}).get(c)) for c in classes)]
                    for r in rows
                    if r.task == task.name
                ],
            ),
            "",
        ]
    converted = [r for r in rows if r.fidelity]
    if converted:
        lines += [
            "## Fidelity against the Keras model",
            "",
            _table(
                [
                    "Software",
                    "Images",
                    "Max abs diff",
                    "Argmax agreement",
                    delta,
                    "Gate",
                    "Passed",
                ],
                [
                    [
                        r.label,
                        str(f["images"]),
                        "-" if f["max_abs_diff"] is None else f"{f['max_abs_diff']:.2e}",
                        f"{f['argmax_agreement']:.5%}",
                        _num(f["delta"], signed=True),
                        f["gate"],
                        "yes" if f["passed"] else "**no**",
                    ]
                    for r in converted
                    for f in [r.fidelity or {}]
                ],
            ),
            "",
        ]
    ladder = run.ladder
    if ladder:
        lines += [
            "## Precision ladder (int8 -> fp16 -> fp32: the fastest that passes is kept)",
            "",
            _table(
                ["Format", "Precision", "Gate", "Passed", delta, "p50 (ms)", "Kept", *classes],
                [
                    [
                        r["format"],
                        r["precision"],
                        r["gate"],
                        "yes" if r["passed"] else "**no**",
                        _num(r["delta"], signed=True),
                        _num(r["p50_ms"], 3),
                        "**kept**" if r["chosen"] else "",
                        *(_num(r["delta_per_class"].get(c), signed=True) for c in classes),
                    ]
                    for r in ladder
                ],
            ),
            "",
            "Class columns: the change of each class's IoU (recall for classification) against "
            "the Keras model on the fidelity images.",
            "",
        ]
    plots = [r for r in rows if r.confusion]
    if plots:
        lines += ["## Confusion matrices (rows: true class, row-normalised)", ""]
        lines += [f"### {r.label} — {r.hardware}\n\n![{r.name}]({png_name(r)})\n" for r in plots]
    timed = [r for r in rows if _has_histogram(r)]
    if timed:
        lines += ["## Latency (inference only; p50, p90, p99 marked)", ""]
        lines += [f"![{r.label} — {r.hardware}]({png_name(r, 'latency')})\n" for r in timed]
    if pictures:
        lines += [f"## Where the model fails (among the first {SCANNED} validation images)", ""]
        lines += [f"![{p.caption}]({p.name})\n\n{p.caption}\n" for p in pictures]
    lines += [
        " ".join(t.note for t in tasks) + " p50/p99 are inference-only latency after warm-up; "
        "inference time is the end-to-end mean per call (input conversion, inference, argmax); "
        "batch 1 unless stated.",
        "",
    ]
    return "\n".join(lines)


def _ranked(run: BenchmarkRun) -> list[Ranked]:
    """A sweep's rows ranked (backends/sweep.py); nothing for a run of one model."""
    from backends.sweep import rank

    return rank(run.rows) if any(r.variant for r in run.rows) else []


def _headline(run: BenchmarkRun) -> str:
    return TASKS[run.rows[0].task].primary_label


def _main_cells(row: BenchmarkRow, columns: list[tuple[str, str]]) -> list[str]:
    status = "ok" if row.ok else f"failed: {row.error or ''}"
    return [
        row.label,
        row.hardware,
        "-" if row.images is None else str(row.images),
        *(_num(row.metric(key)) for key, _ in columns),
        _num(row.delta, signed=True),
        _num(row.latency.p50_ms if row.latency else None, 2),
        _num(row.latency.p99_ms if row.latency else None, 2),
        _num(row.end_to_end.mean_ms if row.end_to_end else None, 2),
        f"{row.size_bytes / 1e6:.2f}",
        status,
    ]


def _has_histogram(row: BenchmarkRow) -> bool:
    latency = row.latency
    return latency is not None and any(latency.histogram) and latency.max_ms > latency.min_ms


def junit_xml(run: BenchmarkRun) -> str:
    """One test case per row; a failed row or a missed gate is a failure."""
    suite = ET.Element("testsuite", name=f"mllib {run.run_id}", tests=str(len(run.rows)))
    failed = 0
    for row in run.rows:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=row.hardware,
            name=row.label,
            time=f"{(row.end_to_end.mean_ms if row.end_to_end else 0) / 1000:.6f}",
        )
        reasons = [f for f in run.gate_failures if f.startswith(f"{row.label} on {row.hardware}:")]
        if not row.ok:
            reasons.append(row.error or "failed")
        if reasons:
            failed += 1
            ET.SubElement(case, "failure", message="; ".join(reasons))
    suite.set("failures", str(failed))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def _table(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in body])


def _num(value: float | None, digits: int = 4, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
