"""What a Ray worker runs: one unit of work (a training, a conversion, a precision ladder, a
benchmark row) in a scratch workspace of its own, with the same engine functions a local run
calls. The worker never writes the workstation's catalog: it fetches its inputs from the
exchange, runs, puts what its scratch catalog gained (artifacts, jobs) back into the exchange
and returns a description of it, which the workstation verifies and records (``ray.py``).

Its events stream back through the run's relay actor while it works, each naming the worker
(``host:pid``); artifact and result events are left to the workstation, which says them with
its own ids once it has recorded what they are about.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from backends.catalog import ArtifactRecord, DatasetRecord, JobRecord
from backends.errors import MllibError
from backends.events import ArtifactWritten, Event, Result, encode
from backends.executor.exchange import Exchange, Where
from backends.workspace import Workspace

Kind = Literal["train", "convert", "climb", "bench"]
FLUSH = 0.2  # seconds between event batches sent to the relay


@dataclass(frozen=True)
class Unit:
    """One task: what it runs, on which dataset version and input artifacts, with what
    settings. Everything in it is a name, a hash or a setting: never a credential."""

    kind: Kind
    label: str  # what it is, in events and messages: "train width=0.25", "tflite int8"
    where: Where  # the exchange
    dataset: str  # NAME@VERSION, in the exchange
    inputs: tuple[tuple[str, str | None], ...]  # (sha256, its parent's sha256), parents first
    settings: Mapping[str, Any]  # the kind's: config, target, format, runtime...


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class RelayEmit:
    """The worker's ``Emit``: events as JSON lines, sent to the relay in batches."""

    def __init__(self, relay: Any, unit: int) -> None:
        self._relay, self._unit, self.worker = relay, unit, worker_name()
        self._pending: list[str] = []
        self._last = time.monotonic()

    def __call__(self, event: Event) -> None:
        if isinstance(event, ArtifactWritten | Result):
            return  # their ids are this scratch workspace's: the workstation says them
        self._pending.append(encode(dataclasses.replace(event, worker=self.worker)))
        if time.monotonic() - self._last >= FLUSH:
            self.flush()

    def flush(self, wait: bool = False) -> None:
        import ray

        self._last = time.monotonic()
        if self._pending or wait:
            sent = self._relay.put.remote(self._unit, self.worker, self._pending)
            self._pending = []
            if wait:  # every event is with the relay before the task's result is
                ray.get(sent)


def run_unit(unit: Unit, relay: Any, index: int) -> dict[str, Any]:
    """The Ray task: ``unit`` in a scratch workspace; what it made, as the workstation records
    it. An error (bad input, a failed conversion) is returned as its one line, so Ray retries
    only what it should: a worker that died."""
    from backends.events import Log

    emit = RelayEmit(relay, index)
    emit(Log(stage=unit.kind, level="info", message=f"{unit.label}: started on {emit.worker}"))
    scratch = Path(tempfile.mkdtemp(prefix="mllib-task-"))
    try:
        ws = Workspace.open(scratch)
        exchange = Exchange.open(unit.where, f"worker {emit.worker}")
        dataset = exchange.fetch_dataset(ws, unit.dataset, emit)
        inputs: list[ArtifactRecord] = []
        for sha, parent in unit.inputs:
            parent_id = next((a.id for a in inputs if a.sha256 == parent), None)
            inputs.append(exchange.fetch(ws, sha, emit, parent_id=parent_id, dataset_id=dataset.id))
        jobs_before = max((j.id for j in ws.catalog.jobs()), default=0)
        artifacts_before = max((a.id for a in ws.catalog.artifacts()), default=0)
        value = KINDS[unit.kind](ws, dataset, inputs, unit.settings, emit)
        made = [a for a in ws.catalog.artifacts() if a.id > artifacts_before]
        exchange.put(ws, made, emit)
        return {
            "worker": emit.worker,
            "value": value,
            "inputs": {a.id: a.sha256 for a in inputs},
            "jobs": [_job(j) for j in ws.catalog.jobs() if j.id > jobs_before],
            "artifacts": [
                {"id": a.id, "sha256": a.sha256, "parent": a.parent_id, "job": a.job_id}
                for a in made
            ],
        }
    except MllibError as exc:
        return {"worker": emit.worker, "error": str(exc), "error_type": type(exc).__name__}
    except Exception as exc:  # as the pipeline says an unexpected error: in one line
        message = f"{unit.label} failed: {type(exc).__name__}: {exc}".splitlines()[0]
        return {"worker": emit.worker, "error": message, "error_type": "StageFailed"}
    finally:
        emit.flush(wait=True)
        shutil.rmtree(scratch, ignore_errors=True)


def _job(job: JobRecord) -> dict[str, Any]:
    fields = ("id", "kind", "key", "params", "state", "error")
    return {name: getattr(job, name) for name in fields}


Run = Callable[[Workspace, DatasetRecord, list[ArtifactRecord], Mapping[str, Any], Any], Any]


def _train(
    ws: Workspace, dataset: DatasetRecord, inputs: list[ArtifactRecord], s: Mapping[str, Any], emit
) -> dict[str, Any]:
    from backends.train.loop import train

    trained = train(ws, dataset, s["config"], emit)
    return {"keras": trained.keras.id, "savedmodel": trained.savedmodel.id}


def _convert(
    ws: Workspace, dataset: DatasetRecord, inputs: list[ArtifactRecord], s: Mapping[str, Any], emit
) -> dict[str, Any]:
    from backends.convert.job import convert, parse_target

    fmt, precision = parse_target(s["target"])
    result = convert(ws, inputs[0], fmt, precision, s["step"], emit)
    return {"artifact": result.artifact.id}


def _climb(
    ws: Workspace, dataset: DatasetRecord, inputs: list[ArtifactRecord], s: Mapping[str, Any], emit
) -> dict[str, Any]:
    from backends.convert.ladder import climb
    from backends.formats import FORMATS
    from backends.runtimes import load

    model = inputs[0]
    reference = load("tensorflow", ws.verify(model))
    kept, rungs = climb(ws, model, FORMATS[s["format"]], s["step"], s["bench"], emit,
                        reference=reference)  # fmt: skip
    return {"kept": kept.id if kept else None, "rungs": rungs}


def _bench(
    ws: Workspace, dataset: DatasetRecord, inputs: list[ArtifactRecord], s: Mapping[str, Any], emit
) -> dict[str, Any]:
    from backends.bench.local import bench_artifact

    row = bench_artifact(ws, inputs[-1], s["runtime"], dataset, s["step"], emit)
    return {"row": row.to_json()}


KINDS: dict[str, Run] = {"train": _train, "convert": _convert, "climb": _climb, "bench": _bench}
