"""A training as a catalog job: its key (the dataset version and the training settings), and a
finished one with that key found again instead of training twice. Light (no Keras), so the
workstation can ask it before handing a training to another machine."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from backends.catalog import ArtifactRecord, DatasetRecord
from backends.train.stage import TrainConfig
from backends.workspace import Workspace


@dataclass(frozen=True)
class TrainedModel:
    model_id: int | None  # None when a cached result was reused
    keras: ArtifactRecord
    savedmodel: ArtifactRecord
    resumed_from: int  # epochs already done when this job started
    cached: bool


def train_key(dataset: DatasetRecord, config: TrainConfig) -> str:
    payload = json.dumps({"dataset": dataset.version, **asdict(config)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def train_params(dataset: DatasetRecord, config: TrainConfig) -> dict[str, object]:
    """What the job records of the training."""
    return {"dataset": f"{dataset.name}@{dataset.version}", **asdict(config)}


def cached(ws: Workspace, key: str) -> TrainedModel | None:
    """The newest finished training with ``key`` whose model files are intact."""
    for job in reversed(ws.catalog.jobs("train", key)):
        if job.state != "done":
            continue
        found = {a.kind: a for a in ws.catalog.artifacts(job_id=job.id)}
        if {"model", "savedmodel"} <= found.keys():
            try:
                for artifact in found.values():
                    ws.verify(artifact)
            except Exception:
                continue
            return TrainedModel(None, found["model"], found["savedmodel"], 0, cached=True)
    return None
