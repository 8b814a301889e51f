"""What the app shows, read from the catalog in a worker thread (never on the event loop)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.bench.rows import BenchmarkRow
from backends.boards.inventory import Board, load_inventory
from backends.catalog import ArtifactRecord, DatasetRecord, JobRecord
from backends.errors import BadInput
from backends.formats import KERAS_KIND
from backends.workspace import Workspace

CONVERTED = ("onnx", "tflite", "edgetpu", "tensorrt")


@dataclass(frozen=True)
class Snapshot:
    datasets: list[DatasetRecord] = field(default_factory=list)
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    jobs: list[JobRecord] = field(default_factory=list)
    boards: list[Board] = field(default_factory=list)
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_p50: dict[str, float] = field(default_factory=dict)  # board -> newest p50 (ms)
    last_rows: dict[str, list[BenchmarkRow]] = field(default_factory=dict)  # its newest run's
    problem: str | None = None  # a bad devices.toml, say: shown, not fatal

    @property
    def models(self) -> list[ArtifactRecord]:
        return [a for a in self.artifacts if a.kind == KERAS_KIND]

    @property
    def converted(self) -> list[ArtifactRecord]:
        return [a for a in self.artifacts if a.kind in CONVERTED]

    def focus_dataset(self) -> DatasetRecord | None:
        """The dataset of the newest trained model (what a board benchmark measures), else the
        newest dataset."""
        by_id = {d.id: d for d in self.datasets}
        for model in reversed(self.models):
            if model.dataset_id in by_id:
                return by_id[model.dataset_id]
        labelled = [d for d in self.datasets if d.labelled]
        return labelled[-1] if labelled else None

    def runnable_on(self, board: str, artifacts: list[ArtifactRecord]) -> list[ArtifactRecord]:
        """``artifacts`` less what ``board`` cannot run by its last probe: TensorRT engines of
        another fingerprint, Edge TPU models without an Edge TPU runtime."""
        from backends.tensorrt.fingerprint import BOARD_FIELDS, board_identity

        facts = self.probes.get(board) or {}
        try:
            identity = board_identity(facts, board)
        except BadInput:
            identity = None
        kept = []
        for artifact in artifacts:
            if artifact.kind == "tensorrt":
                built = artifact.meta.get("fingerprint") or {}
                if identity is None or any(built.get(f) != identity[f] for f in BOARD_FIELDS):
                    continue
            if artifact.kind == "edgetpu" and "edgetpu" not in facts.get("runtimes", []):
                continue
            kept.append(artifact)
        return kept

    def model_of(self, artifact: ArtifactRecord) -> ArtifactRecord:
        """The Keras model an artifact was converted from (itself for a model)."""
        by_id = {a.id: a for a in self.artifacts}
        while artifact.kind != KERAS_KIND and artifact.parent_id in by_id:
            artifact = by_id[artifact.parent_id]
        return artifact

    def model_label(self, artifact: ArtifactRecord) -> str:
        """The model an artifact comes from as a person tells models apart: its name (network
        and dataset, as the catalog names models), the dataset version it learnt from and when
        it was trained (local time)."""
        model = self.model_of(artifact)
        network = model.meta.get("network") or Path(model.path).stem
        data = next(
            (f"{d.name}@{d.version[:6]}" for d in self.datasets if d.id == model.dataset_id), "?@?"
        )
        return f"{network}-{data} {time.strftime('%m-%d %H:%M', time.localtime(model.created))}"


def load(ws: Workspace, devices: Path | None) -> Snapshot:
    catalog = ws.catalog
    problem = None
    try:
        boards = list(load_inventory(devices, ws.root).boards.values())
    except BadInput as exc:
        boards, problem = list(load_inventory(None, ws.root / ".none").boards.values()), str(exc)
    return Snapshot(
        datasets=catalog.datasets(),
        artifacts=catalog.artifacts(),
        jobs=catalog.jobs(),
        boards=boards,
        probes={b: facts for b, (_, facts) in catalog.last_probes().items()},
        last_p50=catalog.latest_p50(),
        last_rows=catalog.latest_rows(),
        problem=problem,
    )
